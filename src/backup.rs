//! Orchestrates a backup: snapshot -> schema scripts -> table data in parallel -> sequences ->
//! manifest, in that order, the manifest last.
//!
//! The workers take tables off one queue, biggest first. A table the engine split into key
//! ranges (MySQL InnoDB tables bigger than the chunk size, with an integer primary key) is
//! queued as one piece per range, so several workers can read one big table at once; its chunk
//! objects are numbered as they start, and the manifest lists them in number order with their
//! ranges.
//!
//! Per table, three stages run at once: the reader (async, pulls rows from the engine and
//! batches them), the encoder (a blocking thread running [`ChunkEncoder`], so compression gets
//! its own core instead of stalling the protocol task), and the writer (async, feeds a
//! [`PartWriter`] with bounded parts in flight). Bounded channels connect them, so a slow store
//! slows the database read and memory stays at about
//! `jobs * (part_size * (parts_in_flight + 1) + 16 MiB)` whatever the size of the database (the
//! 16 MiB: the encoder's 4 MiB raw frame and its six 2 MiB output buffers).
//!
//! Failure at any point cancels the other workers, aborts every open upload, deletes the objects
//! already written (best effort) and never writes a manifest: a backup without a manifest does
//! not exist.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::buffers::Recycler;
use crate::codec::{self, ChunkEncoder, Digest};
use crate::engine::mysql::MysqlSource;
use crate::engine::postgres::PostgresSource;
use crate::engine::{RowBatch, RowStream, Selection, Source, SourceWorker, TableSpec};
use crate::error::{Error, Result};
use crate::manifest::{
    self, Chunk, Compression, Manifest, Options, SchemaObject, Table, Tool, Totals,
};
use crate::plan::{BackupPlan, EngineKind, key_segment, new_backup_id};
use crate::store::{self, PartWriter, Store, StoreOptions};

/// Raw bytes gathered from the database before handing them to the encoder thread.
const BATCH_BYTES: usize = 256 * 1024;
/// Compressed bytes gathered before handing them to the writer.
const STORED_BATCH_BYTES: usize = 256 * 1024;
/// Batches waiting between stages.
const STAGE_DEPTH: usize = 4;

/// Hooks for progress display; every method has a no-op default.
pub trait Observer: Send + Sync {
    fn planned(&self, _tables: usize, _estimated_bytes: u64) {}
    fn table_started(&self, _table: &str) {}
    fn raw_bytes(&self, _bytes: u64) {}
    fn table_done(&self, _table: &str, _rows: u64) {}
}

/// An observer that shows nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// What a finished backup reports (CLI `--json`, Lambda result).
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub backup_id: String,
    /// URL of the manifest.
    pub manifest: String,
    pub database: String,
    pub tables: u64,
    pub rows: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub duration_secs: f64,
    pub consistency: String,
    pub skipped: Vec<String>,
}

/// Run a backup to completion, or fail leaving nothing that looks like a backup.
pub async fn run(plan: &BackupPlan, observer: Arc<dyn Observer>) -> Result<BackupReport> {
    let started = Instant::now();
    let started_at = Utc::now();
    let mut source: Box<dyn Source> = match plan.source.engine() {
        EngineKind::Postgres => Box::new(PostgresSource::new(plan.source.clone())),
        EngineKind::Mysql => Box::new(MysqlSource::new(plan.source.clone())),
    };
    let selection = Selection {
        schemas: plan.schemas.clone(),
        exclude_tables: plan.exclude_tables.clone(),
        skip_unsupported: plan.skip_unsupported,
        split_bytes: plan.chunk_bytes,
    };
    let snapshot = tokio::select! {
        snapshot = source.begin(&selection, plan.jobs) => snapshot?,
        () = plan.stop.token().cancelled() => {
            return Err(plan.stop.error("while taking the snapshot; nothing written".into()));
        }
    };
    let backup_id = plan.backup_id.clone().unwrap_or_else(|| new_backup_id(started_at));
    let backup_dir =
        plan.destination.join(&format!("{}/{backup_id}", key_segment(&snapshot.info.database)));
    let store = store::open(&backup_dir, &plan.store).await?;
    tracing::info!(backup_id, destination = %backup_dir, tables = snapshot.tables.len(), "backup started");
    observer
        .planned(snapshot.tables.len(), snapshot.tables.iter().map(|t| t.estimated_bytes).sum());

    let written = Arc::new(Mutex::new(Vec::<String>::new()));
    let tables_done = Arc::new(AtomicUsize::new(0));
    let progress = Progress { observer, tables_done: tables_done.clone() };
    let result = write_backup(plan, source.as_mut(), &snapshot, &store, &written, progress).await;
    let finished = source.finish().await;
    let (schema, tables, sequences) = match result.and_then(|r| finished.map(|()| r)) {
        Ok(parts) => parts,
        Err(e) => {
            let removed = remove_objects(&store, &written).await;
            if plan.stop.is_stopped() {
                return Err(plan.stop.error(format!(
                    "after {} of {} tables; nothing written (no manifest, open uploads aborted, \
                     {removed} stored objects removed)",
                    tables_done.load(Ordering::SeqCst),
                    snapshot.tables.len()
                )));
            }
            return Err(e);
        }
    };

    let totals = Totals::of(&schema, &tables);
    let manifest = Manifest {
        format: manifest::FORMAT,
        tool: Tool::current(),
        backup_id: backup_id.clone(),
        status: "complete".into(),
        started_at,
        snapshot_at: snapshot.snapshot_at,
        finished_at: Utc::now(),
        source: snapshot.info.clone(),
        consistency: snapshot.consistency.clone(),
        options: Options {
            compression: Compression { codec: codec::CODEC_NAME.into(), level: plan.zstd_level },
            chunk_bytes: plan.chunk_bytes,
            part_bytes: plan.store.part_size as u64,
            schemas: snapshot.schemas.clone(),
            exclude_tables: plan.exclude_tables.iter().map(|t| t.to_string()).collect(),
        },
        schema,
        tables,
        sequences,
        requires: snapshot.requires.clone(),
        skipped: snapshot.skipped.clone(),
        totals: totals.clone(),
    };
    // The commit point: only now does the backup exist.
    if let Err(e) = store.put(manifest::FILE_NAME, Bytes::from(manifest.to_json()?)).await {
        remove_objects(&store, &written).await;
        return Err(e);
    }
    let report = BackupReport {
        backup_id,
        manifest: store.url(manifest::FILE_NAME),
        database: snapshot.info.database.clone(),
        tables: totals.tables,
        rows: totals.rows,
        raw_bytes: totals.raw_bytes,
        stored_bytes: totals.stored_bytes,
        duration_secs: started.elapsed().as_secs_f64(),
        consistency: snapshot.consistency.mode.clone(),
        skipped: snapshot.skipped.clone(),
    };
    tracing::info!(backup_id = %report.backup_id, rows = report.rows, stored_bytes = report.stored_bytes, "backup complete");
    Ok(report)
}

type Written = Arc<Mutex<Vec<String>>>;

fn record(written: &Written, key: &str) {
    if let Ok(mut keys) = written.lock() {
        keys.push(key.to_string());
    }
}

/// Best-effort removal of the objects of a failed backup. Without a manifest they are not a
/// backup anyway; removing them saves the user storage and confusion. Returns how many went.
async fn remove_objects(store: &Arc<dyn Store>, written: &Written) -> usize {
    let keys = written.lock().map(|k| k.clone()).unwrap_or_default();
    let mut removed = 0;
    for key in keys {
        match store.delete(&key).await {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::warn!(key = %store.url(&key), error = %e, "could not remove an object of the failed backup");
            }
        }
    }
    removed
}

/// The observer, plus the count of finished tables a stopped backup reports.
#[derive(Clone)]
struct Progress {
    observer: Arc<dyn Observer>,
    tables_done: Arc<AtomicUsize>,
}

type BackupParts = (Vec<SchemaObject>, Vec<Table>, Vec<manifest::SequenceValue>);

async fn write_backup(
    plan: &BackupPlan,
    source: &mut dyn Source,
    snapshot: &crate::engine::Snapshot,
    store: &Arc<dyn Store>,
    written: &Written,
    progress: Progress,
) -> Result<BackupParts> {
    let mut schema = Vec::new();
    for script in &snapshot.scripts {
        let key = format!("schema/{}.sql.zst", script.section.file_stem());
        let lines = codec::count_newlines(script.sql.as_bytes());
        let (stored, digest) = codec::encode_all(script.sql.as_bytes(), lines, plan.zstd_level)?;
        store.put(&key, stored).await?;
        record(written, &key);
        schema.push(SchemaObject {
            section: script.section,
            key,
            objects: script.statements,
            digest,
        });
    }

    // One piece of work per table, or per key range of a table read in ranges; biggest first,
    // so the parallel workers finish close together.
    let mut work: Vec<Work> = Vec::new();
    for (index, spec) in snapshot.tables.iter().enumerate() {
        let spec = Arc::new(spec.clone());
        let ranges: Vec<Option<String>> = if spec.ranges.is_empty() {
            vec![None]
        } else {
            spec.ranges.iter().cloned().map(Some).collect()
        };
        let size = spec.estimated_bytes / ranges.len() as u64;
        work.extend(ranges.into_iter().map(|range| Work {
            index,
            spec: spec.clone(),
            range,
            size,
        }));
    }
    work.sort_by_key(|w| std::cmp::Reverse(w.size));
    let pieces = work.len();
    let states: Arc<Vec<TableState>> = Arc::new(
        snapshot
            .tables
            .iter()
            .map(|t| TableState {
                started: AtomicBool::new(false),
                rows: AtomicU64::new(0),
                pieces_left: AtomicUsize::new(t.ranges.len().max(1)),
                next_chunk: AtomicUsize::new(0),
            })
            .collect(),
    );
    let queue = Arc::new(Mutex::new(VecDeque::from(work)));
    // The source may open fewer snapshot connections than asked (MySQL without a shared
    // snapshot position reads every table on one).
    let workers = plan.jobs.min(pieces).min(snapshot.consistency.workers.max(1) as usize);
    let cancel = plan.stop.token().child_token();
    // Open every worker before starting any, so a connection failure stops nothing half-way.
    let mut connections = Vec::with_capacity(workers);
    for _ in 0..workers {
        connections.push(source.worker().await?);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for worker in connections {
        let ctx = TableContext {
            store: store.clone(),
            store_options: plan.store.clone(),
            chunk_bytes: plan.chunk_bytes,
            level: plan.zstd_level,
            cancel: cancel.clone(),
            written: written.clone(),
            progress: progress.clone(),
        };
        tasks.spawn(run_worker(worker, queue.clone(), states.clone(), ctx));
    }
    let mut chunks: Vec<Vec<(usize, Chunk)>> = vec![Vec::new(); snapshot.tables.len()];
    let mut first_error: Option<Error> = None;
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.unwrap_or_else(|e| {
            Err(Error::Cancelled { reason: format!("worker task failed: {e}") })
        });
        match outcome {
            Ok(done) => {
                for (index, mut piece) in done {
                    chunks[index].append(&mut piece);
                }
            }
            Err(e) => {
                cancel.cancel();
                // Keep the root cause, not the cancellations it caused in other workers.
                if first_error.is_none() || matches!(first_error, Some(Error::Cancelled { .. })) {
                    first_error = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if states.iter().any(|s| s.pieces_left.load(Ordering::SeqCst) != 0) {
        return Err(Error::Cancelled { reason: "not every table was backed up".into() });
    }
    let tables = snapshot.tables.iter().zip(chunks).map(|(spec, c)| table_entry(spec, c)).collect();
    let sequences = source.sequences().await?;
    Ok((schema, tables, sequences))
}

/// A table to read, or one key range of it.
struct Work {
    /// Position in the snapshot's table list.
    index: usize,
    spec: Arc<TableSpec>,
    range: Option<String>,
    /// Estimated bytes, for the order of work.
    size: u64,
}

/// What the workers share about one table while its pieces are read.
struct TableState {
    started: AtomicBool,
    /// Pieces (ranges, or the whole table) not yet finished.
    pieces_left: AtomicUsize,
    /// Rows of the finished pieces.
    rows: AtomicU64,
    /// The number of the table's next chunk object: its pieces' chunks are numbered as they
    /// start, whichever worker writes them.
    next_chunk: AtomicUsize,
}

/// What every table dump needs besides the table itself.
#[derive(Clone)]
struct TableContext {
    store: Arc<dyn Store>,
    store_options: StoreOptions,
    chunk_bytes: u64,
    level: i32,
    cancel: CancellationToken,
    written: Written,
    progress: Progress,
}

/// Take work off the queue until it is empty: each piece's numbered chunks, by table position.
async fn run_worker(
    mut worker: Box<dyn SourceWorker>,
    queue: Arc<Mutex<VecDeque<Work>>>,
    states: Arc<Vec<TableState>>,
    ctx: TableContext,
) -> Result<Vec<(usize, Vec<(usize, Chunk)>)>> {
    let mut done = Vec::new();
    loop {
        let next = queue
            .lock()
            .map_err(|_| Error::Cancelled { reason: "work queue poisoned".into() })?
            .pop_front();
        let Some(work) = next else { return Ok(done) };
        if ctx.cancel.is_cancelled() {
            return Err(Error::Cancelled { reason: "another table failed".into() });
        }
        let state = &states[work.index];
        let name = work.spec.display_name();
        if !state.started.swap(true, Ordering::SeqCst) {
            ctx.progress.observer.table_started(&name);
        }
        let stream = tokio::select! {
            stream = worker.copy_out(&work.spec, work.range.as_deref()) => stream?,
            () = ctx.cancel.cancelled() => {
                return Err(Error::Cancelled { reason: "stopped before a table started".into() });
            }
        };
        let chunks = dump_piece(&work, stream, &state.next_chunk, &ctx).await?;
        let rows: u64 = chunks.iter().map(|(_, c)| c.digest.rows).sum();
        state.rows.fetch_add(rows, Ordering::SeqCst);
        if state.pieces_left.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The last piece to finish: every other piece added its rows before counting down.
            ctx.progress.tables_done.fetch_add(1, Ordering::SeqCst);
            ctx.progress.observer.table_done(&name, state.rows.load(Ordering::SeqCst));
        }
        done.push((work.index, chunks));
    }
}

/// Write one piece of a table (the whole table, or one range) as one or more chunk objects,
/// each with its number.
async fn dump_piece(
    work: &Work,
    stream: RowStream,
    next_chunk: &AtomicUsize,
    ctx: &TableContext,
) -> Result<Vec<(usize, Chunk)>> {
    let spec = &work.spec;
    let mut rows = stream.peekable();
    let mut chunks = Vec::new();
    // Rows of a batch that crossed the chunk limit: the next chunk starts with them.
    let mut carry: Option<RowBatch> = None;
    loop {
        let number = next_chunk.fetch_add(1, Ordering::SeqCst);
        let key = format!(
            "data/{}/{}/{number:06}.{}.zst",
            key_segment(&spec.schema),
            key_segment(&spec.name),
            spec.data_extension()
        );
        let digest = dump_chunk(&mut rows, &mut carry, &key, ctx).await?;
        record(&ctx.written, &key);
        chunks.push((number, Chunk { key, range: work.range.clone(), digest }));
        // Roll over only if rows remain, so no empty trailing chunk is written.
        if carry.is_none() && std::pin::Pin::new(&mut rows).peek().await.is_none() {
            break;
        }
    }
    Ok(chunks)
}

/// The manifest entry of a table from the numbered chunks of all its pieces, in number order.
fn table_entry(spec: &TableSpec, mut numbered: Vec<(usize, Chunk)>) -> Table {
    numbered.sort_by_key(|(number, _)| *number);
    let chunks: Vec<Chunk> = numbered.into_iter().map(|(_, c)| c).collect();
    Table {
        schema: spec.schema.clone(),
        name: spec.name.clone(),
        columns: spec.columns.clone(),
        format: spec.format.clone(),
        encodings: spec.encodings.clone(),
        filter: spec.filter.clone(),
        load_via: spec.load_via.clone(),
        rows: chunks.iter().map(|c| c.digest.rows).sum(),
        chunks,
    }
}

enum Raw {
    Data(Bytes, u64),
    End,
}

/// Cut a batch of whole rows (each ending in `\n`, the only raw newline of the data formats) at
/// the end of the row holding byte `at`: the head, and the rest if any rows remain.
fn split_batch(batch: RowBatch, at: u64) -> (RowBatch, Option<RowBatch>) {
    let len = batch.bytes.len();
    if (at as usize) >= len {
        return (batch, None);
    }
    let from = (at as usize).saturating_sub(1);
    let cut = match memchr::memchr(b'\n', &batch.bytes[from..]) {
        Some(p) => from + p + 1,
        None => len,
    };
    if cut >= len {
        return (batch, None);
    }
    let head = batch.bytes.slice(..cut);
    let head_rows = codec::count_newlines(&head);
    let rest =
        RowBatch { bytes: batch.bytes.slice(cut..), rows: batch.rows.saturating_sub(head_rows) };
    (RowBatch { bytes: head, rows: head_rows }, Some(rest))
}

/// Stream rows into one chunk object until the stream ends or the chunk reaches its size.
async fn dump_chunk(
    rows: &mut futures_util::stream::Peekable<RowStream>,
    carry: &mut Option<RowBatch>,
    key: &str,
    ctx: &TableContext,
) -> Result<Digest> {
    let (raw_tx, mut raw_rx) = mpsc::channel::<Raw>(STAGE_DEPTH);
    let (stored_tx, stored_rx) = mpsc::channel::<Bytes>(STAGE_DEPTH);
    let level = ctx.level;
    let encoder = tokio::task::spawn_blocking(move || -> Result<Digest> {
        let mut encoder = ChunkEncoder::new(level)?;
        let closed = || Error::Cancelled { reason: "chunk writer stopped".into() };
        loop {
            match raw_rx.blocking_recv() {
                Some(Raw::Data(bytes, n)) => {
                    encoder.write(&bytes, n)?;
                    if let Some(out) = encoder.take(STORED_BATCH_BYTES) {
                        stored_tx.blocking_send(out).map_err(|_| closed())?;
                    }
                }
                Some(Raw::End) => break,
                None => return Err(Error::Cancelled { reason: "row reader stopped".into() }),
            }
        }
        let (tail, digest) = encoder.finish()?;
        if !tail.is_empty() {
            stored_tx.blocking_send(tail).map_err(|_| closed())?;
        }
        Ok(digest)
    });

    let reader = async {
        // Owned here so the encoder sees the channel close as soon as the reader stops.
        let raw_tx = raw_tx;
        let mut buffers = Recycler::new(BATCH_BYTES, STAGE_DEPTH + 2);
        let mut batch = buffers.buffer();
        let mut batch_rows = 0u64;
        let mut chunk_bytes = 0u64;
        let send = |msg| {
            let sent = raw_tx.send(msg);
            async move { sent.await.map_err(|_| Error::Cancelled { reason: "encoder stopped".into() }) }
        };
        // Cancellation is checked once per batch while rows flow (a select! on a new token
        // future for every row cost about 2% of the process's CPU over 9.3M rows), and whenever
        // the database makes us wait: `biased` polls the rows first, so the pinned token is
        // polled only when no row is ready.
        let cancelled = ctx.cancel.cancelled();
        tokio::pin!(cancelled);
        loop {
            let item = match carry.take() {
                Some(rest) => rest,
                None => {
                    let item = tokio::select! {
                        biased;
                        item = rows.next() => item,
                        () = &mut cancelled => {
                            return Err(Error::Cancelled { reason: "stopped while reading rows".into() });
                        }
                    };
                    let Some(item) = item else { break };
                    item?
                }
            };
            // Roll over at the first row boundary at or past the limit: a batch that crosses
            // it is cut there, and its other rows start the next chunk.
            let room = ctx.chunk_bytes.saturating_sub(chunk_bytes);
            let item = match split_batch(item, room) {
                (head, Some(rest)) => {
                    *carry = Some(rest);
                    head
                }
                (whole, None) => whole,
            };
            chunk_bytes += item.bytes.len() as u64;
            if batch.is_empty() && item.bytes.len() >= BATCH_BYTES {
                // A full batch from the engine goes on as it is, without a copy.
                ctx.progress.observer.raw_bytes(item.bytes.len() as u64);
                send(Raw::Data(item.bytes, item.rows)).await?;
                if chunk_bytes >= ctx.chunk_bytes {
                    break;
                }
                continue;
            }
            batch.extend_from_slice(&item.bytes);
            batch_rows += item.rows;
            if batch.len() >= BATCH_BYTES {
                if ctx.cancel.is_cancelled() {
                    return Err(Error::Cancelled { reason: "another table failed".into() });
                }
                ctx.progress.observer.raw_bytes(batch.len() as u64);
                let full = std::mem::replace(&mut batch, buffers.buffer());
                send(Raw::Data(buffers.freeze(full), batch_rows)).await?;
                batch_rows = 0;
            }
            if chunk_bytes >= ctx.chunk_bytes {
                break;
            }
        }
        if !batch.is_empty() {
            ctx.progress.observer.raw_bytes(batch.len() as u64);
            send(Raw::Data(batch.freeze(), batch_rows)).await?;
        }
        send(Raw::End).await
    };

    let writer = async {
        // Owned here so the encoder stops as soon as the writer does.
        let mut stored_rx = stored_rx;
        let mut part_writer = PartWriter::new(ctx.store.clone(), key, &ctx.store_options);
        while let Some(bytes) = stored_rx.recv().await {
            part_writer.write(&bytes).await?;
        }
        match encoder.await {
            Ok(Ok(digest)) => {
                part_writer.finish().await?;
                Ok(digest)
            }
            Ok(Err(e)) => {
                part_writer.abort().await;
                Err(e)
            }
            Err(join) => {
                part_writer.abort().await;
                Err(Error::Cancelled { reason: format!("encoder thread failed: {join}") })
            }
        }
    };

    let (read, written) = tokio::join!(reader, writer);
    match (read, written) {
        (Ok(()), Ok(digest)) => Ok(digest),
        // Prefer the root cause over the cancellation it caused in the other stage.
        (Err(e), Err(Error::Cancelled { .. })) | (Err(e), Ok(_)) => Err(e),
        (_, Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    fn batch(s: &'static str) -> RowBatch {
        RowBatch { bytes: Bytes::from_static(s.as_bytes()), rows: s.matches('\n').count() as u64 }
    }

    fn parts(b: RowBatch, at: u64) -> (String, u64, Option<(String, u64)>) {
        let (head, rest) = split_batch(b, at);
        let text = |b: &RowBatch| String::from_utf8_lossy(&b.bytes).into_owned();
        (text(&head), head.rows, rest.map(|r| (text(&r), r.rows)))
    }

    #[test]
    fn a_batch_is_cut_at_the_first_row_end_at_or_past_the_limit() {
        // Rows "aa\n" (0..3), "bbbb\n" (3..8), "c\n" (8..10).
        let rows = "aa\nbbbb\nc\n";
        assert_eq!(parts(batch(rows), 3), ("aa\n".into(), 1, Some(("bbbb\nc\n".into(), 2))));
        assert_eq!(parts(batch(rows), 4), ("aa\nbbbb\n".into(), 2, Some(("c\n".into(), 1))));
        assert_eq!(parts(batch(rows), 8), ("aa\nbbbb\n".into(), 2, Some(("c\n".into(), 1))));
        assert_eq!(parts(batch(rows), 9), (rows.into(), 3, None));
        assert_eq!(parts(batch(rows), 100), (rows.into(), 3, None));
    }
}
