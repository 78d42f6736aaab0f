//! Extractor configuration that turns actix's own rejections of a request (bad JSON, wrong
//! types, missing fields, oversized bodies, unparsable paths and queries) into problems.
//!
//! Handlers keep using `web::Json`, `web::Path` and `web::Query`; the node registers these
//! configs as app data once.

use crate::error::ApiError;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::web;

/// JSON bodies up to `limit` bytes; anything wrong with one is a problem with a clear code.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|error, _request| json_error(error).into())
}

fn json_error(error: JsonPayloadError) -> ApiError {
    match error {
        JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is {length} bytes; the limit is {limit}"),
        ),
        JsonPayloadError::Overflow { limit } => ApiError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be application/json",
        ),
        // Well-formed JSON of the wrong shape: a missing field, a wrong type, a bad value.
        JsonPayloadError::Deserialize(error) if error.is_data() => {
            ApiError::validation("invalid_body", error.to_string())
        }
        JsonPayloadError::Deserialize(error) => {
            ApiError::bad_request("malformed_json", error.to_string())
        }
        other => ApiError::bad_request("malformed_body", other.to_string()),
    }
}

/// Path segments that do not parse (e.g. an id that is not a UUID).
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _request| {
        let detail = match &error {
            PathError::Deserialize(error) => error.to_string(),
            other => other.to_string(),
        };
        ApiError::bad_request("invalid_path", detail).into()
    })
}

/// Query strings that do not parse.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _request| {
        let detail = match &error {
            QueryPayloadError::Deserialize(error) => error.to_string(),
            other => other.to_string(),
        };
        ApiError::bad_request("invalid_query", detail).into()
    })
}
