//! Project tasks: `cargo xtask <task>`.
//!
//! - `test`: formatting check, clippy with warnings denied, then every test of the
//!   workspace. This is the README's test command and what CI runs.
//! - `db-bench [args]`: LevelDB's db_bench workload on strata-lsm and on a peer engine
//!   (fjall), built from `benches/db-bench` (kept out of the workspace so the peer never
//!   slows down `test`).

use std::process::{Command, ExitCode};

fn run(cmd: &mut Command) -> bool {
    eprintln!("xtask: running {cmd:?}");
    match cmd.status() {
        Ok(s) => s.success(),
        Err(e) => {
            eprintln!("xtask: could not start {cmd:?}: {e}");
            false
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Run `cargo test`, echoing its output, and close with one summary line
/// (`tests: N passed, M failed`): cargo's own last line belongs to whichever test binary
/// ran last, which may hold no test at all.
fn cargo_test(extra: &[String]) -> bool {
    use std::io::{BufRead, BufReader};
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"])
        .args(extra)
        .stdout(std::process::Stdio::piped());
    eprintln!("xtask: running {cmd:?}");
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xtask: could not start cargo test: {e}");
            return false;
        }
    };
    let (mut passed, mut failed) = (0u64, 0u64);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                passed += count(rest, " passed");
                failed += count(rest, " failed");
            }
        }
    }
    let ok = child.wait().is_ok_and(|s| s.success());
    println!("tests: {passed} passed, {failed} failed");
    ok && failed == 0 && passed > 0
}

/// The number before `word` in a cargo `test result:` line
/// (`ok. 16 passed; 0 failed; ...`).
fn count(result: &str, word: &str) -> u64 {
    result
        .split(';')
        .filter_map(|part| part.trim().rsplit(". ").next()?.strip_suffix(word))
        .find_map(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// The tests talk to a real `redis-server` 7.0.15 (Debian 12's `redis-server` and
/// `redis-tools`). Install them when missing and we are root; otherwise say exactly what
/// to run. Never skip.
fn ensure_redis() -> bool {
    let has_7015 = || {
        Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("v=7.0.15"))
            && Command::new("redis-cli")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
    };
    if has_7015() {
        return true;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !root {
        eprintln!(
            "xtask: the tests need redis-server 7.0.15 and redis-cli; install them with
               sudo apt-get update && sudo apt-get install -y redis-server redis-tools
             (Debian 12: 5:7.0.15-1~deb12u*), then run `cargo xtask test` again"
        );
        return false;
    }
    eprintln!(
        "xtask: installing Debian's redis-server and redis-tools (7.0.15) for the interop tests"
    );
    // Keep the package from starting a system-wide daemon on port 6379.
    if !std::path::Path::new("/usr/sbin/policy-rc.d").exists() {
        let _ = std::fs::write("/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n");
        let _ = Command::new("chmod")
            .args(["+x", "/usr/sbin/policy-rc.d"])
            .status();
    }
    let ok = run(Command::new("apt-get").args(["update", "-qq"]))
        && run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "redis-server", "redis-tools"])
            .env("DEBIAN_FRONTEND", "noninteractive"));
    if !ok || !has_7015() {
        eprintln!("xtask: could not install redis-server 7.0.15 (Debian 12 `redis-server`); the interop tests need it");
        return false;
    }
    true
}

fn test(extra: &[String]) -> bool {
    ensure_redis()
        && run(cargo().args(["fmt", "--all", "--check"]))
        && run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
        && cargo_test(extra)
}

fn db_bench(extra: &[String]) -> bool {
    run(cargo()
        .args([
            "run",
            "--release",
            "--manifest-path",
            "benches/db-bench/Cargo.toml",
            "--",
        ])
        .args(extra))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprintln!("usage: cargo xtask <test|db-bench> [args]");
        return ExitCode::from(2);
    };
    // Tasks run from the workspace root whatever the caller's directory.
    if let Some(root) = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent() {
        let _ = std::env::set_current_dir(root);
    }
    let ok = match task.as_str() {
        "test" => test(rest),
        "db-bench" => db_bench(rest),
        other => {
            eprintln!("xtask: unknown task {other:?}; tasks: test, db-bench");
            return ExitCode::from(2);
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
