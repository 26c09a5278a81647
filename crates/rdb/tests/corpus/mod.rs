//! Access to the Redis 7.0.15 ground-truth corpus in `../shared/testdata/redis-7.0.15/`
//! (beside the repository). Missing corpus = a failing test with the path, never a skip.
#![allow(dead_code)]

use serde_json::Value as Json;
use strata_rdb::Value;

#[allow(unused_imports)]
pub use strata_testkit::corpus::{bytes, dir, hex, load};

fn score(j: &Json) -> f64 {
    let s = j.as_str().unwrap();
    match s {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap(),
    }
}

/// Does our decoded value equal the corpus's logical value (conventions of its README)?
pub fn same_value(ty: &str, want: &Json, got: &Value) -> Result<(), String> {
    match (ty, got) {
        ("string", Value::String(s)) => (bytes(want) == *s)
            .then_some(())
            .ok_or("string differs".into()),
        ("list", Value::List(l)) => {
            let w: Vec<Vec<u8>> = want.as_array().unwrap().iter().map(bytes).collect();
            (w == *l).then_some(()).ok_or("list differs".into())
        }
        ("set", Value::Set(s)) => {
            let w: Vec<Vec<u8>> = want.as_array().unwrap().iter().map(bytes).collect();
            let mut g = s.clone();
            g.sort();
            (w == g).then_some(()).ok_or("set differs".into())
        }
        ("hash", Value::Hash(h)) => {
            let mut w: Vec<(Vec<u8>, Vec<u8>)> = want
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (bytes(&Json::String(k.clone())), bytes(v)))
                .collect();
            let mut g = h.clone();
            w.sort();
            g.sort();
            (w == g).then_some(()).ok_or("hash differs".into())
        }
        ("zset", Value::ZSet(z)) => {
            let w: Vec<(Vec<u8>, f64)> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (bytes(&p[0]), score(&p[1])))
                .collect();
            let mut g = z.clone();
            // ZRANGE order; a skiplist is dumped from the greatest element down.
            g.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            let ok = w.len() == g.len() && w.iter().zip(&g).all(|(a, b)| a.0 == b.0 && a.1 == b.1);
            ok.then_some(()).ok_or(format!(
                "zset differs: want {} members, got {}",
                w.len(),
                g.len()
            ))
        }
        (t, v) => Err(format!("type {t} decoded as {}", v.type_name())),
    }
}
