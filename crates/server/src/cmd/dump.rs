//! DUMP, RESTORE (and RESTORE-ASKING) and MIGRATE, byte-compatible with real Redis
//! through `strata-rdb`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::borrow::Cow;

use strata_rdb::object::{Borrowed, Str};
use strata_rdb::{Restored, Target, Value};

use super::{err, int_arg, is, CmdErr, Ctx, Flow, R};
use crate::store::{Kind, Meta, SubRecordFile, Txn};
use crate::{lock, Shared};

/// The newest RDB version RESTORE accepts: Redis 7.0's (10), so every payload gets the
/// answer Redis 7.0 gives.
const MAX_RESTORE_VERSION: u16 = 10;

/// A collection's elements, whichever decoder produced them: strings borrowed from
/// the payload or owned, moved out of the decoded value (no second list).
enum Elements<'a> {
    List(Vec<Vec<u8>>),
    Set(Vec<Str<'a>>),
    Hash(Vec<(Str<'a>, Str<'a>)>),
    ZSet(Vec<(Str<'a>, f64)>),
}

/// Write `v` as `key` (the caller deleted any old key) with absolute expiry `expire`
/// (0 = none). The codec has validated the value (no duplicate members or fields), and
/// the version is new, so sub-records are written blind, without lookups.
/// `small_zset_normalizes`: the payload held a sorted set as a skiplist, which Redis
/// turns into a listpack when it is small enough, storing -0 scores as 0.
pub fn write_value(
    t: &mut Txn,
    db: usize,
    key: &[u8],
    v: Restored<'_>,
    expire: u64,
    small_zset_normalizes: bool,
) -> Result<(), CmdErr> {
    // Owned strings become `Cow::Owned` in place: the vectors keep their buffers.
    let elements = match v {
        Restored::Value(Value::String(s)) => {
            t.put(db, key, Meta::string(s, expire))?;
            return Ok(());
        }
        Restored::Value(v @ Value::Stream(_)) => {
            // Kept whole, as its RDB object (records::Kind::Stream).
            let mut body = Vec::new();
            strata_rdb::encode_object(&mut body, &v, &Default::default());
            t.put(
                db,
                key,
                Meta {
                    kind: Kind::Stream,
                    expire,
                    body,
                    str_enc: 0,
                },
            )?;
            return Ok(());
        }
        Restored::Value(Value::List(items)) => Elements::List(items),
        Restored::Value(Value::Set(items)) => {
            Elements::Set(items.into_iter().map(Cow::Owned).collect())
        }
        Restored::Value(Value::Hash(pairs)) => Elements::Hash(
            pairs
                .into_iter()
                .map(|(f, v)| (Cow::Owned(f), Cow::Owned(v)))
                .collect(),
        ),
        Restored::Value(Value::ZSet(items)) => {
            Elements::ZSet(items.into_iter().map(|(m, s)| (Cow::Owned(m), s)).collect())
        }
        Restored::Borrowed(Borrowed::Set(items)) => Elements::Set(items),
        Restored::Borrowed(Borrowed::Hash(pairs)) => Elements::Hash(pairs),
        Restored::Borrowed(Borrowed::ZSet(items)) => Elements::ZSet(items),
    };
    write_elements(t, db, key, elements, expire, small_zset_normalizes)
}

/// Collections of at least this many records are written straight into an SST
/// (`Txn::bulk_sub_records`) instead of through the WAL and the memtable. Below it the
/// fixed costs of a file (two fsyncs, a manifest edit) outweigh what it saves.
const BULK_RECORDS: usize = 16 * 1024;

/// [`write_value`] for a collection.
fn write_elements(
    t: &mut Txn,
    db: usize,
    key: &[u8],
    mut elements: Elements<'_>,
    expire: u64,
    small_zset_normalizes: bool,
) -> Result<(), CmdErr> {
    let kind = match elements {
        Elements::List(_) => Kind::List,
        Elements::Set(_) => Kind::Set,
        Elements::Hash(_) => Kind::Hash,
        Elements::ZSet(_) => Kind::ZSet,
    };
    let mut h = super::coll::fresh(t);
    let version = h.version;
    let first_index = h.tail;
    let (records, bytes) = match &elements {
        Elements::List(items) => (items.len(), items.iter().map(|e| e.len() + 8).sum()),
        Elements::Set(items) => (items.len(), items.iter().map(|m| m.len()).sum()),
        Elements::Hash(pairs) => (
            pairs.len(),
            pairs.iter().map(|(f, v)| f.len() + v.len()).sum(),
        ),
        // A member record and a score-index record per member.
        Elements::ZSet(items) => (
            2 * items.len(),
            items.iter().map(|(m, _)| 2 * m.len() + 26).sum(),
        ),
    };
    // The header: count, list bounds, encoding flags.
    match &mut elements {
        Elements::List(items) => {
            for e in items.iter() {
                h.tail += 1;
                h.count += 1;
                if e.len() > 8192 {
                    h.flags |= crate::store::FLAG_BIG;
                }
            }
        }
        Elements::Set(items) => {
            for m in items.iter() {
                h.count += 1;
                super::set::note_member(&mut h, m);
            }
        }
        Elements::Hash(pairs) => {
            for (f, val) in pairs.iter() {
                h.count += 1;
                super::hash::note_sizes(&mut h, f, val);
            }
        }
        Elements::ZSet(items) => {
            let compact = items.len() as u64 <= super::zset::LP_ENTRIES
                && items.iter().all(|(m, _)| m.len() <= super::zset::LP_VALUE);
            if small_zset_normalizes && compact {
                for (_, s) in items.iter_mut() {
                    if *s == 0.0 {
                        *s = 0.0;
                    }
                }
            }
            for (m, _) in items.iter() {
                h.count += 1;
                super::zset::note(&mut h, m);
            }
        }
    }
    // The records go to the engine in key order (a sorted set's by member first): a
    // bulk load needs it, and the memtable inserts a run of increasing keys from its
    // last position instead of descending from the top each time (for 100k random
    // fields that saves several times what the sort costs). Payloads are often in
    // order already (intsets; zsets by score), and the sort finds an ascending or
    // descending input in one pass. Sorted here, before a bulk load takes the engine's
    // write lock: other writers wait only for the files to be written.
    match &mut elements {
        Elements::List(_) => {}
        Elements::Set(items) => items.sort_unstable(),
        Elements::Hash(pairs) => pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0)),
        Elements::ZSet(items) => items.sort_unstable_by(|a, b| a.0.cmp(&b.0)),
    }
    let loaded = records >= BULK_RECORDS
        && t.bulk_sub_records(db, key, version, 2, |files| {
            bulk_emit(&elements, first_index, files)
        })?;
    if !loaded {
        t.reserve_sub_records(key, records, bytes);
        let put = &mut |field: &[u8], value: &[u8]| -> Result<(), CmdErr> {
            t.sub_put_new(db, key, version, field, value);
            Ok(())
        };
        emit_records(&mut elements, first_index, put)?;
    }
    super::coll::save(t, db, key, kind, &h, expire)
}

/// A sorted set's member-record field, 0x00 | member, built in `field`.
fn member_field<'f>(field: &'f mut Vec<u8>, member: &[u8]) -> &'f [u8] {
    field.clear();
    field.push(0);
    field.extend_from_slice(member);
    field
}

/// A sorted set's score-index field, 0x01 | ordered(score) | member, built in `field`.
fn score_field<'f>(field: &'f mut Vec<u8>, member: &[u8], score: f64) -> &'f [u8] {
    field.clear();
    field.push(1);
    field.extend_from_slice(&super::zset::ordered(score));
    field.extend_from_slice(member);
    field
}

/// The score index's order: (score, member).
fn by_score(a: &(Str<'_>, f64), b: &(Str<'_>, f64)) -> std::cmp::Ordering {
    (super::zset::ordered(a.1), &a.0).cmp(&(super::zset::ordered(b.1), &b.0))
}

/// Give the two files of a bulk load their records: `elements`, sorted by key (a
/// sorted set by member), split into two contiguous halves of records (for a sorted
/// set, its member records and its score-index records), each half written and
/// fsynced on its own thread (the helper is `strata-bulk-load`).
fn bulk_emit(
    elements: &Elements<'_>,
    first_index: u64,
    files: &mut [SubRecordFile],
) -> strata_lsm::Result<()> {
    let [low, high] = files else {
        return Err(strata_lsm::Error::InvalidArgument(
            "a bulk RESTORE writes two files".into(),
        ));
    };
    // Fill one file, then seal it (its fsync, on its own thread too).
    fn run(
        f: &mut SubRecordFile,
        fill: impl FnOnce(&mut SubRecordFile) -> strata_lsm::Result<()>,
    ) -> strata_lsm::Result<()> {
        fill(f)?;
        f.seal()
    }
    let (a, b) = match elements {
        Elements::List(items) => {
            let (lo, hi) = items.split_at(items.len() / 2);
            let mid = first_index + lo.len() as u64;
            both(
                || {
                    run(low, |f| {
                        (first_index..)
                            .zip(lo)
                            .try_for_each(|(i, e)| f.put(&i.to_be_bytes(), e))
                    })
                },
                || {
                    run(high, |f| {
                        (mid..)
                            .zip(hi)
                            .try_for_each(|(i, e)| f.put(&i.to_be_bytes(), e))
                    })
                },
            )
        }
        Elements::Set(items) => {
            let (lo, hi) = items.split_at(items.len() / 2);
            both(
                || run(low, |f| lo.iter().try_for_each(|m| f.put(m, b""))),
                || run(high, |f| hi.iter().try_for_each(|m| f.put(m, b""))),
            )
        }
        Elements::Hash(pairs) => {
            let (lo, hi) = pairs.split_at(pairs.len() / 2);
            both(
                || run(low, |f| lo.iter().try_for_each(|(k, v)| f.put(k, v))),
                || run(high, |f| hi.iter().try_for_each(|(k, v)| f.put(k, v))),
            )
        }
        Elements::ZSet(items) => {
            let items: &[(Str<'_>, f64)] = items;
            both(
                // Member records (0x00 | member), by member.
                || {
                    run(low, |f| {
                        let mut field = Vec::new();
                        items.iter().try_for_each(|(m, s)| {
                            f.put(member_field(&mut field, m), &s.to_bits().to_be_bytes())
                        })
                    })
                },
                // Score-index records (0x01 | ordered(score) | member), by (score,
                // member), through an order of positions.
                || {
                    run(high, |f| {
                        let mut order: Vec<usize> = (0..items.len()).collect();
                        order.sort_unstable_by(|&x, &y| by_score(&items[x], &items[y]));
                        let mut field = Vec::new();
                        order.iter().try_for_each(|&i| {
                            let (m, s) = &items[i];
                            f.put(score_field(&mut field, m, *s), &s.to_bits().to_be_bytes())
                        })
                    })
                },
            )
        }
    };
    a.and(b)
}

/// `a()` here and `b()` on a helper thread, at once; both on this thread, one after
/// the other, when no thread can be had.
fn both<A, B>(a: A, b: B) -> (strata_lsm::Result<()>, strata_lsm::Result<()>)
where
    A: FnOnce() -> strata_lsm::Result<()>,
    B: FnOnce() -> strata_lsm::Result<()> + Send,
{
    // `b` waits here for whichever thread takes it: the helper, or this one when the
    // helper could not be started.
    let slot = Mutex::new(Some(b));
    let take = || lock(&slot).take();
    std::thread::scope(|s| {
        let helper = std::thread::Builder::new()
            .name("strata-bulk-load".into())
            .spawn_scoped(s, || take().map_or(Ok(()), |b| b()));
        let ra = a();
        let rb = match helper {
            Ok(h) => h.join().unwrap_or_else(|_| {
                Err(strata_lsm::Error::InvalidArgument(
                    "the bulk load helper panicked".into(),
                ))
            }),
            Err(_) => take().map_or(Ok(()), |b| b()),
        };
        (ra, rb)
    })
}

/// Takes one sub-record: its field and its value.
type PutRecord<'a, E> = dyn FnMut(&[u8], &[u8]) -> Result<(), E> + 'a;

/// Give `put` each sub-record (field, value) of `elements`, sorted by key (a sorted
/// set by member), in key order. A list's elements get indexes from `first_index` up.
fn emit_records<E>(
    elements: &mut Elements<'_>,
    first_index: u64,
    put: &mut PutRecord<'_, E>,
) -> Result<(), E> {
    match elements {
        Elements::List(items) => {
            for (i, e) in (first_index..).zip(items.iter()) {
                put(&i.to_be_bytes(), e)?;
            }
        }
        Elements::Set(items) => {
            for m in items.iter() {
                put(m, b"")?;
            }
        }
        Elements::Hash(pairs) => {
            for (f, val) in pairs.iter() {
                put(f, val)?;
            }
        }
        Elements::ZSet(items) => {
            // Member records (0x00 | member), then score-index records (0x01 |
            // ordered(score) | member), each in key order.
            let mut field = Vec::new();
            for (m, s) in items.iter() {
                put(member_field(&mut field, m), &s.to_bits().to_be_bytes())?;
            }
            // The same list again, now in score-index order (no second list: for 100k
            // members that was 4 MB of fresh memory per RESTORE).
            items.sort_unstable_by(by_score);
            for (m, s) in items.iter() {
                put(score_field(&mut field, m, *s), &s.to_bits().to_be_bytes())?;
            }
        }
    }
    Ok(())
}

/// The payload target from `dump-payload-target`.
fn target(sh: &Shared) -> Target {
    match lock(&sh.config).dump_payload_target.as_str() {
        "redis-6" => Target::Redis6,
        "portable" => Target::Portable,
        _ => Target::Redis7_0,
    }
}

/// The DUMP payload of `key`, or None.
pub fn dump_key(sh: &Shared, db: usize, key: &[u8]) -> Result<Option<Vec<u8>>, CmdErr> {
    let Some(m) = sh.store.get(db, key)? else {
        return Ok(None);
    };
    let p =
        strata_dump::records::dump_payload(&*sh.store.db, sh.store.phys(db), key, &m, target(sh))?;
    Ok(Some(p))
}

pub fn dump(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let p = dump_key(c.sh, c.s.db, &a[1])?;
    c.bulk_opt(p.as_deref())
}

/// Decode a RESTORE payload with Redis's error texts (large collections borrow their
/// strings from `p`).
pub fn decode_payload(p: &[u8]) -> Result<Restored<'_>, CmdErr> {
    // Values the codec does not decode (streams, modules) get Redis's text for a
    // payload it cannot load: tools match these texts exactly.
    strata_rdb::restore_borrowed(p, MAX_RESTORE_VERSION).map_err(|e| match e {
        strata_rdb::Error::VersionOrChecksum => {
            CmdErr("ERR DUMP payload version or checksum are wrong".into())
        }
        _ => CmdErr("ERR Bad data format".into()),
    })
}

pub fn restore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (false, false);
    let mut j = 4;
    while j < a.len() {
        let more = a.len() - j - 1;
        if is(&a[j], "replace") {
            replace = true;
        } else if is(&a[j], "absttl") {
            absttl = true;
        } else if is(&a[j], "idletime") && more >= 1 && !freq {
            let v = int_arg(&a[j + 1])?;
            if v < 0 {
                return Err("ERR Invalid IDLETIME value, must be >= 0".into());
            }
            idle = true;
            j += 1;
        } else if is(&a[j], "freq") && more >= 1 && !idle {
            let v = int_arg(&a[j + 1])?;
            if !(0..=255).contains(&v) {
                return Err("ERR Invalid FREQ value, must be >= 0 and <= 255".into());
            }
            freq = true;
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    if !replace && t.get(db, &a[1])?.is_some() {
        return Err("BUSYKEY Target key name already exists.".into());
    }
    let ttl = int_arg(&a[2])?;
    if ttl < 0 {
        return Err("ERR Invalid TTL value, must be >= 0".into());
    }
    let v = decode_payload(&a[3])?;
    if replace {
        t.del(db, &a[1])?;
    }
    let expire = match (ttl, absttl) {
        (0, _) => 0,
        (t_, true) => t_ as u64,
        (t_, false) => (t.now as i64).saturating_add(t_) as u64,
    };
    if expire != 0 && expire <= t.now {
        // Already expired: nothing is created (the old key, with REPLACE, is gone).
        t.commit()?;
        return c.ok();
    }
    // Redis loads a sorted set written as a skiplist (types 3 and 5) into a skiplist
    // and converts it to a listpack if small, which stores a -0 score as 0.
    let from_skiplist = matches!(a[3].first(), Some(3 | 5));
    write_value(&mut t, db, &a[1], v, expire, from_skiplist)?;
    t.commit()?;
    c.signal_key(db, &a[1]);
    c.ok()
}

/// Cached connections to MIGRATE targets: host:port → (socket, last selected db, last
/// use). Idle ones are dropped after 10 s, as Redis does.
#[derive(Default)]
pub struct MigrateCache {
    conns: std::collections::HashMap<String, (TcpStream, Option<i64>, Instant)>,
}

/// Read one reply line from a target (status, error or integer replies only).
fn read_line(r: &mut BufReader<&TcpStream>) -> std::io::Result<String> {
    let mut l = String::new();
    if r.read_line(&mut l)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(l.trim_end_matches("\r\n").to_string())
}

struct MigrateArgs {
    host: String,
    port: u16,
    keys: Vec<Vec<u8>>,
    db: i64,
    timeout: Duration,
    copy: bool,
    replace: bool,
    auth: Option<(Option<Vec<u8>>, Vec<u8>)>,
}

fn parse_migrate(a: &[Vec<u8>]) -> Result<MigrateArgs, CmdErr> {
    let (mut copy, mut replace) = (false, false);
    let mut auth = None;
    let mut keys = vec![a[3].clone()];
    let mut j = 6;
    while j < a.len() {
        let more = a.len() - j - 1;
        if is(&a[j], "copy") {
            copy = true;
        } else if is(&a[j], "replace") {
            replace = true;
        } else if is(&a[j], "auth") {
            if more == 0 {
                return Err(err::SYNTAX.into());
            }
            auth = Some((None, a[j + 1].clone()));
            j += 1;
        } else if is(&a[j], "auth2") {
            if more < 2 {
                return Err(err::SYNTAX.into());
            }
            auth = Some((Some(a[j + 1].clone()), a[j + 2].clone()));
            j += 2;
        } else if is(&a[j], "keys") {
            if !a[3].is_empty() {
                return Err("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string".into());
            }
            keys = a[j + 1..].to_vec();
            break;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    let db = int_arg(&a[4])?;
    let mut timeout = int_arg(&a[5])?;
    if timeout <= 0 {
        timeout = 1000;
    }
    let port = std::str::from_utf8(&a[2])
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(|| CmdErr(err::NOT_INT.into()))?;
    Ok(MigrateArgs {
        host: String::from_utf8_lossy(&a[1]).into_owned(),
        port,
        keys,
        db,
        timeout: Duration::from_millis(timeout as u64),
        copy,
        replace,
        auth,
    })
}

pub fn migrate(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let m = parse_migrate(a)?;
    let db = c.s.db;
    // On a worker: the network round trip must not stall this event loop. The store's
    // write lock is held from reading the keys to deleting them, so nothing changes
    // them in between (Redis blocks everything for the same span).
    Ok(Flow::Defer(Box::new(move |sh: &Shared| {
        let mut b = Vec::new();
        match migrate_run(sh, db, &m) {
            Ok(reply) => b.extend_from_slice(reply.as_bytes()),
            Err(e) => b.extend_from_slice(format!("-{}\r\n", e.0).as_bytes()),
        }
        b
    })))
}

fn migrate_run(sh: &Shared, db: usize, m: &MigrateArgs) -> Result<String, CmdErr> {
    // No EXEC may see part of the deletion (see `Shared::gate`).
    let _gate = sh.gate_shared();
    let mut t = sh.store.txn();
    let phys = t.phys(db);
    let tgt = target(sh);
    // Payloads are encoded once, before any attempt to send them.
    let mut items = Vec::new();
    for k in &m.keys {
        if let Some(meta) = t.get(db, k)? {
            let p = strata_dump::records::dump_payload(&*sh.store.db, phys, k, &meta, tgt)?;
            items.push((k.clone(), p, meta.expire));
        }
    }
    if items.is_empty() {
        return Ok("+NOKEY\r\n".into());
    }
    let name = format!("{}:{}", m.host, m.port);
    // One retry on a stale cached connection, as Redis.
    for attempt in 0..2 {
        let (mut sock, last_db) = {
            let mut cache = lock(&sh.migrate);
            cache
                .conns
                .retain(|_, (_, _, used)| used.elapsed() < Duration::from_secs(10));
            match cache.conns.remove(&name) {
                Some((s, d, _)) => (s, d),
                None => {
                    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(m.host.as_str(), m.port))
                        .ok()
                        .and_then(|mut it| it.next());
                    let s = addr.and_then(|addr| TcpStream::connect_timeout(&addr, m.timeout).ok());
                    match s {
                        Some(s) => (s, None),
                        None => {
                            return Err("IOERR error or timeout connecting to the client".into())
                        }
                    }
                }
            }
        };
        let _ = sock.set_read_timeout(Some(m.timeout));
        let _ = sock.set_write_timeout(Some(m.timeout));
        let _ = sock.set_nodelay(true);
        let mut buf = Vec::new();
        let send_auth = m.auth.is_some();
        if let Some((user, pass)) = &m.auth {
            match user {
                Some(u) => strata_dump::encode_command(&[b"AUTH", u, pass], &mut buf),
                None => strata_dump::encode_command(&[b"AUTH", pass], &mut buf),
            }
        }
        let select = last_db != Some(m.db);
        if select {
            strata_dump::encode_command(&[b"SELECT", m.db.to_string().as_bytes()], &mut buf);
        }
        let now = crate::store::now_ms();
        let mut sent = Vec::new();
        for (k, payload, exp) in &items {
            let ttl = if *exp == 0 {
                0
            } else {
                let left = exp.saturating_sub(now);
                if left == 0 {
                    continue;
                }
                left.max(1)
            };
            let ttl_s = ttl.to_string();
            let mut args: Vec<&[u8]> = vec![b"RESTORE", k, ttl_s.as_bytes(), payload];
            if m.replace {
                args.push(b"REPLACE");
            }
            strata_dump::encode_command(&args, &mut buf);
            sent.push(k.clone());
        }
        if let Err(e) = sock.write_all(&buf) {
            if attempt == 0 && last_db.is_some() && e.kind() != std::io::ErrorKind::TimedOut {
                continue;
            }
            return Err("IOERR error or timeout writing to target instance".into());
        }
        let mut r = BufReader::new(&sock);
        let mut first_error: Option<String> = None;
        let mut io_failed = false;
        let mut read = |r: &mut BufReader<&TcpStream>| -> Option<String> {
            match read_line(r) {
                Ok(l) => Some(l),
                Err(_) => {
                    io_failed = true;
                    None
                }
            }
        };
        if send_auth {
            match read(&mut r) {
                Some(l) if l.starts_with('-') => {
                    first_error = first_error.or(Some(l[1..].to_string()))
                }
                Some(_) => {}
                None => {}
            }
        }
        let mut db_ok = true;
        if select && first_error.is_none() {
            match read(&mut r) {
                Some(l) if l.starts_with('-') => {
                    db_ok = false;
                    first_error = first_error.or(Some(l[1..].to_string()));
                }
                Some(_) => {}
                None => db_ok = false,
            }
        } else if select {
            // Drain the SELECT reply after a failed AUTH.
            let _ = read(&mut r);
            db_ok = false;
        }
        let mut done_keys = Vec::new();
        for k in &sent {
            match read(&mut r) {
                Some(l) if l.starts_with('-') => {
                    first_error = first_error.or(Some(l[1..].to_string()));
                }
                Some(_) => done_keys.push(k.clone()),
                None => break,
            }
        }
        // A cached connection the target closed meanwhile fails at the first read:
        // nothing was applied, so try once more on a fresh one (Redis does the same).
        if io_failed
            && attempt == 0
            && last_db.is_some()
            && done_keys.is_empty()
            && first_error.is_none()
        {
            continue;
        }
        if !m.copy {
            for k in &done_keys {
                t.del(db, k)?;
            }
        }
        t.commit()?;
        if io_failed {
            return Err("IOERR error or timeout reading to target instance".into());
        }
        if db_ok {
            lock(&sh.migrate)
                .conns
                .insert(name, (sock, Some(m.db), Instant::now()));
        }
        return match first_error {
            Some(e) => Err(CmdErr(format!(
                "ERR Target instance replied with error: {e}"
            ))),
            None => Ok("+OK\r\n".into()),
        };
    }
    Err("IOERR error or timeout writing to target instance".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_runs_each_side_once_and_reports_each_result() {
        let (a, b) = (Mutex::new(0), Mutex::new(0));
        let (ra, rb) = both(
            || {
                *lock(&a) += 1;
                Ok(())
            },
            || {
                *lock(&b) += 1;
                Err(strata_lsm::Error::InvalidArgument("b failed".into()))
            },
        );
        assert!(ra.is_ok());
        assert!(matches!(rb, Err(strata_lsm::Error::InvalidArgument(_))));
        assert_eq!((*lock(&a), *lock(&b)), (1, 1));
    }
}
