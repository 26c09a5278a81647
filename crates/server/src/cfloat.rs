//! C's floating-point conversions as Redis 7.0 on x86-64 Linux uses them: `strtod` and
//! `strtold` parsing (decimal, hexadecimal, `inf`, `nan`, with `ERANGE` on overflow and
//! underflow), the 80-bit x87 `long double` addition of INCRBYFLOAT / HINCRBYFLOAT, and
//! their `printf("%.17Lf")` output with trailing zeros removed.
//!
//! Why not Rust's `f64`: INCRBYFLOAT adds in 64-bit significands and prints 17 decimals,
//! so `0.1 + 0.2` reads back as `0.3` from Redis, not `0.30000000000000004`; and Redis
//! accepts `0x1p-3`, `1e400` (a finite long double), and refuses `1e-400` as a double
//! (it underflows to zero). Conversions are correctly rounded (round half to even), as
//! glibc's are. Everything here works on bounded data: a decimal `long double` is parsed
//! only through [`string2ld`], which refuses inputs of 5,120 bytes or more as Redis does,
//! and a double's decimal digits go to Rust's parser (linear in their number).

use std::cmp::Ordering;

/// A binary floating-point format.
#[derive(Clone, Copy)]
struct Format {
    /// Significand bits, the leading one included.
    bits: u32,
    /// Exponent of the last bit of the smallest subnormal.
    min_lsb: i64,
    /// Largest exponent of the leading bit.
    max_lead: i64,
}

const DOUBLE: Format = Format {
    bits: 53,
    min_lsb: -1074,
    max_lead: 1023,
};

/// The x87 extended format: `long double` on x86-64.
const EXTENDED: Format = Format {
    bits: 64,
    min_lsb: -16445,
    max_lead: 16383,
};

/// Redis's `MAX_LONG_DOUBLE_CHARS`: `string2ld` refuses inputs this long or longer.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// An x87 `long double`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LongDouble {
    /// `(-1)^neg * mant * 2^exp`; `mant == 0` is a (signed) zero.
    Finite {
        neg: bool,
        mant: u64,
        exp: i64,
    },
    Inf {
        neg: bool,
    },
    Nan,
}

impl LongDouble {
    /// The exact value of an integer.
    pub fn from_i64(v: i64) -> Self {
        LongDouble::Finite {
            neg: v < 0,
            mant: v.unsigned_abs(),
            exp: 0,
        }
    }

    pub fn is_finite(&self) -> bool {
        matches!(self, LongDouble::Finite { .. })
    }

    /// Above zero (positive infinity included).
    pub fn is_positive(&self) -> bool {
        matches!(
            self,
            LongDouble::Finite {
                neg: false,
                mant: 1..,
                ..
            } | LongDouble::Inf { neg: false }
        )
    }

    /// `self + other`, rounded to the extended format as the x87 unit does.
    pub fn plus(self, other: LongDouble) -> LongDouble {
        use LongDouble::*;
        match (self, other) {
            (Nan, _) | (_, Nan) => Nan,
            (Inf { neg: a }, Inf { neg: b }) => {
                if a == b {
                    Inf { neg: a }
                } else {
                    Nan
                }
            }
            (Inf { neg }, _) | (_, Inf { neg }) => Inf { neg },
            (
                Finite {
                    neg: an,
                    mant: am,
                    exp: ae,
                },
                Finite {
                    neg: bn,
                    mant: bm,
                    exp: be,
                },
            ) => {
                if am == 0 && bm == 0 {
                    return Finite {
                        neg: an && bn,
                        mant: 0,
                        exp: 0,
                    };
                }
                if am == 0 {
                    return other;
                }
                if bm == 0 {
                    return self;
                }
                // Exact on a common scale (the exponents of finite values lie within
                // about 33,000 of each other), then rounded once.
                let e = ae.min(be);
                let a = Big::from_u128(am as u128).shl((ae - e) as u64);
                let b = Big::from_u128(bm as u128).shl((be - e) as u64);
                let (n, neg) = if an == bn {
                    (a.add(&b), an)
                } else {
                    match a.cmp(&b) {
                        Ordering::Greater => (a.sub(&b), an),
                        Ordering::Less => (b.sub(&a), bn),
                        Ordering::Equal => {
                            return Finite {
                                neg: false,
                                mant: 0,
                                exp: 0,
                            }
                        }
                    }
                };
                let (q, e2, sticky) = n.top(e);
                round(neg, q, e2, sticky, EXTENDED).0
            }
        }
    }

    /// The value as the nearest double.
    pub fn to_f64(self) -> f64 {
        match self {
            LongDouble::Nan => f64::NAN,
            LongDouble::Inf { neg } => signed(neg, f64::INFINITY),
            LongDouble::Finite { neg, mant, exp } => {
                if mant == 0 {
                    return signed(neg, 0.0);
                }
                to_f64(round(neg, mant as u128, exp, false, DOUBLE).0)
            }
        }
    }

    /// Redis's `ld2string(..., LD_STR_HUMAN)`: `%.17Lf`, trailing zeros (and a bare
    /// point) removed, `-0` written `0`; infinities `inf` / `-inf`.
    pub fn to_human(self) -> String {
        let (neg, mant, exp) = match self {
            LongDouble::Nan => return "nan".into(),
            LongDouble::Inf { neg } => return if neg { "-inf" } else { "inf" }.into(),
            LongDouble::Finite { neg, mant, exp } => (neg, mant, exp),
        };
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        if exp >= 0 {
            out.push_str(&Big::from_u128(mant as u128).shl(exp as u64).to_decimal());
        } else {
            const SCALE: u128 = 100_000_000_000_000_000; // 10^17
            let s = (-exp) as u64;
            let (mut int, frac) = if s >= 64 {
                (0u128, mant as u128)
            } else {
                ((mant >> s) as u128, (mant & ((1u64 << s) - 1)) as u128)
            };
            // frac < 2^64 and 10^17 < 2^57: the product fits.
            let prod = frac * SCALE;
            let mut q = if s >= 128 {
                0 // prod < 2^121 <= half a unit: rounds down
            } else {
                let q = prod >> s;
                let rem = prod & ((1u128 << s) - 1);
                let half = 1u128 << (s - 1);
                if rem > half || (rem == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            };
            if q == SCALE {
                int += 1;
                q = 0;
            }
            out.push_str(&format!("{int}.{q:017}"));
            let trimmed = out.trim_end_matches('0').trim_end_matches('.').len();
            out.truncate(trimmed);
        }
        if out == "-0" {
            out = "0".into();
        }
        out
    }
}

fn signed(neg: bool, v: f64) -> f64 {
    if neg {
        -v
    } else {
        v
    }
}

/// A rounded finite value as a double (its significand has at most 53 bits and its
/// exponent is in the double's range).
fn to_f64(v: LongDouble) -> f64 {
    match v {
        LongDouble::Finite { neg, mant, exp } => {
            if mant == 0 {
                return signed(neg, 0.0);
            }
            // mant * 2^exp exactly: scale by powers of two that are themselves doubles.
            let mut x = mant as f64;
            let mut e = exp;
            while e > 0 {
                let step = e.min(1000);
                x *= pow2(step);
                e -= step;
            }
            while e < 0 {
                // Two steps at most keep every intermediate exact: the first brings the
                // value to the normal range's bottom at worst, the last is exact because
                // the result is representable.
                let step = (-e).min(1000);
                x *= pow2(-step);
                e += step;
            }
            signed(neg, x)
        }
        LongDouble::Inf { neg } => signed(neg, f64::INFINITY),
        LongDouble::Nan => f64::NAN,
    }
}

/// 2^e for -1022 <= e <= 1023.
fn pow2(e: i64) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// Rounds `(q + f) * 2^e2` (with `0 <= f < 1`, nonzero iff `sticky`) to `fmt`, half to
/// even. Returns the value and whether C would set `ERANGE` (the result overflowed to
/// infinity or a nonzero value rounded to zero).
fn round(neg: bool, q: u128, e2: i64, sticky: bool, fmt: Format) -> (LongDouble, bool) {
    let zero = LongDouble::Finite {
        neg,
        mant: 0,
        exp: 0,
    };
    if q == 0 {
        return (zero, sticky);
    }
    let b = (128 - q.leading_zeros()) as i64;
    let lead = e2 + b - 1;
    let mut lsb = (lead - (fmt.bits as i64 - 1)).max(fmt.min_lsb);
    let shift = lsb - e2;
    let mut m: u128 = if shift <= 0 {
        // Fewer bits than the format holds; callers keep more than that whenever
        // `sticky` is set, so nothing is lost here.
        q << (-shift) as u32
    } else if shift > 128 {
        0
    } else {
        let kept = if shift == 128 { 0 } else { q >> shift };
        let half = (q >> (shift - 1)) & 1 == 1;
        let rest = sticky || (shift > 1 && q & ((1u128 << (shift - 1)) - 1) != 0);
        if half && (rest || kept & 1 == 1) {
            kept + 1
        } else {
            kept
        }
    };
    if m == 1u128 << fmt.bits {
        m >>= 1;
        lsb += 1;
    }
    if m == 0 {
        return (zero, true);
    }
    let lead = lsb + (128 - m.leading_zeros()) as i64 - 1;
    if lead > fmt.max_lead {
        return (LongDouble::Inf { neg }, true);
    }
    (
        LongDouble::Finite {
            neg,
            mant: m as u64,
            exp: lsb,
        },
        false,
    )
}

/// What C's `strtod` family finds at the start of a string.
enum Subject {
    /// No conversion: the whole input is refused (`endptr` = the string itself).
    None,
    Inf,
    Nan,
    /// `digits` (hex or decimal, '.' included) with a binary (hex) or decimal exponent.
    Hex {
        mant: std::ops::Range<usize>,
        exp: i64,
    },
    Dec {
        mant: std::ops::Range<usize>,
        exp: i64,
    },
}

/// C's `isspace` in the C locale.
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn starts_with_ci(s: &[u8], word: &str) -> bool {
    s.len() >= word.len() && s[..word.len()].eq_ignore_ascii_case(word.as_bytes())
}

/// Scans the subject sequence: returns it, whether it is negative, where its digits start
/// (after blanks and sign), and the offset just past it.
fn scan(s: &[u8]) -> (Subject, bool, usize, usize) {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if let Some(&c @ (b'+' | b'-')) = s.get(i) {
        neg = c == b'-';
        i += 1;
    }
    let start = i;
    let rest = &s[i..];
    if starts_with_ci(rest, "inf") {
        let n = if starts_with_ci(rest, "infinity") {
            8
        } else {
            3
        };
        return (Subject::Inf, neg, start, i + n);
    }
    if starts_with_ci(rest, "nan") {
        let mut end = i + 3;
        if s.get(end) == Some(&b'(') {
            let mut j = end + 1;
            while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == b'_') {
                j += 1;
            }
            if s.get(j) == Some(&b')') {
                end = j + 1;
            }
        }
        return (Subject::Nan, neg, start, end);
    }
    let hex = rest.len() > 2
        && rest[0] == b'0'
        && (rest[1] | 0x20) == b'x'
        && (rest[2].is_ascii_hexdigit()
            || (rest[2] == b'.' && rest.get(3).is_some_and(|c| c.is_ascii_hexdigit())));
    let digit = |c: u8| {
        if hex {
            c.is_ascii_hexdigit()
        } else {
            c.is_ascii_digit()
        }
    };
    let first = if hex { i + 2 } else { i };
    let mut j = first;
    let mut seen = false;
    while j < s.len() && digit(s[j]) {
        j += 1;
        seen = true;
    }
    if s.get(j) == Some(&b'.') {
        let mut k = j + 1;
        while k < s.len() && digit(s[k]) {
            k += 1;
            seen = true;
        }
        if seen {
            j = k;
        }
    }
    if !seen {
        return (Subject::None, neg, start, 0);
    }
    let mant = first..j;
    let marker = if hex { b'p' } else { b'e' };
    let mut exp = 0i64;
    if s.get(j).is_some_and(|&c| (c | 0x20) == marker) {
        let mut k = j + 1;
        let mut eneg = false;
        if let Some(&c @ (b'+' | b'-')) = s.get(k) {
            eneg = c == b'-';
            k += 1;
        }
        if s.get(k).is_some_and(u8::is_ascii_digit) {
            while k < s.len() && s[k].is_ascii_digit() {
                // Saturates far beyond any exponent that could matter.
                exp = (exp * 10 + (s[k] - b'0') as i64).min(1 << 40);
                k += 1;
            }
            if eneg {
                exp = -exp;
            }
            j = k;
        }
    }
    let subject = if hex {
        Subject::Hex { mant, exp }
    } else {
        Subject::Dec { mant, exp }
    };
    (subject, neg, start, j)
}

/// The value of hexadecimal digits (with an optional point) times `2^exp`.
fn hex_value(digits: &[u8], exp: i64, neg: bool, fmt: Format) -> (LongDouble, bool) {
    // Keep 30 significant digits (120 bits, more than any format needs with its rounding
    // bits); the rest only decide `sticky`.
    let mut q: u128 = 0;
    let mut kept = 0;
    let mut sticky = false;
    let mut e2 = exp;
    let mut after_point = false;
    for &c in digits {
        if c == b'.' {
            after_point = true;
            continue;
        }
        let v = (c as char).to_digit(16).unwrap_or(0) as u128;
        if q == 0 && v == 0 {
            if after_point {
                e2 -= 4;
            }
            continue;
        }
        if kept < 30 {
            q = q << 4 | v;
            kept += 1;
            if after_point {
                e2 -= 4;
            }
        } else {
            sticky |= v != 0;
            if !after_point {
                e2 += 4;
            }
        }
    }
    round(neg, q, e2, sticky, fmt)
}

/// The value of decimal digits (with an optional point) times `10^exp`, exactly rounded.
fn dec_value(digits: &[u8], exp: i64, neg: bool, fmt: Format) -> (LongDouble, bool) {
    let mut n = Big::zero();
    let mut e10 = exp;
    let mut after_point = false;
    let mut count: i64 = 0;
    for &c in digits {
        if c == b'.' {
            after_point = true;
            continue;
        }
        let v = (c - b'0') as u32;
        if after_point {
            e10 -= 1;
        }
        if n.is_zero() && v == 0 {
            continue;
        }
        n.mul_add(10, v);
        count += 1;
    }
    if n.is_zero() {
        return (
            LongDouble::Finite {
                neg,
                mant: 0,
                exp: 0,
            },
            false,
        );
    }
    // 10^(count + e10 - 1) <= value < 10^(count + e10); both formats' range lies within
    // 10^-4952 .. 10^4933.
    if count + e10 - 1 > 4933 {
        return (LongDouble::Inf { neg }, true);
    }
    if count + e10 < -4952 {
        return (
            LongDouble::Finite {
                neg,
                mant: 0,
                exp: 0,
            },
            true,
        );
    }
    if e10 >= 0 {
        let n = n.mul(&Big::pow10(e10 as u32));
        let (q, e2, sticky) = n.top(0);
        return round(neg, q, e2, sticky, fmt);
    }
    // value = n / 10^-e10: divide with enough quotient bits for the rounding.
    let d = Big::pow10((-e10) as u32);
    let k = (d.bit_len() as i64 - n.bit_len() as i64 + fmt.bits as i64 + 3).max(0) as u64;
    let (q, rem) = n.shl(k).div_small_quotient(&d);
    round(neg, q, -(k as i64), rem, fmt)
}

/// C's `strtod`: the double at the start of `s`, the number of bytes it took (0 when no
/// conversion was made), and whether `errno` would be `ERANGE`.
pub fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let (subject, neg, start, end) = scan(s);
    match subject {
        Subject::None => (0.0, 0, false),
        Subject::Inf => (signed(neg, f64::INFINITY), end, false),
        Subject::Nan => (f64::NAN, end, false),
        Subject::Hex { mant, exp } => {
            let (v, erange) = hex_value(&s[mant], exp, neg, DOUBLE);
            (to_f64(v), end, erange)
        }
        Subject::Dec { mant, .. } => {
            // Rust's parser is correctly rounded over the same decimal grammar.
            let text = std::str::from_utf8(&s[start..end]).unwrap_or("0");
            let v: f64 = text.parse().unwrap_or(0.0);
            let nonzero = s[mant].iter().any(|c| (b'1'..=b'9').contains(c));
            let erange = v.is_infinite() || (v == 0.0 && nonzero);
            (signed(neg, v), end, erange)
        }
    }
}

/// C's `strtold` (x87 `long double`), as [`strtod`]. Decimal input costs time and memory
/// growing with its length and exponent: callers bound it ([`string2ld`]).
fn strtold(s: &[u8]) -> (LongDouble, usize, bool) {
    let (subject, neg, _, end) = scan(s);
    match subject {
        Subject::None => (LongDouble::from_i64(0), 0, false),
        Subject::Inf => (LongDouble::Inf { neg }, end, false),
        Subject::Nan => (LongDouble::Nan, end, false),
        Subject::Hex { mant, exp } => {
            let (v, erange) = hex_value(&s[mant], exp, neg, EXTENDED);
            (v, end, erange)
        }
        Subject::Dec { mant, exp } => {
            let (v, erange) = dec_value(&s[mant], exp, neg, EXTENDED);
            (v, end, erange)
        }
    }
}

/// Redis's `string2d`: the whole string is one double, no leading blank, no NaN, and no
/// overflow to infinity or underflow to zero.
pub fn string2d(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let (v, end, erange) = strtod(s);
    if end != s.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}

/// Redis's `string2ld`, as [`string2d`] for a `long double`, and refusing inputs of
/// 5,120 bytes or more.
pub fn string2ld(s: &[u8]) -> Option<LongDouble> {
    if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS || is_c_space(s[0]) {
        return None;
    }
    let (v, end, erange) = strtold(s);
    let refused = match v {
        LongDouble::Nan => true,
        LongDouble::Inf { .. } => erange,
        LongDouble::Finite { mant, .. } => erange && mant == 0,
    };
    if end != s.len() || refused {
        return None;
    }
    Some(v)
}

/// `strtod` as Redis calls it on a C string and then checks `*endptr == '\0'`: the
/// bytes up to the first NUL must be one number (blanks may lead; an empty string is
/// 0, as no conversion leaves `endptr` at its start). The value and whether `errno`
/// would be `ERANGE`.
pub fn strtod_to_nul(s: &[u8]) -> Option<(f64, bool)> {
    let s = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
    let (v, end, erange) = strtod(s);
    if end == 0 {
        return s.is_empty().then_some((0.0, false));
    }
    (end == s.len()).then_some((v, erange))
}

/// A score bound as Redis's `zslParseRange` reads it (after any `(`): [`strtod_to_nul`],
/// NaN refused, out-of-range values taken as `strtod` returns them.
pub fn range_bound(s: &[u8]) -> Option<f64> {
    strtod_to_nul(s).map(|(v, _)| v).filter(|v| !v.is_nan())
}

/// A non-negative arbitrary-precision integer, 32-bit limbs, least significant first,
/// no high zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn zero() -> Big {
        Big(Vec::new())
    }

    fn from_u128(mut v: u128) -> Big {
        let mut l = Vec::new();
        while v != 0 {
            l.push(v as u32);
            v >>= 32;
        }
        Big(l)
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    /// self = self * m + a
    fn mul_add(&mut self, m: u32, a: u32) {
        let mut carry = a as u64;
        for l in &mut self.0 {
            let v = *l as u64 * m as u64 + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn pow10(n: u32) -> Big {
        let mut b = Big::from_u128(1);
        let mut left = n;
        while left >= 9 {
            b.mul_add(1_000_000_000, 0);
            left -= 9;
        }
        b.mul_add(10u32.pow(left), 0);
        b
    }

    fn mul(&self, o: &Big) -> Big {
        let mut r = vec![0u32; self.0.len() + o.0.len()];
        for (i, &a) in self.0.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &b) in o.0.iter().enumerate() {
                let v = r[i + j] as u64 + a as u64 * b as u64 + carry;
                r[i + j] = v as u32;
                carry = v >> 32;
            }
            r[i + o.0.len()] = carry as u32;
        }
        let mut b = Big(r);
        b.trim();
        b
    }

    fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(&top) => (self.0.len() as u64 - 1) * 32 + (32 - top.leading_zeros()) as u64,
        }
    }

    fn shl(&self, n: u64) -> Big {
        if self.is_zero() {
            return Big::zero();
        }
        let (limbs, bits) = ((n / 32) as usize, (n % 32) as u32);
        let mut r = vec![0u32; limbs];
        if bits == 0 {
            r.extend_from_slice(&self.0);
        } else {
            let mut carry = 0u32;
            for &l in &self.0 {
                r.push(l << bits | carry);
                carry = l >> (32 - bits);
            }
            r.push(carry);
        }
        let mut b = Big(r);
        b.trim();
        b
    }

    fn cmp(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }

    fn add(&self, o: &Big) -> Big {
        let (long, short) = if self.0.len() >= o.0.len() {
            (self, o)
        } else {
            (o, self)
        };
        let mut r = Vec::with_capacity(long.0.len() + 1);
        let mut carry = 0u64;
        for (i, &l) in long.0.iter().enumerate() {
            let v = l as u64 + *short.0.get(i).unwrap_or(&0) as u64 + carry;
            r.push(v as u32);
            carry = v >> 32;
        }
        if carry != 0 {
            r.push(carry as u32);
        }
        Big(r)
    }

    /// self - o, for self >= o.
    fn sub(&self, o: &Big) -> Big {
        let mut r = self.0.clone();
        let mut borrow = 0i64;
        for (i, l) in r.iter_mut().enumerate() {
            let v = *l as i64 - *o.0.get(i).unwrap_or(&0) as i64 - borrow;
            borrow = (v < 0) as i64;
            *l = v.rem_euclid(1 << 32) as u32;
        }
        let mut b = Big(r);
        b.trim();
        b
    }

    fn bit(&self, i: u64) -> bool {
        self.0
            .get((i / 32) as usize)
            .is_some_and(|l| (l >> (i % 32)) & 1 == 1)
    }

    /// The value as `(q + f) * 2^e2` for a value `self * 2^e`, with `q` its top 128 bits
    /// (all of them if fewer) and `f` nonzero iff a dropped bit was set.
    fn top(&self, e: i64) -> (u128, i64, bool) {
        let len = self.bit_len();
        let drop = len.saturating_sub(128);
        let mut q: u128 = 0;
        for i in (drop..len).rev() {
            q = q << 1 | self.bit(i) as u128;
        }
        let whole = (drop / 32) as usize;
        let sticky = self.0[..whole].iter().any(|&l| l != 0)
            || (!drop.is_multiple_of(32) && self.0[whole] & ((1u32 << (drop % 32)) - 1) != 0);
        (q, e + drop as i64, sticky)
    }

    /// `(self / d, self % d != 0)` for a quotient below 2^128.
    fn div_small_quotient(&self, d: &Big) -> (u128, bool) {
        let mut rem = self.clone();
        let mut q: u128 = 0;
        let qbits = (self.bit_len() + 1).saturating_sub(d.bit_len()).min(128);
        for i in (0..qbits).rev() {
            let t = d.shl(i);
            if rem.cmp(&t) != Ordering::Less {
                rem = rem.sub(&t);
                q |= 1u128 << i;
            }
        }
        (q, !rem.is_zero())
    }

    /// Decimal digits ("0" for zero).
    fn to_decimal(&self) -> String {
        let mut n = self.clone();
        let mut groups = Vec::new();
        while !n.is_zero() {
            let mut rem = 0u64;
            for l in n.0.iter_mut().rev() {
                let v = rem << 32 | *l as u64;
                *l = (v / 1_000_000_000) as u32;
                rem = v % 1_000_000_000;
            }
            n.trim();
            groups.push(rem as u32);
        }
        let Some(last) = groups.pop() else {
            return "0".into();
        };
        let mut s = last.to_string();
        for g in groups.iter().rev() {
            s.push_str(&format!("{g:09}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(s: &str) -> LongDouble {
        string2ld(s.as_bytes()).unwrap_or_else(|| panic!("{s} refused"))
    }

    fn incr(a: &str, b: &str) -> String {
        ld(a).plus(ld(b)).to_human()
    }

    #[test]
    fn incrbyfloat_sums_print_as_redis_on_x86_64() {
        // Replies of redis-server 7.0.15 (x86-64) to SET then INCRBYFLOAT.
        assert_eq!(incr("0.1", "0.2"), "0.3");
        assert_eq!(incr("10.5", "0.1"), "10.6");
        assert_eq!(incr("10.6", "1e20"), "100000000000000000008");
        assert_eq!(incr("3.0", "1.1e-5"), "3.000011");
        assert_eq!(incr("1", "0.3333333333333333"), "1.3333333333333333");
        assert_eq!(incr("0", "0x10"), "16");
        assert_eq!(incr("16", "0x1p-3"), "16.125");
        assert_eq!(incr("0", "-1e-30"), "0");
        assert_eq!(incr("-0", "0"), "0");
        assert_eq!(incr("0", "-0.0"), "0");
        assert_eq!(incr("0", "1e-4940"), "0");
        assert!(incr("0", "1e400").starts_with(
            "10000000000000000000281880683947586514586453433629052038625910693539685534008629"
        ));
        assert_eq!(incr("0", "1e400").len(), 401);
        assert!(incr("0", "1e4000").starts_with(
            "99999999999999999999654638730996237849324925835069576313015083330432619433063423"
        ));
        assert_eq!(incr("5", "-5"), "0");
        assert_eq!(incr("-1.5", "0.25"), "-1.25");
    }

    #[test]
    fn string2ld_refuses_as_redis() {
        for s in [
            "", " 1", "1 ", "nan", "-nan", "1e-5000", "1e5000", "0x", "1e", "abc", "1.2.3", "--1",
            "0x1p", "inf ",
        ] {
            assert!(string2ld(s.as_bytes()).is_none(), "{s:?}");
        }
        let mut long = b"0.".to_vec();
        long.resize(5120, b'1');
        assert!(string2ld(&long).is_none());
        assert_eq!(
            string2ld(&long[..5119]).map(|v| v.to_human()),
            Some("0.11111111111111111".into())
        );
        // So many digits they overflow.
        assert!(string2ld(&vec![b'1'; 5119]).is_none());
        for s in [
            "0e-99999", "infinity", "-INF", ".5", "5.", "+.5e1", "0x.8", "0X1.P1",
        ] {
            assert!(string2ld(s.as_bytes()).is_some(), "{s:?}");
        }
        assert_eq!(ld("0x.8").to_human(), "0.5");
        assert_eq!(ld("0X1.P1").to_human(), "2");
    }

    #[test]
    fn string2d_follows_strtod_and_erange() {
        assert_eq!(string2d(b"0x10"), Some(16.0));
        assert_eq!(string2d(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(string2d(b"1e-400"), None);
        assert_eq!(string2d(b"1e400"), None);
        assert_eq!(string2d(b"inf"), Some(f64::INFINITY));
        assert_eq!(string2d(b"4.9e-324"), Some(4.9e-324));
        assert_eq!(string2d(b"0x1p-1074"), Some(4.9e-324));
        assert_eq!(string2d(b"0x1p-1076"), None);
        assert_eq!(string2d(b"0x1p1024"), None);
        assert_eq!(string2d(b"0x1.fffffffffffff8p1023"), None);
        assert_eq!(string2d(b"0x1.fffffffffffff7p1023"), Some(f64::MAX));
        assert_eq!(string2d(b"1\0"), None);
        assert_eq!(string2d(b"1.e5"), Some(1e5));
        assert_eq!(string2d(b"+.5e-1"), Some(0.05));
        assert_eq!(string2d(b"00.5"), Some(0.5));
        assert_eq!(string2d(b"-0"), Some(-0.0));
        assert_eq!(string2d(b" 1"), None);
        // Hex digits beyond the double's precision round half to even.
        assert_eq!(string2d(b"0x1.00000000000008p0"), Some(1.0));
        assert_eq!(
            string2d(b"0x1.00000000000018p0"),
            Some(1.0 + 2.0 * f64::EPSILON)
        );
        assert_eq!(
            string2d(b"0x1.000000000000080000000000000000000001p0"),
            Some(1.0 + f64::EPSILON)
        );
    }

    #[test]
    fn range_bounds_take_what_strtod_takes() {
        assert_eq!(range_bound(b""), Some(0.0));
        assert_eq!(range_bound(b" 5"), Some(5.0));
        assert_eq!(range_bound(b"5 "), None);
        assert_eq!(range_bound(b"  "), None);
        assert_eq!(range_bound(b"1e400"), Some(f64::INFINITY));
        assert_eq!(range_bound(b"1e-400"), Some(0.0));
        assert_eq!(range_bound(b"0x1"), Some(1.0));
        assert_eq!(range_bound(b"2\0junk"), Some(2.0));
        assert_eq!(range_bound(b"nan"), None);
    }

    #[test]
    fn extended_rounding_edges() {
        // 2^64 + 1 does not fit 64 bits: half to even gives 2^64.
        let big = ld("18446744073709551617");
        assert_eq!(big.to_human(), "18446744073709551616");
        assert_eq!(
            ld("18446744073709551619").to_human(),
            "18446744073709551620"
        );
        // The smallest subnormal, and a tie printed half to even at the 17th decimal.
        assert!(ld("0x1p-16445").is_finite());
        assert!(string2ld(b"0x1p-16446").is_none());
        assert_eq!(ld("0x1p-18").to_human(), "0.00000381469726562");
        assert_eq!(ld("0x3p-18").to_human(), "0.00001144409179688");
        assert_eq!(ld("1").plus(ld("inf")), LongDouble::Inf { neg: false });
        assert_eq!(ld("inf").plus(ld("-inf")), LongDouble::Nan);
        assert_eq!(
            ld("0x1.fffffffffffffffep16383").plus(ld("0x1p16383")),
            LongDouble::Inf { neg: false }
        );
        assert_eq!(ld("2.5").to_f64(), 2.5);
        assert_eq!(
            LongDouble::from_i64(i64::MIN).to_human(),
            "-9223372036854775808"
        );
    }
}
