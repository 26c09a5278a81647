//! Varints and fixed-width little-endian integers, as every on-disk format here uses them.
//!
//! Varints are LEB128 (7 bits a byte, low groups first, high bit = more), as in LevelDB.

use crate::error::{Error, Result};

pub(crate) fn put_varint(dst: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        dst.push((v as u8) | 0x80);
        v >>= 7;
    }
    dst.push(v as u8);
}

/// Decode a varint at the front of `src`; returns the value and bytes consumed.
#[inline]
pub(crate) fn get_varint(src: &[u8]) -> Result<(u64, usize)> {
    // Most varints in blocks (key lengths, small values) are one byte.
    match src.first() {
        Some(&b) if b < 0x80 => Ok((u64::from(b), 1)),
        _ => get_varint_long(src),
    }
}

#[inline(never)]
fn get_varint_long(src: &[u8]) -> Result<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &b) in src.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return Err(Error::corrupt("varint overflows 64 bits"));
        }
        v |= part << (7 * i);
        if b & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    Err(Error::corrupt("truncated varint"))
}

/// A cursor over untrusted bytes: every read is bounds-checked and returns an error.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub(crate) fn varint(&mut self) -> Result<u64> {
        let (v, n) = get_varint(self.buf)?;
        self.buf = &self.buf[n..];
        Ok(v)
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(Error::corrupt(format!(
                "length {n} exceeds the {} bytes left",
                self.buf.len()
            )));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    pub(crate) fn length_prefixed(&mut self) -> Result<&'a [u8]> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| Error::corrupt("length does not fit in memory"))?;
        self.bytes(n)
    }
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }
    pub(crate) fn u32_le(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64_le(&mut self) -> Result<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

pub(crate) fn put_length_prefixed(dst: &mut Vec<u8>, s: &[u8]) {
    put_varint(dst, s.len() as u64);
    dst.extend_from_slice(s);
}

pub(crate) fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(crate) fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    let b = buf.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// CRC-32 (IEEE, via crc32fast) masked as LevelDB masks stored CRCs, so that a CRC
/// computed over bytes that themselves embed CRCs does not degenerate.
pub(crate) fn masked_crc(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    let c = h.finalize();
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip_and_bounds() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(get_varint(&b).unwrap(), (v, b.len()));
            assert!(get_varint(&b[..b.len() - 1]).is_err());
        }
        assert!(get_varint(&[0xff; 11]).is_err());
        assert!(get_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).is_err());
    }
}
