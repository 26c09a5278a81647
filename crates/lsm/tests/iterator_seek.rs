//! `DbIterator::seek` repositions forward and reverse iterators inside their bounds,
//! over memtable and SST data, skipping deleted keys.

use strata_lsm::{Db, IterOptions, Options};

fn keys(it: &mut strata_lsm::DbIterator, n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while it.valid() && out.len() < n {
        out.push(it.key().to_vec());
        it.advance();
    }
    out
}

#[test]
fn seek_forward_and_reverse() {
    let dir = std::env::temp_dir().join(format!("strata-seek-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = Db::open(&dir, Options::default()).unwrap();
    for i in 0..100u32 {
        db.put(format!("k{i:03}").as_bytes(), b"v").unwrap();
    }
    db.flush().unwrap();
    for i in (0..100u32).step_by(3) {
        db.delete(format!("k{i:03}").as_bytes()).unwrap();
    }
    let mut it = db
        .iter(IterOptions {
            lower: Some(b"k010".to_vec()),
            upper: Some(b"k090".to_vec()),
            ..Default::default()
        })
        .unwrap();
    it.seek(b"k050");
    assert_eq!(keys(&mut it, 2), vec![b"k050".to_vec(), b"k052".to_vec()]);
    it.seek(b"k051"); // deleted: lands on the next live key
    assert_eq!(keys(&mut it, 1), vec![b"k052".to_vec()]);
    it.seek(b"a"); // before the lower bound: clamped
    assert_eq!(keys(&mut it, 1), vec![b"k010".to_vec()]);
    it.seek(b"k089");
    assert_eq!(keys(&mut it, 5), vec![b"k089".to_vec()]);
    it.seek(b"z");
    assert!(!it.valid());
    it.status().unwrap();

    let mut rev = db
        .iter(IterOptions {
            reverse: true,
            ..Default::default()
        })
        .unwrap();
    rev.seek(b"k050");
    assert_eq!(keys(&mut rev, 2), vec![b"k049".to_vec(), b"k047".to_vec()]);
    drop((it, rev, db));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sources holding disjoint stretches of keys (one block after another: the merge lets
/// the top source run through a block without comparisons) mixed with sources whose
/// keys interleave, overwrite and delete: every scan, from the start or from a seek,
/// forward or reverse, gives the model's keys and newest values.
#[test]
fn merges_of_runs_and_interleaved_sources_keep_order_and_newest_values() {
    use std::collections::BTreeMap;
    let dir = std::env::temp_dir().join(format!("strata-runs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = Options {
        block_size: 512,
        // No compaction merges the L0 files under the test.
        l0_compaction_trigger: 100,
        l0_idle_trigger: 0,
        l0_slowdown_trigger: 100,
        l0_stop_trigger: 100,
        ..Default::default()
    };
    let db = Db::open(&dir, opts).unwrap();
    let mut model = BTreeMap::new();
    let k = |i: u32| format!("collection-prefix-{i:06}").into_bytes();
    // Runs: file f holds keys [1000 f, 1000 f + 1000), with gaps.
    for f in 0..4u32 {
        for i in (1000 * f..1000 * (f + 1)).filter(|i| i % 7 != 0) {
            let v = format!("run{f}-{i}").into_bytes();
            db.put(&k(i), &v).unwrap();
            model.insert(k(i), v);
        }
        db.flush().unwrap();
    }
    // The first two files' range compacted into L1: a level iterator takes part too.
    db.compact_range(Some(&k(0)), Some(&k(1999))).unwrap();
    // Interleaved, in [2000, 3000) only (the rest stays pure runs): every 5th key,
    // overwriting some run keys and filling some gaps; then deletes of every 11th, and
    // writes left in the memtable.
    for i in (2000..3000u32).step_by(5) {
        let v = format!("inter-{i}").into_bytes();
        db.put(&k(i), &v).unwrap();
        model.insert(k(i), v);
    }
    db.flush().unwrap();
    for i in (2000..3000u32).step_by(11) {
        db.delete(&k(i)).unwrap();
        model.remove(&k(i));
    }
    for i in (2002..3000u32).step_by(97) {
        let v = format!("mem-{i}").into_bytes();
        db.put(&k(i), &v).unwrap();
        model.insert(k(i), v);
    }
    let scan = |it: &mut strata_lsm::DbIterator| {
        let mut out = Vec::new();
        while it.valid() {
            out.push((it.key().to_vec(), it.value().to_vec()));
            it.advance();
        }
        out
    };
    let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut it = db.iter(IterOptions::default()).unwrap();
    assert_eq!(scan(&mut it), want);
    for start in [0u32, 999, 1000, 1500, 2999, 3998] {
        let mut it = db.iter(IterOptions::default()).unwrap();
        it.seek(&k(start));
        let from: Vec<_> = model
            .range(k(start)..)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(scan(&mut it), from, "seek {start}");
    }
    // Upper bounds inside a file's run, at its end, between files, past the end.
    for (lo, hi) in [
        (0u32, 10u32),
        (5, 1500),
        (999, 1000),
        (1000, 2000),
        (0, 3999),
        (2500, 9999),
        (3000, 3500),
        (1990, 2010),
    ] {
        let mut it = db
            .iter(IterOptions {
                lower: Some(k(lo)),
                upper: Some(k(hi)),
                ..Default::default()
            })
            .unwrap();
        let inside: Vec<_> = model
            .range(k(lo)..k(hi))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(scan(&mut it), inside, "[{lo}, {hi})");
    }
    let mut rev = db
        .iter(IterOptions {
            reverse: true,
            ..Default::default()
        })
        .unwrap();
    let mut back = want.clone();
    back.reverse();
    assert_eq!(scan(&mut rev), back);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}
