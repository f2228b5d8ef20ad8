//! MySQL/MariaDB consistency through the real `streamdump` binary against MariaDB 10.11:
//!
//! - `--jobs 2` under concurrent transfers between two tables keeps their sum while both tables
//!   are read in key ranges spread over the workers, and the manifest
//!   records `ftwrl_snapshot` with binlog coordinates;
//! - a user without RELOAD (no FTWRL, as on RDS) gets a backup that claims only a lock-free mode
//!   (`single_snapshot` with one worker, or MariaDB's `snapshot_position_match`), exact when
//!   quiet and still one snapshot under concurrent transfers.
//!
//! Run: `source .services/env && cargo test --test mysql_consistency`.

mod util;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::mysql::{
    assert_data_equal, assert_schema_equal, drop_my_db, fresh_my_db, mariadb, mariadb_as,
    mariadb_script, my_count, my_fingerprint, my_restore_new, my_streamdump_json, my_url_as,
    quote_ident, quote_str,
};

/// Rows per account table in the consistency tests, each starting with `BALANCE`.
const ACCOUNTS: i64 = 200_000;
const BALANCE: i64 = 100;

/// One transfer from a random `accounts_a` row to a random `accounts_b` row, in a transaction:
/// `sum(a) + sum(b)` never changes, and `sum(a)` only falls. Then the `movers` row with the
/// lowest key gets a key past the highest (+200000, `ACCOUNTS`): the keys stay one block of
/// `ACCOUNTS` consecutive values that slides up, rows leaving the first key range for the last.
/// A table read in ranges at different moments would hold some rows twice (or lose some).
const TRANSFER: &str = "SET @a = 1 + FLOOR(RAND() * 200000), @b = 1 + FLOOR(RAND() * 200000), \
     @x = 1 + FLOOR(RAND() * 50); START TRANSACTION; \
     UPDATE accounts_a SET balance = balance - @x WHERE id = @a; \
     UPDATE accounts_b SET balance = balance + @x WHERE id = @b; COMMIT; \
     UPDATE movers SET id = id + 200000 ORDER BY id LIMIT 1;\n";

/// Two tables of `ACCOUNTS` rows (about 25 MB of TSV together, so a backup takes a while), plus
/// a view and a trigger so a backup also has DDL to read.
fn create_accounts(db: &str) {
    mariadb_script(
        db,
        &format!(
            "CREATE TABLE accounts_a (id INT PRIMARY KEY, balance BIGINT NOT NULL,
                                      pad VARCHAR(120) NOT NULL) ENGINE=InnoDB;
             CREATE TABLE accounts_b LIKE accounts_a;
             INSERT INTO accounts_a SELECT seq, {BALANCE}, CONCAT(MD5(seq), MD5(-seq), MD5(seq * 7))
               FROM seq_1_to_{ACCOUNTS};
             INSERT INTO accounts_b SELECT * FROM accounts_a;
             CREATE VIEW overdrawn AS SELECT id, balance FROM accounts_a WHERE balance < 0;
             CREATE TRIGGER accounts_a_pad BEFORE INSERT ON accounts_a FOR EACH ROW
               SET NEW.pad = UPPER(NEW.pad);
             CREATE TABLE movers (id INT PRIMARY KEY, pad VARCHAR(120) NOT NULL) ENGINE=InnoDB;
             INSERT INTO movers SELECT seq, CONCAT(MD5(seq), MD5(-seq)) FROM seq_1_to_{ACCOUNTS};
             ANALYZE TABLE accounts_a, accounts_b, movers;"
        ),
    );
    assert_eq!(total(db), 2 * ACCOUNTS * BALANCE);
}

fn sum_a(db: &str) -> i64 {
    mariadb(db, "SELECT SUM(balance) FROM accounts_a").parse().expect("sum")
}

/// The lowest key of `movers`: how far its block of keys has slid.
fn first_mover(db: &str) -> i64 {
    mariadb(db, "SELECT MIN(id) FROM movers").parse().expect("min id")
}

fn total(db: &str) -> i64 {
    mariadb(
        db,
        "SELECT (SELECT SUM(balance) FROM accounts_a) + (SELECT SUM(balance) FROM accounts_b)",
    )
    .parse()
    .expect("total")
}

/// Writers running transfers on a database: each is one `mariadb` client (as root) fed
/// [`TRANSFER`] through stdin until stopped.
struct Transfers {
    stop: Arc<AtomicBool>,
    writers: Vec<std::thread::JoinHandle<(usize, String)>>,
}

impl Transfers {
    /// Start `n` writers on `db` and return once transfers are being committed.
    fn start(db: &str, n: usize) -> Transfers {
        let stop = Arc::new(AtomicBool::new(false));
        let before = sum_a(db);
        let writers = (0..n).map(|_| Self::writer(db, stop.clone())).collect();
        let transfers = Transfers { stop, writers };
        let started = Instant::now();
        while sum_a(db) == before {
            if started.elapsed() > Duration::from_secs(30) {
                let sent = transfers.stop();
                panic!("no transfer committed within 30 s ({sent} sent)");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        transfers
    }

    fn writer(db: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, String)> {
        let (host, port) = util::mysql::my_host_port();
        let mut child = Command::new("mariadb")
            .args(["--no-defaults", "--protocol=tcp", "--batch", "--user=root"])
            .arg(format!("--host={host}"))
            .arg(format!("--port={port}"))
            .arg(format!("--database={db}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting a writer");
        std::thread::spawn(move || {
            let mut stdin = child.stdin.take().expect("writer stdin");
            let mut sent = 0;
            while !stop.load(Ordering::SeqCst) {
                if stdin.write_all(TRANSFER.as_bytes()).is_err() {
                    break;
                }
                sent += 1;
            }
            drop(stdin);
            let out = child.wait_with_output().expect("writer");
            let failure = if out.status.success() {
                String::new()
            } else {
                format!("writer failed: {}", String::from_utf8_lossy(&out.stderr))
            };
            (sent, failure)
        })
    }

    /// Stop the writers and wait for them; returns how many transfers they sent. Panics if a
    /// writer's client failed.
    fn stop(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        let mut sent = 0;
        for writer in self.writers {
            let (n, failure) = writer.join().expect("writer thread");
            assert!(failure.is_empty(), "{failure}");
            sent += n;
        }
        sent
    }
}

/// Back up the accounts of `db` (connecting with `source_url`) to a local destination while
/// three writers run transfers, restore it with `--jobs 2`, and require the restored tables to
/// hold the invariant: both tables were read from one snapshot. `--chunk-size 1MiB` makes every
/// worker sharing the snapshot read key ranges of both tables (each is about 12 MB). Returns
/// the manifest.
fn backup_during_transfers_keeps_the_invariant(db: &str, source_url: &str, jobs: &str) -> Value {
    let (_dir, dest) = util::local_dest();
    let transfers = Transfers::start(db, 3);
    let before = sum_a(db);
    let first_key_before = first_mover(db);
    let backup = std::panic::catch_unwind(|| {
        my_streamdump_json(&[
            "backup",
            "--source",
            source_url,
            "--to",
            &dest,
            "--json",
            "--jobs",
            jobs,
            "--chunk-size",
            "1MiB",
        ])
    });
    let after = sum_a(db);
    let first_key_after = first_mover(db);
    let sent = transfers.stop();
    let report = backup.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert!(
        after < before,
        "no transfer committed while the backup ran ({sent} sent in all): the test proves nothing"
    );
    assert_eq!(total(db), 2 * ACCOUNTS * BALANCE, "the transfers themselves keep the invariant");

    let manifest_url = report["manifest"].as_str().expect("manifest URL").to_string();
    let manifest = util::local_manifest(&manifest_url);
    let consistency = &manifest["consistency"];
    let restored = my_restore_new(&manifest_url, "myrt_accounts_r", &["--jobs", "2"]);
    assert_eq!(my_count(&restored, "accounts_a"), ACCOUNTS);
    assert_eq!(my_count(&restored, "accounts_b"), ACCOUNTS);
    let keys = mariadb(&restored, "SELECT COUNT(*), MAX(id) - MIN(id) + 1 FROM movers");
    assert_eq!(
        keys,
        format!("{ACCOUNTS}\t{ACCOUNTS}"),
        "restored movers (rows, key span): one block of {ACCOUNTS} keys, each row once"
    );
    let restored_first = first_mover(&restored);
    assert!(
        first_key_before < first_key_after
            && (first_key_before..=first_key_after).contains(&restored_first),
        "movers' keys moved during the backup ({first_key_before} -> {first_key_after}) and \
         the restored block starts between ({restored_first})"
    );
    let restored_a = sum_a(&restored);
    assert_eq!(
        total(&restored),
        2 * ACCOUNTS * BALANCE,
        "sum(a) + sum(b) of the restored tables: the two tables were read from different \
         snapshots although the manifest claims {consistency} (restored sum(a) {restored_a}, \
         source sum(a) {before} before and {after} after the backup)"
    );
    assert!(
        (after..=before).contains(&restored_a),
        "the snapshot was taken during the backup: sum(a) {restored_a} not in [{after}, {before}]"
    );
    drop_my_db(&restored);
    manifest
}

/// The distinct key ranges a table was read in (none: read whole).
fn ranges_read(manifest: &Value, table: &str) -> Vec<String> {
    let mut ranges: Vec<String> = manifest["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter(|t| t["name"] == table)
        .flat_map(|t| t["chunks"].as_array().expect("chunks"))
        .filter_map(|c| c["range"].as_str().map(str::to_string))
        .collect();
    ranges.sort();
    ranges.dedup();
    ranges
}

#[test]
fn parallel_backup_under_concurrent_transfers_is_one_snapshot() {
    let source = fresh_my_db("myrt_consistent");
    create_accounts(&source);
    let url = util::mysql::my_url(&source);
    let manifest = backup_during_transfers_keeps_the_invariant(&source, &url, "2");
    let consistency = &manifest["consistency"];
    for table in ["accounts_a", "accounts_b", "movers"] {
        let ranges = ranges_read(&manifest, table);
        assert!(ranges.len() >= 2, "{table} read in several key ranges: {ranges:?}");
    }

    assert_eq!(consistency["mode"], "ftwrl_snapshot", "{consistency:#}");
    assert_eq!(consistency["workers"], 2, "{consistency:#}");
    let binlog_file = consistency["binlog_file"].as_str().unwrap_or_default();
    let binlogs = mariadb("", "SHOW BINARY LOGS");
    assert!(
        !binlog_file.is_empty()
            && binlogs.lines().any(|l| l.split('\t').next() == Some(binlog_file)),
        "binlog_file {binlog_file:?} is one of the server's binary logs:\n{binlogs}\n{consistency:#}"
    );
    assert!(
        consistency["binlog_position"].as_u64().is_some_and(|p| p > 4),
        "binlog_position: {consistency:#}"
    );
    assert!(consistency["gtid_set"].is_string(), "gtid_set recorded: {consistency:#}");

    drop_my_db(&source);
}

/// Without FTWRL the backup claims only what it got: `single_snapshot` (one connection reads
/// every table), or, on MariaDB, `snapshot_position_match` (several workers whose consistent
/// snapshots reported the same `Binlog_snapshot_file/position`, so they saw the same instant; the
/// engine's rung between FTWRL and one connection). Never `ftwrl_snapshot`.
fn assert_lock_free_mode(consistency: &Value, jobs: u64) {
    match consistency["mode"].as_str() {
        Some("single_snapshot") => {
            assert_eq!(consistency["workers"], 1, "single_snapshot is one worker: {consistency:#}")
        }
        Some("snapshot_position_match") => {
            assert_eq!(consistency["workers"], jobs, "{consistency:#}");
            assert!(
                consistency["binlog_file"].as_str().is_some_and(|f| !f.is_empty())
                    && consistency["binlog_position"].as_u64().is_some(),
                "snapshot_position_match records the shared position: {consistency:#}"
            );
        }
        _ => panic!("a backup without RELOAD claims {consistency:#}"),
    }
}

#[test]
fn backup_without_reload_privilege_falls_back_without_claiming_ftwrl() {
    let source = fresh_my_db("myrt_norel");
    create_accounts(&source);
    let user = util::unique("sd_norel");
    let password = "Norel-pw-7f3a";
    mariadb(
        "",
        &format!(
            "CREATE USER {user}@'%' IDENTIFIED BY {pw}; \
             GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON {db}.* TO {user}@'%'",
            user = quote_str(&user),
            pw = quote_str(password),
            db = quote_ident(&source),
        ),
    );
    // The premise: this user cannot take the global read lock.
    let ftwrl = mariadb_as(&user, password, &source, "FLUSH TABLES WITH READ LOCK");
    assert!(!ftwrl.status.success(), "FTWRL should be denied to {user}");
    let denied = String::from_utf8_lossy(&ftwrl.stderr);
    assert!(denied.contains("RELOAD"), "{denied}");
    let url = my_url_as(&source, &user, password);

    // A quiet server, one worker asked for: one connection, the data and schema exact.
    let expected = my_fingerprint(&source);
    let (_dir, dest) = util::local_dest();
    let report =
        my_streamdump_json(&["backup", "--source", &url, "--to", &dest, "--json", "--jobs", "1"]);
    let manifest_url = report["manifest"].as_str().expect("manifest URL").to_string();
    let manifest_text = std::fs::read_to_string(manifest_url.trim_start_matches("file://"))
        .expect("reading the manifest");
    assert!(!manifest_text.contains(password), "the password appears in the manifest");
    assert!(!report.to_string().contains(password), "the password appears in the report");
    let consistency = &util::local_manifest(&manifest_url)["consistency"];
    assert_lock_free_mode(consistency, 1);
    assert_eq!(consistency["workers"], 1, "{consistency:#}");
    let restored = my_restore_new(&manifest_url, "myrt_norel_r", &[]);
    assert_data_equal(&source, &expected, &restored, "restore of a backup made without FTWRL");
    assert_schema_equal(&source, &restored, "restore of a backup made without FTWRL");
    drop_my_db(&restored);

    // Two workers asked for while transfers commit: whatever mode it falls back to, the two
    // tables come from one snapshot.
    let manifest = backup_during_transfers_keeps_the_invariant(&source, &url, "2");
    assert_lock_free_mode(&manifest["consistency"], 2);

    mariadb("", &format!("DROP USER {}@'%'", quote_str(&user)));
    drop_my_db(&source);
}
