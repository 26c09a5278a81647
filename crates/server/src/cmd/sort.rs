//! SORT and SORT_RO: sort a list, set or sorted set numerically or by bytes (ALPHA),
//! by its elements or by keys a pattern names (BY, `*` replaced by the element,
//! `->field` for a hash field), returning elements or looked-up values (GET), or
//! storing the result as a list (STORE). Redis 7.0's option parsing, LIMIT arithmetic,
//! tie-breaking and errors; checked by `tests/sort.rs` against a real Redis.

use std::cmp::Ordering;

use super::{err, int_arg, is, list, set, zset, CmdErr, Ctx, Flow, R};
use crate::store::Kind;

pub fn sort(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    sort_generic(c, a, false)
}

pub fn sort_ro(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    sort_generic(c, a, true)
}

/// The options, as parsed.
struct Opts {
    desc: bool,
    alpha: bool,
    limit: (i64, i64),
    store: Option<Vec<u8>>,
    by: Option<Vec<u8>>,
    dontsort: bool,
    gets: Vec<Vec<u8>>,
}

fn parse(a: &[Vec<u8>], ro: bool) -> Result<Opts, CmdErr> {
    let mut o = Opts {
        desc: false,
        alpha: false,
        limit: (0, -1),
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let w = &a[j];
        if is(w, "asc") {
            o.desc = false;
        } else if is(w, "desc") {
            o.desc = true;
        } else if is(w, "alpha") {
            o.alpha = true;
        } else if is(w, "limit") && left >= 2 {
            o.limit = (int_arg(&a[j + 1])?, int_arg(&a[j + 2])?);
            j += 2;
        } else if !ro && is(w, "store") && left >= 1 {
            o.store = Some(a[j + 1].clone());
            j += 1;
        } else if is(w, "by") && left >= 1 {
            o.by = Some(a[j + 1].clone());
            // A pattern without `*` names no per-element key: nothing to sort by (and
            // that sticks, whatever a later BY says, as in Redis).
            if !cstr(&a[j + 1]).contains(&b'*') {
                o.dontsort = true;
            }
            j += 1;
        } else if is(w, "get") && left >= 1 {
            o.gets.push(a[j + 1].clone());
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    Ok(o)
}

/// The bytes Redis's C string functions see: up to the first NUL.
fn cstr(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&x| x == 0).unwrap_or(b.len())]
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*`
/// is replaced by the element, and a `->field` after it reads that hash field. `None`
/// when there is no `*`, the key is missing, or it has the wrong type.
fn by_pattern(c: &Ctx, pattern: &[u8], elem: &[u8]) -> Result<Option<Vec<u8>>, CmdErr> {
    if pattern.first() == Some(&b'#') && pattern.get(1).is_none_or(|&b| b == 0) {
        return Ok(Some(elem.to_vec()));
    }
    let spat = cstr(pattern);
    let Some(star) = spat.iter().position(|&b| b == b'*') else {
        return Ok(None);
    };
    let rest = &spat[star + 1..];
    // `->` after the `*`, with something after it, names a hash field (the field runs
    // to the pattern's full length).
    let arrow = rest
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&i| i + 2 < rest.len());
    let (postfix, field) = match arrow {
        Some(i) => (&rest[..i], Some(&pattern[star + 1 + i + 2..])),
        None => (&pattern[star + 1..], None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + postfix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(postfix);
    let Some(m) = c.lookup(&key)? else {
        return Ok(None);
    };
    match (field, m.kind) {
        (None, Kind::String) => Ok(Some(m.body)),
        (Some(f), Kind::Hash) => {
            let h = m.header()?;
            Ok(c.sh.store.sub_get(c.s.db, &key, h.version, f)?)
        }
        _ => Ok(None),
    }
}

/// `strtod` as SORT uses it: leading white space allowed, nothing after the number
/// (up to a NUL), no NaN, no `ERANGE` (overflow, or a result that underflows to zero or
/// into the subnormals). `None` is a conversion error.
fn strtod(b: &[u8]) -> Option<f64> {
    crate::cfloat::strtod_to_nul(b)
        .filter(|(v, erange)| !v.is_nan() && !erange && !v.is_subnormal())
        .map(|(v, _)| v)
}

fn sort_generic(c: &mut Ctx, a: &[Vec<u8>], ro: bool) -> R {
    let mut o = parse(a, ro)?;
    let key = &a[1];
    let found = c.lookup(key)?;
    let (kind, elems) = match found {
        None => (Kind::List, Vec::new()),
        Some(m) => {
            let phys = c.sh.store.phys(c.s.db);
            match m.kind {
                Kind::List => {
                    let h = m.header()?;
                    (
                        Kind::List,
                        list::range(&c.sh.store, phys, key, &h, 0, h.count)?,
                    )
                }
                Kind::Set => {
                    let h = m.header()?;
                    (Kind::Set, set::members(c, key, &h)?)
                }
                Kind::ZSet => {
                    let h = m.header()?;
                    let all = zset::all(&c.sh.store, phys, key, &h)?;
                    (Kind::ZSet, all.into_iter().map(|(m, _)| m).collect())
                }
                _ => return Err(err::WRONGTYPE.into()),
            }
        }
    };
    // A set with nothing to sort by is sorted anyway where the result must not depend
    // on the set's internal order (STORE, scripts), as Redis does.
    if o.dontsort && kind == Kind::Set && (o.store.is_some() || c.s.in_script) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let n = elems.len() as i64;
    let start = o.limit.0.max(0);
    let mut end = if o.limit.1 < 0 {
        n - 1
    } else {
        start.wrapping_add(o.limit.1) - 1
    };
    let start = if start >= n {
        end = n - 2;
        n - 1
    } else {
        start
    };
    if end >= n {
        end = n - 1;
    }
    let mut elems = elems;
    if o.dontsort {
        match kind {
            // Lists and sorted sets keep their own order, reversed by DESC.
            Kind::List | Kind::ZSet if o.desc => elems.reverse(),
            // A set's own order: an intset's is ascending numbers; ours otherwise is
            // byte order (Redis's is its hash table's).
            Kind::Set => intset_order(&mut elems),
            _ => {}
        }
    } else {
        let mut keyed = Vec::with_capacity(elems.len());
        let mut bad_number = false;
        for e in elems.drain(..) {
            let by = match &o.by {
                Some(p) => by_pattern(c, p, &e)?,
                None => None,
            };
            let score = if o.alpha {
                0.0
            } else {
                let src = match &o.by {
                    Some(_) => by.as_deref(),
                    None => Some(e.as_slice()),
                };
                match src.map(strtod) {
                    Some(Some(v)) => v,
                    Some(None) => {
                        bad_number = true;
                        0.0
                    }
                    None => 0.0,
                }
            };
            keyed.push((e, by, score));
        }
        if bad_number {
            return Err("ERR One or more scores can't be converted into double".into());
        }
        let (alpha, by_set, desc) = (o.alpha, o.by.is_some(), o.desc);
        keyed.sort_by(|x, y| {
            // Bytes, then length: Redis's `compareStringObjects` (and `strcoll` in the C
            // locale) where elements or weights are compared as strings.
            let cmp = if !alpha {
                x.2.partial_cmp(&y.2)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| x.0.cmp(&y.0))
            } else if by_set {
                match (&x.1, &y.1) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(p), Some(q)) => p.cmp(q),
                }
            } else {
                x.0.cmp(&y.0)
            };
            if desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
        elems = keyed.into_iter().map(|(e, _, _)| e).collect();
    }
    let picked: &[Vec<u8>] = if end >= start && start >= 0 {
        &elems[start as usize..=end as usize]
    } else {
        &[]
    };
    let Some(dest) = o.store.clone() else {
        let per = o.gets.len().max(1);
        c.out.array(picked.len() * per);
        for e in picked {
            if o.gets.is_empty() {
                c.out.bulk(e);
            }
            for g in &o.gets {
                let v = by_pattern(c, g, e)?;
                c.out.bulk_opt(v.as_deref());
            }
        }
        return Ok(Flow::Continue { wrote: false });
    };
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(picked.len() * o.gets.len().max(1));
    for e in picked {
        if o.gets.is_empty() {
            out.push(e.clone());
        }
        for g in &o.gets {
            out.push(by_pattern(c, g, e)?.unwrap_or_default());
        }
    }
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    t.del(db, &dest)?;
    if !out.is_empty() {
        let items: Vec<&[u8]> = out.iter().map(Vec::as_slice).collect();
        list::push(&mut t, db, &dest, &items, false, true)?;
    }
    t.commit()?;
    if !out.is_empty() {
        c.signal_key(db, &dest);
    }
    c.out.int(out.len() as i64);
    Ok(Flow::Continue { wrote: true })
}

/// A set's members in the order Redis keeps an intset (ascending numbers) when every
/// member is an integer and there are at most 512 (`set-max-intset-entries`).
fn intset_order(elems: &mut [Vec<u8>]) {
    if elems.len() > 512 {
        return;
    }
    let nums: Option<Vec<i64>> = elems.iter().map(|e| crate::resp::parse_i64(e)).collect();
    if let Some(nums) = nums {
        let mut pairs: Vec<(i64, Vec<u8>)> = nums.into_iter().zip(elems.iter().cloned()).collect();
        pairs.sort_by_key(|p| p.0);
        for (slot, (_, e)) in elems.iter_mut().zip(pairs) {
            *slot = e;
        }
    }
}
