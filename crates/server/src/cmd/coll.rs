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
        t.put(db, key, Meta::coll(kind, h, expire))?;
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
