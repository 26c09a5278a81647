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
