//! The memtable's ordered structure: arena-allocated skiplists with one writer and
//! lock-free readers (LevelDB's memtable design), one per 2-byte key prefix.
//!
//! Keys are internal keys; a key's *bucket* is the first two bytes of its user key
//! (a missing byte counts as 0), so every key of bucket `b` orders before every key of
//! bucket `b + 1`, and the buckets' lists, walked in bucket order, are one ordered
//! sequence. The server's keys start with their cluster slot, so random keys spread
//! over thousands of short lists: an insert or a lookup descends a list of a few
//! entries instead of one of the whole memtable (about 20 dependent cache misses in a
//! full 8 MiB memtable). The sub-records of one collection share a bucket, as they
//! shared the one list before; a bucket that grows large (4,096 nodes) gets a sorted
//! array of its taller nodes (`BucketIndex`), rebuilt each time the bucket doubles, that
//! inserts and seeks binary-search before they descend the bottom two levels.
//!
//! Thread-safety: `insert` may be called from any thread but calls are serialized by an
//! internal mutex (in practice only the write leader inserts); any number of readers
//! traverse concurrently without locks.
//!
//! Invariants:
//! 1. Nodes (and bucket heads) live in arena chunks that are never freed, moved or reused
//!    before the whole structure is dropped, so a node pointer stays valid as long as
//!    the structure does.
//! 2. A node's header, key and value are written before the node is published; after
//!    that only its `next` pointers change, and only through atomics.
//! 3. A node is published level by level, bottom first, with `Release` stores that
//!    readers' `Acquire` loads pair with: a reader that sees a pointer sees the node's
//!    bytes.
//! 4. Only the writer (holding `writer`) touches the arena's allocation state.
//! 5. A bucket's head is published (`Release`) before its first node is linked, and the
//!    bucket's bit in `nonempty` is set (`Release`) only after that node is linked: a
//!    reader that finds the bit finds a head with at least one node.
//! 6. A bucket index is immutable once published (`Release`) in its head, names only
//!    nodes linked before it was built, and stays allocated as long as the list, so a
//!    reader may keep using an index the writer has since replaced.
//!
//! Node layout in the arena (8-byte aligned):
//! ```text
//! key_len: u32 | value_len: u32 | height: u32 | pad: u32 | next: AtomicPtr * height | key | value
//! ```
//! A bucket head is a node of height `MAX_HEIGHT` without key or value whose `pad` is
//! the bucket list's current height (an atomic u32), followed by a pointer to the
//! bucket's index (atomic, null if none); its `key_len` and `value_len` fields hold the
//! writer's counts of the bucket's inserts (never read by readers).

use std::cmp::Ordering;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Mutex;

use crate::ikey;

const MAX_HEIGHT: usize = 12;
const HEADER: usize = 16;
const CHUNK_WORDS: usize = 32 * 1024; // 256 KiB chunks
const BUCKETS: usize = 1 << 16;
/// A bucket head: a node of height `MAX_HEIGHT`, then its published index (null if none).
const HEAD_INDEX: usize = HEADER + 8 * MAX_HEIGHT;
const HEAD_BYTES: usize = HEAD_INDEX + 8;
/// A bucket gets a [`BucketIndex`] once it holds this many nodes, and a new one each time
/// it has doubled since the last.
const INDEX_MIN: u32 = 4096;
/// A bucket index holds the nodes taller than this level (one in 4^INDEX_LEVEL), and an
/// insert through it descends the levels from `INDEX_LEVEL` down.
const INDEX_LEVEL: usize = 1;
/// Nodes an insert through a bucket index walks on level `INDEX_LEVEL` before it gives up
/// and descends from the head.
const INDEX_WALK_MAX: usize = 16;

type NodePtr = *mut u8;

/// Arena chunks of dropped memtables, kept for the next memtables: a fresh chunk's pages
/// fault in zeroed, one 2 MiB huge page zeroed at a time, which cost a RESTORE's event
/// loop about 9% of its time. Holds at most `cap` chunks; chunks come back dirty.
pub(crate) struct ChunkPool {
    free: Mutex<Vec<Box<[u64]>>>,
    cap: usize,
}

impl ChunkPool {
    /// A pool holding up to `bytes` of chunks.
    pub(crate) fn new(bytes: usize) -> Self {
        ChunkPool {
            free: Mutex::new(Vec::new()),
            cap: bytes / (CHUNK_WORDS * 8),
        }
    }

    fn take(&self) -> Option<Box<[u64]>> {
        self.free.lock().ok()?.pop()
    }

    fn give(&self, chunks: impl Iterator<Item = Box<[u64]>>) {
        if let Ok(mut free) = self.free.lock() {
            let room = self.cap.saturating_sub(free.len());
            free.extend(chunks.filter(|c| c.len() == CHUNK_WORDS).take(room));
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.free.lock().map_or(0, |f| f.len() * CHUNK_WORDS * 8)
    }
}

struct Writer {
    /// Arena chunks (u64 words, so nodes are 8-byte aligned). Boxes never move.
    chunks: Vec<Box<[u64]>>,
    /// Next free word in the last chunk.
    used: usize,
    rng: u64,
    /// The last node inserted (null before the first) and its predecessors at every
    /// level: an insert of a larger key into the same bucket starts from them, so runs
    /// of increasing keys (RPUSH's positions, a restored collection, fillseq) cost a
    /// few comparisons each instead of a descent; a key between the last node and its
    /// predecessor takes those predecessors as its own, so decreasing runs (LPUSH's
    /// positions) cost one comparison.
    last: NodePtr,
    /// The bucket of `last`.
    last_bucket: usize,
    last_prev: [NodePtr; MAX_HEIGHT],
    /// How many levels of `last_prev`, from the bottom, are known (the rest were not
    /// looked for: an insert through a bucket index finds the low levels only).
    last_known: usize,
    /// Every bucket index built, published or replaced: readers may still be using a
    /// replaced one, so all live as long as the list.
    /// Boxed: heads point at them, and the vector's growth must not move them.
    #[allow(clippy::vec_box)]
    indexes: Vec<Box<BucketIndex>>,
}

/// The index of one large bucket: a sorted array of its nodes taller than
/// [`INDEX_LEVEL`] as they were when the index was built, cut into segments of entries
/// that share a prefix (a collection's members; a sorted set's members and its score
/// index; the metadata records around them), with the 8 bytes of each user key that
/// follow its segment's prefix. A random insert into a bucket of 100k nodes otherwise
/// descends about 25 nodes, each a cache miss; through the index it binary-searches a
/// dense array (the prefixes, not the nodes) and descends the bottom levels only. Nodes
/// inserted since the build are found by that descent (the index only has to name a
/// node before the key at level `INDEX_LEVEL`). It is immutable once published in the
/// bucket's head, and readers' seeks use it too.
struct BucketIndex {
    nodes: Vec<NodePtr>,
    /// Per entry: the big-endian u64 of the 8 user-key bytes after its segment's
    /// `common` (zero padded).
    prefixes: Vec<u64>,
    /// Consecutive runs of entries covering `nodes`, in order.
    segments: Vec<Segment>,
}

/// Entries `start..end` of a [`BucketIndex`], whose user keys all start with `common`.
struct Segment {
    start: usize,
    end: usize,
    common: Vec<u8>,
    /// False when too many neighbours tie in their 8 bytes for the search to pay: keys
    /// that fall here take the ordinary descent.
    searchable: bool,
}

/// A segment of this many entries or more whose prefixes tie too often is cut by the
/// byte after its common prefix, at most `SEGMENT_DEPTH` times, into at most
/// `MAX_SEGMENTS` segments in all.
const SEGMENT_MIN: usize = 64;
const SEGMENT_DEPTH: usize = 4;
const MAX_SEGMENTS: usize = 64;

impl BucketIndex {
    /// The index of `nodes` (sorted nodes of one list).
    fn new(nodes: Vec<NodePtr>) -> Self {
        let mut index = BucketIndex {
            prefixes: vec![0; nodes.len()],
            nodes,
            segments: Vec::new(),
        };
        index.cut(0, index.nodes.len(), 0);
        index
    }

    /// Make entries `start..end` one segment, or cut them into several.
    fn cut(&mut self, start: usize, end: usize, depth: usize) {
        if start == end {
            return;
        }
        // SAFETY (every `user_of` here): index entries are published nodes of the list,
        // which outlives the index.
        let user = |n: NodePtr| unsafe { user_of(n) };
        let (a, z) = (user(self.nodes[start]), user(self.nodes[end - 1]));
        let c = a.iter().zip(z).take_while(|(x, y)| x == y).count();
        for i in start..end {
            // Every entry of a sorted run starts with what its ends share.
            self.prefixes[i] = ikey::prefix_u64(&user(self.nodes[i])[c..]);
        }
        let ties = self.prefixes[start..end]
            .windows(2)
            .filter(|p| p[0] == p[1])
            .count();
        let searchable = ties * 4 <= end - start;
        if searchable
            || end - start < SEGMENT_MIN
            || depth == SEGMENT_DEPTH
            || self.segments.len() >= MAX_SEGMENTS
        {
            self.segments.push(Segment {
                start,
                end,
                common: a[..c].to_vec(),
                searchable,
            });
            return;
        }
        // The ends differ at byte `c`: runs of one value of that byte (the key that
        // ends at `c` first) share a longer prefix.
        let mut i = start;
        while i < end {
            let b = user(self.nodes[i]).get(c).copied();
            let j = i + self.nodes[i..end].partition_point(|&n| user(n).get(c).copied() == b);
            self.cut(i, j, depth + 1);
            i = j;
        }
    }

    fn bytes(&self) -> usize {
        self.prefixes.capacity() * 8
            + self.nodes.capacity() * 8
            + self
                .segments
                .iter()
                .map(|s| std::mem::size_of::<Segment>() + s.common.capacity())
                .sum::<usize>()
    }

    /// The last entry whose key is < `key` (an internal key) and the entry after it,
    /// when `key` lies between two entries and not in an unsearchable segment; `None`
    /// sends the insert down the ordinary descent.
    fn start(&self, key: &[u8]) -> Option<(NodePtr, NodePtr)> {
        let user = &key[..key.len().saturating_sub(ikey::TRAILER)];
        // The last segment whose first entry is below `key` (a few segments: their
        // first nodes are visited on every search, so they stay cached).
        // SAFETY: index entries are published nodes of this list.
        let s = self.segments.partition_point(|g| {
            ikey::compare(unsafe { node_key(self.nodes[g.start]) }, key).is_lt()
        });
        let seg = &self.segments[s.checked_sub(1)?];
        let lo = if user.starts_with(&seg.common) {
            if !seg.searchable {
                return None;
            }
            // The first entry of the segment not below `key` (its first one is below).
            let p = ikey::prefix_u64(&user[seg.common.len()..]);
            let (mut lo, mut hi) = (seg.start + 1, seg.end);
            while lo < hi {
                let mid = (lo + hi) / 2;
                let e = self.prefixes[mid];
                // SAFETY: as above.
                let below = e < p
                    || (e == p && ikey::compare(unsafe { node_key(self.nodes[mid]) }, key).is_lt());
                if below {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        } else {
            // Not below the segment's first key and without its prefix: above all of it.
            seg.end
        };
        // Beyond the last entry is where keys inserted in order since the build gather
        // (and where a walk from the last entry would meet them all).
        let bound = *self.nodes.get(lo)?;
        Some((self.nodes[lo - 1], bound))
    }
}

/// Start loading the header, tower and key of `node`: its first three cache lines.
/// A node starts anywhere in its first line, and a collection member's key (about 40
/// bytes after a 24- or 32-byte header and tower) often ends in the third: a miss
/// there stalled one comparison in several of a chase (measured, `docs/decisions.md`).
fn prefetch_key(node: NodePtr) {
    for line in 0..3 {
        crate::sst::prefetch(node.wrapping_add(64 * line));
    }
}

/// The user key of a published node.
///
/// SAFETY: as [`node_key`].
unsafe fn user_of<'a>(node: NodePtr) -> &'a [u8] {
    let k = node_key(node);
    &k[..k.len().saturating_sub(ikey::TRAILER)]
}

/// Runs a flush walks side by side ([`SkipList::for_each_in_order`]).
const LANES: usize = 32;
/// A bucket without an index whose list is taller than this is cut into runs for the
/// flush's lanes at its nodes on this level (one in 64: walking them first costs a
/// sixty-fourth of walking the list, and the runs' walks overlap their misses).
const SPLIT_LEVEL: usize = 3;

/// One run being walked: where it is, where it stops, the nodes met so far.
struct Lane {
    at: NodePtr,
    stop: NodePtr,
    nodes: Vec<NodePtr>,
}

/// The node lists of a flush walk, kept by the thread between walks. Grown afresh on
/// every flush (to the size of the memtable's largest bucket), they faulted in new,
/// zeroed huge pages each time: page clearing was a third of the flush thread's time
/// under LPUSH. Empty between walks (their nodes die with their list).
#[derive(Default)]
struct WalkBuffers {
    runs: Vec<(NodePtr, NodePtr)>,
    lanes: Vec<Vec<NodePtr>>,
    order: Vec<NodePtr>,
}

impl WalkBuffers {
    /// Bytes held.
    fn retained(&self) -> usize {
        self.runs.capacity() * std::mem::size_of::<(NodePtr, NodePtr)>()
            + (self.order.capacity() + self.lanes.iter().map(Vec::capacity).sum::<usize>())
                * std::mem::size_of::<NodePtr>()
    }
}

/// At most this many bytes of [`WalkBuffers`] are kept for a thread's next walk.
const WALK_BUFFERS_MAX: usize = 32 << 20;

thread_local! {
    static WALK_BUFFERS: std::cell::Cell<WalkBuffers> = std::cell::Cell::new(WalkBuffers::default());
}

// SAFETY: the pointers in `Writer` point into the arena it owns (or to bucket heads in
// it) and are only used under the writer mutex.
unsafe impl Send for Writer {}

pub(crate) struct SkipList {
    /// Each bucket's head node, null while the bucket is empty.
    heads: Box<[AtomicPtr<u8>]>,
    /// Bit `b` set: bucket `b` holds at least one node.
    nonempty: Box<[AtomicU64]>,
    /// Bytes of the bucket heads in use (and their table entries).
    overhead: AtomicUsize,
    writer: Mutex<Writer>,
    /// Where standard chunks come from and go back to when the list is dropped.
    pool: Option<std::sync::Arc<ChunkPool>>,
}

impl Drop for SkipList {
    fn drop(&mut self) {
        if let (Some(pool), Ok(w)) = (&self.pool, self.writer.get_mut()) {
            pool.give(w.chunks.drain(..));
        }
    }
}

// SAFETY: see the module invariants. Node memory is written only before publication
// (under `writer`) or through atomics, and readers synchronize with Acquire loads.
unsafe impl Send for SkipList {}
unsafe impl Sync for SkipList {}

/// An index entry before every version of a user key about to be inserted
/// ([`ListWriter::place`]): a published node at least `INDEX_LEVEL + 1` high. It stays
/// before that key whatever is inserted after it was found (nodes never move), so it is
/// a valid start for the insert as long as its list lives.
///
/// Between the place and the insert, [`ListWriter::chase`] walks on from there a node
/// at a time, as the insert's own walk would, while other inserts run: each step reads
/// nodes an earlier step started loading, so the insert finds its neighbours cached.
#[derive(Clone, Copy)]
pub(crate) struct Placed {
    /// The index entry, or a later node on level `INDEX_LEVEL` (so at least
    /// `INDEX_LEVEL + 1` high), before every version of the user key.
    upper: NodePtr,
    /// `upper` or a later node, before every version of the user key.
    lower: NodePtr,
    /// The level the chase walks next: `INDEX_LEVEL` down to 0, then `CHASED`.
    level: u8,
}

/// [`Placed::level`] of a chase that reached the user key's place on level 0.
const CHASED: u8 = u8::MAX;

/// Insert access to a [`SkipList`], holding its writer lock.
pub(crate) struct ListWriter<'a> {
    list: &'a SkipList,
    w: std::sync::MutexGuard<'a, Writer>,
}

impl ListWriter<'_> {
    /// Insert `key` (an internal key, unique in this list) with `value`. Returns
    /// whether `key` went into the same bucket as the previous insert and before it,
    /// not just before it (a descent from the top that an insert in key order would not
    /// have needed).
    ///
    /// `placed`: what [`ListWriter::place`] answered for the user key of `key`, if it
    /// was asked (and chased since); an insert through the bucket's index starts from
    /// there instead of searching the index again: a node of height 1 from where the
    /// chase got on level 0, a taller one from where it got on level `INDEX_LEVEL`.
    pub(crate) fn insert(&mut self, key: &[u8], value: &[u8], placed: Option<Placed>) -> bool {
        self.list.insert_locked(&mut self.w, key, value, placed)
    }

    /// For a bucket with an index: where an insert of a key with user key `user` will
    /// start (the index entry before every version of `user`, found now by the index's
    /// binary search), with that node's first bytes starting to load; `None` for a
    /// bucket without an index (or a key the index cannot place). Pass it to
    /// [`ListWriter::prefetch_placed`] an insert later, to [`ListWriter::chase`] at
    /// each insert after that, then to the insert. Nothing is changed.
    pub(crate) fn place(&self, user: &[u8]) -> Option<Placed> {
        let head = self.list.heads[user_key_bucket(user)].load(AtomicOrdering::Relaxed);
        if head.is_null() {
            return None;
        }
        // SAFETY: a published index lives as long as the list.
        let index = unsafe { self.list.index_of(head).as_ref() }?;
        // The key before every version of `user`, so before the key to be inserted.
        let mut buf = [0u8; 128];
        let key = buf.get_mut(..user.len() + ikey::TRAILER)?;
        ikey::write_first_of(key, user);
        let (x, _) = index.start(key)?;
        crate::sst::prefetch(x);
        crate::sst::prefetch(x.wrapping_add(64));
        Some(Placed {
            upper: x,
            lower: x,
            level: INDEX_LEVEL as u8,
        })
    }

    /// Start loading the nodes after a [`ListWriter::place`]d start on the two levels
    /// an insert through the index walks (its first node is cached by now).
    pub(crate) fn prefetch_placed(&self, p: Placed) {
        Self::prefetch_after(self.list, p.upper);
    }

    /// Start loading `x`'s successors on levels 0 ..= `INDEX_LEVEL`.
    fn prefetch_after(list: &SkipList, x: NodePtr) {
        for level in 0..=INDEX_LEVEL {
            let n = list.next(x, level);
            if !n.is_null() {
                prefetch_key(n);
            }
        }
    }

    /// One step of the walk from a [`ListWriter::place`]d start towards the place of
    /// `user` (the user key it was placed for), on the levels an insert through the
    /// index walks: past the next node when that is before every version of `user`,
    /// else down a level (or done). The nodes it reads were started loading by
    /// [`ListWriter::prefetch_placed`] or by the step before; it starts loading the next
    /// ones. Nodes inserted meanwhile are found by the insert, which walks on from
    /// where the chase stopped.
    pub(crate) fn chase(&self, p: &mut Placed, user: &[u8]) {
        // Before every version of `user`: a smaller user key (an equal one is a version).
        let below = |n: NodePtr| {
            // SAFETY: non-null nodes reached by traversal are published.
            !n.is_null() && ikey::bytewise(unsafe { user_of(n) }, user) == Ordering::Less
        };
        if usize::from(p.level) == INDEX_LEVEL {
            let n = self.list.next(p.upper, INDEX_LEVEL);
            if below(n) {
                p.upper = n;
                p.lower = n;
                Self::prefetch_after(self.list, n);
                return;
            }
            p.level = 0;
        }
        if p.level == 0 {
            let n = self.list.next(p.lower, 0);
            if below(n) {
                p.lower = n;
                let after = self.list.next(n, 0);
                if !after.is_null() {
                    prefetch_key(after);
                }
            } else {
                p.level = CHASED;
            }
        }
    }

    /// Start loading what an insert of a key with user key `user` reads first, by
    /// `stage`: 0, the bucket's slot in the head table; 1, the bucket's head (whose
    /// slot stage 0 loaded); 2, the first node of the head's top level (the head stage
    /// 1 loaded). A batch's inserts go one after the other, and each one's descent is a
    /// chain of cache misses: run a few inserts ahead, these stages overlap the first
    /// misses of later inserts with the current one. Hints only: nothing is changed.
    pub(crate) fn prefetch(&self, user: &[u8], stage: u8) {
        let b = user_key_bucket(user);
        if stage == 0 {
            crate::sst::prefetch(&self.list.heads[b]);
            return;
        }
        let head = self.list.heads[b].load(AtomicOrdering::Relaxed);
        if head.is_null() {
            return;
        }
        if stage == 1 {
            crate::sst::prefetch(head);
            crate::sst::prefetch(head.wrapping_add(64));
            return;
        }
        // SAFETY: a non-null head in the table is published; the writer lock is held,
        // so its height and next pointers are not being changed.
        let first = unsafe {
            let top = head_height(head).load(AtomicOrdering::Relaxed) as usize;
            next_slot(head, top.max(1) - 1).load(AtomicOrdering::Relaxed)
        };
        if !first.is_null() {
            crate::sst::prefetch(first);
            crate::sst::prefetch(first.wrapping_add(64));
        }
    }
}

/// Pointer to the `i`-th next slot of a node.
///
/// SAFETY: `node` is a live node (or a head) of height > `i`.
unsafe fn next_slot<'a>(node: NodePtr, i: usize) -> &'a AtomicPtr<u8> {
    &*(node.add(HEADER + 8 * i) as *const AtomicPtr<u8>)
}

/// The current height of a bucket's list, kept in its head's `pad` field.
///
/// SAFETY: `head` is a published bucket head.
unsafe fn head_height<'a>(head: NodePtr) -> &'a AtomicU32 {
    &*(head.add(12) as *const AtomicU32)
}

/// SAFETY: `node` is a published node (never a head).
unsafe fn lens(node: NodePtr) -> (usize, usize, usize) {
    let h = node as *const u32;
    (*h as usize, *h.add(1) as usize, *h.add(2) as usize)
}

/// The key of a published node.
///
/// SAFETY: `node` is a published node; the slice lives as long as the list.
pub(crate) unsafe fn node_key<'a>(node: NodePtr) -> &'a [u8] {
    let (k, _, h) = lens(node);
    std::slice::from_raw_parts(node.add(HEADER + 8 * h), k)
}

/// The value of a published node.
///
/// SAFETY: as [`node_key`].
pub(crate) unsafe fn node_value<'a>(node: NodePtr) -> &'a [u8] {
    let (k, v, h) = lens(node);
    std::slice::from_raw_parts(node.add(HEADER + 8 * h + k), v)
}

/// Count one more node in a bucket, and one more insert that the hint did not place
/// near the last one when `descent`; returns both counts. The node count lives in the
/// head's `value_len` field, the other in its `key_len` (the writer's alone: readers
/// never read a head's lengths); it counts from the last power-of-two node count and
/// is reset by [`reset_descents`].
///
/// SAFETY: `head` is a bucket head, and the caller holds the writer lock.
unsafe fn bump_counts(head: NodePtr, descent: bool) -> (u32, u32) {
    let (d, c) = ((head as *mut u32), (head as *mut u32).add(1));
    *c = (*c).saturating_add(1);
    *d = (*d).saturating_add(u32::from(descent));
    (*c, *d)
}

/// SAFETY: as [`bump_counts`].
unsafe fn reset_descents(head: NodePtr) {
    *(head as *mut u32) = 0;
}

/// The bucket of an internal key: the first two bytes of its user key.
fn bucket_of(ikey: &[u8]) -> usize {
    user_key_bucket(&ikey[..ikey.len().saturating_sub(ikey::TRAILER)])
}

/// The bucket of a user key: its first two bytes (a missing byte counts as 0).
pub(crate) fn user_key_bucket(user: &[u8]) -> usize {
    let b0 = user.first().copied().unwrap_or(0) as usize;
    let b1 = user.get(1).copied().unwrap_or(0) as usize;
    (b0 << 8) | b1
}

impl SkipList {
    /// An empty list; its arena takes chunks from `pool` (and returns them on drop)
    /// when there is one.
    pub(crate) fn new(pool: Option<std::sync::Arc<ChunkPool>>) -> Self {
        // `vec![0; n]` allocates zeroed memory (calloc): pages of the 512 KiB head table
        // that no bucket uses are never touched.
        let heads = vec![0usize; BUCKETS].into_boxed_slice();
        let nonempty = vec![0u64; BUCKETS / 64].into_boxed_slice();
        // SAFETY: `AtomicPtr<u8>` has the in-memory representation of `*mut u8` (the
        // size and alignment of usize), and all-zero is null; `AtomicU64` has the
        // in-memory representation of `u64`.
        let (heads, nonempty) = unsafe {
            (
                Box::from_raw(Box::into_raw(heads) as *mut [AtomicPtr<u8>]),
                Box::from_raw(Box::into_raw(nonempty) as *mut [AtomicU64]),
            )
        };
        SkipList {
            heads,
            nonempty,
            overhead: AtomicUsize::new(0),
            writer: Mutex::new(Writer {
                chunks: Vec::new(),
                used: CHUNK_WORDS,
                rng: 0x2545_f491_4f6c_dd1d,
                last: ptr::null_mut(),
                last_bucket: 0,
                last_prev: [ptr::null_mut(); MAX_HEIGHT],
                last_known: MAX_HEIGHT,
                indexes: Vec::new(),
            }),
            pool,
        }
    }

    /// Bytes used besides the nodes themselves.
    pub(crate) fn overhead_bytes(&self) -> usize {
        self.overhead.load(AtomicOrdering::Relaxed)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first().is_null()
    }

    fn head(&self, b: usize) -> NodePtr {
        self.heads[b].load(AtomicOrdering::Acquire)
    }

    fn next(&self, node: NodePtr, i: usize) -> NodePtr {
        // SAFETY: callers pass a head or a published node of height > i.
        unsafe { next_slot(node, i).load(AtomicOrdering::Acquire) }
    }

    /// Is `node`'s key less than `key`? (A null node is +infinity.)
    fn before(node: NodePtr, key: &[u8]) -> bool {
        // SAFETY: non-null nodes reached by traversal are published.
        !node.is_null() && ikey::compare(unsafe { node_key(node) }, key) == Ordering::Less
    }

    /// In the list of `head`: the first node with key >= `key` (null if none); fills
    /// `prev` when given.
    fn find_ge(
        &self,
        head: NodePtr,
        key: &[u8],
        prev: Option<&mut [NodePtr; MAX_HEIGHT]>,
    ) -> NodePtr {
        // SAFETY: `head` is a published head.
        let top = unsafe { head_height(head) }.load(AtomicOrdering::Relaxed) as usize;
        self.descend(head, top, key, ptr::null_mut(), prev)
    }

    /// From `x` (the head, or a node before `key`) down through levels `levels - 1` to
    /// 0: the first node with key >= `key` (null if none; also null when `levels` is 0),
    /// filling `prev[..levels]` when given. `bound` is null or a node known to be
    /// >= `key`: met, it ends a level without a comparison.
    fn descend(
        &self,
        mut x: NodePtr,
        levels: usize,
        key: &[u8],
        mut bound: NodePtr,
        mut prev: Option<&mut [NodePtr; MAX_HEIGHT]>,
    ) -> NodePtr {
        let mut next = ptr::null_mut();
        // The node that ended the level above is >= `key`; met again one level down
        // (one time in four), it ends this level too without a comparison.
        for level in (0..levels).rev() {
            next = self.next(x, level);
            while next != bound && Self::before(next, key) {
                x = next;
                next = self.next(x, level);
            }
            bound = next;
            if let Some(p) = prev.as_deref_mut() {
                p[level] = x;
            }
        }
        next
    }

    /// In the list of `head`: the last node for which `go_on(node)` holds (null if
    /// none); `go_on` must hold for a prefix of the list.
    fn last_where(&self, head: NodePtr, go_on: impl Fn(NodePtr) -> bool) -> NodePtr {
        let mut x = head;
        // SAFETY: `head` is a published head.
        let mut level = unsafe { head_height(head) }.load(AtomicOrdering::Relaxed) as usize - 1;
        loop {
            let next = self.next(x, level);
            if go_on(next) {
                x = next;
                continue;
            }
            if level == 0 {
                return if x == head { ptr::null_mut() } else { x };
            }
            level -= 1;
        }
    }

    /// The first non-empty bucket `>= from`.
    fn nonempty_from(&self, from: usize) -> Option<usize> {
        let mut w = from / 64;
        let mut mask = u64::MAX.checked_shl((from % 64) as u32).unwrap_or(0);
        while w < self.nonempty.len() {
            let bits = self.nonempty[w].load(AtomicOrdering::Acquire) & mask;
            if bits != 0 {
                return Some(w * 64 + bits.trailing_zeros() as usize);
            }
            w += 1;
            mask = u64::MAX;
        }
        None
    }

    /// The last non-empty bucket `< before`.
    fn nonempty_before(&self, before: usize) -> Option<usize> {
        if before == 0 {
            return None;
        }
        let last = before - 1;
        let mut w = last / 64;
        let mut mask = u64::MAX >> (63 - last % 64);
        loop {
            let bits = self.nonempty[w].load(AtomicOrdering::Acquire) & mask;
            if bits != 0 {
                return Some(w * 64 + 63 - bits.leading_zeros() as usize);
            }
            if w == 0 {
                return None;
            }
            w -= 1;
            mask = u64::MAX;
        }
    }

    /// The first node of the first non-empty bucket `>= from` (null if none).
    fn first_from(&self, from: usize) -> NodePtr {
        match self.nonempty_from(from) {
            Some(b) => self.next(self.head(b), 0),
            None => ptr::null_mut(),
        }
    }

    /// The last node of the last non-empty bucket `< before` (null if none).
    fn last_before(&self, before: usize) -> NodePtr {
        match self.nonempty_before(before) {
            Some(b) => self.last_where(self.head(b), |n| !n.is_null()),
            None => ptr::null_mut(),
        }
    }

    /// Last node with key < `key` (null if none).
    pub(crate) fn find_lt(&self, key: &[u8]) -> NodePtr {
        let b = bucket_of(key);
        let head = self.head(b);
        if !head.is_null() {
            let x = self.last_where(head, |n| Self::before(n, key));
            if !x.is_null() {
                return x;
            }
        }
        self.last_before(b)
    }

    /// Last node (null if empty).
    pub(crate) fn last(&self) -> NodePtr {
        self.last_before(BUCKETS)
    }

    pub(crate) fn first(&self) -> NodePtr {
        self.first_from(0)
    }

    /// Every node in order, handed to `f` (which may stop the walk with an error): a
    /// flush's read of the whole list. Walking one list is a chain of cache misses,
    /// one per node, each waiting for the last. This walks up to `LANES` runs of the
    /// bottom level side by side, one step of each in turn, so that their misses
    /// overlap; then it hands over their nodes in order, loading each a few nodes
    /// ahead. A run is a bucket's list, or, in a bucket with an index, the nodes from
    /// one index entry to the next (about four), or in a tall list without one, from
    /// one node on `SPLIT_LEVEL` to the next (about 64), so one large bucket is walked
    /// in parallel too.
    pub(crate) fn for_each_in_order<E>(
        &self,
        mut f: impl FnMut(NodePtr) -> Result<(), E>,
    ) -> Result<(), E> {
        const BUCKETS_PER_ROUND: usize = 32;
        let mut heads: Vec<NodePtr> = Vec::with_capacity(BUCKETS_PER_ROUND);
        // The node lists come from the thread's last walk (see `WalkBuffers`).
        let mut bufs = WALK_BUFFERS.with(|b| b.take());
        bufs.lanes.resize_with(LANES, Vec::new);
        let WalkBuffers {
            runs,
            lanes: lane_nodes,
            order,
        } = &mut bufs;
        let mut lanes: Vec<Lane> = lane_nodes
            .drain(..)
            .map(|mut nodes| {
                nodes.clear();
                Lane {
                    at: ptr::null_mut(),
                    stop: ptr::null_mut(),
                    nodes,
                }
            })
            .collect();
        let result = self.walk_lanes(&mut heads, runs, &mut lanes, order, &mut f);
        // Back to the thread, emptied (the nodes die with this list), unless a walk of
        // an unusually large bucket grew them past what is worth keeping.
        runs.clear();
        order.clear();
        lane_nodes.extend(lanes.into_iter().map(|mut l| {
            l.nodes.clear();
            l.nodes
        }));
        if bufs.retained() <= WALK_BUFFERS_MAX {
            WALK_BUFFERS.with(|b| b.set(bufs));
        }
        result
    }

    /// [`SkipList::for_each_in_order`]'s walk, in the buffers it lends.
    fn walk_lanes<E>(
        &self,
        heads: &mut Vec<NodePtr>,
        runs: &mut Vec<(NodePtr, NodePtr)>,
        lanes: &mut [Lane],
        order: &mut Vec<NodePtr>,
        f: &mut impl FnMut(NodePtr) -> Result<(), E>,
    ) -> Result<(), E> {
        const AHEAD: usize = 16;
        const BUCKETS_PER_ROUND: usize = 32;
        let load = |n: NodePtr| {
            // A node's header, tower and key, and the rest of a short value.
            for line in 0..4 {
                crate::sst::prefetch(n.wrapping_add(64 * line));
            }
        };
        let mut from = 0;
        loop {
            heads.clear();
            while heads.len() < BUCKETS_PER_ROUND {
                let Some(b) = self.nonempty_from(from) else {
                    break;
                };
                let head = self.head(b);
                crate::sst::prefetch(head.wrapping_add(HEADER));
                crate::sst::prefetch(head.wrapping_add(HEAD_INDEX));
                heads.push(head);
                from = b + 1;
            }
            if heads.is_empty() {
                return Ok(());
            }
            runs.clear();
            for &head in heads.iter() {
                let first = self.next(head, 0);
                // SAFETY: a published index lives as long as the list (`Writer::indexes`).
                match unsafe { self.index_of(head).as_ref() } {
                    // SAFETY: `head` is a published head.
                    None if unsafe { head_height(head) }.load(AtomicOrdering::Relaxed) as usize
                        > SPLIT_LEVEL =>
                    {
                        // A long list without an index (one filled in key order: a
                        // list's pushes): cut at its nodes on SPLIT_LEVEL, walked first.
                        let mut at = first;
                        let mut n = self.next(head, SPLIT_LEVEL);
                        while !n.is_null() {
                            runs.push((at, n));
                            at = n;
                            n = self.next(n, SPLIT_LEVEL);
                        }
                        runs.push((at, ptr::null_mut()));
                    }
                    None => runs.push((first, ptr::null_mut())),
                    Some(index) => {
                        let mut at = first;
                        for &n in &index.nodes {
                            runs.push((at, n));
                            at = n;
                        }
                        runs.push((at, ptr::null_mut()));
                    }
                }
            }
            for chunk in runs.chunks(LANES) {
                let lanes = &mut lanes[..chunk.len()];
                let mut active = 0;
                for (&(first, stop), lane) in chunk.iter().zip(lanes.iter_mut()) {
                    lane.nodes.clear();
                    lane.at = first;
                    lane.stop = stop;
                    if !first.is_null() && first != stop {
                        crate::sst::prefetch(first.wrapping_add(HEADER));
                        active += 1;
                    }
                }
                while active > 0 {
                    for lane in lanes.iter_mut() {
                        if lane.at.is_null() || lane.at == lane.stop {
                            continue;
                        }
                        lane.nodes.push(lane.at);
                        lane.at = self.next(lane.at, 0);
                        if lane.at.is_null() || lane.at == lane.stop {
                            active -= 1;
                        } else {
                            crate::sst::prefetch(lane.at.wrapping_add(HEADER));
                        }
                    }
                }
                order.clear();
                for lane in lanes.iter() {
                    order.extend_from_slice(&lane.nodes);
                }
                for (i, &n) in order.iter().enumerate() {
                    if let Some(&ahead) = order.get(i + AHEAD) {
                        load(ahead);
                    }
                    f(n)?;
                }
            }
        }
    }

    pub(crate) fn seek_ge(&self, key: &[u8]) -> NodePtr {
        let b = bucket_of(key);
        let head = self.head(b);
        if !head.is_null() {
            let n = self
                .through_index(head, key, None)
                .unwrap_or_else(|| self.find_ge(head, key, None));
            if !n.is_null() {
                return n;
            }
        }
        self.first_from(b + 1)
    }

    /// The node after a published `node`.
    pub(crate) fn successor(&self, node: NodePtr) -> NodePtr {
        let n = self.next(node, 0);
        if !n.is_null() {
            return n;
        }
        // SAFETY: `node` is published.
        self.first_from(bucket_of(unsafe { node_key(node) }) + 1)
    }

    /// Insert `key` (an internal key, unique in this list) with `value`.
    #[cfg(test)]
    pub(crate) fn insert(&self, key: &[u8], value: &[u8]) {
        self.writer().insert(key, value, None);
    }

    /// Exclusive insert access until the guard is dropped: one lock for a whole batch.
    pub(crate) fn writer(&self) -> ListWriter<'_> {
        ListWriter {
            list: self,
            w: self.writer.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    fn insert_locked(
        &self,
        w: &mut Writer,
        key: &[u8],
        value: &[u8],
        placed: Option<Placed>,
    ) -> bool {
        let b = bucket_of(key);
        let mut head = self.head(b);
        let fresh = head.is_null();
        if fresh {
            head = self.alloc(w, HEAD_BYTES);
            // SAFETY: a fresh, exclusively owned block of HEAD_BYTES bytes (zeroed here:
            // null next pointers); published below with Release.
            unsafe {
                ptr::write_bytes(head, 0, HEAD_BYTES);
                *(head as *mut u32).add(2) = MAX_HEIGHT as u32;
                head_height(head).store(1, AtomicOrdering::Relaxed);
            }
            self.heads[b].store(head, AtomicOrdering::Release);
            self.overhead
                .fetch_add(HEAD_BYTES + 8, AtomicOrdering::Relaxed);
        }
        let height = random_height(&mut w.rng);
        let mut prev = [head; MAX_HEIGHT];
        let same_bucket = !w.last.is_null() && w.last_bucket == b;
        let hint = same_bucket && Self::before(w.last, key);
        let just_before = same_bucket && !hint;
        let found = if hint {
            self.find_from_hint(w, head, key, height, &mut prev)
        } else if just_before {
            self.find_just_before_last(w, head, key, height, &mut prev)
                .map(|known| (known, true))
        } else {
            None
        };
        // A key placed just before the last one did not descend from the top either.
        let descended = just_before && found.is_none();
        let (known, near) = match found {
            Some(found) => found,
            None => {
                // No bound: the index entry after the start was found for the user
                // key, and only the start is known to be below `key`.
                let from_placed = match placed {
                    // A node on level 0 only needs its predecessor there.
                    Some(p) if height == 1 => {
                        self.descend(p.lower, 1, key, ptr::null_mut(), Some(&mut prev));
                        Some(1)
                    }
                    Some(p) if height <= INDEX_LEVEL + 1 => self
                        .walk_from(p.upper, ptr::null_mut(), key, Some(&mut prev))
                        .map(|_| INDEX_LEVEL + 1),
                    _ => None,
                };
                match from_placed {
                    Some(known) => (known, false),
                    None => (self.find_indexed(head, key, height, &mut prev), false),
                }
            }
        };
        // SAFETY: `head` is published.
        let max = unsafe { head_height(head) };
        if height > max.load(AtomicOrdering::Relaxed) as usize {
            // prev[max..height] are already the head.
            max.store(height as u32, AtomicOrdering::Relaxed);
        }
        let bytes = HEADER + 8 * height + key.len() + value.len();
        let node = self.alloc(w, bytes);
        // SAFETY: `node` is a fresh, exclusively owned, 8-aligned block of `bytes` bytes
        // (invariant 4); it is fully written before the Release stores publish it.
        unsafe {
            let h = node as *mut u32;
            *h = key.len() as u32;
            *h.add(1) = value.len() as u32;
            *h.add(2) = height as u32;
            let data = node.add(HEADER + 8 * height);
            ptr::copy_nonoverlapping(key.as_ptr(), data, key.len());
            ptr::copy_nonoverlapping(value.as_ptr(), data.add(key.len()), value.len());
            for (i, p) in prev.iter().enumerate().take(height) {
                next_slot(node, i).store(
                    next_slot(*p, i).load(AtomicOrdering::Relaxed),
                    AtomicOrdering::Relaxed,
                );
                next_slot(*p, i).store(node, AtomicOrdering::Release);
            }
        }
        w.last = node;
        w.last_bucket = b;
        w.last_prev = prev;
        w.last_known = known;
        // SAFETY: `head` is published; its counts are the writer's alone.
        let (count, descents) = unsafe { bump_counts(head, !near) };
        if count >= INDEX_MIN && count.is_power_of_two() {
            // Index a bucket whose inserts land all over it; inserts in key order
            // (appends, the hint's case) have no use for one.
            if descents >= count / 8 {
                self.rebuild_index(w, head, count);
            }
            // SAFETY: as above.
            unsafe { reset_descents(head) };
        }
        if fresh {
            self.nonempty[b / 64].fetch_or(1 << (b % 64), AtomicOrdering::Release);
        }
        descended
    }

    /// The levels of the last insert's recorded predecessors that are usable in the
    /// bucket of `head` (known, and below the list's height), and the levels a node
    /// placed from them may have: all of them when every level of the list is covered,
    /// since above the list's height every level is empty and the head precedes any key.
    fn splice_levels(w: &Writer, head: NodePtr) -> (usize, usize) {
        // SAFETY: `head` is a published head.
        let top = unsafe { head_height(head) }.load(AtomicOrdering::Relaxed) as usize;
        let levels = top.min(w.last_known);
        (levels, if levels == top { MAX_HEIGHT } else { levels })
    }

    /// The last insert's recorded predecessor on `level` (the head when none).
    fn last_prev_or_head(w: &Writer, head: NodePtr, level: usize) -> NodePtr {
        let p = w.last_prev[level];
        if p.is_null() {
            head
        } else {
            p
        }
    }

    /// `find_ge`'s predecessors of `key` when it sorts between the last insert's
    /// predecessor on level 0 and the last insert (a run of decreasing keys: LPUSH's
    /// new heads, a load in reverse order). Nothing of the bucket lies between that
    /// predecessor and the last insert on any level, so the last insert's predecessors
    /// are `key`'s, at every level that is known, and the insert compares once. `None`
    /// (the caller descends) when `key` sorts before that predecessor, or when a node
    /// of `height` needs more levels than are known; otherwise the levels of `prev`
    /// now known. The caller has checked that `key` sorts before the last insert, in
    /// its bucket.
    fn find_just_before_last(
        &self,
        w: &Writer,
        head: NodePtr,
        key: &[u8],
        height: usize,
        prev: &mut [NodePtr; MAX_HEIGHT],
    ) -> Option<usize> {
        let (levels, known) = Self::splice_levels(w, head);
        if height > known || levels == 0 {
            return None;
        }
        let pred = |level: usize| Self::last_prev_or_head(w, head, level);
        if pred(0) != head && !Self::before(pred(0), key) {
            return None;
        }
        for (level, p) in prev.iter_mut().enumerate().take(levels) {
            *p = pred(level);
        }
        Some(known)
    }

    /// `find_ge`'s predecessors of `key` from the last insert's splice: at each level
    /// the start is the last node (in the lists of its levels) or its recorded
    /// predecessor, all before `key`. The lowest level whose start is immediately
    /// followed by a node >= `key` brackets it, and so do all levels above (their
    /// starts are at or before it, their successors at or after its successor); below
    /// it a normal descent starts from there. Without a bracketing level, a full
    /// descent. A key far from the last insert thus costs what it costs without hint.
    ///
    /// Only the levels of `last_prev` that are known count; `None` (the caller
    /// descends) without a bracketing level among them, or when a node of `height` needs
    /// more levels than are known, or when the bucket has an index and the bracket is
    /// too high for the hint to beat it. Otherwise the number of levels of `prev` now
    /// known, and whether the bracket was low (the key near the last one).
    fn find_from_hint(
        &self,
        w: &Writer,
        head: NodePtr,
        key: &[u8],
        height: usize,
        prev: &mut [NodePtr; MAX_HEIGHT],
    ) -> Option<(usize, bool)> {
        // SAFETY: `w.last` is a published node.
        let last_height = unsafe { lens(w.last) }.2;
        let start = |level: usize| {
            if level < last_height {
                w.last
            } else {
                Self::last_prev_or_head(w, head, level)
            }
        };
        let (levels, known) = Self::splice_levels(w, head);
        if height > known {
            return None;
        }
        let bracket = (0..levels).find(|&l| !Self::before(self.next(start(l), l), key))?;
        let near = bracket <= INDEX_LEVEL + 1;
        if !near && !self.index_of(head).is_null() {
            return None;
        }
        for (level, p) in prev.iter_mut().enumerate().take(levels).skip(bracket) {
            *p = start(level);
        }
        let bound = self.next(start(bracket), bracket);
        self.descend(start(bracket), bracket, key, bound, Some(prev));
        Some((known, near))
    }

    /// `prev` for `key`: through the bucket's index when it has one and a node of
    /// `height` needs only the levels it finds, else a descent from the head. Returns
    /// the number of levels of `prev` found.
    fn find_indexed(
        &self,
        head: NodePtr,
        key: &[u8],
        height: usize,
        prev: &mut [NodePtr; MAX_HEIGHT],
    ) -> usize {
        if height <= INDEX_LEVEL + 1 && self.through_index(head, key, Some(prev)).is_some() {
            return INDEX_LEVEL + 1;
        }
        self.find_ge(head, key, Some(prev));
        MAX_HEIGHT
    }

    /// The bucket index published in `head` (null if none).
    fn index_of(&self, head: NodePtr) -> *const BucketIndex {
        // SAFETY: `head` is a published head (its index slot is zeroed before that).
        unsafe {
            (*(head.add(HEAD_INDEX) as *const AtomicPtr<BucketIndex>)).load(AtomicOrdering::Acquire)
        }
    }

    /// Through the index of the bucket of `head`: the first node with key >= `key`
    /// (null if none), filling `prev[..=INDEX_LEVEL]` when given; `None` when the
    /// bucket has no index or the index cannot place `key`.
    fn through_index(
        &self,
        head: NodePtr,
        key: &[u8],
        prev: Option<&mut [NodePtr; MAX_HEIGHT]>,
    ) -> Option<NodePtr> {
        // SAFETY: a published index lives as long as the list (`Writer::indexes`).
        let index = unsafe { self.index_of(head).as_ref() }?;
        // `x` is before `key` and at least INDEX_LEVEL + 1 high. Nodes inserted since the
        // index was built lie between it and `key`: a few when inserts are spread out;
        // when they gather in one place the walk would grow with them, so it gives up.
        let (x, bound) = index.start(key)?;
        self.walk_from(x, bound, key, prev)
    }

    /// The rest of [`SkipList::through_index`], from the index entry `x` before `key`
    /// and the entry after it, `bound`, known to be at or after `key` (null: none known).
    fn walk_from(
        &self,
        mut x: NodePtr,
        bound: NodePtr,
        key: &[u8],
        mut prev: Option<&mut [NodePtr; MAX_HEIGHT]>,
    ) -> Option<NodePtr> {
        let mut next = self.next(x, INDEX_LEVEL);
        let mut steps = 0;
        while next != bound && Self::before(next, key) {
            steps += 1;
            if steps > INDEX_WALK_MAX {
                return None;
            }
            x = next;
            next = self.next(x, INDEX_LEVEL);
        }
        if let Some(p) = prev.as_deref_mut() {
            p[INDEX_LEVEL] = x;
        }
        Some(self.descend(x, INDEX_LEVEL, key, next, prev))
    }

    /// Build bucket `b`'s index anew from its nodes taller than [`INDEX_LEVEL`].
    fn rebuild_index(&self, w: &mut Writer, head: NodePtr, count: u32) {
        let mut nodes = Vec::with_capacity(count as usize / 3);
        let mut x = self.next(head, INDEX_LEVEL);
        while !x.is_null() {
            nodes.push(x);
            x = self.next(x, INDEX_LEVEL);
        }
        let index = Box::new(BucketIndex::new(nodes));
        self.overhead
            .fetch_add(index.bytes(), AtomicOrdering::Relaxed);
        let published = &*index as *const BucketIndex as *mut BucketIndex;
        w.indexes.push(index);
        // SAFETY: `head` is published; the index is complete and stays allocated (in
        // `w.indexes`) as long as the list. Release: readers that load it see it whole.
        unsafe {
            (*(head.add(HEAD_INDEX) as *const AtomicPtr<BucketIndex>))
                .store(published, AtomicOrdering::Release);
        }
    }

    /// An 8-aligned block of `bytes` bytes in the arena (not zeroed: chunks from the
    /// pool hold an old memtable's bytes; the caller writes every byte it reads).
    fn alloc(&self, w: &mut Writer, bytes: usize) -> NodePtr {
        let words = bytes.div_ceil(8);
        if words > CHUNK_WORDS / 4 {
            // A large entry gets a chunk of its own; the current chunk stays in use.
            let mut chunk = vec![0u64; words].into_boxed_slice();
            let p = chunk.as_mut_ptr() as NodePtr;
            w.chunks.insert(w.chunks.len().saturating_sub(1), chunk);
            return p;
        }
        if w.used + words > CHUNK_WORDS {
            let chunk = self.pool.as_ref().and_then(|p| p.take());
            w.chunks
                .push(chunk.unwrap_or_else(|| vec![0u64; CHUNK_WORDS].into_boxed_slice()));
            w.used = 0;
        }
        let used = w.used;
        w.used += words;
        match w.chunks.last_mut() {
            // SAFETY: used + words <= CHUNK_WORDS, inside the chunk.
            Some(c) => unsafe { (c.as_mut_ptr() as NodePtr).add(used * 8) },
            None => unreachable!("a chunk was pushed above"),
        }
    }
}

/// Height with P(h > k) = 4^-k, as LevelDB.
fn random_height(rng: &mut u64) -> usize {
    let mut h = 1;
    loop {
        let mut x = *rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *rng = x;
        if h < MAX_HEIGHT && x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 62 == 0 {
            h += 1;
        } else {
            return h;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ikey::{encode, Kind};
    use crate::testutil::xorshift;

    /// `list` holds exactly `model`'s keys (sorted here) in order, and a seek finds
    /// every `step`-th of them.
    fn assert_holds_in_order(list: &SkipList, model: &mut [Vec<u8>], step: usize) {
        model.sort_by(|a, b| ikey::compare(a, b));
        let mut got = Vec::new();
        let mut n = list.first();
        while !n.is_null() {
            // SAFETY: nodes from the list are published.
            got.push(unsafe { node_key(n) }.to_vec());
            n = list.successor(n);
        }
        assert_eq!(got, model);
        for k in model.iter().step_by(step) {
            assert_eq!(unsafe { node_key(list.seek_ge(k)) }, &k[..]);
        }
    }

    /// A list built on chunks an earlier list left dirty in the pool (bucket heads,
    /// towers and all) walks, seeks and misses exactly as a fresh one.
    #[test]
    fn chunks_from_the_pool_hold_no_old_state() {
        let pool = std::sync::Arc::new(ChunkPool::new(8 << 20));
        let old = SkipList::new(Some(std::sync::Arc::clone(&pool)));
        for i in 0..20_000u32 {
            let k = encode(&i.wrapping_mul(2_654_435_761).to_be_bytes(), 1, Kind::Value);
            old.insert(&k, &[0xaa; 40]);
        }
        drop(old);
        let pooled = pool.bytes();
        assert!(pooled >= 4 * CHUNK_WORDS * 8, "{pooled}");
        let list = SkipList::new(Some(std::sync::Arc::clone(&pool)));
        let mut model = Vec::new();
        for i in 0..5_000u32 {
            let uk = (i.wrapping_mul(40_503) ^ 0x5555).to_le_bytes();
            let k = encode(&uk[..1 + (i % 4) as usize], u64::from(i) + 1, Kind::Value);
            list.insert(&k, b"v");
            model.push(k);
        }
        assert!(pool.bytes() < pooled, "chunks were taken from the pool");
        assert_holds_in_order(&list, &mut model, 97);
        // Keys of the old list are not found in the new one.
        let gone = encode(
            &7u32.wrapping_mul(2_654_435_761).to_be_bytes(),
            1,
            Kind::Value,
        );
        let n = list.seek_ge(&gone);
        assert!(n.is_null() || unsafe { node_key(n) } != &gone[..]);
    }

    /// Keys of every length around the bucket boundary (empty, one byte, two bytes,
    /// longer; bytes 0x00 and 0xff): forward and backward walks, seeks and `find_lt`
    /// agree with a sorted model across empty buckets.
    #[test]
    fn buckets_walk_as_one_ordered_list() {
        let list = SkipList::new(None);
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut rng = 7u64;
        let mut user_keys: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![0, 0, 0],
            vec![0xff],
            vec![0xff, 0xff],
            vec![0xff, 0xff, 0xff],
            vec![b'a'],
            vec![b'a', 0],
            vec![b'a', 1],
            vec![b'b'],
        ];
        for _ in 0..3000 {
            let rng = xorshift(&mut rng);
            let len = (rng % 5) as usize;
            user_keys.push(
                (0..len)
                    .map(|i| (rng >> (8 * i + 8)) as u8 % 6 * 51)
                    .collect(),
            );
        }
        for (seq, uk) in user_keys.iter().enumerate() {
            let k = encode(uk, seq as u64 + 1, Kind::Value);
            list.insert(&k, &[seq as u8]);
            model.push(k);
        }
        model.sort_by(|a, b| ikey::compare(a, b));
        let key = |n: NodePtr| unsafe { node_key(n) }.to_vec();
        // Forward.
        let mut got = Vec::new();
        let mut n = list.first();
        while !n.is_null() {
            got.push(key(n));
            n = list.successor(n);
        }
        assert_eq!(got, model);
        // The flush's walk, lanes side by side.
        let mut walked = Vec::new();
        list.for_each_in_order(|n| {
            walked.push(key(n));
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(walked, model);
        // Backward through find_lt.
        let mut back = Vec::new();
        let mut n = list.last();
        while !n.is_null() {
            back.push(key(n));
            n = list.find_lt(&key(n));
        }
        back.reverse();
        assert_eq!(back, model);
        // Seeks to keys present and absent.
        for probe in user_keys
            .iter()
            .chain([vec![0x7f], vec![0xfe, 0xff, 9], vec![1, 2]].iter())
        {
            let target = ikey::seek_key(probe, u64::MAX >> 8);
            let want = model.iter().find(|k| ikey::compare(k, &target).is_ge());
            let n = list.seek_ge(&target);
            assert_eq!(
                (!n.is_null()).then(|| key(n)).as_ref(),
                want,
                "seek {probe:?}"
            );
            let want_lt = model
                .iter()
                .rev()
                .find(|k| ikey::compare(k, &target).is_lt());
            let n = list.find_lt(&target);
            assert_eq!(
                (!n.is_null()).then(|| key(n)).as_ref(),
                want_lt,
                "lt {probe:?}"
            );
        }
    }

    /// The flush's walk hands over every node in order across more buckets than it has
    /// lanes, with lists of one node beside ones of thousands (an indexed bucket, and
    /// long ones without an index, cut at their taller nodes), and stops at the first
    /// error.
    #[test]
    fn the_lane_walk_is_the_ordered_walk() {
        let list = SkipList::new(None);
        let mut model = Vec::new();
        let mut seq = 0u64;
        for b in 0..40u8 {
            let n = match b {
                7 => 6000,
                12 => 3000,
                20 => 5000,
                b => usize::from(b % 5),
            };
            for i in 0..n {
                seq += 1;
                // Inserted in a scattered order within the bucket; bucket 20 in
                // decreasing order (a list's pushes on the left), which builds no index.
                let m = if b == 20 {
                    n - 1 - i
                } else {
                    (i * 7919) % n.max(1)
                };
                let k = encode(&[b, 3, 1 + (m >> 8) as u8, m as u8], seq, Kind::Value);
                list.insert(&k, b"v");
                model.push(k);
            }
            if b == 7 {
                // After the index was built (at 4,096 nodes), before all its nodes.
                for j in 0..50u8 {
                    seq += 1;
                    let k = encode(&[b, 3, 0, j], seq, Kind::Value);
                    list.insert(&k, b"v");
                    model.push(k);
                }
            }
        }
        for b in [12u8, 20] {
            let head = list.head(user_key_bucket(&[b, 3]));
            assert!(list.index_of(head).is_null(), "bucket {b} has no index");
            let height = unsafe { head_height(head) }.load(AtomicOrdering::Relaxed) as usize;
            assert!(height > SPLIT_LEVEL, "bucket {b} is cut into runs");
        }
        model.sort_by(|a, b| ikey::compare(a, b));
        let key = |n: NodePtr| unsafe { node_key(n) }.to_vec();
        let mut walked = Vec::new();
        list.for_each_in_order(|n| {
            walked.push(key(n));
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(walked.len(), model.len());
        assert!(walked == model);
        let mut seen = 0;
        let stopped = list.for_each_in_order(|_| {
            seen += 1;
            if seen == 100 {
                Err(seen)
            } else {
                Ok(())
            }
        });
        assert_eq!((stopped, seen), (Err(100), 100));
        // The walks reuse the thread's buffers: after a stopped walk, and for another,
        // smaller list, each hands over its own nodes, all of them, in order.
        let mut again = Vec::new();
        list.for_each_in_order(|n| {
            again.push(key(n));
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(again == model);
        let small = SkipList::new(None);
        let small_keys: Vec<Vec<u8>> = (0..3u8).map(|i| encode(&[9, i], 1, Kind::Value)).collect();
        for k in small_keys.iter().rev() {
            small.insert(k, b"v");
        }
        let mut walked_small = Vec::new();
        small
            .for_each_in_order(|n| {
                walked_small.push(key(n));
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(walked_small, small_keys);
        let empty = SkipList::new(None);
        empty
            .for_each_in_order(|_| Err::<(), ()>(()))
            .expect("an empty list hands over nothing");
    }

    /// Increasing runs (the insert hint's case), interleaved runs, decreasing runs and
    /// a bucket change in between all leave one ordered list with every key findable.
    #[test]
    fn runs_through_the_insert_hint_stay_ordered() {
        let list = SkipList::new(None);
        let mut model = Vec::new();
        let mut seq = 0u64;
        let mut add = |uk: Vec<u8>, model: &mut Vec<Vec<u8>>| {
            seq += 1;
            let k = encode(&uk, seq, Kind::Value);
            list.insert(&k, b"v");
            model.push(k);
        };
        for i in 0..5000u32 {
            add([&b"aa"[..], &i.to_be_bytes()[..]].concat(), &mut model);
        }
        for i in 0..3000u32 {
            // Two interleaved increasing runs, then a key in another bucket.
            add(
                [&b"ab"[..], b"m", &i.to_be_bytes()[..]].concat(),
                &mut model,
            );
            add(
                [&b"ab"[..], b"i", &i.to_be_bytes()[..]].concat(),
                &mut model,
            );
            if i % 100 == 0 {
                add([&b"zz"[..], &i.to_be_bytes()[..]].concat(), &mut model);
            }
        }
        for i in (0..3000u32).rev() {
            add(
                [&b"aa"[..], &i.to_be_bytes()[..], b"x"].concat(),
                &mut model,
            );
        }
        assert_holds_in_order(&list, &mut model, 7);
        assert_levels_sorted(&list);
    }

    /// A decreasing run after a smaller key (LPUSH's new heads after the list's
    /// metadata record) goes in just before each last insert, without descending, on
    /// every level; keys of another bucket in between, a key below the run's
    /// predecessor (which must descend), and an increasing run after it leave one
    /// ordered list.
    #[test]
    fn decreasing_runs_go_in_just_before_the_last_insert() {
        let list = SkipList::new(None);
        let mut model = Vec::new();
        let mut seq = 0u64;
        let mut descents = 0;
        let mut add = |uk: Vec<u8>, model: &mut Vec<Vec<u8>>| {
            seq += 1;
            let k = encode(&uk, seq, Kind::Value);
            let descended = list.writer().insert(&k, b"v", None);
            model.push(k);
            descended
        };
        let position = |i: u64| [&b"ab\x01"[..], &(u64::MAX / 2 - i).to_be_bytes()[..]].concat();
        add(b"ab\x00meta".to_vec(), &mut model);
        for i in 0..20_000u64 {
            descents += usize::from(add(position(i), &mut model));
            if i % 1000 == 999 {
                add([&b"zz"[..], &i.to_be_bytes()[..]].concat(), &mut model);
            }
        }
        assert!(!add(position(20_000), &mut model));
        assert_eq!(descents, 0, "the decreasing run descended");
        // Below the run's predecessor (the metadata key): a descent.
        assert!(add(b"ab".to_vec(), &mut model));
        for i in 0..100u64 {
            add(position(30_000 + i), &mut model);
        }
        assert_holds_in_order(&list, &mut model, 7);
        assert_levels_sorted(&list);
    }

    #[test]
    fn ordered_and_concurrent_readers() {
        let list = std::sync::Arc::new(SkipList::new(None));
        let writer = {
            let list = list.clone();
            std::thread::spawn(move || {
                for i in 0..20_000u64 {
                    let k = (i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) % 1_000_000;
                    list.insert(
                        &encode(format!("{k:08}").as_bytes(), i, Kind::Value),
                        &vec![7u8; (i % 300) as usize],
                    );
                }
            })
        };
        for _ in 0..20 {
            // Readers always see a sorted list.
            let mut n = list.first();
            let mut prev: Option<&[u8]> = None;
            while !n.is_null() {
                let k = unsafe { node_key(n) };
                if let Some(p) = prev {
                    assert_eq!(ikey::compare(p, k), Ordering::Less);
                }
                prev = Some(k);
                n = list.successor(n);
            }
        }
        writer.join().unwrap();
        let mut count = 0;
        let mut n = list.first();
        while !n.is_null() {
            count += 1;
            n = list.successor(n);
        }
        assert_eq!(count, 20_000);
        let last = list.last();
        let before_last = list.find_lt(unsafe { node_key(last) });
        assert_eq!(list.successor(before_last), last);
        assert!(list.find_lt(unsafe { node_key(list.first()) }).is_null());
        let big = vec![1u8; 1 << 20];
        list.insert(&encode(b"zz", 1, Kind::Value), &big);
        assert_eq!(unsafe { node_value(list.last()) }, &big[..]);
    }

    /// Every level of every bucket's list is in key order (a misplaced link on an upper
    /// level would not show in a walk or a seek, only in the time they take).
    fn assert_levels_sorted(list: &SkipList) {
        for b in 0..BUCKETS {
            let head = list.head(b);
            if head.is_null() {
                continue;
            }
            for level in 0..MAX_HEIGHT {
                let mut x = list.next(head, level);
                while !x.is_null() {
                    let n = list.next(x, level);
                    if !n.is_null() {
                        // SAFETY: nodes from the list are published.
                        let (a, z) = unsafe { (node_key(x), node_key(n)) };
                        assert!(ikey::compare(a, z).is_lt(), "bucket {b} level {level}");
                    }
                    x = n;
                }
            }
        }
    }

    /// A bucket large enough for indexes (rebuilt as it doubles): random inserts with a
    /// long shared prefix, keys outside it on both sides (shorter, and other tags),
    /// rewrites of one user key at new sequence numbers, short increasing runs after a
    /// random key (the hint after an insert through the index), an increasing run
    /// beyond the last entry and one gathered in a single gap (the walk's give-up).
    /// Seeks of present and absent keys, concurrent with the writer, agree with a sorted
    /// model.
    #[test]
    fn large_buckets_stay_ordered_through_their_index() {
        let list = std::sync::Arc::new(SkipList::new(None));
        let member = |tag: u8, m: u64| {
            let mut k = b"\x12\x34\x05coll\x00\x00\x00\x07".to_vec();
            k.push(tag);
            k.extend_from_slice(format!("element:{m:010}").as_bytes());
            k
        };
        let run_after = |m: u64, j: u8| [member(b'm', m), vec![b'-', j]].concat();
        let mut users = Vec::new();
        let mut r = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..60_000u64 {
            users.push(match i % 97 {
                0 => member(b'a', xorshift(&mut r) % 1000),
                1 => member(b'z', xorshift(&mut r) % 1000),
                2 => b"\x12\x34".to_vec(),
                3 => member(b'm', 424_242),
                4 => {
                    let m = xorshift(&mut r) % 100_000_000;
                    users.push(member(b'm', m));
                    users.extend((0..12).map(|j| run_after(m, j)));
                    continue;
                }
                _ => member(b'm', xorshift(&mut r) % 100_000_000),
            });
        }
        // Increasing beyond every key so far, then all inside one gap.
        users.extend((0..3000).map(|i| member(b'm', 100_000_000 + i)));
        users.extend((0..3000).map(|i| member(b'm', 50_000_000 + 2 * i + 1)));
        users.extend((0..3000).map(|_| member(b'm', xorshift(&mut r) % 100_000_000)));
        let keys: Vec<Vec<u8>> = users
            .iter()
            .enumerate()
            .map(|(seq, uk)| encode(uk, seq as u64 + 1, Kind::Value))
            .collect();
        let writer = {
            let (list, keys) = (list.clone(), keys.clone());
            std::thread::spawn(move || {
                for k in &keys {
                    list.insert(k, b"v");
                }
            })
        };
        // Concurrent seeks land on a key >= the target, and a present key is found
        // once the writer has inserted it.
        let mut seen = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while seen < keys.len() {
            let k = &keys[seen];
            let n = list.seek_ge(k);
            if n.is_null() || unsafe { node_key(n) } != &k[..] {
                if !n.is_null() {
                    assert!(ikey::compare(unsafe { node_key(n) }, k).is_gt());
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "key {seen} never found"
                );
                std::thread::yield_now();
                continue;
            }
            seen += 97;
        }
        writer.join().unwrap();
        let w = list.writer.lock().unwrap();
        assert!(
            w.indexes.len() >= 3,
            "the bucket was indexed and re-indexed"
        );
        // The short key, then the 'a', 'm' and 'z' members apart.
        let last = w.indexes.last().unwrap();
        assert_eq!(last.segments.len(), 4);
        assert!(last.segments[1..].iter().all(|g| g.searchable));
        drop(w);
        let mut model = keys.clone();
        assert_holds_in_order(&list, &mut model, 1);
        assert_levels_sorted(&list);
        let mut probes: Vec<Vec<u8>> = (0..5000)
            .map(|_| ikey::seek_key(&member(b'm', xorshift(&mut r) % 200_000_000), 1 << 40))
            .collect();
        probes.extend([
            ikey::seek_key(b"\x12\x34", u64::MAX >> 8),
            ikey::seek_key(b"\x12\x34\x05coll\x00\x00\x00\x07m", 1),
            ikey::seek_key(&member(b'n', 0), 1),
            ikey::seek_key(&member(b'm', 424_242), 1 << 40),
            ikey::seek_key(&member(b'm', 424_242), 0),
        ]);
        for p in &probes {
            let at = model.partition_point(|k| ikey::compare(k, p).is_lt());
            let n = list.seek_ge(p);
            match model.get(at) {
                Some(want) => assert_eq!(unsafe { node_key(n) }, &want[..]),
                None => assert!(list.successor(list.last()).is_null() && n.is_null()),
            }
        }
    }

    /// Inserts that start where [`ListWriter::place`] found them, every place of a batch
    /// found before any of its inserts (so the bucket is re-indexed between a place and
    /// its insert, and keys land between a start and its key): new versions of user
    /// keys already there, keys past the last entry and random ones all end up in
    /// order on every level, whether their places were chased a few steps or to the
    /// end before the inserts between went in.
    #[test]
    fn inserts_placed_ahead_stay_ordered() {
        let list = SkipList::new(None);
        let member = |m: u64| {
            let mut k = b"\x12\x34\x05coll\x00\x00\x00\x07m".to_vec();
            k.extend_from_slice(format!("element:{m:010}").as_bytes());
            k
        };
        let mut r = 7u64;
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut seq = 0u64;
        // An indexed bucket (4,096 nodes or more) before the first batch.
        for _ in 0..6000 {
            seq += 1;
            let k = encode(&member(xorshift(&mut r) % 1_000_000), seq, Kind::Value);
            list.insert(&k, b"v");
            model.push(k);
        }
        let mut placed = 0;
        for batch in 0..6u64 {
            let users: Vec<Vec<u8>> = (0..3000u64)
                .map(|i| match i % 10 {
                    0 => {
                        let k = &model[xorshift(&mut r) as usize % model.len()];
                        k[..k.len() - ikey::TRAILER].to_vec()
                    }
                    1 => member(1_000_000 + batch * 3000 + i),
                    _ => member(xorshift(&mut r) % 1_000_000),
                })
                .collect();
            let mut w = list.writer();
            let mut places: Vec<Option<Placed>> = users.iter().map(|u| w.place(u)).collect();
            placed += places.iter().filter(|p| p.is_some()).count();
            for i in 0..users.len() {
                // Chased a step at each insert before theirs, up to (batch + 1) * 2
                // steps (the last batch's to the end), while those inserts go in.
                let ahead = if batch == 5 {
                    users.len()
                } else {
                    (batch as usize + 1) * 2
                };
                for j in i..users.len().min(i + ahead) {
                    if let Some(p) = places[j].as_mut() {
                        w.chase(p, &users[j]);
                    }
                }
                seq += 1;
                let k = encode(&users[i], seq, Kind::Value);
                w.insert(&k, b"v", places[i]);
                model.push(k);
            }
        }
        assert!(placed > 15_000, "{placed} of 18,000 inserts were placed");
        assert!(list.writer.lock().unwrap().indexes.len() >= 3);
        assert_holds_in_order(&list, &mut model, 7);
        assert_levels_sorted(&list);
    }

    /// Keys that branch at five bytes, each followed by 8 bytes they all share: cut
    /// four times, the segments still tie, so the index has no searchable segment and
    /// inserts and seeks go the ordinary way.
    #[test]
    fn an_index_of_keys_alike_in_their_prefix_steps_aside() {
        let list = SkipList::new(None);
        let mut model = Vec::new();
        let mut r = 5u64;
        for seq in 1..=20_000u64 {
            let mut uk = b"\x00\x01".to_vec();
            let bits = xorshift(&mut r);
            for branch in 0..5 {
                uk.push((bits >> branch) as u8 & 1);
                uk.extend_from_slice(b"-shared-");
            }
            uk.extend_from_slice(&xorshift(&mut r).to_be_bytes());
            let k = encode(&uk, seq, Kind::Value);
            list.insert(&k, b"");
            model.push(k);
        }
        let w = list.writer.lock().unwrap();
        let last = w.indexes.last().expect("an index");
        assert_eq!(last.segments.len(), 16);
        assert!(last.segments.iter().all(|g| !g.searchable));
        drop(w);
        assert_holds_in_order(&list, &mut model, 3);
        assert_levels_sorted(&list);
    }
}
