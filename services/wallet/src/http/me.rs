//! `/v1/wallet`: the signed-in user's balances and history.

use crate::domain::Owner;
use crate::service::WalletService;
use actix_web::web::{Data, Query};
use actix_web::{HttpResponse, get};
use contracts::wallet::{Balances, TransferRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use web::{ApiError, Authenticated, Problem};

/// Which way a transfer moved money for this wallet.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

/// One entry of a wallet's history.
#[derive(Serialize, ToSchema)]
pub struct WalletTransaction {
    #[serde(flatten)]
    pub transfer: TransferRecord,
    pub direction: Direction,
}

/// A page of history, newest first.
#[derive(Serialize, ToSchema)]
pub struct TransactionPage {
    pub items: Vec<WalletTransaction>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TransactionQuery {
    /// Only transfers in this asset.
    pub asset: Option<String>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The caller's balances, one per asset they have ever held.
#[utoipa::path(
    tag = "wallet",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Balances per asset", body = Balances),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/wallet")]
pub async fn wallet(
    service: Data<WalletService>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let owner = Owner::User(caller.user_id().0);
    Ok(HttpResponse::Ok().json(service.balances(&owner).await?))
}

/// The caller's transfers, newest first, a page at a time.
#[utoipa::path(
    tag = "wallet",
    security(("bearer" = [])),
    params(TransactionQuery),
    responses(
        (status = 200, description = "One page of history", body = TransactionPage),
        (status = 400, description = "`invalid_query` or `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_limit` or `unknown_asset`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/wallet/transactions")]
pub async fn transactions(
    service: Data<WalletService>,
    caller: Authenticated,
    query: Query<TransactionQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation(
            "invalid_limit",
            "limit must be between 1 and 100",
        ));
    }
    let cursor =
        match &query.cursor {
            None => None,
            Some(text) => Some(text.parse::<i64>().ok().filter(|seq| *seq > 0).ok_or_else(
                || {
                    ApiError::bad_request(
                        "invalid_cursor",
                        "the cursor is not one this API gave out",
                    )
                },
            )?),
        };
    let page = service
        .history(caller.user_id().0, query.asset.as_deref(), limit, cursor)
        .await?;
    Ok(HttpResponse::Ok().json(TransactionPage {
        items: page
            .items
            .into_iter()
            .map(|(transfer, incoming)| WalletTransaction {
                transfer,
                direction: if incoming {
                    Direction::In
                } else {
                    Direction::Out
                },
            })
            .collect(),
        next_cursor: page.next_cursor.map(|seq| seq.to_string()),
    }))
}
