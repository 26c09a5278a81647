//! Data and index blocks: prefix-compressed entries with restart points.
//!
//! ```text
//! entry    = varint shared | varint unshared | varint value_len | key[shared..] | value
//! block    = entry* | restart: u32 LE * n | n: u32 LE
//! ```
//! Every `restart_interval`-th entry stores its whole key (`shared = 0`), and so does
//! the first entry that starts `RESTART_BYTES` or more after the last restart; its offset
//! is a restart point, so a seek binary-searches the restart points and scans at most
//! one interval (at most about `RESTART_BYTES` when entries are large). Keys are internal keys, compared with [`crate::ikey::compare`].
//!
//! Blocks come from disk: the iterator bounds-checks everything and turns malformed
//! bytes into an error instead of panicking.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::coding::{get_varint, put_varint, u32_at};
use crate::error::{Error, Result};
use crate::ikey;
use crate::iter::InternalIterator;

/// An entry starting this many bytes after the last restart point is a restart point
/// too: with 100-byte values, 16 entries are 2 KiB, and a point lookup scanned up to
/// all of it; 512 bytes keep the scan to about 8 cache lines for about 4% more bytes
/// (keys stored whole more often, a longer restart array).
const RESTART_BYTES: usize = 512;

/// Builds one block.
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    counter: usize,
    interval: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    pub(crate) fn new(interval: usize) -> Self {
        Self::in_buffer(interval, Vec::new())
    }

    /// A builder that writes its block into `buf` (emptied; its allocation reused).
    pub(crate) fn in_buffer(interval: usize, mut buf: Vec<u8>) -> Self {
        buf.clear();
        BlockBuilder {
            buf,
            restarts: vec![0],
            counter: 0,
            interval: interval.max(1),
            last_key: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Size the finished block would have.
    pub(crate) fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// The last key added (kept across [`BlockBuilder::finish`]).
    pub(crate) fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Add an entry; keys must arrive in increasing order.
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        let common = common_prefix(&self.last_key, key);
        self.add_with_common(key, value, common);
    }

    /// [`BlockBuilder::add`], given the length of the prefix `key` shares with
    /// [`BlockBuilder::last_key`].
    pub(crate) fn add_with_common(&mut self, key: &[u8], value: &[u8], common: usize) {
        let since = self.buf.len() - self.restarts.last().map_or(0, |&r| r as usize);
        // A block's first entry is its first restart point.
        let shared =
            if !self.buf.is_empty() && self.counter < self.interval && since < RESTART_BYTES {
                common
            } else {
                if !self.buf.is_empty() {
                    self.restarts.push(self.buf.len() as u32);
                }
                self.counter = 0;
                0
            };
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, (key.len() - shared) as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(common);
        self.last_key.extend_from_slice(&key[common..]);
        self.counter += 1;
    }

    /// Hand back a finished block's buffer once its bytes are written: the next block
    /// is built in it, instead of in a buffer grown from nothing by doubling (a few
    /// reallocations and copies per 4 KiB block). The buffer of a block over 1 MiB (one
    /// huge value) is not kept.
    pub(crate) fn recycle(&mut self, mut used: Vec<u8>) {
        if self.buf.is_empty()
            && self.buf.capacity() < used.capacity()
            && used.capacity() <= 1 << 20
        {
            used.clear();
            self.buf = used;
        }
    }

    /// Finish the block and return its bytes; the builder is reset.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        self.restarts.clear();
        self.restarts.push(0);
        self.counter = 0;
        out
    }
}

/// Length of the longest common prefix of `a` and `b`, 8 bytes at a time.
pub(crate) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a8, b8) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    let mut i = 0;
    for (x, y) in a8.zip(b8) {
        let (x, y) = (
            u64::from_le_bytes(x.try_into().unwrap_or_default()),
            u64::from_le_bytes(y.try_into().unwrap_or_default()),
        );
        if x != y {
            // Little-endian: the first differing byte is the lowest set byte.
            return i + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// Bytes a block iterator's key buffer starts with.
const KEY_ROOM: usize = 64;

/// Iterator over one block's entries (see the module doc for the format).
pub(crate) struct BlockIter<D: AsRef<[u8]> = Arc<[u8]>> {
    data: D,
    restarts_at: usize,
    num_restarts: usize,
    /// Offset of the current entry; `restarts_at` when invalid.
    current: usize,
    next_at: usize,
    restart_index: usize,
    key: Vec<u8>,
    value: (usize, usize),
    err: Option<String>,
}

/// An entry's place and header ([`BlockIter::decode_next`]).
#[derive(Clone, Copy)]
struct Entry {
    /// Offset of the entry.
    start: usize,
    /// Key bytes shared with the previous key.
    shared: usize,
    /// Offset and length of the rest of the key; the value follows it.
    suffix: usize,
    unshared: usize,
    vlen: usize,
}

impl<D: AsRef<[u8]>> BlockIter<D> {
    pub(crate) fn new(data: D) -> Result<Self> {
        let n = data.as_ref().len();
        let num = u32_at(data.as_ref(), n.wrapping_sub(4))
            .ok_or_else(|| Error::corrupt("block shorter than its restart count"))?
            as usize;
        let restarts_at = num
            .checked_mul(4)
            .and_then(|b| n.checked_sub(4 + b))
            .ok_or_else(|| Error::corrupt("block restart array exceeds the block"))?;
        if num == 0 && restarts_at > 0 {
            return Err(Error::corrupt("block has entries but no restart point"));
        }
        Ok(BlockIter {
            data,
            restarts_at,
            num_restarts: num,
            current: restarts_at,
            next_at: restarts_at,
            restart_index: 0,
            // Room for a usual key at once: grown from empty, a 25-byte key took three
            // allocations (8, 16, 32 bytes), about 130 instructions of each point lookup.
            key: Vec::with_capacity(KEY_ROOM),
            value: (0, 0),
            err: None,
        })
    }

    /// Start loading the keys at the restart points, which a seek's binary search reads,
    /// each one a cache miss in a cold block (a point lookup's usual case). Restart
    /// points are at most about 512 bytes apart (8 cache lines), so a block has a
    /// handful; a block with more is left alone.
    pub(crate) fn prefetch_restarts(&self) {
        if self.num_restarts <= 16 {
            let data = self.data.as_ref();
            for i in 0..self.num_restarts {
                if let Some(at) = data.get(self.restart(i)..self.restarts_at) {
                    crate::sst::prefetch_line(at);
                }
            }
        }
    }

    fn restart(&self, i: usize) -> usize {
        u32_at(self.data.as_ref(), self.restarts_at + 4 * i).unwrap_or(u32::MAX) as usize
    }

    fn invalidate(&mut self) {
        self.current = self.restarts_at;
        self.next_at = self.restarts_at;
    }

    fn fail(&mut self, why: &str) {
        self.err = Some(why.to_string());
        self.invalidate();
    }

    fn seek_to_restart(&mut self, i: usize) {
        self.key.clear();
        self.restart_index = i;
        self.next_at = self.restart(i);
    }

    /// Decode the entry at `next_at`; false at the end or on corruption.
    fn parse_next(&mut self) -> bool {
        match self.decode_next() {
            Some(e) => {
                self.take(e);
                true
            }
            None => false,
        }
    }

    /// The header of the entry at `next_at`, checked against the block and the current
    /// key, without moving to it; None (invalid, with the error set on corruption) at
    /// the end.
    fn decode_next(&mut self) -> Option<Entry> {
        let start = self.next_at;
        if start >= self.restarts_at {
            self.current = start;
            self.invalidate();
            return None;
        }
        let region = &self.data.as_ref()[start..self.restarts_at];
        let mut at = 0;
        let field = |at: &mut usize| -> Option<usize> {
            let (v, n) = get_varint(&region[*at..]).ok()?;
            *at += n;
            usize::try_from(v).ok()
        };
        let (Some(shared), Some(unshared), Some(vlen)) =
            (field(&mut at), field(&mut at), field(&mut at))
        else {
            self.fail("bad block entry header");
            return None;
        };
        let end = at.checked_add(unshared).and_then(|x| x.checked_add(vlen));
        if shared > self.key.len() || end.is_none_or(|e| e > region.len()) {
            self.fail("block entry overruns the block");
            return None;
        }
        Some(Entry {
            start,
            shared,
            suffix: start + at,
            unshared,
            vlen,
        })
    }

    /// Move to entry `e` ([`BlockIter::decode_next`]'s).
    fn take(&mut self, e: Entry) {
        self.current = e.start;
        self.key.truncate(e.shared);
        self.key
            .extend_from_slice(&self.data.as_ref()[e.suffix..e.suffix + e.unshared]);
        let vstart = e.suffix + e.unshared;
        self.value = (vstart, vstart + e.vlen);
        self.next_at = vstart + e.vlen;
        while self.restart_index + 1 < self.num_restarts
            && self.restart(self.restart_index + 1) <= self.current
        {
            self.restart_index += 1;
        }
    }

    /// Full key stored at restart point `i` (its `shared` is 0).
    fn key_at_restart(&self, i: usize) -> Option<&[u8]> {
        let at = self.restart(i);
        let region = self.data.as_ref().get(at..self.restarts_at)?;
        let (shared, a) = get_varint(region).ok()?;
        let (unshared, b) = get_varint(&region[a..]).ok()?;
        let (_, c) = get_varint(&region[a + b..]).ok()?;
        if shared != 0 {
            return None;
        }
        let s = a + b + c;
        region.get(s..s.checked_add(usize::try_from(unshared).ok()?)?)
    }
}

impl<D: AsRef<[u8]> + Send> InternalIterator for BlockIter<D> {
    fn valid(&self) -> bool {
        self.current < self.restarts_at && self.err.is_none()
    }
    fn seek_to_first(&mut self) {
        if self.num_restarts == 0 {
            return self.invalidate();
        }
        self.seek_to_restart(0);
        self.parse_next();
    }
    fn seek_to_last(&mut self) {
        if self.num_restarts == 0 {
            return self.invalidate();
        }
        self.seek_to_restart(self.num_restarts - 1);
        while self.parse_next() && self.next_at < self.restarts_at {}
    }
    fn seek(&mut self, target: &[u8]) {
        if self.num_restarts == 0 {
            return self.invalidate();
        }
        self.prefetch_restarts();
        // Last restart point whose key is < target.
        let (mut lo, mut hi) = (0usize, self.num_restarts - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            match self.key_at_restart(mid) {
                Some(k) if ikey::compare(k, target) == Ordering::Less => lo = mid,
                Some(_) => hi = mid - 1,
                None => return self.fail("bad restart point"),
            }
        }
        self.seek_to_restart(lo);
        // While the current key is below `target`: where the two first differ, when
        // that byte lies inside both user keys (`ikey::compare_at`). An entry that
        // shares more than that with the current key is below `target` too, and one
        // that shares less and has a bigger byte there is above it: neither needs a
        // comparison. A point lookup's scan is mostly such entries, as a collection's
        // keys differ only in their last bytes.
        let mut below_at: Option<usize> = None;
        while let Some(e) = self.decode_next() {
            if let Some(m) = below_at {
                if e.shared > m {
                    // The new key has the current key's byte `m` (or ends inside the
                    // bytes the current key shares with `target`): still below.
                    self.take(e);
                    continue;
                }
                let data = self.data.as_ref();
                if e.shared < m && e.unshared > ikey::TRAILER && data[e.suffix] > self.key[e.shared]
                {
                    // The user keys first differ at byte `e.shared` (< m, so
                    // `target`'s byte there is the current key's), and the new one's
                    // is bigger: above `target`.
                    self.take(e);
                    return;
                }
            }
            self.take(e);
            match ikey::compare_at(&self.key, target) {
                (Ordering::Less, at) => below_at = at,
                _ => return,
            }
        }
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.seek(target);
        if !self.valid() {
            if self.err.is_none() {
                self.seek_to_last();
            }
        } else if ikey::compare(&self.key, target) == Ordering::Greater {
            self.prev();
        }
    }
    fn next(&mut self) {
        if self.valid() {
            self.parse_next();
        }
    }
    fn prev(&mut self) {
        if !self.valid() {
            return;
        }
        let original = self.current;
        while self.restart(self.restart_index) >= original {
            if self.restart_index == 0 {
                return self.invalidate();
            }
            self.restart_index -= 1;
        }
        self.seek_to_restart(self.restart_index);
        while self.parse_next() && self.next_at < original {}
    }
    fn key(&self) -> &[u8] {
        &self.key
    }
    fn value(&self) -> &[u8] {
        &self.data.as_ref()[self.value.0..self.value.1]
    }
    fn status(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(Error::corrupt(e.clone())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ikey::{encode, Kind};

    /// A block built in a recycled buffer has the bytes of one built in a fresh one.
    #[test]
    fn recycled_buffers_build_the_same_blocks() {
        let entries = |from: u32| {
            (from..from + 60).map(|i| {
                (
                    encode(format!("k{i:05}").as_bytes(), 1, Kind::Value),
                    vec![i as u8; 70],
                )
            })
        };
        let mut reused = BlockBuilder::new(16);
        for round in 0..4u32 {
            let mut fresh = BlockBuilder::new(16);
            for (k, v) in entries(round * 100) {
                reused.add(&k, &v);
                fresh.add(&k, &v);
            }
            let block = reused.finish();
            assert_eq!(block, fresh.finish(), "round {round}");
            reused.recycle(block);
            assert!(reused.is_empty() && reused.buf.capacity() > 0);
        }
    }

    #[test]
    fn common_prefix_matches_a_byte_by_byte_count() {
        let slow = |a: &[u8], b: &[u8]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
        for len_a in 0..20usize {
            for len_b in 0..20usize {
                let a: Vec<u8> = (0..len_a as u8).collect();
                // b equals a up to `diff`, then differs (or is longer/shorter).
                for diff in 0..=len_b {
                    let mut b: Vec<u8> = (0..len_b as u8).collect();
                    if diff < len_b {
                        b[diff] ^= 0x80;
                    }
                    assert_eq!(common_prefix(&a, &b), slow(&a, &b), "{a:?} {b:?}");
                    assert_eq!(common_prefix(&b, &a), slow(&b, &a), "{b:?} {a:?}");
                }
            }
        }
    }

    fn build(n: u32) -> (Arc<[u8]>, Vec<Vec<u8>>) {
        let mut b = BlockBuilder::new(4);
        let keys: Vec<Vec<u8>> = (0..n)
            .map(|i| encode(format!("key{i:05}").as_bytes(), 7, Kind::Value))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            b.add(k, format!("v{i}").as_bytes());
        }
        (b.finish().into(), keys)
    }

    #[test]
    fn seek_next_prev() {
        let (data, keys) = build(50);
        let mut it = BlockIter::new(data.clone()).unwrap();
        it.seek_to_first();
        for k in &keys {
            assert_eq!(it.key(), &k[..]);
            it.next();
        }
        assert!(!it.valid());
        let mut it = BlockIter::new(data).unwrap();
        it.seek_to_last();
        for k in keys.iter().rev() {
            assert_eq!(it.key(), &k[..]);
            it.prev();
        }
        assert!(!it.valid());
        it.seek(&keys[17]);
        assert_eq!(it.key(), &keys[17][..]);
        it.seek(&encode(b"key00017x", 7, Kind::Value));
        assert_eq!(it.key(), &keys[18][..]);
        it.seek_for_prev(&encode(b"key00017x", 7, Kind::Value));
        assert_eq!(it.key(), &keys[17][..]);
        it.seek_for_prev(&encode(b"a", 7, Kind::Value));
        assert!(!it.valid());
    }

    /// A seek lands where a plain search of the sorted keys does, for keys that share
    /// long prefixes (a collection's members), user keys that are prefixes of others,
    /// several versions of one user key, and targets on, between and around the keys;
    /// also in blocks whose entries share less than they could (a valid encoding the
    /// seek's skips must not rely on).
    #[test]
    fn seek_agrees_with_a_plain_search() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut users: Vec<Vec<u8>> = Vec::new();
        for _ in 0..300 {
            let mut u = b"\x12\x34\x00\x01set:".to_vec();
            let len = rnd(12) as usize;
            u.extend((0..len).map(|_| b"ab\x00\xffm"[rnd(5) as usize]));
            users.push(u);
        }
        users.sort();
        users.dedup();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for u in &users {
            for _ in 0..1 + rnd(3) {
                keys.push(encode(u, 1 + rnd(50), Kind::Value));
            }
        }
        keys.sort_by(|a, b| ikey::compare(a, b));
        keys.dedup();
        let mut targets: Vec<Vec<u8>> = Vec::new();
        for u in &users {
            let mut longer = u.clone();
            longer.push(b'a');
            let mut bumped = u.clone();
            if let Some(l) = bumped.last_mut() {
                *l = l.wrapping_add(1);
            }
            let shorter = u[..u.len() - 1].to_vec();
            for t in [u, &longer, &bumped, &shorter] {
                for seq in [0, 25, 51] {
                    targets.push(encode(t, seq, Kind::Value));
                }
            }
        }
        for (interval, stingy) in [(16, false), (4, false), (16, true)] {
            let mut b = BlockBuilder::new(interval);
            for (i, k) in keys.iter().enumerate() {
                let common = common_prefix(b.last_key(), k);
                // Stingy: share a few bytes less than possible (still a valid block).
                let common = if stingy {
                    common.saturating_sub(i % 4)
                } else {
                    common
                };
                b.add_with_common(k, b"", common);
            }
            let data: Arc<[u8]> = b.finish().into();
            let mut it = BlockIter::new(data).unwrap();
            for t in &targets {
                it.seek(t);
                let want = keys.iter().find(|k| ikey::compare(k, t).is_ge());
                assert_eq!(
                    it.valid().then(|| it.key().to_vec()).as_ref(),
                    want,
                    "interval {interval}, stingy {stingy}, target {t:?}"
                );
            }
        }
    }

    /// Large entries get restart points by bytes as well as by count: no restart
    /// interval spans much more than `RESTART_BYTES`, and every key is found by a seek,
    /// forwards and backwards.
    #[test]
    fn large_entries_restart_by_bytes() {
        let mut b = BlockBuilder::new(16);
        let keys: Vec<Vec<u8>> = (0..40u32)
            .map(|i| encode(format!("key:{i:012}").as_bytes(), 7, Kind::Value))
            .collect();
        for k in &keys {
            b.add(k, &[b'v'; 100]);
        }
        let data: Arc<[u8]> = b.finish().into();
        let it = BlockIter::new(data.clone()).unwrap();
        let restarts: Vec<usize> = (0..it.num_restarts).map(|i| it.restart(i)).collect();
        assert!(restarts.len() >= 40 * 130 / 640, "{restarts:?}");
        let entry = 3 + 21 + 100;
        for w in restarts.windows(2) {
            assert!(w[1] - w[0] < RESTART_BYTES + entry, "{restarts:?}");
        }
        let mut it = BlockIter::new(data).unwrap();
        for (i, k) in keys.iter().enumerate() {
            it.seek(k);
            assert_eq!(it.key(), &k[..], "seek {i}");
            it.seek_for_prev(k);
            assert_eq!(it.key(), &k[..], "seek_for_prev {i}");
        }
        it.seek_to_last();
        for k in keys.iter().rev() {
            assert_eq!(it.key(), &k[..]);
            it.prev();
        }
        assert!(!it.valid());
    }

    #[test]
    fn garbage_never_panics() {
        let (data, _) = build(30);
        for cut in 0..data.len() {
            for flip in [0usize, 3, 11] {
                let mut bytes = data[..cut].to_vec();
                if let Some(b) = bytes.get_mut(flip) {
                    *b ^= 0xa5;
                }
                if let Ok(mut it) = BlockIter::new(bytes.as_slice()) {
                    it.seek_to_first();
                    while it.valid() {
                        it.next();
                    }
                    it.seek(b"key00010\0\0\0\0\0\0\0\0");
                    it.seek_to_last();
                    while it.valid() {
                        it.prev();
                    }
                }
            }
        }
    }
}
