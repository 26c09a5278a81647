//! Criterion benchmarks of the codec: CRC-64/Jones (crc-fast beside Redis's
//! slice-by-8 table method), and encode/decode of 10k-element values and large strings.
//!
//! Run: `cargo bench -p strata-rdb --bench codec`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use strata_rdb::crc64::{crc64, crc64_slice_by_8};
use strata_rdb::{dump, restore, EncodeConfig, Target, Value, RDB_VERSION_7_0};

fn crc(c: &mut Criterion) {
    let data: Vec<u8> = (0..(16u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut g = c.benchmark_group("crc64-jones 16 MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("crc-fast (SIMD)", |b| b.iter(|| crc64(black_box(&data))));
    g.bench_function("slice-by-8 table (Redis's method)", |b| {
        b.iter(|| crc64_slice_by_8(black_box(&data)))
    });
    g.finish();
}

fn values() -> Vec<(&'static str, Value)> {
    let n = 10_000u32;
    let s = |i: u32| format!("element:{i:08}").into_bytes();
    vec![
        ("list 10k", Value::List((0..n).map(s).collect())),
        ("set 10k", Value::Set((0..n).map(s).collect())),
        (
            "hash 10k",
            Value::Hash((0..n).map(|i| (s(i), s(i + n))).collect()),
        ),
        (
            "zset 10k",
            Value::ZSet((0..n).map(|i| (s(i), f64::from(i) * 1.5)).collect()),
        ),
        (
            "string 1 MiB text",
            Value::String(
                b"lorem ipsum dolor sit amet "
                    .iter()
                    .copied()
                    .cycle()
                    .take(1 << 20)
                    .collect(),
            ),
        ),
    ]
}

fn codec(c: &mut Criterion) {
    let cfg = EncodeConfig::default();
    let mut g = c.benchmark_group("codec");
    for (name, v) in values() {
        let payload = dump(&v, Target::Redis7_0, &cfg);
        g.throughput(Throughput::Bytes(payload.len() as u64));
        g.bench_function(format!("encode {name}"), |b| {
            b.iter(|| dump(black_box(&v), Target::Redis7_0, &cfg))
        });
        g.bench_function(format!("decode {name}"), |b| {
            b.iter(|| restore(black_box(&payload), RDB_VERSION_7_0))
        });
    }
    g.finish();
}

criterion_group!(benches, crc, codec);
criterion_main!(benches);
