//! Intset blobs (sets of integers).
//!
//! ```text
//! encoding: u32 LE (2, 4 or 8 bytes per value) | length: u32 LE | value * length (LE)
//! ```
//! Validation: a known encoding, the size equal to the header's claim, at least one
//! value, values strictly increasing (so sorted and without duplicates).

use crate::error::{bad, Result};

/// The values of an intset, validated.
pub(crate) fn parse(blob: &[u8]) -> Result<Vec<i64>> {
    if blob.len() < 8 {
        return bad("intset shorter than its header");
    }
    let enc = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    let n = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    if !matches!(enc, 2 | 4 | 8) {
        return bad(format!("intset encoding {enc}"));
    }
    if n == 0 || n.checked_mul(enc).and_then(|b| b.checked_add(8)) != Some(blob.len()) {
        return bad("intset length does not match its size");
    }
    let mut out: Vec<i64> = Vec::with_capacity(n);
    for c in blob[8..].chunks_exact(enc) {
        let v = match enc {
            2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
            4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            _ => {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                i64::from_le_bytes(a)
            }
        };
        if out.last().is_some_and(|&p| p >= v) {
            return bad("intset values not strictly increasing");
        }
        out.push(v);
    }
    Ok(out)
}
