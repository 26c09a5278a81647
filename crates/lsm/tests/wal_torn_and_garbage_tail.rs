//! WAL recovery: a torn or garbage tail on the last log is a clean end; corruption
//! before the end is an error naming the file and offset.

mod common;

use std::io::Write;

use common::TempDir;
use strata_lsm::{Db, Error, Options};

fn newest_log(dir: &std::path::Path) -> std::path::PathBuf {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

/// Where the records of a pre-sized log end.
fn data_end(log: &std::path::Path) -> u64 {
    let bytes = std::fs::read(log).unwrap();
    bytes.iter().rposition(|&b| b != 0).unwrap() as u64 + 1
}

fn fill(dir: &std::path::Path, n: u32) {
    let db = Db::open(dir, Options::default()).unwrap();
    for i in 0..n {
        db.put(format!("k{i:06}").as_bytes(), &[b'x'; 100]).unwrap();
    }
}

#[test]
fn torn_tail_is_a_clean_end() {
    let dir = TempDir::new("wal-torn");
    fill(dir.path(), 3000);
    let log = newest_log(dir.path());
    // The WAL is pre-sized with zeros: the records end at the last non-zero byte.
    let end = data_end(&log);
    // Cut the last record in half: it was the last write, the rest must be there.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(end - 50)
        .unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert!(db.get(b"k002998").unwrap().is_some());
    assert!(db.get(b"k002999").unwrap().is_none());
}

#[test]
fn garbage_tail_is_a_clean_end() {
    let dir = TempDir::new("wal-garbage");
    fill(dir.path(), 3000);
    let log = newest_log(dir.path());
    let end = data_end(&log);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(end)
        .unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let garbage: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    f.write_all(&garbage).unwrap();
    drop(f);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in (0..3000).step_by(13) {
        assert!(db.get(format!("k{i:06}").as_bytes()).unwrap().is_some());
    }
    // Writes go on after such a recovery, and survive another reopen.
    db.put(b"after", b"1").unwrap();
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(b"after").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn corruption_before_the_end_names_file_and_offset() {
    let dir = TempDir::new("wal-middle");
    fill(dir.path(), 3000);
    let log = newest_log(dir.path());
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[1000] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();
    match Db::open(dir.path(), Options::default()) {
        Err(Error::Corruption {
            file: Some(f),
            offset: Some(o),
            ..
        }) => {
            assert_eq!(f, log);
            assert!(o <= 1000);
        }
        Err(e) => panic!("expected a corruption error, got {e}"),
        Ok(_) => panic!("expected a corruption error, the database opened"),
    }
}
