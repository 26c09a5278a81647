//! Internal keys: a user key tagged with a sequence number and an entry kind.
//!
//! ```text
//! +------------------+-------------------------------------------+
//! | user key (n B)   | trailer: u64 big-endian of !(seq<<8|kind) |
//! +------------------+-------------------------------------------+
//! ```
//!
//! Internal keys order by user key ascending (bytewise), then by `(seq, kind)`
//! descending: the trailer is stored inverted and big-endian, so comparing trailers
//! bytewise gives the newest version first. Invariants:
//! 1. All versions of one user key are adjacent, newest first.
//! 2. `seq` is at most [`MAX_SEQ`] (56 bits).

use std::cmp::Ordering;

use crate::error::{Error, Result};

/// Largest sequence number (56 bits).
pub const MAX_SEQ: u64 = (1 << 56) - 1;

/// Length of the trailer appended to every user key.
pub const TRAILER: usize = 8;

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A point deletion (tombstone).
    Delete = 0,
    /// A value.
    Value = 1,
}

/// Kind byte used only in seek targets: sorts before every real kind at the same seq.
const SEEK_KIND: u64 = 0xff;

pub(crate) fn trailer(seq: u64, kind: u64) -> [u8; 8] {
    (!((seq << 8) | kind)).to_be_bytes()
}

/// Append the internal key for `(user_key, seq, kind)` to `dst`.
pub(crate) fn encode_into(dst: &mut Vec<u8>, user_key: &[u8], seq: u64, kind: Kind) {
    dst.extend_from_slice(user_key);
    dst.extend_from_slice(&trailer(seq, kind as u64));
}

pub(crate) fn encode(user_key: &[u8], seq: u64, kind: Kind) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TRAILER);
    encode_into(&mut v, user_key, seq, kind);
    v
}

/// The smallest internal key for `user_key` visible at `seq`: seeking to it lands on the
/// newest version with sequence number `<= seq`.
pub(crate) fn seek_key(user_key: &[u8], seq: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TRAILER);
    push_seek_key(&mut v, user_key, seq);
    v
}

/// [`first_of`] written into `out`, which is exactly `user_key.len() + TRAILER` long.
pub(crate) fn write_first_of(out: &mut [u8], user_key: &[u8]) {
    let (user, tail) = out.split_at_mut(user_key.len());
    user.copy_from_slice(user_key);
    tail.copy_from_slice(&trailer(MAX_SEQ, SEEK_KIND));
}

/// [`seek_key`] appended to `out`.
pub(crate) fn push_seek_key(out: &mut Vec<u8>, user_key: &[u8], seq: u64) {
    out.extend_from_slice(user_key);
    out.extend_from_slice(&trailer(seq, SEEK_KIND));
}

/// The key that sorts before every version of `user_key`.
pub(crate) fn first_of(user_key: &[u8]) -> Vec<u8> {
    seek_key(user_key, MAX_SEQ)
}

/// A decoded view of an internal key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parsed<'a> {
    pub user_key: &'a [u8],
    pub seq: u64,
    pub kind: Kind,
}

pub(crate) fn parse(ikey: &[u8]) -> Result<Parsed<'_>> {
    if ikey.len() < TRAILER {
        return Err(Error::corrupt("internal key shorter than its trailer"));
    }
    let (user_key, t) = ikey.split_at(ikey.len() - TRAILER);
    let mut a = [0u8; 8];
    a.copy_from_slice(t);
    let packed = !u64::from_be_bytes(a);
    let kind = match packed & 0xff {
        0 => Kind::Delete,
        1 => Kind::Value,
        k => return Err(Error::corrupt(format!("unknown entry kind {k}"))),
    };
    Ok(Parsed {
        user_key,
        seq: packed >> 8,
        kind,
    })
}

/// The user key of an internal key (the whole slice if it is too short to have a trailer).
pub(crate) fn user_key(ikey: &[u8]) -> &[u8] {
    &ikey[..ikey.len().saturating_sub(TRAILER)]
}

/// Compare two internal keys (see the module doc for the order).
pub(crate) fn compare(a: &[u8], b: &[u8]) -> Ordering {
    let (ua, ta) = a.split_at(a.len().saturating_sub(TRAILER));
    let (ub, tb) = b.split_at(b.len().saturating_sub(TRAILER));
    bytewise(ua, ub).then_with(|| bytewise(ta, tb))
}

/// [`compare`], and where the two keys' user keys first differ when that byte lies
/// inside both of them (None when one user key is a prefix of the other, or they are
/// equal).
pub(crate) fn compare_at(a: &[u8], b: &[u8]) -> (Ordering, Option<usize>) {
    let (ua, ta) = a.split_at(a.len().saturating_sub(TRAILER));
    let (ub, tb) = b.split_at(b.len().saturating_sub(TRAILER));
    let n = ua.len().min(ub.len());
    let i = match first_unequal_words(ua, ub) {
        Ok((i, x, y)) => {
            let at = i + (x ^ y).leading_zeros() as usize / 8;
            return (x.cmp(&y), Some(at));
        }
        Err(i) => i,
    };
    let (x, y) = (tail_u64(&ua[i..n]), tail_u64(&ub[i..n]));
    if x != y {
        let at = i + (x ^ y).leading_zeros() as usize / 8;
        return (x.cmp(&y), Some(at));
    }
    (ua.len().cmp(&ub.len()).then_with(|| bytewise(ta, tb)), None)
}

/// Bytewise (lexicographic) comparison, 8 bytes at a time.
///
/// NOTE: keys here are short (a Redis key plus a few header bytes); comparing big-endian
/// words inline beats a `memcmp` call, which dominated memtable inserts in profiles.
/// Big-endian makes word order equal byte order: `"ab.."` vs `"ac.."` compares the first
/// differing byte in the most significant position.
pub(crate) fn bytewise(a: &[u8], b: &[u8]) -> Ordering {
    match first_unequal_words(a, b) {
        Ok((_, x, y)) => x.cmp(&y),
        Err(i) => {
            let n = a.len().min(b.len());
            a[i..n].cmp(&b[i..n]).then(a.len().cmp(&b.len()))
        }
    }
}

/// The first whole 8-byte words at one offset where `a` and `b` differ, as big-endian
/// integers, with that offset; else (Err) the offset of the bytes after the shorter
/// one's last whole word.
#[inline(always)]
fn first_unequal_words(a: &[u8], b: &[u8]) -> std::result::Result<(usize, u64, u64), usize> {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let mut x = [0u8; 8];
        let mut y = [0u8; 8];
        x.copy_from_slice(&a[i..i + 8]);
        y.copy_from_slice(&b[i..i + 8]);
        let (x, y) = (u64::from_be_bytes(x), u64::from_be_bytes(y));
        if x != y {
            return Ok((i, x, y));
        }
        i += 8;
    }
    Err(i)
}

/// `bytes` (fewer than 8) big-endian in the high bytes of a u64, the rest zero.
#[inline]
fn tail_u64(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    debug_assert!(n < 8);
    let (mut v, mut at) = (0u64, 0);
    if n & 4 != 0 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&bytes[..4]);
        v = u64::from(u32::from_be_bytes(w));
        at = 4;
    }
    if n & 2 != 0 {
        let mut w = [0u8; 2];
        w.copy_from_slice(&bytes[at..at + 2]);
        v = (v << 16) | u64::from(u16::from_be_bytes(w));
        at += 2;
    }
    if n & 1 != 0 {
        v = (v << 8) | u64::from(bytes[at]);
    }
    if n == 0 {
        0
    } else {
        v << (8 * (8 - n))
    }
}

/// The big-endian u64 of the first 8 bytes of `bytes`, zero padded. For two byte
/// strings, a strictly smaller prefix means a strictly smaller string (a string that
/// ends early pads with zeros, which are no bigger than any byte of the other string);
/// equal prefixes say nothing.
pub(crate) fn prefix_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytewise_matches_slice_order() {
        let samples: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"ab",
            b"abcdefgh",
            b"abcdefgi",
            b"abcdefgh\x00",
            b"abcdefghij",
            b"b",
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x00\x00\x00\x00\x00\x00\x00\x00\x01",
        ];
        for a in &samples {
            for b in &samples {
                assert_eq!(bytewise(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
        // Every tail length (0..8 after whole words), differing at every position.
        let mut grown: Vec<Vec<u8>> = Vec::new();
        for len in 0..20u8 {
            let base: Vec<u8> = (0..len).map(|i| b'a' + i).collect();
            grown.push(base.clone());
            for at in 0..len as usize {
                for d in [0u8, 1, 0x7f, 0x80, 0xff] {
                    let mut k = base.clone();
                    k[at] = d;
                    grown.push(k);
                }
            }
        }
        for a in &grown {
            for b in &grown {
                assert_eq!(bytewise(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
        // compare_at: compare's order, and the first differing user-key byte when both
        // user keys have it.
        for a in &grown {
            for b in &grown {
                for (sa, sb) in [(5, 5), (5, 9)] {
                    let (ka, kb) = (encode(a, sa, Kind::Value), encode(b, sb, Kind::Value));
                    let (ord, at) = compare_at(&ka, &kb);
                    assert_eq!(ord, compare(&ka, &kb), "{a:?} vs {b:?}");
                    let first = a.iter().zip(b.iter()).position(|(x, y)| x != y);
                    assert_eq!(at, first, "{a:?} vs {b:?}");
                }
            }
        }
    }

    #[test]
    fn order_is_user_key_then_newest_first() {
        let a1 = encode(b"a", 1, Kind::Value);
        let a2 = encode(b"a", 2, Kind::Value);
        let a2d = encode(b"a", 2, Kind::Delete);
        let ab = encode(b"ab", 9, Kind::Value);
        assert_eq!(compare(&a2, &a1), Ordering::Less);
        assert_eq!(compare(&a2, &a2d), Ordering::Less);
        assert_eq!(compare(&a1, &ab), Ordering::Less);
        assert_eq!(compare(&seek_key(b"a", 1), &a1), Ordering::Less);
        assert_eq!(compare(&seek_key(b"a", 1), &a2), Ordering::Greater);
        let p = parse(&a2d).unwrap();
        assert_eq!((p.user_key, p.seq, p.kind), (&b"a"[..], 2, Kind::Delete));
        assert!(parse(b"short").is_err());
    }
}
