//! The checks of the engine's fuzz targets (`crates/lsm/fuzz`), shared with the CI
//! replay of their saved corpus. Not a stable API. Each check panics only on a
//! violation: a decoder of bytes from disk must answer a value or an error, never
//! panic, and what decodes must re-encode to the same thing.

// Panicking is how these checks report, and the seeds are built from valid parts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::cache::BlockCache;
use crate::log::LogReader;
use crate::sst::table::Table;
use crate::version::VersionEdit;

/// A log file's bytes (WAL or manifest): every record read is then tried as a write
/// batch and as a version edit.
pub fn check_log(data: &[u8]) {
    let mut r = LogReader::from_bytes(data.to_vec());
    let mut n = 0;
    while let Ok(Some(rec)) = r.next_record() {
        check_batch(&rec);
        check_version_edit(&rec);
        n += 1;
        assert!(n <= data.len(), "more records than bytes");
    }
}

/// A WAL record: a batch, or an error.
pub fn check_batch(data: &[u8]) {
    if let Ok((_, ops)) = crate::batch::decode(data) {
        assert!(ops.len() <= data.len());
    }
}

/// A manifest record: a version edit that re-encodes to an edit that decodes equal.
pub fn check_version_edit(data: &[u8]) {
    if let Ok(e) = VersionEdit::decode(data) {
        let again = VersionEdit::decode(&e.encode()).expect("a re-encoded edit decodes");
        assert_eq!(again, e);
    }
}

/// An engine key: decodes to parts that encode back to the same bytes.
pub fn check_engine_key(data: &[u8]) {
    match crate::keys::decode(data) {
        Ok(crate::keys::Decoded::Metadata { db, key, .. }) => {
            assert_eq!(crate::keys::metadata_key(db, key).unwrap(), data);
        }
        Ok(crate::keys::Decoded::SubRecord {
            db,
            key,
            version,
            field,
            ..
        }) => {
            assert_eq!(
                crate::keys::subrecord_key(db, key, version, field).unwrap(),
                data
            );
        }
        Err(_) => {}
    }
}

/// An SST file's bytes, opened with and without the mapping: every entry iterates, and
/// each key read (up to a bound) looks up; errors are fine, panics are not.
pub fn check_table(data: &[u8]) {
    static N: AtomicU64 = AtomicU64::new(0);
    let path: PathBuf = std::env::temp_dir().join(format!(
        "strata-fuzz-{}-{}.sst",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    for mmap in [true, false] {
        let cache = Arc::new(BlockCache::new(1 << 20));
        let Ok(t) = Table::open(&path, 1, cache, mmap) else {
            continue;
        };
        let t = Arc::new(t);
        let mut keys = Vec::new();
        let mut it = t.iter(true);
        it.seek_to_first();
        let mut steps = 0;
        while it.valid() && steps <= data.len() {
            if keys.len() < 64 {
                keys.push(it.key().to_vec());
            }
            let _ = it.value();
            it.next();
            steps += 1;
        }
        for k in &keys {
            if let Ok(p) = crate::ikey::parse(k) {
                let hash = crate::sst::bloom::hash64(p.user_key);
                let _ = t.get(k, p.user_key, hash);
            }
            let mut it = t.iter(false);
            it.seek(k);
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// Valid inputs to start fuzzing from: a few SSTs (several blocks, long shared
/// prefixes, deletions), and logs of batches and of version edits.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "strata-fuzz-seeds-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::create_dir_all(&dir);
    for (i, n) in [1usize, 40, 600].into_iter().enumerate() {
        let path = dir.join(format!("{i}.sst"));
        let mut b = crate::sst::builder::TableBuilder::create(&path, 512, 10).unwrap();
        for j in 0..n {
            let key =
                crate::keys::subrecord_key(0, b"k", 7, format!("f{j:05}").as_bytes()).unwrap();
            let kind = if j % 7 == 3 {
                crate::ikey::Kind::Delete
            } else {
                crate::ikey::Kind::Value
            };
            b.add(
                &crate::ikey::encode(&key, 10 + j as u64, kind),
                format!("v{j}").as_bytes(),
            )
            .unwrap();
        }
        b.finish().unwrap();
        out.push(("table", std::fs::read(&path).unwrap()));
    }
    let log = dir.join("a.log");
    let mut w = crate::log::LogWriter::create(&log).unwrap();
    let mut batch = crate::WriteBatch::new();
    batch.put(b"a", b"1");
    batch.delete(b"b");
    batch.delete_range(b"c", b"d");
    w.add_record_parts(&[&crate::batch::header(5, batch.count()), batch.body()])
        .unwrap();
    let mut e = VersionEdit {
        log_number: Some(3),
        next_file: Some(9),
        last_seq: Some(77),
        ..Default::default()
    };
    e.deleted.push((1, 4));
    w.add_record(&e.encode()).unwrap();
    w.sync().unwrap();
    out.push(("log", std::fs::read(&log).unwrap()));
    out.push(("log", e.encode()));
    out.push((
        "engine_key",
        crate::keys::subrecord_key(3, b"{tag}x", 9, b"field").unwrap(),
    ));
    out.push(("engine_key", crate::keys::metadata_key(0, b"foo").unwrap()));
    let _ = std::fs::remove_dir_all(&dir);
    out
}
