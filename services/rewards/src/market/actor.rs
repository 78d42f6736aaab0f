//! One actor per market (a voucher SKU against coins): the only writer of its book.
//!
//! A command is applied to the in-memory book, and its entry in the market's command log
//! is written in one transaction with everything it decided (orders' new state, trades,
//! the settlement batch). The log is keyed by (sku, seq): if another node appended first,
//! the transaction fails and this actor crashes on purpose, to be rebuilt from the log.
//! Settlements are then sent to the wallet strictly in seq order, because a later one may
//! post a hold an earlier one opened.
//!
//! On start the book is the replay of the log, checked against the orders table.

use super::settle::{self, OrderState, Plan, Status};
use super::{MarketContext, owner_of};
use crate::error::RewardsError;
use crate::store::{market_log, order, settlement, trade};
use actors::ActorError;
use actors::Keyed;
use actors::ractor::RpcReplyPort;
use chrono::Utc;
use contracts::rewards::BookView;
use matching::{
    Action, Book, Cancel, Command, Event, MarketSpec, NewOrder, OrderId, OrderKind, Qty,
};
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// What an order looks like after the command that entered or cancelled it.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: Status,
    pub filled: u64,
    pub open: u64,
    pub reason: Option<&'static str>,
}

pub enum MarketMsg {
    Submit {
        order: OrderState,
        tif: matching::TimeInForce,
        reply: RpcReplyPort<Result<Outcome, RewardsError>>,
    },
    Cancel {
        order: Uuid,
        reply: RpcReplyPort<Result<Outcome, RewardsError>>,
    },
    Book {
        levels: usize,
        reply: RpcReplyPort<BookView>,
    },
    /// Send pending settlements to the wallet (a job's nudge after the wallet was away).
    Drain {
        reply: RpcReplyPort<Result<(), RewardsError>>,
    },
}

pub struct MarketState {
    book: Book,
    /// Resting orders by engine id.
    orders: HashMap<OrderId, OrderState>,
    /// Wakes this market's settler: a task that sends pending settlements to the wallet
    /// in seq order while the actor goes on matching (it ends with the state).
    settler: tokio::sync::mpsc::Sender<()>,
}

/// Starts the settler of market `sku`; one wake-up may stand for many settlements.
fn settler(context: Arc<super::MarketContext>, sku: String) -> tokio::sync::mpsc::Sender<()> {
    let (wake, mut woken) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        while woken.recv().await.is_some() {
            if let Err(error) = context.drain(&sku).await {
                // The wallet (or the database) is away: a job retries, durably and with
                // backoff, on whichever node claims it.
                tracing::warn!(%sku, %error, "settlement left to its job");
                if let Err(error) = context.retry_later(&sku).await {
                    tracing::error!(%sku, %error, "settlement retry not scheduled");
                }
            }
        }
    });
    wake
}

/// The behaviour every market actor of a node shares.
pub struct Markets(pub Arc<MarketContext>);

/// Every market trades whole coins per whole unit.
pub fn spec() -> MarketSpec {
    MarketSpec::new(1, 1).unwrap_or_else(|_| unreachable!("1 and 1 are positive"))
}

impl Keyed for Markets {
    type Key = String;
    type Msg = MarketMsg;
    type State = MarketState;

    async fn init(&self, sku: &String) -> Result<MarketState, ActorError> {
        let db = &self.0.db;
        let log = market_log::Entity::find()
            .filter(market_log::Column::Sku.eq(sku.as_str()))
            .order_by_asc(market_log::Column::Seq)
            .all(db)
            .await
            .map_err(ActorError::failed)?;
        let commands = log
            .iter()
            .map(|row| serde_json::from_str::<Command>(&row.command))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ActorError::failed)?;
        let book = Book::replay(spec(), &commands);
        let rows = order::Entity::find()
            .filter(order::Column::Sku.eq(sku.as_str()))
            .filter(order::Column::Status.eq(Status::Open.as_str()))
            .all(db)
            .await
            .map_err(ActorError::failed)?;
        let mut orders = HashMap::new();
        for row in rows {
            let engine_id = row
                .engine_id
                .and_then(|id| u64::try_from(id).ok())
                .ok_or_else(|| {
                    ActorError::Failed(format!("open order {} has no engine id", row.id))
                })?;
            let state = super::state_of(&row, self.0.hold_days);
            // The book and the table must agree on every resting order.
            match book.order(OrderId(engine_id)) {
                Some(resting) if resting.qty.0 == state.open => {}
                other => {
                    return Err(ActorError::Failed(format!(
                        "market {sku}: order {} is open with {} in the table but {:?} in the book",
                        row.id, state.open, other
                    )));
                }
            }
            orders.insert(OrderId(engine_id), state);
        }
        if orders.len() != book.len() {
            return Err(ActorError::Failed(format!(
                "market {sku}: {} orders rest in the book, {} are open in the table",
                book.len(),
                orders.len()
            )));
        }
        let settler = settler(self.0.clone(), sku.clone());
        // Whatever an earlier life of this market left unsettled.
        let _ = settler.try_send(());
        Ok(MarketState {
            book,
            orders,
            settler,
        })
    }

    async fn handle(
        &self,
        sku: &String,
        state: &mut MarketState,
        msg: MarketMsg,
    ) -> Result<(), ActorError> {
        match msg {
            MarketMsg::Submit { order, tif, reply } => {
                let seq = next_seq(&state.book);
                let engine_id = OrderId(seq);
                let new = NewOrder {
                    id: engine_id,
                    owner: owner_of(order.user),
                    side: order.side,
                    kind: OrderKind::Limit {
                        price: matching::Price(order.price),
                    },
                    qty: Qty(order.open),
                    tif,
                    stp: matching::SelfTradePrevention::CancelNewest,
                };
                let id = order.id;
                state.orders.insert(engine_id, order);
                let result = self
                    .run(sku, state, seq, Action::Submit(new), Some(engine_id), id)
                    .await;
                self.answer(result, reply)
            }
            MarketMsg::Cancel { order, reply } => {
                let Some((engine_id, owner)) = state
                    .orders
                    .iter()
                    .find(|(_, resting)| resting.id == order)
                    .map(|(engine_id, resting)| (*engine_id, owner_of(resting.user)))
                else {
                    let _ = reply.send(Err(RewardsError::UnknownOrder(order)));
                    return Ok(());
                };
                let seq = next_seq(&state.book);
                let action = Action::Cancel(Cancel {
                    id: engine_id,
                    owner,
                });
                let result = self.run(sku, state, seq, action, None, order).await;
                self.answer(result, reply)
            }
            MarketMsg::Book { levels, reply } => {
                let _ = reply.send(self.0.book_view(sku, &state.book, levels));
                Ok(())
            }
            MarketMsg::Drain { reply } => {
                let _ = reply.send(self.0.drain(sku).await);
                Ok(())
            }
        }
    }
}

fn next_seq(book: &Book) -> u64 {
    book.last_seq().map_or(1, |seq| seq.0 + 1)
}

impl Markets {
    /// Replies, and crashes the actor (to rebuild from the log) when the book may have
    /// moved ahead of what was written.
    fn answer(
        &self,
        result: Result<Outcome, (RewardsError, bool)>,
        reply: RpcReplyPort<Result<Outcome, RewardsError>>,
    ) -> Result<(), ActorError> {
        match result {
            Ok(outcome) => {
                let _ = reply.send(Ok(outcome));
                Ok(())
            }
            Err((error, stale)) => {
                let message = error.to_string();
                let _ = reply.send(Err(error));
                if stale {
                    Err(ActorError::Failed(message))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Applies one command, records it with what it decided, then settles. The error's
    /// flag says the in-memory book is no longer what the log says.
    async fn run(
        &self,
        sku: &str,
        state: &mut MarketState,
        seq: u64,
        action: Action,
        submitted: Option<OrderId>,
        subject: Uuid,
    ) -> Result<Outcome, (RewardsError, bool)> {
        let now = Utc::now();
        let command = Command::new(
            seq,
            u64::try_from(now.timestamp_millis()).unwrap_or(0),
            action,
        );
        let events = state.book.apply(&command);
        let plan = settle::plan(sku, seq, submitted, &events, &mut state.orders, now);
        let rested = submitted.and_then(|id| state.orders.get(&id).cloned());
        let entered = submitted.map(|engine_id| (engine_id, subject));
        self.record(sku, seq, &command, &plan, entered, rested.as_ref())
            .await
            .map_err(|error| (error, true))?;
        // The command is decided and durable: it settles behind the answer, in order.
        let _ = state.settler.try_send(());
        self.0.publish(sku, seq, &state.book, &plan, now).await;
        let outcome = plan
            .touched
            .iter()
            .find(|touched| touched.order.id == subject)
            .map(|touched| Outcome {
                status: touched.status,
                filled: touched.order.filled,
                open: touched.order.open,
                reason: touched.reason,
            })
            .or_else(|| {
                rested.map(|order| Outcome {
                    status: Status::Open,
                    filled: order.filled,
                    open: order.open,
                    reason: None,
                })
            })
            .unwrap_or(Outcome {
                status: Status::Cancelled,
                filled: 0,
                open: 0,
                reason: None,
            });
        if let Some(Event::Rejected { reason, .. }) = events
            .iter()
            .find(|event| matches!(event, Event::Rejected { .. }))
            && submitted.is_some()
        {
            return Err((RewardsError::Rejected(*reason), false));
        }
        Ok(outcome)
    }

    /// The transaction that makes a command happen.
    async fn record(
        &self,
        sku: &str,
        seq: u64,
        command: &Command,
        plan: &Plan,
        submitted: Option<(OrderId, Uuid)>,
        rested: Option<&OrderState>,
    ) -> Result<(), RewardsError> {
        let context = &self.0;
        let now = Utc::now();
        let seq_i64 = i64::try_from(seq).map_err(|e| RewardsError::Internal(e.to_string()))?;
        let txn = context.db.begin().await?;
        market_log::Entity::insert(market_log::ActiveModel {
            sku: ActiveValue::Set(sku.to_owned()),
            seq: ActiveValue::Set(seq_i64),
            command: ActiveValue::Set(
                serde_json::to_string(command)
                    .map_err(|e| RewardsError::Internal(e.to_string()))?,
            ),
            created_at: ActiveValue::Set(now),
        })
        .exec(&txn)
        .await?;
        let engine_id = submitted.map(|(id, _)| i64::try_from(id.0).unwrap_or(i64::MAX));
        let mut updates: Vec<(&OrderState, Status, Option<&str>)> = plan
            .touched
            .iter()
            .map(|touched| (&touched.order, touched.status, touched.reason))
            .collect();
        if let Some(order) = rested
            && !updates.iter().any(|(touched, ..)| touched.id == order.id)
        {
            updates.push((order, Status::Open, None));
        }
        for (order, status, reason) in updates {
            let mut row = order::ActiveModel {
                id: ActiveValue::Unchanged(order.id),
                status: ActiveValue::Set(status.as_str().to_owned()),
                filled: ActiveValue::Set(to_i64(order.filled)),
                hold_id: ActiveValue::Set(order.hold_id),
                held: ActiveValue::Set(to_i64(order.held)),
                holds: ActiveValue::Set(i32::try_from(order.holds).unwrap_or(i32::MAX)),
                reason: ActiveValue::Set(reason.map(str::to_owned)),
                updated_at: ActiveValue::Set(now),
                ..Default::default()
            };
            if submitted.is_some_and(|(_, subject)| order.id == subject) {
                row.engine_id = ActiveValue::Set(engine_id);
            }
            order::Entity::update(row).exec(&txn).await?;
        }
        if !plan.trades.is_empty() {
            trade::Entity::insert_many(plan.trades.iter().map(|t| trade::ActiveModel {
                sku: ActiveValue::Set(sku.to_owned()),
                trade_id: ActiveValue::Set(to_i64(t.id)),
                seq: ActiveValue::Set(seq_i64),
                price: ActiveValue::Set(to_i64(t.price)),
                qty: ActiveValue::Set(to_i64(t.qty)),
                taker_side: ActiveValue::Set(super::side_str(t.taker_side).to_owned()),
                buy_order: ActiveValue::Set(t.buy_order),
                sell_order: ActiveValue::Set(t.sell_order),
                created_at: ActiveValue::Set(now),
            }))
            .exec(&txn)
            .await?;
        }
        let mut jobs = Vec::new();
        if !plan.legs.is_empty() {
            let batch = contracts::wallet::Batch {
                legs: plan.legs.clone(),
            };
            settlement::Entity::insert(settlement::ActiveModel {
                id: ActiveValue::Set(crate::ledger::leg_id(&[
                    sku,
                    &seq.to_string(),
                    "settlement",
                ])),
                sku: ActiveValue::Set(sku.to_owned()),
                seq: ActiveValue::Set(seq_i64),
                batch: ActiveValue::Set(
                    serde_json::to_string(&batch)
                        .map_err(|e| RewardsError::Internal(e.to_string()))?,
                ),
                code_moves: ActiveValue::Set(
                    serde_json::to_string(&plan.code_moves)
                        .map_err(|e| RewardsError::Internal(e.to_string()))?,
                ),
                status: ActiveValue::Set("pending".to_owned()),
                failure: ActiveValue::Set(None),
                created_at: ActiveValue::Set(now),
            })
            .exec(&txn)
            .await?;
        }
        if let Some(order) = rested
            && plan
                .touched
                .iter()
                .all(|t| t.order.id != order.id || t.status == Status::Open)
        {
            jobs.push(crate::work::expire_job(sku, order.id, order.deadline)?);
        }
        let enqueued = context
            .jobs
            .enqueue_all_in(&txn, jobs)
            .await
            .map_err(|e| RewardsError::Unavailable(e.to_string()))?;
        txn.commit().await?;
        context.jobs.wake(&enqueued).await;
        Ok(())
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
