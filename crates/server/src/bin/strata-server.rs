//! The `strata-server` binary. The RESP server is not implemented yet: rather than
//! pretend, it says so and exits non-zero.

fn main() -> std::process::ExitCode {
    eprintln!(
        "strata-server: the RESP server is not implemented yet; today Strata is the \
         strata-lsm engine (see README.md and docs/embedding.md)"
    );
    std::process::ExitCode::from(1)
}
