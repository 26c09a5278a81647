//! Hash commands. A hash's fields are sub-records (field → value) of its version.

use super::coll::{self, save, txn_read_or_fresh};
use super::{done, err, int_arg, is, CmdErr, Ctx, R};
use crate::cfloat::{string2ld, LongDouble};
use crate::store::{Coll, Kind, FLAG_BIG};

/// Redis 7.0's built-in hash-max-listpack-entries / -value (512 / 64; the sample
/// redis.conf lowers the first to 128).
const LP_ENTRIES: u64 = 512;
const LP_VALUE: usize = 64;

pub(crate) fn note_sizes(h: &mut Coll, f: &[u8], v: &[u8]) {
    if f.len() > LP_VALUE || v.len() > LP_VALUE || h.count > LP_ENTRIES {
        h.flags |= FLAG_BIG;
    }
}

fn arity(c: &Ctx) -> CmdErr {
    CmdErr(format!(
        "ERR wrong number of arguments for '{}' command",
        c.name()
    ))
}

/// HSET/HMSET: set pairs; returns how many fields were new.
fn set_pairs(c: &mut Ctx, a: &[Vec<u8>], nx: bool) -> Result<i64, CmdErr> {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let (expire, mut h) = txn_read_or_fresh(&mut t, db, &a[1], Kind::Hash)?;
    let mut added = 0;
    for p in a[2..].chunks(2) {
        let old = t.sub_get(db, &a[1], h.version, &p[0])?;
        if nx && old.is_some() {
            continue;
        }
        if old.is_none() {
            h.count += 1;
            added += 1;
        }
        note_sizes(&mut h, &p[0], &p[1]);
        t.sub_put(db, &a[1], h.version, &p[0], &p[1]);
    }
    save(&mut t, db, &a[1], Kind::Hash, &h, expire)?;
    t.commit()?;
    Ok(added)
}

pub fn hset(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    if a.len() % 2 == 1 {
        return Err(arity(c));
    }
    let n = set_pairs(c, a, false)?;
    c.int(n)
}

pub fn hmset(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    if a.len() % 2 == 1 {
        return Err(arity(c));
    }
    set_pairs(c, a, false)?;
    c.ok()
}

pub fn hsetnx(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let n = set_pairs(c, a, true)?;
    c.int(n)
}

pub fn hget(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let v = match coll::read(c, &a[1], Kind::Hash)? {
        Some((_, h)) => c.sh.store.sub_get(c.s.db, &a[1], h.version, &a[2])?,
        None => None,
    };
    c.bulk_opt(v.as_deref())
}

pub fn hmget(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let h = coll::read(c, &a[1], Kind::Hash)?;
    let mut vals = Vec::new();
    for f in &a[2..] {
        vals.push(match &h {
            Some((_, h)) => c.sh.store.sub_get(c.s.db, &a[1], h.version, f)?,
            None => None,
        });
    }
    c.out.array(vals.len());
    for v in &vals {
        c.out.bulk_opt(v.as_deref());
    }
    done()
}

pub fn hdel(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    super::coll::remove_fields(c, a, Kind::Hash)
}

pub fn hlen(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let n = coll::read(c, &a[1], Kind::Hash)?.map_or(0, |(_, h)| h.count);
    c.int(n as i64)
}

pub fn hstrlen(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let v = match coll::read(c, &a[1], Kind::Hash)? {
        Some((_, h)) => c.sh.store.sub_get(c.s.db, &a[1], h.version, &a[2])?,
        None => None,
    };
    c.int(v.map_or(0, |v| v.len()) as i64)
}

pub fn hexists(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let v = match coll::read(c, &a[1], Kind::Hash)? {
        Some((_, h)) => c.sh.store.sub_get(c.s.db, &a[1], h.version, &a[2])?,
        None => None,
    };
    c.int(i64::from(v.is_some()))
}

/// Every (field, value) of a hash, in field order.
pub fn all_pairs(c: &Ctx, key: &[u8], h: &Coll) -> Result<super::Pairs, CmdErr> {
    let mut out = Vec::with_capacity(h.count.min(1 << 16) as usize);
    c.sh.store.sub_scan(
        c.sh.store.phys(c.s.db),
        key,
        h.version,
        None,
        None,
        false,
        |f, v| {
            out.push((f.to_vec(), v.to_vec()));
            true
        },
    )?;
    Ok(out)
}

fn dump_hash(c: &mut Ctx, a: &[Vec<u8>], fields: bool, values: bool) -> R {
    let pairs = fields && values;
    let header = |o: &mut crate::resp::Out, n| if pairs { o.map(n) } else { o.array(n) };
    let Some((_, h)) = coll::read(c, &a[1], Kind::Hash)? else {
        header(&mut c.out, 0);
        return done();
    };
    // The count is known: the pairs are encoded straight into the reply as the scan
    // meets them.
    let store = &c.sh.store;
    let phys = store.phys(c.s.db);
    c.out.counted(h.count as usize, header, |buf| {
        let mut n = 0usize;
        store.sub_scan(phys, &a[1], h.version, None, None, false, |f, v| {
            if fields {
                crate::resp::Out::encode_bulk(buf, f);
            }
            if values {
                crate::resp::Out::encode_bulk(buf, v);
            }
            n += 1;
            true
        })?;
        Ok::<_, crate::store::Error>(n)
    })?;
    done()
}

pub fn hkeys(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    dump_hash(c, a, true, false)
}

pub fn hvals(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    dump_hash(c, a, false, true)
}

pub fn hgetall(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    dump_hash(c, a, true, true)
}

pub fn hincrby(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let by = int_arg(&a[3])?;
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let (expire, mut h) = txn_read_or_fresh(&mut t, db, &a[1], Kind::Hash)?;
    let old = t.sub_get(db, &a[1], h.version, &a[2])?;
    let cur = match &old {
        Some(v) => crate::resp::parse_i64(v)
            .ok_or_else(|| CmdErr("ERR hash value is not an integer".into()))?,
        None => 0,
    };
    let new = cur
        .checked_add(by)
        .ok_or_else(|| CmdErr(err::OVERFLOW.into()))?;
    if old.is_none() {
        h.count += 1;
    }
    let text = new.to_string().into_bytes();
    note_sizes(&mut h, &a[2], &text);
    t.sub_put(db, &a[1], h.version, &a[2], &text);
    save(&mut t, db, &a[1], Kind::Hash, &h, expire)?;
    t.commit()?;
    c.int(new)
}

pub fn hincrbyfloat(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let by = string2ld(&a[3]).ok_or_else(|| CmdErr(err::NOT_FLOAT.into()))?;
    if !by.is_finite() {
        return Err("ERR value is NaN or Infinity".into());
    }
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let (expire, mut h) = txn_read_or_fresh(&mut t, db, &a[1], Kind::Hash)?;
    let old = t.sub_get(db, &a[1], h.version, &a[2])?;
    let cur = match &old {
        Some(v) => string2ld(v).ok_or_else(|| CmdErr("ERR hash value is not a float".into()))?,
        None => LongDouble::from_i64(0),
    };
    let new = cur.plus(by);
    if !new.is_finite() {
        return Err("ERR increment would produce NaN or Infinity".into());
    }
    if old.is_none() {
        h.count += 1;
    }
    let text = new.to_human().into_bytes();
    note_sizes(&mut h, &a[2], &text);
    t.sub_put(db, &a[1], h.version, &a[2], &text);
    save(&mut t, db, &a[1], Kind::Hash, &h, expire)?;
    t.commit()?;
    c.out.bulk(&text);
    done()
}

pub fn hrandfield(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let count = match a.get(2) {
        Some(n) => Some(super::rand_count(n, false)?),
        None => None,
    };
    let withvalues = match a.get(3) {
        None => false,
        Some(w) if is(w, "withvalues") && a.len() == 4 => true,
        Some(_) => return Err(err::SYNTAX.into()),
    };
    if let (Some(_), true) = (count, withvalues) {
        super::rand_count(&a[2], true)?;
    }
    let pairs = match coll::read(c, &a[1], Kind::Hash)? {
        Some((_, h)) => all_pairs(c, &a[1], &h)?,
        None => Vec::new(),
    };
    let Some(n) = count else {
        if pairs.is_empty() {
            return c.bulk_opt(None);
        }
        let i = super::random_index(pairs.len());
        return c.bulk_opt(Some(&pairs[i].0));
    };
    let picks = super::random_picks(pairs.len(), n);
    let proto3 = c.s.proto >= 3;
    if withvalues && proto3 {
        c.out.array(picks.len());
        for i in picks {
            c.out.array(2);
            c.out.bulk(&pairs[i].0);
            c.out.bulk(&pairs[i].1);
        }
    } else {
        c.out.array(picks.len() * if withvalues { 2 } else { 1 });
        for i in picks {
            c.out.bulk(&pairs[i].0);
            if withvalues {
                c.out.bulk(&pairs[i].1);
            }
        }
    }
    done()
}

pub fn hscan(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    super::scan_cmd(c, a, Kind::Hash, b"", 2, |out, f, v| {
        out.bulk(f);
        out.bulk(v);
    })
}
