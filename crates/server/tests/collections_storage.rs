//! Collections on versioned sub-records: deleting a collection of any size is one
//! metadata write; compaction gives the space back; a new key of the same name sees
//! nothing of the old one. Acknowledged collection writes survive kill -9.

mod support;

use std::time::{Duration, Instant};

use support::{fill_hash, temp_dir, Client, Proc, Reply, BIN};

/// Bytes of the SSTs (WALs are pre-sized, so they are left out).
fn dir_bytes(d: &std::path::Path) -> u64 {
    std::fs::read_dir(d)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "sst"))
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[test]
fn deleting_a_million_field_hash_is_o1_and_compaction_reclaims_it() {
    let dir = temp_dir("bighash");
    let s = Proc::strata(BIN, Some(&dir), &[]);
    let mut c = s.client();
    // 1M fields, 1,000 per HSET, pipelined 10 commands at a time.
    let fields_per_cmd = 1000;
    let mut sent = 0;
    for batch in 0..100 {
        for j in 0..10 {
            let base = (batch * 10 + j) * fields_per_cmd;
            let mut args: Vec<Vec<u8>> = vec![b"HSET".to_vec(), b"big".to_vec()];
            for f in base..base + fields_per_cmd {
                args.push(format!("field:{f:07}").into_bytes());
                args.push(format!("value-{f}-padding-to-make-it-longer").into_bytes());
            }
            let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            c.send(&a);
            sent += 1;
        }
        for _ in 0..10 {
            assert_eq!(c.read(), Reply::Int(fields_per_cmd as i64));
        }
    }
    assert_eq!(sent, 1000);
    assert_eq!(c.cmd(&["HLEN", "big"]), Reply::Int(1_000_000));
    assert_eq!(
        c.cmd(&["OBJECT", "ENCODING", "big"]),
        Reply::Bulk(Some(b"hashtable".to_vec()))
    );
    assert_eq!(c.cmd(&["SAVE"]), Reply::Status("OK".into()));
    assert_eq!(c.cmd(&["DEBUG", "COMPACT"]), Reply::Status("OK".into()));
    let full = dir_bytes(&dir);
    assert!(
        full > 20 << 20,
        "1M fields should take real space, found {full} bytes"
    );

    // O(1): one metadata write, however big the hash.
    let t0 = Instant::now();
    assert_eq!(c.cmd(&["DEL", "big"]), Reply::Int(1));
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "DEL of a 1M-field hash took {took:?}"
    );
    assert_eq!(c.cmd(&["EXISTS", "big"]), Reply::Int(0));

    // A new key with the same name sees none of the old fields.
    assert_eq!(
        c.cmd(&["HSET", "big", "field:0000001", "new"]),
        Reply::Int(1)
    );
    assert_eq!(c.cmd(&["HLEN", "big"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["HGETALL", "big"]),
        Reply::Array(Some(vec![
            Reply::Bulk(Some(b"field:0000001".to_vec())),
            Reply::Bulk(Some(b"new".to_vec()))
        ]))
    );
    assert_eq!(c.cmd(&["HGET", "big", "field:0000002"]), Reply::Bulk(None));

    // Compaction drops the stale sub-records: the space comes back.
    assert_eq!(c.cmd(&["SAVE"]), Reply::Status("OK".into()));
    assert_eq!(c.cmd(&["DEBUG", "COMPACT"]), Reply::Status("OK".into()));
    let after = dir_bytes(&dir);
    eprintln!("SSTs: {full} bytes with the hash, {after} bytes after DEL + compaction");
    assert!(
        after < full / 10,
        "space not reclaimed: {full} -> {after} bytes"
    );
    assert_eq!(c.cmd(&["HGETALL", "big"]).array().len(), 2);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn collection_writes_survive_kill9_under_always() {
    let dir = temp_dir("coll-kill9");
    let mut s = Proc::strata(BIN, Some(&dir), &["--appendfsync", "always"]);
    let mut c = s.client();
    let mut acked = 0;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(800) {
        let i = acked.to_string();
        assert_eq!(c.cmd(&["RPUSH", "list", &i]), Reply::Int(acked + 1));
        assert_eq!(c.cmd(&["HSET", "hash", &i, &i]), Reply::Int(1));
        assert_eq!(c.cmd(&["SADD", "set", &i]), Reply::Int(1));
        assert_eq!(c.cmd(&["ZADD", "zset", &i, &i]), Reply::Int(1));
        acked += 1;
    }
    s.kill9();
    let s = Proc::strata(BIN, Some(&dir), &[]);
    let mut c: Client = s.client();
    assert_eq!(c.cmd(&["LLEN", "list"]), Reply::Int(acked));
    assert_eq!(c.cmd(&["HLEN", "hash"]), Reply::Int(acked));
    assert_eq!(c.cmd(&["SCARD", "set"]), Reply::Int(acked));
    assert_eq!(c.cmd(&["ZCARD", "zset"]), Reply::Int(acked));
    let last = (acked - 1).to_string();
    assert_eq!(
        c.cmd(&["LINDEX", "list", "-1"]),
        Reply::Bulk(Some(last.clone().into_bytes()))
    );
    assert_eq!(
        c.cmd(&["ZSCORE", "zset", &last]),
        Reply::Bulk(Some(last.clone().into_bytes()))
    );
    eprintln!("{acked} acknowledged rounds of 4 collection writes survived kill -9");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compaction_keeps_exactly_the_live_version_of_a_recreated_key() {
    // Four versions of one hash, each in its own SST; the first three deleted. The
    // compaction filter decides per run of one version's records (and caches that
    // decision), so this checks the switch from removed runs to the kept one.
    let dir = temp_dir("recreated");
    let s = Proc::strata(BIN, Some(&dir), &[]);
    let mut c = s.client();
    for round in 0..4 {
        let mut args: Vec<String> = vec!["HSET".into(), "k".into()];
        for f in 0..2000 {
            args.push(format!("f{f:05}"));
            args.push(format!("round-{round}"));
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(c.cmd(&a), Reply::Int(2000));
        assert_eq!(c.cmd(&["SAVE"]), Reply::Status("OK".into()));
        if round < 3 {
            assert_eq!(c.cmd(&["DEL", "k"]), Reply::Int(1));
        }
    }
    assert_eq!(c.cmd(&["DEBUG", "COMPACT"]), Reply::Status("OK".into()));
    assert_eq!(c.cmd(&["HLEN", "k"]), Reply::Int(2000));
    let all = c.cmd(&["HVALS", "k"]).array();
    assert_eq!(all.len(), 2000);
    assert!(all
        .iter()
        .all(|v| *v == Reply::Bulk(Some(b"round-3".to_vec()))));
    // Nothing of the deleted versions is left on disk: one version's worth of SST.
    let one = dir_bytes(&dir);
    eprintln!("SSTs after compaction: {one} bytes");
    assert!(one < 90_000, "stale versions kept: {one} bytes of SST");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A RESTORE of a big collection goes to the engine as an SST of its records, before
/// the metadata that names them: the records must survive compactions and restarts,
/// take later writes, and go away (space and all) once the key is deleted.
#[test]
fn bulk_restored_collections_live_and_die_like_written_ones() {
    const FIELDS: usize = 50_000;
    let dir = temp_dir("bulk-restore");
    let mut s = Proc::strata(BIN, Some(&dir), &["--appendfsync", "always"]);
    let mut c = s.client();
    fill_hash(&mut c, "src", FIELDS, |i| {
        format!("value:{i:06}:{}", "x".repeat(40))
    });
    let payload = c.cmd(&["DUMP", "src"]).bulk();
    let sorted = |r: Reply| {
        let mut v: Vec<Vec<u8>> = r.array().iter().map(Reply::bulk).collect();
        v.sort();
        v
    };
    let want = sorted(c.cmd(&["HGETALL", "src"]));
    assert_eq!(
        c.call(&[b"RESTORE", b"copy", b"0", &payload]),
        Reply::Status("OK".into())
    );
    let info = String::from_utf8(c.cmd(&["INFO", "engine"]).bulk()).unwrap();
    assert!(info.contains("engine_bulk_loads:1\r\n"), "{info}");
    assert_eq!(sorted(c.cmd(&["HGETALL", "copy"])), want);
    assert_eq!(
        c.cmd(&["HSET", "copy", "field:000010", "changed"]),
        Reply::Int(0)
    );
    assert_eq!(c.cmd(&["HDEL", "copy", "field:000011"]), Reply::Int(1));
    // Compaction (its filter reads the metadata of every run of records) keeps them.
    assert_eq!(c.cmd(&["DEL", "src"]), Reply::Int(1));
    assert_eq!(c.cmd(&["DEBUG", "COMPACT"]), Reply::Status("OK".into()));
    let check = |c: &mut Client| {
        assert_eq!(c.cmd(&["HLEN", "copy"]), Reply::Int(FIELDS as i64 - 1));
        assert_eq!(
            c.cmd(&["HGET", "copy", "field:000010"]),
            Reply::Bulk(Some(b"changed".to_vec()))
        );
        assert_eq!(c.cmd(&["HGET", "copy", "field:000011"]), Reply::Bulk(None));
        assert_eq!(
            c.cmd(&["HGET", "copy", "field:049999"]),
            Reply::Bulk(Some(
                format!("value:049999:{}", "x".repeat(40)).into_bytes()
            ))
        );
        assert_eq!(c.cmd(&["HGETALL", "copy"]).array().len(), 2 * (FIELDS - 1));
    };
    check(&mut c);
    // A crash right after: the load and the writes after it are all there.
    s.kill9();
    let s = Proc::strata(BIN, Some(&dir), &[]);
    let mut c = s.client();
    check(&mut c);
    assert_eq!(c.cmd(&["EXISTS", "src"]), Reply::Int(0));
    let full = dir_bytes(&dir);
    // Deleted, then restored again under the same name: only the new records show,
    // and compaction gives the old ones' space back.
    assert_eq!(c.cmd(&["DEL", "copy"]), Reply::Int(1));
    assert_eq!(
        c.call(&[b"RESTORE", b"copy", b"0", &payload]),
        Reply::Status("OK".into())
    );
    assert_eq!(c.cmd(&["DEL", "copy"]), Reply::Int(1));
    assert_eq!(c.cmd(&["DEBUG", "COMPACT"]), Reply::Status("OK".into()));
    let after = dir_bytes(&dir);
    eprintln!("SSTs: {full} bytes with the restored hash, {after} after DEL + compaction");
    assert!(
        after < full / 10,
        "space not reclaimed: {full} -> {after} bytes"
    );
    assert_eq!(
        c.call(&[b"RESTORE", b"copy", b"0", &payload]),
        Reply::Status("OK".into())
    );
    assert_eq!(sorted(c.cmd(&["HGETALL", "copy"])), want);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
