//! Fuzz the log reader (WAL and manifest) and the batch and version-edit decoders of
//! its records (checks in `strata_lsm::fuzz_support`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_lsm::fuzz_support::check_log(data));
