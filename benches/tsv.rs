//! MySQL TSV encoding throughput: `cargo bench --bench tsv`.
//!
//! The input is 200,000 rows with the columns of the `orders` table of `scripts/bench-mysql.sh`
//! (integer ids, an md5-like `sku`, a DATETIME, a DECIMAL, a short status, a `note` and an
//! 8-byte VARBINARY `tag` written as hex), generated deterministically. Unlike that table's
//! notes, which never need escaping, these are 20-69 bytes long, one in 10 is NULL and one in 50
//! holds a tab, newline or backslash, so the slow path is exercised too. Each iteration encodes
//! every field with [`tsv::push_value`] into one buffer, with the tab and newline terminators,
//! as the backup's row loop does (without the packet parsing). Throughput is in decimal MB of
//! TSV written per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use streamdump::engine::mysql::tsv::{self, Encoding};

const ROWS: usize = 200_000;

/// A tiny deterministic generator (64-bit LCG, Knuth's constants): the same rows every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 16
    }
}

/// A row's fields as the server sends them (`None` is NULL).
type Row = Vec<Option<Vec<u8>>>;

/// The rows, and the columns' encodings.
fn orders() -> (Vec<Row>, Vec<Encoding>) {
    let mut rng = Lcg(42);
    let statuses = ["new", "paid", "shipped", "delivered", "refunded"];
    let rows = (1..=ROWS)
        .map(|id| {
            let note = (!rng.next().is_multiple_of(10)).then(|| {
                let len = 20 + (rng.next() % 50) as usize;
                let mut note = format!("customer note {:x} lorem ipsum dolor sit amet", rng.next())
                    .into_bytes();
                note.resize(len, b'x');
                if rng.next().is_multiple_of(50) {
                    let at = (rng.next() as usize) % len;
                    note[at] = [b'\t', b'\n', b'\\'][(rng.next() % 3) as usize];
                }
                note
            });
            vec![
                Some(id.to_string().into_bytes()),
                Some((rng.next() % 100_000).to_string().into_bytes()),
                Some(format!("{:016x}{:016x}", rng.next(), rng.next()).into_bytes()),
                Some(
                    format!("2026-{:02}-{:02} 17:03:00", 1 + rng.next() % 12, 1 + rng.next() % 28)
                        .into_bytes(),
                ),
                Some(format!("{}.{:02}", rng.next() % 5000, rng.next() % 100).into_bytes()),
                Some(statuses[(rng.next() % 5) as usize].as_bytes().to_vec()),
                note,
                Some(rng.next().to_le_bytes().to_vec()),
            ]
        })
        .collect();
    let encodings = [vec![Encoding::Text; 7], vec![Encoding::Hex]].concat();
    (rows, encodings)
}

fn encode(rows: &[Row], encodings: &[Encoding], out: &mut Vec<u8>) {
    out.clear();
    for row in rows {
        for (i, (value, &encoding)) in row.iter().zip(encodings).enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            tsv::push_value(out, value.as_deref(), encoding);
        }
        out.push(b'\n');
    }
}

fn bench(c: &mut Criterion) {
    let (rows, encodings) = orders();
    let mut out = Vec::new();
    encode(&rows, &encodings, &mut out);
    let mut group = c.benchmark_group("tsv");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::BytesDecimal(out.len() as u64));
    group.bench_function("orders", |b| {
        b.iter(|| {
            encode(black_box(&rows), &encodings, &mut out);
            black_box(&out);
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
