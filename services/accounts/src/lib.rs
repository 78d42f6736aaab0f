//! Accounts: users, credentials, sessions and roles.
//!
//! Owns the `accounts_*` tables. Issues short-lived JWT access tokens (verified everywhere
//! by `web::Authenticated` with no call back here) and opaque refresh tokens, stored only
//! as hashes and rotated on every use; presenting an already-rotated refresh token revokes
//! its whole session, since it means a copy is in someone else's hands.
//!
//! Sign-up and login sit behind a captcha (`[captcha]`, off in the embedded default) and,
//! with refresh, behind the `auth` rate limit per client address (`[ratelimit]`); both
//! refuse before a handler runs, so a refused request never costs a password hash.
//!
//! It also owns geofencing ([`geo`]): the feature policies and region sets admins change at
//! runtime, `POST /v1/geo/check`, and the node's live `geofence::Geofence` that
//! `web::geo::guard` reads on any service's routes.
//!
//! It knows no other service: what others need (a user signed up) goes out on the bus as
//! events typed in `contracts`.

pub mod domain;
pub mod geo;
pub mod http;
mod migration;
pub mod service;
pub mod store;

use anyhow::Context as _;
use runtime::{Context, Module, Routes};
use std::sync::Arc;
use utoipa::OpenApi as _;

pub use service::{AuthError, AuthService, add_user};
pub use store::User;

/// The accounts service, as the node mounts it.
pub struct Accounts;

#[async_trait::async_trait]
impl Module for Accounts {
    fn name(&self) -> &'static str {
        "accounts"
    }

    fn migrations(&self) -> Option<storage::Migrations> {
        Some(storage::Migrations::of::<migration::Migrator>("accounts"))
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        http::AccountsApi::openapi()
    }

    async fn start(&self, context: &Context) -> anyhow::Result<Routes> {
        let service = actix_web::web::Data::new(AuthService::from_context(context));
        let protection = http::Protection {
            captcha: captcha::Verifier::new(context.section("captcha")?)
                .context("the [captcha] settings")?,
            limits: ratelimit::Limiter::from_config(context.section("ratelimit")?)
                .await
                .context("the [ratelimit] settings")?,
        };
        protection.check()?;
        let geo = geo::GeoService::start(
            context.db.clone(),
            context.bus.clone(),
            context.section("geofence")?,
        )
        .await
        .context("the [geofence] settings")?;
        let stop = Arc::new(tokio::sync::Notify::new());
        let follower = tokio::spawn(geo.clone().follow_changes(Arc::clone(&stop)));
        context
            .supervise("accounts-geofence", follower, Some(stop))
            .await?;
        let geo = actix_web::web::Data::new(geo);
        Ok(Arc::new(move |config| {
            http::configure(config, service.clone(), geo.clone(), &protection)
        }))
    }
}
