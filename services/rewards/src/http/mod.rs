//! The rewards HTTP API: markets, the voucher catalog, a user's vouchers, and the admin
//! endpoints for SKUs, codes and campaigns.

pub mod admin;
pub mod markets;
pub mod vouchers;

use crate::campaigns::Campaigns;
use crate::catalog::Catalog;
use crate::market::Markets;
use actix_web::web::{Data, ServiceConfig};

/// The rewards part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        markets::place_order,
        markets::cancel_order,
        markets::get_order,
        markets::book,
        markets::trades,
        markets::market_health,
        vouchers::list_catalog,
        vouchers::purchase,
        vouchers::mine,
        vouchers::redeem,
        admin::put_sku,
        admin::add_codes,
        admin::put_campaign,
        admin::list_campaigns,
    ),
    components(schemas(web::Problem)),
    tags(
        (name = "markets", description = "Order book markets: voucher units against coins"),
        (name = "vouchers", description = "The voucher catalog, purchases and redemption"),
        (name = "rewards-admin", description = "Voucher SKUs, codes and reward campaigns, for admins"),
    )
)]
pub struct RewardsApi;

/// Runs a write that takes several steps (a wallet hold, then the book, say) to its end
/// on its own task, and answers with what it answered: actix drops a handler whose client
/// hangs up, and that must not stop a write halfway.
pub(crate) async fn to_the_end<T, F>(write: F) -> Result<T, web::ApiError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, crate::error::RewardsError>> + Send + 'static,
{
    Ok(tokio::spawn(write)
        .await
        .map_err(web::ApiError::internal)??)
}

/// Registers the routes.
pub fn configure(
    config: &mut ServiceConfig,
    markets: Data<Markets>,
    catalog: Data<Catalog>,
    campaigns: Data<Campaigns>,
) {
    config
        .app_data(markets)
        .app_data(catalog)
        .app_data(campaigns)
        .service(markets::place_order)
        .service(markets::cancel_order)
        .service(markets::get_order)
        .service(markets::book)
        .service(markets::trades)
        .service(markets::market_health)
        .service(vouchers::list_catalog)
        .service(vouchers::purchase)
        .service(vouchers::mine)
        .service(vouchers::redeem)
        .service(admin::put_sku)
        .service(admin::add_codes)
        .service(admin::put_campaign)
        .service(admin::list_campaigns);
}
