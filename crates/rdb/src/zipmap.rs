//! Zipmap blobs (Redis ≤ 2.4 small hashes).
//!
//! ```text
//! zmlen: u8 (254 = unknown) | (len key len free value [free bytes])* | 0xFF
//! len = 1 byte (< 254), or 254 + u32 LE
//! ```
//! Validation: every length in bounds, the terminator last, the count when known.

use crate::error::{bad, Result};

/// The field/value pairs of a zipmap, validated.
pub(crate) fn parse(zm: &[u8]) -> Result<Vec<(&[u8], &[u8])>> {
    let Some((&zmlen, mut rest)) = zm.split_first() else {
        return bad("empty zipmap");
    };
    let mut out = Vec::new();
    let len = |rest: &mut &[u8]| -> Result<usize> {
        match rest.first() {
            Some(&b) if b < 254 => {
                *rest = &rest[1..];
                Ok(b as usize)
            }
            Some(&254) if rest.len() >= 5 => {
                let n = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
                *rest = &rest[5..];
                Ok(n)
            }
            _ => bad("bad zipmap length"),
        }
    };
    loop {
        match rest.first() {
            Some(0xff) if rest.len() == 1 => break,
            Some(0xff) => return bad("zipmap terminator before the end"),
            None => return bad("zipmap without terminator"),
            _ => {}
        }
        let klen = len(&mut rest)?;
        let key = rest
            .get(..klen)
            .ok_or_else(|| crate::Error::BadData("zipmap key runs past the end".into()))?;
        rest = &rest[klen..];
        let vlen = len(&mut rest)?;
        let (&free, tail) = rest
            .split_first()
            .ok_or_else(|| crate::Error::BadData("zipmap free byte missing".into()))?;
        let total = vlen + free as usize;
        let value = tail
            .get(..vlen)
            .filter(|_| tail.len() >= total)
            .ok_or_else(|| crate::Error::BadData("zipmap value runs past the end".into()))?;
        rest = &tail[total..];
        out.push((key, value));
    }
    if zmlen < 254 && zmlen as usize != out.len() {
        return bad(format!(
            "zipmap declares {zmlen} pairs, holds {}",
            out.len()
        ));
    }
    Ok(out)
}
