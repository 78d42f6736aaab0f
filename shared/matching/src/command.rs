//! Commands: the only way to change a book. Each carries its log sequence number and a
//! timestamp, so applying the same commands to the same book always gives the same events
//! (the engine reads no clock and draws no randomness).

use serde::{Deserialize, Serialize};

use crate::types::{
    OrderId, OrderKind, OwnerId, Price, Qty, SelfTradePrevention, Seq, Side, TimeInForce, Timestamp,
};

/// One entry of a market's command log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Strictly greater than the previous command's; a command that is not is rejected
    /// (so a log replayed twice cannot apply twice).
    pub seq: Seq,
    /// When the service received it; stored on orders that join a queue, never read.
    pub ts: Timestamp,
    /// What to do.
    pub action: Action,
}

impl Command {
    /// A command with sequence number `seq` and timestamp `ts`.
    #[must_use]
    pub const fn new(seq: u64, ts: u64, action: Action) -> Self {
        Self {
            seq: Seq(seq),
            ts: Timestamp(ts),
            action,
        }
    }
}

/// What a command asks of the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Enter a new order.
    Submit(NewOrder),
    /// Cancel a resting order.
    Cancel(Cancel),
    /// Change a resting order's price or open quantity.
    Amend(Amend),
}

/// A new order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    /// Must not be the id of a resting order.
    pub id: OrderId,
    /// Decides self-trade prevention.
    pub owner: OwnerId,
    /// Buy or sell.
    pub side: Side,
    /// Limit (with a price) or market.
    pub kind: OrderKind,
    /// A positive whole number of lots.
    pub qty: Qty,
    /// Market orders accept only `Ioc` and `Fok`.
    pub tif: TimeInForce,
    /// What to do if this order would trade with its owner's resting order.
    pub stp: SelfTradePrevention,
}

impl NewOrder {
    /// A GTC limit order with the default self-trade prevention.
    #[must_use]
    pub const fn limit(id: u64, owner: u64, side: Side, price: u64, qty: u64) -> Self {
        Self {
            id: OrderId(id),
            owner: OwnerId(owner),
            side,
            kind: OrderKind::Limit {
                price: Price(price),
            },
            qty: Qty(qty),
            tif: TimeInForce::Gtc,
            stp: SelfTradePrevention::CancelNewest,
        }
    }

    /// An IOC market order with the default self-trade prevention.
    #[must_use]
    pub const fn market(id: u64, owner: u64, side: Side, qty: u64) -> Self {
        Self {
            id: OrderId(id),
            owner: OwnerId(owner),
            side,
            kind: OrderKind::Market,
            qty: Qty(qty),
            tif: TimeInForce::Ioc,
            stp: SelfTradePrevention::CancelNewest,
        }
    }

    /// The same order with another time in force.
    #[must_use]
    pub const fn with_tif(mut self, tif: TimeInForce) -> Self {
        self.tif = tif;
        self
    }

    /// The same order with another self-trade prevention mode.
    #[must_use]
    pub const fn with_stp(mut self, stp: SelfTradePrevention) -> Self {
        self.stp = stp;
        self
    }
}

/// Cancel a resting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancel {
    /// The order to cancel.
    pub id: OrderId,
    /// Must be the order's owner: the book is the one place that knows it for sure.
    pub owner: OwnerId,
}

/// Replace a resting order's price and open quantity.
///
/// Keeping the price and lowering (or keeping) the quantity keeps time priority. Raising
/// the quantity or changing the price loses it: the order goes to the back of the queue
/// at its (new) price, and a new price that crosses the book trades first, as a taker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amend {
    /// The order to amend.
    pub id: OrderId,
    /// Must be the order's owner.
    pub owner: OwnerId,
    /// The new price (send the current one to keep it).
    pub price: Price,
    /// The new open (unfilled) quantity; positive: cancel to remove an order.
    pub qty: Qty,
}
