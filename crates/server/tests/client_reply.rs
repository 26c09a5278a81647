//! CLIENT REPLY, CLIENT UNBLOCK and CLIENT NO-EVICT against a real `redis-server`
//! 7.0.15: seeded random pipelines mixing CLIENT REPLY ON/OFF/SKIP with ordinary
//! commands, errors, transactions, pub/sub, blocking pops that time out and empty
//! requests give byte-identical output streams; CLIENT UNBLOCK frees a client blocked
//! on another connection with the timeout reply or the UNBLOCKED error, muted by its
//! CLIENT REPLY SKIP as in Redis.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{encode, seeds, strata, Proc, Rng};

/// A raw connection: pipelines go out as bytes, and everything the server sends is read
/// until a sentinel reply arrives (muted replies leave nothing to count by).
struct Raw(TcpStream);

impl Raw {
    fn connect(p: &Proc) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Raw(s)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).unwrap();
    }

    /// Read until the output ends with `end`.
    fn until(&mut self, end: &[u8], what: &str) -> Vec<u8> {
        let start = Instant::now();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while !out.ends_with(end) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{what}: no sentinel; so far {:?}",
                String::from_utf8_lossy(&out)
            );
            match self.0.read(&mut buf) {
                Ok(0) => panic!("{what}: closed after {:?}", String::from_utf8_lossy(&out)),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("{what}: {e}"),
            }
        }
        out
    }

    /// Whatever arrives within `d`.
    fn drain(&mut self, d: Duration) -> Vec<u8> {
        let start = Instant::now();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while start.elapsed() < d {
            match self.0.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        out
    }
}

fn req(args: &[&str]) -> Vec<u8> {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    encode(&a)
}

fn random_request(r: &mut Rng) -> Vec<u8> {
    match r.below(24) {
        0..=2 => req(&["CLIENT", "REPLY", "OFF"]),
        3..=5 => req(&["CLIENT", "REPLY", "SKIP"]),
        6 | 7 => req(&["CLIENT", "REPLY", "ON"]),
        8 => req(&["CLIENT", "REPLY", ["BOGUS", "on", "Skip"][r.index(3)]]),
        // (`CLIENT REPLY` without its argument is left out: in subscribed RESP2 mode
        // Redis checks a subcommand's arity before the context, Strata after it.)
        9 => req(&["CLIENT", "REPLY", "ON", "extra"]),
        10 => req(&["SET", "k", &r.below(100).to_string()]),
        11 => req(&["GET", "k"]),
        12 => req(&["INCR", "n"]),
        13 => req(&["NOSUCH", "x"]),
        14 => req(&["GET"]),
        15 => req(&["MULTI"]),
        16 => req(&["EXEC"]),
        17 => req(&["DISCARD"]),
        18 => req(&["SUBSCRIBE", "ch"]),
        19 => req(&["UNSUBSCRIBE", "ch"]),
        20 => b"*0\r\n".to_vec(),
        21 => b"PING inline\r\n".to_vec(),
        22 => req(&["BLPOP", "q", "0.01"]),
        _ => req(&["CLIENT", "NO-EVICT", ["on", "OFF", "x"][r.index(3)]]),
    }
}

#[test]
fn random_client_reply_pipelines_match_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let mut a = Raw::connect(&redis);
    let mut b = Raw::connect(&ours);
    for seed in seeds(&[1, 2, 3, 4, 5, 6, 7, 8]) {
        let mut r = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
        let proto = if seed % 2 == 0 { "3" } else { "2" };
        for c in [&mut a, &mut b] {
            c.send(&req(&["HELLO", proto]));
            c.send(&req(&["FLUSHALL"]));
            c.send(&req(&["ECHO", "ready"]));
            c.until(b"ready\r\n", "setup");
        }
        for step in 0..40 {
            let mut pipe = Vec::new();
            let mut shown = Vec::new();
            for _ in 0..1 + r.below(8) {
                let q = random_request(&mut r);
                shown.push(String::from_utf8_lossy(&q).replace("\r\n", " "));
                pipe.extend_from_slice(&q);
            }
            // Back to a known state whatever the pipeline left: out of a transaction
            // and of subscribed mode, replies on; then a sentinel.
            let sentinel = format!("sentinel-{seed}-{step}");
            pipe.extend_from_slice(&req(&["DISCARD"]));
            pipe.extend_from_slice(&req(&["UNSUBSCRIBE"]));
            pipe.extend_from_slice(&req(&["CLIENT", "REPLY", "ON"]));
            pipe.extend_from_slice(&req(&["ECHO", &sentinel]));
            if std::env::var("DIFF_TRACE").is_ok() {
                eprintln!("step {step}: {shown:?}");
            }
            let end = format!("{sentinel}\r\n");
            a.send(&pipe);
            b.send(&pipe);
            let x = a.until(end.as_bytes(), "redis");
            let y = b.until(end.as_bytes(), "strata");
            assert_eq!(
                String::from_utf8_lossy(&x),
                String::from_utf8_lossy(&y),
                "seed {seed} step {step}: {shown:?}"
            );
        }
    }
}

/// Transactions with CLIENT REPLY inside: the EXEC header is muted or not by the state
/// when it is written, each queued command's reply by the state when it runs.
#[test]
fn client_reply_inside_exec_matches_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let cases: &[&[&[&str]]] = &[
        &[
            &["MULTI"],
            &["CLIENT", "REPLY", "OFF"],
            &["GET", "k"],
            &["EXEC"],
            &["GET", "k"],
        ],
        &[
            &["CLIENT", "REPLY", "OFF"],
            &["MULTI"],
            &["CLIENT", "REPLY", "ON"],
            &["SET", "k", "v"],
            &["EXEC"],
        ],
        &[
            &["MULTI"],
            &["CLIENT", "REPLY", "SKIP"],
            &["PING", "a"],
            &["EXEC"],
            &["PING", "b"],
            &["PING", "c"],
        ],
        &[&["CLIENT", "REPLY", "SKIP"], &["RESET"], &["PING", "d"]],
        &[&["CLIENT", "REPLY", "OFF"], &["RESET"], &["PING", "e"]],
    ];
    for (i, case) in cases.iter().enumerate() {
        let mut outs = Vec::new();
        for p in [&redis, &ours] {
            let mut c = Raw::connect(p);
            let mut pipe = Vec::new();
            for q in case.iter() {
                pipe.extend_from_slice(&req(q));
            }
            pipe.extend_from_slice(&req(&["CLIENT", "REPLY", "ON"]));
            pipe.extend_from_slice(&req(&["ECHO", "end"]));
            c.send(&pipe);
            outs.push(c.until(b"end\r\n", "exec"));
        }
        assert_eq!(
            String::from_utf8_lossy(&outs[0]),
            String::from_utf8_lossy(&outs[1]),
            "case {i}: {case:?}"
        );
    }
}

#[test]
fn client_unblock_matches_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&["--io-threads", "2"]);
    let mut all = Vec::new();
    for p in [&redis, &ours] {
        let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
        let mut ctl = Raw::connect(p);
        for q in [
            req(&["CLIENT", "UNBLOCK"]),
            req(&["CLIENT", "UNBLOCK", "x"]),
            req(&["CLIENT", "UNBLOCK", "x", "bogus"]),
            req(&["CLIENT", "UNBLOCK", "99999", "ERROR"]),
            req(&["CLIENT", "UNBLOCK", "-5"]),
            req(&["CLIENT", "UNBLOCK", "1", "a", "b"]),
        ] {
            ctl.send(&q);
            seen.push(("errors".into(), ctl.drain(Duration::from_millis(80))));
        }
        // Each victim is a new connection: with two loops they alternate between them.
        for (proto, cmd, reason) in [
            ("2", vec!["BLPOP", "q", "0"], None),
            (
                "2",
                vec!["BLMOVE", "q", "r", "LEFT", "RIGHT", "0"],
                Some("TIMEOUT"),
            ),
            ("3", vec!["BZPOPMIN", "z", "0"], Some("timeout")),
            ("3", vec!["BLPOP", "q", "0"], Some("ERROR")),
            ("2", vec!["BRPOPLPUSH", "q", "r", "0"], Some("error")),
        ] {
            {
                let mut v = Raw::connect(p);
                v.send(&req(&["HELLO", proto]));
                v.drain(Duration::from_millis(100));
                v.send(&req(&["CLIENT", "ID"]));
                let id = String::from_utf8_lossy(&v.drain(Duration::from_millis(100)))
                    .trim_start_matches(':')
                    .trim()
                    .to_string();
                v.send(&req(&cmd.iter().map(|s| &**s).collect::<Vec<_>>()));
                std::thread::sleep(Duration::from_millis(100));
                let mut u = vec!["CLIENT", "UNBLOCK", &id];
                u.extend(reason);
                ctl.send(&req(&u));
                seen.push((
                    format!("{cmd:?} unblock"),
                    ctl.drain(Duration::from_millis(80)),
                ));
                seen.push((
                    format!("{cmd:?} victim"),
                    v.drain(Duration::from_millis(80)),
                ));
                // Not blocked any more: 0.
                ctl.send(&req(&u));
                seen.push((
                    format!("{cmd:?} again"),
                    ctl.drain(Duration::from_millis(80)),
                ));
                // A muted blocked command: its reply stays muted, the next one is not.
                v.send(&req(&["CLIENT", "REPLY", "SKIP"]));
                v.send(&req(&cmd.iter().map(|s| &**s).collect::<Vec<_>>()));
                std::thread::sleep(Duration::from_millis(100));
                ctl.send(&req(&u));
                seen.push((
                    format!("{cmd:?} unblock muted"),
                    ctl.drain(Duration::from_millis(80)),
                ));
                v.send(&req(&["PING", "after"]));
                seen.push((
                    format!("{cmd:?} muted victim"),
                    v.drain(Duration::from_millis(80)),
                ));
            }
        }
        // WAIT, CLIENT ID of self, and the ids compared as shapes only.
        let mut me = Raw::connect(p);
        me.send(&req(&["CLIENT", "ID"]));
        let id = String::from_utf8_lossy(&me.drain(Duration::from_millis(100)))
            .trim_start_matches(':')
            .trim()
            .to_string();
        me.send(&req(&["CLIENT", "UNBLOCK", &id]));
        seen.push(("self".into(), me.drain(Duration::from_millis(80))));
        all.push(seen);
    }
    let (x, y) = (&all[0], &all[1]);
    assert_eq!(x.len(), y.len());
    for ((what, a), (_, b)) in x.iter().zip(y) {
        assert_eq!(
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b),
            "{what}"
        );
    }
}

/// Refusals before a command runs, in Redis's order and texts: unknown subcommands,
/// a subcommand's arity, then AUTH; a refused EXEC discards its transaction with
/// EXECABORT whether one was queued or not.
#[test]
fn refusals_before_running_match_real_redis() {
    let redis = Proc::start(&["--requirepass", "pw"]);
    let ours = strata(&["--requirepass", "pw"]);
    let requests: &[&[&str]] = &[
        &["GET"],
        &["CLIENT"],
        &["CLIENT", "FOO"],
        &["CLIENT", "REPLY", "x", "y"],
        &["EXEC"],
        &["EXEC", "x"],
        &["GET", "k"],
        &["AUTH", "pw"],
        &["MULTI"],
        &["SET", "k", "v"],
        &["EXEC", "x"],
        &["EXEC"],
        &["CONFIG", "FOO"],
        &["config", "get"],
        &["OBJECT", "foo", "k"],
        &["COMMAND", "FOO"],
        &["COMMAND", "COUNT", "x"],
        &["SLOWLOG", "Foo"],
        &["FUNCTION", "FOO"],
        &["SCRIPT", "FOO"],
        &["PUBSUB", "FOO"],
        &["CLIENT", "UNBLOCK", "1", "a", "b"],
        // Scripts resolve subcommands too, with their own texts.
        &["EVAL", "return redis.pcall('CONFIG','FOO')", "0"],
        &["EVAL", "return redis.pcall('CONFIG','GET')", "0"],
        &["EVAL", "return redis.pcall('OBJECT','FOO','x')", "0"],
        &["EVAL", "return redis.pcall('OBJECT','ENCODING','x')", "0"],
        &["SUBSCRIBE", "ch"],
        &["CLIENT", "ID", "x"],
        &["CLIENT", "GETNAME"],
        &["EXEC"],
    ];
    let mut outs = Vec::new();
    for p in [&redis, &ours] {
        let mut c = Raw::connect(p);
        let mut got = Vec::new();
        for q in requests {
            c.send(&req(q));
            got.push(c.drain(Duration::from_millis(60)));
        }
        outs.push(got);
    }
    for (i, q) in requests.iter().enumerate() {
        assert_eq!(
            String::from_utf8_lossy(&outs[0][i]),
            String::from_utf8_lossy(&outs[1][i]),
            "{q:?}"
        );
    }
}
