//! The scorecard: what a match's events add up to, as a fan reads it and as JSON for the
//! service to send. It is a pure function of the events ([`Scorecard::from_events`]), read
//! off a match's running state ([`Match::scorecard`](crate::Match::scorecard)) without
//! rescanning the balls.
//!
//! This module formats and derives (overs as "19.4", run rates, strike rates, economy,
//! what a chase still needs, "c X b Y"); it does no counting of its own: totals come from
//! [`crate::innings`], the result from [`crate::result`].

use serde::Serialize;

use crate::error::ReplayError;
use crate::event::{CloseReason, MatchEvent};
use crate::innings::{BatterState, Innings};
use crate::model::{Fielder, Format, MatchResult, Overs, Target, Toss, WicketKind};
use crate::state::{Match, MatchStatus, State};

/// A whole match.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scorecard {
    /// The two teams (none before the match has started).
    pub teams: Vec<String>,
    /// The format.
    pub format: Option<Format>,
    /// Balls in an over.
    pub balls_per_over: u32,
    /// Where the match stands.
    pub status: MatchStatus,
    /// The ground.
    pub venue: Option<String>,
    /// The toss.
    pub toss: Option<Toss>,
    /// Every innings, in order of play, super overs included.
    pub innings: Vec<InningsCard>,
    /// The result, once completed.
    pub result: Option<MatchResult>,
    /// The result in words ("Kolkata Knight Riders won by 140 runs").
    pub summary: Option<String>,
}

/// One innings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InningsCard {
    /// 1 for the first innings of the match.
    pub number: u32,
    /// The batting team.
    pub team: String,
    /// The fielding team.
    pub bowling_team: String,
    /// True for a super over.
    pub super_over: bool,
    /// Runs, penalty runs included.
    pub runs: u32,
    /// Wickets down (retired-hurt batters are not out).
    pub wickets: u32,
    /// Legal balls bowled, in overs: "19.4".
    pub overs: Overs,
    /// Legal balls bowled.
    pub legal_balls: u32,
    /// The innings' overs, when limited.
    pub max_overs: Option<Overs>,
    /// Runs per over.
    pub run_rate: Option<f64>,
    /// Extras by kind.
    pub extras: ExtrasCard,
    /// The target, when chasing.
    pub target: Option<Target>,
    /// Runs still needed to reach the target.
    pub runs_needed: Option<u32>,
    /// Legal balls left, when limited.
    pub balls_remaining: Option<u32>,
    /// Runs per over needed from here, while the chase is on.
    pub required_run_rate: Option<f64>,
    /// Why the innings ended, once it has.
    pub closed: Option<CloseReason>,
    /// Batters in order of going in.
    pub batting: Vec<BattingLine>,
    /// Listed players who have not batted (or not yet).
    pub did_not_bat: Vec<String>,
    /// Players who could not bat.
    pub absent_hurt: Vec<String>,
    /// Bowlers in order of first bowling.
    pub bowling: Vec<BowlingLine>,
    /// Each wicket's score and over.
    pub fall_of_wickets: Vec<FallOfWicket>,
    /// Runs added by each pair of batters, in order.
    pub partnerships: Vec<PartnershipLine>,
}

/// Extras by kind, and their sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ExtrasCard {
    /// Wides.
    pub wides: u32,
    /// No-ball penalties.
    pub noballs: u32,
    /// Byes.
    pub byes: u32,
    /// Leg byes.
    pub legbyes: u32,
    /// Penalty runs, on balls or not.
    pub penalty: u32,
    /// All of them.
    pub total: u32,
}

/// One batter's innings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BattingLine {
    /// The batter.
    pub name: String,
    /// Runs off the bat.
    pub runs: u32,
    /// Balls faced: every ball but wides.
    pub balls: u32,
    /// Fours hit to the boundary.
    pub fours: u32,
    /// Sixes.
    pub sixes: u32,
    /// Runs per hundred balls.
    pub strike_rate: Option<f64>,
    /// "c Banton b Higgins", "not out", "retired hurt".
    pub how_out: String,
    /// How out, when out.
    pub dismissal: Option<Dismissal>,
    /// At the crease now.
    pub at_crease: bool,
}

/// A dismissal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dismissal {
    /// How.
    pub kind: WicketKind,
    /// The bowler credited, if any.
    pub bowler: Option<String>,
    /// The fielders involved.
    pub fielders: Vec<String>,
}

/// One bowler's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BowlingLine {
    /// The bowler.
    pub name: String,
    /// Legal balls bowled, in overs.
    pub overs: Overs,
    /// Legal balls bowled.
    pub legal_balls: u32,
    /// Complete overs bowled alone without conceding a run.
    pub maidens: u32,
    /// Runs conceded: off the bat, wides and no-balls.
    pub runs: u32,
    /// Wickets credited.
    pub wickets: u32,
    /// Runs conceded per over.
    pub economy: Option<f64>,
    /// Legal balls that cost nothing.
    pub dots: u32,
    /// Fours conceded.
    pub fours: u32,
    /// Sixes conceded.
    pub sixes: u32,
    /// Wides bowled (balls).
    pub wides: u32,
    /// No-balls bowled (balls).
    pub noballs: u32,
}

/// A wicket's place in the innings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FallOfWicket {
    /// 1 for the first wicket.
    pub wicket: u32,
    /// The score when it fell.
    pub runs: u32,
    /// The overs when it fell.
    pub overs: Overs,
    /// Who was out.
    pub player: String,
}

/// Two batters together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartnershipLine {
    /// The pair.
    pub batters: [String; 2],
    /// Runs added (all runs off the balls they were together for).
    pub runs: u32,
    /// Legal balls.
    pub balls: u32,
    /// Still together.
    pub unbroken: bool,
}

impl Scorecard {
    /// The scorecard of a log of events.
    ///
    /// # Errors
    /// The first event refused, and why.
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = &'a MatchEvent>,
    ) -> Result<Self, ReplayError> {
        Ok(Match::replay(events)?.scorecard())
    }
}

pub(crate) fn derive(state: &State) -> Scorecard {
    let info = state.info.as_deref();
    let balls_per_over = info.map_or(6, |info| info.balls_per_over);
    let result = state.result();
    let squad = |team: &str| -> &[String] {
        info.and_then(|info| info.players.get(team))
            .map_or(&[], Vec::as_slice)
    };
    Scorecard {
        teams: info.map(|info| info.teams.to_vec()).unwrap_or_default(),
        format: info.map(|info| info.format),
        balls_per_over,
        status: state.status(),
        venue: info.and_then(|info| info.venue.clone()),
        toss: info.and_then(|info| info.toss.clone()),
        innings: (1..)
            .zip(&state.innings)
            .map(|(number, innings)| innings_card(number, innings, squad(&innings.team)))
            .collect(),
        summary: result.as_ref().map(ToString::to_string),
        result,
    }
}

fn innings_card(number: u32, innings: &Innings, squad: &[String]) -> InningsCard {
    let per_over = innings.balls_per_over;
    let overs = |balls| Overs::from_balls(balls, per_over);
    let open = innings.closed.is_none();
    let balls_remaining = innings
        .max_balls
        .map(|max| max.saturating_sub(innings.legal_balls));
    let runs_needed = innings
        .target
        .map(|target| target.runs.saturating_sub(innings.runs));
    let required_run_rate = match (runs_needed, balls_remaining) {
        (Some(needed), Some(balls)) if open => rate(needed, balls, per_over),
        _ => None,
    };
    let extras = innings.extras;
    InningsCard {
        number,
        team: innings.team.clone(),
        bowling_team: innings.bowling_team.clone(),
        super_over: innings.super_over,
        runs: innings.runs,
        wickets: innings.wickets,
        overs: innings.overs(),
        legal_balls: innings.legal_balls,
        max_overs: innings.max_balls.map(overs),
        run_rate: rate(innings.runs, innings.legal_balls, per_over),
        extras: ExtrasCard {
            wides: extras.wides,
            noballs: extras.noballs,
            byes: extras.byes,
            legbyes: extras.legbyes,
            penalty: extras.penalty,
            total: extras.total(),
        },
        target: innings.target,
        runs_needed,
        balls_remaining,
        required_run_rate,
        closed: innings.closed,
        batting: innings
            .batters
            .iter()
            .enumerate()
            .map(|(i, batter)| BattingLine {
                name: batter.name.clone(),
                runs: batter.runs,
                balls: batter.balls,
                fours: batter.fours,
                sixes: batter.sixes,
                strike_rate: rate(batter.runs, batter.balls, 100),
                how_out: how_out(&batter.state),
                dismissal: match &batter.state {
                    BatterState::Out {
                        kind,
                        bowler,
                        fielders,
                    } => Some(Dismissal {
                        kind: *kind,
                        bowler: bowler.clone(),
                        fielders: fielders.iter().map(fielder).collect(),
                    }),
                    BatterState::In | BatterState::Retired(_) => None,
                },
                at_crease: innings.crease.contains(&Some(i)),
            })
            .collect(),
        did_not_bat: squad
            .iter()
            .filter(|name| innings.batter(name).is_none() && !innings.absent_hurt.contains(name))
            .cloned()
            .collect(),
        absent_hurt: innings.absent_hurt.clone(),
        bowling: innings
            .bowlers
            .iter()
            .map(|bowler| BowlingLine {
                name: bowler.name.clone(),
                overs: overs(bowler.legal_balls),
                legal_balls: bowler.legal_balls,
                maidens: bowler.maidens,
                runs: bowler.runs,
                wickets: bowler.wickets,
                economy: rate(bowler.runs, bowler.legal_balls, per_over),
                dots: bowler.dots,
                fours: bowler.fours,
                sixes: bowler.sixes,
                wides: bowler.wides,
                noballs: bowler.noballs,
            })
            .collect(),
        fall_of_wickets: innings
            .fall
            .iter()
            .map(|fall| FallOfWicket {
                wicket: fall.wicket,
                runs: fall.runs,
                overs: overs(fall.legal_balls),
                player: fall.player.clone(),
            })
            .collect(),
        partnerships: innings
            .partnerships
            .iter()
            .map(|partnership| PartnershipLine {
                batters: partnership.pair.map(|i| innings.batters[i].name.clone()),
                runs: partnership.runs,
                balls: partnership.legal_balls,
                unbroken: partnership.open,
            })
            .collect(),
    }
}

/// `runs` per `per` balls, to two decimal places; none before a ball is bowled.
fn rate(runs: u32, balls: u32, per: u32) -> Option<f64> {
    (balls > 0).then(|| {
        let exact = f64::from(runs) * f64::from(per) / f64::from(balls);
        (exact * 100.0).round() / 100.0
    })
}

fn fielder(fielder: &Fielder) -> String {
    match (&fielder.name, fielder.substitute) {
        (Some(name), false) => name.clone(),
        (Some(name), true) => format!("sub ({name})"),
        (None, _) => "sub".to_owned(),
    }
}

/// How a scorecard writes a batter's state: "c Banton b Higgins".
fn how_out(state: &BatterState) -> String {
    let (kind, bowler, fielders) = match state {
        BatterState::In => return "not out".to_owned(),
        BatterState::Retired(kind) => return kind.to_string(),
        BatterState::Out {
            kind,
            bowler,
            fielders,
        } => (kind, bowler.as_deref().unwrap_or("?"), fielders),
    };
    let first = fielders.first().map_or_else(|| "?".to_owned(), fielder);
    match kind {
        WicketKind::Bowled => format!("b {bowler}"),
        WicketKind::Caught => format!("c {first} b {bowler}"),
        WicketKind::CaughtAndBowled => format!("c & b {bowler}"),
        WicketKind::Lbw => format!("lbw b {bowler}"),
        WicketKind::Stumped => format!("st {first} b {bowler}"),
        WicketKind::HitWicket => format!("hit wicket b {bowler}"),
        WicketKind::RunOut if !fielders.is_empty() => {
            let names: Vec<String> = fielders.iter().map(fielder).collect();
            format!("run out ({})", names.join("/"))
        }
        other => other.to_string(),
    }
}
