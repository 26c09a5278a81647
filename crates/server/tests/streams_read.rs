//! Reading streams against a real `redis-server` 7.0.15: every stream payload of the
//! shared corpus (same fields, XDEL'd entries, consumer groups with pending entries and
//! consumers, NOACK, XCLAIM, empty streams, several nodes, XSETID, binary values) is
//! restored into both servers, then XLEN, XRANGE, XREVRANGE (bounds, exclusive bounds,
//! COUNT, bad IDs), XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS and
//! XPENDING (summary and ranges) give the same replies in RESP2 and RESP3. Idle times
//! (XINFO CONSUMERS, XPENDING ranges) are measured against each server's clock and are
//! compared as present, not by value.

mod support;

use support::corpus::{hex, load};
use support::{strata, Client, Proc, Reply};

/// Zero the idle times, which depend on when each server answered.
fn mask_idle(r: Reply, cmd: &str) -> Reply {
    match r {
        Reply::Array(Some(items)) => {
            let mut out = Vec::with_capacity(items.len());
            let mut zero_next = false;
            let is_nack =
                cmd == "XPENDING" && items.len() == 4 && matches!(items[2], Reply::Int(_));
            for (i, it) in items.into_iter().enumerate() {
                let it = if zero_next || (is_nack && i == 2) {
                    Reply::Int(0)
                } else {
                    mask_idle(it, cmd)
                };
                zero_next = cmd == "XINFO" && matches!(&it, Reply::Bulk(Some(b)) if b == b"idle");
                out.push(it);
            }
            Reply::Array(Some(out))
        }
        Reply::Map(pairs) => Reply::Map(
            pairs
                .into_iter()
                .map(|(k, v)| {
                    let idle = matches!(&k, Reply::Bulk(Some(b)) if b == b"idle");
                    (
                        k,
                        if idle {
                            Reply::Int(0)
                        } else {
                            mask_idle(v, cmd)
                        },
                    )
                })
                .collect(),
        ),
        other => other,
    }
}

fn requests(groups: &[String]) -> Vec<Vec<String>> {
    let mut reqs: Vec<Vec<String>> = [
        &["XLEN", "k"][..],
        &["XRANGE", "k", "-", "+"],
        &["XRANGE", "k", "-", "+", "COUNT", "2"],
        &["XRANGE", "k", "-", "+", "COUNT", "0"],
        &["XRANGE", "k", "-", "+", "COUNT", "-3"],
        &["XRANGE", "k", "-", "+", "count", "1", "COUNT", "3"],
        &["XRANGE", "k", "1", "2"],
        &["XRANGE", "k", "(1-1", "+"],
        &["XRANGE", "k", "1000", "(1100-0"],
        &["XRANGE", "k", "(-", "+"],
        &["XRANGE", "k", "-", "(+"],
        &[
            "XRANGE",
            "k",
            "(18446744073709551615-18446744073709551615",
            "+",
        ],
        &["XRANGE", "k", "-", "(0-0"],
        &["XRANGE", "k", "x", "+"],
        &["XRANGE", "k", " +1", "+"],
        &["XRANGE", "k", "1--0", "+"],
        &["XRANGE", "k", "-", "+", "COUNT"],
        &["XRANGE", "k", "-", "+", "COUNT", "x"],
        &["XRANGE", "k", "-", "+", "LIMIT", "1"],
        &["XRANGE", "missing", "-", "+"],
        &["XRANGE", "missing", "-", "+", "COUNT", "0"],
        &["XREVRANGE", "k", "+", "-"],
        &["XREVRANGE", "k", "+", "-", "COUNT", "1"],
        &["XREVRANGE", "k", "(1200", "(1000"],
        &["XREVRANGE", "k", "-", "+"],
        &["XINFO", "STREAM", "k"],
        &["XINFO", "STREAM", "k", "FULL"],
        &["XINFO", "STREAM", "k", "FULL", "COUNT", "1"],
        &["XINFO", "STREAM", "k", "FULL", "COUNT", "0"],
        &["XINFO", "STREAM", "k", "FULL", "COUNT", "-1"],
        &["XINFO", "STREAM", "k", "full", "count", "x"],
        &["XINFO", "STREAM", "k", "FULL", "x"],
        &["XINFO", "STREAM", "k", "bogus"],
        &["XINFO", "STREAM", "missing"],
        &["XINFO", "STREAM", "missing", "FULL", "x"],
        &["XINFO", "GROUPS", "k"],
        &["XINFO", "GROUPS", "missing"],
        &["XINFO", "CONSUMERS", "k", "nogroup"],
        &["XINFO", "HELP"],
        &["XINFO", "nosuch"],
        &["XPENDING", "k", "nogroup"],
        &["XPENDING", "missing", "g"],
        &["XPENDING", "k", "g", "-", "+"],
        &["XPENDING", "k", "g", "-", "+", "x"],
    ]
    .iter()
    .map(|r| r.iter().map(|s| s.to_string()).collect())
    .collect();
    for g in groups {
        for r in [
            vec!["XINFO", "CONSUMERS", "k", g],
            vec!["XPENDING", "k", g],
            vec!["XPENDING", "k", g, "-", "+", "10"],
            vec!["XPENDING", "k", g, "-", "+", "1"],
            vec!["XPENDING", "k", g, "(1-0", "+", "10"],
            vec!["XPENDING", "k", g, "-", "+", "10", "alice"],
            vec!["XPENDING", "k", g, "-", "+", "10", "nobody"],
            vec!["XPENDING", "k", g, "IDLE", "0", "-", "+", "10"],
            vec!["XPENDING", "k", g, "IDLE", "9999999999999", "-", "+", "10"],
            vec!["XPENDING", "k", g, "IDLE", "1", "-", "+"],
            vec!["XPENDING", "k", g, "IDLE", "x", "-", "+", "1"],
            vec!["XPENDING", "k", g, "-", "+", "x"],
            vec!["XPENDING", "k", g, "x", "+", "1"],
        ] {
            reqs.push(r.into_iter().map(String::from).collect());
        }
    }
    reqs
}

fn ask(c: &mut Client, req: &[String]) -> Reply {
    let args: Vec<&[u8]> = req.iter().map(|s| s.as_bytes()).collect();
    mask_idle(c.call(&args), &req[0])
}

#[test]
fn stream_reads_answer_as_redis_for_every_corpus_stream() {
    let (redis, ours) = (Proc::start(&[]), strata(&[]));
    let vectors = load("dump-vectors-redis-7.0.15.json");
    let mut streams = 0;
    for v in vectors["vectors"].as_array().unwrap() {
        if v["type"] != "stream" {
            continue;
        }
        streams += 1;
        let name = v["name"].as_str().unwrap();
        let payload = hex(&v["dump_hex"]);
        let groups: Vec<String> = v["stream_info"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect();
        for proto in ["2", "3"] {
            let (mut a, mut b) = (redis.client(), ours.client());
            for c in [&mut a, &mut b] {
                c.cmd(&["HELLO", proto]);
                c.cmd(&["DEL", "k"]);
                assert_eq!(
                    c.call(&[b"RESTORE", b"k", b"0", &payload]),
                    Reply::Status("OK".into()),
                    "{name}"
                );
            }
            for req in requests(&groups) {
                let (want, got) = (ask(&mut a, &req), ask(&mut b, &req));
                if want != got {
                    // Replies can be long (250 entries): show where they part.
                    let (w, g) = (format!("{want:?}"), format!("{got:?}"));
                    let at = w.bytes().zip(g.bytes()).take_while(|(x, y)| x == y).count();
                    let from = at.saturating_sub(200);
                    panic!(
                        "{name} RESP{proto} {req:?}: from byte {from}\nredis:  {}\nstrata: {}",
                        &w[from..(at + 200).min(w.len())],
                        &g[from..(at + 200).min(g.len())]
                    );
                }
            }
        }
    }
    assert_eq!(streams, 18);
}

#[test]
fn stream_reads_refuse_other_types_and_arity_as_redis() {
    let (redis, ours) = (Proc::start(&[]), strata(&[]));
    let (mut a, mut b) = (redis.client(), ours.client());
    for req in [
        &["SET", "s", "x"][..],
        &["XRANGE", "s", "-", "+"],
        &["XREVRANGE", "s", "+", "-"],
        &["XINFO", "STREAM", "s"],
        &["XINFO", "GROUPS", "s"],
        &["XINFO", "CONSUMERS", "s", "g"],
        &["XPENDING", "s", "g"],
        &["XLEN", "s"],
        &["XRANGE", "s", "-"],
        &["XINFO"],
        &["XINFO", "STREAM"],
        &["XINFO", "GROUPS", "s", "x"],
        &["XINFO", "CONSUMERS", "s"],
        &["XPENDING", "s"],
        &["XPENDING", "s", "g", "-"],
        &["XPENDING", "s", "g", "-", "+", "1", "c", "x", "y"],
    ] {
        let args: Vec<&[u8]> = req.iter().map(|s| s.as_bytes()).collect();
        assert_eq!(b.call(&args), a.call(&args), "{req:?}");
    }
}
