//! Policy decisions table against the India fixture, plus config parsing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use geofence::{
    Decision, FeaturePolicy, GeofenceError, Location, Policy, Reason, RegionIndex, Rule,
};

const INDIA: &str = include_str!("fixtures/india-states.geojson");

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

fn decision(allowed: bool, region: Option<&str>, reason: Reason) -> Decision {
    Decision {
        allowed,
        region: region.map(str::to_owned),
        reason,
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
    for (feature, location, want) in table {
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
