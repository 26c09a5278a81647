//! INFO commandstats, errorstats and the error totals against a real `redis-server`
//! 7.0.15: after the same requests (plain and container commands, arity errors,
//! unknown commands and subcommands, WRONGTYPE, transactions run, aborted and
//! discarded, a script whose command fails), both count the same calls, rejected and
//! failed calls per command and the same error replies by code. Times are compared as
//! present, not by value.

mod support;

use support::{strata, Client, Proc, Reply};

const REQUESTS: &[&[&str]] = &[
    &["SET", "a", "1"],
    &["GET", "a"],
    &["GET"],
    &["LPUSH", "a", "x"],
    &["CLIENT", "NOSUCH"],
    &["CLIENT", "ID"],
    &["CLIENT", "LIST", "x", "y"],
    &["NOSUCHCMD", "x"],
    &["MULTI"],
    &["SET", "b", "2"],
    &["INCR", "a"],
    &["LPUSH", "a", "y"],
    &["EXEC"],
    &["MULTI"],
    &["GET"],
    &["EXEC"],
    &["MULTI"],
    &["WATCH", "a"],
    &["DISCARD"],
    &["HSET", "h", "f", "v"],
    &["HGET", "h", "f"],
    &["INCR", "h"],
    &["ZADD", "z", "x", "m"],
    &["EVAL", "return redis.call('incr','h')", "0"],
    &["OBJECT", "ENCODING", "a"],
    &["CONFIG", "GET", "maxclients"],
    &["PING"],
    &["ECHO", "x"],
];

/// The lines of an INFO section, times masked, sorted (Redis lists commands in its
/// hash table's order).
fn section(c: &mut Client, name: &str) -> Vec<String> {
    let Reply::Bulk(Some(text)) = c.cmd(&["INFO", name]) else {
        panic!("INFO {name}");
    };
    let mut lines: Vec<String> = String::from_utf8_lossy(&text)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| match (l.find("usec="), l.find(",rejected")) {
            (Some(a), Some(b)) => format!("{}usec=*{}", &l[..a], &l[b..]),
            _ => l.to_string(),
        })
        .collect();
    lines.sort();
    lines
}

fn run(p: &Proc) -> Vec<Vec<String>> {
    let mut c = p.client();
    c.cmd(&["CONFIG", "RESETSTAT"]);
    for r in REQUESTS {
        c.cmd(r);
    }
    let stats: Vec<String> = section(&mut c, "stats")
        .into_iter()
        .filter(|l| l.contains("error_replies"))
        .collect();
    vec![
        section(&mut c, "commandstats"),
        section(&mut c, "errorstats"),
        stats,
    ]
}

#[test]
fn command_and_error_stats_count_as_redis_counts() {
    let (redis, ours) = (Proc::start(&[]), strata(&[]));
    let (want, got) = (run(&redis), run(&ours));
    assert_eq!(got, want);
    // The default INFO leaves commandstats out and has errorstats; ALL has both.
    let mut c = ours.client();
    let Reply::Bulk(Some(default)) = c.cmd(&["INFO"]) else {
        panic!("INFO")
    };
    let default = String::from_utf8_lossy(&default).into_owned();
    assert!(default.contains("# Errorstats") && !default.contains("# Commandstats"));
    let Reply::Bulk(Some(all)) = c.cmd(&["INFO", "ALL"]) else {
        panic!("INFO ALL")
    };
    assert!(String::from_utf8_lossy(&all).contains("cmdstat_info:calls="));
}
