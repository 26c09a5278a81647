//! Streams (RDB type 19, `STREAM_LISTPACKS_2`, written by Redis 7.0): decoded with
//! Redis's deep validation and kept as Redis serializes them — node listpacks verbatim
//! — so they re-encode byte for byte.
//!
//! ```text
//! nodes: len, then per node: string(master ID: 16 bytes, ms u64 BE | seq u64 BE),
//!                            string(listpack)
//! length: len | last_id: len len | first_id: len len | max_deleted_id: len len
//! entries_added: len
//! groups: len, then per group: string(name) | last_id: len len | entries_read: len
//!   PEL: len, per entry: raw ID (16 bytes BE) | delivery time (u64 LE ms) | count: len
//!   consumers: len, per consumer: string(name) | seen time (u64 LE ms)
//!     | PEL: len, per entry: raw ID (16 bytes BE)
//! node listpack: count | deleted | master field count | master fields... | 0, then
//!   per entry: flags | ms delta | seq delta | [field count | field value ...] or
//!   [values of the master fields] (flag SAMEFIELDS) | lp-count
//! ```
//! Type 15 (Redis 5/6) and 21 (7.2) are not decoded: `Unsupported`.

use std::collections::HashSet;

use crate::error::{bad, Result};
use crate::listpack::{self, Entry};
use crate::reader::{Reader, Source};
use crate::writer::{put_len, put_string};

/// A stream ID.
pub type StreamId = (u64, u64);

/// A pending entry of a consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamNack {
    /// Entry ID.
    pub id: StreamId,
    /// Last delivery, Unix ms.
    pub delivery_time: u64,
    /// Deliveries.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamConsumer {
    /// Name.
    pub name: Vec<u8>,
    /// Last seen, Unix ms.
    pub seen_time: u64,
    /// IDs of its pending entries (each also in the group's PEL).
    pub pel: Vec<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamGroup {
    /// Name.
    pub name: Vec<u8>,
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Entries read (the group's logical offset).
    pub entries_read: u64,
    /// Pending entries, in ID order.
    pub pel: Vec<StreamNack>,
    /// Consumers, in name order.
    pub consumers: Vec<StreamConsumer>,
}

/// A stream as Redis 7.0 serializes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    /// (master ID, node listpack) in ID order; the listpacks are kept verbatim.
    pub nodes: Vec<(StreamId, Vec<u8>)>,
    /// Live entries.
    pub length: u64,
    /// Last generated ID.
    pub last_id: StreamId,
    /// First entry's ID.
    pub first_id: StreamId,
    /// Largest deleted ID.
    pub max_deleted_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups, in name order.
    pub groups: Vec<StreamGroup>,
}

/// One live entry: ID and field/value pairs (flattened).
pub type StreamEntry = (StreamId, Vec<Vec<u8>>);

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

fn id_from(raw: &[u8]) -> Option<StreamId> {
    if raw.len() != 16 {
        return None;
    }
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&raw[..8]);
    b.copy_from_slice(&raw[8..]);
    Some((u64::from_be_bytes(a), u64::from_be_bytes(b)))
}

/// A stream ID as Redis keys it (ms, then seq, each u64 big-endian): the node keys of
/// its radix tree, and raw IDs in a payload.
pub fn id_bytes(id: StreamId) -> [u8; 16] {
    let mut r = [0u8; 16];
    r[..8].copy_from_slice(&id.0.to_be_bytes());
    r[8..].copy_from_slice(&id.1.to_be_bytes());
    r
}

/// An element read as an integer the way Redis's `lpGetIntegerIfValid` does.
fn int(e: &Entry<'_>) -> Option<i64> {
    match e {
        Entry::Int(i) => Some(*i),
        Entry::Str(s) => crate::writer::canonical_int(s),
    }
}

/// Redis's `streamValidateListpackIntegrity` (deep): the node's structure; returns the
/// live entries it holds when `entries` is given.
fn validate_node(
    lp: &[u8],
    master: StreamId,
    mut entries: Option<&mut Vec<StreamEntry>>,
) -> Result<()> {
    let els = listpack::parse_counted(lp, false)?;
    let mut it = els.iter();
    let mut next_int = |what: &str| -> Result<i64> {
        match it.next().map(int) {
            Some(Some(v)) => Ok(v),
            _ => bad(format!("stream listpack: {what}")),
        }
    };
    let count = next_int("entry count")?;
    let deleted = next_int("deleted count")?;
    let master_fields = next_int("master field count")?;
    if master_fields < 0 || master_fields as usize > els.len() {
        return bad("stream listpack: master field count");
    }
    let mut fields: Vec<Vec<u8>> = Vec::with_capacity(master_fields as usize);
    for _ in 0..master_fields {
        match it.next() {
            Some(e) => fields.push(e.to_bytes()),
            None => return bad("stream listpack: master fields"),
        }
    }
    let mut it2 = it;
    let mut take = || it2.next();
    match take().map(int) {
        Some(Some(0)) => {}
        _ => return bad("stream listpack: master entry terminator"),
    }
    let total = count
        .checked_add(deleted)
        .filter(|t| *t >= 0 && (*t as usize) <= els.len())
        .ok_or_else(|| crate::Error::BadData("stream listpack: entry counts".into()))?;
    for _ in 0..total {
        let flags = take()
            .and_then(int)
            .ok_or_else(|| crate::Error::BadData("stream listpack: flags".into()))?;
        let ms = take()
            .and_then(int)
            .ok_or_else(|| crate::Error::BadData("stream listpack: id".into()))?;
        let seq = take()
            .and_then(int)
            .ok_or_else(|| crate::Error::BadData("stream listpack: id".into()))?;
        let mut n_fields = master_fields;
        let mut extra = 3;
        let mut pairs: Vec<Vec<u8>> = Vec::new();
        if flags & FLAG_SAMEFIELDS == 0 {
            n_fields = take()
                .and_then(int)
                .ok_or_else(|| crate::Error::BadData("stream listpack: field count".into()))?;
            if n_fields < 0 || n_fields as usize > els.len() {
                return bad("stream listpack: field count");
            }
            for _ in 0..2 * n_fields {
                pairs.push(
                    take()
                        .ok_or_else(|| crate::Error::BadData("stream listpack: fields".into()))?
                        .to_bytes(),
                );
            }
            extra += n_fields + 1;
        } else {
            for f in &fields {
                let v = take()
                    .ok_or_else(|| crate::Error::BadData("stream listpack: values".into()))?;
                pairs.push(f.clone());
                pairs.push(v.to_bytes());
            }
        }
        let lp_count = take()
            .and_then(int)
            .ok_or_else(|| crate::Error::BadData("stream listpack: lp-count".into()))?;
        if lp_count != n_fields + extra {
            return bad("stream listpack: lp-count");
        }
        if flags & FLAG_DELETED == 0 {
            if let Some(out) = entries.as_deref_mut() {
                let id = (
                    master.0.wrapping_add(ms as u64),
                    master.1.wrapping_add(seq as u64),
                );
                out.push((id, pairs));
            }
        }
    }
    if take().is_some() {
        return bad("stream listpack: elements after the last entry");
    }
    Ok(())
}

/// Decode a type-19 stream (Redis's `rdbLoadObject` with deep sanitization).
pub(crate) fn decode<S: Source>(r: &mut Reader<S>) -> Result<Stream> {
    let n = r.count(2)?;
    let mut nodes = Vec::with_capacity(r.capacity_for(n));
    let mut seen = HashSet::new();
    for _ in 0..n {
        let key = r.string()?;
        let Some(master) = id_from(&key) else {
            return bad("stream node key is not a stream ID");
        };
        let lp = r.string()?;
        validate_node(&lp, master, None)?;
        if !seen.insert(master) {
            return bad("stream listpack re-added with an existing key");
        }
        nodes.push((master, lp));
    }
    let length = r.len()?;
    let last_id = (r.len()?, r.len()?);
    let first_id = (r.len()?, r.len()?);
    let max_deleted_id = (r.len()?, r.len()?);
    let entries_added = r.len()?;
    if length != 0 && nodes.is_empty() {
        return bad("stream length inconsistent with its nodes");
    }
    let n_groups = r.count(4)?;
    let mut groups: Vec<StreamGroup> = Vec::with_capacity(r.capacity_for(n_groups));
    let mut names = HashSet::new();
    for _ in 0..n_groups {
        let name = r.string()?;
        let last = (r.len()?, r.len()?);
        let entries_read = r.len()?;
        if !names.insert(name.clone()) {
            return bad("duplicated consumer group name");
        }
        let n_pel = r.count(17)?;
        let mut pel = Vec::with_capacity(r.capacity_for(n_pel));
        let mut pel_ids = HashSet::new();
        for _ in 0..n_pel {
            let raw: [u8; 16] = r.array()?;
            let id = id_from(&raw).unwrap_or_default();
            let t: [u8; 8] = r.array()?;
            let count = r.len()?;
            if !pel_ids.insert(id) {
                return bad("duplicated global PEL entry");
            }
            pel.push(StreamNack {
                id,
                delivery_time: u64::from_le_bytes(t),
                delivery_count: count,
            });
        }
        let n_cons = r.count(9)?;
        let mut consumers = Vec::with_capacity(r.capacity_for(n_cons));
        let mut cnames = HashSet::new();
        let mut owned = HashSet::new();
        for _ in 0..n_cons {
            let cname = r.string()?;
            if !cnames.insert(cname.clone()) {
                return bad("duplicate stream consumer");
            }
            let t: [u8; 8] = r.array()?;
            let n = r.count(16)?;
            let mut ids = Vec::with_capacity(r.capacity_for(n));
            for _ in 0..n {
                let raw: [u8; 16] = r.array()?;
                let id = id_from(&raw).unwrap_or_default();
                if !pel_ids.contains(&id) {
                    return bad("consumer entry not found in the group's PEL");
                }
                if !owned.insert(id) {
                    return bad("duplicated consumer PEL entry");
                }
                ids.push(id);
            }
            consumers.push(StreamConsumer {
                name: cname,
                seen_time: u64::from_le_bytes(t),
                pel: ids,
            });
        }
        if owned.len() != pel_ids.len() {
            return bad("stream group PEL entry without a consumer");
        }
        groups.push(StreamGroup {
            name,
            last_id: last,
            entries_read,
            pel,
            consumers,
        });
    }
    Ok(Stream {
        nodes,
        length,
        last_id,
        first_id,
        max_deleted_id,
        entries_added,
        groups,
    })
}

impl Stream {
    /// The live entries, in ID order (what XRANGE - + returns).
    pub fn entries(&self) -> Result<Vec<StreamEntry>> {
        let mut out = Vec::new();
        for (master, lp) in &self.nodes {
            validate_node(lp, *master, Some(&mut out))?;
        }
        Ok(out)
    }

    /// Encode as RDB type 19 (without the type byte), as Redis 7.0 writes it.
    pub(crate) fn encode(&self, out: &mut Vec<u8>, compress: bool) {
        self.encode_as(out, compress, true);
    }

    /// Encode as RDB type 15 (Redis 5 and 6): no first ID, tombstone, offsets.
    pub(crate) fn encode_legacy(&self, out: &mut Vec<u8>, compress: bool) {
        self.encode_as(out, compress, false);
    }

    fn encode_as(&self, out: &mut Vec<u8>, compress: bool, v2: bool) {
        put_len(out, self.nodes.len() as u64);
        for (id, lp) in &self.nodes {
            put_string(out, &id_bytes(*id), compress);
            put_string(out, lp, compress);
        }
        put_len(out, self.length);
        put_len(out, self.last_id.0);
        put_len(out, self.last_id.1);
        if v2 {
            for v in [
                self.first_id.0,
                self.first_id.1,
                self.max_deleted_id.0,
                self.max_deleted_id.1,
                self.entries_added,
            ] {
                put_len(out, v);
            }
        }
        put_len(out, self.groups.len() as u64);
        for g in &self.groups {
            put_string(out, &g.name, compress);
            put_len(out, g.last_id.0);
            put_len(out, g.last_id.1);
            if v2 {
                put_len(out, g.entries_read);
            }
            put_len(out, g.pel.len() as u64);
            for n in &g.pel {
                out.extend_from_slice(&id_bytes(n.id));
                out.extend_from_slice(&n.delivery_time.to_le_bytes());
                put_len(out, n.delivery_count);
            }
            put_len(out, g.consumers.len() as u64);
            for c in &g.consumers {
                put_string(out, &c.name, compress);
                out.extend_from_slice(&c.seen_time.to_le_bytes());
                put_len(out, c.pel.len() as u64);
                for id in &c.pel {
                    out.extend_from_slice(&id_bytes(*id));
                }
            }
        }
    }
}
