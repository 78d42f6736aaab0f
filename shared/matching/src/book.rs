//! The order book of one market and its matching rules: validation at the edge,
//! price-time priority, time in force, self-trade prevention, cancel and amend.
//!
//! Each side is a `BTreeMap` from price to a FIFO [`Level`] (best bid is the map's last
//! key, best ask its first), so the best level is found in O(log levels) and a sweep walks
//! levels in order; the queues themselves live in the [`Arena`] slab, so cancel and amend
//! find an order by id in O(1) and unlink it in O(1).
//!
//! Everything here is synchronous and deterministic: no IO, no clock, no randomness, and
//! no iteration over hash maps, so the same commands on the same book give the same events.

use std::collections::BTreeMap;

use crate::command::{Action, Amend, Cancel, Command, NewOrder};
use crate::event::{CancelReason, Event, RejectReason, Trade};
use crate::queue::{Arena, Level, Node};
use crate::types::{
    MarketSpec, OrderId, OrderKind, OwnerId, Price, Qty, SelfTradePrevention, Seq, Side,
    TimeInForce, Timestamp, TradeId,
};

/// One side of the book.
#[derive(Clone, Debug, Default)]
pub(crate) struct HalfBook {
    pub(crate) levels: BTreeMap<Price, Level>,
    /// Sum of open quantity on this side. Every level total is at most this, so checking
    /// this one counter before an order rests keeps every counter from overflowing.
    pub(crate) open: u64,
}

/// An order while it takes liquidity.
struct Taker {
    id: OrderId,
    owner: OwnerId,
    side: Side,
    limit: Option<Price>,
    remaining: u64,
    stp: SelfTradePrevention,
}

impl Taker {
    fn accepts(&self, resting: Price) -> bool {
        self.limit
            .is_none_or(|limit| self.side.crosses(limit, resting))
    }
}

/// The order book of one market.
///
/// Build it with [`Book::new`] (empty) or [`Book::from_snapshot`], change it only with
/// [`Book::apply`]. Two books are `==` when their canonical state (spec, last sequence
/// number, last trade id and resting orders in priority order) is the same, however they
/// got there.
#[derive(Clone, Debug)]
pub struct Book {
    pub(crate) spec: MarketSpec,
    pub(crate) bids: HalfBook,
    pub(crate) asks: HalfBook,
    pub(crate) arena: Arena,
    pub(crate) last_seq: Option<Seq>,
    /// The last trade id handed out; 0 before the first trade.
    pub(crate) last_trade: u64,
}

impl Book {
    /// An empty book for a market.
    #[must_use]
    pub fn new(spec: MarketSpec) -> Self {
        Self {
            spec,
            bids: HalfBook::default(),
            asks: HalfBook::default(),
            arena: Arena::default(),
            last_seq: None,
            last_trade: 0,
        }
    }

    /// A book rebuilt by applying a command log to an empty book.
    pub fn replay<'a>(spec: MarketSpec, log: impl IntoIterator<Item = &'a Command>) -> Self {
        let mut book = Self::new(spec);
        let mut sink = Vec::new();
        for cmd in log {
            sink.clear();
            book.apply_into(cmd, &mut sink);
        }
        book
    }

    /// Applies one command and returns what it did.
    pub fn apply(&mut self, cmd: &Command) -> Vec<Event> {
        let mut out = Vec::new();
        self.apply_into(cmd, &mut out);
        out
    }

    /// Applies one command, appending what it did to `out` (lets a hot loop reuse one
    /// buffer instead of allocating per command).
    pub fn apply_into(&mut self, cmd: &Command, out: &mut Vec<Event>) {
        let target = match &cmd.action {
            Action::Submit(order) => order.id,
            Action::Cancel(cancel) => cancel.id,
            Action::Amend(amend) => amend.id,
        };
        if self.last_seq.is_some_and(|last| cmd.seq <= last) {
            out.push(Event::Rejected {
                id: target,
                reason: RejectReason::StaleSequence,
            });
            return;
        }
        // A rejected command still consumes its sequence number: the log is the log.
        self.last_seq = Some(cmd.seq);
        let result = match &cmd.action {
            Action::Submit(order) => self.submit(cmd.seq, cmd.ts, order, out),
            Action::Cancel(cancel) => self.cancel(cancel, out),
            Action::Amend(amend) => self.amend(cmd.seq, cmd.ts, amend, out),
        };
        if let Err(reason) = result {
            out.push(Event::Rejected { id: target, reason });
        }
    }

    pub(crate) fn validate_price(&self, price: Price) -> Result<(), RejectReason> {
        if price.0 == 0 {
            Err(RejectReason::ZeroPrice)
        } else if !self.spec.valid_price(price) {
            Err(RejectReason::PriceNotTickMultiple)
        } else {
            Ok(())
        }
    }

    pub(crate) fn validate_qty(&self, qty: Qty) -> Result<(), RejectReason> {
        if qty.0 == 0 {
            Err(RejectReason::ZeroQuantity)
        } else if !self.spec.valid_qty(qty) {
            Err(RejectReason::QuantityNotLotMultiple)
        } else {
            Ok(())
        }
    }

    /// Validation and matching of a new order. Every check runs before the first event,
    /// so a rejected order leaves no trace but its `Rejected` event.
    fn submit(
        &mut self,
        seq: Seq,
        ts: Timestamp,
        order: &NewOrder,
        out: &mut Vec<Event>,
    ) -> Result<(), RejectReason> {
        if self.arena.contains(order.id) {
            return Err(RejectReason::DuplicateOrderId);
        }
        self.validate_qty(order.qty)?;
        let limit = match order.kind {
            OrderKind::Limit { price } => {
                self.validate_price(price)?;
                Some(price)
            }
            OrderKind::Market => {
                if order.tif.rests() {
                    return Err(RejectReason::MarketOrderNotImmediate);
                }
                None
            }
        };
        if order.tif.rests()
            && self
                .half(order.side)
                .open
                .checked_add(order.qty.0)
                .is_none()
        {
            return Err(RejectReason::QuantityTooLarge);
        }
        let mut taker = Taker {
            id: order.id,
            owner: order.owner,
            side: order.side,
            limit,
            remaining: order.qty.0,
            stp: order.stp,
        };
        match order.tif {
            TimeInForce::PostOnly => {
                if limit.is_some_and(|price| self.would_cross(order.side, price)) {
                    return Err(RejectReason::PostOnlyWouldCross);
                }
            }
            TimeInForce::Fok => {
                if !self.fillable(&taker) {
                    return Err(RejectReason::FillOrKillUnfillable);
                }
            }
            TimeInForce::Gtc | TimeInForce::Ioc => {}
        }

        out.push(Event::Accepted {
            id: order.id,
            owner: order.owner,
            side: order.side,
            kind: order.kind,
            qty: order.qty,
            tif: order.tif,
        });
        if order.tif != TimeInForce::PostOnly {
            self.take(&mut taker, out);
        }
        if taker.remaining == 0 {
            return Ok(());
        }
        match limit {
            Some(price) if order.tif.rests() => {
                let node = Node::new(
                    order.id,
                    order.owner,
                    order.side,
                    price,
                    taker.remaining,
                    seq,
                    ts,
                    order.tif == TimeInForce::PostOnly,
                    order.stp,
                );
                let idx = self.arena.alloc(node);
                self.link(idx);
                out.push(Event::Rested {
                    id: order.id,
                    side: order.side,
                    price,
                    qty: Qty(taker.remaining),
                });
            }
            _ => out.push(Event::Cancelled {
                id: order.id,
                owner: order.owner,
                side: order.side,
                price: limit,
                qty: Qty(taker.remaining),
                reason: CancelReason::Unfilled,
            }),
        }
        Ok(())
    }

    fn cancel(&mut self, cancel: &Cancel, out: &mut Vec<Event>) -> Result<(), RejectReason> {
        let idx = self.owned(cancel.id, cancel.owner)?;
        let node = *self.arena.node(idx);
        self.unlink(idx);
        self.arena.release(idx);
        out.push(Event::Cancelled {
            id: node.id,
            owner: node.owner,
            side: node.side,
            price: Some(node.price),
            qty: Qty(node.open),
            reason: CancelReason::Requested,
        });
        Ok(())
    }

    fn amend(
        &mut self,
        seq: Seq,
        ts: Timestamp,
        amend: &Amend,
        out: &mut Vec<Event>,
    ) -> Result<(), RejectReason> {
        let idx = self.owned(amend.id, amend.owner)?;
        self.validate_price(amend.price)?;
        self.validate_qty(amend.qty)?;
        let node = *self.arena.node(idx);
        let (price, qty) = (amend.price, amend.qty.0);
        let amended = |priority_kept| Event::Amended {
            id: node.id,
            side: node.side,
            old_price: node.price,
            old_qty: Qty(node.open),
            price,
            qty: Qty(qty),
            priority_kept,
        };

        if price == node.price && qty <= node.open {
            // Shrinking in place: the queue position is the owner's, and nobody behind is
            // harmed by the order getting smaller.
            let (half, arena) = self.parts(node.side);
            if let Some(level) = half.levels.get_mut(&price) {
                arena.reduce(level, idx, node.open - qty);
            }
            half.open -= node.open - qty;
            out.push(amended(true));
            return Ok(());
        }

        // Every other change sends the order to the back: growing in place would jump
        // quantity ahead of orders that were there first.
        let others = self.half(node.side).open - node.open;
        if others.checked_add(qty).is_none() {
            return Err(RejectReason::QuantityTooLarge);
        }
        if node.post_only && self.would_cross(node.side, price) {
            return Err(RejectReason::PostOnlyWouldCross);
        }
        self.unlink(idx);
        {
            let node = self.arena.node_mut(idx);
            node.price = price;
            node.priority = seq;
            node.entered_at = ts;
        }
        out.push(amended(false));
        let mut taker = Taker {
            id: node.id,
            owner: node.owner,
            side: node.side,
            limit: Some(price),
            remaining: qty,
            stp: node.stp,
        };
        // A post-only order got here only if it does not cross, so it cannot trade.
        if !node.post_only {
            self.take(&mut taker, out);
        }
        if taker.remaining == 0 {
            self.arena.release(idx);
        } else {
            self.arena.node_mut(idx).open = taker.remaining;
            self.link(idx);
            out.push(Event::Rested {
                id: node.id,
                side: node.side,
                price,
                qty: Qty(taker.remaining),
            });
        }
        Ok(())
    }

    /// The slab index of a resting order that `owner` owns.
    fn owned(&self, id: OrderId, owner: OwnerId) -> Result<usize, RejectReason> {
        let idx = self.arena.find(id).ok_or(RejectReason::UnknownOrder)?;
        if self.arena.node(idx).owner == owner {
            Ok(idx)
        } else {
            Err(RejectReason::NotOwner)
        }
    }

    /// Matches a taker against the opposite side, best price first and oldest first
    /// within a price, until it is filled, runs out of acceptable prices or is cancelled
    /// by self-trade prevention.
    fn take(&mut self, taker: &mut Taker, out: &mut Vec<Event>) {
        let Self {
            bids,
            asks,
            arena,
            last_trade,
            ..
        } = self;
        let book = match taker.side {
            Side::Buy => asks,
            Side::Sell => bids,
        };
        while taker.remaining > 0 {
            let entry = match taker.side {
                Side::Buy => book.levels.first_entry(),
                Side::Sell => book.levels.last_entry(),
            };
            let Some(mut entry) = entry else { break };
            let price = *entry.key();
            if !taker.accepts(price) {
                break;
            }
            let level = entry.get_mut();
            while taker.remaining > 0 {
                let Some(idx) = level.head() else { break };
                let maker = *arena.node(idx);
                if maker.owner == taker.owner {
                    let (cancel_maker, cancel_taker) = match taker.stp {
                        SelfTradePrevention::CancelNewest => (false, true),
                        SelfTradePrevention::CancelOldest => (true, false),
                        SelfTradePrevention::CancelBoth => (true, true),
                    };
                    if cancel_maker {
                        arena.unlink(level, idx);
                        arena.release(idx);
                        book.open -= maker.open;
                        out.push(Event::Cancelled {
                            id: maker.id,
                            owner: maker.owner,
                            side: maker.side,
                            price: Some(maker.price),
                            qty: Qty(maker.open),
                            reason: CancelReason::SelfTrade,
                        });
                    }
                    if cancel_taker {
                        out.push(Event::Cancelled {
                            id: taker.id,
                            owner: taker.owner,
                            side: taker.side,
                            price: taker.limit,
                            qty: Qty(taker.remaining),
                            reason: CancelReason::SelfTrade,
                        });
                        taker.remaining = 0;
                    }
                    continue;
                }
                let fill = maker.open.min(taker.remaining);
                let maker_remaining = arena.reduce(level, idx, fill);
                book.open -= fill;
                taker.remaining -= fill;
                *last_trade += 1;
                out.push(Event::Traded(Trade {
                    id: TradeId(*last_trade),
                    maker: maker.id,
                    maker_owner: maker.owner,
                    taker: taker.id,
                    taker_owner: taker.owner,
                    taker_side: taker.side,
                    price,
                    qty: Qty(fill),
                    maker_remaining: Qty(maker_remaining),
                    taker_remaining: Qty(taker.remaining),
                }));
                if maker_remaining == 0 {
                    arena.unlink(level, idx);
                    arena.release(idx);
                }
            }
            if level.is_empty() {
                entry.remove();
            }
        }
    }

    /// Whether a fill-or-kill taker would fill completely, walking the queues exactly as
    /// [`Book::take`] would but changing nothing.
    fn fillable(&self, taker: &Taker) -> bool {
        let levels = &self.half(taker.side.opposite()).levels;
        match taker.side {
            Side::Buy => self.fillable_from(levels.iter(), taker),
            Side::Sell => self.fillable_from(levels.iter().rev(), taker),
        }
    }

    fn fillable_from<'a>(
        &self,
        levels: impl Iterator<Item = (&'a Price, &'a Level)>,
        taker: &Taker,
    ) -> bool {
        let mut need = taker.remaining;
        for (&price, level) in levels {
            if !taker.accepts(price) {
                return false;
            }
            for node in self.arena.iter(level) {
                if node.owner == taker.owner {
                    // Cancel-oldest removes the owner's order and goes on; the other modes
                    // cancel the taker here, before it is full.
                    if taker.stp == SelfTradePrevention::CancelOldest {
                        continue;
                    }
                    return false;
                }
                if node.open >= need {
                    return true;
                }
                need -= node.open;
            }
        }
        false
    }

    /// Whether an order on `side` at `price` would trade with the opposite side.
    fn would_cross(&self, side: Side, price: Price) -> bool {
        self.best(side.opposite())
            .is_some_and(|(best, _)| side.crosses(price, best))
    }

    /// The best level of a side.
    pub(crate) fn best(&self, side: Side) -> Option<(Price, &Level)> {
        let best = match side {
            Side::Buy => self.bids.levels.last_key_value(),
            Side::Sell => self.asks.levels.first_key_value(),
        };
        best.map(|(price, level)| (*price, level))
    }

    pub(crate) fn half(&self, side: Side) -> &HalfBook {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn parts(&mut self, side: Side) -> (&mut HalfBook, &mut Arena) {
        match side {
            Side::Buy => (&mut self.bids, &mut self.arena),
            Side::Sell => (&mut self.asks, &mut self.arena),
        }
    }

    /// Puts an allocated node at the back of the queue at its price.
    pub(crate) fn link(&mut self, idx: usize) {
        let Node {
            side, price, open, ..
        } = *self.arena.node(idx);
        let (half, arena) = self.parts(side);
        let level = half.levels.entry(price).or_insert(Level::EMPTY);
        arena.push_back(level, idx);
        // Callers checked this side's total has room for `open` before matching started.
        half.open += open;
    }

    /// Takes a resting node out of its queue (it stays allocated).
    fn unlink(&mut self, idx: usize) {
        let Node {
            side, price, open, ..
        } = *self.arena.node(idx);
        let (half, arena) = self.parts(side);
        if let Some(level) = half.levels.get_mut(&price) {
            arena.unlink(level, idx);
            if level.is_empty() {
                half.levels.remove(&price);
            }
        }
        half.open -= open;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
