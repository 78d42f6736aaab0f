//! The accounts HTTP API: one file per resource, handlers that parse, call the service
//! once and map the answer.

pub mod auth;
pub mod me;

use crate::service::{AuthError, AuthService};
use actix_web::web::{Data, ServiceConfig};
use web::ApiError;

/// The accounts part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(auth::sign_up, auth::log_in, auth::refresh, auth::log_out, me::me),
    components(schemas(web::Problem)),
    tags((name = "auth", description = "Sign-up, login and sessions"))
)]
pub struct AccountsApi;

/// Registers the routes.
pub fn configure(config: &mut ServiceConfig, service: Data<AuthService>) {
    config
        .app_data(service)
        .service(auth::sign_up)
        .service(auth::log_in)
        .service(auth::refresh)
        .service(auth::log_out)
        .service(me::me);
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Credentials(error) => {
                let code = match error {
                    crate::domain::credentials::CredentialError::InvalidEmail => "invalid_email",
                    _ => "weak_password",
                };
                ApiError::validation(code, error.to_string())
            }
            AuthError::EmailTaken => ApiError::conflict("email_taken", error.to_string()),
            AuthError::InvalidCredentials => {
                ApiError::unauthorized("invalid_credentials", error.to_string())
            }
            AuthError::InvalidRefreshToken => {
                ApiError::unauthorized("invalid_refresh_token", error.to_string())
            }
            AuthError::RefreshTokenReused => {
                ApiError::unauthorized("refresh_token_reused", error.to_string())
            }
            AuthError::SessionEnded => ApiError::unauthorized("session_ended", error.to_string()),
            AuthError::UnknownUser => ApiError::unauthorized("unknown_user", error.to_string()),
            AuthError::Db(error) => ApiError::internal(error),
            AuthError::Hashing(error) => ApiError::internal(error),
        }
    }
}
