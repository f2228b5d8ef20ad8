//! Shared helpers for the integration tests: the local services (started by
//! `scripts/dev.sh up`), fresh databases, running the real `streamdump` binary, and
//! server-computed table fingerprints used to judge equality.
#![allow(dead_code)]

pub mod cli;

pub mod mysql;

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Base URL of the test PostgreSQL server (database part replaced per test).
pub fn pg_base() -> String {
    std::env::var("STREAMDUMP_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:55432/postgres".into())
}

/// URL of database `db` on the test server.
pub fn pg_url(db: &str) -> String {
    let base = pg_base();
    let cut = base.rfind('/').expect("STREAMDUMP_TEST_PG has no database part");
    format!("{}/{db}", &base[..cut])
}

pub fn s3_endpoint() -> String {
    std::env::var("STREAMDUMP_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:18333".into())
}

pub fn s3_bucket() -> String {
    std::env::var("STREAMDUMP_TEST_S3_BUCKET").unwrap_or_else(|_| "streamdump-test".into())
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique within this test run and across runs.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{:x}", std::process::id(), nanos)
}

/// A fresh S3 destination URL under the test bucket.
pub fn s3_dest(prefix: &str) -> String {
    format!("s3://{}/{}", s3_bucket(), unique(prefix))
}

/// A fresh local destination; keep the TempDir alive for the test's duration.
pub fn local_dest() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().display());
    (dir, url)
}

fn psql_command(db: &str) -> Command {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", &pg_url(db)]);
    cmd
}

/// Run SQL with psql against `db`; panics with psql's stderr on failure. Returns stdout.
pub fn psql(db: &str, sql: &str) -> String {
    let out = psql_command(db)
        .arg("-c")
        .arg(sql)
        .output()
        .expect("running psql (is postgresql-client installed?)");
    assert!(
        out.status.success(),
        "psql on {db} failed (are the services up? run scripts/dev.sh up)\nSQL: {sql}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Run a SQL file (or a multi-statement script) with psql.
pub fn psql_script(db: &str, script: &str) {
    use std::io::Write;
    let mut child = psql_command(db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running psql");
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("writing script");
    let out = child.wait_with_output().expect("psql");
    assert!(
        out.status.success(),
        "psql script on {db} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Create an empty database with a unique name and return the name.
pub fn fresh_db(prefix: &str) -> String {
    let name = unique(prefix);
    psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    name
}

/// A unique database name that does not exist yet.
pub fn unused_db(prefix: &str) -> String {
    unique(prefix)
}

pub fn drop_db(name: &str) {
    psql("postgres", &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
}

/// The role `scripts/dev.sh` lets connect over TLS only (`hostnossl ... reject`), and its
/// password: a connection that succeeds as this role was encrypted.
pub const TLS_ROLE: &str = "tls_only";
pub const TLS_ROLE_PASSWORD: &str = "Tls-only-pw-7f3a";

/// Create (or reset) the TLS-only role; a superuser, so it may back up and restore anything.
pub fn ensure_tls_role() {
    psql(
        "postgres",
        &format!(
            "DO $$ BEGIN CREATE ROLE {TLS_ROLE} LOGIN SUPERUSER; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
             ALTER ROLE {TLS_ROLE} PASSWORD '{TLS_ROLE_PASSWORD}'"
        ),
    );
}

/// The test server's CA certificate (made by `scripts/dev.sh`).
pub fn pg_ca_file() -> String {
    std::env::var("STREAMDUMP_TEST_PG_CA").expect("STREAMDUMP_TEST_PG_CA (source .services/env)")
}

/// Run the real `streamdump` binary with the test S3 credentials in its environment.
pub fn streamdump(args: &[&str]) -> Output {
    cli::streamdump_command(args).output().expect("running streamdump")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Run streamdump and require success; returns the parsed `--json` report.
pub fn streamdump_json(args: &[&str]) -> serde_json::Value {
    let out = streamdump(args);
    let redact = cli::redact;
    assert!(
        out.status.success(),
        "streamdump {} failed:\nstderr: {}\nstdout: {}",
        redact(&args.join(" ")),
        redact(&stderr(&out)),
        redact(&stdout(&out))
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", redact(&stdout(&out))))
}

/// Back up `db` to `dest` with extra flags; returns the manifest URL.
pub fn backup(db: &str, dest: &str, extra: &[&str]) -> String {
    let url = pg_url(db);
    let mut args = vec!["backup", "--source", url.as_str(), "--to", dest, "--json"];
    args.extend_from_slice(extra);
    let report = streamdump_json(&args);
    report["manifest"].as_str().expect("manifest URL in report").to_string()
}

/// Restore `manifest` into a new database (created by restore itself); returns its name.
pub fn restore_new(manifest: &str, prefix: &str, extra: &[&str]) -> String {
    let db = unused_db(prefix);
    let url = pg_url(&db);
    let mut args =
        vec!["restore", "--from", manifest, "--target", url.as_str(), "--create", "--json"];
    args.extend_from_slice(extra);
    streamdump_json(&args);
    db
}

/// Row count and an md5 of the ordered text of every row, computed by the server, for each
/// ordinary table in the user schemas of `db`: `schema.table -> (rows, md5)`.
pub fn fingerprint(db: &str) -> BTreeMap<String, (i64, String)> {
    let tables = psql(
        db,
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ORDER BY 1",
    );
    let mut out = BTreeMap::new();
    for table in tables.lines().filter(|l| !l.is_empty()) {
        let row = psql(
            db,
            &format!(
                "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {table} t"
            ),
        );
        let (count, md5) = row.split_once(' ').expect("count md5");
        out.insert(table.to_string(), (count.parse().expect("count"), md5.to_string()));
    }
    out
}

/// `pg_dump --schema-only` of `db` with the header comments and the random `\restrict` keys
/// removed, so two databases' outputs can be compared.
pub fn schema_dump(db: &str) -> String {
    schema_dump_with(db, &[])
}

/// [`schema_dump`] with more pg_dump options (e.g. `-n sales`).
pub fn schema_dump_with(db: &str, options: &[&str]) -> String {
    pg_dump_schema(db, &["--no-owner", "--no-privileges"], options)
}

/// `pg_dump --schema-only` of `db` *with* owners and privileges (`ALTER ... OWNER TO`, `GRANT`,
/// `REVOKE`, `ALTER DEFAULT PRIVILEGES`), filtered like [`schema_dump`].
pub fn full_schema_dump(db: &str) -> String {
    pg_dump_schema(db, &[], &[])
}

/// `pg_dump --schema-only` of `db` with `flags` and then `options`, without the header comments
/// and the random `\restrict` keys.
fn pg_dump_schema(db: &str, flags: &[&str], options: &[&str]) -> String {
    let out = Command::new("pg_dump")
        .args(["--schema-only"])
        .args(flags)
        .args(["-d", &pg_url(db)])
        .args(options)
        .output()
        .expect("running pg_dump");
    assert!(out.status.success(), "pg_dump {db}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Path of an object inside a local backup, from the manifest URL and the object key.
pub fn local_object(manifest_url: &str, key: &str) -> std::path::PathBuf {
    let dir = manifest_url
        .strip_prefix("file://")
        .expect("local manifest")
        .trim_end_matches("/manifest.json");
    std::path::Path::new(dir).join(key)
}

/// The parsed manifest of a local backup.
pub fn local_manifest(manifest_url: &str) -> serde_json::Value {
    let path = manifest_url.strip_prefix("file://").expect("local manifest");
    serde_json::from_slice(&std::fs::read(path).expect("reading manifest")).expect("manifest JSON")
}

/// Run the AWS CLI of the dev environment (`.venv/bin/aws`) against the test S3 server, with
/// the test credentials; panics with its stderr on failure.
pub fn aws_s3(args: &[&str]) {
    let aws = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/aws");
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let out = Command::new(&aws)
        .args(["--endpoint-url", &s3_endpoint(), "s3"])
        .args(args)
        .arg("--only-show-errors")
        .env("AWS_ACCESS_KEY_ID", var("AWS_ACCESS_KEY_ID", "testkey"))
        .env("AWS_SECRET_ACCESS_KEY", var("AWS_SECRET_ACCESS_KEY", "testsecret"))
        .env("AWS_REGION", var("AWS_REGION", "us-east-1"))
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap_or_else(|e| panic!("running {} ({e}): run scripts/dev.sh install", aws.display()));
    assert!(out.status.success(), "aws s3 {args:?}: {}", stderr(&out));
}

/// A file of the third-party test data (Pagila, Sakila): `$STREAMDUMP_SHARED_TESTDATA`, else
/// `../shared/testdata` beside this repository, else `/work/shared/testdata` (where a clone
/// made elsewhere, as CI's, still finds it).
pub fn shared_testdata(relative: &str) -> std::path::PathBuf {
    let candidates = [
        std::env::var_os("STREAMDUMP_SHARED_TESTDATA").map(std::path::PathBuf::from),
        Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata")),
        Some(std::path::PathBuf::from("/work/shared/testdata")),
    ];
    let dirs: Vec<std::path::PathBuf> = candidates.into_iter().flatten().collect();
    dirs.iter()
        .map(|d| d.join(relative))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{relative} not found under any of {dirs:?}"))
}
