//! Point lookups in a deep L0 (more overlapping files than a lookup keeps its candidate
//! list for) find keys in every file, newest first, and stop at a delete.

mod common;

use common::TempDir;
use strata_lsm::{Db, Options};

#[test]
fn lookups_reach_every_file_of_a_deep_l0() {
    let dir = TempDir::new("deep-l0");
    let opts = Options {
        // No compaction merges the L0 files under the test.
        l0_compaction_trigger: 100,
        l0_idle_trigger: 0,
        l0_slowdown_trigger: 100,
        l0_stop_trigger: 100,
        ..Default::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    const FILES: usize = 20;
    for f in 0..FILES {
        let v = format!("file-{f}").into_bytes();
        // "a" and "z" make every file's range cover every key looked up.
        db.put(b"a", &v).unwrap();
        db.put(b"z", &v).unwrap();
        db.put(format!("m{f:02}").as_bytes(), &v).unwrap();
        match f {
            0 => {
                db.put(b"only-oldest", b"old").unwrap();
                db.put(b"deleted-later", b"old").unwrap();
            }
            2 => db.delete(b"deleted-later").unwrap(),
            _ => {}
        }
        db.flush().unwrap();
    }
    assert_eq!(db.stats().levels[0].files, FILES);
    for f in 0..FILES {
        let want = format!("file-{f}").into_bytes();
        assert_eq!(db.get(format!("m{f:02}").as_bytes()).unwrap(), Some(want));
    }
    let newest = format!("file-{}", FILES - 1).into_bytes();
    assert_eq!(db.get(b"a").unwrap(), Some(newest.clone()));
    assert_eq!(db.get(b"z").unwrap(), Some(newest));
    assert_eq!(db.get(b"only-oldest").unwrap(), Some(b"old".to_vec()));
    assert_eq!(db.get(b"deleted-later").unwrap(), None);
    assert_eq!(db.get(b"m99").unwrap(), None);
}
