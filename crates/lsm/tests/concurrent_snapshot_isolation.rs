//! Several writer threads move amounts between accounts in atomic batches while reader
//! threads check, through snapshots, that the total never changes: snapshot isolation
//! and batch atomicity under concurrency, across flushes and compactions.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{tiny_options, Rng, TempDir};
use strata_lsm::{Db, IterOptions, WriteBatch, WriteOptions};

const ACCOUNTS: u64 = 200;
const START: i64 = 1000;

fn account(i: u64) -> Vec<u8> {
    format!("acct{i:04}").into_bytes()
}

fn amount(v: &[u8]) -> i64 {
    std::str::from_utf8(v).unwrap().parse().unwrap()
}

#[test]
fn readers_always_see_whole_batches() {
    let dir = TempDir::new("concurrency");
    let db = Arc::new(Db::open(dir.path(), tiny_options()).unwrap());
    let mut b = WriteBatch::new();
    for i in 0..ACCOUNTS {
        b.put(&account(i), START.to_string().as_bytes());
    }
    db.write(WriteOptions::default(), b).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for w in 0..3u64 {
        let db = Arc::clone(&db);
        handles.push(std::thread::spawn(move || {
            let mut rng = Rng::new(w + 1);
            for _ in 0..1500 {
                // Read-modify-write under a snapshot; a single writer per account pair
                // would need locks, so each writer owns a disjoint set of accounts.
                let a = w + 3 * rng.below(ACCOUNTS / 3);
                let c = w + 3 * rng.below(ACCOUNTS / 3);
                if a == c {
                    continue;
                }
                let snap = db.snapshot();
                let va = amount(&snap.get(&account(a)).unwrap().unwrap());
                let vc = amount(&snap.get(&account(c)).unwrap().unwrap());
                let x = rng.below(50) as i64;
                let mut b = WriteBatch::new();
                b.put(&account(a), (va - x).to_string().as_bytes());
                b.put(&account(c), (vc + x).to_string().as_bytes());
                // Padding forces flushes and compactions while readers run.
                b.put(format!("pad{}", rng.next()).as_bytes(), &[0u8; 200]);
                db.write(WriteOptions::default(), b).unwrap();
            }
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        readers.push(std::thread::spawn(move || {
            let mut checks = 0;
            while !stop.load(Ordering::Relaxed) {
                let snap = db.snapshot();
                let total: i64 = snap
                    .iter(IterOptions {
                        lower: Some(b"acct".to_vec()),
                        upper: Some(b"acct~".to_vec()),
                        ..Default::default()
                    })
                    .unwrap()
                    .map(|r| amount(&r.unwrap().1))
                    .sum();
                assert_eq!(
                    total,
                    START * ACCOUNTS as i64,
                    "snapshot scan saw a partial batch"
                );
                let by_get: i64 = (0..ACCOUNTS)
                    .map(|i| amount(&snap.get(&account(i)).unwrap().unwrap()))
                    .sum();
                assert_eq!(
                    by_get,
                    START * ACCOUNTS as i64,
                    "snapshot gets saw a partial batch"
                );
                checks += 1;
            }
            checks
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    let stats = db.stats();
    assert!(stats.flushes > 0 && stats.compactions > 0, "{stats:?}");
}
