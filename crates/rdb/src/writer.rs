//! Writing RDB primitives exactly as Redis 7.0 writes them.

use crate::lzf;

/// `rdbSaveLen`: the shortest of the 6/14/32/64-bit forms.
pub(crate) fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A canonical decimal integer as Redis's `string2ll` accepts it: no sign on zero, no
/// leading zeros, no spaces or plus sign, within i64.
pub(crate) fn canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let v: i64 = text.parse().ok()?;
    (v.to_string().as_bytes() == s).then_some(v)
}

/// `rdbSaveRawString`: integer encoding for canonical int32 text of at most 11 bytes,
/// else LZF when longer than 20 bytes and the result fits in `len - 4`, else raw.
pub(crate) fn put_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(v) = canonical_int(s) {
            if let Ok(v8) = i8::try_from(v) {
                out.extend_from_slice(&[0xc0, v8 as u8]);
                return;
            }
            if let Ok(v16) = i16::try_from(v) {
                out.push(0xc1);
                out.extend_from_slice(&v16.to_le_bytes());
                return;
            }
            if let Ok(v32) = i32::try_from(v) {
                out.push(0xc2);
                out.extend_from_slice(&v32.to_le_bytes());
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            out.push(0xc3);
            put_len(out, c.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// `%.17g`, as C's printf writes it.
pub fn format_g17(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.16e}", x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..17).contains(&exp) {
        let mut m = format!("{}.{}", &digits[..1], &digits[1..]);
        while m.ends_with('0') {
            m.pop();
        }
        if m.ends_with('.') {
            m.pop();
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    let mut s = if exp >= 0 {
        let int_len = exp as usize + 1;
        format!("{}.{}", &digits[..int_len], &digits[int_len..])
    } else {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    };
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    format!("{sign}{s}")
}

/// Redis 7.0's `d2string` for zset scores: an exact integer within ±2^62 as an integer,
/// otherwise `%.17g`.
pub(crate) fn score_text(x: f64) -> String {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if x.is_finite() && x != 0.0 && (-LIMIT..=LIMIT).contains(&x) && x.fract() == 0.0 {
        return (x as i64).to_string();
    }
    // Zero (and its sign) is left to `format_g17`, as `d2string` writes it.
    format_g17(x)
}

/// Bytes one element takes in a listpack (encoding, data and backlen).
pub(crate) fn listpack_entry_len(item: &[u8]) -> usize {
    let size = match canonical_int(item) {
        Some(v) if (0..=127).contains(&v) => 1,
        Some(v) if (-4096..=4095).contains(&v) => 2,
        Some(v) if i16::try_from(v).is_ok() => 3,
        Some(v) if (-8_388_608..=8_388_607).contains(&v) => 4,
        Some(v) if i32::try_from(v).is_ok() => 5,
        Some(_) => 9,
        None if item.len() < 64 => 1 + item.len(),
        None if item.len() < 4096 => 2 + item.len(),
        None => 5 + item.len(),
    };
    size + crate::listpack::backlen(size).len()
}

/// A listpack built by appending `items` in order (`lpNew` + `lpAppend`).
pub(crate) fn listpack<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut lp = vec![0u8; 6];
    let mut count = 0usize;
    for item in items {
        let start = lp.len();
        match canonical_int(item) {
            Some(v) if (0..=127).contains(&v) => lp.push(v as u8),
            Some(v) if (-4096..=4095).contains(&v) => {
                let u = (v as u16) & 0x1fff;
                lp.push(0xc0 | (u >> 8) as u8);
                lp.push(u as u8);
            }
            Some(v) if i16::try_from(v).is_ok() => {
                lp.push(0xf1);
                lp.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v) if (-8_388_608..=8_388_607).contains(&v) => {
                lp.push(0xf2);
                lp.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Some(v) if i32::try_from(v).is_ok() => {
                lp.push(0xf3);
                lp.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Some(v) => {
                lp.push(0xf4);
                lp.extend_from_slice(&v.to_le_bytes());
            }
            None if item.len() < 64 => {
                lp.push(0x80 | item.len() as u8);
                lp.extend_from_slice(item);
            }
            None if item.len() < 4096 => {
                lp.push(0xe0 | (item.len() >> 8) as u8);
                lp.push(item.len() as u8);
                lp.extend_from_slice(item);
            }
            None => {
                lp.push(0xf0);
                lp.extend_from_slice(&(item.len() as u32).to_le_bytes());
                lp.extend_from_slice(item);
            }
        }
        let size = lp.len() - start;
        lp.extend_from_slice(&crate::listpack::backlen(size));
        count += 1;
    }
    lp.push(0xff);
    let total = lp.len() as u32;
    lp[..4].copy_from_slice(&total.to_le_bytes());
    lp[4..6].copy_from_slice(&(count.min(65535) as u16).to_le_bytes());
    lp
}

/// A ziplist built by appending `items` in order (Redis ≤ 6.2's `ziplistPush`): text
/// that is a canonical integer takes the smallest integer encoding (0..=12 in the
/// encoding byte itself), other text a 6-bit, 14-bit (big-endian) or 32-bit length.
pub(crate) fn ziplist<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut zl = vec![0u8; 10];
    let (mut count, mut prev_len, mut tail) = (0usize, 0usize, 10usize);
    for item in items {
        let start = zl.len();
        if prev_len < 254 {
            zl.push(prev_len as u8);
        } else {
            zl.push(0xfe);
            zl.extend_from_slice(&(prev_len as u32).to_le_bytes());
        }
        match canonical_int(item) {
            Some(v) if (0..=12).contains(&v) => zl.push(0xf1 + v as u8),
            Some(v) if i8::try_from(v).is_ok() => zl.extend_from_slice(&[0xfe, v as u8]),
            Some(v) if i16::try_from(v).is_ok() => {
                zl.push(0xc0);
                zl.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v) if (-8_388_608..=8_388_607).contains(&v) => {
                zl.push(0xf0);
                zl.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Some(v) if i32::try_from(v).is_ok() => {
                zl.push(0xd0);
                zl.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Some(v) => {
                zl.push(0xe0);
                zl.extend_from_slice(&v.to_le_bytes());
            }
            None if item.len() < 64 => {
                zl.push(item.len() as u8);
                zl.extend_from_slice(item);
            }
            None if item.len() < 16384 => {
                zl.push(0x40 | (item.len() >> 8) as u8);
                zl.push(item.len() as u8);
                zl.extend_from_slice(item);
            }
            None => {
                zl.push(0x80);
                zl.extend_from_slice(&(item.len() as u32).to_be_bytes());
                zl.extend_from_slice(item);
            }
        }
        tail = start;
        prev_len = zl.len() - start;
        count += 1;
    }
    zl.push(0xff);
    let total = zl.len() as u32;
    zl[..4].copy_from_slice(&total.to_le_bytes());
    zl[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    zl[8..10].copy_from_slice(&(count.min(65535) as u16).to_le_bytes());
    zl
}

/// An intset of `values` (sorted here), in the smallest encoding that holds them all.
pub(crate) fn intset(values: &mut [i64]) -> Vec<u8> {
    values.sort_unstable();
    let enc: usize = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + enc * values.len());
    out.extend_from_slice(&(enc as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in values.iter() {
        out.extend_from_slice(&v.to_le_bytes()[..enc]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_matches_printf() {
        for (x, s) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (1e20, "1e+20"),
            (1e300, "1.0000000000000001e+300"),
            (5e-324, "4.9406564584124654e-324"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(format_g17(x), s, "{x}");
        }
    }
}
