//! The geofence guard: a route opts in by feature name (`geo::guard("paid_quiz")`) and is
//! refused with 403 `geo_restricted` where that feature is not allowed.
//!
//! Where the user is comes from two places: the device's fix in `X-Geo-Position: <lat>,<lon>`
//! (WGS84 degrees, as the browser's Geolocation API or the app reports them), and the
//! client's address (the peer, or the forwarded client behind a trusted proxy) through the
//! node's IP database. [`geofence::Policy::decide_with`] reconciles the two. The live
//! [`Geofence`] is app data, registered by the service that owns policies (accounts), so a
//! policy changed there applies to every guarded route of the node at once.

use crate::ApiError;
use crate::client::{TrustedProxies, client_ip};
use crate::guard::{Check, Guard};
use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::web::Data;
use geofence::{Decision, Geofence, GeofenceError};
use std::sync::Arc;

/// The request header carrying the device's position.
pub const POSITION_HEADER: &str = "x-geo-position";

/// A guard that allows the request only where `feature` is allowed. An allowed request
/// carries the [`Decision`] in its extensions.
pub fn guard(feature: &str) -> Guard<Geofenced> {
    Guard(Geofenced {
        feature: feature.into(),
    })
}

/// The [`Check`] behind [`guard`].
#[derive(Clone, Debug)]
pub struct Geofenced {
    feature: Arc<str>,
}

impl Check for Geofenced {
    async fn check(&self, request: &ServiceRequest) -> Result<(), ApiError> {
        let Some(geofence) = request.app_data::<Data<Geofence>>() else {
            return Err(ApiError::internal(format!(
                "geofence guard for {}: geofence::Geofence is not registered as app data",
                self.feature
            )));
        };
        let position = position(request.headers())?;
        let trusted = request
            .app_data::<Data<TrustedProxies>>()
            .map(|data| Arc::clone(&data.0))
            .unwrap_or_default();
        let ip = client_ip(request.request(), &trusted);
        let decision = match geofence.check(&self.feature, position, ip) {
            Ok(decision) => decision,
            // The route names a feature no policy knows: the route is misconfigured, and
            // neither allowing nor denying would be right.
            Err(GeofenceError::UnknownFeature(feature)) => {
                return Err(ApiError::internal(format!(
                    "geofence guard: no policy for feature {feature:?}"
                )));
            }
            Err(error) => return Err(error.into()),
        };
        if !decision.allowed {
            return Err(refusal(&self.feature, &decision));
        }
        request.extensions_mut().insert(decision);
        Ok(())
    }
}

/// The 403 for a feature denied where the user is.
pub fn refusal(feature: &str, decision: &Decision) -> ApiError {
    let place = decision.region.as_deref().map_or_else(
        || "at your location".to_owned(),
        |code| format!("in {code}"),
    );
    ApiError::new(
        StatusCode::FORBIDDEN,
        "geo_restricted",
        format!("{feature} is not available {place} ({})", decision.reason),
    )
}

/// The device's position from [`POSITION_HEADER`], if sent. A header that is present but
/// not `<lat>,<lon>` in range is refused rather than ignored: silently falling back to
/// the IP would hide a client bug.
pub fn position(headers: &HeaderMap) -> Result<Option<(f64, f64)>, ApiError> {
    let Some(value) = headers.get(POSITION_HEADER) else {
        return Ok(None);
    };
    let malformed = || {
        ApiError::bad_request(
            "invalid_position",
            format!("{POSITION_HEADER} must be \"<latitude>,<longitude>\" in decimal degrees"),
        )
    };
    let text = value.to_str().map_err(|_| malformed())?;
    let (lat, lon) = text.split_once(',').ok_or_else(malformed)?;
    let lat: f64 = lat.trim().parse().map_err(|_| malformed())?;
    let lon: f64 = lon.trim().parse().map_err(|_| malformed())?;
    geofence::validate_lat_lon(lat, lon)?;
    Ok(Some((lat, lon)))
}

impl From<GeofenceError> for ApiError {
    fn from(error: GeofenceError) -> Self {
        match &error {
            GeofenceError::IpDatabase(_) => ApiError::internal(error),
            GeofenceError::InSet { error: inner, .. } => {
                ApiError::validation(inner.code(), error.to_string())
            }
            _ => ApiError::validation(error.code(), error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn parse(value: &str) -> Result<Option<(f64, f64)>, String> {
        let request = TestRequest::default()
            .insert_header((POSITION_HEADER, value))
            .to_http_request();
        position(request.headers()).map_err(|e| e.code().to_owned())
    }

    #[test]
    fn positions_parse_or_say_why_not() {
        assert_eq!(parse("17.385, 78.4867"), Ok(Some((17.385, 78.4867))));
        assert_eq!(parse("17.385"), Err("invalid_position".into()));
        assert_eq!(parse("north,east"), Err("invalid_position".into()));
        assert_eq!(parse("NaN,78"), Err("invalid_latitude".into()));
        assert_eq!(parse("91,78"), Err("invalid_latitude".into()));
        assert_eq!(parse("17,inf"), Err("invalid_longitude".into()));
        let none = TestRequest::default().to_http_request();
        assert_eq!(
            position(none.headers()).map_err(|e| e.code().to_owned()),
            Ok(None)
        );
    }
}
