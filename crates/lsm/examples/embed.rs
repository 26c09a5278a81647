//! Embedding strata-lsm: open, write, batch, snapshot, iterate, range-delete, stats.
//!
//! Run: `cargo run --release -p strata-lsm --example embed [DIR]`

use strata_lsm::{keys, Db, IterOptions, Options, SyncPolicy, WriteBatch, WriteOptions};

fn main() -> Result<(), strata_lsm::Error> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("strata-embed-example"));
    let opts = Options {
        memtable_budget: 32 << 20,
        block_cache_bytes: 16 << 20,
        sync: SyncPolicy::EverySec,
        ..Default::default()
    };
    let db = Db::open(&dir, opts)?;

    db.put(b"greeting", b"hello")?;
    let mut batch = WriteBatch::new();
    for i in 0..5 {
        batch.put(
            format!("user:{i}").as_bytes(),
            format!("name {i}").as_bytes(),
        );
    }
    batch.delete(b"greeting");
    // This write is fsynced before it returns, whatever the sync policy.
    db.write(WriteOptions { sync: true }, batch)?;

    let snapshot = db.snapshot();
    db.put(b"user:9", b"written after the snapshot")?;
    println!("snapshot sees user:9 = {:?}", snapshot.get(b"user:9")?);
    println!(
        "db sees user:9 = {:?}",
        db.get(b"user:9")?.map(String::from_utf8)
    );

    let newest_first = db.iter(IterOptions {
        lower: Some(b"user:".to_vec()),
        upper: Some(b"user;".to_vec()),
        reverse: true,
        ..Default::default()
    })?;
    for item in newest_first {
        let (k, v) = item?;
        println!(
            "{} = {}",
            String::from_utf8_lossy(&k),
            String::from_utf8_lossy(&v)
        );
    }

    db.delete_range(b"user:", b"user;")?;
    println!(
        "after delete_range: {} keys",
        db.iter(IterOptions::default())?.count()
    );

    // Slot-prefixed keys, as the server lays Redis keys out.
    let meta = keys::metadata_key(0, b"{user1000}.following")?;
    println!(
        "slot of {{user1000}}.following = {}, engine key {meta:02x?}",
        keys::slot(b"{user1000}.following")
    );

    db.flush()?;
    println!("{:#?}", db.stats());
    drop(snapshot);
    Ok(())
}
