//! Using the dumper from a program that embeds the engine: write a few keys in the
//! server's record format, dump them by pattern and by slot, print the files.
//!
//! `cargo run -p strata-dump --example embedded_dump`

use std::sync::Arc;

use strata_dump::records::{metadata_key, Meta};
use strata_dump::{Dumper, Format, Request, Selector};
use strata_lsm::{keys, Db, Options};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::temp_dir().join(format!("strata-embedded-dump-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let db = Arc::new(Db::open(base.join("data"), Options::default())?);
    // Keys of logical/physical database 0, as strata-server writes them.
    for (k, v) in [
        ("user:1", "ada"),
        ("user:2", "grace"),
        ("{shop}:cart", "3 items"),
        ("line\nbreak", "x"),
    ] {
        db.put(
            &metadata_key(0, k.as_bytes()),
            &Meta::string(v.as_bytes().to_vec(), 0).encode(),
        )?;
    }
    let dumper = Dumper::new(base.join("dumps"))?;
    let request = |selector, format, name: &str| Request {
        selector,
        format,
        name: Some(name.to_string()),
        phys_db: 0,
        logical_db: 0,
        throttle_bytes_per_sec: 0,
    };
    dumper
        .start(
            &db,
            request(
                Selector::Pattern(b"user:*".to_vec()),
                Format::Keys,
                "users.txt",
            ),
        )
        .map_err(|e| format!("{e:?}"))?;
    let st = dumper.wait();
    println!(
        "pattern dump: {:?}, {} keys -> {:?}",
        st.state, st.keys_written, st.path
    );
    print!("{}", std::fs::read_to_string(base.join("dumps/users.txt"))?);

    let slot = keys::slot(b"{shop}:cart");
    dumper
        .start(&db, request(Selector::Slot(slot), Format::Rdb, "shop.rdb"))
        .map_err(|e| format!("{e:?}"))?;
    let st = dumper.wait();
    println!(
        "slot {slot} dump: {:?}, {} keys, {} bytes (an RDB file Redis 7.0 loads)",
        st.state, st.keys_written, st.bytes
    );
    drop(dumper);
    drop(db);
    std::fs::remove_dir_all(&base)?;
    Ok(())
}
