//! `/v1/live/matches`: create and import matches, score them, read their scorecards.

use crate::feed::{Created, MatchListing, MatchView, Update};
use crate::service::LiveService;
use actix_web::web::{Bytes, Data, Json, Path};
use actix_web::{HttpResponse, get, post};
use cricket::{MatchEvent, MatchInfo};
use uuid::Uuid;
use web::{ApiError, Authorized, Editors, Problem};

/// Set up a match from its information: teams, format, balls per over, overs, squads,
/// toss, venue (the `cricket` crate's `MatchInfo`). Squads, when given, are enforced on
/// every ball.
#[utoipa::path(
    tag = "live",
    security(("bearer" = [])),
    request_body(content = Object, description = "Match information", example = json!({
        "teams": ["Kolkata", "Bangalore"], "format": "t20", "balls_per_over": 6, "overs": 20
    })),
    responses(
        (status = 201, description = "Created", body = Created),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: editors and admins only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_info` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/live/matches")]
pub async fn create(
    service: Data<LiveService>,
    _editor: Authorized<Editors>,
    info: Json<MatchInfo>,
) -> Result<HttpResponse, ApiError> {
    let created = service.create(info.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Import a finished match from a Cricsheet JSON file (the body is the file as is). It is
/// stored as its whole log of events, so it reads and streams like any other match.
#[utoipa::path(
    tag = "live",
    security(("bearer" = [])),
    request_body(content = Object, description = "A Cricsheet JSON match file", content_type = "application/json"),
    responses(
        (status = 201, description = "Imported", body = Created),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: editors and admins only", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`malformed_file`, `invalid_file` or `rejected_event`; the detail names the path in the file, e.g. `innings[1].overs[3].deliveries[2].runs.total`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/live/matches/import")]
pub async fn import(
    service: Data<LiveService>,
    _editor: Authorized<Editors>,
    file: Bytes,
) -> Result<HttpResponse, ApiError> {
    let created = service.import(&file).await?;
    Ok(HttpResponse::Created().json(created))
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
        (status = 503, description = "`unavailable`", body = Problem, content_type = "application/problem+json"),
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
    params(("id" = Uuid, Path, description = "The match id")),
    request_body(content = Object, description = "A match event, tagged by `type`", example = json!({
        "type": "ball", "batter": "Ganguly", "non_striker": "McCullum", "bowler": "Praveen",
        "runs": {"batter": 4, "extras": 0, "total": 4}
    })),
    responses(
        (status = 201, description = "Recorded and published", body = Update),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: editors and admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`match_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`concurrent_write`: another scorer's event was recorded first", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The match rules' code (`not_started`, `already_started`, `match_over`, `no_innings`, `innings_closed`, `innings_in_progress`, `unknown_team`, `invalid_innings`, `unknown_player`, `wrong_batter`, `too_many_wickets`, `invalid_runs`, `invalid_extras`, `invalid_wicket`, `invalid_target`, `invalid_close`, `nothing_to_undo`, `unknown_ball`, `amend_conflict`) or `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`timeout`: the event may still be recorded; check the scorecard", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/live/matches/{id}/balls")]
pub async fn submit(
    service: Data<LiveService>,
    _editor: Authorized<Editors>,
    id: Path<Uuid>,
    event: Json<MatchEvent>,
) -> Result<HttpResponse, ApiError> {
    let update = service.submit(*id, event.into_inner()).await?;
    Ok(HttpResponse::Created().json(update))
}

/// Withdraw the most recent event still in effect (usually the last ball). The undo is
/// itself an event in the log, so viewers see it like any other.
#[utoipa::path(
    tag = "live",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The match id")),
    responses(
        (status = 201, description = "Recorded and published", body = Update),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: editors and admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`match_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`concurrent_write`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`nothing_to_undo`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`timeout`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/live/matches/{id}/undo")]
pub async fn undo(
    service: Data<LiveService>,
    _editor: Authorized<Editors>,
    id: Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let update = service.submit(*id, MatchEvent::Undo).await?;
    Ok(HttpResponse::Created().json(update))
}
