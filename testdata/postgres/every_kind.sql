-- streamdump schema-fidelity fixture: at least one object of every kind a PostgreSQL 15 logical
-- backup has to reproduce, spread over the schemas public, app (owned by sdfix_owner), audit
-- (owned by sdfix_auditor) and ext (extensions), with a few rows in every table (partitions and
-- inheritance children included).
--
-- Load it as a superuser into a fresh, empty database:
--     psql -X -v ON_ERROR_STOP=1 -d <db> -f testdata/postgres/every_kind.sql
--
-- Roles it needs (cluster-global, so NOT created here; testdata/postgres/roles.sql creates them,
-- idempotently):
--     sdfix_owner    owns schema app and most objects in it
--     sdfix_writer   granted write privileges (one WITH GRANT OPTION), grants on to sdfix_reader
--     sdfix_reader   granted read privileges, default privileges, policies
--     sdfix_auditor  owns schema audit and its objects; column-level grants
--
-- Deterministic: no now(), random() or clock-dependent values in stored data, so two loads give
-- the same rows and sequence positions.
--
-- Some cases are deliberately tricky, because real databases have them:
--   * NOT VALID constraints (table CHECK, foreign key, domain CHECK) with rows that violate them;
--   * a partition created on its own with another column order, then ATTACHed;
--   * a partition whose cloned trigger is disabled while the parent's is enabled;
--   * an inheritance child that redeclares an inherited column (attislocal and inherited);
--   * a view that is only valid thanks to a primary key (GROUP BY the key);
--   * a grant made by a non-owner grantor (sdfix_writer, holding WITH GRANT OPTION);
--   * default privileges that applied to objects created after them.

SET client_min_messages = warning;

---------------------------------------------------------------------------------------------------
-- Schemas and extensions
---------------------------------------------------------------------------------------------------

CREATE SCHEMA app AUTHORIZATION sdfix_owner;
CREATE SCHEMA audit;
ALTER SCHEMA audit OWNER TO sdfix_auditor;
CREATE SCHEMA ext;

CREATE EXTENSION citext WITH SCHEMA ext;
CREATE EXTENSION pg_trgm WITH SCHEMA ext;
-- An extension with a configuration table (testdata/postgres/extension, installed by
-- scripts/dev.sh): the rows users add to it are data to back up; the extension's own are not.
CREATE EXTENSION streamdump_fixture WITH SCHEMA ext;
INSERT INTO ext.settings (key, value) VALUES ('owner', 'sdfix'), ('retention', '30 days');

GRANT USAGE ON SCHEMA ext TO sdfix_owner, sdfix_writer, sdfix_reader;
GRANT USAGE ON SCHEMA app TO sdfix_reader, sdfix_writer, sdfix_auditor;
GRANT CREATE ON SCHEMA app TO sdfix_writer;
GRANT USAGE ON SCHEMA audit TO sdfix_reader, sdfix_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO sdfix_reader;

-- Per-schema default privileges, set before sdfix_owner creates anything in app: the tables,
-- views and sequences created below carry these grants.
ALTER DEFAULT PRIVILEGES FOR ROLE sdfix_owner IN SCHEMA app GRANT SELECT ON TABLES TO sdfix_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE sdfix_owner IN SCHEMA app GRANT USAGE ON SEQUENCES TO sdfix_writer;

---------------------------------------------------------------------------------------------------
-- Objects owned by sdfix_owner (created under its identity)
---------------------------------------------------------------------------------------------------

SET ROLE sdfix_owner;

-- Collations: ICU (nondeterministic) and libc.
CREATE COLLATION app.german_ci (provider = icu, locale = 'de-DE-u-ks-level2', deterministic = false);
CREATE COLLATION app.bytewise (provider = libc, locale = 'C');

-- Enum, composite (with a per-attribute collation), range with subtype_diff.
CREATE TYPE app.customer_status AS ENUM ('active', 'suspended', 'banned');
ALTER TYPE app.customer_status ADD VALUE 'pending' BEFORE 'suspended';

CREATE TYPE app.address AS (
    street text,
    city text COLLATE app.bytewise,
    zip varchar(10)
);

CREATE FUNCTION app.float8_diff(a double precision, b double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT a - b $$;

CREATE TYPE app.float_range AS RANGE (
    subtype = double precision,
    subtype_diff = app.float8_diff,
    multirange_type_name = app.float_multirange
);

-- Domains: default, NOT NULL, a named and an unnamed CHECK; a NOT VALID one is added after data.
CREATE DOMAIN app.quantity AS integer
    DEFAULT 1
    NOT NULL
    CONSTRAINT quantity_positive CHECK (VALUE > 0)
    CHECK (VALUE < 1000000);

CREATE DOMAIN app.email AS ext.citext
    CONSTRAINT email_has_at CHECK (VALUE ~ '^[^@]+@[^@]+$');

-- Standalone sequences with non-default options; one unlogged and never called.
CREATE SEQUENCE app.invoice_no AS integer
    INCREMENT BY 10 MINVALUE 1000 MAXVALUE 999990 START WITH 1000 CACHE 5 CYCLE;
CREATE UNLOGGED SEQUENCE app.scratch_seq;
CREATE SEQUENCE app.order_id_seq AS bigint START WITH 1;
CREATE SEQUENCE app.ticket_no_seq AS bigint INCREMENT BY -1 MINVALUE 1 MAXVALUE 500 START WITH 500;

-- Functions used by defaults and CHECK constraints (SQL-standard bodies).
CREATE FUNCTION app.default_region() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN 'eu';

CREATE FUNCTION app.is_valid_code(code text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT
    RETURN code ~ '^[A-Z]{2}-[0-9]+$';

-- Overloaded names: fmt(integer), fmt(numeric, integer DEFAULT 2), fmt(VARIADIC text[]).
CREATE FUNCTION app.fmt(v integer) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN 'int:' || v;
CREATE FUNCTION app.fmt(v numeric, places integer DEFAULT 2) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN 'num:' || round(v, places);
CREATE FUNCTION app.fmt(VARIADIC parts text[]) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT array_to_string(parts, '/') $$;

-- Trigger functions (plpgsql).
CREATE FUNCTION app.normalize_customer() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.name := btrim(NEW.name);
    RETURN NEW;
END
$$;

CREATE FUNCTION app.check_order_line() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.unit_price < 0 THEN
        RAISE EXCEPTION 'order line % has a negative price', NEW.line_no;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION app.count_new_rows() RETURNS trigger
    LANGUAGE plpgsql
    SET work_mem TO '8MB'
    AS $$
BEGIN
    PERFORM count(*) FROM new_rows;
    RETURN NULL;
END
$$;

CREATE FUNCTION app.noop_trigger() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN RETURN NEW; END $$;

-- Tables ------------------------------------------------------------------------------------------

-- Regular table: identity ALWAYS with options, a domain column, a collated column, an enum with a
-- default, a default calling a user function, a CHECK calling a user function, a self-referencing
-- foreign key (ON DELETE SET NULL with a column list), UNIQUE ... INCLUDE, UNIQUE NULLS NOT
-- DISTINCT, a composite-typed column.
CREATE TABLE app.customers (
    id integer GENERATED ALWAYS AS IDENTITY (
        SEQUENCE NAME app.customers_id_gen START WITH 100 INCREMENT BY 5 CACHE 2) NOT NULL,
    email app.email NOT NULL,
    name text COLLATE app.german_ci NOT NULL,
    status app.customer_status NOT NULL DEFAULT 'active',
    region text NOT NULL DEFAULT app.default_region(),
    code text CONSTRAINT customers_code_valid CHECK (app.is_valid_code(code)),
    referred_by integer,
    credit_limit numeric(12,2) DEFAULT 0 CHECK (credit_limit >= 0),
    home app.address,
    CONSTRAINT customers_pkey PRIMARY KEY (id),
    CONSTRAINT customers_email_key UNIQUE (email) INCLUDE (name),
    CONSTRAINT customers_code_key UNIQUE NULLS NOT DISTINCT (code),
    CONSTRAINT customers_referred_by_fkey FOREIGN KEY (referred_by)
        REFERENCES app.customers (id) ON DELETE SET NULL (referred_by)
);

-- Partitioned by RANGE: two range partitions (one of them sub-partitioned by HASH), a DEFAULT
-- partition and one created on its own (other column order) then attached. Foreign key from a
-- partitioned table, ON DELETE CASCADE; default from a sequence.
CREATE TABLE app.orders (
    id bigint NOT NULL DEFAULT nextval('app.order_id_seq'),
    order_date date NOT NULL,
    customer_id integer NOT NULL,
    region text NOT NULL DEFAULT 'eu',
    note text,
    CONSTRAINT orders_pkey PRIMARY KEY (id, order_date),
    CONSTRAINT orders_customer_fkey FOREIGN KEY (customer_id)
        REFERENCES app.customers (id) ON DELETE CASCADE
) PARTITION BY RANGE (order_date);
ALTER SEQUENCE app.order_id_seq OWNED BY app.orders.id;

CREATE TABLE app.orders_2023 PARTITION OF app.orders
    FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE app.orders_2024 PARTITION OF app.orders
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')
    PARTITION BY HASH (id);
CREATE TABLE app.orders_2024_h0 PARTITION OF app.orders_2024 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE app.orders_2024_h1 PARTITION OF app.orders_2024 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE app.orders_default PARTITION OF app.orders DEFAULT;
CREATE TABLE app.orders_2022 (
    note text,
    region text NOT NULL DEFAULT 'eu',
    customer_id integer NOT NULL,
    order_date date NOT NULL,
    id bigint NOT NULL DEFAULT nextval('app.order_id_seq')
);
ALTER TABLE app.orders ATTACH PARTITION app.orders_2022
    FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');

-- Partitioned index (cloned onto every partition) and an index on one partition only.
CREATE INDEX orders_customer_idx ON app.orders (customer_id, order_date);
CREATE INDEX orders_2023_note_idx ON app.orders_2023 (note) WHERE note IS NOT NULL;

-- Generated STORED column over a domain column; a DEFERRABLE INITIALLY DEFERRED foreign key to
-- the partitioned table.
CREATE TABLE app.order_lines (
    order_id bigint NOT NULL,
    order_date date NOT NULL,
    line_no smallint NOT NULL,
    product text NOT NULL,
    qty app.quantity,
    unit_price numeric(10,2) NOT NULL,
    total numeric(12,2) GENERATED ALWAYS AS (qty * unit_price) STORED,
    CONSTRAINT order_lines_pkey PRIMARY KEY (order_id, order_date, line_no),
    CONSTRAINT order_lines_order_fkey FOREIGN KEY (order_id, order_date)
        REFERENCES app.orders (id, order_date) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

-- Partitioned by LIST, with a bigserial key.
CREATE TABLE app.events (
    id bigserial NOT NULL,
    kind text NOT NULL,
    payload jsonb,
    CONSTRAINT events_pkey PRIMARY KEY (kind, id)
) PARTITION BY LIST (kind);
CREATE TABLE app.events_click PARTITION OF app.events FOR VALUES IN ('click', 'tap');
CREATE TABLE app.events_view PARTITION OF app.events FOR VALUES IN ('view');

-- Inheritance: the child adds a column and a local CHECK and redeclares an inherited column; the
-- parent has a NO INHERIT check. An index used for CLUSTER ON.
CREATE TABLE app.vehicles (
    id integer NOT NULL,
    plate text NOT NULL,
    wheels smallint DEFAULT 4 CONSTRAINT vehicles_wheels_check CHECK (wheels > 0),
    CONSTRAINT vehicles_pkey PRIMARY KEY (id),
    CONSTRAINT vehicles_plate_not_empty CHECK (plate <> '') NO INHERIT
);
CREATE TABLE app.trucks (
    plate text NOT NULL,
    payload_kg integer NOT NULL,
    CONSTRAINT trucks_payload_positive CHECK (payload_kg > 0)
) INHERITS (app.vehicles);
CREATE INDEX vehicles_plate_idx ON app.vehicles (plate COLLATE "C" DESC NULLS LAST);
ALTER TABLE app.vehicles CLUSTER ON vehicles_plate_idx;

-- Typed table.
CREATE TABLE app.addresses OF app.address (
    zip WITH OPTIONS NOT NULL,
    CONSTRAINT addresses_pkey PRIMARY KEY (street, zip)
);

-- UNLOGGED table (with a foreign key to a logged one).
CREATE UNLOGGED TABLE app.sessions (
    id integer NOT NULL,
    customer_id integer NOT NULL,
    token text NOT NULL,
    data jsonb,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_customer_fkey FOREIGN KEY (customer_id) REFERENCES app.customers (id)
);

-- Column storage, compression, statistics and attribute options; table and toast reloptions;
-- REPLICA IDENTITY FULL; row level security (below).
CREATE TABLE app.documents (
    id integer NOT NULL,
    owner_name text NOT NULL,
    title text NOT NULL,
    body text,
    payload text,
    CONSTRAINT documents_pkey PRIMARY KEY (id)
) WITH (fillfactor = 70, autovacuum_enabled = false);
ALTER TABLE app.documents SET (toast.autovacuum_enabled = false);
ALTER TABLE app.documents ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE app.documents ALTER COLUMN payload SET COMPRESSION pglz;
ALTER TABLE app.documents ALTER COLUMN title SET STATISTICS 500;
ALTER TABLE app.documents ALTER COLUMN owner_name SET (n_distinct = -0.5);
ALTER TABLE app.documents REPLICA IDENTITY FULL;

-- serial column, a sequence OWNED BY a column, REPLICA IDENTITY USING INDEX, an INCLUDE index
-- with reloptions.
CREATE TABLE app.tickets (
    id serial NOT NULL,
    ticket_no bigint NOT NULL DEFAULT nextval('app.ticket_no_seq'),
    customer_id integer NOT NULL,
    subject text NOT NULL,
    opened date NOT NULL,
    CONSTRAINT tickets_pkey PRIMARY KEY (id)
);
ALTER SEQUENCE app.ticket_no_seq OWNED BY app.tickets.ticket_no;
CREATE UNIQUE INDEX tickets_ticket_no_idx ON app.tickets (ticket_no);
ALTER TABLE app.tickets REPLICA IDENTITY USING INDEX tickets_ticket_no_idx;
CREATE INDEX tickets_customer_idx ON app.tickets (customer_id) INCLUDE (subject) WITH (fillfactor = 80);

-- Identity BY DEFAULT with options; a pure range exclusion constraint (partial, DEFERRABLE);
-- a user range type column.
CREATE TABLE app.bookings (
    id integer GENERATED BY DEFAULT AS IDENTITY (MINVALUE 10 MAXVALUE 100000 START WITH 10 NO CYCLE) NOT NULL,
    room text NOT NULL,
    during tsrange NOT NULL,
    price_band app.float_range,
    CONSTRAINT bookings_pkey PRIMARY KEY (id),
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (during WITH &&) WHERE (room <> 'virtual') DEFERRABLE
);

-- Indexes: partial, expression (with per-column statistics), plain.
CREATE INDEX customers_active_region_idx ON app.customers (region) WHERE status = 'active';
CREATE INDEX customers_lower_email_idx ON app.customers (lower(email::text));
ALTER INDEX app.customers_lower_email_idx ALTER COLUMN 1 SET STATISTICS 250;
CREATE INDEX order_lines_product_idx ON app.order_lines (product);

-- Data ------------------------------------------------------------------------------------------

INSERT INTO app.customers (email, name, status, code, referred_by, credit_limit, home) VALUES
    ('Alice@Example.com', 'Alice Äpfelbaum', 'active', 'AA-1', NULL, 100, ROW('Hauptstr. 1', 'Berlin', '10115')),
    ('bob@example.com', 'Bob', 'suspended', 'BB-2', 100, 0, NULL),
    ('carol@example.com', 'Carol', 'active', NULL, 100, 50.5, ROW('Main St 2', 'Boston', '02101')),
    ('dave@example.com', 'Dave', 'banned', 'DD-4', 105, 0, NULL);
UPDATE app.customers SET region = 'us' WHERE id = 110;

INSERT INTO app.orders (order_date, customer_id, region, note) VALUES
    ('2022-06-01', 100, 'eu', 'attached partition'),
    ('2024-03-01', 105, 'us', 'hash remainder 0'),
    ('2023-03-15', 100, 'eu', 'first'),
    ('2023-11-30', 105, 'eu', NULL),
    ('2024-02-29', 110, 'us', 'leap day'),
    ('2024-05-01', 100, 'eu', NULL),
    ('2026-01-01', 115, 'eu', 'default partition');

INSERT INTO app.order_lines (order_id, order_date, line_no, product, qty, unit_price) VALUES
    (1, '2022-06-01', 1, 'widget', 2, 9.99),
    (2, '2024-03-01', 1, 'gizmo', 1, 99.00),
    (3, '2023-03-15', 1, 'widget', 1, 9.99),
    (3, '2023-03-15', 2, 'gadget', 13, 1.50),
    (5, '2024-02-29', 1, 'gizmo', 3, 100.00),
    (6, '2024-05-01', 1, 'widget', 10, 9.49),
    (7, '2026-01-01', 1, 'gadget', 1, 1.50);

INSERT INTO app.events (kind, payload) VALUES
    ('click', '{"x": 1}'), ('tap', '{"x": 2}'), ('view', '{"page": "home"}'), ('view', NULL);

INSERT INTO app.vehicles (id, plate, wheels) VALUES (1, 'B-AA 1', 4), (2, 'M-ZZ 99', 2);
INSERT INTO app.trucks (id, plate, wheels, payload_kg) VALUES (10, 'HH-TR 10', 6, 12000), (11, 'K-TR 11', 18, 40000);

INSERT INTO app.addresses (street, city, zip) VALUES
    ('Hauptstr. 1', 'Berlin', '10115'), ('Main St 2', 'Boston', '02101'), ('Rue 3', NULL, '75001');

INSERT INTO app.sessions (id, customer_id, token, data) VALUES
    (1, 100, 'tok-a', '{"ua": "x"}'), (2, 105, 'tok-b', NULL);

INSERT INTO app.documents (id, owner_name, title, body, payload) VALUES
    (1, 'sdfix_reader', 'Readme', repeat('body ', 50), repeat('payload ', 40)),
    (2, 'sdfix_writer', 'Plan', 'short', NULL),
    (3, 'sdfix_reader', 'secret notes', 'hidden', 'p');

INSERT INTO app.tickets (customer_id, subject, opened) VALUES
    (100, 'Cannot log in', '2024-01-02'), (105, 'Refund', '2024-01-03'), (100, 'Thanks', '2024-01-04');

INSERT INTO app.bookings (room, during, price_band) VALUES
    ('blue', '[2024-01-01 10:00, 2024-01-01 11:00)', '[1.5,2.5)'),
    ('blue', '[2024-01-01 11:00, 2024-01-01 12:00)', NULL),
    ('virtual', '[2024-01-01 10:00, 2024-01-01 12:00)', '(,0]');
INSERT INTO app.bookings (id, room, during) VALUES (500, 'green', '[2024-02-01 09:00, 2024-02-01 10:00)');

SELECT nextval('app.invoice_no') FROM generate_series(1, 3);

-- Constraints added after the data, NOT VALID, with rows that violate them.
ALTER TABLE app.customers ADD CONSTRAINT customers_name_short CHECK (length(name) < 12) NOT VALID;
ALTER DOMAIN app.quantity ADD CONSTRAINT quantity_not_13 CHECK (VALUE <> 13) NOT VALID;
ALTER TABLE app.tickets ADD CONSTRAINT tickets_customer_fkey FOREIGN KEY (customer_id)
    REFERENCES app.customers (id) NOT VALID;
INSERT INTO app.sessions (id, customer_id, token) VALUES (3, 110, 'tok-c');

-- Functions whose bodies reference tables ---------------------------------------------------------

CREATE FUNCTION app.customer_count() RETURNS bigint
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT count(*) FROM app.customers;
END;

CREATE FUNCTION app.order_totals(p_customer integer, OUT order_count bigint, OUT total numeric)
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    SELECT count(DISTINCT l.order_id), coalesce(sum(l.total), 0)
      INTO order_count, total
      FROM app.order_lines l JOIN app.orders o ON o.id = l.order_id AND o.order_date = l.order_date
     WHERE o.customer_id = p_customer;
END
$$;

CREATE FUNCTION app.customers_in(p_status app.customer_status) RETURNS SETOF app.customers
    LANGUAGE sql STABLE ROWS 50 COST 10
    AS $$ SELECT * FROM app.customers WHERE status = p_status $$;

CREATE FUNCTION app.lookup_email(p_id integer) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    AS $$ SELECT email::text FROM app.customers WHERE id = p_id $$;

CREATE PROCEDURE app.close_session(IN p_id integer)
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM app.sessions WHERE id = p_id;
END
$$;

CREATE PROCEDURE app.rename_customer(p_id integer, p_name text)
    LANGUAGE sql
BEGIN ATOMIC
    UPDATE app.customers SET name = p_name WHERE id = p_id;
END;

-- Aggregates: sfunc/finalfunc/initcond; a moving aggregate.
CREATE FUNCTION app.spread_accum(state numeric[], v numeric) RETURNS numeric[]
    LANGUAGE sql IMMUTABLE
    RETURN ARRAY[least(state[1], v), greatest(state[2], v)];
CREATE FUNCTION app.spread_final(state numeric[]) RETURNS numeric
    LANGUAGE sql IMMUTABLE
    RETURN state[2] - state[1];
CREATE AGGREGATE app.spread(numeric) (
    SFUNC = app.spread_accum,
    STYPE = numeric[],
    FINALFUNC = app.spread_final,
    INITCOND = '{}'
);
CREATE AGGREGATE app.msum(integer) (
    SFUNC = int4pl,
    STYPE = integer,
    COMBINEFUNC = int4pl,
    INITCOND = '0',
    MSFUNC = int4pl,
    MINVFUNC = int4mi,
    MSTYPE = integer,
    MINITCOND = '0',
    PARALLEL = SAFE
);

-- Operators: a self-commutator, and a commutator/negator pair with selectivity estimators.
CREATE FUNCTION app.text_eq_ci(a text, b text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT
    RETURN lower(a) = lower(b);
CREATE FUNCTION app.text_ne_ci(a text, b text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT
    RETURN lower(a) <> lower(b);
CREATE OPERATOR app.=~= (
    LEFTARG = text, RIGHTARG = text, FUNCTION = app.text_eq_ci,
    COMMUTATOR = OPERATOR(app.=~=), NEGATOR = OPERATOR(app.!~=),
    RESTRICT = eqsel, JOIN = eqjoinsel
);
CREATE OPERATOR app.!~= (
    LEFTARG = text, RIGHTARG = text, FUNCTION = app.text_ne_ci,
    COMMUTATOR = OPERATOR(app.!~=), NEGATOR = OPERATOR(app.=~=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);

-- A cast from a user composite type to text, with a function.
CREATE FUNCTION app.address_label(a app.address) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN (a).street || ', ' || (a).zip || ' ' || (a).city;
CREATE CAST (app.address AS text) WITH FUNCTION app.address_label(app.address) AS ASSIGNMENT;

-- Views and materialized views ---------------------------------------------------------------------

CREATE VIEW app.active_customers AS
    SELECT id, email, name, status, region FROM app.customers WHERE status = 'active'
    WITH LOCAL CHECK OPTION;
ALTER VIEW app.active_customers ALTER COLUMN status SET DEFAULT 'active';

CREATE VIEW app.active_eu_customers AS
    SELECT id, email, name, status, region FROM app.active_customers WHERE region = 'eu'
    WITH CASCADED CHECK OPTION;

CREATE VIEW app.customer_contacts WITH (security_barrier = true) AS
    SELECT id, email FROM app.customers WHERE status <> 'banned';

CREATE VIEW app.my_documents WITH (security_invoker = true) AS
    SELECT id, title FROM app.documents;

-- Valid only because customers.id is the primary key (functional dependency).
CREATE VIEW app.customer_directory AS
    SELECT c.id, c.name, c.email, count(o.id) AS orders
      FROM app.customers c LEFT JOIN app.orders o ON o.customer_id = c.id
     GROUP BY c.id;

CREATE MATERIALIZED VIEW app.customer_stats AS
    SELECT o.customer_id, count(*) AS order_count, app.spread(l.total) AS spread
      FROM app.orders o LEFT JOIN app.order_lines l ON l.order_id = o.id AND l.order_date = o.order_date
     GROUP BY o.customer_id;
CREATE UNIQUE INDEX customer_stats_customer_idx ON app.customer_stats (customer_id);

CREATE MATERIALIZED VIEW app.region_stats WITH (fillfactor = 90) AS
    SELECT region, count(*) AS customers FROM app.customers GROUP BY region
    WITH NO DATA;

-- Triggers ------------------------------------------------------------------------------------------

RESET ROLE;

-- The audit schema: owned by sdfix_auditor.
SET ROLE sdfix_auditor;
CREATE TABLE audit.log (
    id bigserial NOT NULL,
    table_name text NOT NULL,
    op text NOT NULL,
    row_data jsonb,
    CONSTRAINT log_pkey PRIMARY KEY (id)
);
CREATE FUNCTION audit.log_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    AS $$
BEGIN
    INSERT INTO audit.log (table_name, op, row_data)
    VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP, to_jsonb(NEW));
    RETURN NULL;
END
$$;
CREATE RULE log_no_delete AS ON DELETE TO audit.log DO INSTEAD NOTHING;
RESET ROLE;

-- BEFORE row (UPDATE OF ..., WHEN), AFTER statement with a transition table, a DEFERRABLE
-- constraint trigger, a row trigger on a partitioned table (cloned onto the partitions, disabled
-- on one of them), a disabled trigger, ENABLE ALWAYS and ENABLE REPLICA triggers.
CREATE TRIGGER customers_normalize
    BEFORE INSERT OR UPDATE OF name ON app.customers
    FOR EACH ROW WHEN (NEW.name IS NOT NULL)
    EXECUTE FUNCTION app.normalize_customer();
CREATE TRIGGER documents_count_inserts
    AFTER INSERT ON app.documents
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app.count_new_rows();
CREATE CONSTRAINT TRIGGER order_lines_check
    AFTER INSERT OR UPDATE ON app.order_lines
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION app.check_order_line();
CREATE TRIGGER orders_audit
    AFTER INSERT OR UPDATE ON app.orders
    FOR EACH ROW EXECUTE FUNCTION audit.log_row();
ALTER TABLE app.orders_default DISABLE TRIGGER orders_audit;
CREATE TRIGGER vehicles_noop
    BEFORE UPDATE ON app.vehicles
    FOR EACH ROW EXECUTE FUNCTION app.noop_trigger();
ALTER TABLE app.vehicles DISABLE TRIGGER vehicles_noop;
CREATE TRIGGER tickets_audit
    AFTER INSERT ON app.tickets
    FOR EACH ROW EXECUTE FUNCTION audit.log_row();
ALTER TABLE app.tickets ENABLE ALWAYS TRIGGER tickets_audit;
CREATE TRIGGER bookings_audit
    AFTER INSERT OR DELETE ON app.bookings
    FOR EACH STATEMENT EXECUTE FUNCTION audit.log_row();
ALTER TABLE app.bookings ENABLE REPLICA TRIGGER bookings_audit;

-- Rows written through the triggers (audit.log gets deterministic rows).
INSERT INTO app.orders (order_date, customer_id, region, note) VALUES ('2024-07-01', 105, 'eu', 'audited');
INSERT INTO app.tickets (customer_id, subject, opened) VALUES (110, 'Audited ticket', '2024-01-05');
INSERT INTO app.documents (id, owner_name, title) VALUES (4, 'sdfix_writer', 'Counted');

-- Rules: DO INSTEAD on a view (the audit table has one too).
CREATE RULE customer_directory_rename AS
    ON UPDATE TO app.customer_directory
    DO INSTEAD UPDATE app.customers SET name = NEW.name WHERE id = OLD.id;

-- Row level security ---------------------------------------------------------------------------------

ALTER TABLE app.documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.documents FORCE ROW LEVEL SECURITY;
CREATE POLICY documents_read ON app.documents
    AS PERMISSIVE FOR SELECT TO sdfix_reader
    USING (owner_name = CURRENT_USER);
CREATE POLICY documents_write ON app.documents
    AS PERMISSIVE FOR ALL TO sdfix_writer, sdfix_owner
    USING (true) WITH CHECK (title <> '');
CREATE POLICY documents_no_secrets ON app.documents
    AS RESTRICTIVE FOR ALL TO PUBLIC
    USING (title !~~ 'secret%');

-- Extended statistics ----------------------------------------------------------------------------------

CREATE STATISTICS app.order_lines_stats (ndistinct, dependencies)
    ON order_id, product FROM app.order_lines;
ALTER STATISTICS app.order_lines_stats SET STATISTICS 200;
CREATE STATISTICS app.customers_expr_stats ON lower(email::text), region FROM app.customers;
ALTER STATISTICS app.order_lines_stats OWNER TO sdfix_owner;

---------------------------------------------------------------------------------------------------
-- Objects owned by the superuser, or that need one
---------------------------------------------------------------------------------------------------

-- LEAKPROOF needs a superuser; a self-commutating operator over it.
CREATE FUNCTION app.int_dist(a integer, b integer) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE
    RETURN abs(a - b);
CREATE OPERATOR app.<-> (
    LEFTARG = integer, RIGHTARG = integer, FUNCTION = app.int_dist,
    COMMUTATOR = OPERATOR(app.<->)
);

-- An ordered-set aggregate (internal transition type: superuser).
CREATE AGGREGATE app.pct_disc(double precision ORDER BY anyelement) (
    SFUNC = ordered_set_transition,
    STYPE = internal,
    FINALFUNC = percentile_disc_final,
    FINALFUNC_EXTRA
);

-- A table in public using the extensions' types and operator classes.
CREATE TABLE public.notes (
    id integer NOT NULL,
    tag ext.citext,
    body text NOT NULL,
    CONSTRAINT notes_pkey PRIMARY KEY (id)
);
CREATE INDEX notes_body_trgm_idx ON public.notes USING gin (body ext.gin_trgm_ops);
INSERT INTO public.notes VALUES (1, 'Todo', 'buy milk'), (2, 'todo', 'call Alice'), (3, NULL, 'empty tag');

CREATE FUNCTION public.note_count() RETURNS bigint
    LANGUAGE sql STABLE
    AS $$ SELECT count(*) FROM public.notes $$;

-- Event triggers (must be owned by a superuser). The function does nothing harmful; DDL after it
-- proves it does not get in the way.
CREATE FUNCTION public.on_ddl_end() RETURNS event_trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE DEBUG 'ddl: %', tg_tag;
END
$$;
CREATE EVENT TRIGGER sdfix_ddl_watch ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION public.on_ddl_end();
CREATE EVENT TRIGGER sdfix_ddl_start ON ddl_command_start
    EXECUTE FUNCTION public.on_ddl_end();
ALTER EVENT TRIGGER sdfix_ddl_start DISABLE;

CREATE TABLE audit.retention (
    table_name text NOT NULL,
    keep_days integer NOT NULL DEFAULT 30,
    CONSTRAINT retention_pkey PRIMARY KEY (table_name)
);
ALTER TABLE audit.retention OWNER TO sdfix_auditor;
INSERT INTO audit.retention VALUES ('audit.log', 90), ('app.sessions', 7);

-- Publications: a column list with a row filter, a partitioned table, a whole schema.
CREATE PUBLICATION sdfix_pub_app
    FOR TABLE app.documents (id, owner_name, title) WHERE (id > 0), app.orders
    WITH (publish = 'insert, truncate', publish_via_partition_root = true);
ALTER PUBLICATION sdfix_pub_app OWNER TO sdfix_owner;
CREATE PUBLICATION sdfix_pub_audit FOR TABLES IN SCHEMA audit;

-- Dependency cycles pg_dump has to repair --------------------------------------------------------
-- Two views that read each other (restored through a placeholder view), and a CHECK calling a
-- SQL-standard function whose body reads the same table.
CREATE VIEW app.cycle_a AS SELECT 1 AS id, 'a'::text COLLATE "C" AS label;
CREATE VIEW app.cycle_b AS SELECT id, label FROM app.cycle_a;
CREATE OR REPLACE VIEW app.cycle_a AS
    SELECT 1 AS id, 'a'::text COLLATE "C" AS label
    UNION ALL SELECT id, label FROM app.cycle_b WHERE false;
CREATE TABLE app.quota (n integer NOT NULL);
CREATE FUNCTION app.within_quota(v integer) RETURNS boolean LANGUAGE sql
BEGIN ATOMIC
    SELECT v <= coalesce((SELECT max(q.n) FROM app.quota q), 0) + 100;
END;
ALTER TABLE app.quota ADD CONSTRAINT quota_n_within CHECK (app.within_quota(n));
INSERT INTO app.quota VALUES (5), (50);

---------------------------------------------------------------------------------------------------
-- Ownership changes and privileges
---------------------------------------------------------------------------------------------------

ALTER FUNCTION app.int_dist(integer, integer) OWNER TO sdfix_owner;
ALTER TABLE public.notes OWNER TO sdfix_writer;

-- Table grants, WITH GRANT OPTION, and a grant made by that grantee (grantor sdfix_writer).
GRANT SELECT, INSERT, UPDATE ON app.customers TO sdfix_writer WITH GRANT OPTION;
SET ROLE sdfix_writer;
GRANT UPDATE ON app.customers TO sdfix_reader;
RESET ROLE;
GRANT INSERT, UPDATE ON app.orders TO sdfix_writer;
GRANT ALL ON app.documents TO sdfix_writer;
GRANT SELECT ON app.order_lines, app.events, app.vehicles TO sdfix_auditor;
GRANT SELECT ON audit.log TO sdfix_reader;
GRANT SELECT, INSERT ON public.notes TO sdfix_reader;
-- Column-level privileges.
GRANT SELECT (id, email), UPDATE (name) ON app.customers TO sdfix_auditor;
GRANT SELECT (id, title) ON app.documents TO sdfix_auditor;
-- Views and materialized views.
GRANT SELECT ON app.active_customers, app.customer_directory TO sdfix_writer;
GRANT SELECT ON app.customer_stats TO sdfix_auditor;
-- Sequences.
GRANT USAGE, SELECT ON SEQUENCE app.order_id_seq TO sdfix_writer;
GRANT SELECT, UPDATE ON SEQUENCE app.invoice_no TO sdfix_auditor;
-- Functions and procedures: REVOKE of the PUBLIC default.
REVOKE EXECUTE ON FUNCTION app.lookup_email(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.lookup_email(integer) TO sdfix_reader;
REVOKE EXECUTE ON PROCEDURE app.close_session(integer) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE app.close_session(integer) TO sdfix_writer WITH GRANT OPTION;
-- Types.
REVOKE USAGE ON TYPE app.customer_status FROM PUBLIC;
GRANT USAGE ON TYPE app.customer_status TO sdfix_writer, sdfix_reader;
GRANT USAGE ON DOMAIN app.quantity TO sdfix_writer;

-- Global default privileges (no IN SCHEMA), set last so they shape no object above.
ALTER DEFAULT PRIVILEGES FOR ROLE sdfix_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE sdfix_auditor GRANT SELECT ON TABLES TO sdfix_reader;
ALTER DEFAULT PRIVILEGES GRANT USAGE ON TYPES TO sdfix_reader;

---------------------------------------------------------------------------------------------------
-- Comments on every kind that takes one
---------------------------------------------------------------------------------------------------

COMMENT ON SCHEMA app IS 'Application schema, owned by sdfix_owner';
COMMENT ON SCHEMA audit IS 'Audit trail, owned by sdfix_auditor';
COMMENT ON SCHEMA ext IS 'Extensions live here';
COMMENT ON SCHEMA public IS 'Public schema, with its default privileges revoked';
COMMENT ON COLLATION app.german_ci IS 'Case-insensitive German (ICU, nondeterministic)';
COMMENT ON COLLATION app.bytewise IS 'Byte order (libc C)';
COMMENT ON TYPE app.customer_status IS 'Lifecycle of a customer';
COMMENT ON TYPE app.address IS 'A postal address';
COMMENT ON COLUMN app.address.zip IS 'Postal code, as printed';
COMMENT ON TYPE app.float_range IS 'Range of doubles with a subtype_diff';
COMMENT ON DOMAIN app.quantity IS 'A positive count below a million';
COMMENT ON CONSTRAINT quantity_positive ON DOMAIN app.quantity IS 'Zero is not a quantity';
COMMENT ON CONSTRAINT quantity_not_13 ON DOMAIN app.quantity IS 'Added NOT VALID: old rows may hold 13';
COMMENT ON DOMAIN app.email IS 'Case-insensitive e-mail address';
COMMENT ON SEQUENCE app.invoice_no IS 'Invoice numbers: cycle through 1000..999990 in steps of 10';
COMMENT ON SEQUENCE app.scratch_seq IS 'Unlogged and never called';
COMMENT ON SEQUENCE app.ticket_no_seq IS 'Counts down; owned by tickets.ticket_no';
COMMENT ON FUNCTION app.float8_diff(double precision, double precision) IS 'subtype_diff of float_range';
COMMENT ON FUNCTION app.default_region() IS 'Used by the default of customers.region';
COMMENT ON FUNCTION app.is_valid_code(text) IS 'Used by CHECK customers_code_valid';
COMMENT ON FUNCTION app.fmt(integer) IS 'fmt, integer overload';
COMMENT ON FUNCTION app.fmt(numeric, integer) IS 'fmt, numeric overload';
COMMENT ON FUNCTION app.fmt(VARIADIC text[]) IS 'fmt, variadic overload';
COMMENT ON FUNCTION app.customer_count() IS 'SQL-standard body (BEGIN ATOMIC)';
COMMENT ON FUNCTION app.order_totals(integer) IS 'OUT parameters';
COMMENT ON FUNCTION app.lookup_email(integer) IS 'SECURITY DEFINER with a pinned search_path';
COMMENT ON FUNCTION app.int_dist(integer, integer) IS 'LEAKPROOF distance';
COMMENT ON FUNCTION audit.log_row() IS 'Trigger function writing audit.log';
COMMENT ON FUNCTION public.on_ddl_end() IS 'Event trigger function; does nothing';
COMMENT ON PROCEDURE app.close_session(integer) IS 'A plpgsql procedure';
COMMENT ON PROCEDURE app.rename_customer(integer, text) IS 'A SQL-standard procedure';
COMMENT ON AGGREGATE app.spread(numeric) IS 'max - min';
COMMENT ON AGGREGATE app.msum(integer) IS 'A moving-aggregate sum';
COMMENT ON AGGREGATE app.pct_disc(double precision ORDER BY anyelement) IS 'Ordered-set percentile';
COMMENT ON OPERATOR app.=~= (text, text) IS 'Case-insensitive equality';
COMMENT ON OPERATOR app.<-> (integer, integer) IS 'Distance between integers';
COMMENT ON CAST (app.address AS text) IS 'Address as a one-line label';
COMMENT ON TABLE app.customers IS 'Customers';
COMMENT ON COLUMN app.customers.id IS 'Identity, always generated';
COMMENT ON COLUMN app.customers.region IS 'Defaults to app.default_region()';
COMMENT ON CONSTRAINT customers_code_valid ON app.customers IS 'Uses a function';
COMMENT ON CONSTRAINT customers_name_short ON app.customers IS 'NOT VALID: old names may be long';
COMMENT ON CONSTRAINT customers_email_key ON app.customers IS 'Unique with INCLUDE';
COMMENT ON INDEX app.customers_lower_email_idx IS 'Expression index';
COMMENT ON INDEX app.customers_active_region_idx IS 'Partial index';
COMMENT ON TABLE app.orders IS 'Partitioned by range of order_date';
COMMENT ON COLUMN app.orders.note IS 'Free text';
COMMENT ON TABLE app.orders_2024 IS 'Sub-partitioned by hash of id';
COMMENT ON TABLE app.orders_default IS 'The default partition';
COMMENT ON TABLE app.orders_2022 IS 'Created on its own, then attached';
COMMENT ON INDEX app.orders_customer_idx IS 'Partitioned index';
COMMENT ON CONSTRAINT orders_customer_fkey ON app.orders IS 'Foreign key from a partitioned table';
COMMENT ON TABLE app.order_lines IS 'Lines of an order';
COMMENT ON COLUMN app.order_lines.total IS 'Generated: qty * unit_price';
COMMENT ON CONSTRAINT order_lines_order_fkey ON app.order_lines IS 'Deferred, references a partitioned table';
COMMENT ON TABLE app.events IS 'Partitioned by list of kind';
COMMENT ON TABLE app.vehicles IS 'Inheritance parent';
COMMENT ON TABLE app.trucks IS 'Inheritance child';
COMMENT ON COLUMN app.trucks.payload_kg IS 'Only trucks have a payload';
COMMENT ON TABLE app.addresses IS 'Typed table';
COMMENT ON TABLE app.sessions IS 'Unlogged';
COMMENT ON TABLE app.documents IS 'Row level security, storage options';
COMMENT ON TABLE app.tickets IS 'Replica identity using an index';
COMMENT ON CONSTRAINT tickets_customer_fkey ON app.tickets IS 'NOT VALID foreign key';
COMMENT ON TABLE app.bookings IS 'Exclusion constraint';
COMMENT ON CONSTRAINT bookings_no_overlap ON app.bookings IS 'No two bookings overlap';
COMMENT ON TABLE audit.log IS 'Written by triggers';
COMMENT ON TABLE audit.retention IS 'Created after the event triggers';
COMMENT ON TABLE public.notes IS 'Uses extension types';
COMMENT ON VIEW app.active_customers IS 'LOCAL CHECK OPTION, column default';
COMMENT ON COLUMN app.active_customers.status IS 'Defaults to active through the view';
COMMENT ON VIEW app.active_eu_customers IS 'A view over a view, CASCADED CHECK OPTION';
COMMENT ON VIEW app.customer_contacts IS 'security_barrier';
COMMENT ON VIEW app.my_documents IS 'security_invoker';
COMMENT ON VIEW app.customer_directory IS 'Depends on the primary key of customers';
COMMENT ON MATERIALIZED VIEW app.customer_stats IS 'Populated';
COMMENT ON COLUMN app.customer_stats.spread IS 'Uses a user aggregate';
COMMENT ON MATERIALIZED VIEW app.region_stats IS 'WITH NO DATA';
COMMENT ON INDEX app.customer_stats_customer_idx IS 'Index on a materialized view';
COMMENT ON TRIGGER customers_normalize ON app.customers IS 'BEFORE row';
COMMENT ON TRIGGER documents_count_inserts ON app.documents IS 'AFTER statement, transition table';
COMMENT ON TRIGGER order_lines_check ON app.order_lines IS 'Constraint trigger';
COMMENT ON TRIGGER orders_audit ON app.orders IS 'On a partitioned table';
COMMENT ON TRIGGER vehicles_noop ON app.vehicles IS 'Disabled';
COMMENT ON TRIGGER tickets_audit ON app.tickets IS 'ENABLE ALWAYS';
COMMENT ON RULE customer_directory_rename ON app.customer_directory IS 'DO INSTEAD on a view';
COMMENT ON RULE log_no_delete ON audit.log IS 'The audit log is append-only';
COMMENT ON POLICY documents_read ON app.documents IS 'Readers see their own documents';
COMMENT ON POLICY documents_no_secrets ON app.documents IS 'Restrictive';
COMMENT ON STATISTICS app.order_lines_stats IS 'ndistinct and dependencies';
COMMENT ON STATISTICS app.customers_expr_stats IS 'On an expression';
COMMENT ON EVENT TRIGGER sdfix_ddl_watch IS 'Watches CREATE/ALTER TABLE';
COMMENT ON PUBLICATION sdfix_pub_app IS 'Column list and row filter';
COMMENT ON PUBLICATION sdfix_pub_audit IS 'Every table of schema audit';
