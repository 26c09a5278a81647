//! Geo commands against a real `redis-server` 7.0.15: seeded random positions (in
//! clusters, at the poles' limits and the antimeridian, plus sorted-set scores that
//! are no geohash) and random GEOADD/GEOPOS/GEODIST/GEOHASH/GEORADIUS*/GEOSEARCH*
//! commands give byte-identical replies in RESP2 and RESP3: the members a search finds,
//! their order (the nine boxes' order when unsorted), distances, hashes, coordinates
//! and stored results (DUMP included).

mod support;

use support::{seeds, strata, Client, Proc, Reply, Rng};

fn coord(r: &mut Rng, centers: &[(f64, f64)]) -> (String, String) {
    let f = |r: &mut Rng| (r.below(1_000_000) as f64 / 1_000_000.0) - 0.5;
    match r.below(20) {
        0 => ("180".into(), "85.05112878".into()),
        1 => ("-179.5".into(), "-85.05112878".into()),
        2 => ("181".into(), "10".into()),
        3 => ("10".into(), "86".into()),
        4 => ("abc".into(), "1".into()),
        5 => (
            format!("{:.6}", 360.0 * (f(r) + 0.5) - 180.0),
            format!("{:.6}", 170.0 * f(r)),
        ),
        _ => {
            let (lon, lat) = centers[r.index(centers.len())];
            let spread = [0.01, 0.5, 5.0][r.index(3)];
            let lon = (lon + spread * f(r)).clamp(-180.0, 180.0);
            let lat = (lat + spread * f(r)).clamp(-85.0, 85.0);
            (format!("{lon:.6}"), format!("{lat:.6}"))
        }
    }
}

fn member(r: &mut Rng) -> String {
    format!("p{}", r.below(30))
}

fn unit(r: &mut Rng) -> &'static str {
    let n = if r.below(20) == 0 { 6 } else { 5 };
    ["m", "km", "KM", "mi", "ft", "parsec"][r.index(n)]
}

fn dist(r: &mut Rng) -> String {
    match r.below(14) {
        0 => "0".into(),
        1 => "-1".into(),
        2 => "x".into(),
        3 => "20000".into(),
        4 => "6000".into(),
        _ => format!("{}", 1 + r.below(800)),
    }
}

fn search_opts(r: &mut Rng, c: &mut Vec<String>, store_ok: bool) {
    for _ in 0..r.below(5) {
        let o: Vec<String> = match r.below(16) {
            0 => vec!["WITHDIST".into()],
            1 => vec!["WITHCOORD".into()],
            2 => vec!["WITHHASH".into()],
            3 | 4 => vec!["ASC".into()],
            5 => vec!["DESC".into()],
            6 | 7 => vec!["COUNT".into(), (1 + r.below(6)).to_string()],
            8 => vec!["COUNT".into(), (1 + r.below(6)).to_string(), "ANY".into()],
            9 => vec!["ANY".into()],
            10 => vec!["COUNT".into(), "0".into()],
            11 if store_ok => vec!["STORE".into(), "dst".into()],
            12 if store_ok => vec!["STOREDIST".into(), "dst".into()],
            13 => vec!["BOGUS".into()],
            _ => vec!["WITHDIST".into()],
        };
        c.extend(o);
    }
}

fn command(r: &mut Rng, centers: &[(f64, f64)]) -> Vec<String> {
    let key = if r.below(12) == 0 { "nokey" } else { "g" };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match r.below(30) {
        0..=5 => {
            let mut c = s(&["GEOADD", "g"]);
            for o in ["NX", "XX", "CH"] {
                if r.below(8) == 0 {
                    c.push(o.into());
                }
            }
            for _ in 0..1 + r.below(4) {
                let (lon, lat) = coord(r, centers);
                // A position at a limit belongs to one member only: two members at one
                // position tie in distance, and which of them a COUNT keeps is up to
                // Redis's unstable partial sort (docs/commands.md).
                let m = match (lon.as_str(), lat.as_str()) {
                    ("180", _) => "edge0".to_string(),
                    ("-179.5", _) => "edge1".to_string(),
                    _ => member(r),
                };
                c.extend([lon, lat, m]);
            }
            c
        }
        6..=7 => {
            let mut c = s(&["GEOPOS", key]);
            c.extend((0..1 + r.below(3)).map(|_| member(r)));
            c
        }
        8..=9 => {
            let mut c = s(&["GEODIST", key]);
            c.extend([member(r), member(r)]);
            if r.below(2) == 0 {
                c.push(unit(r).into());
            }
            c
        }
        10 => {
            let mut c = s(&["GEOHASH", key]);
            c.extend((0..1 + r.below(3)).map(|_| member(r)));
            c
        }
        11..=13 => {
            let ro = r.below(3) == 0;
            let (lon, lat) = coord(r, centers);
            let mut c = vec![
                if ro { "GEORADIUS_RO" } else { "GEORADIUS" }.to_string(),
                key.into(),
            ];
            c.extend([lon, lat, dist(r), unit(r).into()]);
            search_opts(r, &mut c, !ro);
            c
        }
        14..=16 => {
            let ro = r.below(3) == 0;
            let mut c = vec![
                if ro {
                    "GEORADIUSBYMEMBER_RO"
                } else {
                    "GEORADIUSBYMEMBER"
                }
                .to_string(),
                key.into(),
                member(r),
                dist(r),
                unit(r).into(),
            ];
            search_opts(r, &mut c, !ro);
            c
        }
        _ => {
            let store = r.below(3) == 0;
            let mut c = if store {
                s(&["GEOSEARCHSTORE", "dst", key])
            } else {
                s(&["geosearch", key])
            };
            match r.below(8) {
                0 => {}
                1 => c.extend([
                    "FROMMEMBER".to_string(),
                    member(r),
                    "FROMLONLAT".into(),
                    "1".into(),
                    "2".into(),
                ]),
                2..=4 => c.extend(["FROMMEMBER".to_string(), member(r)]),
                _ => {
                    let (lon, lat) = coord(r, centers);
                    c.extend(["FROMLONLAT".to_string(), lon, lat]);
                }
            }
            match r.below(7) {
                0 => {}
                1..=3 => c.extend(["BYRADIUS".to_string(), dist(r), unit(r).into()]),
                _ => c.extend(["BYBOX".to_string(), dist(r), dist(r), unit(r).into()]),
            }
            search_opts(r, &mut c, false);
            if store && r.below(2) == 0 {
                c.push("STOREDIST".into());
            }
            c
        }
    }
}

fn call(c: &mut Client, cmd: &[String]) -> Reply {
    let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
    c.call(&args)
}

#[test]
fn random_geo_commands_match_real_redis() {
    let redis = Proc::start(&[]);
    let ours = strata(&[]);
    let mut a = redis.client();
    let mut b = ours.client();
    for seed in seeds(&[1, 2, 3, 4, 5, 6, 7, 8]) {
        let mut r = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
        let proto = if seed % 2 == 0 { "3" } else { "2" };
        let centers: Vec<(f64, f64)> = (0..3)
            .map(|_| {
                (
                    r.below(360) as f64 - 180.0,
                    [r.below(170) as f64 - 85.0, 0.0, 70.0, -82.0][r.index(4)],
                )
            })
            .collect();
        for c in [&mut a, &mut b] {
            c.cmd(&["HELLO", proto]);
            c.cmd(&["FLUSHALL"]);
            // Scores that are no geohash still decode to some position.
            c.cmd(&[
                "ZADD",
                "g",
                "-5",
                "z1",
                "inf",
                "z2",
                "4503599627370495",
                "z4",
            ]);
        }
        for step in 0..250 {
            let cmd = command(&mut r, &centers);
            let (x, y) = (call(&mut a, &cmd), call(&mut b, &cmd));
            if std::env::var_os("DIFF_TRACE").is_some() {
                eprintln!("{step}: {cmd:?} -> {x:?}");
            }
            assert_eq!(x, y, "seed {seed} step {step}: {cmd:?}");
            if cmd
                .iter()
                .any(|w| w.starts_with("STORE") || w == "GEOSEARCHSTORE")
            {
                let zr = ["ZRANGE", "dst", "0", "-1", "WITHSCORES"];
                assert_eq!(a.cmd(&zr), b.cmd(&zr), "seed {seed} step {step}: dst");
                assert_eq!(
                    a.cmd(&["DUMP", "dst"]),
                    b.cmd(&["DUMP", "dst"]),
                    "seed {seed} step {step}"
                );
            }
        }
    }
}
