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
