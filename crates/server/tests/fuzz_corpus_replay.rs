//! CI's share of fuzzing the RESP parser and the HLL code: every input saved by its fuzz target
//! (`fuzz/corpus/resp`) runs through the target's own check
//! (`strata_server::fuzz_support::check_resp`).

#[test]
fn resp_corpus_replays() {
    strata_testkit::replay_fuzz_corpus(
        env!("CARGO_MANIFEST_DIR"),
        "resp",
        &[],
        strata_server::fuzz_support::check_resp,
    );
}

/// The same for the HyperLogLog target (`fuzz/corpus/hll`).
#[test]
fn hll_corpus_replays() {
    strata_testkit::replay_fuzz_corpus(
        env!("CARGO_MANIFEST_DIR"),
        "hll",
        &[],
        strata_server::fuzz_support::check_hll,
    );
}

/// The same for the command-arguments target (`fuzz/corpus/args`: COMMAND GETKEYS's
/// key finder and stream ID parsing).
#[test]
fn args_corpus_replays() {
    strata_testkit::replay_fuzz_corpus(
        env!("CARGO_MANIFEST_DIR"),
        "args",
        &[],
        strata_server::fuzz_support::check_args,
    );
}
