//! Interop with a real `redis-server` 7.0.15 started by the test:
//! - our DUMP payloads, for every target, RESTORE there to the same value;
//! - Redis's DUMP of those keys restores here to the same value;
//! - an RDB file from `RdbWriter` loads there with the same keys, values and TTLs.

mod support;

use strata_rdb::{dump, restore, EncodeConfig, RdbWriter, Target, Value, RDB_VERSION_7_0};
use support::{random_value, Client, RedisServer, Reply, Rng};

/// Read a key back from Redis with ordinary commands, as a `Value`.
fn read_back(c: &mut Client, key: &[u8]) -> Value {
    let ty = match c.call(&[b"TYPE", key]) {
        Reply::Status(t) => t,
        other => panic!("TYPE: {other:?}"),
    };
    let bulks = |r: Reply| r.array().iter().map(Reply::bulk).collect::<Vec<_>>();
    match ty.as_str() {
        "string" => Value::String(c.call(&[b"GET", key]).bulk()),
        "list" => Value::List(bulks(c.call(&[b"LRANGE", key, b"0", b"-1"]))),
        "set" => Value::Set(bulks(c.call(&[b"SMEMBERS", key]))),
        "hash" => {
            let flat = bulks(c.call(&[b"HGETALL", key]));
            Value::Hash(
                flat.chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect(),
            )
        }
        "zset" => {
            let flat = bulks(c.call(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]));
            Value::ZSet(
                flat.chunks(2)
                    .map(|p| {
                        let s = String::from_utf8(p[1].clone()).unwrap();
                        let score = match s.as_str() {
                            "inf" => f64::INFINITY,
                            "-inf" => f64::NEG_INFINITY,
                            _ => s.parse().unwrap(),
                        };
                        (p[0].clone(), score)
                    })
                    .collect(),
            )
        }
        t => panic!("unexpected type {t}"),
    }
}

/// Scores compare as numbers (-0 reads back as 0).
fn same(a: Value, b: Value) -> bool {
    match (a.sorted(), b.sorted()) {
        (Value::ZSet(x), Value::ZSet(y)) => {
            x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| p.0 == q.0 && p.1 == q.1)
        }
        (x, y) => x == y,
    }
}

#[test]
fn payloads_and_files_interoperate_with_redis() {
    let redis = RedisServer::start(&[]);
    let mut c = redis.client();
    let mut rng = Rng(0xfeed_f00d_1234_5678);
    let values: Vec<Value> = (0..150).map(|_| random_value(&mut rng)).collect();
    let cfg = EncodeConfig::default();
    for (i, v) in values.iter().enumerate() {
        for target in [Target::Redis7_0, Target::Redis6, Target::Portable] {
            let key = format!("k:{i}:{target:?}").into_bytes();
            let payload = dump(v, target, &cfg);
            let reply = c.call(&[b"RESTORE", &key, b"0", &payload]);
            assert_eq!(
                reply,
                Reply::Status("OK".into()),
                "value {i} ({target:?}) refused: {v:?}"
            );
            let back = read_back(&mut c, &key);
            assert!(
                same(back.clone(), v.clone()),
                "value {i} ({target:?}) changed: {v:?} -> {back:?}"
            );
            // And the other way: Redis's own DUMP of the key restores here.
            let theirs = c.call(&[b"DUMP", &key]).bulk();
            let ours = restore(&theirs, RDB_VERSION_7_0).unwrap();
            assert!(
                same(ours, v.clone()),
                "value {i}: Redis's DUMP decoded differently"
            );
        }
    }

    // A whole RDB file: db 0 and db 5, some keys with a TTL far in the future.
    let dir = std::env::temp_dir().join(format!("strata-rdb-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let expire_ms = 4_102_444_800_000i64; // 2100-01-01
    {
        let f = std::io::BufWriter::new(std::fs::File::create(dir.join("ours.rdb")).unwrap());
        let mut w = RdbWriter::new(f, "7.0.15", 1_795_239_300, EncodeConfig::default()).unwrap();
        w.select_db(0, 100, 50).unwrap();
        for (i, v) in values.iter().take(100).enumerate() {
            let ttl = (i % 2 == 0).then_some(expire_ms);
            w.key(format!("f:{i}").as_bytes(), v, ttl).unwrap();
        }
        w.select_db(5, 50, 0).unwrap();
        for (i, v) in values.iter().skip(100).enumerate() {
            w.key(format!("g:{i}").as_bytes(), v, None).unwrap();
        }
        w.finish().unwrap();
    }
    let loaded = RedisServer::start_in(Some(&dir), &["--dbfilename", "ours.rdb"]);
    let mut c = loaded.client();
    assert_eq!(c.call(&[b"DBSIZE"]), Reply::Int(100));
    for (i, v) in values.iter().take(100).enumerate() {
        let key = format!("f:{i}").into_bytes();
        assert!(
            same(read_back(&mut c, &key), v.clone()),
            "file key f:{i} changed"
        );
        let want = if i % 2 == 0 { expire_ms } else { -1 };
        assert_eq!(
            c.call(&[b"PEXPIRETIME", &key]),
            Reply::Int(want),
            "TTL of f:{i}"
        );
    }
    c.call(&[b"SELECT", b"5"]);
    assert_eq!(c.call(&[b"DBSIZE"]), Reply::Int(50));
    for (i, v) in values.iter().skip(100).enumerate() {
        assert!(
            same(read_back(&mut c, format!("g:{i}").as_bytes()), v.clone()),
            "file key g:{i} changed"
        );
    }
    drop(loaded);
    let _ = std::fs::remove_dir_all(&dir);
}
