//! BITOP, BITFIELD and BITFIELD_RO: bit operations across strings and integers of 1 to
//! 64 bits at any bit offset, with Redis 7.0's parsing order, error texts and overflow
//! rules (checked against a real Redis by `tests/bitops.rs`).

use super::{err, is, CmdErr, Ctx, Flow, R};
use crate::resp::parse_i64;
use crate::store::{Kind, Meta, Txn};
use strata_dump::records::STR_RAW;

/// Largest string (Redis's default proto-max-bulk-len).
const MAX_STRING: u64 = 512 * 1024 * 1024;

/// A string key's value through the transaction (`None` if missing), counted as a read
/// lookup; WRONGTYPE for another type.
fn read_string(c: &Ctx, t: &mut Txn, key: &[u8]) -> Result<Option<Meta>, CmdErr> {
    let m = t.get(c.s.db, key)?;
    c.count_read(m.is_some());
    match m {
        Some(m) if m.kind != Kind::String => Err(err::WRONGTYPE.into()),
        m => Ok(m),
    }
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
pub fn bitop(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    #[derive(PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = match &a[1] {
        x if is(x, "and") => Op::And,
        x if is(x, "or") => Op::Or,
        x if is(x, "xor") => Op::Xor,
        x if is(x, "not") => Op::Not,
        _ => return Err(err::SYNTAX.into()),
    };
    if op == Op::Not && a.len() != 4 {
        return Err("ERR BITOP NOT must be called with a single source key.".into());
    }
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let mut sources = Vec::with_capacity(a.len() - 3);
    for key in &a[3..] {
        sources.push(
            read_string(c, &mut t, key)?
                .map(|m| m.body)
                .unwrap_or_default(),
        );
    }
    let len = sources.iter().map(Vec::len).max().unwrap_or(0);
    if len == 0 {
        t.del(db, &a[2])?;
        t.commit()?;
        c.out.int(0);
        return Ok(Flow::Continue { wrote: true });
    }
    let mut res = sources[0].clone();
    res.resize(len, 0);
    match op {
        Op::Not => res.iter_mut().for_each(|b| *b = !*b),
        _ => {
            for s in &sources[1..] {
                for (i, r) in res.iter_mut().enumerate() {
                    let b = s.get(i).copied().unwrap_or(0);
                    match op {
                        Op::And => *r &= b,
                        Op::Or => *r |= b,
                        _ => *r ^= b,
                    }
                }
            }
        }
    }
    t.put(db, &a[2], Meta::string_enc(res, 0, STR_RAW))?;
    t.commit()?;
    c.out.int(len as i64);
    Ok(Flow::Continue { wrote: true })
}

/// What BITFIELD does when a value does not fit its type.
#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set(i64),
    Incr(i64),
}

/// One parsed BITFIELD operation.
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";

/// `i1`..`i64` or `u1`..`u63`: (signed, bits).
fn field_type(a: &[u8]) -> Result<(bool, u32), CmdErr> {
    let signed = match a.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BAD_TYPE.into()),
    };
    // Redis reads the digits as a C string: up to the first NUL byte.
    let digits = &a[1..];
    let digits = &digits[..digits.iter().position(|&b| b == 0).unwrap_or(digits.len())];
    match parse_i64(digits) {
        Some(n) if n >= 1 && n <= if signed { 64 } else { 63 } => Ok((signed, n as u32)),
        _ => Err(BAD_TYPE.into()),
    }
}

/// A bit offset, or `#n` for n times the type's width.
fn field_offset(a: &[u8], bits: u32) -> Result<u64, CmdErr> {
    let (digits, hash) = match a.first() {
        Some(b'#') => (&a[1..], true),
        _ => (a, false),
    };
    let mut v = parse_i64(digits).ok_or(CmdErr(BAD_OFFSET.into()))?;
    if hash {
        v = v.wrapping_mul(i64::from(bits));
    }
    if v < 0 || (v as u64) >> 3 >= MAX_STRING {
        return Err(BAD_OFFSET.into());
    }
    Ok(v as u64)
}

fn parse_fields(a: &[Vec<u8>]) -> Result<Vec<Field>, CmdErr> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let sub = &a[j];
        let kind = if is(sub, "get") && left >= 2 {
            0
        } else if is(sub, "set") && left >= 3 {
            1
        } else if is(sub, "incrby") && left >= 3 {
            2
        } else if is(sub, "overflow") && left >= 1 {
            overflow = match &a[j + 1] {
                x if is(x, "wrap") => Overflow::Wrap,
                x if is(x, "sat") => Overflow::Sat,
                x if is(x, "fail") => Overflow::Fail,
                _ => return Err("ERR Invalid OVERFLOW type specified".into()),
            };
            j += 2;
            continue;
        } else {
            return Err(err::SYNTAX.into());
        };
        let (signed, bits) = field_type(&a[j + 1])?;
        let offset = field_offset(&a[j + 2], bits)?;
        let op = match kind {
            0 => FieldOp::Get,
            _ => {
                let v = parse_i64(&a[j + 3]).ok_or(CmdErr(err::NOT_INT.into()))?;
                if kind == 1 {
                    FieldOp::Set(v)
                } else {
                    FieldOp::Incr(v)
                }
            }
        };
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if kind == 0 { 3 } else { 4 };
    }
    Ok(fields)
}

/// The `bits`-bit unsigned integer at bit `offset` of `v` (bit 0 = the first byte's
/// most significant), reading zeros past the end.
fn get_bits(v: &[u8], offset: u64, bits: u32) -> u64 {
    let mut out = 0u64;
    for i in 0..u64::from(bits) {
        let pos = offset + i;
        let byte = v.get((pos >> 3) as usize).copied().unwrap_or(0);
        out = out << 1 | u64::from(byte >> (7 - (pos & 7)) & 1);
    }
    out
}

/// Store the low `bits` bits of `value` at bit `offset` of `v` (long enough).
fn set_bits(v: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let pos = offset + i;
        let bit = value >> (u64::from(bits) - 1 - i) & 1;
        let b = &mut v[(pos >> 3) as usize];
        let shift = 7 - (pos & 7);
        *b = *b & !(1 << shift) | (bit as u8) << shift;
    }
}

/// Sign-extend a `bits`-bit value.
fn signed_of(raw: u64, bits: u32) -> i64 {
    if bits < 64 && raw & (1 << (bits - 1)) != 0 {
        (raw | u64::MAX << bits) as i64
    } else {
        raw as i64
    }
}

/// Does `value + incr` fit `bits` unsigned bits? `None` if it does; else what to store
/// under `ow` (`None` inside for FAIL).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<u64>> {
    let max = (1u64 << bits) - 1; // bits <= 63
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrapped = value.wrapping_add(incr as u64) & max;
    let (over, under) = (
        value > max || (incr > 0 && incr > max_incr),
        incr < 0 && incr < min_incr,
    );
    if !over && !under {
        return None;
    }
    Some(match ow {
        Overflow::Wrap => Some(wrapped),
        Overflow::Sat => Some(if over { max } else { 0 }),
        Overflow::Fail => None,
    })
}

/// [`unsigned_overflow`] for signed fields.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<i64>> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let over = value > max
        || (bits != 64 && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr);
    let under = !over
        && (value < min
            || (bits != 64 && incr < min_incr)
            || (value < 0 && incr < 0 && incr < min_incr));
    if !over && !under {
        return None;
    }
    let sum = (value as u64).wrapping_add(incr as u64);
    let wrapped = if bits < 64 {
        signed_of(sum & ((1 << bits) - 1), bits)
    } else {
        sum as i64
    };
    Some(match ow {
        Overflow::Wrap => Some(wrapped),
        Overflow::Sat => Some(if over { max } else { min }),
        Overflow::Fail => None,
    })
}

pub fn bitfield(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    bitfield_generic(c, a, false)
}

pub fn bitfield_ro(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    bitfield_generic(c, a, true)
}

fn bitfield_generic(c: &mut Ctx, a: &[Vec<u8>], ro: bool) -> R {
    let fields = parse_fields(a)?;
    let writes = fields.iter().any(|f| f.op != FieldOp::Get);
    if writes && ro {
        return Err("ERR BITFIELD_RO only supports the GET subcommand".into());
    }
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    // `raw`: the value is kept as Redis's raw encoding already (a write makes it so,
    // whatever it changes).
    let (mut v, expire, raw) = if writes {
        match t.get(db, &a[1])? {
            Some(m) if m.kind != Kind::String => return Err(err::WRONGTYPE.into()),
            Some(m) => (m.body, m.expire, m.str_enc == STR_RAW),
            None => (Vec::new(), 0, false),
        }
    } else {
        match read_string(c, &mut t, &a[1])? {
            Some(m) => (m.body, m.expire, true),
            None => (Vec::new(), 0, false),
        }
    };
    let before = v.len();
    if let Some(end) = fields
        .iter()
        .filter(|f| f.op != FieldOp::Get)
        .map(|f| f.offset + u64::from(f.bits) - 1)
        .max()
    {
        let need = (end >> 3) as usize + 1;
        if v.len() < need {
            v.resize(need, 0);
        }
    }
    let mut changed = false;
    c.out.array(fields.len());
    for f in &fields {
        let raw = get_bits(&v, f.offset, f.bits);
        let (store, reply) = match (f.op, f.signed) {
            (FieldOp::Get, true) => (None, Some(signed_of(raw, f.bits))),
            (FieldOp::Get, false) => (None, Some(raw as i64)),
            (FieldOp::Set(x), true) => match signed_overflow(x, 0, f.bits, f.overflow) {
                None => (Some(x as u64), Some(signed_of(raw, f.bits))),
                Some(Some(w)) => (Some(w as u64), Some(signed_of(raw, f.bits))),
                Some(None) => (None, None),
            },
            (FieldOp::Set(x), false) => match unsigned_overflow(x as u64, 0, f.bits, f.overflow) {
                None => (Some(x as u64), Some(raw as i64)),
                Some(Some(w)) => (Some(w), Some(raw as i64)),
                Some(None) => (None, None),
            },
            (FieldOp::Incr(x), true) => {
                let old = signed_of(raw, f.bits);
                match signed_overflow(old, x, f.bits, f.overflow) {
                    None => (Some(old.wrapping_add(x) as u64), Some(old.wrapping_add(x))),
                    Some(Some(w)) => (Some(w as u64), Some(w)),
                    Some(None) => (None, None),
                }
            }
            (FieldOp::Incr(x), false) => match unsigned_overflow(raw, x, f.bits, f.overflow) {
                None => {
                    let n = raw.wrapping_add(x as u64);
                    (Some(n), Some(n as i64))
                }
                Some(Some(w)) => (Some(w), Some(w as i64)),
                Some(None) => (None, None),
            },
        };
        match reply {
            Some(n) => c.out.int(n),
            None => c.out.null(),
        }
        if let Some(s) = store {
            set_bits(&mut v, f.offset, f.bits, s);
            changed = true;
        }
    }
    if writes && (changed || !raw || v.len() != before) {
        t.put(db, &a[1], Meta::string_enc(v, expire, STR_RAW))?;
    }
    t.commit()?;
    Ok(Flow::Continue { wrote: writes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_at_any_offset_and_width() {
        let mut v = vec![0u8; 20];
        for bits in 1..=64u32 {
            for offset in [0u64, 1, 7, 8, 13, 63, 64, 70] {
                let value = 0xDEAD_BEEF_CAFE_F00Du64 >> (64 - bits);
                set_bits(&mut v, offset, bits, value);
                assert_eq!(get_bits(&v, offset, bits), value, "{bits} bits at {offset}");
            }
        }
        // Redis's example: u5 = 23 at offset 7 over zeros is 00000001 01110000.
        let mut z = vec![0u8; 2];
        set_bits(&mut z, 7, 5, 23);
        assert_eq!(z, [0b0000_0001, 0b0111_0000]);
    }

    #[test]
    fn overflow_rules() {
        use Overflow::*;
        assert_eq!(unsigned_overflow(250, 10, 8, Wrap), Some(Some(4)));
        assert_eq!(unsigned_overflow(250, 10, 8, Sat), Some(Some(255)));
        assert_eq!(unsigned_overflow(5, -10, 8, Sat), Some(Some(0)));
        assert_eq!(unsigned_overflow(5, -10, 8, Fail), Some(None));
        assert_eq!(unsigned_overflow(5, 10, 8, Fail), None);
        assert_eq!(signed_overflow(127, 1, 8, Wrap), Some(Some(-128)));
        assert_eq!(signed_overflow(-128, -1, 8, Sat), Some(Some(-128)));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Wrap), Some(Some(i64::MIN)));
        assert_eq!(signed_overflow(i64::MIN, -1, 64, Sat), Some(Some(i64::MIN)));
        assert_eq!(signed_overflow(100, -50, 8, Fail), None);
    }
}
