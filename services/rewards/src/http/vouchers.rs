//! `/v1/vouchers` (the catalog, purchases) and `/v1/me/vouchers` (what a user holds).

use crate::catalog::{Catalog, PurchaseView, SkuView, VoucherView};
use actix_web::web::{Data, Path};
use actix_web::{HttpResponse, get, post};
use web::idempotency::{IdempotencyKey, created_response};
use web::{ApiError, Authenticated, Problem};

/// The voucher catalog: SKUs on sale, by brand, with what is left.
#[utoipa::path(
    tag = "vouchers",
    responses((status = 200, description = "The catalog", body = Vec<SkuView>))
)]
#[get("/v1/vouchers")]
pub async fn list_catalog(catalog: Data<Catalog>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(catalog.list().await?))
}

/// Buy one voucher with coins. One code is set aside for you (never for two buyers, even
/// for the last code), then paid for; it shows in `/v1/me/vouchers` and its code is
/// revealed when you redeem it.
#[utoipa::path(
    tag = "vouchers",
    security(("bearer" = [])),
    params(
        ("sku" = String, Path, description = "The SKU"),
        ("Idempotency-Key" = String, Header, description = "Your id for this purchase (1 to 128 visible ASCII characters): a resend returns the first answer (`Idempotent-Replayed: true`) and buys nothing more"),
        ("X-Captcha-Token" = Option<String>, Header, description = "The captcha widget's token, solved for action `voucher_purchase`; required unless captcha is off"),
        ("X-Geo-Position" = Option<String>, Header, description = "`<lat>,<lon>` from the device: purchases are geofenced (feature `voucher_purchase`)"),
    ),
    responses(
        (status = 201, description = "Bought (or bought before under this key)", body = PurchaseView),
        (status = 400, description = "`idempotency_key_required`, `invalid_idempotency_key`, or the captcha must be solved again (`captcha_required`, `captcha_invalid`, `captcha_replayed`, `captcha_expired`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`geo_restricted`, or the captcha failed (`captcha_low_score`, `captcha_action_mismatch`, `captcha_hostname_mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`unknown_sku`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`sold_out`, `not_on_sale`, `voucher_expired` or `idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`insufficient_funds`: nothing was bought", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: retry with the same key", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post(
    "/v1/vouchers/{sku}/purchase",
    wrap = "web::geo::guard(\"voucher_purchase\")",
    wrap = "captcha::guard_from_app_data(captcha::actions::VOUCHER_PURCHASE)"
)]
pub async fn purchase(
    catalog: Data<Catalog>,
    caller: Authenticated,
    sku: Path<String>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let key = key.required()?;
    let (catalog, user, sku) = (catalog.into_inner(), caller.user_id().0, sku.into_inner());
    let (purchase, replayed) =
        super::to_the_end(async move { catalog.purchase(user, &sku, &key).await }).await?;
    Ok(created_response(&purchase, replayed))
}

/// Your vouchers: held ones (tradeable, code hidden) and redeemed ones with their code.
#[utoipa::path(
    tag = "vouchers",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your vouchers, newest first", body = Vec<VoucherView>),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/me/vouchers")]
pub async fn mine(catalog: Data<Catalog>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(catalog.mine(caller.user_id().0).await?))
}

/// Redeem one of your vouchers of this SKU: its code is revealed (to you only) and it can
/// no longer be sold. Units you have on sale cannot be redeemed until you cancel. One key
/// redeems one voucher and reveals one code however often, and however concurrently, it
/// is sent, on any node: a resend answers the first result.
#[utoipa::path(
    tag = "vouchers",
    security(("bearer" = [])),
    params(
        ("sku" = String, Path, description = "The SKU"),
        ("Idempotency-Key" = String, Header, description = "Your id for this redemption: a resend shows the same code (`Idempotent-Replayed: true`) and redeems nothing more"),
    ),
    responses(
        (status = 201, description = "Redeemed, with its code (or redeemed before under this key)", body = VoucherView),
        (status = 400, description = "`idempotency_key_required` or `invalid_idempotency_key`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`unknown_sku`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`no_voucher_to_redeem`, `voucher_expired` or `idempotency_key_reused`; or `request_in_progress`: this key's first send is still being carried out (or its voucher is still settling from a trade), send it again after `Retry-After` for its result", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u64, description = "With `request_in_progress`: seconds to wait before sending the same key again"),
        )),
        (status = 503, description = "`unavailable`: retry with the same key", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/me/vouchers/{sku}/redeem")]
pub async fn redeem(
    catalog: Data<Catalog>,
    caller: Authenticated,
    sku: Path<String>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let key = key.required()?;
    let (catalog, user, sku) = (catalog.into_inner(), caller.user_id().0, sku.into_inner());
    let (voucher, replayed) =
        super::to_the_end(async move { catalog.redeem(user, &sku, &key).await }).await?;
    Ok(created_response(&voucher, replayed))
}
