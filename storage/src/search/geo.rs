//! Where listings are: a listing's point as the index keeps it, and the distance filter.

use super::*;

/// A point as the index keeps it: latitude and longitude each as 32-bit fixed point, latitude in
/// the high half (one fast-field value a listing, read once per candidate).
pub(super) fn pack(p: Point) -> u64 {
    let scale = |v: f64, span: f64| ((v + span / 2.0) / span * f64::from(u32::MAX)).round() as u64;
    // The north pole on the antimeridian would be [`NO_POINT`]: a millimetre away it is not.
    (scale(p.lat, 180.0) << 32 | scale(p.lon, 360.0)).min(NO_POINT - 1)
}

/// The point of a listing without a geohash. Every document has a value, so the column is read
/// directly by document (an optional column costs a rank lookup per read).
pub(super) const NO_POINT: u64 = u64::MAX;

/// A document's point, if its listing has one.
pub(super) fn point_of(
    column: Option<&tantivy::columnar::Column<u64>>,
    doc: tantivy::DocId,
) -> Option<Point> {
    column.and_then(|c| c.first(doc)).filter(|&p| p != NO_POINT).map(unpack)
}

pub(super) fn unpack(v: u64) -> Point {
    let unscale = |x: u64, span: f64| x as f64 / f64::from(u32::MAX) * span - span / 2.0;
    Point { lat: unscale(v >> 32, 180.0), lon: unscale(v & u64::from(u32::MAX), 360.0) }
}

/// The segment's column of listing points, if it has one.
pub(super) fn point_column(segment: &tantivy::SegmentReader) -> Option<tantivy::columnar::Column<u64>> {
    segment.fast_fields().u64(POINT_FIELD).ok()
}

/// Runs `query` into `collector`, keeping only the listings within `around` if given: the
/// query holds the band of latitudes the distance spans (a range on the point's column, which
/// tantivy scans fast), and each document it matches is measured here, once. As a clause of the
/// query instead (tantivy's `DocPredicateQuery`), the same measure made a one-word search within
/// 25 km take twice as long at 100,000 listings.
pub(super) fn collect<C: tantivy::collector::Collector>(
    searcher: &Searcher,
    query: &dyn Query,
    around: Option<Around>,
    collector: C,
) -> Result<C::Fruit, SearchError> {
    let Some(around) = around else { return searcher.search(query, &collector).map_err(index_err) };
    let reach = Reach::new(around);
    let within = move |p: u64| p != NO_POINT && reach.contains(unpack(p));
    let filtered = tantivy::collector::FilterCollector::new(POINT_FIELD.to_owned(), within, collector);
    searcher.search(query, &filtered).map_err(index_err)
}

/// Metres along a meridian per degree of latitude, on the sphere distances are measured on.
const METRES_PER_DEGREE: f64 = 111_195.08;

/// A distance filter with the box around its circle: a point outside the box is refused by two
/// comparisons, and only one inside it is measured (the box holds the circle, so it refuses
/// nothing the distance would keep).
#[derive(Debug, Clone, Copy)]
pub(super) struct Reach {
    around: Around,
    /// Latitudes the circle spans.
    lat: (f64, f64),
    /// How far east and west of the place the circle reaches, in degrees; None when it holds a
    /// pole or spans every longitude.
    lon: Option<f64>,
}

impl Reach {
    pub(super) fn new(around: Around) -> Reach {
        let from = around.from;
        // A hair wider than the circle, for rounding.
        let metres = f64::from(around.within_m) * 1.000_001 + 1.0;
        // The circle's angular radius, in degrees: as many degrees of latitude either way.
        let angle = metres / METRES_PER_DEGREE;
        let lat = (from.lat - angle, from.lat + angle);
        // East and west, the widest point of a circle on a sphere is asin(sin r / cos lat).
        let reach = angle.to_radians().sin() / from.lat.to_radians().cos();
        let lon =
            (lat.0 > -90.0 && lat.1 < 90.0 && angle < 90.0 && reach < 1.0).then(|| reach.asin().to_degrees());
        Reach { around, lat, lon }
    }

    /// The packed points of the latitudes the circle spans, lowest and highest: a range on the
    /// point's column that holds every listing within reach (and none without a point).
    pub(super) fn band(&self) -> (u64, u64) {
        let at = |lat: f64| pack(Point { lat: lat.clamp(-90.0, 90.0), lon: -180.0 });
        (at(self.lat.0), (at(self.lat.1) | u64::from(u32::MAX)).min(NO_POINT - 1))
    }

    pub(super) fn contains(&self, p: Point) -> bool {
        if p.lat < self.lat.0 || p.lat > self.lat.1 {
            return false;
        }
        if let Some(dlon) = self.lon {
            let apart = (p.lon - self.around.from.lon).abs();
            if apart.min(360.0 - apart) > dlon {
                return false;
            }
        }
        self.around.from.distance_m(&p) <= f64::from(self.around.within_m)
    }
}
