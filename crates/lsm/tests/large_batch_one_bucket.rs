//! Large batches whose keys share their first two bytes (one collection's records) go
//! into the memtable in key order, not batch order (`Memtable::apply_hot_sorted`). The
//! result must not depend on it: the newest write of a key wins within a batch, deletes
//! hide values, snapshots see what they saw, and a reopen (the WAL replayed through
//! the same path) gives the same contents.

mod common;

use std::collections::BTreeMap;

use common::{tiny_options, Rng, TempDir};
use strata_lsm::{Db, IterOptions, Options, WriteBatch, WriteOptions};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(rng: &mut Rng, space: u64) -> Vec<u8> {
    // One bucket ("c0"), then a shared part, then a random member; some members are
    // prefixes of others.
    let n = rng.below(space);
    let mut k = format!("c0:set:{n:05}").into_bytes();
    if n.is_multiple_of(11) {
        k.truncate(k.len() - 1);
    }
    k
}

fn contents(db: &Db, snapshot: Option<&strata_lsm::Snapshot>) -> Model {
    let it = match snapshot {
        Some(s) => s.iter(IterOptions::default()),
        None => db.iter(IterOptions::default()),
    };
    it.unwrap().map(|r| r.unwrap()).collect()
}

fn check(db: &Db, model: &Model) {
    assert_eq!(&contents(db, None), model);
    for (k, v) in model.iter().step_by(7) {
        assert_eq!(db.get(k).unwrap().as_deref(), Some(v.as_slice()));
    }
}

/// Put `value` at `key` (delete it when None) in the batch and in the model.
fn record(b: &mut WriteBatch, model: &mut Model, key: Vec<u8>, value: Option<String>) {
    match value {
        Some(v) => {
            b.put(&key, v.as_bytes());
            model.insert(key, v.into_bytes());
        }
        None => {
            b.delete(&key);
            model.remove(&key);
        }
    }
}

fn run(opts: Options, seed: u64) {
    let dir = TempDir::new("onebucket");
    let mut rng = Rng::new(seed);
    let mut model = Model::new();
    {
        let db = Db::open(dir.path(), opts.clone()).unwrap();
        for round in 0..8u32 {
            let snap = db.snapshot();
            let before = model.clone();
            let mut b = WriteBatch::new();
            // Mostly random keys of one bucket (many written twice or deleted in the
            // same batch), a few in other buckets, sometimes a range delete.
            let n = 4200 + rng.below(3000) as usize;
            for i in 0..n {
                let k = if rng.below(20) == 0 {
                    format!("z{}", rng.below(50)).into_bytes()
                } else {
                    key(&mut rng, 20_000)
                };
                let delete = rng.below(6) == 0;
                record(
                    &mut b,
                    &mut model,
                    k,
                    (!delete).then(|| format!("r{round}:{i}")),
                );
            }
            if round % 5 == 4 {
                let lo = key(&mut rng, 2_000);
                let hi = [lo.as_slice(), b"~"].concat();
                b.delete_range(&lo, &hi);
                model.retain(|k, _| !(k.as_slice() >= lo.as_slice() && k.as_slice() < &hi[..]));
            }
            db.write(WriteOptions::default(), b).unwrap();
            check(&db, &model);
            assert_eq!(
                contents(&db, Some(&snap)),
                before,
                "snapshot of round {round}"
            );
        }
        db.flush().unwrap();
        check(&db, &model);
        // More batches left only in the WAL for the reopen below to replay.
        for round in 8..11u32 {
            let mut b = WriteBatch::new();
            for i in 0..5000 {
                let k = key(&mut rng, 20_000);
                record(
                    &mut b,
                    &mut model,
                    k,
                    (i % 9 != 0).then(|| format!("r{round}:{i}")),
                );
            }
            db.write(WriteOptions::default(), b).unwrap();
        }
        check(&db, &model);
        db.sync_wal().unwrap();
    }
    let db = Db::open(dir.path(), opts).unwrap();
    check(&db, &model);
}

#[test]
fn random_large_batches_in_one_bucket_match_a_model() {
    run(tiny_options(), 1);
    run(Options::default(), 2);
}

#[test]
fn a_large_batch_in_key_order_reads_back() {
    // Already ordered (the server sorts a RESTORE's records): inserted as they come.
    let dir = TempDir::new("onebucket-sorted");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut b = WriteBatch::new();
    for i in 0..5_000u32 {
        b.put(format!("c0:h:{i:06}").as_bytes(), &i.to_le_bytes());
    }
    b.put(b"c0", b"meta");
    db.write(WriteOptions::default(), b).unwrap();
    assert_eq!(db.get(b"c0").unwrap().as_deref(), Some(&b"meta"[..]));
    let all = contents(&db, None);
    assert_eq!(all.len(), 5_001);
    assert_eq!(
        db.get(b"c0:h:004999").unwrap().as_deref(),
        Some(&4999u32.to_le_bytes()[..])
    );
}
