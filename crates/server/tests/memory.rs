//! MEMORY against a real `redis-server` 7.0.15: the same syntax, errors and reply types
//! (USAGE's nil for a missing key and integer otherwise, HELP's text, DOCTOR's and
//! MALLOC-STATS's bulk text, STATS's map, PURGE's OK); and MEMORY USAGE measuring what a
//! key takes in the engine: its records' bytes, with a collection's sub-records sampled.

mod support;

use support::{fill_hash, raw, strata, Client, Proc, Reply};

/// The reply's shape, and its bytes where the two servers must agree on them.
fn shape(case: &[&str], reply: Vec<u8>) -> String {
    let sub = case
        .get(1)
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&reply).into_owned();
    match (sub.as_str(), reply.first()) {
        // Integers are sizes, which differ; errors, nils and the rest must not.
        (_, Some(b':')) => ":<n>".into(),
        ("doctor" | "malloc-stats", Some(b'$' | b'=')) => "bulk text".into(),
        ("stats", Some(b'*' | b'%')) => "map".into(),
        _ => text,
    }
}

#[test]
fn memory_syntax_errors_and_reply_types_are_redis_s() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let cases: &[&[&str]] = &[
        &["SET", "s", "hello"],
        &["HSET", "h", "f", "v"],
        &["MEMORY"],
        &["MEMORY", "nosuch"],
        &["MEMORY", "USAGE"],
        &["MEMORY", "USAGE", "missing"],
        &["MEMORY", "USAGE", "s"],
        &["MEMORY", "usage", "h", "SAMPLES", "0"],
        &["MEMORY", "USAGE", "h", "samples", "3"],
        &["MEMORY", "USAGE", "s", "SAMPLES"],
        &["MEMORY", "USAGE", "s", "SAMPLES", "x"],
        &["MEMORY", "USAGE", "s", "SAMPLES", "-1"],
        &["MEMORY", "USAGE", "s", "BOGUS", "1"],
        &["MEMORY", "USAGE", "missing", "SAMPLES", "x"],
        &["MEMORY", "STATS"],
        &["MEMORY", "STATS", "x"],
        &["MEMORY", "DOCTOR"],
        &["MEMORY", "MALLOC-STATS"],
        &["MEMORY", "PURGE"],
        &["MEMORY", "PURGE", "x"],
        &["MEMORY", "HELP"],
    ];
    for proto in ["2", "3"] {
        let (mut a, mut b) = (redis.client(), ours.client());
        a.cmd(&["HELLO", proto]);
        b.cmd(&["HELLO", proto]);
        for case in cases {
            let req = support::encode(&case.iter().map(|s| s.as_bytes()).collect::<Vec<_>>());
            let (x, y) = (raw(&mut a, &req), raw(&mut b, &req));
            assert_eq!(shape(case, y), shape(case, x), "RESP{proto} {case:?}");
        }
    }
}

fn usage(c: &mut Client, key: &str, samples: Option<&str>) -> i64 {
    let mut args = vec!["MEMORY", "USAGE", key];
    if let Some(n) = samples {
        args.extend(["SAMPLES", n]);
    }
    match c.cmd(&args) {
        Reply::Int(n) => n,
        other => panic!("MEMORY USAGE {key}: {other:?}"),
    }
}

#[test]
fn memory_usage_counts_the_records_a_key_takes() {
    let ours = strata(&[]);
    let mut c = ours.client();
    c.cmd(&["SET", "short", "x"]);
    c.cmd(&["SET", "long", &"x".repeat(10_000)]);
    let (short, long) = (usage(&mut c, "short", None), usage(&mut c, "long", None));
    assert!(short > 1 && short < 100, "{short}");
    assert_eq!(
        long - short,
        9_999 - 1,
        "the value's bytes, less the shorter key's"
    );
    // An expiry adds its index record.
    c.cmd(&["SET", "ttl", "x", "EX", "100"]);
    assert!(usage(&mut c, "ttl", None) > usage(&mut c, "short", None) + 8);
    // A hash of 1,000 equal-sized fields: every sample is the average, so any sample
    // size gives the full count's bytes, each field at least its field and value.
    fill_hash(&mut c, "h", 1000, |i| format!("{i:0>10}"));
    let all = usage(&mut c, "h", Some("0"));
    let five = usage(&mut c, "h", None);
    assert!(all > 1000 * 20, "{all}");
    assert!(all < 1000 * 100, "{all}");
    assert!(
        (five - all).abs() * 20 < all,
        "five {five} against all {all}"
    );
    // A sorted set counts its score index too.
    for i in 0..100 {
        c.cmd(&["ZADD", "z", &i.to_string(), &format!("m{i:0>5}")]);
    }
    c.cmd(&["SADD", "st", "m00000"]);
    assert!(usage(&mut c, "z", Some("0")) > 2 * 100 * 6);
    assert_eq!(c.cmd(&["MEMORY", "USAGE", "nope"]), Reply::Bulk(None));
}

/// INFO names the allocator the binary links (mimalloc, with its version), as Redis
/// names its jemalloc: `mem_allocator:libc` was wrong for the server binary.
#[test]
fn info_memory_names_the_allocator() {
    let ours = strata(&[]);
    let mut c = ours.client();
    let info = String::from_utf8(c.cmd(&["INFO", "memory"]).bulk()).unwrap();
    let line = info
        .lines()
        .find(|l| l.starts_with("mem_allocator:"))
        .unwrap_or_else(|| panic!("no mem_allocator in {info}"));
    let version = line.trim_start_matches("mem_allocator:mimalloc-");
    assert_ne!(version, line, "{line}");
    assert_eq!(version.split('.').count(), 3, "{line}");
    assert!(
        version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{line}"
    );
}
