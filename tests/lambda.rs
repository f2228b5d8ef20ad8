//! The Lambda functions against real services: PostgreSQL (over verified TLS, as a role that
//! may only connect with TLS), SeaweedFS for S3, moto for Secrets Manager and for SNS with an SQS
//! subscription the tests read.
//!
//! - The handlers called directly (as the binaries call them): malformed events rejected before
//!   anything is contacted, a secret with a wrong password, the deadline path, and a MariaDB
//!   secret (backup to S3, restore into a database the restore creates).
//! - The real `backup` and `restore` binaries behind cargo-lambda's Lambda Runtime API emulator
//!   (`cargo lambda watch`): a scheduled event, `{"schema": ...}`, the HTTPS endpoint's envelope,
//!   a malformed event, a restore, a restore into a secret with a wrong password; then the SNS
//!   messages, the EMF records and the absence of every password in the function's output.
//!
//! Needs `scripts/dev.sh up` and its environment (`.services/env`).

mod util;

#[path = "util/aws.rs"]
mod aws;

use std::collections::BTreeSet;
use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use streamdump::lambda::config::Config;
use streamdump::lambda::{Deps, Invocation, handle_backup, handle_restore};
use streamdump::store::{Store, aws_environment};
use util::{TLS_ROLE, TLS_ROLE_PASSWORD};

const WRONG_PASSWORD: &str = "Wrong-pw-c41d";

fn ensure_tls_role() {
    util::ensure_tls_role();
}

fn ca_file() -> String {
    util::pg_ca_file()
}

/// A database with three schemas: sales (2 tables, a sequence), hr (1 table), public (1 table).
fn sample_db() -> String {
    let db = util::fresh_db("lambda_src");
    util::psql_script(
        &db,
        "CREATE SCHEMA sales; CREATE SCHEMA hr;
         CREATE TABLE sales.orders (id bigserial PRIMARY KEY, customer text NOT NULL, total numeric(12,2));
         INSERT INTO sales.orders (customer, total)
           SELECT 'customer ' || g, g * 1.25 FROM generate_series(1, 3000) g;
         CREATE TABLE sales.lines (order_id bigint REFERENCES sales.orders, sku text, qty int);
         INSERT INTO sales.lines SELECT g % 3000 + 1, 'sku-' || g, g % 7 FROM generate_series(1, 9000) g;
         CREATE TABLE hr.staff (id int PRIMARY KEY, name text, note text);
         INSERT INTO hr.staff VALUES (1, 'Ada', E'tab\\there'), (2, 'Grace', NULL);
         CREATE TABLE public.settings (key text PRIMARY KEY, value jsonb);
         INSERT INTO public.settings VALUES ('mode', '{\"fast\": true}');",
    );
    db
}

fn config(vars: &[(&str, String)]) -> Config {
    let map: std::collections::HashMap<String, String> =
        vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    Config::from_lookup("backup", |name| map.get(name).cloned()).expect("configuration")
}

async fn deps(vars: &[(&str, String)]) -> Deps {
    Deps::new(config(vars), aws_environment().await)
}

fn invocation(seconds_left: f64) -> Invocation {
    Invocation {
        request_id: util::unique("req"),
        deadline: SystemTime::now() + Duration::from_secs_f64(seconds_left),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_are_rejected_before_anything_is_contacted() {
    // The secret does not exist and the destination is never reached: if the handler contacted
    // either before validating, the error would be another one.
    let dest = util::s3_dest("lambda_bad");
    let deps = deps(&[
        ("STREAMDUMP_SECRET_ID", "no-such-secret".into()),
        ("STREAMDUMP_DESTINATION", dest.clone()),
        ("STREAMDUMP_S3_PATH_STYLE", "true".into()),
    ])
    .await;
    for (event, named) in [
        (json!({"schemas": "sales"}), "schemas: expected an array"),
        (json!({"schema": "sales", "extra": 1}), "field 'extra'"),
        (json!({"jobs": 0}), "jobs"),
        (json!({"zstd_level": 40}), "zstd level"),
        (json!({"destination": "ftp://x/y"}), "ftp://x/y"),
        (json!({"exclude_tables": ["a.b.c"]}), "a.b.c"),
        (json!({"api": {"request_id": "no/slash", "body": {}}}), "backup id 'no/slash'"),
        (json!([1, 2]), "expected a JSON object"),
    ] {
        let err = handle_backup(&event, &invocation(60.0), &deps).await.unwrap_err();
        assert_eq!(err.kind(), "InvalidRequest", "{event}: {err}");
        assert!(err.to_string().contains(named), "{event}: {err}");
    }
    for (event, named) in [
        (json!({"target_url": "postgres://u:pw@h/d"}), "'manifest' is missing"),
        (json!({"manifest": "s3://bucket-x/m.json", "replace": 1}), "replace"),
        (json!({"manifest": "s3://bucket-x/m.json", "jobs": 99}), "jobs"),
    ] {
        let err = handle_restore(&event, &invocation(60.0), &deps).await.unwrap_err();
        assert_eq!(err.kind(), "InvalidRequest", "{event}: {err}");
        assert!(err.to_string().contains(named), "{event}: {err}");
        assert!(!err.to_string().contains("pw@"), "{err}");
    }
    // A deployment without a destination is a configuration error, named.
    let no_destination = self::deps(&[("STREAMDUMP_SECRET_ID", "x".into())]).await;
    let err = handle_backup(&json!({}), &invocation(60.0), &no_destination).await.unwrap_err();
    assert_eq!(err.kind(), "ConfigurationError");
    assert!(err.to_string().contains("STREAMDUMP_DESTINATION"), "{err}");
    // A deadline already within the margin stops before the secret is read.
    let err = handle_backup(&json!({}), &invocation(10.0), &deps).await.unwrap_err();
    assert_eq!(err.kind(), "DeadlineReached", "{err}");
    assert!(err.to_string().contains("before starting"), "{err}");
    assert_eq!(aws::s3_contents(&dest).await, (vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_in_the_secret_fails_cleanly_without_showing_it() {
    ensure_tls_role();
    let db = sample_db();
    let secret = aws::rds_secret(&util::unique("wrong-pw"), TLS_ROLE, WRONG_PASSWORD, &db);
    let (topic, queue) = aws::topic_with_queue(&util::unique("wrongpw"));
    let dest = util::s3_dest("lambda_wrongpw");
    let deps = deps(&[
        ("STREAMDUMP_SECRET_ID", secret.clone()),
        ("STREAMDUMP_DESTINATION", dest.clone()),
        ("STREAMDUMP_S3_PATH_STYLE", "true".into()),
        ("STREAMDUMP_TLS_CA_FILE", ca_file()),
        ("STREAMDUMP_SNS_TOPIC_ARN", topic),
    ])
    .await;
    let err = handle_backup(&json!({}), &invocation(120.0), &deps).await.unwrap_err();
    let text = err.to_string();
    assert_eq!(err.kind(), "SourceUnavailable", "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(
        text.contains(&format!("{TLS_ROLE}:***@")),
        "names the login, hides the password: {text}"
    );
    assert!(!text.contains(WRONG_PASSWORD), "{text}");
    assert_eq!(aws::s3_contents(&dest).await, (vec![], vec![]), "nothing may be stored");

    let messages = aws::notifications(&queue, 1);
    assert_eq!(messages.len(), 1, "one failure notification: {messages:?}");
    let (subject, body) = &messages[0];
    assert_eq!(subject, &format!("streamdump backup FAILED: {db}"));
    assert_eq!(body["error"]["type"], "SourceUnavailable");
    assert!(!body.to_string().contains(WRONG_PASSWORD));
    util::drop_db(&db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_stops_the_backup_aborts_uploads_and_writes_nothing() {
    ensure_tls_role();
    let db = sample_db();
    // A table big enough to outlast the deadline (a debug build streams it at a few MB/s).
    util::psql(
        &db,
        "CREATE TABLE public.big AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS payload, \
         now() AS at FROM generate_series(1, 800000) g",
    );
    util::psql(&db, "ANALYZE");
    let secret = aws::rds_secret(&util::unique("deadline"), TLS_ROLE, TLS_ROLE_PASSWORD, &db);
    let dest = util::s3_dest("lambda_deadline");
    let deps = deps(&[
        ("STREAMDUMP_SECRET_ID", secret),
        ("STREAMDUMP_DESTINATION", dest.clone()),
        ("STREAMDUMP_S3_PATH_STYLE", "true".into()),
        ("STREAMDUMP_TLS_CA_FILE", ca_file()),
        ("STREAMDUMP_DEADLINE_MARGIN_SECS", "2".into()),
        ("STREAMDUMP_PART_SIZE", "5MiB".into()),
        ("STREAMDUMP_JOBS", "2".into()),
    ])
    .await;
    let started = Instant::now();
    let err = handle_backup(&json!({}), &invocation(5.0), &deps).await.unwrap_err();
    let took = started.elapsed();
    let text = err.to_string();
    assert_eq!(err.kind(), "DeadlineReached", "{text}");
    // The big table goes first on one worker; the other worker finishes the 4 small ones.
    assert!(text.starts_with("deadline reached after 4 of 5 tables; nothing written"), "{text}");
    assert!(took < Duration::from_secs(5), "returned after {took:?}, past the deadline");
    let (keys, uploads) = aws::s3_contents(&dest).await;
    assert_eq!(keys, Vec::<String>::new(), "objects left behind");
    assert_eq!(uploads, Vec::<String>::new(), "multipart uploads left open");
    util::drop_db(&db);
}

/// `cargo lambda watch` serving the crate's functions on a free port; killed on drop.
struct Emulator {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Emulator {
    fn start(env: &[(&str, String)]) -> Emulator {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("watch.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(aws::venv_bin("cargo-lambda"));
        command
            .args(["lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P"])
            .arg(port.to_string())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env(
                "PATH",
                format!("{}:{}", aws::venv_bin(""), std::env::var("PATH").unwrap_or_default()),
            )
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file);
        for (name, value) in env {
            command.env(name, value);
        }
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("start cargo lambda watch (scripts/dev.sh install)");
        let emulator = Emulator { child, port, log, _dir: dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "emulator did not listen: {}",
                emulator.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        emulator
    }

    /// Invoke a function synchronously; the function's result or its error object.
    fn invoke(&self, function: &str, event: &Value) -> Value {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "600", "-X", "POST", "--data-binary", "@-"])
            .arg(format!(
                "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
                self.port
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().expect("stdin").write_all(event.to_string().as_bytes())?;
                child.wait_with_output()
            })
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(&text).unwrap_or_else(|_| {
            panic!("{function} answered non-JSON: {text}\n--- emulator log ---\n{}", self.output())
        })
    }

    fn output(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // The whole process group: the emulator and the function processes it started.
        if let Ok(group) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

/// A MariaDB secret (`"engine": "mariadb"`): the handlers pick the MySQL engine from it, back
/// up to S3 and restore into a database of another name that the restore creates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_secret_backs_up_and_restores_through_the_handlers() {
    use util::mysql::{drop_my_db, fresh_my_db, mariadb_script, my_base, my_fingerprint};
    let source = fresh_my_db("lambda_my");
    mariadb_script(
        &source,
        "CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(40), photo BLOB, at DATETIME(6));
         INSERT INTO orders SELECT seq, CONCAT('customer\t', seq), UNHEX(MD5(seq)), '2026-11-26 01:02:03.5'
           FROM seq_1_to_5000;
         CREATE VIEW big_orders AS SELECT id FROM orders WHERE id > 4000;",
    );
    let base = url::Url::parse(&my_base()).expect("STREAMDUMP_TEST_MYSQL");
    let (user, password) = (base.username().to_string(), base.password().unwrap_or("").to_string());
    let port = base.port().unwrap_or(3306);
    let secret =
        aws::engine_secret(&util::unique("my-secret"), "mariadb", port, &user, &password, &source);
    let dest = util::s3_dest("lambda_my");
    let deps = deps(&[
        ("STREAMDUMP_SECRET_ID", secret.clone()),
        ("STREAMDUMP_DESTINATION", dest.clone()),
        ("STREAMDUMP_S3_PATH_STYLE", "true".into()),
        // The development MariaDB has no TLS; deployments keep the verify-full default.
        ("STREAMDUMP_TLS_MODE", "disable".into()),
    ])
    .await;
    let report = handle_backup(&json!({}), &invocation(300.0), &deps).await.expect("backup");
    assert_eq!(report.rows, 5000, "{report:?}");
    assert_eq!(report.consistency, "ftwrl_snapshot", "{report:?}");
    let manifest = report.manifest.clone();

    let restored = util::unique("lambda_my_restored");
    let event = json!({"manifest": manifest, "database": restored, "create": true});
    let done = handle_restore(&event, &invocation(300.0), &deps).await.expect("restore");
    assert_eq!(done.rows, 5000, "{done:?}");
    assert_eq!(my_fingerprint(&restored), my_fingerprint(&source));
    let text = format!("{report:?} {done:?}");
    assert!(!password.is_empty() && !text.contains(&password), "{text}");
    drop_my_db(&restored);
    drop_my_db(&source);
}

fn tables_of(manifest: &Value) -> BTreeSet<String> {
    manifest["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!("{}.{}", t["schema"].as_str().unwrap_or(""), t["name"].as_str().unwrap_or(""))
        })
        .collect()
}

async fn read_manifest(url: &str) -> Value {
    let (dir, key) = url.rsplit_once('/').expect("manifest URL");
    let store = aws::s3_store(dir).await;
    let bytes = store.get_bytes(key).await.expect("manifest stored");
    serde_json::from_slice(&bytes).expect("manifest JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_behind_the_runtime_api_back_up_restore_and_notify() {
    ensure_tls_role();
    let db = sample_db();
    let secret = aws::rds_secret(&util::unique("rt-good"), TLS_ROLE, TLS_ROLE_PASSWORD, &db);
    let bad_secret = aws::rds_secret(&util::unique("rt-bad"), TLS_ROLE, WRONG_PASSWORD, &db);
    let (topic, queue) = aws::topic_with_queue(&util::unique("runtime"));
    let dest = util::s3_dest("lambda_runtime");
    let emulator = Emulator::start(&[
        ("STREAMDUMP_SECRET_ID", secret),
        ("STREAMDUMP_DESTINATION", dest.clone()),
        ("STREAMDUMP_S3_PATH_STYLE", "true".into()),
        ("STREAMDUMP_TLS_MODE", "verify-full".into()),
        ("STREAMDUMP_TLS_CA_FILE", ca_file()),
        ("STREAMDUMP_SNS_TOPIC_ARN", topic),
        ("STREAMDUMP_DEADLINE_MARGIN_SECS", "10".into()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
    ]);

    // 1. The schedule: EventBridge's scheduled event backs up every schema.
    let scheduled = json!({
        "version": "0", "id": "8f0c1e2d", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-26T03:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly"], "detail": {}
    });
    let full = emulator.invoke("backup", &scheduled);
    assert_eq!(full["tables"], 4, "{full}\n{}", emulator.output());
    assert_eq!(full["rows"], 3000 + 9000 + 2 + 1);
    assert_eq!(full["consistency"], "exported_snapshot");
    let manifest_url = full["manifest"].as_str().expect("manifest URL").to_string();
    assert!(manifest_url.starts_with(&dest) && manifest_url.ends_with("/manifest.json"));
    let manifest = read_manifest(&manifest_url).await;
    assert_eq!(
        tables_of(&manifest),
        ["hr.staff", "public.settings", "sales.lines", "sales.orders"].map(String::from).into()
    );

    // 2. On demand, one schema.
    let sales = emulator.invoke("backup", &json!({"schema": "sales"}));
    assert_eq!(sales["tables"], 2, "{sales}");
    let sales_manifest = read_manifest(sales["manifest"].as_str().expect("manifest")).await;
    assert_eq!(
        tables_of(&sales_manifest),
        ["sales.lines", "sales.orders"].map(String::from).into()
    );

    // 3. The HTTPS endpoint's envelope: the backup id is the API request id it answered with.
    let api = emulator.invoke(
        "backup",
        &json!({"api": {"request_id": "0f6e4c2a-api", "body": {"schema": "hr"}}}),
    );
    assert_eq!(api["backup_id"], "0f6e4c2a-api", "{api}");
    assert!(api["manifest"].as_str().unwrap_or("").ends_with("/0f6e4c2a-api/manifest.json"));

    // 4. A malformed event: a routable error type, nothing run.
    let bad = emulator.invoke("backup", &json!({"schema": 7}));
    assert_eq!(bad["errorType"], "InvalidRequest", "{bad}");
    assert!(bad["errorMessage"].as_str().unwrap_or("").contains("schema"), "{bad}");

    // 5. Restore the full backup into a new database on the same server.
    let restored = util::unused_db("lambda_restored");
    let report = emulator.invoke(
        "restore",
        &json!({"manifest": manifest_url, "database": restored, "create": true}),
    );
    assert_eq!(report["rows"], full["rows"], "{report}\n{}", emulator.output());
    assert_eq!(util::fingerprint(&restored), util::fingerprint(&db));

    // 6. A restore into a target whose secret holds a wrong password.
    let refused = emulator.invoke(
        "restore",
        &json!({"manifest": manifest_url, "target_secret_id": bad_secret, "database": restored}),
    );
    assert_eq!(refused["errorType"], "SourceUnavailable", "{refused}");
    assert!(
        refused["errorMessage"].as_str().unwrap_or("").contains("password authentication failed")
    );

    // 7. Restore one schema of the full backup.
    let sales_only = util::unused_db("lambda_sales");
    let report = emulator.invoke(
        "restore",
        &json!({"manifest": manifest_url, "database": sales_only, "create": true,
                "schemas": ["sales"]}),
    );
    assert_eq!(report["tables"], 2, "{report}");
    let mut expected = util::fingerprint(&db);
    expected.retain(|table, _| table.starts_with("sales."));
    assert_eq!(util::fingerprint(&sales_only), expected);

    // Every run announced itself on the topic: 5 successes, 2 failures.
    let messages = aws::notifications(&queue, 7);
    let subjects: Vec<&str> = messages.iter().map(|(s, _)| s.as_str()).collect();
    let succeeded = subjects.iter().filter(|s| s.contains(" succeeded: ")).count();
    let failed = subjects.iter().filter(|s| s.contains(" FAILED: ")).count();
    assert_eq!((succeeded, failed), (5, 2), "{subjects:?}");
    assert!(messages.iter().any(|(_, body)| body["report"]["backup_id"] == "0f6e4c2a-api"));
    assert!(messages.iter().any(|(_, body)| body["error"]["type"] == "InvalidRequest"));

    // One EMF record per run, JSON logs, and no password anywhere in the function's output.
    let output = emulator.output();
    let emf: Vec<Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(emf.len(), 7, "EMF records:\n{output}");
    assert_eq!(emf.iter().filter(|r| r["Success"] == 1).count(), 5);
    assert!(emf.iter().all(|r| r["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "streamdump"));
    assert!(
        output.lines().any(|l| serde_json::from_str::<Value>(l)
            .is_ok_and(|v| v["message"] == "backup requested"
                || v["fields"]["message"] == "backup requested")),
        "no JSON log line for a backup:\n{output}"
    );
    for secret_text in [TLS_ROLE_PASSWORD, WRONG_PASSWORD] {
        assert!(!output.contains(secret_text), "a password reached the function's output");
    }
    drop(emulator);
    util::drop_db(&sales_only);
    util::drop_db(&restored);
    util::drop_db(&db);
}
