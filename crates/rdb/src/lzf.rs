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
