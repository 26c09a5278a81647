//! INFO `commandstats` and `errorstats`: per-command calls, time, rejected and failed
//! calls, and error replies by their code, counted as Redis 7.0 counts them.
//!
//! A command's time is measured on every call of a command that is not `fast`, and on
//! one call in [`SAMPLE_EVERY`] of a `fast` one (two clock reads cost about 50 ns here,
//! several percent of a pipelined GET); `usec` is then the sampled calls' mean times the
//! calls, and `usec_per_call` that mean.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{Cmd, COMMANDS};
use crate::lock;

/// One `fast` call in this many is timed.
pub const SAMPLE_EVERY: u64 = 16;

/// One command's (or subcommand's) counters.
#[derive(Default)]
pub struct Stat {
    calls: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    /// Calls timed, and their total time in microseconds.
    timed: AtomicU64,
    timed_usec: AtomicU64,
}

impl Stat {
    fn reset(&self) {
        for c in [
            &self.calls,
            &self.rejected,
            &self.failed,
            &self.timed,
            &self.timed_usec,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// A command's counters (borrowed: no reference count touched per call) or a
/// subcommand's (shared with the map that holds them).
enum StatRef<'a> {
    Plain(&'a Stat),
    Sub(Arc<Stat>),
}

impl std::ops::Deref for StatRef<'_> {
    type Target = Stat;
    fn deref(&self) -> &Stat {
        match self {
            StatRef::Plain(s) => s,
            StatRef::Sub(s) => s,
        }
    }
}

/// Where one call's counters go, and whether this call is timed.
pub struct Call<'a> {
    stat: StatRef<'a>,
    /// This call's time is wanted (the caller measures it, once for SLOWLOG too).
    pub timed: bool,
}

impl Call<'_> {
    /// The call ended; `failed`: its reply was an error. Counted now, as Redis counts
    /// a call once it has run (an INFO does not see itself; CONFIG RESETSTAT's own call
    /// survives the reset).
    /// `usec`: the call's time, when it was measured.
    pub fn finish(self, failed: bool, usec: Option<u64>) {
        self.stat.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.stat.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let (true, Some(us)) = (self.timed, usec) {
            self.stat.timed.fetch_add(1, Ordering::Relaxed);
            self.stat.timed_usec.fetch_add(us, Ordering::Relaxed);
        }
    }
}

/// The server's command and error statistics.
pub struct CmdStats {
    /// By the command's position in [`COMMANDS`].
    plain: Vec<Stat>,
    /// Subcommands (`client|list`), made as they are first used.
    subs: Mutex<HashMap<(&'static str, &'static str), Arc<Stat>>>,
    /// Error replies by their code (the first word: `ERR`, `WRONGTYPE`, ...).
    errors: Mutex<BTreeMap<String, u64>>,
    /// Every error reply.
    pub total_errors: AtomicU64,
}

impl Default for CmdStats {
    fn default() -> Self {
        CmdStats {
            plain: (0..COMMANDS.len()).map(|_| Stat::default()).collect(),
            subs: Mutex::default(),
            errors: Mutex::default(),
            total_errors: AtomicU64::new(0),
        }
    }
}

impl CmdStats {
    fn stat(&self, cmd: &Cmd, sub: Option<&'static str>) -> StatRef<'_> {
        if let Some(sub) = sub {
            let mut subs = lock(&self.subs);
            return StatRef::Sub(Arc::clone(subs.entry((cmd.name, sub)).or_default()));
        }
        // `cmd` is an entry of COMMANDS (every lookup returns one): its index.
        let at = (cmd as *const Cmd as usize).wrapping_sub(COMMANDS.as_ptr() as usize)
            / std::mem::size_of::<Cmd>();
        match self.plain.get(at) {
            Some(s) => StatRef::Plain(s),
            None => StatRef::Sub(Arc::default()),
        }
    }

    /// A call of `cmd` (or of its subcommand `sub`) starts.
    pub fn call(&self, cmd: &Cmd, sub: Option<&'static str>) -> Call<'_> {
        let stat = self.stat(cmd, sub);
        let n = stat.calls.load(Ordering::Relaxed);
        let timed = !cmd.has("fast") || n.is_multiple_of(SAMPLE_EVERY);
        Call { stat, timed }
    }

    /// `cmd` (or `sub`) was refused before it ran (arity, NOAUTH, ...).
    pub fn rejected(&self, cmd: &Cmd, sub: Option<&'static str>) {
        self.stat(cmd, sub).rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// An error reply went out.
    pub fn error(&self, msg: &str) {
        self.total_errors.fetch_add(1, Ordering::Relaxed);
        let code = msg.split(' ').next().unwrap_or("ERR");
        // Redis keeps at most 128 codes; later new ones are counted only in the total.
        let mut errors = lock(&self.errors);
        if let Some(n) = errors.get_mut(code) {
            *n += 1;
        } else if errors.len() < 128 {
            errors.insert(code.to_string(), 1);
        }
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        self.plain.iter().for_each(|s| s.reset());
        lock(&self.subs).values().for_each(|s| s.reset());
        lock(&self.errors).clear();
        self.total_errors.store(0, Ordering::Relaxed);
    }

    /// INFO's `# Commandstats` lines: commands called or refused at least once.
    pub fn commandstats(&self, out: &mut String) {
        out.push_str("# Commandstats\r\n");
        let mut line = |name: &str, s: &Stat| {
            let calls = s.calls.load(Ordering::Relaxed);
            let rejected = s.rejected.load(Ordering::Relaxed);
            let failed = s.failed.load(Ordering::Relaxed);
            if calls == 0 && rejected == 0 && failed == 0 {
                return;
            }
            let timed = s.timed.load(Ordering::Relaxed);
            let timed_usec = s.timed_usec.load(Ordering::Relaxed);
            let per_call = if timed == 0 {
                0.0
            } else {
                timed_usec as f64 / timed as f64
            };
            let usec = (per_call * calls as f64).round() as u64;
            let _ = write!(
                out,
                "cmdstat_{name}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n"
            );
        };
        for (cmd, s) in COMMANDS.iter().zip(&self.plain) {
            line(cmd.name, s);
        }
        let subs = lock(&self.subs);
        let mut names: Vec<_> = subs.iter().collect();
        names.sort_by_key(|(k, _)| **k);
        for ((cmd, sub), s) in names {
            line(&format!("{cmd}|{sub}"), s);
        }
    }

    /// INFO's `# Errorstats` lines.
    pub fn errorstats(&self, out: &mut String) {
        out.push_str("# Errorstats\r\n");
        for (code, n) in lock(&self.errors).iter() {
            let _ = write!(out, "errorstat_{code}:count={n}\r\n");
        }
    }
}
