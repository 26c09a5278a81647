//! Support for the server's scenario tests: the real `strata-server` binary.
#![allow(dead_code)]

pub use strata_testkit::*;

/// The `strata-server` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_strata-server");

/// Start strata-server on a free port with a fresh data directory.
pub fn strata(extra: &[&str]) -> Proc {
    Proc::strata(BIN, None, extra)
}

/// Send raw bytes and read one reply's exact bytes.
pub fn raw(c: &mut Client, req: &[u8]) -> Vec<u8> {
    c.send_raw(req).unwrap();
    c.read_raw().unwrap()
}

/// Raise this process's open-file limit to its hard limit (children inherit it): the
/// tests that open 1,000+ connections need more than a default soft limit of 1024.
pub fn raise_nofile_limit() {
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        let mut l: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max.min(65536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}
