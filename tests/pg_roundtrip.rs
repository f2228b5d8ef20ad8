//! PostgreSQL round trips through the real `streamdump` binary against the real servers
//! (PostgreSQL 15 and SeaweedFS S3, started by `scripts/dev.sh up`): every built-in type family,
//! chunk rollover, schema and table filters, S3 and local stores restoring the same backup, the
//! refusal to restore over data, and `list`.
//!
//! Equality is judged by the servers: `util::fingerprint` (row count and md5 of the ordered row
//! text per table) and `util::schema_dump` (`pg_dump --schema-only`). When a fingerprint differs,
//! the failure message shows the differing rows, so a type that does not round-trip is named by
//! its value.
//!
//! Run: `source .services/env && cargo test --test pg_roundtrip`.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

/// One table per type family, with the edge values of each, plus the tables whose restore needs
/// more than COPY: identity, serial, generated, dropped column, no rows, no columns, standalone
/// sequences.
const TYPE_MATRIX_SQL: &str = r###"
CREATE TYPE public.mood AS ENUM ('sad', 'it''s ok', 'very happy');

CREATE TABLE public.numbers (
    id int PRIMARY KEY,
    s smallint, i integer, b bigint,
    n numeric, n_scaled numeric(30,10),
    r real, d double precision,
    m money, o oid
);
INSERT INTO public.numbers VALUES
 (1, -32768, -2147483648, -9223372036854775808, 'NaN', -12345678901234567890.0123456789, 'NaN', 'NaN', '-92233720368547758.08', 0),
 (2, 32767, 2147483647, 9223372036854775807, 'Infinity', 12345678901234567890.0123456789, 'Infinity', 'Infinity', '92233720368547758.07', 4294967295),
 (3, 0, 0, 0, '-Infinity', 0, '-Infinity', '-Infinity', 0, 1),
 (4, NULL, NULL, NULL, ('1' || repeat('0', 130000) || '.' || repeat('9', 16383))::numeric, NULL, '-0', '-0', NULL, NULL),
 (5, -1, -1, -1, ('-0.' || repeat('0', 16000) || '1')::numeric, 0.0000000001, '1.4e-45', '4.9e-324', '0.01', 42),
 (6, 1, 1, 1, 0.1, 1e-10, '3.4028235e38', '2.2250738585072014e-308', '-0.01', 12345),
 (7, 2, 2, 2, 3.14159265358979323846264338327950288419716939937510, 1, '1.17549435e-38', '1.7976931348623157e308', '1.50', 7),
 (8, 3, 3, 3, '-0', -0.0000000001, '0.1', '0.1', '1000', 8),
 (9, 4, 4, 4, 1e-1000, 2, '1e-40', '2.5e-320', '0', 9);

CREATE TABLE public.texts (
    id int PRIMARY KEY,
    t text, v varchar(20), c char(5), c1 "char", nm name,
    "Mixed Case Col" text
);
INSERT INTO public.texts VALUES
 (1, E'tab\there', 'a', 'ab', 'x', 'name1', 'M'),
 (2, E'new\nline', 'b', '', 'y', 'n', ''),
 (3, E'carriage\rreturn', 'c', 'abcde', 'z', 'n', NULL),
 (4, E'back\\slash \\N \\\\ end\\', 'd', ' a ', 'a', 'n', 'x'),
 (5, $q$single ' double " backtick ` $q$, 'e', 'q''', 'b', 'n', 'y'),
 (6, 'emoji 😀🎉 combining é (e+U+0301) 𝔘𝔫𝔦 ünïcödé 中文 עברית', 'ü😀', 'é', 'c', 'ünï', 'z'),
 (7, '', '', '', 'd', '', 'empty'),
 (8, NULL, NULL, NULL, NULL, NULL, NULL),
 (9, E'\\N', E'\\N', E'\\N', E'\\', E'\\N', E'\\N'),
 (10, E'mixed\t\n\r\\\x01\x7f end', 'f', 'f', 'e', 'n', E'\x1b[0m'),
 (11, repeat('long text ', 100000), 'g', 'g', 'g', 'g', 'g'),
 (12, E'\r\n\r\n', E'\n', E'\t', E'\t', E'\r', E'trailing backslash \\');

CREATE TABLE public.binaries (id int PRIMARY KEY, b bytea, bits bit(8), vb varbit, vb10 bit varying(10));
INSERT INTO public.binaries VALUES
 (1, (SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), '' ORDER BY i), 'hex') FROM generate_series(0, 255) i), B'10101010', B'', B'1'),
 (2, (SELECT decode(string_agg(lpad(to_hex(255 - i), 2, '0'), '' ORDER BY i), 'hex') FROM generate_series(0, 255) i), B'00000000', B'1010101010101010101', B'1111111111'),
 (3, '', B'11111111', B'0', NULL),
 (4, NULL, NULL, NULL, B'0000000000'),
 (5, '\x5c4e', B'00000001', B'01', B'10'),
 (6, '\x0a0d090008', B'10000000', B'1', B'0');

CREATE TABLE public.docs (id int PRIMARY KEY, j json, jb jsonb, x xml, tv tsvector, tq tsquery);
INSERT INTO public.docs VALUES
 (1, '{"a": {"b": [1, 2.50, {"c": null}]}, "u": "\u00e9\u0000\ud83d\ude00", "s": "tab\tquote\"back\\"}',
     '{"a": {"b": [1, 2.50, {"c": null}]}, "u": "\u00e9\ud83d\ude00", "s": "tab\tquote\"back\\", "e": {}, "n": -1.5e300}',
     '<?xml version="1.0"?><doc a="1"><p>text &amp; more</p><!-- c --><![CDATA[<raw>]]></doc>',
     'a fat:1A cat:2B,3C sat:4 on a mat and ate a fat rat ''quoted word'' ''back\\slash''',
     'fat & (rat | cat) & !dog & sa:*'),
 (2, '[]', '[]', 'fragment <b>bold</b> text', '', 'a'),
 (3, '"just a string"', '"just a string"', '<a/><b/>', 'ünï:1 😀', '''ünï'' <-> ''x'''),
 (4, 'null', 'null', NULL, NULL, NULL),
 (5, '  { "spaces" :   true , "dup": 1, "dup": 2 }  ', '{"dup": 1, "dup": 2, "deep": [[[[[[]]]]]]}', '', 'x', '!x'),
 (6, NULL, NULL, '<x xmlns="urn:x">ü</x>', NULL, NULL),
 (7, E'{"nl": "a\\nb", "tab": "\\t"}', E'{"ctl": "\\u0001\\u001f", "bs": "\\\\"}', E'<t>line1\nline2\ttab</t>', 'x:1,2,3 y:4D', 'x <2> y');

CREATE TABLE public.arrays (id int PRIMARY KEY, ia int[], ta text[], ma int[][], na numeric[], ba bool[], ja jsonb[], da date[]);
INSERT INTO public.arrays VALUES
 (1, '{1,2,3}', ARRAY['a,b', 'c"d', '{e}', 'f\g', ' spaced ', '', 'NULL', NULL, E'tab\tnl\n'], '{{1,2},{3,4}}', '{1.5,NaN,Infinity}', '{t,f,NULL}', ARRAY['{"a":1}'::jsonb, '[]'], '{2020-01-01,infinity}'),
 (2, '{}', '{}', '{{{1},{2}},{{3},{4}}}', '{}', '{}', '{}', '{}'),
 (3, '{NULL,NULL}', '{NULL}', '{{NULL,1},{2,NULL}}', '{NULL}', '{NULL}', '{NULL}', '{NULL}'),
 (4, '[0:2]={7,8,9}', '[-1:0]={x,y}', '[1:2][3:4]={{1,2},{3,4}}', NULL, NULL, NULL, NULL),
 (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (6, '{-2147483648,2147483647}', ARRAY[E'back\\slash', '}', '{', ',', '"', E'\\N'], '{{1},{NULL}}', '{-Infinity,-0,1e-100}', '{t}', ARRAY['null'::jsonb], '{-infinity,0044-03-15 BC}');

CREATE TABLE public.times (id int PRIMARY KEY, d date, t time, tz timetz, ts timestamp, tstz timestamptz, iv interval);
INSERT INTO public.times VALUES
 (1, 'infinity', '00:00', '00:00+00', 'infinity', 'infinity', '1 year 2 months 3 days 04:05:06.789012'),
 (2, '-infinity', '23:59:59.999999', '23:59:59.999999-15:59', '-infinity', '-infinity', '-178000000 years'),
 (3, '4713-01-01 BC', '24:00:00', '12:34:56.789+14', '4713-01-01 00:00:00 BC', '4713-01-01 00:00:00+00 BC', '178000000 years'),
 (4, '0044-03-15 BC', '12:00', '12:00:00-03:30', '0044-03-15 12:00:00 BC', '0044-03-15 12:00:00.5+01 BC', '-1 mons +2 days -00:00:00.000001'),
 (5, '5874897-12-31', '01:02:03.000004', '01:02:03.4+05:45', '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00', '0'),
 (6, '2000-02-29', '13:14:15', '13:14:15+01', '2000-02-29 13:14:15.123456', '2024-03-31 02:30:00 Europe/Berlin', '1 mon 1 day 00:00:00.000001'),
 -- Not the very minimum (-2147483648 ... -...775808): PostgreSQL 15 prints it in a form its own
 -- interval input rejects (COPY and pg_dump fail on it as well), so it cannot round-trip anywhere.
 (7, NULL, NULL, NULL, NULL, NULL, '-2147483647 days -2147483647 mons -9223372036854.775807 seconds'),
 (8, '1970-01-01', '00:00:00.000001', '00:00:00+15:59', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', '2147483647 mons 2147483647 days 2562047788:00:54.775807');

CREATE TABLE public.misc (
    id int PRIMARY KEY, u uuid, i inet, c cidr, m macaddr, m8 macaddr8, b boolean, mood public.mood,
    lsn pg_lsn, ch char(10), bpc character(1), moods public.mood[]
);
INSERT INTO public.misc VALUES
 (1, '00000000-0000-0000-0000-000000000000', '0.0.0.0', '0.0.0.0/0', '00:00:00:00:00:00', '00:00:00:00:00:00:00:00', true, 'it''s ok', '0/0', 'a', 'x', '{sad,"it''s ok"}'),
 (2, 'ffffffff-ffff-ffff-ffff-ffffffffffff', '192.168.1.5/24', '10.0.0.0/8', 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff', false, 'very happy', 'FFFFFFFF/FFFFFFFF', 'padded  ', ' ', '{"very happy",NULL}'),
 (3, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '::1', '2001:db8::/32', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', NULL, 'sad', '16/B374D848', '', NULL, '{}'),
 (4, NULL, 'fe80::1:2:3:4/64', '::ffff:1.2.3.4/128', NULL, NULL, NULL, NULL, NULL, NULL, 'z', NULL);

CREATE TABLE public.ranges (id int PRIMARY KEY, i4 int4range, i8 int8range, nr numrange, tr tstzrange, dr daterange, tsr tsrange);
INSERT INTO public.ranges VALUES
 (1, 'empty', 'empty', 'empty', 'empty', 'empty', 'empty'),
 (2, '(,)', '(,)', '(,)', '(,)', '(,)', '(,)'),
 (3, '[1,10)', '[-9223372036854775808,9223372036854775807)', '(1.5,2.5]', '[2020-01-01 00:00+00,2021-01-01 00:00+00)', '[2020-01-01,infinity)', '(-infinity,2020-01-01 12:00]'),
 (4, '(,5]', '[7,)', '[NaN,NaN]', '[-infinity,infinity]', '(,2000-01-01)', '["2000-01-01 00:00","2000-01-02 00:00"]'),
 (5, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE public.shapes (id int PRIMARY KEY, p point, bx box, pg polygon, c circle, l line, ls lseg, op path, cp path);
INSERT INTO public.shapes VALUES
 (1, '(0,0)', '((0,0),(1,1))', '((0,0),(1,0),(1,1))', '<(0,0),1>', '{1,-1,0}', '[(0,0),(1,1)]', '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(2,0))'),
 (2, '(-1.5e300,1e-300)', '((NaN,1),(2,Infinity))', '((0.1,0.2),(0.3,0.4))', '<(1.1,2.2),0.5>', '{0,1,-3.3}', '[(-0,0),(1e10,-1e-10)]', '[(1,2)]', '((1,2))'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, '(0.30000000000000004,1e-320)', '((1,2),(3,4))', '((1,1))', '<(0,0),0>', '{1,0,-0.1}', '[(1,1),(1,1)]', '[(0.1,0.2),(0.3,0.4)]', '((0,0))');

-- Identity, serial, generated, dropped-column, empty and column-less tables; standalone sequences.
CREATE TABLE public.with_identity (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 100 INCREMENT BY 7) PRIMARY KEY, note text);
INSERT INTO public.with_identity (note) SELECT 'row ' || g FROM generate_series(1, 5) g;
CREATE TABLE public.with_default_identity (id int GENERATED BY DEFAULT AS IDENTITY, note text);
INSERT INTO public.with_default_identity (note) VALUES ('a'), ('b');
INSERT INTO public.with_default_identity (id, note) VALUES (1000, 'explicit');
CREATE TABLE public.with_serial (id serial PRIMARY KEY, big bigserial, note text);
INSERT INTO public.with_serial (note) SELECT 'row ' || g FROM generate_series(1, 17) g;
CREATE TABLE public.with_generated (
    id int PRIMARY KEY, price numeric(10,2) NOT NULL, qty int NOT NULL,
    total numeric GENERATED ALWAYS AS (price * qty) STORED, label text DEFAULT 'none'
);
INSERT INTO public.with_generated (id, price, qty) VALUES (1, 9.99, 3), (2, 0.5, 0);
INSERT INTO public.with_generated (id, price, qty, label) VALUES (3, 100, -2, 'neg');
CREATE TABLE public.with_dropped_column (a int, gone text, b text);
INSERT INTO public.with_dropped_column VALUES (1, 'x', 'one'), (2, 'y', 'two');
ALTER TABLE public.with_dropped_column DROP COLUMN gone;
CREATE TABLE public.no_rows (id int PRIMARY KEY, t text);
CREATE TABLE public.no_columns ();
INSERT INTO public.no_columns DEFAULT VALUES;
INSERT INTO public.no_columns DEFAULT VALUES;
INSERT INTO public.no_columns DEFAULT VALUES;
CREATE SEQUENCE public.counter START WITH 5 INCREMENT BY 5;
SELECT setval('public.counter', 40);
CREATE SEQUENCE public.never_used;
"###;

/// Rows per table in [`TYPE_MATRIX_SQL`]: a guard that the fixture really was loaded.
const TYPE_MATRIX_ROWS: &[(&str, i64)] = &[
    ("public.arrays", 6),
    ("public.binaries", 6),
    ("public.docs", 7),
    ("public.misc", 4),
    ("public.no_columns", 3),
    ("public.no_rows", 0),
    ("public.numbers", 9),
    ("public.ranges", 5),
    ("public.shapes", 4),
    ("public.texts", 12),
    ("public.times", 8),
    ("public.with_default_identity", 3),
    ("public.with_dropped_column", 2),
    ("public.with_generated", 3),
    ("public.with_identity", 5),
    ("public.with_serial", 17),
];

/// Run `backup --json` and return the whole report (`util::backup` returns only the manifest).
fn backup_report(db: &str, dest: &str, extra: &[&str]) -> Value {
    let url = util::pg_url(db);
    let mut args = vec!["backup", "--source", url.as_str(), "--to", dest, "--json"];
    args.extend_from_slice(extra);
    util::streamdump_json(&args)
}

/// Every row of `table` as one JSON string per line (so newlines inside values stay visible),
/// sorted the way `fingerprint` sorts them.
fn table_rows(db: &str, table: &str) -> BTreeSet<String> {
    util::psql(db, &format!("SELECT to_json(t::text) FROM {table} t ORDER BY t::text"))
        .lines()
        .map(str::to_string)
        .collect()
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 400 {
        format!("{}… ({} chars)", s.chars().take(400).collect::<String>(), s.chars().count())
    } else {
        s.to_string()
    }
}

/// Require the restored database's fingerprint to equal `expected` (computed on the source).
/// On a mismatch the message names every differing table and shows the rows that differ.
fn assert_data_equal(
    source: &str,
    expected: &BTreeMap<String, (i64, String)>,
    restored: &str,
    context: &str,
) {
    let actual = util::fingerprint(restored);
    if &actual == expected {
        return;
    }
    let mut report = format!("{context}: data of {restored} differs from {source}\n");
    let names: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    for name in names {
        match (expected.get(name), actual.get(name)) {
            (Some(e), Some(a)) if e == a => {}
            (Some(e), Some(a)) => {
                report.push_str(&format!(
                    "table {name}: source {} rows md5 {}, restored {} rows md5 {}\n",
                    e.0, e.1, a.0, a.1
                ));
                let want = table_rows(source, name);
                let got = table_rows(restored, name);
                for row in want.difference(&got).take(10) {
                    report.push_str(&format!("  only in source:   {}\n", shorten(row)));
                }
                for row in got.difference(&want).take(10) {
                    report.push_str(&format!("  only in restored: {}\n", shorten(row)));
                }
            }
            (Some(e), None) => {
                report.push_str(&format!("table {name} ({} rows) missing after restore\n", e.0))
            }
            (None, Some(a)) => report
                .push_str(&format!("table {name} ({} rows) present only after restore\n", a.0)),
            (None, None) => {}
        }
    }
    panic!("{report}");
}

/// Require identical `pg_dump --schema-only` output; on a mismatch show the differing lines.
fn assert_schema_equal(source: &str, restored: &str, context: &str) {
    let want = util::schema_dump(source);
    let got = util::schema_dump(restored);
    if want == got {
        return;
    }
    let want_lines: BTreeSet<&str> = want.lines().collect();
    let got_lines: BTreeSet<&str> = got.lines().collect();
    let mut report =
        format!("{context}: pg_dump --schema-only of {restored} differs from {source}\n");
    for line in want_lines.difference(&got_lines).take(30) {
        report.push_str(&format!("  only in source:   {line}\n"));
    }
    for line in got_lines.difference(&want_lines).take(30) {
        report.push_str(&format!("  only in restored: {line}\n"));
    }
    if want_lines == got_lines {
        report.push_str("  (same lines, different order)\n");
    }
    panic!("{report}");
}

/// The manifest's table entry for `schema.name`.
fn manifest_table<'a>(manifest: &'a Value, schema: &str, name: &str) -> &'a Value {
    manifest["tables"]
        .as_array()
        .expect("tables array in manifest")
        .iter()
        .find(|t| t["schema"] == schema && t["name"] == name)
        .unwrap_or_else(|| panic!("table {schema}.{name} not in manifest: {manifest:#}"))
}

/// `schema.name` of every table in a manifest.
fn manifest_table_names(manifest: &Value) -> BTreeSet<String> {
    manifest["tables"]
        .as_array()
        .expect("tables array in manifest")
        .iter()
        .map(|t| format!("{}.{}", t["schema"].as_str().unwrap(), t["name"].as_str().unwrap()))
        .collect()
}

/// Back up the type matrix to `dest`, restore it into a new database, and require identical
/// data, schema and sequence positions.
fn type_matrix_round_trip(dest: &str, prefix: &str) {
    let source = util::fresh_db(prefix);
    util::psql_script(&source, TYPE_MATRIX_SQL);
    let expected = util::fingerprint(&source);
    for (table, rows) in TYPE_MATRIX_ROWS {
        assert_eq!(
            expected.get(*table).map(|f| f.0),
            Some(*rows),
            "fixture table {table} in {source}"
        );
    }

    let manifest = util::backup(&source, dest, &[]);
    let restored = util::restore_new(&manifest, &format!("{prefix}_r"), &[]);

    assert_data_equal(&source, &expected, &restored, &format!("restore of {manifest}"));
    assert_schema_equal(&source, &restored, &format!("restore of {manifest}"));

    // Sequences continue where the source would: identity and serial defaults, and standalone
    // sequences both called (`counter`) and never called (`never_used`).
    for insert in [
        "INSERT INTO public.with_identity (note) VALUES ('after') RETURNING id",
        "INSERT INTO public.with_default_identity (note) VALUES ('after') RETURNING id",
        "INSERT INTO public.with_serial (note) VALUES ('after') RETURNING id, big",
    ] {
        assert_eq!(util::psql(&source, insert), util::psql(&restored, insert), "{insert}");
    }
    for seq in ["public.counter", "public.never_used"] {
        let sql = format!("SELECT nextval('{seq}')");
        assert_eq!(util::psql(&source, &sql), util::psql(&restored, &sql), "{sql}");
    }
    // The generated column is computed by the restored table too.
    let sql =
        "INSERT INTO public.with_generated (id, price, qty) VALUES (9, 2.5, 4) RETURNING total";
    assert_eq!(util::psql(&restored, sql), "10.00");

    util::drop_db(&restored);
    util::drop_db(&source);
}

#[test]
fn type_matrix_round_trips_through_s3() {
    let dest = util::s3_dest("pg_roundtrip_types");
    type_matrix_round_trip(&dest, "rt_types_s3");
    remove_s3_prefix(&dest);
}

#[test]
fn type_matrix_round_trips_through_local_files() {
    let (_dir, dest) = util::local_dest();
    type_matrix_round_trip(&dest, "rt_types_local");
}

const MANY_ROWS: i64 = 50_000;

#[test]
fn thousands_of_rows_roll_over_into_several_chunks() {
    let source = util::fresh_db("rt_chunks");
    util::psql_script(
        &source,
        &format!(
            "CREATE TABLE public.events (
                 id bigint PRIMARY KEY, at timestamptz NOT NULL, kind text, payload jsonb,
                 amount numeric(12,2), flag boolean, tags text[], raw bytea
             );
             INSERT INTO public.events
             SELECT g, timestamptz '2024-01-01 00:00+00' + g * interval '1 minute',
                    (ARRAY['click', 'view', E'odd\\tkind', NULL])[1 + g % 4],
                    jsonb_build_object('n', g, 's', repeat('x', g % 50)),
                    (g * 1.37)::numeric(12,2), g % 3 = 0, ARRAY['t' || (g % 7), NULL],
                    CASE WHEN g % 5 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END
               FROM generate_series(1, {MANY_ROWS}) g;
             CREATE TABLE public.small (id int PRIMARY KEY, note text);
             INSERT INTO public.small VALUES (1, 'one'), (2, E'two\\nlines'), (3, NULL);"
        ),
    );
    let expected = util::fingerprint(&source);
    assert_eq!(expected["public.events"].0, MANY_ROWS);
    let max_row_bytes: u64 = util::psql(
        &source,
        // The record text is about as long as the COPY line; the bound below allows twice that.
        "SELECT max(octet_length(t::text)) FROM public.events t",
    )
    .parse()
    .expect("max row length");

    let (_dir, dest) = util::local_dest();
    let chunk_size: u64 = 64 * 1024;
    let manifest_url = util::backup(&source, &dest, &["--chunk-size", "64KiB"]);
    let manifest = util::local_manifest(&manifest_url);
    assert_eq!(manifest["options"]["chunk_bytes"], chunk_size, "chunk limit recorded");

    let events = manifest_table(&manifest, "public", "events");
    let chunks = events["chunks"].as_array().expect("chunks");
    assert!(chunks.len() >= 5, "expected >= 5 chunks for public.events, got {}", chunks.len());
    assert_eq!(events["rows"], MANY_ROWS);
    let chunk_rows: u64 = chunks.iter().map(|c| c["rows"].as_u64().expect("chunk rows")).sum();
    assert_eq!(chunk_rows, MANY_ROWS as u64, "chunk rows add up to the table's rows");
    let mut keys = BTreeSet::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let key = chunk["key"].as_str().expect("chunk key");
        assert!(keys.insert(key.to_string()), "chunk key {key} repeated");
        assert!(util::local_object(&manifest_url, key).is_file(), "chunk object {key} exists");
        let rows = chunk["rows"].as_u64().unwrap();
        let raw = chunk["raw_bytes"].as_u64().unwrap();
        assert!(rows > 0 && raw > 0, "chunk {key} is not empty: {chunk}");
        if i + 1 < chunks.len() {
            // Rollover happens at the first row boundary at or past the limit.
            assert!(
                raw >= chunk_size && raw < chunk_size + 2 * max_row_bytes,
                "chunk {key} holds {raw} raw bytes; limit {chunk_size}, longest row {max_row_bytes}"
            );
        } else {
            assert!(raw < chunk_size + 2 * max_row_bytes, "last chunk {key}: {raw} raw bytes");
        }
    }
    let small = manifest_table(&manifest, "public", "small");
    assert_eq!(small["chunks"].as_array().map(Vec::len), Some(1), "small table: one chunk");
    assert_eq!(manifest["totals"]["rows"], MANY_ROWS + 3);

    let report = util::streamdump_json(&["verify", "--from", &manifest_url, "--json"]);
    assert_eq!(report["failures"], serde_json::json!([]), "verify report: {report:#}");
    let schema_objects = manifest["schema"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(report["objects"], (chunks.len() + 1 + schema_objects) as u64, "{report:#}");
    assert_eq!(report["rows"], MANY_ROWS + 3);

    // Several loaders work on chunks of the same table at once.
    let restored = util::restore_new(&manifest_url, "rt_chunks_r", &["--jobs", "4"]);
    assert_data_equal(&source, &expected, &restored, "restore of a chunked table");
    assert_schema_equal(&source, &restored, "restore of a chunked table");

    util::drop_db(&restored);
    util::drop_db(&source);
}

/// Nothing of schemas hr and public was restored into `db`.
fn assert_holds_only_sales(db: &str, context: &str) {
    for (check, what) in [
        ("SELECT count(*) FROM pg_namespace WHERE nspname = 'hr'", "schema hr"),
        ("SELECT count(*) FROM pg_type WHERE typname = 'level'", "hr's enum type"),
        ("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", "public's tables"),
    ] {
        assert_eq!(util::psql(db, check), "0", "{context}: {what} must not be restored");
    }
}

#[test]
fn schema_filter_backs_up_only_named_schemas() {
    let source = util::fresh_db("rt_schema");
    util::psql_script(
        &source,
        "CREATE SCHEMA sales;
         CREATE SCHEMA hr;
         CREATE TYPE sales.status AS ENUM ('open', 'paid');
         CREATE TYPE hr.level AS ENUM ('junior', 'senior');
         CREATE TABLE sales.orders (id serial PRIMARY KEY, status sales.status, total numeric);
         CREATE TABLE sales.items (order_id int REFERENCES sales.orders (id), sku text);
         CREATE TABLE hr.people (id int PRIMARY KEY, name text, level hr.level);
         CREATE SEQUENCE hr.badge;
         CREATE TABLE public.settings (k text PRIMARY KEY, v text);
         INSERT INTO sales.orders (status, total) VALUES ('open', 10), ('paid', 20.5);
         INSERT INTO sales.items VALUES (1, 'a'), (1, 'b'), (2, 'c');
         INSERT INTO hr.people VALUES (1, 'Ada', 'senior');
         INSERT INTO public.settings VALUES ('x', 'y');",
    );
    let all = util::fingerprint(&source);
    let expected: BTreeMap<String, (i64, String)> =
        all.into_iter().filter(|(name, _)| name.starts_with("sales.")).collect();
    assert_eq!(expected.len(), 2);

    let (_dir, dest) = util::local_dest();
    let manifest_url = util::backup(&source, &dest, &["--schema", "sales"]);
    let manifest = util::local_manifest(&manifest_url);
    assert_eq!(
        manifest_table_names(&manifest),
        BTreeSet::from(["sales.items".to_string(), "sales.orders".to_string()])
    );
    assert_eq!(manifest["options"]["schemas"], serde_json::json!(["sales"]));

    let restored = util::restore_new(&manifest_url, "rt_schema_r", &[]);
    assert_data_equal(&source, &expected, &restored, "restore of --schema sales");
    assert_holds_only_sales(&restored, "restore of a backup of sales only");
    // The serial of sales.orders continues where the source would.
    let insert = "INSERT INTO sales.orders (status) VALUES ('open') RETURNING id";
    let subset_source = util::schema_dump_with(&source, &["-n", "sales"]);
    assert_eq!(util::psql(&source, insert), util::psql(&restored, insert));
    util::psql(&source, "DELETE FROM sales.orders WHERE id = 3");

    // The same subset picked out of a backup of every schema by `restore --schema`.
    let full_url = util::backup(&source, &dest, &[]);
    let subset = util::restore_new(&full_url, "rt_schema_s", &["--schema", "sales"]);
    assert_data_equal(&source, &expected, &subset, "restore --schema sales of a full backup");
    assert_eq!(util::schema_dump_with(&subset, &["-n", "sales"]), subset_source);
    assert_holds_only_sales(&subset, "restore --schema sales of a full backup");
    assert_eq!(util::psql(&source, insert), util::psql(&subset, insert));
    // A schema the backup does not hold is named, with the ones it does.
    let missing = util::unused_db("rt_schema_m");
    let out = util::streamdump(&[
        "restore",
        "--from",
        &full_url,
        "--target",
        &util::pg_url(&missing),
        "--create",
        "--schema",
        "nope",
    ]);
    assert!(!out.status.success());
    let err = util::stderr(&out);
    assert!(err.contains("schema 'nope'") && err.contains("hr, public, sales"), "{err}");
    assert_eq!(
        util::psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{missing}'")
        ),
        "0",
        "nothing may be created for a request that names a schema the backup lacks"
    );

    // `--schema` repeated: both named schemas, with their types and sequences, and nothing else.
    let two_url = util::backup(&source, &dest, &["--schema", "sales", "--schema", "hr"]);
    let two_manifest = util::local_manifest(&two_url);
    assert_eq!(
        manifest_table_names(&two_manifest),
        BTreeSet::from(["hr.people", "sales.items", "sales.orders"].map(String::from))
    );
    assert_eq!(two_manifest["options"]["schemas"], serde_json::json!(["sales", "hr"]));
    let two = util::restore_new(&two_url, "rt_schema_t", &[]);
    let expected_two: BTreeMap<String, (i64, String)> = util::fingerprint(&source)
        .into_iter()
        .filter(|(name, _)| !name.starts_with("public."))
        .collect();
    assert_eq!(expected_two.len(), 3);
    assert_data_equal(&source, &expected_two, &two, "restore of --schema sales --schema hr");
    assert_eq!(
        util::schema_dump_with(&two, &["-n", "sales", "-n", "hr"]),
        util::schema_dump_with(&source, &["-n", "sales", "-n", "hr"]),
        "schemas sales and hr restore as they were"
    );
    assert_eq!(
        util::psql(&two, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        "0",
        "public's tables must not be restored from a backup of sales and hr"
    );

    util::drop_db(&two);
    util::drop_db(&subset);
    util::drop_db(&restored);
    util::drop_db(&source);
}

#[test]
fn exclude_table_leaves_table_out() {
    let source = util::fresh_db("rt_exclude");
    util::psql_script(
        &source,
        "CREATE SCHEMA s;
         CREATE TABLE s.t (id int PRIMARY KEY, name text);
         CREATE TABLE s.u (id int PRIMARY KEY, t_id int CONSTRAINT u_t_fk REFERENCES s.t (id), note text);
         CREATE TABLE s.other (id int PRIMARY KEY, u_id int REFERENCES s.u (id));
         CREATE TABLE public.t (id int, note text);
         INSERT INTO s.t VALUES (1, 'one'), (2, 'two');
         INSERT INTO s.u VALUES (10, 1, 'a'), (20, 2, 'b'), (30, NULL, 'c');
         INSERT INTO s.other VALUES (100, 10);
         INSERT INTO public.t VALUES (1, 'same name, other schema');",
    );
    let all = util::fingerprint(&source);
    let expected: BTreeMap<String, (i64, String)> =
        all.into_iter().filter(|(name, _)| name != "s.t").collect();
    assert_eq!(expected.len(), 3);

    let (_dir, dest) = util::local_dest();
    let report = backup_report(&source, &dest, &["--exclude-table", "s.t"]);
    let skipped: Vec<&str> = report["skipped"]
        .as_array()
        .unwrap_or_else(|| panic!("skipped list in backup report: {report:#}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        skipped.iter().any(|s| s.contains("u_t_fk") && s.contains("s.u")),
        "the foreign key s.u.u_t_fk to the excluded table is reported as skipped: {skipped:?}"
    );
    assert_eq!(skipped.len(), 1, "only that foreign key is skipped: {skipped:?}");

    let manifest_url = report["manifest"].as_str().expect("manifest URL").to_string();
    let manifest = util::local_manifest(&manifest_url);
    let names = manifest_table_names(&manifest);
    assert_eq!(
        names,
        BTreeSet::from(["public.t".to_string(), "s.other".to_string(), "s.u".to_string()])
    );
    assert!(
        manifest["skipped"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x.as_str().is_some_and(|x| x.contains("u_t_fk")))),
        "the skipped foreign key is recorded in the manifest too: {:#}",
        manifest["skipped"]
    );

    let restored = util::restore_new(&manifest_url, "rt_exclude_r", &[]);
    assert_data_equal(&source, &expected, &restored, "restore with s.t excluded");
    assert_eq!(util::psql(&restored, "SELECT to_regclass('s.t') IS NULL"), "t", "s.t restored");
    assert_eq!(
        util::psql(
            &restored,
            "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint \
             WHERE contype = 'f' AND connamespace = 's'::regnamespace"
        ),
        "other_u_id_fkey",
        "only the foreign key between included tables is restored"
    );

    util::drop_db(&restored);
    util::drop_db(&source);
}

/// Copy every object under `s3_prefix` (an `s3://bucket/prefix` URL) into `dir`, keeping the
/// keys relative to the prefix.
fn copy_s3_prefix_to_dir(s3_prefix: &str, dir: &Path) {
    let dir = dir.to_str().expect("UTF-8 temp dir");
    util::aws_s3(&["cp", "--recursive", &format!("{s3_prefix}/"), dir]);
}

/// Remove a test's S3 destination once the test passed.
fn remove_s3_prefix(s3_prefix: &str) {
    util::aws_s3(&["rm", "--recursive", &format!("{s3_prefix}/")]);
}

/// Every regular file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.insert(path.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn same_backup_restores_identically_from_s3_and_local() {
    let source = util::fresh_db("rt_s3_local");
    util::psql_script(
        &source,
        "CREATE SCHEMA app;
         CREATE TYPE app.kind AS ENUM ('a', 'b c');
         CREATE TABLE app.rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, k app.kind,
                                body text, blob bytea, at timestamptz);
         INSERT INTO app.rows (k, body, blob, at)
         SELECT (ARRAY['a', 'b c']::app.kind[])[1 + g % 2], repeat(E'line\\t' || g, 1 + g % 9),
                decode(lpad(to_hex(g), 8, '0'), 'hex'), timestamptz '2020-02-29 12:00+00' - g * interval '1 hour'
           FROM generate_series(1, 8000) g;
         CREATE TABLE public.notes (id serial PRIMARY KEY, note text);
         INSERT INTO public.notes (note) VALUES (E'\\N'), (''), (NULL), (E'emoji 😀\\r\\n');
         CREATE TABLE public.empty ();",
    );
    let expected = util::fingerprint(&source);

    let dest = util::s3_dest("pg_roundtrip_copy");
    let s3_manifest = util::backup(&source, &dest, &["--chunk-size", "64KiB"]);
    let relative = s3_manifest
        .strip_prefix(&dest)
        .unwrap_or_else(|| panic!("manifest {s3_manifest} is not under {dest}"))
        .trim_start_matches('/')
        .to_string();

    let (dir, _) = util::local_dest();
    copy_s3_prefix_to_dir(&dest, dir.path());
    let local_manifest = format!("file://{}/{relative}", dir.path().display());
    let manifest = util::local_manifest(&local_manifest);
    assert!(
        manifest_table(&manifest, "app", "rows")["chunks"].as_array().unwrap().len() > 1,
        "the copied backup holds several chunks"
    );
    // The copy holds exactly the manifest and the objects it names.
    let backup_dir = relative.trim_end_matches("manifest.json");
    let mut wanted: BTreeSet<String> = manifest["schema"]
        .as_array()
        .unwrap()
        .iter()
        .chain(
            manifest["tables"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|t| t["chunks"].as_array().unwrap().iter()),
        )
        .map(|o| format!("{backup_dir}{}", o["key"].as_str().unwrap()))
        .collect();
    wanted.insert(relative.clone());
    assert_eq!(files_under(dir.path()), wanted, "objects copied from {dest}");

    let from_s3 = util::restore_new(&s3_manifest, "rt_from_s3", &[]);
    let from_local = util::restore_new(&local_manifest, "rt_from_local", &[]);
    assert_data_equal(&source, &expected, &from_s3, &format!("restore from {s3_manifest}"));
    assert_data_equal(&source, &expected, &from_local, &format!("restore from {local_manifest}"));
    assert_schema_equal(&source, &from_s3, "restore from S3");
    assert_schema_equal(&source, &from_local, "restore from the local copy");

    util::drop_db(&from_local);
    util::drop_db(&from_s3);
    util::drop_db(&source);
    remove_s3_prefix(&dest);
}

#[test]
fn restore_refuses_non_empty_target_unless_replace() {
    let source = util::fresh_db("rt_replace");
    util::psql_script(
        &source,
        "CREATE SCHEMA inv;
         CREATE TABLE inv.stock (sku text PRIMARY KEY, qty int NOT NULL);
         CREATE TABLE public.log (id serial PRIMARY KEY, line text);
         INSERT INTO inv.stock VALUES ('a', 1), ('b', 2);
         INSERT INTO public.log (line) VALUES ('first'), ('second');",
    );
    let expected = util::fingerprint(&source);
    let (_dir, dest) = util::local_dest();
    let manifest = util::backup(&source, &dest, &[]);

    let target = util::restore_new(&manifest, "rt_replace_t", &[]);
    assert_data_equal(&source, &expected, &target, "first restore");
    // Make the target's data recognisably its own.
    util::psql(
        &target,
        "INSERT INTO inv.stock VALUES ('local', 99); DELETE FROM public.log WHERE id = 1",
    );
    let before = util::fingerprint(&target);
    assert_ne!(before, expected);

    let url = util::pg_url(&target);
    let out =
        util::streamdump(&["restore", "--from", &manifest, "--target", url.as_str(), "--json"]);
    let err = util::stderr(&out);
    assert!(!out.status.success(), "restoring into a non-empty database must fail: {err}");
    assert!(err.contains("not empty") && err.contains("--replace"), "error message: {err}");
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json error report ({e}): {}", util::stdout(&out)));
    assert_eq!(json["error"]["type"], "TargetNotEmpty", "{json:#}");
    assert_eq!(util::fingerprint(&target), before, "a refused restore leaves the data unchanged");

    util::streamdump_json(&[
        "restore",
        "--from",
        &manifest,
        "--target",
        url.as_str(),
        "--replace",
        "--json",
    ]);
    assert_data_equal(&source, &expected, &target, "restore --replace");
    assert_schema_equal(&source, &target, "restore --replace");
    let insert = "INSERT INTO public.log (line) VALUES ('next') RETURNING id";
    assert_eq!(util::psql(&source, insert), util::psql(&target, insert));

    util::drop_db(&target);
    util::drop_db(&source);
}

#[test]
fn list_shows_backups_under_destination() {
    let first = util::fresh_db("rt_list_a");
    let second = util::fresh_db("rt_list_b");
    util::psql_script(
        &first,
        "CREATE TABLE public.a (id int); INSERT INTO public.a SELECT generate_series(1, 10);",
    );
    util::psql_script(
        &second,
        "CREATE SCHEMA x;
         CREATE TABLE x.b (id int, t text); INSERT INTO x.b VALUES (1, 'one');
         CREATE TABLE x.c (id int); CREATE TABLE public.d (v text); INSERT INTO public.d VALUES ('v'), ('w');",
    );
    let dest = util::s3_dest("pg_roundtrip_list");
    let a = backup_report(&first, &dest, &[]);
    let b = backup_report(&second, &dest, &[]);

    let list = util::streamdump_json(&["list", "--to", &dest, "--json"]);
    assert_eq!(list["unreadable"], serde_json::json!([]), "{list:#}");
    let backups = list["backups"].as_array().unwrap_or_else(|| panic!("backups: {list:#}"));
    assert_eq!(backups.len(), 2, "exactly the two backups under {dest}: {list:#}");
    for (report, db, tables, rows) in [(&a, &first, 1, 10), (&b, &second, 3, 3)] {
        let id = report["backup_id"].as_str().expect("backup_id");
        let entry = backups
            .iter()
            .find(|e| e["backup_id"] == id)
            .unwrap_or_else(|| panic!("backup {id} of {db} not listed: {list:#}"));
        assert_eq!(entry["database"], db.as_str(), "{entry:#}");
        assert_eq!(entry["engine"], "postgres", "{entry:#}");
        assert_eq!(entry["tables"], tables, "{entry:#}");
        assert_eq!(entry["rows"], rows, "{entry:#}");
        assert!(entry["stored_bytes"].as_u64().is_some_and(|n| n > 0), "{entry:#}");
        assert_eq!(entry["stored_bytes"], report["stored_bytes"], "{entry:#}");
        assert_eq!(entry["manifest"], report["manifest"], "{entry:#}");
    }

    util::drop_db(&second);
    util::drop_db(&first);
    remove_s3_prefix(&dest);
}

/// Regression: `restore --create` passed only ENCODING, so a LATIN1 source could not be recreated
/// on a cluster whose default locale is UTF-8. The manifest now records the source's locale.
#[test]
fn restore_create_recreates_a_latin1_database_with_its_locale() {
    let source = util::unique("rt_latin1");
    util::psql(
        "postgres",
        &format!(
            "CREATE DATABASE \"{source}\" TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'"
        ),
    );
    util::psql(
        &source,
        "CREATE TABLE t (s text); INSERT INTO t VALUES ('plain'), (convert_from('\\xe9e8ff'::bytea, 'LATIN1'))",
    );
    let (_dir, dest) = util::local_dest();
    let manifest = util::backup(&source, &dest, &[]);
    let restored = util::restore_new(&manifest, "rt_latin1_r", &[]);
    assert_eq!(
        util::psql(
            "postgres",
            &format!(
                "SELECT pg_encoding_to_char(encoding) || ' ' || datcollate FROM pg_database WHERE datname = '{restored}'"
            )
        ),
        "LATIN1 C"
    );
    let bytes = "SELECT string_agg(encode(convert_to(s, 'LATIN1'), 'hex'), ',' ORDER BY s) FROM t";
    assert_eq!(util::psql(&restored, bytes), util::psql(&source, bytes));
    assert_eq!(util::fingerprint(&restored), util::fingerprint(&source));
    util::drop_db(&source);
    util::drop_db(&restored);
}

/// One big table (one chunk at the default chunk size) and a tiny one.
const SHARED_FIXTURE: &str = "
CREATE TABLE public.big (id int PRIMARY KEY, t text NOT NULL, n numeric, at timestamptz);
INSERT INTO public.big SELECT i, repeat(md5(i::text), 2), i * 1.25, '2026-01-01'::timestamptz + i * interval '1 min'
  FROM generate_series(1, 300000) i;
CREATE INDEX big_n ON public.big (n);
CREATE INDEX big_at ON public.big (at);
COMMENT ON INDEX public.big_at IS 'by time';
CREATE TABLE public.tiny (a int PRIMARY KEY);
INSERT INTO public.tiny VALUES (1), (2), (3);
";

/// With `--jobs 3`, the loaders that finish `tiny` join the load of `big`, which another
/// loader is still reading: the report counts the shared chunk, and the restored tables equal
/// the source's. Then `big`'s key and indexes build on the loaders left idle, each index with
/// its comment: the schema equals the source's.
#[test]
fn a_big_chunk_is_loaded_over_every_connection() {
    let source = util::fresh_db("pgrt_share");
    util::psql_script(&source, SHARED_FIXTURE);
    let (_dir, dest) = util::local_dest();
    let manifest_url = util::backup(&source, &dest, &[]);
    let manifest = util::local_manifest(&manifest_url);
    let big = manifest_table(&manifest, "public", "big");
    assert_eq!(big["chunks"].as_array().map(Vec::len), Some(1), "public.big in one chunk");

    let target = util::unused_db("pgrt_share_r");
    let target_url = util::pg_url(&target);
    let report = util::streamdump_json(&[
        "restore",
        "--from",
        &manifest_url,
        "--target",
        &target_url,
        "--create",
        "--jobs",
        "3",
        "--json",
    ]);
    assert!(
        report["shared_chunks"].as_u64().unwrap_or(0) >= 1,
        "public.big should have been loaded over several connections: {report}"
    );
    let expected = util::fingerprint(&source);
    assert_data_equal(&source, &expected, &target, "restore with a shared chunk");
    assert_schema_equal(&source, &target, "restore with a shared chunk");
    assert_eq!(
        util::psql(
            &target,
            "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND connamespace = 'public'::regnamespace"
        ),
        "2",
        "both primary keys are restored"
    );
    util::drop_db(&target);
    util::drop_db(&source);
}

/// Run the streamdump binary on a pseudo-terminal (util-linux `script`), so it sees a terminal
/// on stderr and draws its progress bar; returns everything the terminal received.
fn on_a_terminal(args: &[&str]) -> String {
    let quoted: Vec<String> =
        args.iter().map(|a| format!("'{}'", a.replace('\'', r"'\''"))).collect();
    let line = format!("{} {}", env!("CARGO_BIN_EXE_streamdump"), quoted.join(" "));
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("COLUMNS", "120")
        .env("LINES", "40")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run util-linux script");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "streamdump {} failed on a terminal:\n{text}", args[0]);
    text
}

#[test]
fn progress_bar_is_drawn_on_a_terminal() {
    let source = util::fresh_db("rt_bar");
    util::psql_script(
        &source,
        "CREATE TABLE a AS SELECT i, md5(i::text) AS t FROM generate_series(1, 200000) i;
         CREATE TABLE b (k int PRIMARY KEY);",
    );
    let (_dir, dest) = util::local_dest();
    let url = util::pg_url(&source);
    let shown = on_a_terminal(&["backup", "--source", &url, "--to", &dest]);
    // The bar: the verb, tables done of the planned count, the bytes against an estimate.
    assert!(shown.contains("backup") && shown.contains("/2 tables"), "{shown}");
    assert!(shown.contains("B/~"), "a backup's total is an estimate: {shown}");
    let manifest = util::backup(&source, &dest, &[]);
    let target = util::unused_db("rt_bar_r");
    let shown = on_a_terminal(&[
        "restore",
        "--from",
        &manifest,
        "--target",
        &util::pg_url(&target),
        "--create",
    ]);
    assert!(shown.contains("restore") && shown.contains("/2 tables"), "{shown}");
    // Bytes against an exact total: "<n> MiB/<total> MiB", no `~`.
    let exact_total = shown
        .match_indices("B/")
        .any(|(at, _)| shown[at + 2..].starts_with(|c: char| c.is_ascii_digit()));
    assert!(exact_total && !shown.contains("B/~"), "a restore's total is exact: {shown}");

    util::drop_db(&target);
    util::drop_db(&source);
}
