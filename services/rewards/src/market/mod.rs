//! Order book markets: one per voucher SKU, trading its units against coins.
//!
//! An order's cost is held in the wallet before the order reaches the book, so an order
//! that could not pay never trades. The market actor ([`actor`]) applies commands to its
//! book and records them; [`settle`] turns each command's events into one linked wallet
//! batch (post the holds, pay sellers coins and buyers units, re-hold what stays open,
//! void what was cancelled). Codes follow units: a trade moves that many of the seller's
//! unredeemed codes to the buyer once its batch has posted.

pub mod actor;
pub mod settle;
pub mod settler;

use crate::catalog::Catalog;
use crate::error::RewardsError;
use crate::ledger::{self, COIN, ESCROW, Ledger};
use crate::store::{order, trade};
use actor::{MarketMsg, Markets as MarketActors, Outcome, Submitted};
use actors::{ActorError, Registry, RegistryConfig};
use bus::{DynBus, Message};
use chrono::{DateTime, Duration as Span, Utc};
use contracts::rewards::{self as wire, BookView, Level, TradeView, Trades};
use contracts::wallet::{Batch, HoldLeg, Leg};
use matching::{Book, OwnerId, Side, TimeInForce};
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait, sea_query::OnConflict,
};
use serde::{Deserialize, Serialize};
use settle::OrderState;
pub use settler::{Drained, MarketHealth};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// When an order still short of the book is given up: far beyond any request's life
/// (the actor call times out after seconds), so it never races one.
const ABANDON_AFTER: Span = Span::minutes(10);

/// How long an order may stay claimed for the book (`submitting`) with no engine id before
/// a resend takes it over: beyond any request's life, so it only happens after a node
/// stopped between the claim and the book (the book takes an order once either way).
const SUBMIT_STALE: Span = Span::seconds(30);

/// How long a resend waits for the first send's answer before it says
/// `request_in_progress`.
const RESEND_WAIT: Duration = Duration::from_secs(2);

/// The largest price or quantity an order may name (a cost of up to 10^12 coins).
pub const MAX_PRICE: u64 = 1_000_000;
pub const MAX_QTY: u64 = 1_000_000;

/// What every market actor of a node shares.
pub struct MarketContext {
    pub db: DatabaseConnection,
    pub ledger: Ledger,
    pub bus: DynBus,
    pub jobs: jobs::Jobs,
    pub hold_days: u32,
    pub depth_levels: usize,
    pub retry_after: Span,
    /// One drain at a time per market: settlements must reach the wallet in seq order.
    pub drains: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A new order.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "0193a4b2-7c1e-7d2a-9f10-3b5c2d4e6f80", "side": "buy", "price": 95, "qty": 2, "time_in_force": "gtc"}))]
pub struct PlaceOrder {
    /// The client's id for this order: sending it again returns the first answer.
    pub id: Uuid,
    pub side: wire::Side,
    /// Coins per unit, a whole number from 1 to 1,000,000.
    pub price: u64,
    /// Units, a whole number from 1 to 1,000,000.
    pub qty: u64,
    /// `gtc` (default), `ioc`, `fok` or `post_only`.
    #[serde(default = "gtc")]
    pub time_in_force: Tif,
}

fn gtc() -> Tif {
    Tif::Gtc
}

/// How long an order may live and whether it may take liquidity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tif {
    /// Good till cancelled (or until its hold would lapse: `rewards.order_hold_days`).
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
    /// Maker only: rejected if it would trade on arrival.
    PostOnly,
}

impl Tif {
    fn engine(self) -> TimeInForce {
        match self {
            Tif::Gtc => TimeInForce::Gtc,
            Tif::Ioc => TimeInForce::Ioc,
            Tif::Fok => TimeInForce::Fok,
            Tif::PostOnly => TimeInForce::PostOnly,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Tif::Gtc => "gtc",
            Tif::Ioc => "ioc",
            Tif::Fok => "fok",
            Tif::PostOnly => "post_only",
        }
    }
}

/// An order and where it stands.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "0193a4b2-7c1e-7d2a-9f10-3b5c2d4e6f80", "sku": "AMZ_100", "side": "buy", "price": 95, "qty": 2, "time_in_force": "gtc", "status": "open", "filled": 1, "open": 1}))]
pub struct OrderView {
    pub id: Uuid,
    pub sku: String,
    pub side: wire::Side,
    pub price: u64,
    pub qty: u64,
    pub time_in_force: String,
    /// `open`, `filled`, `cancelled` or `rejected`.
    pub status: String,
    pub filled: u64,
    /// Units still on the book.
    pub open: u64,
    /// Why it was cancelled or rejected (`requested`, `unfilled`, `self_trade`, a
    /// rejection code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The engine's owner id of a user: only compared, for self-trade prevention.
pub fn owner_of(user: Uuid) -> OwnerId {
    let (high, low) = user.as_u64_pair();
    OwnerId(high ^ low)
}

pub fn side_str(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn wire_side(side: Side) -> wire::Side {
    match side {
        Side::Buy => wire::Side::Buy,
        Side::Sell => wire::Side::Sell,
    }
}

/// An open order row as the actor holds it.
pub fn state_of(row: &order::Model, hold_days: u32) -> OrderState {
    let qty = u64::try_from(row.qty).unwrap_or(0);
    let filled = u64::try_from(row.filled).unwrap_or(0);
    OrderState {
        id: row.id,
        user: row.user_id,
        side: if row.side == "sell" {
            Side::Sell
        } else {
            Side::Buy
        },
        price: u64::try_from(row.price).unwrap_or(0),
        open: qty - filled.min(qty),
        filled,
        hold_id: row.hold_id,
        held: u64::try_from(row.held).unwrap_or(0),
        holds: u32::try_from(row.holds).unwrap_or(0),
        deadline: row.created_at + Span::days(i64::from(hold_days)),
    }
}

fn view(row: &order::Model) -> OrderView {
    let qty = u64::try_from(row.qty).unwrap_or(0);
    let filled = u64::try_from(row.filled).unwrap_or(0);
    OrderView {
        id: row.id,
        sku: row.sku.clone(),
        side: if row.side == "sell" {
            wire::Side::Sell
        } else {
            wire::Side::Buy
        },
        price: u64::try_from(row.price).unwrap_or(0),
        qty,
        time_in_force: row.tif.clone(),
        status: row.status.clone(),
        filled,
        open: if row.status == "open" {
            qty - filled.min(qty)
        } else {
            0
        },
        reason: row.reason.clone(),
    }
}

impl MarketContext {
    pub fn book_view(&self, sku: &str, book: &Book, levels: usize) -> BookView {
        let depth = book.depth(levels);
        let level = |level: &matching::LevelView| Level {
            price: level.price.0,
            qty: level.qty.0,
            orders: level.orders,
        };
        BookView {
            sku: sku.to_owned(),
            seq: book.last_seq().map_or(0, |seq| seq.0),
            bids: depth.bids.iter().map(level).collect(),
            asks: depth.asks.iter().map(level).collect(),
        }
    }

    /// Market data after a command: the book's top, and the trades it made.
    pub async fn publish(
        &self,
        sku: &str,
        seq: u64,
        book: &Book,
        plan: &settle::Plan,
        at: DateTime<Utc>,
    ) {
        let mut messages = vec![Message::json(
            wire::book_subject(sku),
            &self.book_view(sku, book, self.depth_levels),
        )];
        if !plan.trades.is_empty() {
            let trades = Trades {
                sku: sku.to_owned(),
                seq,
                trades: plan
                    .trades
                    .iter()
                    .map(|t| TradeView {
                        sku: sku.to_owned(),
                        id: t.id,
                        price: t.price,
                        qty: t.qty,
                        taker_side: wire_side(t.taker_side),
                        at,
                    })
                    .collect(),
            };
            messages.push(Message::json(wire::trades_subject(sku), &trades));
        }
        for message in messages {
            let published = match message {
                Ok(message) => self.bus.publish(message).await,
                Err(error) => Err(error),
            };
            if let Err(error) = published {
                tracing::warn!(%sku, %error, "market data not published");
            }
        }
    }
}

/// The markets of one node: validation, wallet holds, and the actors that own the books.
#[derive(Clone)]
pub struct Markets {
    context: Arc<MarketContext>,
    actors: Registry<MarketActors>,
    catalog: Catalog,
}

impl Markets {
    pub async fn start(
        context: MarketContext,
        catalog: Catalog,
        idle: Duration,
        supervisor: Option<actors::ractor::ActorCell>,
    ) -> anyhow::Result<Self> {
        let context = Arc::new(context);
        let actors = Registry::spawn(
            "markets",
            Arc::new(MarketActors(context.clone())),
            RegistryConfig {
                idle_timeout: idle,
                ..RegistryConfig::default()
            },
            supervisor,
        )
        .await?;
        Ok(Self {
            context,
            actors,
            catalog,
        })
    }

    pub async fn stop(&self) {
        self.actors.stop().await;
    }

    /// Places an order: its cost is held in the wallet, then it enters the book. Returns
    /// the order and whether this is an answer to a resend.
    ///
    /// The order row is written first (`new`, with the job that releases an attempt that
    /// stops halfway), then claimed for the book (`submitting`) by one conditional update:
    /// of several sends of one order, at once or on several nodes, one holds and submits;
    /// the others wait for its answer, or say `request_in_progress`.
    pub async fn place(
        &self,
        user: Uuid,
        sku: &str,
        request: &PlaceOrder,
    ) -> Result<(OrderView, bool), RewardsError> {
        if request.price == 0 || request.price > MAX_PRICE {
            return Err(RewardsError::invalid(
                "invalid_price",
                format!("price must be a whole number of coins from 1 to {MAX_PRICE}"),
            ));
        }
        if request.qty == 0 || request.qty > MAX_QTY {
            return Err(RewardsError::invalid(
                "invalid_quantity",
                format!("qty must be a whole number of units from 1 to {MAX_QTY}"),
            ));
        }
        self.catalog.tradable(sku).await?;
        let side = match request.side {
            wire::Side::Buy => Side::Buy,
            wire::Side::Sell => Side::Sell,
        };
        let hash = request_hash(sku, request);
        let now = Utc::now();
        let held = match side {
            Side::Buy => request.price * request.qty,
            Side::Sell => request.qty,
        };
        // The order row and the job that cleans up after an attempt that stops between
        // the hold and the book (a crash, a client that never retries) are one write.
        let txn = self.context.db.begin().await?;
        let inserted = order::Entity::insert(order::ActiveModel {
            id: ActiveValue::Set(request.id),
            user_id: ActiveValue::Set(user),
            sku: ActiveValue::Set(sku.to_owned()),
            engine_id: ActiveValue::Set(None),
            side: ActiveValue::Set(side_str(side).to_owned()),
            price: ActiveValue::Set(to_i64(request.price)),
            qty: ActiveValue::Set(to_i64(request.qty)),
            tif: ActiveValue::Set(request.time_in_force.as_str().to_owned()),
            request_hash: ActiveValue::Set(hash.clone()),
            status: ActiveValue::Set("new".to_owned()),
            filled: ActiveValue::Set(0),
            hold_id: ActiveValue::Set(request.id),
            held: ActiveValue::Set(to_i64(held)),
            holds: ActiveValue::Set(0),
            reason: ActiveValue::Set(None),
            created_at: ActiveValue::Set(now),
            updated_at: ActiveValue::Set(now),
            answer: ActiveValue::Set(None),
        })
        .on_conflict(
            OnConflict::column(order::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        let enqueued = if inserted == 1 {
            let job = crate::work::abandon_job(request.id, now + ABANDON_AFTER)?;
            self.context
                .jobs
                .enqueue_all_in(&txn, vec![job])
                .await
                .map_err(|error| RewardsError::Unavailable(error.to_string()))?
        } else {
            Vec::new()
        };
        txn.commit().await?;
        self.context.jobs.wake(&enqueued).await;
        let replayed = inserted == 0;
        let waiting = std::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let row = order::Entity::find_by_id(request.id)
                .one(&self.context.db)
                .await?
                .ok_or_else(|| RewardsError::Unavailable("order row vanished".into()))?;
            if row.user_id != user || row.request_hash != hash {
                return Err(RewardsError::Conflict(
                    "order_id_reused",
                    format!("order id {} was used before for another order", request.id),
                ));
            }
            match row.status.as_str() {
                "new" => {
                    // Nothing is held for a market that takes no command.
                    if self.context.halt_of(sku).await?.is_some() {
                        return Err(RewardsError::MarketHalted(sku.to_owned()));
                    }
                    if self.claim(&row, None).await? {
                        // `None`: entered by another attempt, or released: its row says.
                        if let Some(answer) = self.submit(sku, &row, request).await? {
                            return Ok((answer, replayed));
                        }
                    }
                }
                "submitting" => {
                    let cutoff = Utc::now() - SUBMIT_STALE;
                    if row.engine_id.is_none()
                        && row.updated_at < cutoff
                        && self.claim(&row, Some(cutoff)).await?
                    {
                        if let Some(answer) = self.submit(sku, &row, request).await? {
                            return Ok((answer, true));
                        }
                    } else if waiting.elapsed() >= RESEND_WAIT {
                        return Err(RewardsError::InProgress { retry_after: 1 });
                    } else {
                        // The first send is on its way to the book: its answer is moments
                        // away.
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(200));
                    }
                }
                "rejected" => return Err(rejection(&row)),
                _ => return Ok((answer_of(&row), true)),
            }
        }
    }

    /// Claims an order for the book: `new`, or `submitting` but stale (`cutoff`: its first
    /// attempt stopped). True when this caller won.
    async fn claim(
        &self,
        row: &order::Model,
        cutoff: Option<DateTime<Utc>>,
    ) -> Result<bool, RewardsError> {
        let condition = match cutoff {
            None => Condition::all().add(order::Column::Status.eq("new")),
            Some(cutoff) => Condition::all()
                .add(order::Column::Status.eq("submitting"))
                .add(order::Column::EngineId.is_null())
                .add(order::Column::UpdatedAt.lt(cutoff)),
        };
        let claimed = order::Entity::update_many()
            .col_expr(order::Column::Status, "submitting".into())
            .col_expr(order::Column::UpdatedAt, Utc::now().into())
            .filter(order::Column::Id.eq(row.id))
            .filter(condition)
            .exec(&self.context.db)
            .await?
            .rows_affected;
        Ok(claimed == 1)
    }

    /// Holds a claimed order's cost and submits it to the book. `None`: the book did not
    /// take it (entered already, or released by the abandon job), its row says why.
    async fn submit(
        &self,
        sku: &str,
        row: &order::Model,
        request: &PlaceOrder,
    ) -> Result<Option<OrderView>, RewardsError> {
        let state = actor::fresh_state(row, self.context.hold_days);
        let asset = match state.side {
            Side::Buy => COIN.to_owned(),
            Side::Sell => ledger::units_asset(sku),
        };
        // The same request on every attempt (the wallet answers a resent hold with the
        // first one); the expire job cancels the order an hour before its deadline.
        let hold = Batch {
            legs: vec![Leg::Hold(HoldLeg {
                id: state.hold_id,
                debit: ledger::user(state.user),
                credit: ESCROW.to_owned(),
                asset,
                amount: state.held.to_string(),
                timeout_seconds: self.context.hold_days.saturating_mul(86_400),
                memo: Some(format!("order {} on {sku}", row.id)),
            })],
        };
        match self.context.ledger.execute(&hold).await {
            Ok(_) => {}
            Err(RewardsError::Wallet(refusal)) => {
                // Nothing reached the book; the refusal is the order's answer from now on.
                order::Entity::update_many()
                    .col_expr(order::Column::Status, "rejected".into())
                    .col_expr(order::Column::Reason, Some(refusal.code.clone()).into())
                    .col_expr(order::Column::UpdatedAt, Utc::now().into())
                    .filter(order::Column::Id.eq(row.id))
                    .filter(order::Column::Status.eq("submitting"))
                    .filter(order::Column::EngineId.is_null())
                    .exec(&self.context.db)
                    .await?;
                return Err(RewardsError::Wallet(refusal));
            }
            Err(error) => {
                self.unclaim(row.id).await;
                return Err(error);
            }
        }
        let answer = OrderView {
            id: row.id,
            sku: sku.to_owned(),
            side: request.side,
            price: request.price,
            qty: request.qty,
            time_in_force: request.time_in_force.as_str().to_owned(),
            status: "open".to_owned(),
            filled: 0,
            open: request.qty,
            reason: None,
        };
        let tif = request.time_in_force.engine();
        let submitted: Result<Submitted, RewardsError> = self
            .actors
            .call(sku.to_owned(), |reply| MarketMsg::Submit {
                order: Box::new(state.clone()),
                tif,
                answer: Box::new(answer),
                reply,
            })
            .await
            .map_err(actor_error)?;
        match submitted? {
            Submitted::Entered(answer) => Ok(Some(answer)),
            Submitted::Refused => {
                let row = order::Entity::find_by_id(row.id)
                    .one(&self.context.db)
                    .await?
                    .ok_or_else(|| RewardsError::Unavailable("order row vanished".into()))?;
                if row.status == "rejected" && row.reason.as_deref() == Some("interrupted") {
                    // Released by the abandon job while this attempt held: the hold this
                    // attempt made goes too.
                    self.release(&row).await?;
                }
                Ok(None)
            }
        }
    }

    /// Gives an order whose attempt failed before the book back to its resends.
    async fn unclaim(&self, id: Uuid) {
        let released = order::Entity::update_many()
            .col_expr(order::Column::Status, "new".into())
            .col_expr(order::Column::UpdatedAt, Utc::now().into())
            .filter(order::Column::Id.eq(id))
            .filter(order::Column::Status.eq("submitting"))
            .filter(order::Column::EngineId.is_null())
            .exec(&self.context.db)
            .await;
        if let Err(error) = released {
            tracing::warn!(order = %id, %error, "order left submitting");
        }
    }

    /// Cancels the user's open order; its hold is released.
    pub async fn cancel(&self, user: Uuid, sku: &str, id: Uuid) -> Result<OrderView, RewardsError> {
        let row = order::Entity::find_by_id(id)
            .one(&self.context.db)
            .await?
            .filter(|row| row.user_id == user && row.sku == sku)
            .ok_or(RewardsError::UnknownOrder(id))?;
        if row.status != "open" {
            // Cancelling twice, or an order already done: say where it stands.
            return Ok(view(&row));
        }
        self.cancel_open(sku, id).await?;
        let row = order::Entity::find_by_id(id)
            .one(&self.context.db)
            .await?
            .ok_or(RewardsError::UnknownOrder(id))?;
        Ok(view(&row))
    }

    /// Cancels an open order, whoever asks (the user, or its hold's deadline).
    pub async fn cancel_open(&self, sku: &str, id: Uuid) -> Result<(), RewardsError> {
        if self.context.halt_of(sku).await?.is_some() {
            return Err(RewardsError::MarketHalted(sku.to_owned()));
        }
        let result: Result<Outcome, RewardsError> = self
            .actors
            .call(sku.to_owned(), |reply| MarketMsg::Cancel {
                order: id,
                reply,
            })
            .await
            .map_err(actor_error)?;
        match result {
            // Filled or cancelled in the meantime.
            Ok(_) | Err(RewardsError::UnknownOrder(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// The top `levels` price levels of each side.
    pub async fn book(&self, sku: &str, levels: usize) -> Result<BookView, RewardsError> {
        self.catalog.sku(sku).await?;
        let levels = levels.clamp(1, self.context.depth_levels);
        self.actors
            .call(sku.to_owned(), |reply| MarketMsg::Book { levels, reply })
            .await
            .map_err(actor_error)
    }

    /// The latest trades, newest first.
    pub async fn trades(&self, sku: &str, limit: u64) -> Result<Vec<TradeView>, RewardsError> {
        self.catalog.sku(sku).await?;
        let rows = trade::Entity::find()
            .filter(trade::Column::Sku.eq(sku))
            .order_by_desc(trade::Column::TradeId)
            .limit(limit)
            .all(&self.context.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| TradeView {
                sku: row.sku,
                id: u64::try_from(row.trade_id).unwrap_or(0),
                price: u64::try_from(row.price).unwrap_or(0),
                qty: u64::try_from(row.qty).unwrap_or(0),
                taker_side: if row.taker_side == "sell" {
                    wire::Side::Sell
                } else {
                    wire::Side::Buy
                },
                at: row.created_at,
            })
            .collect())
    }

    /// Releases the hold of an order that never reached the book (its attempt stopped
    /// after the hold; the abandon job, long after any request could still be running).
    /// The order is released first, by a conditional update, so that an attempt still
    /// under way finds it gone and the book never takes it.
    pub async fn abandon(&self, id: Uuid) -> Result<(), RewardsError> {
        order::Entity::update_many()
            .col_expr(order::Column::Status, "rejected".into())
            .col_expr(order::Column::Reason, Some("interrupted".to_owned()).into())
            .col_expr(order::Column::Held, 0.into())
            .col_expr(order::Column::UpdatedAt, Utc::now().into())
            .filter(order::Column::Id.eq(id))
            .filter(order::Column::Status.is_in(["new", "submitting"]))
            .filter(order::Column::EngineId.is_null())
            .exec(&self.context.db)
            .await?;
        let Some(row) = order::Entity::find_by_id(id).one(&self.context.db).await? else {
            return Ok(());
        };
        if row.status == "rejected" && row.reason.as_deref() == Some("interrupted") {
            // Again on every run of the job: the void is idempotent.
            self.release(&row).await?;
        }
        Ok(())
    }

    /// Voids the hold of an order released before the book.
    async fn release(&self, row: &order::Model) -> Result<(), RewardsError> {
        let void = Batch {
            legs: vec![Leg::Void(contracts::wallet::VoidLeg {
                id: ledger::leg_id(&[&row.id.to_string(), "abandon"]),
                pending_id: row.hold_id,
                memo: Some("order abandoned before the book".to_owned()),
            })],
        };
        match self.context.ledger.execute(&void).await {
            Ok(_) => Ok(()),
            Err(RewardsError::Wallet(refusal))
                if matches!(refusal.code.as_str(), "hold_not_found" | "hold_resolved") =>
            {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// The user's order.
    pub async fn order(&self, user: Uuid, id: Uuid) -> Result<OrderView, RewardsError> {
        order::Entity::find_by_id(id)
            .one(&self.context.db)
            .await?
            .filter(|row| row.user_id == user)
            .map(|row| view(&row))
            .ok_or(RewardsError::UnknownOrder(id))
    }
}

/// The answer an order was first given (its state then), for every resend.
fn answer_of(row: &order::Model) -> OrderView {
    row.answer
        .as_deref()
        .and_then(|answer| serde_json::from_str(answer).ok())
        .unwrap_or_else(|| view(row))
}

fn rejection(row: &order::Model) -> RewardsError {
    let code = row.reason.clone().unwrap_or_default();
    if code == "interrupted" {
        return RewardsError::Conflict(
            "interrupted",
            format!(
                "order {} stopped before the book and its hold was released; place it again under a new id",
                row.id
            ),
        );
    }
    match serde_json::from_value::<matching::RejectReason>(serde_json::Value::String(code.clone()))
    {
        Ok(reason) => RewardsError::Rejected(reason),
        Err(_) => RewardsError::Wallet(contracts::Refusal {
            message: format!("the order was refused: {code}"),
            code,
        }),
    }
}

/// What identifies an order's request: a resend under its id must carry the same.
pub fn request_hash(sku: &str, request: &PlaceOrder) -> String {
    let text = format!(
        "{sku}|{}|{}|{}|{}",
        side_str(match request.side {
            wire::Side::Buy => Side::Buy,
            wire::Side::Sell => Side::Sell,
        }),
        request.price,
        request.qty,
        request.time_in_force.as_str()
    );
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn actor_error(error: ActorError) -> RewardsError {
    RewardsError::Unavailable(format!("market: {error}"))
}
