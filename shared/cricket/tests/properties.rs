//! Property tests over random matches. Random steps are turned into events that fit the
//! match so far (the batters at the crease, the next man in, a bowler from the other side)
//! plus junk events that may not fit, and after every step:
//!
//! - applying a ball then undoing it restores the match (and so its scorecard) exactly;
//! - a refused event changes nothing;
//! - replaying the events in effect rebuilds the same match (the scorecard is a pure
//!   function of the log);
//! - each innings' runs are the sum of its balls' totals plus penalty runs; batters' runs
//!   plus extras, and bowlers' runs plus byes, leg byes and penalties, both make the total;
//!   bowlers' balls make the innings' balls; legal balls never exceed the overs allowed;
//!   the overs string is the legal balls in overs of the match's length.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cricket::{
    BallId, Delivery, Extras, Format, InningsCard, Match, MatchEvent, MatchInfo, MatchStatus,
    Wicket, WicketKind,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

#[derive(Clone, Debug)]
enum Outcome {
    Runs(u32),
    Boundary(u32),
    Wide(u32),
    NoBall(u32),
    Byes(u32),
    LegByes(u32),
    PenaltyWide,
    Bowled,
    Caught,
    RunOut { runs: u32, striker: bool },
    StumpedOffWide,
    RetiredHurt,
}

#[derive(Clone, Debug)]
enum Step {
    Ball {
        outcome: Outcome,
        swap: bool,
        bowler: u8,
    },
    Undo,
    Amend {
        pick: u16,
        outcome: Outcome,
    },
    Penalty(u32),
    Declare,
    Junk(Box<Delivery>),
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        8 => (0..=3u32).prop_map(Outcome::Runs),
        2 => prop_oneof![Just(4u32), Just(6)].prop_map(Outcome::Boundary),
        1 => (1..=5u32).prop_map(Outcome::Wide),
        1 => (0..=6u32).prop_map(Outcome::NoBall),
        1 => (1..=4u32).prop_map(Outcome::Byes),
        1 => (1..=4u32).prop_map(Outcome::LegByes),
        1 => Just(Outcome::PenaltyWide),
        1 => Just(Outcome::Bowled),
        1 => Just(Outcome::Caught),
        1 => (0..=2u32, any::<bool>()).prop_map(|(runs, striker)| Outcome::RunOut { runs, striker }),
        1 => Just(Outcome::StumpedOffWide),
        1 => Just(Outcome::RetiredHurt),
    ]
}

fn junk() -> impl Strategy<Value = Delivery> {
    let name = prop_oneof![Just("A1"), Just("A2"), Just("A3"), Just("B1"), Just("Z")];
    (
        name.clone(),
        name.clone(),
        name,
        0..=8u32,
        0..=3u32,
        0..=10u32,
        any::<bool>(),
    )
        .prop_map(
            |(batter, non_striker, bowler, bat, extras, total, wicket)| {
                let mut ball = Delivery::new(batter, non_striker, bowler, bat);
                ball.extras.byes = extras;
                ball.runs.extras = extras;
                ball.runs.total = total;
                if wicket {
                    ball.wickets.push(Wicket::new(batter, WicketKind::Bowled));
                }
                ball
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        30 => (outcome(), any::<bool>(), any::<u8>())
            .prop_map(|(outcome, swap, bowler)| Step::Ball { outcome, swap, bowler }),
        2 => Just(Step::Undo),
        2 => (any::<u16>(), outcome()).prop_map(|(pick, outcome)| Step::Amend { pick, outcome }),
        1 => (1..=5u32).prop_map(Step::Penalty),
        1 => Just(Step::Declare),
        2 => junk().prop_map(|ball| Step::Junk(Box::new(ball))),
    ]
}

/// A short match, so random play reaches all-outs, closed innings and results.
fn setup() -> impl Strategy<Value = MatchInfo> {
    (any::<bool>(), 1..=4u32, 2..=11usize).prop_map(|(hundred, overs, squad)| {
        let format = if hundred {
            Format::Hundred
        } else {
            Format::T20
        };
        let mut info = MatchInfo::new("A", "B", format);
        info.overs = Some(overs);
        info.players = ["A", "B"]
            .into_iter()
            .map(|team| {
                let players = (1..=squad).map(|i| format!("{team}{i}")).collect();
                (team.to_owned(), players)
            })
            .collect();
        info
    })
}

/// The events that move the match on between balls: the next innings, or the end.
fn between_innings(game: &Match) -> Option<MatchEvent> {
    let card = game.scorecard();
    match card.status {
        MatchStatus::Scheduled => Some(innings_of("A")),
        MatchStatus::InningsBreak if card.innings.len() == 1 => Some(innings_of("B")),
        MatchStatus::InningsBreak => Some(MatchEvent::Ended { result: None }),
        MatchStatus::InProgress | MatchStatus::Completed => None,
    }
}

fn innings_of(team: &str) -> MatchEvent {
    MatchEvent::InningsStarted {
        team: team.to_owned(),
        target: None,
        super_over: false,
        powerplays: Vec::new(),
    }
}

/// Turns an outcome into a ball that fits the current innings, if one can be bowled.
fn make_ball(game: &Match, outcome: &Outcome, swap: bool, bowler: u8) -> Option<Delivery> {
    let card = game.scorecard();
    let innings = card.innings.last().filter(|i| i.closed.is_none())?;
    let squad = &game.info()?.players[&innings.team];
    let fielders = &game.info()?.players[&innings.bowling_team];
    let mut pair: Vec<String> = game.at_crease().into_iter().map(str::to_owned).collect();
    for name in squad {
        if pair.len() == 2 {
            break;
        }
        let line = innings.batting.iter().find(|b| &b.name == name);
        let free = line.is_none_or(|b| b.how_out == "retired hurt" && !b.at_crease);
        if free && !pair.contains(name) {
            pair.push(name.clone());
        }
    }
    let [mut striker, mut other]: [String; 2] = pair.try_into().ok()?;
    if swap {
        std::mem::swap(&mut striker, &mut other);
    }
    let pick = usize::from(bowler) % fielders.len();
    let bowler = &fielders[pick];
    let fielder = &fielders[(pick + 1) % fielders.len()];
    let plain = |runs| Delivery::new(&striker, &other, bowler, runs);
    Some(match *outcome {
        Outcome::Runs(runs) => plain(runs),
        Outcome::Boundary(runs) => plain(runs),
        Outcome::Wide(runs) => plain(0).with_extras(Extras::wides(runs)),
        Outcome::NoBall(runs) => plain(runs).with_extras(Extras::noballs(1)),
        Outcome::Byes(runs) => plain(0).with_extras(Extras::byes(runs)),
        Outcome::LegByes(runs) => plain(0).with_extras(Extras::legbyes(runs)),
        Outcome::PenaltyWide => plain(0).with_extras(Extras {
            wides: 2,
            penalty: 5,
            ..Extras::default()
        }),
        Outcome::Bowled => plain(0).with_wicket(Wicket::new(&striker, WicketKind::Bowled)),
        Outcome::Caught => {
            plain(0).with_wicket(Wicket::new(&striker, WicketKind::Caught).by(fielder))
        }
        Outcome::RunOut {
            runs,
            striker: out_striker,
        } => {
            let out = if out_striker { &striker } else { &other };
            plain(runs).with_wicket(Wicket::new(out, WicketKind::RunOut).by(fielder))
        }
        Outcome::StumpedOffWide => plain(0)
            .with_extras(Extras::wides(1))
            .with_wicket(Wicket::new(&striker, WicketKind::Stumped).by(fielder)),
        Outcome::RetiredHurt => {
            plain(0).with_wicket(Wicket::new(&striker, WicketKind::RetiredHurt))
        }
    })
}

/// Each innings' runs and legal balls, summed from the events in effect.
fn sums(events: &[MatchEvent]) -> Vec<(u32, u32, u32)> {
    let mut sums: Vec<(u32, u32, u32)> = Vec::new();
    for event in events {
        match event {
            MatchEvent::InningsStarted { .. } => sums.push((0, 0, 0)),
            MatchEvent::Ball(ball) => {
                let last = sums.last_mut().unwrap();
                last.0 += ball.runs.total;
                last.1 += u32::from(ball.is_legal());
            }
            MatchEvent::PenaltyRuns { runs } => {
                let last = sums.last_mut().unwrap();
                last.0 += runs;
                last.2 += runs;
            }
            _ => {}
        }
    }
    sums
}

fn check_innings(
    card: &InningsCard,
    (runs, legal, outside_penalty): (u32, u32, u32),
    per_over: u32,
    max_overs: u32,
) -> Result<(), TestCaseError> {
    let at = format!("innings {}", card.number);
    prop_assert_eq!(card.runs, runs, "{}: runs", at);
    prop_assert_eq!(card.legal_balls, legal, "{}: legal balls", at);
    prop_assert!(
        legal <= max_overs * per_over,
        "{}: {} legal balls",
        at,
        legal
    );
    let overs = if legal % per_over == 0 {
        format!("{}", legal / per_over)
    } else {
        format!("{}.{}", legal / per_over, legal % per_over)
    };
    prop_assert_eq!(card.overs.to_string(), overs, "{}: overs", at);
    let batting: u32 = card.batting.iter().map(|b| b.runs).sum();
    prop_assert_eq!(batting + card.extras.total, runs, "{}: bat + extras", at);
    let e = &card.extras;
    let bowling: u32 = card.bowling.iter().map(|b| b.runs).sum();
    prop_assert_eq!(
        bowling + e.byes + e.legbyes + e.penalty,
        runs,
        "{}: bowlers",
        at
    );
    let bowled: u32 = card.bowling.iter().map(|b| b.legal_balls).sum();
    prop_assert_eq!(bowled, legal, "{}: bowlers' balls", at);
    let partnerships: u32 = card.partnerships.iter().map(|p| p.runs).sum();
    prop_assert_eq!(partnerships + outside_penalty, runs, "{}: partnerships", at);
    prop_assert_eq!(
        card.fall_of_wickets.len(),
        card.wickets as usize,
        "{}: fall",
        at
    );
    prop_assert!(card.wickets <= 10, "{}: {} wickets", at, card.wickets);
    Ok(())
}

fn check_invariants(game: &Match) -> Result<(), TestCaseError> {
    let info = game.info().unwrap();
    let card = game.scorecard();
    let sums = sums(game.events());
    prop_assert_eq!(card.innings.len(), sums.len());
    for (innings, sums) in card.innings.iter().zip(sums) {
        check_innings(innings, sums, info.balls_per_over, info.overs.unwrap())?;
    }
    // Derivable from the log alone.
    let rebuilt = Match::replay(game.events()).unwrap();
    prop_assert_eq!(&rebuilt, game);
    Ok(())
}

/// Applies an event that may be refused; a refused event must change nothing.
fn attempt(game: &mut Match, event: &MatchEvent) -> Result<bool, TestCaseError> {
    let before = game.clone();
    match game.apply(event) {
        Ok(()) => Ok(true),
        Err(error) => {
            prop_assert_eq!(
                &*game,
                &before,
                "refused {:?} ({}) changed the match",
                event,
                error
            );
            Ok(false)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_matches_keep_their_invariants(
        info in setup(),
        steps in prop::collection::vec(step(), 1..150),
    ) {
        let mut game = Match::new();
        game.apply(&MatchEvent::Started(Box::new(info))).unwrap();
        for step in steps {
            if let Some(next) = between_innings(&game) {
                game.apply(&next).unwrap();
            }
            match step {
                Step::Ball { outcome, swap, bowler } => {
                    let Some(ball) = make_ball(&game, &outcome, swap, bowler) else {
                        continue;
                    };
                    let before = game.clone();
                    let event = MatchEvent::Ball(ball);
                    game.apply(&event).map_err(|e| {
                        TestCaseError::fail(format!("{event:?} refused: {e}"))
                    })?;
                    let mut undone = game.clone();
                    undone.apply(&MatchEvent::Undo).unwrap();
                    prop_assert_eq!(&undone, &before);
                    prop_assert_eq!(undone.scorecard(), before.scorecard());
                }
                Step::Undo => {
                    attempt(&mut game, &MatchEvent::Undo)?;
                }
                Step::Amend { pick, outcome } => {
                    let Some(last) = game.last_ball() else { continue };
                    let id = BallId { innings: last.innings, ball: u32::from(pick) % (last.ball + 1) };
                    // Amending a ball to itself changes nothing.
                    let same = game.ball(id).cloned().unwrap();
                    let before = game.clone();
                    game.apply(&MatchEvent::Amend { ball: id, delivery: same }).unwrap();
                    prop_assert_eq!(&game, &before);
                    // Amending it to something else is accepted or refused whole.
                    if let Some(other) = make_ball(&game, &outcome, false, 0) {
                        attempt(&mut game, &MatchEvent::Amend { ball: id, delivery: other })?;
                    }
                }
                Step::Penalty(runs) => {
                    attempt(&mut game, &MatchEvent::PenaltyRuns { runs })?;
                }
                Step::Declare => {
                    attempt(&mut game, &MatchEvent::InningsClosed {
                        reason: cricket::CloseReason::Declared,
                    })?;
                }
                Step::Junk(ball) => {
                    attempt(&mut game, &MatchEvent::Ball(*ball))?;
                }
            }
            check_invariants(&game)?;
        }
    }

    #[test]
    fn scorecards_serialize_with_the_promised_shape(info in setup(), steps in prop::collection::vec(step(), 1..40)) {
        let mut game = Match::new();
        game.apply(&MatchEvent::Started(Box::new(info))).unwrap();
        for step in steps {
            if let Some(next) = between_innings(&game) {
                game.apply(&next).unwrap();
            }
            if let Step::Ball { outcome, swap, bowler } = step
                && let Some(ball) = make_ball(&game, &outcome, swap, bowler)
            {
                game.apply(&MatchEvent::Ball(ball)).unwrap();
            }
        }
        let json = serde_json::to_value(game.scorecard()).unwrap();
        for innings in json["innings"].as_array().unwrap() {
            for key in ["team", "runs", "wickets", "overs"] {
                prop_assert!(innings.get(key).is_some(), "{}", key);
            }
            prop_assert!(innings["overs"].is_string());
            for key in ["wides", "noballs", "byes", "legbyes", "penalty"] {
                prop_assert!(innings["extras"][key].is_u64(), "extras.{}", key);
            }
        }
        // Events round-trip through JSON, as the service stores them.
        let stored = serde_json::to_string(game.events()).unwrap();
        let loaded: Vec<MatchEvent> = serde_json::from_str(&stored).unwrap();
        prop_assert_eq!(loaded.as_slice(), game.events());
    }
}
