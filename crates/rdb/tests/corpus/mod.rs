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

fn id_text(id: (u64, u64)) -> String {
    format!("{}-{}", id.0, id.1)
}

/// Does a decoded stream equal the vector's `value` (XRANGE) and `stream_info` (XINFO
/// STREAM FULL: lengths, IDs, groups, PELs, consumers)?
pub fn same_stream(v: &Json, s: &strata_rdb::stream::Stream) -> Result<(), String> {
    let entries = s.entries().map_err(|e| format!("entries: {e}"))?;
    let want: Vec<(String, Vec<Vec<u8>>)> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e[0].as_str().unwrap().to_string(),
                e[1].as_array().unwrap().iter().map(bytes).collect(),
            )
        })
        .collect();
    let got: Vec<(String, Vec<Vec<u8>>)> = entries
        .into_iter()
        .map(|(id, f)| (id_text(id), f))
        .collect();
    if want != got {
        return Err("stream entries differ".into());
    }
    let info = &v["stream_info"];
    let checks = [
        ("length", info["length"].as_u64() == Some(s.length)),
        (
            "last-generated-id",
            info["last-generated-id"] == id_text(s.last_id).as_str(),
        ),
        (
            "max-deleted-entry-id",
            info["max-deleted-entry-id"] == id_text(s.max_deleted_id).as_str(),
        ),
        (
            "entries-added",
            info["entries-added"].as_u64() == Some(s.entries_added),
        ),
        (
            "recorded-first-entry-id",
            info["recorded-first-entry-id"] == id_text(s.first_id).as_str(),
        ),
    ];
    if let Some((what, _)) = checks.iter().find(|(_, ok)| !ok) {
        return Err(format!("stream {what} differs"));
    }
    let groups = info["groups"].as_array().unwrap();
    if groups.len() != s.groups.len() {
        return Err("group count differs".into());
    }
    for (w, g) in groups.iter().zip(&s.groups) {
        let name_ok = bytes(&w["name"]) == g.name
            && w["last-delivered-id"] == id_text(g.last_id).as_str()
            // null = unknown, stored as u64::MAX (Redis's -1)
            && w["entries-read"].as_u64().unwrap_or(u64::MAX) == g.entries_read
            && w["pel-count"].as_u64() == Some(g.pel.len() as u64);
        if !name_ok {
            return Err(format!(
                "group {} differs",
                String::from_utf8_lossy(&g.name)
            ));
        }
        for (wp, n) in w["pending"].as_array().unwrap().iter().zip(&g.pel) {
            let owner = g
                .consumers
                .iter()
                .find(|c| c.pel.contains(&n.id))
                .map(|c| c.name.clone());
            let ok = wp["id"] == id_text(n.id).as_str()
                && wp["delivery_time_ms"].as_u64() == Some(n.delivery_time)
                && wp["delivery_count"].as_u64() == Some(n.delivery_count)
                && owner.as_ref() == Some(&bytes(&wp["consumer"]));
            if !ok {
                return Err("group PEL differs".into());
            }
        }
        let cons = w["consumers"].as_array().unwrap();
        if cons.len() != g.consumers.len() {
            return Err("consumer count differs".into());
        }
        for (wc, c) in cons.iter().zip(&g.consumers) {
            let ids: Vec<String> = wc["pending"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_string())
                .collect();
            let got_ids: Vec<String> = c.pel.iter().map(|id| id_text(*id)).collect();
            let ok = bytes(&wc["name"]) == c.name
                && wc["seen-time"].as_u64() == Some(c.seen_time)
                && ids == got_ids;
            if !ok {
                return Err(format!(
                    "consumer {} differs",
                    String::from_utf8_lossy(&c.name)
                ));
            }
        }
    }
    Ok(())
}
