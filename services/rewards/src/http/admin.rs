//! Admin endpoints: SKUs, their codes, and campaigns. Every write is a PUT to an id the
//! admin chooses, or an addition that is a no-op when resent.

use crate::campaigns::{CampaignInput, CampaignView, Campaigns};
use crate::catalog::{AddCodes, Catalog, CodesAdded, SkuInput, SkuView};
use actix_web::web::{Data, Json, Path};
use actix_web::{HttpResponse, get, post, put};
use uuid::Uuid;
use web::{Admins, ApiError, Authorized, Problem};

/// Create or update a SKU (its wallet asset `VCH_<sku>` is defined with it).
#[utoipa::path(
    tag = "rewards-admin",
    security(("bearer" = [])),
    params(("sku" = String, Path, description = "1 to 24 of A-Z, 0-9 and _")),
    request_body = SkuInput,
    responses(
        (status = 200, description = "The SKU as stored", body = SkuView),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_sku`, `invalid_brand`, `invalid_denomination`, `invalid_currency`, `invalid_price`, `invalid_pattern` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/v1/admin/vouchers/skus/{sku}")]
pub async fn put_sku(
    catalog: Data<Catalog>,
    _admin: Authorized<Admins>,
    sku: Path<String>,
    body: Json<SkuInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(catalog.put_sku(&sku, body.into_inner()).await?))
}

/// Add codes: generate up to an inventory (`{"top_up_to": n}`), or import a partner's
/// (`{"codes": [...]}`; codes already present are counted, not added twice).
#[utoipa::path(
    tag = "rewards-admin",
    security(("bearer" = [])),
    params(("sku" = String, Path, description = "The SKU")),
    request_body = AddCodes,
    responses(
        (status = 200, description = "What was added", body = CodesAdded),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`unknown_sku`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`no_pattern`, `pattern_too_small`, `too_many_codes`, `invalid_code` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/admin/vouchers/skus/{sku}/codes")]
pub async fn add_codes(
    catalog: Data<Catalog>,
    _admin: Authorized<Admins>,
    sku: Path<String>,
    body: Json<AddCodes>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(catalog.add_codes(&sku, body.into_inner()).await?))
}

/// Create or update a campaign.
#[utoipa::path(
    tag = "rewards-admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The campaign's id, chosen by the admin")),
    request_body = CampaignInput,
    responses(
        (status = 200, description = "The campaign", body = CampaignView),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`budget_below_spent` or `trigger_fixed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_amount`, `invalid_period`, `invalid_cap`, `invalid_streak` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/v1/admin/rewards/campaigns/{id}")]
pub async fn put_campaign(
    campaigns: Data<Campaigns>,
    _admin: Authorized<Admins>,
    id: Path<Uuid>,
    body: Json<CampaignInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(campaigns.put(*id, body.into_inner()).await?))
}

/// Every campaign with its spending, newest first.
#[utoipa::path(
    tag = "rewards-admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Campaigns", body = Vec<CampaignView>),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/admin/rewards/campaigns")]
pub async fn list_campaigns(
    campaigns: Data<Campaigns>,
    _admin: Authorized<Admins>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(campaigns.list().await?))
}
