//! String commands.

use super::{done, err, int_arg, is, CmdErr, Ctx, R};
use crate::cfloat::{string2ld, LongDouble};
use crate::store::{Kind, Meta, Txn};
use strata_dump::records::{STR_BY_CONTENT, STR_NOT_INT, STR_RAW};

/// Largest string (Redis's default proto-max-bulk-len, which SETRANGE/SETBIT/APPEND obey).
const MAX_STRING: u64 = 512 * 1024 * 1024;

/// Redis's `getExpireMillisecondsOrReply`: the absolute expiry in ms.
pub(crate) fn expire_arg(
    a: &[u8],
    seconds: bool,
    absolute: bool,
    now: u64,
    cmd: &str,
) -> Result<u64, CmdErr> {
    let v = int_arg(a)?;
    let bad = || CmdErr(format!("ERR invalid expire time in '{cmd}' command"));
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(bad());
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if !absolute {
        ms = ms.checked_add(now as i64).ok_or_else(bad)?;
    }
    if ms <= 0 {
        return Err(bad());
    }
    Ok(ms as u64)
}

/// SET/GETEX expiry options: EX, PX, EXAT, PXAT as (in seconds, absolute).
fn expire_unit(opt: &[u8]) -> Option<(bool, bool)> {
    [
        ("ex", true, false),
        ("px", false, false),
        ("exat", true, true),
        ("pxat", false, true),
    ]
    .iter()
    .find(|(k, ..)| is(opt, k))
    .map(|&(_, s, abs)| (s, abs))
}

/// A string key in a transaction; WRONGTYPE for other types.
fn txn_string(t: &mut Txn, db: usize, key: &[u8]) -> Result<Option<Meta>, CmdErr> {
    match t.get(db, key)? {
        Some(m) if m.kind != Kind::String => Err(err::WRONGTYPE.into()),
        m => Ok(m),
    }
}

/// Write `value` with absolute expiry `expire` (0 = none). With `delete_if_past`, an
/// expiry already past deletes the key instead (GETEX, as Redis); otherwise the key is
/// written already expired (SET ... PXAT 1 in Redis: it counts in DBSIZE until removed).
/// `str_enc`: the string encoding to keep (`STR_*`; GETEX keeps the key's).
fn put_or_expire(
    t: &mut Txn,
    db: usize,
    key: &[u8],
    value: Vec<u8>,
    expire: u64,
    delete_if_past: bool,
    str_enc: u8,
) -> Result<(), CmdErr> {
    if delete_if_past && expire != 0 && expire <= t.now {
        t.del(db, key)?;
    } else {
        t.put(db, key, Meta::string_enc(value, expire, str_enc))?;
    }
    Ok(())
}

pub fn get(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let v = c.get_string(&a[1])?;
    c.bulk_opt(v.as_deref())
}

#[derive(Default)]
struct SetOpts {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    /// (argument, seconds, absolute)
    expire: Option<(Vec<u8>, bool, bool)>,
}

fn parse_set_opts(a: &[Vec<u8>], from: usize) -> Result<SetOpts, CmdErr> {
    let mut o = SetOpts::default();
    let mut i = from;
    while i < a.len() {
        let opt = &a[i];
        let next = a.get(i + 1);
        let has_exp = o.expire.is_some();
        if is(opt, "nx") && !o.xx {
            o.nx = true;
        } else if is(opt, "xx") && !o.nx {
            o.xx = true;
        } else if is(opt, "get") {
            o.get = true;
        } else if is(opt, "keepttl") && !has_exp {
            o.keepttl = true;
        } else if let (Some(n), false) = (next, o.keepttl) {
            let kind = expire_unit(opt);
            match kind {
                // Redis lets the same unit repeat (the last wins), not mix units.
                Some((s, abs)) if o.expire.as_ref().is_none_or(|e| e.1 == s && e.2 == abs) => {
                    o.expire = Some((n.clone(), s, abs));
                    i += 1;
                }
                _ => return Err(err::SYNTAX.into()),
            }
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    Ok(o)
}

pub fn set(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let o = parse_set_opts(a, 3)?;
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let expire = match &o.expire {
        Some((arg, s, abs)) => expire_arg(arg, *s, *abs, t.now, "set")?,
        None => 0,
    };
    let old = if o.get {
        txn_string(&mut t, db, &a[1])?
    } else {
        t.get(db, &a[1])?
    };
    let found = old.is_some();
    if (o.nx && found) || (o.xx && !found) {
        if o.get {
            c.out.bulk_opt(old.as_ref().map(|m| m.body.as_slice()));
        } else {
            c.out.null();
        }
        return done();
    }
    let expire = if o.keepttl {
        old.as_ref().map_or(0, |m| m.expire)
    } else {
        expire
    };
    put_or_expire(
        &mut t,
        db,
        &a[1],
        a[2].clone(),
        expire,
        false,
        STR_BY_CONTENT,
    )?;
    t.commit()?;
    if o.get {
        c.out.bulk_opt(old.as_ref().map(|m| m.body.as_slice()));
    } else {
        c.out.ok();
    }
    done()
}

pub fn setnx(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    if t.get(db, &a[1])?.is_some() {
        return c.int(0);
    }
    t.put(db, &a[1], Meta::string(a[2].clone(), 0))?;
    t.commit()?;
    c.int(1)
}

fn setex_generic(c: &mut Ctx, a: &[Vec<u8>], seconds: bool) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let when = expire_arg(&a[2], seconds, false, t.now, c.name())?;
    put_or_expire(&mut t, db, &a[1], a[3].clone(), when, false, STR_BY_CONTENT)?;
    t.commit()?;
    c.ok()
}

pub fn setex(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    setex_generic(c, a, true)
}

pub fn psetex(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    setex_generic(c, a, false)
}

pub fn getset(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let old = txn_string(&mut t, db, &a[1])?;
    t.put(db, &a[1], Meta::string(a[2].clone(), 0))?;
    t.commit()?;
    c.bulk_opt(old.as_ref().map(|m| m.body.as_slice()))
}

pub fn getdel(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let old = txn_string(&mut t, db, &a[1])?;
    if old.is_some() {
        t.del(db, &a[1])?;
        t.commit()?;
    }
    c.bulk_opt(old.as_ref().map(|m| m.body.as_slice()))
}

pub fn getex(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    // Options first (syntax errors before the key is looked at).
    let mut persist = false;
    let mut exp: Option<(&[u8], bool, bool)> = None;
    let mut i = 2;
    while i < a.len() {
        let opt = &a[i];
        let unit = expire_unit(opt);
        match unit {
            Some((s, abs))
                if !persist && exp.is_none_or(|e| e.1 == s && e.2 == abs) && i + 1 < a.len() =>
            {
                exp = Some((&a[i + 1], s, abs));
                i += 1;
            }
            None if is(opt, "persist") && exp.is_none() => persist = true,
            _ => return Err(err::SYNTAX.into()),
        }
        i += 1;
    }
    let mut t = c.sh.store.txn();
    // Redis's order: options, then the key (nil when missing), then its type, then the
    // expiry's value.
    let Some(m) = txn_string(&mut t, db, &a[1])? else {
        return c.bulk_opt(None);
    };
    let when = match exp {
        Some((arg, s, abs)) => Some(expire_arg(arg, s, abs, t.now, "getex")?),
        None => None,
    };
    if let Some(w) = when {
        put_or_expire(&mut t, db, &a[1], m.body.clone(), w, true, m.str_enc)?;
    } else if persist && m.expire != 0 {
        t.put(db, &a[1], Meta::string_enc(m.body.clone(), 0, m.str_enc))?;
    }
    t.commit()?;
    c.bulk_opt(Some(&m.body))
}

pub fn mget(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let metas = c.lookup_many(&a[1..])?;
    let vals: Vec<Option<Vec<u8>>> = metas
        .into_iter()
        .map(|m| match m {
            Some(m) if m.kind == Kind::String => Some(m.body),
            _ => None,
        })
        .collect();
    c.out.array(vals.len());
    for v in &vals {
        c.out.bulk_opt(v.as_deref());
    }
    done()
}

pub fn mset(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    if a.len().is_multiple_of(2) {
        return Err(CmdErr(format!(
            "ERR wrong number of arguments for '{}' command",
            c.name()
        )));
    }
    let db = c.s.db;
    let pairs: Vec<(&[u8], Meta)> = a[1..]
        .chunks(2)
        .map(|kv| (kv[0].as_slice(), Meta::string(kv[1].clone(), 0)))
        .collect();
    let mut t = c.sh.store.txn();
    t.put_many(db, pairs)?;
    t.commit()?;
    c.ok()
}

pub fn msetnx(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    if a.len().is_multiple_of(2) {
        return Err(CmdErr(format!(
            "ERR wrong number of arguments for '{}' command",
            c.name()
        )));
    }
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    for kv in a[1..].chunks(2) {
        if t.get(db, &kv[0])?.is_some() {
            return c.int(0);
        }
    }
    for kv in a[1..].chunks(2) {
        t.put(db, &kv[0], Meta::string(kv[1].clone(), 0))?;
    }
    t.commit()?;
    c.int(1)
}

fn incr_generic(c: &mut Ctx, key: &[u8], by: i64) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let old = txn_string(&mut t, db, key)?;
    let (cur, expire) = match &old {
        Some(m) => (
            crate::resp::parse_i64(&m.body).ok_or_else(|| CmdErr(err::NOT_INT.into()))?,
            m.expire,
        ),
        None => (0, 0),
    };
    let new = cur
        .checked_add(by)
        .ok_or_else(|| CmdErr(err::OVERFLOW.into()))?;
    t.put(db, key, Meta::string(new.to_string().into_bytes(), expire))?;
    t.commit()?;
    c.int(new)
}

pub fn incr(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    incr_generic(c, &a[1], 1)
}

pub fn decr(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    incr_generic(c, &a[1], -1)
}

pub fn incrby(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let by = int_arg(&a[2])?;
    incr_generic(c, &a[1], by)
}

pub fn decrby(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let by = int_arg(&a[2])?;
    if by == i64::MIN {
        return Err("ERR decrement would overflow".into());
    }
    incr_generic(c, &a[1], -by)
}

pub fn incrbyfloat(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let old = txn_string(&mut t, db, &a[1])?;
    // Redis adds in an x87 long double and prints it with %.17Lf, trailing zeros cut.
    let cur = match &old {
        Some(m) => string2ld(&m.body).ok_or_else(|| CmdErr(err::NOT_FLOAT.into()))?,
        None => LongDouble::from_i64(0),
    };
    let by = string2ld(&a[2]).ok_or_else(|| CmdErr(err::NOT_FLOAT.into()))?;
    let new = cur.plus(by);
    if !new.is_finite() {
        return Err("ERR increment would produce NaN or Infinity".into());
    }
    let text = new.to_human().into_bytes();
    t.put(
        db,
        &a[1],
        Meta::string_enc(text.clone(), old.map_or(0, |m| m.expire), STR_NOT_INT),
    )?;
    t.commit()?;
    c.out.bulk(&text);
    done()
}

pub fn append(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let old = txn_string(&mut t, db, &a[1])?;
    // Appending to a value edits it in place (Redis makes it `raw`); a new key holds
    // the argument as SET would.
    let enc = if old.is_some() {
        STR_RAW
    } else {
        STR_BY_CONTENT
    };
    let (mut v, expire) = old.map_or((Vec::new(), 0), |m| (m.body, m.expire));
    if (v.len() + a[2].len()) as u64 > MAX_STRING {
        return Err("ERR string exceeds maximum allowed size (proto-max-bulk-len)".into());
    }
    v.extend_from_slice(&a[2]);
    let n = v.len();
    t.put(db, &a[1], Meta::string_enc(v, expire, enc))?;
    t.commit()?;
    c.int(n as i64)
}

pub fn strlen(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let n = c.get_string(&a[1])?.map_or(0, |v| v.len());
    c.int(n as i64)
}

/// Redis's GETRANGE index rules: the byte range `[start, end]` inclusive, or None.
fn range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    s = s.max(0);
    e = e.max(0);
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        return None;
    }
    Some((s as usize, e as usize))
}

pub fn getrange(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (start, end) = (int_arg(&a[2])?, int_arg(&a[3])?);
    let v = c.get_string(&a[1])?.unwrap_or_default();
    match range(v.len(), start, end) {
        Some((s, e)) => c.out.bulk(&v[s..=e]),
        None => c.out.bulk(b""),
    }
    done()
}

pub fn setrange(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let offset = int_arg(&a[2])?;
    if offset < 0 {
        return Err("ERR offset is out of range".into());
    }
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let old = txn_string(&mut t, db, &a[1])?;
    let val = &a[3];
    if old.is_none() && val.is_empty() {
        return c.int(0);
    }
    if val.is_empty() {
        return c.int(old.map_or(0, |m| m.body.len()) as i64);
    }
    if offset as u64 + val.len() as u64 > MAX_STRING {
        return Err("ERR string exceeds maximum allowed size (proto-max-bulk-len)".into());
    }
    let (mut v, expire) = old.map_or((Vec::new(), 0), |m| (m.body, m.expire));
    let off = offset as usize;
    if v.len() < off + val.len() {
        v.resize(off + val.len(), 0);
    }
    v[off..off + val.len()].copy_from_slice(val);
    let n = v.len();
    t.put(db, &a[1], Meta::string_enc(v, expire, STR_RAW))?;
    t.commit()?;
    c.int(n as i64)
}

fn bit_offset(a: &[u8]) -> Result<u64, CmdErr> {
    let bad = || CmdErr("ERR bit offset is not an integer or out of range".into());
    let v = crate::resp::parse_i64(a).ok_or_else(bad)?;
    if v < 0 || (v as u64) >> 3 >= MAX_STRING {
        return Err(bad());
    }
    Ok(v as u64)
}

pub fn setbit(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let off = bit_offset(&a[2])?;
    let on = match a[3].as_slice() {
        b"1" => true,
        b"0" => false,
        _ => return Err("ERR bit is not an integer or out of range".into()),
    };
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let old = txn_string(&mut t, db, &a[1])?;
    let (mut v, expire) = old.map_or((Vec::new(), 0), |m| (m.body, m.expire));
    let byte = (off >> 3) as usize;
    if v.len() <= byte {
        v.resize(byte + 1, 0);
    }
    let mask = 1u8 << (7 - (off & 7));
    let prev = v[byte] & mask != 0;
    if on {
        v[byte] |= mask;
    } else {
        v[byte] &= !mask;
    }
    t.put(db, &a[1], Meta::string_enc(v, expire, STR_RAW))?;
    t.commit()?;
    c.int(i64::from(prev))
}

pub fn getbit(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let off = bit_offset(&a[2])?;
    let v = c.get_string(&a[1])?.unwrap_or_default();
    let byte = (off >> 3) as usize;
    let bit = v.get(byte).is_some_and(|b| b & (1 << (7 - (off & 7))) != 0);
    c.int(i64::from(bit))
}

/// BITCOUNT/BITPOS range arguments: (start, end, in bits).
fn bit_range_args(a: &[Vec<u8>], from: usize) -> Result<Option<(i64, i64, bool)>, CmdErr> {
    if a.len() <= from {
        return Ok(None);
    }
    let start = int_arg(&a[from])?;
    let end = match a.get(from + 1) {
        Some(e) => int_arg(e)?,
        None => return Ok(Some((start, i64::MAX, false))),
    };
    let bits = match a.get(from + 2) {
        None => false,
        Some(u) if is(u, "bit") => true,
        Some(u) if is(u, "byte") => false,
        Some(_) => return Err(err::SYNTAX.into()),
    };
    if a.len() > from + 3 {
        return Err(err::SYNTAX.into());
    }
    Ok(Some((start, end, bits)))
}

/// Normalize a range over `total` units as Redis's bitcount/bitpos do.
fn norm(total: i64, mut s: i64, mut e: i64) -> Option<(i64, i64)> {
    if s < 0 {
        s += total;
    }
    if e < 0 {
        e += total;
    }
    s = s.max(0);
    e = e.max(0);
    if e >= total {
        e = total - 1;
    }
    (s <= e && total > 0).then_some((s, e))
}

fn bit_at(v: &[u8], i: i64) -> bool {
    v[(i >> 3) as usize] & (1 << (7 - (i & 7))) != 0
}

pub fn bitcount(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    // Redis's order: a missing key answers 0 before the arguments are parsed.
    let Some(v) = c.get_string(&a[1])? else {
        return c.int(0);
    };
    // Redis 7.0.15 answers 0 for two negative bounds the wrong way round, before it
    // reads the unit.
    if a.len() == 4 || a.len() == 5 {
        let (s, e) = (int_arg(&a[2])?, int_arg(&a[3])?);
        if s < 0 && e < 0 && s > e {
            return c.int(0);
        }
    }
    let r = bit_range_args(a, 2)?;
    if let Some((_, e, _)) = r {
        if e == i64::MAX {
            return Err(err::SYNTAX.into());
        }
    }
    let n = match r {
        None => v.iter().map(|b| b.count_ones() as i64).sum(),
        Some((s, e, false)) => match norm(v.len() as i64, s, e) {
            Some((s, e)) => v[s as usize..=e as usize]
                .iter()
                .map(|b| b.count_ones() as i64)
                .sum(),
            None => 0,
        },
        Some((s, e, true)) => match norm(v.len() as i64 * 8, s, e) {
            Some((s, e)) => (s..=e).filter(|&i| bit_at(&v, i)).count() as i64,
            None => 0,
        },
    };
    c.int(n)
}

pub fn bitpos(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let bit = match int_arg(&a[2]) {
        Ok(0) => false,
        Ok(1) => true,
        Ok(_) => return Err("ERR The bit argument must be 1 or 0.".into()),
        Err(e) => return Err(e),
    };
    let Some(v) = c.get_string(&a[1])? else {
        return c.int(if bit { -1 } else { 0 });
    };
    let r = bit_range_args(a, 3)?;
    let end_given = r.is_some_and(|(_, e, _)| e != i64::MAX);
    let (s, e, bits) = r.unwrap_or((0, i64::MAX, false));
    let total = if bits {
        v.len() as i64 * 8
    } else {
        v.len() as i64
    };
    let e = if e == i64::MAX { -1 } else { e };
    let Some((s, e)) = norm(total, s, e) else {
        return c.int(-1);
    };
    let (first, last) = if bits { (s, e) } else { (s * 8, e * 8 + 7) };
    for i in first..=last {
        if bit_at(&v, i) == bit {
            return c.int(i);
        }
    }
    // Looking for a clear bit with no end given: the string is padded with zeros.
    if !bit && !end_given && !bits {
        return c.int(last + 1);
    }
    c.int(-1)
}
