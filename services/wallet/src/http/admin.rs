//! `/v1/admin/ledger`: operators move money and inspect accounts.

use crate::domain::flags;
use crate::service::{WalletService, balance};
use actix_web::web::{Data, Json, Path};
use actix_web::{HttpResponse, get, post};
use contracts::wallet::{Balance, Batch, Receipt};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use web::{Admins, ApiError, Authorized, Problem};

/// An account and its four running totals.
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    /// `user:<uuid>` or `system:<name>`.
    pub owner: String,
    pub asset: String,
    pub flags: Vec<&'static str>,
    pub debits_pending: String,
    pub debits_posted: String,
    pub credits_pending: String,
    pub credits_posted: String,
    pub balance: Balance,
}

/// Commit a linked batch of transfers, holds, posts and voids: all legs or none. Every leg
/// carries a client-chosen id; resending a batch returns the first result.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    request_body = Batch,
    responses(
        (status = 201, description = "Committed", body = Receipt),
        (status = 200, description = "Seen before: the first result, nothing moved", body = Receipt),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`id_conflict` (an id reused with a different request) or `hold_resolved`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`insufficient_funds`, `limit_exceeded`, `invalid_amount`, `non_positive_amount`, `too_many_decimals`, `amount_too_large`, `unknown_asset`, `unknown_account`, `asset_mismatch`, `same_account`, `invalid_timeout`, `memo_too_long`, `hold_not_found`, `post_exceeds_hold`, `invalid_batch`, `duplicate_id` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: retry with the same ids", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/admin/ledger/transfers")]
pub async fn post_transfers(
    service: Data<WalletService>,
    _admin: Authorized<Admins>,
    batch: Json<Batch>,
) -> Result<HttpResponse, ApiError> {
    let receipt = service.execute(&batch).await?;
    Ok(if receipt.replayed {
        HttpResponse::Ok().json(receipt)
    } else {
        HttpResponse::Created().json(receipt)
    })
}

/// One account with its totals.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The account id")),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`account_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/admin/ledger/accounts/{id}")]
pub async fn account(
    service: Data<WalletService>,
    _admin: Authorized<Admins>,
    id: Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let details = service
        .account(*id)
        .await?
        .ok_or_else(|| ApiError::not_found("account_not_found", "no such account"))?;
    let asset = &details.asset;
    let totals = &details.totals;
    Ok(HttpResponse::Ok().json(AccountView {
        id: details.info.id,
        owner: details.info.owner.to_string(),
        asset: asset.code.clone(),
        flags: flags::names(details.info.flags),
        debits_pending: asset.format(totals.debits_pending),
        debits_posted: asset.format(totals.debits_posted),
        credits_pending: asset.format(totals.credits_pending),
        credits_posted: asset.format(totals.credits_posted),
        balance: balance(details.info.id, asset, totals),
    }))
}
