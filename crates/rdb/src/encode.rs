//! Encoding values as Redis 7.0 writes them (DUMP payloads and RDB objects).
//!
//! Encoding choices follow Redis 7.0 with the thresholds of [`EncodeConfig`] (Redis's
//! defaults unless changed):
//! - string: type 0, `rdbSaveRawString` rules (int32 text as an integer, LZF over 20 bytes);
//! - list: type 18, quicklist nodes filled as RPUSH fills them (a node takes the next
//!   element while its listpack bytes + element + 8 stay within 8 KiB, or while under
//!   the count limit when `list-max-listpack-size` is positive); elements of at least
//!   `packed_threshold` bytes get a PLAIN node;
//! - set: type 11 intset when every member is a canonical integer and there are at most
//!   `set-max-intset-entries`, else type 2;
//! - hash: type 16 listpack within `hash-max-listpack-entries`/`-value`, else type 4;
//! - zset: type 17 listpack (score order, scores as Redis's `d2string`) within
//!   `zset-max-listpack-entries`/`-value`, else type 5 (greatest element first, binary
//!   scores).

use crate::crc64::crc64;
use crate::object::types::*;
use crate::value::Value;
use crate::writer::{
    canonical_int, intset, listpack, listpack_entry_len, put_len, put_string, score_text, ziplist,
};

/// The server settings that decide encodings (names as in redis.conf).
#[derive(Clone, Debug)]
pub struct EncodeConfig {
    /// `rdbcompression`: LZF for strings over 20 bytes.
    pub compression: bool,
    /// `list-max-listpack-size`: negative = node byte limit (-1 4 KiB .. -5 64 KiB),
    /// positive = elements per node.
    pub list_max_listpack_size: i64,
    /// Elements this large or larger get their own PLAIN quicklist node (1 GiB).
    pub packed_threshold: usize,
    /// `list-compress-depth`: nodes further than this from both ends are kept LZF'd in
    /// memory by Redis and written as LZF blobs even without `rdbcompression`.
    pub list_compress_depth: usize,
    /// `hash-max-listpack-entries`.
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value`.
    pub hash_max_listpack_value: usize,
    /// `zset-max-listpack-entries`.
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value`.
    pub zset_max_listpack_value: usize,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: usize,
}

impl Default for EncodeConfig {
    fn default() -> Self {
        EncodeConfig {
            compression: true,
            list_max_listpack_size: -2,
            packed_threshold: 1 << 30,
            list_compress_depth: 0,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            set_max_intset_entries: 512,
        }
    }
}

/// Which Redis a payload is for.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Redis 7.0: RDB version 10, listpack and quicklist-2 encodings.
    Redis7_0,
    /// Redis 6: RDB version 9, ziplist hashes and zsets, quicklist (v1) lists of
    /// ziplists, intset or plain sets, ZSET_2 for large zsets.
    Redis6,
    /// Any Redis since 2.6: RDB version 6, only the plain types 0–4 (string, linked
    /// list, set, zset with string scores, hash), LZF strings.
    Portable,
}

impl Target {
    /// The RDB version written in the footer.
    pub fn rdb_version(self) -> u16 {
        match self {
            Target::Redis7_0 => 10,
            Target::Redis6 => 9,
            Target::Portable => 6,
        }
    }
}

/// A double in the RDB string form (type 3 zset scores): 253 nan, 254 +inf, 255 -inf,
/// else a length byte and `%.17g` text.
fn put_f64_string(out: &mut Vec<u8>, x: f64) {
    if x.is_nan() {
        out.push(253);
    } else if x == f64::INFINITY {
        out.push(254);
    } else if x == f64::NEG_INFINITY {
        out.push(255);
    } else {
        let text = crate::writer::format_g17(x);
        out.push(text.len() as u8);
        out.extend_from_slice(text.as_bytes());
    }
}

/// Split a list into quicklist (v1) ziplist nodes as Redis 6 RPUSH fills them: a node
/// takes the next element while its bytes + element + entry overhead fit the size
/// level, or (under the 8 KiB safety limit) while under the count limit.
fn ziplist_nodes<'a>(items: &'a [Vec<u8>], cfg: &EncodeConfig) -> Vec<Vec<&'a [u8]>> {
    let mut nodes: Vec<(Vec<&[u8]>, usize)> = Vec::new();
    for item in items {
        let sz = item.len();
        let overhead = if sz < 254 { 1 } else { 5 }
            + if sz < 64 {
                1
            } else if sz < 16384 {
                2
            } else {
                5
            };
        let allowed = nodes.last().is_some_and(|(elems, bytes)| {
            let new_sz = bytes + sz + overhead;
            let fill = cfg.list_max_listpack_size;
            let meets_level = fill < 0 && {
                let level = ((-fill - 1) as usize).min(SIZE_LIMITS.len() - 1);
                new_sz <= SIZE_LIMITS[level]
            };
            meets_level || (new_sz <= SIZE_SAFETY_LIMIT && fill > 0 && (elems.len() as i64) < fill)
        });
        match nodes.last_mut().filter(|_| allowed) {
            Some(last) => {
                last.0.push(item);
                last.1 += sz + overhead;
            }
            None => nodes.push((vec![item.as_slice()], ziplist([item.as_slice()]).len())),
        }
    }
    nodes.into_iter().map(|(e, _)| e).collect()
}

/// The object as Redis 6 writes it.
fn encode_redis6(out: &mut Vec<u8>, value: &Value, cfg: &EncodeConfig) {
    let c = cfg.compression;
    match value {
        Value::List(items) => {
            out.push(LIST_QUICKLIST);
            let nodes = ziplist_nodes(items, cfg);
            put_len(out, nodes.len() as u64);
            for node in nodes {
                put_string(out, &ziplist(node), c);
            }
        }
        Value::Hash(pairs) if cfg.hash_is_small(pairs) => {
            out.push(HASH_ZIPLIST);
            put_string(
                out,
                &ziplist(pairs.iter().flat_map(|(f, v)| [f.as_slice(), v.as_slice()])),
                c,
            );
        }
        Value::ZSet(members) if cfg.zset_is_small(members) => {
            out.push(ZSET_ZIPLIST);
            put_string(
                out,
                &ziplist(zset_items(members).iter().map(Vec::as_slice)),
                c,
            );
        }
        // Redis 5 and 6 read streams as type 15 (no first ID, tombstone and offsets).
        Value::Stream(s) => {
            out.push(crate::object::types::STREAM_LISTPACKS);
            s.encode_legacy(out, c);
        }
        // Strings, sets, large hashes and zsets are written as Redis 7.0 writes them.
        other => encode_object(out, other, cfg),
    }
}

/// The object in the plain types every Redis since 2.6 reads.
fn encode_portable(out: &mut Vec<u8>, value: &Value, c: bool) {
    match value {
        // No plain type holds a stream: the oldest form is Redis 5's type 15.
        Value::Stream(s) => {
            out.push(crate::object::types::STREAM_LISTPACKS);
            s.encode_legacy(out, c);
        }
        Value::String(s) => {
            out.push(STRING);
            put_string(out, s, c);
        }
        Value::List(items) | Value::Set(items) => {
            out.push(if matches!(value, Value::List(_)) {
                LIST
            } else {
                SET
            });
            put_len(out, items.len() as u64);
            for i in items {
                put_string(out, i, c);
            }
        }
        Value::ZSet(members) => {
            out.push(ZSET);
            put_len(out, members.len() as u64);
            for (m, s) in members {
                put_string(out, m, c);
                put_f64_string(out, *s);
            }
        }
        Value::Hash(pairs) => {
            out.push(HASH);
            put_len(out, pairs.len() as u64);
            for (f, v) in pairs {
                put_string(out, f, c);
                put_string(out, v, c);
            }
        }
    }
}

impl EncodeConfig {
    /// Does a hash fit the compact (listpack / ziplist) encoding?
    fn hash_is_small(&self, pairs: &[(Vec<u8>, Vec<u8>)]) -> bool {
        pairs.len() <= self.hash_max_listpack_entries
            && pairs.iter().all(|(f, v)| {
                f.len() <= self.hash_max_listpack_value && v.len() <= self.hash_max_listpack_value
            })
    }

    /// Does a zset fit the compact (listpack / ziplist) encoding?
    fn zset_is_small(&self, members: &[(Vec<u8>, f64)]) -> bool {
        members.len() <= self.zset_max_listpack_entries
            && members
                .iter()
                .all(|(m, _)| m.len() <= self.zset_max_listpack_value)
    }
}

/// Zset elements in score order (then member order), as Redis keeps them.
///
/// Scores compare as numbers, as Redis compares them (-0 and 0 tie, and the member
/// decides); a sorted set never holds NaN.
fn by_score(members: &[(Vec<u8>, f64)]) -> Vec<&(Vec<u8>, f64)> {
    let mut sorted: Vec<&(Vec<u8>, f64)> = members.iter().collect();
    sorted.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    sorted
}

/// Member, score text, member, score text, ... in score order: the items of a compact
/// zset (scores as Redis 7.0's `d2string`).
fn zset_items(members: &[(Vec<u8>, f64)]) -> Vec<Vec<u8>> {
    by_score(members)
        .into_iter()
        .flat_map(|(m, s)| [m.clone(), score_text(*s).into_bytes()])
        .collect()
}

const SIZE_LIMITS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
const SIZE_SAFETY_LIMIT: usize = 8192;

/// Split a list into quicklist nodes as RPUSH would: `(plain, elements)` per node.
fn quicklist_nodes<'a>(items: &'a [Vec<u8>], cfg: &EncodeConfig) -> Vec<(bool, Vec<&'a [u8]>)> {
    let mut nodes: Vec<(bool, Vec<&[u8]>, usize)> = Vec::new();
    for item in items {
        if item.len() >= cfg.packed_threshold {
            nodes.push((true, vec![item.as_slice()], 0));
            continue;
        }
        let allowed = nodes.last().is_some_and(|(plain, elems, bytes)| {
            let new_sz = bytes + item.len() + SIZE_ESTIMATE_OVERHEAD;
            !plain
                && if cfg.list_max_listpack_size < 0 {
                    let level =
                        ((-cfg.list_max_listpack_size - 1) as usize).min(SIZE_LIMITS.len() - 1);
                    new_sz <= SIZE_LIMITS[level]
                } else {
                    let limit = cfg.list_max_listpack_size.max(1) as usize;
                    new_sz <= SIZE_SAFETY_LIMIT && elems.len() < limit
                }
        });
        let entry = listpack_entry_len(item);
        if allowed {
            if let Some(last) = nodes.last_mut() {
                last.1.push(item);
                last.2 += entry;
            }
        } else {
            // Header (6 bytes) and terminator (1) of a new listpack, plus the entry.
            nodes.push((false, vec![item.as_slice()], 7 + entry));
        }
    }
    nodes.into_iter().map(|(p, e, _)| (p, e)).collect()
}

/// How Redis keeps an inner quicklist node in memory under `list-compress-depth`:
/// LZF'd when the node has at least 48 bytes and compression saves more than 8.
fn compressed_node(blob: &[u8]) -> Option<Vec<u8>> {
    if blob.len() < 48 {
        return None;
    }
    crate::lzf::compress(blob, blob.len()).filter(|c| c.len() + 8 < blob.len())
}

/// Append the RDB object (type byte and body) for `value`, as `target` reads it.
pub fn encode_object_for(out: &mut Vec<u8>, value: &Value, target: Target, cfg: &EncodeConfig) {
    match target {
        Target::Redis7_0 => encode_object(out, value, cfg),
        Target::Redis6 => encode_redis6(out, value, cfg),
        Target::Portable => encode_portable(out, value, cfg.compression),
    }
}

/// Append the RDB object (type byte and body) for `value`, as Redis 7.0 writes it.
pub fn encode_object(out: &mut Vec<u8>, value: &Value, cfg: &EncodeConfig) {
    let c = cfg.compression;
    match value {
        Value::Stream(s) => {
            out.push(crate::object::types::STREAM_LISTPACKS_2);
            s.encode(out, c);
        }
        Value::String(s) => {
            out.push(STRING);
            put_string(out, s, c);
        }
        Value::List(items) => {
            out.push(LIST_QUICKLIST_2);
            let nodes = quicklist_nodes(items, cfg);
            let n = nodes.len();
            put_len(out, n as u64);
            for (i, (plain, elems)) in nodes.into_iter().enumerate() {
                put_len(out, if plain { 1 } else { 2 });
                let blob = if plain {
                    elems[0].to_vec()
                } else {
                    listpack(elems)
                };
                let depth = cfg.list_compress_depth;
                let inner = depth > 0 && i >= depth && i + depth < n;
                match inner.then(|| compressed_node(&blob)).flatten() {
                    Some(lzf) => {
                        out.push(0xc3);
                        put_len(out, lzf.len() as u64);
                        put_len(out, blob.len() as u64);
                        out.extend_from_slice(&lzf);
                    }
                    None => put_string(out, &blob, c),
                }
            }
        }
        Value::Set(members) => {
            let ints: Option<Vec<i64>> = members.iter().map(|m| canonical_int(m)).collect();
            match ints {
                Some(mut ints) if members.len() <= cfg.set_max_intset_entries => {
                    out.push(SET_INTSET);
                    put_string(out, &intset(&mut ints), c);
                }
                _ => {
                    out.push(SET);
                    put_len(out, members.len() as u64);
                    for m in members {
                        put_string(out, m, c);
                    }
                }
            }
        }
        Value::Hash(pairs) => {
            if cfg.hash_is_small(pairs) {
                out.push(HASH_LISTPACK);
                let lp = listpack(pairs.iter().flat_map(|(f, v)| [f.as_slice(), v.as_slice()]));
                put_string(out, &lp, c);
            } else {
                out.push(HASH);
                put_len(out, pairs.len() as u64);
                for (f, v) in pairs {
                    put_string(out, f, c);
                    put_string(out, v, c);
                }
            }
        }
        Value::ZSet(members) => {
            if cfg.zset_is_small(members) {
                out.push(ZSET_LISTPACK);
                put_string(
                    out,
                    &listpack(zset_items(members).iter().map(Vec::as_slice)),
                    c,
                );
            } else {
                out.push(ZSET_2);
                put_len(out, members.len() as u64);
                for (m, s) in by_score(members).into_iter().rev() {
                    put_zset2_entry(out, m, *s, c);
                }
            }
        }
    }
}

/// A DUMP payload of `value` for `target`: object, RDB version (u16 LE), CRC-64/Jones
/// (u64 LE) of everything before it.
pub fn dump(value: &Value, target: Target, cfg: &EncodeConfig) -> Vec<u8> {
    let mut out = Vec::new();
    encode_object_for(&mut out, value, target, cfg);
    seal(&mut out, target);
    out
}

/// Append a DUMP payload's footer: the RDB version of `target`, then the CRC-64/Jones
/// of everything before it.
fn seal(out: &mut Vec<u8>, target: Target) {
    out.extend_from_slice(&target.rdb_version().to_le_bytes());
    let crc = crc64(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// One member of a `ZSET_2` object: the member string, then the score as f64 LE.
fn put_zset2_entry(out: &mut Vec<u8>, member: &[u8], score: f64, compress: bool) {
    put_string(out, member, compress);
    out.extend_from_slice(&score.to_le_bytes());
}

/// The DUMP payload of a large sorted set, written member by member without building a
/// [`Value`]: the bytes [`dump`] writes for the same set when the caller pushes the
/// members in descending (score, member) order (Redis's order for a skiplist-encoded
/// set; scores compare as numbers, so -0 and 0 tie and the member decides).
///
/// Only for sets whose length alone decides the encoding: longer than
/// `zset_max_listpack_entries`, for a target that writes them as `ZSET_2`.
pub struct ZSetDump(Streamed);

impl ZSetDump {
    /// A writer for a set of `len` members, or None when `len` does not decide the
    /// encoding or `target` writes another form (then build a [`Value`] for [`dump`]).
    pub fn new(len: u64, target: Target, cfg: &EncodeConfig) -> Option<ZSetDump> {
        if len <= cfg.zset_max_listpack_entries as u64 || target == Target::Portable {
            return None;
        }
        Some(ZSetDump(Streamed::new(ZSET_2, len, 16, target, cfg)))
    }

    /// Make room for `bytes` more bytes of payload (a caller that knows the members'
    /// total length saves the buffer's growth by doubling: copies and fresh pages).
    pub fn reserve(&mut self, bytes: usize) {
        self.0.out.reserve(bytes);
    }

    /// The next member (descending order). Members beyond the announced length are
    /// ignored, and make [`ZSetDump::finish`] fail.
    pub fn push(&mut self, member: &[u8], score: f64) {
        let s = &mut self.0;
        if s.next() {
            put_zset2_entry(&mut s.out, member, score, s.compress);
        }
    }

    /// The payload, or None when the members pushed were not as many as announced.
    pub fn finish(self) -> Option<Vec<u8>> {
        self.0.finish()
    }
}

/// The DUMP payload of a large hash or set, written element by element without building
/// a [`Value`]: the bytes [`dump`] writes for the same collection when the caller pushes
/// the elements in the [`Value`]'s order (any order is a valid payload: Redis writes its
/// hash table's order).
///
/// Only for collections whose length alone decides the encoding, which is then the
/// plain `HASH` or `SET` type for every target: a hash longer than
/// `hash_max_listpack_entries`, a set longer than `set_max_intset_entries`.
pub struct PlainDump(Streamed);

impl PlainDump {
    /// A writer for a hash of `len` fields, or None when `len` does not decide its
    /// encoding.
    pub fn hash(len: u64, target: Target, cfg: &EncodeConfig) -> Option<PlainDump> {
        (len > cfg.hash_max_listpack_entries as u64)
            .then(|| PlainDump(Streamed::new(HASH, len, 32, target, cfg)))
    }

    /// A writer for a set of `len` members, or None when `len` does not decide its
    /// encoding.
    pub fn set(len: u64, target: Target, cfg: &EncodeConfig) -> Option<PlainDump> {
        (len > cfg.set_max_intset_entries as u64)
            .then(|| PlainDump(Streamed::new(SET, len, 32, target, cfg)))
    }

    /// A set's next member.
    pub fn push_member(&mut self, member: &[u8]) {
        let s = &mut self.0;
        if s.next() {
            put_string(&mut s.out, member, s.compress);
        }
    }

    /// A hash's next field and its value.
    pub fn push_field(&mut self, field: &[u8], value: &[u8]) {
        let s = &mut self.0;
        if s.next() {
            put_string(&mut s.out, field, s.compress);
            put_string(&mut s.out, value, s.compress);
        }
    }

    /// The payload, or None when the elements pushed were not as many as announced.
    pub fn finish(self) -> Option<Vec<u8>> {
        self.0.finish()
    }
}

/// What [`ZSetDump`] and [`PlainDump`] share: an object of a type byte and an announced
/// element count, its elements, then the payload footer once exactly that many came.
struct Streamed {
    out: Vec<u8>,
    compress: bool,
    target: Target,
    len: u64,
    pushed: u64,
}

impl Streamed {
    /// `per_element`: bytes to reserve per element (capped, so a bogus count reserves
    /// little).
    fn new(kind: u8, len: u64, per_element: usize, target: Target, cfg: &EncodeConfig) -> Self {
        let mut out = Vec::with_capacity(len.min(1 << 20) as usize * per_element);
        out.push(kind);
        put_len(&mut out, len);
        Streamed {
            out,
            compress: cfg.compression,
            target,
            len,
            pushed: 0,
        }
    }

    /// Count one more element; false once past the announced length (not written).
    fn next(&mut self) -> bool {
        self.pushed += 1;
        self.pushed <= self.len
    }

    fn finish(mut self) -> Option<Vec<u8>> {
        if self.pushed != self.len {
            return None;
        }
        seal(&mut self.out, self.target);
        Some(self.out)
    }
}
