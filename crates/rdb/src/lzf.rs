//! LZF decompression (the format of liblzf, which Redis uses for RDB strings).
//!
//! A compressed stream is a sequence of runs. Control byte `c`:
//! - `c < 32`: a literal run of `c + 1` bytes follows;
//! - otherwise a back reference: length `c >> 5` (7 means: add the next byte), plus 2;
//!   offset `((c & 0x1f) << 8 | next byte) + 1` back from the end of the output.
//!
//! The output size is known in advance (RDB stores it): decoding never grows the output
//! past it, so a hostile length field cannot make it allocate more than declared, and
//! the caller bounds the declared size.

use crate::error::{bad, Result};

/// Decompress `input` into exactly `out_len` bytes.
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let Some(lit) = input.get(i..i + n) else {
                return bad("LZF literal runs past the input");
            };
            if out.len() + n > out_len {
                return bad("LZF output longer than declared");
            }
            out.extend_from_slice(lit);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                let Some(&extra) = input.get(i) else {
                    return bad("LZF length byte missing");
                };
                len += extra as usize;
                i += 1;
            }
            len += 2;
            let Some(&lo) = input.get(i) else {
                return bad("LZF offset byte missing");
            };
            i += 1;
            let back = ((ctrl & 0x1f) << 8 | lo as usize) + 1;
            if back > out.len() {
                return bad("LZF back reference before the start");
            }
            if out.len() + len > out_len {
                return bad("LZF output longer than declared");
            }
            let start = out.len() - back;
            // Overlapping copies repeat bytes, so copy one at a time.
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    if out.len() != out_len {
        return bad("LZF output shorter than declared");
    }
    Ok(out)
}

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// Append one literal byte, closing the run when it reaches 32 bytes.
fn push_literal(out: &mut [u8], op: &mut usize, lit: &mut usize, byte: u8) {
    out[*op] = byte;
    *op += 1;
    *lit += 1;
    if *lit == MAX_LIT {
        out[*op - *lit - 1] = (*lit - 1) as u8;
        *lit = 0;
        *op += 1;
    }
}

/// liblzf's hash of the three bytes accumulated in `h` (VERY_FAST variant, HLOG 16).
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Compress `input` into at most `out_len` bytes, producing the same bytes as the
/// liblzf 3.6 build inside Redis (HLOG 16, VERY_FAST, the table starting empty);
/// `None` when the result would not fit, as `lzf_compress` returns 0.
///
/// Written from the format and liblzf's parameters: a hash table of the last position
/// of each 3-byte prefix, a match needs 3 equal bytes, an offset below 8 KiB and a
/// candidate after the first input byte; matches are extended up to 264 bytes; after a
/// match the two positions before its end are hashed. (Older liblzf releases also
/// required 5 bytes left before a match; Redis's does not, which changes the last
/// bytes of some outputs.)
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let n = input.len();
    if n == 0 || out_len == 0 {
        return None;
    }
    let mut htab = vec![usize::MAX; HSIZE];
    // Two bytes of slack: the checks below keep every write under `out_len` + 2 and the
    // final length is checked against `out_len`.
    let mut out = vec![0u8; out_len + 2];
    let (mut ip, mut op, mut lit) = (0usize, 1usize, 0usize);
    let mut hval: u32 = if n >= 2 {
        u32::from(input[0]) << 8 | u32::from(input[1])
    } else {
        0
    };
    while ip + 2 < n {
        hval = hval << 8 | u32::from(input[ip + 2]);
        let slot = idx(hval);
        let r = htab[slot];
        htab[slot] = ip;
        let is_match = r != usize::MAX
            && r < ip
            && ip - r - 1 < MAX_OFF
            && r > 0
            && input[r] == input[ip]
            && input[r + 1] == input[ip + 1]
            && input[r + 2] == input[ip + 2];
        if is_match {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (n - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_len && op - usize::from(lit == 0) + 3 + 1 >= out_len {
                return None;
            }
            // Close the literal run (or take back its unused header byte).
            out[op - lit - 1] = (lit as u8).wrapping_sub(1);
            if lit == 0 {
                op -= 1;
            }
            'extend: {
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[r + len] != input[ip + len] {
                            break 'extend;
                        }
                    }
                }
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2;
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 2; // the offset byte, then the header of the next literal run
            lit = 0;
            ip += len + 1;
            if ip + 2 >= n {
                break;
            }
            ip -= 2;
            hval = u32::from(input[ip]) << 8 | u32::from(input[ip + 1]);
            hval = hval << 8 | u32::from(input[ip + 2]);
            htab[idx(hval)] = ip;
            ip += 1;
            hval = hval << 8 | u32::from(input[ip + 2]);
            htab[idx(hval)] = ip;
            ip += 1;
        } else {
            if op >= out_len {
                return None;
            }
            push_literal(&mut out, &mut op, &mut lit, input[ip]);
            ip += 1;
        }
    }
    if op + 3 > out_len {
        return None;
    }
    while ip < n {
        push_literal(&mut out, &mut op, &mut lit, input[ip]);
        ip += 1;
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    if lit == 0 {
        op -= 1;
    }
    if op > out_len {
        return None;
    }
    out.truncate(op);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_known_vector() {
        // Redis's DUMP of 'a' * 21 holds c3 06 15 01 61 61 e0 00 01 ... (corpus str_lzf_a21).
        let a21 = vec![b'a'; 21];
        let c = compress(&a21, 17).unwrap();
        assert_eq!(decompress(&c, 21).unwrap(), a21);
        for len in [21usize, 100, 1000, 5000, 70_000] {
            let text: Vec<u8> = (0..len)
                .map(|i| b"the quick brown fox "[i % 20] ^ (i / 997) as u8)
                .collect();
            if let Some(c) = compress(&text, len - 4) {
                assert_eq!(decompress(&c, len).unwrap(), text, "len {len}");
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let random: Vec<u8> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        assert!(compress(&random, 996).is_none());
    }
}
