//! Shared helpers for the engine's scenario tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = scratch_root().join(format!("strata-it-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small deterministic PRNG (xorshift64*), so failures replay from the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Options that force many flushes and compactions on small data.
pub fn tiny_options() -> strata_lsm::Options {
    strata_lsm::Options {
        memtable_budget: 64 << 10,
        block_cache_bytes: 256 << 10,
        block_size: 256,
        target_file_size: 16 << 10,
        level1_max_bytes: 64 << 10,
        level_multiplier: 4,
        l0_compaction_trigger: 2,
        // Rewrite the manifest every few edits, so reopen tests cover that path.
        manifest_rewrite_bytes: 4 << 10,
        ..Default::default()
    }
}

/// tmpfs when the machine has one: these tests check logic, not durability, and fsync
/// on a real disk would dominate their run time. Crash tests use `disk_dir` instead.
fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}
