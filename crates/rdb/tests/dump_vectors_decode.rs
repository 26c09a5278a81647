//! Every DUMP payload real Redis 7.0.15 wrote in the corpus decodes to its logical value,
//! streams included (entries, and XINFO STREAM FULL's lengths, IDs, groups, PELs and
//! consumers).

mod corpus;

use strata_rdb::{restore, restore_borrowed, Restored, Value, RDB_VERSION_7_0};

#[test]
fn every_vector_decodes_to_its_value() {
    let doc = corpus::load("dump-vectors-redis-7.0.15.json");
    let vectors = doc["vectors"].as_array().unwrap();
    let (mut checked, mut streams, mut failures) = (0, 0, Vec::new());
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let ty = v["type"].as_str().unwrap();
        let payload = corpus::hex(&v["dump_hex"]);
        let got = restore(&payload, RDB_VERSION_7_0);
        // RESTORE's borrowing decoder gives the same value.
        let borrowed = restore_borrowed(&payload, RDB_VERSION_7_0).map(|r| match r {
            Restored::Value(v) => v,
            Restored::Borrowed(b) => b.to_value(),
        });
        if borrowed != got {
            failures.push(format!("{name}: borrowed {borrowed:?} != {got:?}"));
        }
        if ty == "stream" {
            match got {
                Ok(Value::Stream(s)) => {
                    if let Err(why) = corpus::same_stream(v, &s) {
                        failures.push(format!("{name}: {why}"));
                    }
                }
                other => failures.push(format!("{name}: {other:?}")),
            }
            streams += 1;
            continue;
        }
        match got {
            Ok(value) => {
                if let Err(why) = corpus::same_value(ty, &v["value"], &value) {
                    failures.push(format!("{name}: {why}"));
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked + streams, vectors.len());
    assert_eq!(streams, 18);
    eprintln!("{checked} vectors decoded to their values, and {streams} streams");
}
