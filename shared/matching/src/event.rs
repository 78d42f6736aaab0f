//! Events: everything a command did, in the order it happened. The service publishes them
//! and settles trades from them; the same command on the same book always yields the same
//! events.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::{OrderId, OrderKind, OwnerId, Price, Qty, Side, TimeInForce, TradeId};

/// One thing a command did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A new order passed validation and will be matched.
    Accepted {
        /// The order.
        id: OrderId,
        /// Its owner.
        owner: OwnerId,
        /// Its side.
        side: Side,
        /// Limit price or market.
        kind: OrderKind,
        /// Its quantity.
        qty: Qty,
        /// Its time in force.
        tif: TimeInForce,
    },
    /// A taker traded with a resting maker, at the maker's price.
    Traded(Trade),
    /// An order (or what was left of it) joined the back of the queue at `price`.
    Rested {
        /// The order.
        id: OrderId,
        /// Its side.
        side: Side,
        /// The level it joined.
        price: Price,
        /// Its open quantity now on the book.
        qty: Qty,
    },
    /// An order's open quantity left the book without trading.
    Cancelled {
        /// The order.
        id: OrderId,
        /// Its owner.
        owner: OwnerId,
        /// Its side.
        side: Side,
        /// Its price (`None` for a market order's remainder).
        price: Option<Price>,
        /// The quantity cancelled.
        qty: Qty,
        /// Why.
        reason: CancelReason,
    },
    /// A resting order's price or open quantity changed. If `priority_kept` is false the
    /// order left its queue: a new price that crosses trades first (the order is the
    /// taker), then a `Rested` event says where what is left went (none if it filled
    /// completely or self-trade prevention cancelled it).
    Amended {
        /// The order.
        id: OrderId,
        /// Its side.
        side: Side,
        /// The price before.
        old_price: Price,
        /// The open quantity before.
        old_qty: Qty,
        /// The new price.
        price: Price,
        /// The new open quantity (before any trades it causes).
        qty: Qty,
        /// Whether the order kept its place in the queue.
        priority_kept: bool,
    },
    /// The command changed nothing.
    Rejected {
        /// The order the command named.
        id: OrderId,
        /// Why.
        reason: RejectReason,
    },
}

/// A fill between a resting maker and an incoming taker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// Sequential per market, from 1.
    pub id: TradeId,
    /// The resting order.
    pub maker: OrderId,
    /// Its owner.
    pub maker_owner: OwnerId,
    /// The incoming order.
    pub taker: OrderId,
    /// Its owner.
    pub taker_owner: OwnerId,
    /// The taker's side (the maker is on the other).
    pub taker_side: Side,
    /// Always the maker's price.
    pub price: Price,
    /// The quantity traded.
    pub qty: Qty,
    /// What the maker still has open after this fill.
    pub maker_remaining: Qty,
    /// What the taker still has to fill after this fill.
    pub taker_remaining: Qty,
}

impl Trade {
    /// The buying order of this trade.
    #[must_use]
    pub const fn buyer(&self) -> OrderId {
        match self.taker_side {
            Side::Buy => self.taker,
            Side::Sell => self.maker,
        }
    }

    /// The selling order of this trade.
    #[must_use]
    pub const fn seller(&self) -> OrderId {
        match self.taker_side {
            Side::Buy => self.maker,
            Side::Sell => self.taker,
        }
    }
}

/// Why open quantity left the book without trading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The owner asked.
    Requested,
    /// An IOC, FOK or market order could not fill the rest immediately.
    Unfilled,
    /// Self-trade prevention.
    SelfTrade,
}

/// Why a command was refused. Each has a stable snake_case code for the service's
/// problem+json bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The command's sequence number is not after the last one applied.
    StaleSequence,
    /// A resting order already has this id.
    DuplicateOrderId,
    /// No resting order has this id.
    UnknownOrder,
    /// The command's owner does not own the order.
    NotOwner,
    /// A quantity of zero.
    ZeroQuantity,
    /// A quantity that is not a whole number of lots.
    QuantityNotLotMultiple,
    /// A price of zero.
    ZeroPrice,
    /// A price that is not a whole number of ticks.
    PriceNotTickMultiple,
    /// A market order with a time in force other than IOC or FOK.
    MarketOrderNotImmediate,
    /// Resting it would overflow the side's total quantity.
    QuantityTooLarge,
    /// A post-only order (or amend) would have crossed the book.
    PostOnlyWouldCross,
    /// A fill-or-kill order could not fill completely.
    FillOrKillUnfillable,
}

impl RejectReason {
    /// The stable machine-readable code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::StaleSequence => "stale_sequence",
            Self::DuplicateOrderId => "duplicate_order_id",
            Self::UnknownOrder => "unknown_order",
            Self::NotOwner => "not_owner",
            Self::ZeroQuantity => "zero_quantity",
            Self::QuantityNotLotMultiple => "quantity_not_lot_multiple",
            Self::ZeroPrice => "zero_price",
            Self::PriceNotTickMultiple => "price_not_tick_multiple",
            Self::MarketOrderNotImmediate => "market_order_not_immediate",
            Self::QuantityTooLarge => "quantity_too_large",
            Self::PostOnlyWouldCross => "post_only_would_cross",
            Self::FillOrKillUnfillable => "fill_or_kill_unfillable",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reject_codes_match_serde_names() {
        let all = [
            RejectReason::StaleSequence,
            RejectReason::DuplicateOrderId,
            RejectReason::UnknownOrder,
            RejectReason::NotOwner,
            RejectReason::ZeroQuantity,
            RejectReason::QuantityNotLotMultiple,
            RejectReason::ZeroPrice,
            RejectReason::PriceNotTickMultiple,
            RejectReason::MarketOrderNotImmediate,
            RejectReason::QuantityTooLarge,
            RejectReason::PostOnlyWouldCross,
            RejectReason::FillOrKillUnfillable,
        ];
        for reason in all {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.code()));
        }
    }
}
