//! Requests that Redis 7.0.15's own test suite (its `tests/unit`, run against Strata
//! with `--host/--port`) found answered differently, byte-compared with a real
//! redis-server 7.0.15 in RESP2 and RESP3. Larger findings have their own files
//! (`float_arguments.rs`, `blocking_commands.rs`, `slowlog.rs`).

mod support;

use support::{same_replies, strata, Proc};

const CASES: &[&[&str]] = &[
    // BITCOUNT answers 0 for two negative bounds the wrong way round, before the unit.
    &["SET", "str", "xxxx"],
    &["BITCOUNT", "str", "-6", "-7"],
    &["BITCOUNT", "str", "-6", "-15", "BIT"],
    &["BITCOUNT", "str", "-6", "-7", "nonsense"],
    &["BITCOUNT", "str", "-7", "-6"],
    &["BITCOUNT", "str", "-7", "-6", "BIT"],
    &["BITCOUNT", "str", "5", "2"],
    &["BITPOS", "str", "1", "-6", "-7"],
    // FUNCTION RESTORE / FLUSH with extra arguments: the subcommand syntax error, with
    // the subcommand as typed.
    &["FUNCTION", "RESTORE", "a", "b", "c"],
    &["FUNCTION", "restore"],
    &["FUNCTION", "FLUSH", "SYNC", "extra"],
    &["FUNCTION", "flush", "bad"],
];

#[test]
fn suite_findings_answer_as_redis() {
    let (redis, ours) = (Proc::start(&[]), strata(&[]));
    for proto in ["2", "3"] {
        let (mut a, mut b) = (redis.client(), ours.client());
        for c in [&mut a, &mut b] {
            c.cmd(&["HELLO", proto]);
        }
        same_replies(&mut a, &mut b, CASES, &format!("RESP{proto}"));
    }
}
