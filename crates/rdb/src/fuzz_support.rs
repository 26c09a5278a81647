//! The checks of the fuzz targets, shared with the CI replay of their saved corpus.
//! Not a stable API.

use crate::{crc64, dump, restore, restore_borrowed, EncodeConfig, RdbFile, Restored, Target};

/// DUMP payload decoding: `data` as a payload, then re-footered with a valid CRC so the
/// object decoder runs; whatever decodes must re-encode for every target (streams: the
/// Redis 7.0 target) and decode to the same value. Panics on a violation (that is what the fuzzer looks for).
pub fn check_restore(data: &[u8]) {
    let _ = restore(data, 12);
    let mut p = data.to_vec();
    p.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    // The borrowing decoder agrees with the owning one, error for error.
    let owned = restore(&p, 12);
    let borrowed = restore_borrowed(&p, 12).map(|r| match r {
        Restored::Value(v) => v,
        Restored::Borrowed(b) => b.to_value(),
    });
    assert_eq!(borrowed, owned);
    if let Ok(v) = owned {
        // Streams re-encode for Redis 5/6 as type 15, which loses 7.0's extra fields
        // and is not decoded here: only their Redis 7.0 form must round-trip.
        let targets: &[Target] = if matches!(v, crate::Value::Stream(_)) {
            &[Target::Redis7_0]
        } else {
            &[Target::Redis7_0, Target::Redis6, Target::Portable]
        };
        for &target in targets {
            let again = restore(&dump(&v, target, &EncodeConfig::default()), 12);
            assert_eq!(
                again.map(|x| x.sorted()),
                Ok(v.clone().sorted()),
                "{target:?}"
            );
        }
    }
}

/// RDB file reading, with and without a known length: values or errors, no panic.
pub fn check_rdb_file(data: &[u8]) {
    for len in [Some(data.len() as u64), None] {
        if let Ok(mut f) = RdbFile::new(data, len) {
            while let Ok(Some(_)) = f.next_item() {}
        }
    }
}
