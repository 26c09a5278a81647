//! Fuzz COMMAND GETKEYS's key finder and stream ID parsing on untrusted arguments
//! (checks in `strata_server::fuzz_support`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_server::fuzz_support::check_args(data));
