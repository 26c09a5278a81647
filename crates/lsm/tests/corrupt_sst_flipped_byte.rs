//! A flipped byte anywhere in an SST gives an error naming the file (at open or at read),
//! never a panic and never wrong data.

mod common;

use common::TempDir;
use strata_lsm::{Db, Error, Options};

fn value(i: u32) -> Vec<u8> {
    format!("value-{i}-").repeat(3).into_bytes()
}

#[test]
fn flipped_byte_is_reported_with_the_file_name_mapped() {
    flipped_byte_is_reported(true);
}

#[test]
fn flipped_byte_is_reported_with_the_file_name_pread() {
    flipped_byte_is_reported(false);
}

fn flipped_byte_is_reported(mmap_reads: bool) {
    let opts = Options {
        mmap_reads,
        ..Options::default()
    };
    let dir = TempDir::new("corrupt-sst");
    {
        let db = Db::open(dir.path(), opts.clone()).unwrap();
        for i in 0..2000u32 {
            db.put(format!("key{i:05}").as_bytes(), &value(i)).unwrap();
        }
        db.compact_range(None, None).unwrap();
    }
    let sst = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sst"))
        .expect("an SST after compaction");
    let pristine = std::fs::read(&sst).unwrap();
    let name = sst.file_name().unwrap().to_string_lossy().into_owned();
    let mut errors_seen = 0;
    for pos in (0..pristine.len())
        .step_by(pristine.len() / 97 + 1)
        .chain([pristine.len() - 1])
    {
        let mut bytes = pristine.clone();
        bytes[pos] ^= 0x40;
        std::fs::write(&sst, &bytes).unwrap();
        let db = match Db::open(dir.path(), opts.clone()) {
            Ok(db) => db,
            Err(e) => {
                assert!(
                    e.to_string().contains(&name),
                    "open error must name {name}: {e}"
                );
                errors_seen += 1;
                continue;
            }
        };
        for i in (0..2000u32).step_by(7) {
            match db.get(format!("key{i:05}").as_bytes()) {
                Ok(v) => assert_eq!(v, Some(value(i)), "flip at {pos}: wrong data for key{i:05}"),
                Err(e) => {
                    assert!(
                        matches!(e, Error::ChecksumMismatch { .. } | Error::Corruption { .. }),
                        "unexpected error kind: {e}"
                    );
                    assert!(
                        e.to_string().contains(&name),
                        "read error must name {name}: {e}"
                    );
                    errors_seen += 1;
                }
            }
        }
        let scanned: Result<Vec<_>, _> = db.iter(Default::default()).unwrap().collect();
        if let Err(e) = scanned {
            assert!(
                e.to_string().contains(&name),
                "scan error must name {name}: {e}"
            );
        }
    }
    assert!(errors_seen > 50, "flips were detected: {errors_seen}");
    std::fs::write(&sst, &pristine).unwrap();
    let db = Db::open(dir.path(), opts.clone()).unwrap();
    assert_eq!(db.get(b"key00042").unwrap(), Some(value(42)));
}
