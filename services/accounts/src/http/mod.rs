//! The accounts HTTP API: one file per resource, handlers that parse, call the service
//! once and map the answer. The guards in front of them (captcha, rate limits) are declared
//! on the routes and find what they need in the app data registered here.

pub mod auth;
pub mod geo;
pub mod me;

use crate::geo::GeoService;
use crate::service::{AuthError, AuthService};
use actix_web::web::{Data, PayloadConfig, ServiceConfig, delete, put, resource};
use ratelimit::{Key, groups};
use web::ApiError;

/// The accounts part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        auth::sign_up, auth::log_in, auth::refresh, auth::log_out, me::me,
        geo::check, geo::list_policies, geo::put_policy, geo::delete_policy,
        geo::list_region_sets, geo::put_region_set, geo::delete_region_set, geo::audit,
    ),
    components(schemas(web::Problem)),
    tags(
        (name = "auth", description = "Sign-up, login and sessions"),
        (name = "geo", description = "Geofencing: where a feature may be used, and its policies"),
    )
)]
pub struct AccountsApi;

/// What stands in front of the routes bots target, built once at start so every HTTP
/// worker shares one replay memory and one set of counts.
#[derive(Clone, Debug)]
pub struct Protection {
    /// Checks `X-Captcha-Token` on sign-up and login.
    pub captcha: captcha::Verifier,
    /// Counts sign-up, login and refresh per client address (group `auth`).
    pub limits: ratelimit::Limiter,
}

impl Protection {
    /// Checks the settings have every quota the routes' guards ask for. The guards are
    /// declared in attribute macros and look their quota up per request, where a missing
    /// one would be a 500 on every call; here it stops the node at start instead.
    pub fn check(&self) -> Result<(), ratelimit::RateLimitError> {
        self.limits.quota(groups::AUTH, Key::Ip).map(drop)
    }
}

/// Registers the routes, and the verifier, limiter and live geofence their guards (and
/// every other service's routes on the node) use.
pub fn configure(
    config: &mut ServiceConfig,
    service: Data<AuthService>,
    geo: Data<GeoService>,
    protection: &Protection,
) {
    config
        .app_data(service)
        .app_data(Data::from(geo.live()))
        .app_data(geo)
        .app_data(Data::new(protection.captcha.clone()))
        .app_data(Data::new(protection.limits.clone()))
        .service(auth::sign_up)
        .service(auth::log_in)
        .service(auth::refresh)
        .service(auth::log_out)
        .service(me::me)
        .service(geo::check)
        .service(geo::list_policies)
        .service(geo::put_policy)
        .service(geo::delete_policy)
        .service(geo::list_region_sets)
        .service(geo::audit)
        .service(
            resource("/v1/admin/geo/regions/{set}")
                // Region sets are GeoJSON files far above the JSON body limit.
                .app_data(PayloadConfig::new(geo::MAX_REGION_SET_BYTES))
                .route(put().to(geo::put_region_set))
                .route(delete().to(geo::delete_region_set)),
        );
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
