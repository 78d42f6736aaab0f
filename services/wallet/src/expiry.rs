//! Hold expiry, run by the jobs library: every hold with a deadline gets a scheduled job
//! (`wallet.expire_hold`, on queue `wallet`) enqueued in the very transaction that opens
//! the hold, due at the deadline. So the expiry exists if and only if the hold does, it
//! survives restarts and crashes (the job is a row), one node runs it (a claim), and a
//! failed attempt is retried with backoff.
//!
//! The job expires the hold through the group commit like any other request. A hold
//! posted or voided first leaves nothing to do, and the job completes. Two expiries of
//! one hold (a job rescued from a dead node) record one transfer: the expiry's transfer
//! id is derived from the hold's.
//!
//! [`schedule_open_holds`] runs as a node starts: it gives every open hold with a deadline
//! its job, unique by hold, so holds opened before expiry ran on jobs are covered and a
//! second start adds nothing.

use crate::domain::LedgerError;
use crate::service::WalletService;
use crate::store::hold;
use jobs::{Job, JobError, JobOptions, Jobs, NewJob, Unique, Worker};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder, QuerySelect};
use serde_json::Value;
use uuid::Uuid;

/// The queue the wallet's jobs run on.
pub const QUEUE: &str = "wallet";

/// Expires one hold at its deadline.
#[derive(Clone)]
pub struct ExpireHold {
    pub service: WalletService,
}

impl Worker for ExpireHold {
    const NAME: &'static str = "wallet.expire_hold";
    /// The hold's id (its pending transfer's).
    type Args = Uuid;

    fn options() -> JobOptions {
        // One job per hold however often it is scheduled; many attempts, because a hold
        // must not stay reserved past its deadline while the database is away.
        JobOptions::default()
            .queue(QUEUE)
            .max_attempts(50)
            .unique(Unique::by_args())
    }

    async fn perform(&self, job: Job<Uuid>) -> Result<Value, JobError> {
        match self.service.expire(job.args).await {
            Ok(receipt) => Ok(serde_json::json!({"replayed": receipt.replayed})),
            // Posted, voided or expired already: nothing to do.
            Err(LedgerError::HoldResolved(_) | LedgerError::HoldNotFound(_)) => {
                Ok(serde_json::json!({"resolved_before": true}))
            }
            Err(error) => Err(JobError::retry(error)),
        }
    }
}

/// The expiry job of a hold due at `expires_at`.
pub fn job(
    hold: Uuid,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<NewJob, jobs::JobsError> {
    Ok(NewJob::of::<ExpireHold>(&hold)?.at(expires_at))
}

/// Holds read per pass.
const PASS: u64 = 1000;

/// Gives every open hold with a deadline its expiry job (a no-op for those that have
/// one). Returns how many jobs were new.
pub async fn schedule_open_holds(db: &DatabaseConnection, jobs: &Jobs) -> anyhow::Result<usize> {
    let mut scheduled = 0;
    let mut after: Option<Uuid> = None;
    loop {
        let mut query = hold::Entity::find()
            .order_by_asc(hold::Column::Id)
            .limit(PASS);
        if let Some(after) = after {
            use sea_orm::{ColumnTrait, QueryFilter};
            query = query.filter(hold::Column::Id.gt(after));
        }
        let holds = query.all(db).await?;
        let Some(last) = holds.last() else {
            return Ok(scheduled);
        };
        after = Some(last.id);
        let batch = holds
            .iter()
            .map(|held| job(held.id, held.expires_at))
            .collect::<Result<Vec<_>, _>>()?;
        let enqueued = jobs.enqueue_all(batch).await?;
        scheduled += enqueued.iter().filter(|job| !job.duplicate).count();
        if (holds.len() as u64) < PASS {
            return Ok(scheduled);
        }
    }
}
