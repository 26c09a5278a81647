//! Model-based test: random puts, deletes, range deletes, batches, snapshots and
//! iteration, compared with a BTreeMap, across flushes, compactions and reopens.

mod common;

use std::collections::BTreeMap;

use common::{tiny_options, Rng, TempDir};
use strata_lsm::{Db, IterOptions, WriteBatch, WriteOptions};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(rng: &mut Rng) -> Vec<u8> {
    // A small key space so overwrites and deletes hit existing keys; some keys are
    // prefixes of others.
    let n = rng.below(400);
    let mut k = format!("k{n:03}").into_bytes();
    if n.is_multiple_of(7) {
        k.truncate(3);
    }
    k
}

fn value(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(60) as usize;
    (0..len).map(|_| rng.below(256) as u8).collect()
}

fn check_scan(
    db_iter: strata_lsm::DbIterator,
    model: &Model,
    lo: Option<&[u8]>,
    hi: Option<&[u8]>,
    reverse: bool,
) {
    let got: Vec<(Vec<u8>, Vec<u8>)> = db_iter.map(|r| r.unwrap()).collect();
    let mut want: Vec<(Vec<u8>, Vec<u8>)> = model
        .iter()
        .filter(|(k, _)| {
            lo.is_none_or(|l| k.as_slice() >= l) && hi.is_none_or(|h| k.as_slice() < h)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if reverse {
        want.reverse();
    }
    assert_eq!(
        got.len(),
        want.len(),
        "scan {lo:?}..{hi:?} reverse={reverse}"
    );
    assert_eq!(got, want);
}

fn run(seed: u64, steps: usize) {
    let dir = TempDir::new("model");
    // Odd seeds read SSTs through pread and the block cache, even ones through mappings.
    let opts = strata_lsm::Options {
        mmap_reads: seed.is_multiple_of(2),
        ..tiny_options()
    };
    let mut rng = Rng::new(seed);
    let mut db = Some(Db::open(dir.path(), opts.clone()).unwrap());
    let mut model = Model::new();
    let mut snapshots: Vec<(strata_lsm::Snapshot, Model)> = Vec::new();
    for step in 0..steps {
        let d = db.as_ref().unwrap();
        match rng.below(100) {
            0..=44 => {
                let (k, v) = (key(&mut rng), value(&mut rng));
                d.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            45..=59 => {
                let k = key(&mut rng);
                d.delete(&k).unwrap();
                model.remove(&k);
            }
            60..=61 => {
                let (mut a, mut b) = (key(&mut rng), key(&mut rng));
                if a > b {
                    std::mem::swap(&mut a, &mut b);
                }
                d.delete_range(&a, &b).unwrap();
                let doomed: Vec<_> = model
                    .range(a.clone()..b.clone())
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in doomed {
                    model.remove(&k);
                }
            }
            62..=69 => {
                let mut b = WriteBatch::new();
                for _ in 0..rng.below(10) {
                    let k = key(&mut rng);
                    if rng.below(3) == 0 {
                        b.delete(&k);
                        model.remove(&k);
                    } else {
                        let v = value(&mut rng);
                        b.put(&k, &v);
                        model.insert(k, v);
                    }
                }
                d.write(WriteOptions::default(), b).unwrap();
            }
            70..=74 => {
                let k = key(&mut rng);
                assert_eq!(
                    d.get(&k).unwrap(),
                    model.get(&k).cloned(),
                    "seed {seed} step {step} get {k:?}"
                );
            }
            75..=79 => {
                // Several keys at once (sometimes more than one group of 32), one of
                // them maybe twice.
                let n = if rng.below(4) == 0 {
                    33 + rng.below(40)
                } else {
                    1 + rng.below(12)
                };
                let mut ks: Vec<Vec<u8>> = (0..n).map(|_| key(&mut rng)).collect();
                if rng.below(2) == 0 {
                    ks.push(ks[0].clone());
                }
                let refs: Vec<&[u8]> = ks.iter().map(Vec::as_slice).collect();
                let want: Vec<_> = ks.iter().map(|k| model.get(k).cloned()).collect();
                assert_eq!(d.get_many(&refs).unwrap(), want, "seed {seed} step {step}");
                // The in-place reader sees the same values (here: their length and
                // last byte), and nothing for a key without one.
                let peek = |v: &[u8]| (v.len(), v.last().copied());
                let want_peeks: Vec<_> = want.iter().map(|v| v.as_deref().map(peek)).collect();
                assert_eq!(
                    d.get_many_with(&refs, peek).unwrap(),
                    want_peeks,
                    "seed {seed} step {step} get_many_with"
                );
                if let Some((snap, m)) = snapshots.last() {
                    let want: Vec<_> = ks.iter().map(|k| m.get(k).cloned()).collect();
                    assert_eq!(snap.get_many(&refs).unwrap(), want, "snapshot get_many");
                }
            }
            80..=83 => {
                if snapshots.len() < 4 {
                    snapshots.push((d.snapshot(), model.clone()));
                } else {
                    snapshots.remove(rng.below(4) as usize);
                }
            }
            84..=89 => {
                let (mut a, mut b) = (key(&mut rng), key(&mut rng));
                if a > b {
                    std::mem::swap(&mut a, &mut b);
                }
                let reverse = rng.below(2) == 0;
                let lo = (rng.below(3) > 0).then_some(a);
                let hi = (rng.below(3) > 0).then_some(b);
                let opts = IterOptions {
                    lower: lo.clone(),
                    upper: hi.clone(),
                    reverse,
                    ..Default::default()
                };
                if let Some((snap, m)) = snapshots.first() {
                    check_scan(
                        snap.iter(opts.clone()).unwrap(),
                        m,
                        lo.as_deref(),
                        hi.as_deref(),
                        reverse,
                    );
                }
                check_scan(
                    d.iter(opts).unwrap(),
                    &model,
                    lo.as_deref(),
                    hi.as_deref(),
                    reverse,
                );
            }
            90..=93 => {
                for (snap, m) in &snapshots {
                    let k = key(&mut rng);
                    assert_eq!(snap.get(&k).unwrap(), m.get(&k).cloned(), "snapshot get");
                }
            }
            94..=95 => d.flush().unwrap(),
            96..=97 => {
                let (mut a, mut b) = (key(&mut rng), key(&mut rng));
                if a > b {
                    std::mem::swap(&mut a, &mut b);
                }
                if rng.below(2) == 0 {
                    d.compact_range(None, None).unwrap();
                } else {
                    d.compact_range(Some(&a), Some(&b)).unwrap();
                }
            }
            _ => {
                // Reopen (snapshots do not survive a reopen).
                snapshots.clear();
                drop(db.take());
                db = Some(Db::open(dir.path(), opts.clone()).unwrap());
            }
        }
    }
    let d = db.as_ref().unwrap();
    check_scan(
        d.iter(IterOptions::default()).unwrap(),
        &model,
        None,
        None,
        false,
    );
    for (snap, m) in &snapshots {
        check_scan(
            snap.iter(IterOptions::default()).unwrap(),
            m,
            None,
            None,
            false,
        );
    }
    drop(snapshots);
    d.compact_range(None, None).unwrap();
    check_scan(
        d.iter(IterOptions::default()).unwrap(),
        &model,
        None,
        None,
        false,
    );
}

#[test]
fn random_ops_match_btreemap() {
    for seed in 1..=24 {
        run(seed, 4000);
    }
}
