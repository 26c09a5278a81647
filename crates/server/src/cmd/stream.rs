//! Reading streams: XLEN, XRANGE, XREVRANGE, XINFO (STREAM [FULL], GROUPS, CONSUMERS)
//! and XPENDING, with Redis 7.0's replies and errors.
//!
//! A stream is stored whole, as the RDB object it was restored from (DUMP/RESTORE,
//! MIGRATE), so each command decodes it: O(size of the stream). Commands that change a
//! stream (XADD, XDEL, XGROUP, XREADGROUP, ...) are not implemented yet.

use strata_rdb::stream::{id_bytes, Stream, StreamEntry, StreamId};

use super::{done, err, int_arg, is, CmdErr, Ctx, R};
use crate::resp::Out;
use crate::store::Kind;

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const CORRUPT: &str = "ERR corrupt stream record";

/// The stream at `key`; None when the key is missing; WRONGTYPE for another type.
fn load(c: &Ctx, key: &[u8]) -> Result<Option<Stream>, CmdErr> {
    match c.lookup(key)? {
        None => Ok(None),
        Some(m) if m.kind == Kind::Stream => {
            match strata_rdb::decode_object(&m.body, strata_rdb::RDB_VERSION_7_0) {
                Ok(strata_rdb::Value::Stream(s)) => Ok(Some(*s)),
                _ => Err(CORRUPT.into()),
            }
        }
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

pub fn xlen(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let n = load(c, &a[1])?.map_or(0, |s| s.length);
    c.int(n as i64)
}

/// C's `strtoull` over the whole text, as Redis's `string2ull` falls back to it:
/// leading blanks, a sign (a minus negates, wrapping), at least one digit, nothing
/// after; None on overflow.
fn strtoull(s: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Redis's `string2ull`: a strict integer first (negative ones refused), else
/// `strtoull`.
fn string2ull(s: &[u8]) -> Option<u64> {
    match crate::resp::parse_i64(s) {
        Some(n) if n < 0 => None,
        Some(n) => Some(n as u64),
        None => strtoull(s),
    }
}

/// A stream ID argument: `-`, `+` (unless `strict`), `ms` (with `missing_seq`) or
/// `ms-seq`, parsed as Redis parses it (the text ends at a NUL byte, as a C string).
pub fn parse_id(arg: &[u8], missing_seq: u64, strict: bool) -> Option<StreamId> {
    if arg.len() > 127 {
        return None;
    }
    let text = arg.split(|&b| b == 0).next().unwrap_or(b"");
    match text {
        b"-" | b"+" if strict => None,
        b"-" => Some((0, 0)),
        b"+" => Some((u64::MAX, u64::MAX)),
        _ => match text.iter().position(|&b| b == b'-') {
            Some(dash) => Some((string2ull(&text[..dash])?, string2ull(&text[dash + 1..])?)),
            None => Some((string2ull(text)?, missing_seq)),
        },
    }
}

/// A range bound: an ID, or `(ID` for an exclusive one (strict: not `(-` or `(+`).
fn interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdErr> {
    let exclusive = arg.len() > 1 && arg[0] == b'(';
    let id = if exclusive {
        parse_id(&arg[1..], missing_seq, true)
    } else {
        parse_id(arg, missing_seq, false)
    };
    id.map(|id| (id, exclusive))
        .ok_or_else(|| CmdErr(INVALID_ID.into()))
}

fn incr(id: StreamId) -> Option<StreamId> {
    match id {
        (u64::MAX, u64::MAX) => None,
        (ms, u64::MAX) => Some((ms + 1, 0)),
        (ms, seq) => Some((ms, seq + 1)),
    }
}

fn decr(id: StreamId) -> Option<StreamId> {
    match id {
        (0, 0) => None,
        (ms, 0) => Some((ms - 1, u64::MAX)),
        (ms, seq) => Some((ms, seq - 1)),
    }
}

fn id_text(id: StreamId) -> String {
    format!("{}-{}", id.0, id.1)
}

fn id_bulk(o: &mut Out, id: StreamId) {
    o.bulk(id_text(id).as_bytes());
}

/// One entry: `[id, [field, value, ...]]`.
fn entry(o: &mut Out, id: StreamId, fields: &[Vec<u8>]) {
    o.array(2);
    id_bulk(o, id);
    o.array(fields.len());
    for f in fields {
        o.bulk(f);
    }
}

/// Every live entry of `s`, in ID order.
fn entries(s: &Stream) -> Result<Vec<StreamEntry>, CmdErr> {
    s.entries().map_err(|_| CmdErr(CORRUPT.into()))
}

/// The entries of `s` in `[start, end]`, at most `count` (0: all), reversed if asked.
fn range(
    s: &Stream,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) -> Result<Vec<StreamEntry>, CmdErr> {
    let all = entries(s)?;
    let inside = all.into_iter().filter(|(id, _)| *id >= start && *id <= end);
    let limit = if count == 0 { usize::MAX } else { count };
    Ok(if rev {
        let mut v: Vec<_> = inside.collect();
        v.reverse();
        v.truncate(limit);
        v
    } else {
        inside.take(limit).collect()
    })
}

pub fn xrange(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    range_command(c, a, false)
}

pub fn xrevrange(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    range_command(c, a, true)
}

fn range_command(c: &mut Ctx, a: &[Vec<u8>], rev: bool) -> R {
    let (start_arg, end_arg) = if rev { (&a[3], &a[2]) } else { (&a[2], &a[3]) };
    let (mut start, start_ex) = interval(start_arg, 0)?;
    if start_ex {
        start = incr(start).ok_or("ERR invalid start ID for the interval")?;
    }
    let (mut end, end_ex) = interval(end_arg, u64::MAX)?;
    if end_ex {
        end = decr(end).ok_or("ERR invalid end ID for the interval")?;
    }
    let mut count: i64 = -1;
    let mut j = 4;
    while j < a.len() {
        if is(&a[j], "count") && j + 1 < a.len() {
            count = int_arg(&a[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let Some(s) = load(c, &a[1])? else {
        c.out.array(0);
        return done();
    };
    if count == 0 {
        c.out.null_array();
        return done();
    }
    let entries = range(&s, start, end, count.max(0) as usize, rev)?;
    c.out.array(entries.len());
    for (id, fields) in &entries {
        entry(&mut c.out, *id, fields);
    }
    done()
}

/// The nodes Redis's radix tree holds for the stream's node keys (16-byte master
/// IDs), as built by inserting them in order (as Redis does when it loads a stream):
/// XINFO STREAM's `radix-tree-nodes`.
fn rax_nodes(keys: &[[u8; 16]]) -> u64 {
    let mut rax = Rax::default();
    for k in keys {
        rax.insert(k);
    }
    rax.count()
}

/// A radix tree shaped as Redis's `rax`: a node is compressed (a run of bytes and one
/// child) or branching (one byte per child, sorted); a leaf is a branching node with
/// no children.
#[derive(Default)]
struct Rax {
    bytes: Vec<u8>,
    compressed: bool,
    children: Vec<Rax>,
}

impl Rax {
    fn count(&self) -> u64 {
        1 + self.children.iter().map(Rax::count).sum::<u64>()
    }

    fn insert(&mut self, key: &[u8]) {
        let mut h = self;
        let mut i = 0;
        // Walk down while the key matches.
        loop {
            if i == key.len() {
                return;
            }
            if h.compressed {
                let j = h
                    .bytes
                    .iter()
                    .zip(&key[i..])
                    .take_while(|(a, b)| a == b)
                    .count();
                if j < h.bytes.len() {
                    h.split(j);
                    // `h` is now the branching node at the mismatch (the prefix, if
                    // any, kept `h`'s place with the branching node as its child).
                    if j > 0 {
                        h = &mut h.children[0];
                    }
                    i += j;
                    break;
                }
                i += j;
                h = &mut h.children[0];
            } else {
                match h.bytes.iter().position(|&b| b == key[i]) {
                    Some(p) => {
                        i += 1;
                        h = &mut h.children[p];
                    }
                    None => break,
                }
            }
        }
        // Add the rest: a childless node takes the remaining bytes as a compressed
        // run (when more than one is left), else a branch is added.
        while i < key.len() {
            if h.children.is_empty() && !h.compressed && key.len() - i > 1 {
                h.compressed = true;
                h.bytes = key[i..].to_vec();
                h.children.push(Rax::default());
                i = key.len();
                h = &mut h.children[0];
            } else {
                let p = h.bytes.partition_point(|&b| b < key[i]);
                h.bytes.insert(p, key[i]);
                h.children.insert(p, Rax::default());
                i += 1;
                h = &mut h.children[p];
            }
        }
    }

    /// Split a compressed node at `j`: a prefix of `j` bytes (if any), a branching
    /// node on byte `j`, and the rest after it (if any) compressed.
    fn split(&mut self, j: usize) {
        let child = self.children.pop().unwrap_or_default();
        let rest = self.bytes.split_off(j);
        let postfix = if rest.len() > 1 {
            Rax {
                bytes: rest[1..].to_vec(),
                compressed: true,
                children: vec![child],
            }
        } else {
            child
        };
        let branch = Rax {
            bytes: vec![rest[0]],
            compressed: false,
            children: vec![postfix],
        };
        if j > 0 {
            self.children = vec![branch];
        } else {
            *self = branch;
        }
    }
}

/// The group's lag (entries in the stream it has not read), or None when Redis cannot
/// tell (deletions ahead of it); Redis 7.0's rules.
fn lag(s: &Stream, g: &strata_rdb::stream::StreamGroup) -> Option<u64> {
    const INVALID: u64 = u64::MAX;
    if s.entries_added == 0 {
        return Some(0);
    }
    if g.entries_read != INVALID && !tombstones_after(s, g.last_id) {
        return Some(s.entries_added.wrapping_sub(g.entries_read));
    }
    estimate_read(s, g.last_id).map(|read| s.entries_added.wrapping_sub(read))
}

/// Is there a deleted entry at or after `start` (Redis's `streamRangeHasTombstones`)?
fn tombstones_after(s: &Stream, start: StreamId) -> bool {
    if s.length == 0 || s.max_deleted_id == (0, 0) {
        return false;
    }
    if s.first_id > s.max_deleted_id {
        return false;
    }
    start <= s.max_deleted_id
}

/// How many entries were added up to `id` (Redis's
/// `streamEstimateDistanceFromFirstEverEntry`), None when unknown.
fn estimate_read(s: &Stream, id: StreamId) -> Option<u64> {
    if s.entries_added == 0 {
        return Some(0);
    }
    if s.length == 0 && id <= s.last_id {
        return Some(s.entries_added);
    }
    match id.cmp(&s.last_id) {
        std::cmp::Ordering::Equal => return Some(s.entries_added),
        std::cmp::Ordering::Greater => return None,
        std::cmp::Ordering::Less => {}
    }
    if s.max_deleted_id == (0, 0) || s.max_deleted_id < s.first_id {
        match id.cmp(&s.first_id) {
            std::cmp::Ordering::Less => return Some(s.entries_added - s.length),
            std::cmp::Ordering::Equal => return Some(s.entries_added - s.length + 1),
            std::cmp::Ordering::Greater => {}
        }
    }
    None
}

/// Which consumer holds each pending entry of the group.
fn owners(g: &strata_rdb::stream::StreamGroup) -> std::collections::HashMap<StreamId, &[u8]> {
    g.consumers
        .iter()
        .flat_map(|cons| cons.pel.iter().map(move |id| (*id, cons.name.as_slice())))
        .collect()
}

/// A map entry with an integer value (RESP2: two array items).
fn kv_int(o: &mut Out, name: &[u8], v: i64) {
    o.bulk(name);
    o.int(v);
}

/// A map entry with a string value.
fn kv_bulk(o: &mut Out, name: &[u8], v: &[u8]) {
    o.bulk(name);
    o.bulk(v);
}

fn opt_int(o: &mut Out, v: Option<u64>) {
    match v {
        Some(n) => o.int(n as i64),
        None => o.null(),
    }
}

pub fn xinfo(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "help" => {
            let lines = [
                "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CONSUMERS <key> <groupname>",
                "    Show consumers of <groupname>.",
                "GROUPS <key>",
                "    Show the stream consumer groups.",
                "STREAM <key> [FULL [COUNT <count>]",
                "    Show information about the stream.",
                "HELP",
                "    Prints this help.",
            ];
            super::reply_lines(c, &lines)
        }
        "stream" => xinfo_stream(c, a),
        "groups" => {
            let s = load(c, &a[2])?.ok_or("ERR no such key")?;
            c.out.array(s.groups.len());
            for g in &s.groups {
                c.out.map(6);
                kv_bulk(&mut c.out, b"name", &g.name);
                kv_int(&mut c.out, b"consumers", g.consumers.len() as i64);
                kv_int(&mut c.out, b"pending", g.pel.len() as i64);
                c.out.bulk(b"last-delivered-id");
                id_bulk(&mut c.out, g.last_id);
                c.out.bulk(b"entries-read");
                opt_int(
                    &mut c.out,
                    (g.entries_read != u64::MAX).then_some(g.entries_read),
                );
                c.out.bulk(b"lag");
                opt_int(&mut c.out, lag(&s, g));
            }
            done()
        }
        "consumers" => {
            let s = load(c, &a[2])?.ok_or("ERR no such key")?;
            let Some(g) = s.groups.iter().find(|g| g.name == a[3]) else {
                return Err(CmdErr(format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(&a[3]),
                    String::from_utf8_lossy(&a[2])
                )));
            };
            let now = crate::store::now_ms();
            c.out.array(g.consumers.len());
            for cons in &g.consumers {
                c.out.map(3);
                kv_bulk(&mut c.out, b"name", &cons.name);
                kv_int(&mut c.out, b"pending", cons.pel.len() as i64);
                kv_int(
                    &mut c.out,
                    b"idle",
                    now.saturating_sub(cons.seen_time) as i64,
                );
            }
            done()
        }
        _ => Err(super::unknown_subcommand(a)),
    }
}

fn xinfo_stream(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let bad = || {
        CmdErr(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
            String::from_utf8_lossy(&a[1])
        ))
    };
    // The key first, then the options, as Redis.
    let s = load(c, &a[2])?.ok_or("ERR no such key")?;
    let mut full = false;
    let mut count: i64 = 10;
    if a.len() > 3 {
        if !is(&a[3], "full") {
            return Err(bad());
        }
        full = true;
        if a.len() > 4 {
            if a.len() != 6 || !is(&a[4], "count") {
                return Err(bad());
            }
            count = int_arg(&a[5])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let keys: Vec<[u8; 16]> = s.nodes.iter().map(|(id, _)| id_bytes(*id)).collect();
    // Decoded once, before any of the reply is written.
    let all = entries(&s)?;
    let o = &mut c.out;
    o.map(if full { 9 } else { 10 });
    kv_int(o, b"length", s.length as i64);
    kv_int(o, b"radix-tree-keys", keys.len() as i64);
    kv_int(o, b"radix-tree-nodes", rax_nodes(&keys) as i64);
    o.bulk(b"last-generated-id");
    id_bulk(o, s.last_id);
    o.bulk(b"max-deleted-entry-id");
    id_bulk(o, s.max_deleted_id);
    kv_int(o, b"entries-added", s.entries_added as i64);
    o.bulk(b"recorded-first-entry-id");
    id_bulk(o, s.first_id);
    if !full {
        kv_int(o, b"groups", s.groups.len() as i64);
        for (name, e) in [
            (&b"first-entry"[..], all.first()),
            (b"last-entry", all.last()),
        ] {
            o.bulk(name);
            match e {
                Some((id, fields)) => entry(o, *id, fields),
                None => o.null(),
            }
        }
        return done();
    }
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    o.bulk(b"entries");
    let shown = &all[..all.len().min(limit)];
    o.array(shown.len());
    for (id, fields) in shown {
        entry(o, *id, fields);
    }
    o.bulk(b"groups");
    o.array(s.groups.len());
    for g in &s.groups {
        o.map(7);
        kv_bulk(o, b"name", &g.name);
        o.bulk(b"last-delivered-id");
        id_bulk(o, g.last_id);
        o.bulk(b"entries-read");
        opt_int(o, (g.entries_read != u64::MAX).then_some(g.entries_read));
        o.bulk(b"lag");
        opt_int(o, lag(&s, g));
        kv_int(o, b"pel-count", g.pel.len() as i64);
        o.bulk(b"pending");
        let shown = g.pel.len().min(limit);
        let owners = owners(g);
        let nacks: std::collections::HashMap<StreamId, &strata_rdb::stream::StreamNack> =
            g.pel.iter().map(|n| (n.id, n)).collect();
        o.array(shown);
        for n in &g.pel[..shown] {
            let owner = owners.get(&n.id).copied().unwrap_or(&b""[..]);
            o.array(4);
            id_bulk(o, n.id);
            o.bulk(owner);
            o.int(n.delivery_time as i64);
            o.int(n.delivery_count as i64);
        }
        o.bulk(b"consumers");
        o.array(g.consumers.len());
        for cons in &g.consumers {
            o.map(4);
            kv_bulk(o, b"name", &cons.name);
            kv_int(o, b"seen-time", cons.seen_time as i64);
            kv_int(o, b"pel-count", cons.pel.len() as i64);
            o.bulk(b"pending");
            let shown = cons.pel.len().min(limit);
            o.array(shown);
            for id in &cons.pel[..shown] {
                let nack = nacks.get(id);
                o.array(3);
                id_bulk(o, *id);
                o.int(nack.map_or(0, |n| n.delivery_time) as i64);
                o.int(nack.map_or(0, |n| n.delivery_count) as i64);
            }
        }
    }
    done()
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]].
pub fn xpending(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    // Redis's order: the argument count, IDLE, the count, the range; then the key.
    if a.len() != 3 && !(6..=9).contains(&a.len()) {
        return Err(err::SYNTAX.into());
    }
    let mut min_idle: i64 = 0;
    let mut range_args = None;
    let mut consumer = None;
    if a.len() >= 6 {
        let mut i = 3;
        if is(&a[3], "idle") {
            min_idle = int_arg(&a[4])?;
            if a.len() < 8 {
                return Err(err::SYNTAX.into());
            }
            i += 2;
        }
        let count = int_arg(&a[i + 2])?.max(0) as usize;
        let (mut start, start_ex) = interval(&a[i], 0)?;
        if start_ex {
            start = incr(start).ok_or("ERR invalid start ID for the interval")?;
        }
        let (mut end, end_ex) = interval(&a[i + 1], u64::MAX)?;
        if end_ex {
            end = decr(end).ok_or("ERR invalid end ID for the interval")?;
        }
        range_args = Some((start, end, count));
        consumer = a.get(i + 3);
    }
    let nogroup = || {
        CmdErr(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            String::from_utf8_lossy(&a[1]),
            String::from_utf8_lossy(&a[2])
        ))
    };
    let s = load(c, &a[1])?.ok_or_else(nogroup)?;
    let g = s
        .groups
        .iter()
        .find(|g| g.name == a[2])
        .ok_or_else(nogroup)?;
    let owners = owners(g);
    let owner = |id: StreamId| owners.get(&id).copied().unwrap_or(&b""[..]);
    let o = &mut c.out;
    match range_args {
        None => {
            o.array(4);
            o.int(g.pel.len() as i64);
            if g.pel.is_empty() {
                o.null();
                o.null();
                o.null_array();
                return done();
            }
            id_bulk(o, g.pel[0].id);
            id_bulk(o, g.pel[g.pel.len() - 1].id);
            let with: Vec<_> = g.consumers.iter().filter(|x| !x.pel.is_empty()).collect();
            o.array(with.len());
            for cons in with {
                o.array(2);
                o.bulk(&cons.name);
                o.bulk(cons.pel.len().to_string().as_bytes());
            }
        }
        Some((start, end, count)) => {
            // A consumer that does not exist has nothing pending.
            if consumer.is_some_and(|want| !g.consumers.iter().any(|x| &x.name == want)) {
                o.array(0);
                return done();
            }
            let now = crate::store::now_ms() as i64;
            let picked: Vec<_> = g
                .pel
                .iter()
                .filter(|n| n.id >= start && n.id <= end)
                .filter(|n| consumer.is_none_or(|want| owner(n.id) == want.as_slice()))
                .filter(|n| min_idle == 0 || now - n.delivery_time as i64 >= min_idle)
                .take(count)
                .collect();
            o.array(picked.len());
            for n in picked {
                o.array(4);
                id_bulk(o, n.id);
                o.bulk(owner(n.id));
                o.int((now - n.delivery_time as i64).max(0));
                o.int(n.delivery_count as i64);
            }
        }
    }
    done()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ms: u64, seq: u64) -> [u8; 16] {
        id_bytes((ms, seq))
    }

    #[test]
    fn radix_tree_nodes_follow_redis_s_rax() {
        // Counts Redis 7.0.15 reported for these node keys (the shared corpus).
        assert_eq!(rax_nodes(&[]), 1);
        assert_eq!(rax_nodes(&[key(1, 1)]), 2);
        assert_eq!(rax_nodes(&[key(1000, 0), key(1100, 0), key(1200, 0)]), 9);
        assert_eq!(
            rax_nodes(&[key(10, 0), key(12, 2), key(14, 4), key(16, 6)]),
            10
        );
    }

    #[test]
    fn ids_parse_as_redis_parses_them() {
        assert_eq!(parse_id(b"-", 0, false), Some((0, 0)));
        assert_eq!(parse_id(b"+", 0, true), None);
        assert_eq!(parse_id(b"5", 7, false), Some((5, 7)));
        assert_eq!(parse_id(b" +5-01", 0, false), Some((5, 1)));
        assert_eq!(parse_id(b"-1", 0, false), None);
        assert_eq!(parse_id(b"1-", 0, false), None);
        assert_eq!(parse_id(b"18446744073709551616", 0, false), None);
        assert_eq!(parse_id(b"1--0", 0, false), Some((1, 0)));
    }
}
