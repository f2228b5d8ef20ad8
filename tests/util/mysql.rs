//! MariaDB helpers for the integration tests: the test server (started by `scripts/dev.sh up`),
//! fresh databases, the `mariadb` and `mariadb-dump` clients run as root, and the
//! server-computed fingerprints and schema dumps that judge a restore.
//!
//! The clients connect over TCP as `root` without a password (how `scripts/dev.sh` sets the
//! server up) to the host and port of `STREAMDUMP_TEST_MYSQL`; streamdump itself connects as the
//! user in that URL. Fixtures are therefore created by root, so their DEFINERs name
//! `root`@`127.0.0.1` and a restore must carry those over.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// URL of the test MariaDB server as the application user (database part replaced per test).
pub fn my_base() -> String {
    std::env::var("STREAMDUMP_TEST_MYSQL")
        .unwrap_or_else(|_| "mysql://app:secret@127.0.0.1:53306/shop".into())
}

/// The application user's password from `STREAMDUMP_TEST_MYSQL`, decoded as streamdump decodes
/// it (what the server sees, and what a leak would show).
pub fn my_password() -> String {
    let url = url::Url::parse(&my_base()).expect("STREAMDUMP_TEST_MYSQL is a URL");
    streamdump::plan::percent_decode(url.password().unwrap_or_default())
}

/// URL of database `db` on the test server, as the application user.
pub fn my_url(db: &str) -> String {
    let base = my_base();
    let cut = base.rfind('/').expect("STREAMDUMP_TEST_MYSQL has no database part");
    format!("{}/{db}", &base[..cut])
}

/// `my_url(db)` logging in as `user` with `password` (percent-encoded as needed).
pub fn my_url_as(db: &str, user: &str, password: &str) -> String {
    let mut url = url::Url::parse(&my_url(db)).expect("STREAMDUMP_TEST_MYSQL is a URL");
    url.set_username(user).expect("set user");
    url.set_password(Some(password)).expect("set password");
    url.to_string()
}

/// Host and port of the test server, from `STREAMDUMP_TEST_MYSQL`.
pub fn my_host_port() -> (String, u16) {
    let url = url::Url::parse(&my_base()).expect("STREAMDUMP_TEST_MYSQL is a URL");
    let host = url.host_str().expect("STREAMDUMP_TEST_MYSQL has a host").to_string();
    (host, url.port().unwrap_or(3306))
}

/// The login options of the root clients: no option files, TCP, utf8mb4.
fn root_args() -> Vec<String> {
    let (host, port) = my_host_port();
    vec![
        "--no-defaults".into(),
        "--protocol=tcp".into(),
        format!("--host={host}"),
        format!("--port={port}"),
        "--user=root".into(),
        "--default-character-set=utf8mb4".into(),
    ]
}

/// The `mariadb` client as root in batch mode (tab-separated, unescaped, no column names) on
/// `db` (no default database when `db` is empty).
fn client(db: &str) -> Command {
    let mut cmd = Command::new("mariadb");
    cmd.args(root_args()).args(["--batch", "--raw", "--skip-column-names"]);
    if !db.is_empty() {
        cmd.arg(format!("--database={db}"));
    }
    cmd
}

/// Run SQL (one or more statements) as root on `db`; panics with the client's stderr on failure.
/// Returns stdout with the trailing newline removed: one line per result row, fields separated by
/// tabs, NULL as `NULL`.
pub fn mariadb(db: &str, sql: &str) -> String {
    let out = mariadb_output(db, sql);
    assert!(
        out.status.success(),
        "mariadb on {db:?} failed (are the services up? run scripts/dev.sh up)\nSQL: {}\n{}",
        shorten(sql),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    while text.ends_with('\n') {
        text.pop();
    }
    text
}

/// Run SQL as root on `db` and return the client's output whatever happened (for statements that
/// are expected to fail).
pub fn mariadb_output(db: &str, sql: &str) -> Output {
    client(db)
        .arg("--execute")
        .arg(sql)
        .output()
        .expect("running mariadb (is mariadb-client installed?)")
}

/// Run a multi-statement script (a fixture file, `DELIMITER` blocks allowed) as root on `db`,
/// fed through stdin; panics with the client's stderr on failure.
pub fn mariadb_script(db: &str, script: &str) {
    let mut child = client(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running mariadb");
    let mut stdin = child.stdin.take().expect("stdin");
    let script = script.to_string();
    // Written from a thread: a large script must not deadlock against a full stderr pipe.
    let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    let out = child.wait_with_output().expect("mariadb");
    writer.join().expect("script writer").expect("writing the script to mariadb");
    assert!(
        out.status.success(),
        "mariadb script on {db} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run SQL with the `mariadb` client as `user` (password passed through `MYSQL_PWD`, so it is
/// not on the command line) on `db`; returns the output whatever happened.
pub fn mariadb_as(user: &str, password: &str, db: &str, sql: &str) -> Output {
    let (host, port) = my_host_port();
    Command::new("mariadb")
        .args(["--no-defaults", "--protocol=tcp", "--batch", "--raw", "--skip-column-names"])
        .arg(format!("--host={host}"))
        .arg(format!("--port={port}"))
        .arg(format!("--user={user}"))
        .arg(format!("--database={db}"))
        .arg("--execute")
        .arg(sql)
        .env("MYSQL_PWD", password)
        .output()
        .expect("running mariadb")
}

/// A name quoted as a MariaDB identifier.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A string quoted as a MariaDB string literal.
pub fn quote_str(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// Create an empty database with a unique name and return the name. Its default character set
/// and collation (utf8mb4, utf8mb4_unicode_ci) differ from the server's (latin1), so a restore
/// that does not recreate them is noticed.
pub fn fresh_my_db(prefix: &str) -> String {
    let name = super::unique(prefix);
    mariadb(
        "",
        &format!(
            "CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
            quote_ident(&name)
        ),
    );
    name
}

/// Drops the databases and accounts a test made when it ends, passed or failed. A statement that
/// fails is ignored: a panic while a failed test unwinds would abort the binary and hide the
/// failure. (Only a `mariadb` client that cannot be started at all still panics.)
#[derive(Default)]
pub struct MyCleanup {
    databases: Vec<String>,
    /// `'user'@'host'`, already quoted.
    accounts: Vec<String>,
}

impl MyCleanup {
    /// Drop database `name` at the end; returns it.
    pub fn db(&mut self, name: String) -> String {
        self.databases.push(name.clone());
        name
    }

    /// Drop `account` (`'user'@'host'`, quoted) at the end.
    pub fn account(&mut self, account: &str) {
        self.accounts.push(account.to_string());
    }
}

impl Drop for MyCleanup {
    fn drop(&mut self) {
        for db in &self.databases {
            let _ = mariadb_output("", &format!("DROP DATABASE IF EXISTS {}", quote_ident(db)));
        }
        for account in &self.accounts {
            let _ = mariadb_output("", &format!("DROP USER IF EXISTS {account}"));
        }
    }
}

/// A unique database name that does not exist yet.
pub fn unused_my_db(prefix: &str) -> String {
    super::unique(prefix)
}

pub fn drop_my_db(name: &str) {
    mariadb("", &format!("DROP DATABASE IF EXISTS {}", quote_ident(name)));
}

pub fn my_db_exists(name: &str) -> bool {
    mariadb(
        "",
        &format!(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
            quote_str(name)
        ),
    ) == "1"
}

/// Default character set and collation of database `db`, as `"charset collation"`.
pub fn my_db_charset(db: &str) -> String {
    mariadb(
        "",
        &format!(
            "SELECT CONCAT(DEFAULT_CHARACTER_SET_NAME, ' ', DEFAULT_COLLATION_NAME) \
             FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
            quote_str(db)
        ),
    )
}

/// Base tables of `db`, sorted by name.
pub fn my_tables(db: &str) -> Vec<String> {
    let out = mariadb(
        "",
        &format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} \
             AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            quote_str(db)
        ),
    );
    out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// Row count of `db`.`table`.
pub fn my_count(db: &str, table: &str) -> i64 {
    mariadb(db, &format!("SELECT COUNT(*) FROM {}", quote_ident(table))).parse().expect("row count")
}

/// Data types whose server text is exact and free of `#`, tabs and newlines: hashed as text.
const SERVER_TEXT_TYPES: &[&str] = &[
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "bigint",
    "decimal",
    "double",
    "year",
    "date",
    "time",
    "datetime",
    "timestamp",
];

/// The text form the ordered hash takes of one column, by `information_schema` data type.
///
/// Byte strings of every kind (text in any charset, binary, BLOB, ENUM, SET, JSON, spatial) are
/// hashed as `HEX(col)`: their exact stored bytes. Numbers and temporal values as the server's
/// text, which is exact for them except FLOAT: MariaDB prints a FLOAT with 6 significant digits,
/// so it is widened to DOUBLE first (exact, printed round-trippable). BIT as `HEX(col)`, its
/// value. NULL becomes the word `NULL`, which neither a hex string nor a number can be.
fn column_text(column: &str, data_type: &str) -> String {
    let col = quote_ident(column);
    let expr = if data_type == "float" {
        format!("CAST(CAST({col} AS DOUBLE) AS CHAR)")
    } else if SERVER_TEXT_TYPES.contains(&data_type) {
        format!("CAST({col} AS CHAR)")
    } else {
        format!("HEX({col})")
    };
    format!("IFNULL({expr}, 'NULL')")
}

/// Columns of every base table of `db` in order: `table -> [(column, data type)]`.
fn table_columns(db: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let listing = mariadb(
        "",
        &format!(
            "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE FROM information_schema.COLUMNS c \
             JOIN information_schema.TABLES t \
               ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
             WHERE c.TABLE_SCHEMA = {} AND t.TABLE_TYPE = 'BASE TABLE' \
             ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
            quote_str(db)
        ),
    );
    let mut columns: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in listing.lines().filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "unexpected column listing line (a tab in a name?): {line:?}");
        columns
            .entry(fields[0].to_string())
            .or_default()
            .push((fields[1].to_string(), fields[2].to_ascii_lowercase()));
    }
    columns
}

/// The SQL expression of one row's text: every column's `column_text`, joined by `#`.
fn row_text(columns: &[(String, String)]) -> String {
    let texts: Vec<String> = columns.iter().map(|(name, ty)| column_text(name, ty)).collect();
    format!("CONCAT_WS('#', {})", texts.join(", "))
}

/// The session settings the fingerprint and row listings compare under.
const COMPARE_SESSION: &str =
    "SET SESSION group_concat_max_len = 18446744073709551615; SET SESSION time_zone = '+00:00';\n";

/// Per base table of `db`: `table -> (rows, CHECKSUM TABLE value, ordered hash)`, all computed by
/// the server.
///
/// The ordered hash is `MD5` over the concatenation, in sorted order, of every row's
/// `MD5(CONCAT_WS('#', <each column's text>))` (see `column_text`): a hash of the table's rows as a
/// multiset, so it needs no key and counts duplicate rows of a table without one. Every column
/// takes part, invisible and generated ones included (the server recomputes generated values, so
/// they must agree too). The session runs with `time_zone = '+00:00'` so TIMESTAMPs are compared
/// in UTC.
pub fn my_fingerprint(db: &str) -> BTreeMap<String, (i64, String, String)> {
    let columns = table_columns(db);
    if columns.is_empty() {
        return BTreeMap::new();
    }
    let mut script = String::from(COMPARE_SESSION);
    for (table, cols) in &columns {
        let table = quote_ident(table);
        script.push_str(&format!(
            "CHECKSUM TABLE {table};\n\
             SELECT COUNT(*), MD5(IFNULL(GROUP_CONCAT(m ORDER BY m SEPARATOR ''), '')) \
             FROM (SELECT MD5({}) AS m FROM {table}) AS rows_md5;\n",
            row_text(cols)
        ));
    }
    let out = mariadb(db, &script);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        2 * columns.len(),
        "fingerprint of {db}: expected two lines per table, got:\n{out}"
    );
    let mut result = BTreeMap::new();
    for (i, table) in columns.keys().enumerate() {
        // CHECKSUM TABLE prints `db.table <tab> checksum`; the table name may hold spaces.
        let checksum = lines[2 * i].rsplit('\t').next().expect("checksum").to_string();
        let (count, hash) = lines[2 * i + 1].split_once('\t').expect("count and hash");
        result
            .insert(table.clone(), (count.parse().expect("row count"), checksum, hash.to_string()));
    }
    result
}

/// Every row of `db`.`table` in a readable form, for failure messages: `column=value` pairs,
/// strings shown as Rust string literals when they are UTF-8 and as hex otherwise, long values
/// shortened. Built from the same per-column text as the ordered hash, so two rows that hash
/// differently also print differently.
pub fn my_rows(db: &str, table: &str) -> std::collections::BTreeSet<String> {
    let columns = table_columns(db);
    let Some(cols) = columns.get(table) else {
        return Default::default();
    };
    let out = mariadb(
        db,
        &format!("{COMPARE_SESSION}SELECT {} FROM {}", row_text(cols), quote_ident(table)),
    );
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            line.split('#')
                .zip(cols)
                .map(|(value, (name, ty))| format!("{name}={}", readable(value, ty)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect()
}

/// One value of `my_rows`: `column_text` output made readable.
fn readable(value: &str, data_type: &str) -> String {
    let hexed = data_type != "float" && !SERVER_TEXT_TYPES.contains(&data_type);
    if !hexed || value == "NULL" {
        return value.to_string();
    }
    let bytes: Option<Vec<u8>> = (0..value.len())
        .step_by(2)
        .map(|i| value.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    let shown = match bytes.as_deref().map(std::str::from_utf8) {
        Some(Ok(text)) if data_type != "bit" => format!("{text:?}"),
        _ => format!("0x{value}"),
    };
    if shown.chars().count() > 200 {
        format!("{}…({} chars)", shown.chars().take(200).collect::<String>(), shown.chars().count())
    } else {
        shown
    }
}

/// `mariadb-dump --no-data --routines --events --triggers --skip-dump-date` of `db` as root,
/// without the comment lines that only name the database, the host or the versions, so the
/// dumps of two databases compare equal when their schemas are.
///
/// Everything else stays: `AUTO_INCREMENT=` table options, DEFINERs, each routine's and
/// trigger's `sql_mode` and character sets, and view bodies, whose table names mariadb-dump
/// prints unqualified only when they live in the dumped database (a view restored from another
/// database's DDL verbatim still names that one, and shows here).
pub fn schema_dump(db: &str) -> String {
    let out = Command::new("mariadb-dump")
        .args(root_args())
        .args(["--no-data", "--routines", "--events", "--triggers", "--skip-dump-date"])
        .arg(db)
        .output()
        .expect("running mariadb-dump (is mariadb-client installed?)");
    assert!(out.status.success(), "mariadb-dump {db}: {}", String::from_utf8_lossy(&out.stderr));
    let named = format!("'{db}'");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            !(l.starts_with("-- MariaDB dump")
                || l.starts_with("-- MySQL dump")
                || l.starts_with("-- Host:")
                || l.starts_with("-- Server version")
                || l.starts_with("-- Dump completed")
                || (l.starts_with("-- ") && l.contains(&named)))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `diff -u` of two texts (labelled), for failure messages; empty when they are equal.
pub fn unified_diff(left_label: &str, left: &str, right_label: &str, right: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let left_path = dir.path().join(left_label.replace('/', "_"));
    let right_path = dir.path().join(right_label.replace('/', "_"));
    std::fs::write(&left_path, left).expect("write left");
    std::fs::write(&right_path, right).expect("write right");
    let out = Command::new("diff")
        .arg("-u")
        .arg(&left_path)
        .arg(&right_path)
        .output()
        .expect("running diff");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `util::streamdump_json` (its failure messages redact URL passwords).
pub use super::streamdump_json as my_streamdump_json;

/// Run `backup --json` of `db` to `dest` and return the whole report.
pub fn my_backup_report(db: &str, dest: &str, extra: &[&str]) -> serde_json::Value {
    let url = my_url(db);
    let mut args = vec!["backup", "--source", url.as_str(), "--to", dest, "--json"];
    args.extend_from_slice(extra);
    my_streamdump_json(&args)
}

/// Back up `db` to `dest` with extra flags; returns the manifest URL.
pub fn my_backup(db: &str, dest: &str, extra: &[&str]) -> String {
    let report = my_backup_report(db, dest, extra);
    report["manifest"]
        .as_str()
        .unwrap_or_else(|| panic!("manifest URL in the backup report: {report:#}"))
        .to_string()
}

/// Restore `manifest` into the existing or new database `db` with extra flags; returns the
/// report.
pub fn my_restore(manifest: &str, db: &str, extra: &[&str]) -> serde_json::Value {
    let url = my_url(db);
    let mut args = vec!["restore", "--from", manifest, "--target", url.as_str(), "--json"];
    args.extend_from_slice(extra);
    my_streamdump_json(&args)
}

/// Restore `manifest` into a new database (created by restore itself); returns its name.
pub fn my_restore_new(manifest: &str, prefix: &str, extra: &[&str]) -> String {
    let db = unused_my_db(prefix);
    let mut args = vec!["--create"];
    args.extend_from_slice(extra);
    my_restore(manifest, &db, &args);
    db
}

/// Load `testdata/mysql/types.sql` into `db`.
pub fn load_types_fixture(db: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/mysql/types.sql");
    let script = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    mariadb_script(db, &script);
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 2000 {
        format!("{}… ({} chars)", s.chars().take(2000).collect::<String>(), s.chars().count())
    } else {
        s.to_string()
    }
}

/// Require `restored`'s fingerprint to equal `expected` (taken from `source`). On a mismatch the
/// message names every differing table and shows the rows that differ.
pub fn assert_data_equal(
    source: &str,
    expected: &BTreeMap<String, (i64, String, String)>,
    restored: &str,
    context: &str,
) {
    let actual = my_fingerprint(restored);
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
                    "table `{name}`: source {} rows, checksum {}, hash {}; restored {} rows, \
                     checksum {}, hash {}\n",
                    e.0, e.1, e.2, a.0, a.1, a.2
                ));
                let want = my_rows(source, name);
                let got = my_rows(restored, name);
                for row in want.difference(&got).take(10) {
                    report.push_str(&format!("  only in source:   {row}\n"));
                }
                for row in got.difference(&want).take(10) {
                    report.push_str(&format!("  only in restored: {row}\n"));
                }
                if want == got {
                    report.push_str(
                        "  (the same rows; CHECKSUM TABLE differs: stored bytes or layout)\n",
                    );
                }
            }
            (Some(e), None) => {
                report.push_str(&format!("table `{name}` ({} rows) missing after restore\n", e.0))
            }
            (None, Some(a)) => report
                .push_str(&format!("table `{name}` ({} rows) present only after restore\n", a.0)),
            (None, None) => {}
        }
    }
    panic!("{report}");
}

/// Require identical `mariadb-dump --no-data` output; on a mismatch show `diff -u`.
pub fn assert_schema_equal(source: &str, restored: &str, context: &str) {
    let want = schema_dump(source);
    let got = schema_dump(restored);
    if want != got {
        panic!(
            "{context}: mariadb-dump --no-data of {restored} differs from {source}:\n{}",
            unified_diff(source, &want, restored, &got)
        );
    }
}
