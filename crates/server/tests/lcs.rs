//! LCS against a real `redis-server` 7.0.15: seeded random strings over small
//! alphabets (so matches and ties abound) and random options give identical replies in
//! RESP2 and RESP3: the subsequence, its length, and the ranges Redis's backtracking
//! reports (with MINMATCHLEN and WITHMATCHLEN), and the same errors.

mod support;

use support::{seeds, strata, Client, Proc, Reply, Rng};

fn value(r: &mut Rng) -> Vec<u8> {
    let alphabet: &[u8] = [&b"ab"[..], b"abc", b"abcdefgh", b"\x00\xff"][r.index(4)];
    let n = match r.below(10) {
        0 => 0,
        1 => 200 + r.below(300),
        _ => r.below(30),
    };
    (0..n).map(|_| alphabet[r.index(alphabet.len())]).collect()
}

fn call(c: &mut Client, cmd: &[Vec<u8>]) -> Reply {
    let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
    c.call(&args)
}

#[test]
fn random_lcs_matches_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let mut a = redis.client();
    let mut b = ours.client();
    for seed in seeds(&[1, 2, 3, 4, 5, 6]) {
        let mut r = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
        let proto = if seed % 2 == 0 { "3" } else { "2" };
        for c in [&mut a, &mut b] {
            c.cmd(&["HELLO", proto]);
            c.cmd(&["FLUSHALL"]);
            c.cmd(&["RPUSH", "list", "x"]);
        }
        for step in 0..200 {
            let w = |s: &str| s.as_bytes().to_vec();
            let cmd: Vec<Vec<u8>> = if r.below(4) == 0 {
                vec![w("SET"), w(["k1", "k2"][r.index(2)]), value(&mut r)]
            } else {
                let key = |r: &mut Rng| w(["k1", "k2", "k1", "k2", "nokey", "list"][r.index(6)]);
                let mut c = vec![w("LCS"), key(&mut r), key(&mut r)];
                for _ in 0..r.below(4) {
                    match r.below(9) {
                        0 | 1 => c.push(w("IDX")),
                        2 => c.push(w("LEN")),
                        3 | 4 => c.push(w("WITHMATCHLEN")),
                        5 | 6 => {
                            c.push(w("MINMATCHLEN"));
                            c.push(w(&(r.below(6) as i64 - 1).to_string()));
                        }
                        7 => c.push(w("MINMATCHLEN")),
                        _ => c.push(w("BOGUS")),
                    }
                }
                c
            };
            let (x, y) = (call(&mut a, &cmd), call(&mut b, &cmd));
            let shown: Vec<String> = cmd
                .iter()
                .map(|s| String::from_utf8_lossy(&s[..s.len().min(20)]).into_owned())
                .collect();
            assert_eq!(x, y, "seed {seed} step {step}: {shown:?}");
        }
    }
}

#[test]
fn lcs_table_is_bounded_by_proto_max_bulk_len() {
    let ours = strata(&[]);
    let mut b = ours.client();
    let big = "a".repeat(30_000);
    b.cmd(&["SET", "big", &big]);
    assert_eq!(
        b.cmd(&["LCS", "big", "big", "LEN"]),
        Reply::Error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len".into()
        )
    );
    b.cmd(&["SET", "s", &big[..8000]]);
    assert_eq!(b.cmd(&["LCS", "s", "s", "LEN"]), Reply::Int(8000));
}
