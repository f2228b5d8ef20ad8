//! Database engines behind two small traits: [`Source`] for backup, [`Target`] for restore.
//!
//! Execution model (backup): `backup.rs` opens a [`Source`], which begins one consistent
//! snapshot and describes it ([`Snapshot`]: the tables, the schema scripts, the evidence of
//! consistency). It then asks for [`SourceWorker`]s, each a separate connection that sees the
//! same snapshot, and streams each table's rows from one of them as [`RowBatch`]es: a batch
//! always ends on a row boundary, so the caller can roll over to a new chunk between batches.
//! Sequence values are read last, after the data.
//!
//! Restore: `restore.rs` opens a [`Target`], runs its preflight, executes schema scripts, and
//! loads each chunk through a [`Loader`] in its own transaction. The loader commits only when
//! the stream ended without error and the row count matches; an error item in the stream (the
//! verifying decoder's verdict) rolls the chunk back. Engines never see the codec or the store.

pub mod batch;
pub mod mysql;
pub mod postgres;
pub mod script;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::stream::Stream;

use crate::error::Result;
use crate::manifest::{Consistency, Requires, Section, SequenceValue, SourceInfo, Table};
use crate::plan::TablePattern;

/// Whole rows of one table, in the engine's data format.
#[derive(Debug, Clone)]
pub struct RowBatch {
    pub bytes: Bytes,
    pub rows: u64,
}

/// Rows of one table as they arrive from the database.
pub type RowStream = Pin<Box<dyn Stream<Item = Result<RowBatch>> + Send>>;

/// Raw (decoded, verified-so-far) bytes of one chunk, fed to a loader. A final `Err` item means
/// verification failed: the loader must roll back.
pub type RawStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// Which objects a backup covers.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Empty: every non-system schema.
    pub schemas: Vec<String>,
    pub exclude_tables: Vec<TablePattern>,
    /// Record objects the generator cannot reproduce instead of failing.
    pub skip_unsupported: bool,
    /// Tables bigger than this (on disk) are read in key ranges of about this size, which any
    /// worker may take, so one big table does not leave the other workers idle. 0: never.
    /// Engines that cannot split a table read it whole.
    pub split_bytes: u64,
}

/// A table to back up.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub schema: String,
    pub name: String,
    pub columns: Vec<String>,
    /// Data format name recorded in the manifest (`copy_text`, `mysql_tsv`).
    pub format: String,
    /// Per column, how its values are encoded in the data (recorded in the manifest; empty
    /// when the format has one encoding for every column).
    pub encodings: Vec<String>,
    /// Per column, the engine's type name (the engine's own hint for reading it; may be empty).
    pub column_types: Vec<String>,
    /// On-disk size, used to schedule big tables first.
    pub estimated_bytes: u64,
    /// Only the rows this SQL condition (`WHERE ...`) selects: an extension's configuration
    /// table, whose other rows `CREATE EXTENSION` makes.
    pub filter: Option<String>,
    /// Load the rows through this table (schema, name), the root of the partition tree, not
    /// into the table itself: its partition is a hash of an enum, whose hash changes between
    /// databases (pg_dump's --load-via-partition-root, which it forces for these too).
    pub load_via: Option<(String, String)>,
    /// SQL conditions that together select every row exactly once: the table is read one range
    /// at a time, possibly several at once on different workers of the same snapshot. Empty:
    /// read whole.
    pub ranges: Vec<String>,
}

impl TableSpec {
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The file extension of this table's data objects, before `.zst`.
    pub fn data_extension(&self) -> &'static str {
        if self.format == mysql::FORMAT_TSV { "tsv" } else { "copy" }
    }
}

/// One DDL script of a section.
#[derive(Debug, Clone)]
pub struct SchemaScript {
    pub section: Section,
    pub sql: String,
    pub statements: u64,
}

/// What a source's snapshot holds.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub info: SourceInfo,
    pub consistency: Consistency,
    pub snapshot_at: DateTime<Utc>,
    /// The schemas covered (resolved from the selection).
    pub schemas: Vec<String>,
    pub tables: Vec<TableSpec>,
    pub scripts: Vec<SchemaScript>,
    pub requires: Requires,
    /// Objects left out under `skip_unsupported`, described.
    pub skipped: Vec<String>,
}

#[async_trait]
pub trait Source: Send + Sync {
    /// Begin the consistent snapshot for `selection` and describe it. Called once, first.
    async fn begin(&mut self, selection: &Selection, workers: usize) -> Result<Snapshot>;

    /// A new connection reading the same snapshot. Valid only after `begin`.
    async fn worker(&self) -> Result<Box<dyn SourceWorker>>;

    /// Current values of the sequences in the snapshot's schemas (read after the data).
    async fn sequences(&self) -> Result<Vec<SequenceValue>>;

    /// End the snapshot and close the connection.
    async fn finish(&mut self) -> Result<()>;
}

#[async_trait]
pub trait SourceWorker: Send {
    /// Stream a table's rows, or only those of `range` (one of its [`TableSpec::ranges`]). The
    /// stream borrows nothing; the worker must outlive it.
    async fn copy_out(&mut self, table: &TableSpec, range: Option<&str>) -> Result<RowStream>;
}

#[async_trait]
pub trait Target: Send + Sync {
    /// Check the target can take this backup: required roles and extensions exist and the
    /// schemas hold no tables (unless `replace`, which drops and recreates them). Touches
    /// nothing unless every check passes.
    async fn preflight(&self, schemas: &[String], requires: &Requires, replace: bool)
    -> Result<()>;

    /// Execute a schema script; `what` names it in errors.
    async fn execute_script(&self, sql: &str, what: &str) -> Result<()>;

    /// A new connection for loading data.
    async fn loader(&self) -> Result<Box<dyn Loader>>;

    /// Set sequences to the values recorded at backup time.
    async fn set_sequences(&self, sequences: &[SequenceValue]) -> Result<()>;

    /// Remove every row of a table (used when a restore fails part-way through a table, so it is
    /// left empty rather than partly loaded).
    async fn empty_table(&self, table: &Table) -> Result<()>;

    /// The restore failed: drop the database if this restore created it (`--create`), so a
    /// half-restored database cannot be mistaken for a good one. Returns whether it dropped it.
    async fn abandon(&self) -> Result<bool>;
}

#[async_trait]
pub trait Loader: Send {
    /// Execute one schema statement on this loader's connection (parallel post-data).
    async fn execute(&mut self, sql: &str, what: &str) -> Result<()>;

    /// Refresh planner statistics of a restored table (run as soon as the table is complete, so
    /// it overlaps other tables' loading).
    async fn analyze(&mut self, table: &Table) -> Result<()>;

    /// Load `data` (a chunk, or this connection's share of one) in its own transaction; once it
    /// ended without error, tell `gate` the rows loaded and commit only if the gate allows.
    /// Returns the rows loaded. `key` names the object in errors.
    async fn load_chunk(
        &mut self,
        table: &Table,
        key: &str,
        data: RawStream,
        gate: &dyn CommitGate,
    ) -> Result<u64>;

    /// Whether other connections may load parts of a chunk while this kind of loader loads it
    /// (no lock conflicts between concurrent loads into one table, and no retries).
    fn shares_chunks(&self) -> bool {
        false
    }

    /// Whether the statements of one table (its indexes and keys, each with its comments) may
    /// run on several connections at once. Not where their order matters (MySQL's per-table
    /// statements are triggers, whose order of creation is their order of firing).
    fn builds_side_by_side(&self) -> bool {
        false
    }
}

/// Decides whether a loaded chunk may commit. A chunk can be spread over several connections
/// (`restore::shared`); each reports its rows, and the gate opens when all did, the chunk
/// verified, and the rows add up to the manifest's count.
#[async_trait]
pub trait CommitGate: Send + Sync {
    async fn settle(&self, rows: u64) -> Result<()>;
}
