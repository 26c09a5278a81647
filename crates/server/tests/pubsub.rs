//! Pub/sub against a real redis-server 7.0.15: seeded random (un)subscriptions of a
//! RESP2 and a RESP3 subscriber, publications from a third client, and what each
//! subscriber receives, frame by frame; the RESP2 subscribed context; PUBSUB.

mod support;

use support::{seeds, strata, Client, Proc, Reply, Rng};

fn pick<'a>(r: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[r.index(xs.len())]
}

const CHANNELS: &[&str] = &["ch1", "ch2", "news.a", "news.b", "x"];
const PATTERNS: &[&str] = &["news.*", "ch?", "*", "[cx]*", "none.*"];

/// Everything a subscriber has received, up to the reply of a PING sent now.
fn drain(c: &mut Client) -> Vec<Reply> {
    c.send(&[b"PING"]);
    let mut got = Vec::new();
    loop {
        let r = c.read();
        let pong = match &r {
            Reply::Status(s) => s == "PONG",
            Reply::Array(Some(v)) => v.first() == Some(&Reply::Bulk(Some(b"pong".to_vec()))),
            _ => false,
        };
        if pong {
            return got;
        }
        got.push(r);
    }
}

/// The replies to an (un)subscribe with several names: one frame per name (or one for
/// an UNSUBSCRIBE of nothing).
fn frames(c: &mut Client, args: &[String]) -> Vec<Reply> {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send(&a);
    let n = args.len().saturating_sub(1).max(1);
    let mut v: Vec<Reply> = (0..n).map(|_| c.read()).collect();
    if args.len() == 1 {
        // All of them, in an order Redis leaves to its hash table (the rest of the
        // frames come before the PING's reply): compared as the names, sorted, and
        // the counts, sorted.
        v.extend(drain(c));
        let mut names: Vec<Reply> = Vec::new();
        let mut counts: Vec<Reply> = Vec::new();
        for f in v {
            let mut parts = match f {
                Reply::Array(Some(p)) | Reply::Push(p) => p,
                other => return vec![other],
            };
            counts.push(parts.pop().unwrap());
            names.push(Reply::Array(Some(parts)));
        }
        names.sort_by_key(|x| format!("{x:?}"));
        counts.sort_by_key(|x| format!("{x:?}"));
        names.extend(counts);
        return names;
    }
    v
}

fn run(seed: u64, steps: usize, redis: &Proc, ours: &Proc) {
    let mut r = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    // [RESP2 subscriber, RESP3 subscriber, publisher] on each server.
    let mut a = [redis.client(), redis.client(), redis.client()];
    let mut b = [ours.client(), ours.client(), ours.client()];
    for c in [&mut a[1], &mut b[1]] {
        c.cmd(&["HELLO", "3"]);
    }
    let mut trace = Vec::new();
    for step in 0..steps {
        let who = r.below(2) as usize;
        let cmd: Vec<String> = match r.below(10) {
            0..=1 => {
                let mut c = vec![pick(&mut r, &["SUBSCRIBE", "SSUBSCRIBE"]).to_string()];
                for _ in 0..1 + r.below(2) {
                    c.push(pick(&mut r, CHANNELS).into());
                }
                c
            }
            2 => vec!["PSUBSCRIBE".into(), pick(&mut r, PATTERNS).into()],
            3 => {
                let mut c = vec![pick(&mut r, &["UNSUBSCRIBE", "SUNSUBSCRIBE"]).to_string()];
                if r.below(3) > 0 {
                    c.push(pick(&mut r, CHANNELS).into());
                }
                c
            }
            4 => {
                let mut c = vec!["PUNSUBSCRIBE".to_string()];
                if r.below(3) > 0 {
                    c.push(pick(&mut r, PATTERNS).into());
                }
                c
            }
            // A data command in the subscribed context (refused in RESP2 only).
            5 => vec!["GET".into(), "k".into()],
            _ => {
                let p = vec![
                    pick(&mut r, &["PUBLISH", "PUBLISH", "SPUBLISH"]).to_string(),
                    pick(&mut r, CHANNELS).into(),
                    format!("m{step}"),
                ];
                let args: Vec<&[u8]> = p.iter().map(|s| s.as_bytes()).collect();
                let (x, y) = (a[2].call(&args), b[2].call(&args));
                trace.push(format!("P {p:?} -> {x:?}"));
                assert_eq!(x, y, "seed {seed} step {step}: {p:?}\n{}", trace.join("\n"));
                for s in 0..2 {
                    // Pattern subscriptions are served in an order Redis leaves to its
                    // hash table: the frames are compared sorted.
                    let sorted = |mut v: Vec<Reply>| {
                        v.sort_by_key(|x| format!("{x:?}"));
                        v
                    };
                    let (x, y) = (sorted(drain(&mut a[s])), sorted(drain(&mut b[s])));
                    assert_eq!(
                        x,
                        y,
                        "seed {seed} step {step}: subscriber {s} after {p:?}\n{}",
                        trace.join("\n")
                    );
                }
                continue;
            }
        };
        let (x, y) = if cmd[0] == "GET" {
            let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
            (vec![a[who].call(&args)], vec![b[who].call(&args)])
        } else {
            (frames(&mut a[who], &cmd), frames(&mut b[who], &cmd))
        };
        trace.push(format!("{who} {cmd:?} -> {x:?}"));
        assert_eq!(
            x,
            y,
            "seed {seed} step {step}: {cmd:?}\n{}",
            trace.join("\n")
        );
        let q = ["PUBSUB", "NUMSUB", "ch1", "news.a", "x"];
        assert_eq!(
            a[2].cmd(&q),
            b[2].cmd(&q),
            "seed {seed} step {step}: NUMSUB"
        );
        assert_eq!(
            a[2].cmd(&["PUBSUB", "NUMPAT"]),
            b[2].cmd(&["PUBSUB", "NUMPAT"]),
            "seed {seed} step {step}: NUMPAT"
        );
        let sorted = |r: Reply| {
            let mut v = r.array();
            v.sort_by_key(|x| format!("{x:?}"));
            v
        };
        for q in [
            &["PUBSUB", "CHANNELS"][..],
            &["PUBSUB", "CHANNELS", "news.*"],
            &["PUBSUB", "SHARDCHANNELS"],
        ] {
            assert_eq!(
                sorted(a[2].cmd(q)),
                sorted(b[2].cmd(q)),
                "seed {seed} step {step}: {q:?}"
            );
        }
    }
}

#[test]
fn random_subscriptions_match_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    for seed in seeds(&(1u64..=20).collect::<Vec<_>>()) {
        run(seed, 120, &redis, &ours);
    }
}

#[test]
fn subscribed_context_and_reset_match_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let script: &[&[&str]] = &[
        &["SUBSCRIBE", "a"],
        &["PING", "hello"],
        &["SET", "k", "v"],
        &["MULTI"],
        &["PING", "a", "b"],
        &["UNSUBSCRIBE"],
        &["SET", "k", "v"],
        &["GET", "k"],
        &["PSUBSCRIBE", "p*"],
        &["RESET"],
        &["GET", "k"],
        &["UNSUBSCRIBE"],
        &["PUNSUBSCRIBE"],
        &["SUNSUBSCRIBE"],
        &["PUBSUB", "NUMPAT"],
        &["PUBSUB", "NOSUCH"],
        &["PUBLISH", "a"],
    ];
    let mut x = redis.client();
    let mut y = ours.client();
    for cmd in script {
        let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        assert_eq!(x.call(&args), y.call(&args), "{cmd:?}");
    }
}

/// A RESP3 client publishing to its own channel gets the message before the count.
#[test]
fn a_resp3_client_publishing_to_itself_matches_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let mut got = Vec::new();
    for p in [&redis, &ours] {
        let mut c = p.client();
        c.cmd(&["HELLO", "3"]);
        c.cmd(&["SUBSCRIBE", "me"]);
        c.send(&[b"PUBLISH", b"me", b"hi"]);
        got.push((c.read(), c.read()));
    }
    assert_eq!(got[0], got[1]);
}

/// A subscriber that never reads is closed once 32 MiB of messages wait for it, and
/// the publisher goes on.
#[test]
fn a_subscriber_that_never_reads_is_dropped_at_the_output_limit() {
    let s = strata(&[]);
    let mut sub = s.client();
    sub.cmd(&["SUBSCRIBE", "flood"]);
    let mut p = s.client();
    let msg = vec![b'x'; 64 * 1024];
    let mut delivered = 0;
    for _ in 0..2000 {
        match p.call(&[b"PUBLISH", b"flood", &msg]) {
            Reply::Int(n) => delivered += n,
            other => panic!("{other:?}"),
        }
        if delivered > 0 && p.cmd(&["PUBSUB", "NUMSUB", "flood"]).array()[1] == Reply::Int(0) {
            break;
        }
    }
    assert_eq!(
        p.cmd(&["PUBSUB", "NUMSUB", "flood"]).array()[1],
        Reply::Int(0),
        "still subscribed after {delivered} messages of 64 KiB"
    );
    assert!(delivered < 2000, "{delivered}");
    assert_eq!(p.cmd(&["PING"]), Reply::Status("PONG".into()));
}
