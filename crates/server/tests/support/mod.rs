//! Support for the server's scenario tests: the real `strata-server` binary.
#![allow(dead_code)]

pub use strata_testkit::*;

/// The `strata-server` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_strata-server");

/// Start strata-server on a free port with a fresh data directory.
pub fn strata(extra: &[&str]) -> Proc {
    Proc::strata(BIN, None, extra)
}

/// HSET `key` with fields `field:000000`.. of the values `value(i)`, 1,000 per command.
pub fn fill_hash(c: &mut Client, key: &str, fields: usize, value: impl Fn(usize) -> String) {
    for chunk in (0..fields).step_by(1000) {
        let mut args = vec!["HSET".to_string(), key.to_string()];
        for i in chunk..(chunk + 1000).min(fields) {
            args.push(format!("field:{i:06}"));
            args.push(value(i));
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(c.cmd(&a), Reply::Int((args.len() as i64 - 2) / 2));
    }
}

/// Send raw bytes and read one reply's exact bytes.
pub fn raw(c: &mut Client, req: &[u8]) -> Vec<u8> {
    c.send_raw(req).unwrap();
    c.read_raw().unwrap()
}

/// Send each case to Redis (`redis`) and to Strata (`ours`) in turn: the reply bytes
/// must be equal (`label` names the run in a failure).
pub fn same_replies(redis: &mut Client, ours: &mut Client, cases: &[&[&str]], label: &str) {
    for case in cases {
        let req = encode(&case.iter().map(|s| s.as_bytes()).collect::<Vec<_>>());
        let (x, y) = (raw(redis, &req), raw(ours, &req));
        assert_eq!(
            String::from_utf8_lossy(&y),
            String::from_utf8_lossy(&x),
            "{label} {case:?}"
        );
    }
}

/// Raise this process's open-file limit to its hard limit (children inherit it): the
/// tests that open 1,000+ connections need more than a default soft limit of 1024.
pub fn raise_nofile_limit() {
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        let mut l: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max.min(65536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

/// The seeds a differential test runs: `fixed`, or with `DIFF_SEEDS=N` (exploring
/// locally, not in CI) N others, from `DIFF_SEED_FROM` (10000 unless given).
pub fn seeds(fixed: &[u64]) -> Vec<u64> {
    match std::env::var("DIFF_SEEDS")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
    {
        Some(n) => {
            let from = std::env::var("DIFF_SEED_FROM")
                .ok()
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(10_000);
            (from..from + n).collect()
        }
        None => fixed.to_vec(),
    }
}
