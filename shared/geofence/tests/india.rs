//! The shipped India fixture: 36 regions, and the 47 named points of its `validate.py`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/points.rs"]
mod points;

use geofence::{IndexOptions, RegionIndex};

const INDIA: &str = include_str!("../data/india-states.geojson");

#[test]
fn fixture_has_36_distinct_regions() {
    let index = RegionIndex::from_geojson_str(INDIA).unwrap();
    assert_eq!(index.len(), 36);
    let mut codes: Vec<&str> = index.regions().iter().map(|r| r.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), 36);
    assert!(index.regions().iter().all(|r| r.name.is_some()));
    assert_eq!(
        index.get("IN-TS").unwrap().name.as_deref(),
        Some("Telangana")
    );
    assert_eq!(index.get("IN-OD").unwrap().name.as_deref(), Some("Odisha"));
    assert!(
        index.get("IN-TG").is_none(),
        "pre-2023 code must not be the default"
    );
}

#[test]
fn all_47_named_points_resolve_as_validate_py_expects() {
    let index = RegionIndex::from_geojson_str(INDIA).unwrap();
    let failures: Vec<String> = points::POINTS
        .iter()
        .filter_map(|&(place, lat, lon, expected)| {
            let got = index.lookup(lat, lon).unwrap().map(|r| r.code.as_str());
            (got != expected)
                .then(|| format!("{place} ({lat}, {lon}): want {expected:?}, got {got:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn pre2023_codes_are_available_through_options() {
    let options = IndexOptions {
        code_property: "iso_3166_2_pre2023".into(),
        ..IndexOptions::default()
    };
    let index = RegionIndex::from_geojson_str_with(INDIA, &options).unwrap();
    assert_eq!(
        index.lookup(17.385, 78.4867).unwrap().unwrap().code,
        "IN-TG"
    );
    assert_eq!(
        index.lookup(20.2961, 85.8245).unwrap().unwrap().code,
        "IN-OR"
    );
}
