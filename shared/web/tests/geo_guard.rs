//! The geofence guard in front of a real actix service: refused where the feature is not
//! allowed (before the handler runs), let through with the decision where it is, from the
//! device's position header or the client's address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::http::StatusCode;
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, test, web as aweb};
use geofence::testing::MmdbWriter;
use geofence::{Decision, FeaturePolicy, Geofence, IpLocator, Policy, RegionIndex, Rule, Snapshot};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn geofence() -> Geofence {
    let index =
        RegionIndex::from_geojson_slice_with(geofence::INDIA_STATES, &Default::default()).unwrap();
    let policy = Policy::new().with_feature(
        "paid_quiz",
        FeaturePolicy::new(Rule::Allow, Rule::Deny).with_region("IN-TS", Rule::Deny),
    );
    let ip = IpLocator::from_bytes(
        MmdbWriter::new()
            .network(Ipv4Addr::new(49, 204, 0, 0), 16, "IN", Some("TS"))
            .network(Ipv4Addr::new(49, 36, 0, 0), 16, "IN", Some("MH"))
            .build(),
    )
    .unwrap();
    Geofence::new(Snapshot {
        index: Arc::new(index),
        policy: Arc::new(policy),
        ip: Some(Arc::new(ip)),
    })
}

#[actix_web::test]
async fn the_guard_refuses_before_the_handler_and_passes_the_decision_on() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let app = test::init_service(
        App::new()
            .app_data(aweb::Data::new(geofence()))
            .service(
                aweb::resource("/quiz")
                    .wrap(web::geo::guard("paid_quiz"))
                    .route(aweb::post().to(move |request: HttpRequest| {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let region = request
                            .extensions()
                            .get::<Decision>()
                            .and_then(|d| d.region.clone())
                            .unwrap_or_default();
                        async move { HttpResponse::Ok().body(region) }
                    })),
            )
            .service(
                aweb::resource("/typo")
                    .wrap(web::geo::guard("paid_quizz"))
                    .route(aweb::post().to(HttpResponse::Ok)),
            ),
    )
    .await;
    let post = |position: Option<&str>, peer: &str| {
        let mut request = test::TestRequest::post()
            .uri("/quiz")
            .peer_addr(format!("{peer}:40000").parse().unwrap());
        if let Some(position) = position {
            request = request.insert_header((web::geo::POSITION_HEADER, position));
        }
        request.to_request()
    };

    // Hyderabad by position: refused, the handler never ran.
    let response = test::call_service(&app, post(Some("17.385,78.4867"), "49.36.1.1")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body["code"], "geo_restricted");
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // Mumbai by position: through, with the decision for the handler.
    let response = test::call_service(&app, post(Some("19.076,72.8777"), "49.36.1.1")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(test::read_body(response).await, "IN-MH");

    // No position: the address decides.
    let response = test::call_service(&app, post(None, "49.204.9.9")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = test::call_service(&app, post(None, "49.36.9.9")).await;
    assert_eq!(response.status(), StatusCode::OK);

    // A malformed position is refused, not ignored.
    let response = test::call_service(&app, post(Some("somewhere"), "49.36.1.1")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = test::call_service(&app, post(Some("95,72"), "49.36.1.1")).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A route naming a feature without a policy is a server bug, not a deny.
    let typo = test::TestRequest::post().uri("/typo").to_request();
    assert_eq!(
        test::call_service(&app, typo).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}
