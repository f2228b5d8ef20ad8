//! The two checks a MySQL restore makes after `LOAD DATA LOCAL INFILE` of a chunk and before
//! its commit, proved against the real MariaDB server (started by `scripts/dev.sh up`) with
//! chunks forged so that their hashes still match the manifest (`verify` passes them):
//!
//! - a chunk whose load raises a warning (here a row missing its last field: MariaDB's 1261,
//!   only a warning under the restore session's non-strict `sql_mode`) is rolled back, and the
//!   restore fails naming the chunk, its table and the warning;
//! - a chunk that loads a different number of rows than the manifest records (here a row ending
//!   in an escaping backslash, which joins it with the next line: one row fewer, no warning) is
//!   rolled back, and the restore fails naming the chunk, its table and both counts. A manifest
//!   edited to record one row more than the chunk holds is refused too, by the reader's own
//!   newline count (which `verify` also makes), before the load can commit.
//!
//! In both cases the target table is left empty, a `--create` restore drops its database again,
//! and no password appears in the output.
//!
//! Run: `source .services/env && cargo test --test mysql_restore_checks`.

mod util;

use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use util::mysql::{
    MyCleanup, fresh_my_db, mariadb_script, my_backup, my_count, my_db_exists, my_password,
    my_streamdump_json, my_tables, my_url, unused_my_db,
};
use util::{stderr, stdout};

/// Longest any single run of the binary may take before the test kills it and fails.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

// ------------------------------------------------------------------------------------ helpers

fn run(args: &[&str]) -> Output {
    util::cli::run_within(args, RUN_DEADLINE)
}

/// The run failed, its first stderr line is the error and names every needle, and the
/// application user's password appears nowhere in the output.
fn assert_failed_naming(out: &Output, needles: &[&str], what: &str) {
    util::cli::assert_failed_naming(out, needles, &[&my_password()], what);
}

/// The URL of an object of the backup whose manifest is at `manifest_url`, as errors name it.
fn object_url(manifest_url: &str, key: &str) -> String {
    format!("{}/{key}", manifest_url.strip_suffix("/manifest.json").expect("manifest URL"))
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn manifest_path(manifest_url: &str) -> &str {
    manifest_url.strip_prefix("file://").expect("local manifest")
}

fn write_manifest(manifest_url: &str, manifest: &Value) {
    let json = serde_json::to_vec_pretty(manifest).expect("manifest JSON");
    std::fs::write(manifest_path(manifest_url), json).expect("writing manifest.json");
}

/// The key of the one data chunk of `table`.
fn only_chunk(manifest: &Value, table: &str) -> String {
    let entry = manifest["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"] == table)
        .unwrap_or_else(|| panic!("table {table} not in the manifest: {manifest}"));
    let chunks = entry["chunks"].as_array().expect("chunks");
    assert_eq!(chunks.len(), 1, "{table} should be one chunk: {entry}");
    chunks[0]["key"].as_str().expect("chunk key").to_string()
}

/// The manifest's entry for the chunk `key` (and the index of its table).
fn chunk_entry<'a>(manifest: &'a mut Value, key: &str) -> (&'a mut Value, usize) {
    let tables = manifest["tables"].as_array_mut().expect("tables");
    for (t, table) in tables.iter_mut().enumerate() {
        for chunk in table["chunks"].as_array_mut().expect("chunks") {
            if chunk["key"] == key {
                return (chunk, t);
            }
        }
    }
    panic!("chunk {key} not in the manifest");
}

/// Replace the raw (decompressed) content of the local chunk `key` with `forge(raw)` and record
/// the new content's digest in manifest.json (and its totals), so that the backup's hashes
/// match again. The forged content must hold as many newlines as the original.
fn forge_chunk(manifest_url: &str, key: &str, forge: impl FnOnce(&[u8]) -> Vec<u8>) {
    let path = util::local_object(manifest_url, key);
    let stored = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {key}: {e}"));
    let raw = zstd::decode_all(stored.as_slice()).expect("decompressing the chunk");
    let forged = forge(&raw);
    let newlines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
    assert_eq!(newlines(&forged), newlines(&raw), "the forgery keeps the row count");
    assert_ne!(forged, raw, "the forgery changes the chunk");
    let restored = zstd::encode_all(forged.as_slice(), 3).expect("compressing the chunk");
    std::fs::write(&path, &restored).unwrap_or_else(|e| panic!("writing {key}: {e}"));

    let mut manifest = util::local_manifest(manifest_url);
    let (chunk, _) = chunk_entry(&mut manifest, key);
    let old_raw = chunk["raw_bytes"].as_u64().expect("raw_bytes");
    let old_stored = chunk["stored_bytes"].as_u64().expect("stored_bytes");
    assert_eq!(old_stored, stored.len() as u64, "the manifest's stored_bytes of {key}");
    assert_eq!(chunk["raw_sha256"], hex_sha256(&raw), "the manifest's raw_sha256 of {key}");
    assert_eq!(chunk["stored_sha256"], hex_sha256(&stored), "the manifest's stored_sha256");
    chunk["raw_bytes"] = forged.len().into();
    chunk["raw_sha256"] = hex_sha256(&forged).into();
    chunk["stored_bytes"] = restored.len().into();
    chunk["stored_sha256"] = hex_sha256(&restored).into();
    let totals = &mut manifest["totals"];
    let shift = |value: &mut Value, old: u64, new: usize| {
        *value = (value.as_u64().expect("a total") - old + new as u64).into();
    };
    shift(&mut totals["raw_bytes"], old_raw, forged.len());
    shift(&mut totals["stored_bytes"], old_stored, restored.len());
    write_manifest(manifest_url, &manifest);
}

/// `verify` of the backup passes: every object's hashes and row count match the manifest.
fn assert_verifies(manifest_url: &str, what: &str) {
    let report = my_streamdump_json(&["verify", "--from", manifest_url, "--json"]);
    assert_eq!(report["failures"], serde_json::json!([]), "verify of {what}: {report}");
}

/// Restore `manifest_url` into a new empty database and into a missing one with `--create`;
/// both must fail with a first stderr line naming every needle. The table `table` of the first
/// is created (by the schema scripts) but holds no row; the second database is dropped again.
fn assert_restores_fail(manifest_url: &str, table: &str, needles: &[&str], dbs: &mut MyCleanup) {
    let target = dbs.db(fresh_my_db("myrc_dst"));
    let out = run(&["restore", "--from", manifest_url, "--target", &my_url(&target)]);
    assert!(!out.status.success(), "the restore succeeded: {}{}", stdout(&out), stderr(&out));
    assert!(
        my_tables(&target).contains(&table.to_string()),
        "{table} should have been created before its data: {:?}\nstderr: {}",
        my_tables(&target),
        stderr(&out)
    );
    assert_eq!(my_count(&target, table), 0, "{table} must be rolled back to no rows");
    assert_failed_naming(&out, needles, "restore into an empty database");

    let created = dbs.db(unused_my_db("myrc_new"));
    let out = run(&["restore", "--from", manifest_url, "--target", &my_url(&created), "--create"]);
    assert_failed_naming(&out, needles, "restore --create");
    assert!(stderr(&out).contains("dropped again"), "stderr: {}", stderr(&out));
    assert!(!my_db_exists(&created), "restore --create left the database {created} behind");
}

/// Back up a fresh database made by `fixture`: (source database, backup directory, manifest
/// URL). The unforged backup verifies and restores `table` with `rows` rows, so whatever fails
/// later is the forgery's doing.
fn backup_of(
    fixture: &str,
    table: &str,
    rows: i64,
    dbs: &mut MyCleanup,
) -> (String, tempfile::TempDir, String) {
    let source = dbs.db(fresh_my_db("myrc_src"));
    mariadb_script(&source, fixture);
    let (dir, dest) = util::local_dest();
    let manifest_url = my_backup(&source, &dest, &[]);
    assert_verifies(&manifest_url, "the unforged backup");
    let control = dbs.db(unused_my_db("myrc_ok"));
    let out = run(&["restore", "--from", &manifest_url, "--target", &my_url(&control), "--create"]);
    assert!(out.status.success(), "restore of the unforged backup: {}", stderr(&out));
    assert_eq!(my_count(&control, table), rows, "the unforged backup restores every row");
    (source, dir, manifest_url)
}

// -------------------------------------------------------------------------------------- tests

#[test]
fn a_chunk_that_raises_a_warning_is_rolled_back_and_named() {
    let mut dbs = MyCleanup::default();
    let (source, _dir, manifest_url) = backup_of(
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, qty INT NOT NULL);
         INSERT INTO items VALUES (1, 'one', 10), (2, 'two', 20), (3, 'three', 30),
                                  (4, 'four', 40), (5, 'five', 50);",
        "items",
        5,
        &mut dbs,
    );
    let key = only_chunk(&util::local_manifest(&manifest_url), "items");
    // Row 3 loses its last field (qty): MariaDB fills in 0 and warns (1261). The restore
    // session's sql_mode is not strict, so this is a warning, not an error of LOAD DATA.
    forge_chunk(&manifest_url, &key, |raw| {
        let text = std::str::from_utf8(raw).expect("TSV text");
        let mut forged = String::new();
        for line in text.lines() {
            if line.starts_with("3\t") {
                let cut = line.rfind('\t').expect("a row with several fields");
                forged.push_str(&line[..cut]);
            } else {
                forged.push_str(line);
            }
            forged.push('\n');
        }
        assert!(forged.contains("3\tthree\n"), "row 3 was forged: {forged:?}");
        forged.into_bytes()
    });
    // The hashes match: a failing restore cannot come from the integrity check.
    assert_verifies(&manifest_url, "the backup with a forged chunk");

    let url = object_url(&manifest_url, &key);
    let table = format!("{source}.items");
    assert_restores_fail(
        &manifest_url,
        "items",
        &[
            &url,
            &format!("loading into table {table} raised"),
            "warning(s), rolled back",
            "doesn't contain data for all columns",
        ],
        &mut dbs,
    );
}

#[test]
fn a_chunk_loading_a_different_row_count_than_the_manifest_is_rolled_back_and_named() {
    let mut dbs = MyCleanup::default();
    let (source, _dir, manifest_url) = backup_of(
        "CREATE TABLE notes (body TEXT NOT NULL);
         INSERT INTO notes VALUES ('alpha'), ('beta'), ('gamma'), ('delta'), ('epsilon');",
        "notes",
        5,
        &mut dbs,
    );
    let key = only_chunk(&util::local_manifest(&manifest_url), "notes");
    let url = object_url(&manifest_url, &key);
    let table = format!("{source}.notes");
    let path = util::local_object(&manifest_url, &key);
    let (original_chunk, original_manifest) = (
        std::fs::read(&path).expect("reading the chunk"),
        std::fs::read(manifest_path(&manifest_url)).expect("reading manifest.json"),
    );

    // The manifest says 5 rows and the chunk holds 5 newlines, but "beta" now ends in an
    // escaping backslash: LOAD DATA reads "beta\ngamma" as one value, 4 rows, with no warning.
    forge_chunk(&manifest_url, &key, |raw| {
        let text = std::str::from_utf8(raw).expect("TSV text");
        assert!(text.contains("beta\n"), "TSV of notes: {text:?}");
        text.replacen("beta\n", "beta\\\n", 1).into_bytes()
    });
    assert_verifies(&manifest_url, "the backup with a forged chunk");
    assert_restores_fail(
        &manifest_url,
        "notes",
        &[&url, &format!("loaded 4 rows into {table}"), "the manifest says 5; rolled back"],
        &mut dbs,
    );

    // The chunk as it was, but the manifest records one row more (the table's total too, so
    // the manifest stays well-formed). The chunk's reader counts its newlines against the
    // manifest before the load may commit, so this is caught there (not by the commit gate,
    // which the forgery above reaches), and `verify` names the chunk as well.
    std::fs::write(&path, original_chunk).expect("putting the chunk back");
    std::fs::write(manifest_path(&manifest_url), original_manifest).expect("manifest back");
    let mut manifest = util::local_manifest(&manifest_url);
    let (chunk, t) = chunk_entry(&mut manifest, &key);
    assert_eq!(chunk["rows"], 5, "{chunk}");
    chunk["rows"] = 6.into();
    manifest["tables"][t]["rows"] = 6.into();
    manifest["totals"]["rows"] = (manifest["totals"]["rows"].as_u64().expect("rows") + 1).into();
    write_manifest(&manifest_url, &manifest);
    util::cli::assert_verify_names(&manifest_url, &url, RUN_DEADLINE);
    assert_restores_fail(
        &manifest_url,
        "notes",
        &[&url, "holds 5 rows, manifest says 6"],
        &mut dbs,
    );
}
