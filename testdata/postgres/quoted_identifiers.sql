-- streamdump fixture: identifiers that need quoting everywhere. Mixed case, spaces, embedded
-- double quotes, reserved words ("select", "order", "user", "group", "from"), dots, a trailing
-- space, and non-ASCII letters and symbols ("Café ☕", "日本") in schema, table, column, index,
-- constraint, sequence, view, function, argument, type, enum label and trigger names; comments
-- with quotes, backslashes and newlines; a few rows with foreign keys between them.
--
-- Load it as a superuser into a fresh, empty UTF8 database:
--     psql -X -v ON_ERROR_STOP=1 -d <db> -f testdata/postgres/quoted_identifiers.sql
-- It needs no roles beyond the loading one.

SET client_min_messages = warning;

CREATE SCHEMA "Mixed Case ""Schema"".v2";
CREATE SCHEMA "select";
CREATE SCHEMA "Café ☕";

COMMENT ON SCHEMA "Mixed Case ""Schema"".v2" IS 'A schema with "quotes", a space and a dot';
COMMENT ON SCHEMA "select" IS 'A reserved word';
COMMENT ON SCHEMA "Café ☕" IS E'Unicode ☕\nsecond line';

-- Types: an enum whose labels need quoting, a domain, a composite type.
CREATE TYPE "Mixed Case ""Schema"".v2"."Mood ☕" AS ENUM (
    'happy', 'it''s "fine"', 'ÜBER', 'with space', 'comma,label', 'back\slash', 'NULL'
);
COMMENT ON TYPE "Mixed Case ""Schema"".v2"."Mood ☕" IS 'Labels: ''quoted'', "double", back\slash';

CREATE DOMAIN "select"."Positive Int" AS integer
    CONSTRAINT "must be > 0 ""really""" CHECK (VALUE > 0);
COMMENT ON DOMAIN "select"."Positive Int" IS 'A domain with a quoted constraint name';

CREATE TYPE "Café ☕"."Point 2D" AS ("X" double precision, "y.coord" double precision, "end" text);
COMMENT ON COLUMN "Café ☕"."Point 2D"."y.coord" IS 'Attribute with a dot';

-- Sequences.
CREATE SEQUENCE "select"."Seq.Name ☕" START WITH 7 INCREMENT BY 3;
COMMENT ON SEQUENCE "select"."Seq.Name ☕" IS 'Sequence with a dot and a cup';

-- Tables.
CREATE TABLE "select"."order" (
    "user" integer NOT NULL,
    "Café ☕" text,
    "日本" text COLLATE "C",
    "a.b" numeric,
    "col""quote" text DEFAULT 'it''s',
    "Mixed Case" "Mixed Case ""Schema"".v2"."Mood ☕" DEFAULT 'ÜBER',
    "group" bigint DEFAULT nextval('"select"."Seq.Name ☕"'),
    "from" "select"."Positive Int",
    "trailing space " text,
    "where" "Café ☕"."Point 2D",
    CONSTRAINT "PK ""order""" PRIMARY KEY ("user"),
    CONSTRAINT "check: 'it' is ok" CHECK ("a.b" >= 0),
    CONSTRAINT "Unique Group" UNIQUE ("group")
);
ALTER SEQUENCE "select"."Seq.Name ☕" OWNED BY "select"."order"."group";
COMMENT ON TABLE "select"."order" IS E'A comment with ''single'' and "double" quotes,\na newline, a backslash \\ and unicode ☕';
COMMENT ON COLUMN "select"."order"."col""quote" IS 'Column with an embedded "quote"';
COMMENT ON COLUMN "select"."order"."日本" IS '日本語のコメント';
COMMENT ON CONSTRAINT "check: 'it' is ok" ON "select"."order" IS E'Constraint comment\r\nwith CRLF';

CREATE TABLE "Café ☕"."Line Items" (
    "ID" integer GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME "Café ☕"."Line Items ID seq") NOT NULL,
    "order" integer NOT NULL,
    "Qty." integer,
    "日本語 col" text,
    CONSTRAINT "Line Items PK" PRIMARY KEY ("ID"),
    CONSTRAINT "FK → ""order""" FOREIGN KEY ("order")
        REFERENCES "select"."order" ("user") ON DELETE CASCADE
);
COMMENT ON TABLE "Café ☕"."Line Items" IS 'Lines';
COMMENT ON CONSTRAINT "FK → ""order""" ON "Café ☕"."Line Items" IS 'Foreign key with an arrow';

CREATE TABLE public."user" (
    "select" integer NOT NULL,
    "Name" text NOT NULL,
    "Line" integer,
    CONSTRAINT "user_pkey" PRIMARY KEY ("select"),
    CONSTRAINT "user → line" FOREIGN KEY ("Line") REFERENCES "Café ☕"."Line Items" ("ID")
);

CREATE TABLE public."tab.le" ("ä" integer, "Ö" text, """" text);
CREATE TABLE "Mixed Case ""Schema"".v2"."日本" ("id" integer PRIMARY KEY, "値" text);

-- Indexes.
CREATE UNIQUE INDEX "idx: 日本" ON "select"."order" ("日本", lower("Café ☕"));
CREATE INDEX "Index ""Quoted""" ON "Café ☕"."Line Items" ("order") WHERE ("Qty." > 0);
CREATE INDEX "tab.le idx" ON public."tab.le" ("""");
COMMENT ON INDEX "select"."idx: 日本" IS 'Expression index, quoted name';

-- A view, a function, a trigger.
CREATE VIEW "select"."view of ""order""" AS
    SELECT o."user", o."Café ☕", o."Mixed Case", l."Qty." AS "Quantity ☕"
      FROM "select"."order" o JOIN "Café ☕"."Line Items" l ON l."order" = o."user";
COMMENT ON VIEW "select"."view of ""order""" IS 'View; its name has "quotes"';
COMMENT ON COLUMN "select"."view of ""order"""."Quantity ☕" IS 'Renamed column';

CREATE FUNCTION "Mixed Case ""Schema"".v2"."Func Name"("in""put" text, "Second Arg" integer DEFAULT 1)
    RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT "in""put" || "Second Arg" $$;
COMMENT ON FUNCTION "Mixed Case ""Schema"".v2"."Func Name"(text, integer) IS E'Function\nwith ''quotes''';

CREATE FUNCTION "select"."Trigger Fn"() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW."Café ☕" := coalesce(NEW."Café ☕", 'default ☕');
    RETURN NEW;
END
$$;

CREATE TRIGGER "Trigger ""Mixed"" Case"
    BEFORE INSERT ON "select"."order"
    FOR EACH ROW EXECUTE FUNCTION "select"."Trigger Fn"();
COMMENT ON TRIGGER "Trigger ""Mixed"" Case" ON "select"."order" IS 'Trigger "comment"';

-- Data.
INSERT INTO "select"."order" ("user", "Café ☕", "日本", "a.b", "Mixed Case", "from", "trailing space ", "where") VALUES
    (1, 'espresso ☕', '東京', 1.5, 'happy', 1, 'x ', ROW(1.5, -2, 'end')),
    (2, NULL, '大阪', 0, 'it''s "fine"', 2, NULL, NULL),
    (3, E'tab\there', 'naïve', 42, 'comma,label', NULL, E'new\nline', ROW(0, 0, NULL)),
    (4, 'Ünïcödé', NULL, NULL, 'back\slash', 5, '', ROW(NULL, NULL, 'quote "x"'));
INSERT INTO "select"."order" ("user", "Mixed Case") VALUES (5, 'NULL');

INSERT INTO "Café ☕"."Line Items" ("order", "Qty.", "日本語 col") VALUES
    (1, 2, 'いち'), (1, 0, 'に'), (3, 7, NULL), (4, -1, 'quote''s');

INSERT INTO public."user" VALUES (1, 'Zoë', 1), (2, 'O''Brien "OB"', NULL), (3, 'Ünal', 3);
INSERT INTO public."tab.le" VALUES (1, 'a', '"'), (2, 'b', NULL);
INSERT INTO "Mixed Case ""Schema"".v2"."日本" VALUES (1, '一'), (2, '二');
