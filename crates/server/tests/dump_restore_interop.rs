//! DUMP / RESTORE / MIGRATE against a real redis-server 7.0.15, both directions:
//! the corpus's payloads restore with the same logical value; every corpus error case
//! gets Redis's reply; Strata's payloads (each target) restore in Redis and Redis's in
//! Strata, for every type and size class; MIGRATE both ways with KEYS, COPY, REPLACE,
//! TTLs, a 100k-element key, a target that refuses AUTH and one that is down; and
//! `redis-cli --pipe` of RESTORE commands.

mod support;

use serde_json::Value as Json;
use support::corpus::{bytes, hex, load};
use support::{strata, Client, Proc, Reply};

/// A key's logical value, in a form equal across servers: (type, canonical items).
fn logical(c: &mut Client, key: &[u8]) -> (String, Vec<Vec<u8>>) {
    let ty = match c.call(&[b"TYPE", key]) {
        Reply::Status(s) => s,
        r => panic!("TYPE: {r:?}"),
    };
    let items: Vec<Vec<u8>> = match ty.as_str() {
        "string" => vec![c.call(&[b"GET", key]).bulk()],
        "list" => c
            .call(&[b"LRANGE", key, b"0", b"-1"])
            .array()
            .iter()
            .map(Reply::bulk)
            .collect(),
        "set" => {
            let mut v: Vec<Vec<u8>> = c
                .call(&[b"SMEMBERS", key])
                .array()
                .iter()
                .map(Reply::bulk)
                .collect();
            v.sort();
            v
        }
        "hash" => {
            let flat: Vec<Vec<u8>> = c
                .call(&[b"HGETALL", key])
                .array()
                .iter()
                .map(Reply::bulk)
                .collect();
            let mut pairs: Vec<Vec<u8>> = flat
                .chunks(2)
                .map(|p| [p[0].clone(), b"\0=".to_vec(), p[1].clone()].concat())
                .collect();
            pairs.sort();
            pairs
        }
        "zset" => c
            .call(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])
            .array()
            .iter()
            .map(Reply::bulk)
            .collect(),
        "none" => vec![],
        other => panic!("unexpected type {other}"),
    };
    (ty, items)
}

/// The corpus's logical value in the same form.
fn corpus_logical(ty: &str, v: &Json) -> Vec<Vec<u8>> {
    match ty {
        "string" => vec![bytes(v)],
        "list" | "set" => {
            let mut x: Vec<Vec<u8>> = v.as_array().unwrap().iter().map(bytes).collect();
            if ty == "set" {
                x.sort();
            }
            x
        }
        "hash" => {
            let mut pairs: Vec<Vec<u8>> = v
                .as_object()
                .unwrap()
                .iter()
                .map(|(f, val)| {
                    let f: Vec<u8> = f.chars().map(|c| c as u32 as u8).collect();
                    [f, b"\0=".to_vec(), bytes(val)].concat()
                })
                .collect();
            pairs.sort();
            pairs
        }
        "zset" => v
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| [bytes(&p[0]), p[1].as_str().unwrap().as_bytes().to_vec()])
            .collect(),
        _ => unreachable!(),
    }
}

#[test]
fn corpus_payloads_restore_with_their_values() {
    let s = strata(&[]);
    let mut c = s.client();
    let vectors = load("dump-vectors-redis-7.0.15.json");
    let (mut ok, mut streams) = (0, 0);
    for v in vectors["vectors"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let ty = v["type"].as_str().unwrap();
        let payload = hex(&v["dump_hex"]);
        let key = format!("restored:{name}");
        let r = c.call(&[b"RESTORE", key.as_bytes(), b"0", &payload]);
        if ty == "stream" {
            // Streams are stored whole: TYPE, XLEN, and DUMP gives Redis's bytes back.
            assert_eq!(r, Reply::Status("OK".into()), "{name}");
            assert_eq!(
                c.call(&[b"TYPE", key.as_bytes()]),
                Reply::Status("stream".into()),
                "{name}"
            );
            let len = v["stream_info"]["length"].as_i64().unwrap();
            assert_eq!(
                c.call(&[b"XLEN", key.as_bytes()]),
                Reply::Int(len),
                "{name}"
            );
            if !name.ends_with("_nolzf") {
                assert_eq!(
                    c.call(&[b"DUMP", key.as_bytes()]).bulk(),
                    payload,
                    "{name}: DUMP"
                );
            }
            streams += 1;
            continue;
        }
        assert_eq!(r, Reply::Status("OK".into()), "{name}");
        let (got_ty, got) = logical(&mut c, key.as_bytes());
        assert_eq!(got_ty, ty, "{name}");
        assert_eq!(
            got,
            corpus_logical(ty, &v["value"]),
            "{name}: value differs"
        );
        if v["config"].as_object().is_none_or(|o| o.is_empty()) {
            let enc = c.call(&[b"OBJECT", b"ENCODING", key.as_bytes()]);
            let want = v["restore"]["encoding_after_restore"]
                .as_str()
                .unwrap_or(v["encoding"].as_str().unwrap());
            assert_eq!(
                enc,
                Reply::Bulk(Some(want.as_bytes().to_vec())),
                "{name}: OBJECT ENCODING"
            );
        }
        assert_eq!(c.call(&[b"PTTL", key.as_bytes()]), Reply::Int(-1));
        ok += 1;
    }
    eprintln!(
        "{ok} corpus payloads restored with identical values; {streams} streams restored, their DUMPs byte-identical"
    );
    assert_eq!(ok + streams, 175);
}

fn reply_of(j: &Json) -> Reply {
    if let Some(ok) = j.get("ok") {
        Reply::Status(ok.as_str().unwrap().into())
    } else {
        Reply::Error(j["error"].as_str().unwrap().into())
    }
}

#[test]
fn corpus_error_cases_get_redis_replies() {
    let s = strata(&[]);
    let mut c = s.client();
    let d = load("restore-errors-redis-7.0.15.json");
    let (mut same, mut stream_accepted) = (0, 0);
    for case in d["cases"].as_array().unwrap() {
        if case["sanitize_dump_payload"] != "yes" {
            continue;
        }
        let want = reply_of(&case["reply"]);
        let cmd: Vec<Vec<u8>> = case["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                if a == "<payload>" {
                    hex(&case["payload_hex"])
                } else {
                    bytes(a)
                }
            })
            .collect();
        let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
        let got = c.call(&args);
        if case["source_type"] == "stream" && want == Reply::Status("OK".into()) {
            stream_accepted += 1;
        }
        assert_eq!(
            got, want,
            "{} / {}",
            case["source_vector"], case["corruption"]
        );
        same += 1;
    }
    for case in d["command_cases"].as_array().unwrap() {
        for setup in case["setup"].as_array().unwrap() {
            let a: Vec<Vec<u8>> = setup.as_array().unwrap().iter().map(bytes).collect();
            let a: Vec<&[u8]> = a.iter().map(Vec::as_slice).collect();
            c.call(&a);
        }
        let vectors = load("dump-vectors-redis-7.0.15.json");
        let cmd: Vec<Vec<u8>> = case["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let s = a.as_str().unwrap();
                if let Some(name) = s
                    .strip_prefix("<payload of ")
                    .and_then(|x| x.strip_suffix('>'))
                {
                    let v = vectors["vectors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|v| v["name"] == name)
                        .unwrap();
                    hex(&v["dump_hex"])
                } else {
                    bytes(a)
                }
            })
            .collect();
        let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
        assert_eq!(
            c.call(&args),
            reply_of(&case["reply"]),
            "command case {}",
            case["case"]
        );
        same += 1;
    }
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    eprintln!("{same} RESTORE replies identical to Redis's ({stream_accepted} of them streams Redis accepted)");
}

/// Build the same values on a server with commands.
fn build(c: &mut Client) -> Vec<&'static str> {
    let cmds: Vec<Vec<String>> = vec![
        vec!["SET".into(), "s:small".into(), "hello".into()],
        vec!["SET".into(), "s:int".into(), "12345".into()],
        vec!["SET".into(), "s:big".into(), "abc".repeat(2000)],
        vec![
            "RPUSH".into(),
            "l:small".into(),
            "a".into(),
            "1".into(),
            "".into(),
        ],
        ["RPUSH", "l:big"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..3000).map(|i| format!("element-{i}")))
            .collect(),
        vec![
            "SADD".into(),
            "set:int".into(),
            "1".into(),
            "-5".into(),
            "300000".into(),
        ],
        vec!["SADD".into(), "set:str".into(), "x".into(), "y".into()],
        ["SADD", "set:big"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..1000).map(|i| format!("m{i}")))
            .collect(),
        vec![
            "HSET".into(),
            "h:small".into(),
            "f".into(),
            "v".into(),
            "n".into(),
            "1".into(),
        ],
        ["HSET", "h:big"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..1200).map(|i| format!("f{i}")))
            .collect(),
        vec![
            "ZADD".into(),
            "z:small".into(),
            "1".into(),
            "a".into(),
            "2.5".into(),
            "b".into(),
            "-inf".into(),
            "c".into(),
        ],
        ["ZADD", "z:big"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..300).flat_map(|i| [format!("{}", i as f64 / 3.0), format!("m{i}")]))
            .collect(),
        // Big enough (16k records and up) that Strata's RESTORE loads them as an SST.
        ["RPUSH", "l:huge"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..20_000).map(|i| format!("e{}", i * 7919 % 20_000)))
            .collect(),
        ["SADD", "set:huge"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..20_000).map(|i| format!("member:{}", i * 7919 % 20_000)))
            .collect(),
        ["SADD", "set:hugeint"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..20_000).map(|i| format!("{}", (i - 10_000) * 3)))
            .collect(),
        ["HSET", "h:huge"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..20_000).flat_map(|i| [format!("field:{i}"), format!("value:{}", i * 31)]))
            .collect(),
        ["ZADD", "z:huge"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..10_000).flat_map(|i| {
                [
                    format!("{}", (i as f64 - 5000.0) / 7.0),
                    format!("m{}", i * 7919 % 10_000),
                ]
            }))
            .collect(),
    ];
    for cmd in &cmds {
        let a: Vec<&str> = cmd.iter().map(String::as_str).collect();
        assert!(!matches!(c.cmd(&a), Reply::Error(_)), "{:?}", &cmd[..2]);
    }
    vec![
        "s:small",
        "s:int",
        "s:big",
        "l:small",
        "l:big",
        "set:int",
        "set:str",
        "set:big",
        "h:small",
        "h:big",
        "z:small",
        "z:big",
        "l:huge",
        "set:huge",
        "set:hugeint",
        "h:huge",
        "z:huge",
    ]
}

/// Strata's `engine_bulk_loads` (INFO engine).
fn bulk_loads(c: &mut Client) -> i64 {
    let info = String::from_utf8(c.cmd(&["INFO", "engine"]).bulk()).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("engine_bulk_loads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO engine has engine_bulk_loads")
}

#[test]
fn payloads_cross_both_ways_for_every_target() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let (mut r, mut o) = (redis.client(), ours.client());
    let keys = build(&mut o);
    build(&mut r);
    for target in ["redis-7.0", "redis-6", "portable"] {
        assert_eq!(
            o.cmd(&["CONFIG", "SET", "dump-payload-target", target]),
            Reply::Status("OK".into())
        );
        for k in &keys {
            // Strata → Redis.
            let p = o.cmd(&["DUMP", k]).bulk();
            let dst = format!("from-strata:{target}:{k}");
            assert_eq!(
                r.call(&[b"RESTORE", dst.as_bytes(), b"0", &p]),
                Reply::Status("OK".into()),
                "{target} {k}"
            );
            assert_eq!(
                logical(&mut r, dst.as_bytes()),
                logical(&mut o, k.as_bytes()),
                "{target} {k}: Strata → Redis"
            );
        }
    }
    let loads_before = bulk_loads(&mut o);
    for k in &keys {
        // Redis → Strata.
        let p = r.cmd(&["DUMP", k]).bulk();
        let dst = format!("from-redis:{k}");
        assert_eq!(
            o.call(&[b"RESTORE", dst.as_bytes(), b"0", &p]),
            Reply::Status("OK".into()),
            "{k}"
        );
        assert_eq!(
            logical(&mut o, dst.as_bytes()),
            logical(&mut r, k.as_bytes()),
            "{k}: Redis → Strata"
        );
        assert_eq!(
            o.cmd(&["OBJECT", "ENCODING", &dst]),
            r.cmd(&["OBJECT", "ENCODING", k]),
            "{k}: encoding after restore"
        );
    }
    // The five huge keys went in as bulk loads (and read back whole, above).
    assert_eq!(bulk_loads(&mut o) - loads_before, 5);
    // Written to after the load, they stay equal to Redis's (the same writes to the
    // source keys on both servers, and to the restored copies in Strata).
    let writes: [&[&str]; 7] = [
        &["HSET", "h:huge", "field:7", "changed", "new-field", "x"],
        &["HDEL", "h:huge", "field:8"],
        &["ZADD", "z:huge", "1e9", "m5"],
        &["ZREM", "z:huge", "m6"],
        &["LSET", "l:huge", "100", "set"],
        &["RPUSH", "l:huge", "last"],
        &["SREM", "set:huge", "member:9"],
    ];
    for (on_redis, prefix) in [(false, ""), (true, ""), (false, "from-redis:")] {
        let c = if on_redis { &mut r } else { &mut o };
        for w in writes {
            let key = format!("{prefix}{}", w[1]);
            let mut a = w.to_vec();
            a[1] = &key;
            assert!(!matches!(c.cmd(&a), Reply::Error(_)), "{a:?}");
        }
    }
    for k in ["h:huge", "z:huge", "l:huge", "set:huge"] {
        assert_eq!(
            logical(&mut o, format!("from-redis:{k}").as_bytes()),
            logical(&mut r, k.as_bytes()),
            "{k} after writes"
        );
        assert_eq!(
            logical(&mut o, k.as_bytes()),
            logical(&mut r, k.as_bytes()),
            "{k} after writes"
        );
    }
    // TTL, ABSTTL, REPLACE, BUSYKEY, an ABSTTL in the past.
    let p = o.cmd(&["DUMP", "s:small"]).bulk();
    assert_eq!(
        o.call(&[b"RESTORE", b"ttl", b"100000", &p]),
        Reply::Status("OK".into())
    );
    assert!(matches!(o.cmd(&["PTTL", "ttl"]), Reply::Int(t) if t > 99_000));
    assert_eq!(
        o.call(&[b"RESTORE", b"ttl", b"0", &p]),
        Reply::Error("BUSYKEY Target key name already exists.".into())
    );
    assert_eq!(
        o.call(&[b"RESTORE", b"ttl", b"0", &p, b"REPLACE"]),
        Reply::Status("OK".into())
    );
    assert_eq!(o.cmd(&["PTTL", "ttl"]), Reply::Int(-1));
    assert_eq!(
        o.call(&[b"RESTORE", b"past", b"1", &p, b"ABSTTL"]),
        Reply::Status("OK".into())
    );
    assert_eq!(o.cmd(&["EXISTS", "past"]), Reply::Int(0));
    assert_eq!(o.cmd(&["DUMP", "missing"]), Reply::Bulk(None));
}

fn migrate(c: &mut Client, port: u16, key: &str, extra: &[&str]) -> Reply {
    let p = port.to_string();
    let mut a = vec!["MIGRATE", "127.0.0.1", &p, key, "0", "5000"];
    a.extend_from_slice(extra);
    c.cmd(&a)
}

#[test]
fn migrate_both_ways() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let (mut r, mut o) = (redis.client(), ours.client());
    // Strata → Redis: one key with a TTL.
    o.cmd(&["SET", "k1", "v1", "EX", "1000"]);
    assert_eq!(
        migrate(&mut o, redis.port, "k1", &[]),
        Reply::Status("OK".into())
    );
    assert_eq!(o.cmd(&["EXISTS", "k1"]), Reply::Int(0));
    assert_eq!(r.cmd(&["GET", "k1"]), Reply::Bulk(Some(b"v1".to_vec())));
    assert!(matches!(r.cmd(&["TTL", "k1"]), Reply::Int(t) if t > 990));
    // KEYS, COPY.
    o.cmd(&["RPUSH", "l", "a", "b"]);
    o.cmd(&["HSET", "h", "f", "v"]);
    assert_eq!(
        migrate(&mut o, redis.port, "", &["COPY", "KEYS", "l", "h", "nokey"]),
        Reply::Status("OK".into())
    );
    assert_eq!(o.cmd(&["EXISTS", "l", "h"]), Reply::Int(2));
    assert_eq!(r.cmd(&["LRANGE", "l", "0", "-1"]).array().len(), 2);
    // Without REPLACE the target refuses an existing key; with it, it is replaced.
    assert_eq!(
        migrate(&mut o, redis.port, "l", &[]),
        Reply::Error(
            "ERR Target instance replied with error: BUSYKEY Target key name already exists."
                .into()
        )
    );
    assert_eq!(o.cmd(&["EXISTS", "l"]), Reply::Int(1));
    o.cmd(&["RPUSH", "l", "c"]);
    assert_eq!(
        migrate(&mut o, redis.port, "l", &["REPLACE"]),
        Reply::Status("OK".into())
    );
    assert_eq!(r.cmd(&["LLEN", "l"]), Reply::Int(3));
    assert_eq!(
        migrate(&mut o, redis.port, "missing", &[]),
        Reply::Status("NOKEY".into())
    );
    // A 100k-element key, Redis → Strata and back.
    let mut args = vec!["ZADD".to_string(), "big".into()];
    for i in 0..100_000 {
        args.push(i.to_string());
        args.push(format!("member-{i}"));
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(r.cmd(&a), Reply::Int(100_000));
    assert_eq!(
        migrate(&mut r, ours.port, "big", &[]),
        Reply::Status("OK".into())
    );
    assert_eq!(o.cmd(&["ZCARD", "big"]), Reply::Int(100_000));
    assert_eq!(
        o.cmd(&["ZSCORE", "big", "member-99999"]),
        Reply::Bulk(Some(b"99999".to_vec()))
    );
    assert_eq!(
        migrate(&mut o, redis.port, "big", &[]),
        Reply::Status("OK".into())
    );
    assert_eq!(r.cmd(&["ZCARD", "big"]), Reply::Int(100_000));
    assert_eq!(o.cmd(&["EXISTS", "big"]), Reply::Int(0));
    // Strata → Strata.
    let other = strata(&[]);
    o.cmd(&["SADD", "s", "x"]);
    assert_eq!(
        migrate(&mut o, other.port, "s", &[]),
        Reply::Status("OK".into())
    );
    assert_eq!(other.client().cmd(&["SMEMBERS", "s"]).array().len(), 1);
    // A target that refuses AUTH, and one that wants it.
    let locked = Proc::start(&["--requirepass", "pw"]);
    o.cmd(&["SET", "secret", "x"]);
    assert_eq!(
        migrate(&mut o, locked.port, "secret", &[]),
        Reply::Error(
            "ERR Target instance replied with error: NOAUTH Authentication required.".into()
        )
    );
    assert_eq!(
        migrate(&mut o, locked.port, "secret", &["AUTH", "wrong"]),
        Reply::Error("ERR Target instance replied with error: WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(o.cmd(&["EXISTS", "secret"]), Reply::Int(1));
    assert_eq!(
        migrate(&mut o, locked.port, "secret", &["AUTH", "pw"]),
        Reply::Status("OK".into())
    );
    assert_eq!(o.cmd(&["EXISTS", "secret"]), Reply::Int(0));
    // A target that is down.
    let down = support::free_port();
    o.cmd(&["SET", "stay", "x"]);
    assert_eq!(
        migrate(&mut o, down, "stay", &[]),
        Reply::Error("IOERR error or timeout connecting to the client".into())
    );
    assert_eq!(o.cmd(&["EXISTS", "stay"]), Reply::Int(1));
    // Syntax.
    assert_eq!(
        migrate(&mut o, redis.port, "x", &["KEYS", "a"]),
        Reply::Error(
            "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
                .into()
        )
    );
}

#[test]
fn redis_cli_pipe_of_restores() {
    use std::io::Write;
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let mut r = redis.client();
    let mut stream = Vec::new();
    for i in 0..2000 {
        let k = format!("key:{i}");
        r.cmd(&["HSET", &k, "a", &i.to_string()]);
        let p = r.cmd(&["DUMP", &k]).bulk();
        stream.extend_from_slice(&support::encode(&[b"RESTORE", k.as_bytes(), b"0", &p]));
    }
    let mut child = std::process::Command::new("redis-cli")
        .args(["-p", &ours.port.to_string(), "--pipe"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 2000"), "{text}");
    let mut o = ours.client();
    assert_eq!(o.cmd(&["DBSIZE"]), Reply::Int(2000));
    assert_eq!(
        o.cmd(&["HGET", "key:1999", "a"]),
        Reply::Bulk(Some(b"1999".to_vec()))
    );
}

#[test]
fn streams_cross_both_ways() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let (mut r, mut o) = (redis.client(), ours.client());
    for i in 1..=50 {
        r.cmd(&[
            "XADD",
            "s",
            &format!("{i}-1"),
            "field",
            &format!("v{i}"),
            "n",
            &i.to_string(),
        ]);
    }
    r.cmd(&["XDEL", "s", "7-1"]);
    r.cmd(&["XGROUP", "CREATE", "s", "g", "0"]);
    r.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "3",
        "STREAMS",
        "s",
        ">",
    ]);
    let xrange = |c: &mut Client, k: &str| c.cmd(&["XRANGE", k, "-", "+"]);
    let want = xrange(&mut r, "s");
    let payload = r.cmd(&["DUMP", "s"]).bulk();
    assert_eq!(
        o.call(&[b"RESTORE", b"s", b"0", &payload]),
        Reply::Status("OK".into())
    );
    assert_eq!(o.cmd(&["XLEN", "s"]), Reply::Int(49));
    assert_eq!(
        o.cmd(&["OBJECT", "ENCODING", "s"]),
        Reply::Bulk(Some(b"stream".to_vec()))
    );
    // Back to Redis through DUMP (each target) and through MIGRATE.
    for target in ["redis-7.0", "redis-6", "portable"] {
        o.cmd(&["CONFIG", "SET", "dump-payload-target", target]);
        let p = o.cmd(&["DUMP", "s"]).bulk();
        if target == "redis-7.0" {
            assert_eq!(
                p, payload,
                "Strata's DUMP of a restored stream is Redis's bytes"
            );
        }
        let k = format!("back:{target}");
        assert_eq!(
            r.call(&[b"RESTORE", k.as_bytes(), b"0", &p]),
            Reply::Status("OK".into()),
            "{target}"
        );
        assert_eq!(xrange(&mut r, &k), want, "{target}");
        assert_eq!(
            r.cmd(&["XPENDING", &k, "g"]).array()[0],
            Reply::Int(3),
            "{target}"
        );
    }
    o.cmd(&["CONFIG", "SET", "dump-payload-target", "redis-7.0"]);
    o.cmd(&["RENAME", "s", "moved"]);
    o.cmd(&["EXPIRE", "moved", "1000"]);
    let port = redis.port.to_string();
    assert_eq!(
        o.cmd(&["MIGRATE", "127.0.0.1", &port, "moved", "0", "5000"]),
        Reply::Status("OK".into())
    );
    assert_eq!(xrange(&mut r, "moved"), want);
    assert!(matches!(r.cmd(&["TTL", "moved"]), Reply::Int(t) if t > 990));
    assert_eq!(o.cmd(&["XLEN", "moved"]), Reply::Int(0));
}

/// RESTOREs pipelined with writes and reads of the restored keys (the server defers
/// pipelined commits; a restored collection's elements must be visible to the next
/// command) answer as Redis answers.
#[test]
fn pipelined_restores_then_writes_match_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let mut a = redis.client();
    let mut b = ours.client();
    a.cmd(&["FLUSHALL"]);
    a.cmd(&["HSET", "h", "f1", "v1", "f2", "v2"]);
    a.cmd(&["SADD", "s", "x", "y", "z"]);
    a.cmd(&["RPUSH", "l", "a", "b", "c"]);
    a.cmd(&["ZADD", "z", "1", "m1", "2", "m2"]);
    a.cmd(&["SET", "str", "17"]);
    let mut payloads = Vec::new();
    for k in ["h", "s", "l", "z", "str"] {
        payloads.push((k, a.call(&[b"DUMP", k.as_bytes()]).bulk()));
    }
    for c in [&mut a, &mut b] {
        c.cmd(&["FLUSHALL"]);
    }
    let mut script: Vec<Vec<Vec<u8>>> = Vec::new();
    let w = |xs: &[&str]| xs.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>();
    for round in 0..3 {
        for (k, p) in &payloads {
            let mut restore = w(&["RESTORE", k, "0"]);
            restore.push(p.clone());
            if round > 0 {
                restore.push(b"REPLACE".to_vec());
            }
            script.push(restore.clone());
            // Without REPLACE a second time: BUSYKEY.
            script.push(restore[..4].to_vec());
        }
        script.extend([
            w(&["HSET", "h", "f1", "new", "f3", "v3"]),
            w(&["HLEN", "h"]),
            w(&["HDEL", "h", "f2"]),
            w(&["HGETALL", "h"]),
            w(&["SADD", "s", "x", "w"]),
            w(&["SREM", "s", "y"]),
            w(&["SCARD", "s"]),
            w(&["RPOP", "l"]),
            w(&["LPUSH", "l", "q"]),
            w(&["LRANGE", "l", "0", "-1"]),
            w(&["ZADD", "z", "5", "m1", "3", "m3"]),
            w(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
            w(&["INCR", "str"]),
            w(&["DBSIZE"]),
        ]);
    }
    for cmd in &script {
        let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
        a.send(&args);
        b.send(&args);
    }
    for (i, cmd) in script.iter().enumerate() {
        let (mut x, mut y) = (a.read(), b.read());
        if cmd[0] == b"HGETALL" {
            // Field order is Redis's hash order: compare as sorted pairs.
            let pairs = |r: &Reply| {
                let mut p: Vec<Vec<u8>> = r
                    .array()
                    .chunks(2)
                    .map(|c| [c[0].bulk(), c[1].bulk()].concat())
                    .collect();
                p.sort();
                p
            };
            assert_eq!(pairs(&x), pairs(&y), "step {i}");
            (x, y) = (Reply::Int(0), Reply::Int(0));
        }
        assert_eq!(x, y, "step {i}: {:?}", String::from_utf8_lossy(&cmd[0]));
    }
}
