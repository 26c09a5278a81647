//! LevelDB's db_bench workload on strata-lsm and on fjall (a peer Rust LSM), same run.
//!
//! Usage: `cargo xtask db-bench [--num N] [--repeat R] [--engines strata,fjall] [--dir D]`
//!
//! Workload (LevelDB's definitions): 16-byte keys (`%016d`), 100-byte values about half
//! compressible, one thread.
//! - fillseq: N writes in key order into a new database.
//! - fillrandom: N writes of uniformly random keys into a new database.
//! - overwrite: N random writes into the fillrandom database.
//! - readrandom: N random point reads, after a full compaction.
//! - readseq: one forward scan over the whole database.
//! - fillsync: 1,000 writes into a new database, each fsynced before the next.
//!
//! Each engine's phases run in child processes (one for fillseq, one for
//! fillrandom..readseq, one for fillsync), so peak RSS (VmHWM) of the fillrandom child is
//! the engine's own. Each figure is the median of `--repeat` runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const VALUE_SIZE: usize = 100;
const KEY_SIZE: usize = 16;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Values like LevelDB's RandomGenerator: random bytes with compression ratio ~0.5.
fn value_pool() -> Vec<u8> {
    let mut rng = Rng(301);
    let mut pool = Vec::with_capacity(1 << 20);
    while pool.len() < 1 << 20 {
        let piece: Vec<u8> = (0..50).map(|_| b' ' + (rng.next() % 95) as u8).collect();
        pool.extend_from_slice(&piece);
        pool.extend_from_slice(&piece);
    }
    pool
}

fn key(k: u64) -> [u8; KEY_SIZE] {
    let s = format!("{k:016}");
    let mut a = [0u8; KEY_SIZE];
    a.copy_from_slice(s.as_bytes());
    a
}

trait Engine {
    fn put(&self, k: &[u8], v: &[u8]);
    fn put_sync(&self, k: &[u8], v: &[u8]);
    fn get(&self, k: &[u8]) -> bool;
    fn compact(&self);
    fn scan(&self) -> (u64, u64);
    fn describe(&self) -> String {
        String::new()
    }
}

struct Strata(strata_lsm::Db);
impl Engine for Strata {
    fn put(&self, k: &[u8], v: &[u8]) {
        self.0.put(k, v).expect("put");
    }
    fn put_sync(&self, k: &[u8], v: &[u8]) {
        let mut b = strata_lsm::WriteBatch::new();
        b.put(k, v);
        self.0
            .write(strata_lsm::WriteOptions { sync: true }, b)
            .expect("put");
    }
    fn get(&self, k: &[u8]) -> bool {
        self.0.get(k).expect("get").is_some()
    }
    fn compact(&self) {
        self.0.compact_range(None, None).expect("compact");
    }
    fn describe(&self) -> String {
        self.stats()
    }
    fn scan(&self) -> (u64, u64) {
        let mut it = self.0.iter(Default::default()).expect("iter");
        let (mut n, mut bytes) = (0u64, 0u64);
        while it.valid() {
            bytes += (it.key().len() + it.value().len()) as u64;
            n += 1;
            it.advance();
        }
        (n, bytes)
    }
}

impl Strata {
    fn stats(&self) -> String {
        let s = self.0.stats();
        let levels: Vec<String> = s
            .levels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.files > 0)
            .map(|(i, l)| format!("L{i}:{}f/{}MB", l.files, l.bytes >> 20))
            .collect();
        format!(
            "levels {} cache hits {} misses {} stalls {} slowdowns {} compactions {} written {} MB",
            levels.join(" "),
            s.block_cache_hits,
            s.block_cache_misses,
            s.write_stalls,
            s.write_slowdowns,
            s.compactions,
            s.compaction_bytes_written >> 20
        )
    }
}

struct Fjall(fjall::Database, fjall::Keyspace);
impl Engine for Fjall {
    fn put(&self, k: &[u8], v: &[u8]) {
        self.1.insert(k, v).expect("insert");
    }
    fn put_sync(&self, k: &[u8], v: &[u8]) {
        self.1.insert(k, v).expect("insert");
        self.0
            .persist(fjall::PersistMode::SyncData)
            .expect("persist");
    }
    fn get(&self, k: &[u8]) -> bool {
        self.1.get(k).expect("get").is_some()
    }
    fn compact(&self) {
        self.1.major_compact().expect("compact");
    }
    fn scan(&self) -> (u64, u64) {
        let (mut n, mut bytes) = (0u64, 0u64);
        for kv in self.1.iter() {
            let (k, v) = kv.into_inner().expect("iter");
            bytes += (k.len() + v.len()) as u64;
            n += 1;
        }
        (n, bytes)
    }
}

fn open(engine: &str, dir: &Path) -> Box<dyn Engine> {
    let _ = std::fs::remove_dir_all(dir);
    match engine {
        "strata" => {
            // Experiments only: the reported figures use the defaults.
            let env_mb = |name: &str| {
                std::env::var(name)
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
            };
            let mut opts = strata_lsm::Options::default();
            if let Some(mb) = env_mb("STRATA_MEMTABLE_MB") {
                opts.memtable_budget = mb << 20;
            }
            if let Some(mb) = env_mb("STRATA_CACHE_MB") {
                opts.block_cache_bytes = mb << 20;
            }
            Box::new(Strata(strata_lsm::Db::open(dir, opts).expect("open")))
        }
        "fjall" => {
            let db = fjall::Database::builder(dir).open().expect("open");
            let ks = db
                .keyspace("bench", fjall::KeyspaceCreateOptions::default)
                .expect("keyspace");
            Box::new(Fjall(db, ks))
        }
        other => panic!("unknown engine {other}"),
    }
}

fn report(name: &str, ops: u64, secs: f64, bytes: u64) {
    println!(
        "RESULT {name} {:.4} {:.1}",
        secs * 1e6 / ops as f64,
        bytes as f64 / secs / 1e6
    );
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn fill(db: &dyn Engine, name: &str, n: u64, random: bool, seed: u64) {
    let pool = value_pool();
    let mut rng = Rng(seed);
    let t = Instant::now();
    for i in 0..n {
        let k = if random { rng.next() % n } else { i };
        let off = (i as usize * VALUE_SIZE) % (pool.len() - VALUE_SIZE);
        db.put(&key(k), &pool[off..off + VALUE_SIZE]);
    }
    report(
        name,
        n,
        t.elapsed().as_secs_f64(),
        n * (KEY_SIZE + VALUE_SIZE) as u64,
    );
}

fn child(engine: &str, phase: &str, n: u64, dir: &Path) {
    let db = open(engine, dir);
    match phase {
        "fillseq" => fill(&*db, "fillseq", n, false, 1),
        "fillsync" => {
            let pool = value_pool();
            let ops = 1000u64;
            let mut rng = Rng(7);
            let t = Instant::now();
            for i in 0..ops {
                db.put_sync(
                    &key(rng.next() % n),
                    &pool[i as usize..i as usize + VALUE_SIZE],
                );
            }
            report(
                "fillsync",
                ops,
                t.elapsed().as_secs_f64(),
                ops * (KEY_SIZE + VALUE_SIZE) as u64,
            );
        }
        "random" => {
            fill(&*db, "fillrandom", n, true, 2);
            println!("RSS fillrandom {}", peak_rss_kb());
            fill(&*db, "overwrite", n, true, 3);
            let t = Instant::now();
            db.compact();
            println!("INFO compaction took {:.1} s", t.elapsed().as_secs_f64());
            let mut rng = Rng(4);
            let t = Instant::now();
            let mut found = 0u64;
            for _ in 0..n {
                found += u64::from(db.get(&key(rng.next() % n)));
            }
            report(
                "readrandom",
                n,
                t.elapsed().as_secs_f64(),
                found * (KEY_SIZE + VALUE_SIZE) as u64,
            );
            println!("INFO readrandom found {found} of {n}");
            println!("INFO after readrandom: {}", db.describe());
            let t = Instant::now();
            let (count, bytes) = db.scan();
            report("readseq", count, t.elapsed().as_secs_f64(), bytes);
        }
        other => panic!("unknown phase {other}"),
    }
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
}

/// Per benchmark: (µs/op samples, MB/s samples).
type Samples = (Vec<f64>, Vec<f64>);

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let n: u64 = flag("--num").map_or(1_000_000, |s| s.parse().expect("--num"));
    let dir = PathBuf::from(flag("--dir").unwrap_or_else(|| "target/db-bench-data".into()));
    if let Some(engine) = flag("--child") {
        let phase = flag("--phase").expect("--phase");
        return child(&engine, &phase, n, &dir.join(format!("{engine}-{phase}")));
    }
    let repeat: usize = flag("--repeat").map_or(3, |s| s.parse().expect("--repeat"));
    let engines = flag("--engines").unwrap_or_else(|| "strata,fjall".into());
    let engines: Vec<&str> = engines.split(',').collect();
    let exe = std::env::current_exe().expect("current exe");
    let mut results: BTreeMap<String, BTreeMap<String, Samples>> = BTreeMap::new();
    let mut rss: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in 0..repeat {
        for &engine in &engines {
            for phase in ["fillseq", "random", "fillsync"] {
                eprintln!("db-bench: run {}/{repeat}: {engine} {phase}", r + 1);
                let out = Command::new(&exe)
                    .args(["--child", engine, "--phase", phase, "--num", &n.to_string()])
                    .arg("--dir")
                    .arg(&dir)
                    .output()
                    .expect("run child");
                assert!(
                    out.status.success(),
                    "child failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                for line in String::from_utf8_lossy(&out.stdout).lines() {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    match f.as_slice() {
                        ["RESULT", bench, us, mbs] => {
                            let e = results
                                .entry(engine.into())
                                .or_default()
                                .entry((*bench).into())
                                .or_default();
                            e.0.push(us.parse().unwrap_or(f64::NAN));
                            e.1.push(mbs.parse().unwrap_or(f64::NAN));
                        }
                        ["RSS", _, kb] => rss
                            .entry(engine.into())
                            .or_default()
                            .push(kb.parse().unwrap_or(0.0)),
                        _ => eprintln!("  {line}"),
                    }
                }
            }
        }
    }
    let leveldb: BTreeMap<&str, f64> = [
        ("fillseq", 0.90),
        ("fillrandom", 1.52),
        ("overwrite", 2.95),
        ("readrandom", 1.38),
        ("readseq", 0.068),
        ("fillsync", 150.0),
    ]
    .into_iter()
    .collect();
    println!("\nn = {n}, {repeat} runs, medians (µs/op; lower is better)\n");
    print!("| benchmark | LevelDB target µs/op |");
    for e in &engines {
        print!(" {e} µs/op | {e} MB/s |");
    }
    if engines.len() == 2 {
        print!(" {} / {} time ratio |", engines[0], engines[1]);
    }
    println!();
    println!(
        "|---|---:|{}",
        "---:|".repeat(engines.len() * 2 + usize::from(engines.len() == 2))
    );
    for bench in [
        "fillseq",
        "fillrandom",
        "overwrite",
        "readrandom",
        "readseq",
        "fillsync",
    ] {
        print!("| {bench} | {} |", leveldb[bench]);
        let mut meds = Vec::new();
        for e in &engines {
            let (mut us, mut mbs) = results
                .get(*e)
                .and_then(|m| m.get(bench))
                .cloned()
                .unwrap_or_default();
            if us.is_empty() {
                print!(" - | - |");
                continue;
            }
            let (u, m) = (median(&mut us), median(&mut mbs));
            meds.push(u);
            print!(" {u:.3} | {m:.1} |");
        }
        if meds.len() == 2 {
            print!(" {:.2} |", meds[0] / meds[1]);
        }
        println!();
    }
    for e in &engines {
        if let Some(v) = rss.get_mut(*e) {
            println!(
                "\npeak RSS of the fillrandom process, {e}: {:.1} MiB (median)",
                median(v) / 1024.0
            );
        }
    }
}
