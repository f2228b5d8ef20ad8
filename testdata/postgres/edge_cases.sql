-- Edge cases found by review, each in its own schema; loaded by tests/pg_fidelity.rs, which
-- requires pg_dump --schema-only (owners and privileges included) of this database and of its
-- restore to be identical. Roles: testdata/postgres/roles.sql.


-- dropped_col_grant -------------------------------------------------------------------------
CREATE SCHEMA dropped_col_grant;
GRANT USAGE ON SCHEMA dropped_col_grant TO sdfix_writer;
SET search_path = dropped_col_grant, public;
CREATE TABLE t (a int, b int, c int);
GRANT SELECT (b) ON t TO sdfix_reader;
GRANT UPDATE (a, b) ON t TO sdfix_writer WITH GRANT OPTION;
SET ROLE sdfix_writer; GRANT UPDATE (b) ON t TO sdfix_reader; RESET ROLE;

GRANT INSERT (c) ON t TO PUBLIC;
CREATE TABLE p (k int, v text) PARTITION BY LIST (k);
CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);
GRANT SELECT (v) ON p TO sdfix_reader;
GRANT SELECT ON p1 TO sdfix_auditor;
CREATE TABLE gone (a int, b int);
GRANT SELECT (b) ON gone TO sdfix_reader;
ALTER TABLE gone DROP COLUMN b;

-- matview_chain -----------------------------------------------------------------------------
CREATE SCHEMA matview_chain;
SET search_path = matview_chain, public;
CREATE TABLE t (id int);
INSERT INTO t VALUES (1), (2);
CREATE MATERIALIZED VIEW mv1 AS SELECT id FROM t;
CREATE MATERIALIZED VIEW mv2 AS SELECT count(*) AS c FROM mv1;
CREATE VIEW v2 AS SELECT c FROM mv2;
CREATE MATERIALIZED VIEW mv0 AS SELECT c FROM v2;

-- matview_options ---------------------------------------------------------------------------
CREATE SCHEMA matview_options;
SET search_path = matview_options, public;
CREATE TABLE t (id int, v text);
GRANT SELECT ON t TO sdfix_owner;
INSERT INTO t VALUES (1,'a');
CREATE MATERIALIZED VIEW mv AS SELECT * FROM t;
CREATE INDEX mv_idx ON mv (id);
ALTER MATERIALIZED VIEW mv CLUSTER ON mv_idx;
ALTER MATERIALIZED VIEW mv ALTER COLUMN v SET STATISTICS 123;
ALTER MATERIALIZED VIEW mv ALTER COLUMN v SET STORAGE MAIN;
ALTER MATERIALIZED VIEW mv SET (autovacuum_enabled = false);
ALTER MATERIALIZED VIEW mv OWNER TO sdfix_owner;
GRANT SELECT (id) ON mv TO sdfix_reader;
CREATE VIEW v AS SELECT * FROM t;
ALTER VIEW v ALTER COLUMN v SET DEFAULT 'zz';

-- not_valid ---------------------------------------------------------------------------------
CREATE SCHEMA not_valid;
SET search_path = not_valid, public;
CREATE TABLE ip (a int);
CREATE TABLE ic () INHERITS (ip);
INSERT INTO ic VALUES (-1);
CREATE TABLE pp (a int) PARTITION BY RANGE (a);
CREATE TABLE pp1 PARTITION OF pp FOR VALUES FROM (-10) TO (10);
INSERT INTO pp VALUES (-1);
CREATE TABLE plain (a int);
INSERT INTO plain VALUES (-5);
ALTER TABLE plain ADD CONSTRAINT plain_pos CHECK (a > 0) NOT VALID;
-- NOT VALID on a child only
CREATE TABLE ip2 (a int);
CREATE TABLE ic2 () INHERITS (ip2);
INSERT INTO ic2 VALUES (-1);
ALTER TABLE ONLY ic2 ADD CONSTRAINT ic2_pos CHECK (a > 0) NOT VALID;
-- FK NOT VALID on a partition
CREATE TABLE r (id int PRIMARY KEY);
ALTER TABLE pp1 ADD CONSTRAINT pp1_fk FOREIGN KEY (a) REFERENCES r(id) NOT VALID;

-- trigger_clones ----------------------------------------------------------------------------
CREATE SCHEMA trigger_clones;
SET search_path = trigger_clones, public;
CREATE FUNCTION tf() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TABLE measurements (k int) PARTITION BY LIST (k);
CREATE TABLE m_2024 PARTITION OF measurements FOR VALUES IN (1);
CREATE TRIGGER audit BEFORE INSERT ON measurements FOR EACH ROW EXECUTE FUNCTION tf();
ALTER TABLE ONLY m_2024 DISABLE TRIGGER audit;

-- aggregate_grants --------------------------------------------------------------------------
CREATE SCHEMA aggregate_grants;
SET search_path = aggregate_grants, public;
CREATE AGGREGATE cnt_star(*) (SFUNC = int8inc, STYPE = int8, INITCOND = '0');
CREATE AGGREGATE pct(float8 ORDER BY anyelement) (SFUNC = ordered_set_transition, STYPE = internal, FINALFUNC = percentile_disc_final, FINALFUNC_EXTRA);
REVOKE EXECUTE ON FUNCTION pct(float8, anyelement) FROM PUBLIC;
ALTER AGGREGATE pct(float8 ORDER BY anyelement) OWNER TO sdfix_owner;
CREATE AGGREGATE vagg(VARIADIC "any" ORDER BY VARIADIC "any") (SFUNC = ordered_set_transition_multi, STYPE = internal, FINALFUNC = rank_final, FINALFUNC_EXTRA, HYPOTHETICAL);
GRANT EXECUTE ON FUNCTION vagg("any") TO sdfix_writer;

-- pk_view -----------------------------------------------------------------------------------
CREATE SCHEMA pk_view;
SET search_path = pk_view, public;
CREATE TABLE c (id int PRIMARY KEY, name text);
INSERT INTO c VALUES (1, 'a');
CREATE VIEW cv AS SELECT c.id, c.name, count(*) AS n FROM c GROUP BY c.id;
CREATE TABLE holder (x cv);
INSERT INTO holder VALUES (ROW(1,'a',1)::cv);

-- matview_function --------------------------------------------------------------------------
CREATE SCHEMA matview_function;
SET search_path = matview_function, public;
CREATE TABLE t (a int);
INSERT INTO t VALUES (1);
CREATE MATERIALIZED VIEW mv AS SELECT a FROM t;
CREATE FUNCTION f() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM mv; END;
CREATE MATERIALIZED VIEW mv2 AS SELECT f() AS c;

-- inheritance -------------------------------------------------------------------------------
CREATE SCHEMA inheritance;
SET search_path = inheritance, public;
CREATE TABLE a (id int NOT NULL, x int DEFAULT 1, y text, CONSTRAINT a_x_chk CHECK (x > 0), CONSTRAINT a_ni CHECK (y <> '') NO INHERIT);
CREATE TABLE b (id int, z int DEFAULT 5, w text);
-- multiple inheritance, merged column id
CREATE TABLE c (q int) INHERITS (a, b);
-- child with different default than parent
ALTER TABLE c ALTER COLUMN x SET DEFAULT 42;
-- NOT NULL only on child of inherited column
ALTER TABLE c ALTER COLUMN y SET NOT NULL;
-- 3 levels
CREATE TABLE d (r int CHECK (r > 0)) INHERITS (c);
ALTER TABLE d ALTER COLUMN z SET DEFAULT 7;
-- dropped column in parent before creating child
CREATE TABLE p2 (a1 int, dropme int, a2 text);
ALTER TABLE p2 DROP COLUMN dropme;
CREATE TABLE c2 () INHERITS (p2);
-- child that redeclares inherited column with a local check
CREATE TABLE c3 (a1 int NOT NULL CHECK (a1 < 100)) INHERITS (p2);
-- inherited check also declared locally on child (conislocal and coninhcount)
CREATE TABLE p4 (v int CONSTRAINT v_pos CHECK (v > 0));
CREATE TABLE c4 (v int CONSTRAINT v_pos CHECK (v > 0)) INHERITS (p4);
-- (Not here: a child attached with ALTER TABLE INHERIT whose columns are in another order than
-- its parent's comes back reordered, by pg_dump/pg_restore as by streamdump.)
INSERT INTO d (id, x, y, z, w, q, r) VALUES (1, 2, 'y', 3, 'w', 4, 5);

-- domain_sequence ---------------------------------------------------------------------------
CREATE SCHEMA domain_sequence;
SET search_path = domain_sequence, public;
CREATE SEQUENCE s;
CREATE DOMAIN did AS bigint DEFAULT nextval('s');
CREATE TABLE t (id did, v text);
ALTER SEQUENCE s OWNED BY t.id;
INSERT INTO t (v) VALUES ('a');

-- types and sequences -------------------------------------------------------------------------
CREATE SCHEMA misc;
SET search_path = misc, public;
CREATE TYPE empty_composite AS ();
CREATE TYPE empty_enum AS ENUM ();
CREATE TABLE narrow (id bigint GENERATED ALWAYS AS IDENTITY, v text);
ALTER SEQUENCE narrow_id_seq AS integer;
INSERT INTO narrow (v) VALUES ('a');
-- trigger state set with ONLY on a partitioned parent: its partitions' clones keep theirs
CREATE FUNCTION tf() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TABLE pt (k int) PARTITION BY LIST (k);
CREATE TABLE pt1 PARTITION OF pt FOR VALUES IN (1);
CREATE TRIGGER t1 BEFORE INSERT ON pt FOR EACH ROW EXECUTE FUNCTION tf();
ALTER TABLE ONLY pt DISABLE TRIGGER t1;
CREATE STATISTICS mv_stats (ndistinct) ON id, v FROM matview_options.mv;
RESET search_path;

-- hash partitions over an enum: the hash of an enum value differs between databases, so the
-- rows load through the root (pg_dump does the same) ---------------------------------------------
CREATE SCHEMA hash_enum;
SET search_path = hash_enum, public;
CREATE TYPE color AS ENUM ('red', 'green', 'blue', 'yellow', 'black', 'white');
CREATE TABLE h (c color, n int) PARTITION BY HASH (c);
CREATE TABLE h0 PARTITION OF h FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE TABLE h1 PARTITION OF h FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TABLE h2 PARTITION OF h FOR VALUES WITH (MODULUS 3, REMAINDER 2);
INSERT INTO h SELECT c, 1 FROM unnest(enum_range(NULL::color)) c;
RESET search_path;

-- privileges changed on objects initdb or CREATE EXTENSION made -------------------------------
CREATE SCHEMA crypto;
CREATE EXTENSION pgcrypto WITH SCHEMA crypto;
REVOKE EXECUTE ON FUNCTION crypto.digest(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crypto.digest(text, text) TO sdfix_reader;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_reset() TO sdfix_reader;
GRANT SELECT ON pg_catalog.pg_statistic TO sdfix_auditor;
GRANT SELECT (starelid) ON pg_catalog.pg_statistic TO sdfix_reader;
