//! Sorted-set commands. A sorted set has two families of sub-records per version:
//! `0x00 | member` → score (f64 bits, big-endian), and the score index
//! `0x01 | ordered(score) | member` → score, where `ordered` maps f64 to 8 bytes that
//! sort as the numbers do (-inf < negatives < -0 == 0 < positives < +inf). Range queries
//! by score or lex are range scans of the index.

use std::collections::BTreeMap;

use strata_rdb::format_g17;

use super::coll::{self, fresh, save, txn_read, txn_read_or_fresh};
use super::{done, err, float_arg, int_arg, is, CmdErr, Ctx, R};
use crate::store::{Coll, Kind, Meta, Store, Txn, FLAG_BIG};

pub(crate) const LP_ENTRIES: u64 = 128;
pub(crate) const LP_VALUE: usize = 64;

pub use strata_dump::records::ordered;

fn member_field(m: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(1 + m.len());
    f.push(0);
    f.extend_from_slice(m);
    f
}

fn index_field(score: f64, m: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(9 + m.len());
    f.push(1);
    f.extend_from_slice(&ordered(score));
    f.extend_from_slice(m);
    f
}

fn score_of(v: &[u8]) -> f64 {
    let mut a = [0u8; 8];
    if v.len() == 8 {
        a.copy_from_slice(v);
    }
    f64::from_bits(u64::from_be_bytes(a))
}

pub(crate) fn note(h: &mut Coll, m: &[u8]) {
    if m.len() > LP_VALUE || h.count > LP_ENTRIES {
        h.flags |= FLAG_BIG;
    }
}

/// A member's score inside a transaction.
fn txn_score(
    t: &mut Txn,
    db: usize,
    key: &[u8],
    h: &Coll,
    m: &[u8],
) -> Result<Option<f64>, CmdErr> {
    Ok(t.sub_get(db, key, h.version, &member_field(m))?
        .map(|v| score_of(&v)))
}

/// Set a member's score (replacing its index entry); returns true if it was new.
pub(crate) fn put_member(
    t: &mut Txn,
    db: usize,
    key: &[u8],
    h: &mut Coll,
    m: &[u8],
    old: Option<f64>,
    score: f64,
) {
    if let Some(o) = old {
        t.sub_write_unread(db, key, h.version, &index_field(o, m), None);
    } else {
        h.count += 1;
    }
    note(h, m);
    // Redis 7.0 writes an integral score into a listpack as an integer, so a -0 added
    // to a compact set reads back as 0 (a skiplist keeps -0).
    let score = if score == 0.0 && h.flags & FLAG_BIG == 0 {
        0.0
    } else {
        score
    };
    let bits = score.to_bits().to_be_bytes();
    t.sub_put(db, key, h.version, &member_field(m), &bits);
    t.sub_write_unread(db, key, h.version, &index_field(score, m), Some(&bits));
}

fn del_member(t: &mut Txn, db: usize, key: &[u8], h: &mut Coll, m: &[u8], score: f64) {
    t.sub_del(db, key, h.version, &member_field(m));
    t.sub_write_unread(db, key, h.version, &index_field(score, m), None);
    h.count -= 1;
}

/// Visit the index in order (or reversed) between index-field bounds; `f(member,
/// score)` returns false to stop.
#[allow(clippy::too_many_arguments)]
fn scan_index(
    store: &Store,
    phys: u8,
    key: &[u8],
    h: &Coll,
    reverse: bool,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    mut f: impl FnMut(&[u8], f64) -> bool,
) -> Result<(), CmdErr> {
    let lo = lower.unwrap_or_else(|| vec![1]);
    let hi = upper.unwrap_or_else(|| vec![2]);
    store.sub_scan(
        phys,
        key,
        h.version,
        Some(&lo),
        Some(&hi),
        reverse,
        |field, v| f(&field[9..], score_of(v)),
    )?;
    Ok(())
}

/// Visit the members with `min <= score < max` in order; `f(member, score)` returns
/// false to stop.
pub(crate) fn scan_scores(
    store: &Store,
    phys: u8,
    key: &[u8],
    h: &Coll,
    min: f64,
    max: f64,
    f: impl FnMut(&[u8], f64) -> bool,
) -> Result<(), CmdErr> {
    let (lo, hi) = (index_field(min, b""), index_field(max, b""));
    scan_index(store, phys, key, h, false, Some(lo), Some(hi), f)
}

/// Every (member, score) in score order.
pub fn all(store: &Store, phys: u8, key: &[u8], h: &Coll) -> Result<Vec<(Vec<u8>, f64)>, CmdErr> {
    let mut out = Vec::with_capacity(h.count.min(1 << 16) as usize);
    scan_index(store, phys, key, h, false, None, None, |m, s| {
        out.push((m.to_vec(), s));
        true
    })?;
    Ok(out)
}

#[derive(Clone, Copy, Debug)]
struct ScoreBound {
    v: f64,
    excl: bool,
}

fn parse_score_bound(a: &[u8]) -> Result<ScoreBound, CmdErr> {
    let bad = || CmdErr("ERR min or max is not a float".into());
    let (excl, s) = match a.first() {
        Some(b'(') => (true, &a[1..]),
        _ => (false, a),
    };
    let v = crate::cfloat::range_bound(s).ok_or_else(bad)?;
    Ok(ScoreBound { v, excl })
}

#[derive(Clone, Debug)]
enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

fn parse_lex_bound(a: &[u8]) -> Result<LexBound, CmdErr> {
    match a.first() {
        Some(b'-') if a.len() == 1 => Ok(LexBound::Min),
        Some(b'+') if a.len() == 1 => Ok(LexBound::Max),
        Some(b'[') => Ok(LexBound::Incl(a[1..].to_vec())),
        Some(b'(') => Ok(LexBound::Excl(a[1..].to_vec())),
        _ => Err("ERR min or max not valid string range item".into()),
    }
}

fn lex_gte_min(m: &[u8], min: &LexBound) -> bool {
    match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Incl(x) => m >= x.as_slice(),
        LexBound::Excl(x) => m > x.as_slice(),
    }
}

fn lex_lte_max(m: &[u8], max: &LexBound) -> bool {
    match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Incl(x) => m <= x.as_slice(),
        LexBound::Excl(x) => m < x.as_slice(),
    }
}

#[derive(Clone, Debug)]
enum By {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

fn in_score(s: f64, min: ScoreBound, max: ScoreBound) -> bool {
    (if min.excl { s > min.v } else { s >= min.v })
        && (if max.excl { s < max.v } else { s <= max.v })
}

/// Redis's rank normalization: `from..to` (forward ranks) or empty.
fn norm_rank(n: u64, start: i64, end: i64) -> (u64, u64) {
    let n = n as i64;
    let mut s = if start < 0 { n + start } else { start };
    let mut e = if end < 0 { n + end } else { end };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= n {
        return (0, 0);
    }
    if e >= n {
        e = n - 1;
    }
    (s as u64, e as u64 + 1)
}

/// The elements a ZRANGE-family query selects, in reply order. `limit`: (offset,
/// count), count < 0 = all.
fn select(
    store: &Store,
    phys: u8,
    key: &[u8],
    h: &Coll,
    by: &By,
    rev: bool,
    limit: (i64, i64),
) -> Result<Vec<(Vec<u8>, f64)>, CmdErr> {
    let mut out = Vec::new();
    match by {
        By::Rank(s, e) => {
            let (from, to) = norm_rank(h.count, *s, *e);
            let mut i = 0u64;
            if from < to {
                scan_index(store, phys, key, h, rev, None, None, |m, sc| {
                    if i >= to {
                        return false;
                    }
                    if i >= from {
                        out.push((m.to_vec(), sc));
                    }
                    i += 1;
                    true
                })?;
            }
        }
        By::Score(min, max) => {
            let (off, cnt) = limit;
            if off < 0 || min.v > max.v {
                return Ok(out);
            }
            let mut skipped = 0i64;
            let lower = {
                let mut f = vec![1];
                f.extend_from_slice(&ordered(min.v));
                f
            };
            let upper = {
                let mut f = vec![1];
                f.extend_from_slice(&ordered(max.v));
                crate::store::prefix_end(&f)
            };
            scan_index(
                store,
                phys,
                key,
                h,
                rev,
                Some(lower),
                Some(upper),
                |m, sc| {
                    if cnt >= 0 && out.len() as i64 >= cnt {
                        return false;
                    }
                    if !in_score(sc, *min, *max) {
                        return true;
                    }
                    if skipped < off {
                        skipped += 1;
                        return true;
                    }
                    out.push((m.to_vec(), sc));
                    true
                },
            )?;
        }
        By::Lex(min, max) => {
            let (off, cnt) = limit;
            if off < 0 {
                return Ok(out);
            }
            let mut skipped = 0i64;
            scan_index(store, phys, key, h, rev, None, None, |m, sc| {
                if cnt >= 0 && out.len() as i64 >= cnt {
                    return false;
                }
                // Members of equal score are in lex order: stop once past the range.
                if !rev && !lex_lte_max(m, max) {
                    return false;
                }
                if rev && !lex_gte_min(m, min) {
                    return false;
                }
                if !lex_gte_min(m, min) || !lex_lte_max(m, max) {
                    return true;
                }
                if skipped < off {
                    skipped += 1;
                    return true;
                }
                out.push((m.to_vec(), sc));
                true
            })?;
        }
    }
    Ok(out)
}

fn reply_pairs(c: &mut Ctx, items: &[(Vec<u8>, f64)], withscores: bool) {
    if withscores && c.s.proto >= 3 {
        c.out.array(items.len());
        for (m, s) in items {
            c.out.array(2);
            c.out.bulk(m);
            c.out.double(&format_g17(*s));
        }
    } else {
        c.out.array(items.len() * if withscores { 2 } else { 1 });
        for (m, s) in items {
            c.out.bulk(m);
            if withscores {
                c.out.double(&format_g17(*s));
            }
        }
    }
}

pub fn zadd(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (mut nx, mut xx, mut ch, mut incr, mut gt, mut lt) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < a.len() {
        let o = &a[i];
        if is(o, "nx") {
            nx = true;
        } else if is(o, "xx") {
            xx = true;
        } else if is(o, "ch") {
            ch = true;
        } else if is(o, "incr") {
            incr = true;
        } else if is(o, "gt") {
            gt = true;
        } else if is(o, "lt") {
            lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let elems = &a[i..];
    if elems.is_empty() || !elems.len().is_multiple_of(2) {
        return Err(err::SYNTAX.into());
    }
    if nx && xx {
        return Err("ERR XX and NX options at the same time are not compatible".into());
    }
    if ((gt || lt) && nx) || (gt && lt) {
        return Err("ERR GT, LT, and/or NX options at the same time are not compatible".into());
    }
    if incr && elems.len() > 2 {
        return Err("ERR INCR option supports a single increment-element pair".into());
    }
    let mut pairs = Vec::new();
    for p in elems.chunks(2) {
        let s = float_arg(&p[0]).ok_or_else(|| CmdErr(err::NOT_FLOAT.into()))?;
        pairs.push((s, &p[1]));
    }
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let existing = txn_read(&mut t, db, &a[1], Kind::ZSet)?;
    if existing.is_none() && xx {
        if incr {
            c.out.null();
            return done();
        }
        return c.int(0);
    }
    let (expire, mut h) = match existing {
        Some((m, h)) => (m.expire, h),
        None => (0, fresh(&mut t)),
    };
    let (mut added, mut changed) = (0i64, 0i64);
    let mut incr_result: Option<f64> = None;
    for (score, m) in pairs {
        let cur = txn_score(&mut t, db, &a[1], &h, m)?;
        match cur {
            Some(cur) => {
                if nx {
                    continue;
                }
                let new = if incr { cur + score } else { score };
                if new.is_nan() {
                    return Err("ERR resulting score is not a number (NaN)".into());
                }
                if (gt && new <= cur) || (lt && new >= cur) {
                    continue;
                }
                incr_result = Some(new);
                // As Redis: a score equal to the current one (-0 equals 0) changes
                // nothing.
                if new != cur {
                    put_member(&mut t, db, &a[1], &mut h, m, Some(cur), new);
                    changed += 1;
                }
            }
            None => {
                if xx {
                    continue;
                }
                put_member(&mut t, db, &a[1], &mut h, m, None, score);
                incr_result = Some(score);
                added += 1;
            }
        }
    }
    save(&mut t, db, &a[1], Kind::ZSet, &h, expire)?;
    t.commit()?;
    if added > 0 || changed > 0 {
        c.signal_key(db, &a[1]);
    }
    if incr {
        match incr_result {
            Some(s) => c.out.double(&format_g17(s)),
            None => c.out.null(),
        }
        return done();
    }
    c.int(if ch { added + changed } else { added })
}

pub fn zincrby(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let by = float_arg(&a[2]).ok_or_else(|| CmdErr(err::NOT_FLOAT.into()))?;
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let (expire, mut h) = txn_read_or_fresh(&mut t, db, &a[1], Kind::ZSet)?;
    let cur = txn_score(&mut t, db, &a[1], &h, &a[3])?;
    // A new member gets the increment itself (-0 stays -0, as in Redis).
    let new = cur.map_or(by, |c| c + by);
    if new.is_nan() {
        return Err("ERR resulting score is not a number (NaN)".into());
    }
    // An unchanged score (-0 equals 0) is not rewritten, as in Redis.
    if cur != Some(new) {
        put_member(&mut t, db, &a[1], &mut h, &a[3], cur, new);
    }
    save(&mut t, db, &a[1], Kind::ZSet, &h, expire)?;
    t.commit()?;
    c.signal_key(db, &a[1]);
    c.out.double(&format_g17(new));
    done()
}

pub fn zrem(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let Some((m, mut h)) = txn_read(&mut t, db, &a[1], Kind::ZSet)? else {
        return c.int(0);
    };
    let mut n = 0;
    for mem in &a[2..] {
        if let Some(s) = txn_score(&mut t, db, &a[1], &h, mem)? {
            del_member(&mut t, db, &a[1], &mut h, mem, s);
            n += 1;
        }
    }
    save(&mut t, db, &a[1], Kind::ZSet, &h, m.expire)?;
    t.commit()?;
    c.int(n)
}

pub fn zcard(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let n = coll::read(c, &a[1], Kind::ZSet)?.map_or(0, |(_, h)| h.count);
    c.int(n as i64)
}

pub(crate) fn score(
    c: &Ctx,
    key: &[u8],
    h: &Option<(Meta, Coll)>,
    m: &[u8],
) -> Result<Option<f64>, CmdErr> {
    Ok(match h {
        Some((_, h)) => {
            c.sh.store
                .sub_get(c.s.db, key, h.version, &member_field(m))?
                .map(|v| score_of(&v))
        }
        None => None,
    })
}

pub fn zscore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let h = coll::read(c, &a[1], Kind::ZSet)?;
    match score(c, &a[1], &h, &a[2])? {
        Some(s) => c.out.double(&format_g17(s)),
        None => c.out.null(),
    }
    done()
}

pub fn zmscore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let h = coll::read(c, &a[1], Kind::ZSet)?;
    let mut v = Vec::new();
    for m in &a[2..] {
        v.push(score(c, &a[1], &h, m)?);
    }
    c.out.array(v.len());
    for s in v {
        match s {
            Some(s) => c.out.double(&format_g17(s)),
            None => c.out.null(),
        }
    }
    done()
}

fn rank(c: &mut Ctx, a: &[Vec<u8>], rev: bool) -> R {
    let h = coll::read(c, &a[1], Kind::ZSet)?;
    let Some(s) = score(c, &a[1], &h, &a[2])? else {
        return c.bulk_opt(None);
    };
    let Some((_, h)) = h else {
        return c.bulk_opt(None);
    };
    // Count the index entries before the member's: O(rank) (docs/commands.md).
    let mut before = 0u64;
    let target = index_field(s, &a[2]);
    c.sh.store.sub_scan(
        c.sh.store.phys(c.s.db),
        &a[1],
        h.version,
        Some(&[1]),
        Some(&target),
        false,
        |_, _| {
            before += 1;
            true
        },
    )?;
    let r = if rev { h.count - 1 - before } else { before };
    c.int(r as i64)
}

pub fn zrank(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    rank(c, a, false)
}

pub fn zrevrank(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    rank(c, a, true)
}

/// ZCOUNT / ZLEXCOUNT: how many members `by` selects.
fn count_range(c: &mut Ctx, key: &[u8], by: By) -> R {
    let n = match coll::read(c, key, Kind::ZSet)? {
        Some((_, h)) => {
            let store = &c.sh.store;
            select(store, store.phys(c.s.db), key, &h, &by, false, (0, -1))?.len()
        }
        None => 0,
    };
    c.int(n as i64)
}

pub fn zcount(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (min, max) = (parse_score_bound(&a[2])?, parse_score_bound(&a[3])?);
    count_range(c, &a[1], By::Score(min, max))
}

pub fn zlexcount(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (min, max) = (parse_lex_bound(&a[2])?, parse_lex_bound(&a[3])?);
    count_range(c, &a[1], By::Lex(min, max))
}

/// Parsed ZRANGE-family arguments.
struct RangeArgs {
    by: By,
    rev: bool,
    limit: (i64, i64),
    withscores: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Kindish {
    Auto,
    Score,
    Lex,
}

/// Parse `min max [BYSCORE|BYLEX] [REV] [LIMIT o c] [WITHSCORES]` (`a[from..]`), with
/// `fixed` a range type forced by the command name and `rev` by the command name.
fn parse_range(
    a: &[Vec<u8>],
    from: usize,
    fixed: Kindish,
    rev_fixed: bool,
    allow_withscores: bool,
) -> Result<RangeArgs, CmdErr> {
    let mut kind = fixed;
    let mut rev = rev_fixed;
    let mut limit: Option<(i64, i64)> = None;
    let mut withscores = false;
    let mut i = from + 2;
    while i < a.len() {
        let o = &a[i];
        if allow_withscores && is(o, "withscores") {
            withscores = true;
        } else if is(o, "limit") && i + 2 < a.len() {
            limit = Some((int_arg(&a[i + 1])?, int_arg(&a[i + 2])?));
            i += 2;
        } else if fixed == Kindish::Auto && !rev_fixed && is(o, "byscore") {
            // (ZREVRANGE is by rank only.)
            kind = Kindish::Score;
        } else if fixed == Kindish::Auto && !rev_fixed && is(o, "bylex") {
            kind = Kindish::Lex;
        } else if fixed == Kindish::Auto && !rev_fixed && is(o, "rev") {
            rev = true;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    // A LIMIT whose count is -1 (Redis's "no limit") passes in a rank range.
    if limit.is_some_and(|(_, n)| n != -1) && kind == Kindish::Auto {
        return Err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
                .into(),
        );
    }
    if withscores && kind == Kindish::Lex {
        return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX".into());
    }
    // In REV form the first bound is the maximum.
    let (lo, hi) = if rev && kind != Kindish::Auto {
        (&a[from + 1], &a[from])
    } else {
        (&a[from], &a[from + 1])
    };
    let by = match kind {
        Kindish::Auto => By::Rank(int_arg(&a[from])?, int_arg(&a[from + 1])?),
        Kindish::Score => By::Score(parse_score_bound(lo)?, parse_score_bound(hi)?),
        Kindish::Lex => By::Lex(parse_lex_bound(lo)?, parse_lex_bound(hi)?),
    };
    Ok(RangeArgs {
        by,
        rev,
        limit: limit.unwrap_or((0, -1)),
        withscores,
    })
}

fn range_reply(c: &mut Ctx, a: &[Vec<u8>], fixed: Kindish, rev: bool) -> R {
    let r = parse_range(a, 2, fixed, rev, true)?;
    let items = match coll::read(c, &a[1], Kind::ZSet)? {
        Some((_, h)) => select(
            &c.sh.store,
            c.sh.store.phys(c.s.db),
            &a[1],
            &h,
            &r.by,
            r.rev,
            r.limit,
        )?,
        None => Vec::new(),
    };
    reply_pairs(c, &items, r.withscores);
    done()
}

pub fn zrange(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    range_reply(c, a, Kindish::Auto, false)
}
pub fn zrevrange(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    range_reply(c, a, Kindish::Auto, true)
}
pub fn zrangebyscore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    range_reply(c, a, Kindish::Score, false)
}
pub fn zrevrangebyscore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    range_reply(c, a, Kindish::Score, true)
}
pub fn zrangebylex(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    range_reply(c, a, Kindish::Lex, false)
}
pub fn zrevrangebylex(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    range_reply(c, a, Kindish::Lex, true)
}

/// Replace `dst` with `items` (deleted when empty), inside `t`. `big`: the result
/// starts in the skiplist encoding (which keeps -0 scores) rather than as a listpack
/// that converts once it outgrows it, as Redis builds it.
pub(crate) fn store_items(
    t: &mut Txn,
    db: usize,
    dst: &[u8],
    items: &[(Vec<u8>, f64)],
    big: bool,
) -> Result<(), CmdErr> {
    t.del(db, dst)?;
    if items.is_empty() {
        return Ok(());
    }
    let mut h = fresh(t);
    if big {
        h.flags |= FLAG_BIG;
    }
    for (m, s) in items {
        put_member(t, db, dst, &mut h, m, None, *s);
    }
    save(t, db, dst, Kind::ZSet, &h, 0)
}

pub fn zrangestore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let r = parse_range(a, 3, Kindish::Auto, false, false)?;
    let sh = c.sh;
    let db = c.s.db;
    let mut t = sh.store.txn();
    let items = match txn_read(&mut t, db, &a[2], Kind::ZSet)? {
        Some((_, h)) => select(
            &sh.store,
            sh.store.phys(db),
            &a[2],
            &h,
            &r.by,
            r.rev,
            r.limit,
        )?,
        None => Vec::new(),
    };
    // Redis 7.0 creates the destination for the range's length when it is known (rank
    // ranges), then adds the elements one by one.
    let big = matches!(r.by, By::Rank(..)) && items.len() as u64 > LP_ENTRIES;
    store_items(&mut t, db, &a[1], &items, big)?;
    t.commit()?;
    c.signal_key(db, &a[1]);
    c.int(items.len() as i64)
}

fn remrange(c: &mut Ctx, a: &[Vec<u8>], by: By) -> R {
    let sh = c.sh;
    let db = c.s.db;
    let mut t = sh.store.txn();
    let Some((m, mut h)) = txn_read(&mut t, db, &a[1], Kind::ZSet)? else {
        return c.int(0);
    };
    let items = select(&sh.store, sh.store.phys(db), &a[1], &h, &by, false, (0, -1))?;
    for (mem, s) in &items {
        del_member(&mut t, db, &a[1], &mut h, mem, *s);
    }
    save(&mut t, db, &a[1], Kind::ZSet, &h, m.expire)?;
    t.commit()?;
    c.int(items.len() as i64)
}

pub fn zremrangebyrank(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let by = By::Rank(int_arg(&a[2])?, int_arg(&a[3])?);
    remrange(c, a, by)
}
pub fn zremrangebyscore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let by = By::Score(parse_score_bound(&a[2])?, parse_score_bound(&a[3])?);
    remrange(c, a, by)
}
pub fn zremrangebylex(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let by = By::Lex(parse_lex_bound(&a[2])?, parse_lex_bound(&a[3])?);
    remrange(c, a, by)
}

/// Pop up to `n` lowest (or highest) members inside a transaction.
pub fn pop_in(
    t: &mut Txn,
    db: usize,
    key: &[u8],
    n: u64,
    max: bool,
) -> Result<Vec<(Vec<u8>, f64)>, CmdErr> {
    let Some((m, mut h)) = txn_read(t, db, key, Kind::ZSet)? else {
        return Ok(Vec::new());
    };
    let store = t.store();
    let phys = t.phys(db);
    let mut items = Vec::new();
    scan_index(store, phys, key, &h, max, None, None, |mem, s| {
        if items.len() as u64 >= n {
            return false;
        }
        items.push((mem.to_vec(), s));
        true
    })?;
    for (mem, s) in &items {
        del_member(t, db, key, &mut h, mem, *s);
    }
    save(t, db, key, Kind::ZSet, &h, m.expire)?;
    Ok(items)
}

fn zpop(c: &mut Ctx, a: &[Vec<u8>], max: bool) -> R {
    let count = match a.get(2) {
        Some(n) => {
            let n = int_arg(n)?;
            if n < 0 {
                return Err("ERR value is out of range, must be positive".into());
            }
            Some(n as u64)
        }
        None => None,
    };
    if a.len() > 3 {
        return Err(err::SYNTAX.into());
    }
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let items = pop_in(&mut t, db, &a[1], count.unwrap_or(1), max)?;
    t.commit()?;
    let nested = c.s.proto >= 3 && count.is_some();
    if nested {
        reply_pairs(c, &items, true);
    } else {
        c.out.array(items.len() * 2);
        for (m, s) in &items {
            c.out.bulk(m);
            c.out.double(&format_g17(*s));
        }
    }
    done()
}

pub fn zpopmin(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    zpop(c, a, false)
}
pub fn zpopmax(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    zpop(c, a, true)
}

/// ZMPOP's body: the first non-empty sorted set and its popped members.
pub fn zmpop_in(
    t: &mut Txn,
    db: usize,
    keys: &[Vec<u8>],
    max: bool,
    count: u64,
) -> Result<super::Popped<(Vec<u8>, f64)>, CmdErr> {
    for k in keys {
        if txn_read(t, db, k, Kind::ZSet)?.is_some() {
            let v = pop_in(t, db, k, count, max)?;
            return Ok(Some((k.clone(), v)));
        }
    }
    Ok(None)
}

pub fn reply_zmpop(c: &mut Ctx, r: super::Popped<(Vec<u8>, f64)>) -> R {
    match r {
        None => c.out.null_array(),
        Some((k, items)) => {
            c.out.array(2);
            c.out.bulk(&k);
            c.out.array(items.len());
            for (m, s) in &items {
                c.out.array(2);
                c.out.bulk(m);
                c.out.double(&format_g17(*s));
            }
        }
    }
    done()
}

pub fn zmpop(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (keys, min, count) = super::list::parse_mpop(a, 1, ("min", "max"))?;
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let r = zmpop_in(&mut t, db, &keys, !min, count)?;
    t.commit()?;
    reply_zmpop(c, r)
}

pub fn zrandmember(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let count = match a.get(2) {
        Some(n) => Some(super::rand_count(n, false)?),
        None => None,
    };
    let withscores = match a.get(3) {
        None => false,
        Some(w) if is(w, "withscores") && a.len() == 4 => true,
        Some(_) => return Err(err::SYNTAX.into()),
    };
    if let (Some(_), true) = (count, withscores) {
        super::rand_count(&a[2], true)?;
    }
    let items = match coll::read(c, &a[1], Kind::ZSet)? {
        Some((_, h)) => all(&c.sh.store, c.sh.store.phys(c.s.db), &a[1], &h)?,
        None => Vec::new(),
    };
    let Some(n) = count else {
        if items.is_empty() {
            return c.bulk_opt(None);
        }
        let i = super::random_index(items.len());
        return c.bulk_opt(Some(&items[i].0));
    };
    let picks: Vec<(Vec<u8>, f64)> = super::random_picks(items.len(), n)
        .into_iter()
        .map(|i| items[i].clone())
        .collect();
    reply_pairs(c, &picks, withscores);
    done()
}

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Agg {
    Sum,
    Min,
    Max,
}

/// A set or sorted set as (member → score); sets score 1. WRONGTYPE otherwise.
fn load_input(c: &Ctx, key: &[u8]) -> Result<Option<BTreeMap<Vec<u8>, f64>>, CmdErr> {
    let Some(m) = c.lookup(key)? else {
        return Ok(None);
    };
    let h = match m.kind {
        Kind::ZSet | Kind::Set => m.header()?,
        _ => return Err(err::WRONGTYPE.into()),
    };
    let phys = c.sh.store.phys(c.s.db);
    if m.kind == Kind::Set {
        let ms = super::set::members(c, key, &h)?;
        return Ok(Some(ms.into_iter().map(|m| (m, 1.0)).collect()));
    }
    Ok(Some(all(&c.sh.store, phys, key, &h)?.into_iter().collect()))
}

fn aggregate(a: Agg, x: f64, y: f64) -> f64 {
    match a {
        Agg::Sum => {
            let s = x + y;
            // inf + -inf: Redis gives 0 instead of NaN.
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        // As Redis: the new value only when strictly smaller (larger), so of -0 and 0
        // the first one met stays.
        Agg::Min => {
            if y < x {
                y
            } else {
                x
            }
        }
        Agg::Max => {
            if y > x {
                y
            } else {
                x
            }
        }
    }
}

fn weighted(s: f64, w: f64) -> f64 {
    let r = s * w;
    if r.is_nan() {
        0.0
    } else {
        r
    }
}

/// Parse and compute ZUNION/ZINTER/ZDIFF (and their STORE forms): `a[from]` is
/// numkeys. Returns the result in score order and WITHSCORES.
fn setop(
    c: &Ctx,
    a: &[Vec<u8>],
    from: usize,
    op: SetOp,
    store: bool,
) -> Result<(super::Scored, bool), CmdErr> {
    let name = c.name();
    let n = int_arg(&a[from])?;
    if n < 1 {
        return Err(CmdErr(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    let n = n as usize;
    if n > a.len() - from - 1 {
        return Err(err::SYNTAX.into());
    }
    let keys = &a[from + 1..from + 1 + n];
    let mut weights = vec![1.0; n];
    let mut agg = Agg::Sum;
    let mut withscores = false;
    let mut i = from + 1 + n;
    while i < a.len() {
        if op != SetOp::Diff && is(&a[i], "weights") && i + n < a.len() {
            for (j, w) in weights.iter_mut().enumerate() {
                *w = float_arg(&a[i + 1 + j])
                    .ok_or_else(|| CmdErr("ERR weight value is not a float".into()))?;
            }
            i += n + 1;
        } else if op != SetOp::Diff && is(&a[i], "aggregate") && i + 1 < a.len() {
            agg = if is(&a[i + 1], "sum") {
                Agg::Sum
            } else if is(&a[i + 1], "min") {
                Agg::Min
            } else if is(&a[i + 1], "max") {
                Agg::Max
            } else {
                return Err(err::SYNTAX.into());
            };
            i += 2;
        } else if !store && is(&a[i], "withscores") {
            withscores = true;
            i += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let mut inputs = Vec::new();
    for k in keys {
        inputs.push(load_input(c, k)?);
    }
    if op != SetOp::Diff {
        // Redis takes the inputs from the smallest to the largest (a stable sort), and
        // the order decides float rounding of SUM and which of -0 and 0 MIN/MAX keep.
        let mut paired: Vec<_> = inputs.into_iter().zip(weights).collect();
        paired.sort_by_key(|(inp, _)| inp.as_ref().map_or(0, |m| m.len()));
        (inputs, weights) = paired.into_iter().unzip();
    }
    let mut acc: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
    match op {
        SetOp::Union => {
            for (inp, w) in inputs.iter().zip(&weights) {
                for (m, s) in inp.iter().flatten() {
                    let v = weighted(*s, *w);
                    acc.entry(m.clone())
                        .and_modify(|x| *x = aggregate(agg, *x, v))
                        .or_insert(v);
                }
            }
        }
        SetOp::Inter => {
            if inputs.iter().all(Option::is_some) {
                let first = inputs[0].as_ref().cloned().unwrap_or_default();
                'outer: for (m, s) in first {
                    let mut v = weighted(s, weights[0]);
                    for (inp, w) in inputs[1..].iter().zip(&weights[1..]) {
                        match inp.as_ref().and_then(|x| x.get(&m)) {
                            Some(s2) => v = aggregate(agg, v, weighted(*s2, *w)),
                            None => continue 'outer,
                        }
                    }
                    acc.insert(m, v);
                }
            }
        }
        SetOp::Diff => {
            if let Some(first) = inputs[0].as_ref() {
                for (m, s) in first {
                    if !inputs[1..]
                        .iter()
                        .any(|x| x.as_ref().is_some_and(|x| x.contains_key(m)))
                    {
                        acc.insert(m.clone(), *s);
                    }
                }
            }
        }
    }
    let mut items: Vec<(Vec<u8>, f64)> = acc.into_iter().collect();
    // In the score index's order, as Redis orders a sorted set: scores as numbers (-0
    // ties with 0), then members.
    items.sort_unstable_by(|x, y| ordered(x.1).cmp(&ordered(y.1)).then_with(|| x.0.cmp(&y.0)));
    Ok((items, withscores))
}

fn setop_reply(c: &mut Ctx, a: &[Vec<u8>], op: SetOp) -> R {
    let (items, ws) = setop(c, a, 1, op, false)?;
    reply_pairs(c, &items, ws);
    done()
}

fn setop_store(c: &mut Ctx, a: &[Vec<u8>], op: SetOp) -> R {
    let sh = c.sh;
    let db = c.s.db;
    let mut t = sh.store.txn();
    let (items, _) = setop(c, a, 2, op, true)?;
    // Redis 7.0 builds the result as a skiplist and converts it to a listpack only if
    // it is small enough.
    let big = items.len() as u64 > LP_ENTRIES || items.iter().any(|(m, _)| m.len() > LP_VALUE);
    store_items(&mut t, db, &a[1], &items, big)?;
    t.commit()?;
    c.signal_key(db, &a[1]);
    c.int(items.len() as i64)
}

pub fn zunion(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    setop_reply(c, a, SetOp::Union)
}
pub fn zinter(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    setop_reply(c, a, SetOp::Inter)
}
pub fn zdiff(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    setop_reply(c, a, SetOp::Diff)
}
pub fn zunionstore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    setop_store(c, a, SetOp::Union)
}
pub fn zinterstore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    setop_store(c, a, SetOp::Inter)
}
pub fn zdiffstore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    setop_store(c, a, SetOp::Diff)
}

pub fn zintercard(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (n, limit) = super::coll::intercard_args(a, true)?;
    let mut inputs = Vec::new();
    for k in &a[2..2 + n] {
        inputs.push(load_input(c, k)?);
    }
    let mut card = 0i64;
    if inputs.iter().all(Option::is_some) {
        let first = inputs[0].as_ref().cloned().unwrap_or_default();
        for m in first.keys() {
            if inputs[1..]
                .iter()
                .all(|x| x.as_ref().is_some_and(|x| x.contains_key(m)))
            {
                card += 1;
                if limit > 0 && card >= limit {
                    break;
                }
            }
        }
    }
    c.int(card)
}

pub fn zscan(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    super::scan_cmd(c, a, Kind::ZSet, &[0], 2, |out, m, v| {
        out.bulk(m);
        // ZSCAN replies scores as strings in both protocols.
        out.bulk(format_g17(score_of(v)).as_bytes());
    })
}
