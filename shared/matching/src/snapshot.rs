//! Snapshots: the whole state of a book as plain data, and the canonical view that book
//! equality is defined on.
//!
//! A snapshot lists resting orders in priority order (bids best first, then asks best
//! first, oldest first within a price) together with the last sequence number and trade
//! id, which is everything the next command's events depend on. So restoring a snapshot
//! and applying more commands gives the same events as never having taken it.

use serde::{Deserialize, Serialize};

use crate::book::Book;
use crate::error::MatchingError;
use crate::queue::Node;
use crate::types::{
    MarketSpec, OrderId, OwnerId, Price, Qty, SelfTradePrevention, Seq, Side, Timestamp, TradeId,
};

/// A resting order as the outside world sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestingOrder {
    /// Its id.
    pub id: OrderId,
    /// Its owner.
    pub owner: OwnerId,
    /// Its side.
    pub side: Side,
    /// Its price.
    pub price: Price,
    /// Its open quantity.
    pub qty: Qty,
    /// The sequence number of the command that put it at the back of its queue.
    pub priority: Seq,
    /// That command's timestamp.
    pub entered_at: Timestamp,
    /// Whether it was entered post-only (an amend that would cross is then rejected).
    pub post_only: bool,
    /// Its self-trade prevention mode, used when an amend makes it a taker.
    pub stp: SelfTradePrevention,
}

impl From<&Node> for RestingOrder {
    fn from(node: &Node) -> Self {
        Self {
            id: node.id,
            owner: node.owner,
            side: node.side,
            price: node.price,
            qty: Qty(node.open),
            priority: node.priority,
            entered_at: node.entered_at,
            post_only: node.post_only,
            stp: node.stp,
        }
    }
}

/// The complete state of a book.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The market's tick and lot sizes.
    pub spec: MarketSpec,
    /// The last command applied, if any.
    pub last_seq: Option<Seq>,
    /// The last trade id handed out; 0 before the first trade.
    pub last_trade: TradeId,
    /// Resting orders in priority order: bids best first, then asks best first.
    pub orders: Vec<RestingOrder>,
}

impl Book {
    /// The book's complete state, in canonical order.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            spec: self.spec,
            last_seq: self.last_seq,
            last_trade: TradeId(self.last_trade),
            orders: self.resting_orders().collect(),
        }
    }

    /// Rebuilds a book from a snapshot, checking that it describes a valid book: every
    /// order as valid as the book would have accepted it, unique ids and priorities, no
    /// priority after `last_seq`, not crossed. Orders may come in any order; queues are
    /// rebuilt by priority.
    pub fn from_snapshot(snapshot: &Snapshot) -> Result<Self, MatchingError> {
        let mut book = Self::new(snapshot.spec);
        book.last_seq = snapshot.last_seq;
        book.last_trade = snapshot.last_trade.0;

        let mut orders = snapshot.orders.clone();
        orders.sort_unstable_by_key(|order| order.priority);
        for pair in orders.windows(2) {
            if pair[0].priority == pair[1].priority {
                return Err(MatchingError::SnapshotDuplicatePriority(pair[0].priority));
            }
        }
        for order in &orders {
            let invalid = |reason| MatchingError::SnapshotOrderInvalid {
                id: order.id,
                reason,
            };
            book.validate_price(order.price).map_err(invalid)?;
            book.validate_qty(order.qty).map_err(invalid)?;
            if book.last_seq.is_none_or(|last| order.priority > last) {
                return Err(MatchingError::SnapshotPriorityAhead(order.id));
            }
            if book.arena.contains(order.id) {
                return Err(MatchingError::SnapshotDuplicateOrder(order.id));
            }
            if book
                .half(order.side)
                .open
                .checked_add(order.qty.0)
                .is_none()
            {
                return Err(MatchingError::SnapshotOverflow);
            }
            let idx = book.arena.alloc(Node::new(
                order.id,
                order.owner,
                order.side,
                order.price,
                order.qty.0,
                order.priority,
                order.entered_at,
                order.post_only,
                order.stp,
            ));
            book.link(idx);
        }
        if let (Some((bid, _)), Some((ask, _))) = (book.best(Side::Buy), book.best(Side::Sell))
            && bid >= ask
        {
            return Err(MatchingError::SnapshotCrossed);
        }
        Ok(book)
    }

    /// Resting orders in canonical priority order: bids best price first, then asks best
    /// price first, oldest first within a price.
    pub fn resting_orders(&self) -> impl Iterator<Item = RestingOrder> + '_ {
        let bids = self.bids.levels.values().rev();
        let asks = self.asks.levels.values();
        bids.chain(asks)
            .flat_map(|level| self.arena.iter(level))
            .map(RestingOrder::from)
    }
}

impl PartialEq for Book {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
            && self.last_seq == other.last_seq
            && self.last_trade == other.last_trade
            && self.len() == other.len()
            && self.resting_orders().eq(other.resting_orders())
    }
}

impl Eq for Book {}
