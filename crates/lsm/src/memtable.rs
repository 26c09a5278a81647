//! The memtable: recent writes, ordered by internal key, in memory.
//!
//! Thread-safety: any number of readers run concurrently with one writer (the write
//! leader). Invariants:
//! 1. Entries are never removed or changed; a memtable only grows until it is frozen.
//! 2. An entry becomes visible to reads only once the DB publishes its sequence number,
//!    so readers filter by sequence and never see half of a batch.
//!
//! The skiplist (`skiplist.rs`, an arena skiplist with one writer and lock-free readers)
//! is an implementation detail behind this type, so it can be replaced without touching
//! callers.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::ikey::{self, Kind};
use crate::iter::InternalIterator;
use crate::range_del::RangeTombstone;
use crate::skiplist::{node_key, node_value, SkipList};

/// Per-entry bookkeeping charged to the budget besides key and value bytes (node header
/// and the average tower of next pointers).
const ENTRY_OVERHEAD: usize = 32;

/// Bits of the memtable's key filter (64 KiB): a point lookup of a key the memtable does
/// not hold usually answers from one cache line instead of a skiplist descent (about 20
/// cache misses in a full memtable). With 8 MiB of 130-byte entries (~60k keys) that is
/// ~8 bits per key and ~4% false positives.
const FILTER_BITS: usize = 1 << 19;
const FILTER_WORDS: usize = FILTER_BITS / 64;
/// Words per block: one 512-bit cache line holds all of a key's probes.
const BLOCK_WORDS: usize = 8;

/// A blocked bloom filter over the user keys added, readable while the writer adds.
struct KeyFilter {
    words: Box<[AtomicU64]>,
}

impl KeyFilter {
    fn new() -> Self {
        KeyFilter {
            words: (0..FILTER_WORDS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// (first word of the key's block, three bit positions within the block).
    fn probes(key: &[u8]) -> (usize, [usize; 3]) {
        let h = crate::sst::bloom::hash64(key);
        let block = ((h >> 32) as usize % (FILTER_WORDS / BLOCK_WORDS)) * BLOCK_WORDS;
        let bits = [
            (h & 511) as usize,
            ((h >> 9) & 511) as usize,
            ((h >> 18) & 511) as usize,
        ];
        (block, bits)
    }

    fn add(&self, key: &[u8]) {
        let (block, bits) = Self::probes(key);
        for b in bits {
            // Relaxed: readers that can see the entry synchronize with the sequence
            // number published after it (Release/Acquire), which orders these too.
            self.words[block + b / 64].fetch_or(1 << (b % 64), AtomicOrdering::Relaxed);
        }
    }

    fn may_contain(&self, key: &[u8]) -> bool {
        let (block, bits) = Self::probes(key);
        bits.iter().all(|&b| {
            self.words[block + b / 64].load(AtomicOrdering::Relaxed) & (1 << (b % 64)) != 0
        })
    }
}

/// What a point lookup found in one source.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The newest visible version is a value.
    Found(u64, Vec<u8>),
    /// The newest visible version is a deletion.
    Deleted(u64),
    /// No visible version here.
    Absent,
}

/// The in-memory write buffer.
pub struct Memtable {
    list: SkipList,
    filter: KeyFilter,
    bytes: AtomicUsize,
    range_dels: Mutex<Vec<RangeTombstone>>,
    /// Set once a range tombstone is added, so reads skip the mutex in the common case.
    has_range_dels: AtomicBool,
    /// Number of the WAL file that holds this memtable's writes.
    pub(crate) wal_number: u64,
}

impl Memtable {
    pub(crate) fn new(wal_number: u64) -> Self {
        Memtable {
            list: SkipList::new(),
            filter: KeyFilter::new(),
            bytes: AtomicUsize::new(0),
            range_dels: Mutex::new(Vec::new()),
            has_range_dels: AtomicBool::new(false),
            wal_number,
        }
    }

    /// Approximate memory held, in bytes.
    pub fn approximate_bytes(&self) -> usize {
        self.bytes.load(AtomicOrdering::Relaxed) + self.list.overhead_bytes()
    }

    /// True when no entry and no range tombstone was added.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty() && !self.has_range_tombstones()
    }

    pub(crate) fn add(&self, seq: u64, kind: Kind, key: &[u8], value: &[u8]) {
        // The filter first: anyone who can see the entry must find its bits.
        self.filter.add(key);
        let mut ik = [0u8; 64];
        let n = key.len() + ikey::TRAILER;
        if n <= ik.len() {
            ik[..key.len()].copy_from_slice(key);
            ik[key.len()..n].copy_from_slice(&ikey::trailer(seq, kind as u64));
            self.list.insert(&ik[..n], value);
        } else {
            self.list.insert(&ikey::encode(key, seq, kind), value);
        }
        self.bytes
            .fetch_add(n + value.len() + ENTRY_OVERHEAD, AtomicOrdering::Relaxed);
    }

    pub(crate) fn add_range_tombstone(&self, t: RangeTombstone) {
        self.bytes.fetch_add(
            t.start.len() + t.end.len() + ENTRY_OVERHEAD,
            AtomicOrdering::Relaxed,
        );
        if let Ok(mut v) = self.range_dels.lock() {
            v.push(t);
        }
        self.has_range_dels.store(true, AtomicOrdering::Release);
    }

    pub(crate) fn has_range_tombstones(&self) -> bool {
        self.has_range_dels.load(AtomicOrdering::Acquire)
    }

    pub(crate) fn range_tombstones(&self) -> Vec<RangeTombstone> {
        self.range_dels
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// The newest version of `key` visible at the sequence number `target` was built for
    /// (`target = ikey::seek_key(key, seq)`).
    pub(crate) fn get(&self, target: &[u8], key: &[u8]) -> Lookup {
        if !self.filter.may_contain(key) {
            return Lookup::Absent;
        }
        let node = self.list.seek_ge(target);
        if node.is_null() {
            return Lookup::Absent;
        }
        // SAFETY: a non-null node from the list is published and lives as long as `self`.
        let (k, v) = unsafe { (node_key(node), node_value(node)) };
        match ikey::parse(k) {
            Ok(p) if p.user_key == key => match p.kind {
                Kind::Value => Lookup::Found(p.seq, v.to_vec()),
                Kind::Delete => Lookup::Deleted(p.seq),
            },
            _ => Lookup::Absent,
        }
    }

    /// An iterator over all entries (every version).
    pub(crate) fn iter(self: &Arc<Self>) -> MemIter {
        MemIter {
            mem: Arc::clone(self),
            node: std::ptr::null_mut(),
        }
    }
}

/// Iterator over a memtable (every version of every key).
pub(crate) struct MemIter {
    mem: Arc<Memtable>,
    /// Current node; null when not valid.
    node: *mut u8,
}

// SAFETY: `node` points into the skiplist's arena, which `mem` keeps alive; published
// nodes are immutable but for atomics, so the iterator can move between threads.
unsafe impl Send for MemIter {}

impl InternalIterator for MemIter {
    fn valid(&self) -> bool {
        !self.node.is_null()
    }
    fn seek_to_first(&mut self) {
        self.node = self.mem.list.first();
    }
    fn seek_to_last(&mut self) {
        self.node = self.mem.list.last();
    }
    fn seek(&mut self, target: &[u8]) {
        self.node = self.mem.list.seek_ge(target);
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        let ge = self.mem.list.seek_ge(target);
        // SAFETY: non-null nodes are published (see `get`).
        self.node = if !ge.is_null() && ikey::compare(unsafe { node_key(ge) }, target).is_eq() {
            ge
        } else {
            self.mem.list.find_lt(target)
        };
    }
    fn next(&mut self) {
        if self.valid() {
            self.node = self.mem.list.successor(self.node);
        }
    }
    fn prev(&mut self) {
        if self.valid() {
            // SAFETY: the current node is published.
            self.node = self.mem.list.find_lt(unsafe { node_key(self.node) });
        }
    }
    fn key(&self) -> &[u8] {
        if self.node.is_null() {
            return &[];
        }
        // SAFETY: published node; the slice borrows `self`, which keeps the list alive.
        unsafe { node_key(self.node) }
    }
    fn value(&self) -> &[u8] {
        if self.node.is_null() {
            return &[];
        }
        // SAFETY: as `key`.
        unsafe { node_value(self.node) }
    }
    fn status(&self) -> Result<()> {
        Ok(())
    }
}
