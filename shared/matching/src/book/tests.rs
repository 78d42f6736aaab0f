//! One test per matching rule, through the public command and event API.

use crate::{
    Action, Amend, Book, Cancel, CancelReason, Command, Event, LevelView, MarketSpec,
    MatchingError, NewOrder, OrderId, OrderKind, OwnerId, Price, Qty, RejectReason,
    SelfTradePrevention as Stp, Seq, Side, Snapshot, TimeInForce as Tif, Trade, TradeId,
};

use Side::{Buy, Sell};

/// A level as (price, qty, orders).
type Flat = (u64, u64, usize);

/// A book plus the next sequence number, so tests read as a list of orders.
struct Market {
    book: Book,
    seq: u64,
}

impl Market {
    fn new() -> Self {
        Self::with_spec(MarketSpec::new(1, 1).unwrap())
    }

    fn with_spec(spec: MarketSpec) -> Self {
        Self {
            book: Book::new(spec),
            seq: 0,
        }
    }

    fn run(&mut self, action: Action) -> Vec<Event> {
        self.seq += 1;
        self.book
            .apply(&Command::new(self.seq, 1000 + self.seq, action))
    }

    fn submit(&mut self, order: NewOrder) -> Vec<Event> {
        self.run(Action::Submit(order))
    }

    fn limit(&mut self, id: u64, owner: u64, side: Side, price: u64, qty: u64) -> Vec<Event> {
        self.submit(NewOrder::limit(id, owner, side, price, qty))
    }

    fn cancel(&mut self, id: u64, owner: u64) -> Vec<Event> {
        self.run(Action::Cancel(Cancel {
            id: OrderId(id),
            owner: OwnerId(owner),
        }))
    }

    fn amend(&mut self, id: u64, owner: u64, price: u64, qty: u64) -> Vec<Event> {
        self.run(Action::Amend(Amend {
            id: OrderId(id),
            owner: OwnerId(owner),
            price: Price(price),
            qty: Qty(qty),
        }))
    }

    /// (price, qty, orders) of each bid level then each ask level, best first.
    fn levels(&self) -> (Vec<Flat>, Vec<Flat>) {
        let depth = self.book.depth(usize::MAX);
        let flat = |levels: Vec<LevelView>| -> Vec<Flat> {
            levels
                .into_iter()
                .map(|l| (l.price.0, l.qty.0, l.orders))
                .collect()
        };
        (flat(depth.bids), flat(depth.asks))
    }

    /// Ids of resting orders in canonical priority order.
    fn queue(&self) -> Vec<u64> {
        self.book.resting_orders().map(|o| o.id.0).collect()
    }
}

/// (maker, taker, price, qty) of each trade.
fn trades(events: &[Event]) -> Vec<(u64, u64, u64, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Traded(t) => Some((t.maker.0, t.taker.0, t.price.0, t.qty.0)),
            _ => None,
        })
        .collect()
}

/// (id, qty, reason) of each cancel.
fn cancels(events: &[Event]) -> Vec<(u64, u64, CancelReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Cancelled {
                id, qty, reason, ..
            } => Some((id.0, qty.0, *reason)),
            _ => None,
        })
        .collect()
}

fn rejected(events: &[Event]) -> Option<RejectReason> {
    match events {
        [Event::Rejected { reason, .. }] => Some(*reason),
        _ => None,
    }
}

#[test]
fn gtc_limit_rests_when_nothing_crosses() {
    let mut m = Market::new();
    let events = m.limit(1, 7, Buy, 100, 5);
    assert_eq!(
        events,
        vec![
            Event::Accepted {
                id: OrderId(1),
                owner: OwnerId(7),
                side: Buy,
                kind: OrderKind::Limit { price: Price(100) },
                qty: Qty(5),
                tif: Tif::Gtc,
            },
            Event::Rested {
                id: OrderId(1),
                side: Buy,
                price: Price(100),
                qty: Qty(5)
            },
        ]
    );
    assert_eq!(
        m.book.best_bid(),
        Some(LevelView {
            price: Price(100),
            qty: Qty(5),
            orders: 1
        })
    );
    assert_eq!(m.book.best_ask(), None);
    let order = m.book.order(OrderId(1)).unwrap();
    assert_eq!((order.priority, order.entered_at.0), (Seq(1), 1001));
}

#[test]
fn partial_fill_rests_the_remainder() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 10);
    let events = m.limit(2, 2, Buy, 100, 15);
    assert_eq!(
        events[1],
        Event::Traded(Trade {
            id: TradeId(1),
            maker: OrderId(1),
            maker_owner: OwnerId(1),
            taker: OrderId(2),
            taker_owner: OwnerId(2),
            taker_side: Buy,
            price: Price(100),
            qty: Qty(10),
            maker_remaining: Qty(0),
            taker_remaining: Qty(5),
        })
    );
    assert_eq!(
        events[2],
        Event::Rested {
            id: OrderId(2),
            side: Buy,
            price: Price(100),
            qty: Qty(5)
        }
    );
    assert_eq!(m.levels(), (vec![(100, 5, 1)], vec![]));
}

#[test]
fn partially_filled_maker_keeps_its_place() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 10);
    m.limit(2, 1, Sell, 100, 10);
    assert_eq!(trades(&m.limit(3, 2, Buy, 100, 4)), vec![(1, 3, 100, 4)]);
    assert_eq!(
        trades(&m.limit(4, 2, Buy, 100, 8)),
        vec![(1, 4, 100, 6), (2, 4, 100, 2)]
    );
    assert_eq!(m.levels(), (vec![], vec![(100, 8, 1)]));
}

#[test]
fn sweep_walks_levels_best_first_and_trades_at_maker_prices() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 102, 5);
    m.limit(2, 1, Sell, 100, 5);
    m.limit(3, 1, Sell, 101, 5);
    let events = m.limit(4, 2, Buy, 101, 12);
    assert_eq!(trades(&events), vec![(2, 4, 100, 5), (3, 4, 101, 5)]);
    // The remainder rests at its limit, below the untouched 102 ask: never crossed.
    assert_eq!(m.levels(), (vec![(101, 2, 1)], vec![(102, 5, 1)]));
}

#[test]
fn same_price_fills_oldest_first() {
    let mut m = Market::new();
    m.limit(1, 1, Buy, 100, 5);
    m.limit(2, 3, Buy, 100, 5);
    m.limit(3, 4, Buy, 99, 5);
    let events = m.limit(4, 2, Sell, 90, 12);
    assert_eq!(
        trades(&events),
        vec![(1, 4, 100, 5), (2, 4, 100, 5), (3, 4, 99, 2)]
    );
    assert_eq!(m.levels(), (vec![(99, 3, 1)], vec![]));
}

#[test]
fn trade_ids_are_sequential() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 1);
    m.limit(2, 1, Sell, 101, 1);
    let events = m.limit(3, 2, Buy, 101, 2);
    let ids: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Traded(t) => Some(t.id.0),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(m.book.last_trade(), TradeId(2));
}

#[test]
fn ioc_trades_what_it_can_and_cancels_the_rest() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 3);
    let events = m.submit(NewOrder::limit(2, 2, Buy, 100, 5).with_tif(Tif::Ioc));
    assert_eq!(trades(&events), vec![(1, 2, 100, 3)]);
    assert_eq!(cancels(&events), vec![(2, 2, CancelReason::Unfilled)]);
    assert!(m.book.is_empty());
}

#[test]
fn ioc_that_does_not_cross_is_cancelled_whole() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 101, 3);
    let events = m.submit(NewOrder::limit(2, 2, Buy, 100, 5).with_tif(Tif::Ioc));
    assert!(matches!(events[0], Event::Accepted { .. }));
    assert_eq!(cancels(&events), vec![(2, 5, CancelReason::Unfilled)]);
    assert_eq!(m.queue(), vec![1]);
}

#[test]
fn fok_fills_completely_across_levels() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 3);
    m.limit(2, 1, Sell, 101, 3);
    let events = m.submit(NewOrder::limit(3, 2, Buy, 101, 5).with_tif(Tif::Fok));
    assert_eq!(trades(&events), vec![(1, 3, 100, 3), (2, 3, 101, 2)]);
    assert!(cancels(&events).is_empty());
    assert_eq!(m.levels(), (vec![], vec![(101, 1, 1)]));
}

#[test]
fn fok_that_cannot_fill_is_rejected_without_touching_the_book() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 3);
    m.limit(2, 1, Sell, 102, 3);
    let before = m.book.snapshot();
    // Enough quantity exists, but not within the limit.
    let events = m.submit(NewOrder::limit(3, 2, Buy, 101, 5).with_tif(Tif::Fok));
    assert_eq!(rejected(&events), Some(RejectReason::FillOrKillUnfillable));
    let events = m.submit(NewOrder::market(4, 2, Buy, 7).with_tif(Tif::Fok));
    assert_eq!(rejected(&events), Some(RejectReason::FillOrKillUnfillable));
    assert_eq!(m.book.snapshot().orders, before.orders);
    assert_eq!(m.book.last_trade(), TradeId(0));
}

#[test]
fn post_only_rests_without_crossing() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 101, 3);
    let events = m.submit(NewOrder::limit(2, 2, Buy, 100, 5).with_tif(Tif::PostOnly));
    assert!(matches!(
        events.as_slice(),
        [Event::Accepted { .. }, Event::Rested { .. }]
    ));
    assert!(m.book.order(OrderId(2)).unwrap().post_only);
}

#[test]
fn post_only_that_would_cross_is_rejected() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 101, 3);
    let before = m.book.snapshot().orders;
    let events = m.submit(NewOrder::limit(2, 2, Buy, 101, 5).with_tif(Tif::PostOnly));
    assert_eq!(rejected(&events), Some(RejectReason::PostOnlyWouldCross));
    assert_eq!(m.book.snapshot().orders, before);
}

#[test]
fn market_order_sweeps_and_cancels_what_it_cannot_fill() {
    let mut m = Market::new();
    m.limit(1, 1, Buy, 100, 3);
    m.limit(2, 1, Buy, 90, 3);
    let events = m.submit(NewOrder::market(3, 2, Sell, 10));
    assert_eq!(trades(&events), vec![(1, 3, 100, 3), (2, 3, 90, 3)]);
    assert_eq!(cancels(&events), vec![(3, 4, CancelReason::Unfilled)]);
    assert!(matches!(
        events.last(),
        Some(Event::Cancelled { price: None, .. })
    ));
    assert!(m.book.is_empty());
}

#[test]
fn market_order_on_an_empty_side_is_cancelled() {
    let mut m = Market::new();
    let events = m.submit(NewOrder::market(1, 1, Buy, 10));
    assert_eq!(cancels(&events), vec![(1, 10, CancelReason::Unfilled)]);
    assert!(m.book.is_empty());
}

#[test]
fn market_order_fok_fills_or_is_rejected() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 3);
    m.limit(2, 1, Sell, 200, 3);
    let events = m.submit(NewOrder::market(3, 2, Buy, 6).with_tif(Tif::Fok));
    assert_eq!(trades(&events), vec![(1, 3, 100, 3), (2, 3, 200, 3)]);
}

#[test]
fn market_order_must_be_immediate() {
    let mut m = Market::new();
    for tif in [Tif::Gtc, Tif::PostOnly] {
        let events = m.submit(NewOrder::market(1, 1, Buy, 1).with_tif(tif));
        assert_eq!(
            rejected(&events),
            Some(RejectReason::MarketOrderNotImmediate)
        );
    }
}

#[test]
fn stp_cancel_newest_cancels_the_taker_and_keeps_the_maker() {
    let mut m = Market::new();
    m.limit(1, 9, Sell, 100, 3);
    m.limit(2, 7, Sell, 100, 3);
    m.limit(3, 9, Sell, 101, 3);
    let events = m.submit(NewOrder::limit(4, 7, Buy, 101, 8).with_stp(Stp::CancelNewest));
    // Trades with someone else's order first, then meets its own order and stops.
    assert_eq!(trades(&events), vec![(1, 4, 100, 3)]);
    assert_eq!(cancels(&events), vec![(4, 5, CancelReason::SelfTrade)]);
    assert_eq!(m.queue(), vec![2, 3]);
}

#[test]
fn stp_cancel_oldest_cancels_the_maker_and_keeps_matching() {
    let mut m = Market::new();
    m.limit(1, 7, Sell, 100, 3);
    m.limit(2, 9, Sell, 100, 3);
    let events = m.submit(NewOrder::limit(3, 7, Buy, 100, 5).with_stp(Stp::CancelOldest));
    assert_eq!(cancels(&events), vec![(1, 3, CancelReason::SelfTrade)]);
    assert_eq!(trades(&events), vec![(2, 3, 100, 3)]);
    assert!(matches!(
        events.last(),
        Some(Event::Rested { qty: Qty(2), .. })
    ));
    assert_eq!(m.levels(), (vec![(100, 2, 1)], vec![]));
}

#[test]
fn stp_cancel_both_cancels_maker_then_taker() {
    let mut m = Market::new();
    m.limit(1, 7, Sell, 100, 3);
    m.limit(2, 9, Sell, 100, 3);
    let events = m.submit(NewOrder::limit(3, 7, Buy, 100, 5).with_stp(Stp::CancelBoth));
    assert_eq!(
        cancels(&events),
        vec![
            (1, 3, CancelReason::SelfTrade),
            (3, 5, CancelReason::SelfTrade)
        ]
    );
    assert!(trades(&events).is_empty());
    assert_eq!(m.queue(), vec![2]);
}

#[test]
fn stp_is_decided_by_owner_not_by_order() {
    let mut m = Market::new();
    m.limit(1, 7, Sell, 100, 3);
    let events = m.limit(2, 8, Buy, 100, 3);
    assert_eq!(trades(&events), vec![(1, 2, 100, 3)]);
}

#[test]
fn fok_fillability_accounts_for_self_trade_prevention() {
    let mut m = Market::new();
    m.limit(1, 7, Sell, 100, 3);
    m.limit(2, 9, Sell, 100, 3);
    let before = m.book.snapshot().orders;
    // Cancel-newest would stop at the owner's own order first: not fillable, untouched.
    let fok = NewOrder::limit(3, 7, Buy, 100, 3).with_tif(Tif::Fok);
    let events = m.submit(fok.with_stp(Stp::CancelNewest));
    assert_eq!(rejected(&events), Some(RejectReason::FillOrKillUnfillable));
    let events = m.submit(NewOrder {
        id: OrderId(4),
        ..fok.with_stp(Stp::CancelBoth)
    });
    assert_eq!(rejected(&events), Some(RejectReason::FillOrKillUnfillable));
    // The owner's own quantity does not count towards filling it.
    let events = m.submit(NewOrder {
        id: OrderId(5),
        qty: Qty(4),
        ..fok.with_stp(Stp::CancelOldest)
    });
    assert_eq!(rejected(&events), Some(RejectReason::FillOrKillUnfillable));
    assert_eq!(m.book.snapshot().orders, before);
    // Cancel-oldest skips the owner's order, so 3 more is fillable.
    let events = m.submit(NewOrder {
        id: OrderId(6),
        ..fok.with_stp(Stp::CancelOldest)
    });
    assert_eq!(cancels(&events), vec![(1, 3, CancelReason::SelfTrade)]);
    assert_eq!(trades(&events), vec![(2, 6, 100, 3)]);
    assert!(m.book.is_empty());
}

#[test]
fn cancel_removes_a_resting_order() {
    let mut m = Market::new();
    m.limit(1, 1, Buy, 100, 5);
    m.limit(2, 1, Buy, 100, 6);
    m.limit(3, 1, Buy, 100, 7);
    let events = m.cancel(2, 1);
    assert_eq!(
        events,
        vec![Event::Cancelled {
            id: OrderId(2),
            owner: OwnerId(1),
            side: Buy,
            price: Some(Price(100)),
            qty: Qty(6),
            reason: CancelReason::Requested,
        }]
    );
    assert_eq!(m.levels(), (vec![(100, 12, 2)], vec![]));
    assert_eq!(m.queue(), vec![1, 3]);
    m.cancel(1, 1);
    m.cancel(3, 1);
    assert_eq!(m.levels(), (vec![], vec![]));
}

#[test]
fn cancel_of_unknown_order_is_rejected() {
    let mut m = Market::new();
    assert_eq!(rejected(&m.cancel(1, 1)), Some(RejectReason::UnknownOrder));
    m.limit(1, 1, Buy, 100, 5);
    m.cancel(1, 1);
    assert_eq!(rejected(&m.cancel(1, 1)), Some(RejectReason::UnknownOrder));
}

#[test]
fn cancel_by_someone_else_is_rejected() {
    let mut m = Market::new();
    m.limit(1, 1, Buy, 100, 5);
    assert_eq!(rejected(&m.cancel(1, 2)), Some(RejectReason::NotOwner));
    assert_eq!(m.queue(), vec![1]);
}

#[test]
fn duplicate_order_id_is_rejected_while_it_rests() {
    let mut m = Market::new();
    m.limit(1, 1, Buy, 100, 5);
    let events = m.limit(1, 2, Sell, 200, 5);
    assert_eq!(rejected(&events), Some(RejectReason::DuplicateOrderId));
    assert_eq!(m.queue(), vec![1]);
}

#[test]
fn amend_down_in_size_keeps_priority() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 5);
    m.limit(2, 1, Sell, 100, 5);
    let events = m.amend(1, 1, 100, 2);
    assert_eq!(
        events,
        vec![Event::Amended {
            id: OrderId(1),
            side: Sell,
            old_price: Price(100),
            old_qty: Qty(5),
            price: Price(100),
            qty: Qty(2),
            priority_kept: true,
        }]
    );
    assert_eq!(m.levels(), (vec![], vec![(100, 7, 2)]));
    assert_eq!(
        trades(&m.limit(3, 2, Buy, 100, 3)),
        vec![(1, 3, 100, 2), (2, 3, 100, 1)]
    );
    assert_eq!(m.book.order(OrderId(2)).unwrap().priority, Seq(2));
}

#[test]
fn amend_up_in_size_loses_priority() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 5);
    m.limit(2, 1, Sell, 100, 5);
    let events = m.amend(1, 1, 100, 6);
    assert!(matches!(
        events[0],
        Event::Amended {
            priority_kept: false,
            ..
        }
    ));
    assert_eq!(
        events[1],
        Event::Rested {
            id: OrderId(1),
            side: Sell,
            price: Price(100),
            qty: Qty(6)
        }
    );
    assert_eq!(m.queue(), vec![2, 1]);
    assert_eq!(m.book.order(OrderId(1)).unwrap().priority, Seq(3));
    assert_eq!(m.levels(), (vec![], vec![(100, 11, 2)]));
}

#[test]
fn amend_of_price_loses_priority_even_when_moved_back() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 5);
    m.limit(2, 1, Sell, 100, 5);
    m.amend(1, 1, 101, 5);
    assert_eq!(m.levels(), (vec![], vec![(100, 5, 1), (101, 5, 1)]));
    m.amend(1, 1, 100, 5);
    assert_eq!(m.queue(), vec![2, 1]);
}

#[test]
fn amend_to_a_crossing_price_trades_as_taker() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 3);
    m.limit(2, 2, Buy, 98, 5);
    let events = m.amend(2, 2, 100, 5);
    assert!(matches!(
        events[0],
        Event::Amended {
            priority_kept: false,
            ..
        }
    ));
    assert_eq!(trades(&events), vec![(1, 2, 100, 3)]);
    assert_eq!(
        events.last(),
        Some(&Event::Rested {
            id: OrderId(2),
            side: Buy,
            price: Price(100),
            qty: Qty(2)
        })
    );
    assert_eq!(m.levels(), (vec![(100, 2, 1)], vec![]));
}

#[test]
fn amend_that_fills_completely_removes_the_order() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 5);
    m.limit(2, 2, Buy, 98, 5);
    let events = m.amend(2, 2, 100, 5);
    assert_eq!(trades(&events), vec![(1, 2, 100, 5)]);
    assert!(m.book.is_empty());
    assert_eq!(rejected(&m.cancel(2, 2)), Some(RejectReason::UnknownOrder));
}

#[test]
fn amend_into_own_order_applies_self_trade_prevention() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 5);
    m.submit(NewOrder::limit(2, 1, Buy, 98, 5).with_stp(Stp::CancelNewest));
    let events = m.amend(2, 1, 100, 5);
    assert_eq!(cancels(&events), vec![(2, 5, CancelReason::SelfTrade)]);
    assert_eq!(m.queue(), vec![1]);
}

#[test]
fn amend_of_post_only_that_would_cross_is_rejected() {
    let mut m = Market::new();
    m.limit(1, 1, Sell, 100, 5);
    m.submit(NewOrder::limit(2, 2, Buy, 98, 5).with_tif(Tif::PostOnly));
    let before = m.book.snapshot().orders;
    assert_eq!(
        rejected(&m.amend(2, 2, 100, 5)),
        Some(RejectReason::PostOnlyWouldCross)
    );
    assert_eq!(m.book.snapshot().orders, before);
    // A non-crossing move is fine.
    assert!(matches!(m.amend(2, 2, 99, 5)[0], Event::Amended { .. }));
}

#[test]
fn amend_is_validated() {
    let mut m = Market::with_spec(MarketSpec::new(5, 10).unwrap());
    m.limit(1, 1, Sell, 100, 50);
    assert_eq!(
        rejected(&m.amend(2, 1, 100, 50)),
        Some(RejectReason::UnknownOrder)
    );
    assert_eq!(
        rejected(&m.amend(1, 2, 100, 50)),
        Some(RejectReason::NotOwner)
    );
    assert_eq!(
        rejected(&m.amend(1, 1, 101, 50)),
        Some(RejectReason::PriceNotTickMultiple)
    );
    assert_eq!(
        rejected(&m.amend(1, 1, 0, 50)),
        Some(RejectReason::ZeroPrice)
    );
    assert_eq!(
        rejected(&m.amend(1, 1, 100, 0)),
        Some(RejectReason::ZeroQuantity)
    );
    assert_eq!(
        rejected(&m.amend(1, 1, 100, 55)),
        Some(RejectReason::QuantityNotLotMultiple)
    );
    assert_eq!(m.book.order(OrderId(1)).unwrap().priority, Seq(1));
}

#[test]
fn prices_and_quantities_are_validated_at_the_edge() {
    let mut m = Market::with_spec(MarketSpec::new(5, 10).unwrap());
    let cases = [
        (
            NewOrder::limit(1, 1, Buy, 101, 10),
            RejectReason::PriceNotTickMultiple,
        ),
        (NewOrder::limit(1, 1, Buy, 0, 10), RejectReason::ZeroPrice),
        (
            NewOrder::limit(1, 1, Buy, 100, 0),
            RejectReason::ZeroQuantity,
        ),
        (
            NewOrder::limit(1, 1, Buy, 100, 15),
            RejectReason::QuantityNotLotMultiple,
        ),
        (
            NewOrder::market(1, 1, Buy, 15),
            RejectReason::QuantityNotLotMultiple,
        ),
    ];
    for (order, reason) in cases {
        assert_eq!(rejected(&m.submit(order)), Some(reason), "{order:?}");
    }
    assert!(m.book.is_empty());
    assert!(matches!(
        m.limit(1, 1, Buy, 105, 20).as_slice(),
        [Event::Accepted { .. }, Event::Rested { .. }]
    ));
}

#[test]
fn quantity_that_would_overflow_a_side_is_rejected() {
    let mut m = Market::new();
    m.limit(1, 1, Buy, 100, u64::MAX - 1);
    assert_eq!(
        rejected(&m.limit(2, 1, Buy, 99, 2)),
        Some(RejectReason::QuantityTooLarge)
    );
    assert_eq!(rejected(&m.amend(1, 1, 100, u64::MAX)), None);
    assert_eq!(m.levels(), (vec![(100, u64::MAX, 1)], vec![]));
    // An IOC never rests, so it needs no room.
    m.limit(3, 2, Sell, 101, 1);
    let events = m.submit(NewOrder::limit(4, 2, Sell, 101, u64::MAX).with_tif(Tif::Ioc));
    assert_eq!(
        cancels(&events),
        vec![(4, u64::MAX, CancelReason::Unfilled)]
    );
}

#[test]
fn stale_sequence_numbers_are_rejected_and_change_nothing() {
    let mut book = Book::new(MarketSpec::new(1, 1).unwrap());
    let order = Action::Submit(NewOrder::limit(1, 1, Buy, 100, 5));
    assert_eq!(book.apply(&Command::new(5, 0, order)).len(), 2);
    let again = Action::Submit(NewOrder::limit(2, 1, Buy, 100, 5));
    for seq in [5, 4] {
        let events = book.apply(&Command::new(seq, 0, again));
        assert_eq!(rejected(&events), Some(RejectReason::StaleSequence));
    }
    assert_eq!(book.last_seq(), Some(Seq(5)));
    // Gaps are fine; a rejected command still consumes its number.
    let bad = Action::Cancel(Cancel {
        id: OrderId(9),
        owner: OwnerId(1),
    });
    assert_eq!(
        rejected(&book.apply(&Command::new(9, 0, bad))),
        Some(RejectReason::UnknownOrder)
    );
    assert_eq!(book.last_seq(), Some(Seq(9)));
    assert_eq!(book.len(), 1);
}

#[test]
fn depth_aggregates_levels_best_first() {
    let mut m = Market::new();
    m.limit(1, 1, Buy, 98, 1);
    m.limit(2, 1, Buy, 99, 2);
    m.limit(3, 1, Buy, 99, 3);
    m.limit(4, 1, Buy, 97, 4);
    m.limit(5, 1, Sell, 101, 5);
    m.limit(6, 1, Sell, 103, 6);
    let depth = m.book.depth(2);
    let view = |p, q, n| LevelView {
        price: Price(p),
        qty: Qty(q),
        orders: n,
    };
    assert_eq!(depth.bids, vec![view(99, 5, 2), view(98, 1, 1)]);
    assert_eq!(depth.asks, vec![view(101, 5, 1), view(103, 6, 1)]);
    assert_eq!(m.book.best_bid(), Some(view(99, 5, 2)));
    assert_eq!(m.book.best_ask(), Some(view(101, 5, 1)));
    assert_eq!(m.book.depth(0), crate::Depth::default());
}

fn busy_market() -> Market {
    let mut m = Market::new();
    m.limit(1, 1, Buy, 99, 5);
    m.submit(NewOrder::limit(2, 2, Buy, 99, 6).with_tif(Tif::PostOnly));
    m.submit(NewOrder::limit(3, 3, Buy, 97, 7).with_stp(Stp::CancelBoth));
    m.limit(4, 1, Sell, 101, 8);
    m.limit(5, 2, Sell, 100, 9);
    m.limit(6, 3, Buy, 100, 2);
    m
}

#[test]
fn snapshot_round_trips_through_json_into_an_equal_book() {
    let m = busy_market();
    let snapshot = m.book.snapshot();
    let json = serde_json::to_string(&snapshot).unwrap();
    let restored = Book::from_snapshot(&serde_json::from_str::<Snapshot>(&json).unwrap()).unwrap();
    assert_eq!(restored, m.book);
    assert_eq!(restored.snapshot(), snapshot);
    assert_eq!(restored.depth(10), m.book.depth(10));
    // Canonical order: bids best first, then asks best first, oldest first.
    let ids: Vec<u64> = snapshot.orders.iter().map(|o| o.id.0).collect();
    assert_eq!(ids, vec![1, 2, 3, 5, 4]);
}

#[test]
fn books_that_differ_are_not_equal() {
    let a = busy_market();
    let mut b = busy_market();
    assert_eq!(a.book, b.book);
    b.amend(1, 1, 99, 5);
    assert_ne!(
        a.book, b.book,
        "a no-op amend still advances the sequence number"
    );
}

#[test]
fn snapshot_order_does_not_matter_but_validity_does() {
    let m = busy_market();
    let good = m.book.snapshot();
    let mut shuffled = good.clone();
    shuffled.orders.reverse();
    assert_eq!(Book::from_snapshot(&shuffled).unwrap(), m.book);

    let with = |edit: &dyn Fn(&mut Snapshot)| {
        let mut s = good.clone();
        edit(&mut s);
        Book::from_snapshot(&s)
    };
    assert_eq!(
        with(&|s| s.orders[1].id = OrderId(1)),
        Err(MatchingError::SnapshotDuplicateOrder(OrderId(1)))
    );
    assert_eq!(
        with(&|s| s.orders[1].priority = s.orders[0].priority),
        Err(MatchingError::SnapshotDuplicatePriority(Seq(1)))
    );
    assert_eq!(
        with(&|s| s.orders[0].priority = Seq(99)),
        Err(MatchingError::SnapshotPriorityAhead(OrderId(1)))
    );
    assert_eq!(
        with(&|s| s.orders[0].price = Price(100)),
        Err(MatchingError::SnapshotCrossed)
    );
    assert_eq!(
        with(&|s| s.orders[0].qty = Qty(0)),
        Err(MatchingError::SnapshotOrderInvalid {
            id: OrderId(1),
            reason: RejectReason::ZeroQuantity
        })
    );
    assert_eq!(
        with(&|s| {
            s.orders[0].qty = Qty(u64::MAX);
        }),
        Err(MatchingError::SnapshotOverflow)
    );
}

#[test]
fn replaying_the_log_rebuilds_the_same_book() {
    let spec = MarketSpec::new(1, 1).unwrap();
    let log = [
        Command::new(1, 10, Action::Submit(NewOrder::limit(1, 1, Buy, 99, 5))),
        Command::new(2, 11, Action::Submit(NewOrder::limit(2, 2, Sell, 101, 5))),
        Command::new(3, 12, Action::Submit(NewOrder::limit(3, 3, Sell, 99, 2))),
        Command::new(
            5,
            13,
            Action::Amend(Amend {
                id: OrderId(2),
                owner: OwnerId(2),
                price: Price(100),
                qty: Qty(4),
            }),
        ),
        Command::new(
            6,
            14,
            Action::Cancel(Cancel {
                id: OrderId(7),
                owner: OwnerId(2),
            }),
        ),
    ];
    let mut live = Book::new(spec);
    let events: Vec<Vec<Event>> = log.iter().map(|c| live.apply(c)).collect();
    let replayed = Book::replay(spec, &log);
    assert_eq!(replayed, live);
    let mut again = Book::new(spec);
    assert_eq!(
        log.iter().map(|c| again.apply(c)).collect::<Vec<_>>(),
        events
    );
}

#[test]
fn events_serialise_with_a_type_tag() {
    let event = Event::Rejected {
        id: OrderId(3),
        reason: RejectReason::UnknownOrder,
    };
    let json = serde_json::to_value(event).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type": "rejected", "id": 3, "reason": "unknown_order"})
    );
    let cmd = Command::new(
        1,
        2,
        Action::Cancel(Cancel {
            id: OrderId(3),
            owner: OwnerId(4),
        }),
    );
    let back: Command = serde_json::from_str(&serde_json::to_string(&cmd).unwrap()).unwrap();
    assert_eq!(back, cmd);
}
