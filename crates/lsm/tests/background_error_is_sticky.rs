//! After a background I/O error writes fail with a clear error, reads keep working,
//! nothing acknowledged is lost, and a reopen recovers.
//!
//! The fault: directories squat on the file names the engine will create next, so the
//! next flush (or WAL switch) fails with EEXIST, as a full or broken disk would fail it.

mod common;

use common::TempDir;
use strata_lsm::{Db, Error, Options};

#[test]
fn background_error_blocks_writes_not_reads() {
    let dir = TempDir::new("bg-error");
    let opts = Options {
        memtable_budget: 128 << 10,
        ..Default::default()
    };
    let db = Db::open(dir.path(), opts.clone()).unwrap();
    let mut squatters = Vec::new();
    for n in 1..400u64 {
        for ext in ["sst", "log"] {
            let p = dir.path().join(format!("{n:06}.{ext}"));
            if !p.exists() && std::fs::create_dir(&p).is_ok() {
                squatters.push(p);
            }
        }
    }
    let mut acked = 0u32;
    let mut failure = None;
    for i in 0..100_000u32 {
        match db.put(format!("k{i:06}").as_bytes(), &[7u8; 100]) {
            Ok(()) => acked = i + 1,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("writes must start failing");
    // The write that met the fault reports it; every later write gets the sticky error.
    assert!(
        matches!(failure, Error::Background(_) | Error::Io { .. }),
        "{failure}"
    );
    assert!(db.stats().background_error.is_some());
    // Sticky: later writes fail too; reads work.
    assert!(matches!(db.put(b"later", b"x"), Err(Error::Background(_))));
    assert_eq!(db.get(b"k000000").unwrap(), Some(vec![7u8; 100]));
    drop(db);
    for p in squatters {
        std::fs::remove_dir(p).unwrap();
    }
    let db = Db::open(dir.path(), opts).unwrap();
    for i in 0..acked {
        assert!(
            db.get(format!("k{i:06}").as_bytes()).unwrap().is_some(),
            "acknowledged k{i:06} lost"
        );
    }
    db.put(b"later", b"x").unwrap();
}
