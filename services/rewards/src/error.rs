//! Why a rewards request was refused: one error type for the service, each case with the
//! stable code clients match on, mapped to its HTTP status in one place.

use contracts::Refusal;
use web::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum RewardsError {
    /// Bad input the caller can fix: the code says which.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("no voucher SKU `{0}`")]
    UnknownSku(String),
    #[error("no order {0} of yours")]
    UnknownOrder(uuid::Uuid),
    #[error("no voucher {0} of yours")]
    UnknownVoucher(uuid::Uuid),
    #[error("no campaign {0}")]
    UnknownCampaign(uuid::Uuid),
    #[error("voucher SKU {0} is not on sale")]
    NotOnSale(String),
    #[error("voucher SKU {0} has expired")]
    Expired(String),
    #[error("voucher SKU {0} is sold out")]
    SoldOut(String),
    #[error("{0}")]
    Conflict(&'static str, String),
    /// The first send of this request is still being carried out: the same key, sent
    /// again after `retry_after` seconds, gets its result.
    #[error("this request is still in progress; send it again with the same Idempotency-Key")]
    InProgress { retry_after: u64 },
    /// The wallet refused (insufficient funds, say): its code, passed through.
    #[error("{}", .0.message)]
    Wallet(Refusal),
    /// The book refused the order; nothing reached it and the hold is released.
    #[error("the order was rejected: {0}")]
    Rejected(matching::RejectReason),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl RewardsError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        match self {
            Self::Invalid { code, .. } | Self::Conflict(code, _) => code,
            Self::UnknownSku(_) => "unknown_sku",
            Self::UnknownOrder(_) => "order_not_found",
            Self::UnknownVoucher(_) => "voucher_not_found",
            Self::UnknownCampaign(_) => "campaign_not_found",
            Self::NotOnSale(_) => "not_on_sale",
            Self::Expired(_) => "voucher_expired",
            Self::SoldOut(_) => "sold_out",
            Self::Wallet(refusal) => &refusal.code,
            Self::Rejected(reason) => reason.code(),
            Self::InProgress { .. } => "request_in_progress",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<sea_orm::DbErr> for RewardsError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Unavailable(format!("database: {error}"))
    }
}

impl From<RewardsError> for ApiError {
    fn from(error: RewardsError) -> Self {
        let code = error.code().to_owned();
        match error {
            RewardsError::Invalid { message, .. } => ApiError::validation(code, message),
            RewardsError::UnknownSku(_)
            | RewardsError::UnknownOrder(_)
            | RewardsError::UnknownVoucher(_)
            | RewardsError::UnknownCampaign(_) => ApiError::not_found(code, error.to_string()),
            RewardsError::NotOnSale(_)
            | RewardsError::Expired(_)
            | RewardsError::SoldOut(_)
            | RewardsError::Conflict(..) => ApiError::conflict(code, error.to_string()),
            RewardsError::InProgress { retry_after } => ApiError::conflict(code, error.to_string())
                .with_header(
                    actix_web::http::header::RETRY_AFTER,
                    retry_after.to_string(),
                ),
            RewardsError::Rejected(_) => ApiError::validation(code, error.to_string()),
            // `ledger::Ledger` has already turned the wallet's own outages into
            // `Unavailable`: what is left here are refusals.
            RewardsError::Wallet(refusal) => match refusal.code.as_str() {
                "id_conflict" | "hold_resolved" => ApiError::conflict(code, refusal.message),
                _ => ApiError::validation(code, refusal.message),
            },
            RewardsError::Unavailable(cause) => {
                tracing::warn!(%cause, "rewards unavailable");
                ApiError::unavailable("the service is unavailable; retry with the same ids")
            }
            RewardsError::Internal(cause) => ApiError::internal(cause),
        }
    }
}
