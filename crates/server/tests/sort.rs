//! SORT and SORT_RO against a real `redis-server` 7.0.15: seeded random data (lists,
//! sets, sorted sets, weight strings and hashes) and random SORT options give the same
//! replies and the same stored lists (DUMP included). Where Redis's order depends on
//! its hash tables (BY without `*` on a set that is not an intset) or on its unstable
//! partial sort (ALPHA with BY, where weights can tie), the results are compared as
//! multisets.

mod support;

use support::{seeds, strata, Client, Proc, Reply, Rng};

fn elem(r: &mut Rng, numeric: bool) -> String {
    if numeric {
        match r.below(8) {
            0 => format!("{}.5", r.below(20) as i64 - 10),
            1 => format!("-{}", r.below(30)),
            2 => format!("{}e1", r.below(9)),
            3 => " 7".into(),
            _ => r.below(40).to_string(),
        }
    } else {
        match r.below(6) {
            0 => r.below(40).to_string(),
            1 => String::new(),
            2 => format!("B{}", r.below(10)),
            _ => format!("m{}", r.below(25)),
        }
    }
}

fn setup(r: &mut Rng) -> Vec<Vec<String>> {
    let mut cmds = vec![vec!["FLUSHALL".to_string()]];
    let numeric = r.below(2) == 0;
    let n = 1 + r.below(30);
    let mut push = |cmd: &str, key: &str, r: &mut Rng, scored: bool| {
        let mut c = vec![cmd.to_string(), key.to_string()];
        for _ in 0..n {
            if scored {
                c.push((r.below(10) as i64 - 3).to_string());
            }
            c.push(elem(r, numeric));
        }
        cmds.push(c);
    };
    push("RPUSH", "l", r, false);
    push("SADD", "s", r, false);
    push("ZADD", "z", r, true);
    let mut ints = vec!["SADD".to_string(), "si".to_string()];
    ints.extend((0..1 + r.below(20)).map(|_| (r.below(100) as i64 - 50).to_string()));
    cmds.push(ints);
    // Weights and hashes for about two thirds of the possible elements.
    for i in 0..40 {
        for e in [
            i.to_string(),
            format!("m{i}"),
            format!("B{i}"),
            format!("-{i}"),
        ] {
            if r.below(3) != 0 {
                let w = match r.below(10) {
                    0 => "x".to_string(),
                    1 => format!("{}.25", r.below(50)),
                    _ => (r.below(1000) as i64 - 500).to_string(),
                };
                cmds.push(vec!["SET".into(), format!("w_{e}"), w.clone()]);
                cmds.push(vec!["HSET".into(), format!("h_{e}"), "f".into(), w]);
            }
        }
    }
    cmds.push(vec!["SET".into(), "str".into(), "v".into()]);
    cmds
}

fn sort_cmd(r: &mut Rng) -> Vec<String> {
    let ro = r.below(5) == 0;
    let key = ["l", "s", "z", "si", "str", "nokey"][r.index(6)];
    let mut c = vec![
        if ro { "SORT_RO" } else { "SORT" }.to_string(),
        key.to_string(),
    ];
    for _ in 0..r.below(5) {
        let opt: Vec<String> = match r.below(24) {
            0 => vec!["ASC".into()],
            1..=2 => vec!["DESC".into()],
            3..=5 => vec!["ALPHA".into()],
            6..=7 => vec![
                "LIMIT".into(),
                (r.below(8) as i64 - 2).to_string(),
                (r.below(10) as i64 - 2).to_string(),
            ],
            8..=9 => vec!["BY".into(), "w_*".into()],
            10 => vec!["BY".into(), "h_*->f".into()],
            11 => vec!["BY".into(), "nosort".into()],
            12 => vec!["BY".into(), "w_*->".into()],
            13..=14 => vec!["GET".into(), "#".into()],
            15..=16 => vec!["GET".into(), "w_*".into()],
            17 => vec!["GET".into(), "h_*->f".into()],
            18 => vec!["GET".into(), "nostar".into()],
            19..=20 => vec!["STORE".into(), "dst".into()],
            21 => vec!["LIMIT".into(), "x".into(), "1".into()],
            22 => vec!["BOGUS".into()],
            _ => vec!["LIMIT".into(), "1".into()],
        };
        c.extend(opt);
    }
    c
}

fn call(c: &mut Client, cmd: &[String]) -> Reply {
    let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
    c.call(&args)
}

/// The reply with its elements sorted (`loose`), or only its shape when a LIMIT picks
/// among elements whose order Redis does not fix (`shape`).
fn multiset(r: &Reply) -> Reply {
    match r {
        Reply::Array(Some(v)) => {
            let mut v = v.clone();
            v.sort_by_key(|x| format!("{x:?}"));
            Reply::Array(Some(v))
        }
        other => other.clone(),
    }
}

fn shape(r: &Reply) -> String {
    match r {
        Reply::Array(Some(v)) => format!("array of {}", v.len()),
        Reply::Int(n) => format!("int {n}"),
        other => format!("{other:?}"),
    }
}

/// How strictly a SORT's result can be compared.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    /// Redis's order is fixed.
    Exact,
    /// Redis's order depends on its internals: compare as multisets.
    Multiset,
    /// A LIMIT picks among elements Redis orders as it happens to: compare the shape.
    Shape,
}

fn mode_of(cmd: &[String]) -> Mode {
    let has = |w: &str| cmd.iter().any(|a| a.eq_ignore_ascii_case(w));
    let by_star = cmd
        .windows(2)
        .any(|w| w[0].eq_ignore_ascii_case("by") && w[1].contains('*'));
    let by_plain = cmd
        .windows(2)
        .any(|w| w[0].eq_ignore_ascii_case("by") && !w[1].contains('*'));
    // A BY without `*` turns sorting off for good; the last BY names the weights.
    let loose =
        (has("alpha") && by_star && !by_plain) || (cmd[1] == "s" && by_plain && !has("store"));
    match (loose, has("limit")) {
        (false, _) => Mode::Exact,
        (true, false) => Mode::Multiset,
        (true, true) => Mode::Shape,
    }
}

fn compare(mode: Mode, x: &Reply, y: &Reply, what: &str) {
    match mode {
        Mode::Exact => assert_eq!(x, y, "{what}"),
        Mode::Multiset => assert_eq!(multiset(x), multiset(y), "{what}"),
        Mode::Shape => assert_eq!(shape(x), shape(y), "{what}"),
    }
}

#[test]
fn random_sorts_match_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let mut a = redis.client();
    let mut b = ours.client();
    for seed in seeds(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
        let mut r = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
        for cmd in setup(&mut r) {
            assert_eq!(
                call(&mut a, &cmd),
                call(&mut b, &cmd),
                "seed {seed}: {cmd:?}"
            );
        }
        // How strictly dst compares: as the command that last stored it.
        let mut dst_mode = Mode::Exact;
        for step in 0..150 {
            let cmd = sort_cmd(&mut r);
            let (x, y) = (call(&mut a, &cmd), call(&mut b, &cmd));
            if std::env::var_os("DIFF_TRACE").is_some() {
                eprintln!("{step}: {cmd:?} -> {x:?}");
            }
            let mode = mode_of(&cmd);
            let what = format!("seed {seed} step {step}: {cmd:?}");
            compare(mode, &x, &y, &what);
            if matches!(x, Reply::Int(_)) {
                dst_mode = mode;
            }
            let (x, y) = (
                a.cmd(&["LRANGE", "dst", "0", "-1"]),
                b.cmd(&["LRANGE", "dst", "0", "-1"]),
            );
            compare(dst_mode, &x, &y, &format!("{what}: dst"));
            if dst_mode == Mode::Exact {
                assert_eq!(a.cmd(&["DUMP", "dst"]), b.cmd(&["DUMP", "dst"]), "{what}");
            }
        }
    }
}

#[test]
fn sort_store_replaces_any_type_and_drops_the_ttl() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    for c in [&mut redis.client(), &mut ours.client()] {
        c.cmd(&["RPUSH", "src", "3", "1", "2"]);
        c.cmd(&["HSET", "dst", "f", "v"]);
        c.cmd(&["EXPIRE", "dst", "100"]);
        assert_eq!(c.cmd(&["SORT", "src", "STORE", "dst"]), Reply::Int(3));
        assert_eq!(c.cmd(&["TTL", "dst"]), Reply::Int(-1));
        assert_eq!(c.cmd(&["TYPE", "dst"]), Reply::Status("list".into()));
        assert_eq!(c.cmd(&["SORT", "nokey", "STORE", "dst"]), Reply::Int(0));
        assert_eq!(c.cmd(&["EXISTS", "dst"]), Reply::Int(0));
        assert_eq!(
            c.cmd(&["SORT_RO", "src", "STORE", "dst"]),
            Reply::Error("ERR syntax error".into())
        );
    }
}
