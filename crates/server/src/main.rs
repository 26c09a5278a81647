//! `strata-server [config-file] [--name value ...]`: like redis-server.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The server's allocator (docs/decisions.md, "Allocator"). The library crates do not
/// choose one: an embedding program keeps its own.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (mimalloc.h; the Rust
/// bindings name only some options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // Freed memory goes back to the OS after 10 s instead of 1 s, as Redis's jemalloc
    // does (dirty pages decay over 10 s): a RESTORE's multi-megabyte buffers are then
    // reused warm instead of faulting in zeroed again (docs/decisions.md).
    // SAFETY: sets an integer option; mimalloc reads it when it decides to purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) };
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
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("cannot install a signal handler: {e}");
            std::process::exit(1);
        }
    }
    // A client that disappears must not kill the server with SIGPIPE (Rust ignores it
    // by default already; stated here because the server relies on it).
    let server = match strata_server::Server::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let addrs: Vec<String> = server.addrs().iter().map(|a| a.to_string()).collect();
    eprintln!(
        "strata-server {} ready to accept connections on {}",
        env!("CARGO_PKG_VERSION"),
        addrs.join(", ")
    );
    match server.wait(&stop) {
        Ok(()) => eprintln!("strata-server is now ready to exit, bye bye..."),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
