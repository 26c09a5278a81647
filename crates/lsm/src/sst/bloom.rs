//! Bloom filter over a table's user keys. Two layouts, told apart by the last byte:
//!
//! ```text
//! classic: bits (m bytes)        | k: u8          (k <= 30)
//! blocked: bits (64 * n bytes)   | 0x80 | k: u8   (k <= 30)
//! ```
//! `h = hash64(user key)`.
//!
//! **Classic** (tables written before the blocked layout): bit `i` of the filter is
//! `bits[i / 8] >> (i % 8) & 1`. A key's `k` probes are `h1 + j*h2 (mod m*8)` for
//! `j in 0..k`, where `h1 = h mod 2^32`, `h2 = h >> 32` (double hashing, as LevelDB).
//!
//! **Blocked** (what tables are written with): the bits form `n` blocks of 512 bits (one
//! 64-byte cache line). A key's block is `((h >> 32) * n) >> 32`; its `k` probes are in
//! that block: with `x = h mod 2^32`, repeat `k` times `x = x * 0x9E3779B9 (mod 2^32)`,
//! probe bit `x >> 23` of the block (bit `i` of a block is byte `i / 8`, bit `i % 8`). A
//! key whose table holds it costs one cache line instead of up to `k`.
//!
//! With 10 bits per key and k = 7 the false-positive rate is about 0.8% (classic) and
//! about 1.0% (blocked). A reader that meets a last byte it does not know (over 30 with
//! the high bit clear, or a blocked filter whose size is not whole blocks) answers
//! "may contain": a bad filter costs reads, never data.

/// 64-bit hash used by the filter (wyhash-style multiply-fold; stable across hosts).
pub fn hash64(data: &[u8]) -> u64 {
    const P0: u64 = 0xa076_1d64_78bd_642f;
    const P1: u64 = 0xe703_7ed1_a0b4_28db;
    fn mix(a: u64, b: u64) -> u64 {
        let r = u128::from(a) * u128::from(b);
        (r as u64) ^ ((r >> 64) as u64)
    }
    let mut h = mix(data.len() as u64 ^ P0, P1);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        h = mix(h ^ u64::from_le_bytes(a), P1);
    }
    let rem = chunks.remainder();
    if !rem.is_empty() {
        let mut a = [0u8; 8];
        a[..rem.len()].copy_from_slice(rem);
        h = mix(h ^ u64::from_le_bytes(a), P0);
    }
    mix(h, P0 ^ P1)
}

/// Marks the blocked layout in the last byte.
const BLOCKED: u8 = 0x80;
/// Bytes per block (one cache line).
const BLOCK_BYTES: usize = 64;

fn probes_for(bits_per_key: usize) -> u8 {
    ((bits_per_key as f64) * 0.69).round().clamp(1.0, 30.0) as u8
}

/// The block of hash `h` among `n` blocks.
fn block_of(h: u64, n: usize) -> usize {
    (((h >> 32) * n as u64) >> 32) as usize
}

/// Build a blocked filter for the keys whose hashes are given.
pub fn build(hashes: &[u64], bits_per_key: usize) -> Vec<u8> {
    let mut out = Vec::new();
    build_into(hashes, bits_per_key, &mut out);
    out
}

/// [`build`] into `out` (its bytes replaced; its allocation reused when large enough).
pub fn build_into(hashes: &[u64], bits_per_key: usize, out: &mut Vec<u8>) {
    let k = probes_for(bits_per_key);
    let blocks = (hashes.len() * bits_per_key)
        .div_ceil(BLOCK_BYTES * 8)
        .max(1);
    out.clear();
    out.resize(blocks * BLOCK_BYTES + 1, 0);
    for &h in hashes {
        let block = &mut out[block_of(h, blocks) * BLOCK_BYTES..][..BLOCK_BYTES];
        let mut x = h as u32;
        for _ in 0..k {
            x = x.wrapping_mul(0x9E37_79B9);
            let b = (x >> 23) as usize;
            block[b / 8] |= 1 << (b % 8);
        }
    }
    out[blocks * BLOCK_BYTES] = BLOCKED | k;
}

/// Build a filter in the classic layout (tables written before the blocked one; kept
/// so tests can check that such tables still read).
pub fn build_classic(hashes: &[u64], bits_per_key: usize) -> Vec<u8> {
    let k = probes_for(bits_per_key);
    let bits = (hashes.len() * bits_per_key).max(64);
    let bytes = bits.div_ceil(8);
    let bits = bytes * 8;
    let mut out = vec![0u8; bytes + 1];
    for &h in hashes {
        let (mut p, step) = (h as u32, (h >> 32) as u32);
        for _ in 0..k {
            let b = p as usize % bits;
            out[b / 8] |= 1 << (b % 8);
            p = p.wrapping_add(step);
        }
    }
    out[bytes] = k;
    out
}

/// Start loading the cache line [`may_contain`] will read for `h` (blocked filters
/// only), so that the probes of several tables wait for memory together instead of one
/// after the other. A hint: it reads nothing and changes nothing.
#[inline]
pub fn prefetch(filter: &[u8], h: u64) {
    if let Some((&last, bits)) = filter.split_last() {
        if let Some(block) = blocked_line(last, bits, h) {
            super::prefetch_line(block);
        }
    }
}

/// The 64-byte block of `h` in a blocked filter (`bits`, then the `last` byte); None
/// when the filter is not a well-formed blocked one.
#[inline]
fn blocked_line(last: u8, bits: &[u8], h: u64) -> Option<&[u8]> {
    if last & BLOCKED == 0 || bits.is_empty() || !bits.len().is_multiple_of(BLOCK_BYTES) {
        return None;
    }
    Some(&bits[block_of(h, bits.len() / BLOCK_BYTES) * BLOCK_BYTES..][..BLOCK_BYTES])
}

/// May the filter contain the key with hash `h`? (`true` for a malformed filter.)
pub fn may_contain(filter: &[u8], h: u64) -> bool {
    let Some((&last, bits)) = filter.split_last() else {
        return true;
    };
    let k = last & !BLOCKED;
    if bits.is_empty() || k > 30 {
        return true;
    }
    if last & BLOCKED != 0 {
        let Some(block) = blocked_line(last, bits, h) else {
            return true;
        };
        let mut x = h as u32;
        for _ in 0..k {
            x = x.wrapping_mul(0x9E37_79B9);
            let b = (x >> 23) as usize;
            if block[b / 8] & (1 << (b % 8)) == 0 {
                return false;
            }
        }
        return true;
    }
    let nbits = bits.len() * 8;
    let (mut p, step) = (h as u32, (h >> 32) as u32);
    for _ in 0..k {
        let b = p as usize % nbits;
        if bits[b / 8] & (1 << (b % 8)) == 0 {
            return false;
        }
        p = p.wrapping_add(step);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: [u64; 3] = [
        0x5b81_a68a_a25e_565a,
        0x90cd_7c9d_6742_99c6,
        0x38df_4052_d695_0fec,
    ];

    /// Filters on disk hold this function's bits: it must never change.
    #[test]
    fn hash64_keeps_the_values_filters_on_disk_were_built_with() {
        assert_eq!(hash64(b""), GOLDEN[0]);
        assert_eq!(hash64(b"k"), GOLDEN[1]);
        assert_eq!(hash64(b"0123456789abcdef!"), GOLDEN[2]);
    }

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let hashes: Vec<u64> = (0..10_000u32).map(|i| hash64(&i.to_le_bytes())).collect();
        for (layout, f) in [
            ("blocked", build(&hashes, 10)),
            ("classic", build_classic(&hashes, 10)),
        ] {
            assert!(hashes.iter().all(|&h| may_contain(&f, h)), "{layout}");
            let fp = (10_000..110_000u32)
                .filter(|i| may_contain(&f, hash64(&i.to_le_bytes())))
                .count();
            assert!(fp < 2_000, "{layout} false positives: {fp} of 100000");
        }
    }

    #[test]
    fn sixteen_bits_per_key_cut_false_positives_about_tenfold() {
        // The server's setting (docs/decisions.md): a key looked up while absent probes
        // every L0 file's filter, and each false positive costs a block read.
        let hashes: Vec<u64> = (0..100_000u32).map(|i| hash64(&i.to_le_bytes())).collect();
        let f = build(&hashes, 16);
        assert!(hashes.iter().all(|&h| may_contain(&f, h)));
        let fp = (100_000..1_100_000u32)
            .filter(|i| may_contain(&f, hash64(&i.to_le_bytes())))
            .count();
        eprintln!("16 bits per key, blocked: {fp} false positives of 1000000");
        assert!(fp < 2_000, "{fp} of 1000000");
    }

    #[test]
    fn tiny_and_malformed_filters() {
        // One key, no keys: still whole blocks, no false negative.
        let h = hash64(b"k");
        assert!(may_contain(&build(&[h], 10), h));
        assert_eq!(build(&[], 10).len(), 65);
        // Unknown or inconsistent trailers answer "may contain".
        assert!(may_contain(&[], h));
        assert!(may_contain(&[0u8; 10], h)); // classic, k = 0: no probe fails
        assert!(may_contain(&[0, 0, 0, 31], h));
        assert!(may_contain(&[0, 0, 0, BLOCKED | 7], h)); // blocked, not whole blocks
        let mut empty_blocks = vec![0u8; 65];
        empty_blocks[64] = BLOCKED | 7;
        assert!(!may_contain(&empty_blocks, h));
    }
}
