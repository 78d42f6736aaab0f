//! The order book matching engine of the rewards markets: pure, single-threaded and
//! deterministic.
//!
//! A [`Book`] is one market. Commands ([`Command`]: submit, cancel, amend) go in with
//! their log sequence number and timestamp; each yields a `Vec<`[`Event`]`>` (accepted,
//! traded, rested, cancelled, amended, rejected) that depends on nothing but the book and
//! the command. So a book is rebuilt exactly by replaying its command log
//! ([`Book::replay`]) or by restoring a [`Snapshot`] ([`Book::snapshot`],
//! [`Book::from_snapshot`]), and two books compare with `==` on their canonical state.
//!
//! Rules: limit and market orders; GTC, IOC, FOK and post-only; price-time priority,
//! trades at the maker's price; self-trade prevention by owner id (cancel newest, oldest
//! or both, the taker's mode decides); prices and quantities are integers validated
//! against the market's tick and lot sizes at the edge, and a refused command yields
//! `Rejected` with a reason and changes nothing.
//!
//! ```
//! use matching::{Action, Book, Command, Event, MarketSpec, NewOrder, Price, Side};
//!
//! let mut book = Book::new(MarketSpec::new(5, 1)?);
//! book.apply(&Command::new(1, 0, Action::Submit(NewOrder::limit(1, 7, Side::Sell, 105, 10))));
//! let events = book.apply(&Command::new(2, 0, Action::Submit(NewOrder::market(2, 8, Side::Buy, 4))));
//! assert!(matches!(events[1], Event::Traded(t) if t.price == Price(105) && t.qty.0 == 4));
//! assert_eq!(book.best_ask().map(|level| level.qty.0), Some(6));
//! # Ok::<(), matching::MatchingError>(())
//! ```
//!
//! This crate must not know about IO, async, clocks, the bus or the database: the
//! rewards service's market actor owns a book, feeds it commands, and persists and
//! publishes the events.

mod book;
mod command;
mod error;
mod event;
mod hash;
mod market_data;
mod queue;
mod snapshot;
mod types;

pub use book::Book;
pub use command::{Action, Amend, Cancel, Command, NewOrder};
pub use error::MatchingError;
pub use event::{CancelReason, Event, RejectReason, Trade};
pub use market_data::{Depth, LevelView};
pub use snapshot::{RestingOrder, Snapshot};
pub use types::{
    MarketSpec, OrderId, OrderKind, OwnerId, Price, Qty, SelfTradePrevention, Seq, Side,
    TimeInForce, Timestamp, TradeId,
};
