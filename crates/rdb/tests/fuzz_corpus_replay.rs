//! CI's share of fuzzing: every input saved by the fuzz targets (`fuzz/corpus/`) runs
//! through the targets' own checks (`strata_rdb::fuzz_support`).

use strata_rdb::fuzz_support::{check_rdb_file, check_restore};

fn replay(target: &str, check: fn(&[u8])) {
    strata_testkit::replay_fuzz_corpus(env!("CARGO_MANIFEST_DIR"), target, &[], check);
}

#[test]
fn restore_corpus_replays() {
    replay("restore", check_restore);
}

#[test]
fn rdb_file_corpus_replays() {
    replay("rdb_file", check_rdb_file);
}
