//! ROLE, WAIT, READONLY and READWRITE against a real redis-server 7.0.15: a master
//! with no replicas, byte for byte; WAIT's timeout, and a WAIT that never ends holding
//! nobody else up.

mod support;

use std::time::{Duration, Instant};

use support::{raw, strata, Proc};

#[test]
fn role_wait_and_cluster_mode_commands_match_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let cases: &[&[&str]] = &[
        &["ROLE"],
        &["WAIT", "0", "0"],
        &["WAIT", "-1", "10"],
        &["WAIT", "x", "1"],
        &["WAIT", "1", "-1"],
        &["WAIT", "1"],
        &["READONLY"],
        &["READWRITE"],
        &["MULTI"],
        &["WAIT", "1", "0"],
        &["EXEC"],
        &["HELLO", "3"],
        &["ROLE"],
        &["WAIT", "0", "0"],
    ];
    let mut a = redis.client();
    let mut b = ours.client();
    for case in cases {
        let req = support::encode(&case.iter().map(|s| s.as_bytes()).collect::<Vec<_>>());
        let (x, y) = (raw(&mut a, &req), raw(&mut b, &req));
        if case[0] == "HELLO" {
            continue; // the client ids differ
        }
        assert_eq!(
            String::from_utf8_lossy(&x),
            String::from_utf8_lossy(&y),
            "{case:?}"
        );
    }
    // With replicas asked for, WAIT answers 0 when its timeout ends.
    for p in [&redis, &ours] {
        let mut c = p.client();
        let t0 = Instant::now();
        assert_eq!(raw(&mut c, b"WAIT 1 200\r\n"), b":0\r\n".to_vec());
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }
}

#[test]
fn a_wait_without_end_holds_nobody_else_and_goes_with_its_client() {
    let s = strata(&[]);
    let waiting = |c: &mut support::Client| {
        raw(c, b"CLIENT LIST\r\n")
            .windows(8)
            .any(|w| w == b"cmd=wait")
    };
    let mut w = s.client();
    w.send(&[b"WAIT", b"1", b"0"]);
    let mut other = s.client();
    assert_eq!(raw(&mut other, b"SET k v\r\n"), b"+OK\r\n".to_vec());
    assert!(waiting(&mut other));
    // Its client gone, the waiter goes too.
    drop(w);
    let t0 = Instant::now();
    while waiting(&mut other) {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
}
