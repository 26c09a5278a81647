//! Real clients against the real binary: redis-py (PyPI `redis`) and redis-cli (Debian
//! `redis-tools`). `cargo xtask test` installs both; a missing one fails, never skips.

mod support;

use std::process::Command;

use support::strata;

#[test]
fn redis_py_works() {
    let s = strata(&[]);
    let script = r#"
import sys, redis
for proto in (2, 3):
    r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), protocol=proto)
    assert r.ping()
    r.flushall()
    assert r.set("k", "v")
    assert r.get("k") == b"v"
    assert r.set("n", 5, ex=100)
    assert 95 <= r.ttl("n") <= 100
    assert r.incrby("n", 10) == 15
    assert r.incrbyfloat("f", 1.5) == 1.5
    assert r.mset({"a": 1, "b": 2})
    assert r.mget("a", "b", "missing") == [b"1", b"2", None]
    assert r.exists("a", "b", "zz") == 2
    assert r.type("a") == b"string"
    assert r.expire("a", 50, gt=False) is True
    assert r.persist("a") is True
    assert sorted(r.keys("*")) == [b"a", b"b", b"f", b"k", b"n"]
    assert sorted(r.scan_iter(match="[ab]", count=1)) == [b"a", b"b"]
    assert r.dbsize() == 5
    r.delete("bits")
    assert r.getrange("k", 0, -1) == b"v"
    assert r.setbit("bits", 3, 1) == 0 and r.bitcount("bits") == 1
    assert r.rename("k", "k2") and r.get("k2") == b"v"
    assert r.copy("k2", "k3") and r.get("k3") == b"v"
    assert r.delete("k2", "k3") == 2
    assert r.client_setname("py") and r.client_getname() in ("py", b"py")
    info = r.info()
    assert info["redis_version"] == "7.0.15" and "cluster_enabled" in info
    assert r.config_get("appendfsync")["appendfsync"] == "everysec"
    p = r.pipeline(transaction=False)
    for i in range(100):
        p.set(f"p{i}", i)
        p.get(f"p{i}")
    res = p.execute()
    assert res[1] == b"0" and res[-1] == b"99"
    assert r.hset("h", mapping={"f1": "v1", "f2": "v2"}) == 2
    assert r.hgetall("h") == {b"f1": b"v1", b"f2": b"v2"}
    assert r.rpush("l", "a", "b", "c") == 3 and r.lrange("l", 0, -1) == [b"a", b"b", b"c"]
    assert tuple(r.blpop(["l"], timeout=1)) == (b"l", b"a")
    assert r.sadd("s", "x", "y") == 2 and r.smembers("s") == {b"x", b"y"}
    assert r.zadd("z", {"a": 1.5, "b": 2}) == 2
    assert [tuple(p) for p in r.zrange("z", 0, -1, withscores=True)] == [(b"a", 1.5), (b"b", 2.0)]
    assert r.zscore("z", "a") == 1.5
    assert r.object("encoding", "z") == b"listpack"
    # redis-py's default pipeline is a MULTI/EXEC transaction; WATCH through it.
    p = r.pipeline()
    p.set("t", 1).incr("t").get("t")
    assert p.execute() == [True, 2, b"2"]
    def bump(pipe):
        v = int(pipe.get("t"))
        pipe.multi()
        pipe.set("t", v + 1)
    assert r.transaction(bump, "t") == [True] and r.get("t") == b"3"
    other = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), protocol=proto)
    with r.pipeline() as p:
        p.watch("t")
        other.set("t", 100)
        p.multi()
        p.set("t", 0)
        try:
            p.execute()
            raise SystemExit("no WatchError")
        except redis.WatchError:
            pass
    assert r.get("t") == b"100"
    # Scripts: redis-py's Lock (EVALSHA of its scripts) and register_script, which
    # loads again after SCRIPT FLUSH (it reads the NOSCRIPT error).
    lock = r.lock("lk", timeout=5)
    assert lock.acquire(blocking=False) and lock.owned()
    assert not r.lock("lk").acquire(blocking=False)
    lock.release()
    assert not lock.locked()
    inc = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert inc(keys=["cnt"], args=[5]) == 5
    r.script_flush()
    assert inc(keys=["cnt"], args=[5]) == 10
    ps = r.pubsub()
    ps.subscribe("events")
    ps.psubscribe("ev*")
    assert ps.get_message(timeout=1)["type"] == "subscribe"
    assert ps.get_message(timeout=1)["type"] == "psubscribe"
    assert other.publish("events", "hello") == 2
    got = sorted((m["type"], m["data"]) for m in (ps.get_message(timeout=1), ps.get_message(timeout=1)))
    assert got == [("message", b"hello"), ("pmessage", b"hello")], got
    ps.close()
    try:
        r.execute_command("NOSUCH", "x")
        raise SystemExit("no error")
    except redis.ResponseError as e:
        assert str(e).startswith("unknown command 'NOSUCH'"), str(e)
print("ok")
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(s.port.to_string())
        .output()
        .expect("python3 is needed (Debian `python3`); `cargo xtask test` installs redis-py");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "redis-py: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cli(port: u16, args: &[&str], stdin: Option<&[u8]>) -> String {
    use std::io::Write;
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("redis-cli is needed (Debian `redis-tools`); `cargo xtask test` installs it");
    let mut i = child.stdin.take().unwrap();
    if let Some(b) = stdin {
        i.write_all(b).unwrap();
    }
    drop(i);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_works() {
    let s = strata(&[]);
    let p = s.port;
    assert_eq!(cli(p, &["PING"], None), "PONG\n");
    assert_eq!(cli(p, &["SET", "greeting", "hello world"], None), "OK\n");
    assert_eq!(cli(p, &["GET", "greeting"], None), "hello world\n");
    assert_eq!(cli(p, &["--no-raw", "GET", "missing"], None), "(nil)\n");
    assert_eq!(
        cli(p, &["-3", "--no-raw", "GET", "missing"], None),
        "(nil)\n"
    );
    // Commands on stdin, as in scripts.
    assert_eq!(cli(p, &[], Some(b"INCR c\nINCR c\nGET c\n")), "1\n2\n2\n");
    // --pipe with a mass-insertion stream.
    let mut mass = Vec::new();
    for i in 0..5000 {
        mass.extend_from_slice(&support::encode(&[
            b"SET",
            format!("m{i}").as_bytes(),
            b"x",
        ]));
    }
    let out = cli(p, &["--pipe"], Some(&mass));
    assert!(out.contains("errors: 0, replies: 5000"), "{out}");
    assert_eq!(cli(p, &["DBSIZE"], None), "5002\n");
    // --scan walks everything once.
    let scanned = cli(p, &["--scan", "--pattern", "m1*"], None);
    let mut keys: Vec<&str> = scanned.lines().collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 1111);
    // INFO, CLIENT LIST, COMMAND DOCS parse (the hints themselves: command_docs.rs).
    assert!(cli(p, &["INFO", "server"], None).contains("redis_version:7.0.15"));
    assert!(cli(p, &["CLIENT", "LIST"], None).contains("cmd=client"));
    assert!(cli(p, &["COMMAND", "DOCS", "get"], None).contains("Get the value of a key"));
    assert!(cli(p, &["--no-raw", "NOSUCH"], None).contains("ERR unknown command 'NOSUCH'"));
}
