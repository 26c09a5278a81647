//! The keyspace's records, as the server writes them and the dumper reads them
//! (docs/key-encoding.md, "Server records"): a key's metadata record (type, expiry,
//! string value or collection header) and the versioned sub-records of collections.

use strata_lsm::{keys, DbIterator, IterOptions};
use strata_rdb::Value;

/// Types a key can hold (stored in the metadata's first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    String = 0,
    /// A list.
    List = 1,
    /// A set.
    Set = 2,
    /// A sorted set.
    ZSet = 3,
    /// A hash.
    Hash = 4,
    /// A stream, stored whole: the metadata body is its RDB object (type 19), so DUMP,
    /// RESTORE, MIGRATE, RENAME and expiry work; stream commands beyond XLEN do not.
    Stream = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            0 => Kind::String,
            1 => Kind::List,
            2 => Kind::Set,
            3 => Kind::ZSet,
            4 => Kind::Hash,
            5 => Kind::Stream,
            _ => return None,
        })
    }
    /// TYPE's answer.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Hash => "hash",
            Kind::Stream => "stream",
        }
    }
}

/// A key's metadata record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// The type.
    pub kind: Kind,
    /// Absolute expiry in Unix milliseconds; 0 = none.
    pub expire: u64,
    /// A string's bytes (collections: their header, defined with the collection types).
    pub body: Vec<u8>,
    /// Strings: the encoding Redis would hold the value in, where its contents alone
    /// do not say (`STR_*`); 0 for every other kind.
    pub str_enc: u8,
}

const META_HEADER: usize = 9;

/// A string's encoding follows from its contents (`int`, `embstr` up to 44 bytes, else
/// `raw`), as after SET, INCR, RESTORE.
pub const STR_BY_CONTENT: u8 = 0;
/// `raw` whatever the contents: edited in place (APPEND to an existing value,
/// SETRANGE, SETBIT).
pub const STR_RAW: u8 = 1;
/// Never `int` (`embstr` or `raw` by length): INCRBYFLOAT's result.
pub const STR_NOT_INT: u8 = 2;

impl Meta {
    /// A string value (its encoding from its contents).
    pub fn string(value: Vec<u8>, expire: u64) -> Meta {
        Meta {
            kind: Kind::String,
            expire,
            body: value,
            str_enc: STR_BY_CONTENT,
        }
    }

    /// A string value held in encoding `str_enc` (`STR_*`).
    pub fn string_enc(value: Vec<u8>, expire: u64, str_enc: u8) -> Meta {
        Meta {
            str_enc,
            ..Meta::string(value, expire)
        }
    }

    /// Encode as a metadata record value.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(META_HEADER + self.body.len());
        v.extend_from_slice(&self.header_bytes());
        v.extend_from_slice(&self.body);
        v
    }

    /// The record value's header; the body follows it (`encode` = header + body).
    pub fn header_bytes(&self) -> [u8; META_HEADER] {
        let mut h = [0u8; META_HEADER];
        h[0] = self.kind as u8 | (self.str_enc << 6);
        h[1..].copy_from_slice(&self.expire.to_le_bytes());
        h
    }

    /// Decode a metadata record's value.
    pub fn decode(raw: &[u8]) -> Result<Meta> {
        let (kind, str_enc, expire) = Self::decode_header(raw)?;
        Ok(Meta {
            kind,
            expire,
            body: raw[META_HEADER..].to_vec(),
            str_enc,
        })
    }

    /// The expiry of a metadata record's value (0 = none), checked as `decode` checks
    /// it, without copying the body.
    pub fn decode_expire(raw: &[u8]) -> Result<u64> {
        Ok(Self::decode_header(raw)?.2)
    }

    /// (kind, string encoding, expiry) of a metadata record's value.
    fn decode_header(raw: &[u8]) -> Result<(Kind, u8, u64)> {
        if raw.len() < META_HEADER {
            return Err(Error::Corrupt("metadata record too short".into()));
        }
        let kind = Kind::from_u8(raw[0] & 0x3f)
            .ok_or_else(|| Error::Corrupt(format!("unknown type {}", raw[0])))?;
        let str_enc = raw[0] >> 6;
        if str_enc > STR_NOT_INT || (str_enc != 0 && kind != Kind::String) {
            return Err(Error::Corrupt(format!("unknown type {}", raw[0])));
        }
        let mut e = [0u8; 8];
        e.copy_from_slice(&raw[1..9]);
        Ok((kind, str_enc, u64::from_le_bytes(e)))
    }

    /// Has it expired at `now`?
    pub fn expired(&self, now: u64) -> bool {
        self.expire != 0 && self.expire <= now
    }
}

/// Header of a collection's metadata (its `body`): `flags u8 | version u64 LE | count
/// u64 LE`, and for lists `| head u64 LE | tail u64 LE` (elements sit at positions
/// `head..tail`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coll {
    /// Bit 0: the value outgrew Redis's compact encoding (sticky, as in Redis). Bit 1
    /// (sets): holds a non-integer member (no longer an intset).
    pub flags: u8,
    /// Version of the sub-records.
    pub version: u64,
    /// Elements.
    pub count: u64,
    /// Lists: position of the first element.
    pub head: u64,
    /// Lists: position after the last element.
    pub tail: u64,
}

/// Flag: no longer in the compact encoding.
pub const FLAG_BIG: u8 = 1;
/// Flag: a set with a non-integer member.
pub const FLAG_NOT_INTSET: u8 = 2;
/// Lists start in the middle of the position space so they can grow both ways.
pub const LIST_MIDDLE: u64 = 1 << 63;

impl Coll {
    /// Encode as a metadata body.
    pub fn encode(&self, kind: Kind) -> Vec<u8> {
        let mut v = Vec::with_capacity(33);
        v.push(self.flags);
        v.extend_from_slice(&self.version.to_le_bytes());
        v.extend_from_slice(&self.count.to_le_bytes());
        if kind == Kind::List {
            v.extend_from_slice(&self.head.to_le_bytes());
            v.extend_from_slice(&self.tail.to_le_bytes());
        }
        v
    }

    /// Decode a metadata body.
    pub fn decode(kind: Kind, b: &[u8]) -> Result<Coll> {
        let need = if kind == Kind::List { 33 } else { 17 };
        if kind == Kind::String || b.len() != need {
            return Err(Error::Corrupt("collection header".into()));
        }
        let u = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        Ok(Coll {
            flags: b[0],
            version: u(1),
            count: u(9),
            head: if kind == Kind::List { u(17) } else { 0 },
            tail: if kind == Kind::List { u(25) } else { 0 },
        })
    }
}

impl Meta {
    /// A collection's metadata.
    pub fn coll(kind: Kind, c: &Coll, expire: u64) -> Meta {
        Meta {
            kind,
            expire,
            body: c.encode(kind),
            str_enc: 0,
        }
    }

    /// The collection header (an error for strings or a corrupt record).
    pub fn header(&self) -> Result<Coll> {
        Coll::decode(self.kind, &self.body)
    }
}

/// Store errors.
#[derive(Debug)]
pub enum Error {
    /// The engine failed (I/O, corruption, background error).
    Engine(strata_lsm::Error),
    /// A record of ours failed to decode.
    Corrupt(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Engine(e) => write!(f, "storage error: {e}"),
            Error::Corrupt(s) => write!(f, "corrupt record: {s}"),
        }
    }
}

impl From<strata_lsm::Error> for Error {
    fn from(e: strata_lsm::Error) -> Self {
        Error::Engine(e)
    }
}

/// Store result.
pub type Result<T> = std::result::Result<T, Error>;

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A key's metadata record key in physical database `phys`.
pub fn metadata_key(phys: u8, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + key.len());
    metadata_key_into(&mut k, phys, key);
    k
}

/// [`metadata_key`] in `out` (replacing what it held). When `out` holds that key
/// already, it is left as it is: the slot's CRC is not computed again.
pub fn metadata_key_into(out: &mut Vec<u8>, phys: u8, key: &[u8]) {
    if out.len() == 4 + key.len() && out[2] == phys && out[3] == 0 && out[4..] == *key {
        return;
    }
    out.clear();
    out.extend_from_slice(&keys::slot(key).to_be_bytes());
    out.push(phys);
    out.push(0);
    out.extend_from_slice(key);
}

/// A sub-record's engine key.
pub fn sub_key(phys: u8, key: &[u8], version: u64, field: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + key.len() + field.len());
    sub_key_into(&mut k, phys, key, version, field);
    k
}

/// `sub_key`, written over `out` (which keeps its allocation). When `out` already
/// holds a sub-record key of the same `(phys, key, version)` (the usual case: a
/// command writes many fields of one key), its prefix is kept and the key's slot is
/// not hashed again. So `out` must hold nothing but keys built by `sub_key`-family
/// functions (the slot bytes are trusted, not recomputed).
pub fn sub_key_into(out: &mut Vec<u8>, phys: u8, key: &[u8], version: u64, field: &[u8]) {
    let prefix = 16 + key.len();
    let same = out.len() >= prefix
        && out[2] == phys
        && out[3] == 1
        && out[4..8] == (key.len() as u32).to_be_bytes()
        && out[8..8 + key.len()] == *key
        && out[8 + key.len()..prefix] == version.to_be_bytes();
    if same {
        out.truncate(prefix);
    } else {
        out.clear();
        push_sub_prefix(out, phys, key, version);
    }
    out.extend_from_slice(field);
}

/// The engine-key prefix of one collection version's sub-records.
pub fn sub_prefix(phys: u8, key: &[u8], version: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + key.len());
    push_sub_prefix(&mut k, phys, key, version);
    k
}

fn push_sub_prefix(k: &mut Vec<u8>, phys: u8, key: &[u8], version: u64) {
    k.extend_from_slice(&keys::slot(key).to_be_bytes());
    k.push(phys);
    k.push(1);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k.extend_from_slice(&version.to_be_bytes());
}

/// The first key of the slot after `slot` (or the end of the slot space).
pub fn next_slot_start(slot: u16) -> Vec<u8> {
    (slot + 1).to_be_bytes().to_vec()
}

/// The smallest key greater than every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut e = prefix.to_vec();
    while let Some(last) = e.pop() {
        if last < 0xff {
            e.push(last + 1);
            return e;
        }
    }
    vec![0xff; prefix.len() + 1]
}

/// End of the slot-prefixed key space (slot 16384 would start here).
pub const SLOTS_END: [u8; 2] = [0x40, 0x00];

/// Order-preserving encoding of a sorted-set score (NaN never reaches here):
/// -inf < negatives < -0 == 0 < positives < +inf.
pub fn ordered(score: f64) -> [u8; 8] {
    let s = if score == 0.0 { 0.0 } else { score };
    let b = s.to_bits();
    let k = if b >> 63 == 1 { !b } else { b | (1 << 63) };
    k.to_be_bytes()
}

/// Something records can be read from: the engine or a snapshot of it.
pub trait Source {
    /// An iterator.
    fn iter(&self, opts: IterOptions) -> strata_lsm::Result<DbIterator>;
}

impl Source for strata_lsm::Db {
    fn iter(&self, opts: IterOptions) -> strata_lsm::Result<DbIterator> {
        strata_lsm::Db::iter(self, opts)
    }
}

impl Source for strata_lsm::Snapshot {
    fn iter(&self, opts: IterOptions) -> strata_lsm::Result<DbIterator> {
        strata_lsm::Snapshot::iter(self, opts)
    }
}

/// The encoder settings that write `m`'s value in the encoding Redis would hold it in:
/// a collection that outgrew the compact encoding keeps the large one (Redis never
/// converts back), and a DUMP payload carries the encoding.
pub fn encode_config(m: &Meta) -> strata_rdb::EncodeConfig {
    let mut cfg = strata_rdb::EncodeConfig::default();
    if let Ok(h) = m.header() {
        let big = h.flags & FLAG_BIG != 0;
        match m.kind {
            Kind::Hash if big => cfg.hash_max_listpack_entries = 0,
            Kind::ZSet if big => cfg.zset_max_listpack_entries = 0,
            Kind::Set if big || h.flags & FLAG_NOT_INTSET != 0 => cfg.set_max_intset_entries = 0,
            _ => {}
        }
    }
    cfg
}

/// The DUMP payload of `key` (metadata `m`) for `target`, in the encoding Redis would
/// hold it in: streamed for a large sorted set, through a [`Value`] otherwise.
pub fn dump_payload(
    src: &impl Source,
    phys: u8,
    key: &[u8],
    m: &Meta,
    target: strata_rdb::Target,
) -> Result<Vec<u8>> {
    let cfg = encode_config(m);
    if let Some(p) = dump_large_zset(src, phys, key, m, target, &cfg)? {
        return Ok(p);
    }
    if let Some(p) = dump_large_plain(src, phys, key, m, target, &cfg)? {
        return Ok(p);
    }
    let v = read_value(src, phys, key, m)?;
    Ok(strata_rdb::dump(&v, target, &cfg))
}

/// The bounds of a sorted set's score-index records (family byte 1) under `prefix`.
fn zset_index_bounds(prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    ([prefix, &[1]].concat(), [prefix, &[2]].concat())
}

/// The DUMP payload of a large sorted set, from its score index (written backwards:
/// Redis's order) without building a [`Value`] (no allocation per member); None when the set's length
/// does not decide its encoding for `target` (use [`read_value`] and
/// `strata_rdb::dump`). The bytes are those `strata_rdb::dump` writes for the set.
fn dump_large_zset(
    src: &impl Source,
    phys: u8,
    key: &[u8],
    m: &Meta,
    target: strata_rdb::Target,
    cfg: &strata_rdb::EncodeConfig,
) -> Result<Option<Vec<u8>>> {
    if m.kind != Kind::ZSet {
        return Ok(None);
    }
    let h = m.header()?;
    let Some(mut w) = strata_rdb::ZSetDump::new(h.count, target, cfg) else {
        return Ok(None);
    };
    let prefix = sub_prefix(phys, key, h.version);
    let (lo, hi) = zset_index_bounds(&prefix);
    // Sized from the first member: a large sorted set's members are often of one
    // length (a guess: the buffers still grow when it is short).
    let first_len = |it: &DbIterator| it.key().len().saturating_sub(prefix.len() + 9);
    // Forward (a reverse engine iterator costs more per step than this copy): the
    // members into one buffer, then pushed from the last.
    let mut it = src.iter(IterOptions {
        lower: Some(lo),
        upper: Some(hi),
        ..Default::default()
    })?;
    let n = prefix.len();
    let count = h.count.min(1 << 20) as usize;
    let mut bytes = Vec::with_capacity(count * first_len(&it));
    let mut ends: Vec<(usize, f64)> = Vec::with_capacity(count);
    while it.valid() {
        if let (Some(member), Ok(bits)) = (it.key().get(n + 9..), <[u8; 8]>::try_from(it.value())) {
            bytes.extend_from_slice(member);
            ends.push((bytes.len(), f64::from_bits(u64::from_be_bytes(bits))));
        }
        it.advance();
    }
    it.status()?;
    // Per member: its bytes, a length of at most 5 bytes, an 8-byte score.
    w.reserve(bytes.len() + 13 * ends.len());
    for i in (0..ends.len()).rev() {
        let start = if i == 0 { 0 } else { ends[i - 1].0 };
        w.push(&bytes[start..ends[i].0], ends[i].1);
    }
    w.finish()
        .map(Some)
        .ok_or_else(|| Error::Corrupt("sorted set index and count disagree".into()))
}

/// The DUMP payload of a large hash or set, streamed from its sub-records without
/// building a [`Value`] (no allocation per element); None when the collection's length
/// does not decide its encoding (use [`read_value`] and `strata_rdb::dump`). The bytes
/// are those `strata_rdb::dump` writes for the value `read_value` reads.
fn dump_large_plain(
    src: &impl Source,
    phys: u8,
    key: &[u8],
    m: &Meta,
    target: strata_rdb::Target,
    cfg: &strata_rdb::EncodeConfig,
) -> Result<Option<Vec<u8>>> {
    let hash = match m.kind {
        Kind::Hash => true,
        Kind::Set => false,
        _ => return Ok(None),
    };
    let h = m.header()?;
    let w = if hash {
        strata_rdb::PlainDump::hash(h.count, target, cfg)
    } else {
        strata_rdb::PlainDump::set(h.count, target, cfg)
    };
    let Some(mut w) = w else {
        return Ok(None);
    };
    let prefix = sub_prefix(phys, key, h.version);
    let mut it = src.iter(IterOptions {
        lower: Some(prefix.clone()),
        upper: Some(prefix_end(&prefix)),
        ..Default::default()
    })?;
    let n = prefix.len();
    while it.valid() {
        let element = &it.key()[n..];
        if hash {
            w.push_field(element, it.value());
        } else {
            w.push_member(element);
        }
        it.advance();
    }
    it.status()?;
    w.finish()
        .map(Some)
        .ok_or_else(|| Error::Corrupt(format!("{:?} sub-records and count disagree", m.kind)))
}

/// A key's value in the codec's model, read from `src` (every sub-record of the
/// collection's version).
pub fn read_value(src: &impl Source, phys: u8, key: &[u8], m: &Meta) -> Result<Value> {
    if m.kind == Kind::String {
        return Ok(Value::String(m.body.clone()));
    }
    if m.kind == Kind::Stream {
        return strata_rdb::decode_object(&m.body, strata_rdb::RDB_VERSION_7_0)
            .map_err(|e| Error::Corrupt(format!("stream record: {e:?}")));
    }
    let h = m.header()?;
    let prefix = sub_prefix(phys, key, h.version);
    let (lo, hi) = if m.kind == Kind::ZSet {
        zset_index_bounds(&prefix)
    } else {
        (prefix.clone(), prefix_end(&prefix))
    };
    let mut it = src.iter(IterOptions {
        lower: Some(lo),
        upper: Some(hi),
        ..Default::default()
    })?;
    let cap = h.count.min(1 << 16) as usize;
    let n = prefix.len();
    let score = |v: &[u8]| {
        let mut a = [0u8; 8];
        if v.len() == 8 {
            a.copy_from_slice(v);
        }
        f64::from_bits(u64::from_be_bytes(a))
    };
    // Each kind copies only what its value keeps (one allocation per element).
    let value = match m.kind {
        Kind::List => {
            let mut items = Vec::with_capacity(cap);
            while it.valid() {
                items.push(it.value().to_vec());
                it.advance();
            }
            Value::List(items)
        }
        Kind::Set => {
            let mut members = Vec::with_capacity(cap);
            while it.valid() {
                members.push(it.key()[n..].to_vec());
                it.advance();
            }
            Value::Set(members)
        }
        Kind::Hash => {
            let mut pairs = Vec::with_capacity(cap);
            while it.valid() {
                pairs.push((it.key()[n..].to_vec(), it.value().to_vec()));
                it.advance();
            }
            Value::Hash(pairs)
        }
        Kind::ZSet => {
            // Index records: family byte 1 | ordered score (8) | member -> score.
            let mut members = Vec::with_capacity(cap);
            while it.valid() {
                if let Some(member) = it.key().get(n + 9..) {
                    members.push((member.to_vec(), score(it.value())));
                }
                it.advance();
            }
            Value::ZSet(members)
        }
        Kind::String | Kind::Stream => Value::String(m.body.clone()),
    };
    it.status()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_rdb::{EncodeConfig, Target};

    /// A metadata key built into a buffer is the one `metadata_key` builds, whatever
    /// the buffer held: the same key, another key of the same length (in the same or
    /// another slot), the same key in another database, or a longer key.
    #[test]
    fn metadata_keys_built_in_place_match() {
        let mut buf = Vec::new();
        let cases: [(u8, &[u8]); 7] = [
            (0, b"mylist"),
            (0, b"mylist"),
            (0, b"mylisu"),
            (3, b"mylisu"),
            (3, b"{a}xyz"),
            (3, b"a-much-longer-key"),
            (0, b""),
        ];
        for (phys, key) in cases {
            metadata_key_into(&mut buf, phys, key);
            assert_eq!(buf, metadata_key(phys, key), "{phys} {key:?}");
        }
    }

    #[test]
    fn sub_key_into_matches_sub_key_whatever_the_buffer_held() {
        let cases: [(u8, &[u8], u64, &[u8]); 8] = [
            (0, b"k", 1, b"a"),
            (0, b"k", 1, b"bb"),
            (0, b"k", 2, b"bb"),
            (1, b"k", 2, b"bb"),
            (1, b"kk", 2, b""),
            (1, b"k", 2, b"longer field"),
            (1, b"{k}", 2, b"x"),
            (1, b"", 0, b"x"),
        ];
        let mut buf = Vec::new();
        for _ in 0..2 {
            for &(phys, key, version, field) in &cases {
                sub_key_into(&mut buf, phys, key, version, field);
                assert_eq!(buf, sub_key(phys, key, version, field));
            }
        }
        // A buffer holding something else entirely (a metadata key, garbage).
        for junk in [vec![], vec![0u8; 3], vec![0xff; 40], metadata_key(0, b"k")] {
            buf = junk;
            sub_key_into(&mut buf, 0, b"k", 1, b"a");
            assert_eq!(buf, sub_key(0, b"k", 1, b"a"));
        }
    }

    /// A sorted set's records, written as the server writes them.
    fn write_zset(
        db: &strata_lsm::Db,
        key: &[u8],
        version: u64,
        members: &[(Vec<u8>, f64)],
    ) -> Meta {
        let mut b = strata_lsm::WriteBatch::new();
        for (m, s) in members {
            let mut f = vec![0];
            f.extend_from_slice(m);
            b.put(&sub_key(0, key, version, &f), &s.to_bits().to_be_bytes());
            let mut f = vec![1];
            f.extend_from_slice(&ordered(*s));
            f.extend_from_slice(m);
            b.put(&sub_key(0, key, version, &f), &s.to_bits().to_be_bytes());
        }
        db.write(Default::default(), b).unwrap();
        let h = Coll {
            flags: FLAG_BIG,
            version,
            count: members.len() as u64,
            ..Default::default()
        };
        Meta::coll(Kind::ZSet, &h, 0)
    }

    #[test]
    fn streamed_zset_payload_equals_the_value_path() {
        let dir = std::env::temp_dir().join(format!("strata-records-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = strata_lsm::Db::open(&dir, Default::default()).unwrap();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let cfg = EncodeConfig::default();
        for (i, n) in [0usize, 1, 128, 129, 1000, 5000].into_iter().enumerate() {
            // Ties, negatives, infinities, integer-looking and long (LZF) members.
            let members: Vec<(Vec<u8>, f64)> = (0..n)
                .map(|j| {
                    let m = match rnd() % 4 {
                        0 => format!("{}", rnd() % 100_000),
                        1 => format!("member-{j}-{}", "x".repeat((rnd() % 60) as usize)),
                        _ => format!("m{j}"),
                    };
                    let s = match rnd() % 6 {
                        0 => f64::INFINITY,
                        1 => f64::NEG_INFINITY,
                        2 => (rnd() % 5) as f64,
                        // -0.0 sometimes: it ties with 0 (Redis compares numbers).
                        3 => -((rnd() % 1000) as f64) / 7.0,
                        _ => (rnd() % 1_000_000) as f64 / 3.0,
                    };
                    (m.into_bytes(), s)
                })
                .collect();
            let mut members = members;
            members.sort_by(|a, b| a.0.cmp(&b.0));
            members.dedup_by(|a, b| a.0 == b.0);
            let key = format!("z{i}").into_bytes();
            let meta = write_zset(&db, &key, 10 + i as u64, &members);
            for target in [Target::Redis7_0, Target::Redis6, Target::Portable] {
                let streamed = dump_large_zset(&db, 0, &key, &meta, target, &cfg).unwrap();
                let v = read_value(&db, 0, &key, &meta).unwrap();
                let whole = strata_rdb::dump(&v, target, &cfg);
                match streamed {
                    Some(p) => {
                        assert!(members.len() > 128 && target != Target::Portable);
                        assert_eq!(p, whole, "{n} members, {target:?}");
                    }
                    None => assert!(members.len() <= 128 || target == Target::Portable),
                }
            }
        }
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn streamed_hash_and_set_payloads_equal_the_value_path() {
        let dir = std::env::temp_dir().join(format!("strata-records-hs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = strata_lsm::Db::open(&dir, Default::default()).unwrap();
        let cfg = EncodeConfig::default();
        for (i, n) in [0usize, 1, 512, 513, 3000].into_iter().enumerate() {
            // Integer-looking, short and long (LZF) elements.
            let element = |j: usize| match j % 3 {
                0 => format!("{}", j * 7),
                1 => format!("e{j}"),
                _ => format!("element-{j}-{}", "y".repeat(j % 70)),
            };
            let mut b = strata_lsm::WriteBatch::new();
            let (hkey, skey) = (format!("h{i}").into_bytes(), format!("s{i}").into_bytes());
            let version = 100 + i as u64;
            for j in 0..n {
                let e = element(j);
                b.put(
                    &sub_key(0, &hkey, version, e.as_bytes()),
                    format!("v{j}").as_bytes(),
                );
                b.put(&sub_key(0, &skey, version, e.as_bytes()), b"");
            }
            db.write(Default::default(), b).unwrap();
            let h = Coll {
                flags: FLAG_BIG,
                version,
                count: n as u64,
                ..Default::default()
            };
            for (key, kind) in [(&hkey, Kind::Hash), (&skey, Kind::Set)] {
                let meta = Meta::coll(kind, &h, 0);
                for target in [Target::Redis7_0, Target::Redis6, Target::Portable] {
                    let streamed = dump_large_plain(&db, 0, key, &meta, target, &cfg).unwrap();
                    let v = read_value(&db, 0, key, &meta).unwrap();
                    let whole = strata_rdb::dump(&v, target, &cfg);
                    match streamed {
                        Some(p) => {
                            assert!(n > 512);
                            assert_eq!(p, whole, "{kind:?} of {n}, {target:?}");
                        }
                        None => assert!(n <= 512),
                    }
                }
                // A count that disagrees with the records is corruption, not a payload.
                if n > 512 {
                    let wrong = Coll {
                        count: n as u64 + 1,
                        ..h
                    };
                    let meta = Meta::coll(kind, &wrong, 0);
                    assert!(dump_large_plain(&db, 0, key, &meta, Target::Redis7_0, &cfg).is_err());
                }
            }
        }
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn string_encodings_round_trip_and_bad_bits_are_corrupt() {
        for enc in [STR_BY_CONTENT, STR_RAW, STR_NOT_INT] {
            let m = Meta::string_enc(b"12".to_vec(), 7, enc);
            assert_eq!(Meta::decode(&m.encode()).unwrap(), m);
        }
        // Records written before the encoding bits existed read as "from the contents".
        let old = Meta::string(b"v".to_vec(), 0).encode();
        assert_eq!(old[0], 0);
        let mut bad = old.clone();
        bad[0] = 3 << 6;
        assert!(Meta::decode(&bad).is_err());
        let mut coll = Meta::coll(Kind::Hash, &Coll::default(), 0).encode();
        coll[0] |= 1 << 6;
        assert!(Meta::decode(&coll).is_err());
    }
}
