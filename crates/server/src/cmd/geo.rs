//! Geo commands: positions as sorted-set scores (`crate::geohash`). GEOADD, GEOPOS,
//! GEODIST, GEOHASH, GEOSEARCH, GEOSEARCHSTORE and the GEORADIUS family, with Redis
//! 7.0's parsing order, error texts, search boxes, result order and number formats
//! (checked against a real Redis by `tests/geo.rs`).

use super::{coll, err, float_arg, is, zset, CmdErr, Ctx, Flow, R};
use crate::geohash::{self, Shape, ShapeKind};
use crate::store::{Coll, Kind, Meta};

/// A coordinate argument (Redis's `getDoubleFromObjectOrReply`).
fn double(a: &[u8], msg: &str) -> Result<f64, CmdErr> {
    float_arg(a).ok_or_else(|| CmdErr(msg.to_string()))
}

/// `lon lat` from two arguments, within Redis's limits.
fn lon_lat(a: &[Vec<u8>]) -> Result<(f64, f64), CmdErr> {
    let lon = double(&a[0], err::NOT_FLOAT)?;
    let lat = double(&a[1], err::NOT_FLOAT)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(CmdErr(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Metres per unit.
fn unit(a: &[u8]) -> Result<f64, CmdErr> {
    Ok(match a {
        u if is(u, "m") => 1.0,
        u if is(u, "km") => 1000.0,
        u if is(u, "ft") => 0.3048,
        u if is(u, "mi") => 1609.34,
        _ => return Err("ERR unsupported unit provided. please use M, KM, FT, MI".into()),
    })
}

/// `radius unit`: (radius, metres per unit).
fn radius(a: &[Vec<u8>]) -> Result<(f64, f64), CmdErr> {
    let r = double(&a[0], "ERR need numeric radius")?;
    if r < 0.0 {
        return Err("ERR radius cannot be negative".into());
    }
    Ok((r, unit(&a[1])?))
}

/// `width height unit`: (width, height, metres per unit).
fn box_size(a: &[Vec<u8>]) -> Result<(f64, f64, f64), CmdErr> {
    let w = double(&a[0], "ERR need numeric width")?;
    let h = double(&a[1], "ERR need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return Err("ERR height or width cannot be negative".into());
    }
    Ok((w, h, unit(&a[2])?))
}

/// The sorted set at `key`, if any; WRONGTYPE for another type.
fn read(c: &Ctx, key: &[u8]) -> Result<Option<(Meta, Coll)>, CmdErr> {
    coll::read(c, key, Kind::ZSet)
}

/// "%.4f", as Redis prints distances.
fn dist_text(d: f64) -> String {
    format!("{d:.4}")
}

/// A coordinate as Redis replies it: RESP3 double, RESP2 bulk string.
fn coord(c: &mut Ctx, x: f64) {
    c.out.double(&geohash::human(x));
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: ZADD of the positions'
/// scores.
pub fn geoadd(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let (mut nx, mut xx, mut i) = (false, false, 2);
    while i < a.len() {
        let o = &a[i];
        if is(o, "nx") {
            nx = true;
        } else if is(o, "xx") {
            xx = true;
        } else if !is(o, "ch") {
            break;
        }
        i += 1;
    }
    if !(a.len() - i).is_multiple_of(3) || (nx && xx) {
        return Err(err::SYNTAX.into());
    }
    let mut args: Vec<Vec<u8>> = Vec::with_capacity(i + (a.len() - i) / 3 * 2);
    args.push(b"zadd".to_vec());
    args.extend_from_slice(&a[1..i]);
    for t in a[i..].chunks(3) {
        let (lon, lat) = lon_lat(&t[..2])?;
        let score = geohash::score_of(lon, lat).unwrap_or(0);
        args.push(score.to_string().into_bytes());
        args.push(t[2].clone());
    }
    zset::zadd(c, &args)
}

/// The scores of members `a[2..]` of the sorted set at `a[1]`.
fn member_scores(c: &Ctx, a: &[Vec<u8>]) -> Result<Vec<Option<f64>>, CmdErr> {
    let h = read(c, &a[1])?;
    a[2..]
        .iter()
        .map(|m| zset::score(c, &a[1], &h, m))
        .collect()
}

/// GEOPOS key [member ...]
pub fn geopos(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let found = member_scores(c, a)?;
    c.out.array(found.len());
    for s in found {
        match s {
            None => c.out.null_array(),
            Some(s) => {
                let (lon, lat) = geohash::position_of_score(s);
                c.out.array(2);
                coord(c, lon);
                coord(c, lat);
            }
        }
    }
    Ok(Flow::Continue { wrote: false })
}

/// GEODIST key member1 member2 [unit]
pub fn geodist(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let to_m = match a.len() {
        5 => unit(&a[4])?,
        n if n > 5 => return Err(err::SYNTAX.into()),
        _ => 1.0,
    };
    let h = read(c, &a[1])?;
    if h.is_none() {
        c.out.null();
        return Ok(Flow::Continue { wrote: false });
    }
    let (s1, s2) = (
        zset::score(c, &a[1], &h, &a[2])?,
        zset::score(c, &a[1], &h, &a[3])?,
    );
    match (s1, s2) {
        (Some(x), Some(y)) => {
            let (lon1, lat1) = geohash::position_of_score(x);
            let (lon2, lat2) = geohash::position_of_score(y);
            let d = geohash::distance(lon1, lat1, lon2, lat2) / to_m;
            c.out.bulk(dist_text(d).as_bytes());
        }
        _ => c.out.null(),
    }
    Ok(Flow::Continue { wrote: false })
}

/// GEOHASH key [member ...]
pub fn geohash(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    let found = member_scores(c, a)?;
    c.out.array(found.len());
    for s in found {
        match s {
            None => c.out.null(),
            Some(s) => c.out.bulk(geohash::geohash_string(s).as_bytes()),
        }
    }
    Ok(Flow::Continue { wrote: false })
}

/// Which command of the search family.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    /// GEORADIUS[_RO] key lon lat radius unit ...
    Radius { store: bool },
    /// GEORADIUSBYMEMBER[_RO] key member radius unit ...
    ByMember { store: bool },
    /// GEOSEARCH key ...
    Search,
    /// GEOSEARCHSTORE dest src ...
    SearchStore,
}

pub fn georadius(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    search(c, a, Variant::Radius { store: true })
}
pub fn georadius_ro(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    search(c, a, Variant::Radius { store: false })
}
pub fn georadiusbymember(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    search(c, a, Variant::ByMember { store: true })
}
pub fn georadiusbymember_ro(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    search(c, a, Variant::ByMember { store: false })
}
pub fn geosearch(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    search(c, a, Variant::Search)
}
pub fn geosearchstore(c: &mut Ctx, a: &[Vec<u8>]) -> R {
    search(c, a, Variant::SearchStore)
}

/// A member found inside the shape.
struct Found {
    member: Vec<u8>,
    score: f64,
    lon: f64,
    lat: f64,
    dist: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Order {
    None,
    Asc,
    Desc,
}

fn search(c: &mut Ctx, a: &[Vec<u8>], v: Variant) -> R {
    let src_idx = if v == Variant::SearchStore { 2 } else { 1 };
    let zobj = read(c, &a[src_idx])?;
    let mut center: Option<(f64, f64)> = None;
    let mut kind: Option<ShapeKind> = None;
    let mut conversion = 1.0;
    let mut storekey: Option<Vec<u8>> = None;
    let mut storedist = false;
    let base = match v {
        Variant::Radius { .. } => {
            center = Some(lon_lat(&a[2..4])?);
            let (r, conv) = radius(&a[4..6])?;
            kind = Some(ShapeKind::Circle(r));
            conversion = conv;
            6
        }
        Variant::ByMember { .. } => {
            if zobj.is_some() {
                let Some(s) = zset::score(c, &a[src_idx], &zobj, &a[2])? else {
                    return Err("ERR could not decode requested zset member".into());
                };
                center = Some(geohash::position_of_score(s));
                let (r, conv) = radius(&a[3..5])?;
                kind = Some(ShapeKind::Circle(r));
                conversion = conv;
            }
            5
        }
        Variant::Search => 2,
        Variant::SearchStore => {
            storekey = Some(a[1].clone());
            3
        }
    };
    let geosearch = matches!(v, Variant::Search | Variant::SearchStore);
    let nostore = matches!(
        v,
        Variant::Radius { store: false } | Variant::ByMember { store: false }
    );
    let (mut withdist, mut withhash, mut withcoord) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut order = Order::None;
    let mut any = false;
    let mut count: i64 = 0;
    let rest = &a[base..];
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        let left = rest.len() - i - 1;
        if is(arg, "withdist") {
            withdist = true;
        } else if is(arg, "withhash") {
            withhash = true;
        } else if is(arg, "withcoord") {
            withcoord = true;
        } else if is(arg, "any") {
            any = true;
        } else if is(arg, "asc") {
            order = Order::Asc;
        } else if is(arg, "desc") {
            order = Order::Desc;
        } else if is(arg, "count") && left >= 1 {
            count = super::int_arg(&rest[i + 1])?;
            if count <= 0 {
                return Err("ERR COUNT must be > 0".into());
            }
            i += 1;
        } else if (is(arg, "store") || is(arg, "storedist")) && left >= 1 && !nostore && !geosearch
        {
            storekey = Some(rest[i + 1].clone());
            storedist = is(arg, "storedist");
            i += 1;
        } else if is(arg, "storedist") && v == Variant::SearchStore {
            storedist = true;
        } else if is(arg, "frommember") && left >= 1 && geosearch && !fromloc {
            if zobj.is_some() {
                let Some(s) = zset::score(c, &a[src_idx], &zobj, &rest[i + 1])? else {
                    return Err("ERR could not decode requested zset member".into());
                };
                center = Some(geohash::position_of_score(s));
            }
            frommember = true;
            i += 1;
        } else if is(arg, "fromlonlat") && left >= 2 && geosearch && !frommember {
            center = Some(lon_lat(&rest[i + 1..i + 3])?);
            fromloc = true;
            i += 2;
        } else if is(arg, "byradius") && left >= 2 && geosearch && !bybox {
            let (r, conv) = radius(&rest[i + 1..i + 3])?;
            kind = Some(ShapeKind::Circle(r));
            conversion = conv;
            byradius = true;
            i += 2;
        } else if is(arg, "bybox") && left >= 3 && geosearch && !byradius {
            let (w, h, conv) = box_size(&rest[i + 1..i + 4])?;
            kind = Some(ShapeKind::Box(w, h));
            conversion = conv;
            bybox = true;
            i += 3;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    if storekey.is_some() && (withdist || withhash || withcoord) {
        return Err(CmdErr(format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if v == Variant::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    let name = String::from_utf8_lossy(&a[0]).into_owned();
    if geosearch && !(frommember || fromloc) {
        return Err(CmdErr(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if geosearch && !(byradius || bybox) {
        return Err(CmdErr(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err("ERR the ANY argument requires COUNT argument".into());
    }
    let (Some((_, h)), Some((lon, lat)), Some(kind)) = (&zobj, center, kind) else {
        // No source key: an empty result (a destination is deleted).
        if let Some(dest) = storekey {
            let db = c.s.db;
            let mut t = c.sh.store.txn();
            t.del(db, &dest)?;
            t.commit()?;
            c.out.int(0);
            return Ok(Flow::Continue { wrote: true });
        }
        c.out.array(0);
        return Ok(Flow::Continue { wrote: false });
    };
    if count != 0 && order == Order::None && !any {
        order = Order::Asc;
    }
    let shape = Shape {
        lon,
        lat,
        conversion,
        kind,
    };
    let limit = if any { count as usize } else { 0 };
    let found = collect(c, &a[src_idx], h, &shape, limit)?;
    let mut found = found;
    match order {
        Order::Asc => found.sort_by(|x, y| x.dist.total_cmp(&y.dist)),
        Order::Desc => found.sort_by(|x, y| y.dist.total_cmp(&x.dist)),
        Order::None => {}
    }
    if count > 0 && (count as usize) < found.len() {
        found.truncate(count as usize);
    }
    for f in &mut found {
        f.dist /= conversion;
    }
    let Some(dest) = storekey else {
        let options = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
        c.out.array(found.len());
        for f in &found {
            if options > 0 {
                c.out.array(options + 1);
            }
            c.out.bulk(&f.member);
            if withdist {
                c.out.bulk(dist_text(f.dist).as_bytes());
            }
            if withhash {
                c.out.int(f.score as i64);
            }
            if withcoord {
                c.out.array(2);
                coord(c, f.lon);
                coord(c, f.lat);
            }
        }
        return Ok(Flow::Continue { wrote: false });
    };
    let items: Vec<(Vec<u8>, f64)> = found
        .into_iter()
        .map(|f| {
            let s = if storedist { f.dist } else { f.score };
            (f.member, s)
        })
        .collect();
    let db = c.s.db;
    let mut t = c.sh.store.txn();
    zset::store_items(&mut t, db, &dest, &items, false)?;
    t.commit()?;
    if !items.is_empty() {
        c.signal_key(db, &dest);
    }
    c.out.int(items.len() as i64);
    Ok(Flow::Continue { wrote: true })
}

/// The members inside `shape`, box by box in Redis's order, each box in score order;
/// with `limit` (ANY), stop once that many are found.
fn collect(
    c: &Ctx,
    key: &[u8],
    h: &Coll,
    shape: &Shape,
    limit: usize,
) -> Result<Vec<Found>, CmdErr> {
    let boxes = shape.boxes();
    let phys = c.sh.store.phys(c.s.db);
    let mut out: Vec<Found> = Vec::new();
    let mut last: Option<usize> = None;
    for (i, b) in boxes.iter().enumerate() {
        if b.step == 0 && b.bits == 0 {
            continue;
        }
        // With a huge radius neighbouring boxes can be the same box: once is enough.
        if let Some(l) = last {
            if l != 0 && boxes[l] == *b {
                continue;
            }
        }
        if limit != 0 && out.len() >= limit {
            break;
        }
        let (min, max) = geohash::score_range(*b);
        zset::scan_scores(&c.sh.store, phys, key, h, min as f64, max as f64, |m, s| {
            let (lon, lat) = geohash::position_of_score(s);
            if let Some(dist) = shape.contains(lon, lat) {
                out.push(Found {
                    member: m.to_vec(),
                    score: s,
                    lon,
                    lat,
                    dist,
                });
            }
            !(limit != 0 && out.len() >= limit)
        })?;
        last = Some(i);
    }
    Ok(out)
}
