//! The wallet HTTP API: a user's own wallet, and the ledger for operators.

pub mod admin;
pub mod me;

use crate::domain::LedgerError;
use crate::service::WalletService;
use actix_web::web::{Data, ServiceConfig};
use web::ApiError;

/// The wallet part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(me::wallet, me::transactions, admin::post_transfers, admin::account),
    components(schemas(web::Problem)),
    tags(
        (name = "wallet", description = "A user's balances and history"),
        (name = "ledger", description = "The double-entry ledger, for operators"),
    )
)]
pub struct WalletApi;

/// Registers the routes.
pub fn configure(config: &mut ServiceConfig, service: Data<WalletService>) {
    config
        .app_data(service)
        .service(me::wallet)
        .service(me::transactions)
        .service(admin::post_transfers)
        .service(admin::account);
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        let code = error.code();
        match error {
            LedgerError::IdConflict(_) | LedgerError::HoldResolved(_) => {
                ApiError::conflict(code, error.to_string())
            }
            LedgerError::Unavailable(ref cause) => {
                tracing::warn!(%cause, "ledger unavailable");
                // Every cause is passing (a busy wallet actor or node, a paused key, a
                // database blip): a second is the shortest wait that is not a hot loop.
                ApiError::unavailable("the ledger is unavailable; retry with the same ids")
                    .with_header(actix_web::http::header::RETRY_AFTER, "1")
            }
            _ => ApiError::validation(code, error.to_string()),
        }
    }
}
