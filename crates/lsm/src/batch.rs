//! Atomic write batches and their encoding, which is also the WAL record payload.
//!
//! ```text
//! +-------------+-------------+---------------------------------------------+
//! | seq: u64 LE | count: u32 LE | op * count                                 |
//! +-------------+-------------+---------------------------------------------+
//! op = 0x01 varint-len key, varint-len value      (put)
//!    | 0x00 varint-len key                          (delete)
//!    | 0x02 varint-len start, varint-len end        (delete range [start, end))
//! ```
//! Op `i` gets sequence number `seq + i`.

use crate::coding::{put_length_prefixed, Reader};
use crate::error::{Error, Result};

const HEADER: usize = 12;
const TAG_DELETE: u8 = 0;
const TAG_PUT: u8 = 1;
const TAG_DELETE_RANGE: u8 = 2;
/// The buffer a batch over its bound gets back when cleared ([`WriteBatch::clear_keeping`]).
const SMALL_BUFFER: usize = 64 << 10;

/// A group of writes applied atomically: readers see all of them or none.
#[derive(Clone, Debug)]
pub struct WriteBatch {
    rep: Vec<u8>,
    count: u32,
}

/// One decoded operation of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    Put(&'a [u8], &'a [u8]),
    Delete(&'a [u8]),
    DeleteRange(&'a [u8], &'a [u8]),
}

impl Default for WriteBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::with_capacity(Self::NEW_ROOM)
    }

    /// Bytes of operations a [`WriteBatch::new`] batch has room for.
    pub const NEW_ROOM: usize = 64;

    /// An empty batch with room for about `bytes` of operations.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut rep = Vec::with_capacity(HEADER + bytes);
        rep.resize(HEADER, 0);
        WriteBatch { rep, count: 0 }
    }

    /// Set `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.rep.push(TAG_PUT);
        put_length_prefixed(&mut self.rep, key);
        put_length_prefixed(&mut self.rep, value);
        self.count += 1;
    }

    /// Set `key` to the concatenation of `parts`, without building it first.
    pub fn put_parts(&mut self, key: &[u8], parts: &[&[u8]]) {
        self.rep.push(TAG_PUT);
        put_length_prefixed(&mut self.rep, key);
        let len: usize = parts.iter().map(|p| p.len()).sum();
        crate::coding::put_varint(&mut self.rep, len as u64);
        for p in parts {
            self.rep.extend_from_slice(p);
        }
        self.count += 1;
    }

    /// Remove `key`.
    pub fn delete(&mut self, key: &[u8]) {
        self.rep.push(TAG_DELETE);
        put_length_prefixed(&mut self.rep, key);
        self.count += 1;
    }

    /// Remove every key in `[start, end)`. Costs the same whatever the range holds.
    pub fn delete_range(&mut self, start: &[u8], end: &[u8]) {
        self.rep.push(TAG_DELETE_RANGE);
        put_length_prefixed(&mut self.rep, start);
        put_length_prefixed(&mut self.rep, end);
        self.count += 1;
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Make room for `bytes` more of operations: a large batch built in one go grows
    /// once instead of doubling and copying. When the buffer must grow, it grows by a
    /// sixteenth more than asked, so that a buffer kept for the next batch of the same
    /// size (`Db::write_and_clear`) has room for it and whatever precedes it.
    pub fn reserve(&mut self, bytes: usize) {
        if self.rep.capacity() - self.rep.len() < bytes {
            self.rep.reserve_exact(bytes.saturating_add(bytes / 16));
        }
    }

    /// Bytes of operations the buffer holds without growing.
    pub fn capacity(&self) -> usize {
        self.rep.capacity() - HEADER
    }

    /// Approximate size in bytes.
    pub fn approximate_size(&self) -> usize {
        self.rep.len()
    }

    /// Add `other`'s operations after this batch's own, in order (LevelDB's
    /// `WriteBatch::Append`): applying the result is applying both, atomically.
    pub fn append(&mut self, other: &WriteBatch) {
        self.rep.extend_from_slice(&other.rep[HEADER..]);
        self.count += other.count;
    }

    /// The operations, without the header.
    pub(crate) fn body(&self) -> &[u8] {
        &self.rep[HEADER..]
    }

    /// Number of operations, as stored in the header.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// Remove every operation, keeping the allocation.
    pub fn clear(&mut self) {
        self.rep.truncate(HEADER);
        self.count = 0;
    }

    /// Remove every operation, keeping the allocation unless it exceeds about `bytes`.
    pub(crate) fn clear_keeping(&mut self, bytes: usize) {
        self.clear();
        if self.rep.capacity() > HEADER + bytes {
            // A new small buffer rather than `shrink_to`: the allocator's `realloc`
            // copies the kept part of the old block (megabytes of stale operations
            // after a RESTORE) without knowing that only the header is live; and a new
            // buffer of `bytes` would be fresh pages the allocator faults in to set up.
            self.rep = Vec::with_capacity(HEADER + SMALL_BUFFER);
            self.rep.resize(HEADER, 0);
        }
    }
}

/// The header of an encoded batch.
pub(crate) fn header(seq: u64, count: u32) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(&seq.to_le_bytes());
    h[8..].copy_from_slice(&count.to_le_bytes());
    h
}

/// The operations of a batch body; a malformed one is an error, and the last item.
pub(crate) fn ops(body: &[u8]) -> Ops<'_> {
    Ops {
        r: Reader::new(body),
        failed: false,
    }
}

/// See [`ops`].
pub(crate) struct Ops<'a> {
    r: Reader<'a>,
    failed: bool,
}

impl<'a> Ops<'a> {
    fn parse(&mut self) -> Result<Op<'a>> {
        let r = &mut self.r;
        Ok(match r.u8()? {
            TAG_PUT => Op::Put(r.length_prefixed()?, r.length_prefixed()?),
            TAG_DELETE => Op::Delete(r.length_prefixed()?),
            TAG_DELETE_RANGE => Op::DeleteRange(r.length_prefixed()?, r.length_prefixed()?),
            t => return Err(Error::corrupt(format!("unknown batch op tag {t}"))),
        })
    }
}

impl<'a> Iterator for Ops<'a> {
    type Item = Result<Op<'a>>;

    fn next(&mut self) -> Option<Result<Op<'a>>> {
        if self.failed || self.r.is_empty() {
            return None;
        }
        let op = self.parse();
        self.failed = op.is_err();
        Some(op)
    }
}

/// Decode an encoded batch (a WAL record): its first sequence number and its operations.
pub(crate) fn decode(rep: &[u8]) -> Result<(u64, Vec<Op<'_>>)> {
    let mut r = Reader::new(rep);
    let seq = r.u64_le()?;
    let count = r.u32_le()?;
    let ops = self::ops(&rep[HEADER..]).collect::<Result<Vec<_>>>()?;
    let n = ops.len() as u32;
    if n != count {
        return Err(Error::corrupt(format!(
            "batch declares {count} ops but holds {n}"
        )));
    }
    Ok((seq, ops))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_parts_encodes_as_put_of_the_concatenation() {
        let long = vec![7u8; 300];
        for parts in [
            &[][..],
            &[&b""[..]][..],
            &[&b"ab"[..], b"", b"cde"][..],
            &[&long[..], b"x"][..],
        ] {
            let (mut a, mut b) = (WriteBatch::new(), WriteBatch::new());
            a.put_parts(b"key", parts);
            b.put(b"key", &parts.concat());
            assert_eq!(a.rep, b.rep);
            assert_eq!(a.count, b.count);
        }
    }

    /// A buffer reserved for one large batch takes the next of the same size, with a
    /// few operations before it, without growing again.
    #[test]
    fn reserve_leaves_room_for_the_next_batch_of_the_same_size() {
        let mut b = WriteBatch::new();
        b.put(b"meta", b"v");
        b.reserve(1 << 20);
        let cap = b.rep.capacity();
        assert!(cap >= b.rep.len() + (1 << 20) + (1 << 16), "{cap}");
        b.reserve(1 << 20);
        assert_eq!(b.rep.capacity(), cap, "room enough: no growth");
        b.put(b"k", &vec![1u8; 1 << 20]);
        b.clear_keeping(16 << 20);
        b.put(b"meta", b"v");
        b.put(b"more", b"v");
        b.reserve(1 << 20);
        assert_eq!(b.rep.capacity(), cap);
    }

    #[test]
    fn clear_keeping_bounds_the_buffer() {
        let mut b = WriteBatch::new();
        b.put(b"k", &vec![1u8; 1 << 20]);
        // A buffer within the bound is kept as it is.
        let cap = b.rep.capacity();
        b.clear_keeping(2 << 20);
        assert!(b.is_empty());
        assert_eq!(b.rep.capacity(), cap);
        b.put(b"k", &vec![1u8; 1 << 20]);
        // One over it is replaced by a small one.
        b.clear_keeping(1024);
        assert!(b.is_empty());
        assert!(b.rep.capacity() <= HEADER + SMALL_BUFFER);
        b.put(b"k", b"v");
        let mut fresh = WriteBatch::new();
        fresh.put(b"k", b"v");
        assert_eq!((b.body(), b.len()), (fresh.body(), 1));
    }

    #[test]
    fn roundtrip() {
        let mut b = WriteBatch::new();
        b.put(b"k", b"v");
        b.delete(b"d");
        b.delete_range(b"a", b"z");
        let mut rep = header(42, b.count()).to_vec();
        rep.extend_from_slice(b.body());
        let (seq, ops) = decode(&rep).unwrap();
        assert_eq!(seq, 42);
        assert_eq!(
            ops,
            vec![
                Op::Put(b"k", b"v"),
                Op::Delete(b"d"),
                Op::DeleteRange(b"a", b"z")
            ]
        );
        assert!(decode(&rep[..rep.len() - 1]).is_err());
    }
}
