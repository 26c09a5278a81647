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

/// Files that one range tombstone hides entirely leave compaction unread (FLUSHALL's
/// cleanup costs manifest edits, not reading the data), but not while a snapshot older
/// than the tombstone could still read them, and not a file that also holds newer
/// entries.
#[test]
fn files_hidden_by_a_range_delete_are_dropped_unread() {
    let dir = TempDir::new("range-del-files");
    let opts = Options {
        memtable_budget: 1 << 20,
        target_file_size: 256 << 10,
        ..Default::default()
    };
    let db = Db::open(dir.path(), opts.clone()).unwrap();
    for i in 0..40_000u32 {
        db.put(format!("k{i:06}").as_bytes(), &[1u8; 100]).unwrap();
    }
    db.compact_range(None, None).unwrap();
    let files: usize = db.stats().levels.iter().map(|l| l.files).sum();
    assert!(files > 4, "{files} files");
    // A snapshot from before the deletion keeps every file readable.
    let snap = db.snapshot();
    db.delete_range(b"k", b"l").unwrap();
    db.put(b"k000007", b"after").unwrap();
    db.flush().unwrap();
    let read0 = db.stats().compaction_bytes_read;
    db.compact_range(None, None).unwrap();
    assert_eq!(db.stats().compaction_files_dropped, 0);
    assert_eq!(snap.get(b"k039999").unwrap(), Some(vec![1u8; 100]));
    assert!(db.stats().compaction_bytes_read - read0 > 3_000_000);
    drop(snap);
    // Without it, the old files go unread; the newer entry stays.
    let read1 = db.stats().compaction_bytes_read;
    db.compact_range(None, None).unwrap();
    let s = db.stats();
    assert!(s.compaction_files_dropped >= files as u64 - 1, "{s:?}");
    assert!(s.compaction_bytes_read - read1 < 1_000_000, "{s:?}");
    let left: u64 = s.levels.iter().map(|l| l.bytes).sum();
    assert!(left < 10_000, "space not reclaimed: {left} bytes left");
    assert_eq!(db.get(b"k000007").unwrap(), Some(b"after".to_vec()));
    assert_eq!(db.get(b"k000008").unwrap(), None);
    drop(db);
    let db = Db::open(dir.path(), opts).unwrap();
    assert_eq!(db.get(b"k000007").unwrap(), Some(b"after".to_vec()));
    assert_eq!(db.get(b"k039998").unwrap(), None);
    assert_eq!(db.iter(IterOptions::default()).unwrap().count(), 1);
}
