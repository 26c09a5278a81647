//! Listpack blobs (Redis 7 hashes, zsets, list nodes, 7.2 sets).
//!
//! ```text
//! total_bytes: u32 LE | num_elements: u16 LE (65535 = unknown) | entry* | 0xFF
//! entry = encoding [data] backlen
//!   0xxxxxxx                 7-bit unsigned int
//!   10xxxxxx + n bytes       string, 6-bit length
//!   110xxxxx yyyyyyyy        13-bit signed int
//!   1110xxxx yyyyyyyy + n    string, 12-bit length
//!   11110000 + u32 LE + n    string, 32-bit length
//!   11110001 / 0010 / 0011 / 0100   16/24/32/64-bit signed int, LE
//! backlen = length of encoding+data, 7 bits per byte, written so it reads backwards
//! ```
//! Validation is Redis's deep sanitization: header size, element count, every entry in
//! bounds, every backlen right, the terminator last.

use crate::error::{bad, Result};

/// One listpack (or ziplist) element.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Entry<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Entry<'_> {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        match self {
            Entry::Str(s) => s.to_vec(),
            Entry::Int(i) => i.to_string().into_bytes(),
        }
    }
}

pub(crate) fn backlen(l: usize) -> Vec<u8> {
    match l {
        0..=127 => vec![l as u8],
        128..=16382 => vec![(l >> 7) as u8, (l & 127) as u8 | 128],
        16383..=2_097_150 => vec![
            (l >> 14) as u8,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ],
        2_097_151..=268_435_454 => vec![
            (l >> 21) as u8,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ],
        _ => vec![
            (l >> 28) as u8,
            ((l >> 21) & 127) as u8 | 128,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ],
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Every element of a listpack, validated.
pub(crate) fn parse(lp: &[u8]) -> Result<Vec<Entry<'_>>> {
    parse_counted(lp, true)
}

/// The same; with `check_count` false the header's element count is not compared with
/// the elements (Redis validates stream node listpacks that way: header, then every
/// element).
pub(crate) fn parse_counted(lp: &[u8], check_count: bool) -> Result<Vec<Entry<'_>>> {
    if lp.len() < 7 {
        return bad("listpack shorter than its header and terminator");
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    if total != lp.len() {
        return bad(format!(
            "listpack header says {total} bytes, blob has {}",
            lp.len()
        ));
    }
    let declared = u16::from_le_bytes([lp[4], lp[5]]);
    let mut out = Vec::with_capacity((declared as usize).min(lp.len()));
    let mut p = 6;
    let end = lp.len() - 1;
    loop {
        if p > end {
            return bad("listpack entry runs past the end");
        }
        let b = lp[p];
        if b == 0xff {
            if p != end {
                return bad("listpack terminator before the end");
            }
            break;
        }
        let need = |n: usize| -> Result<&[u8]> {
            lp.get(p..p.saturating_add(n))
                .filter(|_| p + n <= end)
                .ok_or_else(|| crate::Error::BadData("listpack entry runs past the end".into()))
        };
        let (entry, size) = if b & 0x80 == 0 {
            (Entry::Int(i64::from(b & 0x7f)), 1)
        } else if b & 0xc0 == 0x80 {
            let n = (b & 0x3f) as usize;
            (Entry::Str(&need(1 + n)?[1..]), 1 + n)
        } else if b & 0xe0 == 0xc0 {
            let d = need(2)?;
            (
                Entry::Int(sign_extend(u64::from(b & 0x1f) << 8 | u64::from(d[1]), 13)),
                2,
            )
        } else if b & 0xf0 == 0xe0 {
            let d = need(2)?;
            let n = ((b & 0x0f) as usize) << 8 | d[1] as usize;
            (Entry::Str(&need(2 + n)?[2..]), 2 + n)
        } else {
            match b {
                0xf0 => {
                    let d = need(5)?;
                    let n = u32::from_le_bytes([d[1], d[2], d[3], d[4]]) as usize;
                    (Entry::Str(&need(5usize.saturating_add(n))?[5..]), 5 + n)
                }
                0xf1 => {
                    let d = need(3)?;
                    (Entry::Int(i64::from(i16::from_le_bytes([d[1], d[2]]))), 3)
                }
                0xf2 => {
                    let d = need(4)?;
                    let v = u64::from(d[1]) | u64::from(d[2]) << 8 | u64::from(d[3]) << 16;
                    (Entry::Int(sign_extend(v, 24)), 4)
                }
                0xf3 => {
                    let d = need(5)?;
                    (
                        Entry::Int(i64::from(i32::from_le_bytes([d[1], d[2], d[3], d[4]]))),
                        5,
                    )
                }
                0xf4 => {
                    let d = need(9)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&d[1..9]);
                    (Entry::Int(i64::from_le_bytes(a)), 9)
                }
                _ => return bad(format!("unknown listpack encoding {b:#04x}")),
            }
        };
        let bl = backlen(size);
        if lp.get(p + size..p + size + bl.len()) != Some(&bl[..]) || p + size + bl.len() > end {
            return bad("listpack entry backlen is wrong");
        }
        out.push(entry);
        p += size + bl.len();
    }
    if check_count && declared != u16::MAX && declared as usize != out.len() {
        return bad(format!(
            "listpack declares {declared} entries, holds {}",
            out.len()
        ));
    }
    Ok(out)
}
