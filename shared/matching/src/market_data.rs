//! Read-only market data views: best bid and ask, aggregated depth, single-order lookup.
//! Views are computed on demand from the live book and never change it.

use serde::{Deserialize, Serialize};

use crate::book::Book;
use crate::queue::Level;
use crate::snapshot::RestingOrder;
use crate::types::{MarketSpec, OrderId, Price, Qty, Seq, Side, TradeId};

/// One aggregated price level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelView {
    /// The price.
    pub price: Price,
    /// Total open quantity at the price.
    pub qty: Qty,
    /// Number of orders at the price.
    pub orders: usize,
}

impl LevelView {
    fn new(price: Price, level: &Level) -> Self {
        Self {
            price,
            qty: Qty(level.total),
            orders: level.count,
        }
    }
}

/// The top levels of each side, best first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Depth {
    /// Bids, highest price first.
    pub bids: Vec<LevelView>,
    /// Asks, lowest price first.
    pub asks: Vec<LevelView>,
}

impl Book {
    /// The highest bid level.
    #[must_use]
    pub fn best_bid(&self) -> Option<LevelView> {
        self.best(Side::Buy)
            .map(|(price, level)| LevelView::new(price, level))
    }

    /// The lowest ask level.
    #[must_use]
    pub fn best_ask(&self) -> Option<LevelView> {
        self.best(Side::Sell)
            .map(|(price, level)| LevelView::new(price, level))
    }

    /// The best `levels` levels of each side.
    #[must_use]
    pub fn depth(&self, levels: usize) -> Depth {
        let view = |(price, level): (&Price, &Level)| LevelView::new(*price, level);
        Depth {
            bids: self
                .bids
                .levels
                .iter()
                .rev()
                .take(levels)
                .map(view)
                .collect(),
            asks: self.asks.levels.iter().take(levels).map(view).collect(),
        }
    }

    /// A resting order by id.
    #[must_use]
    pub fn order(&self, id: OrderId) -> Option<RestingOrder> {
        self.arena
            .find(id)
            .map(|idx| RestingOrder::from(self.arena.node(idx)))
    }

    /// Number of resting orders.
    #[must_use]
    pub fn len(&self) -> usize {
        self.arena.len()
    }

    /// Whether no order rests.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.arena.len() == 0
    }

    /// The market's tick and lot sizes.
    #[must_use]
    pub const fn spec(&self) -> &MarketSpec {
        &self.spec
    }

    /// The sequence number of the last command applied.
    #[must_use]
    pub const fn last_seq(&self) -> Option<Seq> {
        self.last_seq
    }

    /// The last trade id handed out (0 before the first trade).
    #[must_use]
    pub const fn last_trade(&self) -> TradeId {
        TradeId(self.last_trade)
    }
}
