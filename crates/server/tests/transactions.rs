//! Transactions against a real redis-server 7.0.15: seeded random MULTI/EXEC/DISCARD
//! and WATCH sequences from two clients per server (one transacting, one writing in
//! between) give identical replies; WATCH and expiry; EXEC's isolation from a reader
//! on another event loop.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{seeds, strata, Client, Proc, Reply, Rng};

fn pick<'a>(r: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[r.index(xs.len())]
}

/// One random data command over a few keys of every type (WRONGTYPE included).
fn data_command(r: &mut Rng) -> Vec<String> {
    let k = pick(r, &["a", "b", "c", "s", "h", "l", "z"]).to_string();
    let v = pick(r, &["1", "2", "x", "", "10"]).to_string();
    let m = pick(r, &["m1", "m2", "m3"]).to_string();
    let s = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match r.below(30) {
        0..=2 => s(&["SET", &k, &v]),
        3 => s(&["SET", &k, &v, "NX"]),
        4 => s(&["SET", &k, &v, "XX"]),
        5..=6 => s(&["GET", &k]),
        7 => s(&["INCR", &k]),
        8 => s(&["APPEND", &k, &v]),
        9 => s(&["DEL", &k]),
        10 => s(&["SADD", &k, &m]),
        11 => s(&["SREM", &k, &m]),
        12 => s(&["HSET", &k, &m, &v]),
        13 => s(&["HDEL", &k, &m]),
        14 => s(&["RPUSH", &k, &v]),
        15 => s(&["LPOP", &k]),
        16 => s(&["ZADD", &k, pick(r, &["1", "2"]), &m]),
        17 => s(&["ZINCRBY", &k, pick(r, &["0", "1"]), &m]),
        18 => s(&["ZREM", &k, &m]),
        19 => s(&["EXPIRE", &k, "1000"]),
        20 => s(&["PERSIST", &k]),
        21 => s(&["EXISTS", &k]),
        22 => s(&["RENAME", &k, pick(r, &["a", "b", "s"])]),
        23 => s(&["TYPE", &k]),
        24 => s(&["MSET", &k, &v, "b", &v]),
        25 => s(&["SMOVE", "s", pick(r, &["s", "t"]), &m]),
        26 => s(&["GETEX", &k]),
        27 => s(&["LREM", &k, "0", &v]),
        28 => s(&["SADD", &k, "m1", "m2"]),
        _ => s(&["HINCRBY", &k, &m, pick(r, &["0", "1"])]),
    }
}

/// A command for the writer between the transactor's steps: data, or now and then a
/// database-wide one.
fn writer_command(r: &mut Rng) -> Vec<String> {
    let s = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match r.below(40) {
        0 => s(&["FLUSHDB"]),
        1 => s(&["SWAPDB", "0", "1"]),
        _ => data_command(r),
    }
}

/// A command queued inside MULTI: data, errors that abort (unknown command, arity),
/// commands run at once (nested MULTI, WATCH), SELECT, a blocking pop.
fn queued_command(r: &mut Rng) -> Vec<String> {
    let s = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match r.below(40) {
        0 => s(&["NOSUCHCMD", "x"]),
        1 => s(&["GET"]),
        2 => s(&["MULTI"]),
        3 => s(&["WATCH", "a"]),
        4 => s(&["SELECT", pick(r, &["0", "1"])]),
        5 => s(&["BLPOP", "l", "1"]),
        6 => s(&["SHUTDOWN"]),
        7 => s(&["PING"]),
        _ => data_command(r),
    }
}

fn run(seed: u64, steps: usize, redis: &Proc, ours: &Proc) {
    let mut r = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    // [transactor, writer] for each server.
    let mut a = [redis.client(), redis.client()];
    let mut b = [ours.client(), ours.client()];
    a[0].cmd(&["FLUSHALL"]);
    b[0].cmd(&["FLUSHALL"]);
    let mut step = 0;
    let mut trace: Vec<String> = Vec::new();
    let mut both = |who: usize, cmd: Vec<String>, trace: &mut Vec<String>, step: usize| {
        let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        let x = a[who].call(&args);
        let y = b[who].call(&args);
        trace.push(format!("{} {cmd:?} -> {x:?}", ["T", "W"][who]));
        if x != y {
            let recent = trace[trace.len().saturating_sub(30)..].join("\n");
            panic!(
                "seed {seed} step {step}: {cmd:?}\n redis:  {x:?}\n strata: {y:?}\nrecent:\n{recent}"
            );
        }
    };
    while step < steps {
        step += 1;
        match r.below(6) {
            0 => {
                let n = 1 + r.below(3) as usize;
                let mut c = vec!["WATCH".to_string()];
                for _ in 0..n {
                    c.push(pick(&mut r, &["a", "b", "c", "s", "h", "l", "z", "nokey"]).into());
                }
                both(0, c, &mut trace, step);
            }
            1 => both(1, writer_command(&mut r), &mut trace, step),
            2 => both(0, data_command(&mut r), &mut trace, step),
            3 if r.below(4) == 0 => both(0, vec!["UNWATCH".into()], &mut trace, step),
            _ => {
                both(0, vec!["MULTI".into()], &mut trace, step);
                for _ in 0..r.below(6) {
                    both(0, queued_command(&mut r), &mut trace, step);
                    if r.below(4) == 0 {
                        both(1, writer_command(&mut r), &mut trace, step);
                    }
                }
                let end = if r.below(8) == 0 { "DISCARD" } else { "EXEC" };
                both(0, vec![end.into()], &mut trace, step);
                // SELECT inside the transaction may have moved the transactor.
                both(0, vec!["SELECT".into(), "0".into()], &mut trace, step);
            }
        }
    }
}

#[test]
fn random_transactions_match_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    for seed in seeds(&(1u64..=25).collect::<Vec<_>>()) {
        run(seed, 300, &redis, &ours);
    }
}

#[test]
fn watched_keys_and_expiry_match_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    // (setup by the transactor, sleep ms, the writer's commands, whether the writer
    // acts after the sleep)
    let cases: &[(&[&str], u64, &[&str])] = &[
        // Live when watched, expired by EXEC: EXEC fails.
        (&["SET e 1 PX 100", "WATCH e"], 250, &[]),
        // Live when watched, deleted by expiry on another client's read: fails.
        (&["SET e 1 PX 100", "WATCH e"], 250, &["GET e"]),
        // Expired before WATCH, then deleted by a read: nothing changed, EXEC runs.
        (&["SET e 1 PX 50", "SLEEP", "WATCH e"], 0, &["GET e"]),
        // Expired before WATCH, then set again: fails.
        (&["SET e 1 PX 50", "SLEEP", "WATCH e"], 0, &["SET e 2"]),
        // Expired before WATCH, then FLUSHDB: nothing changed.
        (&["SET e 1 PX 50", "SLEEP", "WATCH e"], 0, &["FLUSHDB"]),
    ];
    for (i, (setup, sleep_ms, writes)) in cases.iter().enumerate() {
        let mut replies = Vec::new();
        for p in [&redis, &ours] {
            let mut t = p.client();
            let mut w = p.client();
            t.cmd(&["FLUSHALL"]);
            let mut got = Vec::new();
            for c in *setup {
                if *c == "SLEEP" {
                    std::thread::sleep(Duration::from_millis(150));
                    continue;
                }
                got.push(t.cmd(&c.split(' ').collect::<Vec<_>>()));
            }
            std::thread::sleep(Duration::from_millis(*sleep_ms));
            for c in *writes {
                got.push(w.cmd(&c.split(' ').collect::<Vec<_>>()));
            }
            got.push(t.cmd(&["MULTI"]));
            got.push(t.cmd(&["PING"]));
            got.push(t.cmd(&["EXEC"]));
            replies.push(got);
        }
        assert_eq!(replies[0], replies[1], "case {i}: {setup:?} {writes:?}");
    }
}

/// A transaction's writes are seen all together or not at all by a client of another
/// event loop, even when a read inside it applies the first half to the engine.
#[test]
fn exec_is_isolated_from_readers_on_other_loops() {
    let s = strata(&["--io-threads", "2"]);
    let mut w = s.client();
    // Connections are dealt to the loops in turn: the next one is on the other loop.
    let port = s.port;
    w.cmd(&["MSET", "a", "0", "b", "0"]);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut r = Client::connect(port).unwrap();
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let v = r.cmd(&["MGET", "a", "b"]).array();
                assert_eq!(
                    v[0], v[1],
                    "a transaction seen half done after {reads} reads"
                );
                reads += 1;
            }
            reads
        })
    };
    let t0 = Instant::now();
    let mut n = 0;
    while t0.elapsed() < Duration::from_secs(2) {
        w.send(&[b"MULTI"]);
        w.send(&[b"INCR", b"a"]);
        // A read between the writes: it applies the pending INCR to the engine.
        w.send(&[b"GET", b"other"]);
        w.send(&[b"INCR", b"b"]);
        w.send(&[b"EXEC"]);
        for _ in 0..4 {
            w.read();
        }
        let r = w.read().array();
        assert_eq!(r.len(), 3);
        n += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(n > 100 && reads > 100, "{n} transactions, {reads} reads");
    assert_eq!(
        w.cmd(&["MGET", "a", "b"]).array(),
        vec![Reply::Bulk(Some(n.to_string().into_bytes())); 2]
    );
}
