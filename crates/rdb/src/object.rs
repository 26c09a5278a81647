//! Decoding one RDB object (a type byte's worth of value) with deep validation.
//!
//! Object types (rdb.h): 0 string, 1 list, 2 set, 3 zset (string scores), 4 hash,
//! 5 zset (binary scores), 9 zipmap hash, 10 ziplist list, 11 intset set, 12 ziplist
//! zset, 13 ziplist hash, 14 quicklist (ziplist nodes), 16 listpack hash, 17 listpack
//! zset, 18 quicklist 2 (container 1 = plain element, 2 = listpack node), 20 listpack
//! set (Redis 7.2), 19 stream (Redis 7.0, `stream.rs`). Streams of Redis 5/6 and 7.2
//! (15, 21), modules (6, 7) and hashes with field TTLs (24, 25) are `Unsupported`; any
//! other type byte is bad data, as Redis answers.
//!
//! Validation follows Redis's `sanitize-dump-payload yes`: counts match, pairs are
//! whole, no duplicate set members, hash fields or zset members, no NaN score. An empty
//! collection decodes as empty: RESTORE refuses it (`restore`), while RDB loading skips
//! it, as Redis does.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::error::{bad, Error, Result};
use crate::listpack::{self, Entry};
use crate::reader::{parse_f64, Reader, SliceSource, Source};
use crate::value::Value;
use crate::{intset, ziplist, zipmap};

/// RDB object type bytes.
#[allow(missing_docs)]
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
    pub const HASH_METADATA: u8 = 24;
    pub const HASH_LISTPACK_EX: u8 = 25;
}
use types::*;

/// `len` strings, read without trusting `len` for the allocation.
fn strings<S: Source>(r: &mut Reader<S>) -> Result<Vec<Vec<u8>>> {
    let n = r.count(1)?;
    let mut items = Vec::with_capacity(r.capacity_for(n));
    for _ in 0..n {
        items.push(r.string()?);
    }
    Ok(items)
}

/// Refuse a repeated member or field (Redis refuses such a payload too).
///
/// Linear time whatever the input: strictly increasing or decreasing input (intsets,
/// and payloads whose members happen to be sorted: a skiplist sorted set is saved from
/// its tail, so members sorted with their scores come in decreasing order) is
/// recognized in one pass; otherwise a hash set
/// with a per-process random seed (foldhash: a few times faster than SipHash here,
/// and seeded, so crafted members cannot make every insert collide).
fn unique<'a>(items: impl ExactSizeIterator<Item = &'a [u8]> + Clone, what: &str) -> Result<()> {
    let (mut increasing, mut decreasing) = (true, true);
    let mut prev: Option<&[u8]> = None;
    for i in items.clone() {
        if let Some(p) = prev {
            increasing &= p < i;
            decreasing &= p > i;
            if !increasing && !decreasing {
                break;
            }
        }
        prev = Some(i);
    }
    if increasing || decreasing {
        return Ok(());
    }
    let mut seen =
        HashSet::with_capacity_and_hasher(items.len(), foldhash::fast::RandomState::default());
    for i in items {
        if !seen.insert(i) {
            return bad(format!("duplicate {what}"));
        }
    }
    Ok(())
}

fn pairs(entries: Vec<Entry<'_>>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    if !entries.len().is_multiple_of(2) {
        return bad("odd number of entries where pairs belong");
    }
    Ok(entries
        .chunks_exact(2)
        .map(|p| (p[0].to_bytes(), p[1].to_bytes()))
        .collect())
}

fn score(e: &Entry<'_>) -> Result<f64> {
    let s = match e {
        Entry::Int(i) => *i as f64,
        // Redis reads a listpack score with strtod: text that is not a number reads as 0.
        Entry::Str(s) => parse_f64(s).unwrap_or(0.0),
    };
    if s.is_nan() {
        return bad("NaN score");
    }
    Ok(s)
}

/// A set of plain RDB strings (type 2), each read by `string` (copied or borrowed).
fn plain_set<S: Source, T: AsRef<[u8]>>(
    r: &mut Reader<S>,
    mut string: impl FnMut(&mut Reader<S>) -> Result<T>,
) -> Result<Vec<T>> {
    let n = r.count(1)?;
    let mut items = Vec::with_capacity(r.capacity_for(n));
    for _ in 0..n {
        items.push(string(r)?);
    }
    unique(items.iter().map(AsRef::as_ref), "set member")?;
    Ok(items)
}

/// Pairs of a plain string and a second item (a hash's value, a sorted set's score),
/// no first string repeated (`what` names it in the error).
fn plain_pairs<S: Source, T: AsRef<[u8]>, U>(
    r: &mut Reader<S>,
    mut first: impl FnMut(&mut Reader<S>) -> Result<T>,
    mut second: impl FnMut(&mut Reader<S>) -> Result<U>,
    what: &str,
) -> Result<Vec<(T, U)>> {
    let n = r.count(2)?;
    let mut p = Vec::with_capacity(r.capacity_for(n));
    for _ in 0..n {
        let a = first(r)?;
        p.push((a, second(r)?));
    }
    unique(p.iter().map(|(a, _)| a.as_ref()), what)?;
    Ok(p)
}

/// A sorted set of plain members (type 3: scores as strings; 5: binary scores).
fn plain_zset<S: Source, T: AsRef<[u8]>>(
    ty: u8,
    r: &mut Reader<S>,
    string: impl FnMut(&mut Reader<S>) -> Result<T>,
) -> Result<Vec<(T, f64)>> {
    let score = |r: &mut Reader<S>| {
        let s = if ty == ZSET {
            r.f64_string()?
        } else {
            r.f64_binary()?
        };
        if s.is_nan() {
            return bad("NaN score");
        }
        Ok(s)
    };
    plain_pairs(r, string, score, "zset member")
}

/// A hash of plain fields and values (type 4).
fn plain_hash<S: Source, T: AsRef<[u8]>>(
    r: &mut Reader<S>,
    string: impl Fn(&mut Reader<S>) -> Result<T> + Copy,
) -> Result<Vec<(T, T)>> {
    plain_pairs(r, string, string, "hash field")
}

/// A string of a payload: borrowed when stored raw, built when integer-encoded or LZF.
pub type Str<'a> = Cow<'a, [u8]>;

/// A set, hash or sorted set whose strings are borrowed from the payload they were
/// decoded from where they are stored raw ([`crate::restore_borrowed`]): a large
/// collection decodes without one allocation per element.
#[derive(Clone, Debug, PartialEq)]
pub enum Borrowed<'a> {
    /// A set (type 2), in the payload's order.
    Set(Vec<Str<'a>>),
    /// A sorted set (types 3 and 5), in the payload's order.
    ZSet(Vec<(Str<'a>, f64)>),
    /// A hash (type 4), in the payload's order.
    Hash(Vec<(Str<'a>, Str<'a>)>),
}

impl Borrowed<'_> {
    /// True for a collection without elements.
    pub fn is_empty(&self) -> bool {
        match self {
            Borrowed::Set(v) => v.is_empty(),
            Borrowed::ZSet(v) => v.is_empty(),
            Borrowed::Hash(v) => v.is_empty(),
        }
    }

    /// The same value, owned.
    pub fn to_value(&self) -> Value {
        let own = |c: &Str<'_>| c.to_vec();
        match self {
            Borrowed::Set(v) => Value::Set(v.iter().map(own).collect()),
            Borrowed::ZSet(v) => Value::ZSet(v.iter().map(|(m, s)| (own(m), *s)).collect()),
            Borrowed::Hash(v) => Value::Hash(v.iter().map(|(f, x)| (own(f), own(x))).collect()),
        }
    }
}

/// [`decode`] for the object types whose elements are plain RDB strings (2, 3, 4 and
/// 5, what Redis writes for large sets without integers, sorted sets and hashes),
/// borrowing those strings; None (nothing read) for every other type.
pub(crate) fn decode_borrowed<'a>(
    ty: u8,
    r: &mut Reader<SliceSource<'a>>,
) -> Result<Option<Borrowed<'a>>> {
    Ok(Some(match ty {
        SET => Borrowed::Set(plain_set(r, Reader::string_ref)?),
        ZSET | ZSET_2 => Borrowed::ZSet(plain_zset(ty, r, Reader::string_ref)?),
        HASH => Borrowed::Hash(plain_hash(r, Reader::string_ref)?),
        _ => return Ok(None),
    }))
}

fn hash(p: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Value> {
    unique(p.iter().map(|(f, _)| f.as_slice()), "hash field")?;
    Ok(Value::Hash(p))
}

fn zset(z: Vec<(Vec<u8>, f64)>) -> Result<Value> {
    unique(z.iter().map(|(m, _)| m.as_slice()), "zset member")?;
    Ok(Value::ZSet(z))
}

fn zset_from_entries(entries: Vec<Entry<'_>>) -> Result<Value> {
    if !entries.len().is_multiple_of(2) {
        return bad("odd number of zset entries");
    }
    let z = entries
        .chunks_exact(2)
        .map(|p| Ok((p[0].to_bytes(), score(&p[1])?)))
        .collect::<Result<Vec<_>>>()?;
    zset(z)
}

/// The first RDB version whose writers could emit object type `ty`.
fn introduced_in(ty: u8) -> u16 {
    match ty {
        SET_LISTPACK | STREAM_LISTPACKS_3 => 11,
        HASH_METADATA | HASH_LISTPACK_EX => 12,
        _ => 0,
    }
}

/// Decode the object of type `ty` from `r`, found in data of RDB version `version`.
///
/// A type newer than the version claiming it is bad data: Redis 7.0 (version 10)
/// refuses type 20 as `Bad data format`, and only 7.2's version-11 data holds it.
pub(crate) fn decode<S: Source>(ty: u8, r: &mut Reader<S>, version: u16) -> Result<Value> {
    if introduced_in(ty) > version {
        return bad(format!("object type {ty} in RDB version {version} data"));
    }
    match ty {
        STRING => Ok(Value::String(r.string()?)),
        LIST => Ok(Value::List(strings(r)?)),
        SET => Ok(Value::Set(plain_set(r, Reader::string)?)),
        ZSET | ZSET_2 => Ok(Value::ZSet(plain_zset(ty, r, Reader::string)?)),
        HASH => Ok(Value::Hash(plain_hash(r, Reader::string)?)),
        HASH_ZIPMAP => {
            let blob = r.string()?;
            let p = zipmap::parse(&blob)?
                .into_iter()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect();
            hash(p)
        }
        LIST_ZIPLIST => {
            let blob = r.string()?;
            let items = ziplist::parse(&blob)?.iter().map(Entry::to_bytes).collect();
            Ok(Value::List(items))
        }
        SET_INTSET => {
            let blob = r.string()?;
            let items = intset::parse(&blob)?
                .iter()
                .map(|v| v.to_string().into_bytes())
                .collect();
            Ok(Value::Set(items))
        }
        ZSET_ZIPLIST => zset_from_entries(ziplist::parse(&r.string()?)?),
        HASH_ZIPLIST => hash(pairs(ziplist::parse(&r.string()?)?)?),
        LIST_QUICKLIST => {
            let n = r.count(1)?;
            let mut items = Vec::new();
            for _ in 0..n {
                let blob = r.string()?;
                // Redis skips empty nodes; an all-empty list is refused below.
                items.extend(ziplist::parse(&blob)?.iter().map(Entry::to_bytes));
            }
            Ok(Value::List(items))
        }
        HASH_LISTPACK => hash(pairs(listpack::parse(&r.string()?)?)?),
        ZSET_LISTPACK => zset_from_entries(listpack::parse(&r.string()?)?),
        LIST_QUICKLIST_2 => {
            let n = r.count(2)?;
            let mut items = Vec::new();
            for _ in 0..n {
                let container = r.len()?;
                let blob = r.string()?;
                match container {
                    1 => items.push(blob),
                    2 => items.extend(listpack::parse(&blob)?.iter().map(Entry::to_bytes)),
                    c => return bad(format!("quicklist container {c}")),
                }
            }
            Ok(Value::List(items))
        }
        SET_LISTPACK => {
            let items: Vec<Vec<u8>> = listpack::parse(&r.string()?)?
                .iter()
                .map(Entry::to_bytes)
                .collect();
            unique(items.iter().map(Vec::as_slice), "set member")?;
            Ok(Value::Set(items))
        }
        STREAM_LISTPACKS_2 => Ok(Value::Stream(Box::new(crate::stream::decode(r)?))),
        MODULE | MODULE_2 | STREAM_LISTPACKS | STREAM_LISTPACKS_3 | HASH_METADATA
        | HASH_LISTPACK_EX => Err(Error::Unsupported(ty)),
        t => bad(format!("unknown object type {t}")),
    }
}
