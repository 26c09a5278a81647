//! The memtable: recent writes, ordered by internal key, in memory.
//!
//! Thread-safety: any number of readers run concurrently with one writer (the write
//! leader). Invariants:
//! 1. Entries are never removed or changed; a memtable only grows until it is frozen.
//! 2. An entry becomes visible to reads only once the DB publishes its sequence number,
//!    so readers filter by sequence and never see half of a batch.
//!
//! The skiplist (crossbeam-skiplist) is an implementation detail behind this type, so it
//! can be replaced without touching callers.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use crossbeam_skiplist::SkipSet;

use crate::error::Result;
use crate::ikey::{self, Kind};
use crate::iter::InternalIterator;
use crate::range_del::RangeTombstone;

/// One entry: internal key and value in one allocation.
struct Entry {
    buf: Box<[u8]>,
    klen: u32,
}

impl Entry {
    fn ikey(&self) -> &[u8] {
        &self.buf[..self.klen as usize]
    }
    fn value(&self) -> &[u8] {
        &self.buf[self.klen as usize..]
    }
}

/// An internal key as a borrowed lookup type for the set.
#[repr(transparent)]
struct IKey([u8]);

impl IKey {
    fn new(b: &[u8]) -> &IKey {
        // SAFETY: IKey is repr(transparent) over [u8].
        unsafe { &*(b as *const [u8] as *const IKey) }
    }
}

impl PartialEq for IKey {
    fn eq(&self, o: &Self) -> bool {
        ikey::compare(&self.0, &o.0) == Ordering::Equal
    }
}
impl Eq for IKey {}
impl PartialOrd for IKey {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for IKey {
    fn cmp(&self, o: &Self) -> Ordering {
        ikey::compare(&self.0, &o.0)
    }
}
impl Borrow<IKey> for Entry {
    fn borrow(&self) -> &IKey {
        IKey::new(self.ikey())
    }
}
impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        ikey::compare(self.ikey(), o.ikey())
    }
}

/// Per-entry bookkeeping charged to the budget besides key and value bytes.
const ENTRY_OVERHEAD: usize = 80;

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
    set: SkipSet<Entry>,
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
            set: SkipSet::new(),
            bytes: AtomicUsize::new(0),
            range_dels: Mutex::new(Vec::new()),
            has_range_dels: AtomicBool::new(false),
            wal_number,
        }
    }

    /// Approximate memory held, in bytes.
    pub fn approximate_bytes(&self) -> usize {
        self.bytes.load(AtomicOrdering::Relaxed)
    }

    /// True when no entry and no range tombstone was added.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && !self.has_range_tombstones()
    }

    pub(crate) fn add(&self, seq: u64, kind: Kind, key: &[u8], value: &[u8]) {
        let mut buf = Vec::with_capacity(key.len() + ikey::TRAILER + value.len());
        ikey::encode_into(&mut buf, key, seq, kind);
        let klen = buf.len() as u32;
        buf.extend_from_slice(value);
        let n = buf.len();
        // Allocated at its exact size, so this conversion does not reallocate.
        self.set.insert(Entry {
            buf: buf.into_boxed_slice(),
            klen,
        });
        self.bytes
            .fetch_add(n + ENTRY_OVERHEAD, AtomicOrdering::Relaxed);
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
        let Some(found) = self
            .set
            .lower_bound(std::ops::Bound::Included(IKey::new(target)))
        else {
            return Lookup::Absent;
        };
        let e = found.value();
        match ikey::parse(e.ikey()) {
            Ok(p) if p.user_key == key => match p.kind {
                Kind::Value => Lookup::Found(p.seq, e.value().to_vec()),
                Kind::Delete => Lookup::Deleted(p.seq),
            },
            _ => Lookup::Absent,
        }
    }

    /// An iterator over all entries (every version).
    pub(crate) fn iter(self: &Arc<Self>) -> MemIter {
        MemIter {
            mem: Arc::clone(self),
            arena: Vec::new(),
            spans: Vec::new(),
            pos: 0,
            forward: true,
        }
    }
}

/// Entries fetched per refill: iteration copies small batches of entries into a reused
/// buffer, so the iterator owns its data and never borrows the skiplist across calls.
const REFILL: usize = 64;

/// Iterator over a memtable (every version of every key).
pub(crate) struct MemIter {
    mem: Arc<Memtable>,
    /// Copied entries, back to back.
    arena: Vec<u8>,
    /// Per copied entry: (start in arena, key length, value length).
    spans: Vec<(usize, usize, usize)>,
    pos: usize,
    forward: bool,
}

impl MemIter {
    fn push(&mut self, e: &Entry) {
        let start = self.arena.len();
        self.arena.extend_from_slice(&e.buf);
        self.spans
            .push((start, e.klen as usize, e.buf.len() - e.klen as usize));
    }

    fn fill(&mut self, from: std::ops::Bound<&IKey>, forward: bool) {
        self.arena.clear();
        self.spans.clear();
        self.pos = 0;
        self.forward = forward;
        let mem = Arc::clone(&self.mem);
        let mut cur = if forward {
            mem.set.lower_bound(from)
        } else {
            mem.set.upper_bound(from)
        };
        while let Some(e) = cur {
            self.push(e.value());
            if self.spans.len() == REFILL {
                break;
            }
            cur = if forward { e.next() } else { e.prev() };
        }
    }

    /// Step in the iterator's direction, refilling after the last copied entry.
    fn step(&mut self) {
        self.pos += 1;
        if self.pos == self.spans.len() && self.spans.len() == REFILL {
            let (start, klen, _) = self.spans[REFILL - 1];
            let last = self.arena[start..start + klen].to_vec();
            let forward = self.forward;
            self.fill(std::ops::Bound::Excluded(IKey::new(&last)), forward);
        }
    }
}

impl InternalIterator for MemIter {
    fn valid(&self) -> bool {
        self.pos < self.spans.len()
    }
    fn seek_to_first(&mut self) {
        self.fill(std::ops::Bound::Unbounded, true);
    }
    fn seek_to_last(&mut self) {
        self.fill(std::ops::Bound::Unbounded, false);
    }
    fn seek(&mut self, target: &[u8]) {
        self.fill(std::ops::Bound::Included(IKey::new(target)), true);
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.fill(std::ops::Bound::Included(IKey::new(target)), false);
    }
    fn next(&mut self) {
        debug_assert!(self.forward, "direction is fixed per iterator");
        self.step();
    }
    fn prev(&mut self) {
        debug_assert!(!self.forward, "direction is fixed per iterator");
        self.step();
    }
    fn key(&self) -> &[u8] {
        let (start, klen, _) = self.spans[self.pos];
        &self.arena[start..start + klen]
    }
    fn value(&self) -> &[u8] {
        let (start, klen, vlen) = self.spans[self.pos];
        &self.arena[start + klen..start + klen + vlen]
    }
    fn status(&self) -> Result<()> {
        Ok(())
    }
}
