//! A naive reference book: a flat list of resting orders, the best one found by a linear
//! scan for every fill, fill-or-kill decided by matching a throwaway copy. Slow and
//! obviously right, so the real book (slab, links, aggregates, FOK pre-check) is tested
//! against it event for event.

use matching::{
    Action, Amend, Cancel, CancelReason, Command, Event, NewOrder, OrderId, OrderKind, OwnerId,
    Price, Qty, RejectReason, RestingOrder, SelfTradePrevention, Side, TimeInForce, Trade, TradeId,
};

#[derive(Clone)]
pub struct Model {
    tick: u64,
    lot: u64,
    orders: Vec<RestingOrder>,
    last_seq: Option<u64>,
    last_trade: u64,
}

/// Sort key: better price first, then earlier priority.
fn rank(order: &RestingOrder) -> (i128, u64) {
    let price = i128::from(order.price.0);
    let price = if order.side == Side::Buy {
        -price
    } else {
        price
    };
    (price, order.priority.0)
}

impl Model {
    pub fn new(tick: u64, lot: u64) -> Self {
        Self {
            tick,
            lot,
            orders: Vec::new(),
            last_seq: None,
            last_trade: 0,
        }
    }

    pub fn resting(&self) -> Vec<RestingOrder> {
        let mut all = self.orders.clone();
        all.sort_by_key(|o| (o.side == Side::Sell, rank(o)));
        all
    }

    pub fn apply(&mut self, cmd: &Command) -> Vec<Event> {
        let id = match cmd.action {
            Action::Submit(o) => o.id,
            Action::Cancel(c) => c.id,
            Action::Amend(a) => a.id,
        };
        if self.last_seq.is_some_and(|last| cmd.seq.0 <= last) {
            return vec![Event::Rejected {
                id,
                reason: RejectReason::StaleSequence,
            }];
        }
        self.last_seq = Some(cmd.seq.0);
        let mut out = Vec::new();
        let result = match cmd.action {
            Action::Submit(o) => self.submit(cmd, o, &mut out),
            Action::Cancel(c) => self.cancel(c, &mut out),
            Action::Amend(a) => self.amend(cmd, a, &mut out),
        };
        if let Err(reason) = result {
            out.push(Event::Rejected { id, reason });
        }
        out
    }

    fn check_qty(&self, qty: Qty) -> Result<(), RejectReason> {
        match qty.0 {
            0 => Err(RejectReason::ZeroQuantity),
            q if q % self.lot != 0 => Err(RejectReason::QuantityNotLotMultiple),
            _ => Ok(()),
        }
    }

    fn check_price(&self, price: Price) -> Result<(), RejectReason> {
        match price.0 {
            0 => Err(RejectReason::ZeroPrice),
            p if p % self.tick != 0 => Err(RejectReason::PriceNotTickMultiple),
            _ => Ok(()),
        }
    }

    fn side_total(&self, side: Side) -> u128 {
        self.orders
            .iter()
            .filter(|o| o.side == side)
            .map(|o| u128::from(o.qty.0))
            .sum()
    }

    fn best(&self, side: Side) -> Option<usize> {
        (0..self.orders.len())
            .filter(|&i| self.orders[i].side == side)
            .min_by_key(|&i| rank(&self.orders[i]))
    }

    fn crosses(side: Side, limit: Price, resting: Price) -> bool {
        match side {
            Side::Buy => resting <= limit,
            Side::Sell => resting >= limit,
        }
    }

    fn would_cross(&self, side: Side, price: Price) -> bool {
        self.best(side.opposite())
            .is_some_and(|i| Self::crosses(side, price, self.orders[i].price))
    }

    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        id: OrderId,
        owner: OwnerId,
        side: Side,
        limit: Option<Price>,
        mut remaining: u64,
        stp: SelfTradePrevention,
        out: &mut Vec<Event>,
    ) -> u64 {
        let cancel = |id, owner, side, price, qty| Event::Cancelled {
            id,
            owner,
            side,
            price,
            qty: Qty(qty),
            reason: CancelReason::SelfTrade,
        };
        while remaining > 0 {
            let Some(i) = self.best(side.opposite()) else {
                break;
            };
            let maker = self.orders[i];
            if limit.is_some_and(|limit| !Self::crosses(side, limit, maker.price)) {
                break;
            }
            if maker.owner == owner {
                if stp != SelfTradePrevention::CancelNewest {
                    self.orders.remove(i);
                    out.push(cancel(
                        maker.id,
                        maker.owner,
                        maker.side,
                        Some(maker.price),
                        maker.qty.0,
                    ));
                }
                if stp != SelfTradePrevention::CancelOldest {
                    out.push(cancel(id, owner, side, limit, remaining));
                    return 0;
                }
                continue;
            }
            let fill = maker.qty.0.min(remaining);
            remaining -= fill;
            self.orders[i].qty.0 -= fill;
            self.last_trade += 1;
            out.push(Event::Traded(Trade {
                id: TradeId(self.last_trade),
                maker: maker.id,
                maker_owner: maker.owner,
                taker: id,
                taker_owner: owner,
                taker_side: side,
                price: maker.price,
                qty: Qty(fill),
                maker_remaining: self.orders[i].qty,
                taker_remaining: Qty(remaining),
            }));
            if self.orders[i].qty.0 == 0 {
                self.orders.remove(i);
            }
        }
        remaining
    }

    fn submit(
        &mut self,
        cmd: &Command,
        o: NewOrder,
        out: &mut Vec<Event>,
    ) -> Result<(), RejectReason> {
        if self.orders.iter().any(|r| r.id == o.id) {
            return Err(RejectReason::DuplicateOrderId);
        }
        self.check_qty(o.qty)?;
        let limit = match o.kind {
            OrderKind::Limit { price } => {
                self.check_price(price)?;
                Some(price)
            }
            OrderKind::Market if matches!(o.tif, TimeInForce::Gtc | TimeInForce::PostOnly) => {
                return Err(RejectReason::MarketOrderNotImmediate);
            }
            OrderKind::Market => None,
        };
        let rests = matches!(o.tif, TimeInForce::Gtc | TimeInForce::PostOnly);
        if rests && self.side_total(o.side) + u128::from(o.qty.0) > u128::from(u64::MAX) {
            return Err(RejectReason::QuantityTooLarge);
        }
        if o.tif == TimeInForce::PostOnly && limit.is_some_and(|p| self.would_cross(o.side, p)) {
            return Err(RejectReason::PostOnlyWouldCross);
        }
        if o.tif == TimeInForce::Fok {
            // Fillable means the trial trades all of it (self-trade prevention may instead
            // cancel the taker, which also leaves nothing remaining).
            let (mut trial, mut events) = (self.clone(), Vec::new());
            trial.take(o.id, o.owner, o.side, limit, o.qty.0, o.stp, &mut events);
            let traded: u64 = events
                .iter()
                .map(|e| if let Event::Traded(t) = e { t.qty.0 } else { 0 })
                .sum();
            if traded < o.qty.0 {
                return Err(RejectReason::FillOrKillUnfillable);
            }
        }
        out.push(Event::Accepted {
            id: o.id,
            owner: o.owner,
            side: o.side,
            kind: o.kind,
            qty: o.qty,
            tif: o.tif,
        });
        let remaining = if o.tif == TimeInForce::PostOnly {
            o.qty.0
        } else {
            self.take(o.id, o.owner, o.side, limit, o.qty.0, o.stp, out)
        };
        if remaining == 0 {
            return Ok(());
        }
        match limit {
            Some(price) if rests => {
                self.orders.push(RestingOrder {
                    id: o.id,
                    owner: o.owner,
                    side: o.side,
                    price,
                    qty: Qty(remaining),
                    priority: cmd.seq,
                    entered_at: cmd.ts,
                    post_only: o.tif == TimeInForce::PostOnly,
                    stp: o.stp,
                });
                out.push(Event::Rested {
                    id: o.id,
                    side: o.side,
                    price,
                    qty: Qty(remaining),
                });
            }
            _ => out.push(Event::Cancelled {
                id: o.id,
                owner: o.owner,
                side: o.side,
                price: limit,
                qty: Qty(remaining),
                reason: CancelReason::Unfilled,
            }),
        }
        Ok(())
    }

    fn find(&self, id: OrderId, owner: OwnerId) -> Result<usize, RejectReason> {
        let i = self
            .orders
            .iter()
            .position(|o| o.id == id)
            .ok_or(RejectReason::UnknownOrder)?;
        if self.orders[i].owner == owner {
            Ok(i)
        } else {
            Err(RejectReason::NotOwner)
        }
    }

    fn cancel(&mut self, c: Cancel, out: &mut Vec<Event>) -> Result<(), RejectReason> {
        let i = self.find(c.id, c.owner)?;
        let o = self.orders.remove(i);
        out.push(Event::Cancelled {
            id: o.id,
            owner: o.owner,
            side: o.side,
            price: Some(o.price),
            qty: o.qty,
            reason: CancelReason::Requested,
        });
        Ok(())
    }

    fn amend(&mut self, cmd: &Command, a: Amend, out: &mut Vec<Event>) -> Result<(), RejectReason> {
        let i = self.find(a.id, a.owner)?;
        self.check_price(a.price)?;
        self.check_qty(a.qty)?;
        let o = self.orders[i];
        let amended = |kept| Event::Amended {
            id: o.id,
            side: o.side,
            old_price: o.price,
            old_qty: o.qty,
            price: a.price,
            qty: a.qty,
            priority_kept: kept,
        };
        if a.price == o.price && a.qty <= o.qty {
            self.orders[i].qty = a.qty;
            out.push(amended(true));
            return Ok(());
        }
        if self.side_total(o.side) - u128::from(o.qty.0) + u128::from(a.qty.0)
            > u128::from(u64::MAX)
        {
            return Err(RejectReason::QuantityTooLarge);
        }
        if o.post_only && self.would_cross(o.side, a.price) {
            return Err(RejectReason::PostOnlyWouldCross);
        }
        self.orders.remove(i);
        out.push(amended(false));
        let remaining = self.take(o.id, o.owner, o.side, Some(a.price), a.qty.0, o.stp, out);
        if remaining > 0 {
            self.orders.push(RestingOrder {
                price: a.price,
                qty: Qty(remaining),
                priority: cmd.seq,
                entered_at: cmd.ts,
                ..o
            });
            out.push(Event::Rested {
                id: o.id,
                side: o.side,
                price: a.price,
                qty: Qty(remaining),
            });
        }
        Ok(())
    }
}
