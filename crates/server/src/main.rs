//! `strata-server [config-file] [--name value ...]`: like redis-server.

use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use strata_server::log;

/// The server's allocator (docs/decisions.md, "Allocator"). The library crates do not
/// choose one: an embedding program keeps its own.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (mimalloc.h; the Rust
/// bindings name only some options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // No transparent huge pages: the allocator asks for them on its arenas, and the
    // flush and compaction threads' fresh buffers then faulted in 2 MiB at a time, each
    // zeroed whole, a quarter of those threads' CPU (docs/decisions.md, "The server
    // runs without transparent huge pages"). The flag is the process's, so it also
    // covers the arena the allocator reserved before `main`. Failure changes nothing.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    // Freed memory goes back to the OS after 10 s instead of 1 s, as Redis's jemalloc
    // does (dirty pages decay over 10 s): a RESTORE's multi-megabyte buffers are then
    // reused warm instead of faulting in zeroed again (docs/decisions.md).
    // SAFETY: sets an integer option; mimalloc reads it when it decides to purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) };
    // SAFETY: mi_version takes nothing and returns the linked mimalloc's version.
    let v = unsafe { libmimalloc_sys::mi_version() };
    strata_server::set_allocator_name(format!(
        "mimalloc-{}.{}.{}",
        v / 10000,
        v / 100 % 100,
        v % 100
    ));
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-v" || a == "--version") {
        println!(
            "strata-server v={} (answers as redis 7.0.15)",
            env!("CARGO_PKG_VERSION")
        );
        return;
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("Usage: strata-server [/path/to/strata.conf] [--name value ...]\n       strata-server --port 7777 --dir /var/lib/strata");
        return;
    }
    let (file, overrides) = match args.first() {
        Some(f) if !f.starts_with("--") => (Some(f.clone()), &args[1..]),
        _ => (None, &args[..]),
    };
    let body = match &file {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("Fatal error, can't open config file '{f}': {e}");
                std::process::exit(1);
            }
        },
        None => None,
    };
    let config = match strata_server::Config::load(file.as_deref().zip(body.as_deref()), overrides)
    {
        Ok(mut c) => {
            // CONFIG REWRITE writes back to the file (by absolute path, as Redis).
            c.file = file
                .as_deref()
                .map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.into()));
            c
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    strata_server::log::set_level(&config.loglevel);
    // The log file opens before daemonizing, so an error reaches the terminal (Redis
    // also checks it while reading the configuration).
    let logfile = if config.logfile.is_empty() {
        None
    } else {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.logfile)
        {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("Can't open the log file: {e}");
                std::process::exit(1);
            }
        }
    };
    if config.daemonize {
        daemonize();
    }
    if let Some(f) = &logfile {
        // Every line the server logs goes to standard error: point it at the file.
        // SAFETY: both descriptors are open; dup2 replaces fd 2 atomically.
        unsafe { libc::dup2(f.as_raw_fd(), 2) };
    }
    drop(logfile);
    let pidfile = match (&config.pidfile, config.daemonize) {
        (p, _) if !p.is_empty() => Some(p.clone()),
        (_, true) => Some(DEFAULT_PIDFILE.to_string()),
        _ => None,
    };
    for (name, value) in config.inert_changes() {
        log::warning(format_args!(
            "'{name} {value}' has no effect in Strata (accepted for redis.conf compatibility; docs/configuration.md)"
        ));
    }
    let notify = systemd_socket(&config.supervised);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            log::warning(format_args!("cannot install a signal handler: {e}"));
            std::process::exit(1);
        }
    }
    // A client that disappears must not kill the server with SIGPIPE (Rust ignores it
    // by default already; stated here because the server relies on it).
    let server = match strata_server::Server::start(config) {
        Ok(s) => s,
        Err(e) => {
            log::warning(format_args!("{e}"));
            std::process::exit(1);
        }
    };
    // Written once the server listens (as Redis, after initServer), so its presence
    // means the server is up.
    if let Some(p) = &pidfile {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            log::warning(format_args!("Failed to write PID file {p}: {e}"));
        }
    }
    let addrs: Vec<String> = server.addrs().iter().map(|a| a.to_string()).collect();
    log::notice(format_args!(
        "strata-server {} ready to accept connections on {}",
        env!("CARGO_PKG_VERSION"),
        addrs.join(", ")
    ));
    if let Some(n) = &notify {
        sd_notify(n, "READY=1\nSTATUS=Ready to accept connections\n");
    }
    let res = server.wait(&stop);
    if let Some(n) = &notify {
        sd_notify(n, "STOPPING=1\n");
    }
    match res {
        Ok(()) => {
            log::notice(format_args!(
                "strata-server is now ready to exit, bye bye..."
            ));
            exit(0, pidfile.as_deref());
        }
        Err(e) => {
            log::warning(format_args!("{e}"));
            exit(1, pidfile.as_deref());
        }
    }
}

/// The pid file of a daemonized server with no `pidfile` set (Redis's is
/// /var/run/redis.pid; Strata's own name keeps a Redis on the same host unharmed).
const DEFAULT_PIDFILE: &str = "/var/run/strata-server.pid";

/// Leave, removing the pid file first (as Redis does on its way out).
fn exit(code: i32, pidfile: Option<&str>) -> ! {
    if let Some(p) = pidfile {
        let _ = std::fs::remove_file(p);
    }
    std::process::exit(code)
}

/// `daemonize yes`, as Redis: fork, the parent exits, the child starts a new session
/// and points its standard streams at /dev/null (the log file, if any, replaces
/// standard error afterwards). Called before any thread exists.
fn daemonize() {
    // SAFETY: the process is single-threaded here (no thread has been spawned yet), so
    // the child may go on running Rust code after fork.
    match unsafe { libc::fork() } {
        -1 => {
            eprintln!(
                "Can't fork to daemonize: {}",
                std::io::Error::last_os_error()
            );
            std::process::exit(1);
        }
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: setsid has no memory effects; failure (already a leader) is harmless.
    unsafe { libc::setsid() };
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: `null` is open; dup2 replaces the standard descriptor.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

/// Where to send readiness, under `supervised systemd` (or `auto` with systemd's
/// `NOTIFY_SOCKET` set), as Redis does for a `Type=notify` unit.
fn systemd_socket(supervised: &str) -> Option<String> {
    let path = std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|p| !p.is_empty());
    match supervised {
        "systemd" if path.is_none() => {
            log::warning(format_args!(
                "systemd supervision requested, but NOTIFY_SOCKET environment variable not found!"
            ));
            None
        }
        "systemd" | "auto" => path,
        _ => None,
    }
}

/// Send one sd_notify message (a datagram to the socket systemd named; a leading
/// `@` names an abstract socket).
fn sd_notify(path: &str, msg: &str) {
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let addr = match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())
        }
        None => SocketAddr::from_pathname(path),
    };
    let sent = addr.and_then(|a| UnixDatagram::unbound()?.send_to_addr(msg.as_bytes(), &a));
    if let Err(e) = sent {
        log::warning(format_args!("sd_notify to {path}: {e}"));
    }
}
