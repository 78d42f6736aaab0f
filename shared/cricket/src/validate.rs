//! Whether a ball can have happened, given the innings so far: its runs add up, its extras
//! can occur together, its batters are the two at the crease (or free to come in), its
//! wickets are possible, its players are in their squads when squads are known.
//!
//! Strike is not guessed: a ball names its batter and non-striker, and they only have to be
//! the two batters at the crease, in either order. A batter comes in only when a slot is
//! free, after a dismissal or retirement; a retired-hurt batter may come back the same way.
//! Over boundaries, consecutive overs by one bowler and similar playing conditions are not
//! checked: they vary by competition (The Hundred allows ten balls in a row).

use crate::error::IllegalEvent;
use crate::innings::{BatterState, Innings};
use crate::model::{Delivery, WicketKind};
use crate::squads::Squads;

/// No single ball is worth more, in any part. Real balls stay far below it (seven runs
/// off a wide with five penalty runs is already rare); it keeps sums far from overflow.
pub(crate) const MAX_RUNS_PER_BALL: u32 = 99;

/// Checks a ball against an open innings. Changes nothing.
pub(crate) fn check_ball(
    ball: &Delivery,
    innings: &Innings,
    squads: &Squads,
) -> Result<(), IllegalEvent> {
    check_runs(ball)?;
    check_extras(ball)?;
    check_players(ball, innings, squads)?;
    check_crease(ball, innings)?;
    check_wickets(ball, innings, squads)
}

fn check_runs(ball: &Delivery) -> Result<(), IllegalEvent> {
    let runs = &ball.runs;
    let extras = ball
        .extras
        .checked_total()
        .filter(|&total| total <= MAX_RUNS_PER_BALL)
        .ok_or_else(|| {
            IllegalEvent::InvalidRuns(format!("more than {MAX_RUNS_PER_BALL} extras off one ball"))
        })?;
    if runs.extras != extras {
        return Err(IllegalEvent::InvalidRuns(format!(
            "runs.extras is {} but the extras add up to {extras}",
            runs.extras
        )));
    }
    if runs.total > MAX_RUNS_PER_BALL || runs.batter > MAX_RUNS_PER_BALL {
        return Err(IllegalEvent::InvalidRuns(format!(
            "more than {MAX_RUNS_PER_BALL} runs off one ball"
        )));
    }
    if runs.batter + runs.extras != runs.total {
        return Err(IllegalEvent::InvalidRuns(format!(
            "runs.total is {} but batter {} + extras {} make {}",
            runs.total,
            runs.batter,
            runs.extras,
            runs.batter + runs.extras
        )));
    }
    Ok(())
}

fn check_extras(ball: &Delivery) -> Result<(), IllegalEvent> {
    let extras = &ball.extras;
    let invalid = |message: &str| Err(IllegalEvent::InvalidExtras(message.to_owned()));
    if extras.wides > 0 && extras.noballs > 0 {
        return invalid("a ball cannot be both a wide and a no-ball");
    }
    if extras.wides > 0 && ball.runs.batter > 0 {
        return invalid("no runs off the bat from a wide");
    }
    if extras.wides > 0 && (extras.byes > 0 || extras.legbyes > 0) {
        return invalid("runs off a wide are wides, not byes or leg byes");
    }
    if extras.byes > 0 && extras.legbyes > 0 {
        return invalid("a ball cannot give both byes and leg byes");
    }
    if ball.runs.batter > 0 && (extras.byes > 0 || extras.legbyes > 0) {
        return invalid("byes and leg byes cannot come with runs off the bat");
    }
    Ok(())
}

fn check_players(ball: &Delivery, innings: &Innings, squads: &Squads) -> Result<(), IllegalEvent> {
    if ball.batter == ball.non_striker {
        return Err(IllegalEvent::WrongBatter {
            player: ball.batter.clone(),
            reason: "named as both batter and non-striker".to_owned(),
        });
    }
    squads.check_replacements(ball)?;
    for name in [&ball.batter, &ball.non_striker] {
        squads.check(&innings.team, name, Some(ball))?;
    }
    squads.check(&innings.bowling_team, &ball.bowler, Some(ball))
}

fn check_crease(ball: &Delivery, innings: &Innings) -> Result<(), IllegalEvent> {
    let mut arriving = 0;
    for name in [&ball.batter, &ball.non_striker] {
        if innings.is_at_crease(name) {
            continue;
        }
        let wrong = |reason: String| IllegalEvent::WrongBatter {
            player: name.clone(),
            reason,
        };
        if let Some(BatterState::Out { kind, .. }) = innings.batter(name).map(|b| &b.state) {
            return Err(wrong(format!("already out ({kind})")));
        }
        if innings.absent_hurt.contains(name) {
            return Err(wrong("absent hurt".to_owned()));
        }
        arriving += 1;
        if arriving > innings.free_slots() {
            let batting: Vec<&str> = innings.at_crease().map(|b| b.name.as_str()).collect();
            return Err(wrong(format!(
                "not at the crease, where {} {} batting",
                batting.join(" and "),
                if batting.len() == 1 { "is" } else { "are" }
            )));
        }
    }
    Ok(())
}

fn check_wickets(ball: &Delivery, innings: &Innings, squads: &Squads) -> Result<(), IllegalEvent> {
    let invalid = |message: String| Err(IllegalEvent::InvalidWicket(message));
    let mut dismissals = 0;
    for (i, wicket) in ball.wickets.iter().enumerate() {
        let player = &wicket.player_out;
        let kind = wicket.kind;
        if ball.wickets[..i].iter().any(|w| &w.player_out == player) {
            return invalid(format!("{player} is out twice on one ball"));
        }
        let at_crease = *player == ball.batter || *player == ball.non_striker;
        if kind == WicketKind::TimedOut {
            // The incoming batter is out before reaching the crease.
            if at_crease || innings.batter(player).is_some() {
                return invalid(format!(
                    "{player} has already come in and cannot be timed out"
                ));
            }
            squads.check(&innings.team, player, Some(ball))?;
        } else if !at_crease {
            return invalid(format!(
                "{player} is neither the batter nor the non-striker on this ball"
            ));
        }
        if kind.striker_only() && *player != ball.batter {
            return invalid(format!("only the batter on strike can be out {kind}"));
        }
        // The bowler's ways out (bowled, caught, lbw, stumped, hit wicket) need a fair ball.
        if ball.extras.noballs > 0 && kind.credited_to_bowler() {
            return invalid(format!("no one is out {kind} off a no-ball"));
        }
        let off_a_wide = matches!(
            kind,
            WicketKind::Bowled | WicketKind::Caught | WicketKind::CaughtAndBowled | WicketKind::Lbw
        );
        if ball.extras.wides > 0 && off_a_wide {
            return invalid(format!("no one is out {kind} off a wide"));
        }
        dismissals += u32::from(kind.is_dismissal());
    }
    let max = innings.max_wickets();
    if innings.wickets + dismissals > max {
        return Err(IllegalEvent::TooManyWickets { max });
    }
    Ok(())
}
