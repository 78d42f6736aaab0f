//! One actor per market (a voucher SKU against coins): the only writer of its book on
//! this node.
//!
//! A command first takes its place in the market's command log: the log is keyed by
//! (sku, seq), and the row is inserted before the command touches the book, so a node
//! whose book is behind another's (two nodes serving one market) learns it before
//! anything changed: it catches its book up from the log rows it has not applied, then
//! applies the same request again under the next seq, a few times at most, then answers
//! 503. A lost race costs a retry, never a crash. A submit also claims its order in the
//! same transaction (`submitting` and no engine id yet), so an order enters the book at
//! most once, and never after the abandon job released its hold. The rest of what the
//! command decided (orders' new state, trades, the settlement batch) commits with the log
//! row. Settlements are then sent to the wallet strictly in seq order, because a later one
//! may post a hold an earlier one opened.
//!
//! On start the book is the replay of the log, checked against the orders table.

use super::settle::{self, OrderState, Plan, Status};
use super::{MarketContext, OrderView, owner_of};
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
use sea_orm::{
    ActiveValue, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait, sea_query::OnConflict,
};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// How many times a command is applied again after another node appended first.
const ATTEMPTS: usize = 3;

/// What an order looks like after the command that entered or cancelled it.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: Status,
    pub filled: u64,
    pub open: u64,
    pub reason: Option<&'static str>,
}

/// What became of a submit.
#[derive(Clone, Debug)]
pub enum Submitted {
    /// The order entered the book: its answer.
    Entered(OrderView),
    /// The order was not there to submit: entered already (through another node or an
    /// earlier attempt), or released by the abandon job. Its row says which.
    Refused,
}

pub enum MarketMsg {
    Submit {
        order: Box<OrderState>,
        tif: matching::TimeInForce,
        /// The order's answer, but for what the book decides.
        answer: Box<OrderView>,
        reply: RpcReplyPort<Result<Submitted, RewardsError>>,
    },
    Cancel {
        order: Uuid,
        reply: RpcReplyPort<Result<Outcome, RewardsError>>,
    },
    Book {
        levels: usize,
        reply: RpcReplyPort<BookView>,
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
            match context.drain(&sku).await {
                Ok(super::Drained::Done | super::Drained::Halted) => {}
                // Another node's settler is on this market's next settlement and goes on
                // in order; the job is the net under a settler that stops halfway.
                Ok(super::Drained::Busy) => {
                    if let Err(error) = context.retry_later(&sku).await {
                        tracing::error!(%sku, %error, "settlement retry not scheduled");
                    }
                }
                Err(error) => {
                    // The wallet (or the database) is away: a job retries, durably and
                    // with backoff, on whichever node claims it.
                    tracing::warn!(%sku, %error, "settlement left to its job");
                    if let Err(error) = context.retry_later(&sku).await {
                        tracing::error!(%sku, %error, "settlement retry not scheduled");
                    }
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

/// Why a command did not happen on this attempt.
enum Step {
    /// Another node appended this seq first: catch up and apply it again.
    Lost,
    /// Refused or failed; `true` when the in-memory book may have moved ahead of the log
    /// (then only a rebuild from the log is safe).
    Failed(RewardsError, bool),
}

impl From<sea_orm::DbErr> for Step {
    fn from(error: sea_orm::DbErr) -> Self {
        Step::Failed(error.into(), false)
    }
}

/// A command applied and recorded.
struct Applied {
    plan: Plan,
    events: Vec<Event>,
    rested: Option<OrderState>,
}

impl Keyed for Markets {
    type Key = String;
    type Msg = MarketMsg;
    type State = MarketState;

    async fn init(&self, sku: &String) -> Result<MarketState, ActorError> {
        // Another node may append while this one reads the log and then the orders:
        // the two reads agree when the log did not move between them.
        let mut attempt = 0;
        let (book, orders) = loop {
            attempt += 1;
            match self.load(sku).await {
                Ok(loaded) => break loaded,
                Err(Load::Moved) if attempt < 5 => {}
                Err(Load::Moved) => {
                    return Err(ActorError::Failed(format!(
                        "market {sku}: the log kept moving while it was read"
                    )));
                }
                Err(Load::Failed(error)) => return Err(error),
            }
        };
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
            MarketMsg::Submit {
                order,
                tif,
                answer,
                reply,
            } => {
                let result = self.submit(sku, state, &order, tif, *answer).await;
                self.answer(result, reply)
            }
            MarketMsg::Cancel { order, reply } => {
                let result = self.cancel(sku, state, order).await;
                self.answer(result, reply)
            }
            MarketMsg::Book { levels, reply } => {
                let caught_up = self.catch_up(sku, state).await;
                let _ = reply.send(self.0.book_view(sku, &state.book, levels));
                match caught_up {
                    Ok(()) => Ok(()),
                    Err((error, true)) => Err(ActorError::Failed(error.to_string())),
                    Err((error, false)) => {
                        tracing::warn!(%sku, %error, "book served without catching up");
                        Ok(())
                    }
                }
            }
        }
    }
}

/// Why loading a market failed.
enum Load {
    /// The log grew while it was read: read again.
    Moved,
    Failed(ActorError),
}

fn next_seq(book: &Book) -> u64 {
    book.last_seq().map_or(1, |seq| seq.0 + 1)
}

/// An order as it is before any command touched it: what its first hold covers.
pub fn fresh_state(row: &order::Model, hold_days: u32) -> OrderState {
    let mut state = super::state_of(row, hold_days);
    state.open = u64::try_from(row.qty).unwrap_or(0);
    state.filled = 0;
    state.hold_id = row.id;
    state.holds = 0;
    state.held = state.need(state.open);
    state
}

impl Markets {
    /// The book replayed from the log, and the open orders, which must agree with it.
    async fn load(&self, sku: &str) -> Result<(Book, HashMap<OrderId, OrderState>), Load> {
        let db = &self.0.db;
        let failed = |error: sea_orm::DbErr| Load::Failed(ActorError::failed(error));
        let log = market_log::Entity::find()
            .filter(market_log::Column::Sku.eq(sku))
            .order_by_asc(market_log::Column::Seq)
            .all(db)
            .await
            .map_err(failed)?;
        let commands = log
            .iter()
            .map(|row| serde_json::from_str::<Command>(&row.command))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| Load::Failed(ActorError::failed(error)))?;
        let book = Book::replay(spec(), &commands);
        let rows = order::Entity::find()
            .filter(order::Column::Sku.eq(sku))
            .filter(order::Column::Status.eq(Status::Open.as_str()))
            .all(db)
            .await
            .map_err(failed)?;
        let last = market_log::Entity::find()
            .filter(market_log::Column::Sku.eq(sku))
            .order_by_desc(market_log::Column::Seq)
            .one(db)
            .await
            .map_err(failed)?
            .map(|row| row.seq);
        if last != log.last().map(|row| row.seq) {
            return Err(Load::Moved);
        }
        let mut orders = HashMap::new();
        for row in rows {
            let engine_id = row
                .engine_id
                .and_then(|id| u64::try_from(id).ok())
                .ok_or_else(|| {
                    Load::Failed(ActorError::Failed(format!(
                        "open order {} has no engine id",
                        row.id
                    )))
                })?;
            let state = super::state_of(&row, self.0.hold_days);
            // The book and the table must agree on every resting order.
            match book.order(OrderId(engine_id)) {
                Some(resting) if resting.qty.0 == state.open => {}
                other => {
                    return Err(Load::Failed(ActorError::Failed(format!(
                        "market {sku}: order {} is open with {} in the table but {:?} in the book",
                        row.id, state.open, other
                    ))));
                }
            }
            orders.insert(OrderId(engine_id), state);
        }
        if orders.len() != book.len() {
            return Err(Load::Failed(ActorError::Failed(format!(
                "market {sku}: {} orders rest in the book, {} are open in the table",
                book.len(),
                orders.len()
            ))));
        }
        Ok((book, orders))
    }

    /// Applies the log rows other nodes appended since this book's last command, as
    /// their writers did (the orders they entered read back as they were submitted). The
    /// error's flag says the book moved but did not reach the log's end.
    async fn catch_up(
        &self,
        sku: &str,
        state: &mut MarketState,
    ) -> Result<(), (RewardsError, bool)> {
        let db = &self.0.db;
        let last = state.book.last_seq().map_or(0, |seq| seq.0);
        let rows = market_log::Entity::find()
            .filter(market_log::Column::Sku.eq(sku))
            .filter(market_log::Column::Seq.gt(to_i64(last)))
            .order_by_asc(market_log::Column::Seq)
            .all(db)
            .await
            .map_err(|error| (error.into(), false))?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut commands = Vec::with_capacity(rows.len());
        for row in &rows {
            let command: Command = serde_json::from_str(&row.command)
                .map_err(|error| (RewardsError::Internal(error.to_string()), false))?;
            // Appends commit in seq order; stop at anything else rather than guess.
            if command.seq.0 != last + 1 + commands.len() as u64 {
                break;
            }
            commands.push(command);
        }
        let entered: Vec<i64> = commands
            .iter()
            .filter(|command| matches!(command.action, Action::Submit(_)))
            .map(|command| to_i64(command.seq.0))
            .collect();
        let mut submitted: HashMap<i64, order::Model> = if entered.is_empty() {
            HashMap::new()
        } else {
            order::Entity::find()
                .filter(order::Column::Sku.eq(sku))
                .filter(order::Column::EngineId.is_in(entered))
                .all(db)
                .await
                .map_err(|error| (error.into(), false))?
                .into_iter()
                .filter_map(|row| row.engine_id.map(|id| (id, row)))
                .collect()
        };
        let now = Utc::now();
        for command in &commands {
            let seq = command.seq.0;
            let entering = match &command.action {
                Action::Submit(new) => {
                    let row = submitted.remove(&to_i64(seq)).ok_or_else(|| {
                        (
                            RewardsError::Internal(format!(
                                "market {sku}: command {seq} submits an order no row has"
                            )),
                            true,
                        )
                    })?;
                    state
                        .orders
                        .insert(new.id, fresh_state(&row, self.0.hold_days));
                    Some(new.id)
                }
                _ => None,
            };
            let events = state.book.apply(command);
            // Only the orders' new state matters here: the writer recorded the rest.
            settle::plan(sku, seq, entering, &events, &mut state.orders, now);
        }
        if state.orders.len() != state.book.len() {
            return Err((
                RewardsError::Internal(format!(
                    "market {sku}: caught up to {} orders in the book but {} known",
                    state.book.len(),
                    state.orders.len()
                )),
                true,
            ));
        }
        tracing::debug!(%sku, applied = commands.len(), "market caught up with the log");
        Ok(())
    }

    /// Submits an order: under the next seq, again after catching up when another node
    /// appended first, a few times at most.
    async fn submit(
        &self,
        sku: &str,
        state: &mut MarketState,
        order: &OrderState,
        tif: matching::TimeInForce,
        mut answer: OrderView,
    ) -> Result<Submitted, (RewardsError, bool)> {
        for _ in 0..ATTEMPTS {
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
            let step = self
                .run(
                    sku,
                    state,
                    seq,
                    Action::Submit(new),
                    Some((engine_id, order)),
                    order.id,
                    Some(&mut answer),
                )
                .await;
            match step {
                Ok(Some(applied)) => {
                    if let Some(Event::Rejected { reason, .. }) = applied
                        .events
                        .iter()
                        .find(|event| matches!(event, Event::Rejected { .. }))
                    {
                        return Err((RewardsError::Rejected(*reason), false));
                    }
                    return Ok(Submitted::Entered(answer));
                }
                Ok(None) => return Ok(Submitted::Refused),
                Err(Step::Lost) => {
                    if let Err((error, stale)) = self.catch_up(sku, state).await {
                        if !stale {
                            self.release(order.id).await;
                        }
                        return Err((error, stale));
                    }
                }
                Err(Step::Failed(error, stale)) => {
                    if !stale {
                        self.release(order.id).await;
                    }
                    return Err((error, stale));
                }
            }
        }
        self.release(order.id).await;
        Err((
            RewardsError::Unavailable(format!(
                "market {sku}: other nodes appended first {ATTEMPTS} times"
            )),
            false,
        ))
    }

    /// Gives an order this node could not submit back to its resends (`new` again).
    async fn release(&self, id: Uuid) {
        let released = order::Entity::update_many()
            .col_expr(order::Column::Status, "new".into())
            .col_expr(order::Column::UpdatedAt, Utc::now().into())
            .filter(order::Column::Id.eq(id))
            .filter(order::Column::Status.eq("submitting"))
            .filter(order::Column::EngineId.is_null())
            .exec(&self.0.db)
            .await;
        if let Err(error) = released {
            // Its resends take it over once the claim is stale.
            tracing::warn!(order = %id, %error, "order left submitting");
        }
    }

    /// Cancels a resting order, catching up first if this node has not seen it.
    async fn cancel(
        &self,
        sku: &str,
        state: &mut MarketState,
        order: Uuid,
    ) -> Result<Outcome, (RewardsError, bool)> {
        let mut caught_up = false;
        for _ in 0..ATTEMPTS {
            let found = state
                .orders
                .iter()
                .find(|(_, resting)| resting.id == order)
                .map(|(engine_id, resting)| (*engine_id, owner_of(resting.user)));
            let Some((engine_id, owner)) = found else {
                if caught_up {
                    return Err((RewardsError::UnknownOrder(order), false));
                }
                self.catch_up(sku, state).await?;
                caught_up = true;
                continue;
            };
            let seq = next_seq(&state.book);
            let action = Action::Cancel(Cancel {
                id: engine_id,
                owner,
            });
            match self.run(sku, state, seq, action, None, order, None).await {
                Ok(Some(applied)) => return Ok(outcome(&applied, order)),
                Ok(None) => return Err((RewardsError::UnknownOrder(order), false)),
                Err(Step::Lost) => {
                    self.catch_up(sku, state).await?;
                    caught_up = true;
                }
                Err(Step::Failed(error, stale)) => return Err((error, stale)),
            }
        }
        Err((
            RewardsError::Unavailable(format!(
                "market {sku}: other nodes appended first {ATTEMPTS} times"
            )),
            false,
        ))
    }

    /// Replies, and crashes the actor (to rebuild from the log) when the book may have
    /// moved ahead of what was written.
    fn answer<T>(
        &self,
        result: Result<T, (RewardsError, bool)>,
        reply: RpcReplyPort<Result<T, RewardsError>>,
    ) -> Result<(), ActorError> {
        match result {
            Ok(value) => {
                let _ = reply.send(Ok(value));
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

    /// Takes seq `seq` in the log, then applies the command and records what it decided,
    /// in one transaction, then settles. `Ok(None)`: the submitted order was not there to
    /// claim (nothing happened). For a submit, `answer` is completed and stored.
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        sku: &str,
        state: &mut MarketState,
        seq: u64,
        action: Action,
        submitted: Option<(OrderId, &OrderState)>,
        subject: Uuid,
        answer: Option<&mut OrderView>,
    ) -> Result<Option<Applied>, Step> {
        let now = Utc::now();
        let seq_i64 = to_i64(seq);
        let command = Command::new(
            seq,
            u64::try_from(now.timestamp_millis()).unwrap_or(0),
            action,
        );
        let txn = self.0.db.begin().await?;
        let text = serde_json::to_string(&command)
            .map_err(|e| Step::Failed(RewardsError::Internal(e.to_string()), false))?;
        // The seq first: on Postgres a concurrent append of the same seq waits for this
        // transaction and then finds it taken (and this one waits for an earlier one).
        let appended = market_log::Entity::insert(market_log::ActiveModel {
            sku: ActiveValue::Set(sku.to_owned()),
            seq: ActiveValue::Set(seq_i64),
            command: ActiveValue::Set(text),
            created_at: ActiveValue::Set(now),
        })
        .on_conflict(
            OnConflict::columns([market_log::Column::Sku, market_log::Column::Seq])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if appended == 0 {
            txn.rollback().await?;
            return Err(Step::Lost);
        }
        if let Some((_, order)) = submitted {
            // The order enters the book once: still `submitting`, with no engine id yet
            // (not entered through another node, not released by the abandon job).
            let claimed = order::Entity::update_many()
                .col_expr(order::Column::EngineId, Some(seq_i64).into())
                .filter(order::Column::Id.eq(order.id))
                .filter(order::Column::Sku.eq(sku))
                .filter(order::Column::Status.eq("submitting"))
                .filter(order::Column::EngineId.is_null())
                .exec(&txn)
                .await?
                .rows_affected;
            if claimed != 1 {
                txn.rollback().await?;
                return Ok(None);
            }
        }
        // From here on the book moves: a failure leaves it ahead of the log.
        if let Some((engine_id, order)) = submitted {
            state.orders.insert(engine_id, order.clone());
        }
        let events = state.book.apply(&command);
        let entered = submitted.map(|(engine_id, _)| engine_id);
        let plan = settle::plan(sku, seq, entered, &events, &mut state.orders, now);
        let rested = entered.and_then(|id| state.orders.get(&id).cloned());
        let mut applied = Applied {
            plan,
            events,
            rested,
        };
        let stored = match answer {
            Some(answer) => {
                let outcome = outcome(&applied, subject);
                answer.status = outcome.status.as_str().to_owned();
                answer.filled = outcome.filled;
                answer.open = if outcome.status == Status::Open {
                    outcome.open
                } else {
                    0
                };
                answer.reason = outcome.reason.map(str::to_owned);
                Some(
                    serde_json::to_string(answer)
                        .map_err(|e| Step::Failed(RewardsError::Internal(e.to_string()), true))?,
                )
            }
            None => None,
        };
        let recorded = self
            .record(&txn, sku, seq, &mut applied, entered, subject, stored)
            .await;
        let committed = match recorded {
            Ok(jobs) => txn
                .commit()
                .await
                .map(|()| jobs)
                .map_err(RewardsError::from),
            Err(error) => Err(error),
        };
        let enqueued = committed.map_err(|error| Step::Failed(error, true))?;
        self.0.jobs.wake(&enqueued).await;
        // The command is decided and durable: it settles behind the answer, in order.
        let _ = state.settler.try_send(());
        self.0
            .publish(sku, seq, &state.book, &applied.plan, now)
            .await;
        Ok(Some(applied))
    }

    /// The rest of the transaction that makes a command happen (its log row is in):
    /// orders' new state, trades, the settlement, jobs. Returns the jobs to wake once it
    /// commits.
    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        txn: &DatabaseTransaction,
        sku: &str,
        seq: u64,
        applied: &mut Applied,
        submitted: Option<OrderId>,
        subject: Uuid,
        answer: Option<String>,
    ) -> Result<Vec<jobs::Enqueued>, RewardsError> {
        let context = &self.0;
        let now = Utc::now();
        let seq_i64 = to_i64(seq);
        let plan = &applied.plan;
        let rested = applied.rested.as_ref();
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
            if submitted.is_some() && order.id == subject {
                row.answer = ActiveValue::Set(answer.clone());
            }
            order::Entity::update(row).exec(txn).await?;
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
            .exec(txn)
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
                claim: ActiveValue::Set(None),
                claimed_at: ActiveValue::Set(None),
            })
            .exec(txn)
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
        context
            .jobs
            .enqueue_all_in(txn, jobs)
            .await
            .map_err(|e| RewardsError::Unavailable(e.to_string()))
    }
}

/// Where order `subject` stands after a command.
fn outcome(applied: &Applied, subject: Uuid) -> Outcome {
    applied
        .plan
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
            applied.rested.as_ref().map(|order| Outcome {
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
        })
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
