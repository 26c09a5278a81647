//! # strata-server
//!
//! The RESP2/RESP3 front end that connects Redis clients to the engine.
//!
//! Threads (see `docs/architecture.md`): one acceptor per listening address, `io-threads`
//! event loops (mio, one per core by default) that parse requests, run commands and
//! write replies, two workers for commands too long to run on an event loop (KEYS), the
//! active-expiry thread, and the engine's own flush, compaction and WAL threads.

#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cfloat;
pub mod cmd;
pub mod config;
#[doc(hidden)]
pub mod fuzz_support;
pub mod geohash;
pub mod hll;
pub mod log;
mod net;
mod redis_conf;
pub mod resp;
pub mod store;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use config::{Config, Fsync};

/// What INFO reports as `mem_allocator`: set by the program that chose the global
/// allocator (the `strata-server` binary names its mimalloc); "libc" when unset, as an
/// embedding program's allocator is its own business.
static ALLOCATOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Name the process's allocator for INFO's `mem_allocator` (first call wins).
pub fn set_allocator_name(name: String) {
    let _ = ALLOCATOR.set(name);
}

pub(crate) fn allocator_name() -> &'static str {
    ALLOCATOR.get().map_or("libc", String::as_str)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What other threads may see of a connected client (CLIENT LIST, KILL, INFO).
pub struct ClientInfo {
    /// CLIENT ID.
    pub id: u64,
    /// Peer address.
    pub addr: String,
    /// Local address.
    pub laddr: String,
    /// File descriptor.
    pub fd: i32,
    /// Event loop owning the connection.
    pub loop_idx: usize,
    /// Connected at.
    pub created: Instant,
    /// Milliseconds since server start of the last command.
    pub last_active: AtomicU64,
    /// CLIENT SETNAME.
    pub name: Mutex<Vec<u8>>,
    /// Selected database.
    pub db: AtomicUsize,
    /// Last command (lowercase).
    pub last_cmd: Mutex<String>,
    /// Protocol version.
    pub resp: AtomicU8,
    /// Set by CLIENT KILL; the owning loop closes the connection.
    pub killed: AtomicBool,
    /// In MONITOR mode.
    pub monitor: AtomicBool,
    /// The session's state as CLIENT LIST shows it.
    pub listed: Listed,
}

/// What CLIENT LIST shows of a client's session, mirrored by its loop after each
/// command (and as it blocks and unblocks), for other clients to read.
#[derive(Default)]
pub struct Listed {
    /// Channels, patterns and shard channels subscribed to.
    pub sub: AtomicUsize,
    pub psub: AtomicUsize,
    pub ssub: AtomicUsize,
    /// Commands queued since MULTI, plus one (0: not in MULTI).
    pub multi: AtomicUsize,
    /// CLIENT NO-EVICT on.
    pub no_evict: AtomicBool,
    /// A WATCHed key was touched (the session's own flag, shared: CLIENT LIST's `d`).
    pub watch_dirty: Arc<AtomicBool>,
    /// Blocked (a blocking command waiting, or a request held by CLIENT PAUSE):
    /// [`BLOCKED`], or [`BLOCKED_TIMED`] when the wait has a timeout.
    blocked: AtomicU8,
    /// Bytes read and not yet run (CLIENT LIST `qbuf`), and the read buffer's size.
    pub qbuf: AtomicUsize,
    pub qbuf_cap: AtomicUsize,
    /// Reply bytes not yet sent (`obl`/`oll`/`omem`), and the reply buffer's size.
    pub out: AtomicUsize,
    pub out_cap: AtomicUsize,
}

/// [`Listed`]'s blocked states.
pub const BLOCKED: u8 = 1;
pub const BLOCKED_TIMED: u8 = 2;

impl ClientInfo {
    /// Enter (`BLOCKED`, `BLOCKED_TIMED`) or leave (0) the blocked state, keeping INFO's
    /// `blocked_clients` and `clients_in_timeout_table` counts.
    pub fn set_blocked(&self, stats: &Stats, state: u8) {
        let old = self.listed.blocked.swap(state, Ordering::Relaxed);
        let adjust = |counter: &AtomicUsize, was: bool, is: bool| match (was, is) {
            (false, true) => {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            (true, false) => {
                counter.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        };
        adjust(&stats.blocked_clients, old != 0, state != 0);
        adjust(
            &stats.timeout_table,
            old == BLOCKED_TIMED,
            state == BLOCKED_TIMED,
        );
    }

    /// In the blocked state (CLIENT LIST's `b`).
    pub fn blocked(&self) -> bool {
        self.listed.blocked.load(Ordering::Relaxed) != 0
    }
}

/// Server-wide counters for INFO.
#[derive(Default)]
pub struct Stats {
    /// Connections accepted.
    pub total_connections: AtomicU64,
    /// Connections refused (maxclients).
    pub rejected_connections: AtomicU64,
    /// Commands processed.
    pub total_commands: AtomicU64,
    /// Clients blocked (INFO `blocked_clients`).
    pub blocked_clients: AtomicUsize,
    /// Blocked clients whose wait has a timeout (INFO `clients_in_timeout_table`).
    pub timeout_table: AtomicUsize,
    /// Bytes read from clients.
    pub net_input: AtomicU64,
    /// Bytes written to clients.
    pub net_output: AtomicU64,
    /// Reads that found their key.
    pub keyspace_hits: AtomicU64,
    /// Reads that did not.
    pub keyspace_misses: AtomicU64,
}

/// Configuration read on every request, mirrored out of the config mutex.
#[derive(Default)]
pub struct Hot {
    /// `requirepass` is set.
    pub password_set: AtomicBool,
    /// `proto-max-bulk-len`.
    pub max_bulk: AtomicU64,
    /// `client-query-buffer-limit`.
    pub query_buffer_limit: AtomicU64,
    /// `slowlog-log-slower-than` (µs; negative = off).
    pub slowlog_threshold: std::sync::atomic::AtomicI64,
    /// `slowlog-max-len`.
    pub slowlog_max: AtomicU64,
    /// `busy-reply-threshold` in milliseconds (the script time limit).
    pub script_limit_ms: AtomicU64,
    /// `hll-sparse-max-bytes`.
    pub hll_sparse_max_bytes: AtomicU64,
}

impl Hot {
    /// Mirror `c`.
    pub fn update(&self, c: &Config) {
        self.password_set
            .store(!c.requirepass.is_empty(), Ordering::Relaxed);
        self.max_bulk.store(c.proto_max_bulk_len, Ordering::Relaxed);
        self.query_buffer_limit
            .store(c.client_query_buffer_limit, Ordering::Relaxed);
        self.slowlog_threshold
            .store(c.slowlog_log_slower_than, Ordering::Relaxed);
        self.slowlog_max.store(c.slowlog_max_len, Ordering::Relaxed);
        self.script_limit_ms
            .store(c.busy_reply_threshold, Ordering::Relaxed);
        self.hll_sparse_max_bytes
            .store(c.hll_sparse_max_bytes, Ordering::Relaxed);
    }
}

/// A job for the worker threads: computes a deferred reply.
pub type Job = Box<dyn FnOnce(&Shared) -> Vec<u8> + Send>;

/// Messages to an event loop.
pub(crate) enum LoopMsg {
    /// A new connection.
    Conn(mio::net::TcpStream, Arc<ClientInfo>),
    /// The deferred reply of a client's waiting command.
    Deferred(u64, Vec<u8>),
    /// Bytes to push to a client (MONITOR).
    Push(u64, Vec<u8>),
    /// A published message for a subscriber (closed past `PUBSUB_HARD_LIMIT`).
    Message(u64, Vec<u8>),
    /// Check killed flags.
    Wake,
}

pub(crate) struct LoopHandle {
    pub tx: crossbeam_channel::Sender<LoopMsg>,
    pub waker: Arc<mio::Waker>,
}

impl LoopHandle {
    pub fn send(&self, m: LoopMsg) {
        if self.tx.send(m).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// State shared by every thread of the server.
pub struct Shared {
    /// The keyspace.
    pub store: store::Store,
    /// Current configuration.
    pub config: Mutex<Config>,
    /// The parts of it every request reads.
    pub hot: Hot,
    /// `appendfsync` as a number (0 always, 1 everysec, 2 no), read per loop iteration.
    pub fsync: AtomicU8,
    /// Connected clients by id.
    pub clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    pub(crate) next_client_id: AtomicU64,
    /// INFO counters.
    pub stats: Stats,
    /// INFO's commandstats and errorstats.
    pub cmdstats: cmd::cmdstats::CmdStats,
    /// Process start.
    pub started: Instant,
    /// Unix time of the last SAVE (seconds).
    pub lastsave: AtomicU64,
    /// Set to stop the server (SHUTDOWN, signal).
    pub shutdown: AtomicBool,
    pub(crate) loops: Vec<LoopHandle>,
    pub(crate) workers: crossbeam_channel::Sender<(usize, u64, Job)>,
    /// Clients in MONITOR mode.
    pub monitors: AtomicUsize,
    /// Addresses actually bound.
    pub listening: Vec<SocketAddr>,
    /// Commands that ran on a worker (INFO).
    pub deferred_commands: AtomicU64,
    /// Clients blocked in BLPOP and friends.
    pub blocked: Mutex<cmd::blocking::Blocked>,
    /// CLIENT PAUSE in force (`paused` says whether to look).
    pub pause: Mutex<Pause>,
    pub(crate) paused: AtomicBool,
    /// MIGRATE's cached connections.
    pub migrate: Mutex<cmd::dump::MigrateCache>,
    /// The background key dumper (BGDUMP).
    pub dumper: strata_dump::Dumper,
    /// The command table under `rename-command`; `None` when nothing is renamed.
    pub commands: Option<cmd::Renamed>,
    /// Pub/sub subscriptions.
    pub pubsub: Mutex<cmd::pubsub::Registry>,
    /// Lua script bodies by SHA1 (EVAL, SCRIPT LOAD).
    pub scripts: Mutex<cmd::script::Scripts>,
    /// FUNCTION libraries (kept in the data directory).
    pub functions: Mutex<cmd::function::Registry>,
    /// SLOWLOG entries.
    pub slowlog: Mutex<cmd::slowlog::SlowLog>,
    /// The transaction gate: event loops hold it shared while they serve an
    /// iteration (and the expiry thread while it expires a batch, a MIGRATE while it
    /// deletes what it moved); an EXEC or a script holds it exclusively, so no other
    /// client's command runs in the middle of either (`cmd::multi`, `cmd::script`).
    /// Leaked once per server, so guards can live in the loops' state.
    pub gate: &'static std::sync::RwLock<()>,
}

impl Shared {
    /// Milliseconds since start.
    pub fn uptime_ms(&self) -> u64 {
        self.uptime_ms_at(Instant::now())
    }

    /// Milliseconds since start at `now` (for a caller that has read the clock already).
    pub fn uptime_ms_at(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.started).as_millis() as u64
    }

    /// Current fsync policy.
    pub fn fsync_policy(&self) -> Fsync {
        match self.fsync.load(Ordering::Relaxed) {
            0 => Fsync::Always,
            1 => Fsync::EverySec,
            _ => Fsync::No,
        }
    }

    pub(crate) fn set_fsync(&self, f: Fsync) {
        self.fsync.store(
            match f {
                Fsync::Always => 0,
                Fsync::EverySec => 1,
                Fsync::No => 2,
            },
            Ordering::Relaxed,
        );
    }

    /// Send bytes to every MONITOR client.
    pub(crate) fn feed_monitors(&self, line: &[u8]) {
        let clients = lock(&self.clients);
        for c in clients.values() {
            if c.monitor.load(Ordering::Relaxed) {
                if let Some(l) = self.loops.get(c.loop_idx) {
                    l.send(LoopMsg::Push(c.id, line.to_vec()));
                }
            }
        }
    }

    /// Elements were added to `key` in logical db `db`: serve clients blocked on it.
    pub fn signal_key(&self, db: usize, key: &[u8]) {
        if !lock(&self.blocked).is_empty() {
            cmd::blocking::serve(self, db, key);
        }
    }

    /// The CLIENT PAUSE in force at `now`: `Some(true)` for ALL, `Some(false)` for
    /// WRITE. A pause whose time is up ends here.
    pub fn pause_at(&self, now: Instant) -> Option<bool> {
        if !self.paused.load(Ordering::Acquire) {
            return None;
        }
        let mut p = lock(&self.pause);
        match p.until {
            Some(until) if now < until => Some(p.all),
            _ => {
                *p = Pause::default();
                self.paused.store(false, Ordering::Release);
                None
            }
        }
    }

    /// How long the pause in force lasts from `now`.
    pub(crate) fn pause_left(&self, now: Instant) -> Option<Duration> {
        if !self.paused.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.pause)
            .until
            .map(|u| u.saturating_duration_since(now))
    }

    /// CLIENT PAUSE for `ms` milliseconds: as in Redis 7.0, a pause already in force
    /// keeps the later end and the stricter mode.
    pub(crate) fn pause_clients(&self, ms: u64, all: bool) {
        let now = Instant::now();
        let until = now + Duration::from_millis(ms);
        let mut p = lock(&self.pause);
        let live = p.until.is_some_and(|u| u > now);
        p.all = all || (live && p.all);
        p.until = Some(match p.until {
            Some(u) if live && u > until => u,
            _ => until,
        });
        let left = p
            .until
            .map_or(0, |u| u.saturating_duration_since(now).as_millis() as u64);
        let unix_until = store::now_ms() + left;
        self.store
            .expiry_paused_until
            .fetch_max(unix_until, Ordering::Relaxed);
        self.paused.store(true, Ordering::Release);
    }

    /// CLIENT UNPAUSE: the pause ends, and every loop resumes its postponed clients.
    pub(crate) fn unpause_clients(&self) {
        *lock(&self.pause) = Pause::default();
        self.store.expiry_paused_until.store(0, Ordering::Relaxed);
        self.paused.store(false, Ordering::Release);
        for l in &self.loops {
            l.send(LoopMsg::Wake);
        }
    }

    /// Wake a client's loop so it notices a kill flag.
    pub(crate) fn wake_loop(&self, idx: usize) {
        if let Some(l) = self.loops.get(idx) {
            l.send(LoopMsg::Wake);
        }
    }
}

/// A CLIENT PAUSE: until when, and whether every command waits (ALL) or only those
/// that may write (WRITE).
#[derive(Clone, Copy, Debug, Default)]
pub struct Pause {
    /// The end; `None` when no pause is in force.
    pub until: Option<Instant>,
    /// ALL rather than WRITE.
    pub all: bool,
}

/// A running server.
pub struct Server {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Why the server could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

impl Server {
    /// Open the data directory, bind, and start every thread.
    pub fn start(config: Config) -> Result<Server, StartError> {
        let err = |s: String| StartError(s);
        let dir = std::path::PathBuf::from(&config.dir);
        std::fs::create_dir_all(&dir).map_err(|e| {
            err(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let opts = strata_lsm::Options {
            memtable_budget: config.memtable_budget as usize,
            block_cache_bytes: config.block_cache_size as usize,
            // Every write looks its key up (exact DBSIZE and expires counts), and a key
            // absent from the database probes every L0 file's filter: 16 bits per key
            // make a false positive, and its block read, 12 times rarer than 10
            // (docs/decisions.md, "The server's filters use 16 bits per key").
            bloom_bits_per_key: 16,
            sync: match config.appendfsync {
                Fsync::No => strata_lsm::SyncPolicy::No,
                // `always` is EverySec plus a sync_wal per event-loop iteration.
                _ => strata_lsm::SyncPolicy::EverySec,
            },
            ..Default::default()
        };
        let store = store::Store::open(&dir, opts, config.databases).map_err(|e| {
            err(format!(
                "cannot open the data directory {}: {e}",
                dir.display()
            ))
        })?;
        let dump_dir = if config.dump_dir.is_empty() {
            dir.join("dumps")
        } else {
            std::path::PathBuf::from(&config.dump_dir)
        };
        // Creating the dumper removes temporary files a killed dump left behind.
        let dumper = strata_dump::Dumper::new(&dump_dir).map_err(|e| {
            err(format!(
                "cannot use the dump directory {}: {e}",
                dump_dir.display()
            ))
        })?;
        let mut listeners = Vec::new();
        if config.port != 0 {
            for b in &config.bind {
                // Redis's forms: `*` is every IPv4 address, `::*` every IPv6 one, and a
                // leading `-` marks an address that may be missing on this host.
                let (optional, host) = match b.strip_prefix('-') {
                    Some(h) => (true, h),
                    None => (false, b.as_str()),
                };
                let host = match host {
                    "*" => "0.0.0.0",
                    "::*" => "::",
                    h => h,
                };
                let addr: SocketAddr = format!("{host}:{}", config.port)
                    .parse()
                    .or_else(|_| format!("[{host}]:{}", config.port).parse())
                    .map_err(|_| err(format!("invalid bind address '{b}'")))?;
                match net::listen(addr, config.tcp_backlog) {
                    Ok(l) => listeners.push(l),
                    Err(e) if optional && net::address_missing(&e) => {
                        log::warning(format_args!("Skipping optional bind address {addr}: {e}"));
                    }
                    Err(e) => {
                        return Err(err(format!(
                            "Could not create server TCP listening socket {addr}: {e}"
                        )))
                    }
                }
            }
            if listeners.is_empty() {
                return Err(err("Failed listening on any bind address".into()));
            }
        }
        let listening: Vec<SocketAddr> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        // Default: one loop per two cores. Measured on 2 cores with redis-benchmark
        // beside the server (docs/architecture.md): one loop beats two for writes
        // (writes serialize on the store's lock, and two loops fight over it) and
        // leaves the other core to the client, the engine's threads and the OS.
        let n_loops = match config.io_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n,
        };
        let mut polls = Vec::new();
        let mut handles = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..n_loops {
            let poll = mio::Poll::new().map_err(|e| err(format!("epoll: {e}")))?;
            let waker = Arc::new(
                mio::Waker::new(poll.registry(), net::WAKER)
                    .map_err(|e| err(format!("eventfd: {e}")))?,
            );
            let (tx, rx) = crossbeam_channel::unbounded();
            handles.push(LoopHandle { tx, waker });
            receivers.push(rx);
            polls.push(poll);
        }
        let (wtx, wrx) = crossbeam_channel::unbounded::<(usize, u64, Job)>();
        let fsync = config.appendfsync;
        let commands = if config.renames.is_empty() {
            None
        } else {
            Some(cmd::renamed_table(&config.renames).map_err(err)?)
        };
        log::set_level(&config.loglevel);
        let functions = cmd::function::Registry::open(&dir)
            .map_err(|e| err(format!("cannot load the FUNCTION libraries: {e}")))?;
        let shared = Arc::new(Shared {
            store,
            hot: Hot::default(),
            config: Mutex::new(config),
            fsync: AtomicU8::new(0),
            clients: Mutex::new(BTreeMap::new()),
            next_client_id: AtomicU64::new(1),
            stats: Stats::default(),
            cmdstats: Default::default(),
            started: Instant::now(),
            lastsave: AtomicU64::new(store::now_ms() / 1000),
            shutdown: AtomicBool::new(false),
            loops: handles,
            workers: wtx,
            monitors: AtomicUsize::new(0),
            listening,
            deferred_commands: AtomicU64::new(0),
            blocked: Mutex::new(cmd::blocking::Blocked::default()),
            pause: Mutex::new(Pause::default()),
            paused: AtomicBool::new(false),
            migrate: Mutex::new(cmd::dump::MigrateCache::default()),
            dumper,
            commands,
            pubsub: Mutex::new(cmd::pubsub::Registry::default()),
            scripts: Mutex::new(cmd::script::Scripts::default()),
            functions: Mutex::new(functions),
            slowlog: Mutex::new(cmd::slowlog::SlowLog::default()),
            gate: Box::leak(Box::new(std::sync::RwLock::new(()))),
        });
        shared.set_fsync(fsync);
        shared.hot.update(&lock(&shared.config));
        let mut threads = Vec::new();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| err(format!("spawn {name}: {e}")))
        };
        for (i, (poll, rx)) in polls.into_iter().zip(receivers).enumerate() {
            let sh = Arc::clone(&shared);
            threads.push(spawn(
                &format!("strata-loop-{i}"),
                Box::new(move || net::event_loop(i, poll, rx, sh)),
            )?);
        }
        for l in listeners {
            let sh = Arc::clone(&shared);
            threads.push(spawn(
                "strata-accept",
                Box::new(move || net::acceptor(l, sh)),
            )?);
        }
        for i in 0..2 {
            let sh = Arc::clone(&shared);
            let rx = wrx.clone();
            threads.push(spawn(
                &format!("strata-worker-{i}"),
                Box::new(move || {
                    while let Ok((loop_idx, client, job)) = rx.recv() {
                        let reply = job(&sh);
                        if let Some(l) = sh.loops.get(loop_idx) {
                            l.send(LoopMsg::Deferred(client, reply));
                        }
                    }
                }),
            )?);
        }
        {
            let sh = Arc::clone(&shared);
            threads.push(spawn("strata-expire", Box::new(move || expire_loop(sh)))?);
        }
        Ok(Server { shared, threads })
    }

    /// Shared state (for embedding and tests).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Addresses the server listens on.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.shared.listening
    }

    /// Block until SHUTDOWN or `stop` is set, then stop every thread, flush the
    /// memtable to an SST and close the engine.
    pub fn wait(self, stop: &AtomicBool) -> Result<(), String> {
        while !stop.load(Ordering::Relaxed) && !self.shared.shutdown.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.shared.shutdown.store(true, Ordering::SeqCst);
        for l in &self.shared.loops {
            l.send(LoopMsg::Wake);
        }
        let Server { shared, threads } = self;
        // Workers stop when every sender is gone: the loops hold none, Shared holds one.
        for t in threads {
            if t.thread()
                .name()
                .is_some_and(|n| n.starts_with("strata-worker"))
            {
                continue;
            }
            let _ = t.join();
        }
        // A running dump stops; its temporary file goes (no partial file is left under
        // a final name; a kill -9 leaves the temporary file, removed at the next start).
        shared.dumper.cancel();
        shared.dumper.wait();
        if let Err(e) = shared.store.flush_pending() {
            return Err(format!("flush at shutdown: {e}"));
        }
        let res = shared
            .store
            .db
            .flush()
            .and_then(|_| shared.store.db.sync_wal());
        res.map_err(|e| format!("flush at shutdown: {e}"))
    }
}

thread_local! {
    /// This thread holds `Shared::gate` exclusively (it runs an EXEC or a script).
    static EXCLUSIVE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Shared {
    /// Hold the transaction gate shared (no EXEC or script runs meanwhile), unless
    /// this thread runs one itself (a MIGRATE queued in a transaction or called by a
    /// script).
    pub fn gate_shared(&self) -> Option<std::sync::RwLockReadGuard<'static, ()>> {
        if EXCLUSIVE.with(|e| e.get()) {
            None
        } else {
            Some(self.gate.read().unwrap_or_else(|e| e.into_inner()))
        }
    }

    /// Run `f` holding the transaction gate exclusively.
    pub(crate) fn exclusively<T>(&self, f: impl FnOnce() -> T) -> T {
        let _g = self.gate.write().unwrap_or_else(|e| e.into_inner());
        EXCLUSIVE.with(|e| e.set(true));
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                EXCLUSIVE.with(|e| e.set(false));
            }
        }
        let _reset = Reset;
        f()
    }
}

fn expire_loop(sh: Arc<Shared>) {
    // Each cycle removes at most 200 due keys; when a cycle is full, the next starts at
    // once, so a burst of expiries drains at engine write speed without starving clients
    // (each cycle takes the write lock once).
    while !sh.shutdown.load(Ordering::Relaxed) {
        let hz = lock(&sh.config).hz.max(1);
        let gate = sh.gate_shared();
        let res = sh.store.expire_cycle(200);
        drop(gate);
        match res {
            Ok(200) => continue,
            Ok(_) => {}
            Err(e) => log::warning(format_args!("active expiry: {e}")),
        }
        std::thread::sleep(Duration::from_millis(1000 / hz));
    }
}
