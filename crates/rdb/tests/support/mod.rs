//! Test support shared by the codec's scenario tests.
#![allow(dead_code)]

use strata_rdb::Value;

#[allow(unused_imports)]
pub use strata_testkit::{Client, RedisServer, Reply, Rng};

pub fn element(r: &mut Rng) -> Vec<u8> {
    match r.below(8) {
        0 => (r.next() as i64 >> r.below(64)).to_string().into_bytes(),
        1 => (r.below(300) as i64 - 150).to_string().into_bytes(),
        2 => (0..r.below(20)).map(|_| r.next() as u8).collect(),
        3 => vec![b'x'; r.below(300) as usize],
        4 => format!("member:{}", r.below(1000)).into_bytes(),
        5 => Vec::new(),
        6 => format!("0{}", r.below(100)).into_bytes(), // not canonical: stays a string
        _ => (0..r.below(5000))
            .map(|i| b"abcdefgh"[(i % 8) as usize] ^ (r.below(4) as u8))
            .collect(),
    }
}

pub fn score(r: &mut Rng) -> f64 {
    match r.below(6) {
        0 => f64::INFINITY,
        1 => f64::NEG_INFINITY,
        2 => (r.below(1000) as f64) - 500.0,
        3 => f64::from_bits(r.next() & !(0x7ff << 52)) * if r.below(2) == 0 { 1.0 } else { -1.0 },
        4 => (r.next() >> 11) as f64 * 1e-3,
        _ => 1e300 * (r.below(3) as f64 - 1.0),
    }
}

pub fn unique(items: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert(i.clone()))
        .collect()
}

pub fn random_value(r: &mut Rng) -> Value {
    let n = [1, 3, 50, 200, 600][r.below(5) as usize];
    let n = 1 + r.below(n) as usize;
    match r.below(5) {
        0 => Value::String(element(r)),
        1 => Value::List((0..n).map(|_| element(r)).collect()),
        2 => {
            let mut m = unique((0..n).map(|_| element(r)).collect());
            if r.below(2) == 0 {
                m = unique(
                    (0..n)
                        .map(|_| (r.next() as i64 >> r.below(64)).to_string().into_bytes())
                        .collect(),
                );
            }
            Value::Set(m)
        }
        3 => {
            let fields = unique((0..n).map(|_| element(r)).collect());
            Value::Hash(fields.into_iter().map(|f| (f, element(r))).collect())
        }
        _ => {
            let members = unique((0..n).map(|_| element(r)).collect());
            Value::ZSet(members.into_iter().map(|m| (m, score(r))).collect())
        }
    }
}
