//! The match as a state machine: [`Match::apply`] takes one event, checks it against the
//! match so far and either applies it or refuses it with an [`IllegalEvent`], changing
//! nothing.
//!
//! A match keeps the events still in effect (its log, with corrections folded in: `Undo`
//! removes an event, `Amend` rewrites a ball) and the state they add up to. A ball is
//! applied incrementally, in time proportional to the players in the innings. A
//! correction rebuilds the state by replaying the corrected log: corrections are rare, and
//! a rebuild cannot disagree with the ball-by-ball path because it *is* that path.
//!
//! This module owns the lifecycle (innings starting and closing, the match ending); the
//! counting is in [`crate::innings`], the checks on a ball in [`crate::validate`], who won
//! in [`crate::result`].

use crate::error::{IllegalEvent, ReplayError};
use crate::event::{BallId, CloseReason, MatchEvent};
use crate::innings::{Innings, Setup};
use crate::model::{Delivery, Format, MatchInfo, MatchResult, Powerplay, Target};
use crate::result;
use crate::scorecard::{self, Scorecard};
use crate::squads::Squads;
use crate::validate::{self, MAX_RUNS_PER_BALL};

/// Where a match stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchStatus {
    /// No innings has started yet.
    Scheduled,
    /// An innings is in progress.
    InProgress,
    /// Between innings.
    InningsBreak,
    /// Decided by play, or ended by the scorer.
    Completed,
}

/// One match: its events so far and what they add up to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Match {
    state: State,
    /// The events in effect, in order: the first is `Started`; no `Undo` or `Amend`.
    log: Vec<MatchEvent>,
}

/// Everything derived from the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) info: Option<Box<MatchInfo>>,
    squads: Squads,
    pub(crate) innings: Vec<Innings>,
    /// Set by `Ended`: the match is over whatever the scores say.
    pub(crate) ended: bool,
    /// The result `Ended` gave, if it gave one.
    pub(crate) declared_result: Option<MatchResult>,
}

impl Match {
    /// A match with no events: everything but `Started` is refused until it comes.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a match from a log of events, stopping at the first one refused.
    ///
    /// # Errors
    /// The position of the refused event and why.
    pub fn replay<'a>(
        events: impl IntoIterator<Item = &'a MatchEvent>,
    ) -> Result<Self, ReplayError> {
        let mut game = Self::new();
        for (index, event) in events.into_iter().enumerate() {
            game.apply(event)
                .map_err(|error| ReplayError { index, error })?;
        }
        Ok(game)
    }

    /// Applies one event, or refuses it and changes nothing.
    ///
    /// # Errors
    /// Why the event cannot happen now; see [`IllegalEvent::code`].
    pub fn apply(&mut self, event: &MatchEvent) -> Result<(), IllegalEvent> {
        match event {
            MatchEvent::Undo => self.undo(),
            MatchEvent::Amend { ball, delivery } => self.amend(*ball, delivery),
            event => {
                self.state.step(event)?;
                self.log.push(event.clone());
                Ok(())
            }
        }
    }

    /// The events in effect, corrections folded in. Replaying them rebuilds this match.
    #[must_use]
    pub fn events(&self) -> &[MatchEvent] {
        &self.log
    }

    /// The match information, once started.
    #[must_use]
    pub fn info(&self) -> Option<&MatchInfo> {
        self.state.info.as_deref()
    }

    /// Where the match stands.
    #[must_use]
    pub fn status(&self) -> MatchStatus {
        self.state.status()
    }

    /// The result, once the match is completed.
    #[must_use]
    pub fn result(&self) -> Option<MatchResult> {
        self.state.result()
    }

    /// The batters at the crease in the current innings (none between innings).
    #[must_use]
    pub fn at_crease(&self) -> Vec<&str> {
        self.state
            .open_innings()
            .map(|innings| innings.at_crease().map(|b| b.name.as_str()).collect())
            .unwrap_or_default()
    }

    /// The last ball bowled, if any.
    #[must_use]
    pub fn last_ball(&self) -> Option<BallId> {
        let innings = self.state.innings.len().checked_sub(1)?;
        let ball = self.state.innings.get(innings)?.deliveries.checked_sub(1)?;
        Some(BallId {
            innings: u32::try_from(innings).ok()?,
            ball,
        })
    }

    /// A ball already bowled.
    #[must_use]
    pub fn ball(&self, id: BallId) -> Option<&Delivery> {
        self.find_ball(id).and_then(|at| match &self.log[at] {
            MatchEvent::Ball(delivery) => Some(delivery),
            _ => None,
        })
    }

    /// The scorecard as it stands.
    #[must_use]
    pub fn scorecard(&self) -> Scorecard {
        scorecard::derive(&self.state)
    }

    fn undo(&mut self) -> Result<(), IllegalEvent> {
        // The first event, `Started`, is the match itself and stays.
        if self.log.len() < 2 {
            return Err(IllegalEvent::NothingToUndo);
        }
        let kept = &self.log[..self.log.len() - 1];
        // A prefix of a log that was accepted event by event is accepted again.
        self.state = State::rebuild(kept).map_err(|refused| refused.error)?;
        self.log.pop();
        Ok(())
    }

    fn amend(&mut self, id: BallId, delivery: &Delivery) -> Result<(), IllegalEvent> {
        let at = self.find_ball(id).ok_or(IllegalEvent::UnknownBall(id))?;
        let mut log = self.log.clone();
        log[at] = MatchEvent::Ball(delivery.clone());
        match State::rebuild(&log) {
            Ok(state) => {
                self.state = state;
                self.log = log;
                Ok(())
            }
            Err(refused) => Err(IllegalEvent::AmendConflict {
                ball: id,
                at: refused.index,
                reason: Box::new(refused.error),
            }),
        }
    }

    /// The position in the log of a ball.
    fn find_ball(&self, id: BallId) -> Option<usize> {
        let mut innings = None;
        let mut ball = 0;
        for (at, event) in self.log.iter().enumerate() {
            match event {
                MatchEvent::InningsStarted { .. } => {
                    innings = Some(innings.map_or(0, |i: u32| i + 1));
                    ball = 0;
                }
                MatchEvent::Ball(_) if innings == Some(id.innings) => {
                    if ball == id.ball {
                        return Some(at);
                    }
                    ball += 1;
                }
                _ => {}
            }
        }
        None
    }
}

impl State {
    fn rebuild(log: &[MatchEvent]) -> Result<Self, ReplayError> {
        let mut state = Self::default();
        for (index, event) in log.iter().enumerate() {
            state
                .step(event)
                .map_err(|error| ReplayError { index, error })?;
        }
        Ok(state)
    }

    pub(crate) fn status(&self) -> MatchStatus {
        if self.is_over() {
            MatchStatus::Completed
        } else if self.open_innings().is_some() {
            MatchStatus::InProgress
        } else if self.innings.is_empty() {
            MatchStatus::Scheduled
        } else {
            MatchStatus::InningsBreak
        }
    }

    pub(crate) fn result(&self) -> Option<MatchResult> {
        let format = self.info.as_ref()?.format;
        if let Some(result) = &self.declared_result {
            return Some(result.clone());
        }
        match result::decided(format, &self.innings) {
            Some(result) => Some(result),
            None if self.ended => Some(result::undecided(format, &self.innings)),
            None => None,
        }
    }

    fn is_over(&self) -> bool {
        self.ended
            || self
                .info
                .as_ref()
                .is_some_and(|info| result::decided(info.format, &self.innings).is_some())
    }

    pub(crate) fn open_innings(&self) -> Option<&Innings> {
        self.innings.last().filter(|i| i.closed.is_none())
    }

    /// Applies one event that is not a correction, or refuses it and changes nothing.
    fn step(&mut self, event: &MatchEvent) -> Result<(), IllegalEvent> {
        let balls_per_over = match (&self.info, event) {
            (None, MatchEvent::Started(info)) => {
                check_info(info)?;
                self.squads = Squads::new(info);
                self.info = Some(info.clone());
                return Ok(());
            }
            (Some(_), MatchEvent::Started(_)) => return Err(IllegalEvent::AlreadyStarted),
            (None, _) => return Err(IllegalEvent::NotStarted),
            (Some(info), _) => info.balls_per_over,
        };
        if self.ended {
            return Err(IllegalEvent::MatchOver);
        }
        match event {
            MatchEvent::InningsStarted {
                team,
                target,
                super_over,
                powerplays,
            } => self.start_innings(team, *target, *super_over, powerplays),
            MatchEvent::Ball(ball) => {
                let innings = self.current_open()?;
                validate::check_ball(ball, innings, &self.squads)?;
                let innings = self.current_open_mut()?;
                innings.record(ball);
                settle(innings);
                self.squads.replace(ball);
                Ok(())
            }
            MatchEvent::PenaltyRuns { runs } => {
                if *runs == 0 || *runs > MAX_RUNS_PER_BALL {
                    return Err(IllegalEvent::InvalidRuns(format!(
                        "penalty runs must be between 1 and {MAX_RUNS_PER_BALL}"
                    )));
                }
                // Penalty runs may follow an innings' last ball (Cricsheet's `post`).
                let innings = self.innings.last_mut().ok_or(IllegalEvent::NoInnings)?;
                innings.award_penalty(*runs);
                settle(innings);
                Ok(())
            }
            MatchEvent::AbsentHurt { player } => {
                let innings = self.current_open()?;
                let wrong = |reason: &str| IllegalEvent::WrongBatter {
                    player: player.clone(),
                    reason: reason.to_owned(),
                };
                if innings.batter(player).is_some() {
                    return Err(wrong("has already batted"));
                }
                if innings.absent_hurt.contains(player) {
                    return Err(wrong("is already absent hurt"));
                }
                self.squads.check(&innings.team, player, None)?;
                let innings = self.current_open_mut()?;
                innings.absent_hurt.push(player.clone());
                settle(innings);
                Ok(())
            }
            MatchEvent::TargetRevised { target } => {
                let innings = self.current_open()?;
                let max_balls = check_target(innings, *target, balls_per_over)?;
                let innings = self.current_open_mut()?;
                innings.target = Some(*target);
                if max_balls.is_some() {
                    innings.max_balls = max_balls;
                }
                settle(innings);
                Ok(())
            }
            MatchEvent::InningsClosed { reason } => {
                let innings = self.current_open_mut()?;
                match reason {
                    CloseReason::OversComplete | CloseReason::TargetReached => {
                        return Err(IllegalEvent::InvalidClose(format!(
                            "{reason} closes an innings by itself"
                        )));
                    }
                    CloseReason::Forfeited if innings.deliveries > 0 => {
                        return Err(IllegalEvent::InvalidClose(
                            "an innings with balls bowled cannot be forfeited".to_owned(),
                        ));
                    }
                    _ => {}
                }
                innings.closed = Some(*reason);
                Ok(())
            }
            MatchEvent::Ended { result } => {
                if let Some(innings) = self.innings.last_mut()
                    && innings.closed.is_none()
                {
                    innings.closed = Some(CloseReason::Curtailed);
                }
                self.ended = true;
                self.declared_result = result.clone();
                Ok(())
            }
            // `Started` was handled above; corrections are applied by `Match` and never
            // logged, so a log replayed here holds none.
            MatchEvent::Started(_) | MatchEvent::Undo | MatchEvent::Amend { .. } => Ok(()),
        }
    }

    fn current_open(&self) -> Result<&Innings, IllegalEvent> {
        let innings = self.innings.last().ok_or(IllegalEvent::NoInnings)?;
        match innings.closed {
            Some(reason) => Err(IllegalEvent::InningsClosed(reason)),
            None => Ok(innings),
        }
    }

    fn current_open_mut(&mut self) -> Result<&mut Innings, IllegalEvent> {
        let innings = self.innings.last_mut().ok_or(IllegalEvent::NoInnings)?;
        match innings.closed {
            Some(reason) => Err(IllegalEvent::InningsClosed(reason)),
            None => Ok(innings),
        }
    }

    fn start_innings(
        &mut self,
        team: &str,
        target: Option<Target>,
        super_over: bool,
        powerplays: &[Powerplay],
    ) -> Result<(), IllegalEvent> {
        let Some(info) = self.info.as_deref() else {
            return Err(IllegalEvent::NotStarted);
        };
        if self.open_innings().is_some() {
            return Err(IllegalEvent::InningsInProgress(self.innings.len() - 1));
        }
        if self.is_over() {
            return Err(IllegalEvent::MatchOver);
        }
        let bowling_team = info
            .opponent(team)
            .ok_or_else(|| IllegalEvent::UnknownTeam(team.to_owned()))?
            .to_owned();
        self.check_innings_order(info, team, super_over)?;

        let derived = self.derived_target(info.format, super_over);
        let chase = derived.is_some();
        let balls_per_over = info.balls_per_over;
        let mut max_balls = if super_over {
            Some(balls_per_over)
        } else {
            info.overs.map(|overs| overs.saturating_mul(balls_per_over))
        };
        let target = match target {
            Some(target) => {
                if !chase {
                    return Err(IllegalEvent::InvalidTarget(
                        "only the side batting last has a target".to_owned(),
                    ));
                }
                if target.runs == 0 {
                    return Err(IllegalEvent::InvalidTarget(
                        "a target of no runs".to_owned(),
                    ));
                }
                if let Some(overs) = target.overs {
                    max_balls = Some(overs.to_balls(balls_per_over));
                }
                Some(target)
            }
            None => derived.map(|runs| Target { runs, overs: None }),
        };
        // Eleven bat at most, however many are listed (an impact player makes twelve).
        let batters = info
            .players
            .get(team)
            .filter(|squad| !squad.is_empty())
            .map_or(11, |squad| squad.len().min(11));
        let wickets_in_hand = if super_over {
            2
        } else {
            u32::try_from(batters).unwrap_or(11).saturating_sub(1)
        };
        self.innings.push(Innings::new(Setup {
            team: team.to_owned(),
            bowling_team,
            super_over,
            chase,
            target,
            powerplays: powerplays.to_vec(),
            balls_per_over,
            max_balls,
            wickets_in_hand,
        }));
        Ok(())
    }

    fn check_innings_order(
        &self,
        info: &MatchInfo,
        team: &str,
        super_over: bool,
    ) -> Result<(), IllegalEvent> {
        let invalid = |message: String| Err(IllegalEvent::InvalidInnings(message));
        let main: Vec<&Innings> = self.innings.iter().filter(|i| !i.super_over).collect();
        let supers: Vec<&Innings> = self.innings.iter().filter(|i| i.super_over).collect();
        let per_side = info.format.innings_per_side();
        if super_over {
            if per_side > 1 {
                return invalid("no super overs in a two-innings match".to_owned());
            }
            if main.len() < 2 {
                return invalid("a super over comes after both sides have batted".to_owned());
            }
            if supers.len() % 2 == 1 && supers.last().is_some_and(|last| last.team == team) {
                return invalid(format!("{team} has just batted in this super over"));
            }
            return Ok(());
        }
        if !supers.is_empty() || main.len() >= 2 * per_side {
            return invalid("both sides have had all their innings".to_owned());
        }
        let batted = main.iter().filter(|i| i.team == team).count();
        if batted >= per_side {
            return invalid(format!("{team} has had all its innings"));
        }
        // The follow-on lets a side bat twice in a row, but never in the second innings.
        if main.len() == 1 && main[0].team == team {
            return invalid(format!("{team} batted in the first innings"));
        }
        Ok(())
    }

    /// The target of the innings about to start, if it is a chase: one more than the
    /// other side's lead.
    fn derived_target(&self, format: Format, super_over: bool) -> Option<u32> {
        if super_over {
            let supers: Vec<&Innings> = self.innings.iter().filter(|i| i.super_over).collect();
            return (supers.len() % 2 == 1)
                .then(|| supers.last().map(|first| first.runs + 1))
                .flatten();
        }
        let main: Vec<&Innings> = self.innings.iter().filter(|i| !i.super_over).collect();
        if main.len() + 1 != 2 * format.innings_per_side() {
            return None;
        }
        // The chasing side is the one that has batted once fewer.
        let chaser = main.last().map(|last| last.bowling_team.as_str())?;
        let (own, other) = main.iter().fold((0u32, 0u32), |(own, other), i| {
            if i.team == chaser {
                (own + i.runs, other)
            } else {
                (own, other + i.runs)
            }
        });
        Some(other.saturating_sub(own) + 1)
    }
}

/// Closes an innings that play has ended: target reached, all out, overs bowled.
fn settle(innings: &mut Innings) {
    if innings.closed.is_some() {
        return;
    }
    innings.closed = if innings.target.is_some_and(|t| innings.runs >= t.runs) {
        Some(CloseReason::TargetReached)
    } else if innings.wickets >= innings.max_wickets() {
        Some(CloseReason::AllOut)
    } else if innings
        .max_balls
        .is_some_and(|max| innings.legal_balls >= max)
    {
        Some(CloseReason::OversComplete)
    } else {
        None
    };
}

fn check_info(info: &MatchInfo) -> Result<(), IllegalEvent> {
    let invalid = |message: String| Err(IllegalEvent::InvalidInfo(message));
    let [home, away] = &info.teams;
    if home.is_empty() || away.is_empty() || home == away {
        return invalid("two different, named teams are needed".to_owned());
    }
    if !(1..=MAX_RUNS_PER_BALL).contains(&info.balls_per_over) {
        return invalid(format!("{} balls per over", info.balls_per_over));
    }
    if info.overs == Some(0) {
        return invalid("an innings of no overs".to_owned());
    }
    for (team, squad) in &info.players {
        if !info.teams.contains(team) {
            return invalid(format!("a squad for {team:?}, who is not playing"));
        }
        if squad.len() == 1 {
            return invalid(format!("{team} has a squad of one"));
        }
    }
    Ok(())
}

/// Checks a revised target against the innings and returns its new ball limit, if any.
fn check_target(
    innings: &Innings,
    target: Target,
    balls_per_over: u32,
) -> Result<Option<u32>, IllegalEvent> {
    let invalid = |message: &str| Err(IllegalEvent::InvalidTarget(message.to_owned()));
    if !innings.chase {
        return invalid("only the side batting last has a target");
    }
    if target.runs == 0 {
        return invalid("a target of no runs");
    }
    let max_balls = target.overs.map(|overs| overs.to_balls(balls_per_over));
    if max_balls.is_some_and(|max| max < innings.legal_balls) {
        return invalid("fewer overs than have already been bowled");
    }
    Ok(max_balls)
}

#[cfg(test)]
mod tests;
