//! Reading backups without a database: `verify` re-reads every object of a backup and checks
//! its hashes, sizes and row counts against the manifest; `list` finds the backups under a
//! destination from their manifests.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::codec::Digest;
use crate::error::Result;
use crate::manifest;
use crate::restore::{read_manifest, verified_stream};
use crate::store::{self, Location, StoreOptions};

/// Objects verified at once.
const VERIFY_CONCURRENCY: usize = 4;

#[derive(Debug, Clone, Serialize)]
pub struct ObjectFailure {
    pub key: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub backup_id: String,
    pub manifest: String,
    pub objects: u64,
    pub rows: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub duration_secs: f64,
    /// Empty when every object matched the manifest.
    pub failures: Vec<ObjectFailure>,
}

/// Verify every object of the backup whose manifest is at `backup`/`manifest_key`. A backup whose
/// manifest cannot be read is an error; objects that fail are listed in the report.
pub async fn verify(
    backup: &Location,
    manifest_key: &str,
    options: &StoreOptions,
) -> Result<VerifyReport> {
    let started = Instant::now();
    let store = store::open(backup, options).await?;
    let manifest = read_manifest(&store, manifest_key).await?;
    let objects: Vec<(String, Digest, bool)> = manifest
        .objects()
        .map(|(key, digest, rows)| (key.to_string(), digest.clone(), rows))
        .collect();
    let results: Vec<(String, Result<u64>)> = futures_util::stream::iter(objects)
        .map(|(key, digest, check_rows)| {
            let store = store.clone();
            async move {
                let outcome = verified_stream(store.clone(), &key, digest, check_rows)
                    .try_fold(0u64, |n, raw| async move { Ok(n + raw.len() as u64) })
                    .await;
                (store.url(&key), outcome)
            }
        })
        .buffer_unordered(VERIFY_CONCURRENCY)
        .collect()
        .await;
    let failures: Vec<ObjectFailure> = results
        .iter()
        .filter_map(|(key, r)| {
            r.as_ref().err().map(|e| ObjectFailure { key: key.clone(), error: e.to_string() })
        })
        .collect();
    Ok(VerifyReport {
        backup_id: manifest.backup_id.clone(),
        manifest: store.url(manifest_key),
        objects: results.len() as u64,
        rows: manifest.totals.rows,
        raw_bytes: manifest.totals.raw_bytes,
        stored_bytes: manifest.totals.stored_bytes,
        duration_secs: started.elapsed().as_secs_f64(),
        failures,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupEntry {
    pub backup_id: String,
    pub database: String,
    pub engine: String,
    pub finished_at: DateTime<Utc>,
    pub tables: u64,
    pub rows: u64,
    pub stored_bytes: u64,
    pub manifest: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    pub backups: Vec<BackupEntry>,
    /// Manifests that could not be read, with the reason.
    pub unreadable: Vec<ObjectFailure>,
}

/// Backups under `destination`, oldest first, from their manifests.
pub async fn list(destination: &Location, options: &StoreOptions) -> Result<ListReport> {
    let store: Arc<dyn store::Store> = store::open(destination, options).await?;
    let keys = store.list("").await?;
    let suffix = format!("/{}", manifest::FILE_NAME);
    let mut backups = Vec::new();
    let mut unreadable = Vec::new();
    for key in keys.iter().filter(|k| k.ends_with(&suffix)) {
        match read_manifest(&store, key).await {
            Ok(m) => backups.push(BackupEntry {
                backup_id: m.backup_id,
                database: m.source.database,
                engine: m.source.engine,
                finished_at: m.finished_at,
                tables: m.totals.tables,
                rows: m.totals.rows,
                stored_bytes: m.totals.stored_bytes,
                manifest: store.url(key),
            }),
            Err(e) => unreadable.push(ObjectFailure { key: store.url(key), error: e.to_string() }),
        }
    }
    backups.sort_by(|a, b| a.finished_at.cmp(&b.finished_at).then(a.backup_id.cmp(&b.backup_id)));
    Ok(ListReport { backups, unreadable })
}
