//! Criterion micro-benchmarks of the engine's parts: memtable insert (random keys, and
//! one large collection's members), a large batch under one prefix, block decode,
//! bloom probe, a point read served from SSTs (block cache warm), ten random point
//! reads of a 1M-key database (one by one, with `get_many`, with `get_many_with`),
//! forward scans (a collection's records from three sources; random keys from eight L0
//! files), and memtable scans in key order (one list, and the flush's lanes).
//!
//! Run: `cargo bench -p strata-lsm`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strata_lsm::bench_support::{
    bloom_build, bloom_may_contain, build_block, hash64, scan_block, Memtable,
};
use strata_lsm::{Db, IterOptions, Options};

fn key(i: u64) -> Vec<u8> {
    format!("{i:016}").into_bytes()
}

fn memtable_insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("memtable");
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("insert 100k random 16B keys, 100B values", |b| {
        let keys: Vec<Vec<u8>> = (0..100_000u64)
            .map(|i| key(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 1_000_000))
            .collect();
        let value = vec![b'v'; 100];
        b.iter_batched(
            Memtable::default,
            |m| {
                for (i, k) in keys.iter().enumerate() {
                    m.insert(i as u64 + 1, k, &value);
                }
                m
            },
            BatchSize::LargeInput,
        );
    });
    // A large collection's records share their bucket (their first two bytes): one
    // skiplist of 100k nodes, where the bucket index does the descending.
    g.bench_function("insert 100k random members of one collection", |b| {
        let keys: Vec<Vec<u8>> = (0..100_000u64)
            .map(|i| {
                let m = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 1_000_000;
                format!("\x12\x34\x00\x01myset\x00\x00\x00\x01element:{m:07}").into_bytes()
            })
            .collect();
        b.iter_batched(
            Memtable::default,
            |m| {
                for (i, k) in keys.iter().enumerate() {
                    m.insert(i as u64 + 1, k, b"");
                }
                m
            },
            BatchSize::LargeInput,
        );
    });
    // A pipelined loop iteration's writes (`redis-benchmark -P 16 -c 50`): batches of
    // 800 keys of random slots (the server's key layout: 2-byte slot first), 60k in all.
    let batches: Vec<strata_lsm::WriteBatch> = (0..75u64)
        .map(|j| {
            let mut batch = strata_lsm::WriteBatch::new();
            for i in 0..800u64 {
                let m = (j * 800 + i).wrapping_mul(0x9e37_79b9_7f4a_7c15) % 1_000_000;
                let slot = (m.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 50) as u16;
                let mut k = slot.to_be_bytes().to_vec();
                k.extend_from_slice(format!("\x00\x00key:{m:012}").as_bytes());
                batch.put(&k, &[b'v'; 100]);
            }
            batch
        })
        .collect();
    g.bench_function("apply 60k random keys in batches of 800", |b| {
        b.iter_batched(
            Memtable::default,
            |m| {
                for (j, batch) in batches.iter().enumerate() {
                    m.apply(j as u64 * 800 + 1, batch);
                }
                m
            },
            BatchSize::LargeInput,
        );
    });
    // What a flush reads: the same memtable of 60k keys, in key order (nodes lie in the
    // arena in insertion order, so each step is a jump).
    g.throughput(Throughput::Elements(60_000));
    let full = Memtable::default();
    for (j, batch) in batches.iter().enumerate() {
        full.apply(j as u64 * 800 + 1, batch);
    }
    g.bench_function("scan 60k random keys in key order", |b| {
        b.iter(|| black_box(full.scan()));
    });
    g.bench_function("scan 60k random keys in key order, in lanes", |b| {
        b.iter(|| black_box(full.scan_in_lanes()));
    });
    g.finish();
}

/// One write batch of 100k keys under one 2-byte prefix (a collection's records, a bulk
/// load), in random and in key order, into a fresh range of the memtable.
fn batch_one_prefix(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("strata-bench-batch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = Db::open(&dir, Options::default()).expect("open");
    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(100_000));
    let mut round = 0u64;
    for sorted in [false, true] {
        let name = if sorted {
            "write 100k keys under one prefix, in key order"
        } else {
            "write 100k keys under one prefix, random order"
        };
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    round += 1;
                    let mut members: Vec<u64> = (0..100_000u64)
                        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 10_000_000)
                        .collect();
                    if sorted {
                        members.sort_unstable();
                    }
                    members.dedup();
                    let mut batch = strata_lsm::WriteBatch::new();
                    for m in members {
                        batch.put(format!("c0:set:{round:08}:{m:08}").as_bytes(), b"");
                    }
                    batch
                },
                |batch| db.write(Default::default(), batch).expect("write"),
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}

fn block_decode(c: &mut Criterion) {
    let entries: Vec<(Vec<u8>, Vec<u8>)> =
        (0..32u64).map(|i| (key(i * 7), vec![b'v'; 100])).collect();
    let block: Arc<[u8]> = build_block(&entries).into();
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Bytes(block.len() as u64));
    g.bench_function("decode a 4 KiB data block", |b| {
        b.iter(|| scan_block(black_box(block.clone())))
    });
    g.finish();
}

fn bloom_probe(c: &mut Criterion) {
    let hashes: Vec<u64> = (0..100_000u64).map(|i| hash64(&key(i))).collect();
    let filter = bloom_build(&hashes, 10);
    let probes: Vec<u64> = (0..1024u64).map(|i| hash64(&key(i * 977))).collect();
    let mut g = c.benchmark_group("bloom");
    g.throughput(Throughput::Elements(probes.len() as u64));
    g.bench_function("probe (100k keys, 10 bits/key)", |b| {
        b.iter(|| {
            probes
                .iter()
                .filter(|&&h| bloom_may_contain(black_box(&filter), h))
                .count()
        })
    });
    g.bench_function("hash64 of a 16-byte key", |b| {
        b.iter(|| hash64(black_box(b"0000000000123456")))
    });
    g.finish();
}

fn sst_point_read(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("strata-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = Db::open(&dir, Options::default()).expect("open");
    let n = 200_000u64;
    for i in 0..n {
        db.put(&key(i), &[b'v'; 100]).expect("put");
    }
    db.compact_range(None, None).expect("compact");
    let mut g = c.benchmark_group("sst");
    let mut i = 0u64;
    g.bench_function("point read, 200k keys in SSTs, warm cache", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            db.get(&key(i)).expect("get")
        })
    });
    g.bench_function("point read of a missing key (bloom)", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            db.get(&key(n + i)).expect("get")
        })
    });
    g.finish();
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ten random keys of a database much larger than the CPU's caches, read one by one and
/// with `get_many` (the lookups of MSET's ten keys in the server).
fn many_point_reads(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("strata-bench-many-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = Db::open(&dir, Options::default()).expect("open");
    let n = 1_000_000u64;
    let spread = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % n;
    for i in 0..n {
        db.put(&key(spread(i)), &[b'v'; 100]).expect("put");
    }
    db.compact_range(None, None).expect("compact");
    let mut g = c.benchmark_group("sst");
    g.throughput(Throughput::Elements(10));
    let mut i = 0u64;
    let mut ten = move || {
        (0..10)
            .map(|_| {
                i += 1;
                key(spread(i.wrapping_mul(7919)))
            })
            .collect::<Vec<_>>()
    };
    g.bench_function("10 random point reads of 1M keys, one by one", |b| {
        b.iter_batched(
            &mut ten,
            |keys| {
                for k in &keys {
                    black_box(db.get(k).expect("get"));
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("10 random point reads of 1M keys, get_many", |b| {
        b.iter_batched(
            &mut ten,
            |keys| {
                let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                black_box(db.get_many(&refs).expect("get_many"))
            },
            BatchSize::SmallInput,
        )
    });
    // What MSET asks: one byte of each record, read in place.
    g.bench_function("10 random point reads of 1M keys, get_many_with", |b| {
        b.iter_batched(
            &mut ten,
            |keys| {
                let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                black_box(db.get_many_with(&refs, |v| v[0]).expect("get_many_with"))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A forward scan of 100k entries from three sources (two L0 files and the memtable),
/// within bounds: the sources holding disjoint stretches of keys (a large collection
/// written over time), and interleaved key by key (the worst case for the merge).
/// DUMP of a large collection, HGETALL, SCAN and compaction's input iterate like this.
fn scan(c: &mut Criterion) {
    let mut g = c.benchmark_group("iter");
    g.throughput(Throughput::Elements(100_000));
    for interleaved in [false, true] {
        let dir = std::env::temp_dir().join(format!(
            "strata-bench-scan-{interleaved}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let db = Db::open(&dir, Options::default()).expect("open");
        // A collection's records: a shared 24-byte prefix, then the member.
        let rec = |i: u64| format!("slot-db-1-key-version-8{:014}", i * 3).into_bytes();
        for part in 0..3u64 {
            let keys: Vec<u64> = if interleaved {
                (part..100_000).step_by(3).collect()
            } else {
                (part * 34_000..((part + 1) * 34_000).min(100_000)).collect()
            };
            for i in keys {
                db.put(&rec(i), &i.to_be_bytes()).expect("put");
            }
            if part < 2 {
                db.flush().expect("flush");
            }
        }
        let name = if interleaved {
            "scan 100k entries, 3 sources interleaved key by key"
        } else {
            "scan 100k entries, 3 sources in disjoint stretches"
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut it = db
                    .iter(IterOptions {
                        lower: Some(b"slot".to_vec()),
                        upper: Some(b"slou".to_vec()),
                        ..Default::default()
                    })
                    .expect("iter");
                let (mut n, mut bytes) = (0u64, 0usize);
                while it.valid() {
                    n += 1;
                    bytes += it.key().len() + it.value().len();
                    it.advance();
                }
                black_box((n, bytes))
            })
        });
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
    // What an L0 compaction merges: eight files of random keys in the server's layout
    // (2-byte slot first), 25k keys each.
    let dir = std::env::temp_dir().join(format!("strata-bench-scan8-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = Options {
        l0_compaction_trigger: 100,
        l0_idle_trigger: 0,
        l0_slowdown_trigger: 200,
        l0_stop_trigger: 300,
        ..Options::default()
    };
    let db = Db::open(&dir, opts).expect("open");
    for part in 0..8u64 {
        for i in 0..25_000u64 {
            let m = (part * 25_000 + i).wrapping_mul(0x9e37_79b9_7f4a_7c15) % 1_000_000;
            let slot = (m.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 50) as u16;
            let mut k = slot.to_be_bytes().to_vec();
            k.extend_from_slice(format!("\x00\x00key:{m:012}").as_bytes());
            db.put(&k, &[b'v'; 100]).expect("put");
        }
        db.flush().expect("flush");
    }
    g.throughput(Throughput::Elements(200_000));
    g.bench_function("scan 200k random keys from 8 L0 files", |b| {
        b.iter(|| {
            let mut it = db.iter(IterOptions::default()).expect("iter");
            let mut n = 0usize;
            while it.valid() {
                n += it.key().len();
                it.advance();
            }
            black_box(n)
        })
    });
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    g.finish();
}

criterion_group!(
    benches,
    scan,
    many_point_reads,
    memtable_insert,
    batch_one_prefix,
    block_decode,
    bloom_probe,
    sst_point_read
);
criterion_main!(benches);
