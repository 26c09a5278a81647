//! Crash test: a child process writing with sync `always` is SIGKILLed at random
//! moments, many times, on a real disk. After each restart every acknowledged write is
//! present, and each writer's keys form a prefix of what it issued (nothing after a gap).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Rng;
use strata_lsm::{Db, IterOptions, Options};

const THREADS: u64 = 3;

fn disk_dir(mode: &str) -> std::path::PathBuf {
    // Under target/, which is on the real disk (not tmpfs): this test is about fsync.
    let p = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("crash-{mode}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

#[test]
fn acknowledged_writes_survive_kill9() {
    run("always", 12, 0xc0ffee);
}

/// The server's `appendfsync always`: writes under `EverySec`, then `sync_wal` before
/// each acknowledgement.
#[test]
fn acknowledged_writes_survive_kill9_with_sync_wal() {
    run("syncwal", 8, 0x5eed);
}

fn run(mode: &str, rounds: u32, seed: u64) {
    let dir = disk_dir(mode);
    let mut rng = Rng::new(seed);
    let mut next = vec![0u64; THREADS as usize];
    for round in 0..rounds {
        let start = *next.iter().max().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lsm-crash-writer"))
            .arg(&dir)
            .arg(start.to_string())
            .arg(THREADS.to_string())
            .arg(mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split(' ');
                let t: u64 = parts.next().unwrap().parse().unwrap();
                let n: u64 = parts.next().unwrap().parse().unwrap();
                if tx.send((t, n)).is_err() {
                    break;
                }
            }
        });
        // Let it write for a random while (it may be mid-flush or mid-compaction).
        let run_for = Duration::from_millis(150 + rng.below(600));
        let t0 = Instant::now();
        let mut acked: Vec<Option<u64>> = vec![None; THREADS as usize];
        while t0.elapsed() < run_for {
            if let Ok((t, n)) = rx.recv_timeout(Duration::from_millis(10)) {
                acked[t as usize] = Some(n);
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        while let Ok((t, n)) = rx.try_recv() {
            acked[t as usize] = Some(n);
        }

        let db = Db::open(&dir, Options::default()).unwrap();
        for t in 0..THREADS {
            // Every acknowledged key is there ...
            if let Some(last) = acked[t as usize] {
                for n in start..=last {
                    let key = format!("t{t}-{n:08}");
                    let want = format!("v{n}-").repeat(1 + (n % 20) as usize);
                    assert_eq!(
                        db.get(key.as_bytes()).unwrap().as_deref(),
                        Some(want.as_bytes()),
                        "round {round}: acknowledged {key} lost"
                    );
                }
            }
            // ... and what is there is a prefix: no key after the first missing one.
            let lower = format!("t{t}-{start:08}").into_bytes();
            let upper = format!("t{t}-9").into_bytes();
            let mut expect = start;
            for item in db
                .iter(IterOptions {
                    lower: Some(lower),
                    upper: Some(upper),
                    ..Default::default()
                })
                .unwrap()
            {
                let (k, _) = item.unwrap();
                if k.starts_with(format!("t{t}-marker").as_bytes()) {
                    continue;
                }
                assert_eq!(
                    k,
                    format!("t{t}-{expect:08}").into_bytes(),
                    "round {round}: gap"
                );
                expect += 1;
            }
            // Batch atomicity: marker n was written with key n and deleted with key n+50.
            for n in (start.div_ceil(50) * 50..expect + 50).step_by(50) {
                let key = db.get(format!("t{t}-{n:08}").as_bytes()).unwrap();
                let marker = db.get(format!("t{t}-marker-{n}").as_bytes()).unwrap();
                let next_key = db.get(format!("t{t}-{:08}", n + 50).as_bytes()).unwrap();
                assert_eq!(
                    marker.is_some(),
                    key.is_some() && next_key.is_none(),
                    "round {round}: batch {n} of writer {t} applied partially"
                );
                // Every third marker is over 1 MiB (the writer's large-batch path).
                let want = if n % 150 == 0 {
                    (1 << 20) + (1 << 18)
                } else {
                    1
                };
                assert!(
                    marker.is_none_or(|m| m.len() == want && m.iter().all(|&b| b == b'm')),
                    "round {round}: marker {n} of writer {t} has the wrong value"
                );
            }
            next[t as usize] = next[t as usize].max(expect);
        }
        drop(db);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
