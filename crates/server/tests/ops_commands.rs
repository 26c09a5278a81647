//! MODULE, LATENCY, ACL, BGREWRITEAOF and ASKING against a real `redis-server` 7.0.15
//! with its default configuration (no modules, latency monitor off, only the `default`
//! user): the same replies, byte for byte, in RESP2 and RESP3, with and without
//! `requirepass`; ACL CAT of a category names the commands Redis puts there (those
//! Strata serves); ACL GENPASS gives hex of the asked length.

mod support;

use std::collections::BTreeSet;

use support::{encode, raw, same_replies, strata, Proc, Reply};

const CASES: &[&[&str]] = &[
    &["MODULE", "LIST"],
    &["MODULE", "HELP"],
    &["MODULE", "LOAD", "/nonexistent.so"],
    &["MODULE", "LOADEX", "/x.so"],
    &["MODULE", "UNLOAD", "foo"],
    &["MODULE", "nosuch"],
    &["MODULE"],
    &["ASKING"],
    &["LATENCY", "LATEST"],
    &["LATENCY", "HISTORY", "command"],
    &["LATENCY", "RESET"],
    &["LATENCY", "RESET", "a", "b"],
    &["LATENCY", "GRAPH", "command"],
    &["LATENCY", "DOCTOR"],
    &["LATENCY", "HELP"],
    &["LATENCY", "GRAPH"],
    &["ACL", "WHOAMI"],
    &["ACL", "USERS"],
    &["ACL", "LIST"],
    &["ACL", "LOG"],
    &["ACL", "LOG", "RESET"],
    &["ACL", "LOG", "5"],
    &["ACL", "LOG", "x"],
    &["ACL", "GETUSER", "default"],
    &["ACL", "GETUSER", "nobody"],
    &["ACL", "CAT"],
    &["ACL", "CAT", "nosuch"],
    &["ACL", "DELUSER", "default"],
    &["ACL", "DELUSER", "nobody", "other"],
    &["ACL", "GENPASS", "0"],
    &["ACL", "GENPASS", "4097"],
    &["ACL", "GENPASS", "x"],
    &["ACL", "DRYRUN", "default", "get", "x"],
    &["ACL", "DRYRUN", "default", "get"],
    &["ACL", "DRYRUN", "default", "nosuch"],
    &["ACL", "DRYRUN", "nobody", "get", "x"],
    &["ACL", "SAVE"],
    &["ACL", "LOAD"],
    &["ACL", "HELP"],
    &["ACL", "nosuch"],
];

fn compare(redis: &Proc, ours: &Proc, auth: Option<&str>) {
    for proto in ["2", "3"] {
        let (mut a, mut b) = (redis.client(), ours.client());
        for c in [&mut a, &mut b] {
            match auth {
                Some(p) => c.cmd(&["HELLO", proto, "AUTH", "default", p]),
                None => c.cmd(&["HELLO", proto]),
            };
        }
        same_replies(&mut a, &mut b, CASES, &format!("RESP{proto}"));
    }
}

#[test]
fn ops_commands_answer_as_a_default_redis() {
    let (redis, ours) = (Proc::start(&[]), strata(&[]));
    // BGREWRITEAOF starts Redis's rewrite and Strata's full compaction; a second one
    // at once finds it running (on both, as long as the first has not finished).
    let (mut a, mut b) = (redis.client(), ours.client());
    let req = encode(&[b"BGREWRITEAOF"]);
    assert_eq!(raw(&mut b, &req), raw(&mut a, &req));
    compare(&redis, &ours, None);
    let (redis, ours) = (
        Proc::start(&["--requirepass", "sekret"]),
        strata(&["--requirepass", "sekret"]),
    );
    compare(&redis, &ours, Some("sekret"));
}

fn names(r: Reply) -> BTreeSet<Vec<u8>> {
    r.array().iter().map(Reply::bulk).collect()
}

#[test]
fn acl_cat_and_genpass() {
    let (redis, ours) = (Proc::start(&[]), strata(&[]));
    let (mut a, mut b) = (redis.client(), ours.client());
    let served = names(b.cmd(&["COMMAND", "LIST"]));
    for cat in [
        "keyspace",
        "read",
        "write",
        "admin",
        "Fast",
        "scripting",
        "stream",
    ] {
        let theirs = names(a.cmd(&["ACL", "CAT", cat]));
        let ours = names(b.cmd(&["ACL", "CAT", cat]));
        let want: BTreeSet<Vec<u8>> = theirs.intersection(&served).cloned().collect();
        assert_eq!(ours, want, "@{cat}");
        assert!(!ours.is_empty(), "@{cat}");
    }
    for (bits, len) in [
        (None, 64),
        (Some("1"), 1),
        (Some("5"), 2),
        (Some("4096"), 1024),
    ] {
        let mut args = vec!["ACL", "GENPASS"];
        args.extend(bits);
        let p = b.cmd(&args).bulk();
        assert_eq!(p.len(), len, "{bits:?}");
        assert!(p.iter().all(u8::is_ascii_hexdigit));
        assert_eq!(a.cmd(&args).bulk().len(), len, "Redis, {bits:?}");
    }
}
