//! Who won, derived from the innings: a chase reached or not (by wickets in hand or runs
//! short of the target, so a revised target gives the revised margin), an innings victory
//! in two-innings cricket, ties broken by super overs. A match ended before play decided it
//! is drawn (unlimited overs) or has no result (limited overs), unless the scorer says
//! otherwise with [`MatchEvent::Ended`](crate::MatchEvent::Ended).

use crate::event::CloseReason;
use crate::innings::Innings;
use crate::model::{Format, Margin, MatchResult};

/// The result if play has decided the match.
pub(crate) fn decided(format: Format, innings: &[Innings]) -> Option<MatchResult> {
    let main: Vec<&Innings> = innings.iter().filter(|i| !i.super_over).collect();
    if format.innings_per_side() == 1 {
        let [first, second] = main[..] else {
            return None;
        };
        if !finished(second) {
            return None;
        }
        return match chase(second, &first.team) {
            Chase::Won(result) => Some(result),
            Chase::Level => super_overs(innings),
        };
    }
    if let [first, second, third, ..] = main[..]
        && finished(third)
    {
        // The side that has batted twice and still trails has lost by an innings.
        let twice = &third.team;
        let aggregate = |team: &str| -> u32 {
            [first, second, third]
                .iter()
                .filter(|i| i.team == team)
                .map(|i| i.runs)
                .sum()
        };
        let once = &third.bowling_team;
        let (behind, ahead) = (aggregate(twice), aggregate(once));
        if behind < ahead {
            return Some(MatchResult::Win {
                winner: once.clone(),
                margin: Some(Margin::InningsAndRuns(ahead - behind)),
                method: None,
            });
        }
    }
    if let [_, _, _, fourth] = main[..]
        && finished(fourth)
    {
        return match chase(fourth, &fourth.bowling_team) {
            Chase::Won(result) => Some(result),
            Chase::Level => Some(MatchResult::Tie { winner: None }),
        };
    }
    None
}

/// The result of a match ended before play decided it.
pub(crate) fn undecided(format: Format, innings: &[Innings]) -> MatchResult {
    if format.innings_per_side() > 1 {
        return MatchResult::Draw;
    }
    let main: Vec<&Innings> = innings.iter().filter(|i| !i.super_over).collect();
    match main[..] {
        [first, second]
            if finished(second) && matches!(chase(second, &first.team), Chase::Level) =>
        {
            MatchResult::Tie { winner: None }
        }
        _ => MatchResult::NoResult,
    }
}

/// Closed by play, not by the weather or the clock.
fn finished(innings: &Innings) -> bool {
    innings
        .closed
        .is_some_and(|reason| reason != CloseReason::Curtailed)
}

enum Chase {
    Won(MatchResult),
    Level,
}

/// The outcome of a finished chase against `defender`.
fn chase(chaser: &Innings, defender: &str) -> Chase {
    // A chasing innings always has a target; without one, any lead would win.
    let target = chaser.target.map_or(1, |t| t.runs);
    if chaser.runs >= target {
        Chase::Won(MatchResult::Win {
            winner: chaser.team.clone(),
            margin: Some(Margin::Wickets(
                chaser.wickets_in_hand.saturating_sub(chaser.wickets),
            )),
            method: None,
        })
    } else if chaser.runs + 1 == target {
        Chase::Level
    } else {
        Chase::Won(MatchResult::Win {
            winner: defender.to_owned(),
            margin: Some(Margin::Runs(target - 1 - chaser.runs)),
            method: None,
        })
    }
}

/// A tie broken by the first super over a side wins.
fn super_overs(innings: &[Innings]) -> Option<MatchResult> {
    let supers: Vec<&Innings> = innings.iter().filter(|i| i.super_over).collect();
    for pair in supers.chunks(2) {
        let [first, second] = pair else {
            return None;
        };
        if !finished(second) {
            return None;
        }
        if let Chase::Won(MatchResult::Win { winner, .. }) = chase(second, &first.team) {
            return Some(MatchResult::Tie {
                winner: Some(winner),
            });
        }
    }
    None
}
