//! MEMORY: USAGE (what a key takes in the engine), STATS, DOCTOR, MALLOC-STATS, PURGE
//! and HELP, with Redis 7.0's syntax and errors.
//!
//! Redis reports the bytes a key takes in its memory; Strata's keys live in the engine,
//! so MEMORY USAGE reports the bytes of the key's records in the engine's record format:
//! each record's key and value, its 8-byte sequence trailer and three length varints
//! (before the prefix sharing of SST blocks). A collection's sub-records are sampled as
//! Redis samples a collection's elements: the first `SAMPLES` of them (5 by default, 0
//! for all) stand for the average one.

use super::{done, err, is, CmdErr, Ctx, R};
use crate::store::{Kind, Meta};

/// Per record: the trailer (sequence and kind, 8 bytes) and three varints (shared and
/// unshared key lengths, value length) of an SST block entry.
const RECORD_OVERHEAD: u64 = 8 + 3;

/// The score of a sorted set's index record (its key: `0x01 | ordered score | member`).
const ZSET_INDEX_EXTRA: u64 = 1 + 8;

pub fn memory(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "usage" if a.len() >= 3 => usage(c, a),
        "stats" if a.len() == 2 => stats(c),
        "doctor" if a.len() == 2 => {
            c.out.verbatim(
                b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.",
            );
            done()
        }
        "malloc-stats" if a.len() == 2 => {
            c.out
                .verbatim(b"Stats not supported for the current allocator");
            done()
        }
        "purge" if a.len() == 2 => c.ok(),
        "help" if a.len() == 2 => {
            let lines = [
                "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
                "HELP",
                "    Prints this help.",
            ];
            super::reply_lines(c, &lines)
        }
        _ => Err(super::unknown_subcommand(a)),
    }
}

fn usage(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let mut samples: u64 = 5;
    let mut i = 3;
    while i < a.len() {
        if is(&a[i], "samples") && i + 1 < a.len() {
            let n = crate::resp::parse_i64(&a[i + 1]).ok_or_else(|| CmdErr(err::NOT_INT.into()))?;
            if n < 0 {
                return Err(err::SYNTAX.into());
            }
            samples = if n == 0 { u64::MAX } else { n as u64 };
            i += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let Some(m) = c.lookup(&a[2])? else {
        c.out.null();
        return done();
    };
    let key = &a[2];
    let phys = c.sh.store.phys(c.s.db);
    let meta_key = strata_dump::records::metadata_key(phys, key).len() as u64;
    // The record's value is its header and body (no copy made to measure it).
    let value = m.header_bytes().len() + m.body.len();
    let mut total = meta_key + value as u64 + RECORD_OVERHEAD;
    if m.expire != 0 {
        // The expiry index record: expiry time, then the metadata key; no value.
        total += 8 + meta_key + RECORD_OVERHEAD;
    }
    total += collection_bytes(c, phys, key, &m, samples)?;
    c.int(total as i64)
}

/// The sub-records' bytes of the collection `m` at `key`, from a sample of `samples`.
fn collection_bytes(c: &Ctx, phys: u8, key: &[u8], m: &Meta, samples: u64) -> Result<u64, CmdErr> {
    if matches!(m.kind, Kind::String | Kind::Stream) {
        return Ok(0);
    }
    let h = m.header()?;
    if h.count == 0 {
        return Ok(0);
    }
    let prefix = strata_dump::records::sub_prefix(phys, key, h.version).len() as u64;
    let zset = m.kind == Kind::ZSet;
    let (mut seen, mut bytes) = (0u64, 0u64);
    c.sh.store
        .sub_scan(phys, key, h.version, None, None, false, |f, v| {
            let mut one = prefix + f.len() as u64 + v.len() as u64 + RECORD_OVERHEAD;
            if zset {
                // Its score index record: the same member after a tag and the score,
                // with the score as value.
                one += prefix
                    + ZSET_INDEX_EXTRA
                    + (f.len() as u64).saturating_sub(1)
                    + 8
                    + RECORD_OVERHEAD;
            }
            bytes += one;
            seen += 1;
            seen < samples.min(h.count)
        })?;
    if seen == 0 {
        return Ok(0);
    }
    // The sample's average for every element.
    Ok(((bytes as u128 * h.count as u128) / seen as u128) as u64)
}

/// MEMORY STATS: Redis's field names where Strata has the figure (process memory from
/// `/proc`, clients, keys), then the engine's own memory (`engine.*`). Fields of
/// Redis's allocator and dictionaries, which Strata does not have, are left out rather
/// than given made-up values.
fn stats(c: &mut Ctx) -> R {
    let sh = c.sh;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |name: &str| -> i64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<i64>().ok())
            .map_or(0, |k| k * 1024)
    };
    let e = sh.store.db.stats();
    let keys: i64 = (0..sh.store.databases())
        .map(|db| sh.store.counts(db).keys)
        .sum();
    let clients = crate::lock(&sh.clients).len() as i64;
    let fields: [(&str, i64); 8] = [
        ("peak.allocated", kib("VmHWM:")),
        ("total.allocated", super::admin::rss_bytes() as i64),
        ("clients.normal", clients),
        ("keys.count", keys),
        ("engine.memtable.bytes", e.memtable_bytes as i64),
        ("engine.memtable.pool.bytes", e.memtable_pool_bytes as i64),
        ("engine.block-cache.bytes", e.block_cache_bytes as i64),
        ("engine.immutable-memtables", e.immutable_memtables as i64),
    ];
    c.out.map(fields.len());
    for (k, v) in fields {
        c.out.bulk(k.as_bytes());
        c.out.int(v);
    }
    done()
}
