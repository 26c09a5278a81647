//! `cargo xtask bench-server [--repeat N] [--requests N] [--no-docs]`: redis-benchmark
//! against strata-server and a real redis-server 7.0.15 (`appendonly yes`,
//! `appendfsync everysec`) in the same run, interleaved, medians of N repeats, for SET
//! GET INCR MSET LPUSH RPOP SADD HSET ZADD LRANGE_100 and HGETALL of a 100-field hash
//! (`BENCH_TESTS=set,get` runs a subset); CPU time
//! per request of each server from /proc; the same for SET under `appendfsync always`;
//! RSS after 1M SETs of 100 bytes against Redis's used_memory. Writes the table to
//! `docs/benchmarks.md` between the `bench-server` markers.

use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Server {
    name: &'static str,
    child: Child,
    pub(crate) port: u16,
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

pub(crate) fn start(name: &'static str, fsync: &str) -> Option<Server> {
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

/// CPU seconds of a process: its own (utime + stime) and its children's that it has
/// waited for (cutime + cstime). Redis rewrites its AOF in a forked child, the work
/// Strata's compaction thread does in-process: the child's CPU is the server's cost too.
#[derive(Clone, Copy, Default)]
struct Cpu {
    own: f64,
    children: f64,
}

impl Cpu {
    fn total(self) -> f64 {
        self.own + self.children
    }
}

fn cpu_secs(pid: u32) -> Cpu {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Cpu::default();
    };
    // Fields after the command name (which may contain spaces) start after ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime, stime, cutime, cstime are fields 14 to 17 (1-based); after ')' they are
    // 12 to 15 (1-based from state).
    Cpu {
        own: (ticks(11) + ticks(12)) / 100.0,
        children: (ticks(13) + ticks(14)) / 100.0,
    }
}

/// Whether some process (a zombie too: its CPU reaches the parent's `cutime` only
/// once it is waited for) has `pid` as its parent.
fn has_children(pid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    let parent = pid.to_string();
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .any(|e| {
            std::fs::read_to_string(e.path().join("stat")).is_ok_and(|stat| {
                // The parent pid is the second field after the command name.
                stat.rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().nth(1))
                    .is_some_and(|ppid| ppid == parent)
            })
        })
}

fn rss_bytes(pid: u32) -> u64 {
    status_bytes(pid, "VmRSS:")
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `RssFile:`, ...) in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
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
    /// Of `cpu_us`, what forked children used (Redis's AOF rewrites).
    child_cpu_us: f64,
    /// redis-benchmark's own CPU time over its wall time: near 1.0 the client (one
    /// thread) is the bottleneck, and the row measures it as much as the server.
    client_load: f64,
}

/// One benchmark: a redis-benchmark `-t` test or a custom command.
struct Test {
    /// Name in the table.
    name: &'static str,
    /// `-t <name>`, or the custom command's words.
    args: &'static [&'static str],
    /// FLUSHALL before (RPOP runs on what LPUSH left).
    flush: bool,
    /// The CSV row to read starts with this (LRANGE_100 is preceded by its LPUSH).
    row: &'static str,
}

const TESTS: &[Test] = &[
    Test {
        name: "SET",
        args: &["-t", "set"],
        flush: true,
        row: "\"SET\"",
    },
    Test {
        name: "GET",
        args: &["-t", "get"],
        flush: true,
        row: "\"GET\"",
    },
    Test {
        name: "INCR",
        args: &["-t", "incr"],
        flush: true,
        row: "\"INCR\"",
    },
    Test {
        name: "MSET",
        args: &["-t", "mset"],
        flush: true,
        row: "\"MSET",
    },
    Test {
        name: "LPUSH",
        args: &["-t", "lpush"],
        flush: true,
        row: "\"LPUSH\"",
    },
    Test {
        name: "RPOP",
        args: &["-t", "rpop"],
        flush: false,
        row: "\"RPOP\"",
    },
    Test {
        name: "SADD",
        args: &["-t", "sadd"],
        flush: true,
        row: "\"SADD\"",
    },
    Test {
        name: "HSET",
        args: &["-t", "hset"],
        flush: true,
        row: "\"HSET\"",
    },
    Test {
        name: "ZADD",
        args: &["-t", "zadd"],
        flush: true,
        row: "\"ZADD\"",
    },
    Test {
        name: "LRANGE_100",
        args: &["-t", "lrange_100"],
        flush: true,
        row: "\"LRANGE_100",
    },
    Test {
        name: "HGETALL (100 fields)",
        args: &["HGETALL", "h100"],
        flush: false,
        row: "\"HGETALL",
    },
];

/// Fill `h100` with 100 fields (for the HGETALL test).
fn setup_h100(port: u16) {
    let mut c = Command::new("redis-cli");
    c.args(["-p", &port.to_string(), "HSET", "h100"]);
    for i in 0..100 {
        c.arg(format!("field:{i}")).arg(format!("value:{i:06}"));
    }
    let _ = c.output();
}

/// One redis-benchmark run of one test; `None` when it failed.
fn bench(s: &Server, test: &Test, pipeline: u32, requests: u64) -> Option<Sample> {
    if test.flush {
        let _ = Command::new("redis-cli")
            .args(["-p", &s.port.to_string(), "FLUSHALL"])
            .output();
    }
    if test.args[0] == "HGETALL" {
        setup_h100(s.port);
    }
    // Dirty pages the previous run left (the other server's AOF or WAL, its SSTs) are
    // written back now, not by kernel threads during this run.
    let _ = Command::new("sync").status();
    let cpu0 = cpu_secs(s.child.id());
    // redis-benchmark's CPU reaches our `cutime`/`cstime` once `output` waits for it.
    let me = std::process::id();
    let (client0, t0) = (cpu_secs(me).children, Instant::now());
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &s.port.to_string(),
            "-c",
            "50",
            "-n",
            &requests.to_string(),
        ])
        .args([
            "-d",
            "100",
            "-r",
            "1000000",
            "-P",
            &pipeline.to_string(),
            "--csv",
        ])
        .args(test.args)
        .output()
        .ok()?;
    let client_load = (cpu_secs(me).children - client0) / t0.elapsed().as_secs_f64();
    // Background work the test left (compaction, flushes) belongs to it: count the
    // server's CPU until it is idle again, so the next test starts on a quiet server.
    let cpu = settle(s.child.id());
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.starts_with(test.row))?;
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
        cpu_us: (cpu.total() - cpu0.total()) * 1e6 / requests as f64,
        child_cpu_us: (cpu.children - cpu0.children) * 1e6 / requests as f64,
        client_load,
    })
}

/// Wait until the process and its children use less than 10 ms of CPU in 300 ms and
/// no child (an AOF rewrite) is left (at most 60 s); its CPU seconds then.
fn settle(pid: u32) -> Cpu {
    let t0 = Instant::now();
    let mut last = cpu_secs(pid);
    while t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(300));
        let now = cpu_secs(pid);
        if now.total() - last.total() < 0.01 && !has_children(pid) {
            return now;
        }
        last = now;
    }
    last
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
        child_cpu_us: median(samples.iter().map(|s| s.child_cpu_us).collect()),
        client_load: median(samples.iter().map(|s| s.client_load).collect()),
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
    // A/A: the Strata column is a second redis-server, to see how far apart two equal
    // servers read in this harness on this machine.
    let mut aa = false;
    let mut only_pipeline: Option<u32> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--repeat" => repeat = it.next().and_then(|v| v.parse().ok()).unwrap_or(3),
            "--requests" => requests = it.next().and_then(|v| v.parse().ok()).unwrap_or(200_000),
            "--no-docs" => docs = false,
            "--aa" => {
                aa = true;
                docs = false;
            }
            "--pipeline" => match it.next().and_then(|v| v.parse().ok()) {
                Some(p) => only_pipeline = Some(p),
                None => {
                    eprintln!("xtask bench-server: --pipeline needs a number (1 or 16)");
                    return false;
                }
            },
            other => {
                eprintln!("xtask bench-server: unknown argument {other}");
                return false;
            }
        }
    }
    if !super::run(super::cargo().args(["build", "--release", "-p", "strata-server"])) {
        return false;
    }
    let only: Option<Vec<String>> = std::env::var("BENCH_TESTS")
        .ok()
        .map(|v| v.split(',').map(|t| t.trim().to_uppercase()).collect());
    let tests: Vec<&Test> = TESTS
        .iter()
        .filter(|t| {
            only.as_ref()
                .is_none_or(|o| o.iter().any(|x| t.name.starts_with(x.as_str())))
        })
        .collect();
    let set_only: Vec<&Test> = tests.iter().copied().filter(|t| t.name == "SET").collect();
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| test | pipeline | Redis ops/s | Strata ops/s | ratio | Redis p50 / p99 ms | Strata p50 / p99 ms | Redis CPU µs/req (of it: forked AOF rewrite) | Strata CPU µs/req | client CPU / wall (Redis / Strata run) |\n|---|---:|---:|---:|---:|---|---|---:|---:|---:|"
    );
    for (fsync, pipelines, tests) in [
        ("everysec", vec![1u32, 16], &tests[..]),
        ("always", vec![1u32], &set_only[..]),
    ] {
        let pipelines: Vec<u32> = pipelines
            .into_iter()
            .filter(|p| only_pipeline.is_none_or(|o| o == *p))
            .collect();
        if pipelines.is_empty() || tests.is_empty() {
            continue;
        }
        let second = if aa { "redis" } else { "strata" };
        let (Some(redis), Some(strata)) = (start("redis", fsync), start(second, fsync)) else {
            eprintln!(
                "xtask bench-server: a server did not start (is redis-server 7.0.15 installed?)"
            );
            return false;
        };
        for &p in &pipelines {
            for &t in tests {
                let (mut rs, mut ss) = (Vec::new(), Vec::new());
                for i in 0..repeat {
                    // Interleaved: both servers see the same machine conditions. Each
                    // goes first in every other round: in an A/A run (`--aa`) the
                    // second of a fixed pair read 0.95-0.98 of the first on the write
                    // rows (docs/decisions.md, "bench-server: an A/A run").
                    let mut pair = [(&redis, &mut rs), (&strata, &mut ss)];
                    if i % 2 == 1 {
                        pair.reverse();
                    }
                    for (srv, acc) in pair {
                        match bench(srv, t, p, requests) {
                            Some(s) => acc.push(s),
                            None => eprintln!(
                                "xtask bench-server: {} {} -P {p} failed",
                                srv.name, t.name
                            ),
                        }
                    }
                }
                let (r, s) = (med(&rs), med(&ss));
                // Redis's CPU includes its AOF rewrite children's, shown apart.
                let redis_cpu = if r.child_cpu_us >= 0.005 {
                    format!("{:.2} (AOF rewrite {:.2})", r.cpu_us, r.child_cpu_us)
                } else {
                    format!("{:.2}", r.cpu_us)
                };
                let line = format!(
                    "| {}{} | {p} | {:.0} | {:.0} | {:.2} | {:.3} / {:.3} | {:.3} / {:.3} | {redis_cpu} | {:.2} | {:.2} / {:.2} |",
                    t.name,
                    if fsync == "always" { " (always)" } else { "" },
                    r.rps, s.rps, s.rps / r.rps, r.p50, r.p99, s.p50, s.p99, s.cpu_us,
                    r.client_load, s.client_load
                );
                println!("{line}");
                table.push_str(&line);
                table.push('\n');
            }
        }
    }
    if aa {
        println!("(A/A: both columns are redis-server 7.0.15; memory and DUMP parts skipped)");
        return true;
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
    // Pages of SST files mapped for reads count in RSS too: page cache the kernel shares
    // and can reclaim, reported apart (docs/benchmarks.md).
    let strata_file = status_bytes(strata.child.id(), "RssFile:");
    let keys = |port: u16| {
        Command::new("redis-cli")
            .args(["-p", &port.to_string(), "DBSIZE"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let mem_line = format!(
        "After 1M SETs of 100 bytes ({} / {} keys): Redis used_memory {:.1} MiB (RSS {:.1} MiB), Strata RSS {:.1} MiB (of it {:.1} MiB file-backed: SST mappings, the binary), ratio {:.2}.",
        keys(redis.port),
        keys(strata.port),
        redis_mem as f64 / 1048576.0,
        redis_rss as f64 / 1048576.0,
        strata_rss as f64 / 1048576.0,
        strata_file as f64 / 1048576.0,
        strata_rss as f64 / redis_mem.max(1) as f64
    );
    println!("{mem_line}");
    let _ = writeln!(table, "\n{mem_line}");
    drop((redis, strata));
    match dump_restore(repeat) {
        Some(rows) => {
            let _ = writeln!(table, "\nDUMP / RESTORE / MIGRATE (wall time seen by one client, medians of {repeat}):\n\n{rows}");
        }
        None => eprintln!("xtask bench-server: the DUMP/RESTORE/MIGRATE part failed"),
    }
    if docs {
        let body = format!(
            "`cargo xtask bench-server --repeat {repeat} --requests {requests}` (redis-benchmark -c 50 -n {requests} -d 100 -r 1000000; medians of {repeat} interleaved runs; Redis 7.0.15 with appendonly yes):\n\n{table}"
        );
        if !write_docs_block("bench-server", "Server (bench-server)", &body) {
            return false;
        }
    }
    true
}

/// A minimal RESP client for the timing loops (xtask has no dependencies).
pub(crate) struct Resp {
    r: std::io::BufReader<std::net::TcpStream>,
    w: std::net::TcpStream,
}

impl Resp {
    pub(crate) fn connect(port: u16) -> Option<Resp> {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let _ = s.set_nodelay(true);
        Some(Resp {
            r: std::io::BufReader::new(s.try_clone().ok()?),
            w: s,
        })
    }

    pub(crate) fn send(&mut self, args: &[&[u8]]) -> Option<()> {
        use std::io::Write;
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out).ok()
    }

    /// Read one reply; bulk strings come back as their bytes, errors as Err.
    pub(crate) fn read(&mut self) -> Result<Vec<u8>, String> {
        use std::io::{BufRead, Read};
        let mut line = String::new();
        self.r.read_line(&mut line).map_err(|e| e.to_string())?;
        let line = line.trim_end().to_string();
        let (t, rest) = line.split_at(line.len().min(1));
        match t {
            "-" => Err(rest.to_string()),
            "$" => {
                let n: i64 = rest.parse().map_err(|_| line.clone())?;
                if n < 0 {
                    return Ok(Vec::new());
                }
                let mut b = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut b).map_err(|e| e.to_string())?;
                b.truncate(n as usize);
                Ok(b)
            }
            "*" => {
                let n: i64 = rest.parse().map_err(|_| line.clone())?;
                for _ in 0..n.max(0) {
                    self.read()?;
                }
                Ok(Vec::new())
            }
            _ => Ok(rest.as_bytes().to_vec()),
        }
    }

    pub(crate) fn call(&mut self, args: &[&[u8]]) -> Result<Vec<u8>, String> {
        self.send(args).ok_or("write failed")?;
        self.read()
    }
}

/// Fill a 100k-member zset `z`, a 100k-field hash `h` and 100k small keys `k:<i>`.
fn populate(port: u16) -> Option<()> {
    let mut c = Resp::connect(port)?;
    for chunk in 0..100 {
        let mut z: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"z".to_vec()];
        let mut h: Vec<Vec<u8>> = vec![b"HSET".to_vec(), b"h".to_vec()];
        let mut m: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
        for i in chunk * 1000..(chunk + 1) * 1000 {
            z.push(format!("{}", i as f64 * 0.5).into_bytes());
            z.push(format!("member:{i:06}").into_bytes());
            h.push(format!("field:{i:06}").into_bytes());
            h.push(format!("value:{i:06}").into_bytes());
            m.push(format!("k:{i:06}").into_bytes());
            m.push(format!("small-value-{i}").into_bytes());
        }
        for cmd in [&z, &h, &m] {
            let a: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
            c.call(&a).ok()?;
        }
    }
    Some(())
}

/// Seconds for DUMP + RESTORE (into a new key) of `key`, median of `repeat`. Each
/// operation starts on a quiet server (`settle`), as each redis-benchmark test does:
/// the flush a RESTORE leaves behind is not charged to the next DUMP. One untimed
/// DUMP and RESTORE go first, on both servers alike: the first RESTORE of a large value
/// grows the server's buffers and allocator pools once (3–5 times the steady time, for
/// Strata), and a median of three would otherwise keep some of that.
fn time_dump_restore(s: &Server, key: &[u8], repeat: usize) -> Option<(f64, f64)> {
    let mut c = Resp::connect(s.port)?;
    let (mut d, mut r) = (Vec::new(), Vec::new());
    settle(s.child.id());
    let payload = c.call(&[b"DUMP", key]).ok()?;
    c.call(&[b"RESTORE", b"warm-up", b"0", &payload]).ok()?;
    c.call(&[b"DEL", b"warm-up"]).ok()?;
    for i in 0..repeat {
        settle(s.child.id());
        let t0 = Instant::now();
        let payload = c.call(&[b"DUMP", key]).ok()?;
        d.push(t0.elapsed().as_secs_f64());
        let dst = format!("restored:{i}");
        settle(s.child.id());
        let t1 = Instant::now();
        c.call(&[b"RESTORE", dst.as_bytes(), b"0", &payload]).ok()?;
        r.push(t1.elapsed().as_secs_f64());
        c.call(&[b"DEL", dst.as_bytes()]).ok()?;
    }
    Some((median(d), median(r)))
}

/// Seconds to MIGRATE the 100k small keys to `to`, 1,000 keys per call.
fn time_migrate(from: u16, to: u16) -> Option<f64> {
    let mut c = Resp::connect(from)?;
    let port = to.to_string();
    let t0 = Instant::now();
    for chunk in 0..100 {
        let keys: Vec<Vec<u8>> = (chunk * 1000..(chunk + 1) * 1000)
            .map(|i| format!("k:{i:06}").into_bytes())
            .collect();
        let mut a: Vec<&[u8]> = vec![
            b"MIGRATE",
            b"127.0.0.1",
            port.as_bytes(),
            b"",
            b"0",
            b"10000",
            b"KEYS",
        ];
        a.extend(keys.iter().map(Vec::as_slice));
        if let Err(e) = c.call(&a) {
            eprintln!("xtask bench-server: MIGRATE failed: {e}");
            return None;
        }
    }
    Some(t0.elapsed().as_secs_f64())
}

/// DUMP/RESTORE of big values and MIGRATE of 100k keys, Strata beside Redis.
pub fn dump_restore(repeat: usize) -> Option<String> {
    let mut rows = String::from(
        "| operation | Redis | Strata | ratio (Redis time / Strata time) |\n|---|---:|---:|---:|\n",
    );
    let (redis, redis2) = (start("redis", "everysec")?, start("redis", "everysec")?);
    let (strata, strata2) = (start("strata", "everysec")?, start("strata", "everysec")?);
    populate(redis.port)?;
    populate(strata.port)?;
    settle(strata.child.id());
    for (key, what) in [
        (&b"z"[..], "100k-member zset"),
        (&b"h"[..], "100k-field hash"),
    ] {
        let (rd, rr) = time_dump_restore(&redis, key, repeat)?;
        let (sd, sr) = time_dump_restore(&strata, key, repeat)?;
        rows.push_str(&format!(
            "| DUMP {what} | {:.1} ms | {:.1} ms | {:.2} |\n",
            rd * 1e3,
            sd * 1e3,
            rd / sd
        ));
        rows.push_str(&format!(
            "| RESTORE {what} | {:.1} ms | {:.1} ms | {:.2} |\n",
            rr * 1e3,
            sr * 1e3,
            rr / sr
        ));
    }
    let rm = time_migrate(redis.port, redis2.port)?;
    settle(strata.child.id());
    let sm = time_migrate(strata.port, strata2.port)?;
    rows.push_str(&format!(
        "| MIGRATE 100k small keys (1,000 per call, to a second server of the same kind) | {:.0} ms | {:.0} ms | {:.2} |\n",
        rm * 1e3,
        sm * 1e3,
        rm / sm
    ));
    println!("{rows}");
    Some(rows)
}

/// Replace the text between `<!-- {tag}:start -->` and `<!-- {tag}:end -->` in
/// docs/benchmarks.md with `body` (appending a `## {heading}` section if the markers are
/// missing).
pub(crate) fn write_docs_block(tag: &str, heading: &str, body: &str) -> bool {
    let path = "docs/benchmarks.md";
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let (start_m, end_m) = (
        format!("<!-- {tag}:start -->"),
        format!("<!-- {tag}:end -->"),
    );
    let block = format!("{start_m}\n{body}{end_m}");
    let new = match (text.find(&start_m), text.find(&end_m)) {
        (Some(a), Some(b)) => format!("{}{}{}", &text[..a], block, &text[b + end_m.len()..]),
        _ => format!("{text}\n## {heading}\n\n{block}\n"),
    };
    std::fs::write(path, new).is_ok()
}
