//! The background key dumper through the real server: snapshot consistency under
//! racing writes, deletes and expiries; one dump at a time and CANCEL; kill -9 leaves
//! no final file and the temporary one goes at restart; 1M keys by pattern and by slot;
//! `resp` output piped into real Redis and `rdb` output loaded by it; binary keys
//! round-trip the `keys` format; pathological globs finish quickly.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use strata_dump::escape::unescape;
use support::{temp_dir, Client, Proc, Reply, BIN};

fn status(c: &mut Client) -> std::collections::HashMap<String, String> {
    let r = c.cmd(&["BGDUMP", "STATUS"]).array();
    r.chunks(2)
        .map(|p| {
            (
                String::from_utf8(p[0].bulk()).unwrap(),
                String::from_utf8(p[1].bulk()).unwrap(),
            )
        })
        .collect()
}

fn wait_done(c: &mut Client, limit: Duration) -> std::collections::HashMap<String, String> {
    let t0 = Instant::now();
    loop {
        let s = status(c);
        if s["state"] != "running" {
            return s;
        }
        assert!(
            t0.elapsed() < limit,
            "dump still running after {limit:?}: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The keys of a `keys`-format file: one escaped key per line, each ending in `\n`.
fn read_keys(path: &std::path::Path) -> BTreeSet<Vec<u8>> {
    let data = std::fs::read(path).unwrap();
    let Some(body) = data.strip_suffix(b"\n") else {
        assert!(data.is_empty());
        return BTreeSet::new();
    };
    body.split(|&b| b == b'\n')
        .map(|l| unescape(l).expect("valid escaped line"))
        .collect()
}

fn mset(c: &mut Client, keys: &[Vec<u8>]) {
    for chunk in keys.chunks(1000) {
        let mut args: Vec<&[u8]> = vec![b"MSET"];
        for k in chunk {
            args.push(k);
            args.push(b"v");
        }
        assert_eq!(c.call(&args), Reply::Status("OK".into()));
    }
}

#[test]
fn dump_sees_the_snapshot_not_later_writes() {
    let s = Proc::strata(BIN, None, &[]);
    let mut c = s.client();
    let initial: Vec<Vec<u8>> = (0..20_000)
        .map(|i| format!("key:{i:05}").into_bytes())
        .collect();
    mset(&mut c, &initial);
    // Expired before the dump: never in the file.
    c.cmd(&["SET", "gone", "x", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    // Slow the dump down so the writes below race it.
    c.cmd(&["CONFIG", "SET", "dump-throttle", "60kb"]);
    let r = c.cmd(&["BGDUMP", "PATTERN", "*", "TO", "race.txt"]);
    assert!(
        matches!(r, Reply::Status(ref t) if t.starts_with("Background dump started")),
        "{r:?}"
    );
    // One dump at a time; the error names the running one.
    match c.cmd(&["BGDUMP", "SLOT", "0"]) {
        Reply::Error(e) => assert!(
            e.starts_with("ERR a dump is already running: pattern *"),
            "{e}"
        ),
        r => panic!("{r:?}"),
    }
    let mut other = s.client();
    for i in 0..2000 {
        other.cmd(&["DEL", &format!("key:{:05}", i * 7)]);
        other.cmd(&["SET", &format!("new:{i}"), "x"]);
        other.cmd(&["PEXPIRE", &format!("key:{:05}", i * 7 + 1), "1"]);
    }
    assert_eq!(
        status(&mut c)["state"],
        "running",
        "the dump should still be running"
    );
    c.cmd(&["CONFIG", "SET", "dump-throttle", "0"]);
    let st = wait_done(&mut c, Duration::from_secs(120));
    assert_eq!(st["state"], "done", "{st:?}");
    let got = read_keys(std::path::Path::new(&st["path"]));
    let want: BTreeSet<Vec<u8>> = initial.into_iter().collect();
    assert_eq!(got.len(), want.len());
    assert!(
        got == want,
        "the dump differs from the keyspace at the snapshot"
    );
    assert_eq!(st["keys_written"], "20000");
}

#[test]
fn cancel_and_kill9_leave_no_final_file() {
    let dir = temp_dir("dump-kill");
    let mut s = Proc::strata(BIN, Some(&dir), &["--dump-throttle", "20kb"]);
    let mut c = s.client();
    let keys: Vec<Vec<u8>> = (0..20_000).map(|i| format!("k{i}").into_bytes()).collect();
    mset(&mut c, &keys);
    c.cmd(&["BGDUMP", "PATTERN", "*", "TO", "cancelled.txt"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(c.cmd(&["BGDUMP", "CANCEL"]), Reply::Status("OK".into()));
    let st = wait_done(&mut c, Duration::from_secs(10));
    assert_eq!(st["state"], "cancelled");
    assert_eq!(
        c.cmd(&["BGDUMP", "CANCEL"]),
        Reply::Error("ERR no dump is running".into())
    );
    let dumps = dir.join("dumps");
    assert!(!dumps.join("cancelled.txt").exists());

    c.cmd(&["BGDUMP", "PATTERN", "*", "TO", "killed.txt"]);
    std::thread::sleep(Duration::from_millis(300));
    s.kill9();
    let names = |d: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let left = names(&dumps);
    assert!(!left.iter().any(|n| n == "killed.txt"), "{left:?}");
    assert!(
        left.iter().any(|n| n.starts_with(strata_dump::TEMP_PREFIX)),
        "a temporary file is expected: {left:?}"
    );
    let s = Proc::strata(BIN, Some(&dir), &[]);
    let left = names(&dumps);
    assert!(left.is_empty(), "leftovers after restart: {left:?}");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_million_keys_by_pattern_and_by_slot() {
    let s = Proc::strata(BIN, None, &[]);
    let mut c = s.client();
    let keys: Vec<Vec<u8>> = (0..1_000_000)
        .map(|i| format!("user:{i}").into_bytes())
        .collect();
    mset(&mut c, &keys);
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(1_000_000));

    c.cmd(&["BGDUMP", "PATTERN", "*"]);
    let st = wait_done(&mut c, Duration::from_secs(300));
    assert_eq!(st["keys_written"], "1000000", "{st:?}");
    let all = read_keys(std::path::Path::new(&st["path"]));
    assert_eq!(all.len(), 1_000_000);
    assert!(keys.iter().all(|k| all.contains(k)));

    c.cmd(&["BGDUMP", "PATTERN", "user:12*", "TO", "twelve"]);
    let st = wait_done(&mut c, Duration::from_secs(300));
    let got = read_keys(std::path::Path::new(&st["path"]));
    let want: BTreeSet<Vec<u8>> = keys
        .iter()
        .filter(|k| k.starts_with(b"user:12"))
        .cloned()
        .collect();
    assert_eq!(got, want);

    let slot = strata_lsm::keys::slot(b"user:777");
    c.cmd(&["BGDUMP", "SLOT", &slot.to_string()]);
    let st = wait_done(&mut c, Duration::from_secs(300));
    assert!(st["path"].ends_with(&format!("slot-{slot}")));
    let got = read_keys(std::path::Path::new(&st["path"]));
    let want: BTreeSet<Vec<u8>> = keys
        .iter()
        .filter(|k| strata_lsm::keys::slot(k) == slot)
        .cloned()
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]),
        Reply::Int(want.len() as i64)
    );
    let some = c
        .cmd(&["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), "5"])
        .array();
    assert_eq!(some.len(), 5.min(want.len()));
    // Slot numbers are validated before any narrowing.
    for bad in ["16384", "-1", "65536", "x"] {
        assert!(
            matches!(c.cmd(&["BGDUMP", "SLOT", bad]), Reply::Error(_)),
            "{bad}"
        );
    }
    assert_eq!(
        c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "16384"]),
        Reply::Error("ERR Invalid slot".into())
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "GETKEYSINSLOT", "0", "-1"]),
        Reply::Error("ERR Invalid slot or number of keys".into())
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "KEYSLOT", "{user1000}.following"]),
        Reply::Int(3443)
    );
}

/// (type, canonical value, expire ms) of a key, comparable across servers.
fn snapshot_of(c: &mut Client, key: &str) -> (String, Vec<Vec<u8>>, i64) {
    let ty = match c.cmd(&["TYPE", key]) {
        Reply::Status(s) => s,
        r => panic!("{r:?}"),
    };
    let mut items: Vec<Vec<u8>> = match ty.as_str() {
        "string" => vec![c.cmd(&["GET", key]).bulk()],
        "list" => c
            .cmd(&["LRANGE", key, "0", "-1"])
            .array()
            .iter()
            .map(Reply::bulk)
            .collect(),
        "set" => c
            .cmd(&["SMEMBERS", key])
            .array()
            .iter()
            .map(Reply::bulk)
            .collect(),
        "hash" => c
            .cmd(&["HGETALL", key])
            .array()
            .chunks(2)
            .map(|p| [p[0].bulk(), b"=".to_vec(), p[1].bulk()].concat())
            .collect(),
        "zset" => c
            .cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"])
            .array()
            .iter()
            .map(Reply::bulk)
            .collect(),
        _ => vec![],
    };
    if ty == "set" || ty == "hash" {
        items.sort();
    }
    let exp = match c.cmd(&["PEXPIRETIME", key]) {
        Reply::Int(n) => n,
        r => panic!("{r:?}"),
    };
    (ty, items, exp)
}

#[test]
fn resp_and_rdb_outputs_load_into_real_redis() {
    let s = Proc::strata(BIN, None, &[]);
    let mut c = s.client();
    c.cmd(&["SET", "str", "value"]);
    c.cmd(&["SET", "ttl", "soon", "EX", "5000"]);
    c.cmd(&["RPUSH", "list", "a", "b", "c"]);
    c.cmd(&["SADD", "set", "1", "2", "x"]);
    c.cmd(&["HSET", "hash", "f", "v", "g", "w"]);
    c.cmd(&["ZADD", "zset", "1.5", "a", "-inf", "b"]);
    c.cmd(&["HSET", "bighash", "x", &"y".repeat(100)]);
    c.cmd(&["EXPIRE", "list", "7000"]);
    let keys = ["str", "ttl", "list", "set", "hash", "zset", "bighash"];
    let want: Vec<_> = keys.iter().map(|k| snapshot_of(&mut c, k)).collect();

    c.cmd(&["BGDUMP", "PATTERN", "*", "FORMAT", "resp", "TO", "all.resp"]);
    let st = wait_done(&mut c, Duration::from_secs(30));
    assert_eq!(st["state"], "done");
    let resp = std::fs::read(&st["path"]).unwrap();
    let redis = Proc::start(&[]);
    let mut child = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--pipe"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &resp).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("errors: 0, replies: 7"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut r = redis.client();
    let got: Vec<_> = keys.iter().map(|k| snapshot_of(&mut r, k)).collect();
    assert_eq!(got, want, "resp output piped into Redis");

    c.cmd(&["BGDUMP", "PATTERN", "*", "FORMAT", "rdb", "TO", "dump.rdb"]);
    let st = wait_done(&mut c, Duration::from_secs(30));
    assert_eq!(st["state"], "done");
    let rdir = temp_dir("dump-rdb-load");
    std::fs::copy(&st["path"], rdir.join("dump.rdb")).unwrap();
    let loaded = Proc::start_in(Some(&rdir), &["--save", "", "--dbfilename", "dump.rdb"]);
    let mut l = loaded.client();
    assert_eq!(l.cmd(&["DBSIZE"]), Reply::Int(7));
    let got: Vec<_> = keys.iter().map(|k| snapshot_of(&mut l, k)).collect();
    assert_eq!(got, want, "rdb output loaded by Redis");
    drop(loaded);
    let _ = std::fs::remove_dir_all(&rdir);
}

#[test]
fn binary_keys_round_trip_and_globs_stay_fast() {
    let s = Proc::strata(BIN, None, &[]);
    let mut c = s.client();
    let keys: Vec<Vec<u8>> = vec![
        b"plain".to_vec(),
        b"new\nline".to_vec(),
        b"carriage\rreturn".to_vec(),
        b"nul\x00byte".to_vec(),
        b"\xff\xfe not utf-8".to_vec(),
        b"back\\slash \\n literal".to_vec(),
        "unicode ✓ é".as_bytes().to_vec(),
        b"".to_vec(),
    ];
    for k in &keys {
        c.call(&[b"SET", k, b"v"]);
    }
    c.cmd(&["BGDUMP", "PATTERN", "*", "TO", "binary"]);
    let st = wait_done(&mut c, Duration::from_secs(30));
    let lines = read_keys(std::path::Path::new(&st["path"]));
    assert_eq!(lines, keys.iter().cloned().collect::<BTreeSet<_>>());

    // Pathological patterns against long keys: linear-time matching.
    let long = "a".repeat(50_000);
    for i in 0..20 {
        c.cmd(&["SET", &format!("{long}{i}"), "v"]);
    }
    let pattern = "a*a*a*a*a*a*a*a*a*a*a*a*b";
    let t0 = Instant::now();
    c.cmd(&["BGDUMP", "PATTERN", pattern, "TO", "patho"]);
    let st = wait_done(&mut c, Duration::from_secs(30));
    assert_eq!(st["keys_written"], "0");
    let t = t0.elapsed();
    assert_eq!(c.cmd(&["KEYS", pattern]), Reply::Array(Some(vec![])));
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "pathological globs took {t:?} / {:?}",
        t0.elapsed()
    );
}
