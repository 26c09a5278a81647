//! Connection and server commands: PING, HELLO, AUTH, CLIENT, INFO, COMMAND, CONFIG, ...

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::{cmdmeta, done, err, int_arg, is, CmdErr, Ctx, Flow, COMMANDS, R};
use crate::{lock, Shared};

/// The Redis version Strata answers as (the command set and reply formats it follows).
pub const REDIS_VERSION: &str = "7.0.15";

pub fn ping(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    if c.s.proto == 2 && c.s.subs.active() {
        // Subscribed (RESP2): a pub/sub-shaped pong, as Redis.
        if a.len() > 2 {
            return Err(CmdErr(
                "ERR wrong number of arguments for 'ping' command".into(),
            ));
        }
        c.out.array(2);
        c.out.bulk(b"pong");
        c.out.bulk(a.get(1).map_or(&b""[..], Vec::as_slice));
        return done();
    }
    match a.len() {
        1 => c.out.simple("PONG"),
        2 => c.out.bulk(&a[1]),
        _ => {
            return Err(CmdErr(
                "ERR wrong number of arguments for 'ping' command".into(),
            ))
        }
    }
    done()
}

pub fn echo(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    c.out.bulk(&a[1]);
    done()
}

fn valid_name(n: &[u8]) -> bool {
    n.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

fn check_password(sh: &Shared, user: Option<&[u8]>, pass: &[u8]) -> bool {
    let required = lock(&sh.config).requirepass.clone();
    if user.is_some_and(|u| u != b"default") {
        return false;
    }
    required.is_empty() || required.as_bytes() == pass
}

pub fn hello(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let mut proto = c.s.proto;
    if a.len() >= 2 {
        let v = super::int_arg(&a[1])
            .map_err(|_| CmdErr("ERR Protocol version is not an integer or out of range".into()))?;
        if !(2..=3).contains(&v) {
            return Err("NOPROTO unsupported protocol version".into());
        }
        proto = v as u8;
    }
    let mut auth: Option<(&[u8], &[u8])> = None;
    let mut name: Option<&[u8]> = None;
    let mut i = 2;
    while i < a.len() {
        if is(&a[i], "auth") && i + 2 < a.len() {
            auth = Some((&a[i + 1], &a[i + 2]));
            i += 3;
        } else if is(&a[i], "setname") && i + 1 < a.len() {
            name = Some(&a[i + 1]);
            i += 2;
        } else {
            return Err(CmdErr(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&a[i])
            )));
        }
    }
    if let Some((u, p)) = auth {
        if !check_password(c.sh, Some(u), p) {
            return Err(err::WRONGPASS.into());
        }
        c.s.authed = true;
    }
    if !c.s.authenticated(c.sh) {
        return Err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into());
    }
    if let Some(n) = name {
        if !valid_name(n) {
            return Err(
                "ERR Client names cannot contain spaces, newlines or special characters.".into(),
            );
        }
        *lock(&c.info.name) = n.to_vec();
    }
    c.s.proto = proto;
    c.info.resp.store(proto, Ordering::Relaxed);
    c.out.proto = proto;
    c.out.map(7);
    c.out.bulk(b"server");
    c.out.bulk(b"redis");
    c.out.bulk(b"version");
    c.out.bulk(REDIS_VERSION.as_bytes());
    c.out.bulk(b"proto");
    c.out.int(i64::from(proto));
    c.out.bulk(b"id");
    c.out.int(c.info.id as i64);
    c.out.bulk(b"mode");
    c.out.bulk(b"standalone");
    c.out.bulk(b"role");
    c.out.bulk(b"master");
    c.out.bulk(b"modules");
    c.out.array(0);
    done()
}

pub fn auth(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    if a.len() > 3 {
        return Err(err::SYNTAX.into());
    }
    let (user, pass) = if a.len() == 3 {
        (Some(a[1].as_slice()), &a[2])
    } else {
        (None, &a[1])
    };
    if user.is_none() && lock(&c.sh.config).requirepass.is_empty() {
        return Err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into());
    }
    if !check_password(c.sh, user, pass) {
        return Err(err::WRONGPASS.into());
    }
    c.s.authed = true;
    c.ok()
}

pub fn select(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let v = int_arg(&a[1])?;
    if v < 0 || v as usize >= c.sh.store.databases() {
        return Err(err::DB_RANGE.into());
    }
    c.s.db = v as usize;
    c.info.db.store(c.s.db, Ordering::Relaxed);
    c.ok()
}

pub fn quit(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    c.out.ok();
    Ok(Flow::Close)
}

pub fn reset(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    // Discards a transaction and forgets the watches, as Redis's RESET.
    c.s.multi = None;
    // Replies come back on (the SKIP of this very command, if any, still mutes RESET's).
    c.s.reply.off = false;
    c.s.reply.skip_next = false;
    super::multi::forget(c.sh, c.s, c.info.id);
    super::pubsub::forget(c.sh, &mut c.s.subs, c.info.id);
    c.s.db = 0;
    c.s.proto = 2;
    c.s.authed = false;
    c.out.proto = 2;
    c.info.db.store(0, Ordering::Relaxed);
    c.info.resp.store(2, Ordering::Relaxed);
    lock(&c.info.name).clear();
    if c.info.monitor.swap(false, Ordering::Relaxed) {
        c.sh.monitors.fetch_sub(1, Ordering::Relaxed);
    }
    c.out.simple("RESET");
    done()
}

/// Redis's reply buffer: a client's first 16 KiB of replies go to a fixed buffer
/// (`obl`), the rest to a list of blocks (`oll` blocks, `omem` bytes). Strata has one
/// buffer per connection; its unsent bytes are shown split the same way.
const REPLY_BUF: usize = 16 * 1024;

/// One CLIENT LIST / CLIENT INFO line. `argv` is the caller's own request's argument
/// bytes when `ci` is the caller (Redis's `argv-mem`; 0 for the others, whose requests
/// are not running). Buffer figures are as the client's loop last mirrored them.
fn client_line(sh: &Shared, ci: &crate::ClientInfo, argv: usize) -> String {
    let now = sh.uptime_ms();
    let idle = now.saturating_sub(ci.last_active.load(Ordering::Relaxed)) / 1000;
    let l = &ci.listed;
    let (sub, psub, ssub) = (
        l.sub.load(Ordering::Relaxed),
        l.psub.load(Ordering::Relaxed),
        l.ssub.load(Ordering::Relaxed),
    );
    let multi = l.multi.load(Ordering::Relaxed) as i64 - 1;
    // Redis's letters, in its order.
    let mut flags = String::new();
    for (on, letter) in [
        (ci.monitor.load(Ordering::Relaxed), 'O'),
        (sub + psub + ssub > 0, 'P'),
        (multi >= 0, 'x'),
        (ci.blocked(), 'b'),
        (l.watch_dirty.load(Ordering::Relaxed), 'd'),
        (l.no_evict.load(Ordering::Relaxed), 'e'),
    ] {
        if on {
            flags.push(letter);
        }
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let (qbuf, qcap) = (
        l.qbuf.load(Ordering::Relaxed),
        l.qbuf_cap.load(Ordering::Relaxed),
    );
    let (out, ocap) = (
        l.out.load(Ordering::Relaxed),
        l.out_cap.load(Ordering::Relaxed),
    );
    let obl = out.min(REPLY_BUF);
    let omem = out - obl;
    let buffers = format!(
        "qbuf={qbuf} qbuf-free={} argv-mem={argv} multi-mem=0 rbs={REPLY_BUF} rbp={} obl={obl} oll={} omem={omem} tot-mem={}",
        qcap.saturating_sub(qbuf),
        ocap.min(REPLY_BUF),
        omem.div_ceil(REPLY_BUF),
        qcap + ocap + argv,
    );
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} {buffers} events={} cmd={} user=default redir=-1 resp={}\n",
        ci.id,
        ci.addr,
        ci.laddr,
        ci.fd,
        String::from_utf8_lossy(&lock(&ci.name)),
        ci.created.elapsed().as_secs(),
        idle,
        flags,
        ci.db.load(Ordering::Relaxed),
        sub,
        psub,
        ssub,
        multi,
        // Waiting to write as well as to read while replies are unsent.
        if out > 0 { "rw" } else { "r" },
        lock(&ci.last_cmd),
        ci.resp.load(Ordering::Relaxed),
    )
}

/// A request's argument bytes (Redis's `argv-mem` counts the strings' lengths).
fn argv_bytes(a: &[Vec<u8>]) -> usize {
    a.iter().map(Vec::len).sum()
}

pub fn client(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    let arity_err = || {
        CmdErr(format!(
            "ERR wrong number of arguments for 'client|{sub}' command"
        ))
    };
    match sub.as_str() {
        "id" => {
            if a.len() != 2 {
                return Err(arity_err());
            }
            c.int(c.info.id as i64)
        }
        "getname" => {
            if a.len() != 2 {
                return Err(arity_err());
            }
            let n = lock(&c.info.name).clone();
            c.bulk_opt((!n.is_empty()).then_some(n.as_slice()))
        }
        "setname" => {
            if a.len() != 3 {
                return Err(arity_err());
            }
            if !valid_name(&a[2]) {
                return Err(
                    "ERR Client names cannot contain spaces, newlines or special characters."
                        .into(),
                );
            }
            *lock(&c.info.name) = a[2].clone();
            c.ok()
        }
        "setinfo" => {
            if a.len() != 4 {
                return Err(arity_err());
            }
            if !is(&a[2], "lib-name") && !is(&a[2], "lib-ver") {
                return Err(CmdErr(format!(
                    "ERR Unrecognized option '{}'",
                    String::from_utf8_lossy(&a[2])
                )));
            }
            c.ok()
        }
        "info" => {
            if a.len() != 2 {
                return Err(arity_err());
            }
            let line = client_line(c.sh, c.info, argv_bytes(a));
            c.out.verbatim(line.as_bytes());
            done()
        }
        "list" => {
            let mut ids: Option<Vec<u64>> = None;
            let mut i = 2;
            while i < a.len() {
                if is(&a[i], "type") && i + 1 < a.len() {
                    let t = client_type_arg(&a[i + 1])?;
                    let clients = lock(&c.sh.clients);
                    ids = Some(
                        clients
                            .values()
                            .filter(|ci| client_type(ci) == t)
                            .map(|ci| ci.id)
                            .collect(),
                    );
                    i += 2;
                } else if is(&a[i], "id") && i + 1 < a.len() {
                    let mut v = Vec::new();
                    for x in &a[i + 1..] {
                        match super::int_arg(x) {
                            Ok(n) if n > 0 => v.push(n as u64),
                            _ => return Err("ERR Invalid client ID".into()),
                        }
                    }
                    ids = Some(v);
                    i = a.len();
                } else {
                    return Err(err::SYNTAX.into());
                }
            }
            let clients: Vec<_> = lock(&c.sh.clients).values().cloned().collect();
            let mut text = String::new();
            for ci in clients {
                if ids.as_ref().is_none_or(|v| v.contains(&ci.id)) {
                    let argv = if ci.id == c.info.id { argv_bytes(a) } else { 0 };
                    text.push_str(&client_line(c.sh, &ci, argv));
                }
            }
            c.out.verbatim(text.as_bytes());
            done()
        }
        "kill" => client_kill(c, a),
        "reply" => {
            if a.len() != 3 {
                return Err(arity_err());
            }
            if is(&a[2], "on") {
                c.s.reply.off = false;
                c.s.reply.skip = false;
                c.ok()
            } else if is(&a[2], "off") {
                c.s.reply.off = true;
                done()
            } else if is(&a[2], "skip") {
                if !c.s.reply.off {
                    c.s.reply.skip_next = true;
                }
                done()
            } else {
                Err("ERR syntax error".into())
            }
        }
        "no-evict" => {
            // Strata evicts no keys and no clients: the flag is accepted, as Redis's.
            if a.len() != 3 {
                return Err(arity_err());
            }
            if is(&a[2], "on") || is(&a[2], "off") {
                c.info
                    .listed
                    .no_evict
                    .store(is(&a[2], "on"), Ordering::Relaxed);
                c.ok()
            } else {
                Err("ERR syntax error".into())
            }
        }
        "pause" if a.len() == 3 || a.len() == 4 => {
            // Redis's order: the mode, then the timeout.
            let all = match a.get(3) {
                None => true,
                Some(m) if is(m, "all") => true,
                Some(m) if is(m, "write") => false,
                Some(_) => return Err("ERR CLIENT PAUSE mode must be WRITE or ALL".into()),
            };
            let ms = crate::resp::parse_i64(&a[2])
                .ok_or_else(|| CmdErr::from("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err("ERR timeout is negative".into());
            }
            let now = crate::store::now_ms() as i64;
            // Redis 7.0 adds the timeout to the clock unchecked: an end past i64 wraps
            // into the past, and no pause starts.
            if ms <= i64::MAX - now {
                c.sh.pause_clients((ms as u64).min(1 << 50), all);
            }
            c.ok()
        }
        "unpause" => {
            c.sh.unpause_clients();
            c.ok()
        }
        "unblock" if a.len() <= 4 => {
            if a.len() < 3 {
                return Err(arity_err());
            }
            let error = match a.get(3) {
                None => false,
                Some(r) if is(r, "timeout") => false,
                Some(r) if is(r, "error") => true,
                Some(_) => {
                    return Err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into())
                }
            };
            let id = super::int_arg(&a[2])?;
            let n = u64::try_from(id).is_ok_and(|id| super::blocking::unblock(c.sh, id, error));
            c.out.int(i64::from(n));
            done()
        }
        "help" => {
            let lines: [&[u8]; 11] = [
                b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                b"GETNAME",
                b"ID",
                b"INFO",
                b"KILL <ip:port> | <option> <value> [...]",
                b"LIST [TYPE <type>] [ID <id> [...]]",
                b"NO-EVICT (ON|OFF)",
                b"REPLY (ON|OFF|SKIP)",
                b"SETNAME <name>",
                b"UNBLOCK <clientid> [TIMEOUT|ERROR]",
                b"HELP",
            ];
            c.out.bulks(lines.iter().copied());
            done()
        }
        _ => Err(CmdErr(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&a[1])
        ))),
    }
}

/// A client's type for CLIENT LIST / KILL TYPE: `pubsub` while it is subscribed,
/// else `normal` (no replication: no `master` or `replica` clients; MONITOR clients
/// are normal, as in Redis).
fn client_type(ci: &crate::ClientInfo) -> &'static str {
    let l = &ci.listed;
    let subs = l.sub.load(Ordering::Relaxed)
        + l.psub.load(Ordering::Relaxed)
        + l.ssub.load(Ordering::Relaxed);
    if subs > 0 {
        "pubsub"
    } else {
        "normal"
    }
}

/// A TYPE argument, Redis's names (`slave` is `replica`).
fn client_type_arg(t: &[u8]) -> Result<&'static str, CmdErr> {
    Ok(
        match String::from_utf8_lossy(t).to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "pubsub" => "pubsub",
            "master" => "master",
            "replica" | "slave" => "replica",
            _ => {
                return Err(CmdErr(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(t)
                )))
            }
        },
    )
}

fn client_kill(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    if a.len() < 3 {
        return Err("ERR wrong number of arguments for 'client|kill' command".into());
    }
    let clients: Vec<_> = lock(&c.sh.clients).values().cloned().collect();
    if a.len() == 3 {
        // Old form: CLIENT KILL addr:port.
        let addr = String::from_utf8_lossy(&a[2]).to_string();
        let Some(ci) = clients.iter().find(|ci| ci.addr == addr) else {
            return Err("ERR No such client".into());
        };
        ci.killed.store(true, Ordering::Relaxed);
        c.sh.wake_loop(ci.loop_idx);
        return c.ok();
    }
    if !(a.len() - 2).is_multiple_of(2) {
        return Err(err::SYNTAX.into());
    }
    let mut id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut kind = None;
    let mut skipme = true;
    for p in a[2..].chunks(2) {
        let v = String::from_utf8_lossy(&p[1]).to_string();
        if is(&p[0], "id") {
            match v.parse::<u64>() {
                Ok(n) if n > 0 => id = Some(n),
                _ => return Err("ERR client-id should be greater than 0".into()),
            }
        } else if is(&p[0], "addr") {
            addr = Some(v);
        } else if is(&p[0], "laddr") {
            laddr = Some(v);
        } else if is(&p[0], "skipme") {
            skipme = match v.to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                _ => return Err(err::SYNTAX.into()),
            };
        } else if is(&p[0], "type") {
            kind = Some(client_type_arg(&p[1])?);
        } else if is(&p[0], "user") {
            // Every client is the default user's (no ACL users).
            if p[1] != b"default" {
                return Err(CmdErr(format!("ERR No such user '{v}'")));
            }
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let mut n = 0;
    for ci in clients {
        if id.is_some_and(|i| i != ci.id)
            || addr.as_ref().is_some_and(|x| *x != ci.addr)
            || laddr.as_ref().is_some_and(|x| *x != ci.laddr)
            || kind.is_some_and(|k| k != client_type(&ci))
            || (skipme && ci.id == c.info.id)
        {
            continue;
        }
        ci.killed.store(true, Ordering::Relaxed);
        c.sh.wake_loop(ci.loop_idx);
        n += 1;
    }
    c.int(n)
}

fn rusage() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}

/// The process's resident memory (`/proc/self/statm`), as INFO's `used_memory`.
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn human(b: u64) -> String {
    let f = b as f64;
    if f >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}G", f / (1024.0 * 1024.0 * 1024.0))
    } else if f >= 1024.0 * 1024.0 {
        format!("{:.2}M", f / (1024.0 * 1024.0))
    } else if f >= 1024.0 {
        format!("{:.2}K", f / 1024.0)
    } else {
        format!("{b}B")
    }
}

/// The text of INFO for the given sections (empty = default set).
pub fn info_text(sh: &Shared, sections: &[String]) -> String {
    let all = [
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "commandstats",
        "errorstats",
        "cluster",
        "keyspace",
        "engine",
        "dump",
    ];
    let want: Vec<&str> = if sections.is_empty() || sections.iter().any(|s| s == "default") {
        // As Redis: the default sections leave out commandstats.
        all.iter()
            .copied()
            .filter(|s| *s != "commandstats")
            .collect()
    } else if sections.iter().any(|s| s == "all" || s == "everything") {
        all.to_vec()
    } else {
        all.iter()
            .copied()
            .filter(|s| sections.iter().any(|x| x == s))
            .collect()
    };
    let cfg = lock(&sh.config).clone();
    let st = &sh.stats;
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut s = String::new();
    for sec in want {
        if !s.is_empty() {
            s.push_str("\r\n");
        }
        match sec {
            "server" => {
                let up = sh.started.elapsed().as_secs();
                let _ = write!(
                    s,
                    "# Server\r\nredis_version:{REDIS_VERSION}\r\nstrata_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{:040x}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{}\r\nhz:{}\r\nio_threads_active:{}\r\nexecutable:{}\r\nconfig_file:\r\n",
                    env!("CARGO_PKG_VERSION"),
                    std::env::consts::OS,
                    std::env::consts::ARCH,
                    std::process::id(),
                    (std::process::id() as u128) << 64 | sh.started.elapsed().as_nanos() ^ 0x5eed,
                    cfg.port,
                    crate::store::now_ms() * 1000,
                    up / 86400,
                    cfg.hz,
                    sh.loops.len(),
                    std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
                );
            }
            "clients" => {
                // The largest unrun input and unsent output among the clients now
                // (Redis's are peaks over the last seconds, sampled by its cron).
                let (n, max_in, max_out) = {
                    let clients = lock(&sh.clients);
                    let mut m = (0, 0);
                    for ci in clients.values() {
                        let l = &ci.listed;
                        m.0 = usize::max(m.0, l.qbuf.load(Ordering::Relaxed));
                        m.1 = usize::max(m.1, l.out.load(Ordering::Relaxed));
                    }
                    (clients.len(), m.0, m.1)
                };
                let _ = write!(
                    s,
                    "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{max_in}\r\nclient_recent_max_output_buffer:{max_out}\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:{}\r\n",
                    n,
                    cfg.maxclients,
                    sh.stats.blocked_clients.load(Ordering::Relaxed),
                    sh.stats.timeout_table.load(Ordering::Relaxed),
                );
            }
            "memory" => {
                let rss = rss_bytes();
                let e = sh.store.db.stats();
                let _ = write!(
                    s,
                    "# Memory\r\nused_memory:{rss}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{rss}\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\nmem_allocator:{}\r\nengine_memtable_bytes:{}\r\n",
                    human(rss),
                    human(rss),
                    crate::allocator_name(),
                    e.memtable_bytes
                );
            }
            "persistence" => {
                let _ = write!(
                    s,
                    "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\naof_last_write_status:ok\r\nappendfsync:{}\r\n",
                    sh.lastsave.load(Ordering::Relaxed),
                    cfg.appendfsync.name()
                );
            }
            "stats" => {
                let _ = write!(
                    s,
                    "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:0\r\npubsub_patterns:0\r\ntotal_deferred_commands:{}\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\n",
                    ld(&st.total_connections),
                    ld(&st.total_commands),
                    ld(&st.net_input),
                    ld(&st.net_output),
                    ld(&st.rejected_connections),
                    sh.store.expired_keys.load(Ordering::Relaxed),
                    ld(&st.keyspace_hits),
                    ld(&st.keyspace_misses),
                    ld(&sh.deferred_commands),
                    ld(&sh.cmdstats.total_errors),
                );
            }
            "replication" => {
                s.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n");
            }
            "cpu" => {
                let (u, sys) = rusage();
                let _ = write!(
                    s,
                    "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{u:.6}\r\n"
                );
            }
            "cluster" => s.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
            "commandstats" => sh.cmdstats.commandstats(&mut s),
            "errorstats" => sh.cmdstats.errorstats(&mut s),
            "keyspace" => {
                s.push_str("# Keyspace\r\n");
                for db in 0..sh.store.databases() {
                    let n = sh.store.counts(db);
                    if n.keys > 0 {
                        let _ = write!(
                            s,
                            "db{db}:keys={},expires={},avg_ttl=0\r\n",
                            n.keys, n.expires
                        );
                    }
                }
            }
            "dump" => s.push_str(&super::bgdump::info_section(sh)),
            "engine" => {
                let e = sh.store.db.stats();
                let _ = write!(
                    s,
                    "# Engine\r\nengine_memtable_bytes:{}\r\nengine_memtable_pool_bytes:{}\r\nengine_immutable_memtables:{}\r\nengine_write_stalls:{}\r\nengine_stall_micros:{}\r\nengine_block_cache_hits:{}\r\nengine_block_cache_misses:{}\r\nengine_bulk_loads:{}\r\nengine_bulk_load_bytes:{}\r\n",
                    e.memtable_bytes,
                    e.memtable_pool_bytes,
                    e.immutable_memtables,
                    e.write_stalls,
                    e.stall_micros,
                    e.block_cache_hits,
                    e.block_cache_misses,
                    e.bulk_loads,
                    e.bulk_load_bytes
                );
                for (i, l) in e.levels.iter().enumerate() {
                    let _ = write!(s, "engine_level{i}:files={},bytes={}\r\n", l.files, l.bytes);
                }
            }
            _ => {}
        }
    }
    s
}

pub fn info(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sections: Vec<String> = a[1..]
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let text = info_text(c.sh, &sections);
    c.out.verbatim(text.as_bytes());
    done()
}

/// COMMAND INFO's entry for a command Redis does not have (BGDUMP), from the table.
fn command_info_own(c: &mut Ctx, cmd: &super::Cmd) {
    c.out.array(10);
    c.out.bulk(cmd.name.as_bytes());
    c.out.int(i64::from(cmd.arity));
    c.out.set(cmd.flags.len());
    for f in cmd.flags {
        c.out.simple(f);
    }
    c.out.int(i64::from(cmd.keys.0));
    c.out.int(i64::from(cmd.keys.1));
    c.out.int(i64::from(cmd.keys.2));
    c.out.set(1);
    c.out.simple(&format!("@{}", cmd.group));
    c.out.set(0);
    c.out.array(0);
    c.out.array(0);
}

/// COMMAND DOCS's entry (name and map) for a command Redis does not have.
fn command_doc_own(c: &mut Ctx, cmd: &super::Cmd) {
    c.out.bulk(cmd.name.as_bytes());
    c.out.map(3);
    c.out.bulk(b"summary");
    c.out.bulk(cmd.summary.as_bytes());
    c.out.bulk(b"since");
    c.out.bulk(b"1.0.0");
    c.out.bulk(b"group");
    c.out.bulk(cmd.group.as_bytes());
}

/// A command or subcommand COMMAND can describe.
enum Described {
    /// Redis 7.0.15's entry (`cmdmeta`).
    Redis(&'static str),
    /// Strata's own command, described from the table.
    Own(&'static super::Cmd),
}

/// The commands Strata serves, in name order (Redis lists its own in hash-table
/// order, which changes with each start).
fn described_all() -> Vec<Described> {
    let meta = cmdmeta::meta();
    let mut names: Vec<&'static super::Cmd> = COMMANDS.iter().collect();
    names.sort_by_key(|c| c.name);
    names
        .into_iter()
        .map(|c| match meta.and_then(|m| m.info(c.name)) {
            Some(_) => Described::Redis(c.name),
            None => Described::Own(c),
        })
        .collect()
}

/// `name` as COMMAND INFO/DOCS resolve it: a command Strata serves, or
/// `container|subcommand` of one.
fn described(c: &Ctx, name: &[u8]) -> Option<Described> {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    let (top, sub) = match lower.split_once('|') {
        Some((t, s)) => (t, Some(s)),
        None => (lower.as_str(), None),
    };
    let cmd = super::find(c.sh, top.as_bytes())?;
    let meta = cmdmeta::meta();
    match sub {
        None => Some(match meta.and_then(|m| m.info(cmd.name)) {
            Some(_) => Described::Redis(cmd.name),
            None => Described::Own(cmd),
        }),
        Some(sub) => {
            let full = format!("{}|{sub}", cmd.name);
            let entry = meta?.info(&full)?;
            let name = cmdmeta::name(entry);
            // The entry's own name, borrowed from the data ('static).
            std::str::from_utf8(name).ok().map(Described::Redis)
        }
    }
}

/// The COMMAND INFO entry COMMAND GETKEYS reads for the full command `full`: the
/// command's, or its subcommand's when it is a container named with a subcommand (as
/// Redis's `lookupCommand`); `None` inside for a command of Strata's own (BGDUMP,
/// which names no key); `None` outside for a command or subcommand that does not exist.
fn getkeys_entry(c: &Ctx, full: &[Vec<u8>]) -> Option<Option<&'static cmdmeta::V>> {
    let cmd = super::find(c.sh, &full[0])?;
    let Some(entry) = cmdmeta::meta().and_then(|m| m.info(cmd.name)) else {
        return Some(None);
    };
    if full.len() == 1 || cmdmeta::subcommands(entry).is_empty() {
        return Some(Some(entry));
    }
    let sub = String::from_utf8_lossy(&full[1]).to_ascii_lowercase();
    let entry = cmdmeta::meta()?.info(&format!("{}|{sub}", cmd.name))?;
    Some(Some(entry))
}

fn emit_info(c: &mut Ctx, d: &Described) {
    match d {
        Described::Redis(name) => match cmdmeta::meta().and_then(|m| m.info(name)) {
            Some(v) => v.emit(&mut c.out),
            None => c.out.null_array(),
        },
        Described::Own(cmd) => command_info_own(c, cmd),
    }
}

fn emit_doc(c: &mut Ctx, d: &Described) {
    match d {
        Described::Redis(name) => {
            c.out.bulk(name.as_bytes());
            match cmdmeta::meta().and_then(|m| m.docs(name)) {
                Some(v) => v.emit(&mut c.out),
                None => c.out.map(0),
            }
        }
        Described::Own(cmd) => command_doc_own(c, cmd),
    }
}

/// COMMAND LIST's names: each command, then its subcommands, kept by `keep`.
pub(crate) fn command_list(c: &mut Ctx, keep: &dyn Fn(&[u8], Option<&cmdmeta::V>) -> bool) -> R {
    let mut names: Vec<Vec<u8>> = Vec::new();
    for d in described_all() {
        match d {
            Described::Redis(name) => {
                let Some(entry) = cmdmeta::meta().and_then(|m| m.info(name)) else {
                    continue;
                };
                if keep(name.as_bytes(), Some(entry)) {
                    names.push(name.as_bytes().to_vec());
                }
                for sub in cmdmeta::subcommands(entry) {
                    let n = cmdmeta::name(sub);
                    if keep(n, Some(sub)) {
                        names.push(n.to_vec());
                    }
                }
            }
            Described::Own(cmd) => {
                if keep(cmd.name.as_bytes(), None) {
                    names.push(cmd.name.as_bytes().to_vec());
                }
            }
        }
    }
    c.out.bulks(names.iter().map(Vec::as_slice));
    done()
}

pub fn command(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    if a.len() == 1 || (a.len() == 2 && is(&a[1], "info")) {
        // COMMAND and COMMAND INFO without names: every command served.
        let all = described_all();
        c.out.array(all.len());
        for d in &all {
            emit_info(c, d);
        }
        return done();
    }
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "count" if a.len() == 2 => c.int(COMMANDS.len() as i64),
        "list" if a.len() == 2 => command_list(c, &|_, _| true),
        "list" if a.len() == 5 && is(&a[2], "filterby") => {
            let arg = a[4].clone();
            if is(&a[3], "module") {
                // No modules: nothing comes from one.
                command_list(c, &|_, _| false)
            } else if is(&a[3], "aclcat") {
                command_list(c, &|_, e| e.is_some_and(|e| cmdmeta::in_category(e, &arg)))
            } else if is(&a[3], "pattern") {
                let pattern = strata_dump::glob::Glob::new(&arg.to_ascii_lowercase());
                command_list(c, &|name, _| pattern.matches(name))
            } else {
                Err(err::SYNTAX.into())
            }
        }
        "list" => Err(err::SYNTAX.into()),
        "info" => {
            c.out.array(a.len() - 2);
            for n in &a[2..] {
                match described(c, n) {
                    Some(d) => emit_info(c, &d),
                    None => c.out.null(),
                }
            }
            done()
        }
        "docs" => {
            let found: Vec<Described> = if a.len() == 2 {
                described_all()
            } else {
                a[2..].iter().filter_map(|n| described(c, n)).collect()
            };
            c.out.map(found.len());
            for d in &found {
                emit_doc(c, d);
            }
            done()
        }
        "getkeys" | "getkeysandflags" if a.len() >= 4 => {
            let with_flags = sub == "getkeysandflags";
            let full = &a[2..];
            let entry = getkeys_entry(c, full).ok_or("ERR Invalid command specified")?;
            let keys = match entry {
                None => Err(super::getkeys::Refusal::NoKeys),
                Some(e) => super::getkeys::keys(e, full),
            }
            .map_err(|r| r.text())?;
            c.out.array(keys.len());
            for (i, flags) in keys {
                if with_flags {
                    c.out.array(2);
                    c.out.bulk(&full[i]);
                    c.out.set(flags.len());
                    for f in flags {
                        c.out.simple(&String::from_utf8_lossy(f));
                    }
                } else {
                    c.out.bulk(&full[i]);
                }
            }
            done()
        }
        "help" if a.len() == 2 => {
            let lines = [
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
                "GETKEYSANDFLAGS <full-command>",
                "    Return the keys and the access flags from a full Redis command.",
                "HELP",
                "    Prints this help.",
            ];
            super::reply_lines(c, &lines)
        }
        _ => Err(CmdErr(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(&a[1])
        ))),
    }
}

pub fn config(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "get" if a.len() >= 3 => {
            let cfg = lock(&c.sh.config).clone();
            let mut pairs: Vec<(String, String)> = Vec::new();
            for p in &a[2..] {
                for kv in cfg.get_matching(&String::from_utf8_lossy(p)) {
                    if !pairs.iter().any(|(n, _)| *n == kv.0) {
                        pairs.push(kv);
                    }
                }
            }
            c.out.map(pairs.len());
            for (n, v) in pairs {
                c.out.bulk(n.as_bytes());
                c.out.bulk(v.as_bytes());
            }
            done()
        }
        "set" if a.len() >= 4 && a.len().is_multiple_of(2) => {
            // Redis checks every name first: the first unknown, fixed or repeated one
            // fails the command (an unknown one named in preference), nothing set.
            let mut first: Option<String> = None;
            let mut unknown: Option<String> = None;
            for (i, p) in a[2..].chunks(2).enumerate() {
                let name = String::from_utf8_lossy(&p[0]);
                match crate::config::Config::settable(&name) {
                    Err(e) if e.starts_with("ERR Unknown") => {
                        if first.is_none() && unknown.is_none() {
                            unknown = Some(e);
                        }
                    }
                    Err(e) => {
                        first.get_or_insert(e);
                    }
                    Ok(()) => {
                        let repeated = a[2..2 + 2 * i]
                            .chunks(2)
                            .any(|q| q[0].eq_ignore_ascii_case(&p[0]));
                        if repeated {
                            first.get_or_insert(format!(
                                "ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
                            ));
                        }
                    }
                }
            }
            if let Some(e) = unknown.or(first) {
                return Err(CmdErr(e));
            }
            let mut cfg = lock(&c.sh.config);
            let mut next = cfg.clone();
            for p in a[2..].chunks(2) {
                next.config_set(
                    &String::from_utf8_lossy(&p[0]),
                    &String::from_utf8_lossy(&p[1]),
                )
                .map_err(CmdErr)?;
            }
            c.sh.set_fsync(next.appendfsync);
            c.sh.hot.update(&next);
            crate::log::set_level(&next.loglevel);
            *cfg = next;
            drop(cfg);
            c.ok()
        }
        "resetstat" if a.len() == 2 => {
            let st = &c.sh.stats;
            for x in [
                &st.total_commands,
                &st.net_input,
                &st.net_output,
                &st.keyspace_hits,
                &st.keyspace_misses,
                &st.rejected_connections,
                &st.total_connections,
            ] {
                x.store(0, Ordering::Relaxed);
            }
            c.sh.cmdstats.reset();
            c.ok()
        }
        "rewrite" if a.len() == 2 => {
            let cfg = lock(&c.sh.config).clone();
            cfg.rewrite_file().map_err(|e| CmdErr(format!("ERR {e}")))?;
            c.ok()
        }
        "help" => {
            let lines: [&[u8]; 5] = [
                b"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                b"GET <pattern>",
                b"SET <directive> <value>",
                b"RESETSTAT",
                b"HELP",
            ];
            c.out.bulks(lines.iter().copied());
            done()
        }
        "get" | "set" | "resetstat" | "rewrite" => Err(CmdErr(format!(
            "ERR wrong number of arguments for 'config|{sub}' command"
        ))),
        _ => Err(CmdErr(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(&a[1])
        ))),
    }
}

pub fn time(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    c.out.array(2);
    c.out.bulk(now.as_secs().to_string().as_bytes());
    c.out.bulk(now.subsec_micros().to_string().as_bytes());
    done()
}

/// Make everything durable: flush the memtable to an SST and fsync the WAL.
fn save_now(sh: &Shared) -> Result<(), CmdErr> {
    sh.store
        .flush_pending()
        .map_err(|e| CmdErr(format!("ERR {e}")))?;
    sh.store
        .db
        .flush()
        .and_then(|_| sh.store.db.sync_wal())
        .map_err(|e| CmdErr(format!("ERR {e}")))?;
    sh.lastsave
        .store(crate::store::now_ms() / 1000, Ordering::Relaxed);
    Ok(())
}

pub fn save(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    save_now(c.sh)?;
    c.ok()
}

pub fn bgsave(_c: &mut Ctx, a: &[Vec<u8>]) -> R {
    if a.len() > 2 || (a.len() == 2 && !is(&a[1], "schedule")) {
        return Err(err::SYNTAX.into());
    }
    Ok(Flow::Defer(Box::new(|sh: &Shared| {
        let mut buf = Vec::new();
        match save_now(sh) {
            Ok(()) => buf.extend_from_slice(b"+Background saving started\r\n"),
            Err(e) => buf.extend_from_slice(format!("-{}\r\n", e.0).as_bytes()),
        }
        buf
    })))
}

pub fn lastsave(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    c.int(c.sh.lastsave.load(Ordering::Relaxed) as i64)
}

pub fn shutdown(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    for o in &a[1..] {
        if !(is(o, "nosave") || is(o, "save") || is(o, "now") || is(o, "force") || is(o, "abort")) {
            return Err(err::SYNTAX.into());
        }
    }
    if a[1..].iter().any(|o| is(o, "abort")) {
        return Err("ERR No shutdown in progress.".into());
    }
    c.sh.shutdown.store(true, Ordering::SeqCst);
    Ok(Flow::Close)
}

pub fn monitor(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    if !c.info.monitor.swap(true, Ordering::Relaxed) {
        c.sh.monitors.fetch_add(1, Ordering::Relaxed);
    }
    c.ok()
}

pub fn debug(_c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "sleep" if a.len() == 3 => {
            let secs: f64 = String::from_utf8_lossy(&a[2]).parse().unwrap_or(0.0);
            let d = std::time::Duration::from_secs_f64(secs.clamp(0.0, 3600.0));
            // On a worker: only this client waits.
            Ok(Flow::Defer(Box::new(move |_sh: &Shared| {
                std::thread::sleep(d);
                b"+OK\r\n".to_vec()
            })))
        }
        // Strata's own: compact the whole key space now (tests, operators reclaiming
        // space after big deletions); runs on a worker.
        "compact" if a.len() == 2 => Ok(Flow::Defer(Box::new(|sh: &Shared| {
            match sh.store.db.compact_range(None, None) {
                Ok(()) => b"+OK\r\n".to_vec(),
                Err(e) => format!("-ERR {e}\r\n").into_bytes(),
            }
        }))),
        _ => Err(CmdErr(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&a[1])
        ))),
    }
}

/// ROLE: a master with no replicas.
pub fn role(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    c.out.array(3);
    c.out.bulk(b"master");
    c.out.int(0);
    c.out.array(0);
    done()
}

/// READONLY / READWRITE: cluster-mode commands, refused as Redis refuses them without
/// cluster mode.
pub fn cluster_mode_only(_c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    Err("ERR This instance has cluster support disabled".into())
}
