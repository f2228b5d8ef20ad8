//! The codec: zstd compression plus SHA-256 of the raw and the stored bytes.
//!
//! Backup: [`ChunkEncoder`] is synchronous on purpose. It runs on a dedicated thread so that
//! compression (the one CPU-heavy step) does not share a core's time slice with the database
//! protocol task; measured on this 2-core machine, that split is what lets the pipeline approach
//! the raw COPY rate. It hashes the raw bytes before compression and the stored bytes after, and
//! writes each object as zstd frames of 4 MiB of raw bytes ([`FRAME_BYTES`]), each with the frame
//! content checksum on.
//!
//! Restore and verify: [`ChunkDecoder`] takes stored bytes as they stream in, hashes them,
//! decompresses, hashes and counts the output, and [`ChunkDecoder::finish`] compares everything
//! with the manifest's [`Digest`]. Every error names the object key. The decoder never trusts the
//! stream: a truncated frame, trailing garbage or a flipped byte is an [`Error::Integrity`].
//!
//! The codec is a pipeline of stages (hash -> compress -> hash); client-side encryption will be
//! one more stage between compression and the stored hash.

use std::io::Write;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zstd::stream::raw::{InBuffer, Operation, OutBuffer};

use crate::buffers::Recycler;
use crate::error::{Error, Result};

/// Default zstd level. Level 1 was chosen from `benches/codec.rs` and `scripts/bench.sh` on a
/// 2-core machine: level 3 compresses the realistic `orders` table only ~1% smaller than level 1
/// but halves single-core throughput (163 vs 351 MB/s), which made compression the bottleneck.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;

/// The name of the compression codec recorded in manifests.
pub const CODEC_NAME: &str = "zstd";

/// What the manifest records about one stored object, and what a reader checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Digest {
    /// Newline-terminated records in the raw bytes (rows for data, lines for schema).
    pub rows: u64,
    pub raw_bytes: u64,
    pub raw_sha256: String,
    pub stored_bytes: u64,
    pub stored_sha256: String,
}

/// Hex of a finished SHA-256.
pub fn hex_sha256(hasher: Sha256) -> String {
    use std::fmt::Write as _;
    let out = hasher.finalize();
    let mut s = String::with_capacity(64);
    for b in out.iter() {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Collects compressed output and hashes it as it is written.
struct StoredSink {
    buffer: BytesMut,
    /// Output buffers come back once the store has taken their bytes.
    buffers: Recycler,
    hash: Sha256,
    bytes: u64,
}

/// Output buffers the backup pipeline may hold at once (its channel depth and the writer's).
const STORED_BUFFERS: usize = 6;

impl StoredSink {
    fn new() -> Self {
        StoredSink {
            buffer: BytesMut::new(),
            buffers: Recycler::new(FRAME_BYTES / 2, STORED_BUFFERS),
            hash: Sha256::new(),
            bytes: 0,
        }
    }
}

impl Write for StoredSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hash.update(buf);
        if self.buffer.capacity() == 0 {
            self.buffer = self.buffers.buffer();
        }
        self.buffer.extend_from_slice(buf);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compresses and hashes one object. Feed it raw bytes with [`write`](ChunkEncoder::write),
/// drain stored bytes with [`take`](ChunkEncoder::take), and end with
/// [`finish`](ChunkEncoder::finish).
pub struct ChunkEncoder {
    zstd: zstd::bulk::Compressor<'static>,
    /// Raw bytes waiting to be compressed as one frame.
    pending: Vec<u8>,
    /// The frame being written (kept to reuse its allocation).
    frame: Vec<u8>,
    /// Frames written so far.
    frames: u64,
    sink: StoredSink,
    raw_hash: Sha256,
    raw_bytes: u64,
    rows: u64,
}

/// Raw bytes per zstd frame. An object is a sequence of frames (zstd's own tools read them as
/// one stream), each compressed from one contiguous buffer: streaming compression's ring buffer
/// sent most input through zstd's slower external-dictionary path, and whole frames cut the
/// backup's client CPU by 15-25% at level 1 on the benchmark tables, for 0.02% more bytes.
pub const FRAME_BYTES: usize = 4 * 1024 * 1024;

impl ChunkEncoder {
    pub fn new(level: i32) -> Result<Self> {
        let mut zstd =
            zstd::bulk::Compressor::new(level).map_err(|e| Error::invalid("zstd level", e))?;
        zstd.include_checksum(true).map_err(|e| Error::io("configuring zstd", e))?;
        Ok(ChunkEncoder {
            zstd,
            pending: Vec::new(),
            frame: Vec::new(),
            frames: 0,
            sink: StoredSink::new(),
            raw_hash: Sha256::new(),
            raw_bytes: 0,
            rows: 0,
        })
    }

    /// Add raw bytes holding `rows` complete records.
    pub fn write(&mut self, raw: &[u8], rows: u64) -> Result<()> {
        self.raw_hash.update(raw);
        self.raw_bytes += raw.len() as u64;
        self.rows += rows;
        let mut raw = raw;
        while !raw.is_empty() {
            if self.pending.capacity() == 0 {
                self.pending.reserve_exact(FRAME_BYTES);
            }
            let take = raw.len().min(FRAME_BYTES - self.pending.len());
            self.pending.extend_from_slice(&raw[..take]);
            raw = &raw[take..];
            if self.pending.len() >= FRAME_BYTES {
                self.compress_pending()?;
            }
        }
        Ok(())
    }

    /// Compress the pending bytes as one frame into the sink.
    fn compress_pending(&mut self) -> Result<()> {
        let bound = zstd::zstd_safe::compress_bound(self.pending.len());
        self.frame.clear();
        self.frame.reserve(bound);
        self.zstd
            .compress_to_buffer(&self.pending, &mut self.frame)
            .map_err(|e| Error::io("zstd compression", e))?;
        self.sink.write_all(&self.frame).map_err(|e| Error::io("zstd compression", e))?;
        self.pending.clear();
        self.frames += 1;
        Ok(())
    }

    /// Raw bytes accepted so far.
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Compressed bytes produced so far, if at least `min` are waiting.
    pub fn take(&mut self, min: usize) -> Option<Bytes> {
        let sink = &mut self.sink;
        (sink.buffer.len() >= min.max(1))
            .then(|| sink.buffers.freeze(std::mem::take(&mut sink.buffer)))
    }

    /// End the last frame (an empty object is one empty frame); returns the remaining stored
    /// bytes and the object's digest.
    pub fn finish(mut self) -> Result<(Bytes, Digest)> {
        if !self.pending.is_empty() || self.frames == 0 {
            self.compress_pending()?;
        }
        let sink = self.sink;
        let digest = Digest {
            rows: self.rows,
            raw_bytes: self.raw_bytes,
            raw_sha256: hex_sha256(self.raw_hash),
            stored_bytes: sink.bytes,
            stored_sha256: hex_sha256(sink.hash),
        };
        Ok((sink.buffer.freeze(), digest))
    }
}

/// Compress a whole small object (schema scripts) in one call.
pub fn encode_all(raw: &[u8], rows: u64, level: i32) -> Result<(Bytes, Digest)> {
    let mut encoder = ChunkEncoder::new(level)?;
    encoder.write(raw, rows)?;
    let (tail, digest) = encoder.finish()?;
    Ok((tail, digest))
}

/// Rows in a piece of raw COPY/TSV text: its newlines (a row's own newlines are escaped).
pub fn count_newlines(raw: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', raw).count() as u64
}

/// Input slice size per decompression step: bounds the output produced per step, so a highly
/// compressible object cannot balloon memory.
const DECODE_STEP: usize = 16 * 1024;
const DECODE_OUT: usize = 256 * 1024;

/// Verifies and decompresses one stored object as it streams in.
pub struct ChunkDecoder {
    key: String,
    zstd: zstd::stream::raw::Decoder<'static>,
    stored_hash: Sha256,
    raw_hash: Sha256,
    stored_bytes: u64,
    raw_bytes: u64,
    newlines: u64,
    /// True when the last zstd call ended exactly on a frame boundary.
    frame_complete: bool,
}

impl ChunkDecoder {
    pub fn new(key: impl Into<String>) -> Result<Self> {
        let key = key.into();
        let zstd = zstd::stream::raw::Decoder::new()
            .map_err(|e| Error::integrity(&key, format!("cannot start zstd decoder: {e}")))?;
        Ok(ChunkDecoder {
            key,
            zstd,
            stored_hash: Sha256::new(),
            raw_hash: Sha256::new(),
            stored_bytes: 0,
            raw_bytes: 0,
            newlines: 0,
            frame_complete: false,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Feed stored bytes; returns the raw bytes they decode to (possibly empty).
    pub fn decode(&mut self, stored: &[u8]) -> Result<Bytes> {
        self.stored_hash.update(stored);
        self.stored_bytes += stored.len() as u64;
        // zstd writes straight into the returned buffer's spare capacity: no scratch copy. The
        // first guess fits ~4x compression; `reserve` grows it only when zstd has filled it.
        let mut out: Vec<u8> = Vec::with_capacity(stored.len().saturating_mul(4).max(DECODE_OUT));
        for step in stored.chunks(DECODE_STEP) {
            let mut input = InBuffer::around(step);
            loop {
                if self.frame_complete && input.pos() < step.len() {
                    // A second frame: accepted (zstd's own tools do), but it must complete too.
                    self.zstd.reinit().map_err(|e| self.corrupt(e))?;
                    self.frame_complete = false;
                }
                out.reserve(DECODE_OUT);
                let before = out.len();
                let room = out.capacity() - before;
                let mut output = OutBuffer::around_pos(&mut out, before);
                let hint = self.zstd.run(&mut input, &mut output).map_err(|e| {
                    Error::integrity(&self.key, format!("stored bytes are not valid zstd: {e}"))
                })?;
                let produced = output.pos() - before;
                if hint == 0 {
                    self.frame_complete = true;
                }
                let raw = &out[before..];
                self.raw_hash.update(raw);
                self.raw_bytes += produced as u64;
                self.newlines += count_newlines(raw);
                if input.pos() == step.len() && produced < room {
                    break;
                }
            }
        }
        Ok(Bytes::from(out))
    }

    fn corrupt(&self, e: std::io::Error) -> Error {
        Error::integrity(&self.key, format!("stored bytes are not valid zstd: {e}"))
    }

    /// Finish the object and compare with what the manifest recorded. `expect.rows` is checked
    /// only when `check_rows` is set (data objects; schema scripts count lines loosely).
    pub fn finish(self, expect: &Digest, check_rows: bool) -> Result<Digest> {
        let stored_sha256 = hex_sha256(self.stored_hash);
        if self.stored_bytes != expect.stored_bytes || stored_sha256 != expect.stored_sha256 {
            return Err(Error::integrity(
                &self.key,
                format!(
                    "stored bytes differ from the manifest (sha256 {stored_sha256}, {} bytes; \
                     manifest says {}, {} bytes)",
                    self.stored_bytes, expect.stored_sha256, expect.stored_bytes
                ),
            ));
        }
        if !self.frame_complete && self.stored_bytes > 0 {
            return Err(Error::integrity(&self.key, "zstd frame is truncated"));
        }
        let raw_sha256 = hex_sha256(self.raw_hash);
        if self.raw_bytes != expect.raw_bytes || raw_sha256 != expect.raw_sha256 {
            return Err(Error::integrity(
                &self.key,
                format!(
                    "decompressed bytes differ from the manifest (sha256 {raw_sha256}, {} bytes; \
                     manifest says {}, {} bytes)",
                    self.raw_bytes, expect.raw_sha256, expect.raw_bytes
                ),
            ));
        }
        if check_rows && self.newlines != expect.rows {
            return Err(Error::integrity(
                &self.key,
                format!("holds {} rows, manifest says {}", self.newlines, expect.rows),
            ));
        }
        Ok(Digest {
            rows: self.newlines,
            raw_bytes: self.raw_bytes,
            raw_sha256,
            stored_bytes: self.stored_bytes,
            stored_sha256,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            v.extend_from_slice(
                format!("{i}\tcustomer {}\t{}\n", i % 97, i * 31 % 1000).as_bytes(),
            );
        }
        v
    }

    fn encode(raw: &[u8], rows: u64) -> (Vec<u8>, Digest) {
        let mut enc = ChunkEncoder::new(DEFAULT_ZSTD_LEVEL).unwrap();
        let mut stored = Vec::new();
        for piece in raw.chunks(7777) {
            enc.write(piece, 0).unwrap();
            if let Some(b) = enc.take(1000) {
                stored.extend_from_slice(&b);
            }
        }
        let mut enc2 = enc;
        enc2.rows = rows;
        let (tail, digest) = enc2.finish().unwrap();
        stored.extend_from_slice(&tail);
        (stored, digest)
    }

    fn decode(key: &str, stored: &[u8], expect: &Digest) -> Result<Vec<u8>> {
        let mut dec = ChunkDecoder::new(key)?;
        let mut raw = Vec::new();
        for piece in stored.chunks(1000) {
            raw.extend_from_slice(&dec.decode(piece)?);
        }
        dec.finish(expect, true)?;
        Ok(raw)
    }

    #[test]
    fn round_trip_preserves_bytes_and_digest() {
        let raw = sample(50_000);
        let (stored, digest) = encode(&raw, 50_000);
        assert!(stored.len() < raw.len() / 2, "compression did nothing");
        assert_eq!(digest.raw_bytes, raw.len() as u64);
        assert_eq!(digest.stored_bytes, stored.len() as u64);
        assert_eq!(digest.raw_sha256, hex_sha256(Sha256::new_with_prefix(&raw)));
        assert_eq!(decode("k", &stored, &digest).unwrap(), raw);
    }

    #[test]
    fn objects_of_several_frames_round_trip() {
        // About 6.5 MB of rows: two frames.
        let raw = sample(FRAME_BYTES / 16);
        let rows = raw.iter().filter(|&&b| b == b'\n').count() as u64;
        let (stored, digest) = encode(&raw, rows);
        let frames = zstd::zstd_safe::find_frame_compressed_size(&stored)
            .map(|first| first < stored.len())
            .unwrap_or(false);
        assert!(frames, "more than one frame for {} raw bytes", raw.len());
        assert_eq!(decode("k", &stored, &digest).expect("decodes"), raw);
    }

    #[test]
    fn empty_object_round_trips() {
        let (stored, digest) = encode(b"", 0);
        assert_eq!(digest.raw_bytes, 0);
        assert!(!stored.is_empty(), "an empty object is still one zstd frame");
        assert!(decode("empty", &stored, &digest).unwrap().is_empty());
    }

    #[test]
    fn every_flipped_byte_is_caught_and_names_the_key() {
        let raw = sample(500);
        let (stored, digest) = encode(&raw, 500);
        for i in 0..stored.len() {
            let mut bad = stored.clone();
            bad[i] ^= 0x01;
            let err = decode("data/public/t/000000.copy.zst", &bad, &digest).unwrap_err();
            assert!(matches!(err, Error::Integrity { .. }), "byte {i}: {err}");
            assert!(err.to_string().contains("data/public/t/000000.copy.zst"));
        }
    }

    #[test]
    fn truncation_and_trailing_bytes_are_caught() {
        let raw = sample(5000);
        let (stored, digest) = encode(&raw, 5000);
        assert!(decode("k", &stored[..stored.len() - 1], &digest).is_err());
        let mut longer = stored.clone();
        longer.push(0);
        assert!(decode("k", &longer, &digest).is_err());
    }

    #[test]
    fn row_count_mismatch_is_an_integrity_error() {
        let raw = sample(100);
        let (stored, mut digest) = encode(&raw, 100);
        digest.rows = 99;
        let err = decode("k", &stored, &digest).unwrap_err().to_string();
        assert!(err.contains("holds 100 rows, manifest says 99"), "{err}");
    }

    #[test]
    fn frame_carries_content_checksum() {
        let (stored, _) = encode(&sample(10), 10);
        // Frame header descriptor byte (after the 4-byte magic): bit 2 is the checksum flag.
        assert_eq!(&stored[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        assert_ne!(stored[4] & 0b100, 0, "content checksum flag not set");
    }
}
