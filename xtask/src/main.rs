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

fn test(extra: &[String]) -> bool {
    run(cargo().args(["fmt", "--all", "--check"]))
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
