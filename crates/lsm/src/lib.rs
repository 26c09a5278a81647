//! # strata-lsm
//!
//! Strata's storage engine: a log-structured merge-tree in the LevelDB tradition.
//! Writes go to a checksummed write-ahead log (with group commit) and a memtable;
//! full memtables are flushed by a background thread into sorted string tables (SSTs)
//! with prefix-compressed blocks, a bloom filter and per-block checksums; leveled
//! compaction on a background thread keeps reads cheap. The set of live files is
//! recorded in a manifest of versioned, checksummed edits.
//!
//! The engine knows nothing of Redis. [`keys`] holds the slot-prefixed, versioned key
//! layout that the server builds on.
//!
//! ```no_run
//! use strata_lsm::{Db, Options};
//! let db = Db::open("/tmp/strata-example", Options::default())?;
//! db.put(b"hello", b"world")?;
//! assert_eq!(db.get(b"hello")?, Some(b"world".to_vec()));
//! # Ok::<(), strata_lsm::Error>(())
//! ```
//!
//! Formats: `docs/lsm-format.md` (WAL, SST, manifest), `docs/key-encoding.md`.

#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod batch;
mod cache;
mod coding;
mod compaction;
mod db;
mod db_iter;
mod error;
#[doc(hidden)]
pub mod fuzz_support;
mod ikey;
mod iter;
pub mod keys;
mod log;
mod memtable;
mod options;
mod range_del;
mod skiplist;
mod sst;
mod version;

#[cfg(test)]
mod testutil;

pub use batch::WriteBatch;
pub use db::{BulkLoad, BulkPart, Db, Snapshot};
pub use db_iter::DbIterator;
pub use error::{Error, Result};
pub use options::{
    CompactionFilter, Decision, IterOptions, LevelStats, Options, Stats, SyncPolicy, WriteOptions,
};
pub use version::NUM_LEVELS;

/// Internals exposed for benchmarks and fuzzing only; not a stable API.
#[doc(hidden)]
pub mod bench_support {
    pub use crate::sst::bloom::{
        build as bloom_build, build_classic as bloom_build_classic, hash64,
        may_contain as bloom_may_contain,
    };

    use crate::iter::InternalIterator;

    /// A memtable, for the insert and scan benchmarks.
    pub struct Memtable(std::sync::Arc<crate::memtable::Memtable>);

    impl Default for Memtable {
        fn default() -> Self {
            Memtable(std::sync::Arc::new(crate::memtable::Memtable::new(0, None)))
        }
    }

    impl Memtable {
        /// Insert a value.
        pub fn insert(&self, seq: u64, key: &[u8], value: &[u8]) {
            self.0.add(seq, crate::ikey::Kind::Value, key, value);
        }

        /// Insert a batch's operations, the first with sequence number `seq`, as a
        /// write does.
        pub fn apply(&self, seq: u64, batch: &crate::WriteBatch) {
            let ops = crate::batch::ops(batch.body()).map_while(Result::ok);
            self.0.writer().apply_ops(seq, ops, batch.count() as usize);
        }

        /// Visit every entry in key order, as a flush does, hashing each user key for a
        /// filter; returns a checksum of what was read.
        pub fn scan(&self) -> u64 {
            let mut it = self.0.iter();
            let mut sum = 0u64;
            it.seek_to_first();
            while it.valid() {
                let k = it.key();
                sum = sum
                    .wrapping_add(crate::sst::bloom::hash64(crate::ikey::user_key(k)))
                    .wrapping_add(it.value().len() as u64);
                it.next();
            }
            sum
        }

        /// [`Memtable::scan`] by the flush's walk (`Memtable::for_each_entry`: the
        /// lists of several buckets side by side).
        pub fn scan_in_lanes(&self) -> u64 {
            let mut sum = 0u64;
            let _ = self.0.for_each_entry(|k, v| {
                sum = sum
                    .wrapping_add(crate::sst::bloom::hash64(crate::ikey::user_key(k)))
                    .wrapping_add(v.len() as u64);
                Ok::<(), ()>(())
            });
            sum
        }
    }

    /// A data block holding `entries` (user keys in increasing order, all at seq 1).
    pub fn build_block(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut b = crate::sst::block::BlockBuilder::new(16);
        for (k, v) in entries {
            b.add(&crate::ikey::encode(k, 1, crate::ikey::Kind::Value), v);
        }
        b.finish()
    }

    /// Decode every entry of a block; returns the bytes of keys and values seen.
    pub fn scan_block(block: std::sync::Arc<[u8]>) -> usize {
        let Ok(mut it) = crate::sst::block::BlockIter::new(block) else {
            return 0;
        };
        let mut n = 0;
        it.seek_to_first();
        while it.valid() {
            n += it.key().len() + it.value().len();
            it.next();
        }
        n
    }
}
