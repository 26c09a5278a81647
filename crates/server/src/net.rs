//! Connections: the acceptor and the event loops.
//!
//! Each event loop owns its connections (edge-triggered epoll through mio), reads every
//! ready socket, runs the complete requests it finds, and writes replies. Under
//! `appendfsync always` a loop makes its writes durable with one shared fsync per
//! iteration, after running the requests and before sending any reply (Redis does the
//! same in `beforeSleep`). A client whose unread replies exceed `OUT_HIGH_WATER` is not
//! read from until it catches up, so a client that pipelines without reading cannot
//! grow the server's memory. A loop that runs out of events polls on for a few
//! microseconds before it sleeps while requests come densely (see `Spin`).

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::cmd::{self, Flow, Session};
use crate::resp::{Limits, Out, Parser};
use crate::{lock, ClientInfo, Fsync, LoopMsg, Shared};

pub(crate) const WAKER: Token = Token(usize::MAX);
const READ_CHUNK: usize = 16 * 1024;
/// Stop reading from a client with this many unsent reply bytes.
const OUT_HIGH_WATER: usize = 1 << 20;
/// Read at most this much from one client per event, so one busy client cannot starve
/// the others on its loop.
const READ_BUDGET: usize = 1 << 20;
/// The longest a loop with nothing to do polls without sleeping (see [`Spin`]).
const SPIN_MAX: Duration = Duration::from_micros(5);

/// Polls for events, spinning for a while before it sleeps when requests are coming
/// in densely.
///
/// A loop that sleeps in `epoll_wait` is woken by the kernel on behalf of the client
/// whose write arrives, and on this VM that wake-up costs the writer several
/// microseconds of system time. Under a stream of small requests from many clients
/// (redis-benchmark without pipelining) the loop finished its iteration before the
/// next requests arrived and slept about once per ten requests, four times as often as
/// Redis, whose iterations are longer (it writes its AOF in each): the client, the
/// bottleneck on two cores, then spent its time waking us (docs/decisions.md). So
/// before it sleeps the loop polls without blocking for up to `budget`.
///
/// The budget adapts, so that sparse traffic costs no spinning: a spin that finds
/// nothing halves it (to zero below a microsecond), and a sleep that ends with events
/// within [`SPIN_MAX`] (a spin would have caught them) restores it.
struct Spin {
    budget: Duration,
}

impl Default for Spin {
    fn default() -> Self {
        Spin { budget: SPIN_MAX }
    }
}

impl Spin {
    fn poll(
        &mut self,
        poll: &mut Poll,
        events: &mut Events,
        wait: Duration,
    ) -> std::io::Result<()> {
        if wait.is_zero() {
            return poll.poll(events, Some(wait));
        }
        if !self.budget.is_zero() {
            let start = Instant::now();
            loop {
                poll.poll(events, Some(Duration::ZERO))?;
                if !events.is_empty() {
                    return Ok(());
                }
                if start.elapsed() >= self.budget {
                    break;
                }
                std::hint::spin_loop();
            }
            self.budget /= 2;
            if self.budget < Duration::from_micros(1) {
                self.budget = Duration::ZERO;
            }
        }
        let start = Instant::now();
        poll.poll(events, Some(wait))?;
        if !events.is_empty() && start.elapsed() <= SPIN_MAX {
            self.budget = SPIN_MAX;
        }
        Ok(())
    }
}

struct Conn {
    stream: mio::net::TcpStream,
    info: Arc<ClientInfo>,
    rbuf: Vec<u8>,
    rpos: usize,
    parser: Parser,
    out: Vec<u8>,
    opos: usize,
    session: Session,
    /// Close once the output is flushed.
    closing: bool,
    /// A command's reply is being computed on a worker.
    waiting: bool,
    /// Registered for WRITABLE.
    want_write: bool,
    /// A request CLIENT PAUSE holds (the connection is `waiting`).
    postponed: Option<Vec<Vec<u8>>>,
}

pub(crate) fn acceptor(listener: std::net::TcpListener, sh: Arc<Shared>) {
    let _ = listener.set_nonblocking(true);
    let mut listener = mio::net::TcpListener::from_std(listener);
    let Ok(mut poll) = Poll::new() else {
        crate::log::warning(format_args!("acceptor: cannot create a poll instance"));
        return;
    };
    if poll
        .registry()
        .register(&mut listener, Token(0), Interest::READABLE)
        .is_err()
    {
        crate::log::warning(format_args!("acceptor: cannot register the listener"));
        return;
    }
    let mut events = Events::with_capacity(16);
    let mut next_loop = 0usize;
    while !sh.shutdown.load(Ordering::Relaxed) {
        if poll
            .poll(&mut events, Some(Duration::from_millis(100)))
            .is_err()
        {
            continue;
        }
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    accept_one(&sh, stream, peer, next_loop);
                    next_loop += 1;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    crate::log::warning(format_args!("accept: {e}"));
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
            }
        }
    }
}

/// Redis 7.0's reply to a non-local client in protected mode, byte for byte.
const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

fn accept_one(
    sh: &Arc<Shared>,
    mut stream: mio::net::TcpStream,
    peer: std::net::SocketAddr,
    n: usize,
) {
    let (maxclients, keepalive, protected) = {
        let cfg = lock(&sh.config);
        (
            cfg.maxclients,
            cfg.tcp_keepalive,
            cfg.protected_mode && cfg.requirepass.is_empty(),
        )
    };
    if lock(&sh.clients).len() >= maxclients {
        sh.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream.write(b"-ERR max number of clients reached\r\n");
        return;
    }
    // Protected mode, as Redis 7.0: with no password, only the loopback addresses
    // 127.0.0.1 and ::1 may connect (Redis compares exactly these two).
    let local = match peer.ip() {
        std::net::IpAddr::V4(a) => a == std::net::Ipv4Addr::LOCALHOST,
        std::net::IpAddr::V6(a) => a == std::net::Ipv6Addr::LOCALHOST,
    };
    if protected && !local {
        sh.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream.write(PROTECTED_MODE_DENIED);
        return;
    }
    let _ = stream.set_nodelay(true);
    if keepalive > 0 {
        set_keepalive(stream.as_raw_fd(), keepalive);
    }
    let id = sh.next_client_id.fetch_add(1, Ordering::Relaxed);
    let loop_idx = n % sh.loops.len();
    let info = Arc::new(ClientInfo {
        id,
        addr: peer.to_string(),
        laddr: stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        fd: stream.as_raw_fd(),
        loop_idx,
        created: Instant::now(),
        last_active: AtomicU64::new(sh.uptime_ms()),
        name: Mutex::new(Vec::new()),
        db: AtomicUsize::new(0),
        last_cmd: Mutex::new("NULL".into()),
        resp: AtomicU8::new(2),
        killed: AtomicBool::new(false),
        monitor: AtomicBool::new(false),
        listed: Default::default(),
    });
    lock(&sh.clients).insert(id, Arc::clone(&info));
    sh.stats.total_connections.fetch_add(1, Ordering::Relaxed);
    sh.loops[loop_idx].send(LoopMsg::Conn(stream, info));
}

/// `tcp-keepalive`, as Redis sets it on each accepted connection: the first probe after
/// `secs` idle, the next ones every `secs / 3` (at least 1), and the peer given up after
/// three unanswered probes (a client that vanished without a FIN is closed within
/// about `2 * secs`). A failing call (Linux refuses an idle time over 32767 s) stops
/// there, leaving the kernel's defaults for the rest; Redis stops the same way (and
/// logs it), and the connection is served either way.
fn set_keepalive(fd: std::os::fd::RawFd, secs: u64) {
    let idle = secs.min(i32::MAX as u64) as libc::c_int;
    let opts: [(libc::c_int, libc::c_int, libc::c_int); 4] = [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, (idle / 3).max(1)),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3),
    ];
    for (level, name, val) in opts {
        // SAFETY: `fd` is the open socket of the stream being accepted, and `val` is a
        // c_int that outlives the call, passed with its size.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&val as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return;
        }
    }
}

/// A listening socket as Redis makes one: `SO_REUSEADDR`, IPv6 sockets IPv6-only (so
/// `bind * -::*` can take both families on one port), and a listen queue of
/// `tcp-backlog` (the kernel caps it at `net.core.somaxconn`).
pub(crate) fn listen(addr: SocketAddr, backlog: u64) -> std::io::Result<std::net::TcpListener> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket creation; the descriptor is owned below.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nobody else owns; it closes on every error path.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let on: libc::c_int = 1;
    let set = |level, name| {
        // SAFETY: `on` is a c_int that outlives the call, passed with its size.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    set(libc::SOL_SOCKET, libc::SO_REUSEADDR)?;
    let rc = match addr {
        SocketAddr::V4(a) => {
            let sa = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sa` is a valid sockaddr_in, passed with its size.
            unsafe {
                libc::bind(
                    fd,
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(a) => {
            set(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)?;
            let sa = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: `sa` is a valid sockaddr_in6, passed with its size.
            unsafe {
                libc::bind(
                    fd,
                    (&sa as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let backlog = backlog.min(i32::MAX as u64) as libc::c_int;
    // SAFETY: `fd` is a bound stream socket.
    if unsafe { libc::listen(fd, backlog) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(std::net::TcpListener::from(owned))
}

/// A bind error that means the address does not exist here (Redis skips such an
/// address when it is marked optional with `-`).
pub(crate) fn address_missing(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EADDRNOTAVAIL
                | libc::EAFNOSUPPORT
                | libc::EPROTONOSUPPORT
                | libc::ESOCKTNOSUPPORT
                | libc::EPFNOSUPPORT
                | libc::ENOPROTOOPT
        )
    )
}

/// The loop's maps are keyed by its own tokens and client ids: a cheap hash will do.
type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<crate::store::FxHasher>>;
type FxSet<K> = HashSet<K, BuildHasherDefault<crate::store::FxHasher>>;

struct Loop {
    idx: usize,
    poll: Poll,
    sh: Arc<Shared>,
    conns: FxMap<usize, Conn>,
    by_client: FxMap<u64, usize>,
    next_token: usize,
    /// Connections with replies to send after this iteration's fsync.
    pending: FxSet<usize>,
    /// `pending`'s tokens while they are flushed (kept for its allocation).
    flushing: Vec<usize>,
    wrote: bool,
    /// Read buffer shared by the loop's connections.
    scratch: Box<[u8]>,
    /// Blocked clients with a timeout: client id → deadline.
    deadlines: FxMap<u64, Instant>,
    /// Connections that stopped reading at the read budget: their sockets may hold
    /// more, and no new event will say so.
    backlog: FxSet<usize>,
    /// `Store::lost_writes` as of the last iteration.
    lost_seen: u64,
    /// Connections holding a request CLIENT PAUSE postponed, in order.
    postponed: Vec<usize>,
    /// The transaction gate, held shared while an iteration is served.
    gate: Option<std::sync::RwLockReadGuard<'static, ()>>,
    /// `Shared::uptime_ms` read once per iteration, after the poll: a client's
    /// `last_active` (CLIENT LIST idle, the idle timeout) is set from it when its
    /// commands run, as Redis uses its cached clock, instead of one clock read per
    /// command.
    clock_ms: u64,
}

pub(crate) fn event_loop(
    idx: usize,
    poll: Poll,
    rx: crossbeam_channel::Receiver<LoopMsg>,
    sh: Arc<Shared>,
) {
    let mut lp = Loop {
        idx,
        poll,
        sh,
        conns: FxMap::default(),
        by_client: FxMap::default(),
        next_token: 0,
        pending: FxSet::default(),
        flushing: Vec::new(),
        wrote: false,
        scratch: vec![0u8; READ_CHUNK].into_boxed_slice(),
        deadlines: FxMap::default(),
        backlog: FxSet::default(),
        lost_seen: 0,
        postponed: Vec::new(),
        clock_ms: 0,
        gate: None,
    };
    lp.lost_seen = lp.sh.store.lost_writes();
    lp.clock_ms = lp.sh.uptime_ms();
    let mut spin = Spin::default();
    let mut events = Events::with_capacity(1024);
    let mut last_sweep = Instant::now();
    loop {
        if lp.sh.shutdown.load(Ordering::Relaxed) {
            lp.close_all();
            return;
        }
        // A client cut short by the read budget goes on at once, without waiting for a
        // new event.
        let again: Vec<usize> = lp
            .backlog
            .iter()
            .copied()
            .filter(|t| {
                lp.conns.get(t).is_some_and(|c| {
                    !c.waiting && !c.closing && c.out.len() - c.opos < OUT_HIGH_WATER
                })
            })
            .collect();
        // Replies a drained client's held-back requests produced while the last
        // iteration flushed (`flush` resumes it) leave in the next iteration, after the
        // engine has their writes: that iteration must not wait for an event (the
        // socket had room, so none would come) or for the 100 ms timeout. Before, a
        // client pipelining large replies got 1 MiB per 100 ms.
        let busy = !again.is_empty() || !lp.pending.is_empty();
        let wait = if busy {
            Duration::ZERO
        } else {
            let now = Instant::now();
            let pause = if lp.postponed.is_empty() {
                None
            } else {
                // The pause's end resumes the postponed requests.
                Some(lp.sh.pause_left(now).unwrap_or_default())
            };
            lp.deadlines
                .values()
                .map(|d| d.saturating_duration_since(now))
                .chain(pause)
                .min()
                .map_or(Duration::from_millis(100), |d| {
                    d.min(Duration::from_millis(100))
                })
        };
        if let Err(e) = spin.poll(&mut lp.poll, &mut events, wait) {
            if e.kind() != ErrorKind::Interrupted {
                crate::log::warning(format_args!("poll: {e}"));
            }
            continue;
        }
        let now = Instant::now();
        lp.clock_ms = lp.sh.uptime_ms_at(now);
        lp.gate = lp.sh.gate_shared();
        // Messages first, whatever the events' order: a message published (or a reply
        // computed) before a client's next request was read goes out before its reply.
        while let Ok(m) = rx.try_recv() {
            lp.message(m);
        }
        if !lp.postponed.is_empty() && lp.sh.pause_at(now).is_none() {
            lp.resume_postponed();
        }
        for ev in events.iter() {
            let t = ev.token();
            if t == WAKER {
                while let Ok(m) = rx.try_recv() {
                    lp.message(m);
                }
                continue;
            }
            let t = t.0;
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                lp.on_readable(t);
            }
            if ev.is_writable() {
                lp.pending.insert(t);
            }
        }
        // Connections that stopped reading early (fairness) continue now.
        for t in again {
            lp.on_readable(t);
        }
        lp.expire_blocked();
        lp.finish_iteration();
        if now.saturating_duration_since(last_sweep) >= Duration::from_millis(100) {
            last_sweep = now;
            lp.sweep();
        }
        lp.gate = None;
    }
}

impl Loop {
    fn message(&mut self, m: LoopMsg) {
        match m {
            LoopMsg::Conn(mut stream, info) => {
                let t = self.next_token;
                self.next_token += 1;
                if self
                    .poll
                    .registry()
                    .register(&mut stream, Token(t), Interest::READABLE)
                    .is_err()
                {
                    lock(&self.sh.clients).remove(&info.id);
                    return;
                }
                self.by_client.insert(info.id, t);
                // CLIENT LIST reads the session's WATCH flag (`d`).
                let watch_dirty = Arc::clone(&info.listed.watch_dirty);
                self.conns.insert(
                    t,
                    Conn {
                        stream,
                        info,
                        rbuf: Vec::new(),
                        rpos: 0,
                        parser: Parser::default(),
                        out: Vec::new(),
                        opos: 0,
                        session: Session {
                            watch_dirty,
                            ..Session::default()
                        },
                        closing: false,
                        waiting: false,
                        want_write: false,
                        postponed: None,
                    },
                );
                self.on_readable(t);
            }
            LoopMsg::Deferred(client, bytes) => {
                self.deadlines.remove(&client);
                // The reply may acknowledge a write made on another thread (a blocked
                // client served by a push): under `always` it leaves after our fsync.
                self.wrote = true;
                self.answer_waiting(client, &bytes);
            }
            LoopMsg::Push(client, bytes) => {
                if let Some(&t) = self.by_client.get(&client) {
                    if let Some(c) = self.conns.get_mut(&t) {
                        if c.out.len() - c.opos < 64 * OUT_HIGH_WATER {
                            c.out.extend_from_slice(&bytes);
                        }
                        self.pending.insert(t);
                    }
                }
            }
            LoopMsg::Message(client, bytes) => {
                if let Some(&t) = self.by_client.get(&client) {
                    if let Some(c) = self.conns.get_mut(&t) {
                        if c.out.len() - c.opos + bytes.len() > cmd::pubsub::PUBSUB_HARD_LIMIT {
                            // Redis's pub/sub output limit: the client goes.
                            crate::log::warning(format_args!(
                                "Client id={} addr={} closed for overcoming of output buffer limits.",
                                c.info.id, c.info.addr
                            ));
                            self.close(t);
                            return;
                        }
                        c.out.extend_from_slice(&bytes);
                        self.pending.insert(t);
                    }
                }
            }
            LoopMsg::Wake => {
                let killed: Vec<usize> = self
                    .conns
                    .iter()
                    .filter(|(_, c)| c.info.killed.load(Ordering::Relaxed))
                    .map(|(t, _)| *t)
                    .collect();
                if !killed.is_empty() && self.sh.store.flush_pending().is_err() {
                    // Their replies may acknowledge lost writes: they close unanswered.
                    for t in killed {
                        self.close(t);
                    }
                    return;
                }
                for t in killed {
                    // Let a reply already produced (CLIENT KILL on itself) go out first.
                    self.flush(t);
                    self.close(t);
                }
            }
        }
    }

    /// Read what the socket has (up to the budget) and run complete requests.
    fn on_readable(&mut self, t: usize) {
        let limit = self.sh.hot.query_buffer_limit.load(Ordering::Relaxed) as usize;
        let Some(c) = self.conns.get_mut(&t) else {
            return;
        };
        // A waiting client (blocked, or its reply on a worker) is still read, so that
        // its disconnection is noticed; what it sends is queued, not run.
        // A client over the high-water mark resumes from `flush` once it drains.
        if c.closing || c.out.len() - c.opos >= OUT_HIGH_WATER {
            return;
        }
        let mut read = 0;
        let mut eof = false;
        self.backlog.remove(&t);
        loop {
            if read >= READ_BUDGET {
                self.backlog.insert(t);
                break;
            }
            match c.stream.read(&mut self.scratch[..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    c.rbuf.extend_from_slice(&self.scratch[..n]);
                    read += n;
                    // A short read emptied the socket; new bytes raise a new edge.
                    if n < READ_CHUNK {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        self.sh
            .stats
            .net_input
            .fetch_add(read as u64, Ordering::Relaxed);
        if c.rbuf.len() - c.rpos > limit {
            crate::log::warning(format_args!(
                "Closing client that reached max query buffer length: id={} addr={}",
                c.info.id, c.info.addr
            ));
            self.close(t);
            return;
        }
        if eof && c.waiting {
            // Nobody is left to answer: stop waiting at once.
            self.close(t);
            return;
        }
        self.process(t);
        if eof {
            // Replies to what was read still go out (a half-closed peer may read them).
            if let Some(c) = self.conns.get_mut(&t) {
                c.closing = true;
                self.pending.insert(t);
            }
        }
    }

    /// Run every complete request in the connection's buffer.
    fn process(&mut self, t: usize) {
        let max_bulk = self.sh.hot.max_bulk.load(Ordering::Relaxed) as i64;
        let mut ran = false;
        loop {
            let Some(c) = self.conns.get_mut(&t) else {
                return;
            };
            if c.waiting || c.closing || c.out.len() - c.opos >= OUT_HIGH_WATER {
                break;
            }
            let lim = Limits {
                max_bulk,
                authenticated: c.session.authenticated(&self.sh),
            };
            let args = match c.parser.next(&c.rbuf, &mut c.rpos, lim) {
                Ok(Some(a)) => a,
                Ok(None) => break,
                Err(e) => {
                    Out {
                        buf: &mut c.out,
                        proto: c.session.proto,
                    }
                    .error(&format!("ERR Protocol error: {}", e.0));
                    c.closing = true;
                    ran = true;
                    break;
                }
            };
            if args.is_empty() {
                // An empty request ends a CLIENT REPLY SKIP's turn too, as in Redis.
                c.session.reply.after_command();
                continue;
            }
            if !ran {
                c.info.last_active.store(self.clock_ms, Ordering::Relaxed);
            }
            ran = true;
            // While a request runs, its own bytes (and those run before it from the same
            // read) are still in the buffer, as in Redis's query buffer: CLIENT LIST
            // shows the caller's `qbuf` so.
            c.info.listed.qbuf.store(c.rbuf.len(), Ordering::Relaxed);
            self.run_request(t, args);
        }
        let Some(c) = self.conns.get_mut(&t) else {
            return;
        };
        // Drop consumed input; keep the buffer's allocation modest.
        if c.rpos > 0 && (c.rpos == c.rbuf.len() || c.rpos > 64 * 1024) {
            c.rbuf.drain(..c.rpos);
            c.rpos = 0;
        }
        if c.rbuf.capacity() > 4 * READ_CHUNK && c.rbuf.len() < READ_CHUNK {
            c.rbuf.shrink_to(2 * READ_CHUNK);
        }
        let l = &c.info.listed;
        l.qbuf.store(c.rbuf.len() - c.rpos, Ordering::Relaxed);
        l.qbuf_cap.store(c.rbuf.capacity(), Ordering::Relaxed);
        if ran {
            self.pending.insert(t);
        }
    }

    /// Run one request of connection `t`.
    fn run_request(&mut self, t: usize, args: Vec<Vec<u8>>) {
        // Disjoint borrows of the loop's parts (no `Arc` clone per request).
        let Loop {
            idx,
            sh,
            conns,
            wrote,
            deadlines,
            postponed,
            gate,
            ..
        } = self;
        let Some(c) = conns.get_mut(&t) else {
            return;
        };
        let flow = if cmd::runs_exclusively(sh, &c.session, &args[0]) {
            // A transaction or a script runs with no other loop serving meanwhile.
            *gate = None;
            let flow = sh.exclusively(|| {
                let flow = cmd::execute(sh, &mut c.session, &c.info, &mut c.out, &args);
                // Its writes reach the engine while no other loop runs: none of
                // them is seen without the rest. (A failure shows in
                // `Store::lost_writes`, checked before any reply leaves.)
                let _ = sh.store.flush_pending();
                flow
            });
            *gate = sh.gate_shared();
            flow
        } else {
            cmd::execute(sh, &mut c.session, &c.info, &mut c.out, &args)
        };
        match flow {
            Flow::Continue { wrote: w } => *wrote |= w,
            Flow::Close => c.closing = true,
            Flow::Defer(job) => {
                c.waiting = true;
                sh.deferred_commands.fetch_add(1, Ordering::Relaxed);
                let _ = sh.workers.send((*idx, c.info.id, job));
            }
            Flow::Block(deadline) => {
                c.waiting = true;
                let state = if deadline.is_some() {
                    crate::BLOCKED_TIMED
                } else {
                    crate::BLOCKED
                };
                c.info.set_blocked(&sh.stats, state);
                if let Some(d) = deadline {
                    deadlines.insert(c.info.id, d);
                }
            }
            Flow::Postpone => {
                c.waiting = true;
                c.info.set_blocked(&sh.stats, crate::BLOCKED);
                c.postponed = Some(args);
                postponed.push(t);
                return;
            }
        }
        c.parser.recycle(args);
    }

    /// The pause is over: run each postponed request again, then what its client sent
    /// since, in the order the requests were postponed.
    fn resume_postponed(&mut self) {
        for t in std::mem::take(&mut self.postponed) {
            let Some(c) = self.conns.get_mut(&t) else {
                continue;
            };
            let Some(args) = c.postponed.take() else {
                continue;
            };
            c.waiting = false;
            c.info.set_blocked(&self.sh.stats, 0);
            self.run_request(t, args);
            self.pending.insert(t);
            self.process(t);
        }
    }

    /// After a batch of events: make writes durable if required, then send replies.
    fn finish_iteration(&mut self) {
        // This iteration's deferred writes reach the engine before any reply leaves; if
        // any pending writes were lost (an engine error), replies that may acknowledge
        // them do not go out: those clients are closed.
        let flushed = self.sh.store.flush_pending();
        let lost = self.sh.store.lost_writes();
        if flushed.is_err() || lost != self.lost_seen {
            self.lost_seen = lost;
            crate::log::warning(format_args!(
                "pending writes were lost, closing the clients of this batch"
            ));
            for t in std::mem::take(&mut self.pending) {
                self.close(t);
            }
        }
        if self.wrote && self.sh.fsync_policy() == Fsync::Always {
            if let Err(e) = self.sh.store.sync() {
                // Replies to unsynced writes must not go out as successes.
                crate::log::warning(format_args!(
                    "fsync failed, closing the clients of this batch: {e}"
                ));
                for t in std::mem::take(&mut self.pending) {
                    self.close(t);
                }
            }
        }
        self.wrote = false;
        let mut flushing = std::mem::take(&mut self.flushing);
        flushing.extend(self.pending.drain());
        for &t in &flushing {
            self.flush(t);
        }
        flushing.clear();
        self.flushing = flushing;
    }

    fn flush(&mut self, t: usize) {
        let Some(c) = self.conns.get_mut(&t) else {
            return;
        };
        let was_high = c.out.len() - c.opos >= OUT_HIGH_WATER;
        let mut dead = false;
        while c.opos < c.out.len() {
            match c.stream.write(&c.out[c.opos..]) {
                Ok(0) => {
                    dead = true;
                    break;
                }
                Ok(n) => {
                    c.opos += n;
                    self.sh
                        .stats
                        .net_output
                        .fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    dead = true;
                    break;
                }
            }
        }
        if dead {
            self.close(t);
            return;
        }
        if c.opos == c.out.len() {
            c.out.clear();
            c.opos = 0;
            if c.out.capacity() > 1 << 20 {
                c.out.shrink_to(64 * 1024);
            }
            if c.closing {
                self.close(t);
                return;
            }
        } else if c.opos > 1 << 20 {
            c.out.drain(..c.opos);
            c.opos = 0;
        }
        let l = &c.info.listed;
        l.out.store(c.out.len() - c.opos, Ordering::Relaxed);
        l.out_cap.store(c.out.capacity(), Ordering::Relaxed);
        let need_write = c.opos < c.out.len();
        if need_write != c.want_write {
            let interest = if need_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = self
                .poll
                .registry()
                .reregister(&mut c.stream, Token(t), interest);
            c.want_write = need_write;
        }
        // Back under the high-water mark: resume reading what was held back.
        if was_high && c.out.len() - c.opos < OUT_HIGH_WATER {
            self.process(t);
            self.on_readable(t);
        }
    }

    /// Blocked clients whose deadline passed get their timeout reply.
    fn expire_blocked(&mut self) {
        if self.deadlines.is_empty() {
            return;
        }
        let now = Instant::now();
        let due: Vec<u64> = self
            .deadlines
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(c, _)| *c)
            .collect();
        for client in due {
            self.deadlines.remove(&client);
            if let Some(reply) = crate::cmd::blocking::expire(&self.sh, client) {
                self.answer_waiting(client, &reply);
            }
        }
    }

    /// A waiting client's reply (served, timed out, unblocked, or computed on a worker)
    /// goes out, unless CLIENT REPLY muted its command; then it reads on.
    fn answer_waiting(&mut self, client: u64, reply: &[u8]) {
        let Some(&t) = self.by_client.get(&client) else {
            return;
        };
        let Some(c) = self.conns.get_mut(&t) else {
            return;
        };
        if !std::mem::take(&mut c.session.reply.mute_waiting) {
            c.out.extend_from_slice(reply);
        }
        c.waiting = false;
        c.info.set_blocked(&self.sh.stats, 0);
        self.pending.insert(t);
        self.process(t);
        self.on_readable(t);
    }

    fn close(&mut self, t: usize) {
        if let Some(mut c) = self.conns.remove(&t) {
            cmd::multi::forget(&self.sh, &mut c.session, c.info.id);
            cmd::pubsub::forget(&self.sh, &mut c.session.subs, c.info.id);
            if c.waiting {
                crate::cmd::blocking::forget(&self.sh, c.info.id);
                self.deadlines.remove(&c.info.id);
                c.info.set_blocked(&self.sh.stats, 0);
            }
            let _ = self.poll.registry().deregister(&mut c.stream);
            self.by_client.remove(&c.info.id);
            if c.info.monitor.load(Ordering::Relaxed) {
                self.sh.monitors.fetch_sub(1, Ordering::Relaxed);
            }
            lock(&self.sh.clients).remove(&c.info.id);
        }
        self.pending.remove(&t);
        self.backlog.remove(&t);
    }

    fn close_all(&mut self) {
        let ts: Vec<usize> = self.conns.keys().copied().collect();
        for t in ts {
            self.flush(t);
            self.close(t);
        }
    }

    /// Killed clients and idle timeouts.
    fn sweep(&mut self) {
        let timeout = lock(&self.sh.config).timeout;
        let now = self.sh.uptime_ms();
        let doomed: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.info.killed.load(Ordering::Relaxed)
                    || (timeout > 0
                        && !c.waiting
                        && !c.info.monitor.load(Ordering::Relaxed)
                        && now.saturating_sub(c.info.last_active.load(Ordering::Relaxed))
                            > timeout * 1000)
            })
            .map(|(t, _)| *t)
            .collect();
        for t in doomed {
            self.close(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spin_budget_fades_when_idle_and_comes_back_with_dense_events() {
        let mut poll = Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), WAKER).unwrap();
        let mut events = Events::with_capacity(8);
        let mut spin = Spin::default();
        let wait = Duration::from_millis(1);
        // Nothing comes: each poll spins, finds nothing, halves the budget and sleeps.
        let mut budgets = Vec::new();
        for _ in 0..6 {
            spin.poll(&mut poll, &mut events, wait).unwrap();
            assert!(events.is_empty());
            budgets.push(spin.budget);
        }
        assert_eq!(budgets[0], SPIN_MAX / 2);
        assert!(budgets.windows(2).all(|w| w[1] < w[0] || w[1].is_zero()));
        assert_eq!(spin.budget, Duration::ZERO, "{budgets:?}");
        // Idle, it no longer spins; an event already waiting ends the sleep at once,
        // which is the sign that spinning would have caught it. ("At once" is within
        // SPIN_MAX of wall time: on a loaded machine a poll can take longer, so the
        // sleep is tried until one ends that fast.)
        let mut tries = 0;
        while spin.budget != SPIN_MAX && tries < 10_000 {
            waker.wake().unwrap();
            spin.poll(&mut poll, &mut events, wait).unwrap();
            assert!(!events.is_empty());
            tries += 1;
        }
        assert_eq!(spin.budget, SPIN_MAX, "after {tries} tries");
        // A spin that finds an event keeps the budget.
        waker.wake().unwrap();
        spin.poll(&mut poll, &mut events, wait).unwrap();
        assert!(!events.is_empty());
        assert_eq!(spin.budget, SPIN_MAX);
        // No wait asked for: a single poll, the budget untouched.
        spin.poll(&mut poll, &mut events, Duration::ZERO).unwrap();
        assert_eq!(spin.budget, SPIN_MAX);
    }
}
