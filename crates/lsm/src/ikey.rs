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

/// Bytewise (lexicographic) comparison, 8 bytes at a time.
///
/// NOTE: keys here are short (a Redis key plus a few header bytes); comparing big-endian
/// words inline beats a `memcmp` call, which dominated memtable inserts in profiles.
/// Big-endian makes word order equal byte order: `"ab.."` vs `"ac.."` compares the first
/// differing byte in the most significant position.
pub(crate) fn bytewise(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let mut x = [0u8; 8];
        let mut y = [0u8; 8];
        x.copy_from_slice(&a[i..i + 8]);
        y.copy_from_slice(&b[i..i + 8]);
        let (x, y) = (u64::from_be_bytes(x), u64::from_be_bytes(y));
        if x != y {
            return x.cmp(&y);
        }
        i += 8;
    }
    a[i..n].cmp(&b[i..n]).then(a.len().cmp(&b.len()))
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
