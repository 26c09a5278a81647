//! Fuzz the streaming RDB file reader (checks in `strata_rdb::fuzz_support`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_rdb::fuzz_support::check_rdb_file(data));
