//! Set commands. A set's members are sub-records (member → empty) of its version.

use std::collections::BTreeSet;

use super::coll::{self, save, txn_read, txn_read_or_fresh};
use super::{done, err, int_arg, CmdErr, Ctx, R};
use crate::resp::parse_i64;
use crate::store::{Coll, Kind, Txn, FLAG_BIG, FLAG_NOT_INTSET};

/// Redis 7.0's set-max-intset-entries.
const INTSET_ENTRIES: u64 = 512;

pub(crate) fn note_member(h: &mut Coll, m: &[u8]) {
    if m.len() > 20 || parse_i64(m).is_none() {
        h.flags |= FLAG_NOT_INTSET;
    }
    if h.count > INTSET_ENTRIES {
        h.flags |= FLAG_BIG;
    }
}

/// Every member of a set (committed state), in byte order.
pub fn members(c: &Ctx, key: &[u8], h: &Coll) -> Result<Vec<Vec<u8>>, CmdErr> {
    let mut out = Vec::with_capacity(h.count.min(1 << 16) as usize);
    c.sh.store.sub_scan(
        c.sh.store.phys(c.s.db),
        key,
        h.version,
        None,
        None,
        false,
        |f, _| {
            out.push(f.to_vec());
            true
        },
    )?;
    Ok(out)
}

/// Add members to a set inside a transaction; returns how many were new.
pub fn add(t: &mut Txn, db: usize, key: &[u8], items: &[&[u8]]) -> Result<i64, CmdErr> {
    let (expire, mut h) = txn_read_or_fresh(t, db, key, Kind::Set)?;
    let mut n = 0;
    for m in items {
        if t.sub_get(db, key, h.version, m)?.is_none() {
            t.sub_put(db, key, h.version, m, b"");
            h.count += 1;
            n += 1;
            note_member(&mut h, m);
        }
    }
    save(t, db, key, Kind::Set, &h, expire)?;
    Ok(n)
}

pub fn sadd(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let items: Vec<&[u8]> = a[2..].iter().map(Vec::as_slice).collect();
    let n = add(&mut t, db, &a[1], &items)?;
    t.commit()?;
    c.int(n)
}

pub fn srem(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    super::coll::remove_fields(c, a, Kind::Set)
}

pub fn smembers(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let ms = match coll::read(c, &a[1], Kind::Set)? {
        Some((_, h)) => members(c, &a[1], &h)?,
        None => Vec::new(),
    };
    c.out.set(ms.len());
    for m in &ms {
        c.out.bulk(m);
    }
    done()
}

fn is_member(
    c: &Ctx,
    key: &[u8],
    h: &Option<(crate::store::Meta, Coll)>,
    m: &[u8],
) -> Result<bool, CmdErr> {
    Ok(match h {
        Some((_, h)) => c.sh.store.sub_get(c.s.db, key, h.version, m)?.is_some(),
        None => false,
    })
}

pub fn sismember(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let h = coll::read(c, &a[1], Kind::Set)?;
    let b = is_member(c, &a[1], &h, &a[2])?;
    c.int(i64::from(b))
}

pub fn smismember(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let h = coll::read(c, &a[1], Kind::Set)?;
    let mut v = Vec::new();
    for m in &a[2..] {
        v.push(is_member(c, &a[1], &h, m)?);
    }
    c.out.array(v.len());
    for b in v {
        c.out.int(i64::from(b));
    }
    done()
}

pub fn scard(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let n = coll::read(c, &a[1], Kind::Set)?.map_or(0, |(_, h)| h.count);
    c.int(n as i64)
}

pub fn spop(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let count = match a.get(2) {
        Some(n) => {
            let n = int_arg(n)
                .map_err(|_| CmdErr("ERR value is out of range, must be positive".into()))?;
            if n < 0 {
                return Err("ERR value is out of range, must be positive".into());
            }
            Some(n)
        }
        None => None,
    };
    if a.len() > 3 {
        return Err(err::SYNTAX.into());
    }
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let Some((m, mut h)) = txn_read(&mut t, db, &a[1], Kind::Set)? else {
        return match count {
            Some(_) => {
                c.out.set(0);
                done()
            }
            None => c.bulk_opt(None),
        };
    };
    let all = members(c, &a[1], &h)?;
    let picks = super::random_picks(all.len(), count.unwrap_or(1).max(0));
    for &i in &picks {
        t.sub_del(db, &a[1], h.version, &all[i]);
        h.count -= 1;
    }
    save(&mut t, db, &a[1], Kind::Set, &h, m.expire)?;
    t.commit()?;
    match count {
        None => c.bulk_opt(picks.first().map(|&i| all[i].as_slice())),
        Some(_) => {
            c.out.set(picks.len());
            for i in picks {
                c.out.bulk(&all[i]);
            }
            done()
        }
    }
}

pub fn srandmember(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    if a.len() > 3 {
        return Err(err::SYNTAX.into());
    }
    let count = match a.get(2) {
        Some(n) => Some(super::rand_count(n, false)?),
        None => None,
    };
    let all = match coll::read(c, &a[1], Kind::Set)? {
        Some((_, h)) => members(c, &a[1], &h)?,
        None => Vec::new(),
    };
    match count {
        None => {
            if all.is_empty() {
                return c.bulk_opt(None);
            }
            let i = super::random_index(all.len());
            c.bulk_opt(Some(&all[i]))
        }
        Some(n) => {
            let picks = super::random_picks(all.len(), n);
            c.out.array(picks.len());
            for i in picks {
                c.out.bulk(&all[i]);
            }
            done()
        }
    }
}

pub fn smove(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    // Redis's order: a missing source answers 0; then both types are checked.
    if t.get(db, &a[1])?.is_none() {
        return c.int(0);
    }
    let src = txn_read(&mut t, db, &a[1], Kind::Set)?;
    let dst = txn_read(&mut t, db, &a[2], Kind::Set)?;
    let Some((sm, mut sh)) = src else {
        return c.int(0);
    };
    if t.sub_get(db, &a[1], sh.version, &a[3])?.is_none() {
        return c.int(0);
    }
    if a[1] == a[2] {
        return c.int(1);
    }
    t.sub_del(db, &a[1], sh.version, &a[3]);
    sh.count -= 1;
    save(&mut t, db, &a[1], Kind::Set, &sh, sm.expire)?;
    // Redis 7.0 touches the destination (WATCH) only when the member was added to it.
    let present = match &dst {
        Some((_, dh)) => t.sub_get(db, &a[2], dh.version, &a[3])?.is_some(),
        None => false,
    };
    if !present {
        add(&mut t, db, &a[2], &[&a[3]])?;
    }
    t.commit()?;
    c.int(1)
}

/// The sets named by `keys` (missing = empty); WRONGTYPE for another type.
fn load_sets(c: &Ctx, keys: &[Vec<u8>]) -> Result<Vec<BTreeSet<Vec<u8>>>, CmdErr> {
    let mut out = Vec::new();
    for k in keys {
        out.push(match coll::read(c, k, Kind::Set)? {
            Some((_, h)) => members(c, k, &h)?.into_iter().collect(),
            None => BTreeSet::new(),
        });
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Inter,
    Union,
    Diff,
}

fn combine(sets: Vec<BTreeSet<Vec<u8>>>, op: Op) -> BTreeSet<Vec<u8>> {
    let mut it = sets.into_iter();
    let Some(mut acc) = it.next() else {
        return BTreeSet::new();
    };
    for s in it {
        match op {
            Op::Inter => acc.retain(|m| s.contains(m)),
            Op::Union => acc.extend(s),
            Op::Diff => acc.retain(|m| !s.contains(m)),
        }
    }
    acc
}

fn reply_set(c: &mut Ctx, s: &BTreeSet<Vec<u8>>) -> R {
    c.out.set(s.len());
    for m in s {
        c.out.bulk(m);
    }
    done()
}

pub fn sinter(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let s = combine(load_sets(c, &a[1..])?, Op::Inter);
    reply_set(c, &s)
}

pub fn sunion(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let s = combine(load_sets(c, &a[1..])?, Op::Union);
    reply_set(c, &s)
}

pub fn sdiff(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let s = combine(load_sets(c, &a[1..])?, Op::Diff);
    reply_set(c, &s)
}

// The *STORE forms read their sources (committed state) while holding the write lock
// of the transaction that writes the destination: atomic, even when the destination is
// also a source.
fn store_op(c: &mut Ctx, a: &[Vec<u8>], op: Op) -> R {
    let sh = c.sh;
    let db = c.s.db;
    let mut t = sh.store.txn();
    let s = combine(load_sets(c, &a[2..])?, op);
    t.del(db, &a[1])?;
    if !s.is_empty() {
        let items: Vec<&[u8]> = s.iter().map(Vec::as_slice).collect();
        add(&mut t, db, &a[1], &items)?;
    }
    t.commit()?;
    c.int(s.len() as i64)
}

pub fn sinterstore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    store_op(c, a, Op::Inter)
}

pub fn sunionstore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    store_op(c, a, Op::Union)
}

pub fn sdiffstore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    store_op(c, a, Op::Diff)
}

pub fn sintercard(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (n, limit) = super::coll::intercard_args(a, false)?;
    let s = combine(load_sets(c, &a[2..2 + n])?, Op::Inter);
    let mut card = s.len() as i64;
    if limit > 0 {
        card = card.min(limit);
    }
    c.int(card)
}

pub fn sscan(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    super::scan_cmd(c, a, Kind::Set, b"", 1, |out, m, _| out.bulk(m))
}
