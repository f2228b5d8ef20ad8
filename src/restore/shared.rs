//! One chunk loaded over several connections at once.
//!
//! pg_restore loads each table on one connection, so a restore dominated by one big table ends
//! on one server core while the other connections sit idle. Here a loader that finds the queue
//! empty joins a chunk another loader is still loading. One task reads and verifies the chunk
//! and cuts the decoded bytes at row ends; every participant takes whole-row blocks into its own
//! `COPY`, in its own transaction. No participant commits before all of them finished their
//! `COPY`, the chunk verified to its end (both hashes, row count) and the parts' rows add up to
//! the manifest's; otherwise every participant rolls back.
//!
//! Every chunk goes through here, shared or not: a chunk nobody joined is one participant, and
//! its gate is the plain row-count check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::{Mutex, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::engine::{CommitGate, RawStream};
use crate::error::{Error, Result};

/// Decoded blocks queued between the reader and the participants: bounds memory per chunk to a
/// few decoded reads (each block keeps its decode buffer, 256 KiB or more). Four keep two
/// participants fed; with eight, a restore from S3 peaked at 57-62 MiB RSS, with four at
/// 46-50 MiB (three runs each).
const BLOCKS_IN_FLIGHT: usize = 4;

/// What the participants and the reader know about the chunk.
#[derive(Debug, Default)]
struct State {
    /// Loaders taking part, the first included.
    participants: usize,
    /// Participants that finished their `COPY` and reported their rows.
    settled: usize,
    rows: u64,
    /// A participant failed: everyone rolls back.
    failed: bool,
    /// The reader's outcome, once it reached the end: `Some(true)` if the chunk verified.
    /// Until then (`None`), others may join.
    verified: Option<bool>,
    /// Participants that committed.
    committed: usize,
}

/// Which chunk, and what the manifest says of it.
#[derive(Debug, Clone)]
pub struct ChunkInfo {
    /// The object's URL, for errors.
    pub url: String,
    /// The table's name, for errors.
    pub table: String,
    pub rows: u64,
    pub raw_bytes: u64,
}

impl State {
    /// Others may still join: the reader has not reached the end, and nobody failed.
    fn is_open(&self) -> bool {
        self.verified.is_none() && !self.failed
    }
}

/// A chunk being loaded; loaders that are free may [`join`](SharedChunk::join) it.
pub struct SharedChunk {
    pub info: ChunkInfo,
    state: watch::Sender<State>,
    blocks: Arc<Mutex<mpsc::Receiver<Result<Bytes>>>>,
    /// Stops the reader when a participant failed.
    abort: CancellationToken,
}

impl SharedChunk {
    /// Start reading `data`, the chunk's verified stream, on its own task; returns the chunk
    /// and its first participant.
    pub fn start(
        data: RawStream,
        info: ChunkInfo,
        cancel: &CancellationToken,
    ) -> (Arc<SharedChunk>, Participant) {
        let (tx, rx) = mpsc::channel(BLOCKS_IN_FLIGHT);
        let (state, _) = watch::channel(State { participants: 1, ..State::default() });
        let chunk = Arc::new(SharedChunk {
            info,
            state,
            blocks: Arc::new(Mutex::new(rx)),
            abort: cancel.child_token(),
        });
        tokio::spawn(read(data, tx, chunk.clone()));
        let first = Participant::new(chunk.clone());
        (chunk, first)
    }

    /// Take part in loading this chunk, unless it is already read to its end or failed.
    pub fn join(self: &Arc<Self>) -> Option<Participant> {
        let mut joined = false;
        self.state.send_if_modified(|s| {
            joined = s.is_open();
            if joined {
                s.participants += 1;
            }
            joined
        });
        joined.then(|| Participant::new(self.clone()))
    }

    /// Loaders taking part so far.
    pub fn participants(&self) -> usize {
        self.state.borrow().participants
    }

    /// Whether a loader may still join.
    pub fn is_open(&self) -> bool {
        self.state.borrow().is_open()
    }

    fn fail(&self) {
        self.state.send_modify(|s| s.failed = true);
        self.abort.cancel();
    }
}

/// The reader: the verified stream cut into whole-row blocks. The verdict (the stream's last
/// item when the chunk is bad) reaches one participant as an error, which fails the chunk.
async fn read(mut data: RawStream, tx: mpsc::Sender<Result<Bytes>>, chunk: Arc<SharedChunk>) {
    let abort = chunk.abort.clone();
    let send = |item: Result<Bytes>| {
        let (tx, abort) = (&tx, &abort);
        async move {
            tokio::select! {
                _ = abort.cancelled() => false,
                sent = tx.send(item) => sent.is_ok(),
            }
        }
    };
    let mut partial = BytesMut::new();
    let mut verified = loop {
        let item = tokio::select! {
            _ = abort.cancelled() => break false,
            item = data.next() => item,
        };
        match item {
            None => break true,
            Some(Err(e)) => {
                send(Err(e)).await;
                break false;
            }
            Some(Ok(bytes)) => {
                if let Some(block) = whole_rows(&mut partial, bytes)
                    && !send(Ok(block)).await
                {
                    break false;
                }
            }
        }
    };
    // A verified chunk ends with a row end; whatever is left goes as it is and fails the COPY.
    if verified && !partial.is_empty() {
        verified = send(Ok(partial.freeze())).await;
    }
    chunk.state.send_modify(|s| s.verified = Some(verified));
    // Dropping `tx` here ends every participant's stream.
}

/// Append `bytes` to `partial` and take off the longest prefix that ends a row (`\n`: in both
/// PostgreSQL's text format and the TSV, a newline inside a value is escaped).
fn whole_rows(partial: &mut BytesMut, bytes: Bytes) -> Option<Bytes> {
    let Some(end) = memchr::memrchr(b'\n', &bytes) else {
        partial.extend_from_slice(&bytes);
        return None;
    };
    let block = if partial.is_empty() {
        bytes.slice(..=end)
    } else {
        partial.extend_from_slice(&bytes[..=end]);
        partial.split().freeze()
    };
    partial.extend_from_slice(&bytes[end + 1..]);
    Some(block)
}

/// One loader's part in a chunk: the rows it takes, and the gate its commit waits at.
pub struct Participant {
    chunk: Arc<SharedChunk>,
    settled: AtomicBool,
    finished: bool,
}

impl Participant {
    fn new(chunk: Arc<SharedChunk>) -> Self {
        Participant { chunk, settled: AtomicBool::new(false), finished: false }
    }

    /// The chunk this participant loads part of.
    pub fn info(&self) -> &ChunkInfo {
        &self.chunk.info
    }

    /// The whole-row blocks this participant loads; it ends when the chunk is read.
    pub fn stream(&self) -> RawStream {
        let blocks = self.chunk.blocks.clone();
        Box::pin(futures_util::stream::unfold(blocks, |blocks| async move {
            let item = blocks.lock().await.recv().await;
            item.map(|item| (item, blocks))
        }))
    }

    /// Record how this participant's load ended. Returns true when it was the last one to
    /// commit: the chunk is then in the table.
    pub fn finish(mut self, committed: bool) -> bool {
        self.finished = true;
        if !committed {
            self.chunk.fail();
            return false;
        }
        let mut complete = false;
        self.chunk.state.send_modify(|s| {
            s.committed += 1;
            complete = !s.failed && s.committed == s.participants;
        });
        complete
    }
}

impl Drop for Participant {
    fn drop(&mut self) {
        // Gone without saying how it ended (its task was cancelled): the others must not wait.
        if !self.finished {
            self.chunk.fail();
        }
    }
}

#[async_trait]
impl CommitGate for Participant {
    async fn settle(&self, rows: u64) -> Result<()> {
        let chunk = &self.chunk;
        let info = &chunk.info;
        if self.settled.swap(true, Ordering::SeqCst) {
            return Err(Error::Cancelled { reason: format!("{} was settled twice", info.url) });
        }
        let mut state = chunk.state.subscribe();
        chunk.state.send_modify(|s| {
            s.settled += 1;
            s.rows += rows;
        });
        let ready = |s: &State| s.failed || (s.verified.is_some() && s.settled == s.participants);
        let (failed, verified, total, parts) = {
            let s = state.wait_for(ready).await.map_err(|_| Error::Cancelled {
                reason: format!("loading {} stopped", info.url),
            })?;
            (s.failed, s.verified, s.rows, s.participants)
        };
        if failed || verified != Some(true) {
            return Err(Error::Cancelled {
                reason: format!(
                    "another connection loading {} into {} failed",
                    info.url, info.table
                ),
            });
        }
        if total != info.rows {
            let over = if parts > 1 { format!(" over {parts} connections") } else { String::new() };
            return Err(Error::integrity(
                &info.url,
                format!(
                    "loaded {total} rows into {}{over}, the manifest says {}; rolled back",
                    info.table, info.rows
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks_of(pieces: &[&[u8]]) -> (Vec<Bytes>, BytesMut) {
        let mut partial = BytesMut::new();
        let blocks = pieces
            .iter()
            .filter_map(|p| whole_rows(&mut partial, Bytes::copy_from_slice(p)))
            .collect();
        (blocks, partial)
    }

    #[test]
    fn blocks_end_at_row_ends_and_keep_every_byte() {
        let pieces: [&[u8]; 5] = [b"1\ta\n2\tb", b"\\nc\n3", b"\t", b"d\n4\te\n", b"5\tf"];
        let (blocks, partial) = blocks_of(&pieces);
        assert_eq!(blocks.len(), 3);
        assert!(blocks.iter().all(|b| b.ends_with(b"\n")));
        let joined: Vec<u8> =
            blocks.iter().flat_map(|b| b.to_vec()).chain(partial.to_vec()).collect();
        assert_eq!(joined, pieces.concat());
        assert_eq!(&blocks[1][..], b"2\tb\\nc\n");
        assert_eq!(&partial[..], b"5\tf");
    }

    fn chunk_of(pieces: Vec<Result<Bytes>>, rows: u64) -> (Arc<SharedChunk>, Participant) {
        let data: RawStream = Box::pin(futures_util::stream::iter(pieces));
        let info = ChunkInfo {
            url: "file:///b/t/000000.copy.zst".into(),
            table: "public.t".into(),
            rows,
            raw_bytes: 0,
        };
        SharedChunk::start(data, info, &CancellationToken::new())
    }

    async fn take_all(p: &Participant) -> (u64, Option<Error>) {
        let mut stream = p.stream();
        let mut rows = 0;
        while let Some(item) = stream.next().await {
            match item {
                Ok(b) => rows += memchr::memchr_iter(b'\n', &b).count() as u64,
                Err(e) => return (rows, Some(e)),
            }
        }
        (rows, None)
    }

    #[tokio::test]
    async fn two_participants_split_the_rows_and_commit_together() {
        let pieces = (0..100).map(|i| Ok(Bytes::from(format!("{i}\trow\n")))).collect();
        let (chunk, first) = chunk_of(pieces, 100);
        let second = chunk.join().expect("open while the reader runs");
        let a = async {
            let (rows, err) = take_all(&first).await;
            assert!(err.is_none());
            first.settle(rows).await.map(|_| first.finish(true))
        };
        let b = async {
            let (rows, err) = take_all(&second).await;
            assert!(err.is_none());
            second.settle(rows).await.map(|_| second.finish(true))
        };
        let (a, b) = tokio::join!(a, b);
        assert_eq!(chunk.participants(), 2);
        // Exactly one of the two commits completes the chunk.
        assert!(a.unwrap() ^ b.unwrap());
        assert!(chunk.join().is_none(), "closed once read");
    }

    #[tokio::test]
    async fn a_short_count_fails_every_participant() {
        let pieces = vec![Ok(Bytes::from_static(b"1\n2\n"))];
        let (_chunk, first) = chunk_of(pieces, 3);
        let (rows, _) = take_all(&first).await;
        let err = first.settle(rows).await.unwrap_err();
        assert!(matches!(err, Error::Integrity { .. }), "{err}");
        assert!(err.to_string().contains("loaded 2 rows into public.t, the manifest says 3"));
    }

    #[tokio::test]
    async fn a_failed_participant_makes_the_others_roll_back() {
        let pieces = vec![
            Ok(Bytes::from_static(b"1\n")),
            Err(Error::integrity("file:///b/t/000000.copy.zst", "stored SHA-256 mismatch")),
        ];
        let (chunk, first) = chunk_of(pieces, 1);
        let second = chunk.join().expect("open");
        // The first takes every block, the verdict included, and fails; the second, which got
        // no rows, is told to roll back.
        let (_, err) = take_all(&first).await;
        assert!(matches!(err, Some(Error::Integrity { .. })));
        assert!(!first.finish(false));
        let err = second.settle(0).await.unwrap_err();
        assert!(matches!(err, Error::Cancelled { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_dropped_participant_does_not_leave_the_others_waiting() {
        let pieces = vec![Ok(Bytes::from_static(b"1\n"))];
        let (chunk, first) = chunk_of(pieces, 1);
        let second = chunk.join().expect("open");
        drop(second);
        let (rows, _) = take_all(&first).await;
        assert!(first.settle(rows).await.is_err());
    }
}
