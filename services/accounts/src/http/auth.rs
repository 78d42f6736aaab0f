//! `/v1/auth/*`: sign-up, login, token refresh and logout.

use crate::service::{AuthService, Session};
use crate::store::User;
use actix_web::web::{Data, Json};
use actix_web::{HttpResponse, post};
use kernel::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use web::{ApiError, Problem};

/// Credentials for sign-up and login.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "fan@example.com", "password": "cover drive at dusk"}))]
pub struct CredentialsBody {
    /// The email address (case does not matter).
    pub email: String,
    /// At least 10 characters, not a common password, not containing the email.
    pub password: String,
}

/// A refresh token, to rotate or to end its session.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "q3Vb7m0H2y9p4m1sZ8wN5k6tR0xJ3cLdE2aF7gH9iKo"}))]
pub struct RefreshBody {
    pub refresh_token: String,
}

/// A user's public profile.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a3f0-6c1e-7b7a-9f3e-2d4c5b6a7e8f",
    "email": "fan@example.com",
    "roles": ["user"],
    "created_at": "2026-11-28T14:00:00Z"
}))]
pub struct UserView {
    pub id: uuid::Uuid,
    pub email: String,
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id.0,
            email: user.email,
            roles: user.roles,
            created_at: user.created_at,
        }
    }
}

/// A session's tokens.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "user": {"id": "0193a3f0-6c1e-7b7a-9f3e-2d4c5b6a7e8f", "email": "fan@example.com", "roles": ["user"], "created_at": "2026-11-28T14:00:00Z"},
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
    "token_type": "Bearer",
    "expires_in": 900,
    "refresh_token": "q3Vb7m0H2y9p4m1sZ8wN5k6tR0xJ3cLdE2aF7gH9iKo"
}))]
pub struct TokensView {
    pub user: UserView,
    /// A JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Swap it at `/v1/auth/refresh` for a new pair; it works once.
    pub refresh_token: String,
}

impl From<Session> for TokensView {
    fn from(session: Session) -> Self {
        Self {
            user: session.user.into(),
            access_token: session.access_token,
            token_type: "Bearer",
            expires_in: session.access_expires_in,
            refresh_token: session.refresh_token,
        }
    }
}

/// Sign up with an email and a password; returns a logged-in session.
#[utoipa::path(
    tag = "auth",
    request_body = CredentialsBody,
    responses(
        (status = 201, description = "Signed up and logged in", body = TokensView),
        (status = 400, description = "`malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_email`, `weak_password` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/auth/signup")]
pub async fn sign_up(
    service: Data<AuthService>,
    body: Json<CredentialsBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let session = service
        .sign_up(&body.email, body.password, vec![Role::User])
        .await?;
    Ok(HttpResponse::Created().json(TokensView::from(session)))
}

/// Log in with an email and a password.
#[utoipa::path(
    tag = "auth",
    request_body = CredentialsBody,
    responses(
        (status = 200, description = "Logged in", body = TokensView),
        (status = 401, description = "`invalid_credentials` (unknown email and wrong password alike)", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/auth/login")]
pub async fn log_in(
    service: Data<AuthService>,
    body: Json<CredentialsBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let session = service.log_in(&body.email, body.password).await?;
    Ok(HttpResponse::Ok().json(TokensView::from(session)))
}

/// Swap a refresh token for a new access and refresh token. Each refresh token works once;
/// presenting a used one revokes the whole session.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new token pair", body = TokensView),
        (status = 401, description = "`invalid_refresh_token`, `refresh_token_reused` or `session_ended`", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/auth/refresh")]
pub async fn refresh(
    service: Data<AuthService>,
    body: Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    let session = service.refresh(&body.refresh_token).await?;
    Ok(HttpResponse::Ok().json(TokensView::from(session)))
}

/// End the session of a refresh token. Idempotent.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 204, description = "The session is ended (or was already)"),
        (status = 400, description = "`malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/auth/logout")]
pub async fn log_out(
    service: Data<AuthService>,
    body: Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    service.log_out(&body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}
