//! Reward campaigns: rules that turn platform activity into coins from a budgeted pool.
//!
//! Activity arrives on the bus (sign-ups, logins, referrals, quiz wins, correct
//! predictions), kept in the `REWARDS_ACTIVITY` stream and read by one durable consumer
//! per deployment. For each event, every campaign with its trigger that is running at the
//! event's time grants its amount, in one transaction that:
//! - records the grant under an id derived from (campaign, user, source event), so a
//!   redelivered event grants nothing more;
//! - counts it against the user's cap with a conditional update;
//! - takes it from the campaign's budget with a conditional update (`spent + amount <=
//!   budget`), so concurrent grants can never overspend;
//! - enqueues the payout job, which moves the coins from `system:reward_pool`.
//!
//! A login's streak is counted in the transaction of its grants, so a delivery that fails
//! anywhere counts nothing and its redelivery grants.

use crate::error::RewardsError;
use crate::ledger::{self, COIN, Ledger, REWARD_POOL};
use crate::store::{campaign, campaign_user, grant, login};
use bus::{ConsumerConfig, DurableMessage, DynBus, StreamConfig};
use chrono::{DateTime, NaiveDate, Utc};
use contracts::Event as _;
use contracts::accounts::{UserLoggedIn, UserSignedUp};
use contracts::rewards::{PredictionCorrect, QuizWon, UserReferred};
use contracts::wallet::{Batch, Leg, TransferLeg};
use futures::StreamExt;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// The stream that keeps the activity campaigns react to.
pub const STREAM: &str = "REWARDS_ACTIVITY";
/// The durable consumer every node shares (each event goes to one of them).
const CONSUMER: &str = "rewards-campaigns";

/// What a campaign reacts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A new user signed up.
    SignUp,
    /// A user logged in on `streak_days` consecutive days (UTC).
    LoginStreak,
    /// A user won a quiz.
    QuizWon,
    /// A user's match prediction came true.
    PredictionCorrect,
    /// A user's referral signed up (the referrer is rewarded).
    Referral,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::SignUp => "sign_up",
            Trigger::LoginStreak => "login_streak",
            Trigger::QuizWon => "quiz_won",
            Trigger::PredictionCorrect => "prediction_correct",
            Trigger::Referral => "referral",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    }
}

/// A campaign as admins write it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Welcome bonus", "trigger": "sign_up", "amount": 100, "budget": 1000000, "per_user_cap": 1, "starts_at": "2026-12-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}))]
pub struct CampaignInput {
    pub name: String,
    pub trigger: Trigger,
    /// Coins per reward.
    pub amount: u64,
    /// Coins the campaign may give in all; never exceeded. May be raised, or lowered down
    /// to what is spent.
    pub budget: u64,
    /// Rewards one user may get from this campaign (default 1).
    #[serde(default = "one")]
    pub per_user_cap: u32,
    /// For `login_streak`: the streak length rewarded (reaching it, once per streak).
    #[serde(default)]
    pub streak_days: Option<u32>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

fn one() -> u32 {
    1
}

/// A campaign and its spending.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CampaignView {
    pub id: Uuid,
    pub name: String,
    pub trigger: Trigger,
    pub amount: u64,
    pub budget: u64,
    pub spent: u64,
    pub remaining: u64,
    pub per_user_cap: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streak_days: Option<u32>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

fn view(row: &campaign::Model) -> CampaignView {
    let budget = u64::try_from(row.budget).unwrap_or(0);
    let spent = u64::try_from(row.spent).unwrap_or(0);
    CampaignView {
        id: row.id,
        name: row.name.clone(),
        trigger: Trigger::parse(&row.trigger).unwrap_or(Trigger::SignUp),
        amount: u64::try_from(row.amount).unwrap_or(0),
        budget,
        spent,
        remaining: budget.saturating_sub(spent),
        per_user_cap: u32::try_from(row.per_user_cap).unwrap_or(0),
        streak_days: row.streak_days.and_then(|days| u32::try_from(days).ok()),
        starts_at: row.starts_at,
        ends_at: row.ends_at,
    }
}

/// One piece of activity, as campaigns see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activity {
    pub trigger: Trigger,
    pub user: Uuid,
    /// What makes it one source event for this user (`quiz:<id>`, `streak:<day>`...).
    pub source: String,
    pub at: DateTime<Utc>,
    /// For a login streak, its length now.
    pub streak: Option<u32>,
}

/// The campaigns of one node.
#[derive(Clone)]
pub struct Campaigns {
    db: DatabaseConnection,
    ledger: Ledger,
    jobs: jobs::Jobs,
}

impl Campaigns {
    pub fn new(db: DatabaseConnection, ledger: Ledger, jobs: jobs::Jobs) -> Self {
        Self { db, ledger, jobs }
    }

    /// Creates or updates campaign `id`.
    pub async fn put(&self, id: Uuid, input: CampaignInput) -> Result<CampaignView, RewardsError> {
        if input.name.trim().is_empty() || input.name.chars().count() > 120 {
            return Err(RewardsError::invalid(
                "invalid_body",
                "name must be 1 to 120 characters",
            ));
        }
        if input.amount == 0 || input.amount > input.budget {
            return Err(RewardsError::invalid(
                "invalid_amount",
                "amount must be positive and at most the budget",
            ));
        }
        if input.ends_at <= input.starts_at {
            return Err(RewardsError::invalid(
                "invalid_period",
                "ends_at must be after starts_at",
            ));
        }
        if input.per_user_cap == 0 {
            return Err(RewardsError::invalid(
                "invalid_cap",
                "per_user_cap must be positive",
            ));
        }
        let streak_days = match (input.trigger, input.streak_days) {
            (Trigger::LoginStreak, Some(days)) if (2..=365).contains(&days) => Some(days),
            (Trigger::LoginStreak, _) => {
                return Err(RewardsError::invalid(
                    "invalid_streak",
                    "a login_streak campaign needs streak_days from 2 to 365",
                ));
            }
            (_, Some(_)) => {
                return Err(RewardsError::invalid(
                    "invalid_streak",
                    "streak_days is only for login_streak campaigns",
                ));
            }
            (_, None) => None,
        };
        let big = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let now = Utc::now();
        let existing = campaign::Entity::find_by_id(id).one(&self.db).await?;
        match existing {
            None => {
                campaign::Entity::insert(campaign::ActiveModel {
                    id: ActiveValue::Set(id),
                    name: ActiveValue::Set(input.name),
                    trigger: ActiveValue::Set(input.trigger.as_str().to_owned()),
                    streak_days: ActiveValue::Set(
                        streak_days.map(|d| i32::try_from(d).unwrap_or(i32::MAX)),
                    ),
                    amount: ActiveValue::Set(big(input.amount)),
                    budget: ActiveValue::Set(big(input.budget)),
                    spent: ActiveValue::Set(0),
                    per_user_cap: ActiveValue::Set(
                        i32::try_from(input.per_user_cap).unwrap_or(i32::MAX),
                    ),
                    starts_at: ActiveValue::Set(input.starts_at),
                    ends_at: ActiveValue::Set(input.ends_at),
                    created_at: ActiveValue::Set(now),
                    updated_at: ActiveValue::Set(now),
                })
                .on_conflict(
                    OnConflict::column(campaign::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&self.db)
                .await?;
            }
            Some(row) => {
                if row.trigger != input.trigger.as_str() {
                    return Err(RewardsError::Conflict(
                        "trigger_fixed",
                        "a campaign's trigger cannot change; create another campaign".into(),
                    ));
                }
                // Lowering the budget below what is spent is refused in the same statement
                // that checks it, so a grant racing this update cannot slip between.
                let updated = campaign::Entity::update_many()
                    .col_expr(campaign::Column::Name, input.name.into())
                    .col_expr(
                        campaign::Column::StreakDays,
                        streak_days
                            .map(|d| i32::try_from(d).unwrap_or(i32::MAX))
                            .into(),
                    )
                    .col_expr(campaign::Column::Amount, big(input.amount).into())
                    .col_expr(campaign::Column::Budget, big(input.budget).into())
                    .col_expr(
                        campaign::Column::PerUserCap,
                        i32::try_from(input.per_user_cap).unwrap_or(i32::MAX).into(),
                    )
                    .col_expr(campaign::Column::StartsAt, input.starts_at.into())
                    .col_expr(campaign::Column::EndsAt, input.ends_at.into())
                    .col_expr(campaign::Column::UpdatedAt, now.into())
                    .filter(campaign::Column::Id.eq(id))
                    .filter(campaign::Column::Spent.lte(big(input.budget)))
                    .exec(&self.db)
                    .await?;
                if updated.rows_affected == 0 {
                    return Err(RewardsError::Conflict(
                        "budget_below_spent",
                        format!("campaign {id} has spent {} already", row.spent),
                    ));
                }
            }
        }
        self.get(id).await
    }

    pub async fn get(&self, id: Uuid) -> Result<CampaignView, RewardsError> {
        campaign::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(|row| view(&row))
            .ok_or(RewardsError::UnknownCampaign(id))
    }

    pub async fn list(&self) -> Result<Vec<CampaignView>, RewardsError> {
        Ok(campaign::Entity::find()
            .order_by_desc(campaign::Column::CreatedAt)
            .all(&self.db)
            .await?
            .iter()
            .map(view)
            .collect())
    }

    /// Grants every running campaign's reward for `activity`; returns how many granted.
    pub async fn on_activity(&self, activity: &Activity) -> Result<u32, RewardsError> {
        let mut granted = 0;
        for row in running(&self.db, activity).await? {
            if self.grant(&row, activity.user, &activity.source).await? {
                granted += 1;
            }
        }
        Ok(granted)
    }

    /// A login: the user's streak is counted and its rewards granted in one transaction,
    /// so a delivery that fails part way counts nothing, and its redelivery counts the day
    /// and grants. (Counted apart, a grant that failed once found the day counted on the
    /// redelivery and was never retried into existence.)
    async fn on_login(&self, user: Uuid, at: DateTime<Utc>) -> Result<u32, RewardsError> {
        let txn = self.db.begin().await?;
        let Some(streak) = count_login(&txn, user, at).await? else {
            txn.rollback().await?;
            return Ok(0);
        };
        let activity = Activity {
            trigger: Trigger::LoginStreak,
            user,
            source: format!("streak:{}", at.date_naive()),
            at,
            streak: Some(streak),
        };
        let mut granted = 0;
        let mut enqueued = Vec::new();
        for row in running(&txn, &activity).await? {
            if let Some(jobs) = self.grant_in(&txn, &row, user, &activity.source).await? {
                granted += 1;
                enqueued.extend(jobs);
            }
        }
        txn.commit().await?;
        self.jobs.wake(&enqueued).await;
        Ok(granted)
    }

    /// One reward of `campaign` to `user` for `source`, if the budget, the user's cap and
    /// the source allow it.
    pub async fn grant(
        &self,
        campaign: &campaign::Model,
        user: Uuid,
        source: &str,
    ) -> Result<bool, RewardsError> {
        let txn = self.db.begin().await?;
        let granted = self.grant_in(&txn, campaign, user, source).await?;
        txn.commit().await?;
        if let Some(enqueued) = &granted {
            self.jobs.wake(enqueued).await;
        }
        Ok(granted.is_some())
    }

    /// [`Campaigns::grant`] inside `txn`, under a savepoint of its own so a refusal (cap,
    /// budget, a source granted before) undoes only this grant. Returns the payout job to
    /// wake once `txn` commits, or `None` when nothing was granted.
    async fn grant_in(
        &self,
        txn: &DatabaseTransaction,
        campaign: &campaign::Model,
        user: Uuid,
        source: &str,
    ) -> Result<Option<Vec<jobs::Enqueued>>, RewardsError> {
        let id = ledger::leg_id(&["grant", &campaign.id.to_string(), &user.to_string(), source]);
        let txn = txn.begin().await?;
        let inserted = grant::Entity::insert(grant::ActiveModel {
            id: ActiveValue::Set(id),
            campaign: ActiveValue::Set(campaign.id),
            user_id: ActiveValue::Set(user),
            source: ActiveValue::Set(source.to_owned()),
            amount: ActiveValue::Set(campaign.amount),
            status: ActiveValue::Set("pending".to_owned()),
            created_at: ActiveValue::Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::column(grant::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if inserted == 0 {
            txn.rollback().await?;
            return Ok(None);
        }
        campaign_user::Entity::insert(campaign_user::ActiveModel {
            campaign: ActiveValue::Set(campaign.id),
            user_id: ActiveValue::Set(user),
            grants: ActiveValue::Set(0),
        })
        .on_conflict(
            OnConflict::columns([
                campaign_user::Column::Campaign,
                campaign_user::Column::UserId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        let counted = campaign_user::Entity::update_many()
            .col_expr(
                campaign_user::Column::Grants,
                Expr::col(campaign_user::Column::Grants).add(1),
            )
            .filter(campaign_user::Column::Campaign.eq(campaign.id))
            .filter(campaign_user::Column::UserId.eq(user))
            .filter(campaign_user::Column::Grants.lt(campaign.per_user_cap))
            .exec(&txn)
            .await?;
        if counted.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(None);
        }
        let taken = campaign::Entity::update_many()
            .col_expr(
                campaign::Column::Spent,
                Expr::col(campaign::Column::Spent).add(Expr::col(campaign::Column::Amount)),
            )
            .filter(campaign::Column::Id.eq(campaign.id))
            .filter(
                Expr::col(campaign::Column::Spent)
                    .add(Expr::col(campaign::Column::Amount))
                    .lte(Expr::col(campaign::Column::Budget)),
            )
            .exec(&txn)
            .await?;
        if taken.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(None);
        }
        let enqueued = self
            .jobs
            .enqueue_all_in(&txn, vec![crate::work::pay_job(id)?])
            .await
            .map_err(|error| RewardsError::Unavailable(error.to_string()))?;
        txn.commit().await?;
        Ok(Some(enqueued))
    }

    /// Pays grant `id` from the reward pool (the payout job).
    pub async fn pay(&self, id: Uuid) -> Result<(), RewardsError> {
        let Some(row) = grant::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(());
        };
        if row.status == "paid" {
            return Ok(());
        }
        let batch = Batch {
            legs: vec![Leg::Transfer(TransferLeg {
                id,
                debit: REWARD_POOL.to_owned(),
                credit: ledger::user(row.user_id),
                asset: COIN.to_owned(),
                amount: row.amount.to_string(),
                memo: Some(format!("reward {}", row.source)),
            })],
        };
        self.ledger.execute(&batch).await?;
        grant::Entity::update_many()
            .col_expr(grant::Column::Status, "paid".into())
            .filter(grant::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Reads one bus event into activity (a login's streak is not counted yet).
    fn activity(message: &bus::Message) -> Result<Option<Activity>, RewardsError> {
        let decode =
            |error: bus::BusError| RewardsError::invalid("malformed_event", error.to_string());
        let subject = message.subject.as_str();
        Ok(Some(if subject == UserSignedUp::SUBJECT {
            let event: UserSignedUp = message.decode().map_err(decode)?;
            Activity {
                trigger: Trigger::SignUp,
                user: event.user_id.0,
                source: "sign_up".into(),
                at: event.at,
                streak: None,
            }
        } else if subject == UserLoggedIn::SUBJECT {
            let event: UserLoggedIn = message.decode().map_err(decode)?;
            Activity {
                trigger: Trigger::LoginStreak,
                user: event.user_id.0,
                source: format!("streak:{}", event.at.date_naive()),
                at: event.at,
                streak: None,
            }
        } else if subject == UserReferred::SUBJECT {
            let event: UserReferred = message.decode().map_err(decode)?;
            Activity {
                trigger: Trigger::Referral,
                user: event.referrer.0,
                source: format!("referral:{}", event.referred.0),
                at: event.at,
                streak: None,
            }
        } else if subject == QuizWon::SUBJECT {
            let event: QuizWon = message.decode().map_err(decode)?;
            Activity {
                trigger: Trigger::QuizWon,
                user: event.user_id.0,
                source: format!("quiz:{}", event.quiz_id),
                at: event.at,
                streak: None,
            }
        } else if subject == PredictionCorrect::SUBJECT {
            let event: PredictionCorrect = message.decode().map_err(decode)?;
            Activity {
                trigger: Trigger::PredictionCorrect,
                user: event.user_id.0,
                source: format!("prediction:{}", event.prediction_id),
                at: event.at,
                streak: None,
            }
        } else {
            return Ok(None);
        }))
    }

    /// The stream of activity, and the consumer that reacts to it; the task runs until
    /// the bus closes.
    pub async fn serve(&self, bus: DynBus) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        bus.ensure_stream(
            StreamConfig::new(
                STREAM,
                [
                    UserSignedUp::SUBJECT,
                    UserLoggedIn::SUBJECT,
                    UserReferred::SUBJECT,
                    QuizWon::SUBJECT,
                    PredictionCorrect::SUBJECT,
                ],
            )
            .with_max_age(Duration::from_secs(7 * 24 * 3600)),
        )
        .await?;
        let mut messages = bus.consume(ConsumerConfig::new(STREAM, CONSUMER)).await?;
        let campaigns = self.clone();
        Ok(tokio::spawn(async move {
            while let Some(delivery) = messages.next().await {
                match delivery {
                    Ok(delivery) => campaigns.handle(delivery).await,
                    Err(error) => tracing::warn!(%error, "activity consumer"),
                }
            }
        }))
    }

    /// What one delivery of an activity event grants: how many rewards. An error leaves
    /// the event to be delivered again (`Invalid`: it never will be worth it).
    pub async fn on_event(&self, message: &bus::Message) -> Result<u32, RewardsError> {
        match Self::activity(message)? {
            Some(login) if login.trigger == Trigger::LoginStreak => {
                self.on_login(login.user, login.at).await
            }
            Some(activity) => self.on_activity(&activity).await,
            None => Ok(0),
        }
    }

    async fn handle(&self, delivery: DurableMessage) {
        let acked = match self.on_event(&delivery.message).await {
            Ok(_) => delivery.ack().await,
            Err(RewardsError::Invalid { code, message }) => {
                tracing::warn!(subject = %delivery.message.subject, %code, %message, "activity event dropped");
                delivery.term().await
            }
            Err(error) => {
                tracing::warn!(subject = %delivery.message.subject, %error, "activity event retried");
                delivery.nak_with_delay(Duration::from_secs(1)).await
            }
        };
        if let Err(error) = acked {
            tracing::warn!(%error, "activity event not acknowledged");
        }
    }
}

/// A login on `at`'s day, counted in `txn`: the user's streak, if this login extended or
/// started one (`None` for a second login the same day, or an event older than the last).
async fn count_login(
    txn: &DatabaseTransaction,
    user: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<u32>, RewardsError> {
    let day = at.date_naive();
    login::Entity::insert(login::ActiveModel {
        user_id: ActiveValue::Set(user),
        last_day: ActiveValue::Set(String::new()),
        streak: ActiveValue::Set(0),
    })
    .on_conflict(
        OnConflict::column(login::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    let row = login::Entity::find_by_id(user)
        .one(txn)
        .await?
        .ok_or_else(|| RewardsError::Internal("login row vanished".into()))?;
    let last = NaiveDate::parse_from_str(&row.last_day, "%Y-%m-%d").ok();
    let streak = match last {
        Some(last) if last >= day => None,
        Some(last) if last.succ_opt() == Some(day) => {
            Some(u32::try_from(row.streak).unwrap_or(0) + 1)
        }
        _ => Some(1),
    };
    if let Some(streak) = streak {
        login::Entity::update(login::ActiveModel {
            user_id: ActiveValue::Unchanged(user),
            last_day: ActiveValue::Set(day.format("%Y-%m-%d").to_string()),
            streak: ActiveValue::Set(i32::try_from(streak).unwrap_or(i32::MAX)),
        })
        .exec(txn)
        .await?;
    }
    Ok(streak)
}

/// The campaigns with `activity`'s trigger running at its time (for a streak, those
/// rewarding its length).
async fn running(
    db: &impl ConnectionTrait,
    activity: &Activity,
) -> Result<Vec<campaign::Model>, RewardsError> {
    let mut query = campaign::Entity::find()
        .filter(campaign::Column::Trigger.eq(activity.trigger.as_str()))
        .filter(campaign::Column::StartsAt.lte(activity.at))
        .filter(campaign::Column::EndsAt.gt(activity.at));
    if let Some(streak) = activity.streak {
        query = query
            .filter(campaign::Column::StreakDays.eq(i32::try_from(streak).unwrap_or(i32::MAX)));
    }
    Ok(query.all(db).await?)
}
