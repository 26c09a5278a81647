//! `cargo xtask bench-dump [--keys N] [--no-docs]`: the background dumper beside what
//! Redis users do today. 1M keys in strata-server and in a real redis-server 7.0.15;
//! `redis-cli --scan --pattern` on Redis against `BGDUMP PATTERN` (and `BGDUMP SLOT`) on
//! Strata, keys/s and ratio; GET p99 under redis-benchmark load while dumps run back to
//! back, against without. Writes `docs/benchmarks.md` between the `bench-dump` markers.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bench_server::{start, Resp};

fn populate(port: u16, n: u64) -> Option<()> {
    let mut c = Resp::connect(port)?;
    let mut i = 0;
    while i < n {
        let end = (i + 1000).min(n);
        // redis-benchmark's `-r` keys: key:<12 digits>, so its GETs hit.
        let keys: Vec<Vec<u8>> = (i..end)
            .map(|k| format!("key:{k:012}").into_bytes())
            .collect();
        let mut a: Vec<&[u8]> = vec![b"MSET"];
        for k in &keys {
            a.push(k);
            a.push(b"value-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        }
        c.call(&a).ok()?;
        i = end;
    }
    Some(())
}

/// Run a BGDUMP and wait for it; (keys written, seconds).
fn bgdump(c: &mut Resp, args: &[&[u8]]) -> Option<(u64, f64)> {
    let t0 = Instant::now();
    let mut a: Vec<&[u8]> = vec![b"BGDUMP"];
    a.extend_from_slice(args);
    c.call(&a).ok()?;
    loop {
        c.send(&[b"INFO", b"dump"])?;
        let info = String::from_utf8(c.read().ok()?).ok()?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .map(|v| v.trim().to_string())
        };
        if field("dump_state").as_deref() != Some("running") {
            let keys = field("dump_keys_written")?.parse().ok()?;
            return Some((keys, t0.elapsed().as_secs_f64()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn get_p99(port: u16, requests: u64) -> Option<f64> {
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "50",
            "-n",
            &requests.to_string(),
        ])
        .args(["-r", "1000000", "-t", "get", "--csv"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.starts_with("\"GET\""))?;
    let f: Vec<f64> = row
        .split(',')
        .skip(1)
        .filter_map(|v| v.trim_matches('"').parse().ok())
        .collect();
    f.get(5).copied()
}

pub fn run(args: &[String]) -> bool {
    let mut n = 1_000_000u64;
    let mut docs = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--keys" => n = it.next().and_then(|v| v.parse().ok()).unwrap_or(n),
            "--no-docs" => docs = false,
            other => {
                eprintln!("xtask bench-dump: unknown argument {other}");
                return false;
            }
        }
    }
    if !crate::run(crate::cargo().args(["build", "--release", "-p", "strata-server"])) {
        return false;
    }
    let (Some(redis), Some(strata)) = (start("redis", "everysec"), start("strata", "everysec"))
    else {
        eprintln!("xtask bench-dump: a server did not start");
        return false;
    };
    if populate(redis.port, n).is_none() || populate(strata.port, n).is_none() {
        eprintln!("xtask bench-dump: populating failed");
        return false;
    }
    // What users do today: SCAN the whole keyspace with a pattern.
    let t0 = Instant::now();
    let scan = Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "--scan",
            "--pattern",
            "key:*",
        ])
        .output();
    let scan_s = t0.elapsed().as_secs_f64();
    let scan_keys = scan
        .map(|o| o.stdout.iter().filter(|&&b| b == b'\n').count() as u64)
        .unwrap_or(0);
    let Some(mut c) = Resp::connect(strata.port) else {
        return false;
    };
    let mut rows = Vec::new();
    let Some((pk, ps)) = bgdump(&mut c, &[b"PATTERN", b"key:*", b"TO", b"bench-keys"]) else {
        return false;
    };
    let Some((ak, a_s)) = bgdump(&mut c, &[b"PATTERN", b"*", b"TO", b"bench-all"]) else {
        return false;
    };
    let slot = c
        .call(&[b"CLUSTER", b"KEYSLOT", b"key:000000000001"])
        .unwrap_or_default();
    let Some((sk, ss)) = bgdump(&mut c, &[b"SLOT", &slot, b"TO", b"bench-slot"]) else {
        return false;
    };
    let scan_rate = scan_keys as f64 / scan_s;
    rows.push(format!(
        "| Redis `redis-cli --scan --pattern 'key:*'` | {scan_keys} | {:.3} s | {:.0} | 1.00 |",
        scan_s, scan_rate
    ));
    for (what, k, s) in [
        ("Strata `BGDUMP PATTERN key:*`", pk, ps),
        ("Strata `BGDUMP PATTERN *` (fast path)", ak, a_s),
        ("Strata `BGDUMP SLOT <n>`", sk, ss),
    ] {
        rows.push(format!(
            "| {what} | {k} | {s:.3} s | {:.0} | {:.2} |",
            k as f64 / s,
            (k as f64 / s) / scan_rate
        ));
    }
    // GET p99 with and without dumps running back to back.
    let requests = 300_000;
    let base: Vec<f64> = (0..3)
        .filter_map(|_| get_p99(strata.port, requests))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let dumping = {
        let (stop, port) = (Arc::clone(&stop), strata.port);
        std::thread::spawn(move || {
            let mut dumps = 0;
            if let Some(mut c) = Resp::connect(port) {
                while !stop.load(Ordering::Relaxed) {
                    if bgdump(&mut c, &[b"PATTERN", b"*", b"TO", b"bench-load"]).is_none() {
                        break;
                    }
                    dumps += 1;
                }
            }
            dumps
        })
    };
    let during: Vec<f64> = (0..3)
        .filter_map(|_| get_p99(strata.port, requests))
        .collect();
    stop.store(true, Ordering::Relaxed);
    let dumps = dumping.join().unwrap_or(0);
    let med = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let (b, d) = (med(base), med(during));
    let table = format!(
        "`cargo xtask bench-dump --keys {n}` ({n} keys of 40-byte values in each server):\n\n| export | keys | time | keys/s | vs SCAN export |\n|---|---:|---:|---:|---:|\n{}\n\nGET p99 (redis-benchmark -c 50 -n {requests} -r 1000000, median of 3): {b:.3} ms without a dump, {d:.3} ms with full dumps running back to back ({dumps} dumps), ratio {:.2}.\n",
        rows.join("\n"),
        d / b
    );
    println!("{table}");
    if docs
        && !crate::bench_server::write_docs_block(
            "bench-dump",
            "Background dumper beside a SCAN export (`cargo xtask bench-dump`)",
            &table,
        )
    {
        return false;
    }
    true
}
