//! Ziplist blobs (Redis ≤ 6.2 small lists, hashes, zsets, quicklist v1 nodes).
//!
//! ```text
//! zlbytes: u32 LE | zltail: u32 LE (offset of the last entry) | zllen: u16 LE | entry* | 0xFF
//! entry = prevlen encoding data
//!   prevlen: 1 byte (< 254), or 0xFE + u32 LE
//!   00pppppp                 string, 6-bit length
//!   01pppppp qqqqqqqq        string, 14-bit length (big-endian)
//!   10000000 + u32 BE        string, 32-bit length
//!   11000000 int16 | 11010000 int32 | 11100000 int64 | 11110000 int24 | 11111110 int8 (LE)
//!   1111xxxx (xxxx = 1..13)  the integer xxxx - 1
//! ```
//! Validation: header size, tail offset, count, each prevlen equal to the previous
//! entry's length, the terminator last.

use crate::error::{bad, Result};
use crate::listpack::Entry;

/// Every element of a ziplist, validated.
pub(crate) fn parse(zl: &[u8]) -> Result<Vec<Entry<'_>>> {
    if zl.len() < 11 {
        return bad("ziplist shorter than its header and terminator");
    }
    let zlbytes = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    let zltail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
    let zllen = u16::from_le_bytes([zl[8], zl[9]]);
    if zlbytes != zl.len() {
        return bad(format!(
            "ziplist header says {zlbytes} bytes, blob has {}",
            zl.len()
        ));
    }
    let end = zl.len() - 1;
    if zl[end] != 0xff {
        return bad("ziplist does not end with 0xff");
    }
    let mut out = Vec::with_capacity((zllen as usize).min(zl.len()));
    let mut p = 10;
    let mut prev_len = 0usize;
    let mut last = 10;
    while p < end {
        let start = p;
        let get = |a: usize, n: usize| -> Result<&[u8]> {
            zl.get(a..a.saturating_add(n))
                .filter(|_| a + n <= end)
                .ok_or_else(|| crate::Error::BadData("ziplist entry runs past the end".into()))
        };
        let prevlen = if zl[p] < 254 {
            p += 1;
            zl[start] as usize
        } else if zl[p] == 254 {
            let d = get(p + 1, 4)?;
            p += 5;
            u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize
        } else {
            return bad("ziplist prevlen byte 0xff");
        };
        if prevlen != prev_len {
            return bad("ziplist prevlen does not match the previous entry");
        }
        let enc = get(p, 1)?[0];
        let entry = match enc >> 6 {
            0 => {
                let n = (enc & 0x3f) as usize;
                p += 1;
                Entry::Str(get(p, n)?)
            }
            1 => {
                let d = get(p, 2)?;
                let n = ((d[0] & 0x3f) as usize) << 8 | d[1] as usize;
                p += 2;
                Entry::Str(get(p, n)?)
            }
            2 => {
                if enc != 0x80 {
                    return bad("bad ziplist string encoding");
                }
                let d = get(p, 5)?;
                let n = u32::from_be_bytes([d[1], d[2], d[3], d[4]]) as usize;
                p += 5;
                Entry::Str(get(p, n)?)
            }
            _ => {
                p += 1;
                let (v, n) = match enc {
                    0xc0 => {
                        let d = get(p, 2)?;
                        (i64::from(i16::from_le_bytes([d[0], d[1]])), 2)
                    }
                    0xd0 => {
                        let d = get(p, 4)?;
                        (i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]])), 4)
                    }
                    0xe0 => {
                        let d = get(p, 8)?;
                        let mut a = [0u8; 8];
                        a.copy_from_slice(d);
                        (i64::from_le_bytes(a), 8)
                    }
                    0xf0 => {
                        let d = get(p, 3)?;
                        let v =
                            (u32::from(d[0]) | u32::from(d[1]) << 8 | u32::from(d[2]) << 16) << 8;
                        (i64::from(v as i32 >> 8), 3)
                    }
                    0xfe => (i64::from(get(p, 1)?[0] as i8), 1),
                    0xf1..=0xfd => (i64::from(enc & 0x0f) - 1, 0),
                    _ => return bad(format!("unknown ziplist encoding {enc:#04x}")),
                };
                p += n;
                out.push(Entry::Int(v));
                last = start;
                prev_len = p - start;
                continue;
            }
        };
        if let Entry::Str(s) = entry {
            p += s.len();
        }
        out.push(entry);
        last = start;
        prev_len = p - start;
    }
    if p != end {
        return bad("ziplist entries overrun the terminator");
    }
    if !out.is_empty() && zltail != last || out.is_empty() && zltail != 10 {
        return bad("ziplist tail offset is wrong");
    }
    if zllen != u16::MAX && zllen as usize != out.len() {
        return bad(format!(
            "ziplist declares {zllen} entries, holds {}",
            out.len()
        ));
    }
    Ok(out)
}
