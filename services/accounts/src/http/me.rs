//! `/v1/me`: the signed-in user.

use super::auth::UserView;
use crate::service::AuthService;
use actix_web::web::Data;
use actix_web::{HttpResponse, get};
use web::{ApiError, Authenticated, Problem};

/// The signed-in user's profile.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserView),
        (status = 401, description = "`missing_token`, `invalid_token`, `token_expired` or `unknown_user`", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/me")]
pub async fn me(
    service: Data<AuthService>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let user = service.user(caller.user_id()).await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}
