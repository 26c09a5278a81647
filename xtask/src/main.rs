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
        && run(cargo().args(["test", "--workspace"]).args(extra))
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
