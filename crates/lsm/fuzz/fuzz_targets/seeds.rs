//! Not a fuzz target: writes the valid starting inputs of the targets into
//! `seeds/<target>/` (run it with `cargo run --bin seeds` from this directory).
fn main() {
    for (i, (target, bytes)) in strata_lsm::fuzz_support::seeds().into_iter().enumerate() {
        let dir = std::path::Path::new("seeds").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{i}")), bytes).unwrap();
    }
}
