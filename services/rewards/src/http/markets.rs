//! `/v1/markets/{sku}`: order book markets of voucher units against coins.

use crate::market::{MarketHealth, Markets, OrderView, PlaceOrder};
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, post};
use contracts::rewards::{BookView, TradeView};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;
use web::idempotency::created_response;
use web::{Admins, ApiError, Authenticated, Authorized, Problem};

/// Place an order. Its cost is held in your wallet first (coins at the limit price for a
/// buy, the units for a sell): an order you cannot pay for never reaches the book. What
/// trades settles at once; what stays open keeps its hold until it trades or is cancelled.
#[utoipa::path(
    tag = "markets",
    security(("bearer" = [])),
    params(("sku" = String, Path, description = "The voucher SKU the market trades")),
    request_body = PlaceOrder,
    responses(
        (status = 201, description = "Accepted: `open`, `filled` or `cancelled` (an IOC's unfilled rest, or self-trade prevention); or accepted before under this `id` (then `Idempotent-Replayed: true`)", body = OrderView),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`unknown_sku`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`order_id_reused` (the id was used for another order), `request_in_progress` (the first send of this `id` is still on its way to the book: send it again after `Retry-After` seconds for its answer), `interrupted` (its first attempt stopped before the book and its hold was released: use a new id), `market_halted` (a settlement of this market awaits an operator; nothing is held) or `voucher_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_price`, `invalid_quantity`, `invalid_body`, `insufficient_funds` (nothing reached the book), `post_only_would_cross` or `fill_or_kill_unfillable` (the hold is released)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: retry with the same `id` after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/markets/{sku}/orders")]
pub async fn place_order(
    markets: Data<Markets>,
    caller: Authenticated,
    sku: Path<String>,
    body: Json<PlaceOrder>,
) -> Result<HttpResponse, ApiError> {
    let markets = markets.into_inner();
    let (user, sku, body) = (caller.user_id().0, sku.into_inner(), body.into_inner());
    let (order, replayed) =
        super::to_the_end(async move { markets.place(user, &sku, &body).await }).await?;
    Ok(created_response(&order, replayed))
}

/// Cancel your open order; its hold is released. Cancelling an order that is already done
/// answers where it stands.
#[utoipa::path(
    tag = "markets",
    security(("bearer" = [])),
    params(
        ("sku" = String, Path, description = "The market"),
        ("id" = Uuid, Path, description = "The order's id"),
    ),
    responses(
        (status = 200, description = "The order, now `cancelled` (or already `filled`, `cancelled` or `rejected`)", body = OrderView),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order_not_found`: no such order of yours in this market", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`market_halted`: a settlement of this market awaits an operator", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/v1/markets/{sku}/orders/{id}")]
pub async fn cancel_order(
    markets: Data<Markets>,
    caller: Authenticated,
    path: Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (sku, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(markets.cancel(caller.user_id().0, &sku, id).await?))
}

/// One of your orders.
#[utoipa::path(
    tag = "markets",
    security(("bearer" = [])),
    params(
        ("sku" = String, Path, description = "The market"),
        ("id" = Uuid, Path, description = "The order's id"),
    ),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/markets/{sku}/orders/{id}")]
pub async fn get_order(
    markets: Data<Markets>,
    caller: Authenticated,
    path: Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (sku, id) = path.into_inner();
    let order = markets.order(caller.user_id().0, id).await?;
    if order.sku != sku {
        return Err(crate::error::RewardsError::UnknownOrder(id).into());
    }
    Ok(HttpResponse::Ok().json(order))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BookQuery {
    /// Price levels per side (default 10, at most `rewards.depth_levels`).
    pub levels: Option<usize>,
}

/// The book's depth: open units per price level, best first.
#[utoipa::path(
    tag = "markets",
    params(("sku" = String, Path, description = "The market"), BookQuery),
    responses(
        (status = 200, description = "Bids (highest first) and asks (lowest first)", body = BookView),
        (status = 404, description = "`unknown_sku`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/markets/{sku}/book")]
pub async fn book(
    markets: Data<Markets>,
    sku: Path<String>,
    query: Query<BookQuery>,
) -> Result<HttpResponse, ApiError> {
    let levels = query.levels.unwrap_or(10);
    Ok(HttpResponse::Ok().json(markets.book(&sku, levels).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TradesQuery {
    /// How many, newest first (1 to 500, default 50).
    pub limit: Option<u64>,
}

/// The market's latest trades, newest first.
#[utoipa::path(
    tag = "markets",
    params(("sku" = String, Path, description = "The market"), TradesQuery),
    responses(
        (status = 200, description = "Trades", body = Vec<TradeView>),
        (status = 404, description = "`unknown_sku`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/markets/{sku}/trades")]
pub async fn trades(
    markets: Data<Markets>,
    sku: Path<String>,
    query: Query<TradesQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    Ok(HttpResponse::Ok().json(markets.trades(&sku, limit).await?))
}

/// Markets that need attention: settlements still to send to the wallet, and markets
/// halted because the wallet refused one (new orders and cancels are refused with
/// `market_halted` until an operator has looked). Also alerted as the
/// `rewards_market_halted{sku}` gauge.
#[utoipa::path(
    tag = "rewards-admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Markets with unsettled or refused settlements, by SKU", body = Vec<MarketHealth>),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/admin/markets")]
pub async fn market_health(
    markets: Data<Markets>,
    _admin: Authorized<Admins>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(markets.health().await?))
}
