//! Fuzz the HyperLogLog representation (checks in `strata_server::fuzz_support`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_server::fuzz_support::check_hll(data));
