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

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use crate::batch::Op;
use crate::error::Result;
use crate::ikey::{self, Kind};
use crate::iter::InternalIterator;
use crate::range_del::RangeTombstone;
use crate::skiplist::{
    node_key, node_value, user_key_bucket, ChunkPool, ListWriter, Placed, SkipList,
};

/// Per-entry bookkeeping charged to the budget besides key and value bytes (node header
/// and the average tower of next pointers).
const ENTRY_OVERHEAD: usize = 32;

/// Bits of the memtable's key filter (64 KiB): a point lookup of a key the memtable does
/// not hold usually answers from one cache line instead of a skiplist descent (about 20
/// cache misses in a full memtable). With 8 MiB of 130-byte entries (~60k keys) that is
/// ~8 bits per key and ~4% false positives.
const FILTER_BITS: usize = 1 << 19;
const FILTER_WORDS: usize = FILTER_BITS / 64;
/// In a batch of at least this many operations, once `SORT_AFTER` inserts went into
/// the previous insert's bucket before it, the rest of that bucket's operations (at
/// least half this many) are sorted ([`MemWriter::apply_ops`]). Sorting
/// pays when the batch's keys are dense in the bucket (a new collection, a bulk load):
/// then each insert starts next to the previous one. A pipeline's few hundred writes
/// into a large collection land far apart, where the hint saves only the top levels
/// (cached anyway) and the sort costs more than it saves (measured, `docs/decisions.md`).
pub(crate) const SORT_MIN: usize = 4096;
/// See [`SORT_MIN`]: enough out-of-order inserts to tell a random batch from an ordered
/// one with a few records out of place (a collection and its metadata record).
const SORT_AFTER: usize = 256;
/// A batch of at least this many operations is inserted with the skiplist's first
/// cache misses of each insert prefetched a few operations ahead
/// ([`ListWriter::prefetch`]).
const PREFETCH_MIN: usize = 16;
/// Operations between the prefetch stages.
const PREFETCH_AHEAD: usize = 4;
/// Operations ahead at which an insert into a bucket with an index is placed
/// ([`ListWriter::place`]; its bucket's head was loaded at stage 1). The operations
/// between then walk it on towards its key a node at a time ([`ListWriter::chase`]),
/// overlapping those misses with other inserts: one insert takes about a microsecond,
/// a miss a tenth of that. Five steps cover the walk from the index entry of most
/// inserts (an index entry is one node in four on level 0 when built; the bucket
/// doubles before the next build). Measured against fewer steps in
/// `docs/decisions.md` (twentieth session).
const PLACE_AHEAD: usize = 7;
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
        Self::probes_of(crate::sst::bloom::hash64(key))
    }

    /// [`KeyFilter::probes`] of a key whose `hash64` is `h`.
    fn probes_of(h: u64) -> (usize, [usize; 3]) {
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

    /// May the filter hold the key whose `hash64` is `h`?
    fn may_contain(&self, h: u64) -> bool {
        let (block, bits) = Self::probes_of(h);
        bits.iter().all(|&b| {
            self.words[block + b / 64].load(AtomicOrdering::Relaxed) & (1 << (b % 64)) != 0
        })
    }
}

/// What a point lookup found in one source.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup<V = Vec<u8>> {
    /// The newest visible version is a value (or what a reader made of it).
    Found(u64, V),
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
    /// An empty memtable whose arena draws on `pool` (see [`ChunkPool`]).
    pub(crate) fn new(wal_number: u64, pool: Option<Arc<ChunkPool>>) -> Self {
        Memtable {
            list: SkipList::new(pool),
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

    /// True when at least one entry (not only range tombstones) was added.
    pub(crate) fn has_entries(&self) -> bool {
        !self.list.is_empty()
    }

    /// Add one entry (a batch should use [`Memtable::writer`]: one lock for all).
    pub(crate) fn add(&self, seq: u64, kind: Kind, key: &[u8], value: &[u8]) {
        self.writer().add(seq, kind, key, value);
    }

    /// Exclusive write access until the guard is dropped (the entries' bytes are
    /// counted then).
    pub(crate) fn writer(&self) -> MemWriter<'_> {
        MemWriter {
            mem: self,
            list: self.list.writer(),
            bytes: 0,
        }
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
    /// (`target = ikey::seek_key(key, seq)`), its value handed to `read` in place.
    /// `hash` is the key's `bloom::hash64`, which the tables' filters use too: a lookup
    /// computes it once.
    pub(crate) fn get_with<V>(
        &self,
        target: &[u8],
        key: &[u8],
        hash: u64,
        read: impl FnOnce(&[u8]) -> V,
    ) -> Lookup<V> {
        if !self.filter.may_contain(hash) {
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
                Kind::Value => Lookup::Found(p.seq, read(v)),
                Kind::Delete => Lookup::Deleted(p.seq),
            },
            _ => Lookup::Absent,
        }
    }

    /// Does an entry (of any version) have a user key in `[lo, hi]`?
    pub(crate) fn overlaps(self: &Arc<Self>, lo: &[u8], hi: &[u8]) -> bool {
        let mut it = self.iter();
        it.seek(&ikey::first_of(lo));
        it.valid() && ikey::user_key(it.key()) <= hi
    }

    /// Every entry (every version) in order, as `f(internal key, value)`: what
    /// [`Memtable::iter`] yields, read with the cache misses of several buckets'
    /// lists overlapped (a flush's pass).
    pub(crate) fn for_each_entry<E>(
        &self,
        mut f: impl FnMut(&[u8], &[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        // SAFETY: the walk hands over published nodes of this list, which lives (and
        // keeps its arena) as long as `self`.
        self.list
            .for_each_in_order(|n| unsafe { f(node_key(n), node_value(n)) })
    }

    /// An iterator over all entries (every version).
    pub(crate) fn iter(self: &Arc<Self>) -> MemIter {
        MemIter {
            mem: Arc::clone(self),
            node: std::ptr::null_mut(),
        }
    }
}

/// Writes to a [`Memtable`], holding its skiplist's writer lock.
pub(crate) struct MemWriter<'a> {
    mem: &'a Memtable,
    list: ListWriter<'a>,
    /// Bytes added through this writer, not yet counted in `mem.bytes`.
    bytes: usize,
}

impl MemWriter<'_> {
    /// Add one entry; true if it went into the bucket of the previous entry, before it
    /// (see [`ListWriter::insert`]).
    pub(crate) fn add(&mut self, seq: u64, kind: Kind, key: &[u8], value: &[u8]) -> bool {
        self.add_placed(seq, kind, key, value, None)
    }

    /// [`MemWriter::add`] of a key [`ListWriter::place`]d before.
    fn add_placed(
        &mut self,
        seq: u64,
        kind: Kind,
        key: &[u8],
        value: &[u8],
        placed: Option<Placed>,
    ) -> bool {
        // The filter first: anyone who can see the entry must find its bits.
        self.mem.filter.add(key);
        let mut ik = [0u8; 64];
        let n = key.len() + ikey::TRAILER;
        self.bytes += n + value.len() + ENTRY_OVERHEAD;
        if n <= ik.len() {
            ik[..key.len()].copy_from_slice(key);
            ik[key.len()..n].copy_from_slice(&ikey::trailer(seq, kind as u64));
            self.list.insert(&ik[..n], value, placed)
        } else {
            self.list
                .insert(&ikey::encode(key, seq, kind), value, placed)
        }
    }

    /// Insert one batch operation with sequence number `seq`; true if it was a point
    /// entry out of key order within its bucket (see [`MemWriter::add`]).
    pub(crate) fn apply(&mut self, seq: u64, op: Op<'_>) -> bool {
        self.apply_placed(seq, op, None)
    }

    /// [`MemWriter::apply`] of an operation whose key was [`ListWriter::place`]d.
    fn apply_placed(&mut self, seq: u64, op: Op<'_>, placed: Option<Placed>) -> bool {
        match op {
            Op::Put(k, v) => self.add_placed(seq, Kind::Value, k, v, placed),
            Op::Delete(k) => self.add_placed(seq, Kind::Delete, k, &[], placed),
            Op::DeleteRange(a, b) => {
                self.mem.add_range_tombstone(RangeTombstone {
                    start: a.to_vec(),
                    end: b.to_vec(),
                    seq,
                });
                false
            }
        }
    }

    /// Insert a batch's `count` operations, op `i` with sequence number `seq + i`;
    /// returns the sequence number after the last.
    ///
    /// The entries' order in the skiplist does not depend on the order of inserts, and
    /// none is visible before the batch's last sequence number is published, so the
    /// order is free. An insert just after the previous one in the same bucket starts
    /// from it (the skiplist's hint); one before it descends from the top, about log n
    /// nodes of a bucket of n entries, each a cache miss. A large batch whose inserts
    /// keep landing in one bucket out of order (a collection's records in hash order, a
    /// bulk load in random order) has the rest of that bucket's operations sorted and
    /// inserted in key order. In order already, the batch pays nothing for this: the
    /// check is the hint's own comparison.
    pub(crate) fn apply_ops<'a>(
        &mut self,
        seq: u64,
        ops: impl Iterator<Item = Op<'a>>,
        count: usize,
    ) -> u64 {
        let mut s = seq;
        let mut ops = ops;
        let mut descents = 0;
        // Operations read ahead of the one applied: window[0] is next; the one at
        // PREFETCH_AHEAD * k is at stage 3 - k of `ListWriter::prefetch`, except that
        // an insert into a bucket with an index is placed at PLACE_AHEAD instead of
        // stage 2, and chased from there (`ListWriter::place`).
        let ahead = count >= PREFETCH_MIN;
        // Allocated once, at its full size (not grown by doubling on every batch). Each
        // operation with its place, once found.
        let mut window: VecDeque<(Op<'a>, Option<Placed>)> =
            VecDeque::with_capacity(if ahead { 3 * PREFETCH_AHEAD + 1 } else { 0 });
        loop {
            let op = if ahead {
                while window.len() <= 3 * PREFETCH_AHEAD {
                    let Some(op) = ops.next() else { break };
                    if let Some(k) = point_key(&op) {
                        self.list.prefetch(k, 0);
                    }
                    window.push_back((op, None));
                }
                if let Some((op, _)) = window.get(2 * PREFETCH_AHEAD) {
                    if let Some(k) = point_key(op) {
                        self.list.prefetch(k, 1);
                    }
                }
                // In a bucket with an index: the index entry the insert will start
                // from, then the nodes after it, then a step of the walk from there
                // towards the key at each operation until the insert.
                if let Some((op, placed)) = window.get_mut(PLACE_AHEAD) {
                    if let Some(k) = point_key(op) {
                        *placed = self.list.place(k);
                    }
                }
                if let Some(&(_, Some(p))) = window.get(PLACE_AHEAD - 1) {
                    self.list.prefetch_placed(p);
                }
                for (op, placed) in window.iter_mut().take(PLACE_AHEAD - 1).skip(1) {
                    if let (Some(p), Some(k)) = (placed.as_mut(), point_key(op)) {
                        self.list.chase(p, k);
                    }
                }
                // Stage 2, in a bucket without an index: the first node of the head's
                // top level.
                if let Some((op, None)) = window.get(PREFETCH_AHEAD) {
                    if let Some(k) = point_key(op) {
                        self.list.prefetch(k, 2);
                    }
                }
                window.pop_front()
            } else {
                ops.next().map(|op| (op, None))
            };
            let Some((op, placed)) = op else { break };
            let descended = self.apply_placed(s, op, placed);
            s += 1;
            if count < SORT_MIN || !descended {
                continue;
            }
            descents += 1;
            let left = count - (s - seq) as usize;
            if descents == SORT_AFTER && left >= SORT_MIN / 2 {
                let Some(hot) = point_key(&op).map(user_key_bucket) else {
                    continue;
                };
                let rest: Vec<Op<'a>> = window.drain(..).map(|(op, _)| op).chain(ops).collect();
                self.apply_hot_sorted(s, &rest, hot);
                return s + rest.len() as u64;
            }
        }
        s
    }

    /// Insert operations, op `i` with sequence number `seq + i`: first those outside
    /// bucket `hot` in batch order, then those in it in key order. A batch of random
    /// keys filling a new range of one bucket goes in about twice as fast so, the sort
    /// included.
    fn apply_hot_sorted(&mut self, seq: u64, ops: &[Op<'_>], hot: usize) {
        let mut sorted = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match point_key(op) {
                Some(k) if user_key_bucket(k) == hot => sorted.push(i),
                _ => {
                    self.apply(seq + i as u64, *op);
                }
            }
        }
        let order = sort_by_key(ops, sorted);
        // In key order the operations' bytes are read in random order: each would be a
        // cache miss in a large batch, so they are prefetched a few operations ahead.
        const AHEAD: usize = 8;
        for (j, &i) in order.iter().enumerate() {
            if let Some(&later) = order.get(j + 2 * AHEAD) {
                crate::sst::prefetch(&ops[later]);
            }
            if let Some(&next) = order.get(j + AHEAD) {
                if let Some(k) = point_key(&ops[next]) {
                    crate::sst::prefetch_line(k);
                }
            }
            self.apply(seq + i as u64, ops[i]);
        }
    }
}

/// `idx` (positions of puts and deletes in `ops`) ordered as the skiplist orders their
/// entries: by user key, then newest (highest position) first.
///
/// One collection's keys share a long prefix (slot, key, version), so comparing them
/// whole is mostly comparing equal bytes. Each is given the 8 bytes after the prefix all
/// share (zero-padded, big-endian): those order most pairs with one integer comparison,
/// and only equal ones compare their remaining bytes.
fn sort_by_key(ops: &[Op<'_>], idx: Vec<usize>) -> Vec<usize> {
    let key = |i: usize| point_key(&ops[i]).unwrap_or_default();
    let first = idx.first().map_or(&[][..], |&i| key(i));
    let shared = idx.iter().fold(first.len(), |n, &i| {
        first[..n]
            .iter()
            .zip(key(i))
            .take_while(|(a, b)| a == b)
            .count()
    });
    let mut items: Vec<(u64, usize)> = idx
        .into_iter()
        .map(|i| {
            let rest = &key(i)[shared..];
            let mut b = [0u8; 8];
            let n = rest.len().min(8);
            b[..n].copy_from_slice(&rest[..n]);
            (u64::from_be_bytes(b), i)
        })
        .collect();
    items.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| key(a.1)[shared..].cmp(&key(b.1)[shared..]))
            .then(b.1.cmp(&a.1))
    });
    items.into_iter().map(|(_, i)| i).collect()
}

/// The user key of a put or a delete.
fn point_key<'a>(op: &Op<'a>) -> Option<&'a [u8]> {
    match *op {
        Op::Put(k, _) | Op::Delete(k) => Some(k),
        Op::DeleteRange(..) => None,
    }
}

impl Drop for MemWriter<'_> {
    fn drop(&mut self) {
        self.mem
            .bytes
            .fetch_add(self.bytes, AtomicOrdering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn puts(keys: &[Vec<u8>]) -> Vec<Op<'_>> {
        keys.iter().map(|k| Op::Put(k, b"v")).collect()
    }

    #[test]
    fn sort_order_is_the_skiplists() {
        let keys: Vec<Vec<u8>> = [&b"ab:x2"[..], b"ab:x1", b"ab:x", b"ab:x1", b"ab:"]
            .iter()
            .map(|k| k.to_vec())
            .collect();
        let ops = puts(&keys);
        // By key; the later of two writes of "ab:x1" (position 3) first.
        assert_eq!(sort_by_key(&ops, (0..5).collect()), vec![4, 2, 3, 1, 0]);
    }
}
