//! CI's share of fuzzing the engine's decoders: every input saved by the fuzz targets
//! (`fuzz/corpus/`) and the valid seeds run through the targets' own checks
//! (`strata_lsm::fuzz_support`).

use strata_lsm::fuzz_support::{check_engine_key, check_log, check_table, seeds};

fn replay(target: &str, check: fn(&[u8])) {
    let extra: Vec<Vec<u8>> = seeds()
        .into_iter()
        .filter(|(t, _)| *t == target)
        .map(|(_, b)| b)
        .collect();
    strata_testkit::replay_fuzz_corpus(env!("CARGO_MANIFEST_DIR"), target, &extra, check);
}

#[test]
fn log_corpus_replays() {
    replay("log", check_log);
}

#[test]
fn table_corpus_replays() {
    replay("table", check_table);
}

#[test]
fn engine_key_corpus_replays() {
    replay("engine_key", check_engine_key);
}
