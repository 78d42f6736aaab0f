//! One middleware that makes every request observable: a request id (taken from
//! `X-Request-Id` when sane, else new) echoed in the response, a tracing span that joins
//! the caller's W3C trace, and a latency histogram by route template and status.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use std::time::Instant;
use tracing::Instrument;

/// The request id header, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The middleware function; mount it with `actix_web::middleware::from_fn(observe)`.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_sane_id(id))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));

    // Only standard methods become label values: actix accepts made-up ones, and every
    // distinct label value is a new time series.
    const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    let method = METHODS
        .into_iter()
        .find(|method| *method == request.method().as_str())
        .unwrap_or("other");
    // The route template (`/v1/users/{id}`), never the raw path: labels must stay bounded.
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "http.request",
        http.method = method,
        http.route = %route,
        http.status = tracing::field::Empty,
        request_id = %request_id,
    );
    telemetry::propagation::set_parent_from(&span, &Headers(request.headers()));

    let mut response = next.call(request).instrument(span.clone()).await?;

    let status = response.status();
    span.record("http.status", status.as_u16());
    let elapsed = started.elapsed();
    metrics::histogram!(
        "http_server_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => status.as_u16().to_string(),
    )
    .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(
                status = status.as_u16(),
                elapsed_ms = elapsed.as_millis() as u64,
                "request failed"
            );
        } else {
            tracing::debug!(
                status = status.as_u16(),
                elapsed_ms = elapsed.as_millis() as u64,
                "request served"
            );
        }
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

/// A client's id is echoed into logs and headers, so only short, plain ones are kept.
fn is_sane_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Request headers as a trace context carrier.
struct Headers<'a>(&'a HeaderMap);

impl telemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_request_ids_are_kept() {
        assert!(is_sane_id("0190c1c4-3b6e-7f0a-9d2e-1a2b3c4d5e6f"));
        assert!(!is_sane_id(""));
        assert!(!is_sane_id("a\r\nSet-Cookie: x"));
        assert!(!is_sane_id(&"a".repeat(65)));
    }
}
