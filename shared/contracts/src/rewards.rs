//! The rewards service's market data on the bus, and the platform activity its reward
//! campaigns react to.
//!
//! Market data is published per market after every command that changed it:
//! `rewards.v1.market.<sku>.book` (the top of the book) and `rewards.v1.market.<sku>.trades`
//! (the trades of that command). Prices are whole coins per voucher unit.
//!
//! Activity events are facts other services publish; the rewards service keeps them in its
//! `REWARDS_ACTIVITY` stream and credits campaigns from them. Each carries what makes it
//! one *source event*: a campaign rewards a user at most once per source event, however
//! often it is delivered.

use crate::Event;
use chrono::{DateTime, Utc};
use kernel::UserId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Every market data subject.
pub const ALL_MARKET_DATA: &str = "rewards.v1.market.>";

/// The subject of market `sku`'s book updates.
pub fn book_subject(sku: &str) -> String {
    format!("rewards.v1.market.{sku}.book")
}

/// The subject of market `sku`'s trades.
pub fn trades_subject(sku: &str) -> String {
    format!("rewards.v1.market.{sku}.trades")
}

/// One aggregated price level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Level {
    /// Coins per unit.
    pub price: u64,
    /// Units open at this price.
    pub qty: u64,
    /// Orders at this price.
    pub orders: usize,
}

/// The top of one market's book.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"sku": "AMZ_100", "seq": 42, "bids": [{"price": 95, "qty": 3, "orders": 2}], "asks": [{"price": 98, "qty": 1, "orders": 1}]}))]
pub struct BookView {
    pub sku: String,
    /// The market's last command: a later view has a higher seq.
    pub seq: u64,
    /// Highest price first.
    pub bids: Vec<Level>,
    /// Lowest price first.
    pub asks: Vec<Level>,
}

/// Which side took liquidity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

/// One trade, at the resting order's price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"sku": "AMZ_100", "id": 7, "price": 97, "qty": 1, "taker_side": "buy", "at": "2026-12-05T10:00:00Z"}))]
pub struct TradeView {
    pub sku: String,
    /// Sequential per market from 1.
    pub id: u64,
    pub price: u64,
    pub qty: u64,
    pub taker_side: Side,
    pub at: DateTime<Utc>,
}

/// The trades one command made, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trades {
    pub sku: String,
    pub seq: u64,
    pub trades: Vec<TradeView>,
}

/// A user won a quiz (published by the quizzes service).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizWon {
    pub quiz_id: Uuid,
    pub user_id: UserId,
    pub at: DateTime<Utc>,
}

impl Event for QuizWon {
    const SUBJECT: &'static str = "quizzes.v1.quiz.won";
}

/// A user's match prediction came true (published by the predictions game).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictionCorrect {
    pub prediction_id: Uuid,
    pub match_id: Uuid,
    pub user_id: UserId,
    pub at: DateTime<Utc>,
}

impl Event for PredictionCorrect {
    const SUBJECT: &'static str = "predictions.v1.prediction.correct";
}

/// A new user signed up through an existing user's referral (published by accounts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserReferred {
    /// Who referred: the one the referral campaign rewards.
    pub referrer: UserId,
    /// Who signed up.
    pub referred: UserId,
    pub at: DateTime<Utc>,
}

impl Event for UserReferred {
    const SUBJECT: &'static str = "accounts.v1.user.referred";
}
