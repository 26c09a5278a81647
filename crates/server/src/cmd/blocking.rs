//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX,
//! BZMPOP) and the registry of blocked clients.
//!
//! A blocking command first tries at once (inside a transaction). When every key is
//! empty it registers a waiter, still under the transaction's write lock, so no push can
//! slip in between the try and the registration, and the client waits (no reply, no
//! polling). A command that adds elements to a key (LPUSH, ZADD, LMOVE's destination,
//! ...) signals the key after its commit; the signalling thread then serves the key's
//! waiters in the order they blocked, running each one's command in its own transaction
//! and sending the reply to the waiter's event loop — Redis's order, right after the
//! command that made the data available. Lock order: the store's write lock, then the
//! registry.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use strata_rdb::format_g17;

use super::coll::txn_read;
use super::list;
use super::zset;
use super::{err, CmdErr, Ctx, Flow, R};
use crate::resp::Out;
use crate::store::{Kind, Txn};
use crate::{lock, LoopMsg, Shared};

/// What a blocked client runs when served.
#[derive(Clone, Debug)]
enum Op {
    /// BLPOP/BRPOP.
    Pop { left: bool },
    /// BLMOVE/BRPOPLPUSH (source is the only key).
    Move {
        dst: Vec<u8>,
        from_left: bool,
        to_left: bool,
    },
    /// BLMPOP.
    MPop { left: bool, count: u64 },
    /// BZPOPMIN/BZPOPMAX.
    ZPop { max: bool },
    /// BZMPOP.
    ZMPop { max: bool, count: u64 },
    /// WAIT for replicas: none ever come, so only the timeout ends it (with 0).
    Wait,
}

impl Op {
    fn kind(&self) -> Kind {
        match self {
            Op::ZPop { .. } | Op::ZMPop { .. } => Kind::ZSet,
            _ => Kind::List,
        }
    }
    /// The reply when the timeout fires: a null array for every blocking command,
    /// BLMOVE included (Redis's `replyToBlockedClientTimedOut`).
    fn timeout_reply(&self, proto: u8) -> Vec<u8> {
        let mut b = Vec::new();
        let mut o = Out { buf: &mut b, proto };
        match self {
            Op::Wait => o.int(0),
            _ => o.null_array(),
        }
        b
    }
}

/// A blocked client.
#[derive(Clone)]
struct Waiter {
    client: u64,
    loop_idx: usize,
    db: usize,
    proto: u8,
    keys: Vec<Vec<u8>>,
    op: Op,
    /// The command as sent, for the slow log when it is served (Redis logs a blocking
    /// command then, not when it blocks).
    args: Vec<Vec<u8>>,
}

/// The registry of blocked clients.
#[derive(Default)]
pub struct Blocked {
    waiters: HashMap<u64, Waiter>,
    /// (db, key) → clients blocked on it, in blocking order.
    queues: HashMap<(usize, Vec<u8>), VecDeque<u64>>,
}

impl Blocked {
    fn remove(&mut self, client: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&client)?;
        for k in &w.keys {
            let qk = (w.db, k.clone());
            if let Some(q) = self.queues.get_mut(&qk) {
                q.retain(|c| *c != client);
                if q.is_empty() {
                    self.queues.remove(&qk);
                }
            }
        }
        Some(w)
    }

    /// Number of blocked clients.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// No blocked clients.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }
}

/// Redis's blocking timeout: seconds as a long double, `ceil(seconds * 1000)` ms
/// converted to a 64-bit integer (an out-of-range value, infinity included, becomes
/// i64::MIN there, so "negative"); 0 = forever.
fn timeout_arg(a: &[u8]) -> Result<Option<Duration>, CmdErr> {
    let ld = crate::cfloat::string2ld(a)
        .ok_or_else(|| CmdErr("ERR timeout is not a float or out of range".into()))?;
    let mut ms = (ld.to_f64() * 1000.0).ceil();
    if ms == 0.0 && ld.is_positive() {
        // Below the double's range (1e-400) but above zero: ceil gives 1 ms in Redis.
        ms = 1.0;
    }
    if !(0.0..9.223_372_036_854_776e18).contains(&ms) {
        return Err("ERR timeout is negative".into());
    }
    if ms == 0.0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_millis(ms.min(1e12) as u64)))
}

/// Try `op` on `keys` now; Some(reply bytes) when served.
fn attempt(
    t: &mut Txn,
    db: usize,
    proto: u8,
    keys: &[Vec<u8>],
    op: &Op,
) -> Result<Option<Vec<u8>>, CmdErr> {
    let mut b = Vec::new();
    let mut o = Out { buf: &mut b, proto };
    match op {
        // Nothing serves a WAIT: no replica ever acknowledges.
        Op::Wait => Ok(None),
        Op::Pop { left } => {
            for k in keys {
                if txn_read(t, db, k, Kind::List)?.is_some() {
                    let v = list::pop(t, db, k, 1, *left)?;
                    o.array(2);
                    o.bulk(k);
                    o.bulk(v.first().map_or(&[][..], Vec::as_slice));
                    return Ok(Some(b));
                }
            }
            Ok(None)
        }
        Op::Move {
            dst,
            from_left,
            to_left,
        } => match list::lmove_in(t, db, &keys[0], dst, *from_left, *to_left)? {
            Some(v) => {
                o.bulk(&v);
                Ok(Some(b))
            }
            None => Ok(None),
        },
        Op::MPop { left, count } => match list::lmpop_in(t, db, keys, *left, *count)? {
            Some((k, v)) => {
                o.array(2);
                o.bulk(&k);
                o.bulks(v.iter().map(Vec::as_slice));
                Ok(Some(b))
            }
            None => Ok(None),
        },
        Op::ZPop { max } => {
            for k in keys {
                if txn_read(t, db, k, Kind::ZSet)?.is_some() {
                    let v = zset::pop_in(t, db, k, 1, *max)?;
                    let Some((m, s)) = v.first() else {
                        continue;
                    };
                    o.array(3);
                    o.bulk(k);
                    o.bulk(m);
                    o.double(&format_g17(*s));
                    return Ok(Some(b));
                }
            }
            Ok(None)
        }
        Op::ZMPop { max, count } => match zset::zmpop_in(t, db, keys, *max, *count)? {
            Some((k, items)) => {
                o.array(2);
                o.bulk(&k);
                o.array(items.len());
                for (m, s) in &items {
                    o.array(2);
                    o.bulk(m);
                    o.double(&format_g17(*s));
                }
                Ok(Some(b))
            }
            None => Ok(None),
        },
    }
}

/// Run a blocking command: serve now, or block.
fn block_or_serve(
    c: &mut Ctx,
    args: &[Vec<u8>],
    keys: Vec<Vec<u8>>,
    op: Op,
    timeout: Option<Duration>,
) -> R {
    let sh = c.sh;
    let db = c.s.db;
    let proto = c.s.proto;
    let mut t = sh.store.txn();
    // Keys of the wrong type answer WRONGTYPE even when another key could serve.
    if let Some(reply) = attempt(&mut t, db, proto, &keys, &op)? {
        t.commit()?;
        c.out.buf.extend_from_slice(&reply);
        if let Op::Move { dst, .. } = &op {
            c.signal_key(db, dst);
        }
        return Ok(Flow::Continue { wrote: true });
    }
    if c.s.in_exec {
        // Inside EXEC nothing blocks: the timeout's reply at once, as Redis.
        drop(t);
        c.out.buf.extend_from_slice(&op.timeout_reply(proto));
        return Ok(Flow::Continue { wrote: false });
    }
    let mut reg = lock(&sh.blocked);
    let client = c.info.id;
    for k in &keys {
        reg.queues
            .entry((db, k.clone()))
            .or_default()
            .push_back(client);
    }
    reg.waiters.insert(
        client,
        Waiter {
            client,
            loop_idx: c.info.loop_idx,
            db,
            proto,
            keys,
            op,
            args: args.to_vec(),
        },
    );
    drop(reg);
    drop(t);
    Ok(Flow::Block(timeout.map(|d| Instant::now() + d)))
}

/// The waiter's loop calls this when its deadline passes: the timeout reply, unless the
/// client was served meanwhile (its reply is then on the way).
pub fn expire(sh: &Shared, client: u64) -> Option<Vec<u8>> {
    let w = lock(&sh.blocked).remove(client)?;
    Some(w.op.timeout_reply(w.proto))
}

/// A blocking command that blocked enters the slow log when it is served, with the time
/// serving it took, as Redis's `updateStatsOnUnblock` does; one that times out never
/// does (as in Redis).
fn log_unblocked(sh: &Shared, w: &Waiter, took: Duration) {
    let micros = took.as_micros() as u64;
    if !super::slowlog::would_record(sh, micros) {
        // (Most serves: no need to look the client up.)
        return;
    }
    let info = lock(&sh.clients).get(&w.client).cloned();
    if let Some(info) = info {
        super::slowlog::record(sh, &info, &w.args, micros, false);
    }
}

/// CLIENT UNBLOCK: a blocked client gets its timeout reply (or, with `error`, Redis's
/// UNBLOCKED error) from its loop at once. False if it was not blocked.
pub fn unblock(sh: &Shared, client: u64, error: bool) -> bool {
    let Some(w) = lock(&sh.blocked).remove(client) else {
        return false;
    };
    let reply = if error {
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n".to_vec()
    } else {
        w.op.timeout_reply(w.proto)
    };
    if let Some(l) = sh.loops.get(w.loop_idx) {
        l.send(LoopMsg::Deferred(client, reply));
    }
    true
}

/// A disconnected client stops waiting.
pub fn forget(sh: &Shared, client: u64) {
    lock(&sh.blocked).remove(client);
}

/// The keys clients are blocked on in logical db `db`.
pub fn blocked_keys(sh: &Shared, db: usize) -> Vec<Vec<u8>> {
    let reg = lock(&sh.blocked);
    reg.queues
        .iter()
        .filter(|((d, _), q)| *d == db && !q.is_empty())
        .map(|((_, k), _)| k.clone())
        .collect()
}

/// Serve the clients blocked on `key` (after a commit made elements available), and
/// keys those serves filled in turn (BLMOVE destinations).
pub fn serve(sh: &Shared, db: usize, key: &[u8]) {
    // Waiters' pops may read around their transaction (sorted-set scans): the push's
    // deferred writes go to the engine first.
    if let Err(e) = sh.store.flush_pending() {
        crate::log::warning(format_args!("serving blocked clients: {e}"));
        return;
    }
    let mut work: VecDeque<(usize, Vec<u8>)> = VecDeque::from([(db, key.to_vec())]);
    let mut rounds = 0;
    while let Some((db, key)) = work.pop_front() {
        rounds += 1;
        if rounds > 100_000 {
            break;
        }
        loop {
            let w = {
                let reg = lock(&sh.blocked);
                let Some(id) = reg
                    .queues
                    .get(&(db, key.clone()))
                    .and_then(|q| q.front().copied())
                else {
                    break;
                };
                match reg.waiters.get(&id) {
                    Some(w) => w.clone(),
                    None => break,
                }
            };
            let started = Instant::now();
            let mut t = sh.store.txn();
            // A key that now holds another type leaves its waiters blocked, as Redis
            // serves a key only for the type it holds.
            match t.get(w.db, &key) {
                Ok(Some(m)) if m.kind != w.op.kind() => break,
                Err(_) => break,
                _ => {}
            }
            // Only this key can have become ready: try it, with the waiter's command.
            let keys = match &w.op {
                Op::Move { .. } => w.keys.clone(),
                _ => vec![key.clone()],
            };
            let reply = match attempt(&mut t, w.db, w.proto, &keys, &w.op) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    // WRONGTYPE on a BLMOVE destination: the waiter gets the error.
                    let mut b = Vec::new();
                    Out {
                        buf: &mut b,
                        proto: w.proto,
                    }
                    .error(&e.0);
                    b
                }
            };
            let still_waiting = lock(&sh.blocked).remove(w.client).is_some();
            if !still_waiting {
                // Timed out or disconnected between the peek and now: undo.
                drop(t);
                continue;
            }
            if let Err(e) = t.commit() {
                let mut b = Vec::new();
                Out {
                    buf: &mut b,
                    proto: w.proto,
                }
                .error(&format!("ERR {e}"));
                send(sh, &w, b);
                continue;
            }
            send(sh, &w, reply);
            log_unblocked(sh, &w, started.elapsed());
            if let Op::Move { dst, .. } = &w.op {
                work.push_back((w.db, dst.clone()));
            }
        }
    }
}

fn send(sh: &Shared, w: &Waiter, reply: Vec<u8>) {
    if let Some(l) = sh.loops.get(w.loop_idx) {
        l.send(LoopMsg::Deferred(w.client, reply));
    }
}

fn keys_and_timeout(a: &[Vec<u8>]) -> Result<(Vec<Vec<u8>>, Option<Duration>), CmdErr> {
    let timeout = timeout_arg(&a[a.len() - 1])?;
    Ok((a[1..a.len() - 1].to_vec(), timeout))
}

pub fn blpop(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (keys, t) = keys_and_timeout(a)?;
    block_or_serve(c, a, keys, Op::Pop { left: true }, t)
}

pub fn brpop(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (keys, t) = keys_and_timeout(a)?;
    block_or_serve(c, a, keys, Op::Pop { left: false }, t)
}

fn side(a: &[u8]) -> Result<bool, CmdErr> {
    if super::is(a, "left") {
        Ok(true)
    } else if super::is(a, "right") {
        Ok(false)
    } else {
        Err(err::SYNTAX.into())
    }
}

pub fn blmove(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (fl, tl) = (side(&a[3])?, side(&a[4])?);
    let t = timeout_arg(&a[5])?;
    block_or_serve(
        c,
        a,
        vec![a[1].clone()],
        Op::Move {
            dst: a[2].clone(),
            from_left: fl,
            to_left: tl,
        },
        t,
    )
}

pub fn brpoplpush(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let t = timeout_arg(&a[3])?;
    block_or_serve(
        c,
        a,
        vec![a[1].clone()],
        Op::Move {
            dst: a[2].clone(),
            from_left: false,
            to_left: true,
        },
        t,
    )
}

pub fn blmpop(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let t = timeout_arg(&a[1])?;
    let (keys, left, count) = list::parse_mpop(a, 2, ("left", "right"))?;
    block_or_serve(c, a, keys, Op::MPop { left, count }, t)
}

pub fn bzpopmin(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (keys, t) = keys_and_timeout(a)?;
    block_or_serve(c, a, keys, Op::ZPop { max: false }, t)
}

pub fn bzpopmax(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (keys, t) = keys_and_timeout(a)?;
    block_or_serve(c, a, keys, Op::ZPop { max: true }, t)
}

pub fn bzmpop(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let t = timeout_arg(&a[1])?;
    let (keys, min, count) = list::parse_mpop(a, 2, ("min", "max"))?;
    block_or_serve(c, a, keys, Op::ZMPop { max: !min, count }, t)
}

/// For `Op::kind` users (INFO).
pub fn waiting_kind_is_list(sh: &Shared, client: u64) -> Option<bool> {
    lock(&sh.blocked)
        .waiters
        .get(&client)
        .map(|w| w.op.kind() == Kind::List)
}

/// WAIT numreplicas timeout. Strata has no replicas: 0 at once when none are asked
/// for (or inside EXEC), else 0 when the timeout (milliseconds, 0 = never) ends, as
/// Redis answers with no replica connected.
pub fn wait(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let int = |x: &[u8]| -> Result<i64, CmdErr> {
        std::str::from_utf8(x)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| CmdErr(super::err::NOT_INT.into()))
    };
    let replicas = int(&a[1])?;
    let timeout = int(&a[2])?;
    if timeout < 0 {
        return Err("ERR timeout is negative".into());
    }
    if replicas <= 0 || c.s.in_exec {
        return c.int(0);
    }
    let client = c.info.id;
    lock(&c.sh.blocked).waiters.insert(
        client,
        Waiter {
            client,
            loop_idx: c.info.loop_idx,
            db: c.s.db,
            proto: c.s.proto,
            keys: Vec::new(),
            op: Op::Wait,
            args: Vec::new(),
        },
    );
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    Ok(Flow::Block(deadline))
}
