//! MariaDB schema objects through a real backup and restore (MariaDB 10.11, started by
//! `scripts/dev.sh up`), the behaviours `src/engine/mysql/ddl.rs` and `src/plan.rs` only
//! unit-test:
//!
//! - views over views are created after the views they read, even when a view's name sorts
//!   before them (`a_top` over `v3` over `v2` over `v1`), and an EVENT created under a non-UTC
//!   session `time_zone` keeps that time zone and its STARTS instant (with a trigger and a stored
//!   function alongside): `mariadb-dump --no-data --routines --events --triggers` of source and
//!   restore identical, the top view returns the same rows, `information_schema.EVENTS` and
//!   `mysql.event` agree;
//! - DEFINERs of a view, a procedure, a trigger and an event owned by another account are kept
//!   by default, become the restoring account with `--definer current` and the named account with
//!   `--definer user@host`, and nothing else in the schema changes.
//!
//! Run: `source .services/env && cargo test --test mysql_objects`.

mod util;

use std::collections::BTreeMap;

use util::mysql::{
    MyCleanup, assert_data_equal, assert_schema_equal, drop_my_db, fresh_my_db, mariadb,
    mariadb_as, mariadb_script, my_backup, my_base, my_fingerprint, my_password, my_restore,
    my_restore_new, quote_ident, quote_str, schema_dump, unified_diff, unused_my_db,
};

/// One row of `sql` (run as root on `db`) as its tab-separated fields; panics unless there is
/// exactly one row.
fn one_row(db: &str, sql: &str) -> Vec<String> {
    let out = mariadb(db, sql);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "expected one row from {sql:?} on {db}, got:\n{out}");
    lines[0].split('\t').map(str::to_string).collect()
}

// --------------------------------------------------------------------- views and events

/// What `information_schema.EVENTS` and `mysql.event` (STARTS as stored, in UTC) say of event
/// `name` in `db`, as `column -> value`.
fn event_facts(db: &str, name: &str) -> BTreeMap<&'static str, String> {
    const COLUMNS: &[&str] = &[
        "TIME_ZONE",
        "STARTS",
        "INTERVAL_VALUE",
        "INTERVAL_FIELD",
        "STATUS",
        "ON_COMPLETION",
        "EVENT_DEFINITION",
        "SQL_MODE",
        "EVENT_COMMENT",
        "DEFINER",
    ];
    let values = one_row(
        "",
        &format!(
            "SELECT {}, (SELECT CAST(e.starts AS CHAR) FROM mysql.event e \
                         WHERE e.db = i.EVENT_SCHEMA AND e.name = i.EVENT_NAME) \
             FROM information_schema.EVENTS i WHERE EVENT_SCHEMA = {} AND EVENT_NAME = {}",
            COLUMNS.iter().map(|c| format!("i.{c}")).collect::<Vec<_>>().join(", "),
            quote_str(db),
            quote_str(name)
        ),
    );
    assert_eq!(values.len(), COLUMNS.len() + 1, "event {db}.{name}: {values:?}");
    COLUMNS.iter().copied().chain(["mysql.event.starts (UTC)"]).zip(values).collect()
}

#[test]
fn events_and_views_over_views_round_trip() {
    let mut cleanup = MyCleanup::default();
    let source = cleanup.db(fresh_my_db("myobj_src"));
    mariadb_script(
        &source,
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL);
         CREATE TABLE tick_log (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20));
         DELIMITER //
         CREATE FUNCTION label(x VARCHAR(20)) RETURNS VARCHAR(40) DETERMINISTIC
         BEGIN
           RETURN CONCAT('<', x, '>');
         END //
         CREATE TRIGGER t_shout BEFORE INSERT ON t FOR EACH ROW
         BEGIN
           SET NEW.v = UPPER(NEW.v);
         END //
         DELIMITER ;
         INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four');
         CREATE VIEW v1 AS SELECT id, v FROM t WHERE id > 1;
         CREATE VIEW v2 AS SELECT id, v, id * 10 AS tens FROM v1;
         CREATE VIEW v3 AS SELECT id, v, tens FROM v2 WHERE tens < 40;
         CREATE VIEW a_top AS SELECT id, label(v) AS shown, tens FROM v3;
         SET time_zone = '+05:30';
         CREATE EVENT daily_tick ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00'
           ON COMPLETION PRESERVE ENABLE COMMENT 'created at +05:30'
           DO INSERT INTO tick_log (note) VALUES ('tick');",
    );
    // The premises: a_top sorts before the views it reads, and returns rows through all of them.
    let top_rows = mariadb(&source, "SELECT * FROM a_top ORDER BY id");
    assert_eq!(top_rows, "2\t<TWO>\t20\n3\t<THREE>\t30", "a_top in the source");
    let source_event = event_facts(&source, "daily_tick");
    assert_eq!(source_event["TIME_ZONE"], "+05:30", "source event: {source_event:#?}");
    assert_eq!(
        source_event["mysql.event.starts (UTC)"], "2029-12-31 18:30:00",
        "source event STARTS is stored in UTC: {source_event:#?}"
    );
    let expected = my_fingerprint(&source);

    let (_dir, dest) = util::local_dest();
    let manifest = my_backup(&source, &dest, &[]);
    let restored = cleanup.db(my_restore_new(&manifest, "myobj_dst", &[]));

    assert_schema_equal(&source, &restored, "restore of views over views, an event, a trigger");
    assert_data_equal(&source, &expected, &restored, "restore of views over views");

    let restored_top = mariadb(&restored, "SELECT * FROM a_top ORDER BY id");
    assert_eq!(restored_top, top_rows, "SELECT * FROM a_top: restored (left) vs source (right)");

    let restored_event = event_facts(&restored, "daily_tick");
    assert_eq!(
        restored_event, source_event,
        "information_schema.EVENTS / mysql.event of daily_tick: restored (left) vs source (right)"
    );

    // The restored trigger and function work in the restored database.
    mariadb(&restored, "INSERT INTO t VALUES (5, 'five')");
    assert_eq!(
        mariadb(&restored, "SELECT v, label(v) FROM t WHERE id = 5"),
        "FIVE\t<FIVE>",
        "restored trigger t_shout and function label"
    );
    drop_my_db(&source);
}

// ------------------------------------------------------------------------------- definers

/// `(kind, name) -> DEFINER` of every view, routine, trigger and event of `db`, from
/// `information_schema`.
fn definers(db: &str) -> BTreeMap<(String, String), String> {
    let db = quote_str(db);
    let out = mariadb(
        "",
        &format!(
            "SELECT 'view', TABLE_NAME, DEFINER FROM information_schema.VIEWS \
               WHERE TABLE_SCHEMA = {db} \
             UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES \
               WHERE ROUTINE_SCHEMA = {db} \
             UNION ALL SELECT 'trigger', TRIGGER_NAME, DEFINER FROM information_schema.TRIGGERS \
               WHERE TRIGGER_SCHEMA = {db} \
             UNION ALL SELECT 'event', EVENT_NAME, DEFINER FROM information_schema.EVENTS \
               WHERE EVENT_SCHEMA = {db} \
             ORDER BY 1, 2"
        ),
    );
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 3, "definer listing line: {line:?}");
            ((f[0].to_string(), f[1].to_string()), f[2].to_string())
        })
        .collect()
}

/// Every object of `db` has DEFINER `want` (as `user@host`), and the objects are those of
/// `source`.
fn assert_definers(source: &str, db: &str, want: &str, context: &str) {
    let expected: BTreeMap<_, _> =
        definers(source).into_keys().map(|k| (k, want.to_string())).collect();
    let actual = definers(db);
    assert_eq!(actual, expected, "{context}: DEFINERs in {db} (left) vs expected (right)");
}

/// The schema dump of `restored` equals the source's with every `` `user`@`host` `` of `from`
/// replaced by `to`: the DEFINERs changed and nothing else did.
fn assert_schema_equal_but_definer(source: &str, restored: &str, from: &str, to: &str, what: &str) {
    let want = schema_dump(source).replace(from, to);
    let got = schema_dump(restored);
    assert!(
        want == got,
        "{what}: mariadb-dump of {restored} differs from {source} with {from} read as {to}:\n{}",
        unified_diff(source, &want, restored, &got)
    );
}

#[test]
fn definers_are_kept_by_default_and_rewritten_by_option() {
    let mut cleanup = MyCleanup::default();
    let source = cleanup.db(fresh_my_db("myobj_def"));

    // The databases the three restores create, named now so the accounts can be granted on
    // them: SHOW CREATE VIEW (and so mariadb-dump) prints a view's column names qualified with
    // its database when the view's DEFINER has no privileges there.
    let kept = cleanup.db(unused_my_db("myobj_def_keep"));
    let as_current = cleanup.db(unused_my_db("myobj_def_cur"));
    let as_named = cleanup.db(unused_my_db("myobj_def_named"));

    // Two accounts other than the one streamdump restores as: the recorded DEFINER, and the one
    // `--definer user@host` names.
    let owner = util::unique("sd_definer");
    let other = util::unique("sd_other");
    let owner_account = format!("{}@'%'", quote_str(&owner));
    let other_account = format!("{}@'localhost'", quote_str(&other));
    cleanup.account(&owner_account);
    cleanup.account(&other_account);
    for account in [&owner_account, &other_account] {
        // Never logs in: no password, locked (a locked account still owns objects).
        mariadb("", &format!("CREATE USER {account} ACCOUNT LOCK"));
        for db in [&source, &kept, &as_current, &as_named] {
            mariadb(
                "",
                &format!(
                    "GRANT SELECT, INSERT, DELETE, EXECUTE, TRIGGER, EVENT ON {}.* TO {account}",
                    quote_ident(db)
                ),
            );
        }
    }
    let owner_definer = format!("DEFINER = {owner_account}");
    mariadb_script(
        &source,
        &format!(
            "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL);
             CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20));
             INSERT INTO t VALUES (1, 10), (2, 20);
             CREATE {owner_definer} SQL SECURITY DEFINER VIEW v_owned AS SELECT id, n FROM t;
             DELIMITER //
             CREATE {owner_definer} PROCEDURE p_owned()
             BEGIN
               SELECT COUNT(*) FROM t;
             END //
             CREATE {owner_definer} TRIGGER tr_owned BEFORE INSERT ON t FOR EACH ROW
             BEGIN
               SET NEW.n = NEW.n + 1;
             END //
             DELIMITER ;
             CREATE {owner_definer} EVENT ev_owned ON SCHEDULE EVERY 1 HOUR
               STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM log;"
        ),
    );
    let owner_at = format!("{owner}@%");
    let source_definers = definers(&source);
    let kinds: Vec<&str> = source_definers.keys().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["PROCEDURE", "event", "trigger", "view"], "{source_definers:#?}");
    assert_definers(&source, &source, &owner_at, "source");

    // The account streamdump restores as, as the server names it.
    let base = url::Url::parse(&my_base()).expect("STREAMDUMP_TEST_MYSQL is a URL");
    let who = mariadb_as(base.username(), &my_password(), &source, "SELECT CURRENT_USER()");
    assert!(who.status.success(), "CURRENT_USER(): {}", util::stderr(&who));
    let current = util::stdout(&who).trim().to_string();
    assert!(
        current.contains('@') && current != owner_at,
        "the restoring account {current:?} differs from the recorded definer"
    );

    let (_dir, dest) = util::local_dest();
    let manifest = my_backup(&source, &dest, &[]);

    // (a) Default: kept.
    my_restore(&manifest, &kept, &["--create"]);
    assert_definers(&source, &kept, &owner_at, "restore with the default --definer");
    assert_schema_equal(&source, &kept, "restore with the default --definer");

    // (b) --definer current: the restoring account.
    my_restore(&manifest, &as_current, &["--create", "--definer", "current"]);
    assert_definers(&source, &as_current, &current, "restore with --definer current");
    let (cur_user, cur_host) = current.rsplit_once('@').expect("user@host");
    assert_schema_equal_but_definer(
        &source,
        &as_current,
        &format!("{}@`%`", quote_ident(&owner)),
        &format!("{}@{}", quote_ident(cur_user), quote_ident(cur_host)),
        "restore with --definer current",
    );

    // (c) --definer user@host: that account.
    let named = format!("{other}@localhost");
    my_restore(&manifest, &as_named, &["--create", "--definer", &named]);
    assert_definers(&source, &as_named, &named, "restore with --definer user@host");
    assert_schema_equal_but_definer(
        &source,
        &as_named,
        &format!("{}@`%`", quote_ident(&owner)),
        &format!("{}@`localhost`", quote_ident(&other)),
        "restore with --definer user@host",
    );
}
