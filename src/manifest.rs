//! The manifest: what a backup holds, written last as its commit point.
//!
//! A backup exists if and only if its `manifest.json` exists. Every object key inside it is
//! relative to the manifest's own directory, so a backup can be moved or copied as a unit. The
//! `format` field is checked before anything else is parsed: a reader meeting a format it does
//! not know stops with an error that says which formats it reads. Field names are stable once
//! released; new optional fields may be added within a format.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::Digest;
use crate::error::{Error, Result};

/// The manifest format this version writes and reads.
pub const FORMAT: u64 = 1;

/// File name of the manifest inside a backup's directory.
pub const FILE_NAME: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u64,
    pub tool: Tool,
    pub backup_id: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub snapshot_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub source: SourceInfo,
    pub consistency: Consistency,
    pub options: Options,
    pub schema: Vec<SchemaObject>,
    pub tables: Vec<Table>,
    #[serde(default)]
    pub sequences: Vec<SequenceValue>,
    #[serde(default)]
    pub requires: Requires,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn current() -> Self {
        Tool { name: "streamdump".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `postgres` or `mysql`.
    pub engine: String,
    pub server_version: String,
    pub database: String,
    /// Encoding of the data objects' text (the server's database encoding).
    pub encoding: String,
    /// The database's collation and character classification locales (`restore --create`
    /// recreates the database with them when the target has them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lc_collate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lc_ctype: Option<String>,
}

/// The consistency actually achieved, with its evidence. Never more than was achieved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consistency {
    /// e.g. `exported_snapshot` (Postgres, all workers share one snapshot).
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_lsn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_position: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid_set: Option<String>,
    pub workers: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    pub compression: Compression,
    pub chunk_bytes: u64,
    pub part_bytes: u64,
    /// Schemas selected (empty: every non-system schema).
    pub schemas: Vec<String>,
    pub exclude_tables: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compression {
    pub codec: String,
    pub level: i32,
}

/// Which phase of a restore a schema script belongs to (pg_dump's sections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    PreData,
    PostData,
}

impl Section {
    pub fn file_stem(self) -> &'static str {
        match self {
            Section::PreData => "pre-data",
            Section::PostData => "post-data",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaObject {
    pub section: Section,
    pub key: String,
    /// Number of DDL statements in the script.
    pub objects: u64,
    #[serde(flatten)]
    pub digest: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// Columns in the order the data objects hold them.
    pub columns: Vec<String>,
    /// How rows are encoded in the data objects (`copy_text` for Postgres, `mysql_tsv`).
    pub format: String,
    /// Per column, how its values are encoded (`text`, `hex`, `json` in `mysql_tsv`); absent
    /// when the format has one encoding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encodings: Vec<String>,
    /// Set when the data holds only the rows this condition selects (an extension's
    /// configuration table, whose other rows `CREATE EXTENSION` makes): a restore adds them to
    /// the table and, to undo, deletes only them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Set when the rows are loaded through the root of the table's partition tree (schema,
    /// name): it is partitioned by the hash of an enum, which differs between databases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_via: Option<(String, String)>,
    pub rows: u64,
    pub chunks: Vec<Chunk>,
}

impl Table {
    /// `schema.name` for messages.
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    pub fn stored_bytes(&self) -> u64 {
        self.chunks.iter().map(|c| c.digest.stored_bytes).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub key: String,
    /// The key range whose rows this chunk holds (a SQL condition), when the table was read in
    /// ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    #[serde(flatten)]
    pub digest: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceValue {
    pub schema: String,
    pub name: String,
    pub last_value: i64,
    pub is_called: bool,
}

/// What a restore needs in the target cluster before it changes anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requires {
    /// Roles every restore needs (those named by row-level security policies).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Roles that own objects: not needed by a restore with `--no-owner`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_roles: Vec<String>,
    /// Roles named by privileges (grantees, grantors, default privileges): not needed by a
    /// restore with `--no-privileges`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privilege_roles: Vec<String>,
    #[serde(default)]
    pub extensions: Vec<Extension>,
}

impl Requires {
    /// The roles a restore needs, given what it leaves out; sorted, each once.
    pub fn roles_needed(&self, no_owner: bool, no_privileges: bool) -> Vec<String> {
        let mut roles: std::collections::BTreeSet<&String> = self.roles.iter().collect();
        if !no_owner {
            roles.extend(&self.owner_roles);
        }
        if !no_privileges {
            roles.extend(&self.privilege_roles);
        }
        roles.into_iter().cloned().collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub tables: u64,
    pub rows: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
}

impl Totals {
    /// The totals of a backup made of these schema scripts and tables.
    pub fn of(schema: &[SchemaObject], tables: &[Table]) -> Self {
        Totals {
            tables: tables.len() as u64,
            rows: tables.iter().map(|t| t.rows).sum(),
            raw_bytes: tables.iter().flat_map(|t| &t.chunks).map(|c| c.digest.raw_bytes).sum(),
            stored_bytes: schema.iter().map(|s| s.digest.stored_bytes).sum::<u64>()
                + tables.iter().map(Table::stored_bytes).sum::<u64>(),
        }
    }
}

impl Manifest {
    /// Every object the backup consists of, schema scripts first, with the digest to check and
    /// whether its row count is meaningful.
    pub fn objects(&self) -> impl Iterator<Item = (&str, &Digest, bool)> {
        let schema = self.schema.iter().map(|s| (s.key.as_str(), &s.digest, false));
        let data = self
            .tables
            .iter()
            .flat_map(|t| t.chunks.iter().map(|c| (c.key.as_str(), &c.digest, true)));
        schema.chain(data)
    }

    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self)
            .map_err(|e| Error::manifest(FILE_NAME, format!("cannot serialise: {e}")))
    }

    /// Parse a manifest, checking `format` first. `key` names the object in errors.
    pub fn from_json(key: &str, bytes: &[u8]) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::manifest(key, format!("not valid JSON: {e}")))?;
        match value.get("format") {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(FORMAT) => {}
            Some(other) => {
                return Err(Error::manifest(
                    key,
                    format!(
                        "unknown manifest format {other}; this streamdump {} reads format {FORMAT}",
                        env!("CARGO_PKG_VERSION")
                    ),
                ));
            }
            None => {
                return Err(Error::manifest(key, "no \"format\" field: not a streamdump manifest"));
            }
        }
        let manifest: Manifest = serde_json::from_value(value)
            .map_err(|e| Error::manifest(key, format!("malformed: {e}")))?;
        manifest.validate(key)?;
        Ok(manifest)
    }

    /// Structural checks a reader relies on: keys are relative and stay inside the backup,
    /// totals add up.
    fn validate(&self, key: &str) -> Result<()> {
        if self.status != "complete" {
            return Err(Error::manifest(
                key,
                format!("backup status is '{}', not complete", self.status),
            ));
        }
        for (object, _, _) in self.objects() {
            if object.starts_with('/') || object.split('/').any(|s| s == ".." || s.is_empty()) {
                return Err(Error::manifest(
                    key,
                    format!("object key '{object}' leaves the backup"),
                ));
            }
        }
        for table in &self.tables {
            let sum: u64 = table.chunks.iter().map(|c| c.digest.rows).sum();
            if sum != table.rows {
                return Err(Error::manifest(
                    key,
                    format!(
                        "table {} rows {} != sum of its chunks {sum}",
                        table.display_name(),
                        table.rows
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_needs_owners_and_grantees_only_if_it_keeps_them() {
        let requires = Requires {
            roles: vec!["policy_role".into()],
            owner_roles: vec!["owner".into(), "both".into()],
            privilege_roles: vec!["both".into(), "reader".into()],
            extensions: Vec::new(),
        };
        assert_eq!(requires.roles_needed(false, false), ["both", "owner", "policy_role", "reader"]);
        assert_eq!(requires.roles_needed(true, false), ["both", "policy_role", "reader"]);
        assert_eq!(requires.roles_needed(false, true), ["both", "owner", "policy_role"]);
        assert_eq!(requires.roles_needed(true, true), ["policy_role"]);
    }

    pub(crate) fn sample() -> Manifest {
        let t = "2026-11-25T21:04:54Z".parse().unwrap();
        Manifest {
            format: FORMAT,
            tool: Tool::current(),
            backup_id: "20261125T210454Z-7f3a".into(),
            status: "complete".into(),
            started_at: t,
            snapshot_at: t,
            finished_at: t,
            source: SourceInfo {
                engine: "postgres".into(),
                server_version: "15.18".into(),
                database: "shop".into(),
                encoding: "UTF8".into(),
                lc_collate: Some("C.UTF-8".into()),
                lc_ctype: Some("C.UTF-8".into()),
            },
            consistency: Consistency {
                mode: "exported_snapshot".into(),
                snapshot_id: Some("00000003-0000001B-1".into()),
                wal_lsn: Some("0/3000060".into()),
                binlog_file: None,
                binlog_position: None,
                gtid_set: None,
                workers: 2,
            },
            options: Options {
                compression: Compression { codec: "zstd".into(), level: 1 },
                chunk_bytes: 1 << 30,
                part_bytes: 8 << 20,
                schemas: vec!["public".into()],
                exclude_tables: vec![],
            },
            schema: vec![SchemaObject {
                section: Section::PreData,
                key: "schema/pre-data.sql.zst".into(),
                objects: 3,
                digest: Digest { rows: 10, raw_bytes: 100, stored_bytes: 50, ..Default::default() },
            }],
            tables: vec![Table {
                schema: "public".into(),
                name: "orders".into(),
                columns: vec!["id".into(), "note".into()],
                format: "copy_text".into(),
                encodings: Vec::new(),
                filter: None,
                load_via: None,
                rows: 3,
                chunks: vec![Chunk {
                    key: "data/public/orders/000000.copy.zst".into(),
                    range: None,
                    digest: Digest { rows: 3, ..Default::default() },
                }],
            }],
            sequences: vec![],
            requires: Requires::default(),
            skipped: vec![],
            totals: Totals { tables: 1, rows: 3, raw_bytes: 0, stored_bytes: 0 },
        }
    }

    #[test]
    fn round_trips_through_json() {
        let m = sample();
        let json = m.to_json().unwrap();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(text.contains("\"format\": 1"));
        assert!(text.contains("\"section\": \"pre_data\""));
        assert!(text.contains("\"raw_sha256\""), "digest fields are flattened into chunks");
        assert_eq!(Manifest::from_json("m", &json).unwrap(), m);
    }

    #[test]
    fn unknown_format_is_rejected_with_a_clear_error() {
        let mut v: serde_json::Value =
            serde_json::from_slice(&sample().to_json().unwrap()).unwrap();
        v["format"] = 2.into();
        let err = Manifest::from_json("db/x/manifest.json", &serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("db/x/manifest.json") && err.contains("unknown manifest format 2"),
            "{err}"
        );
        let err = Manifest::from_json("m", b"{\"hello\": 1}").unwrap_err().to_string();
        assert!(err.contains("not a streamdump manifest"), "{err}");
        let err = Manifest::from_json("m", b"not json").unwrap_err().to_string();
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn keys_escaping_the_backup_are_rejected() {
        let mut m = sample();
        m.tables[0].chunks[0].key = "../other/secret".into();
        let err = Manifest::from_json("m", &m.to_json().unwrap()).unwrap_err().to_string();
        assert!(err.contains("leaves the backup"), "{err}");
    }

    #[test]
    fn row_totals_must_add_up() {
        let mut m = sample();
        m.tables[0].rows = 4;
        assert!(Manifest::from_json("m", &m.to_json().unwrap()).is_err());
    }
}
