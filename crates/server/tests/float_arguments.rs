//! Float arguments and INCRBYFLOAT / HINCRBYFLOAT results against a real
//! `redis-server` 7.0.15, byte for byte: Redis reads doubles with `strtod` (hex floats
//! accepted, overflow and underflow to zero refused), score ranges with `strtod` alone
//! (blanks, an empty string, out-of-range values taken), increments and blocking
//! timeouts as x87 long doubles, and prints increments with `%.17Lf`; and the count
//! ranges of SRANDMEMBER / HRANDFIELD / ZRANDMEMBER. Found by Redis's own test suite
//! (`unit/type/hash`, `unit/type/set`), run against Strata.

mod support;

use support::{same_replies, strata, Proc};

const CASES: &[&[&str]] = &[
    // INCRBYFLOAT: long double sums printed with 17 decimals.
    &["SET", "f", "0.1"],
    &["INCRBYFLOAT", "f", "0.2"],
    &["INCRBYFLOAT", "f", "0.1"],
    &["INCRBYFLOAT", "f", "-0.4"],
    &["SET", "g", "10.5"],
    &["INCRBYFLOAT", "g", "0.1"],
    &["INCRBYFLOAT", "g", "1e20"],
    &["INCRBYFLOAT", "h", "1.1e-5"],
    &["INCRBYFLOAT", "h", "3"],
    &["INCRBYFLOAT", "i", "0.3333333333333333"],
    &["INCRBYFLOAT", "i", "1"],
    &["INCRBYFLOAT", "x", "0x10"],
    &["INCRBYFLOAT", "x", "0x1p-3"],
    &["INCRBYFLOAT", "x", "-0X.8P1"],
    &["INCRBYFLOAT", "big", "1e400"],
    &["INCRBYFLOAT", "big", "-1e400"],
    &["INCRBYFLOAT", "huge", "1e4000"],
    &["INCRBYFLOAT", "tiny", "1e-4940"],
    &["INCRBYFLOAT", "neg", "-1e-30"],
    &["INCRBYFLOAT", "z", "-0.0"],
    &["INCRBYFLOAT", "z", "0e-99999"],
    &["INCRBYFLOAT", "z", "1e-5000"],
    &["INCRBYFLOAT", "z", "1e5000"],
    &["INCRBYFLOAT", "z", "infinity"],
    &["INCRBYFLOAT", "z", "nan"],
    &["INCRBYFLOAT", "z", " 1"],
    &["INCRBYFLOAT", "z", "1 "],
    &["INCRBYFLOAT", "z", ".5"],
    &["INCRBYFLOAT", "z", "5."],
    &["INCRBYFLOAT", "z", "+.5e1"],
    &["INCRBYFLOAT", "z", "1e"],
    &["INCRBYFLOAT", "z", "0x"],
    &["SET", "s", "0x1.8p1"],
    &["INCRBYFLOAT", "s", "1"],
    &["SET", "n", "12345678901234567890"],
    &["INCRBYFLOAT", "n", "1"],
    &["SET", "m", "9223372036854775807"],
    &["INCRBYFLOAT", "m", "0.5"],
    &["SET", "w", "1.5 "],
    &["INCRBYFLOAT", "w", "1"],
    // HINCRBYFLOAT: the increment's NaN/infinity check comes first.
    &["HINCRBYFLOAT", "hh", "a", "0.1"],
    &["HINCRBYFLOAT", "hh", "a", "0.2"],
    &["HINCRBYFLOAT", "hh", "a", "inf"],
    &["HINCRBYFLOAT", "f", "a", "-inf"],
    &["HINCRBYFLOAT", "hh", "b", "0x20"],
    &["HINCRBYFLOAT", "hh", "b", "1e400"],
    &["HINCRBYFLOAT", "hh", "b", "-1e400"],
    &["HSET", "hh", "c", "abc"],
    &["HINCRBYFLOAT", "hh", "c", "1"],
    &["HINCRBYFLOAT", "hh", "c", "nan"],
    &["HMGET", "hh", "a", "b", "c"],
    // Doubles (strtod): hex accepted, overflow and underflow refused.
    &["ZADD", "zz", "0x10", "a"],
    &["ZADD", "zz", "1e-400", "b"],
    &["ZADD", "zz", "1e400", "b"],
    &["ZADD", "zz", "4.9e-324", "b"],
    &["ZADD", "zz", "-inf", "c", "+inf", "d"],
    &["ZINCRBY", "zz", "0x1p1", "a"],
    &["ZSCORE", "zz", "a"],
    &["ZSCORE", "zz", "b"],
    &["ZUNIONSTORE", "zo", "1", "zz", "WEIGHTS", "0x2"],
    &["ZUNIONSTORE", "zo", "1", "zz", "WEIGHTS", "1e999"],
    &["ZRANGE", "zo", "0", "-1", "WITHSCORES"],
    &["GEOADD", "geo", "0x1", "0x1", "m"],
    &["GEOPOS", "geo", "m"],
    // Score ranges: strtod alone.
    &["ZRANGEBYSCORE", "zz", "", " 100"],
    &["ZRANGEBYSCORE", "zz", "(", "(0x20"],
    &["ZRANGEBYSCORE", "zz", "-1e400", "1e400"],
    &["ZCOUNT", "zz", "0x1", "1e-400"],
    &["ZCOUNT", "zz", "1 ", "2"],
    &["ZCOUNT", "zz", " ", "2"],
    &["ZCOUNT", "zz", "nan", "2"],
    &["ZREMRANGEBYSCORE", "zz", "(1e-400", "0x1p-1074"],
    &["ZRANGE", "zz", "(0", "+inf", "BYSCORE"],
    // Blocking timeouts: long double seconds, ceil to ms, out of range is "negative".
    &["RPUSH", "L", "a", "b", "c", "d", "e", "f"],
    &["BLPOP", "L", "0x10"],
    &["BLPOP", "L", "1e-400"],
    &["BLPOP", "L", "-0.0001"],
    &["BLPOP", "L", "inf"],
    &["BLPOP", "L", "1e400"],
    &["BLPOP", "L", "9.3e15"],
    &["BLPOP", "L", "-1"],
    &["BLPOP", "L", " 1"],
    &["BLPOP", "L", "nan"],
    // SORT reads numbers with strtod too.
    &["RPUSH", "sl", "0x10", "2", "0x1p-1", " 3"],
    &["SORT", "sl"],
    &["RPUSH", "sl2", "1e-310", "1"],
    &["SORT", "sl2"],
    // Random counts.
    &["SADD", "set", "a"],
    &["HSET", "hash", "a", "1"],
    &["ZADD", "zset", "1", "a"],
    &["SRANDMEMBER", "set", "-9223372036854775808"],
    &["SRANDMEMBER", "set", "x", "y"],
    &["SRANDMEMBER", "set", "1", "y"],
    &["HRANDFIELD", "hash", "-9223372036854775808"],
    &["HRANDFIELD", "hash", "-9223372036854775808", "WITHVALUES"],
    &["HRANDFIELD", "hash", "-9223372036854770000", "WITHVALUES"],
    &["HRANDFIELD", "hash", "4611686018427387904", "WITHVALUES"],
    &["HRANDFIELD", "hash", "4611686018427387903", "WITHVALUES"],
    &["HRANDFIELD", "hash", "1", "WITHVALUE"],
    &["ZRANDMEMBER", "zset", "-9223372036854775808"],
    &["ZRANDMEMBER", "zset", "-9223372036854770000", "WITHSCORES"],
    &["ZRANDMEMBER", "zset", "x", "WITHSCORES"],
];

fn compare(redis: &Proc, ours: &Proc, proto: &str) {
    let (mut a, mut b) = (redis.client(), ours.client());
    for c in [&mut a, &mut b] {
        c.cmd(&["HELLO", proto]);
        c.cmd(&["FLUSHALL"]);
    }
    same_replies(&mut a, &mut b, CASES, &format!("RESP{proto}"));
}

#[test]
fn float_arguments_read_and_print_as_redis() {
    let (redis, ours) = (Proc::start(&[]), strata(&[]));
    compare(&redis, &ours, "2");
    compare(&redis, &ours, "3");
}
