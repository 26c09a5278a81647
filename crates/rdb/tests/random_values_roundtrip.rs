//! Property test: random values of every type, size class and element shape (integers
//! of every width, binary strings, long compressible strings, special scores) survive
//! `dump` then `restore` unchanged, for each encoder configuration that switches
//! encodings.

mod support;

use strata_rdb::{dump, restore, EncodeConfig, Target, RDB_VERSION_7_0};
use support::{random_value as value, Rng};

#[test]
fn random_values_roundtrip() {
    let configs = [
        EncodeConfig::default(),
        EncodeConfig {
            compression: false,
            list_max_listpack_size: 4,
            list_compress_depth: 1,
            packed_threshold: 1024,
            ..Default::default()
        },
        EncodeConfig {
            hash_max_listpack_entries: 0,
            zset_max_listpack_entries: 0,
            set_max_intset_entries: 0,
            ..Default::default()
        },
    ];
    let mut r = Rng(0x1234_5678_9abc_def1);
    for i in 0..300 {
        let v = value(&mut r);
        for (cfg, target) in configs.iter().map(|c| (c, Target::Redis7_0)).chain([
            (&configs[0], Target::Portable),
            (&configs[0], Target::Redis6),
            (&configs[1], Target::Redis6),
        ]) {
            let payload = dump(&v, target, cfg);
            let back =
                restore(&payload, RDB_VERSION_7_0).unwrap_or_else(|e| panic!("value {i}: {e}"));
            // -0.0 is stored as 0 (Redis does the same); compare scores numerically.
            assert_eq!(back.sorted(), v.clone().sorted(), "value {i} with {cfg:?}");
        }
    }
}
