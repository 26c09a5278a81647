//! HyperLogLog in Redis's own string representation (`docs/hyperloglog.md`), so that
//! an HLL made here is byte for byte the string Redis 7.0 makes from the same commands,
//! and the other way round (DUMP/RESTORE, GET/SET and MIGRATE carry it unchanged).
//!
//! A value is a 16-byte header (`HYLL`, the encoding, three unused bytes, the cached
//! cardinality as 8 little-endian bytes whose top bit marks it stale) followed by
//! 16,384 registers, either *dense* (6 bits each, packed from the low bit up) or
//! *sparse* (run-length opcodes ZERO, XZERO and VAL). Every function here takes
//! untrusted bytes: a malformed value gives [`Corrupt`], never a panic, and work is
//! linear in its length.

/// Header length.
pub const HDR: usize = 16;
/// Index bits.
const P: u32 = 14;
/// Hash bits left after the index.
const Q: usize = 64 - P as usize;
/// Registers.
pub const REGISTERS: usize = 1 << P;
/// Length of a dense value.
pub const DENSE_LEN: usize = HDR + REGISTERS * 6 / 8;
/// Encoding byte of a dense value.
const DENSE: u8 = 0;
/// Encoding byte of a sparse value.
const SPARSE: u8 = 1;
/// Largest register value a sparse VAL opcode holds.
const VAL_MAX_VALUE: u8 = 32;
/// Longest run of a VAL opcode.
const VAL_MAX_LEN: usize = 4;
/// Longest run of a ZERO opcode (longer ones are XZERO).
const ZERO_MAX_LEN: usize = 64;
/// Longest run of an XZERO opcode.
const XZERO_MAX_LEN: usize = 16384;
/// The estimator's constant, 1/(2 ln 2).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
/// Seed of the element hash.
const SEED: u64 = 0xadc8_3b19;

/// A value with the HLL magic whose registers do not add up (Redis's
/// `-INVALIDOBJ Corrupted HLL object detected`).
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Is `v` an HLL as Redis checks one before using it: long enough for the header, the
/// magic, a known encoding, and exactly [`DENSE_LEN`] bytes when dense.
pub fn is_hll(v: &[u8]) -> bool {
    v.len() >= HDR
        && &v[..4] == b"HYLL"
        && v[4] <= SPARSE
        && (v[4] != DENSE || v.len() == DENSE_LEN)
}

/// Is the (valid) HLL `v` sparse?
pub fn is_sparse(v: &[u8]) -> bool {
    v[4] == SPARSE
}

/// A new, empty HLL: sparse, one XZERO covering every register, cached count 0.
pub fn new_sparse() -> Vec<u8> {
    let mut v = vec![0u8; HDR];
    v[..4].copy_from_slice(b"HYLL");
    v[4] = SPARSE;
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(XZERO_MAX_LEN);
        push_zero_run(&mut v, run);
        left -= run;
    }
    v
}

/// MurmurHash64A, reading the key as little-endian words whatever the host.
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut words = key.chunks_exact(8);
    for w in &mut words {
        let mut k = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and the value it offers there: one more than the
/// number of zero bits above the index bits of its hash (at most `Q + 1`).
pub fn register_of(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Dense register `i` of the register bytes `regs` (a byte past the end reads as 0,
/// as the string terminator does in Redis).
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * 6;
    let (byte, shift) = (bit / 8, bit % 8);
    let b0 = u32::from(regs.get(byte).copied().unwrap_or(0));
    let b1 = u32::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> shift) | (b1 << (8 - shift))) & 63) as u8
}

/// Set dense register `i` to `val` (< 64).
fn dense_put(regs: &mut [u8], i: usize, val: u8) {
    let bit = i * 6;
    let (byte, shift) = (bit / 8, bit % 8);
    let val = u32::from(val);
    if let Some(b) = regs.get_mut(byte) {
        *b = (u32::from(*b) & !(63u32 << shift) | (val << shift)) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        *b = (u32::from(*b) & !(63u32 >> (8 - shift)) | (val >> (8 - shift))) as u8;
    }
}

/// Raise dense register `i` to `val` if it is lower; true if it changed.
fn dense_raise(regs: &mut [u8], i: usize, val: u8) -> bool {
    if val > dense_get(regs, i) {
        dense_put(regs, i, val);
        true
    } else {
        false
    }
}

/// One sparse opcode.
#[derive(Clone, Copy)]
enum Op {
    /// A run of zero registers (ZERO or XZERO).
    Zeros(usize),
    /// A run of registers of one value.
    Val(u8, usize),
}

/// The opcode at `p` and its length in bytes. An XZERO cut short by the end of the
/// value reads its second byte as 0, as Redis reads the string terminator there.
fn op_at(v: &[u8], p: usize) -> (Op, usize) {
    let b = v[p];
    match b & 0xc0 {
        0x00 => (Op::Zeros(usize::from(b & 0x3f) + 1), 1),
        0x40 => {
            let lo = usize::from(v.get(p + 1).copied().unwrap_or(0));
            (Op::Zeros((usize::from(b & 0x3f) << 8 | lo) + 1), 2)
        }
        _ => (Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 3) + 1), 1),
    }
}

impl Op {
    fn len(self) -> usize {
        match self {
            Op::Zeros(n) | Op::Val(_, n) => n,
        }
    }
}

/// The VAL opcode byte for `len` (1..=4) registers of `val` (1..=32).
fn val_op(val: u8, len: usize) -> u8 {
    0x80 | (val - 1) << 2 | (len - 1) as u8
}

/// Append the opcode for a run of `len` (1..=16384) zero registers: ZERO up to 64,
/// XZERO above.
fn push_zero_run(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        out.push(0x40 | (l >> 8) as u8);
        out.push((l & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

/// Mark the cached cardinality stale.
pub fn invalidate(v: &mut [u8]) {
    v[15] |= 0x80;
}

/// The cached cardinality, if it is not stale.
pub fn cached(v: &[u8]) -> Option<u64> {
    (v[15] & 0x80 == 0).then(|| u64::from_le_bytes(v[8..16].try_into().unwrap_or_default()))
}

/// Store `card` as the cached cardinality.
pub fn set_cached(v: &mut [u8], card: u64) {
    v[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Add `element`; true if a register changed. A sparse value becomes dense when a
/// register needs more than 32 or when it would grow past `sparse_max` bytes.
pub fn add(v: &mut Vec<u8>, element: &[u8], sparse_max: u64) -> Result<bool, Corrupt> {
    let (index, count) = register_of(element);
    set(v, index, count, sparse_max)
}

/// Raise register `index` to `count` in the (valid) HLL `v`; true if it changed.
pub fn set(v: &mut Vec<u8>, index: usize, count: u8, sparse_max: u64) -> Result<bool, Corrupt> {
    if v[4] == DENSE {
        return Ok(dense_raise(&mut v[HDR..], index, count));
    }
    sparse_set(v, index, count, sparse_max)
}

fn sparse_set(v: &mut Vec<u8>, index: usize, count: u8, sparse_max: u64) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    // Find the opcode covering `index`: it starts at `p` and register `first`.
    let end = v.len();
    let (mut p, mut first, mut prev) = (HDR, 0usize, None);
    let mut found = None;
    while p < end {
        let (op, oplen) = op_at(v, p);
        if index < first + op.len() {
            found = Some((op, oplen));
            break;
        }
        prev = Some(p);
        p += oplen;
        first += op.len();
    }
    let Some((op, oplen)) = found else {
        return Err(Corrupt);
    };
    let next = (p + oplen < end).then_some(p + oplen);
    match op {
        Op::Val(old, _) if old >= count => return Ok(false),
        // A register of its own: rewrite the opcode in place.
        Op::Val(_, 1) | Op::Zeros(1) if oplen == 1 => v[p] = val_op(count, 1),
        _ => {
            // Split the run into (before, the register, after).
            let last = first + op.len() - 1;
            let mut seq = Vec::with_capacity(5);
            match op {
                Op::Zeros(_) => {
                    if index != first {
                        push_zero_run(&mut seq, index - first);
                    }
                    seq.push(val_op(count, 1));
                    if index != last {
                        push_zero_run(&mut seq, last - index);
                    }
                }
                Op::Val(cur, _) => {
                    if index != first {
                        seq.push(val_op(cur, index - first));
                    }
                    seq.push(val_op(count, 1));
                    if index != last {
                        seq.push(val_op(cur, last - index));
                    }
                }
            }
            let new_len = (end + seq.len()).saturating_sub(oplen);
            if seq.len() > oplen && new_len as u64 > sparse_max {
                return promote(v, index, count);
            }
            v.splice(p..next.unwrap_or(end), seq);
            // An XZERO cut short by the end loses what would lie past the new length.
            v.truncate(new_len);
        }
    }
    merge_vals(v, prev.unwrap_or(HDR));
    invalidate(v);
    Ok(true)
}

/// Join adjacent VAL opcodes of one value whose runs fit one opcode, looking at up to
/// five opcodes from `p` (the opcode before the one just changed), as Redis does: the
/// sparse bytes then match Redis's exactly.
fn merge_vals(v: &mut Vec<u8>, mut p: usize) {
    let mut budget = 5;
    while p < v.len() && budget > 0 {
        budget -= 1;
        let b = v[p];
        if b & 0xc0 == 0x40 {
            p += 2;
            continue;
        }
        if b & 0xc0 == 0 {
            p += 1;
            continue;
        }
        if let Some(&n) = v.get(p + 1) {
            let (v1, l1) = (b >> 2 & 0x1f, usize::from(b & 3) + 1);
            let (v2, l2) = (n >> 2 & 0x1f, usize::from(n & 3) + 1);
            if n & 0x80 != 0 && v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                v[p + 1] = val_op(v1 + 1, l1 + l2);
                v.remove(p);
                continue;
            }
        }
        p += 1;
    }
}

/// Make the sparse `v` dense, then raise register `index` to `count`.
fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(v)?;
    dense_raise(&mut v[HDR..], index, count);
    Ok(true)
}

/// Walk the sparse opcodes of `v`, calling `run(first, len, value)` for each VAL run
/// that fits; the number of registers covered, or `None` when a VAL run would pass
/// the last register (where Redis stops).
fn walk_vals(v: &[u8], mut run: impl FnMut(usize, usize, u8)) -> Option<usize> {
    let (mut p, mut idx) = (HDR, 0usize);
    while p < v.len() {
        let (op, oplen) = op_at(v, p);
        match op {
            Op::Zeros(n) => idx += n,
            Op::Val(val, n) => {
                if idx + n > REGISTERS {
                    return None;
                }
                run(idx, n, val);
                idx += n;
            }
        }
        p += oplen;
    }
    Some(idx)
}

/// Convert a sparse `v` to dense (header kept, cached value included); false if it
/// was dense already.
pub fn to_dense(v: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if v[4] == DENSE {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_LEN];
    dense[..HDR].copy_from_slice(&v[..HDR]);
    dense[4] = DENSE;
    let regs = &mut dense[HDR..];
    let covered = walk_vals(v, |first, n, val| {
        for i in first..first + n {
            dense_put(regs, i, val);
        }
    });
    if covered != Some(REGISTERS) {
        return Err(Corrupt);
    }
    *v = dense;
    Ok(true)
}

/// Raise each of `max`'s registers to the (valid) HLL `v`'s.
pub fn merge_into(max: &mut [u8], v: &[u8]) -> Result<(), Corrupt> {
    if v[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            *m = (*m).max(dense_get(&v[HDR..], i));
        }
        return Ok(());
    }
    let covered = walk_vals(v, |first, n, val| {
        for m in &mut max[first..first + n] {
            *m = (*m).max(val);
        }
    });
    if covered == Some(REGISTERS) {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// The estimated cardinality of the (valid) HLL `v`.
pub fn count(v: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u64; 64];
    if v[4] == DENSE {
        for i in 0..REGISTERS {
            histo[usize::from(dense_get(&v[HDR..], i))] += 1;
        }
    } else {
        // Every opcode counts, as in Redis; only the total must come out right.
        let (mut p, mut idx) = (HDR, 0usize);
        while p < v.len() {
            let (op, oplen) = op_at(v, p);
            match op {
                Op::Zeros(n) => histo[0] += n as u64,
                Op::Val(val, n) => histo[usize::from(val)] += n as u64,
            }
            idx = idx.saturating_add(op.len());
            p += oplen;
        }
        if idx != REGISTERS {
            return Err(Corrupt);
        }
    }
    Ok(estimate(&histo))
}

/// The estimated cardinality of registers one per byte (PFCOUNT of several keys).
pub fn count_registers(regs: &[u8]) -> u64 {
    let mut histo = [0u64; 64];
    for &r in regs {
        histo[usize::from(r & 63)] += 1;
    }
    estimate(&histo)
}

/// Ertl's estimator ("New cardinality estimation algorithms for HyperLogLog
/// sketches", 2017) from the histogram of register values, with Redis's order of
/// floating-point operations so the results agree to the unit.
fn estimate(histo: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    let e = (ALPHA_INF * m * m / z).round();
    // Redis's llroundl gives LLONG_MIN for what does not fit (or is not finite).
    if e.is_finite() && e < 9_223_372_036_854_775_808.0 {
        e as u64
    } else {
        i64::MIN as u64
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// PFDEBUG DECODE's text for a sparse `v`: `z:N`, `Z:N` and `v:value,len`.
pub fn decode_sparse(v: &[u8]) -> String {
    let mut out = String::new();
    let mut p = HDR;
    while p < v.len() {
        let (op, oplen) = op_at(v, p);
        let item = match op {
            Op::Zeros(n) if oplen == 1 => format!("z:{n}"),
            Op::Zeros(n) => format!("Z:{n}"),
            Op::Val(val, n) => format!("v:{val},{n}"),
        };
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&item);
        p += oplen;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sparse_with(elements: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
        let mut v = new_sparse();
        for e in elements {
            add(&mut v, &e, 3000).unwrap();
        }
        v
    }

    #[test]
    fn empty_hll_is_redis_bytes() {
        // Redis 7.0.15: PFADD k; GET k.
        let mut want = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        want.extend_from_slice(&[0x7f, 0xff]);
        assert_eq!(new_sparse(), want);
        assert_eq!(count(&want), Ok(0));
        assert_eq!(cached(&want), Some(0));
    }

    #[test]
    fn murmur_matches_the_reference_and_pattern_lengths_are_bounded() {
        // Byte-equality with Redis's HLLs (tests/hyperloglog.rs) checks the hash itself.
        assert_eq!(murmur64a(b"", 0), 0);
        for i in 0..10_000u32 {
            let (idx, count) = register_of(&i.to_le_bytes());
            assert!(idx < REGISTERS && (1..=(Q + 1) as u8).contains(&count));
        }
    }

    #[test]
    fn dense_registers_hold_what_is_put_without_touching_neighbours() {
        let mut regs = vec![0u8; DENSE_LEN - HDR];
        let mut want = vec![0u8; REGISTERS];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..5 {
            for (i, w) in want.iter_mut().enumerate() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *w = (x & 63) as u8;
                dense_put(&mut regs, i, *w);
            }
            for (i, w) in want.iter().enumerate() {
                assert_eq!(dense_get(&regs, i), *w, "register {i}");
            }
        }
    }

    #[test]
    fn sparse_and_dense_agree_and_stay_within_the_error_bound() {
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        to_dense(&mut dense).unwrap();
        let mut checkpoint = 1u64;
        for j in 1..=200_000u64 {
            let e = (j ^ 0x5DEE_CE66).to_le_bytes();
            add(&mut sparse, &e, 3000).unwrap();
            add(&mut dense, &e, 3000).unwrap();
            if j == checkpoint {
                let (a, b) = (count(&sparse).unwrap(), count(&dense).unwrap());
                assert_eq!(a, b, "at {j}");
                let err = (a as f64 - j as f64).abs();
                assert!(
                    err <= (1.04 / 128.0 * 6.0 * j as f64).ceil().max(1.0),
                    "{j}: {a}"
                );
                checkpoint *= 10;
            }
        }
        assert!(!is_sparse(&sparse), "200k elements promote the sparse form");
    }

    #[test]
    fn sparse_converts_to_the_same_registers() {
        let v = sparse_with((0..500u32).map(|i| format!("e{i}").into_bytes()));
        assert!(is_sparse(&v) && is_hll(&v));
        let mut d = v.clone();
        assert_eq!(to_dense(&mut d), Ok(true));
        assert_eq!(d.len(), DENSE_LEN);
        let mut max = vec![0u8; REGISTERS];
        merge_into(&mut max, &v).unwrap();
        for (i, m) in max.iter().enumerate() {
            assert_eq!(dense_get(&d[HDR..], i), *m);
        }
        assert_eq!(count(&v), count(&d));
        assert_eq!(count(&v).unwrap(), count_registers(&max));
    }

    #[test]
    fn malformed_sparse_values_are_corrupt_not_panics() {
        let mut short = new_sparse();
        short.pop(); // an XZERO cut short
        assert_eq!(count(&short), Err(Corrupt));
        let mut v = new_sparse();
        v.extend_from_slice(&[0xff; 10]); // too many registers
        assert_eq!(count(&v), Err(Corrupt));
        assert_eq!(to_dense(&mut v.clone()), Err(Corrupt));
        assert_eq!(merge_into(&mut [0u8; REGISTERS], &v), Err(Corrupt));
        let mut header_only = new_sparse();
        header_only.truncate(HDR);
        assert_eq!(add(&mut header_only, b"x", 3000), Err(Corrupt));
        for n in 0..64usize {
            let mut v = new_sparse();
            v.truncate(HDR);
            v.extend((0..n).map(|i| (i * 37 % 256) as u8));
            let _ = count(&v);
            let _ = add(&mut v.clone(), b"a", 3000);
            let _ = decode_sparse(&v);
        }
    }
}
