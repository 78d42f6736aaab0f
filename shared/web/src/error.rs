//! The one error type of every HTTP route, rendered as RFC 9457 `application/problem+json`.
//!
//! Every problem carries a stable, snake_case `code` that clients branch on; `title` and
//! `detail` are for people and may change. Server errors log their cause and show nothing
//! of it.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
#[schema(example = json!({
    "type": "urn:problem:insufficient_funds",
    "title": "Unprocessable Entity",
    "status": 422,
    "code": "insufficient_funds",
    "detail": "the wallet holds 40 COIN, the transfer needs 50 COIN"
}))]
pub struct Problem {
    /// `urn:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP reason phrase of `status`.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Stable machine-readable error code (snake_case).
    pub code: String,
    /// What went wrong, for a person.
    pub detail: String,
    /// Per-field problems of a rejected body, when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// The field's name (a JSON pointer-ish path like `password`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An error a route returns. Build it with the constructors; each fixes the status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    detail: String,
    errors: Vec<FieldError>,
    headers: Vec<(header::HeaderName, String)>,
}

impl ApiError {
    /// An error with any status. Prefer the named constructors.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// 400: the request cannot be read at all.
    pub fn bad_request(code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 422: the request was read but breaks a rule.
    pub fn validation(code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 401: no valid credentials. Carries `WWW-Authenticate: Bearer`.
    pub fn unauthorized(code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
            .with_header(header::WWW_AUTHENTICATE, "Bearer")
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404.
    pub fn not_found(code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 409: the request conflicts with what exists (duplicate, replay with another body).
    pub fn conflict(code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 503: a dependency (an actor's mailbox, the database, the bus) is not there.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// 504: a dependency did not answer in time.
    pub fn timeout(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", detail)
    }

    /// 500. The cause is logged here and never shown to the client.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it has been logged",
        )
    }

    /// Adds per-field details.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// Adds a response header (e.g. `Retry-After`, `Allow`).
    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The body this error renders.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            code: self.code.to_string(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponseBuilder::new(self.status);
        response.content_type(PROBLEM_JSON);
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.as_str()));
        }
        response.json(self.problem())
    }
}

impl From<actors::ActorError> for ApiError {
    /// A dead mailbox is 503 `unavailable`, a call that timed out 504, a crash mid-call 500
    /// (the request may or may not have taken effect; the caller retries with the same
    /// idempotency key).
    ///
    /// The two refusals are 503 with a `Retry-After` (whole seconds, at least 1), and in
    /// both the request never reached the actor, so a retry is always safe:
    /// - a full mailbox is `overloaded`, `Retry-After: 1`: its own code, because the
    ///   client's remedy differs (slow down, spread its load) and operators alert on it
    ///   apart from outages;
    /// - a key whose circuit is open (it crashed in a loop) is `unavailable` with the time
    ///   left until it is tried again. Not a code of its own: for the client it is exactly
    ///   "this is down, come back after `Retry-After`", which `unavailable` already means
    ///   on every route; the detail says why, and the crash is the operators' business
    ///   (logged and counted by the actors crate).
    fn from(error: actors::ActorError) -> Self {
        match error {
            actors::ActorError::Unavailable => {
                ApiError::unavailable("the actor serving this request is unavailable; retry")
            }
            actors::ActorError::Overloaded => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "too many requests are waiting for this resource; retry after Retry-After",
            )
            .with_header(header::RETRY_AFTER, "1"),
            actors::ActorError::CircuitOpen { retry_after } => ApiError::unavailable(
                "this resource keeps failing and is paused; retry after Retry-After",
            )
            .with_header(
                header::RETRY_AFTER,
                retry_after_seconds(retry_after).to_string(),
            ),
            actors::ActorError::Timeout => {
                ApiError::timeout("the actor serving this request did not answer in time")
            }
            actors::ActorError::Failed(reason) => ApiError::internal(reason),
        }
    }
}

/// `Retry-After` in whole seconds: rounded up (retrying early only meets the same
/// refusal) and at least 1 (0 would invite a hot retry loop).
fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    let whole = wait.as_secs();
    let seconds = if wait.subsec_nanos() > 0 {
        whole.saturating_add(1)
    } else {
        whole
    };
    seconds.max(1)
}

/// The stable code for a bare status (used where actix itself rejects a request).
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        StatusCode::GATEWAY_TIMEOUT => "timeout",
        status if status.is_server_error() => "internal",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn errors_render_as_problem_json() {
        let response = ApiError::validation("weak_password", "too short").error_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_JSON
        );
        let body = to_bytes(response.into_body()).await.unwrap();
        let problem: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem.code, "weak_password");
        assert_eq!(problem.status, 422);
        assert_eq!(problem.kind, "urn:problem:weak_password");
    }

    #[test]
    fn actor_failures_map_to_gateway_statuses() {
        let status = |error| ApiError::from(error).status_code().as_u16();
        assert_eq!(status(actors::ActorError::Unavailable), 503);
        assert_eq!(status(actors::ActorError::Timeout), 504);
        assert_eq!(status(actors::ActorError::failed("boom")), 500);
    }

    #[actix_web::test]
    async fn actor_errors_render_status_code_and_retry_after() {
        use std::time::Duration;
        let cases = [
            (actors::ActorError::Unavailable, 503, "unavailable", None),
            (actors::ActorError::Overloaded, 503, "overloaded", Some("1")),
            (
                actors::ActorError::CircuitOpen {
                    retry_after: Duration::from_millis(1500),
                },
                503,
                "unavailable",
                Some("2"),
            ),
            (
                actors::ActorError::CircuitOpen {
                    retry_after: Duration::from_secs(300),
                },
                503,
                "unavailable",
                Some("300"),
            ),
            // Never "retry after 0 s": that invites a hot loop against an open circuit.
            (
                actors::ActorError::CircuitOpen {
                    retry_after: Duration::ZERO,
                },
                503,
                "unavailable",
                Some("1"),
            ),
            (actors::ActorError::Timeout, 504, "timeout", None),
            (actors::ActorError::failed("boom"), 500, "internal", None),
        ];
        for (error, status, code, retry_after) in cases {
            let shown = format!("{error:?}");
            let response = ApiError::from(error).error_response();
            assert_eq!(response.status().as_u16(), status, "{shown}");
            assert_eq!(
                response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .map(|value| value.to_str().unwrap().to_owned())
                    .as_deref(),
                retry_after,
                "{shown}"
            );
            let body = to_bytes(response.into_body()).await.unwrap();
            let problem: Problem = serde_json::from_slice(&body).unwrap();
            assert_eq!(problem.code, code, "{shown}");
            assert_eq!(problem.status, status);
        }
    }

    #[actix_web::test]
    async fn internal_errors_hide_their_cause() {
        let response = ApiError::internal("password column is NULL for user 42").error_response();
        let body = to_bytes(response.into_body()).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("password column"));
        assert!(text.contains("\"code\":\"internal\""));
    }
}
