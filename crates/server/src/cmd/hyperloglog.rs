//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST. The values are
//! strings in Redis's representation (`crate::hll`, `docs/hyperloglog.md`).

use std::sync::atomic::Ordering;

use super::{done, err, is, CmdErr, Ctx, Flow, R};
use crate::hll::{self, Corrupt};
use crate::store::{Kind, Meta, Txn};
use strata_dump::records::STR_RAW;

/// A string that is not an HLL.
const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
/// An HLL whose registers do not add up.
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

impl From<Corrupt> for CmdErr {
    fn from(_: Corrupt) -> Self {
        CORRUPT.into()
    }
}

/// The HLL at `key` (body, expiry), `None` if there is none; WRONGTYPE for another
/// type or a string that is not an HLL.
fn read_hll(t: &mut Txn, db: usize, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>, CmdErr> {
    match t.get(db, key)? {
        None => Ok(None),
        Some(m) if m.kind != Kind::String => Err(err::WRONGTYPE.into()),
        Some(m) if !hll::is_hll(&m.body) => Err(NOT_HLL.into()),
        Some(m) => Ok(Some((m.body, m.expire))),
    }
}

fn sparse_max(c: &Ctx) -> u64 {
    c.sh.hot.hll_sparse_max_bytes.load(Ordering::Relaxed)
}

fn wrote() -> R {
    Ok(Flow::Continue { wrote: true })
}

/// PFADD key [element ...]: 1 if the key was created or a register changed.
pub fn pfadd(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (db, max) = (c.s.db, sparse_max(c));
    let mut t = c.sh.store.txn();
    let (mut v, expire, mut updated) = match read_hll(&mut t, db, &a[1])? {
        Some((v, expire)) => (v, expire, false),
        None => (hll::new_sparse(), 0, true),
    };
    let original_len = v.len();
    let mut result = Ok(());
    for e in &a[2..] {
        match hll::add(&mut v, e, max) {
            Ok(changed) => updated |= changed,
            Err(x) => {
                result = Err(x);
                break;
            }
        }
    }
    if let Err(x) = result {
        // As in Redis, the registers set before the corrupt part stay set.
        if updated || v.len() != original_len {
            t.put(db, &a[1], Meta::string_enc(v, expire, STR_RAW))?;
            t.commit()?;
        }
        return Err(x.into());
    }
    if updated {
        hll::invalidate(&mut v);
        t.put(db, &a[1], Meta::string_enc(v, expire, STR_RAW))?;
        t.commit()?;
    }
    c.out.int(i64::from(updated));
    wrote()
}

/// PFCOUNT key [key ...]: the estimate for one key (its cache refreshed and stored
/// when stale, as Redis does), or for the union of several.
pub fn pfcount(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    if a.len() > 2 {
        let mut regs = vec![0u8; hll::REGISTERS];
        for key in &a[1..] {
            let Some(m) = c.lookup(key)? else {
                continue;
            };
            if m.kind != Kind::String {
                return Err(err::WRONGTYPE.into());
            }
            if !hll::is_hll(&m.body) {
                return Err(NOT_HLL.into());
            }
            hll::merge_into(&mut regs, &m.body)?;
        }
        return c.int(hll::count_registers(&regs) as i64);
    }
    let mut t = c.sh.store.txn();
    let found = read_hll(&mut t, db, &a[1]);
    c.count_read(matches!(found, Ok(Some(_)) | Err(_)));
    let Some((mut v, expire)) = found? else {
        t.commit()?;
        return c.int(0);
    };
    if let Some(card) = hll::cached(&v) {
        t.commit()?;
        return c.int(card as i64);
    }
    let card = hll::count(&v)?;
    hll::set_cached(&mut v, card);
    t.put(db, &a[1], Meta::string_enc(v, expire, STR_RAW))?;
    t.commit()?;
    c.out.int(card as i64);
    wrote()
}

/// PFMERGE destkey [sourcekey ...]: the destination (itself a source) becomes the
/// union; dense if any source is.
pub fn pfmerge(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (db, max) = (c.s.db, sparse_max(c));
    let mut t = c.sh.store.txn();
    let mut regs = vec![0u8; hll::REGISTERS];
    let mut use_dense = false;
    let mut dest = None;
    for (i, key) in a[1..].iter().enumerate() {
        let found = read_hll(&mut t, db, key);
        c.count_read(matches!(found, Ok(Some(_)) | Err(_)));
        let Some((v, expire)) = found? else {
            continue;
        };
        use_dense |= !hll::is_sparse(&v);
        hll::merge_into(&mut regs, &v)?;
        if i == 0 {
            dest = Some((v, expire));
        }
    }
    let (mut v, expire) = dest.unwrap_or_else(|| (hll::new_sparse(), 0));
    if use_dense {
        hll::to_dense(&mut v)?;
    }
    for (i, &r) in regs.iter().enumerate() {
        if r != 0 {
            // The destination was merged in, so no register of it can be corrupt.
            hll::set(&mut v, i, r, max)?;
        }
    }
    hll::invalidate(&mut v);
    t.put(db, &a[1], Meta::string_enc(v, expire, STR_RAW))?;
    t.commit()?;
    c.ok()
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key.
pub fn pfdebug(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    let Some((mut v, expire)) = read_hll(&mut t, db, &a[2])? else {
        return Err("ERR The specified key does not exist".into());
    };
    let sub = &a[1];
    if is(sub, "getreg") || is(sub, "todense") {
        let converted = hll::to_dense(&mut v)?;
        if converted {
            t.put(db, &a[2], Meta::string_enc(v.clone(), expire, STR_RAW))?;
        }
        t.commit()?;
        if is(sub, "todense") {
            c.out.int(i64::from(converted));
        } else {
            c.out.array(hll::REGISTERS);
            for i in 0..hll::REGISTERS {
                c.out.int(i64::from(hll::dense_get(&v[hll::HDR..], i)));
            }
        }
        return wrote();
    }
    t.commit()?;
    if is(sub, "decode") {
        if !hll::is_sparse(&v) {
            return Err("ERR HLL encoding is not sparse".into());
        }
        let text = hll::decode_sparse(&v);
        return c.bulk_opt(Some(text.as_bytes()));
    }
    if is(sub, "encoding") {
        c.out.simple(if hll::is_sparse(&v) {
            "sparse"
        } else {
            "dense"
        });
        return done();
    }
    Err(CmdErr(format!(
        "ERR Unknown PFDEBUG subcommand '{}'",
        String::from_utf8_lossy(sub)
    )))
}

/// PFSELFTEST: the register packing and the estimator's error, checked as Redis's
/// self-test does (sparse and dense agree; the error within six standard errors).
pub fn pfselftest(c: &mut Ctx, _a: &[Vec<u8>]) -> R {
    let max = sparse_max(c);
    let mut sparse = hll::new_sparse();
    let mut dense = hll::new_sparse();
    hll::to_dense(&mut dense)?;
    let seed = super::random_u64();
    let mut checkpoint = 1u64;
    for j in 1..=10_000_000u64 {
        let e = (j ^ seed).to_le_bytes();
        hll::add(&mut dense, &e, max)?;
        hll::add(&mut sparse, &e, max)?;
        if j != checkpoint {
            continue;
        }
        if j < max / 2 && !hll::is_sparse(&sparse) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let card = hll::count(&dense)?;
        if card != hll::count(&sparse)? {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = (checkpoint as i64 - card as i64).unsigned_abs();
        let maxerr = if j == 10 {
            1
        } else {
            (1.04 / (hll::REGISTERS as f64).sqrt() * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(CmdErr(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            )));
        }
        checkpoint *= 10;
    }
    c.ok()
}
