//! BITOP, BITFIELD and BITFIELD_RO against a real `redis-server` 7.0.15: the same
//! seeded random sequences (with bad types, offsets, overflow modes and wrong-type
//! keys) give identical replies, and the keys' bytes, encodings and DUMP payloads
//! stay identical.

mod support;

use support::{seeds, strata, Client, Proc, Reply, Rng};

fn key(r: &mut Rng) -> Vec<u8> {
    format!("b{}", r.below(4)).into_bytes()
}

fn int(r: &mut Rng) -> String {
    match r.below(40) {
        0 => i64::MAX.to_string(),
        1 => i64::MIN.to_string(),
        2 => "-1".into(),
        3 => "x".into(),
        4 => (1i64 << r.below(63)).to_string(),
        5 => (-(1i64 << r.below(63))).to_string(),
        6 => ((1i64 << r.below(63)) - 1).to_string(),
        _ => (r.below(600) as i64 - 300).to_string(),
    }
}

fn field_type(r: &mut Rng) -> String {
    match r.below(100) {
        0 => "u64".into(),
        1 => "i0".into(),
        2 => "i65".into(),
        3 => "x8".into(),
        4 => "I8".into(),
        5 => "i64".into(),
        6 => "u63".into(),
        7 => "u".into(),
        8..=50 => format!("{}{}", ["i", "u"][r.index(2)], 1 + r.below(8)),
        _ => format!("{}{}", ["i", "u"][r.index(2)], 1 + r.below(63)),
    }
}

fn offset(r: &mut Rng) -> String {
    match r.below(60) {
        0 => format!("#{}", r.below(10)),
        1 => "-1".into(),
        2 => "4294967296".into(),
        3 => "abc".into(),
        4 => "#-1".into(),
        5 => "#9223372036854775807".into(),
        _ => r.below(120).to_string(),
    }
}

fn bitfield(r: &mut Rng, ro: bool) -> Vec<Vec<u8>> {
    let mut c = vec![
        if ro { "BITFIELD_RO" } else { "BITFIELD" }
            .as_bytes()
            .to_vec(),
        key(r),
    ];
    for _ in 0..r.below(5) {
        let sub: Vec<String> = match r.below(if ro { 42 } else { 40 }) {
            0..=2 => vec!["GET".into(), field_type(r), offset(r)],
            3..=4 => vec!["SET".into(), field_type(r), offset(r), int(r)],
            5..=6 => vec!["INCRBY".into(), field_type(r), offset(r), int(r)],
            7 | 38 | 39 => vec![
                "OVERFLOW".into(),
                ["WRAP", "SAT", "FAIL", "fail", "BOGUS"][r.index(5)].into(),
            ],
            8 => vec!["get".into(), field_type(r)],
            9 => vec!["NOPE".into()],
            10..=17 => vec!["GET".into(), field_type(r), offset(r)],
            18..=27 => vec!["SET".into(), field_type(r), offset(r), int(r)],
            28..=37 => vec!["INCRBY".into(), field_type(r), offset(r), int(r)],
            _ => vec!["GET".into(), field_type(r), offset(r)],
        };
        c.extend(sub.into_iter().map(String::into_bytes));
    }
    c
}

fn command(r: &mut Rng) -> Vec<Vec<u8>> {
    let w = |s: &str| s.as_bytes().to_vec();
    match r.below(30) {
        0..=8 => bitfield(r, false),
        9..=11 => bitfield(r, true),
        12..=17 => {
            let op = ["AND", "or", "XOR", "NOT", "NOT", "nand"][r.index(6)];
            let mut c = vec![w("BITOP"), w(op), key(r)];
            for _ in 0..1 + r.below(3) {
                c.push(key(r));
            }
            c
        }
        18 => {
            let v: Vec<u8> = (0..r.below(12)).map(|_| r.below(256) as u8).collect();
            vec![w("SET"), key(r), v]
        }
        19 => vec![w("SET"), key(r), w(&r.below(1000).to_string())],
        20 => vec![w("SETBIT"), key(r), w(&r.below(100).to_string()), w("1")],
        21 => vec![w("APPEND"), key(r), w("xyz")],
        22 => vec![w("DEL"), key(r)],
        23 => vec![w("LPUSH"), key(r), w("e")],
        24 => vec![w("EXPIRE"), key(r), w("1000")],
        25 => vec![w("BITOP"), w("AND"), key(r)],
        _ => vec![w("GET"), key(r)],
    }
}

fn call(c: &mut Client, cmd: &[Vec<u8>]) -> Reply {
    let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
    c.call(&args)
}

#[test]
fn random_sequences_match_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    for seed in seeds(&[1, 2, 3, 4, 5, 6]) {
        let mut r = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
        let mut a = redis.client();
        let mut b = ours.client();
        for c in [&mut a, &mut b] {
            c.cmd(&["FLUSHALL"]);
        }
        for step in 0..500 {
            let cmd = command(&mut r);
            let (x, y) = (call(&mut a, &cmd), call(&mut b, &cmd));
            let shown: Vec<String> = cmd
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            if std::env::var_os("DIFF_TRACE").is_some() {
                eprintln!("{step}: {shown:?} -> {x:?}");
            }
            assert_eq!(x, y, "seed {seed} step {step}: {shown:?}");
            for k in 0..4 {
                let key = format!("b{k}");
                for probe in [&["DUMP", &key][..], &["OBJECT", "ENCODING", &key]] {
                    let (x, y) = (a.cmd(probe), b.cmd(probe));
                    assert_eq!(x, y, "seed {seed} step {step} after {shown:?}: {probe:?}");
                }
                // The TTL was kept or dropped alike (seconds may tick between calls).
                match (a.cmd(&["TTL", &key]), b.cmd(&["TTL", &key])) {
                    (Reply::Int(x), Reply::Int(y)) => {
                        assert!((x - y).abs() <= 1, "seed {seed} step {step}: TTL {x} / {y}")
                    }
                    other => panic!("seed {seed} step {step}: TTL {other:?}"),
                }
            }
        }
    }
}
