//! Group commit: many concurrent writers under `Always` are acknowledged with fewer
//! fsyncs than writes (a leader writes the whole queue and fsyncs once), and every
//! acknowledged write is readable.

mod common;

use std::sync::Arc;

use strata_lsm::{Db, Options, SyncPolicy};

#[test]
fn concurrent_writers_share_fsyncs() {
    // On the real disk: an fsync takes long enough there for writers to queue up.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("group-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = Arc::new(
        Db::open(
            &dir,
            Options {
                sync: SyncPolicy::Always,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let (threads, each) = (8u32, 100u32);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for i in 0..each {
                    db.put(format!("t{t}-{i}").as_bytes(), b"v").unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = db.stats();
    let writes = u64::from(threads * each);
    assert!(
        stats.wal_syncs < writes,
        "{} fsyncs for {writes} writes: no grouping",
        stats.wal_syncs
    );
    for t in 0..threads {
        for i in 0..each {
            assert!(db.get(format!("t{t}-{i}").as_bytes()).unwrap().is_some());
        }
    }
    eprintln!("{writes} writes, {} fsyncs", stats.wal_syncs);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}
