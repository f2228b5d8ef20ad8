//! Failure paths of the real `streamdump` binary against the real servers (PostgreSQL 15 and
//! SeaweedFS S3, started by `scripts/dev.sh up`):
//!
//! - integrity: one flipped byte in a data chunk or a schema script makes `verify` and `restore`
//!   fail naming that object; a restore never leaves a table partly loaded and never creates
//!   anything when a schema script is damaged;
//! - a dump whose database connection is terminated mid-COPY leaves nothing behind in S3 (no
//!   manifest, no objects, no open multipart upload);
//! - S3 part uploads through a fault-injecting proxy: transient 503s are retried and the backup
//!   restores exactly; persistent 503s fail with one line naming the object and leave nothing;
//! - bad input (unreachable host, wrong password, unknown database or schema, malformed URLs,
//!   unknown manifest format, missing manifest): a non-zero exit, a first stderr line that names
//!   the problem, `--json` error objects with `error.type`, and never a password in any output.
//!
//! Run: `source .services/env && cargo test --test pg_failures`. The S3 checks made from this
//! process (listing objects and open multipart uploads) use the standard AWS environment for
//! credentials, so `.services/env` (which exports `AWS_ACCESS_KEY_ID` etc.) must be sourced; the
//! binary itself gets the same defaults as `util::streamdump`. `RUST_LOG` is removed from the
//! binary's environment so that the first stderr line is always the error.

mod util;

#[path = "util/faultproxy.rs"]
mod faultproxy;

use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use faultproxy::{FaultPolicy, FaultProxy};
use serde_json::Value;
use streamdump::store::{Location, S3Options, S3Store, Store};

use util::cli::{finish_within, first_stderr_line, streamdump_command};
use util::{drop_db, fresh_db, pg_url, psql, psql_script, stderr, stdout, unused_db};

/// Longest any single run of the binary may take before the test kills it and fails.
const RUN_DEADLINE: Duration = Duration::from_secs(90);

/// Passwords used in this file's URLs; none may ever appear in the binary's output.
const SECRETS: [&str; 2] = ["hunter2", "right-pass"];

// ------------------------------------------------------------------------------------ helpers

/// One runtime for every async step of every test in this binary: S3 clients opened through the
/// process-wide AWS environment must not outlive the runtime their connections belong to.
fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// Run the binary to completion (bounded by `RUN_DEADLINE`).
fn run(args: &[&str]) -> Output {
    util::cli::run_within(args, RUN_DEADLINE)
}

/// The run failed naming every needle in its first stderr line; no password in its output.
fn assert_failed_naming(out: &Output, needles: &[&str], what: &str) {
    util::cli::assert_failed_naming(out, needles, &SECRETS, what);
}

/// `util::cli::assert_fails_clearly` with this file's passwords and deadline.
fn assert_fails_clearly(args: &[&str], needles: &[&str], error_type: &str) {
    util::cli::assert_fails_clearly(args, needles, error_type, &SECRETS, RUN_DEADLINE);
}

/// `pg_url(db)` logging in as `user` with `password`.
fn pg_url_as(db: &str, user: &str, password: &str) -> String {
    let mut url = url::Url::parse(&pg_url(db)).expect("STREAMDUMP_TEST_PG is a URL");
    url.set_username(user).expect("set user");
    url.set_password(Some(password)).expect("set password");
    url.to_string()
}

/// The test server's superuser, from `STREAMDUMP_TEST_PG`.
fn pg_superuser() -> String {
    let url = url::Url::parse(&util::pg_base()).expect("STREAMDUMP_TEST_PG is a URL");
    url.username().to_string()
}

fn database_exists(name: &str) -> bool {
    psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")) == "1"
}

/// Relations (tables, views, sequences, indexes, ...) and user types outside the system schemas.
fn user_objects(db: &str) -> i64 {
    psql(
        db,
        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema') \
              + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                 WHERE t.typtype IN ('e', 'd', 'r', 'c') AND t.typrelid = 0 \
                   AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema')",
    )
    .parse()
    .expect("count")
}

/// The S3 store rooted at `url` (`s3://bucket/prefix`), talking straight to the test server.
fn s3_store(url: &str) -> S3Store {
    assert!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
        "AWS_ACCESS_KEY_ID is not set: run `source .services/env` before `cargo test` (the S3 \
         checks made by this test process read the standard AWS environment)"
    );
    let location = Location::parse(url).expect("S3 URL");
    let options =
        S3Options { endpoint: Some(util::s3_endpoint()), path_style: true, ..S3Options::default() };
    rt().block_on(S3Store::open(location, &options)).expect("open S3 store")
}

/// Every object key under an S3 destination.
fn s3_keys(store: &S3Store) -> Vec<String> {
    rt().block_on(store.list("")).expect("list objects")
}

fn s3_open_uploads(store: &S3Store) -> Vec<String> {
    rt().block_on(store.list_multipart_uploads()).expect("list multipart uploads")
}

/// Remove what a successful test left under its S3 destination.
fn s3_cleanup(dest: &str) {
    let store = s3_store(dest);
    for key in s3_keys(&store) {
        rt().block_on(store.delete(&key)).expect("delete object");
    }
}

/// `host:port` of the S3 test server, for the fault proxy.
fn s3_address() -> String {
    let url = url::Url::parse(&util::s3_endpoint()).expect("S3 endpoint is a URL");
    format!(
        "{}:{}",
        url.host_str().expect("S3 endpoint has a host"),
        url.port_or_known_default().expect("S3 endpoint has a port")
    )
}

/// Where a backup lives: a local directory (kept alive by the TempDir) or an S3 prefix.
enum Backend {
    /// The directory is removed when the backend is dropped.
    Local {
        _dir: tempfile::TempDir,
        url: String,
    },
    S3(String),
}

impl Backend {
    fn local() -> Backend {
        let (dir, url) = util::local_dest();
        Backend::Local { _dir: dir, url }
    }

    fn s3(prefix: &str) -> Backend {
        Backend::S3(util::s3_dest(prefix))
    }

    fn dest(&self) -> &str {
        match self {
            Backend::Local { url, .. } | Backend::S3(url) => url,
        }
    }

    /// The S3 store holding the backup whose manifest is at `manifest_url`.
    fn backup_store(manifest_url: &str) -> S3Store {
        let dir = manifest_url.strip_suffix("/manifest.json").expect("manifest URL");
        s3_store(dir)
    }

    fn read(&self, manifest_url: &str, key: &str) -> Vec<u8> {
        match self {
            Backend::Local { .. } => std::fs::read(util::local_object(manifest_url, key))
                .unwrap_or_else(|e| panic!("reading {key}: {e}")),
            Backend::S3(_) => rt()
                .block_on(Self::backup_store(manifest_url).get_bytes(key))
                .unwrap_or_else(|e| panic!("reading {key}: {e}"))
                .to_vec(),
        }
    }

    fn write(&self, manifest_url: &str, key: &str, bytes: Vec<u8>) {
        match self {
            Backend::Local { .. } => std::fs::write(util::local_object(manifest_url, key), bytes)
                .unwrap_or_else(|e| panic!("writing {key}: {e}")),
            Backend::S3(_) => rt()
                .block_on(Self::backup_store(manifest_url).put(key, Bytes::from(bytes)))
                .unwrap_or_else(|e| panic!("writing {key}: {e}")),
        }
    }

    fn manifest(&self, manifest_url: &str) -> Value {
        serde_json::from_slice(&self.read(manifest_url, "manifest.json")).expect("manifest JSON")
    }

    /// Flip one bit of the byte in the middle of the object; returns the object's URL.
    fn flip_byte(&self, manifest_url: &str, key: &str) -> String {
        let mut bytes = self.read(manifest_url, key);
        assert!(!bytes.is_empty(), "{key} is empty");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        self.write(manifest_url, key, bytes);
        object_url(manifest_url, key)
    }

    fn cleanup(&self) {
        if let Backend::S3(dest) = self {
            s3_cleanup(dest);
        }
    }
}

/// The URL of an object of the backup whose manifest is at `manifest_url`, as errors name it.
fn object_url(manifest_url: &str, key: &str) -> String {
    format!("{}/{key}", manifest_url.strip_suffix("/manifest.json").expect("manifest URL"))
}

// -------------------------------------------------------------------------------- integrity

/// Three tables: `big` rolls over into 5 chunks at `--chunk-size 64KiB` (7,500 rows of about
/// 40 bytes); `small` has an index and `note` a sequence, so post-data is not empty.
const INTEGRITY_FIXTURE: &str = "
CREATE TABLE public.big (id int PRIMARY KEY, t text NOT NULL);
INSERT INTO public.big SELECT i, md5(i::text) FROM generate_series(1, 7500) i;
CREATE TABLE public.small (a int, b text);
INSERT INTO public.small VALUES (1, 'one'), (2, 'two'), (3, NULL);
CREATE INDEX small_a ON public.small (a);
CREATE TABLE public.note (id serial PRIMARY KEY, msg text);
INSERT INTO public.note (msg) VALUES ('a'), ('b');
";

/// A backup of a fresh copy of `INTEGRITY_FIXTURE`: (source db, manifest URL, manifest).
fn integrity_backup(backend: &Backend) -> (String, String, Value) {
    let source = fresh_db("pgf_int");
    psql_script(&source, INTEGRITY_FIXTURE);
    let manifest_url = util::backup(&source, backend.dest(), &["--chunk-size", "64KiB"]);
    let manifest = backend.manifest(&manifest_url);
    (source, manifest_url, manifest)
}

fn table_entry<'a>(manifest: &'a Value, name: &str) -> &'a Value {
    manifest["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["schema"] == "public" && t["name"] == name)
        .unwrap_or_else(|| panic!("table public.{name} not in the manifest: {manifest}"))
}

fn flipped_data_chunk_fails_verify_and_restore(backend: Backend) {
    let (source, manifest_url, manifest) = integrity_backup(&backend);
    let big = table_entry(&manifest, "big");
    let chunks: Vec<&str> = big["chunks"]
        .as_array()
        .expect("chunks")
        .iter()
        .filter_map(|c| c["key"].as_str())
        .collect();
    assert!(chunks.len() >= 3, "public.big should span several chunks, has {chunks:?}");
    // A chunk in the middle: the ones before it load and commit before the damage is found.
    let key = chunks[chunks.len() / 2];
    let url = backend.flip_byte(&manifest_url, key);

    util::cli::assert_verify_names(&manifest_url, &url, RUN_DEADLINE);

    // Into an existing empty database: the damaged table stays, empty.
    let target = fresh_db("pgf_int_r");
    let target_url = pg_url(&target);
    let out = run(&["restore", "--from", &manifest_url, "--target", &target_url]);
    assert_failed_naming(&out, &[&url], "restore of a backup with a flipped data chunk");
    assert_eq!(
        psql(&target, "SELECT to_regclass('public.big') IS NOT NULL"),
        "t",
        "public.big should have been created by pre-data"
    );
    assert_eq!(
        psql(&target, "SELECT count(*) FROM public.big"),
        "0",
        "public.big must be left empty, not partly loaded, when one of its chunks is damaged"
    );
    // No other table may look complete when it is not: either all its rows or none.
    for name in ["small", "note"] {
        let want = table_entry(&manifest, name)["rows"].as_u64().expect("rows").to_string();
        let exists = psql(&target, &format!("SELECT to_regclass('public.{name}') IS NOT NULL"));
        if exists == "t" {
            let got = psql(&target, &format!("SELECT count(*) FROM public.{name}"));
            assert!(got == "0" || got == want, "public.{name} holds {got} of {want} rows");
        }
    }

    // With --create: the half-restored database is dropped again, and the error says so.
    let created = unused_db("pgf_int_c");
    let created_url = pg_url(&created);
    let out = run(&["restore", "--from", &manifest_url, "--target", &created_url, "--create"]);
    assert_failed_naming(&out, &[&url], "restore --create of a backup with a flipped data chunk");
    assert!(stderr(&out).contains("dropped again"), "stderr: {}", stderr(&out));
    assert!(
        !database_exists(&created),
        "restore --create left the half-restored database {created}"
    );

    drop_db(&target);
    drop_db(&source);
    backend.cleanup();
}

/// A chunk loaded over two connections whose damage shows only at its end (its last byte,
/// inside the zstd frame's content checksum): by then both connections have loaded rows, and
/// both must roll back, leaving the table empty.
#[test]
fn damage_found_at_the_end_of_a_shared_chunk_rolls_back_every_connection() {
    let source = fresh_db("pgf_share");
    psql_script(
        &source,
        "CREATE TABLE public.big (id int PRIMARY KEY, t text NOT NULL);
         INSERT INTO public.big SELECT i, repeat(md5(i::text), 3) FROM generate_series(1, 300000) i;
         CREATE TABLE public.tiny (a int);
         INSERT INTO public.tiny VALUES (1), (2);",
    );
    let backend = Backend::local();
    let manifest_url = util::backup(&source, backend.dest(), &[]);
    let manifest = backend.manifest(&manifest_url);
    let chunks = table_entry(&manifest, "big")["chunks"].as_array().expect("chunks").clone();
    assert_eq!(chunks.len(), 1, "public.big in one chunk");
    let key = chunks[0]["key"].as_str().expect("chunk key");
    let mut bytes = backend.read(&manifest_url, key);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    backend.write(&manifest_url, key, bytes);
    let url = object_url(&manifest_url, key);

    let target = fresh_db("pgf_share_r");
    let target_url = pg_url(&target);
    // -vv: the debug log shows the second connection joining (the first stderr line is then a
    // log line, so the error is looked for anywhere in stderr).
    let args = ["-vv", "restore", "--from", &manifest_url, "--target", &target_url, "--jobs", "2"];
    let out = run(&args);
    let err = stderr(&out);
    assert!(!out.status.success(), "restore of a damaged chunk succeeded");
    assert!(err.contains(&format!("error: integrity check failed for {url}")), "stderr: {err}");
    assert!(err.contains("joining the load of"), "no second connection joined: {err}");
    util::cli::assert_no_secrets(&out, &SECRETS, "restore of a damaged shared chunk");
    assert_eq!(
        psql(&target, "SELECT count(*) FROM public.big"),
        "0",
        "no connection may commit its part of a damaged chunk"
    );
    // Not even for a moment: had a part committed, emptying the table after the failure would
    // have given it a new file (TRUNCATE), and a new table's file number is its oid.
    assert_eq!(
        psql(&target, "SELECT relfilenode = oid FROM pg_class WHERE oid = 'public.big'::regclass"),
        "t",
        "a part of the damaged chunk was committed, then emptied"
    );
    drop_db(&target);
    drop_db(&source);
}

fn flipped_schema_script_fails_verify_and_restore(backend: Backend, section: &str) {
    let (source, manifest_url, manifest) = integrity_backup(&backend);
    let key = manifest["schema"]
        .as_array()
        .expect("schema objects")
        .iter()
        .find(|s| s["section"] == section)
        .and_then(|s| s["key"].as_str())
        .unwrap_or_else(|| panic!("no {section} script in the manifest: {manifest}"))
        .to_string();
    let stem = section.replace('_', "-");
    assert_eq!(key, format!("schema/{stem}.sql.zst"));
    let url = backend.flip_byte(&manifest_url, &key);

    util::cli::assert_verify_names(&manifest_url, &url, RUN_DEADLINE);

    // Into an existing empty database: nothing may be created in it.
    let target = fresh_db("pgf_int_r");
    let target_url = pg_url(&target);
    let out = run(&["restore", "--from", &manifest_url, "--target", &target_url]);
    assert_failed_naming(&out, &[&url], &format!("restore with a flipped {key}"));
    assert_eq!(user_objects(&target), 0, "restore created objects before finding {url} damaged");

    // With --create: the damage is found before the database is created.
    let missing = unused_db("pgf_int_c");
    let missing_url = pg_url(&missing);
    let out = run(&["restore", "--from", &manifest_url, "--target", &missing_url, "--create"]);
    assert_failed_naming(&out, &[&url], &format!("restore --create with a flipped {key}"));
    if database_exists(&missing) {
        let objects = user_objects(&missing);
        drop_db(&missing);
        assert_eq!(objects, 0, "restore --create created objects before finding {url} damaged");
    }

    drop_db(&target);
    drop_db(&source);
    backend.cleanup();
}

#[test]
fn verify_and_restore_name_flipped_data_chunk_and_leave_its_table_empty_local() {
    flipped_data_chunk_fails_verify_and_restore(Backend::local());
}

#[test]
fn verify_and_restore_name_flipped_data_chunk_and_leave_its_table_empty_s3() {
    flipped_data_chunk_fails_verify_and_restore(Backend::s3("pg_failures/int"));
}

#[test]
fn verify_and_restore_name_flipped_pre_data_script_and_create_nothing_local() {
    flipped_schema_script_fails_verify_and_restore(Backend::local(), "pre_data");
}

#[test]
fn verify_and_restore_name_flipped_pre_data_script_and_create_nothing_s3() {
    flipped_schema_script_fails_verify_and_restore(Backend::s3("pg_failures/int"), "pre_data");
}

#[test]
fn verify_and_restore_name_flipped_post_data_script_and_create_nothing_local() {
    flipped_schema_script_fails_verify_and_restore(Backend::local(), "post_data");
}

#[test]
fn verify_and_restore_name_flipped_post_data_script_and_create_nothing_s3() {
    flipped_schema_script_fails_verify_and_restore(Backend::s3("pg_failures/int"), "post_data");
}

// ------------------------------------------------------------------ terminated dump connection

#[test]
fn terminated_dump_connection_leaves_no_backup() {
    let source = fresh_db("pgf_term");
    // About 41 MB of COPY text: ~19 MB stored, several 5 MiB parts, seconds of dumping.
    psql_script(
        &source,
        "CREATE TABLE public.big (id int, t text);
         INSERT INTO public.big SELECT i, md5(i::text) FROM generate_series(1, 1000000) i;
         CREATE TABLE public.small (a int); INSERT INTO public.small VALUES (1);",
    );
    let dest = util::s3_dest("pg_failures/term");
    let store = s3_store(&dest);
    let source_url = pg_url(&source);
    let mut child = streamdump_command(&[
        "backup",
        "--source",
        &source_url,
        "--to",
        &dest,
        "--part-size",
        "5MiB",
        "--path-style",
    ])
    .spawn()
    .expect("starting streamdump backup");

    // Wait until the dump is mid-table: its COPY runs and a multipart upload is open.
    let find_copy = format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'streamdump' \
         AND datname = '{source}' AND state = 'active' AND query LIKE 'COPY%'"
    );
    let started = Instant::now();
    let pid = loop {
        if let Some(status) = child.try_wait().expect("polling the backup") {
            let out = finish_within(child, RUN_DEADLINE, "backup");
            panic!(
                "the backup ended ({status}) before its COPY could be terminated\nstdout: {}\nstderr: {}",
                stdout(&out),
                stderr(&out)
            );
        }
        let pid = psql("postgres", &find_copy);
        if !pid.is_empty() && !s3_open_uploads(&store).is_empty() {
            break pid;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let out = finish_within(child, RUN_DEADLINE, "backup");
            panic!(
                "no COPY with an open multipart upload seen within 30 s (COPY pid: {pid:?})\n\
                 stderr: {}",
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let pid = pid.lines().next().expect("pid").to_string();
    assert_eq!(psql("postgres", &format!("SELECT pg_terminate_backend({pid})")), "t");

    let out = finish_within(child, RUN_DEADLINE, "the interrupted backup");
    assert!(
        !out.status.success(),
        "the backup succeeded although its COPY connection was terminated\nstdout: {}",
        stdout(&out)
    );
    let keys = s3_keys(&store);
    assert!(
        !keys.iter().any(|k| k.ends_with("manifest.json")),
        "a manifest exists after a failed backup: {keys:?}"
    );
    assert_eq!(keys, Vec::<String>::new(), "objects left under {dest} by the failed backup");
    assert_eq!(
        s3_open_uploads(&store),
        Vec::<String>::new(),
        "multipart uploads left open under {dest}"
    );
    // The 1M-row source is no evidence for the message check below: drop it now.
    drop_db(&source);

    // Checked after the storage checks, so a failure here means those passed. A backend
    // terminated while blocked sending COPY data does not send its FATAL message (PostgreSQL's
    // ProcessClientWriteInterrupt sets whereToSendOutput = DestNone to keep protocol sync), so
    // the client sees only the closed connection; the message must still say the connection was
    // terminated, not merely "closed", for the user to know what happened.
    let first = first_stderr_line(&out);
    assert!(
        first.starts_with("error:")
            && first.contains("public.big")
            && first.to_lowercase().contains("terminat"),
        "the first stderr line should name the table and the termination: {first:?}\n\
         full stderr: {}",
        stderr(&out)
    );
}

// ------------------------------------------------------------------------ S3 part failures

/// About 22 MB of COPY text that compresses only about 2:1, so the one big chunk needs several
/// 5 MiB parts.
const PARTS_FIXTURE: &str = "
CREATE TABLE public.blobs (id int PRIMARY KEY, a text, b text);
INSERT INTO public.blobs SELECT i, md5(i::text), md5((-i)::text) FROM generate_series(1, 300000) i;
CREATE TABLE public.tags (id int, tag text);
INSERT INTO public.tags VALUES (1, 'x'), (2, 'y');
";

fn backup_through_proxy(source: &str, dest: &str, proxy: &FaultProxy) -> Output {
    let source_url = pg_url(source);
    let endpoint = proxy.endpoint();
    run(&[
        "backup",
        "--source",
        &source_url,
        "--to",
        dest,
        "--endpoint",
        &endpoint,
        "--path-style",
        "--part-size",
        "5MiB",
        "--json",
    ])
}

#[test]
fn s3_part_failures_are_retried_then_backup_succeeds() {
    let source = fresh_db("pgf_parts_ok");
    psql_script(&source, PARTS_FIXTURE);
    let dest = util::s3_dest("pg_failures/parts-ok");
    let proxy = rt()
        .block_on(FaultProxy::start(s3_address(), FaultPolicy::FailParts { first_n: 2 }))
        .expect("start the fault proxy");

    let out = backup_through_proxy(&source, &dest, &proxy);
    assert!(
        out.status.success(),
        "backup through 2 transient 503s failed\nstdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(proxy.injected_faults(), 2, "UploadPart requests answered with 503");
    let report: Value = serde_json::from_slice(&out.stdout).expect("backup --json report");
    let manifest_url = report["manifest"].as_str().expect("manifest URL").to_string();
    let stored = report["stored_bytes"].as_u64().expect("stored_bytes");
    assert!(stored > 2 * 5 * 1024 * 1024, "only {stored} bytes stored: multipart not exercised");

    // Straight from SeaweedFS, not through the proxy.
    util::streamdump_json(&["verify", "--from", &manifest_url, "--json"]);
    let restored = util::restore_new(&manifest_url, "pgf_parts_ok_r", &[]);
    assert_eq!(util::fingerprint(&restored), util::fingerprint(&source));
    assert_eq!(s3_open_uploads(&s3_store(&dest)), Vec::<String>::new(), "open uploads");

    drop_db(&restored);
    drop_db(&source);
    s3_cleanup(&dest);
}

#[test]
fn persistent_s3_failure_leaves_no_manifest_and_no_open_upload() {
    let source = fresh_db("pgf_parts_fail");
    psql_script(&source, PARTS_FIXTURE);
    let dest = util::s3_dest("pg_failures/parts-fail");
    let proxy = rt()
        .block_on(FaultProxy::start(s3_address(), FaultPolicy::FailAllParts))
        .expect("start the fault proxy");

    let out = backup_through_proxy(&source, &dest, &proxy);
    let key = "/data/public/blobs/000000.copy.zst";
    assert_failed_naming(&out, &[&dest, key, "SlowDown"], "backup through persistent 503s");
    let first = first_stderr_line(&out);
    assert!(
        stderr(&out).lines().filter(|l| l.starts_with("error:")).count() == 1,
        "one error line expected: {}",
        stderr(&out)
    );
    // The failing object is named by its full URL under the destination.
    let named = first.split_whitespace().find(|w| w.contains(key)).unwrap_or_default();
    assert!(
        named.starts_with(&format!("{dest}/{source}/")),
        "the error should name the object's URL under {dest}/{source}/: {first}"
    );
    assert!(proxy.injected_faults() >= 3, "only {} faults injected", proxy.injected_faults());
    let report: Value = serde_json::from_str(stdout(&out).trim()).expect("--json error object");
    assert_eq!(report["error"]["type"], "StoreError", "{report}");

    let store = s3_store(&dest);
    let keys = s3_keys(&store);
    assert!(
        !keys.iter().any(|k| k.ends_with("manifest.json")),
        "a manifest exists after a failed backup: {keys:?}"
    );
    assert_eq!(keys, Vec::<String>::new(), "objects left under {dest} by the failed backup");
    assert_eq!(s3_open_uploads(&store), Vec::<String>::new(), "multipart uploads left open");

    drop_db(&source);
}

// ------------------------------------------------------------------------------- bad input

#[test]
fn unreachable_host_fails_naming_it_without_the_password() {
    let (_dir, dest) = util::local_dest();
    assert_fails_clearly(
        &["backup", "--source", "postgres://u:hunter2@127.0.0.1:1/db", "--to", &dest],
        &["cannot connect", "127.0.0.1:1"],
        "SourceUnavailable",
    );
}

#[test]
fn wrong_password_fails_as_authentication_error_without_the_password() {
    let role = util::unique("sd_pw");
    psql("postgres", &format!("CREATE ROLE \"{role}\" WITH LOGIN PASSWORD 'right-pass'"));
    let source = fresh_db("pgf_pw");
    // The test is only meaningful if the server checks this role's password.
    let rules = psql(
        "postgres",
        "SELECT string_agg(format('%s %s %s %s', type, database, user_name, auth_method), '; ' \
         ORDER BY line_number) FROM pg_hba_file_rules",
    );
    let url = pg_url_as(&source, &role, "hunter2");
    let (_dir, dest) = util::local_dest();

    let out = run(&["backup", "--source", &url, "--to", &dest]);
    assert!(
        !out.status.success(),
        "a wrong password was accepted for role {role}: the server does not check passwords \
         for it (pg_hba rules: {rules})\nstdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    assert_fails_clearly(
        &["backup", "--source", &url, "--to", &dest],
        &["password authentication failed", &role],
        "SourceUnavailable",
    );

    drop_db(&source);
    psql("postgres", &format!("DROP ROLE \"{role}\""));
}

#[test]
fn unknown_database_is_named_for_backup_and_restore() {
    let missing = unused_db("pgf_nodb");
    let url = pg_url_as(&missing, &pg_superuser(), "right-pass");
    let (_dir, dest) = util::local_dest();
    assert_fails_clearly(
        &["backup", "--source", &url, "--to", &dest],
        &[&missing, "does not exist"],
        "SourceUnavailable",
    );

    // Restore into a missing database without --create: says so, and how to fix it.
    let source = fresh_db("pgf_nodb_src");
    psql(&source, "CREATE TABLE public.t (a int); INSERT INTO public.t VALUES (1)");
    let manifest_url = util::backup(&source, &dest, &[]);
    assert_fails_clearly(
        &["restore", "--from", &manifest_url, "--target", &url],
        &[&missing, "does not exist", "--create"],
        "SourceUnavailable",
    );
    assert!(!database_exists(&missing), "restore without --create created {missing}");

    drop_db(&source);
}

#[test]
fn unknown_schema_is_named() {
    let source = fresh_db("pgf_noschema");
    psql(&source, "CREATE TABLE public.t (a int)");
    let url = pg_url_as(&source, &pg_superuser(), "right-pass");
    let (_dir, dest) = util::local_dest();
    assert_fails_clearly(
        &["backup", "--source", &url, "--to", &dest, "--schema", "nope"],
        &["'nope'", "schema"],
        "InvalidRequest",
    );
    drop_db(&source);
}

#[test]
fn malformed_urls_are_rejected_naming_them() {
    let (_dir, dest) = util::local_dest();
    let source = pg_url("postgres");
    assert_fails_clearly(
        &["backup", "--source", "notaurl", "--to", &dest],
        &["source URL", "notaurl"],
        "InvalidRequest",
    );
    assert_fails_clearly(
        &["backup", "--source", "postgres://u:hunter2@:5432/db", "--to", &dest],
        &["source URL"],
        "InvalidRequest",
    );
    assert_fails_clearly(
        &["backup", "--source", &source, "--to", "bucket-without-scheme"],
        &["bucket-without-scheme", "s3://"],
        "InvalidRequest",
    );
    assert_fails_clearly(
        &["backup", "--source", &source, "--to", "s3://"],
        &["'s3://'", "bucket"],
        "InvalidRequest",
    );
}

#[test]
fn manifest_of_unknown_format_is_rejected_by_verify_and_restore() {
    let (dir, _) = util::local_dest();
    let backup_dir = dir.path().join("db").join("20261125T000000Z-0000");
    std::fs::create_dir_all(&backup_dir).expect("backup dir");
    let manifest = backup_dir.join("manifest.json");
    std::fs::write(
        &manifest,
        r#"{"format": 99, "tool": {"name": "streamdump", "version": "99.0.0"}, "tables": []}"#,
    )
    .expect("write manifest");
    let manifest_url = format!("file://{}", manifest.display());

    assert_fails_clearly(
        &["verify", "--from", &manifest_url],
        &["unknown manifest format 99", &manifest_url],
        "ManifestError",
    );
    let target = unused_db("pgf_fmt");
    let target_url = pg_url_as(&target, &pg_superuser(), "right-pass");
    assert_fails_clearly(
        &["restore", "--from", &manifest_url, "--target", &target_url, "--create"],
        &["unknown manifest format 99", &manifest_url],
        "ManifestError",
    );
    assert!(!database_exists(&target), "restore created {target} from an unreadable manifest");
}

#[test]
fn missing_manifest_is_reported_as_not_found() {
    let (_dir, dest) = util::local_dest();
    let local = format!("{dest}/db/20261125T000000Z-0000/manifest.json");
    let s3 =
        format!("{}/db/20261125T000000Z-0000/manifest.json", util::s3_dest("pg_failures/none"));
    let target = unused_db("pgf_nomanifest");
    let target_url = pg_url_as(&target, &pg_superuser(), "right-pass");
    for manifest_url in [&local, &s3] {
        assert_fails_clearly(
            &["verify", "--from", manifest_url],
            &[manifest_url, "not found"],
            "ManifestError",
        );
        assert_fails_clearly(
            &["restore", "--from", manifest_url, "--target", &target_url, "--create"],
            &[manifest_url, "not found"],
            "ManifestError",
        );
    }
    assert!(!database_exists(&target), "restore created {target} without a manifest");
}
