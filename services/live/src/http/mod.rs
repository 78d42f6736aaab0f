//! The live HTTP API: matches and their scorecards for everyone, scoring for editors and
//! admins, and the SSE stream of a match.

pub mod matches;
pub mod stream;

use crate::error::LiveError;
use crate::service::LiveService;
use actix_web::http::header;
use actix_web::web::{Data, ServiceConfig};
use actors::ActorError;
use web::ApiError;

/// The live part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        matches::create,
        matches::import,
        matches::list,
        matches::get,
        matches::submit,
        matches::undo,
        stream::stream,
    ),
    components(schemas(
        web::Problem,
        crate::feed::Update,
        contracts::live::Summary,
        contracts::live::InningsSummary,
        crate::feed::MatchView,
        crate::feed::MatchListing,
        crate::feed::Created,
    )),
    tags((name = "live", description = "Live matches: scoring, scorecards and the live stream"))
)]
pub struct LiveApi;

/// Registers the routes.
pub fn configure(config: &mut ServiceConfig, service: Data<LiveService>) {
    let import_limit = service.settings().import_limit_bytes;
    config
        .app_data(service)
        .service(matches::import_resource(import_limit))
        .service(matches::create)
        .service(matches::list)
        .service(matches::get)
        .service(matches::submit)
        .service(matches::undo)
        .service(stream::stream);
}

impl From<LiveError> for ApiError {
    fn from(error: LiveError) -> Self {
        match error {
            LiveError::NotFound => ApiError::not_found("match_not_found", "no such match"),
            LiveError::Illegal(illegal) => {
                ApiError::validation(illegal.code(), illegal.to_string())
            }
            LiveError::Import(import) => ApiError::validation(import.code(), import.to_string()),
            LiveError::KeyReused { .. } | LiveError::CreationKeyReused { .. } => {
                ApiError::conflict("idempotency_key_reused", error.to_string())
            }
            LiveError::SeqMismatch { .. } => ApiError::conflict("seq_mismatch", error.to_string()),
            LiveError::Contended => ApiError::unavailable(
                "other events for this match kept being recorded first; nothing was recorded, retry",
            )
            .with_header(header::RETRY_AFTER, "1"),
            LiveError::Storage(cause) => {
                tracing::warn!(%cause, "live storage unavailable");
                ApiError::unavailable("live scoring is unavailable; retry")
            }
            LiveError::Corrupt(cause) => ApiError::internal(cause),
            LiveError::Actor(ActorError::Timeout) => {
                ApiError::timeout("the match room did not answer in time")
            }
            LiveError::Actor(ActorError::Unavailable) => {
                ApiError::unavailable("the match room is unavailable; retry")
            }
            LiveError::Actor(ActorError::Failed(cause)) => ApiError::internal(cause),
            // Refused before reaching the room: the shared mapping, with its Retry-After.
            LiveError::Actor(
                refused @ (ActorError::Overloaded | ActorError::CircuitOpen { .. }),
            ) => ApiError::from(refused),
        }
    }
}
