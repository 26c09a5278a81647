//! Every corrupted or modified payload of the corpus is classified as Redis 7.0.15 with
//! `sanitize-dump-payload yes` classified it: accepted (with the value Redis then held),
//! "version or checksum", or "bad data format". Redis 7.0 streams are decoded and
//! checked like every type; payloads whose type byte was flipped to a Redis 5 or 7.2
//! stream type (not decoded) are counted.

mod corpus;

use strata_rdb::{restore, Error, RDB_VERSION_7_0};

const VERSION_OR_CHECKSUM: &str = "ERR DUMP payload version or checksum are wrong";
const BAD_DATA: &str = "ERR Bad data format";

#[test]
fn every_case_is_classified_as_redis_did() {
    let doc = corpus::load("restore-errors-redis-7.0.15.json");
    let (mut checked, mut stream_skipped, mut failures) = (0, 0, Vec::new());
    for c in doc["cases"].as_array().unwrap() {
        if c["sanitize_dump_payload"] != "yes" {
            continue;
        }
        let label = format!(
            "{} / {}",
            c["source_vector"].as_str().unwrap(),
            c["corruption"].as_str().unwrap()
        );
        let payload = corpus::hex(&c["payload_hex"]);
        let got = restore(&payload, RDB_VERSION_7_0);
        let borrowed = strata_rdb::restore_borrowed(&payload, RDB_VERSION_7_0).map(|r| match r {
            strata_rdb::Restored::Value(v) => v,
            strata_rdb::Restored::Borrowed(b) => b.to_value(),
        });
        assert_eq!(borrowed, got, "{label}: the borrowing decoder disagrees");
        let reply = &c["reply"];
        // A type byte flipped to a Redis 5 or 7.2 stream type (not decoded) cannot be
        // judged; Redis 7.0 streams (type 19) are.
        if matches!(got, Err(Error::Unsupported(15 | 21))) {
            stream_skipped += 1;
            continue;
        }
        checked += 1;
        let ok = match (reply["ok"].as_str(), reply["error"].as_str(), &got) {
            (Some(_), _, Ok(v)) => match (c.get("value_after"), v) {
                (Some(after), strata_rdb::Value::Stream(s)) if !after.is_null() => {
                    corpus::same_stream(after, s)
                }
                (Some(after), _) if !after.is_null() => {
                    corpus::same_value(after["type"].as_str().unwrap(), &after["value"], v)
                        .map_err(|w| w.to_string())
                }
                _ => Ok(()),
            },
            (_, Some(VERSION_OR_CHECKSUM), Err(Error::VersionOrChecksum)) => Ok(()),
            (_, Some(BAD_DATA), Err(Error::BadData(_))) => Ok(()),
            (ok, err, got) => Err(format!("Redis said {:?}, we said {got:?}", ok.or(err))),
        };
        if let Err(why) = ok {
            failures.push(format!("{label}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{checked} cases classified as Redis did; {stream_skipped} flipped to stream types not decoded (15, 21)");
    assert!(checked >= 115, "{checked}");
}
