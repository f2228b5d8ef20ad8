//! A restore into a MariaDB server that refuses `LOAD DATA LOCAL INFILE` (`local_infile=OFF`,
//! the default in some managed parameter groups) fails in preflight, with a message that says
//! so, before anything is created.
//!
//! Its own test binary because it changes a global server setting: cargo runs test binaries one
//! after another, so no other restore sees the setting. The setting is put back even when the
//! test fails.
//!
//! Run: `source .services/env && cargo test --test mysql_local_infile`.

mod util;

use util::mysql::{
    drop_my_db, fresh_my_db, mariadb, mariadb_script, my_backup, my_db_exists, my_url, unused_my_db,
};
use util::{stderr, stdout};

/// Turns `local_infile` off for its lifetime.
struct LocalInfileOff;

impl LocalInfileOff {
    fn new() -> Self {
        mariadb("", "SET GLOBAL local_infile = 0");
        LocalInfileOff
    }
}

impl Drop for LocalInfileOff {
    fn drop(&mut self) {
        mariadb("", "SET GLOBAL local_infile = 1");
    }
}

#[test]
fn restore_without_local_infile_fails_in_preflight_naming_it() {
    let source = fresh_my_db("myli_src");
    mariadb_script(&source, "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2);");
    let (_dir, dest) = util::local_dest();
    let manifest = my_backup(&source, &dest, &[]);

    let target = unused_my_db("myli_dst");
    let target_url = my_url(&target);
    let out = {
        let _off = LocalInfileOff::new();
        util::streamdump(&[
            "restore",
            "--from",
            &manifest,
            "--target",
            &target_url,
            "--create",
            "--json",
        ])
    };
    assert!(!out.status.success(), "restore succeeded without local_infile: {}", stdout(&out));
    let first = stderr(&out).lines().next().unwrap_or_default().to_string();
    assert!(
        first.starts_with("error:") && first.contains("local_infile"),
        "the first stderr line names local_infile: {first:?}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON error");
    assert_eq!(report["error"]["type"], "DatabaseError", "{report}");
    assert!(
        !my_db_exists(&target),
        "the database created by --create is dropped again when preflight fails"
    );

    // With local_infile back on, the same restore works.
    let out =
        util::streamdump(&["restore", "--from", &manifest, "--target", &target_url, "--create"]);
    assert!(out.status.success(), "restore with local_infile on: {}", stderr(&out));
    assert_eq!(mariadb(&target, "SELECT COUNT(*) FROM t"), "2");
    drop_my_db(&target);
    drop_my_db(&source);
}
