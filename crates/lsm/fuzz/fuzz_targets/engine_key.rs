//! Fuzz the engine-key decoder (checks in `strata_lsm::fuzz_support`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_lsm::fuzz_support::check_engine_key(data));
