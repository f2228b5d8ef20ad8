//! Coalescing one-row driver messages into [`RowBatch`]es.
//!
//! tokio-postgres yields one `CopyData` message, one row, per item. Passed on as they come, each
//! row pays the pipeline's per-item costs (a select over the cancellation token, the peekable
//! stream, a copy into the chunk's batch), which on a 2-core machine compete with the encoder
//! thread and the server for CPU. [`Batched`] drains every row the driver already holds, up to a
//! size, into one batch per poll, and yields what it has as soon as the driver would wait, so
//! batching never adds latency. A batch always ends on a row boundary.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::stream::Stream;

use super::RowBatch;
use crate::buffers::Recycler;
use crate::error::{Error, Result};

/// Batches close at this many bytes (or when the driver has nothing more ready).
pub const BATCH_BYTES: usize = 256 * 1024;

/// See the module documentation.
pub struct Batched<S, F> {
    inner: Pin<Box<S>>,
    error: F,
    buffer: BytesMut,
    buffers: Recycler,
    rows: u64,
    ended: bool,
}

/// Batches the pipeline may hold at once (channel depths plus the stages' own): their buffers
/// are reused once dropped.
const BATCHES_IN_FLIGHT: usize = 8;

impl<S, F> Batched<S, F> {
    /// Batch `inner`, whose items are single rows; `error` converts the driver's errors.
    pub fn new(inner: S, error: F) -> Self {
        Batched {
            inner: Box::pin(inner),
            error,
            buffer: BytesMut::new(),
            buffers: Recycler::new(BATCH_BYTES, BATCHES_IN_FLIGHT),
            rows: 0,
            ended: false,
        }
    }

    fn take(&mut self) -> RowBatch {
        let rows = std::mem::take(&mut self.rows);
        RowBatch { bytes: self.buffers.freeze(std::mem::take(&mut self.buffer)), rows }
    }
}

impl<S, E, F> Stream for Batched<S, F>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    F: Fn(E) -> Error + Unpin,
{
    type Item = Result<RowBatch>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        while !this.ended && this.buffer.len() < BATCH_BYTES {
            match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(row))) => {
                    if this.buffer.is_empty() && row.len() >= BATCH_BYTES {
                        // A big row goes on as it is, without a copy.
                        return Poll::Ready(Some(Ok(RowBatch { bytes: row, rows: 1 })));
                    }
                    if this.buffer.capacity() == 0 {
                        this.buffer = this.buffers.buffer();
                    }
                    this.buffer.extend_from_slice(&row);
                    this.rows += 1;
                }
                // The rows batched so far are dropped: the stream failed, and so does the table.
                Poll::Ready(Some(Err(e))) => {
                    this.buffer.clear();
                    this.ended = true;
                    return Poll::Ready(Some(Err((this.error)(e))));
                }
                Poll::Ready(None) => this.ended = true,
                Poll::Pending if this.buffer.is_empty() => return Poll::Pending,
                Poll::Pending => break,
            }
        }
        if this.buffer.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(this.take())))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    async fn rows(
        items: Vec<std::result::Result<&'static str, &'static str>>,
    ) -> Vec<Result<RowBatch>> {
        let inner = futures_util::stream::iter(
            items.into_iter().map(|r| r.map(|s| Bytes::from_static(s.as_bytes()))),
        );
        Batched::new(inner, |e: &str| Error::database("test", e)).collect().await
    }

    #[tokio::test]
    async fn ready_rows_become_one_batch_on_row_boundaries() {
        let out = rows(vec![Ok("a\tb\n"), Ok("c\td\n"), Ok("e\tf\n")]).await;
        assert_eq!(out.len(), 1);
        let batch = out[0].as_ref().expect("a batch");
        assert_eq!((&batch.bytes[..], batch.rows), (&b"a\tb\nc\td\ne\tf\n"[..], 3));
    }

    #[tokio::test]
    async fn big_rows_pass_without_a_copy_and_batches_close_at_the_size() {
        let big: &'static str = Box::leak("x".repeat(BATCH_BYTES).into_boxed_str());
        let out = rows(vec![Ok(big), Ok("a\n"), Ok(big)]).await;
        let sizes: Vec<(usize, u64)> = out
            .iter()
            .map(|b| b.as_ref().map(|b| (b.bytes.len(), b.rows)).unwrap_or((0, 0)))
            .collect();
        assert_eq!(sizes, [(BATCH_BYTES, 1), (BATCH_BYTES + 2, 2)]);
    }

    #[tokio::test]
    async fn an_error_ends_the_stream_with_the_error() {
        let out = rows(vec![Ok("a\n"), Err("connection lost")]).await;
        assert_eq!(out.len(), 1);
        let message = out[0].as_ref().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("connection lost"), "{message}");
    }
}
