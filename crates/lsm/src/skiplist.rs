//! An arena-allocated skiplist with one writer and lock-free readers (LevelDB's memtable
//! structure), ordered by internal key.
//!
//! Thread-safety: `insert` may be called from any thread but calls are serialized by an
//! internal mutex (in practice only the write leader inserts); any number of readers
//! traverse concurrently without locks.
//!
//! Invariants:
//! 1. Nodes live in arena chunks that are never freed, moved or reused before the whole
//!    list is dropped, so a node pointer stays valid as long as the list does.
//! 2. A node's header, key and value are written before the node is published; after
//!    that only its `next` pointers change, and only through atomics.
//! 3. A node is published level by level, bottom first, with `Release` stores that
//!    readers' `Acquire` loads pair with: a reader that sees a pointer sees the node's
//!    bytes.
//! 4. Only the writer (holding `writer`) touches the arena's allocation state.
//!
//! Node layout in the arena (8-byte aligned):
//! ```text
//! key_len: u32 | value_len: u32 | height: u32 | pad: u32 | next: AtomicPtr * height | key | value
//! ```

use std::cmp::Ordering;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Mutex;

use crate::ikey;

const MAX_HEIGHT: usize = 12;
const HEADER: usize = 16;
const CHUNK_WORDS: usize = 32 * 1024; // 256 KiB chunks

type NodePtr = *mut u8;

struct Writer {
    /// Arena chunks (u64 words, so nodes are 8-byte aligned). Boxes never move.
    chunks: Vec<Box<[u64]>>,
    /// Next free word in the last chunk.
    used: usize,
    rng: u64,
}

pub(crate) struct SkipList {
    head: NodePtr,
    /// Keeps the head's allocation alive.
    _head_words: Box<[u64]>,
    max_height: AtomicUsize,
    writer: Mutex<Writer>,
}

// SAFETY: see the module invariants. Node memory is written only before publication
// (under `writer`) or through atomics, and readers synchronize with Acquire loads.
unsafe impl Send for SkipList {}
unsafe impl Sync for SkipList {}

/// Pointer to the `i`-th next slot of a node.
///
/// SAFETY: `node` is a live node (or the head) of height > `i`.
unsafe fn next_slot<'a>(node: NodePtr, i: usize) -> &'a AtomicPtr<u8> {
    &*(node.add(HEADER + 8 * i) as *const AtomicPtr<u8>)
}

/// SAFETY: `node` is a published node (never the head).
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

impl SkipList {
    pub(crate) fn new() -> Self {
        let mut head_words = vec![0u64; (HEADER + 8 * MAX_HEIGHT) / 8].into_boxed_slice();
        let head = head_words.as_mut_ptr() as NodePtr;
        // SAFETY: the head block is HEADER + 8 * MAX_HEIGHT bytes, zeroed: null pointers.
        unsafe {
            *(head as *mut u32).add(2) = MAX_HEIGHT as u32;
        }
        SkipList {
            head,
            _head_words: head_words,
            max_height: AtomicUsize::new(1),
            writer: Mutex::new(Writer {
                chunks: Vec::new(),
                used: CHUNK_WORDS,
                rng: 0x2545_f491_4f6c_dd1d,
            }),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first().is_null()
    }

    fn next(&self, node: NodePtr, i: usize) -> NodePtr {
        // SAFETY: callers pass the head or a published node of height > i.
        unsafe { next_slot(node, i).load(AtomicOrdering::Acquire) }
    }

    /// Is `node`'s key less than `key`? (A null node is +infinity.)
    fn before(node: NodePtr, key: &[u8]) -> bool {
        // SAFETY: non-null nodes reached by traversal are published.
        !node.is_null() && ikey::compare(unsafe { node_key(node) }, key) == Ordering::Less
    }

    /// First node with key >= `key` (null if none); fills `prev` when given.
    fn find_ge(&self, key: &[u8], mut prev: Option<&mut [NodePtr; MAX_HEIGHT]>) -> NodePtr {
        let mut x = self.head;
        let mut level = self.max_height.load(AtomicOrdering::Relaxed) - 1;
        loop {
            let next = self.next(x, level);
            if Self::before(next, key) {
                x = next;
                continue;
            }
            if let Some(p) = prev.as_deref_mut() {
                p[level] = x;
            }
            if level == 0 {
                return next;
            }
            level -= 1;
        }
    }

    /// The last node for which `go_on(node)` holds, walking down from the top level
    /// (null if none): `go_on` must hold for a prefix of the list.
    fn last_where(&self, go_on: impl Fn(NodePtr) -> bool) -> NodePtr {
        let mut x = self.head;
        let mut level = self.max_height.load(AtomicOrdering::Relaxed) - 1;
        loop {
            let next = self.next(x, level);
            if go_on(next) {
                x = next;
                continue;
            }
            if level == 0 {
                return if x == self.head { ptr::null_mut() } else { x };
            }
            level -= 1;
        }
    }

    /// Last node with key < `key` (null if none).
    pub(crate) fn find_lt(&self, key: &[u8]) -> NodePtr {
        self.last_where(|n| Self::before(n, key))
    }

    /// Last node (null if empty).
    pub(crate) fn last(&self) -> NodePtr {
        self.last_where(|n| !n.is_null())
    }

    pub(crate) fn first(&self) -> NodePtr {
        self.next(self.head, 0)
    }

    pub(crate) fn seek_ge(&self, key: &[u8]) -> NodePtr {
        self.find_ge(key, None)
    }

    /// The node after a published `node`.
    pub(crate) fn successor(&self, node: NodePtr) -> NodePtr {
        self.next(node, 0)
    }

    /// Insert `key` (an internal key, unique in this list) with `value`.
    pub(crate) fn insert(&self, key: &[u8], value: &[u8]) {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut prev = [self.head; MAX_HEIGHT];
        self.find_ge(key, Some(&mut prev));
        let height = random_height(&mut w.rng);
        let max = self.max_height.load(AtomicOrdering::Relaxed);
        if height > max {
            // prev[max..height] are already the head.
            self.max_height.store(height, AtomicOrdering::Relaxed);
        }
        let bytes = HEADER + 8 * height + key.len() + value.len();
        let node = self.alloc(&mut w, bytes);
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
    }

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
            w.chunks.push(vec![0u64; CHUNK_WORDS].into_boxed_slice());
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

    #[test]
    fn ordered_and_concurrent_readers() {
        let list = std::sync::Arc::new(SkipList::new());
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
}
