//! `/v1/live/matches`: create and import matches, score them, read their scorecards.
//!
//! Scoring is safe to retry: an `Idempotency-Key` makes a resent event return the first
//! answer, and `If-Match: "<seq>"` refuses an event scored on top of one the scorer had not
//! seen. Which node takes the request does not matter: one behind another node's writes
//! catches up first. Both are read by the [`Guard`] extractor. Creating and importing a match take an
//! `Idempotency-Key` too ([`IdempotencyKey`]): a resend returns the match created first.

use crate::feed::{Created, MatchListing, MatchView, Update};
use crate::room::Guard;
use crate::service::LiveService;
use actix_web::dev::Payload;
use actix_web::web::{self as actix, Bytes, Data, Json, Path, PayloadConfig};
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post};
use cricket::{MatchEvent, MatchInfo};
use std::future::{Ready, ready};
use uuid::Uuid;
use web::idempotency::{IdempotencyKey, created_response, idempotency_key};
use web::{ApiError, Authorized, Editors, Problem};

/// Set up a match from its information: teams, format, balls per over, overs, squads,
/// toss, venue (the `cricket` crate's `MatchInfo`). Squads, when given, are enforced on
/// every ball.
#[utoipa::path(
    tag = "live",
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "The client's id for this match (1 to 128 visible ASCII characters). Sent again with the same match, the first answer comes back (header `Idempotent-Replayed: true`) and no second match is created"),
    ),
    request_body(content = Object, description = "Match information", example = json!({
        "teams": ["Kolkata", "Bangalore"], "format": "t20", "balls_per_over": 6, "overs": 20
    })),
    responses(
        (status = 201, description = "Created, or created before under this `Idempotency-Key` (then `Idempotent-Replayed: true`)", body = Created),
        (status = 400, description = "`invalid_idempotency_key`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: editors and admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency_key_reused`: the key created a different match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_info` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/live/matches")]
pub async fn create(
    service: Data<LiveService>,
    _editor: Authorized<Editors>,
    key: IdempotencyKey,
    info: Json<MatchInfo>,
) -> Result<HttpResponse, ApiError> {
    let (created, replayed) = service.create(info.into_inner(), key.0).await?;
    Ok(created_response(&created, replayed))
}

/// Import a finished match from a Cricsheet JSON file (the body is the file as is). It is
/// stored as its whole log of events, so it reads and streams like any other match.
#[utoipa::path(
    post,
    path = "/v1/live/matches/import",
    tag = "live",
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "As for creating a match: the same file sent again under it returns the first answer"),
    ),
    request_body(content = Object, description = "A Cricsheet JSON match file, up to `live.import_limit_bytes` (8 MiB by default)", content_type = "application/json"),
    responses(
        (status = 201, description = "Imported, or imported before under this `Idempotency-Key` (then `Idempotent-Replayed: true`)", body = Created),
        (status = 400, description = "`invalid_idempotency_key`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: editors and admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency_key_reused`: the key imported a different file", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`malformed_file`, `invalid_file` or `rejected_event`; the detail names the path in the file, e.g. `innings[1].overs[3].deliveries[2].runs.total`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn import(
    service: Data<LiveService>,
    _editor: Authorized<Editors>,
    key: IdempotencyKey,
    file: Bytes,
) -> Result<HttpResponse, ApiError> {
    let (created, replayed) = service.import(&file, key.0).await?;
    Ok(created_response(&created, replayed))
}

/// The import route, with a body limit of its own: a Cricsheet file of a Test match is
/// larger than the node's JSON limit, which suits every other request.
pub fn import_resource(limit: usize) -> actix_web::Resource {
    actix::resource("/v1/live/matches/import")
        .app_data(PayloadConfig::new(limit))
        .route(actix::post().to(import))
}

/// The most recent matches, newest first.
#[utoipa::path(
    tag = "live",
    responses(
        (status = 200, description = "Matches", body = Vec<MatchListing>),
        (status = 503, description = "`unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/live/matches")]
pub async fn list(service: Data<LiveService>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service.list().await?))
}

/// A match's scorecard as it stands, with the seq it reflects.
#[utoipa::path(
    tag = "live",
    params(("id" = Uuid, Path, description = "The match id")),
    responses(
        (status = 200, description = "The scorecard", body = MatchView),
        (status = 404, description = "`match_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable` (with `Retry-After` when the match's room is paused after failing repeatedly) or `overloaded` (too many requests are waiting for this match; `Retry-After: 1`)", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`timeout`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/live/matches/{id}")]
pub async fn get(service: Data<LiveService>, id: Path<Uuid>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service.view(*id).await?))
}

/// Record what happened next: a ball (`{"type": "ball", ...}`, Cricsheet's delivery
/// shape), an innings starting or closing, penalty runs, a revised target, an amendment
/// of an earlier ball, the end of the match. The event is checked against the match so
/// far; a refused one changes nothing.
#[utoipa::path(
    tag = "live",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The match id"),
        ("Idempotency-Key" = Option<String>, Header, description = "The scorer's id for this event (1 to 128 visible ASCII characters). Sent again, the first answer comes back (same seq, header `Idempotent-Replayed: true`) and nothing new is recorded"),
        ("If-Match" = Option<String>, Header, description = "The seq the scorer last saw, as `\"42\"`: the event is refused with 409 `seq_mismatch` if the match has moved on since"),
    ),
    request_body(content = Object, description = "A match event, tagged by `type`", example = json!({
        "type": "ball", "batter": "Ganguly", "non_striker": "McCullum", "bowler": "Praveen",
        "runs": {"batter": 4, "extras": 0, "total": 4}
    })),
    responses(
        (status = 201, description = "Recorded and published, or recorded before under this `Idempotency-Key` (then `Idempotent-Replayed: true`)", body = Update),
        (status = 400, description = "`invalid_idempotency_key` or `invalid_if_match`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: editors and admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`match_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`seq_mismatch`: the match is not at the `If-Match` seq; `idempotency_key_reused`: the key came with a different event", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The match rules' code (`not_started`, `already_started`, `match_over`, `no_innings`, `innings_closed`, `innings_in_progress`, `unknown_team`, `invalid_innings`, `unknown_player`, `wrong_batter`, `too_many_wickets`, `invalid_runs`, `invalid_extras`, `invalid_wicket`, `invalid_target`, `invalid_close`, `nothing_to_undo`, `unknown_ball`, `amend_conflict`) or `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: storage or the match room is away, the room is paused after failing repeatedly, or other events for the match (through other nodes) kept being recorded first and nothing was recorded; `overloaded`: too many requests are waiting for this match. Resend after `Retry-After`", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u64, description = "Seconds to wait before sending the event again"),
        )),
        (status = 504, description = "`timeout`: the event may still be recorded; check the scorecard", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/live/matches/{id}/balls")]
pub async fn submit(
    service: Data<LiveService>,
    _editor: Authorized<Editors>,
    id: Path<Uuid>,
    guard: Guard,
    event: Json<MatchEvent>,
) -> Result<HttpResponse, ApiError> {
    let recorded = service.submit(*id, event.into_inner(), guard).await?;
    Ok(created_response(&recorded.update, recorded.replayed))
}

/// Withdraw the most recent event still in effect (usually the last ball). The undo is
/// itself an event in the log, so viewers see it like any other.
#[utoipa::path(
    tag = "live",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The match id"),
        ("Idempotency-Key" = Option<String>, Header, description = "As for a ball: a resent undo withdraws nothing more"),
        ("If-Match" = Option<String>, Header, description = "The seq the scorer last saw, as `\"42\"`"),
    ),
    responses(
        (status = 201, description = "Recorded and published, or recorded before under this `Idempotency-Key` (then `Idempotent-Replayed: true`)", body = Update),
        (status = 400, description = "`invalid_idempotency_key` or `invalid_if_match`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: editors and admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`match_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`seq_mismatch` or `idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`nothing_to_undo`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: storage or the match room is away, the room is paused after failing repeatedly, or other events for the match (through other nodes) kept being recorded first and nothing was recorded; `overloaded`: too many requests are waiting for this match. Resend after `Retry-After`", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u64, description = "Seconds to wait before sending the event again"),
        )),
        (status = 504, description = "`timeout`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/live/matches/{id}/undo")]
pub async fn undo(
    service: Data<LiveService>,
    _editor: Authorized<Editors>,
    id: Path<Uuid>,
    guard: Guard,
) -> Result<HttpResponse, ApiError> {
    let recorded = service.submit(*id, MatchEvent::Undo, guard).await?;
    Ok(created_response(&recorded.update, recorded.replayed))
}

impl FromRequest for Guard {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(guard(request))
    }
}

fn guard(request: &HttpRequest) -> Result<Guard, ApiError> {
    let key = idempotency_key(request)?;
    let expected_seq = request
        .headers()
        .get("if-match")
        .map(|value| {
            value.to_str().ok().and_then(parse_if_match).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_if_match",
                    "If-Match must be the seq last seen, as \"42\"",
                )
            })
        })
        .transpose()?
        .flatten();
    Ok(Guard { key, expected_seq })
}

/// `"42"` (an entity tag, as HTTP writes them) or a bare `42` is a seq; `*` ("any") asks
/// for nothing, since an event can only be scored on a match that exists anyway.
fn parse_if_match(value: &str) -> Option<Option<i64>> {
    let value = value.trim();
    if value == "*" {
        return Some(None);
    }
    let seq = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(value);
    seq.parse::<i64>().ok().filter(|seq| *seq >= 0).map(Some)
}

#[cfg(test)]
mod tests {
    use super::parse_if_match;

    #[test]
    fn if_match_takes_a_quoted_or_bare_seq_or_any() {
        assert_eq!(parse_if_match("\"42\""), Some(Some(42)));
        assert_eq!(parse_if_match(" 7 "), Some(Some(7)));
        assert_eq!(parse_if_match("*"), Some(None));
        for bad in ["", "\"\"", "W/\"3\"", "\"-1\"", "abc", "\"4", "1, 2"] {
            assert_eq!(parse_if_match(bad), None, "{bad}");
        }
    }
}
