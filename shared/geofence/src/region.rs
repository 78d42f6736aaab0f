//! Region lookup: parsing a GeoJSON `FeatureCollection` of Polygon/MultiPolygon regions into a
//! [`RegionIndex`] and answering "which region contains this point?".
//!
//! # Border rule
//!
//! Regions are **closed** sets: a point on a region's outer boundary or on the boundary of
//! one of its holes belongs to that region (`geo::Intersects` semantics, evaluated with
//! robust orientation predicates, so the answer is exact for the `f64` coordinates given).
//! A point on a border shared by several regions matches all of them, and the tie goes to
//! the region whose feature comes **first in the input `features` array**. The rule is
//! deterministic and never drops a border point into "outside every region"; the rejected
//! alternative, interior-only (`Contains`) semantics, would deny a paid feature to someone
//! standing on a state line for no reason the user could understand. Regions that overlap in
//! their interiors (the shipped India file has none) are resolved by the same first-wins rule.
//!
//! # Speed
//!
//! Each polygon (each part of a MultiPolygon separately, so that e.g. island groups do not get
//! one huge box) is put in an R-tree by its bounding box; a lookup runs the exact test only on
//! polygons whose box holds the point.

use std::collections::{BTreeMap, HashMap};

use geo::{BoundingRect, Coord, Intersects, LineString, Point, Polygon};
use geojson::{GeometryValue, PolygonType};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};
use serde_json::{Map, Value};

use crate::error::{FeatureRef, GeofenceError};

/// The property that holds the region code unless [`IndexOptions`] says otherwise.
pub const DEFAULT_CODE_PROPERTY: &str = "iso_3166_2";
/// The property that holds the human-readable region name unless [`IndexOptions`] says otherwise.
pub const DEFAULT_NAME_PROPERTY: &str = "name";

/// Which feature properties carry the code and the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexOptions {
    /// Property holding the region code; required on every feature.
    pub code_property: String,
    /// Property holding the display name; optional on every feature.
    pub name_property: String,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            code_property: DEFAULT_CODE_PROPERTY.to_owned(),
            name_property: DEFAULT_NAME_PROPERTY.to_owned(),
        }
    }
}

/// One region of the index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Region {
    /// The region code, e.g. `IN-TS`.
    pub code: String,
    /// The display name, e.g. `Telangana`, when the feature has one.
    pub name: Option<String>,
}

/// One polygon of one region, as stored beside the R-tree.
#[derive(Debug)]
struct Part {
    polygon: Polygon<f64>,
    /// Index into `RegionIndex::regions`, which is also the feature's input order and so the
    /// tie-break key of the border rule.
    region: usize,
}

/// An immutable, query-only index of regions. Cheap to share behind an `Arc`: lookups take
/// `&self` and allocate nothing.
#[derive(Debug)]
pub struct RegionIndex {
    regions: Vec<Region>,
    parts: Vec<Part>,
    /// Bounding box of each entry of `parts`, carrying its index.
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    by_code: HashMap<String, usize>,
    /// Country-level regions (ISO 3166-1 alpha-2) without polygons: the countries named in
    /// the sources plus the prefix of every `XX-...` subdivision code. They answer
    /// [`RegionIndex::get`] for a location known only to country level (an IP address), and
    /// never match coordinates.
    countries: BTreeMap<String, Region>,
}

/// One input of [`RegionIndex::from_sources`]: a named GeoJSON `FeatureCollection` and the
/// properties that carry its codes and names.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The set's name, used in errors (`india`, `uploaded-2026-11`).
    pub name: &'a str,
    pub geojson: &'a [u8],
    pub options: &'a IndexOptions,
}

impl RegionIndex {
    /// Builds an index from GeoJSON text, reading codes from [`DEFAULT_CODE_PROPERTY`].
    pub fn from_geojson_str(text: &str) -> Result<Self, GeofenceError> {
        Self::from_geojson_slice_with(text.as_bytes(), &IndexOptions::default())
    }

    /// Builds an index from GeoJSON text with the given property names.
    pub fn from_geojson_str_with(
        text: &str,
        options: &IndexOptions,
    ) -> Result<Self, GeofenceError> {
        Self::from_geojson_slice_with(text.as_bytes(), options)
    }

    /// Builds an index from GeoJSON bytes with the given property names.
    pub fn from_geojson_slice_with(
        bytes: &[u8],
        options: &IndexOptions,
    ) -> Result<Self, GeofenceError> {
        let mut builder = Builder::default();
        builder.add_features(bytes, options, None)?;
        Ok(builder.build())
    }

    /// Builds one index from several region sets and a list of country codes.
    ///
    /// Sets are read in order, so the border tie-break of the module docs runs across them:
    /// the earlier set wins. A code used in two sets is refused
    /// ([`GeofenceError::DuplicateCode`] with `other_set`), as a policy override could
    /// otherwise not say which of the two it means. Errors in a set name the set.
    pub fn from_sources(
        sources: &[Source<'_>],
        countries: &[String],
    ) -> Result<Self, GeofenceError> {
        let mut builder = Builder::default();
        for source in sources {
            builder
                .add_features(source.geojson, source.options, Some(source.name))
                .map_err(|error| GeofenceError::InSet {
                    set: source.name.to_owned(),
                    error: Box::new(error),
                })?;
        }
        for code in countries {
            builder.add_country(code)?;
        }
        Ok(builder.build())
    }

    /// The region containing the point, or `None` when it is outside every region.
    /// See the module docs for the border rule. Latitude and longitude are WGS84 degrees.
    pub fn lookup(&self, lat: f64, lon: f64) -> Result<Option<&Region>, GeofenceError> {
        validate_lat_lon(lat, lon)?;
        let point = Point::new(lon, lat);
        let best = self
            .tree
            .locate_all_at_point(&[lon, lat])
            .filter_map(|entry| self.parts.get(entry.data))
            .filter(|part| part.polygon.intersects(&point))
            .map(|part| part.region)
            .min();
        Ok(best.and_then(|i| self.regions.get(i)))
    }

    /// The region or country with this exact code (codes are case-sensitive, as in the
    /// input).
    pub fn get(&self, code: &str) -> Option<&Region> {
        self.by_code
            .get(code)
            .and_then(|&i| self.regions.get(i))
            .or_else(|| self.countries.get(code))
    }

    /// The country-level regions, by code.
    pub fn countries(&self) -> impl Iterator<Item = &Region> {
        self.countries.values()
    }

    /// All regions, in input order.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Number of regions (features), not polygons.
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// True when the collection had no features.
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }
}

/// Accumulates regions from one or more sets before the R-tree is bulk-loaded once.
#[derive(Default)]
struct Builder {
    regions: Vec<Region>,
    parts: Vec<Part>,
    by_code: HashMap<String, usize>,
    /// Where each region came from (its set, its position there), for errors about codes
    /// used twice.
    origin: Vec<(Option<String>, usize)>,
    countries: BTreeMap<String, Region>,
}

impl Builder {
    fn add_features(
        &mut self,
        bytes: &[u8],
        options: &IndexOptions,
        set: Option<&str>,
    ) -> Result<(), GeofenceError> {
        // Parse to a raw JSON value first and each feature on its own, rather than the whole
        // document with `geojson::GeoJson`: one bad feature would otherwise fail the whole
        // parse with a byte offset instead of naming the feature.
        let root: Value =
            serde_json::from_slice(bytes).map_err(|e| GeofenceError::Json(e.to_string()))?;
        let features = feature_array(&root)?;
        for (index, raw) in features.iter().enumerate() {
            let feature_ref = describe(index, raw, &options.name_property);
            let (region, polygons) = parse_feature(raw, feature_ref.clone(), options)?;
            if let Some(&earlier) = self.by_code.get(&region.code) {
                let (earlier_set, first_index) = self.origin[earlier].clone();
                return Err(GeofenceError::DuplicateCode {
                    feature: feature_ref,
                    code: region.code,
                    first_index,
                    other_set: earlier_set.filter(|earlier| Some(earlier.as_str()) != set),
                });
            }
            let slot = self.regions.len();
            self.by_code.insert(region.code.clone(), slot);
            self.parts.extend(polygons.into_iter().map(|polygon| Part {
                polygon,
                region: slot,
            }));
            if let Some(country) = country_of(&region.code) {
                self.countries
                    .entry(country.to_owned())
                    .or_insert_with(|| Region {
                        code: country.to_owned(),
                        name: None,
                    });
            }
            self.regions.push(region);
            self.origin.push((set.map(str::to_owned), index));
        }
        Ok(())
    }

    fn add_country(&mut self, code: &str) -> Result<(), GeofenceError> {
        if !is_country_code(code) {
            return Err(GeofenceError::InvalidCountryCode(code.to_owned()));
        }
        self.countries
            .entry(code.to_owned())
            .or_insert_with(|| Region {
                code: code.to_owned(),
                name: None,
            });
        Ok(())
    }

    fn build(self) -> RegionIndex {
        let boxes = self
            .parts
            .iter()
            .enumerate()
            .filter_map(|(i, part)| {
                // Validation guarantees at least one finite vertex, so a box always exists;
                // skipping rather than panicking keeps that invariant local.
                let rect = part.polygon.bounding_rect()?;
                let (min, max) = (rect.min(), rect.max());
                Some(GeomWithData::new(
                    Rectangle::from_corners([min.x, min.y], [max.x, max.y]),
                    i,
                ))
            })
            .collect();
        // A country code that is also a polygon region's code is that region.
        let mut countries = self.countries;
        countries.retain(|code, _| !self.by_code.contains_key(code));
        RegionIndex {
            regions: self.regions,
            parts: self.parts,
            tree: RTree::bulk_load(boxes),
            by_code: self.by_code,
            countries,
        }
    }
}

/// The ISO 3166-1 alpha-2 country of a region code: `IN` for `IN-TS` and for `IN` itself;
/// `None` for codes of another shape, whose country is unknown.
pub fn country_of(code: &str) -> Option<&str> {
    let country = code.split_once('-').map_or(code, |(country, _)| country);
    is_country_code(country).then_some(country)
}

fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// Checks that a latitude/longitude pair is finite and within WGS84 range.
pub fn validate_lat_lon(lat: f64, lon: f64) -> Result<(), GeofenceError> {
    // `contains` is false for NaN, and infinities are out of range, so this also covers
    // "finite".
    if !(-90.0..=90.0).contains(&lat) {
        return Err(GeofenceError::InvalidLatitude(lat));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(GeofenceError::InvalidLongitude(lon));
    }
    Ok(())
}

fn feature_array(root: &Value) -> Result<&Vec<Value>, GeofenceError> {
    let found = match root.get("type") {
        Some(Value::String(t)) if t == "FeatureCollection" => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) | None if root.is_object() => Some("(missing)".to_owned()),
        _ => Some(json_kind(root).to_owned()),
    };
    if let Some(found) = found {
        return Err(GeofenceError::NotFeatureCollection { found });
    }
    match root.get("features") {
        Some(Value::Array(features)) => Ok(features),
        _ => Err(GeofenceError::NotFeatureCollection {
            found: "FeatureCollection without a features array".to_owned(),
        }),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Names a feature from its raw JSON, before it is known to be a valid feature, so that even
/// a malformed one can be reported by id and name.
fn describe(index: usize, raw: &Value, name_property: &str) -> FeatureRef {
    let id = match raw.get("id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let name = raw
        .get("properties")
        .and_then(|p| p.get(name_property))
        .and_then(Value::as_str)
        .map(str::to_owned);
    FeatureRef { index, id, name }
}

fn parse_feature(
    raw: &Value,
    feature: FeatureRef,
    options: &IndexOptions,
) -> Result<(Region, Vec<Polygon<f64>>), GeofenceError> {
    let parsed: geojson::Feature =
        serde_json::from_value(raw.clone()).map_err(|e| GeofenceError::MalformedFeature {
            feature: feature.clone(),
            message: e.to_string(),
        })?;
    let empty = Map::new();
    let properties = parsed.properties.as_ref().unwrap_or(&empty);
    let code = match properties.get(&options.code_property) {
        Some(Value::String(code)) if !code.trim().is_empty() => code.clone(),
        _ => {
            return Err(GeofenceError::MissingCode {
                feature,
                property: options.code_property.clone(),
            });
        }
    };
    let name = feature.name.clone();
    let Some(geometry) = parsed.geometry else {
        return Err(GeofenceError::MissingGeometry { feature });
    };
    let polygons = match &geometry.value {
        GeometryValue::Polygon { coordinates } => vec![to_polygon(coordinates, &feature)?],
        GeometryValue::MultiPolygon { coordinates } => coordinates
            .iter()
            .map(|p| to_polygon(p, &feature))
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(GeofenceError::UnsupportedGeometry {
                feature,
                geometry_type: other.type_name().to_owned(),
            });
        }
    };
    if polygons.is_empty() {
        return Err(GeofenceError::InvalidGeometry {
            feature,
            problem: "MultiPolygon has no polygons".to_owned(),
        });
    }
    Ok((Region { code, name }, polygons))
}

fn to_polygon(rings: &PolygonType, feature: &FeatureRef) -> Result<Polygon<f64>, GeofenceError> {
    let invalid = |problem: String| GeofenceError::InvalidGeometry {
        feature: feature.clone(),
        problem,
    };
    let mut converted = Vec::with_capacity(rings.len());
    for (ring_index, ring) in rings.iter().enumerate() {
        // RFC 7946 §3.1.6: a linear ring has at least four positions (a closed triangle).
        if ring.len() < 4 {
            return Err(invalid(format!(
                "ring {ring_index} has {} positions, at least 4 required",
                ring.len()
            )));
        }
        let mut coords = Vec::with_capacity(ring.len());
        for (position_index, position) in ring.iter().enumerate() {
            let (lon, lat) = match position.as_slice() {
                [lon, lat, ..] => (*lon, *lat),
                other => {
                    return Err(invalid(format!(
                        "ring {ring_index} position {position_index} has {} numbers, at least 2 required",
                        other.len()
                    )));
                }
            };
            validate_lat_lon(lat, lon).map_err(|e| {
                invalid(format!("ring {ring_index} position {position_index}: {e}"))
            })?;
            coords.push(Coord { x: lon, y: lat });
        }
        converted.push(LineString::new(coords));
    }
    let mut converted = converted.into_iter();
    let Some(exterior) = converted.next() else {
        return Err(invalid("polygon has no rings".to_owned()));
    };
    Ok(Polygon::new(exterior, converted.collect()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_nan_infinite_and_out_of_range() {
        assert!(validate_lat_lon(0.0, 0.0).is_ok());
        assert!(validate_lat_lon(90.0, -180.0).is_ok());
        assert!(matches!(
            validate_lat_lon(f64::NAN, 0.0),
            Err(GeofenceError::InvalidLatitude(v)) if v.is_nan()
        ));
        assert!(matches!(
            validate_lat_lon(90.0001, 0.0),
            Err(GeofenceError::InvalidLatitude(_))
        ));
        assert!(matches!(
            validate_lat_lon(0.0, f64::INFINITY),
            Err(GeofenceError::InvalidLongitude(_))
        ));
    }

    #[test]
    fn feature_ref_display_names_index_id_and_name() {
        let f = FeatureRef {
            index: 3,
            id: Some("x".into()),
            name: Some("Goa".into()),
        };
        assert_eq!(f.to_string(), r#"#3 (id "x", name "Goa")"#);
    }
}
