//! Helpers shared by the collection types: typed lookups, creating and saving headers,
//! and the *SCAN family.

use strata_dump::glob::Glob;

use super::{err, int_arg, is, CmdErr, Ctx};
use crate::lock;
use crate::store::{Coll, Kind, Meta, Txn, LIST_MIDDLE};

/// A collection of `kind` at `key` (committed state); WRONGTYPE for another type.
pub fn read(c: &Ctx, key: &[u8], kind: Kind) -> Result<Option<(Meta, Coll)>, CmdErr> {
    match c.lookup(key)? {
        None => Ok(None),
        Some(m) if m.kind == kind => {
            let h = m.header()?;
            Ok(Some((m, h)))
        }
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

/// The same inside a transaction.
pub fn txn_read(
    t: &mut Txn,
    db: usize,
    key: &[u8],
    kind: Kind,
) -> Result<Option<(Meta, Coll)>, CmdErr> {
    match t.get(db, key)? {
        None => Ok(None),
        Some(m) if m.kind == kind => {
            let h = m.header()?;
            Ok(Some((m, h)))
        }
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

/// The collection at `key` as (expiry, header), or a new, empty one (no expiry, a fresh
/// version) when the key is missing; WRONGTYPE for another type.
pub fn txn_read_or_fresh(
    t: &mut Txn,
    db: usize,
    key: &[u8],
    kind: Kind,
) -> Result<(u64, Coll), CmdErr> {
    Ok(match txn_read(t, db, key, kind)? {
        Some((m, h)) => (m.expire, h),
        None => (0, fresh(t)),
    })
}

/// A new, empty collection header with a fresh version.
pub fn fresh(t: &mut Txn) -> Coll {
    Coll {
        flags: 0,
        version: t.new_version(),
        count: 0,
        head: LIST_MIDDLE,
        tail: LIST_MIDDLE,
    }
}

/// Write the header back; a collection whose last element went is deleted.
pub fn save(
    t: &mut Txn,
    db: usize,
    key: &[u8],
    kind: Kind,
    h: &Coll,
    expire: u64,
) -> Result<(), CmdErr> {
    if h.count == 0 {
        t.del(db, key)?;
    } else {
        // Unchanged metadata (a command that removed or added nothing) is not
        // rewritten, and touches no WATCH, as in Redis.
        t.put_if_changed(db, key, Meta::coll(kind, h, expire))?;
    }
    Ok(())
}

/// Options of HSCAN/SSCAN/ZSCAN.
pub struct ScanArgs {
    /// Where to resume (engine key), None = from the start.
    pub resume: Option<Vec<u8>>,
    /// MATCH.
    pub pattern: Option<Glob>,
    /// COUNT.
    pub count: usize,
}

/// Parse `cursor [MATCH p] [COUNT n]` from `a[2..]`.
pub fn scan_args(a: &[Vec<u8>]) -> Result<ScanArgs, CmdErr> {
    let cursor: u64 = std::str::from_utf8(&a[2])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CmdErr("ERR invalid cursor".into()))?;
    let mut count = 10i64;
    let mut pattern = None;
    let mut i = 3;
    while i < a.len() {
        if is(&a[i], "count") && i + 1 < a.len() {
            count = int_arg(&a[i + 1])?;
            if count < 1 {
                return Err(err::SYNTAX.into());
            }
        } else if is(&a[i], "match") && i + 1 < a.len() {
            pattern = Some(Glob::new(&a[i + 1]));
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 2;
    }
    let resume = if cursor == 0 {
        None
    } else {
        lock(&super::keys::CURSORS)
            .get_or_insert_with(Default::default)
            .find_key(cursor)
    };
    Ok(ScanArgs {
        resume,
        pattern,
        count: count.min(1 << 20) as usize,
    })
}

/// Remember where a collection scan stopped; the cursor to hand out.
pub fn scan_cursor(resume_at: Vec<u8>) -> u64 {
    lock(&super::keys::CURSORS)
        .get_or_insert_with(Default::default)
        .store(0, resume_at)
}

/// Copy a value to (`dst_db`, `dst`) inside `t`: a string is its metadata; a collection
/// gets a fresh version and a copy of every sub-record (O(n), as Redis's COPY; RENAME
/// and MOVE of a collection cost the same here because sub-records are keyed by the
/// key's name). The caller deletes the source if it moves.
pub fn copy_value(
    t: &mut Txn,
    src_db: usize,
    src: &[u8],
    dst_db: usize,
    dst: &[u8],
    m: &Meta,
) -> Result<(), CmdErr> {
    if m.kind == Kind::String || m.kind == Kind::Stream {
        t.put(dst_db, dst, m.clone())?;
        return Ok(());
    }
    let old = m.header()?;
    let mut h = fresh(t);
    h.flags = old.flags;
    h.count = old.count;
    h.head = old.head;
    h.tail = old.tail;
    let mut subs: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(old.count.min(1 << 16) as usize);
    let phys = t.phys(src_db);
    t.store()
        .sub_scan(phys, src, old.version, None, None, false, |f, v| {
            subs.push((f.to_vec(), v.to_vec()));
            true
        })?;
    for (f, v) in &subs {
        t.sub_put(dst_db, dst, h.version, f, v);
    }
    t.put(dst_db, dst, Meta::coll(m.kind, &h, m.expire))?;
    Ok(())
}

/// SINTERCARD/ZINTERCARD arguments `numkeys key... [LIMIT n]`: (numkeys, limit; 0 = none),
/// with Redis's texts, which differ: ZINTERCARD checks `numkeys` as ZUNION does.
pub fn intercard_args(a: &[Vec<u8>], zset: bool) -> Result<(usize, i64), CmdErr> {
    let n = if zset {
        let n = int_arg(&a[1])?;
        if n < 1 {
            return Err("ERR at least 1 input key is needed for 'zintercard' command".into());
        }
        if n as u64 > (a.len() - 2) as u64 {
            return Err(err::SYNTAX.into());
        }
        n
    } else {
        let n =
            int_arg(&a[1]).map_err(|_| CmdErr("ERR numkeys should be greater than 0".into()))?;
        if n <= 0 {
            return Err("ERR numkeys should be greater than 0".into());
        }
        if n as u64 > (a.len() - 2) as u64 {
            return Err("ERR Number of keys can't be greater than number of args".into());
        }
        n
    };
    let n = n as usize;
    let mut limit = 0i64;
    let mut i = 2 + n;
    while i < a.len() {
        if is(&a[i], "limit") && i + 1 < a.len() {
            limit = int_arg(&a[i + 1]).map_err(|_| CmdErr("ERR LIMIT can't be negative".into()))?;
            if limit < 0 {
                return Err("ERR LIMIT can't be negative".into());
            }
            i += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    Ok((n, limit))
}

/// HDEL / SREM: remove the fields (members) `a[2..]` of the `kind` collection at `a[1]`;
/// replies how many existed. A collection left empty is deleted.
pub fn remove_fields(c: &mut Ctx, a: &[Vec<u8>], kind: Kind) -> super::R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let Some((m, mut h)) = txn_read(&mut t, db, &a[1], kind)? else {
        return c.int(0);
    };
    let mut n = 0;
    for f in &a[2..] {
        if t.sub_get(db, &a[1], h.version, f)?.is_some() {
            t.sub_del(db, &a[1], h.version, f);
            h.count -= 1;
            n += 1;
        }
    }
    save(&mut t, db, &a[1], kind, &h, m.expire)?;
    t.commit()?;
    c.int(n)
}
