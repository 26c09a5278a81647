//! `Db::bulk_load`: entries written straight into an SST read like written ones, are
//! atomic and durable at `finish`, stay behind later writes (also after a reopen), and
//! a load that could be shadowed by a memtable, or is out of order, loads nothing.

mod common;

use std::collections::BTreeMap;

use common::{tiny_options, Rng, TempDir};
use strata_lsm::{Db, Error, IterOptions, Options};

fn ssts(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sst"))
        .count()
}

fn all(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.iter(IterOptions::default())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn loaded_entries_read_like_written_ones_and_later_writes_win() {
    let dir = TempDir::new("bulk-basic");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"a", b"before").unwrap();
    db.put(b"z", b"before").unwrap();
    let before = db.snapshot();
    let mut load = db.bulk_load().unwrap();
    for i in 0..5000u32 {
        load.put(format!("m{i:05}").as_bytes(), format!("v{i}").as_bytes())
            .unwrap();
    }
    assert_eq!(load.len(), 5000);
    assert!(load.finish().unwrap());
    assert_eq!(db.stats().bulk_loads, 1);
    assert_eq!(db.get(b"m01234").unwrap(), Some(b"v1234".to_vec()));
    let keys = [&b"m00000"[..], b"m04999", b"m05000", b"a"];
    assert_eq!(
        db.get_many(&keys).unwrap(),
        vec![
            Some(b"v0".to_vec()),
            Some(b"v4999".to_vec()),
            None,
            Some(b"before".to_vec())
        ]
    );
    // A snapshot taken before the load does not see it.
    assert_eq!(before.get(b"m00001").unwrap(), None);
    assert_eq!(before.iter(IterOptions::default()).unwrap().count(), 2);
    drop(before);
    let rows = all(&db);
    assert_eq!(rows.len(), 5002);
    assert_eq!(rows[1], (b"m00000".to_vec(), b"v0".to_vec()));
    // Later writes to loaded keys win, before and after a reopen.
    db.put(b"m00007", b"after").unwrap();
    db.delete(b"m00008").unwrap();
    assert_eq!(db.get(b"m00007").unwrap(), Some(b"after".to_vec()));
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(b"m00007").unwrap(), Some(b"after".to_vec()));
    assert_eq!(db.get(b"m00008").unwrap(), None);
    assert_eq!(db.get(b"m00009").unwrap(), Some(b"v9".to_vec()));
    // Writes after the reopen are numbered above the loaded entries.
    db.put(b"m00009", b"reopened").unwrap();
    db.flush().unwrap();
    db.compact_range(None, None).unwrap();
    assert_eq!(db.get(b"m00009").unwrap(), Some(b"reopened".to_vec()));
    assert_eq!(db.get(b"m00007").unwrap(), Some(b"after".to_vec()));
    assert_eq!(all(&db).len(), 5001);
}

#[test]
fn a_load_a_memtable_could_shadow_loads_nothing() {
    let dir = TempDir::new("bulk-clash");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"k5", b"memtable").unwrap();
    let files = ssts(dir.path());
    let mut load = db.bulk_load().unwrap();
    for i in 0..10 {
        load.put(format!("k{i}").as_bytes(), b"loaded").unwrap();
    }
    assert!(!load.finish().unwrap());
    assert_eq!(ssts(dir.path()), files, "the refused file is removed");
    assert_eq!(db.get(b"k5").unwrap(), Some(b"memtable".to_vec()));
    assert_eq!(db.get(b"k4").unwrap(), None);
    assert_eq!(db.stats().bulk_loads, 0);
    // Keys beside the memtable's (not around them) load.
    let mut load = db.bulk_load().unwrap();
    load.put(b"k6", b"loaded").unwrap();
    load.put(b"k7", b"loaded").unwrap();
    assert!(load.finish().unwrap());
    assert_eq!(db.get(b"k7").unwrap(), Some(b"loaded".to_vec()));
    // The database takes writes as before.
    db.put(b"k4", b"written").unwrap();
    assert_eq!(db.get(b"k4").unwrap(), Some(b"written".to_vec()));
}

#[test]
fn out_of_order_or_dropped_loads_leave_nothing() {
    let dir = TempDir::new("bulk-order");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let files = ssts(dir.path());
    let mut load = db.bulk_load().unwrap();
    load.put(b"b", b"1").unwrap();
    assert!(matches!(
        load.put(b"b", b"2"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        load.put(b"c", b"2"),
        Err(Error::InvalidArgument(_))
    ));
    drop(load);
    // A part that failed fails the load, even if its error was ignored.
    let mut load = db.bulk_load().unwrap();
    let mut part = load.part().unwrap();
    load.put(b"a", b"1").unwrap();
    part.put(b"y", b"1").unwrap();
    let _ = part.put(b"x", b"1");
    assert!(matches!(
        load.finish_with(vec![part]),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(db.get(b"a").unwrap(), None);
    let mut load = db.bulk_load().unwrap();
    load.put(b"x", b"1").unwrap();
    drop(load);
    assert_eq!(ssts(dir.path()), files);
    assert_eq!(db.get(b"b").unwrap(), None);
    assert_eq!(db.get(b"x").unwrap(), None);
    // An empty load is a no-op.
    assert!(db.bulk_load().unwrap().finish().unwrap());
    db.put(b"b", b"written").unwrap();
    assert_eq!(db.get(b"b").unwrap(), Some(b"written".to_vec()));
}

#[test]
fn parts_filled_on_other_threads_load_together_or_not_at_all() {
    let dir = TempDir::new("bulk-parts");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let files = ssts(dir.path());
    let mut load = db.bulk_load().unwrap();
    let mut parts = vec![load.part().unwrap(), load.part().unwrap()];
    std::thread::scope(|s| {
        for (n, part) in parts.iter_mut().enumerate() {
            s.spawn(move || {
                for i in 0..3000u32 {
                    part.put(format!("p{n}-{i:05}").as_bytes(), b"v").unwrap();
                }
                part.seal().unwrap();
            });
        }
    });
    for i in 0..3000u32 {
        load.put(format!("main-{i:05}").as_bytes(), b"m").unwrap();
    }
    // An empty part is no file.
    parts.push(load.part().unwrap());
    assert!(load.finish_with(parts).unwrap());
    assert_eq!(ssts(dir.path()), files + 3);
    assert_eq!(db.stats().bulk_loads, 1);
    assert_eq!(all(&db).len(), 9000);
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(b"p1-02999").unwrap(), Some(b"v".to_vec()));
    assert_eq!(all(&db).len(), 9000);

    // Parts whose ranges overlap: refused, nothing loaded, no file left.
    let files = ssts(dir.path());
    let mut load = db.bulk_load().unwrap();
    let mut part = load.part().unwrap();
    load.put(b"q1", b"x").unwrap();
    load.put(b"q3", b"x").unwrap();
    part.put(b"q2", b"y").unwrap();
    assert!(matches!(
        load.finish_with(vec![part]),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(ssts(dir.path()), files);
    assert_eq!(db.get(b"q1").unwrap(), None);

    // A part of a load that was dropped does not join the next load.
    let mut load = db.bulk_load().unwrap();
    let mut stray = load.part().unwrap();
    stray.put(b"s", b"x").unwrap();
    drop(load);
    let load = db.bulk_load().unwrap();
    assert!(matches!(
        load.finish_with(vec![stray]),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(ssts(dir.path()), files);

    // One part a memtable could shadow: the whole load is refused.
    db.put(b"r5", b"memtable").unwrap();
    let mut load = db.bulk_load().unwrap();
    let mut part = load.part().unwrap();
    load.put(b"a", b"x").unwrap();
    part.put(b"r1", b"y").unwrap();
    part.put(b"r9", b"y").unwrap();
    assert!(!load.finish_with(vec![part]).unwrap());
    assert_eq!(db.get(b"a").unwrap(), None);
    assert_eq!(ssts(dir.path()), files);
}

/// Loads of fresh key ranges mixed with writes, deletes, flushes and compactions (tiny
/// tables: many levels, manifest rewrites) agree with a map, also across reopens.
#[test]
fn loads_mixed_with_writes_match_a_model() {
    let dir = TempDir::new("bulk-model");
    let mut db = Db::open(dir.path(), tiny_options()).unwrap();
    let mut model = BTreeMap::new();
    let mut rng = Rng::new(0x5eed_b01c);
    let mut next_range = 0u32;
    // Writes go to keys of their own and to keys that loads write too.
    let pick = |rng: &mut Rng, loaded: u32| {
        if loaded > 0 && rng.below(2) == 0 {
            // The last few ranges: where loads go back to.
            let r = loaded - 1 - rng.below(u64::from(loaded.min(3))) as u32;
            format!("b{r:04}-{:04}", rng.below(300)).into_bytes()
        } else {
            format!("w{:04}", rng.below(3000)).into_bytes()
        }
    };
    let mut refused = 0;
    for step in 0..600u32 {
        match rng.below(10) {
            0..=4 => {
                let k = pick(&mut rng, next_range);
                let v = format!("s{step}").into_bytes();
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            5 => {
                let k = pick(&mut rng, next_range);
                db.delete(&k).unwrap();
                model.remove(&k);
            }
            6..=7 => {
                // A fresh range, or an overwrite of existing loaded keys (which only
                // loads when no memtable holds them).
                let r = if next_range > 0 && rng.below(3) > 0 {
                    next_range - 1 - rng.below(u64::from(next_range.min(3))) as u32
                } else {
                    next_range += 1;
                    next_range - 1
                };
                let n = 1 + rng.below(300) as u32;
                let mut load = db.bulk_load().unwrap();
                let mut rows = Vec::new();
                for i in 0..n {
                    let k = format!("b{r:04}-{i:04}").into_bytes();
                    let v = format!("l{step}-{i}").into_bytes();
                    load.put(&k, &v).unwrap();
                    rows.push((k, v));
                }
                if load.finish().unwrap() {
                    model.extend(rows);
                } else {
                    refused += 1;
                }
            }
            8 => db.flush().unwrap(),
            _ => {
                if rng.below(4) == 0 {
                    db.compact_range(None, None).unwrap();
                } else {
                    drop(db);
                    db = Db::open(dir.path(), tiny_options()).unwrap();
                }
            }
        }
        if step % 10 == 0 {
            // Point reads (memtables first, then L0 newest file first) and the merging
            // iterator (by sequence number) must both agree with the model.
            for (k, v) in &model {
                assert_eq!(db.get(k).unwrap().as_ref(), Some(v), "step {step}");
            }
            let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(all(&db), want, "step {step}");
        }
    }
    let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(all(&db), want);
    for (k, v) in &model {
        assert_eq!(db.get(k).unwrap().as_ref(), Some(v));
    }
    assert!(db.stats().bulk_loads > 0);
    assert!(refused > 0, "some loads met a memtable");
}
