//! Keyspace commands: DEL, EXISTS, TYPE, expiry, RENAME, COPY, MOVE, KEYS, SCAN, ...

use std::sync::Mutex;

use strata_dump::glob::Glob;
use strata_lsm::{keys as lkeys, IterOptions};

use super::{done, err, int_arg, is, CmdErr, Ctx, Flow, R};
use crate::store::{self, next_slot_start, Kind, Meta};
use crate::{lock, Shared};

pub fn del(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let mut n = 0;
    for k in &a[1..] {
        n += i64::from(t.del(db, k)?);
    }
    t.commit()?;
    c.int(n)
}

pub fn exists(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let n = c
        .lookup_many(&a[1..])?
        .iter()
        .filter(|m| m.is_some())
        .count();
    c.int(n as i64)
}

pub fn type_(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let t = c.lookup(&a[1])?.map_or("none", |m| m.kind.name());
    c.out.simple(t);
    done()
}

fn expire_generic(c: &mut Ctx, a: &[Vec<u8>], seconds: bool, absolute: bool) -> R {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for o in &a[3..] {
        if is(o, "nx") {
            nx = true;
        } else if is(o, "xx") {
            xx = true;
        } else if is(o, "gt") {
            gt = true;
        } else if is(o, "lt") {
            lt = true;
        } else {
            return Err(CmdErr(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(o)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if gt && lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    // Redis: the number first, then the overflow checks; a non-positive relative time
    // is allowed here (it deletes the key).
    let v = int_arg(&a[2])?;
    let bad = || {
        CmdErr(format!(
            "ERR invalid expire time in '{}' command",
            c.cmd.name
        ))
    };
    let mut when = if seconds {
        v.checked_mul(1000).ok_or_else(bad)?
    } else {
        v
    };
    if !absolute {
        when = when.checked_add(t.now as i64).ok_or_else(bad)?;
    }
    let Some(m) = t.get(db, &a[1])? else {
        return c.int(0);
    };
    let cur = m.expire;
    if (nx && cur != 0) || (xx && cur == 0) {
        return c.int(0);
    }
    if gt && (cur == 0 || when <= cur as i64) {
        return c.int(0);
    }
    if lt && cur != 0 && when >= cur as i64 {
        return c.int(0);
    }
    if when <= t.now as i64 {
        t.del(db, &a[1])?;
    } else {
        t.put(
            db,
            &a[1],
            Meta {
                expire: when as u64,
                ..m
            },
        )?;
    }
    t.commit()?;
    c.int(1)
}

pub fn expire(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    expire_generic(c, a, true, false)
}
pub fn pexpire(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    expire_generic(c, a, false, false)
}
pub fn expireat(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    expire_generic(c, a, true, true)
}
pub fn pexpireat(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    expire_generic(c, a, false, true)
}

fn ttl_generic(c: &mut Ctx, key: &[u8], ms: bool, absolute: bool) -> R {
    let now = store::now_ms();
    let Some(m) = c.lookup(key)? else {
        return c.int(-2);
    };
    if m.expire == 0 {
        return c.int(-1);
    }
    let v = match (absolute, ms) {
        (true, true) => m.expire as i64,
        (true, false) => (m.expire / 1000) as i64,
        (false, true) => m.expire.saturating_sub(now) as i64,
        (false, false) => (m.expire.saturating_sub(now) as i64 + 500) / 1000,
    };
    c.int(v)
}

pub fn ttl(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    ttl_generic(c, &a[1], false, false)
}
pub fn pttl(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    ttl_generic(c, &a[1], true, false)
}
pub fn expiretime(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    ttl_generic(c, &a[1], false, true)
}
pub fn pexpiretime(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    ttl_generic(c, &a[1], true, true)
}

pub fn persist(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    match t.get(db, &a[1])? {
        Some(m) if m.expire != 0 => {
            t.put(db, &a[1], Meta { expire: 0, ..m })?;
            t.commit()?;
            c.int(1)
        }
        _ => c.int(0),
    }
}

fn rename_generic(c: &mut Ctx, a: &[Vec<u8>], nx: bool) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let Some(m) = t.get(db, &a[1])? else {
        return Err(err::NO_SUCH_KEY.into());
    };
    if a[1] == a[2] {
        return if nx { c.int(0) } else { c.ok() };
    }
    if nx && t.get(db, &a[2])?.is_some() {
        return c.int(0);
    }
    super::coll::copy_value(&mut t, db, &a[1], db, &a[2], &m)?;
    t.del(db, &a[1])?;
    t.commit()?;
    c.signal_key(db, &a[2]);
    if nx {
        c.int(1)
    } else {
        c.ok()
    }
}

pub fn rename(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    rename_generic(c, a, false)
}
pub fn renamenx(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    rename_generic(c, a, true)
}

fn db_arg(c: &Ctx, a: &[u8]) -> Result<usize, CmdErr> {
    let v = int_arg(a)?;
    if v < 0 || v as usize >= c.sh.store.databases() {
        return Err(err::DB_RANGE.into());
    }
    Ok(v as usize)
}

pub fn copy(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let mut dst_db = c.s.db;
    let mut replace = false;
    let mut i = 3;
    while i < a.len() {
        if is(&a[i], "replace") {
            replace = true;
        } else if is(&a[i], "db") && i + 1 < a.len() {
            dst_db = db_arg(c, &a[i + 1])?;
            i += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    let db = c.s.db;
    if db == dst_db && a[1] == a[2] {
        return Err(err::SAME_OBJECT.into());
    }
    let mut t = c.sh.store.txn();
    let Some(m) = t.get(db, &a[1])? else {
        return c.int(0);
    };
    if t.get(dst_db, &a[2])?.is_some() && !replace {
        return c.int(0);
    }
    super::coll::copy_value(&mut t, db, &a[1], dst_db, &a[2], &m)?;
    t.commit()?;
    c.signal_key(dst_db, &a[2]);
    c.int(1)
}

pub fn move_(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let dst = db_arg(c, &a[2])?;
    let db = c.s.db;
    if dst == db {
        return Err(err::SAME_OBJECT.into());
    }
    let mut t = c.sh.store.txn();
    let Some(m) = t.get(db, &a[1])? else {
        return c.int(0);
    };
    if t.get(dst, &a[1])?.is_some() {
        return c.int(0);
    }
    super::coll::copy_value(&mut t, db, &a[1], dst, &a[1], &m)?;
    t.del(db, &a[1])?;
    t.commit()?;
    c.signal_key(dst, &a[1]);
    c.int(1)
}

/// Visit the live keys of one physical db in slot order, starting at `from` (a full
/// metadata key) or the start; `f` returns false to stop before consuming a key.
/// Returns the metadata key to resume at (that key), or None when the range is done.
pub fn walk(
    sh: &Shared,
    phys: u8,
    slots: std::ops::Range<u16>,
    from: Option<Vec<u8>>,
    mut f: impl FnMut(&[u8], &Meta) -> bool,
) -> Result<Option<Vec<u8>>, CmdErr> {
    if slots.is_empty() {
        return Ok(None);
    }
    let now = store::now_ms();
    let (lo, _) = lkeys::metadata_range(slots.start, phys);
    let mut it = sh
        .store
        .db
        .iter(IterOptions {
            lower: Some(lkeys::slot_range(slots.start).0),
            upper: Some(next_slot_start(slots.end - 1)),
            ..Default::default()
        })
        .map_err(store::Error::from)?;
    it.seek(from.as_deref().unwrap_or(&lo));
    while it.valid() {
        let k = it.key();
        if k.len() < 4 {
            it.advance();
            continue;
        }
        let slot = u16::from_be_bytes([k[0], k[1]]);
        if k[2] == phys && k[3] == 0 {
            let m = Meta::decode(it.value())?;
            if !m.expired(now) && !f(&k[4..], &m) {
                // This key was not consumed: resume at it.
                return Ok(Some(k.to_vec()));
            }
            it.advance();
            continue;
        }
        // Past this slot's metadata for `phys`: jump to the next slot's (or to this
        // slot's, if we are before it).
        let target = if k[2] < phys {
            lkeys::metadata_range(slot, phys).0
        } else if slot + 1 < slots.end {
            lkeys::metadata_range(slot + 1, phys).0
        } else {
            break;
        };
        it.seek(&target);
    }
    it.status().map_err(store::Error::from)?;
    Ok(None)
}

pub fn keys(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let pattern = a[1].clone();
    let phys = c.sh.store.phys(c.s.db);
    let proto = c.s.proto;
    // On a worker: a KEYS over millions of keys must not stall this event loop.
    Ok(Flow::Defer(Box::new(move |sh: &Shared| {
        let g = Glob::new(&pattern);
        let slots = match strata_dump::tag_slot(&g) {
            Some(s) => s..s + 1,
            None => 0..16384,
        };
        let mut found: Vec<Vec<u8>> = Vec::new();
        let res = walk(sh, phys, slots, None, |k, _| {
            if g.matches(k) {
                found.push(k.to_vec());
            }
            true
        });
        let mut buf = Vec::new();
        let mut o = crate::resp::Out {
            buf: &mut buf,
            proto,
        };
        match res {
            Ok(_) => o.bulks(found.iter().map(|k| k.as_slice())),
            Err(e) => o.error(&e.0),
        }
        buf
    })))
}

/// Server-side SCAN cursors: a cursor names the key to resume after. Bounded: an
/// evicted or unknown cursor resumes at the start of the slot it encodes, which may
/// repeat keys (SCAN allows that) but never skips one.
#[derive(Default)]
pub struct Cursors {
    ring: Vec<(u64, Vec<u8>)>,
    next: u64,
}

const CURSOR_SLOTS: usize = 4096;

impl Cursors {
    pub(crate) fn store(&mut self, slot: u16, key: Vec<u8>) -> u64 {
        self.next += 1;
        let id = (self.next << 14) | u64::from(slot);
        if self.ring.len() < CURSOR_SLOTS {
            self.ring.push((id, key));
        } else {
            self.ring[(self.next as usize) % CURSOR_SLOTS] = (id, key);
        }
        id
    }
    pub(crate) fn find_key(&self, id: u64) -> Option<Vec<u8>> {
        self.ring
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, k)| k.clone())
    }
}

pub(crate) static CURSORS: Mutex<Option<Cursors>> = Mutex::new(None);

pub fn scan(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let cursor: u64 = std::str::from_utf8(&a[1])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CmdErr("ERR invalid cursor".into()))?;
    let mut count = 10i64;
    let mut pattern: Option<Glob> = None;
    let mut type_filter: Option<Vec<u8>> = None;
    let mut i = 2;
    while i < a.len() {
        let has_next = i + 1 < a.len();
        if is(&a[i], "count") && has_next {
            count = int_arg(&a[i + 1])?;
            if count < 1 {
                return Err(err::SYNTAX.into());
            }
        } else if is(&a[i], "match") && has_next {
            pattern = Some(Glob::new(&a[i + 1]));
        } else if is(&a[i], "type") && has_next {
            type_filter = Some(a[i + 1].to_ascii_lowercase());
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 2;
    }
    let phys = c.sh.store.phys(c.s.db);
    let slot = (cursor & 0x3fff) as u16;
    let from = if cursor == 0 {
        None
    } else {
        let stored = lock(&CURSORS)
            .get_or_insert_with(Cursors::default)
            .find_key(cursor);
        Some(stored.unwrap_or_else(|| lkeys::metadata_range(slot, phys).0))
    };
    // Examine at most `count` keys (matching or not), as Redis bounds work by COUNT.
    let budget = count.min(1 << 20) as usize;
    let mut examined = 0usize;
    let mut found: Vec<Vec<u8>> = Vec::new();
    let resume = walk(c.sh, phys, 0..16384, from, |k, m| {
        if examined >= budget {
            return false;
        }
        examined += 1;
        let type_ok = type_filter
            .as_ref()
            .is_none_or(|t| t.as_slice() == m.kind.name().as_bytes());
        if type_ok && pattern.as_ref().is_none_or(|g| g.matches(k)) {
            found.push(k.to_vec());
        }
        true
    })?;
    let next = match resume {
        None => 0,
        Some(key) => {
            // `key` is the first key not yet visited: resume there.
            let slot = u16::from_be_bytes([key[0], key[1]]);
            lock(&CURSORS)
                .get_or_insert_with(Cursors::default)
                .store(slot, key)
        }
    };
    c.out.array(2);
    c.out.bulk(next.to_string().as_bytes());
    c.out.bulks(found.iter().map(|k| k.as_slice()));
    done()
}

pub fn randomkey(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    let phys = c.sh.store.phys(c.s.db);
    if c.sh.store.counts(c.s.db).keys == 0 {
        return c.bulk_opt(None);
    }
    let seed = store::now_ms()
        ^ (c.info.id << 20)
        ^ c.sh
            .stats
            .total_commands
            .load(std::sync::atomic::Ordering::Relaxed)
            .wrapping_mul(0x9e3779b97f4a7c15);
    let start = ((seed.wrapping_mul(0x2545F4914F6CDD1D) >> 33) % 16384) as u16;
    let mut pick: Option<Vec<u8>> = None;
    for range in [start..16384, 0..start.max(1)] {
        walk(c.sh, phys, range, None, |k, _| {
            pick = Some(k.to_vec());
            false
        })?;
        if pick.is_some() {
            break;
        }
    }
    c.bulk_opt(pick.as_deref())
}

pub fn dbsize(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    let n = c.sh.store.counts(c.s.db).keys;
    c.int(n)
}

fn flush_mode(a: &[Vec<u8>]) -> Result<(), CmdErr> {
    match a.get(1) {
        None => Ok(()),
        Some(m) if a.len() == 2 && (is(m, "sync") || is(m, "async")) => Ok(()),
        Some(_) => Err(err::SYNTAX.into()),
    }
}

pub fn flushdb(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    flush_mode(a)?;
    let mut t = c.sh.store.txn();
    t.flush_db(c.s.db)?;
    t.commit()?;
    c.ok()
}

pub fn flushall(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    flush_mode(a)?;
    let mut t = c.sh.store.txn();
    t.flush_all()?;
    t.commit()?;
    // The data is gone for readers, but reads still meet its SST entries (hidden by the
    // range tombstones) until compaction drops them: compact everything in the
    // background so that later reads and writes pay nothing for the old data.
    let _ = c.sh.store.compact_in_background();
    c.ok()
}

pub fn swapdb(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let x = int_arg(&a[1]).map_err(|_| CmdErr("ERR invalid first DB index".into()))?;
    let y = int_arg(&a[2]).map_err(|_| CmdErr("ERR invalid second DB index".into()))?;
    let n = c.sh.store.databases() as i64;
    if x < 0 || x >= n || y < 0 || y >= n {
        return Err(err::DB_RANGE.into());
    }
    let mut t = c.sh.store.txn();
    t.swap_db(x as usize, y as usize)?;
    t.commit()?;
    // Clients blocked on keys the other database holds are served (Redis's
    // scanDatabaseForReadyKeys).
    for db in [x as usize, y as usize] {
        for key in super::blocking::blocked_keys(c.sh, db) {
            c.signal_key(db, &key);
        }
    }
    c.ok()
}

/// The encoding Redis would report for a string.
/// Redis's encoding of a string value: from its contents unless an in-place edit made
/// it `raw` or INCRBYFLOAT wrote it (never `int`).
fn string_encoding(v: &[u8], str_enc: u8) -> &'static str {
    if str_enc == strata_dump::records::STR_RAW {
        "raw"
    } else if str_enc == strata_dump::records::STR_BY_CONTENT
        && v.len() <= 20
        && crate::resp::parse_i64(v).is_some()
    {
        "int"
    } else if v.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

pub fn object(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    if sub == "help" {
        let lines: [&[u8]; 10] = [
            b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            b"ENCODING <key>",
            b"    Return the kind of internal representation used in order to store the value",
            b"    associated with a <key>.",
            b"FREQ <key>",
            b"    Return the access frequency index of the <key>. The returned integer is",
            b"    proportional to the logarithm of the recent access frequency of the key.",
            b"IDLETIME <key>",
            b"    Return the idle time of the <key>, that is the approximated number of",
            b"    seconds elapsed since the last access to the key.",
        ];
        c.out.bulks(lines.iter().copied());
        return done();
    }
    if a.len() != 3 || !["encoding", "freq", "idletime", "refcount"].contains(&sub.as_str()) {
        return Err(CmdErr(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(&a[1])
        )));
    }
    let Some(m) = c.lookup(&a[2])? else {
        return c.bulk_opt(None);
    };
    match sub.as_str() {
        "encoding" => {
            let big = |m: &Meta| m.header().is_ok_and(|h| h.flags & crate::store::FLAG_BIG != 0);
            let e = match m.kind {
                Kind::String => string_encoding(&m.body, m.str_enc),
                Kind::List => "quicklist",
                Kind::Stream => "stream",
                Kind::Hash if big(&m) => "hashtable",
                Kind::Hash => "listpack",
                Kind::ZSet if big(&m) => "skiplist",
                Kind::ZSet => "listpack",
                Kind::Set => {
                    let h = m.header()?;
                    if h.flags & (crate::store::FLAG_BIG | crate::store::FLAG_NOT_INTSET) != 0 {
                        "hashtable"
                    } else {
                        "intset"
                    }
                }
            };
            c.out.bulk(e.as_bytes());
            done()
        }
        "refcount" => c.int(1),
        "idletime" => c.int(0),
        _ => Err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.".into()),
    }
}
