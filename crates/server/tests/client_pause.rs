//! CLIENT PAUSE and CLIENT UNPAUSE against a real `redis-server` 7.0.15: the same
//! scripted scenarios on both give the same replies, held and released at the same
//! points: WRITE holds writes and may-replicate commands (PUBLISH, PFCOUNT, EVAL,
//! SCRIPT LOAD, FUNCTION LOAD, an EXEC of writes, a write queued in MULTI) and lets
//! reads through; ALL holds everything, CLIENT UNPAUSE included; a later pause keeps
//! the later end and the stricter mode; expired keys read as missing but are not
//! removed while paused.

mod support;

use std::time::{Duration, Instant};

use support::{strata, Client, Proc, Reply};

/// A reply within `d`, or `None` if the request is held.
fn within(c: &mut Client, d: Duration) -> Option<Reply> {
    c.set_timeout(d);
    let r = c.try_read().ok();
    c.set_timeout(Duration::from_secs(30));
    r
}

const HELD: Duration = Duration::from_millis(300);

/// One run of the scenarios; the transcript of what each client got, and when.
fn scenarios(p: &Proc) -> Vec<String> {
    let mut log = Vec::new();
    let mut a = p.client();
    a.cmd(&["FLUSHALL"]);
    a.cmd(&["PFADD", "h", "x"]);
    a.cmd(&["SET", "e", "1", "PX", "100"]);
    for bad in [
        &["CLIENT", "PAUSE"][..],
        &["CLIENT", "PAUSE", "x"],
        &["CLIENT", "PAUSE", "-1"],
        &["CLIENT", "PAUSE", "x", "nope"],
        &["CLIENT", "PAUSE", "10", "nope"],
        &["CLIENT", "PAUSE", "10", "write", "x"],
        &["CLIENT", "PAUSE", "9223372036854775807"],
        &["CLIENT", "UNPAUSE", "x"],
        &["CLIENT", "PAUSE", "0"],
    ] {
        log.push(format!("{bad:?} -> {:?}", a.cmd(bad)));
    }
    // WRITE: reads pass, writes and may-replicate commands wait.
    log.push(format!(
        "pause write: {:?}",
        a.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"])
    ));
    let mut held: Vec<(String, Client)> = Vec::new();
    let mut ask = |log: &mut Vec<String>, what: &str, reqs: &[&[&str]]| {
        let mut c = p.client();
        for r in &reqs[..reqs.len() - 1] {
            log.push(format!("{what} {r:?} -> {:?}", c.cmd(r)));
        }
        let last = reqs[reqs.len() - 1];
        c.send(&last.iter().map(|x| x.as_bytes()).collect::<Vec<_>>());
        match within(&mut c, HELD) {
            Some(r) => log.push(format!("{what} {last:?} -> {r:?}")),
            None => {
                log.push(format!("{what} {last:?} held"));
                held.push((what.to_string(), c));
            }
        }
    };
    ask(&mut log, "get", &[&["GET", "k"]]);
    ask(&mut log, "set", &[&["SET", "k", "v"]]);
    ask(&mut log, "publish", &[&["PUBLISH", "ch", "m"]]);
    ask(&mut log, "pfcount", &[&["PFCOUNT", "h"]]);
    ask(&mut log, "eval", &[&["EVAL", "return 1", "0"]]);
    ask(
        &mut log,
        "eval_ro",
        &[&["EVAL_RO", "return redis.call('get','k')", "0"]],
    );
    ask(
        &mut log,
        "eval_ro pfcount",
        &[&["EVAL_RO", "return redis.pcall('pfcount','h')", "0"]],
    );
    ask(&mut log, "script load", &[&["SCRIPT", "LOAD", "return 2"]]);
    ask(
        &mut log,
        "function load",
        &[&[
            "FUNCTION",
            "LOAD",
            "#!lua name=lib\nredis.register_function('f', function() return 1 end)",
        ]],
    );
    ask(
        &mut log,
        "multi read",
        &[&["MULTI"], &["GET", "k"], &["EXEC"]],
    );
    ask(
        &mut log,
        "multi write",
        &[&["MULTI"], &["GET", "k"], &["SET", "k", "2"]],
    );
    ask(&mut log, "ping", &[&["PING"]]);
    // Expired keys read as missing and stay counted.
    std::thread::sleep(Duration::from_millis(150));
    log.push(format!("dbsize {:?}", a.cmd(&["DBSIZE"])));
    log.push(format!("get e {:?}", a.cmd(&["GET", "e"])));
    log.push(format!("exists e {:?}", a.cmd(&["EXISTS", "e"])));
    log.push(format!("keys {:?}", a.cmd(&["KEYS", "*"])));
    log.push(format!("dbsize {:?}", a.cmd(&["DBSIZE"])));
    // A shorter pause does not shorten it.
    log.push(format!(
        "pause 10: {:?}",
        a.cmd(&["CLIENT", "PAUSE", "10", "WRITE"])
    ));
    std::thread::sleep(Duration::from_millis(50));
    ask(&mut log, "set after short pause", &[&["SET", "k2", "v"]]);
    log.push(format!("unpause {:?}", a.cmd(&["CLIENT", "UNPAUSE"])));
    for (what, mut c) in held.drain(..) {
        let r = within(&mut c, Duration::from_secs(5));
        log.push(format!("{what} released -> {r:?}"));
        if what == "multi write" {
            log.push(format!("  exec -> {:?}", c.cmd(&["EXEC"])));
        }
    }
    log.push(format!("get e after {:?}", a.cmd(&["GET", "e"])));
    log.push(format!("dbsize after {:?}", a.cmd(&["DBSIZE"])));
    log.push(format!("get k {:?}", a.cmd(&["GET", "k"])));
    // A pause inside a transaction: the rest of it runs.
    a.cmd(&["MULTI"]);
    a.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]);
    a.cmd(&["SET", "k", "in-exec"]);
    log.push(format!("exec with pause {:?}", a.cmd(&["EXEC"])));
    log.push(format!("unpause {:?}", a.cmd(&["CLIENT", "UNPAUSE"])));
    // ALL for 300 ms, then WRITE for 600 ms: ALL (the stricter) lasts 600 ms, and holds
    // reads and CLIENT UNPAUSE too.
    a.cmd(&["MULTI"]);
    a.cmd(&["CLIENT", "PAUSE", "300", "ALL"]);
    a.cmd(&["CLIENT", "PAUSE", "600", "WRITE"]);
    let t0 = Instant::now();
    log.push(format!("exec pauses {:?}", a.cmd(&["EXEC"])));
    let mut b = p.client();
    b.send(&[b"GET", b"k"]);
    a.send(&[b"CLIENT", b"UNPAUSE"]);
    let got = within(&mut b, Duration::from_secs(5));
    let waited = t0.elapsed();
    log.push(format!(
        "get under all -> {got:?}, held past 500 ms: {}",
        waited >= Duration::from_millis(500)
    ));
    log.push(format!("unpause under all -> {:?}", a.read()));
    log
}

#[test]
fn client_pause_holds_and_releases_as_redis_does() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let want = scenarios(&redis);
    let got = scenarios(&ours);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "step {i}\nours:  {got:#?}\nredis: {want:#?}");
    }
    assert_eq!(got.len(), want.len());
}
