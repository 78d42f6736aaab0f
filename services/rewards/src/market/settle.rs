//! What one command's events mean for the wallet: the linked batch that settles them.
//!
//! Pure: given the events and the orders they touch, it yields the legs, the voucher
//! codes that change hands and the orders' new state. Every leg id is derived from the
//! market, the command's seq and the order, so a batch sent twice moves nothing twice.
//!
//! Each order's cost sits in one wallet hold into `system:market_escrow` (coins for a
//! buy, at its limit price; units for a sell). After a command, each order it touched:
//! - that traded and is done: its hold is posted for what it used (the rest, such as a
//!   buyer's price improvement, is released);
//! - that traded and rests on: its hold is posted for what it used, and a new hold covers
//!   what is still open (a wallet post always releases the rest of a hold);
//! - that ended without trading (cancelled, rejected): its hold is voided.
//!
//! Then escrow pays each seller the coins and each buyer the units its trades moved. Posts
//! come first, so escrow never goes below zero inside the batch; new holds come last.

use crate::ledger::{self, COIN, ESCROW};
use contracts::wallet::{HoldLeg, Leg, PostLeg, TransferLeg, VoidLeg};
use matching::{Event, OrderId, Side};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// What the market actor knows about one of its orders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderState {
    pub id: Uuid,
    pub user: Uuid,
    pub side: Side,
    /// The limit price, in coins per unit.
    pub price: u64,
    /// Units still open.
    pub open: u64,
    pub filled: u64,
    /// The wallet hold covering what is open.
    pub hold_id: Uuid,
    pub held: u64,
    /// How many holds this order has had (the next one's id derives from it).
    pub holds: u32,
    /// When its hold lapses.
    pub deadline: chrono::DateTime<chrono::Utc>,
}

impl OrderState {
    /// What the hold must cover for `open` units: coins at the limit price for a buy,
    /// the units themselves for a sell.
    pub fn need(&self, open: u64) -> u64 {
        match self.side {
            Side::Buy => self.price * open,
            Side::Sell => open,
        }
    }
}

/// Where an order stands after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Open,
    Filled,
    Cancelled,
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Filled => "filled",
            Status::Cancelled => "cancelled",
            Status::Rejected => "rejected",
        }
    }
}

/// Voucher codes a trade moves: `qty` of the seller's unredeemed codes become the buyer's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeMove {
    pub from: Uuid,
    pub to: Uuid,
    pub qty: u64,
}

/// One trade, for the trades table and the bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeRow {
    pub id: u64,
    pub price: u64,
    pub qty: u64,
    pub taker_side: Side,
    pub buy_order: Uuid,
    pub sell_order: Uuid,
}

/// An order a command changed, with its new state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touched {
    pub order: OrderState,
    pub status: Status,
    pub reason: Option<&'static str>,
}

/// Everything one command settles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub legs: Vec<Leg>,
    pub code_moves: Vec<CodeMove>,
    pub trades: Vec<TradeRow>,
    pub touched: Vec<Touched>,
}

#[derive(Default)]
struct Usage {
    /// Coins (buy) or units (sell) the order's trades used.
    used: u64,
    ended: Option<(Status, Option<&'static str>)>,
}

/// Plans the settlement of `events`, the output of command `seq` of market `sku`
/// (`submitted` names the order a submit entered). `orders` holds every order the events
/// can name (the resting ones and the command's own); it is updated in place, and orders
/// that are done are removed.
pub fn plan(
    sku: &str,
    seq: u64,
    submitted: Option<OrderId>,
    events: &[Event],
    orders: &mut HashMap<OrderId, OrderState>,
    now: chrono::DateTime<chrono::Utc>,
) -> Plan {
    let units = ledger::units_asset(sku);
    let mut plan = Plan::default();
    let mut usage: Vec<(OrderId, Usage)> = Vec::new();
    let mut coins_to: BTreeMap<Uuid, u64> = BTreeMap::new();
    let mut units_to: BTreeMap<Uuid, u64> = BTreeMap::new();
    let touch = |usage: &mut Vec<(OrderId, Usage)>, id: OrderId| -> usize {
        usage
            .iter()
            .position(|(known, _)| *known == id)
            .unwrap_or_else(|| {
                usage.push((id, Usage::default()));
                usage.len() - 1
            })
    };
    for event in events {
        match event {
            Event::Traded(trade) => {
                let (Some(buyer), Some(seller)) = (
                    orders.get(&trade.buyer()).cloned(),
                    orders.get(&trade.seller()).cloned(),
                ) else {
                    continue;
                };
                let cost = trade.price.0 * trade.qty.0;
                let b = touch(&mut usage, trade.buyer());
                usage[b].1.used += cost;
                let s = touch(&mut usage, trade.seller());
                usage[s].1.used += trade.qty.0;
                *coins_to.entry(seller.user).or_default() += cost;
                *units_to.entry(buyer.user).or_default() += trade.qty.0;
                plan.code_moves.push(CodeMove {
                    from: seller.user,
                    to: buyer.user,
                    qty: trade.qty.0,
                });
                plan.trades.push(TradeRow {
                    id: trade.id.0,
                    price: trade.price.0,
                    qty: trade.qty.0,
                    taker_side: trade.taker_side,
                    buy_order: buyer.id,
                    sell_order: seller.id,
                });
                for (id, remaining) in [
                    (trade.maker, trade.maker_remaining.0),
                    (trade.taker, trade.taker_remaining.0),
                ] {
                    if let Some(order) = orders.get_mut(&id) {
                        order.filled += order.open - remaining;
                        order.open = remaining;
                    }
                    if remaining == 0 {
                        let at = touch(&mut usage, id);
                        usage[at].1.ended = Some((Status::Filled, None));
                    }
                }
            }
            Event::Rested { id, qty, .. } => {
                if let Some(order) = orders.get_mut(id) {
                    order.open = qty.0;
                }
            }
            Event::Cancelled { id, reason, .. } => {
                let at = touch(&mut usage, *id);
                let why = match reason {
                    matching::CancelReason::Requested => "requested",
                    matching::CancelReason::Unfilled => "unfilled",
                    matching::CancelReason::SelfTrade => "self_trade",
                };
                usage[at].1.ended = Some((Status::Cancelled, Some(why)));
            }
            Event::Rejected { id, reason } => {
                // Only a submit's rejection ends an order; a refused cancel changes nothing.
                if submitted == Some(*id) {
                    let at = touch(&mut usage, *id);
                    usage[at].1.ended = Some((Status::Rejected, Some(reason.code())));
                }
            }
            Event::Accepted { .. } | Event::Amended { .. } => {}
        }
    }

    let id = |parts: &[&str]| ledger::leg_id(&[&[sku, &seq.to_string()], parts].concat());
    let mut holds = Vec::new();
    for (engine_id, used) in usage {
        let Some(mut order) = orders.get(&engine_id).cloned() else {
            continue;
        };
        let order_id = order.id.to_string();
        let asset = match order.side {
            Side::Buy => COIN.to_owned(),
            Side::Sell => units.clone(),
        };
        if used.used > 0 {
            plan.legs.push(Leg::Post(PostLeg {
                id: id(&["post", &order_id]),
                pending_id: order.hold_id,
                amount: Some(used.used.to_string()),
                memo: None,
            }));
        }
        let status = match used.ended {
            Some((status, reason)) => {
                if used.used == 0 {
                    plan.legs.push(Leg::Void(VoidLeg {
                        id: id(&["void", &order_id]),
                        pending_id: order.hold_id,
                        memo: None,
                    }));
                }
                orders.remove(&engine_id);
                order.held = 0;
                plan.touched.push(Touched {
                    order,
                    status,
                    reason,
                });
                continue;
            }
            None => Status::Open,
        };
        if used.used > 0 {
            order.holds += 1;
            order.hold_id = ledger::leg_id(&[&order_id, "hold", &order.holds.to_string()]);
            order.held = order.need(order.open);
            let timeout = (order.deadline - now)
                .num_seconds()
                .clamp(1, i64::from(u32::MAX));
            holds.push(Leg::Hold(HoldLeg {
                id: order.hold_id,
                debit: ledger::user(order.user),
                credit: ESCROW.to_owned(),
                asset,
                amount: order.held.to_string(),
                timeout_seconds: u32::try_from(timeout).unwrap_or(u32::MAX),
                memo: None,
            }));
            orders.insert(engine_id, order.clone());
        }
        plan.touched.push(Touched {
            order,
            status,
            reason: None,
        });
    }
    for (user, coins) in coins_to {
        plan.legs.push(Leg::Transfer(TransferLeg {
            id: id(&["coins", &user.to_string()]),
            debit: ESCROW.to_owned(),
            credit: ledger::user(user),
            asset: COIN.to_owned(),
            amount: coins.to_string(),
            memo: None,
        }));
    }
    for (user, qty) in units_to {
        plan.legs.push(Leg::Transfer(TransferLeg {
            id: id(&["units", &user.to_string()]),
            debit: ESCROW.to_owned(),
            credit: ledger::user(user),
            asset: units.clone(),
            amount: qty.to_string(),
            memo: None,
        }));
    }
    plan.legs.extend(holds);
    plan
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use matching::{Action, Book, Command, NewOrder};

    fn order(id: u128, user: u128, side: Side, price: u64, qty: u64) -> OrderState {
        OrderState {
            id: Uuid::from_u128(id),
            user: Uuid::from_u128(user),
            side,
            price,
            open: qty,
            filled: 0,
            hold_id: Uuid::from_u128(id),
            held: if side == Side::Buy { price * qty } else { qty },
            holds: 0,
            deadline: chrono::Utc::now() + chrono::Duration::days(30),
        }
    }

    fn amounts(plan: &Plan) -> Vec<(String, String)> {
        plan.legs
            .iter()
            .map(|leg| match leg {
                Leg::Post(post) => (
                    format!("post {}", post.pending_id.as_u128()),
                    post.amount.clone().unwrap(),
                ),
                Leg::Void(void) => (format!("void {}", void.pending_id.as_u128()), String::new()),
                Leg::Hold(hold) => (
                    format!("hold {} {}", hold.debit, hold.asset),
                    hold.amount.clone(),
                ),
                Leg::Transfer(transfer) => (
                    format!("pay {} {}", transfer.credit, transfer.asset),
                    transfer.amount.clone(),
                ),
            })
            .collect()
    }

    #[test]
    fn a_sweep_posts_what_each_order_used_and_rehold_what_stays_open() {
        let spec = matching::MarketSpec::new(1, 1).unwrap();
        let mut book = Book::new(spec);
        let mut orders = HashMap::new();
        // Two asks (users 10 and 11), then a buy of 4 at 105 from user 12.
        for (seq, state) in [
            (1, order(1, 10, Side::Sell, 100, 2)),
            (2, order(2, 11, Side::Sell, 102, 1)),
        ] {
            book.apply(&Command::new(
                seq,
                0,
                Action::Submit(NewOrder::limit(
                    seq,
                    10 + seq,
                    Side::Sell,
                    state.price,
                    state.open,
                )),
            ));
            orders.insert(OrderId(seq), state);
        }
        orders.insert(OrderId(3), order(3, 12, Side::Buy, 105, 4));
        let events = book.apply(&Command::new(
            3,
            0,
            Action::Submit(NewOrder::limit(3, 99, Side::Buy, 105, 4)),
        ));
        let plan = plan(
            "SKU",
            3,
            Some(OrderId(3)),
            &events,
            &mut orders,
            chrono::Utc::now(),
        );

        let user = |n: u128| format!("user:{}", Uuid::from_u128(n));
        assert_eq!(
            amounts(&plan),
            vec![
                // The taker used 2 x 100 + 102; the rest of its 420 is released...
                ("post 3".to_owned(), "302".to_owned()),
                // The makers are done: their unit holds are posted in full.
                ("post 1".to_owned(), "2".to_owned()),
                ("post 2".to_owned(), "1".to_owned()),
                (format!("pay {} COIN", user(10)), "200".to_owned()),
                (format!("pay {} COIN", user(11)), "102".to_owned()),
                (format!("pay {} VCH_SKU", user(12)), "3".to_owned()),
                // ...and its open unit is held again at its limit.
                (format!("hold {} COIN", user(12)), "105".to_owned()),
            ]
        );
        assert_eq!(plan.trades.len(), 2);
        assert_eq!(plan.code_moves.iter().map(|m| m.qty).sum::<u64>(), 3);
        let taker = &orders[&OrderId(3)];
        assert_eq!(
            (taker.open, taker.filled, taker.held, taker.holds),
            (1, 3, 105, 1)
        );
        assert!(!orders.contains_key(&OrderId(1)) && !orders.contains_key(&OrderId(2)));
    }

    #[test]
    fn a_rejected_submit_voids_its_hold_and_a_refused_cancel_touches_nothing() {
        let spec = matching::MarketSpec::new(1, 1).unwrap();
        let mut book = Book::new(spec);
        let mut orders = HashMap::new();
        book.apply(&Command::new(
            1,
            0,
            Action::Submit(NewOrder::limit(1, 10, Side::Sell, 100, 1)),
        ));
        orders.insert(OrderId(1), order(1, 10, Side::Sell, 100, 1));
        orders.insert(OrderId(2), order(2, 11, Side::Buy, 100, 1));
        let post_only =
            NewOrder::limit(2, 11, Side::Buy, 100, 1).with_tif(matching::TimeInForce::PostOnly);
        let events = book.apply(&Command::new(2, 0, Action::Submit(post_only)));
        let rejected = plan(
            "SKU",
            2,
            Some(OrderId(2)),
            &events,
            &mut orders,
            chrono::Utc::now(),
        );
        assert_eq!(
            amounts(&rejected),
            vec![("void 2".to_owned(), String::new())]
        );
        assert_eq!(rejected.touched[0].status, Status::Rejected);

        let wrong_owner = matching::Cancel {
            id: OrderId(1),
            owner: matching::OwnerId(99),
        };
        let events = book.apply(&Command::new(3, 0, Action::Cancel(wrong_owner)));
        let refused = plan("SKU", 3, None, &events, &mut orders, chrono::Utc::now());
        assert!(refused.legs.is_empty() && refused.touched.is_empty());
        assert!(orders.contains_key(&OrderId(1)));
    }
}
