//! Places and distances. A listing says where it is with an optional geohash (the base-32
//! interleaving of longitude and latitude bits: each character narrows the area by 5 bits, so
//! `u14dk` is a cell of 0.044 by 0.044 degrees over central Ghent: 3.1 km east to west there, 4.9
//! km north to south; cells narrow east to west away from the equator). A search asks for
//! listings within a distance of a place, given as a geohash or as `latitude,longitude` in
//! decimal degrees.
//!
//! Distances are great-circle distances between the middles of the cells, on a sphere of the
//! Earth's mean radius: a coarse geohash is taken at its middle, whatever its size.

use std::fmt;

/// The geohash alphabet: base 32 without `a`, `i`, `l` and `o`.
const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// The Earth's mean radius, in metres (IUGG).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The longest distance a search takes, in metres: 20,000 km, about half the Earth's
/// circumference (20,015 km), so every place on Earth but the far side's last few kilometres.
pub const MAX_DISTANCE_M: u32 = 20_000_000;
/// An international mile.
const METRES_PER_MILE: f64 = 1_609.344;

/// Characters of the geohash a listing gets from coordinates: a cell of at most 1.2 km east to
/// west (at the equator; 0.8 km at Ghent's latitude) by 0.6 km, close enough to find it nearby,
/// too coarse to publish a home's address.
pub const PUBLISHED_PRECISION: usize = 6;

/// A point on the Earth, in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Latitude, -90 to 90 (north positive).
    pub lat: f64,
    /// Longitude, -180 to 180 (east positive).
    pub lon: f64,
}

/// A place that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeoError {
    /// Neither a geohash nor a latitude and longitude.
    #[error(
        "`{0}` is not a place: give its latitude and longitude in decimal degrees (e.g. 51.054,3.717; a map app shows them) or its geohash in lower case (1 to 12 of 0-9 and b-z without a, i, l, o, e.g. u14dk); place names are not looked up"
    )]
    NotAPlace(String),
    /// Nothing given.
    #[error(
        "no place given: give a latitude and longitude in decimal degrees (e.g. 51.054,3.717) or a geohash (e.g. u14dk), or leave the option out"
    )]
    Empty,
    /// One number, where a latitude and a longitude are needed.
    #[error(
        "`{0}` is one number: give the latitude and the longitude, with a comma between them (e.g. 51.054,3.717)"
    )]
    OneCoordinate(String),
    /// A geohash in capitals, or a place name.
    #[error(
        "`{0}` has capitals: a geohash is written in lower case ({lower}), and place names are not looked up: give the place's latitude and longitude in decimal degrees (e.g. 51.054,3.717; a map app shows them)",
        lower = .0.to_ascii_lowercase()
    )]
    Capitals(String),
    /// A geohash longer than a listing may give.
    #[error("`{0}` is {len} characters: a geohash has at most 12", len = .0.chars().count())]
    TooLong(String),
    /// Coordinates outside the Earth's.
    #[error("`{0}` is off the map: a latitude is -90 to 90 and a longitude -180 to 180")]
    OffTheMap(String),
    /// A distance that cannot be read or is out of range.
    #[error(
        "`{0}` is not a distance: give kilometres, metres or miles, e.g. 10km, 2.5km, 800m or 5mi (a number alone is kilometres), at least 1m and at most 20000km"
    )]
    BadDistance(String),
    /// A distance with a decimal comma.
    #[error("`{given}`: write the decimal point as a dot, {dotted}")]
    DecimalComma {
        /// The distance as given.
        given: String,
        /// The same with a dot.
        dotted: String,
    },
    /// A distance out of range: farther than anywhere on the Earth, or under a metre.
    #[error(
        "`{0}` is out of range: a distance is at least 1m and at most 20000km (the farthest two places on the Earth are)"
    )]
    DistanceOutOfRange(String),
}

impl Point {
    /// A point, if its coordinates are on the Earth.
    pub fn new(lat: f64, lon: f64) -> Option<Point> {
        ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some(Point { lat, lon })
    }

    /// The great-circle distance to `other`, in metres (haversine).
    pub fn distance_m(&self, other: &Point) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.lon - self.lon).to_radians();
        let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
    }

    /// The geohash of the cell of `precision` characters (1 to 12) holding this point.
    pub fn geohash(&self, precision: usize) -> String {
        let (mut lat, mut lon) = ((-90.0f64, 90.0f64), (-180.0f64, 180.0f64));
        let mut out = String::with_capacity(precision);
        let mut even = true;
        for _ in 0..precision.clamp(1, crate::limits::MAX_GEOHASH_CHARS) {
            let mut digit = 0usize;
            for _ in 0..5 {
                let (range, value) = if even { (&mut lon, self.lon) } else { (&mut lat, self.lat) };
                let mid = (range.0 + range.1) / 2.0;
                digit <<= 1;
                if value >= mid {
                    digit |= 1;
                    range.0 = mid;
                } else {
                    range.1 = mid;
                }
                even = !even;
            }
            out.push(char::from(ALPHABET[digit]));
        }
        out
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.5},{:.5}", self.lat, self.lon)
    }
}

/// The middle of the cell `geohash` names, or None if it is not a geohash (an empty string, or a
/// character outside the alphabet; case is ignored).
pub fn decode(geohash: &str) -> Option<Point> {
    if geohash.is_empty() || geohash.len() > crate::limits::MAX_GEOHASH_CHARS {
        return None;
    }
    let (mut lat, mut lon) = ((-90.0f64, 90.0f64), (-180.0f64, 180.0f64));
    let mut even = true;
    for c in geohash.bytes() {
        let digit = ALPHABET.iter().position(|&a| a == c.to_ascii_lowercase())?;
        for bit in (0..5).rev() {
            let range = if even { &mut lon } else { &mut lat };
            let mid = (range.0 + range.1) / 2.0;
            if digit >> bit & 1 == 1 {
                range.0 = mid;
            } else {
                range.1 = mid;
            }
            even = !even;
        }
    }
    Some(Point { lat: (lat.0 + lat.1) / 2.0, lon: (lon.0 + lon.1) / 2.0 })
}

/// A place as a person gives it: a geohash in lower case (its cell's middle), or
/// `latitude,longitude` in decimal degrees (a space after the comma is allowed). Place names are
/// not looked up, and a capitalised word is not taken for a geohash: many names are spelt in
/// the geohash alphabet (`Ghent` would be `ghent`, a cell off Greenland).
pub fn place(given: &str) -> Result<Point, GeoError> {
    let trimmed = given.trim();
    if let Some((lat, lon)) = trimmed.split_once(',') {
        let (Ok(lat), Ok(lon)) = (lat.trim().parse::<f64>(), lon.trim().parse::<f64>()) else {
            return Err(GeoError::NotAPlace(given.to_owned()));
        };
        if !lat.is_finite() || !lon.is_finite() {
            return Err(GeoError::NotAPlace(given.to_owned()));
        }
        return Point::new(lat, lon).ok_or_else(|| GeoError::OffTheMap(given.to_owned()));
    }
    if trimmed.is_empty() {
        return Err(GeoError::Empty);
    }
    if trimmed.parse::<f64>().is_ok() {
        return Err(GeoError::OneCoordinate(trimmed.to_owned()));
    }
    // Capitals are named only where the lower case is a geohash: `Oakfield` was told to write
    // `oakfield`, which holds letters no geohash has (from a trial).
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) && decode(&trimmed.to_ascii_lowercase()).is_some() {
        return Err(GeoError::Capitals(trimmed.to_owned()));
    }
    // `get`, not a slice: a place name's 12th byte may fall inside a character ("république").
    if trimmed.len() > crate::limits::MAX_GEOHASH_CHARS
        && trimmed.get(..crate::limits::MAX_GEOHASH_CHARS).and_then(decode).is_some()
    {
        return Err(GeoError::TooLong(trimmed.to_owned()));
    }
    decode(trimmed).ok_or_else(|| GeoError::NotAPlace(given.to_owned()))
}

/// A listing's geohash as a person gives it: a geohash as it is (in lower case, as [`place`]
/// takes it), or coordinates as the geohash of [`PUBLISHED_PRECISION`] characters around them.
pub fn listing_geohash(given: &str) -> Result<String, GeoError> {
    let trimmed = given.trim();
    if trimmed.contains(',') {
        return place(trimmed).map(|p| p.geohash(PUBLISHED_PRECISION));
    }
    place(trimmed).map(|_| trimmed.to_owned())
}

/// A distance as a person writes it, in metres: `10km`, `2.5 km`, `800m`, miles (`5mi`, `5
/// miles`: an international trial's `5 mi` was not taken), or a number alone (kilometres);
/// more than 0 and at most [`MAX_DISTANCE_M`].
pub fn distance(given: &str) -> Result<u32, GeoError> {
    let bad = || GeoError::BadDistance(given.to_owned());
    let text = given.trim().to_ascii_lowercase();
    let units = [
        ("km", 1_000.0),
        ("miles", METRES_PER_MILE),
        ("mile", METRES_PER_MILE),
        ("mi", METRES_PER_MILE),
        ("m", 1.0),
    ];
    let (number, metres_per_unit) = units
        .iter()
        .find_map(|&(unit, metres)| text.strip_suffix(unit).map(|n| (n, metres)))
        .unwrap_or((text.as_str(), 1_000.0));
    let number = number.trim();
    if let Some((whole, part)) = number.split_once(',')
        && !whole.is_empty()
        && whole.bytes().chain(part.bytes()).all(|b| b.is_ascii_digit())
    {
        let unit = text[number.len()..].trim().to_owned();
        return Err(GeoError::DecimalComma {
            given: given.to_owned(),
            dotted: format!("{whole}.{part}{unit}"),
        });
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let metres = value * metres_per_unit;
    if !metres.is_finite() {
        return Err(bad());
    }
    if metres < 1.0 || metres > f64::from(MAX_DISTANCE_M) {
        return Err(GeoError::DistanceOutOfRange(given.to_owned()));
    }
    // In range, so the cast keeps the value (rounded to the metre).
    Ok(metres.round() as u32)
}

/// The unit a person measures distances in, as their `--within` was written: miles when it
/// was given in miles (`5mi`, `5 miles`), kilometres otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DistanceUnit {
    /// Metres and kilometres.
    #[default]
    Metric,
    /// Statute miles (1,609.344 m).
    Miles,
}

impl DistanceUnit {
    /// The unit `given` (a distance as [`distance`] takes it) is written in.
    pub fn of(given: &str) -> DistanceUnit {
        let text = given.trim().to_ascii_lowercase();
        if ["mi", "mile", "miles"].iter().any(|unit| text.ends_with(unit)) {
            DistanceUnit::Miles
        } else {
            DistanceUnit::Metric
        }
    }

    /// The unit of a search whose `--within` is `within` (kilometres when none is given).
    pub fn of_within(within: Option<&str>) -> DistanceUnit {
        within.map(DistanceUnit::of).unwrap_or_default()
    }

    /// A distance in metres as a person reads it in this unit: `847 m`, `3.2 km`, `41 km`;
    /// `0.4 mi`, `5 mi`, `26 mi`.
    pub fn describe(self, metres: f64) -> String {
        match self {
            DistanceUnit::Metric => describe_distance(metres),
            DistanceUnit::Miles => {
                let miles = metres / METRES_PER_MILE;
                if miles < 99.95 {
                    let shown = format!("{:.1}", miles.max(0.1));
                    format!("{} mi", shown.strip_suffix(".0").unwrap_or(&shown))
                } else {
                    format!("{miles:.0} mi")
                }
            }
        }
    }

    /// A distance measured (how far a listing is), in this unit with a tenth up to 100 (`847 m`,
    /// `23.4 km`, `4.0 mi`, `30.4 mi`), whole from there. A trial read `30 mi` beside the hint
    /// `--within 31mi finds it` and tried 30 (the match was 30.4 away), and saw `4 mi` beside
    /// `4.3 mi` in one table: [`DistanceUnit::describe`] writes a distance as it was typed.
    pub fn away(self, metres: f64) -> String {
        let (value, unit) = match self {
            DistanceUnit::Metric if metres < 999.5 => return format!("{metres:.0} m"),
            DistanceUnit::Metric => (metres / 1_000.0, "km"),
            DistanceUnit::Miles => ((metres / METRES_PER_MILE).max(0.1), "mi"),
        };
        if value < 99.95 { format!("{value:.1} {unit}") } else { format!("{value:.0} {unit}") }
    }

    /// A `--within` that reaches `metres`, rounded up as people write it: `800m`, `23km`,
    /// `130km`; `2mi`, `15mi`, `90mi`.
    pub fn within_to_reach(self, metres: f64) -> String {
        let m = metres.ceil().max(1.0);
        match self {
            DistanceUnit::Metric if m < 1_000.0 => format!("{m:.0}m"),
            DistanceUnit::Metric if m < 100_000.0 => format!("{:.0}km", (m / 1_000.0).ceil()),
            DistanceUnit::Metric => format!("{:.0}km", (m / 10_000.0).ceil() * 10.0),
            DistanceUnit::Miles => {
                // The fewest whole miles (tens, from 100) that reach it as [`distance`] reads
                // them, to the metre: 5 miles reach 8,047 m.
                let step = if m < 100.0 * METRES_PER_MILE { 1.0 } else { 10.0 };
                let mut miles = (m / METRES_PER_MILE / step).floor() * step;
                while (miles * METRES_PER_MILE).round() < m {
                    miles += step;
                }
                // Never past what `distance` takes (the review: 12430mi for the far side of
                // the world): the most in miles, else the most there is.
                let most = (f64::from(MAX_DISTANCE_M) / METRES_PER_MILE).floor();
                if (miles * METRES_PER_MILE).round() <= f64::from(MAX_DISTANCE_M) {
                    format!("{miles:.0}mi")
                } else if (most * METRES_PER_MILE).round() >= m {
                    format!("{most:.0}mi")
                } else {
                    format!("{}km", MAX_DISTANCE_M / 1_000)
                }
            }
        }
    }
}

/// A distance in metres as a person reads it: `847 m`, `3.2 km`, `41 km`.
pub fn describe_distance(metres: f64) -> String {
    if metres < 999.5 {
        format!("{metres:.0} m")
    } else if metres < 99_950.0 {
        // A whole number of kilometres reads as typed: `5 km`, not `5.0 km` (found in a trial:
        // `--within 5km` echoed `5.0 km`, `--within 10km` `10 km`), and a tenth as typed up to
        // 100 (the review: `12.5` read back as `13`).
        let km = format!("{:.1}", metres / 1_000.0);
        format!("{} km", km.strip_suffix(".0").unwrap_or(&km))
    } else {
        format!("{:.0} km", metres / 1_000.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// From an international trial: a search `--within 5mi` showed its distances in km.
    #[test]
    fn distances_are_told_in_the_unit_they_were_asked_in() {
        assert_eq!(DistanceUnit::of("5mi"), DistanceUnit::Miles);
        assert_eq!(DistanceUnit::of(" 5 Miles "), DistanceUnit::Miles);
        assert_eq!(DistanceUnit::of("1 mile"), DistanceUnit::Miles);
        assert_eq!(DistanceUnit::of("5km"), DistanceUnit::Metric);
        assert_eq!(DistanceUnit::of("800m"), DistanceUnit::Metric);
        assert_eq!(DistanceUnit::of("12"), DistanceUnit::Metric);
        let miles = DistanceUnit::Miles;
        assert_eq!(miles.describe(8_047.0), "5 mi");
        assert_eq!(miles.describe(643.7), "0.4 mi");
        assert_eq!(miles.describe(20.0), "0.1 mi", "never 0 mi");
        assert_eq!(miles.describe(41_843.0), "26 mi");
        assert_eq!(DistanceUnit::Metric.describe(3_200.0), describe_distance(3_200.0));
        // Measured distances keep a tenth below 100, so one reads next to another alike.
        assert_eq!(miles.away(48_924.0), "30.4 mi");
        assert_eq!(miles.away(6_437.4), "4.0 mi");
        assert_eq!(miles.away(20.0), "0.1 mi");
        assert_eq!(miles.away(200_000.0), "124 mi");
        assert_eq!(DistanceUnit::Metric.away(847.0), "847 m");
        assert_eq!(DistanceUnit::Metric.away(999.6), "1.0 km");
        assert_eq!(DistanceUnit::Metric.away(48_300.0), "48.3 km");
        assert_eq!(DistanceUnit::Metric.away(123_400.0), "123 km");
        // Each reaches the distance it was made for.
        for (metres, said) in
            [(3_000.0, "2mi"), (8_047.0, "5mi"), (8_048.0, "6mi"), (24_000.0, "15mi"), (200_000.0, "130mi")]
        {
            let shown = miles.within_to_reach(metres);
            assert_eq!(shown, said, "{metres}");
            assert!(f64::from(distance(&shown).expect("taken")) >= metres, "{shown} reaches {metres}");
        }
        // Near the far side of the world, never past what the command takes.
        for metres in [19_990_000.0, 19_999_900.0, 20_000_000.0] {
            let shown = miles.within_to_reach(metres);
            let reach = distance(&shown).expect("taken");
            assert!(f64::from(reach) >= metres, "{shown} reaches {metres}");
        }
        for (metres, said) in [(750.2, "751m"), (22_100.0, "23km"), (123_000.0, "130km")] {
            assert_eq!(DistanceUnit::Metric.within_to_reach(metres), said, "{metres}");
        }
    }

    #[test]
    fn geohashes_decode_to_the_middle_of_their_cell_and_encode_back() {
        // Known cells: a point in Denmark and one in Spain, each inside its cell.
        let p = decode("u4pruydqqvj").expect("a geohash");
        assert!((p.lat - 57.64911).abs() < 1e-4 && (p.lon - 10.40744).abs() < 1e-4, "{p:?}");
        assert_eq!(p.geohash(11), "u4pruydqqvj");
        let spain = decode("ezs42").expect("a geohash");
        assert!((spain.lat - 42.605).abs() < 0.03 && (spain.lon - -5.603).abs() < 0.03, "{spain:?}");
        assert_eq!(decode("EZS42"), Some(spain), "case does not matter");
        assert_eq!(Point { lat: 42.6, lon: -5.6 }.geohash(5), "ezs42");
        for bad in ["", "ezs4a", "u14dh!", "0123456789bcd"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn distances_are_great_circle_distances() {
        let ghent = Point { lat: 51.0543, lon: 3.7174 };
        let brussels = Point { lat: 50.8503, lon: 4.3517 };
        let d = ghent.distance_m(&brussels);
        assert!((49_000.0..50_500.0).contains(&d), "{d}");
        assert_eq!(ghent.distance_m(&ghent), 0.0);
        // Across the antimeridian: Fiji's two sides are close, not half the Earth apart.
        let (west, east) = (Point { lat: -17.0, lon: 179.9 }, Point { lat: -17.0, lon: -179.9 });
        assert!(west.distance_m(&east) < 25_000.0);
        let (north, south) = (Point { lat: 90.0, lon: 0.0 }, Point { lat: -90.0, lon: 0.0 });
        assert!((north.distance_m(&south) - 20_015_087.0).abs() < 1_000.0, "half the circumference");
    }

    #[test]
    fn places_and_distances_read_as_people_write_them() {
        assert_eq!(place("51.054, 3.717"), Ok(Point { lat: 51.054, lon: 3.717 }));
        assert_eq!(place(" u14dh "), Ok(decode("u14dh").expect("a geohash")));
        assert!(matches!(place("91,3"), Err(GeoError::OffTheMap(_))));
        for bad in ["51.0;3.7", "nan,3", "51,", "u14dk!", "ghent bridge"] {
            assert!(matches!(place(bad), Err(GeoError::NotAPlace(_))), "{bad:?}");
        }
        // Each mistake said for what it is.
        assert_eq!(place(" "), Err(GeoError::Empty));
        assert_eq!(place("51.054"), Err(GeoError::OneCoordinate("51.054".into())));
        let capitals = place("Ghent").expect_err("a name").to_string();
        assert!(
            capitals.contains("(ghent)") && capitals.contains("place names are not looked up"),
            "{capitals}"
        );
        assert!(matches!(place("U14DH"), Err(GeoError::Capitals(_))));
        // A place name in capitals is no geohash in lower case either.
        assert!(matches!(place("Oakfield"), Err(GeoError::NotAPlace(_))));
        assert_eq!(place("u14dkwxyzbcde"), Err(GeoError::TooLong("u14dkwxyzbcde".into())));
        // Names with letters of several bytes are refused, wherever a character boundary falls.
        for name in ["rue de la république", "place de l’étoile", "u14dkwxyzbcé", "zürich"] {
            assert!(matches!(place(name), Err(GeoError::NotAPlace(_))), "{name:?}");
            assert!(listing_geohash(name).is_err(), "{name:?}");
        }
        assert_eq!(listing_geohash("51.054,3.717").as_deref(), Ok("u14dkw"));
        assert_eq!(listing_geohash(" u14dh").as_deref(), Ok("u14dh"));
        assert!(listing_geohash("Ghent").is_err() && listing_geohash("U14DH").is_err());
        assert_eq!(distance("10km"), Ok(10_000));
        assert_eq!(distance("2.5 km"), Ok(2_500));
        assert_eq!(distance("800m"), Ok(800));
        assert_eq!(distance("25"), Ok(25_000));
        assert_eq!(distance("20000km"), Ok(MAX_DISTANCE_M));
        assert_eq!(distance("5mi"), Ok(8_047));
        assert_eq!(distance("5 miles"), Ok(8_047));
        assert_eq!(distance("1 Mile"), Ok(1_609));
        assert_eq!(
            distance("3,5km").map_err(|e| e.to_string()),
            Err("`3,5km`: write the decimal point as a dot, 3.5km".to_owned())
        );
        assert!(matches!(distance("3,5"), Err(GeoError::DecimalComma { .. })));
        for bad in ["ten", "5 leagues", "nankm", "infkm", ",5km", "1,000,000"] {
            assert!(matches!(distance(bad), Err(GeoError::BadDistance(_))), "{bad:?}");
        }
        // A distance, but not one to search by: said so, not "not a distance".
        for far in ["0", "-3km", "30000km", "20001km", "0.1m"] {
            assert!(matches!(distance(far), Err(GeoError::DistanceOutOfRange(_))), "{far:?}");
        }
        assert_eq!(describe_distance(847.0), "847 m");
        assert_eq!(describe_distance(4.0), "4 m");
        assert_eq!(describe_distance(999.0), "999 m");
        assert_eq!(describe_distance(1_000.0), "1 km");
        assert_eq!(describe_distance(5_000.0), "5 km");
        assert_eq!(describe_distance(9_960.0), "10 km");
        assert_eq!(describe_distance(3_240.0), "3.2 km");
        assert_eq!(describe_distance(41_400.0), "41.4 km");
        assert_eq!(describe_distance(41_000.0), "41 km");
        assert_eq!(describe_distance(123_400.0), "123 km");
        assert_eq!(DistanceUnit::Miles.describe(20_116.8), "12.5 mi", "as typed: --within 12.5mi");
    }

    proptest! {
        /// A point's geohash names a cell holding it: decoded, its middle is within half a cell
        /// of the point (about 19 m by 19 m at 8 characters).
        #[test]
        fn a_points_cell_holds_it(lat in -89.99f64..89.99, lon in -179.99f64..179.99) {
            let p = Point { lat, lon };
            let middle = decode(&p.geohash(8)).expect("a geohash");
            prop_assert!((middle.lat - lat).abs() <= 180.0 / 2f64.powi(20) / 2.0 + 1e-9);
            prop_assert!((middle.lon - lon).abs() <= 360.0 / 2f64.powi(20) / 2.0 + 1e-9);
            prop_assert_eq!(middle.geohash(8), p.geohash(8));
        }
    }
}
