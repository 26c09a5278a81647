//! SLOWLOG: commands that ran at least `slowlog-log-slower-than` microseconds, the
//! newest `slowlog-max-len` of them, as Redis 7.0 records them (at most 32 arguments,
//! each cut at 128 bytes, passwords redacted).
//!
//! Timing every command costs two clock reads; commands flagged `fast` (O(1): GET,
//! INCR, HSET, ...) are timed only when the threshold is 0 ("log everything"), so the
//! hot path of small commands stays as it was (docs/commands.md).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use super::{done, CmdErr, Ctx, R};
use crate::{lock, ClientInfo, Shared};

/// Arguments kept per entry (the last says how many more there were).
const MAX_ARGS: usize = 32;
/// Bytes kept per argument.
const MAX_ARG_BYTES: usize = 128;

/// One slow command.
pub struct Entry {
    id: u64,
    time: u64,
    micros: u64,
    args: Vec<Vec<u8>>,
    addr: String,
    name: Vec<u8>,
}

/// The log, newest first.
#[derive(Default)]
pub struct SlowLog {
    next_id: u64,
    entries: VecDeque<Entry>,
}

/// Should this command be timed (threshold in µs; negative = off)? EXEC is not
/// (`skip_slowlog`: its commands are, one by one). The flags are looked at only when
/// the threshold leaves the question open (this runs for every command).
pub fn timed(threshold: i64, cmd: &super::Cmd) -> bool {
    if threshold < 0 || (threshold > 0 && cmd.has("fast")) {
        return false;
    }
    !cmd.has("skip_slowlog")
}

/// Whether a command that took `micros` goes into the log (the threshold; negative =
/// off).
pub fn would_record(sh: &Shared, micros: u64) -> bool {
    let threshold = sh.hot.slowlog_threshold.load(Ordering::Relaxed);
    threshold >= 0 && micros >= threshold as u64
}

/// Record `args` if it took at least the threshold. A script's command is recorded as
/// Redis records its Lua client's: address `?:0`, no name.
pub fn record(sh: &Shared, info: &ClientInfo, args: &[Vec<u8>], micros: u64, script: bool) {
    if !would_record(sh, micros) {
        return;
    }
    let max = sh.hot.slowlog_max.load(Ordering::Relaxed) as usize;
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(args.len().min(MAX_ARGS));
    let redact = redacted(args);
    for (i, a) in args.iter().enumerate() {
        if i == MAX_ARGS - 1 && args.len() > MAX_ARGS {
            kept.push(format!("... ({} more arguments)", args.len() - i).into_bytes());
            break;
        }
        if redact.contains(&i) {
            kept.push(b"(redacted)".to_vec());
        } else if a.len() > MAX_ARG_BYTES {
            let mut v = a[..MAX_ARG_BYTES].to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_BYTES).as_bytes());
            kept.push(v);
        } else {
            kept.push(a.clone());
        }
    }
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut log = lock(&sh.slowlog);
    let id = log.next_id;
    log.next_id += 1;
    log.entries.push_front(Entry {
        id,
        time,
        micros,
        args: kept,
        addr: if script {
            "?:0".into()
        } else {
            info.addr.clone()
        },
        name: if script {
            Vec::new()
        } else {
            lock(&info.name).clone()
        },
    });
    log.entries.truncate(max);
}

/// Positions of arguments Redis 7.0 hides: AUTH's, HELLO's AUTH pair, the values of
/// CONFIG SET for passwords, MIGRATE's AUTH/AUTH2.
pub(crate) fn redacted(args: &[Vec<u8>]) -> Vec<usize> {
    let is = |i: usize, w: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    let mut r = Vec::new();
    if is(0, "auth") {
        r.extend(1..args.len());
    } else if is(0, "hello") {
        for i in 1..args.len() {
            if is(i, "auth") {
                r.extend([i + 1, i + 2]);
            }
        }
    } else if is(0, "config") && is(1, "set") {
        let mut i = 2;
        while i + 1 < args.len() {
            if is(i, "requirepass") || is(i, "masterauth") {
                r.push(i + 1);
            }
            i += 2;
        }
    } else if is(0, "migrate") {
        for i in 1..args.len() {
            if is(i, "auth") {
                r.push(i + 1);
            } else if is(i, "auth2") {
                r.extend([i + 1, i + 2]);
            }
        }
    }
    r
}

pub fn slowlog(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match (sub.as_str(), a.len()) {
        ("get", 2 | 3) => {
            let count: i64 = match a.get(2) {
                None => 10,
                Some(n) => match std::str::from_utf8(n).ok().and_then(|s| s.parse().ok()) {
                    Some(n) if n >= -1 => n,
                    _ => return Err("ERR count should be greater than or equal to -1".into()),
                },
            };
            let log = lock(&c.sh.slowlog);
            let n = if count < 0 {
                log.entries.len()
            } else {
                (count as usize).min(log.entries.len())
            };
            c.out.array(n);
            for e in log.entries.iter().take(n) {
                c.out.array(6);
                c.out.int(e.id as i64);
                c.out.int(e.time as i64);
                c.out.int(e.micros as i64);
                c.out.bulks(e.args.iter().map(Vec::as_slice));
                c.out.bulk(e.addr.as_bytes());
                c.out.bulk(&e.name);
            }
            drop(log);
            done()
        }
        ("len", 2) => {
            let n = lock(&c.sh.slowlog).entries.len();
            c.int(n as i64)
        }
        ("reset", 2) => {
            lock(&c.sh.slowlog).entries.clear();
            c.ok()
        }
        ("help", 2) => {
            let lines = [
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Prints this help.",
            ];
            super::reply_lines(c, &lines)
        }
        ("get" | "len" | "reset" | "help", _) => Err(CmdErr(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(&a[1])
        ))),
        _ => Err(super::unknown_subcommand(a)),
    }
}
