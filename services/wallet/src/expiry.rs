//! Hold expiry: open holds past their deadline are expired through the group commit.
//!
//! The deadline lives in the database, so expiry survives restarts: a node sweeps once as
//! it starts, before it serves, and then every interval. Two nodes sweeping at once expire
//! each hold once, because resolving a hold deletes its open-hold row.

use crate::domain::LedgerError;
use crate::service::WalletService;
use crate::store::hold;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Holds expired per pass at most; a full pass starts the next at once.
const PASS: u64 = 256;

/// Expires every hold due now. Returns how many this node expired.
pub async fn sweep(db: &DatabaseConnection, service: &WalletService) -> Result<usize, LedgerError> {
    let mut expired = 0;
    loop {
        let due = hold::Entity::find()
            .filter(hold::Column::ExpiresAt.lte(chrono::Utc::now()))
            .order_by_asc(hold::Column::ExpiresAt)
            .limit(PASS)
            .all(db)
            .await?;
        let results =
            futures::future::join_all(due.iter().map(|held| service.expire(held.id))).await;
        for result in &results {
            match result {
                Ok(_) => expired += 1,
                // Posted, voided or expired by someone else meanwhile: nothing to do.
                Err(LedgerError::HoldResolved(_) | LedgerError::HoldNotFound(_)) => {}
                Err(error) => return Err(error.clone()),
            }
        }
        if (due.len() as u64) < PASS {
            return Ok(expired);
        }
    }
}

/// Sweeps every `interval` until `stop` is notified.
pub fn spawn(
    db: DatabaseConnection,
    service: WalletService,
    interval: Duration,
    stop: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.notified() => return,
                () = tokio::time::sleep(interval) => {}
            }
            match sweep(&db, &service).await {
                Ok(0) => {}
                Ok(expired) => tracing::info!(expired, "holds expired"),
                Err(error) => tracing::warn!(%error, "hold expiry pass failed"),
            }
        }
    })
}
