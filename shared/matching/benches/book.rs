//! Throughput of one book on one core.
//!
//! - `mixed_flow`: a realistic stream on a warm book (about 1,000 resting orders): 70%
//!   limit adds near the touch, 20% cancels of live orders, 10% aggressive orders (market
//!   and crossing limits) that sweep one or more levels.
//! - `mixed_flow_alloc`: the same stream through `apply`, which allocates the event vector
//!   per command, to show what reusing one buffer with `apply_into` saves.
//! - `add_cancel`: a passive add then its cancel, the market maker's quote-update loop.
//!
//! Throughput is reported per command (criterion's `elem/s` is commands per second).
//! Streams are generated once, up front, against a copy of the warm book, so cancels name
//! orders that are live when they arrive; every iteration replays the same stream on a
//! fresh clone of the warm book (cloning is outside the timing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use matching::{
    Action, Book, Cancel, Command, Event, MarketSpec, NewOrder, OrderId, OwnerId, Side, TimeInForce,
};
use support::Rng;

const MID: u64 = 100_000;
const WARM_ORDERS: u64 = 1_000;
const STREAM: usize = 100_000;
const OWNERS: u64 = 500;

/// Mostly small, sometimes far: how far from the touch passive orders land.
fn distance(rng: &mut Rng) -> u64 {
    let d = rng.below(20);
    if d < 12 { d / 3 } else { d }
}

/// Generates commands and keeps the set of live orders in step with the events.
struct Flow {
    book: Book,
    rng: Rng,
    seq: u64,
    next_id: u64,
    live: Vec<(u64, u64)>,
    at: HashMap<u64, usize>,
    events: Vec<Event>,
}

impl Flow {
    fn new() -> Self {
        Self {
            book: Book::new(MarketSpec::new(1, 1).unwrap()),
            rng: Rng(42),
            seq: 0,
            next_id: 1,
            live: Vec::new(),
            at: HashMap::new(),
            events: Vec::new(),
        }
    }

    fn apply(&mut self, action: Action) -> Command {
        self.seq += 1;
        let cmd = Command::new(self.seq, self.seq, action);
        self.events.clear();
        self.book.apply_into(&cmd, &mut self.events);
        for event in std::mem::take(&mut self.events) {
            match event {
                Event::Rested { id, .. } => {
                    let owner = self.book.order(id).unwrap().owner.0;
                    self.at.insert(id.0, self.live.len());
                    self.live.push((id.0, owner));
                }
                Event::Traded(t) if t.maker_remaining.0 == 0 => self.forget(t.maker.0),
                Event::Cancelled { id, .. } => self.forget(id.0),
                _ => {}
            }
        }
        cmd
    }

    fn forget(&mut self, id: u64) {
        if let Some(pos) = self.at.remove(&id) {
            self.live.swap_remove(pos);
            if let Some(&(moved, _)) = self.live.get(pos) {
                self.at.insert(moved, pos);
            }
        }
    }

    fn order(&mut self) -> (u64, u64) {
        let id = self.next_id;
        self.next_id += 1;
        (id, self.rng.below(OWNERS))
    }

    /// A passive limit near the touch (never crossing).
    fn passive(&mut self) -> NewOrder {
        let (id, owner) = self.order();
        let side = self.rng.side();
        let bid = self.book.best_bid().map_or(MID - 1, |l| l.price.0);
        let ask = self.book.best_ask().map_or(MID + 1, |l| l.price.0);
        let d = distance(&mut self.rng);
        let price = match side {
            Side::Buy => (ask - 1).min(bid + 1).saturating_sub(d).max(1),
            Side::Sell => (bid + 1).max(ask - 1) + d,
        };
        NewOrder::limit(id, owner, side, price, 1 + self.rng.below(100))
    }

    fn cancel(&mut self) -> Option<Action> {
        if self.live.is_empty() {
            return None;
        }
        let (id, owner) = self.live[self.rng.below(self.live.len() as u64) as usize];
        Some(Action::Cancel(Cancel {
            id: OrderId(id),
            owner: OwnerId(owner),
        }))
    }

    /// A market order, or a limit through the touch (IOC or GTC), big enough to sweep.
    fn aggressive(&mut self) -> NewOrder {
        let (id, owner) = self.order();
        let side = self.rng.side();
        // About five passive orders' worth, so with 20% cancels the book stays near its
        // warm size instead of growing through the run.
        let qty = 100 + self.rng.below(300);
        match self.rng.below(3) {
            0 => NewOrder::market(id, owner, side, qty),
            n => {
                let through = 1 + self.rng.below(3);
                let price = match side {
                    Side::Buy => self.book.best_ask().map_or(MID, |l| l.price.0) + through,
                    Side::Sell => self.book.best_bid().map_or(MID, |l| l.price.0) - through,
                };
                let tif = if n == 1 {
                    TimeInForce::Ioc
                } else {
                    TimeInForce::Gtc
                };
                NewOrder::limit(id, owner, side, price, qty).with_tif(tif)
            }
        }
    }

    fn warm(&mut self) {
        for _ in 0..WARM_ORDERS {
            let order = self.passive();
            self.apply(Action::Submit(order));
        }
    }
}

/// A warm book and a mixed stream to replay on it.
fn mixed() -> (Book, Vec<Command>) {
    let mut flow = Flow::new();
    flow.warm();
    let warm = flow.book.clone();
    let mut stream = Vec::with_capacity(STREAM);
    while stream.len() < STREAM {
        let action = match flow.rng.below(100) {
            0..70 => Action::Submit(flow.passive()),
            70..90 => match flow.cancel() {
                Some(cancel) => cancel,
                None => continue,
            },
            _ => Action::Submit(flow.aggressive()),
        };
        stream.push(flow.apply(action));
    }
    (warm, stream)
}

/// A warm book and a stream of add, cancel, add, cancel...
fn add_cancel() -> (Book, Vec<Command>) {
    let mut flow = Flow::new();
    flow.warm();
    let warm = flow.book.clone();
    let mut stream = Vec::with_capacity(STREAM);
    while stream.len() < STREAM {
        let order = flow.passive();
        stream.push(flow.apply(Action::Submit(order)));
        let cancel = Action::Cancel(Cancel {
            id: order.id,
            owner: order.owner,
        });
        stream.push(flow.apply(cancel));
    }
    (warm, stream)
}

fn replay(c: &mut Criterion, name: &str, (warm, stream): &(Book, Vec<Command>), reuse: bool) {
    let mut group = c.benchmark_group("book");
    group.throughput(Throughput::Elements(stream.len() as u64));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(name, |b| {
        b.iter_batched(
            || warm.clone(),
            |mut book| {
                if reuse {
                    let mut out = Vec::with_capacity(64);
                    for cmd in stream {
                        out.clear();
                        book.apply_into(cmd, &mut out);
                        black_box(&out);
                    }
                } else {
                    for cmd in stream {
                        black_box(book.apply(cmd));
                    }
                }
                book
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn describe(name: &str, (warm, stream): &(Book, Vec<Command>)) {
    let mut book = warm.clone();
    let (mut trades, mut rejected) = (0, 0);
    for cmd in stream {
        for event in book.apply(cmd) {
            match event {
                Event::Traded(_) => trades += 1,
                Event::Rejected { .. } => rejected += 1,
                _ => {}
            }
        }
    }
    let levels = book.depth(usize::MAX);
    println!(
        "{name}: {} commands, {trades} trades, {rejected} rejected; book ends with {} orders on {} levels",
        stream.len(),
        book.len(),
        levels.bids.len() + levels.asks.len(),
    );
}

fn benches(c: &mut Criterion) {
    let mixed = mixed();
    describe("mixed_flow", &mixed);
    replay(c, "mixed_flow", &mixed, true);
    replay(c, "mixed_flow_alloc", &mixed, false);
    let pairs = add_cancel();
    describe("add_cancel", &pairs);
    replay(c, "add_cancel", &pairs, true);
}

criterion_group!(book, benches);
criterion_main!(book);
