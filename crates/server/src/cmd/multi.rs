//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, as Redis 7.0.
//!
//! Between MULTI and EXEC a client's commands are checked (unknown command, arity,
//! authentication, commands refused in a transaction) and queued; any such error makes
//! EXEC answer `-EXECABORT`. EXEC runs the queue with no other client's command in
//! between: the event loop running it holds the server's transaction gate exclusively
//! (`Shared::gate`; every event loop holds it shared while it serves an iteration, the
//! expiry thread while it expires a batch, a MIGRATE while it deletes what it moved),
//! and its writes reach the engine before the gate is released, so no reader on
//! another loop sees part of a transaction. Blocking commands inside EXEC do not block
//! (they answer as if timed out), as in Redis.
//!
//! WATCH registers the keys in the store (`Store::watch`); every write of a watched key
//! by anyone (including expiry, FLUSHDB, SWAPDB) marks the watcher, and its EXEC then
//! answers a null array. A key that was live when watched and has expired by EXEC fails
//! it too; one already expired when watched does not (Redis 7.0).

use std::sync::atomic::Ordering;

use super::{done, execute_inline, CmdErr, Ctx, Flow, R};

/// A transaction being queued.
#[derive(Default)]
pub struct Multi {
    /// The queued commands' arguments.
    pub queued: Vec<Vec<Vec<u8>>>,
    /// Their size, held against `client-query-buffer-limit`.
    pub bytes: usize,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub aborted: bool,
}

/// Commands run at once inside MULTI instead of being queued.
pub fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Commands Redis refuses inside MULTI (`no-multi`).
pub fn refused_inside_multi(name: &str) -> bool {
    matches!(name, "shutdown" | "save" | "sync" | "psync")
}

pub fn multi(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    if c.s.multi.is_some() {
        return Err(CmdErr("ERR MULTI calls can not be nested".into()));
    }
    c.s.multi = Some(Multi::default());
    c.ok()
}

pub fn discard(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    if c.s.multi.take().is_none() {
        return Err(CmdErr("ERR DISCARD without MULTI".into()));
    }
    unwatch_all(c);
    c.ok()
}

pub fn watch(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    if c.s.multi.is_some() {
        return Err(CmdErr("ERR WATCH inside MULTI is not allowed".into()));
    }
    let db = c.s.db;
    let added = c.sh.store.watch(db, &a[1..], c.info.id, &c.s.watch_dirty)?;
    c.s.watched.extend(added.into_iter().map(|k| (db, k)));
    c.ok()
}

pub fn unwatch(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    unwatch_all(c);
    c.ok()
}

/// Forget the client's watches and their dirty mark.
fn unwatch_all(c: &mut Ctx) {
    forget(c.sh, c.s, c.info.id);
}

/// Forget `client`'s watches (UNWATCH, EXEC, DISCARD, RESET, disconnection).
pub fn forget(sh: &crate::Shared, s: &mut super::Session, client: u64) {
    if !s.watched.is_empty() {
        sh.store.unwatch(client, &s.watched);
        s.watched.clear();
    }
    s.watch_dirty.store(false, Ordering::Release);
}

pub fn exec(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    let Some(m) = c.s.multi.take() else {
        return Err(CmdErr("ERR EXEC without MULTI".into()));
    };
    if m.aborted {
        unwatch_all(c);
        return Err(CmdErr(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    let touched = c.s.watch_dirty.load(Ordering::Acquire)
        || (!c.s.watched.is_empty() && c.sh.store.watched_key_expired(c.info.id, &c.s.watched)?);
    unwatch_all(c);
    if touched {
        c.out.null_array();
        return done();
    }
    let mark = c.out.buf.len();
    c.out.array(m.queued.len());
    if c.s.reply.muted() {
        // Muted now, though a CLIENT REPLY ON inside may unmute what follows.
        c.out.buf.truncate(mark);
    }
    let mut wrote = false;
    let mut close = false;
    c.s.in_exec = true;
    for args in &m.queued {
        let r = execute_inline(c.sh, c.s, c.info, c.out.buf, args);
        wrote |= r.wrote;
        close |= r.close;
        // A command may change the protocol (HELLO) for the ones after it.
        c.out.proto = c.s.proto;
    }
    c.s.in_exec = false;
    c.s.reply.exec_ran = true;
    let ready = std::mem::take(&mut c.s.ready);
    c.signal_ready(ready);
    // (The loop applies the transaction's writes to the engine before it releases
    // the gate: `net::Loop::process`.)
    if close {
        return Ok(Flow::Close);
    }
    Ok(Flow::Continue { wrote })
}
