//! CI's share of fuzzing the RESP parser: every input saved by its fuzz target
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
