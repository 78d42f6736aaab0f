//! The engine against a peer, `orderbook-rs` from crates.io, on one workload in the style of
//! exchange-core's benchmark (its `TestOrdersGenerator`): a book kept at about 1,000 resting
//! orders a side near the touch, 1,000 owners, and a stream that is mostly amends.
//!
//! The mix, per 100 commands of the timed stream:
//!
//! - 70 price moves: a resting order steps 1-2 ticks, toward its side's touch when it is more
//!   than 8 ticks away and either way otherwise, never across the spread; same quantity,
//!   back of the queue at the new price;
//! - 10 size reductions at the same price, which keep time priority;
//! - 10 GTC limit adds near the touch (never crossing), on the side that has fewer orders;
//! - 5 IOC limit orders 0-4 ticks through the touch of the side with more orders, which
//!   trade and cancel the rest: sized like three of the orders at that touch while the side
//!   holds more than its 1,000, less than one otherwise;
//! - 5 cancels of a live order on the side that has more.
//!
//! exchange-core's steady state is about 90% moves, 2.5% reductions, 2.5% cancels and 5% new
//! orders (GTC or IOC). This keeps amends the bulk (80%) but gives new orders, sweeps and
//! cancels a fifth of the flow, so the matching path weighs in the figures; the side choices
//! and the IOC size hold the book near its 1,000 orders a side through the run.
//!
//! Both engines process the same logical stream. It is generated once, up front, against our
//! book (so amends and cancels name orders that are live when they arrive) and translated to
//! the peer's API in the same step: a move is `UpdatePrice`, a reduction `UpdateQuantity`, a
//! cancel `cancel_order`, a new order `add_limit_order_with_user` (GTC or IOC). The peer runs
//! with self-trade prevention "cancel taker", our default "cancel newest". Before timing, one
//! pass through each engine checks that they trade the same quantity and end with the same
//! book, level by level.
//!
//! Run with `cargo bench -p matching --bench peer`. It prints, once, the realised mix, that
//! check, whole-pass throughput of each engine and their ratio, and per-command latency
//! percentiles (`Instant` around each command, so each figure includes the timer's own cost,
//! printed as the floor); then criterion measures group `exchange_core_mix`, functions
//! `matching` and `orderbook-rs` (`elem/s` is commands per second). Every timed iteration
//! replays the stream on a fresh warm book that was built outside the timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use hdrhistogram::Histogram;
use matching::{
    Action, Amend, Book, Cancel, Command, Event, MarketSpec, NewOrder, OrderId, OwnerId, Price,
    Qty, Side, TimeInForce,
};
use orderbook_rs::{
    Id, OrderBook, STPMode, Side as PeerSide, TimeInForce as PeerTif, TradeListener, TradeResult,
};
use pricelevel::{Hash32, OrderUpdate, Price as PeerPrice, Quantity as PeerQty};
use support::Rng;

const MID: u64 = 100_000;
/// Resting orders a side the book is filled to and held near.
const PER_SIDE: usize = 1_000;
const OWNERS: u64 = 1_000;
/// Commands in the timed stream (after the fill).
const STREAM: usize = 100_000;
/// Passes whose per-command latencies are recorded (after one discarded pass), and whole
/// passes timed for throughput.
const PASSES: usize = 3;

/// The kinds of command in the stream, indexed by [`Workload::kinds`].
const KINDS: [&str; 5] = ["move", "reduce", "gtc", "ioc", "cancel"];

/// One command for the peer, translated before any timing.
#[derive(Clone, Copy)]
enum PeerCmd {
    Add {
        id: Id,
        price: u128,
        qty: u64,
        side: PeerSide,
        tif: PeerTif,
        user: Hash32,
    },
    Cancel(Id),
    Update(OrderUpdate),
}

/// The fill and the stream, for both engines.
struct Workload {
    /// Our book after the fill.
    warm: Book,
    /// The fill, for the peer (its book is not `Clone`, so each pass replays it).
    peer_fill: Vec<PeerCmd>,
    stream: Vec<Command>,
    peer_stream: Vec<PeerCmd>,
    /// The kind of each command of the stream, an index into [`KINDS`].
    kinds: Vec<usize>,
}

/// Generates the workload against our book, keeping the set of live orders in step with
/// its events.
struct Gen {
    book: Book,
    rng: Rng,
    seq: u64,
    next_id: u64,
    /// Live orders: id, owner, side.
    live: Vec<(u64, u64, Side)>,
    at: HashMap<u64, usize>,
    /// Live orders per side: buy, sell.
    count: [usize; 2],
    events: Vec<Event>,
}

const fn slot(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

fn peer_id(id: OrderId) -> Id {
    Id::Sequential(id.0)
}

/// The peer wants a non-zero 32-byte user id when self-trade prevention is on.
fn peer_user(owner: OwnerId) -> Hash32 {
    let mut bytes = [0; 32];
    bytes[..8].copy_from_slice(&(owner.0 + 1).to_le_bytes());
    Hash32::from(bytes)
}

/// The same command in the peer's terms; `book` is ours, before the command.
fn translate(book: &Book, cmd: &Command) -> PeerCmd {
    match cmd.action {
        Action::Submit(order) => PeerCmd::Add {
            id: peer_id(order.id),
            price: u128::from(
                order
                    .kind
                    .price()
                    .expect("the workload has no market orders")
                    .0,
            ),
            qty: order.qty.0,
            side: match order.side {
                Side::Buy => PeerSide::Buy,
                Side::Sell => PeerSide::Sell,
            },
            tif: match order.tif {
                TimeInForce::Gtc => PeerTif::Gtc,
                TimeInForce::Ioc => PeerTif::Ioc,
                other => unreachable!("the workload has no {other:?} orders"),
            },
            user: peer_user(order.owner),
        },
        Action::Cancel(cancel) => PeerCmd::Cancel(peer_id(cancel.id)),
        Action::Amend(amend) => {
            let resting = book.order(amend.id).expect("amends name live orders");
            let order_id = peer_id(amend.id);
            let update = if amend.price == resting.price {
                OrderUpdate::UpdateQuantity {
                    order_id,
                    new_quantity: PeerQty::new(amend.qty.0),
                }
            } else if amend.qty == resting.qty {
                OrderUpdate::UpdatePrice {
                    order_id,
                    new_price: PeerPrice::new(u128::from(amend.price.0)),
                }
            } else {
                OrderUpdate::UpdatePriceAndQuantity {
                    order_id,
                    new_price: PeerPrice::new(u128::from(amend.price.0)),
                    new_quantity: PeerQty::new(amend.qty.0),
                }
            };
            PeerCmd::Update(update)
        }
    }
}

impl Gen {
    fn new() -> Self {
        Self {
            book: Book::new(MarketSpec::new(1, 1).unwrap()),
            rng: Rng(7),
            seq: 0,
            next_id: 1,
            live: Vec::new(),
            at: HashMap::new(),
            count: [0; 2],
            events: Vec::new(),
        }
    }

    /// Applies `action` to our book and returns it as a command, with its translation.
    fn apply(&mut self, action: Action) -> (Command, PeerCmd) {
        self.seq += 1;
        let cmd = Command::new(self.seq, self.seq, action);
        let peer = translate(&self.book, &cmd);
        self.events.clear();
        self.book.apply_into(&cmd, &mut self.events);
        for event in std::mem::take(&mut self.events) {
            match event {
                Event::Rested { id, side, .. } if !self.at.contains_key(&id.0) => {
                    let owner = self.book.order(id).unwrap().owner.0;
                    self.at.insert(id.0, self.live.len());
                    self.live.push((id.0, owner, side));
                    self.count[slot(side)] += 1;
                }
                Event::Traded(t) if t.maker_remaining.0 == 0 => self.forget(t.maker.0),
                Event::Cancelled { id, .. } => self.forget(id.0),
                Event::Rejected { id, reason } => {
                    panic!("generated a rejected command: {id} {reason}")
                }
                _ => {}
            }
        }
        (cmd, peer)
    }

    fn forget(&mut self, id: u64) {
        if let Some(pos) = self.at.remove(&id) {
            let (_, _, side) = self.live.swap_remove(pos);
            self.count[slot(side)] -= 1;
            if let Some(&(moved, _, _)) = self.live.get(pos) {
                self.at.insert(moved, pos);
            }
        }
    }

    fn bid(&self) -> u64 {
        self.book.best_bid().map_or(MID - 1, |l| l.price.0)
    }

    fn ask(&self) -> u64 {
        self.book.best_ask().map_or(MID + 1, |l| l.price.0)
    }

    /// The side with more live orders (ties broken at random).
    fn fuller(&mut self) -> Side {
        match self.count[0].cmp(&self.count[1]) {
            std::cmp::Ordering::Greater => Side::Buy,
            std::cmp::Ordering::Less => Side::Sell,
            std::cmp::Ordering::Equal => self.rng.side(),
        }
    }

    /// A live order, on `side` if given.
    fn pick(&mut self, side: Option<Side>) -> (OrderId, OwnerId) {
        loop {
            let (id, owner, at) = self.live[self.rng.below(self.live.len() as u64) as usize];
            if side.is_none_or(|side| side == at) {
                return (OrderId(id), OwnerId(owner));
            }
        }
    }

    /// exchange-core's order sizes: 1 + a product of three dice 0-5 (1 to 126 lots, mostly
    /// small).
    fn size(&mut self) -> u64 {
        1 + self.rng.below(6) * self.rng.below(6) * self.rng.below(6)
    }

    fn new_order(&mut self, side: Side, price: u64, qty: u64, tif: TimeInForce) -> Action {
        let id = self.next_id;
        self.next_id += 1;
        let owner = self.rng.below(OWNERS);
        Action::Submit(NewOrder::limit(id, owner, side, price, qty).with_tif(tif))
    }

    /// A GTC limit near the touch that does not cross: up to 25 ticks behind it, mostly
    /// close (the product of two dice), and one tick inside it when the spread allows.
    fn gtc(&mut self, side: Side) -> Action {
        let (bid, ask) = (self.bid(), self.ask());
        let d = self.rng.below(6) * self.rng.below(6);
        let price = match side {
            Side::Buy => (ask - 1).min(bid + 1).saturating_sub(d).max(1),
            Side::Sell => (bid + 1).max(ask - 1) + d,
        };
        let qty = self.size();
        self.new_order(side, price, qty, TimeInForce::Gtc)
    }

    /// An IOC against the fuller side, through its touch: while that side holds more than
    /// its share, about three of the orders at its touch; otherwise less than one, so it
    /// mostly trims the head order.
    fn ioc(&mut self) -> Action {
        let target = self.fuller();
        let touch = match target {
            Side::Buy => self.book.best_bid(),
            Side::Sell => self.book.best_ask(),
        };
        let average = touch.map_or(1, |l| (l.qty.0 / l.orders as u64).max(1));
        let qty = if self.count[slot(target)] > PER_SIDE {
            average * 3
        } else {
            1 + self.rng.below(average)
        };
        let through = self.rng.below(5);
        let price = match target {
            Side::Sell => self.ask() + through,
            Side::Buy => self.bid().saturating_sub(through).max(1),
        };
        self.new_order(target.opposite(), price, qty, TimeInForce::Ioc)
    }

    /// Moves a live order 1-2 ticks, passively.
    fn move_order(&mut self) -> Action {
        let (id, owner) = self.pick(None);
        let resting = self.book.order(id).unwrap();
        let (bid, ask) = (self.bid(), self.ask());
        let price = resting.price.0;
        let step = 1 + self.rng.below(2);
        let (touch, inward) = match resting.side {
            Side::Buy => (bid, true),
            Side::Sell => (ask, false),
        };
        // Up for a bid, down for an ask: toward the spread.
        let toward = touch.abs_diff(price) > 8 || self.rng.next() & 1 == 0;
        let up = toward == inward;
        let mut to = if up {
            price + step
        } else {
            price.saturating_sub(step).max(1)
        };
        match resting.side {
            Side::Buy => to = to.min(ask - 1),
            Side::Sell => to = to.max(bid + 1),
        }
        if to == price {
            // Pinned against the spread: step back instead.
            to = match resting.side {
                Side::Buy => price.saturating_sub(step).max(1),
                Side::Sell => price + step,
            };
        }
        Action::Amend(Amend {
            id,
            owner,
            price: Price(to),
            qty: resting.qty,
        })
    }

    /// Lowers a live order's quantity in place, or `None` if the few orders tried have one
    /// lot left.
    fn reduce(&mut self) -> Option<Action> {
        for _ in 0..8 {
            let (id, owner) = self.pick(None);
            let resting = self.book.order(id).unwrap();
            if resting.qty.0 >= 2 {
                return Some(Action::Amend(Amend {
                    id,
                    owner,
                    price: resting.price,
                    qty: Qty(1 + self.rng.below(resting.qty.0 - 1)),
                }));
            }
        }
        None
    }

    fn cancel(&mut self) -> Action {
        let side = self.fuller();
        let (id, owner) = self.pick(Some(side));
        Action::Cancel(Cancel { id, owner })
    }

    fn fill(&mut self) -> Vec<PeerCmd> {
        let mut peer = Vec::new();
        while self.count.iter().any(|&n| n < PER_SIDE) {
            let side = if self.count[0] < self.count[1] {
                Side::Buy
            } else {
                Side::Sell
            };
            let action = self.gtc(side);
            peer.push(self.apply(action).1);
        }
        peer
    }
}

fn workload() -> Workload {
    let mut g = Gen::new();
    let peer_fill = g.fill();
    let warm = g.book.clone();
    let mut stream = Vec::with_capacity(STREAM);
    let mut peer_stream = Vec::with_capacity(STREAM);
    let mut kinds = Vec::with_capacity(STREAM);
    while stream.len() < STREAM {
        let (kind, action) = match g.rng.below(100) {
            0..70 => (0, g.move_order()),
            70..80 => match g.reduce() {
                Some(action) => (1, action),
                None => continue,
            },
            80..90 => {
                let fuller = g.fuller();
                (2, g.gtc(fuller.opposite()))
            }
            90..95 => (3, g.ioc()),
            _ => (4, g.cancel()),
        };
        let (cmd, peer) = g.apply(action);
        stream.push(cmd);
        peer_stream.push(peer);
        kinds.push(kind);
    }
    Workload {
        warm,
        peer_fill,
        stream,
        peer_stream,
        kinds,
    }
}

fn peer_apply(book: &OrderBook<()>, cmd: &PeerCmd) -> bool {
    match *cmd {
        PeerCmd::Add {
            id,
            price,
            qty,
            side,
            tif,
            user,
        } => book
            .add_limit_order_with_user(id, price, qty, side, tif, user, None)
            .is_ok(),
        PeerCmd::Cancel(id) => book.cancel_order(id).is_ok(),
        PeerCmd::Update(update) => book.update_order(update).is_ok(),
    }
}

/// A peer book with the fill applied (its tick and lot checked like ours, self-trade
/// prevention on).
fn peer_book(fill: &[PeerCmd]) -> OrderBook<()> {
    let mut book = OrderBook::new("BENCH");
    book.set_tick_size(1);
    book.set_lot_size(1);
    book.set_stp_mode(STPMode::CancelTaker);
    for cmd in fill {
        assert!(peer_apply(&book, cmd), "the fill only rests orders");
    }
    book
}

fn run_ours(book: &mut Book, stream: &[Command], out: &mut Vec<Event>) {
    for cmd in stream {
        out.clear();
        book.apply_into(cmd, out);
        black_box(&*out);
    }
}

fn run_peer(book: &OrderBook<()>, stream: &[PeerCmd]) {
    for cmd in stream {
        black_box(peer_apply(book, cmd));
    }
}

/// Levels as (price, total quantity, orders), best first.
type Levels = Vec<(u64, u64, usize)>;

/// One pass through each engine, outside any timing: both must trade the same quantity and
/// end with the same book.
fn check(w: &Workload) {
    let mut ours = w.warm.clone();
    let (mut trades, mut traded, mut rejected) = (0_u64, 0_u64, 0_u64);
    let mut out = Vec::new();
    for cmd in &w.stream {
        out.clear();
        ours.apply_into(cmd, &mut out);
        for event in &out {
            match event {
                Event::Traded(t) => {
                    trades += 1;
                    traded += t.qty.0;
                }
                Event::Rejected { .. } => rejected += 1,
                _ => {}
            }
        }
    }
    let depth = ours.depth(usize::MAX);
    let view = |levels: &[matching::LevelView]| -> Levels {
        levels
            .iter()
            .map(|l| (l.price.0, l.qty.0, l.orders))
            .collect()
    };
    let (our_bids, our_asks) = (view(&depth.bids), view(&depth.asks));

    let mut peer = peer_book(&w.peer_fill);
    let peer_traded = Arc::new(AtomicU64::new(0));
    let sink = Arc::clone(&peer_traded);
    let listener: TradeListener = Arc::new(move |result: &TradeResult| {
        let qty = result.match_result.executed_quantity().unwrap().as_u64();
        sink.fetch_add(qty, Ordering::Relaxed);
    });
    peer.set_trade_listener(listener);
    let mut errors = BTreeMap::<String, usize>::new();
    for cmd in &w.peer_stream {
        let err = match *cmd {
            PeerCmd::Add {
                id,
                price,
                qty,
                side,
                tif,
                user,
            } => peer
                .add_limit_order_with_user(id, price, qty, side, tif, user, None)
                .err(),
            PeerCmd::Cancel(id) => peer.cancel_order(id).err(),
            PeerCmd::Update(update) => peer.update_order(update).err(),
        };
        if let Some(err) = err {
            let text = err.to_string();
            let kind = text.split([':', '(', '{']).next().unwrap_or(&text).trim();
            *errors.entry(kind.to_owned()).or_default() += 1;
        }
    }
    let snapshot = peer.create_snapshot(usize::MAX).unwrap();
    let view = |levels: &[pricelevel::PriceLevelSnapshot]| -> Levels {
        levels
            .iter()
            .map(|l| {
                let price = u64::try_from(l.price().as_u128()).unwrap();
                (price, l.visible_quantity().as_u64(), l.order_count())
            })
            .collect()
    };
    let (peer_bids, peer_asks) = (view(&snapshot.bids), view(&snapshot.asks));
    let peer_traded = peer_traded.load(Ordering::Relaxed);

    let total = |levels: &Levels| levels.iter().map(|l| l.2).sum::<usize>();
    println!(
        "matching:     {trades} trades, {traded} lots traded, {rejected} rejected; \
         book ends with {} + {} orders on {} + {} levels",
        total(&our_bids),
        total(&our_asks),
        our_bids.len(),
        our_asks.len(),
    );
    println!(
        "orderbook-rs: {peer_traded} lots traded, errors returned {errors:?}; \
         book ends with {} + {} orders on {} + {} levels",
        total(&peer_bids),
        total(&peer_asks),
        peer_bids.len(),
        peer_asks.len(),
    );
    assert_eq!(rejected, 0, "every generated command is valid");
    assert!(trades > 0, "the stream trades");
    assert_eq!(traded, peer_traded, "both engines trade the same quantity");
    assert_eq!(our_bids, peer_bids, "both engines end with the same bids");
    assert_eq!(our_asks, peer_asks, "both engines end with the same asks");
    println!("check: same traded quantity and same final book, level by level\n");
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).unwrap()
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Per-command latencies, all commands and by kind.
struct Latency {
    all: Histogram<u64>,
    by_kind: Vec<Histogram<u64>>,
}

/// Per-command latencies of `PASSES` passes (after a discarded one), each on a fresh book
/// from `setup`, and the best whole-pass time of `PASSES` more without per-command timers.
fn measure<B>(
    kinds: &[usize],
    setup: impl Fn() -> B,
    mut apply: impl FnMut(&mut B, usize),
) -> (Latency, Duration) {
    let mut latency = Latency {
        all: histogram(),
        by_kind: KINDS.iter().map(|_| histogram()).collect(),
    };
    for pass in 0..=PASSES {
        let mut book = setup();
        for (i, &kind) in kinds.iter().enumerate() {
            let start = Instant::now();
            apply(&mut book, i);
            let took = nanos(start.elapsed());
            if pass > 0 {
                latency.all.saturating_record(took);
                latency.by_kind[kind].saturating_record(took);
            }
        }
    }
    let mut best = Duration::MAX;
    for _ in 0..PASSES {
        let mut book = setup();
        let start = Instant::now();
        for i in 0..kinds.len() {
            apply(&mut book, i);
        }
        best = best.min(start.elapsed());
        black_box(&book);
    }
    (latency, best)
}

/// Commands per second in a pass of `time`.
fn rate(time: Duration) -> f64 {
    STREAM as f64 / time.as_secs_f64()
}

fn report(w: &Workload) {
    let mut out = Vec::with_capacity(64);
    let (ours, our_time) = measure(
        &w.kinds,
        || w.warm.clone(),
        |book, i| {
            out.clear();
            book.apply_into(&w.stream[i], &mut out);
            black_box(&out);
        },
    );
    let (peer, peer_time) = measure(
        &w.kinds,
        || peer_book(&w.peer_fill),
        |book, i| {
            black_box(peer_apply(book, &w.peer_stream[i]));
        },
    );
    let mut floor = histogram();
    for _ in 0..STREAM {
        let start = Instant::now();
        floor.saturating_record(nanos(black_box(start).elapsed()));
    }

    println!(
        "per-command latency, ns ({PASSES} passes of {STREAM} commands); commands/s is the \
         best of {PASSES} whole passes without per-command timers:"
    );
    println!(
        "{:<14} {:>12} {:>7} {:>7} {:>7} {:>7} {:>8} {:>9}",
        "engine", "commands/s", "p50", "p90", "p99", "p99.9", "p99.99", "max"
    );
    let row = |name: &str, hist: &Histogram<u64>, time: Option<Duration>| {
        let commands = time.map_or_else(|| "-".to_owned(), |t| format!("{:.2} M", rate(t) / 1e6));
        println!(
            "{name:<14} {commands:>12} {:>7} {:>7} {:>7} {:>7} {:>8} {:>9}",
            hist.value_at_quantile(0.5),
            hist.value_at_quantile(0.9),
            hist.value_at_quantile(0.99),
            hist.value_at_quantile(0.999),
            hist.value_at_quantile(0.9999),
            hist.max(),
        );
    };
    row("matching", &ours.all, Some(our_time));
    row("orderbook-rs", &peer.all, Some(peer_time));
    row("timer floor", &floor, None);
    println!(
        "throughput ratio matching / orderbook-rs: {:.1}x",
        rate(our_time) / rate(peer_time)
    );
    print!("\np50 / p99 by kind, ns:");
    for kind in KINDS {
        print!(" {kind:>13}");
    }
    for (name, latency) in [("matching", &ours), ("orderbook-rs", &peer)] {
        print!("\n{name:<22}");
        for hist in &latency.by_kind {
            let cell = format!(
                "{}/{}",
                hist.value_at_quantile(0.5),
                hist.value_at_quantile(0.99)
            );
            print!(" {cell:>13}");
        }
    }
    println!("\n");
}

fn benches(c: &mut Criterion) {
    let w = workload();
    let mix = KINDS
        .iter()
        .enumerate()
        .map(|(k, kind)| {
            let n = w.kinds.iter().filter(|&&of| of == k).count();
            format!("{kind} {:.1}%", n as f64 * 100.0 / STREAM as f64)
        })
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "exchange_core_mix: fill of {PER_SIDE} + {PER_SIDE} orders, then {STREAM} commands: {mix}"
    );
    check(&w);
    report(&w);

    let mut group = c.benchmark_group("exchange_core_mix");
    group.throughput(Throughput::Elements(STREAM as u64));
    // A peer iteration takes a quarter of a second: flat sampling (the same number of
    // iterations in every sample) fits ten samples in the time.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("matching", |b| {
        b.iter_batched(
            || (w.warm.clone(), Vec::with_capacity(64)),
            |(mut book, mut out)| {
                run_ours(&mut book, &w.stream, &mut out);
                book
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("orderbook-rs", |b| {
        b.iter_batched(
            || peer_book(&w.peer_fill),
            |book| {
                run_peer(&book, &w.peer_stream);
                book
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(peer, benches);
criterion_main!(peer);
