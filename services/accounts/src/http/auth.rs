//! `/v1/auth/*`: sign-up, login, token refresh and logout.
//!
//! Sign-up and login need a solved captcha (`X-Captcha-Token`) for their action, and
//! sign-up, login and refresh count against the `auth` rate limit of the caller's address.
//! Each route lists its guards innermost first (actix's `wrap` order), so the rate limit
//! is outermost: it counts every attempt, captcha refusals included, and a client over its
//! limit is refused before its token costs a call to the captcha provider.

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
    params(
        ("X-Captcha-Token" = Option<String>, Header, description = "The captcha widget's token, solved for action `signup`; required unless captcha is off (`captcha.enabled = false`, the embedded default)"),
    ),
    responses(
        (status = 201, description = "Signed up and logged in", body = TokensView, headers(
            ("RateLimit-Limit" = u32, description = "Requests allowed per window (group `auth`, per address)"),
            ("RateLimit-Remaining" = u32, description = "Requests left before `rate_limited`"),
            ("RateLimit-Reset" = u64, description = "Seconds until the allowance is full again"),
            ("RateLimit-Policy" = String, description = "`limit;w=window_seconds`"),
        )),
        (status = 400, description = "`malformed_json`, or the captcha must be solved again: `captcha_required`, `captcha_invalid`, `captcha_replayed` or `captcha_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`captcha_low_score`, `captcha_action_mismatch` or `captcha_hostname_mismatch`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_email`, `weak_password` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many attempts from this address (group `auth`)", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u64, description = "Seconds until the next attempt is admitted"),
            ("RateLimit-Limit" = u32, description = "Requests allowed per window"),
            ("RateLimit-Remaining" = u32, description = "Always 0"),
            ("RateLimit-Reset" = u64, description = "Seconds until the allowance is full again"),
            ("RateLimit-Policy" = String, description = "`limit;w=window_seconds`"),
        )),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`captcha_unavailable`: the captcha provider did not answer (sign-up fails closed) or refused our secret; or `unavailable`: the rate limit store did not answer and `ratelimit.on_outage` is `fail_closed`", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u64, description = "Seconds to wait before trying again"),
        )),
    )
)]
#[post(
    "/v1/auth/signup",
    wrap = "captcha::guard_from_app_data(captcha::actions::SIGNUP)",
    wrap = "ratelimit::Guard::from_app_data(ratelimit::groups::AUTH, ratelimit::Key::Ip)"
)]
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
    params(
        ("X-Captcha-Token" = Option<String>, Header, description = "The captcha widget's token, solved for action `login`; required unless captcha is off (`captcha.enabled = false`, the embedded default)"),
    ),
    responses(
        (status = 200, description = "Logged in", body = TokensView, headers(
            ("RateLimit-Limit" = u32, description = "Requests allowed per window (group `auth`, per address)"),
            ("RateLimit-Remaining" = u32, description = "Requests left before `rate_limited`"),
            ("RateLimit-Reset" = u64, description = "Seconds until the allowance is full again"),
            ("RateLimit-Policy" = String, description = "`limit;w=window_seconds`"),
        )),
        (status = 401, description = "`invalid_credentials` (unknown email and wrong password alike)", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`malformed_json`, or the captcha must be solved again: `captcha_required`, `captcha_invalid`, `captcha_replayed` or `captcha_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`captcha_low_score`, `captcha_action_mismatch` or `captcha_hostname_mismatch`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many attempts from this address (group `auth`)", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u64, description = "Seconds until the next attempt is admitted"),
            ("RateLimit-Limit" = u32, description = "Requests allowed per window"),
            ("RateLimit-Remaining" = u32, description = "Always 0"),
            ("RateLimit-Reset" = u64, description = "Seconds until the allowance is full again"),
            ("RateLimit-Policy" = String, description = "`limit;w=window_seconds`"),
        )),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`captcha_unavailable`: the captcha provider did not answer and login fails closed (by default it fails open: `captcha.actions.login.on_outage`), or it refused our secret; or `unavailable`: the rate limit store did not answer and `ratelimit.on_outage` is `fail_closed`", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u64, description = "Seconds to wait before trying again"),
        )),
    )
)]
#[post(
    "/v1/auth/login",
    wrap = "captcha::guard_from_app_data(captcha::actions::LOGIN)",
    wrap = "ratelimit::Guard::from_app_data(ratelimit::groups::AUTH, ratelimit::Key::Ip)"
)]
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
        (status = 200, description = "A new token pair", body = TokensView, headers(
            ("RateLimit-Limit" = u32, description = "Requests allowed per window (group `auth`, per address)"),
            ("RateLimit-Remaining" = u32, description = "Requests left before `rate_limited`"),
            ("RateLimit-Reset" = u64, description = "Seconds until the allowance is full again"),
            ("RateLimit-Policy" = String, description = "`limit;w=window_seconds`"),
        )),
        (status = 401, description = "`invalid_refresh_token`, `refresh_token_reused` or `session_ended`", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many attempts from this address (group `auth`)", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u64, description = "Seconds until the next attempt is admitted"),
            ("RateLimit-Limit" = u32, description = "Requests allowed per window"),
            ("RateLimit-Remaining" = u32, description = "Always 0"),
            ("RateLimit-Reset" = u64, description = "Seconds until the allowance is full again"),
            ("RateLimit-Policy" = String, description = "`limit;w=window_seconds`"),
        )),
        (status = 500, description = "`internal`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: the rate limit store did not answer and `ratelimit.on_outage` is `fail_closed`", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u64, description = "Seconds to wait before trying again"),
        )),
    )
)]
#[post(
    "/v1/auth/refresh",
    wrap = "ratelimit::Guard::from_app_data(ratelimit::groups::AUTH, ratelimit::Key::Ip)"
)]
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
