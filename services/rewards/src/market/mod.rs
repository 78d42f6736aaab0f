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

use crate::catalog::Catalog;
use crate::error::RewardsError;
use crate::ledger::{self, COIN, ESCROW, Ledger};
use crate::store::{code, order, settlement, trade};
use actor::{MarketMsg, Markets as MarketActors, Outcome};
use actors::{ActorError, Registry, RegistryConfig};
use bus::{DynBus, Message};
use chrono::{DateTime, Duration as Span, Utc};
use contracts::rewards::{self as wire, BookView, Level, TradeView, Trades};
use contracts::wallet::{Batch, HoldLeg, Leg};
use matching::{Book, OwnerId, Side, TimeInForce};
use sea_orm::{
    ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait, sea_query::OnConflict,
};
use serde::{Deserialize, Serialize};
use settle::{CodeMove, OrderState, Status};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// When an order still short of the book is given up: far beyond any request's life
/// (the actor call times out after seconds), so it never races one.
const ABANDON_AFTER: Span = Span::minutes(10);

/// The most legs the wallet takes in one linked batch.
const MAX_LEGS: usize = 64;

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
#[derive(Clone, Debug, Serialize, ToSchema)]
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
    /// Sends the market's pending settlements to the wallet, oldest first, stopping at
    /// the first the wallet cannot take now (a later one may depend on it).
    pub async fn drain(&self, sku: &str) -> Result<(), RewardsError> {
        let lock = self
            .drains
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(sku.to_owned())
            .or_default()
            .clone();
        let _turn = lock.lock().await;
        let pending = settlement::Entity::find()
            .filter(settlement::Column::Sku.eq(sku))
            .filter(settlement::Column::Status.eq("pending"))
            .order_by_asc(settlement::Column::Seq)
            .all(&self.db)
            .await?;
        for row in pending {
            let batch: Batch = serde_json::from_str(&row.batch)
                .map_err(|error| RewardsError::Internal(error.to_string()))?;
            let (status, failure) = match self.execute(&batch).await {
                Ok(()) => ("done", None),
                // A hold an earlier settlement opens (on another node's drain, say) is not
                // there yet: later, in order.
                Err(RewardsError::Wallet(refusal)) if refusal.code == "hold_not_found" => {
                    return Err(RewardsError::Unavailable(refusal.message));
                }
                Err(RewardsError::Wallet(refusal)) => {
                    // Holds guarantee every settlement; a refusal is a bug or an operator's
                    // intervention, and needs a person.
                    tracing::error!(%sku, seq = row.seq, code = %refusal.code, message = %refusal.message, "settlement refused by the wallet");
                    ("failed", Some(refusal.code))
                }
                Err(error) => return Err(error),
            };
            let moves: Vec<CodeMove> = serde_json::from_str(&row.code_moves)
                .map_err(|error| RewardsError::Internal(error.to_string()))?;
            let txn = self.db.begin().await?;
            if status == "done" {
                for change in moves {
                    move_codes(&txn, sku, &change).await?;
                }
            }
            settlement::Entity::update_many()
                .col_expr(settlement::Column::Status, status.into())
                .col_expr(settlement::Column::Failure, failure.into())
                .filter(settlement::Column::Id.eq(row.id))
                .filter(settlement::Column::Status.eq("pending"))
                .exec(&txn)
                .await?;
            txn.commit().await?;
        }
        Ok(())
    }

    /// Schedules the job that drains the market later (unique per market).
    pub async fn retry_later(&self, sku: &str) -> Result<(), RewardsError> {
        let job = crate::work::settle_job(sku, Utc::now() + self.retry_after)?;
        let enqueued = self
            .jobs
            .enqueue(job)
            .await
            .map_err(|error| RewardsError::Unavailable(error.to_string()))?;
        self.jobs.wake(&[enqueued]).await;
        Ok(())
    }

    /// Sends a settlement batch: one linked batch, or, past the wallet's 64 legs (a taker
    /// sweeping dozens of orders), consecutive batches in the plan's order (posts into
    /// escrow before payments out of it, new holds last), each idempotent.
    async fn execute(&self, batch: &Batch) -> Result<(), RewardsError> {
        for legs in batch.legs.chunks(MAX_LEGS) {
            self.ledger
                .execute(&Batch {
                    legs: legs.to_vec(),
                })
                .await?;
        }
        Ok(())
    }

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

/// Gives `change.qty` of the seller's unredeemed codes to the buyer.
async fn move_codes(
    txn: &sea_orm::DatabaseTransaction,
    sku: &str,
    change: &CodeMove,
) -> Result<(), RewardsError> {
    let ids: Vec<Uuid> = code::Entity::find()
        .select_only()
        .column(code::Column::Id)
        .filter(code::Column::Sku.eq(sku))
        .filter(code::Column::Owner.eq(change.from))
        .filter(code::Column::RedeemedAt.is_null())
        .order_by_asc(code::Column::AssignedAt)
        .limit(change.qty)
        .into_tuple()
        .all(txn)
        .await?;
    if ids.is_empty() {
        tracing::error!(%sku, seller = %change.from, wanted = change.qty, "seller has no codes for the units sold");
        return Ok(());
    }
    if (ids.len() as u64) < change.qty {
        tracing::error!(%sku, seller = %change.from, wanted = change.qty, found = ids.len(), "seller has fewer codes than units sold");
    }
    code::Entity::update_many()
        .col_expr(code::Column::Owner, change.to.into())
        .col_expr(code::Column::AssignedAt, Utc::now().into())
        .filter(code::Column::Id.is_in(ids))
        .exec(txn)
        .await?;
    Ok(())
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
        let hold_days = self.context.hold_days;
        let mut state = OrderState {
            id: request.id,
            user,
            side,
            price: request.price,
            open: request.qty,
            filled: 0,
            hold_id: request.id,
            held: 0,
            holds: 0,
            deadline: now + Span::days(i64::from(hold_days)),
        };
        state.held = state.need(request.qty);
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
            held: ActiveValue::Set(to_i64(state.held)),
            holds: ActiveValue::Set(0),
            reason: ActiveValue::Set(None),
            created_at: ActiveValue::Set(now),
            updated_at: ActiveValue::Set(now),
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
        if inserted == 0 {
            let existing = order::Entity::find_by_id(request.id)
                .one(&self.context.db)
                .await?
                .ok_or_else(|| RewardsError::Unavailable("order row vanished".into()))?;
            if existing.user_id != user || existing.request_hash != hash {
                return Err(RewardsError::Conflict(
                    "order_id_reused",
                    format!("order id {} was used before for another order", request.id),
                ));
            }
            match existing.status.as_str() {
                // A resend of an order whose first attempt stopped before the book: go on.
                "new" => state.deadline = existing.created_at + Span::days(i64::from(hold_days)),
                "rejected" => return Err(rejection(&existing)),
                _ => return Ok((view(&existing), true)),
            }
        }
        let asset = match side {
            Side::Buy => COIN.to_owned(),
            Side::Sell => ledger::units_asset(sku),
        };
        let timeout = (state.deadline - now)
            .num_seconds()
            .clamp(1, i64::from(u32::MAX));
        let hold = Batch {
            legs: vec![Leg::Hold(HoldLeg {
                id: state.hold_id,
                debit: ledger::user(user),
                credit: ESCROW.to_owned(),
                asset,
                amount: state.held.to_string(),
                timeout_seconds: u32::try_from(timeout).unwrap_or(u32::MAX),
                memo: Some(format!("order {} on {sku}", request.id)),
            })],
        };
        match self.context.ledger.execute(&hold).await {
            Ok(_) => {}
            Err(RewardsError::Wallet(refusal)) => {
                // Nothing reached the book; the refusal is the order's answer from now on.
                order::Entity::update(order::ActiveModel {
                    id: ActiveValue::Unchanged(request.id),
                    status: ActiveValue::Set("rejected".to_owned()),
                    held: ActiveValue::Set(0),
                    reason: ActiveValue::Set(Some(refusal.code.clone())),
                    updated_at: ActiveValue::Set(Utc::now()),
                    ..Default::default()
                })
                .exec(&self.context.db)
                .await?;
                return Err(RewardsError::Wallet(refusal));
            }
            Err(error) => return Err(error),
        }
        let tif = request.time_in_force.engine();
        let outcome: Result<Outcome, RewardsError> = self
            .actors
            .call(sku.to_owned(), |reply| MarketMsg::Submit {
                order: state.clone(),
                tif,
                reply,
            })
            .await
            .map_err(actor_error)?;
        let outcome = outcome?;
        Ok((
            OrderView {
                id: request.id,
                sku: sku.to_owned(),
                side: request.side,
                price: request.price,
                qty: request.qty,
                time_in_force: request.time_in_force.as_str().to_owned(),
                status: outcome.status.as_str().to_owned(),
                filled: outcome.filled,
                open: if outcome.status == Status::Open {
                    outcome.open
                } else {
                    0
                },
                reason: outcome.reason.map(str::to_owned),
            },
            false,
        ))
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

    /// Markets with settlements still pending (a node stopped between a command and its
    /// settlement): drained as the node starts.
    pub async fn unsettled(&self) -> Result<Vec<String>, RewardsError> {
        let skus: Vec<String> = settlement::Entity::find()
            .select_only()
            .column(settlement::Column::Sku)
            .distinct()
            .filter(settlement::Column::Status.eq("pending"))
            .into_tuple()
            .all(&self.context.db)
            .await?;
        Ok(skus)
    }

    /// Sends the market's pending settlements (the job behind a wallet outage).
    pub async fn drain(&self, sku: &str) -> Result<(), RewardsError> {
        let result: Result<(), RewardsError> = self
            .actors
            .call(sku.to_owned(), |reply| MarketMsg::Drain { reply })
            .await
            .map_err(actor_error)?;
        result
    }

    /// Releases the hold of an order that never reached the book (its attempt stopped
    /// after the hold; the abandon job, long after any request could still be running).
    pub async fn abandon(&self, id: Uuid) -> Result<(), RewardsError> {
        let Some(row) = order::Entity::find_by_id(id).one(&self.context.db).await? else {
            return Ok(());
        };
        if row.status != "new" {
            return Ok(());
        }
        let void = Batch {
            legs: vec![Leg::Void(contracts::wallet::VoidLeg {
                id: ledger::leg_id(&[&id.to_string(), "abandon"]),
                pending_id: row.hold_id,
                memo: Some("order abandoned before the book".to_owned()),
            })],
        };
        match self.context.ledger.execute(&void).await {
            Ok(_) => {}
            Err(RewardsError::Wallet(refusal))
                if matches!(refusal.code.as_str(), "hold_not_found" | "hold_resolved") => {}
            Err(error) => return Err(error),
        }
        order::Entity::update_many()
            .col_expr(order::Column::Status, "rejected".into())
            .col_expr(order::Column::Reason, Some("interrupted".to_owned()).into())
            .col_expr(order::Column::Held, 0.into())
            .filter(order::Column::Id.eq(id))
            .filter(order::Column::Status.eq("new"))
            .exec(&self.context.db)
            .await?;
        Ok(())
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

fn rejection(row: &order::Model) -> RewardsError {
    let code = row.reason.clone().unwrap_or_default();
    match serde_json::from_value::<matching::RejectReason>(serde_json::Value::String(code.clone()))
    {
        Ok(reason) => RewardsError::Rejected(reason),
        Err(_) => RewardsError::Wallet(contracts::Refusal {
            message: format!("the order was refused: {code}"),
            code,
        }),
    }
}

fn request_hash(sku: &str, request: &PlaceOrder) -> String {
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
