//! The loaders of a restore: connections that take chunks off a queue, biggest table first,
//! and load each through the verifying decoder in its own transaction.
//!
//! A loader with no chunk left to start joins one still being loaded, where the engine allows
//! it ([`super::shared`]), and parks when there is nothing to join. The loader that commits a
//! table's last chunk builds the table's keys and indexes, dealing them over the parked loaders
//! so one table's indexes build side by side, then analyzes it. When a load fails, every table
//! left partly loaded is emptied.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::shared::{self, ChunkInfo, SharedChunk};
use super::{TableStatements, verified_stream};
use crate::backup::Observer;
use crate::engine::{Loader, RawStream, Target};
use crate::error::{Error, Result};
use crate::manifest::{Manifest, Table};
use crate::plan::RestorePlan;
use crate::store::Store;

/// What every loader shares.
#[derive(Clone)]
pub(super) struct LoadContext {
    manifest: Arc<Manifest>,
    store: Arc<dyn Store>,
    observer: Arc<dyn Observer>,
    statements: TableStatements,
    /// URL of the post-data script, to name it in errors.
    post_data: String,
    /// Chunks that more than one loader took part in.
    shared: Arc<AtomicU64>,
    /// Loaders with nothing left to load, lent to one finishing a table (`finish_table`).
    idle: Arc<Mutex<Vec<Box<dyn Loader>>>>,
}

impl LoadContext {
    pub(super) fn new(
        manifest: Arc<Manifest>,
        store: Arc<dyn Store>,
        observer: Arc<dyn Observer>,
        statements: TableStatements,
        post_data: String,
    ) -> Self {
        LoadContext {
            manifest,
            store,
            observer,
            statements,
            post_data,
            shared: Arc::new(AtomicU64::new(0)),
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The count of chunks loaded over several connections, as it grows.
    pub(super) fn shared_chunks(&self) -> Arc<AtomicU64> {
        self.shared.clone()
    }
}

/// Per table: chunks committed so far, and whether any rows were committed at all (a chunk
/// shared by several connections can be partly committed when one of its commits fails).
type Progress = Arc<Mutex<Vec<(usize, bool)>>>;

/// Chunks being loaded that other loaders may join: (table index, chunk).
type Open = Arc<Mutex<Vec<(usize, Arc<SharedChunk>)>>>;

pub(super) async fn load_data(
    plan: &RestorePlan,
    target: &Arc<dyn Target>,
    context: LoadContext,
) -> Result<u64> {
    let manifest = context.manifest.clone();
    // Biggest tables first (pg_restore's order), so parallel loaders finish close together.
    let mut order: Vec<usize> = (0..manifest.tables.len()).collect();
    order.sort_by_key(|&t| {
        std::cmp::Reverse(manifest.tables[t].chunks.iter().map(|c| c.digest.raw_bytes).sum::<u64>())
    });
    let work: VecDeque<(usize, usize)> = order
        .into_iter()
        .flat_map(|t| (0..manifest.tables[t].chunks.len()).map(move |c| (t, c)))
        .collect();
    let queue = Arc::new(Mutex::new(work));
    let committed: Progress = Arc::new(Mutex::new(vec![(0, false); manifest.tables.len()]));
    let open: Open = Arc::new(Mutex::new(Vec::new()));
    let cancel = plan.stop.token().child_token();
    let mut tasks = tokio::task::JoinSet::new();
    let chunks = queue.lock().map(|q| q.len()).unwrap_or(0);
    let mut loaders = Vec::with_capacity(plan.jobs);
    if chunks > 0 {
        loaders.push(target.loader().await?);
    }
    // Loaders that share chunks are all useful even with fewer chunks than loaders: one table
    // in one chunk is loaded over every connection.
    let jobs = match loaders.first() {
        Some(loader) if loader.shares_chunks() => plan.jobs,
        _ => plan.jobs.min(chunks),
    };
    while loaders.len() < jobs {
        loaders.push(target.loader().await?);
    }
    for loader in loaders {
        tasks.spawn(run_loader(
            loader,
            queue.clone(),
            committed.clone(),
            open.clone(),
            cancel.clone(),
            context.clone(),
        ));
    }
    let mut rows = 0;
    let mut first_error: Option<Error> = None;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap_or_else(|e| {
            Err(Error::Cancelled { reason: format!("loader task failed: {e}") })
        }) {
            Ok(n) => rows += n,
            Err(e) => {
                cancel.cancel();
                if first_error.is_none() || matches!(first_error, Some(Error::Cancelled { .. })) {
                    first_error = Some(e);
                }
            }
        }
    }
    let Some(error) = first_error else { return Ok(rows) };
    let done = committed.lock().map(|c| c.clone()).unwrap_or_default();
    let mut complete = 0;
    for (table, &(loaded, touched)) in manifest.tables.iter().zip(&done) {
        if loaded == table.chunks.len() {
            complete += 1;
        } else if touched && let Err(e) = target.empty_table(table).await {
            tracing::warn!(table = %table.display_name(), error = %e, "could not empty a partly loaded table");
        }
    }
    if plan.stop.is_stopped() {
        return Err(plan.stop.error(format!(
            "after {complete} of {} tables were loaded; those stay in {}, without foreign keys \
             and sequence values, and partly loaded tables were emptied: restore again with \
             replace",
            manifest.tables.len(),
            plan.target
        )));
    }
    Err(error)
}

/// Times a chunk is loaded again after the database rolled it back over a lock conflict (InnoDB
/// aborts one of two first loads into the same empty table as a deadlock, for one).
const LOCK_CONFLICT_RETRIES: u32 = 4;

/// How long to wait before loading a chunk again after `error`, the chunk having already met
/// `conflicts` lock conflicts; `None` when it must not be retried.
fn retry_delay(error: &Error, conflicts: u32) -> Option<Duration> {
    match error {
        Error::LockConflict { .. } if conflicts < LOCK_CONFLICT_RETRIES => {
            Some(Duration::from_millis(200 * u64::from(conflicts + 1)))
        }
        _ => None,
    }
}

async fn run_loader(
    mut loader: Box<dyn Loader>,
    queue: Arc<Mutex<VecDeque<(usize, usize)>>>,
    committed: Progress,
    open: Open,
    cancel: CancellationToken,
    context: LoadContext,
) -> Result<u64> {
    let shares = loader.shares_chunks();
    let mut rows = 0;
    loop {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled { reason: "another chunk failed".into() });
        }
        let next = queue
            .lock()
            .map_err(|_| Error::Cancelled { reason: "work queue poisoned".into() })?
            .pop_front();
        let (t, loaded, complete) = match next {
            Some((t, c)) => {
                let (loaded, complete) =
                    load_own(loader.as_mut(), t, c, shares, &open, &cancel, &context).await?;
                (t, loaded, complete)
            }
            // Nothing left to start: help with the biggest chunk still being read.
            None => {
                let Some((t, participant)) = join_open(&open) else {
                    // Done: wait to be lent to a loader finishing a table.
                    if let Ok(mut idle) = context.idle.lock() {
                        idle.push(loader);
                    }
                    return Ok(rows);
                };
                tracing::debug!(url = %participant.info().url, "joining the load of a chunk");
                let table = &context.manifest.tables[t];
                let (result, complete) = load_part(loader.as_mut(), table, participant).await;
                (t, result?, complete)
            }
        };
        rows += loaded;
        let table = &context.manifest.tables[t];
        let done = match committed.lock() {
            Ok(mut progress) => {
                let entry = &mut progress[t];
                entry.1 = true;
                if complete {
                    entry.0 += 1;
                }
                complete && entry.0 == table.chunks.len()
            }
            Err(_) => false,
        };
        if done {
            let own = context
                .statements
                .lock()
                .ok()
                .and_then(|mut s| s.remove(&(table.schema.clone(), table.name.clone())))
                .unwrap_or_default();
            let what = format!("{} (for {})", context.post_data, table.display_name());
            finish_table(loader.as_mut(), table, &own, &what, &context.idle).await?;
            context.observer.table_done(&table.display_name(), table.rows);
        }
    }
}

/// A table's data is in: build its keys and indexes, then ANALYZE it. Where the engine allows
/// it, with several indexes and loaders idle, the indexes (each with its comments) are dealt
/// over this loader and the idle ones, so one table's indexes build side by side (as
/// pg_restore -j builds them); a statement that needs the table exclusively (`ADD PRIMARY KEY`)
/// waits for its lock.
async fn finish_table(
    loader: &mut dyn Loader,
    table: &Table,
    own: &[String],
    what: &str,
    idle: &Mutex<Vec<Box<dyn Loader>>>,
) -> Result<()> {
    // Each index or key with the statements that follow it (its comments) stays together.
    let mut groups: Vec<Vec<&str>> = Vec::new();
    for sql in own {
        let follows = sql.trim_start().starts_with("COMMENT ON ");
        match groups.last_mut() {
            Some(group) if follows => group.push(sql),
            _ => groups.push(vec![sql]),
        }
    }
    let lendable = if loader.builds_side_by_side() { groups.len().saturating_sub(1) } else { 0 };
    let mut helpers = match idle.lock() {
        Ok(mut idle) => {
            let lend = idle.len().min(lendable);
            let keep = idle.len() - lend;
            idle.split_off(keep)
        }
        Err(_) => Vec::new(),
    };
    if !helpers.is_empty() {
        tracing::debug!(table = %table.display_name(), connections = helpers.len() + 1, "building the table's indexes side by side");
    }
    let mut shares: Vec<Vec<&str>> = vec![Vec::new(); helpers.len() + 1];
    let ways = shares.len();
    for (i, group) in groups.into_iter().enumerate() {
        shares[i % ways].extend(group);
    }
    let mut shares = shares.into_iter();
    let mine = shares.next().unwrap_or_default();
    let theirs = helpers
        .iter_mut()
        .zip(shares)
        .map(|(helper, share)| async move { execute_all(helper.as_mut(), &share, what).await });
    let (first, others) =
        tokio::join!(execute_all(loader, &mine, what), futures_util::future::join_all(theirs));
    if let Ok(mut idle) = idle.lock() {
        idle.append(&mut helpers);
    }
    first?;
    others.into_iter().collect::<Result<Vec<()>>>()?;
    loader.analyze(table).await
}

async fn execute_all(loader: &mut dyn Loader, statements: &[&str], what: &str) -> Result<()> {
    for sql in statements {
        loader.execute(sql, what).await?;
    }
    Ok(())
}

/// Load chunk `c` of table `t`, which this loader took from the queue, offering it to loaders
/// that run out of work when `shares`. Returns the rows this loader loaded and whether its
/// commit completed the chunk.
async fn load_own(
    loader: &mut dyn Loader,
    t: usize,
    c: usize,
    shares: bool,
    open: &Open,
    cancel: &CancellationToken,
    context: &LoadContext,
) -> Result<(u64, bool)> {
    let table = &context.manifest.tables[t];
    let chunk = &table.chunks[c];
    if c == 0 {
        context.observer.table_started(&table.display_name());
    }
    let url = context.store.url(&chunk.key);
    let mut conflicts = 0;
    loop {
        // Each try reads and verifies the chunk afresh: a failed one consumed its stream.
        let data = verified_stream(context.store.clone(), &chunk.key, chunk.digest.clone(), true);
        // Progress counts bytes as they are read, so a big chunk moves the bar while it loads
        // (a chunk read again after a lock conflict counts again; the bar is only a display).
        let observer = context.observer.clone();
        let data: RawStream =
            Box::pin(data.inspect_ok(move |bytes| observer.raw_bytes(bytes.len() as u64)));
        let info = ChunkInfo {
            url: url.clone(),
            table: table.display_name(),
            rows: chunk.digest.rows,
            raw_bytes: chunk.digest.raw_bytes,
        };
        let (shared, own) = SharedChunk::start(data, info, cancel);
        if shares && let Ok(mut list) = open.lock() {
            list.push((t, shared.clone()));
        }
        let (result, complete) = load_part(loader, table, own).await;
        if let Ok(mut list) = open.lock() {
            list.retain(|(_, s)| !Arc::ptr_eq(s, &shared));
        }
        let alone = shared.participants() == 1;
        let e = match result {
            Ok(loaded) => {
                if !alone {
                    context.shared.fetch_add(1, Ordering::Relaxed);
                }
                return Ok((loaded, complete));
            }
            Err(e) => e,
        };
        // A chunk others took part in cannot be loaded again by this loader alone.
        match retry_delay(&e, conflicts) {
            Some(delay) if alone && !cancel.is_cancelled() => {
                conflicts += 1;
                // Routine (the server asks for it), so info: the CLI's first stderr line on
                // failure stays the error itself.
                tracing::info!(table = %table.display_name(), key = %chunk.key, retry = conflicts, error = %e, "lock conflict; loading the chunk again");
                tokio::time::sleep(delay).await;
            }
            _ if conflicts == 0 => return Err(e),
            _ => return Err(e.with_note(format!("after {conflicts} retries"))),
        }
    }
}

/// Load a participant's part of its chunk and record how it ended: the rows this loader
/// loaded, and whether this commit completed the chunk.
async fn load_part(
    loader: &mut dyn Loader,
    table: &Table,
    participant: shared::Participant,
) -> (Result<u64>, bool) {
    let url = participant.info().url.clone();
    let result = loader.load_chunk(table, &url, participant.stream(), &participant).await;
    let complete = participant.finish(result.is_ok());
    (result, complete)
}

/// Join the chunk with the most raw bytes among those still being read, if any.
fn join_open(open: &Open) -> Option<(usize, shared::Participant)> {
    let list = open.lock().ok()?;
    let mut candidates: Vec<&(usize, Arc<SharedChunk>)> =
        list.iter().filter(|(_, s)| s.is_open()).collect();
    candidates.sort_by_key(|(_, s)| std::cmp::Reverse(s.info.raw_bytes));
    candidates.into_iter().find_map(|(t, s)| s.join().map(|p| (*t, p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RawStream;

    /// Records what each loader ran, in order: (loader id, statement or "ANALYZE").
    type Log = Arc<Mutex<Vec<(usize, String)>>>;

    struct FakeLoader {
        id: usize,
        log: Log,
    }

    #[async_trait::async_trait]
    impl Loader for FakeLoader {
        async fn execute(&mut self, sql: &str, what: &str) -> Result<()> {
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.log.lock().unwrap().push((self.id, sql.to_string()));
            if sql.contains("fails") {
                return Err(Error::database(what, "it fails"));
            }
            Ok(())
        }

        async fn analyze(&mut self, table: &Table) -> Result<()> {
            self.log.lock().unwrap().push((self.id, format!("ANALYZE {}", table.name)));
            Ok(())
        }

        fn builds_side_by_side(&self) -> bool {
            true
        }

        async fn load_chunk(
            &mut self,
            _: &Table,
            key: &str,
            _: RawStream,
            _: &dyn crate::engine::CommitGate,
        ) -> Result<u64> {
            Err(Error::integrity(key, "a fake loader loads nothing"))
        }
    }

    fn fakes(ids: std::ops::Range<usize>, log: &Log) -> Vec<Box<dyn Loader>> {
        ids.map(|id| Box::new(FakeLoader { id, log: log.clone() }) as Box<dyn Loader>).collect()
    }

    fn table() -> Table {
        Table {
            schema: "public".into(),
            name: "big".into(),
            columns: Vec::new(),
            format: "copy_text".into(),
            encodings: Vec::new(),
            filter: None,
            load_via: None,
            rows: 0,
            chunks: Vec::new(),
        }
    }

    fn statements(sqls: &[&str]) -> Vec<String> {
        sqls.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn a_tables_indexes_build_on_idle_loaders_then_it_is_analyzed() {
        let log = Log::default();
        let idle = Mutex::new(fakes(1..3, &log));
        let mut own = FakeLoader { id: 0, log: log.clone() };
        let sqls = statements(&["ADD PRIMARY KEY", "CREATE INDEX a", "CREATE INDEX b"]);
        finish_table(&mut own, &table(), &sqls, "post-data", &idle).await.unwrap();
        let log = log.lock().unwrap().clone();
        let mut ran: Vec<usize> = log[..3].iter().map(|(id, _)| *id).collect();
        ran.sort();
        assert_eq!(ran, [0, 1, 2], "one statement per loader: {log:?}");
        assert_eq!(log[3], (0, "ANALYZE big".to_string()), "ANALYZE last: {log:?}");
        assert_eq!(idle.lock().unwrap().len(), 2, "the lent loaders are back");
    }

    #[tokio::test]
    async fn comments_stay_with_their_index_on_one_loader() {
        let log = Log::default();
        let idle = Mutex::new(fakes(1..2, &log));
        let mut own = FakeLoader { id: 0, log: log.clone() };
        let sqls = statements(&[
            "ALTER TABLE ONLY t ADD CONSTRAINT k PRIMARY KEY (id);",
            "COMMENT ON CONSTRAINT k ON t IS 'key';",
            "CREATE INDEX a ON t (x);",
            "COMMENT ON INDEX a IS 'a';",
        ]);
        finish_table(&mut own, &table(), &sqls, "post-data", &idle).await.unwrap();
        let log = log.lock().unwrap().clone();
        let by = |id: usize| -> Vec<String> {
            log.iter().filter(|(i, _)| *i == id).map(|(_, s)| s.clone()).collect()
        };
        assert_eq!(by(0), [sqls[0].as_str(), sqls[1].as_str(), "ANALYZE big"]);
        assert_eq!(by(1), [sqls[2].as_str(), sqls[3].as_str()]);
    }

    #[tokio::test]
    async fn one_statement_borrows_nothing() {
        let log = Log::default();
        let idle = Mutex::new(fakes(1..3, &log));
        let mut own = FakeLoader { id: 0, log: log.clone() };
        finish_table(&mut own, &table(), &statements(&["ADD PRIMARY KEY"]), "p", &idle)
            .await
            .unwrap();
        let log = log.lock().unwrap().clone();
        assert_eq!(log, [(0, "ADD PRIMARY KEY".into()), (0, "ANALYZE big".into())]);
        assert_eq!(idle.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_failed_statement_on_a_lent_loader_fails_the_table_and_returns_the_loader() {
        let log = Log::default();
        let idle = Mutex::new(fakes(1..2, &log));
        let mut own = FakeLoader { id: 0, log: log.clone() };
        let sqls = statements(&["ADD PRIMARY KEY", "CREATE INDEX fails"]);
        let err = finish_table(&mut own, &table(), &sqls, "post-data", &idle).await.unwrap_err();
        assert!(err.to_string().contains("it fails"), "{err}");
        assert!(log.lock().unwrap().iter().all(|(_, s)| !s.starts_with("ANALYZE")));
        assert_eq!(idle.lock().unwrap().len(), 1, "the lent loader is back");
    }

    #[test]
    fn only_lock_conflicts_are_retried_and_only_a_few_times() {
        let conflict = Error::LockConflict {
            context: "loading k into table t".into(),
            reason: "ERROR 1213 (40001): Deadlock found when trying to get lock".into(),
        };
        let delays: Vec<_> = (0..6).map(|n| retry_delay(&conflict, n)).collect();
        assert_eq!(
            delays,
            [200, 400, 600, 800]
                .into_iter()
                .map(|ms| Some(Duration::from_millis(ms)))
                .chain([None, None])
                .collect::<Vec<_>>()
        );
        // Anything else fails the restore at once: a bad checksum or row count is never retried.
        assert_eq!(retry_delay(&Error::integrity("k", "row count"), 0), None);
        assert_eq!(retry_delay(&Error::database("loading k", "ERROR 1064"), 0), None);
        // Both report as database errors; the note says how many retries were spent.
        assert_eq!(conflict.kind(), "DatabaseError");
        let given_up = conflict.with_note("after 4 retries").to_string();
        assert!(
            given_up.ends_with("Deadlock found when trying to get lock; after 4 retries"),
            "{given_up}"
        );
    }
}
