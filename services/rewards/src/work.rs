//! The service's jobs (queue `rewards`): what finishes a write when the wallet was away
//! at the time. Each is enqueued in the transaction that makes it necessary, due a little
//! later; by then the request itself has usually done the work, and the job finds
//! nothing left to do. All of them are idempotent.

use crate::campaigns::Campaigns;
use crate::catalog::Catalog;
use crate::error::RewardsError;
use crate::market::Markets;
use chrono::{DateTime, Duration, Utc};
use jobs::{Job, JobError, JobOptions, JobsError, NewJob, Unique, Worker};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The queue every rewards job runs on.
pub const QUEUE: &str = "rewards";

fn options() -> JobOptions {
    JobOptions::default()
        .queue(QUEUE)
        .max_attempts(50)
        .unique(Unique::by_args())
}

/// Every failure is retried with backoff: the wallet or the database may be back later.
fn outcome(result: Result<(), RewardsError>) -> Result<Value, JobError> {
    result.map(|()| Value::Null).map_err(JobError::retry)
}

fn to_jobs(error: JobsError) -> RewardsError {
    RewardsError::Internal(error.to_string())
}

/// Sends a market's pending settlements to the wallet, in order.
#[derive(Clone)]
pub struct SettleMarket(pub Markets);

impl Worker for SettleMarket {
    const NAME: &'static str = "rewards.settle_market";
    /// The SKU.
    type Args = String;

    fn options() -> JobOptions {
        options()
    }

    async fn perform(&self, job: Job<String>) -> Result<Value, JobError> {
        outcome(self.0.drain(&job.args).await)
    }
}

pub fn settle_job(sku: &str, at: DateTime<Utc>) -> Result<NewJob, RewardsError> {
    Ok(NewJob::of::<SettleMarket>(&sku.to_owned())
        .map_err(to_jobs)?
        .at(at))
}

/// An order whose hold is about to lapse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRef {
    pub sku: String,
    pub order: Uuid,
}

/// Cancels a resting order an hour before its wallet hold would lapse.
#[derive(Clone)]
pub struct ExpireOrder(pub Markets);

impl Worker for ExpireOrder {
    const NAME: &'static str = "rewards.expire_order";
    type Args = OrderRef;

    fn options() -> JobOptions {
        options()
    }

    async fn perform(&self, job: Job<OrderRef>) -> Result<Value, JobError> {
        outcome(self.0.cancel_open(&job.args.sku, job.args.order).await)
    }
}

pub fn expire_job(sku: &str, order: Uuid, deadline: DateTime<Utc>) -> Result<NewJob, RewardsError> {
    let args = OrderRef {
        sku: sku.to_owned(),
        order,
    };
    Ok(NewJob::of::<ExpireOrder>(&args)
        .map_err(to_jobs)?
        .at(deadline - Duration::hours(1)))
}

/// Releases the hold of an order whose placement stopped before the book.
#[derive(Clone)]
pub struct AbandonOrder(pub Markets);

impl Worker for AbandonOrder {
    const NAME: &'static str = "rewards.abandon_order";
    type Args = Uuid;

    fn options() -> JobOptions {
        options()
    }

    async fn perform(&self, job: Job<Uuid>) -> Result<Value, JobError> {
        outcome(self.0.abandon(job.args).await)
    }
}

pub fn abandon_job(order: Uuid, at: DateTime<Utc>) -> Result<NewJob, RewardsError> {
    Ok(NewJob::of::<AbandonOrder>(&order).map_err(to_jobs)?.at(at))
}

/// Takes the payment of a reserved purchase (or gives its code back).
#[derive(Clone)]
pub struct CompletePurchase(pub Catalog);

impl Worker for CompletePurchase {
    const NAME: &'static str = "rewards.complete_purchase";
    type Args = Uuid;

    fn options() -> JobOptions {
        options()
    }

    async fn perform(&self, job: Job<Uuid>) -> Result<Value, JobError> {
        match self.0.complete_purchase(job.args).await {
            // Paid, or refused for good (the code went back on sale).
            Ok(_) | Err(RewardsError::Wallet(_)) => Ok(Value::Null),
            Err(error) => Err(JobError::retry(error)),
        }
    }
}

pub fn purchase_job(purchase: Uuid, at: DateTime<Utc>) -> Result<NewJob, RewardsError> {
    Ok(NewJob::of::<CompletePurchase>(&purchase)
        .map_err(to_jobs)?
        .at(at))
}

/// Finishes a redemption its claimer left pending (a crash, the wallet away, a code still
/// settling), and makes sure a failed one burnt nothing.
#[derive(Clone)]
pub struct FinishRedemption(pub Catalog);

impl Worker for FinishRedemption {
    const NAME: &'static str = "rewards.finish_redemption";
    type Args = Uuid;

    fn options() -> JobOptions {
        options()
    }

    async fn perform(&self, job: Job<Uuid>) -> Result<Value, JobError> {
        outcome(self.0.finish_redemption(job.args).await)
    }
}

pub fn redemption_job(redemption: Uuid, at: DateTime<Utc>) -> Result<NewJob, RewardsError> {
    Ok(NewJob::of::<FinishRedemption>(&redemption)
        .map_err(to_jobs)?
        .at(at))
}

/// Pays a reward granted by a campaign, from the reward pool.
#[derive(Clone)]
pub struct PayGrant(pub Campaigns);

impl Worker for PayGrant {
    const NAME: &'static str = "rewards.pay_grant";
    type Args = Uuid;

    fn options() -> JobOptions {
        options()
    }

    async fn perform(&self, job: Job<Uuid>) -> Result<Value, JobError> {
        outcome(self.0.pay(job.args).await)
    }
}

pub fn pay_job(grant: Uuid) -> Result<NewJob, RewardsError> {
    NewJob::of::<PayGrant>(&grant).map_err(to_jobs)
}
