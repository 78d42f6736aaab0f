//! Constructed inputs: the border rule, holes, malformed GeoJSON naming the feature, and
//! coordinate validation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use geofence::{FeatureRef, GeofenceError, RegionIndex};
use serde_json::{Value, json};

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])
}

fn feature(code: &str, geometry: Value) -> Value {
    json!({"type": "Feature", "properties": {"iso_3166_2": code, "name": code}, "geometry": geometry})
}

fn collection(features: Vec<Value>) -> String {
    json!({"type": "FeatureCollection", "features": features}).to_string()
}

/// West square A = lon [0, 1], east square B = lon [1, 2], both lat [0, 1]; they share the
/// edge lon = 1. `a_first` picks their order in the file.
fn squares(a_first: bool) -> RegionIndex {
    let a = feature(
        "A",
        json!({"type": "Polygon", "coordinates": [square(0.0, 0.0, 1.0, 1.0)]}),
    );
    let b = feature(
        "B",
        json!({"type": "Polygon", "coordinates": [square(1.0, 0.0, 2.0, 1.0)]}),
    );
    let features = if a_first { vec![a, b] } else { vec![b, a] };
    RegionIndex::from_geojson_str(&collection(features)).unwrap()
}

fn code(index: &RegionIndex, lat: f64, lon: f64) -> Option<String> {
    index.lookup(lat, lon).unwrap().map(|r| r.code.clone())
}

#[test]
fn interiors_resolve_to_their_square() {
    let index = squares(true);
    assert_eq!(code(&index, 0.5, 0.5).as_deref(), Some("A"));
    assert_eq!(code(&index, 0.5, 1.5).as_deref(), Some("B"));
    assert_eq!(code(&index, 0.5, 2.5), None);
    assert_eq!(code(&index, 1.5, 0.5), None);
}

#[test]
fn shared_border_goes_to_the_feature_listed_first() {
    for (a_first, winner) in [(true, "A"), (false, "B")] {
        let index = squares(a_first);
        // Midpoint of the shared edge, and both shared corners.
        for (lat, lon) in [(0.5, 1.0), (0.0, 1.0), (1.0, 1.0)] {
            assert_eq!(
                code(&index, lat, lon).as_deref(),
                Some(winner),
                "({lat}, {lon})"
            );
        }
    }
}

#[test]
fn outer_boundary_is_inside_and_just_beyond_is_outside() {
    let index = squares(true);
    assert_eq!(code(&index, 0.5, 0.0).as_deref(), Some("A"));
    assert_eq!(code(&index, 1.0, 0.5).as_deref(), Some("A"));
    assert_eq!(code(&index, 0.5, 2.0).as_deref(), Some("B"));
    assert_eq!(code(&index, 0.5, -1e-12), None);
    assert_eq!(code(&index, 0.5, 2.0 + 1e-12), None);
}

#[test]
fn holes_exclude_their_interior_but_not_their_edge_and_multipolygon_parts_all_count() {
    let ring = square(0.0, 0.0, 4.0, 4.0);
    let hole = square(1.0, 1.0, 2.0, 2.0);
    let island = square(10.0, 10.0, 11.0, 11.0);
    let donut = feature(
        "D",
        json!({"type": "MultiPolygon", "coordinates": [[ring, hole], [island]]}),
    );
    let index = RegionIndex::from_geojson_str(&collection(vec![donut])).unwrap();
    assert_eq!(code(&index, 0.5, 0.5).as_deref(), Some("D"));
    assert_eq!(code(&index, 1.5, 1.5), None, "inside the hole");
    assert_eq!(
        code(&index, 1.5, 1.0).as_deref(),
        Some("D"),
        "on the hole's edge"
    );
    assert_eq!(
        code(&index, 10.5, 10.5).as_deref(),
        Some("D"),
        "second part"
    );
    assert_eq!(code(&index, 7.0, 7.0), None, "between parts");
}

#[test]
fn lookup_rejects_invalid_coordinates() {
    let index = squares(true);
    for lat in [f64::NAN, f64::INFINITY, -90.000_001, 91.0] {
        assert!(
            matches!(
                index.lookup(lat, 0.0),
                Err(GeofenceError::InvalidLatitude(_))
            ),
            "{lat}"
        );
    }
    for lon in [f64::NAN, f64::NEG_INFINITY, 180.000_001, -181.0] {
        assert!(
            matches!(
                index.lookup(0.0, lon),
                Err(GeofenceError::InvalidLongitude(_))
            ),
            "{lon}"
        );
    }
    assert_eq!(index.lookup(90.0, 180.0).unwrap(), None);
    assert_eq!(index.lookup(-90.0, -180.0).unwrap(), None);
}

fn build_err(text: &str) -> GeofenceError {
    RegionIndex::from_geojson_str(text).unwrap_err()
}

fn good(code: &str) -> Value {
    feature(
        code,
        json!({"type": "Polygon", "coordinates": [square(0.0, 0.0, 1.0, 1.0)]}),
    )
}

#[test]
fn rejects_input_that_is_not_a_feature_collection() {
    assert!(matches!(build_err("{not json"), GeofenceError::Json(_)));
    let geometry = json!({"type": "Polygon", "coordinates": [square(0.0, 0.0, 1.0, 1.0)]});
    let e = build_err(&geometry.to_string());
    assert_eq!(
        e,
        GeofenceError::NotFeatureCollection {
            found: "Polygon".into()
        }
    );
    assert!(matches!(
        build_err("[]"),
        GeofenceError::NotFeatureCollection { .. }
    ));
    assert!(matches!(
        build_err(r#"{"type":"FeatureCollection"}"#),
        GeofenceError::NotFeatureCollection { .. }
    ));
}

#[test]
fn missing_code_names_the_feature_by_index_id_and_name() {
    let bad = json!({"type": "Feature", "id": 7, "properties": {"name": "Nowhere"},
                     "geometry": {"type": "Polygon", "coordinates": [square(0.0, 0.0, 1.0, 1.0)]}});
    let e = build_err(&collection(vec![good("A"), bad]));
    assert_eq!(
        e,
        GeofenceError::MissingCode {
            feature: FeatureRef {
                index: 1,
                id: Some("7".into()),
                name: Some("Nowhere".into())
            },
            property: "iso_3166_2".into(),
        }
    );
    let text = e.to_string();
    assert!(
        text.contains("#1") && text.contains("Nowhere") && text.contains("\"7\""),
        "{text}"
    );
    assert_eq!(e.code(), "missing_region_code");
}

#[test]
fn non_string_code_is_missing_code() {
    let bad = json!({"type": "Feature", "properties": {"iso_3166_2": 5},
                     "geometry": {"type": "Polygon", "coordinates": [square(0.0, 0.0, 1.0, 1.0)]}});
    assert!(matches!(
        build_err(&collection(vec![bad])),
        GeofenceError::MissingCode {
            feature: FeatureRef { index: 0, .. },
            ..
        }
    ));
}

#[test]
fn non_polygon_geometry_is_rejected_by_type() {
    let point = feature("P", json!({"type": "Point", "coordinates": [0.5, 0.5]}));
    match build_err(&collection(vec![good("A"), good("B"), point])) {
        GeofenceError::UnsupportedGeometry {
            feature,
            geometry_type,
        } => {
            assert_eq!(feature.index, 2);
            assert_eq!(feature.name.as_deref(), Some("P"));
            assert_eq!(geometry_type, "Point");
        }
        other => panic!("unexpected {other:?}"),
    }
    let null = feature("N", Value::Null);
    assert!(matches!(
        build_err(&collection(vec![null])),
        GeofenceError::MissingGeometry { .. }
    ));
}

#[test]
fn out_of_range_and_short_coordinates_name_the_feature_and_position() {
    let far = feature(
        "F",
        json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 95.0], [0.0, 0.0]]]}),
    );
    match build_err(&collection(vec![far])) {
        GeofenceError::InvalidGeometry { feature, problem } => {
            assert_eq!(feature.name.as_deref(), Some("F"));
            assert!(
                problem.contains("position 2") && problem.contains("latitude"),
                "{problem}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let lon = feature(
        "L",
        json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [181.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]}),
    );
    assert!(matches!(
        build_err(&collection(vec![lon])),
        GeofenceError::InvalidGeometry { .. }
    ));
    let short = feature(
        "S",
        json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]]}),
    );
    assert!(matches!(
        build_err(&collection(vec![short])),
        GeofenceError::InvalidGeometry { .. }
    ));
}

#[test]
fn nan_like_and_non_numeric_coordinates_are_malformed_features() {
    // JSON has no NaN literal; the nearest a file can get is a string or null coordinate.
    let text = r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","id":"x1","properties":{"iso_3166_2":"X","name":"Ex"},
         "geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],["NaN",1],[0,0]]]}}]}"#;
    match build_err(text) {
        GeofenceError::MalformedFeature { feature, .. } => {
            assert_eq!(feature.index, 0);
            assert_eq!(feature.id.as_deref(), Some("x1"));
            assert_eq!(feature.name.as_deref(), Some("Ex"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn duplicate_codes_are_rejected() {
    match build_err(&collection(vec![good("A"), good("A")])) {
        GeofenceError::DuplicateCode {
            feature,
            code,
            first_index,
            other_set: None,
        } => {
            assert_eq!((feature.index, code.as_str(), first_index), (1, "A", 0));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn empty_collection_is_an_empty_index() {
    let index = RegionIndex::from_geojson_str(&collection(vec![])).unwrap();
    assert!(index.is_empty());
    assert_eq!(index.lookup(0.0, 0.0).unwrap(), None);
}
