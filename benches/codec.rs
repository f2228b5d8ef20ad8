//! Codec throughput on realistic COPY text: `cargo bench --bench codec`.
//!
//! The input is ~32 MiB of `COPY orders TO STDOUT` text shaped like the `orders` table of
//! `scripts/bench.sh` (ids, md5-like hex, timestamps, numerics, short random notes; it
//! compresses ~2.8x with zstd, unlike pgbench_accounts' blank filler), generated
//! deterministically so runs are comparable.
//!
//! * `encode/level-N`: [`ChunkEncoder`] fed 256 KiB row-aligned batches and drained with
//!   `take(256 KiB)`, as `backup.rs` does; includes both SHA-256 passes (raw and stored).
//! * `decode_verify`: [`ChunkDecoder`] over 64 KiB stored slices, then `finish` against the
//!   digest (stored hash, raw hash, row count), as restore and verify do.
//! * `sha256`: one plain SHA-256 pass over the raw bytes, for reference.
//!
//! Throughput is in raw (uncompressed) bytes for every benchmark, so the figures compare with
//! the MB/s of `scripts/bench.sh`. Sample sizes are small (flat sampling, 10 samples) so the
//! whole run takes well under two minutes on a 2-core machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use sha2::{Digest as _, Sha256};
use streamdump::codec::{ChunkDecoder, ChunkEncoder, DEFAULT_ZSTD_LEVEL, Digest};

/// Raw COPY text generated for the benchmarks.
const DATA_BYTES: usize = 32 << 20;
/// Raw batch handed to the encoder (backup.rs `BATCH_BYTES`).
const BATCH_BYTES: usize = 256 << 10;
/// Stored bytes drained from the encoder at a time (backup.rs `STORED_BATCH_BYTES`).
const STORED_BATCH_BYTES: usize = 256 << 10;
/// Stored bytes per `decode` call, about what a store's byte stream yields.
const STORED_SLICE: usize = 64 << 10;
const LEVELS: [i32; 3] = [1, 2, 3];

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `len` lowercase hex digits (what md5() output looks like).
    fn hex(&mut self, out: &mut Vec<u8>, len: usize) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut left = len;
        while left > 0 {
            let mut bits = self.next();
            for _ in 0..left.min(16) {
                out.push(HEX[(bits & 0xf) as usize]);
                bits >>= 4;
            }
            left -= left.min(16);
        }
    }
}

/// COPY text of the `orders` table (see the SQL in scripts/bench.sh), row by row:
/// `id  customer_id  sku  created_at  amount  status  note`.
fn orders_copy_text(target: usize) -> (Vec<u8>, u64) {
    use std::io::Write as _;
    const STATUS: [&str; 4] = ["new", "paid", "shipped", "cancelled"];
    // "now" = 2026-11-25 00:00:00 UTC; created_at = now - up to 1000 days, microseconds.
    const NOW_US: i64 = 1_795_564_800_000_000;
    const SPAN_US: u64 = 1000 * 86_400 * 1_000_000;
    let mut rng = Rng(0x5eed_0bad_cafe_f00d);
    let mut out = Vec::with_capacity(target + 512);
    let mut rows = 0u64;
    let mut id = 1u64;
    while out.len() < target {
        write!(out, "{id}\t{}\t", rng.below(100_001)).unwrap();
        rng.hex(&mut out, 32);
        let at_us = NOW_US - rng.below(SPAN_US) as i64;
        let at = chrono::DateTime::from_timestamp_micros(at_us).unwrap();
        // PostgreSQL prints fractional seconds without trailing zeros.
        let mut stamp = at.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
        while stamp.ends_with('0') {
            stamp.pop();
        }
        if stamp.ends_with('.') {
            stamp.pop();
        }
        let cents = rng.below(1_000_001);
        write!(out, "\t{stamp}+00\t{}.{:02}\t", cents / 100, cents % 100).unwrap();
        out.extend_from_slice(STATUS[rng.below(4) as usize].as_bytes());
        out.extend_from_slice(b"\tcustomer note ");
        let note_len = rng.below(33) as usize;
        rng.hex(&mut out, note_len);
        out.extend_from_slice(b" lorem ipsum dolor sit amet\n");
        rows += 1;
        id += 1;
    }
    (out, rows)
}

/// Split into row-aligned batches of at least `BATCH_BYTES` (as the backup reader batches).
fn batches(raw: &[u8]) -> Vec<(&[u8], u64)> {
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let end = match rest.iter().skip(BATCH_BYTES).position(|&b| b == b'\n') {
            Some(i) => BATCH_BYTES + i + 1,
            None => rest.len(),
        };
        let (batch, tail) = rest.split_at(end);
        let rows = batch.iter().filter(|&&b| b == b'\n').count() as u64;
        out.push((batch, rows));
        rest = tail;
    }
    out
}

/// Encode like backup.rs; `keep` collects the stored bytes (the timed loop drops them).
fn encode(batches: &[(&[u8], u64)], level: i32, mut keep: Option<&mut Vec<u8>>) -> Digest {
    let mut encoder = ChunkEncoder::new(level).expect("encoder");
    for &(batch, rows) in batches {
        encoder.write(batch, rows).expect("encode");
        if let Some(out) = encoder.take(STORED_BATCH_BYTES) {
            match keep.as_deref_mut() {
                Some(stored) => stored.extend_from_slice(&out),
                None => {
                    black_box(out);
                }
            }
        }
    }
    let (tail, digest) = encoder.finish().expect("finish");
    if let Some(stored) = keep {
        stored.extend_from_slice(&tail);
    }
    black_box(tail);
    digest
}

fn decode(stored: &[u8], expect: &Digest) -> Digest {
    let mut decoder = ChunkDecoder::new("bench/orders.copy.zst").expect("decoder");
    for slice in stored.chunks(STORED_SLICE) {
        black_box(decoder.decode(slice).expect("decode"));
    }
    decoder.finish(expect, true).expect("verify")
}

fn codec(c: &mut Criterion) {
    let (raw, rows) = orders_copy_text(DATA_BYTES);
    let batches = batches(&raw);
    assert_eq!(batches.iter().map(|b| b.1).sum::<u64>(), rows);
    eprintln!(
        "codec bench input: {rows} orders rows, {:.1} MiB of COPY text in {} batches",
        raw.len() as f64 / (1 << 20) as f64,
        batches.len()
    );

    // One untimed pass per level: the compression ratio, and the stored bytes for decoding.
    // Decoding runs on the default level's output (or level 1's if the default is not listed).
    let mut stored_default = (0, Vec::new(), Digest::default());
    for level in LEVELS {
        let mut stored = Vec::with_capacity(raw.len() / 2);
        let digest = encode(&batches, level, Some(&mut stored));
        assert_eq!(digest.raw_bytes, raw.len() as u64);
        assert_eq!(digest.stored_bytes, stored.len() as u64);
        eprintln!(
            "zstd level {level}: {} -> {} bytes, ratio {:.3}x",
            digest.raw_bytes,
            digest.stored_bytes,
            digest.raw_bytes as f64 / digest.stored_bytes as f64
        );
        if level == DEFAULT_ZSTD_LEVEL || stored_default.1.is_empty() {
            stored_default = (level, stored, digest);
        }
    }

    let mut group = c.benchmark_group("codec");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(raw.len() as u64));
    for level in LEVELS {
        group.bench_function(format!("encode/level-{level}"), |b| {
            b.iter(|| encode(&batches, level, None))
        });
    }
    let (decode_level, stored, digest) = &stored_default;
    group.bench_function(format!("decode_verify/level-{decode_level}"), |b| {
        b.iter(|| decode(stored, digest))
    });
    group.bench_function("sha256", |b| b.iter(|| Sha256::digest(black_box(&raw[..]))));
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
