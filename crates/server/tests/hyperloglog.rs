//! HyperLogLog against a real `redis-server` 7.0.15: the same seeded random sequences
//! of PFADD/PFCOUNT/PFMERGE/PFDEBUG (with hand-made corrupt values and changing
//! `hll-sparse-max-bytes`) give identical replies, and after every write the key's
//! bytes (GET) and its DUMP payload are identical too: the sparse opcodes, the
//! promotion to dense, the cached count and the hash all match Redis's.

mod support;

use support::{seeds, strata, Client, Proc, Reply, Rng};

fn element(r: &mut Rng, pool: u64) -> Vec<u8> {
    match r.below(6) {
        0 => Vec::new(),
        1 => r.next().to_le_bytes().to_vec(),
        _ => format!("e{}", r.below(pool)).into_bytes(),
    }
}

/// A value Redis accepts as an HLL header but whose registers may not add up, or a
/// string that is no HLL at all.
fn odd_value(r: &mut Rng) -> Vec<u8> {
    let mut v = b"HYLL".to_vec();
    match r.below(6) {
        0 => return b"not an hll".to_vec(),
        1 => return b"HYLL".to_vec(),
        2 => {
            // Dense of the wrong length, or of the right length with random registers.
            v.push(0);
            v.extend_from_slice(&[0; 11]);
            let n = if r.below(2) == 0 { 12288 } else { 100 };
            v.extend((0..n).map(|_| r.below(256) as u8));
        }
        3 => {
            // An unknown encoding.
            v.push(2);
            v.extend_from_slice(&[0; 13]);
        }
        _ => {
            // Sparse, with random opcodes (mostly not covering 16384 registers).
            v.push(1);
            v.extend_from_slice(&[0; 3]);
            let card = if r.below(2) == 0 { 0x80u8 } else { 0 };
            v.extend_from_slice(&[5, 0, 0, 0, 0, 0, 0, card]);
            let n = r.below(12);
            v.extend((0..n).map(|_| r.below(256) as u8));
            if r.below(3) == 0 {
                v.extend_from_slice(&[0x7f, 0xff]);
            }
            // Not an XZERO cut short at the end: Redis reads its missing byte from
            // past the string, where an earlier edit may have left one (see
            // docs/hyperloglog.md); here it reads as 0.
            if v.last().is_some_and(|b| b & 0xc0 == 0x40) {
                v.push(0x80);
            }
        }
    }
    v
}

fn command(r: &mut Rng, pool: u64) -> Vec<Vec<u8>> {
    let key = |r: &mut Rng| format!("h{}", r.below(4)).into_bytes();
    let word = |s: &str| s.as_bytes().to_vec();
    match r.below(40) {
        0..=14 => {
            let mut c = vec![word("PFADD"), key(r)];
            let n = match r.below(10) {
                0 => 0,
                1 => 200 + r.below(600),
                _ => 1 + r.below(8),
            };
            for _ in 0..n {
                c.push(element(r, pool));
            }
            c
        }
        15..=21 => {
            let mut c = vec![word("PFCOUNT"), key(r)];
            for _ in 0..r.below(3) {
                c.push(key(r));
            }
            c
        }
        22..=25 => {
            let mut c = vec![word("PFMERGE"), key(r)];
            for _ in 0..r.below(3) {
                c.push(key(r));
            }
            c
        }
        26 => vec![word("SET"), key(r), odd_value(r)],
        27 => vec![word("DEL"), key(r)],
        28 => vec![word("LPUSH"), key(r), word("x")],
        29 => {
            let sub = ["ENCODING", "DECODE", "GETREG", "TODENSE", "BOGUS"][r.index(5)];
            vec![word("PFDEBUG"), word(sub), key(r)]
        }
        30 => {
            let v = ["0", "20", "100", "3000", "20000"][r.index(5)];
            vec![
                word("CONFIG"),
                word("SET"),
                word("hll-sparse-max-bytes"),
                word(v),
            ]
        }
        31 => vec![word("PFADD")],
        32 => vec![word("EXPIRE"), key(r), word("1000")],
        33 => vec![word("TTL"), key(r)],
        _ => vec![word("PFCOUNT"), key(r)],
    }
}

fn call(c: &mut Client, cmd: &[Vec<u8>]) -> Reply {
    let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
    c.call(&args)
}

fn show(cmd: &[Vec<u8>]) -> String {
    let parts: Vec<String> = cmd
        .iter()
        .take(6)
        .map(|a| String::from_utf8_lossy(&a[..a.len().min(40)]).into_owned())
        .collect();
    format!("{parts:?} ({} args)", cmd.len())
}

#[test]
fn random_sequences_match_real_redis_byte_for_byte() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    for seed in seeds(&[1, 2, 3, 4, 5, 6, 7, 8]) {
        let mut r = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
        let pool = [50, 2000, 1_000_000][(seed % 3) as usize];
        let mut a = redis.client();
        let mut b = ours.client();
        for c in [&mut a, &mut b] {
            c.cmd(&["FLUSHALL"]);
            c.cmd(&["CONFIG", "SET", "hll-sparse-max-bytes", "3000"]);
        }
        for step in 0..400 {
            let cmd = command(&mut r, pool);
            let (x, y) = (call(&mut a, &cmd), call(&mut b, &cmd));
            let what = show(&cmd);
            if std::env::var_os("DIFF_TRACE").is_some() {
                eprintln!("{step}: {cmd:?} -> {x:?}");
            }
            if cmd[0] == b"TTL" {
                match (&x, &y) {
                    (Reply::Int(p), Reply::Int(q)) => assert!((p - q).abs() <= 1),
                    _ => panic!("seed {seed} step {step}: {what}: {x:?} / {y:?}"),
                }
                continue;
            }
            assert_eq!(x, y, "seed {seed} step {step}: {what}");
            if cmd.len() > 1 && cmd[0].starts_with(b"PF") {
                for k in 0..4 {
                    let key = format!("h{k}");
                    for probe in ["GET", "DUMP"] {
                        let (x, y) = (a.cmd(&[probe, &key]), b.cmd(&[probe, &key]));
                        assert_eq!(x, y, "seed {seed} step {step} after {what}: {probe} {key}");
                    }
                }
            }
        }
    }
}

/// HLLs made by Redis restore here and count the same; ours restore in Redis.
#[test]
fn hll_payloads_cross_between_redis_and_strata() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let mut a = redis.client();
    let mut b = ours.client();
    let mut r = Rng(0x4711);
    for (i, n) in [0usize, 3, 150, 900, 20_000].into_iter().enumerate() {
        let key = format!("src{i}");
        let elems: Vec<Vec<u8>> = (0..n).map(|_| r.next().to_le_bytes().to_vec()).collect();
        for chunk in elems.chunks(1000).chain(std::iter::once(&[][..])) {
            let mut cmd = vec![b"PFADD".to_vec(), key.clone().into_bytes()];
            cmd.extend(chunk.iter().cloned());
            call(&mut a, &cmd);
        }
        let want = a.cmd(&["PFCOUNT", &key]);
        let payload = a.cmd(&["DUMP", &key]).bulk();
        let args: [&[u8]; 4] = [b"RESTORE", key.as_bytes(), b"0", &payload];
        assert_eq!(b.call(&args), Reply::Status("OK".into()));
        assert_eq!(b.cmd(&["PFCOUNT", &key]), want, "{n} elements");
        assert_eq!(
            b.cmd(&["PFDEBUG", "ENCODING", &key]),
            a.cmd(&["PFDEBUG", "ENCODING", &key])
        );
        // And back: add more on our side, restore in Redis under another name.
        let mut cmd = vec![b"PFADD".to_vec(), key.clone().into_bytes()];
        cmd.extend((0..50).map(|j| format!("more{j}").into_bytes()));
        call(&mut b, &cmd);
        let ours_count = b.cmd(&["PFCOUNT", &key]);
        let payload = b.cmd(&["DUMP", &key]).bulk();
        let back = format!("back{i}");
        let args: [&[u8]; 4] = [b"RESTORE", back.as_bytes(), b"0", &payload];
        assert_eq!(a.call(&args), Reply::Status("OK".into()));
        assert_eq!(a.cmd(&["PFCOUNT", &back]), ours_count);
        call(&mut a, &cmd);
        assert_eq!(a.cmd(&["PFCOUNT", &key]), ours_count);
        assert_eq!(a.cmd(&["GET", &key]), b.cmd(&["GET", &key]));
    }
}

#[test]
fn pfselftest_passes_and_hll_commands_are_known() {
    let ours = strata(&[]);
    let mut b = ours.client();
    assert_eq!(b.cmd(&["PFSELFTEST"]), Reply::Status("OK".into()));
    let info = b
        .cmd(&["COMMAND", "INFO", "pfadd", "pfcount", "pfmerge"])
        .array();
    assert!(info.iter().all(|i| matches!(i, Reply::Array(Some(_)))));
}

/// Crowded sparse values (a large `hll-sparse-max-bytes`, thousands of elements): runs
/// of equal registers sit side by side, so the merging of adjacent VAL opcodes and the
/// splitting of VAL runs decide the bytes. They must be Redis's after every batch.
#[test]
fn crowded_sparse_values_match_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let mut a = redis.client();
    let mut b = ours.client();
    let mut r = Rng(0xC0FFEE);
    for c in [&mut a, &mut b] {
        c.cmd(&["CONFIG", "SET", "hll-sparse-max-bytes", "30000"]);
    }
    for batch in 0..120 {
        let mut cmd = vec![b"PFADD".to_vec(), b"crowd".to_vec()];
        cmd.extend((0..100).map(|_| r.next().to_le_bytes().to_vec()));
        assert_eq!(call(&mut a, &cmd), call(&mut b, &cmd), "batch {batch}");
        assert_eq!(
            a.cmd(&["GET", "crowd"]),
            b.cmd(&["GET", "crowd"]),
            "bytes after batch {batch}"
        );
    }
    assert_eq!(
        a.cmd(&["PFDEBUG", "ENCODING", "crowd"]),
        Reply::Status("sparse".into())
    );
    assert_eq!(a.cmd(&["PFCOUNT", "crowd"]), b.cmd(&["PFCOUNT", "crowd"]));
}

/// The edge of Redis's merge window: after a VAL run is split, its last piece merges
/// with the next VAL only because the window reaches five opcodes from the one before
/// the split. Hand-made values put an element's register there.
#[test]
fn merge_window_edge_matches_real_redis() {
    use strata_server::hll::register_of;
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let mut a = redis.client();
    let mut b = ours.client();
    let (element, idx, count) = (0..)
        .map(|i| format!("e{i}"))
        .find_map(|e| {
            let (idx, count) = register_of(e.as_bytes());
            (count >= 2 && (100..16_000).contains(&idx)).then_some((e, idx, count))
        })
        .unwrap();
    let xzero = |n: usize| [0x40 | ((n - 1) >> 8) as u8, ((n - 1) & 0xff) as u8];
    let val = |v: u8, n: u8| 0x80 | (v - 1) << 2 | (n - 1);
    // Registers idx-1..=idx+2 at 1 (the split run), idx+3..=idx+4 at 1 (the next VAL),
    // zeros around.
    for first in [idx - 1, idx - 2, idx - 3] {
        let mut v = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0".to_vec();
        v.extend_from_slice(&xzero(first));
        v.push(val(1, 4));
        v.push(val(1, 2));
        v.extend_from_slice(&xzero(16384 - first - 6));
        for c in [&mut a, &mut b] {
            let args: [&[u8]; 3] = [b"SET", b"edge", &v];
            c.call(&args);
            assert_eq!(c.cmd(&["PFADD", "edge", &element]), Reply::Int(1));
        }
        assert_eq!(
            a.cmd(&["GET", "edge"]),
            b.cmd(&["GET", "edge"]),
            "register {idx} (count {count}) in a run from {first}"
        );
    }
}
