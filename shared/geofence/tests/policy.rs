//! Policy decisions table against the India fixture, plus config parsing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use geofence::testing::MmdbWriter;
use geofence::{
    Basis, Decision, FeaturePolicy, Geofence, GeofenceError, IndexOptions, IpLocator, Location,
    Policy, Reason, RegionIndex, Rule, Snapshot, Source,
};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

const INDIA: &str = include_str!("../data/india-states.geojson");

const HYDERABAD: Location = Location::Coordinates {
    lat: 17.385,
    lon: 78.4867,
};
const MUMBAI: Location = Location::Coordinates {
    lat: 19.076,
    lon: 72.8777,
};
const ARABIAN_SEA: Location = Location::Coordinates {
    lat: 15.0,
    lon: 70.0,
};

/// Paid quizzes: allowed by default, denied in Telangana and Andhra Pradesh, and explicitly
/// allowed in Maharashtra; denied outside. Vouchers: denied by default, allowed in Karnataka,
/// allowed outside (to show the outside rule is per feature).
fn policy() -> Policy {
    Policy::new()
        .with_feature(
            "paid_quiz",
            FeaturePolicy::new(Rule::Allow, Rule::Deny)
                .with_region("IN-TS", Rule::Deny)
                .with_region("IN-AP", Rule::Deny)
                .with_region("IN-MH", Rule::Allow),
        )
        .with_feature(
            "voucher_purchase",
            FeaturePolicy::new(Rule::Deny, Rule::Allow).with_region("IN-KA", Rule::Allow),
        )
}

/// The expected decision; its basis is filled in from the location it is checked at.
fn decision(allowed: bool, region: Option<&str>, reason: Reason) -> Decision {
    Decision {
        allowed,
        region: region.map(str::to_owned),
        reason,
        basis: Basis::None,
    }
}

fn basis_of(location: &Location) -> Basis {
    match location {
        Location::Coordinates { .. } => Basis::Coordinates,
        Location::RegionCode(_) => Basis::Ip,
        Location::Unknown => Basis::None,
    }
}

#[test]
fn decisions_table() {
    let index = RegionIndex::from_geojson_str(INDIA).unwrap();
    let policy = policy();
    let bengaluru = Location::Coordinates {
        lat: 12.9716,
        lon: 77.5946,
    };
    let code = |c: &str| Location::RegionCode(c.to_owned());
    let table: Vec<(&str, Location, Decision)> = vec![
        (
            "paid_quiz",
            HYDERABAD,
            decision(false, Some("IN-TS"), Reason::RegionDenied),
        ),
        (
            "paid_quiz",
            code("IN-AP"),
            decision(false, Some("IN-AP"), Reason::RegionDenied),
        ),
        (
            "paid_quiz",
            MUMBAI,
            decision(true, Some("IN-MH"), Reason::RegionAllowed),
        ),
        (
            "paid_quiz",
            bengaluru.clone(),
            decision(true, Some("IN-KA"), Reason::DefaultAllowed),
        ),
        (
            "paid_quiz",
            code("IN-DL"),
            decision(true, Some("IN-DL"), Reason::DefaultAllowed),
        ),
        (
            "paid_quiz",
            ARABIAN_SEA,
            decision(false, None, Reason::OutsideKnownRegions),
        ),
        (
            "paid_quiz",
            code("US-CA"),
            decision(false, None, Reason::OutsideKnownRegions),
        ),
        // The pre-2023 code is not in the default index: it must not match the IN-TS override
        // nor count as a known region.
        (
            "paid_quiz",
            code("IN-TG"),
            decision(false, None, Reason::OutsideKnownRegions),
        ),
        (
            "paid_quiz",
            Location::Unknown,
            decision(false, None, Reason::LocationUnknown),
        ),
        (
            "voucher_purchase",
            bengaluru,
            decision(true, Some("IN-KA"), Reason::RegionAllowed),
        ),
        (
            "voucher_purchase",
            HYDERABAD,
            decision(false, Some("IN-TS"), Reason::DefaultDenied),
        ),
        (
            "voucher_purchase",
            ARABIAN_SEA,
            decision(true, None, Reason::OutsideKnownRegions),
        ),
        (
            "voucher_purchase",
            Location::Unknown,
            decision(true, None, Reason::LocationUnknown),
        ),
    ];
    for (feature, location, mut want) in table {
        want.basis = basis_of(&location);
        let got = policy.decide(feature, &location, &index).unwrap();
        assert_eq!(got, want, "{feature} at {location:?}");
    }
}

#[test]
fn unknown_feature_and_bad_coordinates_are_errors() {
    let index = RegionIndex::from_geojson_str(INDIA).unwrap();
    let policy = policy();
    let e = policy.decide("free_quiz", &HYDERABAD, &index).unwrap_err();
    assert_eq!(e, GeofenceError::UnknownFeature("free_quiz".into()));
    assert_eq!(e.code(), "unknown_feature");
    let bad = Location::Coordinates {
        lat: f64::NAN,
        lon: 78.0,
    };
    assert!(matches!(
        policy.decide("paid_quiz", &bad, &index),
        Err(GeofenceError::InvalidLatitude(_))
    ));
}

#[test]
fn reasons_have_stable_snake_case_names() {
    let all = [
        (Reason::RegionAllowed, "region_allowed"),
        (Reason::RegionDenied, "region_denied"),
        (Reason::DefaultAllowed, "default_allowed"),
        (Reason::DefaultDenied, "default_denied"),
        (Reason::OutsideKnownRegions, "outside_known_regions"),
        (Reason::LocationUnknown, "location_unknown"),
        (Reason::LocationMismatch, "location_mismatch"),
    ];
    for (reason, name) in all {
        assert_eq!(reason.as_str(), name);
        assert_eq!(reason.to_string(), name);
        assert_eq!(
            serde_json::to_value(reason).unwrap(),
            serde_json::json!(name)
        );
    }
}

#[test]
fn policy_parses_from_config_and_flags_unknown_override_codes() {
    let config = r#"{"features": {
        "paid_quiz": {"default": "allow", "outside": "deny",
                      "regions": {"IN-TS": "deny", "IN-TG": "deny"}},
        "voucher_purchase": {"default": "deny", "outside": "deny"}
    }}"#;
    let parsed: Policy = serde_json::from_str(config).unwrap();
    assert_eq!(
        parsed.features["paid_quiz"],
        FeaturePolicy::new(Rule::Allow, Rule::Deny)
            .with_region("IN-TS", Rule::Deny)
            .with_region("IN-TG", Rule::Deny)
    );
    let index = RegionIndex::from_geojson_str(INDIA).unwrap();
    assert_eq!(
        parsed.unknown_region_codes(&index),
        vec![("paid_quiz", "IN-TG")]
    );

    let typo =
        r#"{"features": {"paid_quiz": {"default": "allow", "outside": "deny", "region": {}}}}"#;
    assert!(
        serde_json::from_str::<Policy>(typo).is_err(),
        "unknown fields are rejected"
    );
}

const HYDERABAD_AT: (f64, f64) = (17.385, 78.4867);
const MUMBAI_AT: (f64, f64) = (19.076, 72.8777);
/// Lahore: outside every Indian region (the fixture's claimed territory ends east of it).
const LAHORE_AT: (f64, f64) = (31.5204, 74.3587);

#[test]
fn coordinates_win_over_ip_within_a_country_and_countries_that_disagree_are_a_mismatch() {
    let index = RegionIndex::from_geojson_str(INDIA).unwrap();
    let policy = policy();
    let decide = |gps, ip| policy.decide_with("paid_quiz", gps, ip, &index).unwrap();

    // GPS in Mumbai, IP from a Telangana range: one country, the fix decides.
    let got = decide(Some(MUMBAI_AT), Some("IN-TS"));
    assert_eq!(
        (got.allowed, got.reason, got.basis),
        (true, Reason::RegionAllowed, Basis::Coordinates)
    );
    // GPS in Hyderabad, IP in Maharashtra: still the fix, and Telangana is denied.
    let got = decide(Some(HYDERABAD_AT), Some("IN-MH"));
    assert_eq!((got.allowed, got.region.as_deref()), (false, Some("IN-TS")));
    // GPS in Mumbai but the IP is in the United States: a spoofed fix or a VPN.
    let got = decide(Some(MUMBAI_AT), Some("US-CA"));
    assert_eq!((got.allowed, got.reason), (false, Reason::LocationMismatch));
    // The mismatch rule is per feature.
    let lenient = policy.clone().with_feature(
        "free_quiz",
        FeaturePolicy::new(Rule::Allow, Rule::Allow).with_mismatch(Rule::Allow),
    );
    let got = lenient
        .decide_with("free_quiz", Some(MUMBAI_AT), Some("US"), &index)
        .unwrap();
    assert_eq!((got.allowed, got.reason), (true, Reason::LocationMismatch));
    // No fix: the IP's state decides; a country-only IP resolves to the country.
    let got = decide(None, Some("IN-TS"));
    assert_eq!(
        (got.allowed, got.reason, got.basis),
        (false, Reason::RegionDenied, Basis::Ip)
    );
    let got = decide(None, Some("IN"));
    assert_eq!(
        (got.allowed, got.region.as_deref(), got.reason),
        (true, Some("IN"), Reason::DefaultAllowed)
    );
    // A foreign IP without a fix is outside every known region.
    let got = decide(None, Some("PK"));
    assert_eq!(
        (got.allowed, got.reason),
        (false, Reason::OutsideKnownRegions)
    );
    // A fix outside every region with an Indian IP is "outside", not a mismatch: only two
    // known countries can disagree.
    let got = decide(Some(LAHORE_AT), Some("IN-PB"));
    assert_eq!(
        (got.allowed, got.reason),
        (false, Reason::OutsideKnownRegions)
    );
    // Nothing at all.
    let got = decide(None, None);
    assert_eq!(
        (got.allowed, got.reason, got.basis),
        (false, Reason::LocationUnknown, Basis::None)
    );
    // A bad fix is an error even when an IP is known.
    assert!(matches!(
        policy.decide_with("paid_quiz", Some((f64::NAN, 1.0)), Some("IN"), &index),
        Err(GeofenceError::InvalidLatitude(_))
    ));
}

#[test]
fn a_country_override_covers_its_subdivisions_unless_they_have_their_own() {
    let index = RegionIndex::from_geojson_str(INDIA).unwrap();
    let policy = Policy::new().with_feature(
        "voucher_purchase",
        FeaturePolicy::new(Rule::Allow, Rule::Allow)
            .with_region("IN", Rule::Deny)
            .with_region("IN-MH", Rule::Allow),
    );
    let decide = |gps| {
        policy
            .decide_with("voucher_purchase", Some(gps), None, &index)
            .unwrap()
    };
    assert_eq!(decide(HYDERABAD_AT).reason, Reason::RegionDenied);
    assert_eq!(decide(MUMBAI_AT).reason, Reason::RegionAllowed);
    assert!(
        policy.unknown_region_codes(&index).is_empty(),
        "IN is a known country"
    );
}

#[test]
fn several_sets_make_one_index_and_a_code_in_two_sets_names_both() {
    let extra = r#"{"type": "FeatureCollection", "features": [{"type": "Feature",
        "properties": {"code": "LK-1", "name": "Western Province"},
        "geometry": {"type": "Polygon", "coordinates": [[[79.8, 6.5], [80.3, 6.5], [80.3, 7.3], [79.8, 7.3], [79.8, 6.5]]]}}]}"#;
    let extra_options = IndexOptions {
        code_property: "code".into(),
        ..IndexOptions::default()
    };
    let default_options = IndexOptions::default();
    let sources = [
        Source {
            name: "india",
            geojson: INDIA.as_bytes(),
            options: &default_options,
        },
        Source {
            name: "sri-lanka",
            geojson: extra.as_bytes(),
            options: &extra_options,
        },
    ];
    let index = RegionIndex::from_sources(&sources, &["NP".to_owned()]).unwrap();
    assert_eq!(index.len(), 37);
    assert_eq!(
        index.lookup(6.9271, 79.8612).unwrap().unwrap().code,
        "LK-1",
        "Colombo"
    );
    assert_eq!(
        index
            .lookup(HYDERABAD_AT.0, HYDERABAD_AT.1)
            .unwrap()
            .unwrap()
            .code,
        "IN-TS"
    );
    let countries: Vec<_> = index.countries().map(|c| c.code.as_str()).collect();
    assert_eq!(countries, ["IN", "LK", "NP"]);

    let clash = extra.replace("LK-1", "IN-TS");
    let sources = [
        Source {
            name: "india",
            geojson: INDIA.as_bytes(),
            options: &default_options,
        },
        Source {
            name: "upload",
            geojson: clash.as_bytes(),
            options: &extra_options,
        },
    ];
    let error = RegionIndex::from_sources(&sources, &[]).unwrap_err();
    assert_eq!(error.code(), "duplicate_region_code");
    let message = error.to_string();
    assert!(message.contains(r#"region set "upload""#), "{message}");
    assert!(message.contains(r#"of set "india""#), "{message}");

    let error = RegionIndex::from_sources(&[], &["India".to_owned()]).unwrap_err();
    assert_eq!(error.code(), "invalid_country_code");
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
fn the_ip_database_resolves_state_country_or_nothing() {
    let database = MmdbWriter::new()
        .network(Ipv4Addr::new(49, 0, 0, 0), 8, "IN", None)
        .network(Ipv4Addr::new(49, 204, 0, 0), 16, "IN", Some("TS"))
        .network(Ipv4Addr::new(8, 8, 8, 0), 24, "US", Some("CA"))
        .build();
    let locator = IpLocator::from_bytes(database).unwrap();
    assert_eq!(
        locator.region_code(ip(49, 204, 17, 3)).as_deref(),
        Some("IN-TS")
    );
    assert_eq!(locator.region_code(ip(49, 1, 2, 3)).as_deref(), Some("IN"));
    assert_eq!(
        locator.region_code(ip(8, 8, 8, 8)).as_deref(),
        Some("US-CA")
    );
    assert_eq!(locator.region_code(ip(10, 0, 0, 1)), None);
    assert_eq!(locator.region_code("2001:db8::1".parse().unwrap()), None);

    let error = IpLocator::from_bytes(b"not a database".to_vec()).unwrap_err();
    assert_eq!(error.code(), "invalid_ip_database");
}

#[test]
fn a_live_geofence_checks_with_the_ip_and_takes_a_new_policy_at_once() {
    let index = Arc::new(RegionIndex::from_geojson_str(INDIA).unwrap());
    let locator = IpLocator::from_bytes(
        MmdbWriter::new()
            .network(Ipv4Addr::new(49, 204, 0, 0), 16, "IN", Some("TS"))
            .build(),
    )
    .unwrap();
    let geofence = Geofence::new(Snapshot {
        index: Arc::clone(&index),
        policy: Arc::new(policy()),
        ip: Some(Arc::new(locator)),
    });
    let got = geofence
        .check("paid_quiz", None, Some(ip(49, 204, 1, 1)))
        .unwrap();
    assert_eq!(
        (got.allowed, got.region.as_deref(), got.basis),
        (false, Some("IN-TS"), Basis::Ip)
    );

    let mut relaxed = policy();
    relaxed
        .features
        .get_mut("paid_quiz")
        .unwrap()
        .regions
        .remove("IN-TS");
    let mut snapshot = (*geofence.snapshot()).clone();
    snapshot.policy = Arc::new(relaxed);
    geofence.replace(snapshot);
    let got = geofence
        .check("paid_quiz", None, Some(ip(49, 204, 1, 1)))
        .unwrap();
    assert_eq!((got.allowed, got.reason), (true, Reason::DefaultAllowed));
}
