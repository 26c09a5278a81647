//! RDB primitives over untrusted bytes.
//!
//! Length encoding (first byte's top two bits):
//! ```text
//! 00xxxxxx                      6-bit length
//! 01xxxxxx yyyyyyyy             14-bit length, big-endian
//! 10000000 + u32 BE             32-bit length
//! 10000001 + u64 BE             64-bit length
//! 11xxxxxx                      a special string encoding, xxxxxx =
//!                               0 int8, 1 int16 LE, 2 int32 LE, 3 LZF
//! ```
//! An LZF string is `len(compressed) len(uncompressed) bytes`. Every read is
//! bounds-checked; no length field can make the reader allocate more than the input
//! could hold (LZF output is bounded by its maximum expansion ratio).

use std::borrow::Cow;

use crate::error::{bad, Result};
use crate::lzf;

/// An LZF run of n input bytes yields at most ~88 n output bytes (a 3-byte back
/// reference copies up to 264); anything claiming more is corrupt.
const LZF_MAX_EXPANSION: u64 = 90;

pub(crate) enum Len {
    Plain(u64),
    Encoded(u8),
}

/// Where the reader's bytes come from: a payload in memory, or a file being streamed.
pub(crate) trait Source {
    /// Fill `buf` exactly.
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()>;
    /// The next `n` bytes. Implementations must not allocate `n` bytes up front unless
    /// that many remain.
    fn read_vec(&mut self, n: u64) -> Result<Vec<u8>>;
    /// Bytes left, when known.
    fn remaining(&self) -> Option<u64>;
}

/// A payload in memory.
pub(crate) struct SliceSource<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> SliceSource<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        SliceSource { buf, pos: 0 }
    }

    /// The next `n` bytes, borrowed from the payload.
    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return bad(format!("{n} bytes wanted, {left} left"));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }
}

impl Source for SliceSource<'_> {
    fn read_exact(&mut self, out: &mut [u8]) -> Result<()> {
        let end = self.pos + out.len();
        let Some(src) = self.buf.get(self.pos..end) else {
            return bad(format!(
                "{} bytes wanted, {} left",
                out.len(),
                self.buf.len() - self.pos
            ));
        };
        out.copy_from_slice(src);
        self.pos = end;
        Ok(())
    }
    fn read_vec(&mut self, n: u64) -> Result<Vec<u8>> {
        self.take(n).map(<[u8]>::to_vec)
    }
    fn remaining(&self) -> Option<u64> {
        Some((self.buf.len() - self.pos) as u64)
    }
}

pub(crate) struct Reader<S: Source> {
    pub(crate) src: S,
}

impl<S: Source> Reader<S> {
    pub(crate) fn new(src: S) -> Self {
        Reader { src }
    }

    pub(crate) fn bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        self.src.read_vec(n)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        self.src.read_exact(&mut a)?;
        Ok(a)
    }

    pub(crate) fn len_or_encoding(&mut self) -> Result<Len> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain(u64::from(b & 0x3f) << 8 | u64::from(self.u8()?)),
            2 => match b {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array()?))),
                0x81 => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return bad(format!("unknown length encoding {b:#04x}")),
            },
            _ => Len::Encoded(b & 0x3f),
        })
    }

    /// A plain length (a special encoding here is an error).
    pub(crate) fn len(&mut self) -> Result<u64> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(e) => bad(format!("encoded value {e} where a length belongs")),
        }
    }

    /// A count of items each taking at least `min_bytes`: refused when the input left
    /// could not hold that many. The result is safe to allocate by only up to
    /// [`Reader::capacity_for`].
    pub(crate) fn count(&mut self, min_bytes: u64) -> Result<usize> {
        let n = self.len()?;
        if let Some(left) = self.src.remaining() {
            if n.saturating_mul(min_bytes.max(1)) > left {
                return bad(format!("{n} items cannot fit in {left} bytes"));
            }
        }
        usize::try_from(n).or_else(|_| bad("count does not fit in memory"))
    }

    /// A safe initial capacity for `n` items (a stream's length is unknown, so a
    /// corrupt count must not reserve memory the data will never fill).
    pub(crate) fn capacity_for(&self, n: usize) -> usize {
        match self.src.remaining() {
            Some(_) => n,
            None => n.min(1 << 16),
        }
    }

    /// An RDB string: raw, integer-encoded (as its decimal text) or LZF.
    pub(crate) fn string(&mut self) -> Result<Vec<u8>> {
        match self.len_or_encoding()? {
            Len::Plain(n) => self.bytes(n),
            Len::Encoded(e) => self.encoded_string(e),
        }
    }

    /// A string in encoding `e` (integer or LZF: the cases of [`Reader::string`] other
    /// than a raw string).
    fn encoded_string(&mut self, e: u8) -> Result<Vec<u8>> {
        match e {
            0 => Ok((self.u8()? as i8).to_string().into_bytes()),
            1 => Ok(i16::from_le_bytes(self.array()?).to_string().into_bytes()),
            2 => Ok(i32::from_le_bytes(self.array()?).to_string().into_bytes()),
            3 => {
                let clen = self.len()?;
                let ulen = self.len()?;
                if ulen > clen.saturating_mul(LZF_MAX_EXPANSION) {
                    return bad(format!("LZF claims {ulen} bytes from {clen}"));
                }
                let input = self.bytes(clen)?;
                lzf::decompress(&input, ulen as usize)
            }
            e => bad(format!("unknown string encoding {e}")),
        }
    }

    /// A double in string form (RDB v1 zset scores): length byte, 253 nan, 254 +inf,
    /// 255 -inf, else that many ASCII bytes.
    pub(crate) fn f64_string(&mut self) -> Result<f64> {
        match self.u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let b = self.bytes(u64::from(n))?;
                parse_f64(&b).ok_or_else(|| crate::Error::BadData("bad double string".into()))
            }
        }
    }

    /// A binary double, little-endian.
    pub(crate) fn f64_binary(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }
}

impl<'a> Reader<SliceSource<'a>> {
    /// As [`Reader::string`], but a raw string is borrowed from the payload instead of
    /// copied (integer-encoded and LZF strings are still built).
    pub(crate) fn string_ref(&mut self) -> Result<Cow<'a, [u8]>> {
        match self.len_or_encoding()? {
            Len::Plain(n) => self.src.take(n).map(Cow::Borrowed),
            Len::Encoded(e) => self.encoded_string(e).map(Cow::Owned),
        }
    }
}

/// Parse a double as Redis writes them (`%.17g`, `inf`, `-inf`, `nan`).
pub(crate) fn parse_f64(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    match s {
        "inf" | "+inf" | "Inf" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-Inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}
