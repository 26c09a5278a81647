//! The compaction filter removes entries during compaction (respecting snapshots), and a
//! range deletion gives its disk space back after compaction and then retires itself.

mod common;

use std::sync::Arc;

use common::TempDir;
use strata_lsm::{CompactionFilter, Db, Decision, IterOptions, Options};

struct DropExpired;

impl CompactionFilter for DropExpired {
    fn filter(&self, _level: usize, _key: &[u8], value: &[u8]) -> Decision {
        if value == b"expired" {
            Decision::Remove
        } else {
            Decision::Keep
        }
    }
}

#[test]
fn filter_removes_entries_but_not_under_a_snapshot() {
    let dir = TempDir::new("filter");
    let opts = Options {
        compaction_filter: Some(Arc::new(DropExpired)),
        ..Default::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    db.put(b"a", b"old").unwrap();
    db.compact_range(None, None).unwrap();
    db.put(b"a", b"expired").unwrap();
    db.put(b"b", b"expired").unwrap();
    db.put(b"c", b"live").unwrap();
    let snap = db.snapshot();
    db.compact_range(None, None).unwrap();
    // A snapshot holds the filter off: it still sees what it saw.
    assert_eq!(snap.get(b"a").unwrap(), Some(b"expired".to_vec()));
    drop(snap);
    db.compact_range(None, None).unwrap();
    assert_eq!(
        db.get(b"a").unwrap(),
        None,
        "the filtered value must not uncover the older one"
    );
    assert_eq!(db.get(b"b").unwrap(), None);
    assert_eq!(db.get(b"c").unwrap(), Some(b"live".to_vec()));
}

#[test]
fn range_delete_reclaims_space_and_retires() {
    let dir = TempDir::new("range-del");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..50_000u32 {
        db.put(format!("doomed{i:06}").as_bytes(), &[1u8; 100])
            .unwrap();
    }
    db.put(b"keep", b"1").unwrap();
    db.compact_range(None, None).unwrap();
    let before: u64 = db.stats().levels.iter().map(|l| l.bytes).sum();
    assert!(before > 4_000_000, "{before}");
    db.delete_range(b"doomed", b"doomee").unwrap();
    assert_eq!(db.get(b"doomed000123").unwrap(), None);
    assert_eq!(db.iter(IterOptions::default()).unwrap().count(), 1);
    // Written after the deletion: not hidden by it.
    db.put(b"doomed000001", b"new").unwrap();
    db.compact_range(None, None).unwrap();
    let after: u64 = db.stats().levels.iter().map(|l| l.bytes).sum();
    assert!(after < 10_000, "space not reclaimed: {after} bytes left");
    assert_eq!(db.stats().range_tombstones, 0);
    assert_eq!(db.get(b"doomed000001").unwrap(), Some(b"new".to_vec()));
    assert_eq!(db.get(b"keep").unwrap(), Some(b"1".to_vec()));
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(b"doomed000002").unwrap(), None);
    assert_eq!(db.get(b"doomed000001").unwrap(), Some(b"new".to_vec()));
}
