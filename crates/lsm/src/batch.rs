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

/// A group of writes applied atomically: readers see all of them or none.
#[derive(Clone, Debug)]
pub struct WriteBatch {
    rep: Vec<u8>,
    count: u32,
}

/// One decoded operation of a batch.
#[derive(Debug, PartialEq, Eq)]
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
        WriteBatch {
            rep: vec![0; HEADER],
            count: 0,
        }
    }

    /// Set `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.rep.push(TAG_PUT);
        put_length_prefixed(&mut self.rep, key);
        put_length_prefixed(&mut self.rep, value);
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

    /// Approximate size in bytes.
    pub fn approximate_size(&self) -> usize {
        self.rep.len()
    }

    pub(crate) fn append(&mut self, other: &WriteBatch) {
        self.rep.extend_from_slice(&other.rep[HEADER..]);
        self.count += other.count;
    }

    /// Stamp the first sequence number and the count; return the encoded bytes.
    pub(crate) fn seal(&mut self, seq: u64) -> &[u8] {
        self.rep[..8].copy_from_slice(&seq.to_le_bytes());
        self.rep[8..12].copy_from_slice(&self.count.to_le_bytes());
        &self.rep
    }

    /// Remove every operation, keeping the allocation.
    pub fn clear(&mut self) {
        self.rep.truncate(HEADER);
        self.count = 0;
    }
}

/// Decode an encoded batch: its first sequence number and its operations.
pub(crate) fn decode(rep: &[u8]) -> Result<(u64, Vec<Op<'_>>)> {
    let mut r = Reader::new(rep);
    let seq = r.u64_le()?;
    let count = r.u32_le()?;
    // NOTE: every op takes at least 2 bytes, so the count cannot ask for more
    // capacity than the record has bytes.
    let mut ops = Vec::with_capacity((count as usize).min(rep.len() / 2));
    while !r.is_empty() {
        let op = match r.u8()? {
            TAG_PUT => Op::Put(r.length_prefixed()?, r.length_prefixed()?),
            TAG_DELETE => Op::Delete(r.length_prefixed()?),
            TAG_DELETE_RANGE => Op::DeleteRange(r.length_prefixed()?, r.length_prefixed()?),
            t => return Err(Error::corrupt(format!("unknown batch op tag {t}"))),
        };
        ops.push(op);
    }
    if ops.len() != count as usize {
        return Err(Error::corrupt(format!(
            "batch declares {count} ops but holds {}",
            ops.len()
        )));
    }
    Ok((seq, ops))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let mut b = WriteBatch::new();
        b.put(b"k", b"v");
        b.delete(b"d");
        b.delete_range(b"a", b"z");
        let rep = b.seal(42).to_vec();
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
