//! CI's share of fuzzing: every input saved by the fuzz targets (`fuzz/corpus/`) runs
//! through the targets' own checks (`strata_rdb::fuzz_support`).

use strata_rdb::fuzz_support::{check_rdb_file, check_restore};

fn replay(target: &str, check: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        check(&std::fs::read(e.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n > 0, "no saved inputs in {}", dir.display());
    eprintln!("{n} saved {target} inputs replayed");
}

#[test]
fn restore_corpus_replays() {
    replay("restore", check_restore);
}

#[test]
fn rdb_file_corpus_replays() {
    replay("rdb_file", check_rdb_file);
}
