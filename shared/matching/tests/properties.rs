//! Property tests over random command sequences: the book's invariants after every
//! command, determinism of replay and snapshot/restore, and a differential check against a
//! naive reference model that restates the rules without the fast data structures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use matching::{
    Action, Amend, Book, CancelReason, Command, Event, LevelView, MarketSpec, NewOrder, OrderId,
    OrderKind, OwnerId, Price, Qty, SelfTradePrevention, Side, Snapshot, TimeInForce,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

mod model;

const IDS: u64 = 40;
const OWNERS: u64 = 3;

fn spec() -> MarketSpec {
    MarketSpec::new(1, 1).unwrap()
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn tif() -> impl Strategy<Value = TimeInForce> {
    prop_oneof![
        5 => Just(TimeInForce::Gtc),
        2 => Just(TimeInForce::Ioc),
        2 => Just(TimeInForce::Fok),
        2 => Just(TimeInForce::PostOnly),
    ]
}

fn stp() -> impl Strategy<Value = SelfTradePrevention> {
    prop_oneof![
        Just(SelfTradePrevention::CancelNewest),
        Just(SelfTradePrevention::CancelOldest),
        Just(SelfTradePrevention::CancelBoth),
    ]
}

/// Prices around a touch of 100, so most orders either rest near it or cross it; a rare
/// zero exercises validation.
fn price() -> impl Strategy<Value = u64> {
    prop_oneof![20 => 92u64..=108, 1 => Just(0u64)]
}

fn qty() -> impl Strategy<Value = u64> {
    prop_oneof![20 => 1u64..=12, 1 => Just(0u64)]
}

/// An order's owner follows from its id (so cancels and amends usually name the right
/// owner and same-owner pairs are common); `wrong` picks someone else.
fn owner_of(id: u64, wrong: bool) -> u64 {
    (id + u64::from(wrong)) % OWNERS
}

fn action() -> impl Strategy<Value = Action> {
    let kind = prop_oneof![8 => price().prop_map(|price| OrderKind::Limit { price: Price(price) }), 1 => Just(OrderKind::Market)];
    let submit =
        (0..IDS, side(), kind, qty(), tif(), stp()).prop_map(|(id, side, kind, qty, tif, stp)| {
            Action::Submit(NewOrder {
                id: OrderId(id),
                owner: OwnerId(owner_of(id, false)),
                side,
                kind,
                qty: Qty(qty),
                tif,
                stp,
            })
        });
    let wrong = prop_oneof![9 => Just(false), 1 => Just(true)];
    let cancel = (0..IDS, wrong.clone()).prop_map(|(id, wrong)| {
        Action::Cancel(matching::Cancel {
            id: OrderId(id),
            owner: OwnerId(owner_of(id, wrong)),
        })
    });
    let amend = (0..IDS, wrong, price(), qty()).prop_map(|(id, wrong, price, qty)| {
        Action::Amend(Amend {
            id: OrderId(id),
            owner: OwnerId(owner_of(id, wrong)),
            price: Price(price),
            qty: Qty(qty),
        })
    });
    prop_oneof![6 => submit, 2 => cancel, 2 => amend]
}

/// A command log; a rare step of 0 repeats a sequence number (a stale command).
fn commands(max: usize) -> impl Strategy<Value = Vec<Command>> {
    let step = prop_oneof![30 => Just(1u64), 3 => Just(2u64), 1 => Just(0u64)];
    prop::collection::vec((step, action()), 1..max).prop_map(|steps| {
        let mut seq = 0;
        steps
            .into_iter()
            .enumerate()
            .map(|(i, (step, action))| {
                seq += step;
                Command::new(seq, 1_000 + i as u64, action)
            })
            .collect()
    })
}

/// Quantity accounting for one incarnation of an order id (ids are reusable once an
/// order has left the book).
#[derive(Debug, Default)]
struct Account {
    side: Option<Side>,
    added: u128,
    filled: u128,
    cancelled: u128,
    reduced: u128,
}

impl Account {
    fn settled(&self) -> u128 {
        self.filled + self.cancelled + self.reduced
    }
}

/// Follows the event stream and checks every invariant after every command.
#[derive(Default)]
struct Checker {
    accounts: HashMap<OrderId, Account>,
    bought: u128,
    sold: u128,
}

impl Checker {
    fn check(
        &mut self,
        before: &Book,
        after: &Book,
        cmd: &Command,
        events: &[Event],
    ) -> Result<(), TestCaseError> {
        for event in events {
            match *event {
                Event::Accepted { id, side, qty, .. } => {
                    if let Some(old) = self.accounts.get(&id) {
                        prop_assert_eq!(old.added, old.settled(), "id {} reused while open", id);
                    }
                    let account = Account {
                        side: Some(side),
                        added: u128::from(qty.0),
                        ..Account::default()
                    };
                    self.accounts.insert(id, account);
                }
                Event::Traded(trade) => {
                    let fill = u128::from(trade.qty.0);
                    prop_assert!(fill > 0);
                    let mut sides = Vec::new();
                    for id in [trade.maker, trade.taker] {
                        let account = self.accounts.get_mut(&id).unwrap();
                        account.filled += fill;
                        sides.push(account.side);
                    }
                    prop_assert_eq!(sides[0], Some(trade.taker_side.opposite()));
                    prop_assert_eq!(sides[1], Some(trade.taker_side));
                    // Attribute the fill to each order's own side, as recorded when accepted.
                    for side in sides {
                        if side == Some(Side::Buy) {
                            self.bought += fill;
                        } else {
                            self.sold += fill;
                        }
                    }
                    // Trades happen at the maker's resting price.
                    let resting = before.order(trade.maker);
                    prop_assert_eq!(resting.map(|o| o.price), Some(trade.price));
                }
                Event::Cancelled { id, qty, .. } => {
                    self.accounts.get_mut(&id).unwrap().cancelled += u128::from(qty.0);
                }
                Event::Amended {
                    id, old_qty, qty, ..
                } => {
                    let account = self.accounts.get_mut(&id).unwrap();
                    if qty > old_qty {
                        account.added += u128::from(qty.0 - old_qty.0);
                    } else {
                        account.reduced += u128::from(old_qty.0 - qty.0);
                    }
                }
                Event::Rested { .. } | Event::Rejected { .. } => {}
            }
        }
        self.check_conservation(after)?;
        check_priority(before, after, cmd, events)?;
        check_book(after)
    }

    /// filled + cancelled + reduced + open == accepted + increases, for every order.
    fn check_conservation(&self, book: &Book) -> Result<(), TestCaseError> {
        for (id, account) in &self.accounts {
            let open = book.order(*id).map_or(0, |o| u128::from(o.qty.0));
            prop_assert_eq!(account.added, account.settled() + open, "order {}", id);
        }
        prop_assert_eq!(self.bought, self.sold);
        Ok(())
    }
}

/// The makers a command touched (traded with or cancelled by self-trade prevention) are
/// exactly the front of the opposite side's priority order before the command, and all
/// but the last of them are gone: nobody better or earlier was skipped.
fn check_priority(
    before: &Book,
    after: &Book,
    cmd: &Command,
    events: &[Event],
) -> Result<(), TestCaseError> {
    let (taker, taker_side) = match cmd.action {
        Action::Submit(order) => (order.id, Some(order.side)),
        Action::Amend(amend) => (amend.id, before.order(amend.id).map(|o| o.side)),
        Action::Cancel(cancel) => (cancel.id, None),
    };
    let mut touched: Vec<OrderId> = Vec::new();
    for event in events {
        let id = match *event {
            Event::Traded(t) => {
                prop_assert_eq!(t.taker, taker);
                prop_assert_eq!(Some(t.taker_side), taker_side);
                t.maker
            }
            Event::Cancelled {
                id,
                reason: CancelReason::SelfTrade,
                ..
            } if id != taker => id,
            _ => continue,
        };
        if touched.last() != Some(&id) {
            touched.push(id);
        }
    }
    let Some(taker_side) = taker_side else {
        prop_assert!(touched.is_empty());
        return Ok(());
    };
    let queue: Vec<OrderId> = before
        .resting_orders()
        .filter(|o| o.side == taker_side.opposite())
        .map(|o| o.id)
        .collect();
    prop_assert!(touched.len() <= queue.len());
    prop_assert_eq!(&touched[..], &queue[..touched.len()]);
    for id in &touched[..touched.len().saturating_sub(1)] {
        prop_assert!(after.order(*id).is_none(), "maker {} skipped", id);
    }
    Ok(())
}

/// Never crossed, and the level aggregates agree with the orders.
fn check_book(book: &Book) -> Result<(), TestCaseError> {
    if let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) {
        prop_assert!(bid.price < ask.price, "crossed: {:?} / {:?}", bid, ask);
    }
    let mut levels: Vec<(Side, LevelView)> = Vec::new();
    for order in book.resting_orders() {
        prop_assert!(order.qty.0 > 0);
        match levels.last_mut() {
            Some((side, level)) if *side == order.side && level.price == order.price => {
                level.qty.0 += order.qty.0;
                level.orders += 1;
            }
            _ => levels.push((
                order.side,
                LevelView {
                    price: order.price,
                    qty: order.qty,
                    orders: 1,
                },
            )),
        }
    }
    let depth = book.depth(usize::MAX);
    let expect = |want: Side| -> Vec<LevelView> {
        levels
            .iter()
            .filter(|(side, _)| *side == want)
            .map(|(_, l)| *l)
            .collect()
    };
    prop_assert_eq!(depth.bids, expect(Side::Buy));
    prop_assert_eq!(depth.asks, expect(Side::Sell));
    Ok(())
}

fn run(book: &mut Book, log: &[Command]) -> Vec<Vec<Event>> {
    log.iter().map(|cmd| book.apply(cmd)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn invariants_hold_after_every_command(log in commands(160)) {
        let mut book = Book::new(spec());
        let mut checker = Checker::default();
        for cmd in &log {
            let before = book.clone();
            let events = book.apply(cmd);
            checker.check(&before, &book, cmd, &events)?;
        }
    }

    #[test]
    fn book_matches_the_reference_model(log in commands(160)) {
        let mut book = Book::new(spec());
        let mut reference = model::Model::new(1, 1);
        for cmd in &log {
            let events = book.apply(cmd);
            prop_assert_eq!(&events, &reference.apply(cmd), "command {:?}", cmd);
            prop_assert_eq!(book.resting_orders().collect::<Vec<_>>(), reference.resting());
        }
    }

    #[test]
    fn replaying_the_log_gives_the_same_book_and_events(log in commands(160)) {
        let mut live = Book::new(spec());
        let events = run(&mut live, &log);
        let mut again = Book::new(spec());
        prop_assert_eq!(run(&mut again, &log), events);
        prop_assert_eq!(&again, &live);
        prop_assert_eq!(&Book::replay(spec(), &log), &live);
    }

    #[test]
    fn snapshot_restore_continue_equals_never_snapshotting(
        log in commands(160),
        split in any::<prop::sample::Index>(),
    ) {
        let at = split.index(log.len() + 1);
        let (head, tail) = log.split_at(at);
        let mut straight = Book::new(spec());
        run(&mut straight, head);
        let json = serde_json::to_string(&straight.snapshot()).unwrap();
        let mut restored = Book::from_snapshot(&serde_json::from_str::<Snapshot>(&json).unwrap()).unwrap();
        prop_assert_eq!(&restored, &straight);
        prop_assert_eq!(run(&mut restored, tail), run(&mut straight, tail));
        prop_assert_eq!(&restored, &straight);
    }
}
