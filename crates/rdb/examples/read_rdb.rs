//! Read a whole RDB file with `RdbFile` and report keys and time.
//!
//! Run: `cargo run --release -p strata-rdb --example read_rdb FILE`

use std::time::Instant;

use strata_rdb::{Item, RdbFile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: read_rdb FILE")?;
    let t = Instant::now();
    let mut f = RdbFile::open(&path)?;
    let (mut keys, mut bytes) = (0u64, 0u64);
    while let Some(item) = f.next_item()? {
        if let Item::Entry(e) = item {
            keys += 1;
            bytes += e.key.len() as u64;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!("keys {keys} key_bytes {bytes} seconds {secs:.3}");
    Ok(())
}
