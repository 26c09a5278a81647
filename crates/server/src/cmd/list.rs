//! List commands. Element `i` of a list is the sub-record at position `head + i`
//! (u64 big-endian), so LINDEX and LSET are point operations and pushes and pops at
//! either end touch one sub-record.

use super::coll::{self, fresh, save, txn_read};
use super::{done, err, int_arg, is, CmdErr, Ctx, R};
use crate::resp::Out;
use crate::store::{Coll, Kind, Meta, Store, Txn, FLAG_BIG, READ_AHEAD_RECORDS};

fn pos(p: u64) -> [u8; 8] {
    p.to_be_bytes()
}

/// Elements with indexes `from..to` (committed state).
pub fn range(
    store: &Store,
    phys: u8,
    key: &[u8],
    h: &Coll,
    from: u64,
    to: u64,
) -> Result<Vec<Vec<u8>>, CmdErr> {
    let mut out = Vec::with_capacity((to.saturating_sub(from)).min(1 << 16) as usize);
    if from >= to {
        return Ok(out);
    }
    let (lo, hi) = (pos(h.head + from), pos(h.head + to));
    store.sub_scan(phys, key, h.version, Some(&lo), Some(&hi), false, |_, v| {
        out.push(v.to_vec());
        true
    })?;
    Ok(out)
}

/// Redis's index normalization for LRANGE-like (start, end): `from..to` or empty.
fn norm(len: u64, start: i64, end: i64) -> (u64, u64) {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return (0, 0);
    }
    if e >= len {
        e = len - 1;
    }
    (s as u64, e as u64 + 1)
}

fn note_size(h: &mut Coll, v: &[u8]) {
    // Redis 7.0 lists are always quicklists; the flag only records large elements.
    if v.len() > 8192 {
        h.flags |= FLAG_BIG;
    }
}

/// Push `items` at the left or right end; returns the new length. `create`: make the
/// list when missing (LPUSH), else answer 0 (LPUSHX).
pub fn push(
    t: &mut Txn,
    db: usize,
    key: &[u8],
    items: &[&[u8]],
    left: bool,
    create: bool,
) -> Result<i64, CmdErr> {
    let (expire, mut h) = match txn_read(t, db, key, Kind::List)? {
        Some((m, h)) => (m.expire, h),
        None if create => (0, fresh(t)),
        None => return Ok(0),
    };
    for v in items {
        let p = if left {
            h.head -= 1;
            h.head
        } else {
            h.tail += 1;
            h.tail - 1
        };
        // A new end, where no element is now (one popped from there may still be in
        // the pending writes: `sub_put_fresh` checks).
        t.sub_put_fresh(db, key, h.version, &pos(p), v);
        h.count += 1;
        note_size(&mut h, v);
    }
    save(t, db, key, Kind::List, &h, expire)?;
    Ok(h.count as i64)
}

/// Pop up to `n` elements from one end (the caller checked the type).
pub fn pop(t: &mut Txn, db: usize, key: &[u8], n: u64, left: bool) -> Result<Vec<Vec<u8>>, CmdErr> {
    let Some((m, mut h)) = txn_read(t, db, key, Kind::List)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for _ in 0..n.min(h.count) {
        let p = if left { h.head } else { h.tail - 1 };
        // Pops come one element after the other from one end: read ahead. Positions
        // are dense, so a run from the tail reaches no lower than this.
        let from = pos(p.saturating_sub(READ_AHEAD_RECORDS as u64).max(h.head));
        let v = t
            .sub_get_run(
                db,
                key,
                h.version,
                &pos(p),
                left,
                (!left).then_some(&from[..]),
            )?
            .unwrap_or_default();
        t.sub_del_fresh(db, key, h.version, &pos(p));
        if left {
            h.head += 1;
        } else {
            h.tail -= 1;
        }
        h.count -= 1;
        out.push(v);
    }
    save(t, db, key, Kind::List, &h, m.expire)?;
    Ok(out)
}

fn push_cmd(c: &mut Ctx, a: &[Vec<u8>], left: bool, create: bool) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let items: Vec<&[u8]> = a[2..].iter().map(Vec::as_slice).collect();
    let n = push(&mut t, db, &a[1], &items, left, create)?;
    t.commit()?;
    if n > 0 {
        c.signal_key(db, &a[1]);
    }
    c.int(n)
}

pub fn lpush(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    push_cmd(c, a, true, true)
}
pub fn rpush(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    push_cmd(c, a, false, true)
}
pub fn lpushx(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    push_cmd(c, a, true, false)
}
pub fn rpushx(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    push_cmd(c, a, false, false)
}

fn pop_cmd(c: &mut Ctx, a: &[Vec<u8>], left: bool) -> R {
    let count = match a.get(2) {
        Some(n) => {
            let n = int_arg(n)
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| CmdErr("ERR value is out of range, must be positive".into()))?;
            Some(n as u64)
        }
        None => None,
    };
    if a.len() > 3 {
        return Err(CmdErr(format!(
            "ERR wrong number of arguments for '{}' command",
            c.name()
        )));
    }
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    if txn_read(&mut t, db, &a[1], Kind::List)?.is_none() {
        if count.is_some() {
            c.out.null_array();
        } else {
            c.out.null();
        }
        return done();
    }
    if count == Some(0) {
        c.out.array(0);
        return done();
    }
    let got = pop(&mut t, db, &a[1], count.unwrap_or(1), left)?;
    t.commit()?;
    match count {
        None => c.bulk_opt(got.first().map(Vec::as_slice)),
        Some(_) => {
            c.out.bulks(got.iter().map(Vec::as_slice));
            done()
        }
    }
}

pub fn lpop(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    pop_cmd(c, a, true)
}
pub fn rpop(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    pop_cmd(c, a, false)
}

pub fn llen(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let n = coll::read(c, &a[1], Kind::List)?.map_or(0, |(_, h)| h.count);
    c.int(n as i64)
}

pub fn lrange(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (s, e) = (int_arg(&a[2])?, int_arg(&a[3])?);
    let Some((_, h)) = coll::read(c, &a[1], Kind::List)? else {
        c.out.array(0);
        return done();
    };
    let (from, to) = norm(h.count, s, e);
    if from >= to {
        c.out.array(0);
        return done();
    }
    // A list's positions are contiguous, so the reply's length is known: the elements
    // are encoded straight into the reply as the scan meets them.
    let (lo, hi) = (pos(h.head + from), pos(h.head + to));
    let store = &c.sh.store;
    let phys = store.phys(c.s.db);
    c.out.counted((to - from) as usize, Out::array, |buf| {
        let mut n = 0usize;
        store.sub_scan(
            phys,
            &a[1],
            h.version,
            Some(&lo),
            Some(&hi),
            false,
            |_, v| {
                Out::encode_bulk(buf, v);
                n += 1;
                true
            },
        )?;
        Ok::<_, crate::store::Error>(n)
    })?;
    done()
}

fn index_of(h: &Coll, i: i64) -> Option<u64> {
    let n = h.count as i64;
    let i = if i < 0 { n + i } else { i };
    (0..n).contains(&i).then_some(i as u64)
}

pub fn lindex(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let i = int_arg(&a[2])?;
    let v = match coll::read(c, &a[1], Kind::List)? {
        Some((_, h)) => match index_of(&h, i) {
            Some(i) => {
                c.sh.store
                    .sub_get(c.s.db, &a[1], h.version, &pos(h.head + i))?
            }
            None => None,
        },
        None => None,
    };
    c.bulk_opt(v.as_deref())
}

pub fn lset(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let i = int_arg(&a[2])?;
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let Some((m, mut h)) = txn_read(&mut t, db, &a[1], Kind::List)? else {
        return Err(err::NO_SUCH_KEY.into());
    };
    let Some(i) = index_of(&h, i) else {
        return Err("ERR index out of range".into());
    };
    t.sub_put(db, &a[1], h.version, &pos(h.head + i), &a[3]);
    note_size(&mut h, &a[3]);
    save(&mut t, db, &a[1], Kind::List, &h, m.expire)?;
    t.commit()?;
    c.ok()
}

/// Replace a list's contents with `items` under a fresh version (LINSERT, LREM).
fn rewrite(
    t: &mut Txn,
    db: usize,
    key: &[u8],
    m: &Meta,
    old: &Coll,
    items: &[Vec<u8>],
) -> Result<(), CmdErr> {
    let mut h = fresh(t);
    h.flags = old.flags;
    for v in items {
        t.sub_put(db, key, h.version, &pos(h.tail), v);
        h.tail += 1;
        h.count += 1;
    }
    save(t, db, key, Kind::List, &h, m.expire)
}

pub fn linsert(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let before = if is(&a[2], "before") {
        true
    } else if is(&a[2], "after") {
        false
    } else {
        return Err(err::SYNTAX.into());
    };
    let sh = c.sh;
    let db = c.s.db;
    let mut t = sh.store.txn();
    let Some((m, h)) = txn_read(&mut t, db, &a[1], Kind::List)? else {
        return c.int(0);
    };
    let mut items = range(&sh.store, sh.store.phys(db), &a[1], &h, 0, h.count)?;
    let Some(i) = items.iter().position(|v| *v == a[3]) else {
        return c.int(-1);
    };
    items.insert(if before { i } else { i + 1 }, a[4].clone());
    rewrite(&mut t, db, &a[1], &m, &h, &items)?;
    t.commit()?;
    c.int(items.len() as i64)
}

pub fn lrem(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let count = int_arg(&a[2])?;
    let sh = c.sh;
    let db = c.s.db;
    let mut t = sh.store.txn();
    let Some((m, h)) = txn_read(&mut t, db, &a[1], Kind::List)? else {
        return c.int(0);
    };
    let items = range(&sh.store, sh.store.phys(db), &a[1], &h, 0, h.count)?;
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut removed = 0;
    let mut keep: Vec<Vec<u8>> = Vec::with_capacity(items.len());
    if count >= 0 {
        for v in items {
            if removed < limit && v == a[3] {
                removed += 1;
            } else {
                keep.push(v);
            }
        }
    } else {
        for v in items.into_iter().rev() {
            if removed < limit && v == a[3] {
                removed += 1;
            } else {
                keep.push(v);
            }
        }
        keep.reverse();
    }
    if removed > 0 {
        rewrite(&mut t, db, &a[1], &m, &h, &keep)?;
        t.commit()?;
    }
    c.int(removed as i64)
}

pub fn ltrim(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (s, e) = (int_arg(&a[2])?, int_arg(&a[3])?);
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let Some((m, mut h)) = txn_read(&mut t, db, &a[1], Kind::List)? else {
        return c.ok();
    };
    let (from, to) = norm(h.count, s, e);
    // Deleting the dropped elements one by one costs what Redis's LTRIM costs, O(k).
    for i in (0..from).chain(to.max(from)..h.count) {
        t.sub_del(db, &a[1], h.version, &pos(h.head + i));
    }
    let (head, count) = (h.head + from, to.saturating_sub(from));
    h.head = head;
    h.tail = head + count;
    h.count = count;
    save(&mut t, db, &a[1], Kind::List, &h, m.expire)?;
    t.commit()?;
    c.ok()
}

pub fn lpos(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let mut rank = 1i64;
    let mut count: Option<i64> = None;
    let mut maxlen = 0i64;
    let mut i = 3;
    while i < a.len() {
        if i + 1 >= a.len() {
            return Err(err::SYNTAX.into());
        }
        let v = int_arg(&a[i + 1])?;
        if is(&a[i], "rank") {
            if v == 0 {
                return Err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list".into());
            }
            if v == i64::MIN {
                return Err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807".into());
            }
            rank = v;
        } else if is(&a[i], "count") {
            if v < 0 {
                return Err("ERR COUNT can't be negative".into());
            }
            count = Some(v);
        } else if is(&a[i], "maxlen") {
            if v < 0 {
                return Err("ERR MAXLEN can't be negative".into());
            }
            maxlen = v;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 2;
    }
    let items = match coll::read(c, &a[1], Kind::List)? {
        Some((_, h)) => range(&c.sh.store, c.sh.store.phys(c.s.db), &a[1], &h, 0, h.count)?,
        None => Vec::new(),
    };
    let n = items.len();
    let order: Box<dyn Iterator<Item = usize>> = if rank > 0 {
        Box::new(0..n)
    } else {
        Box::new((0..n).rev())
    };
    let mut skip = rank.unsigned_abs() - 1;
    let want = match count {
        Some(0) => usize::MAX,
        Some(k) => k as usize,
        None => 1,
    };
    let mut found = Vec::new();
    for (scanned, idx) in order.enumerate() {
        if maxlen > 0 && scanned as i64 >= maxlen {
            break;
        }
        if items[idx] == a[2] {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(idx as i64);
            if found.len() >= want {
                break;
            }
        }
    }
    match count {
        None => match found.first() {
            Some(&p) => c.int(p),
            None => c.bulk_opt(None),
        },
        Some(_) => {
            c.out.array(found.len());
            for p in found {
                c.out.int(p);
            }
            done()
        }
    }
}

fn side(a: &[u8]) -> Result<bool, CmdErr> {
    if is(a, "left") {
        Ok(true)
    } else if is(a, "right") {
        Ok(false)
    } else {
        Err(err::SYNTAX.into())
    }
}

/// LMOVE's body inside a transaction: the moved element, or None (source missing).
pub fn lmove_in(
    t: &mut Txn,
    db: usize,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> Result<Option<Vec<u8>>, CmdErr> {
    let Some((_, h)) = txn_read(t, db, src, Kind::List)? else {
        return Ok(None);
    };
    if src == dst && h.count == 1 {
        // Rotating a one-element list changes nothing. (Popping it would delete the key,
        // and its TTL with it: Redis moves the element within the same list.)
        return Ok(Some(
            t.sub_get(db, src, h.version, &pos(h.head))?
                .unwrap_or_default(),
        ));
    }
    // The destination must be a list (or missing) before anything moves.
    txn_read(t, db, dst, Kind::List)?;
    let v = pop(t, db, src, 1, from_left)?;
    let Some(v) = v.into_iter().next() else {
        return Ok(None);
    };
    push(t, db, dst, &[&v], to_left, true)?;
    Ok(Some(v))
}

pub fn lmove(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (fl, tl) = (side(&a[3])?, side(&a[4])?);
    move_cmd(c, &a[1], &a[2], fl, tl)
}

pub fn rpoplpush(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    move_cmd(c, &a[1], &a[2], false, true)
}

fn move_cmd(c: &mut Ctx, src: &[u8], dst: &[u8], fl: bool, tl: bool) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let v = lmove_in(&mut t, db, src, dst, fl, tl)?;
    t.commit()?;
    if v.is_some() {
        c.signal_key(db, dst);
    }
    c.bulk_opt(v.as_deref())
}

/// Parse `numkeys key... LEFT|RIGHT [COUNT n]` (LMPOP) starting at `a[from]`.
pub fn parse_mpop(
    a: &[Vec<u8>],
    from: usize,
    sides: (&str, &str),
) -> Result<(Vec<Vec<u8>>, bool, u64), CmdErr> {
    let n = int_arg(&a[from])
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| CmdErr("ERR numkeys should be greater than 0".into()))? as usize;
    if n > a.len().saturating_sub(from + 2) {
        return Err(err::SYNTAX.into());
    }
    let keys = a[from + 1..from + 1 + n].to_vec();
    let w = &a[from + 1 + n];
    let left = if is(w, sides.0) {
        true
    } else if is(w, sides.1) {
        false
    } else {
        return Err(err::SYNTAX.into());
    };
    let mut count = 1u64;
    let mut i = from + 2 + n;
    let mut seen = false;
    while i < a.len() {
        if is(&a[i], "count") && i + 1 < a.len() && !seen {
            let v = int_arg(&a[i + 1])
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| CmdErr("ERR count should be greater than 0".into()))?;
            count = v as u64;
            seen = true;
            i += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    Ok((keys, left, count))
}

/// LMPOP's body: the first non-empty list's name and popped elements.
pub fn lmpop_in(
    t: &mut Txn,
    db: usize,
    keys: &[Vec<u8>],
    left: bool,
    count: u64,
) -> Result<super::Popped<Vec<u8>>, CmdErr> {
    for k in keys {
        if txn_read(t, db, k, Kind::List)?.is_some() {
            let v = pop(t, db, k, count, left)?;
            return Ok(Some((k.clone(), v)));
        }
    }
    Ok(None)
}

pub fn reply_mpop(c: &mut Ctx, r: super::Popped<Vec<u8>>) -> R {
    match r {
        None => {
            c.out.null_array();
            done()
        }
        Some((k, v)) => {
            c.out.array(2);
            c.out.bulk(&k);
            c.out.bulks(v.iter().map(Vec::as_slice));
            done()
        }
    }
}

pub fn lmpop(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (keys, left, count) = parse_mpop(a, 1, ("left", "right"))?;
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let r = lmpop_in(&mut t, db, &keys, left, count)?;
    t.commit()?;
    reply_mpop(c, r)
}
