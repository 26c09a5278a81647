//! Bloom filter over a table's user keys.
//!
//! ```text
//! bits (m bytes) | k: u8
//! ```
//! Bit `i` of the filter is `bits[i / 8] >> (i % 8) & 1`. A key's `k` probes are
//! `h1 + j*h2 (mod m*8)` for `j in 0..k`, where `h = hash64(key)`, `h1 = h mod 2^32`,
//! `h2 = h >> 32` (double hashing, as LevelDB). With 10 bits per key and k = 7 the
//! false-positive rate is about 1%.

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

/// Build a filter for the keys whose hashes are given.
pub fn build(hashes: &[u64], bits_per_key: usize) -> Vec<u8> {
    let k = ((bits_per_key as f64) * 0.69).round().clamp(1.0, 30.0) as u8;
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

/// May the filter contain the key with hash `h`? (`true` for a malformed filter.)
pub fn may_contain(filter: &[u8], h: u64) -> bool {
    let Some((&k, bits)) = filter.split_last() else {
        return true;
    };
    if bits.is_empty() || k > 30 {
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

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let hashes: Vec<u64> = (0..10_000u32).map(|i| hash64(&i.to_le_bytes())).collect();
        let f = build(&hashes, 10);
        assert!(hashes.iter().all(|&h| may_contain(&f, h)));
        let fp = (10_000..110_000u32)
            .filter(|i| may_contain(&f, hash64(&i.to_le_bytes())))
            .count();
        assert!(fp < 2_000, "false positives: {fp} of 100000");
    }
}
