//! A deterministic mutation run over every corpus payload: byte flips, truncations,
//! insertions and length-field blow-ups, each with the CRC recomputed so the object
//! decoder really runs. Every result must be a value or an error: no panic, no runaway
//! allocation (the test would abort), and no quadratic blow-up (it has a time budget).
//! A replay-sized companion of a coverage-guided fuzzer.

mod corpus;

use std::time::{Duration, Instant};

mod support;

use strata_rdb::{crc64, restore, RDB_VERSION_7_0};
use support::Rng;

fn refooter(body: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&RDB_VERSION_7_0.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn mutations_give_values_or_errors() {
    let doc = corpus::load("dump-vectors-redis-7.0.15.json");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = Instant::now();
    let mut runs = 0u64;
    for v in doc["vectors"].as_array().unwrap() {
        let payload = corpus::hex(&v["dump_hex"]);
        let body = &payload[..payload.len() - 10];
        for _ in 0..200 {
            let mut m = body.to_vec();
            for _ in 0..1 + rng.index(3) {
                match rng.index(5) {
                    0 if !m.is_empty() => {
                        let i = rng.index(m.len());
                        m[i] ^= 1 << rng.index(8);
                    }
                    1 => m.truncate(rng.index(m.len() + 1)),
                    2 => {
                        let i = rng.index(m.len() + 1);
                        m.insert(i, rng.next() as u8);
                    }
                    3 if !m.is_empty() => {
                        // Make a length or header byte huge.
                        let i = rng.index(m.len().min(16));
                        m[i] = [0x80, 0x81, 0xff, 0xfe, 0xc3][rng.index(5)];
                    }
                    _ => {}
                }
            }
            let _ = restore(&refooter(&m), RDB_VERSION_7_0);
            runs += 1;
        }
    }
    let took = start.elapsed();
    eprintln!("{runs} mutated payloads decoded or refused in {took:?}");
    assert!(
        took < Duration::from_secs(60),
        "decoding mutated payloads took {took:?}"
    );
}
