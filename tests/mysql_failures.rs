//! Failure paths of the real `streamdump` binary against MariaDB 10.11 (started by
//! `scripts/dev.sh up`), with backups in local directories (and S3 for the killed dump):
//!
//! - integrity: one flipped byte in a data chunk or a schema script makes `verify` and `restore`
//!   fail naming that object; a damaged table is left empty, never partly loaded, and a damaged
//!   schema script means nothing is created;
//! - a dump whose connection is killed mid-SELECT fails and leaves no manifest (nor any other
//!   object, nor an open multipart upload in S3) behind;
//! - a restore into a database that already holds a table is refused without `--replace` and
//!   leaves that table untouched;
//! - bad input (wrong password, unknown database, unreachable server, malformed or unknown URLs):
//!   a non-zero exit, a first stderr line that names the problem, `--json` error objects with
//!   `error.type`, and never a password in any output.
//!
//! Run: `source .services/env && cargo test --test mysql_failures`. `RUST_LOG` is removed from
//! the binary's environment so that the first stderr line is always the error.

mod util;

#[path = "util/aws.rs"]
mod aws;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use util::cli::{finish_within, first_stderr_line, streamdump_command};
use util::mysql::{
    drop_my_db, fresh_my_db, mariadb, mariadb_script, my_backup, my_count, my_db_exists,
    my_fingerprint, my_host_port, my_restore, my_tables, my_url, my_url_as, quote_str,
    unused_my_db,
};
use util::{stderr, stdout};

/// Longest any single run of the binary may take before the test kills it and fails.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// The wrong password used in this file's URLs; it must never appear in the binary's output.
const WRONG_PASSWORD: &str = "hunter2";

// ------------------------------------------------------------------------------------ helpers

/// Neither the wrong password of this file's URLs nor the application user's password appears
/// anywhere in the output.
fn assert_no_secrets(out: &Output, what: &str) {
    util::cli::assert_no_secrets(out, &[WRONG_PASSWORD, &util::mysql::my_password()], what);
}

/// Run the binary to completion (bounded by `RUN_DEADLINE`).
fn run(args: &[&str]) -> Output {
    util::cli::run_within(args, RUN_DEADLINE)
}

/// The run failed naming every needle in its first stderr line; no password in its output.
fn assert_failed_naming(out: &Output, needles: &[&str], what: &str) {
    util::cli::assert_failed_naming(
        out,
        needles,
        &[WRONG_PASSWORD, &util::mysql::my_password()],
        what,
    );
}

/// `util::cli::assert_fails_clearly` with this file's passwords and deadline.
fn assert_fails_clearly(args: &[&str], needles: &[&str], error_type: &str) {
    let secrets = [WRONG_PASSWORD, &util::mysql::my_password()];
    util::cli::assert_fails_clearly(args, needles, error_type, &secrets, RUN_DEADLINE);
}

/// The URL of an object of the backup whose manifest is at `manifest_url`, as errors name it.
fn object_url(manifest_url: &str, key: &str) -> String {
    format!("{}/{key}", manifest_url.strip_suffix("/manifest.json").expect("manifest URL"))
}

/// Flip one bit of the byte in the middle of a local object; returns its original bytes.
fn flip_byte(manifest_url: &str, key: &str) -> Vec<u8> {
    let path = util::local_object(manifest_url, key);
    let original = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {key}: {e}"));
    assert!(!original.is_empty(), "{key} is empty");
    let mut bytes = original.clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {key}: {e}"));
    original
}

/// Tables, views, routines, triggers and events in database `db`.
fn user_objects(db: &str) -> i64 {
    let db = quote_str(db);
    mariadb(
        "",
        &format!(
            "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {db}) \
                  + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {db}) \
                  + (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {db}) \
                  + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {db})"
        ),
    )
    .parse()
    .expect("count")
}

/// Every regular file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).expect("under base").display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

// -------------------------------------------------------------------------------- integrity

/// `big` rolls over into several chunks at `--chunk-size 64KiB` (30,000 rows of about 40 bytes,
/// 1.1 MB of TSV: several chunks even where rollover waits for a 256 KiB read batch to end);
/// `small` has a secondary index, `note` an AUTO_INCREMENT, and a view, a trigger and a function
/// give the schema scripts something to create.
const INTEGRITY_FIXTURE: &str = "
CREATE TABLE big (id INT PRIMARY KEY, t VARCHAR(40) NOT NULL);
INSERT INTO big SELECT seq, MD5(seq) FROM seq_1_to_30000;
CREATE TABLE small (a INT, b VARCHAR(10), KEY small_a (a));
INSERT INTO small VALUES (1, 'one'), (2, 'two'), (3, NULL);
CREATE TABLE note (id INT AUTO_INCREMENT PRIMARY KEY, msg TEXT);
INSERT INTO note (msg) VALUES ('a'), ('b');
CREATE VIEW small_view AS SELECT a, b FROM small WHERE a > 1;
CREATE TRIGGER note_upper BEFORE INSERT ON note FOR EACH ROW SET NEW.msg = UPPER(NEW.msg);
CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
";

/// A local backup of a fresh copy of `INTEGRITY_FIXTURE`: (source db, dir, manifest URL, manifest).
fn integrity_backup() -> (String, tempfile::TempDir, String, Value) {
    let source = fresh_my_db("myf_int");
    mariadb_script(&source, INTEGRITY_FIXTURE);
    let (dir, dest) = util::local_dest();
    let manifest_url = my_backup(&source, &dest, &["--chunk-size", "64KiB"]);
    let manifest = util::local_manifest(&manifest_url);
    (source, dir, manifest_url, manifest)
}

fn table_entry<'a>(manifest: &'a Value, name: &str) -> &'a Value {
    manifest["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("table {name} not in the manifest: {manifest}"))
}

#[test]
fn verify_and_restore_name_flipped_data_chunk_and_leave_its_table_empty() {
    let (source, _dir, manifest_url, manifest) = integrity_backup();
    let chunks: Vec<&str> = table_entry(&manifest, "big")["chunks"]
        .as_array()
        .expect("chunks")
        .iter()
        .filter_map(|c| c["key"].as_str())
        .collect();
    assert!(chunks.len() >= 3, "big should span several chunks, has {chunks:?}");
    // A chunk in the middle: the ones before it load and commit before the damage is found.
    let key = chunks[chunks.len() / 2];
    flip_byte(&manifest_url, key);
    let url = object_url(&manifest_url, key);

    util::cli::assert_verify_names(&manifest_url, &url, RUN_DEADLINE);

    // Into an existing empty database: the damaged table is created but stays empty. (The
    // tables are checked before the message, so a message failure means these passed.)
    let target = fresh_my_db("myf_int_r");
    let target_url = my_url(&target);
    let out = run(&["restore", "--from", &manifest_url, "--target", &target_url]);
    assert!(!out.status.success(), "restore of a damaged backup succeeded: {}", stdout(&out));
    assert!(
        my_tables(&target).contains(&"big".to_string()),
        "big should have been created by pre-data: {:?}",
        my_tables(&target)
    );
    assert_eq!(
        my_count(&target, "big"),
        0,
        "big must be left empty, not partly loaded, when one of its chunks is damaged"
    );
    // No other table may look complete when it is not: either all its rows or none.
    for name in ["small", "note"] {
        let want = table_entry(&manifest, name)["rows"].as_i64().expect("rows");
        if my_tables(&target).contains(&name.to_string()) {
            let got = my_count(&target, name);
            assert!(got == 0 || got == want, "{name} holds {got} of {want} rows");
        }
    }
    assert_failed_naming(&out, &[&url], "restore of a backup with a flipped data chunk");

    // With --create: the half-restored database is dropped again, and the error says so.
    let created = unused_my_db("myf_int_c");
    let created_url = my_url(&created);
    let out = run(&["restore", "--from", &manifest_url, "--target", &created_url, "--create"]);
    assert_failed_naming(&out, &[&url], "restore --create of a backup with a flipped data chunk");
    assert!(stderr(&out).contains("dropped again"), "stderr: {}", stderr(&out));
    assert!(!my_db_exists(&created), "restore --create left the half-restored database {created}");

    drop_my_db(&created);
    drop_my_db(&target);
    drop_my_db(&source);
}

#[test]
fn verify_and_restore_name_each_flipped_schema_script_and_create_nothing() {
    let (source, _dir, manifest_url, manifest) = integrity_backup();
    let keys: Vec<String> = manifest["schema"]
        .as_array()
        .expect("schema objects")
        .iter()
        .map(|s| s["key"].as_str().expect("schema object key").to_string())
        .collect();
    assert!(!keys.is_empty(), "no schema objects in the manifest: {manifest}");

    for key in &keys {
        let original = flip_byte(&manifest_url, key);
        let url = object_url(&manifest_url, key);
        util::cli::assert_verify_names(&manifest_url, &url, RUN_DEADLINE);

        // Into an existing empty database: nothing may be created in it.
        let target = fresh_my_db("myf_schema_r");
        let out = run(&["restore", "--from", &manifest_url, "--target", &my_url(&target)]);
        assert_failed_naming(&out, &[&url], &format!("restore with a flipped {key}"));
        assert_eq!(
            user_objects(&target),
            0,
            "restore created objects before finding {url} damaged"
        );
        drop_my_db(&target);

        // With --create: no database with objects is left behind.
        let missing = unused_my_db("myf_schema_c");
        let out =
            run(&["restore", "--from", &manifest_url, "--target", &my_url(&missing), "--create"]);
        assert_failed_naming(&out, &[&url], &format!("restore --create with a flipped {key}"));
        if my_db_exists(&missing) {
            let objects = user_objects(&missing);
            drop_my_db(&missing);
            assert_eq!(objects, 0, "restore --create created objects before finding {url} damaged");
        }

        std::fs::write(util::local_object(&manifest_url, key), original).expect("restoring bytes");
    }
    // Undamaged again, the same backup verifies.
    let report = util::mysql::my_streamdump_json(&["verify", "--from", &manifest_url, "--json"]);
    assert_eq!(report["failures"], serde_json::json!([]), "{report}");

    drop_my_db(&source);
}

// ------------------------------------------------------------------ killed dump connection

#[test]
fn killed_dump_connection_leaves_nothing_in_a_local_directory() {
    let (dir, dest) = util::local_dest();
    killed_dump_leaves_nothing("KILL", &dest, &[], || true, || files_under(dir.path()));
}

/// `KILL QUERY` ends only the SELECT: the server sends an error packet in the middle of the rows
/// and the connection lives on. The backup must fail on that packet, not take it for the end of
/// the table.
#[test]
fn killed_dump_query_mid_table_fails_naming_it_and_leaves_nothing() {
    let (dir, dest) = util::local_dest();
    killed_dump_leaves_nothing("KILL QUERY", &dest, &[], || true, || files_under(dir.path()));
}

/// The same against S3 (SeaweedFS): no object, and no multipart upload left open
/// (ListMultipartUploads is empty under the prefix).
#[test]
fn killed_dump_connection_leaves_no_object_and_no_open_upload_in_s3() {
    let dest = util::s3_dest("myf_kill");
    let contents = || {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        runtime.block_on(aws::s3_contents(&dest))
    };
    // Killed only once a multipart upload is open, so its abort is what is tested.
    killed_dump_leaves_nothing(
        "KILL",
        &dest,
        &["--part-size", "5MiB"],
        || !contents().1.is_empty(),
        || {
            let (objects, uploads) = contents();
            objects
                .into_iter()
                .chain(uploads.into_iter().map(|u| format!("open upload: {u}")))
                .collect()
        },
    );
}

/// Kill the dump's SELECT mid-table once `ready` (`kill`: `KILL` ends its connection, `KILL
/// QUERY` only the statement); `leftovers` lists what the destination then holds.
fn killed_dump_leaves_nothing(
    kill: &str,
    dest: &str,
    extra: &[&str],
    ready: impl Fn() -> bool,
    leftovers: impl Fn() -> Vec<String>,
) {
    let source = fresh_my_db("myf_kill");
    // About 70 MB of TSV: seconds of dumping, with one worker.
    mariadb_script(
        &source,
        "CREATE TABLE big (id INT PRIMARY KEY, a CHAR(32), b CHAR(32));
         INSERT INTO big SELECT seq, MD5(seq), MD5(-seq) FROM seq_1_to_1000000;
         CREATE TABLE small (a INT); INSERT INTO small VALUES (1);",
    );
    let source_url = my_url(&source);
    let mut args = vec!["backup", "--source", &source_url, "--to", dest, "--jobs", "1"];
    args.extend_from_slice(extra);
    let mut child = streamdump_command(&args).spawn().expect("starting streamdump backup");

    // The dump's SELECT of big, running on a connection of the application user.
    let app_user = url::Url::parse(&source_url).expect("URL").username().to_string();
    // Only this test's database: other tests in this binary dump tables called `big` too.
    let find_select = format!(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = {} AND DB = {} \
         AND COMMAND = 'Query' AND INFO LIKE 'SELECT %' AND INFO LIKE '% FROM %`big`'",
        quote_str(&app_user),
        quote_str(&source)
    );
    let started = Instant::now();
    let id = loop {
        if let Some(status) = child.try_wait().expect("polling the backup") {
            let out = finish_within(child, RUN_DEADLINE, "backup");
            panic!(
                "the backup ended ({status}) before its SELECT could be killed\nstdout: {}\n\
                 stderr: {}",
                stdout(&out),
                stderr(&out)
            );
        }
        let id = mariadb("", &find_select);
        if !id.is_empty() && ready() {
            break id.lines().next().expect("id").to_string();
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let out = finish_within(child, RUN_DEADLINE, "backup");
            panic!("no SELECT of big (or not ready) within 60 s\nstderr: {}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    mariadb("", &format!("{kill} {id}"));

    let out = finish_within(child, RUN_DEADLINE, "the interrupted backup");
    assert!(
        !out.status.success(),
        "the backup succeeded although its SELECT connection was killed\nstdout: {}",
        stdout(&out)
    );
    let files = leftovers();
    assert!(
        !files.iter().any(|f| f.ends_with("manifest.json")),
        "a manifest exists after a failed backup: {files:?}"
    );
    assert_eq!(files, Vec::<String>::new(), "left under {dest} by the failed backup");
    drop_my_db(&source);

    // Checked after the storage checks, so a failure here means those passed.
    let first = first_stderr_line(&out);
    assert!(
        first.starts_with("error:") && first.contains("big"),
        "the first stderr line should be an error naming the table: {first:?}\nfull stderr: {}",
        stderr(&out)
    );
    assert_no_secrets(&out, "the interrupted backup");
}

// ------------------------------------------------------------------------ non-empty target

#[test]
fn restore_refuses_a_target_holding_a_table_unless_replace() {
    let source = fresh_my_db("myf_replace");
    mariadb_script(
        &source,
        "CREATE TABLE stock (sku VARCHAR(10) PRIMARY KEY, qty INT NOT NULL);
         INSERT INTO stock VALUES ('a', 1), ('b', 2);",
    );
    let expected = my_fingerprint(&source);
    let (_dir, dest) = util::local_dest();
    let manifest_url = my_backup(&source, &dest, &[]);

    let target = fresh_my_db("myf_replace_t");
    mariadb_script(
        &target,
        "CREATE TABLE keep_me (id INT PRIMARY KEY, note TEXT);
         INSERT INTO keep_me VALUES (1, 'precious'), (2, NULL);",
    );
    let before = my_fingerprint(&target);
    let target_url = my_url(&target);

    let args = ["restore", "--from", manifest_url.as_str(), "--target", target_url.as_str()];
    assert_fails_clearly(&args, &["not empty", "--replace"], "TargetNotEmpty");
    assert_eq!(my_fingerprint(&target), before, "a refused restore leaves the target unchanged");
    assert_eq!(
        my_tables(&target),
        vec!["keep_me".to_string()],
        "a refused restore creates nothing"
    );

    // With --replace the backup's tables are restored exactly.
    my_restore(&manifest_url, &target, &["--replace"]);
    let restored = my_fingerprint(&target);
    assert_eq!(restored.get("stock"), expected.get("stock"), "stock after restore --replace");

    drop_my_db(&target);
    drop_my_db(&source);
}

// ------------------------------------------------------------------------------- bad input

#[test]
fn wrong_password_fails_in_one_line_without_the_password() {
    let source = fresh_my_db("myf_pw");
    mariadb(&source, "CREATE TABLE t (a INT)");
    let url = my_url_as(&source, "app", WRONG_PASSWORD);
    let (_dir, dest) = util::local_dest();

    let out = run(&["backup", "--source", &url, "--to", &dest]);
    assert_failed_naming(&out, &[], "backup with a wrong password");
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line of error: {lines:?}");
    let line = lines[0].to_lowercase();
    assert!(
        line.contains("access denied") || line.contains("authentication"),
        "the error should say the login was refused: {}",
        lines[0]
    );
    assert!(lines[0].contains("app"), "the error should name the user: {}", lines[0]);
    assert_fails_clearly(
        &["backup", "--source", &url, "--to", &dest],
        &["app"],
        "SourceUnavailable",
    );

    // The same for restore.
    let target = unused_my_db("myf_pw_r");
    let manifest_url = my_backup(&source, &dest, &[]);
    let target_url = my_url_as(&target, "app", WRONG_PASSWORD);
    assert_fails_clearly(
        &["restore", "--from", &manifest_url, "--target", &target_url, "--create"],
        &["app"],
        "SourceUnavailable",
    );
    assert!(!my_db_exists(&target), "restore with a wrong password created {target}");

    drop_my_db(&source);
}

#[test]
fn unknown_database_is_named_for_backup_and_restore() {
    let missing = unused_my_db("myf_nodb");
    let url = my_url(&missing);
    let (_dir, dest) = util::local_dest();
    assert_fails_clearly(
        &["backup", "--source", &url, "--to", &dest],
        &[&missing],
        "SourceUnavailable",
    );

    // Restore into a missing database without --create: says so, and how to fix it.
    let source = fresh_my_db("myf_nodb_src");
    mariadb(&source, "CREATE TABLE t (a INT); INSERT INTO t VALUES (1)");
    let manifest_url = my_backup(&source, &dest, &[]);
    assert_fails_clearly(
        &["restore", "--from", &manifest_url, "--target", &url],
        &[&missing, "--create"],
        "SourceUnavailable",
    );
    assert!(!my_db_exists(&missing), "restore without --create created {missing}");

    drop_my_db(&source);
}

#[test]
fn unreachable_server_is_named_without_the_password() {
    let (_dir, dest) = util::local_dest();
    let (host, _) = my_host_port();
    let closed = format!("mysql://app:{WRONG_PASSWORD}@{host}:1/db");
    assert_fails_clearly(
        &["backup", "--source", &closed, "--to", &dest],
        &["cannot connect", &format!("{host}:1")],
        "SourceUnavailable",
    );
    let unknown = format!("mysql://app:{WRONG_PASSWORD}@no-such-host.invalid:3306/db");
    assert_fails_clearly(
        &["backup", "--source", &unknown, "--to", &dest],
        &["cannot connect", "no-such-host.invalid"],
        "SourceUnavailable",
    );
}

#[test]
fn malformed_and_unknown_mysql_urls_are_rejected_naming_them() {
    let (_dir, dest) = util::local_dest();
    let (host, port) = my_host_port();
    let server = format!("app:{WRONG_PASSWORD}@{host}:{port}");
    for (source, needles) in [
        (format!("mysql://{server}"), vec!["source URL", "database"]),
        (format!("mysql://{server}/"), vec!["source URL", "database"]),
        (format!("mysql://{server}/a/b"), vec!["source URL", "database"]),
        (format!("mysql://app:{WRONG_PASSWORD}@:{port}/db"), vec!["source URL", "host"]),
        (format!("mysql://app:{WRONG_PASSWORD}@{host}:notaport/db"), vec!["source URL"]),
        (format!("mysqlx://{server}/db"), vec!["source URL", "mysqlx"]),
        (format!("maria://{server}/db"), vec!["source URL", "maria"]),
    ] {
        assert_fails_clearly(
            &["backup", "--source", &source, "--to", &dest],
            &needles,
            "InvalidRequest",
        );
    }
    // The same checks apply to restore targets.
    let manifest = format!("{dest}/db/20261125T000000Z-0000/manifest.json");
    assert_fails_clearly(
        &["restore", "--from", &manifest, "--target", &format!("mysql://{server}"), "--create"],
        &["target URL", "database"],
        "InvalidRequest",
    );
}
