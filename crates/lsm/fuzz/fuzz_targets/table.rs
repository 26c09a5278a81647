//! Fuzz SST opening, iteration and point lookups (checks in `strata_lsm::fuzz_support`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_lsm::fuzz_support::check_table(data));
