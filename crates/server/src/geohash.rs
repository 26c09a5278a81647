//! Geohashes as Redis's GEO commands use them (`docs/commands.md`, "Geo"): a position
//! is a sorted-set score holding a 52-bit interleaved geohash (26 bits of longitude
//! over [-180, 180], 26 of latitude over Redis's Web Mercator limits ±85.05112878), and
//! a radius or box search looks at the sorted-set ranges of nine geohash boxes. Every
//! step (box size estimate, neighbours, bounding box, haversine distance) follows
//! Redis's arithmetic so that members, their order and the printed distances and
//! coordinates are Redis's own.

/// Longitude limits.
pub const LONG_MIN: f64 = -180.0;
/// Longitude limits.
pub const LONG_MAX: f64 = 180.0;
/// Latitude limits (Web Mercator).
pub const LAT_MIN: f64 = -85.051_128_78;
/// Latitude limits (Web Mercator).
pub const LAT_MAX: f64 = 85.051_128_78;
/// Bits per coordinate of a stored position.
pub const STEP_MAX: u8 = 26;
/// Earth's quadratic mean radius (WGS-84), as Redis uses it.
const EARTH_RADIUS_IN_METERS: f64 = 6_372_797.560_856;
/// Half the equator in Web Mercator metres.
const MERCATOR_MAX: f64 = 20_037_726.37;
/// π/180.
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A geohash of `step` bits per coordinate (`step == 0`: none).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Hash {
    /// Interleaved bits.
    pub bits: u64,
    /// Bits per coordinate.
    pub step: u8,
}

/// A coordinate range.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
}

/// Redis's ranges for stored positions: (longitude, latitude).
pub const RANGES: (Range, Range) = (
    Range {
        min: LONG_MIN,
        max: LONG_MAX,
    },
    Range {
        min: LAT_MIN,
        max: LAT_MAX,
    },
);

/// A decoded box.
#[derive(Clone, Copy, Debug)]
pub struct Area {
    /// Longitude span.
    pub lon: Range,
    /// Latitude span.
    pub lat: Range,
}

/// Spread the low 32 bits of `v` to the even bit positions.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gather the even bit positions of `v` into 32 bits.
fn gather(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// Encode (lon, lat) with `step` bits per coordinate over `ranges`; `None` outside
/// them (or Redis's global limits).
pub fn encode(ranges: (Range, Range), lon: f64, lat: f64, step: u8) -> Option<Hash> {
    let (lon_r, lat_r) = ranges;
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    Some(Hash {
        bits: spread(lat_off as u32) | (spread(lon_off as u32) << 1),
        step,
    })
}

/// The box `h` stands for, over `ranges`.
pub fn decode(ranges: (Range, Range), h: Hash) -> Area {
    let (lon_r, lat_r) = ranges;
    let (ilat, ilon) = (gather(h.bits), gather(h.bits >> 1));
    let div = (1u64 << h.step) as f64;
    let (lat_scale, lon_scale) = (lat_r.max - lat_r.min, lon_r.max - lon_r.min);
    Area {
        lat: Range {
            min: lat_r.min + (f64::from(ilat) * 1.0 / div) * lat_scale,
            max: lat_r.min + (f64::from(ilat.wrapping_add(1)) * 1.0 / div) * lat_scale,
        },
        lon: Range {
            min: lon_r.min + (f64::from(ilon) * 1.0 / div) * lon_scale,
            max: lon_r.min + (f64::from(ilon.wrapping_add(1)) * 1.0 / div) * lon_scale,
        },
    }
}

/// The centre of a box, kept within the limits: (lon, lat).
pub fn center(a: &Area) -> (f64, f64) {
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// What C's conversion of a double to `uint64_t` gives on x86-64 (a score that is no
/// geohash still decodes to some position in Redis, so it does here).
pub fn x86_u64(x: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    fn cvt(x: f64) -> i64 {
        if x.is_nan() || !(-TWO_63..TWO_63).contains(&x) {
            i64::MIN
        } else {
            x as i64
        }
    }
    if x < TWO_63 {
        cvt(x) as u64
    } else {
        (cvt(x - TWO_63) as u64) ^ (1 << 63)
    }
}

/// The position (lon, lat) a sorted-set score stands for.
pub fn position_of_score(score: f64) -> (f64, f64) {
    center(&decode(
        RANGES,
        Hash {
            bits: x86_u64(score),
            step: STEP_MAX,
        },
    ))
}

/// The score of a stored position: its 26-step hash as 52 bits.
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode(RANGES, lon, lat, STEP_MAX).map(align52)
}

/// A hash's bits shifted to 52 bits.
pub fn align52(h: Hash) -> u64 {
    h.bits << (52 - u32::from(h.step) * 2)
}

/// Move one box along the coordinate whose bits `mask` selects (odd bits: longitude,
/// even bits: latitude), east/north for `d > 0`, west/south for `d < 0`.
fn move_along(h: &mut Hash, d: i8, mask: u64) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(h.step) * 2;
    let mut moving = h.bits & mask;
    let other = h.bits & !mask;
    // Ones in the other coordinate's positions carry the increment across them.
    let zz = !mask >> shift;
    if d > 0 {
        moving = moving.wrapping_add(zz + 1);
    } else {
        moving |= zz;
        moving = moving.wrapping_sub(zz + 1);
    }
    moving &= mask >> shift;
    h.bits = moving | other;
}

fn moved(h: Hash, dx: i8, dy: i8) -> Hash {
    let mut n = h;
    move_along(&mut n, dx, 0xaaaa_aaaa_aaaa_aaaa);
    move_along(&mut n, dy, 0x5555_5555_5555_5555);
    n
}

/// How many bits per coordinate make boxes about the size of `range_m` metres.
fn steps_for_radius(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let (mut range, mut step) = (range_m, 1i32);
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// Haversine distance in metres between (lon1, lat1) and (lon2, lat2).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lat1r, lon1r, lat2r, lon2r) = (deg_rad(lat1), deg_rad(lon1), deg_rad(lat2), deg_rad(lon2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_IN_METERS * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// A search shape: centre (lon, lat), and in the unit `conversion` metres a circle's
/// radius or a box's width and height.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Centre longitude.
    pub lon: f64,
    /// Centre latitude.
    pub lat: f64,
    /// Metres per unit.
    pub conversion: f64,
    /// The shape.
    pub kind: ShapeKind,
}

/// Circle or box.
#[derive(Clone, Copy, Debug)]
pub enum ShapeKind {
    /// Radius.
    Circle(f64),
    /// Width, height.
    Box(f64, f64),
}

impl Shape {
    /// The distance of (lon, lat) from the centre in metres, if it lies inside.
    pub fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.kind {
            ShapeKind::Circle(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.conversion).then_some(d)
            }
            ShapeKind::Box(w, h) => {
                let (w, h) = (w * self.conversion, h * self.conversion);
                let lon_d = distance(lon, lat, self.lon, lat);
                let lat_d = distance(lon, lat, lon, self.lat);
                if lon_d > w / 2.0 || lat_d > h / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }

    /// [min lon, min lat, max lon, max lat] of the area searched.
    fn bounds(&self) -> [f64; 4] {
        let (height, width) = match self.kind {
            ShapeKind::Circle(r) => (self.conversion * r, self.conversion * r),
            ShapeKind::Box(w, h) => (self.conversion * (h / 2.0), self.conversion * (w / 2.0)),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat + lat_delta).cos());
        let bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat - lat_delta).cos());
        let delta = if self.lat < 0.0 { bottom } else { top };
        [
            self.lon - delta,
            self.lat - lat_delta,
            self.lon + delta,
            self.lat + lat_delta,
        ]
    }

    /// The boxes to search, in Redis's order (centre, N, S, E, W, NE, NW, SE, SW), a
    /// `step == 0` hash for one left out.
    pub fn boxes(&self) -> [Hash; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let radius_m = match self.kind {
            ShapeKind::Circle(r) => r,
            ShapeKind::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        } * self.conversion;
        let mut steps = steps_for_radius(radius_m, self.lat);
        let around = |steps: u8| {
            let h = encode(RANGES, self.lon, self.lat, steps).unwrap_or_default();
            let n = [
                h,
                moved(h, 0, 1),
                moved(h, 0, -1),
                moved(h, 1, 0),
                moved(h, -1, 0),
                moved(h, 1, 1),
                moved(h, -1, 1),
                moved(h, 1, -1),
                moved(h, -1, -1),
            ];
            (n, decode(RANGES, h))
        };
        let (mut n, mut area) = around(steps);
        let (north, south, east, west) = (
            decode(RANGES, n[1]),
            decode(RANGES, n[2]),
            decode(RANGES, n[3]),
            decode(RANGES, n[4]),
        );
        let too_small = north.lat.max < max_lat
            || south.lat.min > min_lat
            || east.lon.max < max_lon
            || west.lon.min > min_lon;
        if steps > 1 && too_small {
            steps -= 1;
            (n, area) = around(steps);
        }
        if steps >= 2 {
            // Leave out the boxes on a side the area does not reach.
            let sides = [
                (area.lat.min < min_lat, [2, 8, 7]),
                (area.lat.max > max_lat, [1, 5, 6]),
                (area.lon.min < min_lon, [4, 8, 6]),
                (area.lon.max > max_lon, [3, 7, 5]),
            ];
            for (_, boxes) in sides.iter().filter(|(out, _)| *out) {
                for &i in boxes {
                    n[i] = Hash::default();
                }
            }
        }
        n
    }
}

/// The sorted-set score range [min, max) of the positions inside box `h`.
pub fn score_range(h: Hash) -> (u64, u64) {
    let next = Hash {
        bits: h.bits.wrapping_add(1),
        step: h.step,
    };
    (align52(h), align52(next))
}

/// The standard 11-character geohash of a stored score (latitude over ±90).
pub fn geohash_string(score: f64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = position_of_score(score);
    let ranges = (
        Range {
            min: -180.0,
            max: 180.0,
        },
        Range {
            min: -90.0,
            max: 90.0,
        },
    );
    let bits = encode(ranges, lon, lat, 26).map_or(0, |h| h.bits);
    (0..11)
        .map(|i| {
            let idx = if i == 10 {
                0
            } else {
                (bits >> (52 - (i + 1) * 5)) & 0x1f
            };
            char::from(ALPHABET[idx as usize])
        })
        .collect()
}

/// Redis's "human" number text: `%.17f` without trailing zeros (and `-0` as `0`).
pub fn human(x: f64) -> String {
    let mut s = format!("{x:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for v in [0u32, 1, 0x3ff_ffff, 0xdead_beef, u32::MAX] {
            assert_eq!(gather(spread(v)), v);
            assert_eq!(gather(spread(v) << 1 >> 1), v);
        }
    }

    #[test]
    fn redis_documented_examples() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" 15.087269 37.502669 "Catania"
        let p = score_of(13.361389, 38.115556).unwrap();
        let c = score_of(15.087269, 37.502669).unwrap();
        assert_eq!(p, 3_479_099_956_230_698);
        assert_eq!(c, 3_479_447_370_796_909);
        let (lon, lat) = position_of_score(p as f64);
        assert_eq!(human(lon), "13.36138933897018433");
        assert_eq!(human(lat), "38.11555639549629859");
        let (lon2, lat2) = position_of_score(c as f64);
        assert_eq!(
            format!("{:.4}", distance(lon, lat, lon2, lat2)),
            "166274.1516"
        );
        assert_eq!(geohash_string(p as f64), "sqc8b49rny0");
        assert_eq!(geohash_string(c as f64), "sqdtr74hyu0");
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human(1.5), "1.5");
        assert_eq!(human(-0.0), "0");
        assert_eq!(human(180.0), "180");
    }
}
