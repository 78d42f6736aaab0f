//! Cricket matches as event-sourced state machines: the pure core of the live service.
//!
//! A [`Match`] is the fold of its [`MatchEvent`]s: the match set up ([`MatchEvent::Started`]
//! with a [`MatchInfo`]), innings started and closed, balls bowled ([`Delivery`]), penalty
//! runs, revised targets, and corrections ([`MatchEvent::Undo`], [`MatchEvent::Amend`]).
//! [`Match::apply`] checks each event against the match so far (no ball after the innings
//! closes, no eleventh wicket, the batters must be the two at the crease, runs must add up,
//! players must be in their squads) and refuses it with an [`IllegalEvent`] that has a
//! stable [`code`](IllegalEvent::code), changing nothing. Innings close by themselves when
//! the side is all out, the overs are bowled or the target is reached.
//!
//! [`Match::scorecard`] reads the [`Scorecard`] off the running state: totals, overs as
//! "19.4", extras, batting and bowling figures, fall of wickets, partnerships, target and
//! required rate, result. [`cricsheet::parse`] turns a Cricsheet JSON file into the events
//! that replay it.
//!
//! ```
//! use cricket::{Delivery, Extras, Format, Match, MatchEvent, MatchInfo, Wicket, WicketKind};
//!
//! let mut game = Match::new();
//! game.apply(&MatchEvent::Started(Box::new(MatchInfo::new("Kolkata", "Bangalore", Format::T20))))?;
//! game.apply(&MatchEvent::InningsStarted {
//!     team: "Kolkata".into(),
//!     target: None,
//!     super_over: false,
//!     powerplays: vec![],
//! })?;
//! game.apply(&MatchEvent::Ball(Delivery::new("Ganguly", "McCullum", "Praveen", 0).with_extras(Extras::legbyes(1))))?;
//! game.apply(&MatchEvent::Ball(Delivery::new("McCullum", "Ganguly", "Praveen", 4)))?;
//! game.apply(&MatchEvent::Ball(
//!     Delivery::new("McCullum", "Ganguly", "Praveen", 0).with_wicket(Wicket::new("McCullum", WicketKind::Bowled)),
//! ))?;
//! // The next ball must bring a new batter in for McCullum.
//! let wrong = game.apply(&MatchEvent::Ball(Delivery::new("McCullum", "Ganguly", "Praveen", 1)));
//! assert_eq!(wrong.map_err(|e| e.code()), Err("wrong_batter"));
//!
//! let card = game.scorecard();
//! assert_eq!((card.innings[0].runs, card.innings[0].wickets), (5, 1));
//! assert_eq!(card.innings[0].overs.to_string(), "0.3");
//! assert_eq!(card.innings[0].extras.legbyes, 1);
//! # Ok::<(), cricket::IllegalEvent>(())
//! ```
//!
//! This crate must not know about IO, async, clocks, the bus or the database: the live
//! service's match-room actor owns a `Match`, feeds it events, and persists and publishes
//! them.

pub mod cricsheet;
mod error;
mod event;
mod innings;
mod model;
mod result;
mod scorecard;
mod squads;
mod state;
mod validate;

pub use error::{CricsheetError, IllegalEvent, ReplayError};
pub use event::{BallId, CloseReason, MatchEvent};
pub use model::{
    Competition, Delivery, Extras, Fielder, Format, Margin, MatchInfo, MatchReplacement,
    MatchResult, Overs, ParseOversError, Powerplay, Replacements, Review, RoleReplacement, Runs,
    Target, Toss, TossDecision, Wicket, WicketKind,
};
pub use scorecard::{
    BattingLine, BowlingLine, Dismissal, ExtrasCard, FallOfWicket, InningsCard, PartnershipLine,
    Scorecard,
};
pub use state::{Match, MatchStatus};
