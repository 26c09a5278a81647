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
    // CONFIG SET checks every name before it sets anything: an unknown one first, then
    // a fixed or repeated one; a refused value names the parameter in lower case;
    // maxmemory-clients is a memory amount or a percentage up to 100.
    &["CONFIG", "SET", "HASH-MAX-LISTPACK-ENTRIES", "abc"],
    &["CONFIG", "SET", "hash-max-ziplist-entries", "abc"],
    &["CONFIG", "SET", "nosuch", "1", "maxmemory", "2"],
    &["CONFIG", "SET", "maxmemory", "1", "MAXMEMORY", "2"],
    &[
        "CONFIG",
        "SET",
        "maxmemory",
        "10000001",
        "maxmemory-clients",
        "200%",
        "client-query-buffer-limit",
        "invalid",
    ],
    &["CONFIG", "GET", "maxmemory"],
    &["CONFIG", "SET", "maxmemory-clients", "101%"],
    &["CONFIG", "SET", "maxmemory-clients", "-1%"],
    &["CONFIG", "SET", "maxmemory-clients", "-1"],
    &["CONFIG", "SET", "maxmemory-clients", "abc"],
    &["CONFIG", "SET", "maxmemory-clients", "1kb"],
    &["CONFIG", "GET", "maxmemory-clients"],
    &["CONFIG", "SET", "maxmemory-clients", "50%"],
    &["CONFIG", "GET", "maxmemory-clients"],
    &["CONFIG", "SET", "maxmemory-clients", "0"],
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

/// MONITOR's lines for one client's commands, with the time and the client's port
/// masked, up to the `ECHO end` sentinel.
fn monitor_transcript(p: &Proc) -> Vec<String> {
    let mut mon = p.client();
    mon.cmd(&["MONITOR"]);
    let mut c = p.client();
    let cmds: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["AUTH", "pw"],
        &["AUTH", "user", "pw"],
        &["HELLO", "2"],
        &["MULTI"],
        &["SET", "foo", "bar"],
        &["EXEC"],
        &["MULTI"],
        &["NOSUCH"],
        &["EXEC"],
        &["EVAL", "redis.call('set',KEYS[1],ARGV[1])", "1", "foo", "bar"],
        &["SELECT", "3"],
        &["GET", "x"],
        &["SELECT", "0"],
        &["CONFIG", "GET", "port"],
        &["CLIENT", "GETNAME"],
        &["FUNCTION", "LOAD", "REPLACE", "#!lua name=t\nredis.register_function('tf', function() return redis.call('set','foo','bar') end)"],
        &["FCALL", "tf", "0"],
        &["EVAL_RO", "return redis.call('get','foo')", "0"],
        &["BLPOP", "nolist", "0.01"],
        &["ECHO", "end"],
    ];
    for cmd in cmds {
        c.cmd(cmd);
    }
    let mut lines = Vec::new();
    loop {
        let line = String::from_utf8(mon.read_raw().unwrap()).unwrap();
        // "+<secs>.<micros> [<db> <addr>] <args>"
        let (_, rest) = line.split_once(' ').unwrap();
        let (who, args) = rest.split_once("] ").unwrap();
        let who = match who.rsplit_once(':') {
            Some((ip, _)) => format!("{ip}:PORT"),
            None => who.to_string(),
        };
        let done = args.contains("\"end\"");
        lines.push(format!("{who}] {args}"));
        if done {
            return lines;
        }
    }
}

/// MONITOR shows a command after it ran (EXEC after its commands, SELECT with the new
/// db), scripts before their commands, which come from `lua`; AUTH and HELLO with
/// passwords redacted; not admin subcommands (CONFIG GET). Found by Redis's own test
/// suite (`unit/introspection`).
#[test]
fn monitor_lines_come_in_redis_order() {
    let (redis, ours) = (Proc::start(&[]), strata(&[]));
    assert_eq!(monitor_transcript(&redis), monitor_transcript(&ours));
}

/// The caller's own `qbuf` in CLIENT LIST / CLIENT INFO counts the request being run,
/// as Redis's query buffer still holds it. Found by `unit/introspection`.
#[test]
fn client_info_counts_the_running_request_in_qbuf() {
    let (redis, ours) = (Proc::start(&[]), strata(&[]));
    let field = |p: &Proc, cmd: &[&str]| -> String {
        let reply = p.client().cmd(cmd);
        let support::Reply::Bulk(Some(text)) = reply else {
            panic!("{reply:?}");
        };
        let text = String::from_utf8(text).unwrap();
        // The caller's own line (the other test client may not be gone yet).
        let own = format!("cmd=client|{}", cmd[1].to_ascii_lowercase());
        let line = text.lines().find(|l| l.contains(&own)).unwrap().to_string();
        let f = line.split(' ').find(|f| f.starts_with("qbuf=")).unwrap();
        f.to_string()
    };
    for cmd in [&["CLIENT", "INFO"][..], &["CLIENT", "LIST"]] {
        assert_eq!(field(&redis, cmd), field(&ours, cmd), "{cmd:?}");
    }
}
