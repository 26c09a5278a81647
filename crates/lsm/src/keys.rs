//! Slot-prefixed, versioned keys: how Redis keys map onto engine keys.
//!
//! Byte layout (specified in `docs/key-encoding.md`):
//!
//! ```text
//! metadata record:  slot: u16 BE | db: u8 | 0x00 | user key
//! sub-record:       slot: u16 BE | db: u8 | 0x01 | key length: u32 BE | user key
//!                   | version: u64 BE | field
//! ```
//! Properties (each tested below):
//! 1. All records of one slot form one contiguous range (`slot_range`).
//! 2. Within a slot and db, metadata records iterate in user-key order.
//! 3. All sub-records of one `(key, version)` are contiguous and ordered by field
//!    (`subrecord_prefix`).
//! 4. The db byte keeps SELECT's 16 logical databases (0..=15) apart.
//! 5. Decoding checks every length and tag and returns an error on malformed bytes.

use crate::error::{Error, Result};

/// Number of Redis Cluster slots.
pub const SLOTS: u16 = 16384;
/// Number of logical databases (SELECT 0..=15).
pub const DATABASES: u8 = 16;

const TAG_META: u8 = 0x00;
const TAG_SUB: u8 = 0x01;

/// CRC16-XMODEM (polynomial 0x1021, init 0), as Redis Cluster uses.
///
/// Slicing-by-8: eight bytes per step from eight 256-entry tables (4 KiB), where
/// `TABLES[k][x]` is the CRC of byte `x` followed by `k` zero bytes. The byte-at-a-time
/// forms (bitwise or one table) are one long dependency chain, about 25 ns for a 16-byte
/// key here; this is about 8 ns (docs/decisions.md).
pub fn crc16(data: &[u8]) -> u16 {
    let t = &CRC16_TABLES;
    let mut crc: u16 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        crc = t[7][usize::from((crc >> 8) as u8 ^ c[0])]
            ^ t[6][usize::from(crc as u8 ^ c[1])]
            ^ t[5][usize::from(c[2])]
            ^ t[4][usize::from(c[3])]
            ^ t[3][usize::from(c[4])]
            ^ t[2][usize::from(c[5])]
            ^ t[1][usize::from(c[6])]
            ^ t[0][usize::from(c[7])];
    }
    for &b in chunks.remainder() {
        crc = (crc << 8) ^ t[0][usize::from((crc >> 8) as u8 ^ b)];
    }
    crc
}

/// The CRC of one byte, bit by bit (the definition the tables are built from).
const fn crc16_byte(b: u8) -> u16 {
    let mut crc = (b as u16) << 8;
    let mut i = 0;
    while i < 8 {
        crc = if crc & 0x8000 != 0 {
            (crc << 1) ^ 0x1021
        } else {
            crc << 1
        };
        i += 1;
    }
    crc
}

const fn crc16_tables() -> [[u16; 256]; 8] {
    let mut t = [[0u16; 256]; 8];
    let mut i = 0;
    while i < 256 {
        t[0][i] = crc16_byte(i as u8);
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            // One more zero byte after the CRC of the previous table.
            let p = t[k - 1][i];
            t[k][i] = (p << 8) ^ t[0][(p >> 8) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

static CRC16_TABLES: [[u16; 256]; 8] = crc16_tables();

/// The cluster slot of `key`: CRC16 of the hash tag (the bytes between the first `{`
/// and the next `}`, when that is not empty) or of the whole key, modulo 16384.
pub fn slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) & (SLOTS - 1)
}

fn check(db: u8) -> Result<()> {
    if db >= DATABASES {
        return Err(Error::InvalidArgument(format!(
            "db {db} out of range 0..{DATABASES}"
        )));
    }
    Ok(())
}

fn header(slot: u16, db: u8, tag: u8, cap: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + cap);
    v.extend_from_slice(&slot.to_be_bytes());
    v.push(db);
    v.push(tag);
    v
}

/// The metadata record key of `key` in `db`.
pub fn metadata_key(db: u8, key: &[u8]) -> Result<Vec<u8>> {
    check(db)?;
    let mut v = header(slot(key), db, TAG_META, key.len());
    v.extend_from_slice(key);
    Ok(v)
}

/// The prefix shared by every sub-record of `(key, version)` in `db`.
pub fn subrecord_prefix(db: u8, key: &[u8], version: u64) -> Result<Vec<u8>> {
    check(db)?;
    let len = u32::try_from(key.len())
        .map_err(|_| Error::InvalidArgument("key longer than 4 GiB".into()))?;
    let mut v = header(slot(key), db, TAG_SUB, 12 + key.len());
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(key);
    v.extend_from_slice(&version.to_be_bytes());
    Ok(v)
}

/// The sub-record key of `field` of `(key, version)` in `db`.
pub fn subrecord_key(db: u8, key: &[u8], version: u64, field: &[u8]) -> Result<Vec<u8>> {
    let mut v = subrecord_prefix(db, key, version)?;
    v.extend_from_slice(field);
    Ok(v)
}

/// `[start, end)` covering every record (all dbs, metadata and sub-records) of `slot`.
pub fn slot_range(slot: u16) -> (Vec<u8>, Vec<u8>) {
    // Slots are below 16384, so `slot + 1` always fits in the two prefix bytes.
    (
        slot.to_be_bytes().to_vec(),
        slot.saturating_add(1).to_be_bytes().to_vec(),
    )
}

/// `[start, end)` covering the metadata records of `db` in `slot`, in key order.
pub fn metadata_range(slot: u16, db: u8) -> (Vec<u8>, Vec<u8>) {
    (header(slot, db, TAG_META, 0), header(slot, db, TAG_SUB, 0))
}

/// `[start, end)` covering every sub-record of `(key, version)` in `db`.
pub fn subrecord_range(db: u8, key: &[u8], version: u64) -> Result<(Vec<u8>, Vec<u8>)> {
    let start = subrecord_prefix(db, key, version)?;
    let end = match version.checked_add(1) {
        Some(next) => subrecord_prefix(db, key, next)?,
        None => {
            let mut e = subrecord_prefix(db, key, version)?;
            e.push(0xff);
            e
        }
    };
    Ok((start, end))
}

/// A decoded engine key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A key's metadata record.
    Metadata {
        /// Cluster slot.
        slot: u16,
        /// Logical database.
        db: u8,
        /// The Redis key.
        key: &'a [u8],
    },
    /// One element of a collection.
    SubRecord {
        /// Cluster slot.
        slot: u16,
        /// Logical database.
        db: u8,
        /// The Redis key owning the element.
        key: &'a [u8],
        /// The collection version the element belongs to.
        version: u64,
        /// The element's field (hash field, set member, list index, ...).
        field: &'a [u8],
    },
}

/// Decode an engine key, checking every length, tag and the slot.
pub fn decode(raw: &[u8]) -> Result<Decoded<'_>> {
    let bad = |why: &str| Error::corrupt(format!("malformed engine key: {why}"));
    if raw.len() < 4 {
        return Err(bad("shorter than its header"));
    }
    let slot = u16::from_be_bytes([raw[0], raw[1]]);
    let db = raw[2];
    if slot >= SLOTS || db >= DATABASES {
        return Err(bad("slot or db out of range"));
    }
    let rest = &raw[4..];
    let decoded = match raw[3] {
        TAG_META => Decoded::Metadata {
            slot,
            db,
            key: rest,
        },
        TAG_SUB => {
            if rest.len() < 4 {
                return Err(bad("truncated key length"));
            }
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let rest = &rest[4..];
            if rest.len() < len.saturating_add(8) {
                return Err(bad("key length exceeds the record"));
            }
            let (key, rest) = rest.split_at(len);
            let mut v = [0u8; 8];
            v.copy_from_slice(&rest[..8]);
            Decoded::SubRecord {
                slot,
                db,
                key,
                version: u64::from_be_bytes(v),
                field: &rest[8..],
            }
        }
        t => return Err(bad(&format!("unknown tag {t}"))),
    };
    let key = match &decoded {
        Decoded::Metadata { key, .. } | Decoded::SubRecord { key, .. } => key,
    };
    if self::slot(key) != slot {
        return Err(bad("slot does not match the key"));
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_vectors() {
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"{user1000}.following"), 3443);
        assert_eq!(slot(b"foo{}{bar}"), 8363);
        assert_eq!(slot(b"foo{{bar}}zap"), 4015);
        assert_eq!(slot(b""), 0);
        assert_eq!(crc16(b"123456789"), 0x31c3);
    }

    #[test]
    fn crc16_matches_the_bitwise_definition_for_every_length() {
        let bitwise = |data: &[u8]| {
            let mut crc: u16 = 0;
            for &b in data {
                crc ^= u16::from(b) << 8;
                for _ in 0..8 {
                    crc = if crc & 0x8000 != 0 {
                        (crc << 1) ^ 0x1021
                    } else {
                        crc << 1
                    };
                }
            }
            crc
        };
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let data: Vec<u8> = (0..300)
            .map(|_| crate::testutil::xorshift(&mut x) as u8)
            .collect();
        for len in 0..data.len() {
            for start in [0, 1, 7] {
                let d = &data[start..(start + len).min(data.len())];
                assert_eq!(crc16(d), bitwise(d), "length {}", d.len());
            }
        }
    }

    #[test]
    fn layout_properties() {
        // 1. slot ranges contain every record of the slot and nothing else.
        let k = b"{user1000}.following";
        let s = slot(k);
        let (a, b) = slot_range(s);
        for db in [0u8, 15] {
            let m = metadata_key(db, k).unwrap();
            let sub = subrecord_key(db, k, 7, b"field").unwrap();
            assert!(a <= m && m < b && a <= sub && sub < b);
        }
        let other = metadata_key(0, b"foo").unwrap();
        assert!(!(a <= other && other < b));
        // 2. metadata in key order within a slot and db.
        let (lo, hi) = metadata_range(s, 3);
        let mut keys: Vec<Vec<u8>> = [
            &b"{user1000}b"[..],
            b"{user1000}",
            b"{user1000}a",
            b"{user1000}ab",
        ]
        .iter()
        .map(|k| metadata_key(3, k).unwrap())
        .collect();
        keys.sort();
        let users: Vec<&[u8]> = keys.iter().map(|k| &k[4..]).collect();
        assert_eq!(
            users,
            vec![
                &b"{user1000}"[..],
                b"{user1000}a",
                b"{user1000}ab",
                b"{user1000}b"
            ]
        );
        assert!(keys.iter().all(|k| &lo <= k && k < &hi));
        // 3. sub-records of (key, version) contiguous and ordered by field, even when
        // another key is a prefix of this one.
        let (s0, e0) = subrecord_range(0, b"{t}a", 5).unwrap();
        let inside = subrecord_key(0, b"{t}a", 5, b"zzz").unwrap();
        let prefix_key = subrecord_key(0, b"{t}ab", 5, b"").unwrap();
        let next_version = subrecord_key(0, b"{t}a", 6, b"").unwrap();
        assert!(s0 <= inside && inside < e0);
        assert!(!(s0 <= prefix_key && prefix_key < e0));
        assert!(!(s0 <= next_version && next_version < e0));
        assert!(
            subrecord_key(0, b"{t}a", 5, b"a").unwrap()
                < subrecord_key(0, b"{t}a", 5, b"b").unwrap()
        );
        // 4. databases are apart; 16 is refused.
        assert_ne!(
            metadata_key(0, b"x").unwrap(),
            metadata_key(1, b"x").unwrap()
        );
        assert!(metadata_key(16, b"x").is_err());
    }

    #[test]
    fn decode_roundtrip_and_garbage() {
        let m = metadata_key(2, b"foo").unwrap();
        assert_eq!(
            decode(&m).unwrap(),
            Decoded::Metadata {
                slot: 12182,
                db: 2,
                key: b"foo"
            }
        );
        let s = subrecord_key(1, b"bar", 9, b"f").unwrap();
        assert_eq!(
            decode(&s).unwrap(),
            Decoded::SubRecord {
                slot: 5061,
                db: 1,
                key: b"bar",
                version: 9,
                field: b"f"
            }
        );
        for cut in 0..s.len() {
            let _ = decode(&s[..cut]);
        }
        assert!(decode(&[0xff, 0xff, 0, 0]).is_err());
        assert!(decode(&[0, 0, 0, 9]).is_err());
        let mut wrong_slot = m.clone();
        wrong_slot[1] ^= 1;
        assert!(decode(&wrong_slot).is_err());
        let mut long = s.clone();
        long[4] = 0xff;
        assert!(decode(&long).is_err());
    }
}
