//! L0 files below the compaction trigger are compacted once writes pause, and not while
//! writes keep coming.

mod common;

use std::time::{Duration, Instant};

use common::TempDir;
use strata_lsm::{Db, Options};

fn l0_files(db: &Db) -> usize {
    db.stats().levels[0].files
}

#[test]
fn l0_under_the_trigger_is_compacted_when_writes_pause() {
    let dir = TempDir::new("idle-l0");
    let opts = Options {
        memtable_budget: 256 << 10,
        l0_compaction_trigger: 8,
        l0_idle_trigger: 4,
        ..Default::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let value = [b'v'; 100];
    // Five flushes of overlapping keys: five L0 files, under the trigger of 8.
    for round in 0..5u32 {
        for i in 0..500u32 {
            db.put(
                format!("key:{:06}", (i * 7 + round) % 1000).as_bytes(),
                &value,
            )
            .unwrap();
        }
        db.put(format!("round:{round}").as_bytes(), b"x").unwrap();
        db.flush().unwrap();
    }
    // Writes every 10 ms hold the compaction off (the pause it waits for is 100 ms).
    // A machine too busy to keep that pace makes a pause itself: then nothing is checked.
    let start = Instant::now();
    let mut last = Instant::now();
    let mut longest_gap = Duration::ZERO;
    while start.elapsed() < Duration::from_millis(600) {
        longest_gap = longest_gap.max(last.elapsed());
        db.put(b"ticker", &start.elapsed().as_millis().to_le_bytes())
            .unwrap();
        last = Instant::now();
        if longest_gap < Duration::from_millis(60) {
            assert!(l0_files(&db) >= 4, "compacted while writes went on");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Then the pause: L0 goes to L1.
    let deadline = Instant::now() + Duration::from_secs(10);
    while l0_files(&db) > 0 {
        assert!(
            Instant::now() < deadline,
            "L0 still holds {} files",
            l0_files(&db)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(db.stats().levels[1].files > 0);
    for round in 0..5u32 {
        assert_eq!(
            db.get(format!("round:{round}").as_bytes()).unwrap(),
            Some(b"x".to_vec())
        );
    }
    for i in 0..1000u32 {
        let k = format!("key:{i:06}");
        let expect = (0..5u32).any(|r| (0..500u32).any(|j| (j * 7 + r) % 1000 == i));
        assert_eq!(db.get(k.as_bytes()).unwrap().is_some(), expect, "{k}");
    }
}
