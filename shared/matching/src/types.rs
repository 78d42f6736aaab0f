//! The vocabulary of a market: exact prices and quantities, ids, sides, time in force,
//! self-trade prevention modes and the market's tick and lot sizes.
//!
//! Prices and quantities are integers in the market's smallest units (never floats), so
//! every comparison and sum is exact. This module knows nothing about how orders are
//! stored or matched.

use std::fmt;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

use crate::error::MatchingError;

macro_rules! integer_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw integer.
            #[must_use]
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<u64> for $name {
            fn from(raw: u64) -> Self {
                Self(raw)
            }
        }
    };
}

integer_newtype!(
    /// A price in the market's smallest price unit. Valid prices are positive whole
    /// multiples of [`MarketSpec::tick_size`].
    Price
);
integer_newtype!(
    /// A quantity in the market's smallest quantity unit. Valid order quantities are
    /// positive whole multiples of [`MarketSpec::lot_size`].
    Qty
);
integer_newtype!(
    /// An order id. The service assigns it; the book only requires that no two *resting*
    /// orders share one (idempotency of client ids is the service's job).
    OrderId
);
integer_newtype!(
    /// Who owns an order. Two orders with the same owner never trade with each other:
    /// self-trade prevention decides what happens instead.
    OwnerId
);
integer_newtype!(
    /// The position of a command in the market's command log. Strictly increasing (gaps
    /// allowed); it is also the time priority of an order that joins a queue.
    Seq
);
integer_newtype!(
    /// A timestamp supplied with a command (the engine has no clock and never interprets it).
    Timestamp
);
integer_newtype!(
    /// A trade id, sequential per market starting at 1.
    TradeId
);

/// Which side of the book an order is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Wants to buy; rests on the bid side.
    Buy,
    /// Wants to sell; rests on the ask side.
    Sell,
}

impl Side {
    /// The other side.
    #[must_use]
    pub const fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }

    /// Whether a taker on this side with `limit` may trade against a resting order at
    /// `resting` (a buyer pays at most its limit, a seller takes at least its limit).
    #[must_use]
    pub fn crosses(self, limit: Price, resting: Price) -> bool {
        match self {
            Self::Buy => resting <= limit,
            Self::Sell => resting >= limit,
        }
    }
}

/// How long an order may live and whether it may take liquidity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Good till cancelled: trades what it can, rests the rest.
    Gtc,
    /// Immediate or cancel: trades what it can, cancels the rest.
    Ioc,
    /// Fill or kill: trades its whole quantity at once or is rejected without touching
    /// the book.
    Fok,
    /// Post only (maker only): rests without trading, or is rejected if it would cross.
    PostOnly,
}

impl TimeInForce {
    /// Whether an unfilled remainder rests on the book.
    #[must_use]
    pub const fn rests(self) -> bool {
        matches!(self, Self::Gtc | Self::PostOnly)
    }
}

/// What happens when an incoming order would trade with a resting order of the same
/// owner. The incoming (taker) order's mode decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfTradePrevention {
    /// Cancel the incoming order's remainder; the resting order stays.
    #[default]
    CancelNewest,
    /// Cancel the resting order and keep matching the incoming one.
    CancelOldest,
    /// Cancel both.
    CancelBoth,
}

/// A limit order names its worst acceptable price; a market order takes any price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Trades at `price` or better.
    Limit {
        /// The worst acceptable price.
        price: Price,
    },
    /// Trades at whatever the book offers; only `Ioc` or `Fok`, never rests.
    Market,
}

impl OrderKind {
    /// The limit price, if any.
    #[must_use]
    pub const fn price(self) -> Option<Price> {
        match self {
            Self::Limit { price } => Some(price),
            Self::Market => None,
        }
    }
}

/// A market's granularity: every price is a whole number of ticks and every quantity a
/// whole number of lots. Zero sizes are unrepresentable, so validation never divides by
/// zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MarketSpec {
    /// The smallest price increment.
    pub tick_size: NonZeroU64,
    /// The smallest quantity increment.
    pub lot_size: NonZeroU64,
}

impl MarketSpec {
    /// A market with the given tick and lot sizes (both must be positive).
    pub fn new(tick_size: u64, lot_size: u64) -> Result<Self, MatchingError> {
        Ok(Self {
            tick_size: NonZeroU64::new(tick_size).ok_or(MatchingError::ZeroTickSize)?,
            lot_size: NonZeroU64::new(lot_size).ok_or(MatchingError::ZeroLotSize)?,
        })
    }

    /// Whether `price` is a positive whole number of ticks.
    #[must_use]
    pub fn valid_price(&self, price: Price) -> bool {
        price.0 > 0 && price.0 % self.tick_size == 0
    }

    /// Whether `qty` is a positive whole number of lots.
    #[must_use]
    pub fn valid_qty(&self, qty: Qty) -> bool {
        qty.0 > 0 && qty.0 % self.lot_size == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn spec_rejects_zero_sizes() {
        assert_eq!(MarketSpec::new(0, 1), Err(MatchingError::ZeroTickSize));
        assert_eq!(MarketSpec::new(1, 0), Err(MatchingError::ZeroLotSize));
    }

    #[test]
    fn spec_validates_multiples() {
        let spec = MarketSpec::new(5, 10).unwrap();
        assert!(spec.valid_price(Price(15)));
        assert!(!spec.valid_price(Price(16)));
        assert!(!spec.valid_price(Price(0)));
        assert!(spec.valid_qty(Qty(30)));
        assert!(!spec.valid_qty(Qty(35)));
        assert!(!spec.valid_qty(Qty(0)));
    }

    #[test]
    fn zero_tick_spec_does_not_deserialize() {
        let bad = r#"{"tick_size":0,"lot_size":1}"#;
        assert!(serde_json::from_str::<MarketSpec>(bad).is_err());
    }

    #[test]
    fn crosses_is_inclusive_at_the_limit() {
        assert!(Side::Buy.crosses(Price(10), Price(10)));
        assert!(!Side::Buy.crosses(Price(10), Price(11)));
        assert!(Side::Sell.crosses(Price(10), Price(10)));
        assert!(!Side::Sell.crosses(Price(10), Price(9)));
    }
}
