//! A payload that repeats a set member, hash field or zset member is refused (Redis
//! refuses it too), whatever the order of the elements and the encoding chosen.

use strata_rdb::{dump, restore, EncodeConfig, Error, Target, Value, RDB_VERSION_7_0};

fn names(order: &[u32]) -> Vec<Vec<u8>> {
    order
        .iter()
        .map(|i| format!("m{i:05}").into_bytes())
        .collect()
}

/// Orders of 1,000 distinct names: increasing, decreasing, scrambled.
fn orders() -> Vec<Vec<u32>> {
    let up: Vec<u32> = (0..1000).collect();
    let down: Vec<u32> = (0..1000).rev().collect();
    let scrambled: Vec<u32> = (0..1000u32).map(|i| (i * 7919) % 1000).collect();
    vec![up, down, scrambled]
}

fn values(members: &[Vec<u8>]) -> Vec<Value> {
    vec![
        Value::Set(members.to_vec()),
        Value::Hash(members.iter().map(|m| (m.clone(), b"v".to_vec())).collect()),
        Value::ZSet(
            members
                .iter()
                .enumerate()
                .map(|(i, m)| (m.clone(), i as f64))
                .collect(),
        ),
    ]
}

fn same_elements(a: &Value, b: &Value) -> bool {
    fn norm(v: &Value) -> Vec<String> {
        let mut e: Vec<String> = match v {
            Value::Set(m) => m.iter().map(|m| format!("{m:?}")).collect(),
            Value::Hash(p) => p.iter().map(|p| format!("{p:?}")).collect(),
            Value::ZSet(p) => p.iter().map(|p| format!("{p:?}")).collect(),
            other => vec![format!("{other:?}")],
        };
        e.sort();
        e
    }
    std::mem::discriminant(a) == std::mem::discriminant(b) && norm(a) == norm(b)
}

fn check(members: &[Vec<u8>], ok: bool) {
    for v in values(members) {
        // 1,000 elements: hashtable/skiplist by default, listpacks when allowed.
        let compact = EncodeConfig {
            hash_max_listpack_entries: 10_000,
            zset_max_listpack_entries: 10_000,
            ..EncodeConfig::default()
        };
        for cfg in [EncodeConfig::default(), compact] {
            let p = dump(&v, Target::Redis7_0, &cfg);
            let r = restore(&p, RDB_VERSION_7_0);
            if ok {
                // Element order is the encoding's (a skiplist is written backwards).
                assert!(same_elements(&r.unwrap(), &v));
            } else {
                assert!(matches!(r, Err(Error::BadData(_))), "{r:?}");
            }
        }
    }
}

#[test]
fn distinct_members_restore_in_any_order() {
    for o in orders() {
        check(&names(&o), true);
    }
}

#[test]
fn a_repeated_member_is_refused_in_any_order_and_place() {
    for o in orders() {
        for (i, j) in [(0, 1), (0, 999), (500, 501), (998, 999), (10, 700)] {
            let mut n = names(&o);
            n[j] = n[i].clone();
            check(&n, false);
        }
    }
}
