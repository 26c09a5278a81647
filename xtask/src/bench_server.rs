//! `cargo xtask bench-server [--repeat N] [--requests N] [--no-docs]`: redis-benchmark
//! against strata-server and a real redis-server 7.0.15 (`appendonly yes`,
//! `appendfsync everysec`) in the same run, interleaved, medians of N repeats; CPU time
//! per request of each server from /proc; the same for SET under `appendfsync always`;
//! RSS after 1M SETs of 100 bytes against Redis's used_memory. Writes the table to
//! `docs/benchmarks.md` between the `bench-server` markers.

use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    name: &'static str,
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(7000)
}

fn wait_ready(port: u16) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        let ok = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "PING"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"));
        if ok {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn start(name: &'static str, fsync: &str) -> Option<Server> {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("strata-bench-{name}-{port}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    let mut cmd = if name == "redis" {
        let mut c = Command::new("redis-server");
        c.args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "yes",
        ])
        .args(["--appendfsync", fsync, "--daemonize", "no", "--dir"])
        .arg(&dir);
        c
    } else {
        let mut c = Command::new("target/release/strata-server");
        c.args(["--port", &port.to_string(), "--appendfsync", fsync, "--dir"])
            .arg(&dir);
        c
    };
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let s = Server {
        name,
        child,
        port,
        dir,
    };
    wait_ready(port).then_some(s)
}

/// utime + stime of a process in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start after ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based); after ')' they are 12 and 13 (1-based from state).
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |k| k * 1024)
}

#[derive(Clone, Default)]
struct Sample {
    rps: f64,
    p50: f64,
    p99: f64,
    cpu_us: f64,
}

/// One redis-benchmark run of one test; `None` when it failed.
fn bench(s: &Server, test: &str, pipeline: u32, requests: u64) -> Option<Sample> {
    let _ = Command::new("redis-cli")
        .args(["-p", &s.port.to_string(), "FLUSHALL"])
        .output();
    let cpu0 = cpu_secs(s.child.id());
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &s.port.to_string(),
            "-c",
            "50",
            "-n",
            &requests.to_string(),
        ])
        .args(["-d", "100", "-r", "1000000", "-P", &pipeline.to_string()])
        .args(["-t", test, "--csv"])
        .output()
        .ok()?;
    let cpu = cpu_secs(s.child.id()) - cpu0;
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| !l.starts_with("\"test\""))?;
    let f: Vec<f64> = row
        .split(',')
        .skip(1)
        .filter_map(|v| v.trim_matches('"').parse().ok())
        .collect();
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    Some(Sample {
        rps: *f.first()?,
        p50: *f.get(3)?,
        p99: *f.get(5)?,
        cpu_us: cpu * 1e6 / requests as f64,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn med(samples: &[Sample]) -> Sample {
    Sample {
        rps: median(samples.iter().map(|s| s.rps).collect()),
        p50: median(samples.iter().map(|s| s.p50).collect()),
        p99: median(samples.iter().map(|s| s.p99).collect()),
        cpu_us: median(samples.iter().map(|s| s.cpu_us).collect()),
    }
}

fn used_memory(port: u16) -> u64 {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "INFO", "memory"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| {
                    l.strip_prefix("used_memory:")
                        .map(|v| v.trim().parse().ok())
                })
                .flatten()
        })
        .unwrap_or(0)
}

pub fn run(args: &[String]) -> bool {
    let mut repeat = 3;
    let mut requests = 200_000u64;
    let mut docs = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--repeat" => repeat = it.next().and_then(|v| v.parse().ok()).unwrap_or(3),
            "--requests" => requests = it.next().and_then(|v| v.parse().ok()).unwrap_or(200_000),
            "--no-docs" => docs = false,
            other => {
                eprintln!("xtask bench-server: unknown argument {other}");
                return false;
            }
        }
    }
    if !super::run(super::cargo().args(["build", "--release", "-p", "strata-server"])) {
        return false;
    }
    let tests = ["set", "get", "incr", "mset"];
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| test | pipeline | Redis ops/s | Strata ops/s | ratio | Redis p50 / p99 ms | Strata p50 / p99 ms | Redis CPU µs/req | Strata CPU µs/req |\n|---|---:|---:|---:|---:|---|---|---:|---:|"
    );
    for (fsync, pipelines, tests) in [
        ("everysec", vec![1u32, 16], &tests[..]),
        ("always", vec![1u32], &tests[..1]),
    ] {
        let (Some(redis), Some(strata)) = (start("redis", fsync), start("strata", fsync)) else {
            eprintln!(
                "xtask bench-server: a server did not start (is redis-server 7.0.15 installed?)"
            );
            return false;
        };
        for &p in &pipelines {
            for t in tests {
                let (mut rs, mut ss) = (Vec::new(), Vec::new());
                for _ in 0..repeat {
                    // Interleaved: both servers see the same machine conditions.
                    for (srv, acc) in [(&redis, &mut rs), (&strata, &mut ss)] {
                        match bench(srv, t, p, requests) {
                            Some(s) => acc.push(s),
                            None => eprintln!("xtask bench-server: {} {t} -P {p} failed", srv.name),
                        }
                    }
                }
                let (r, s) = (med(&rs), med(&ss));
                let line = format!(
                    "| {}{} | {p} | {:.0} | {:.0} | {:.2} | {:.3} / {:.3} | {:.3} / {:.3} | {:.2} | {:.2} |",
                    t.to_uppercase(),
                    if fsync == "always" { " (always)" } else { "" },
                    r.rps, s.rps, s.rps / r.rps, r.p50, r.p99, s.p50, s.p99, r.cpu_us, s.cpu_us
                );
                println!("{line}");
                table.push_str(&line);
                table.push('\n');
            }
        }
    }
    // Memory: 1M SETs of 100 bytes (distinct keys).
    let (Some(redis), Some(strata)) = (start("redis", "everysec"), start("strata", "everysec"))
    else {
        return false;
    };
    for s in [&redis, &strata] {
        let _ = Command::new("redis-benchmark")
            .args([
                "-p",
                &s.port.to_string(),
                "-c",
                "50",
                "-n",
                "1000000",
                "-d",
                "100",
            ])
            .args(["-r", "100000000000", "-t", "set", "-P", "16", "-q"])
            .output();
    }
    std::thread::sleep(Duration::from_secs(2));
    let redis_mem = used_memory(redis.port);
    let redis_rss = rss_bytes(redis.child.id());
    let strata_rss = rss_bytes(strata.child.id());
    let keys = |port: u16| {
        Command::new("redis-cli")
            .args(["-p", &port.to_string(), "DBSIZE"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let mem_line = format!(
        "After 1M SETs of 100 bytes ({} / {} keys): Redis used_memory {:.1} MiB (RSS {:.1} MiB), Strata RSS {:.1} MiB, ratio {:.2}.",
        keys(redis.port),
        keys(strata.port),
        redis_mem as f64 / 1048576.0,
        redis_rss as f64 / 1048576.0,
        strata_rss as f64 / 1048576.0,
        strata_rss as f64 / redis_mem.max(1) as f64
    );
    println!("{mem_line}");
    let _ = writeln!(table, "\n{mem_line}");
    if docs {
        let path = "docs/benchmarks.md";
        let Ok(text) = std::fs::read_to_string(path) else {
            return false;
        };
        let (start_m, end_m) = ("<!-- bench-server:start -->", "<!-- bench-server:end -->");
        let body = format!(
            "{start_m}\n`cargo xtask bench-server --repeat {repeat} --requests {requests}` (redis-benchmark -c 50 -n {requests} -d 100 -r 1000000; medians of {repeat} interleaved runs; Redis 7.0.15 with appendonly yes):\n\n{table}{end_m}"
        );
        let new = match (text.find(start_m), text.find(end_m)) {
            (Some(a), Some(b)) => format!("{}{}{}", &text[..a], body, &text[b + end_m.len()..]),
            _ => format!("{text}\n## Server (bench-server)\n\n{body}\n"),
        };
        if std::fs::write(path, new).is_err() {
            return false;
        }
    }
    true
}
