//! The vocabulary of a match: who plays, under which rules, and what happened on one ball.
//!
//! A [`Delivery`] has the shape of a delivery in Cricsheet's JSON format (field names,
//! extras kinds, wicket kinds spelled as Cricsheet spells them), so a delivery from a
//! Cricsheet file deserializes straight into it and the service's stored events read like
//! Cricsheet. Counts are `u32`: a negative run is unrepresentable, and whether the parts add
//! up is checked when a ball is applied, not here.
//!
//! This module knows nothing about match state, validation or scorecards.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The rules a match is played under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Twenty overs a side.
    T20,
    /// Fifty overs a side.
    Odi,
    /// Two innings a side, no over limit.
    Test,
    /// 100 balls a side, in "overs" of five balls.
    Hundred,
}

impl Format {
    /// Balls in an over under this format's usual rules.
    #[must_use]
    pub const fn balls_per_over(self) -> u32 {
        match self {
            Self::Hundred => 5,
            Self::T20 | Self::Odi | Self::Test => 6,
        }
    }

    /// Overs per innings under this format's usual rules (`None`: unlimited).
    #[must_use]
    pub const fn overs(self) -> Option<u32> {
        match self {
            Self::T20 | Self::Hundred => Some(20),
            Self::Odi => Some(50),
            Self::Test => None,
        }
    }

    /// How many innings each side may bat (super overs aside).
    #[must_use]
    pub const fn innings_per_side(self) -> usize {
        match self {
            Self::Test => 2,
            Self::T20 | Self::Odi | Self::Hundred => 1,
        }
    }
}

/// What the toss winner chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TossDecision {
    /// Bat first.
    Bat,
    /// Field (bowl) first.
    Field,
}

/// The toss.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toss {
    /// The team that won it.
    pub winner: String,
    /// What it chose.
    pub decision: TossDecision,
    /// True where the away side may choose without a toss (County Championship 2016-19).
    #[serde(default, skip_serializing_if = "is_false")]
    pub uncontested: bool,
}

/// The competition a match belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Competition {
    /// Its name, e.g. "Indian Premier League".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The match's number within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_number: Option<u32>,
    /// The group, for group stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The stage, e.g. "Final".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// A sub-name, e.g. a series' sponsor name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_name: Option<String>,
}

/// Everything known about a match before the first ball: the teams, the rules, the squads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchInfo {
    /// The two teams.
    pub teams: [String; 2],
    /// The format.
    pub format: Format,
    /// Balls in an over (legal deliveries; 5 in The Hundred).
    pub balls_per_over: u32,
    /// Overs per innings; `None` for unlimited (Test) cricket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overs: Option<u32>,
    /// Squads by team name. A team with a listed squad has every batter and bowler checked
    /// against it, and its innings is all out when all but one of the (at most eleven)
    /// listed batters are out. A team not listed is not checked and has ten wickets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub players: BTreeMap<String, Vec<String>>,
    /// The toss, once it has happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toss: Option<Toss>,
    /// The ground.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    /// The city.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Days of play, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dates: Vec<String>,
    /// The competition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Competition>,
    /// "male" or "female".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// The season, e.g. "2007/08".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub season: Option<String>,
    /// "international" or "club".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_type: Option<String>,
    /// The source's own match type where it says more than [`Format`] (e.g. "IT20", "MDM").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_type: Option<String>,
    /// The match's number among matches of its type (e.g. ODI no. 4282).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_type_number: Option<u32>,
    /// Officials by role (`umpires`, `tv_umpires`, `match_referees`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub officials: BTreeMap<String, Vec<String>>,
    /// Player(s) of the match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub player_of_match: Vec<String>,
    /// A stable identifier per person named anywhere in the match (Cricsheet's registry).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub registry: BTreeMap<String, String>,
    /// Super-subs by team (ODIs of 2005-06).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub supersubs: BTreeMap<String, String>,
}

impl MatchInfo {
    /// A match between two teams under a format's usual rules, with nothing else known.
    #[must_use]
    pub fn new(home: impl Into<String>, away: impl Into<String>, format: Format) -> Self {
        Self {
            teams: [home.into(), away.into()],
            format,
            balls_per_over: format.balls_per_over(),
            overs: format.overs(),
            players: BTreeMap::new(),
            toss: None,
            venue: None,
            city: None,
            dates: Vec::new(),
            event: None,
            gender: None,
            season: None,
            team_type: None,
            match_type: None,
            match_type_number: None,
            officials: BTreeMap::new(),
            player_of_match: Vec::new(),
            registry: BTreeMap::new(),
            supersubs: BTreeMap::new(),
        }
    }

    /// The other team, if `team` is one of the two.
    #[must_use]
    pub fn opponent(&self, team: &str) -> Option<&str> {
        match &self.teams {
            [a, b] if a == team => Some(b),
            [a, b] if b == team => Some(a),
            _ => None,
        }
    }
}

/// One ball: who bowled it to whom, what it was worth and who was out. Same field names as
/// a Cricsheet delivery.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The batter on strike.
    pub batter: String,
    /// The bowler.
    pub bowler: String,
    /// The other batter.
    pub non_striker: String,
    /// Runs off this ball.
    pub runs: Runs,
    /// Extras by kind; their sum is `runs.extras`.
    #[serde(default, skip_serializing_if = "Extras::is_zero")]
    pub extras: Extras,
    /// Dismissals and retirements on this ball, usually none or one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wickets: Vec<Wicket>,
    /// Players replaced on this ball (concussion, impact player, a bowler unable to finish
    /// an over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacements: Option<Replacements>,
    /// A decision review on this ball.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
}

impl Delivery {
    /// A ball with no extras and no wicket: `runs` off the bat.
    #[must_use]
    pub fn new(
        batter: impl Into<String>,
        non_striker: impl Into<String>,
        bowler: impl Into<String>,
        runs: u32,
    ) -> Self {
        Self {
            batter: batter.into(),
            bowler: bowler.into(),
            non_striker: non_striker.into(),
            runs: Runs {
                batter: runs,
                extras: 0,
                total: runs,
                non_boundary: false,
            },
            ..Self::default()
        }
    }

    /// The same ball with `extras` added (totals kept consistent).
    #[must_use]
    pub fn with_extras(mut self, extras: Extras) -> Self {
        self.extras = extras;
        self.runs.extras = extras.total();
        // Saturating: absurd counts are refused when the ball is applied, not here.
        self.runs.total = self.runs.batter.saturating_add(self.runs.extras);
        self
    }

    /// The same ball with a wicket added.
    #[must_use]
    pub fn with_wicket(mut self, wicket: Wicket) -> Self {
        self.wickets.push(wicket);
        self
    }

    /// True unless it is a wide or a no-ball: only legal balls count towards an over.
    #[must_use]
    pub const fn is_legal(&self) -> bool {
        self.extras.wides == 0 && self.extras.noballs == 0
    }
}

/// Runs off one ball.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runs {
    /// Runs credited to the batter.
    pub batter: u32,
    /// Extras (all kinds).
    pub extras: u32,
    /// `batter + extras`.
    pub total: u32,
    /// True when a 4 or 6 was run rather than hit to the boundary (it is then not counted
    /// among the batter's fours or sixes).
    #[serde(default, skip_serializing_if = "is_false")]
    pub non_boundary: bool,
}

/// Extras by kind. On one ball these add up to [`Runs::extras`]; over an innings they are
/// the scorecard's extras.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extras {
    /// Wides, including any runs run or boundaries off a wide.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wides: u32,
    /// The no-ball penalty (runs off the bat on a no-ball are the batter's).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub noballs: u32,
    /// Byes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub byes: u32,
    /// Leg byes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub legbyes: u32,
    /// Penalty runs awarded on this ball.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub penalty: u32,
}

impl Extras {
    /// Wides only.
    #[must_use]
    pub fn wides(runs: u32) -> Self {
        Self {
            wides: runs,
            ..Self::default()
        }
    }

    /// A no-ball penalty only.
    #[must_use]
    pub fn noballs(runs: u32) -> Self {
        Self {
            noballs: runs,
            ..Self::default()
        }
    }

    /// Byes only.
    #[must_use]
    pub fn byes(runs: u32) -> Self {
        Self {
            byes: runs,
            ..Self::default()
        }
    }

    /// Leg byes only.
    #[must_use]
    pub fn legbyes(runs: u32) -> Self {
        Self {
            legbyes: runs,
            ..Self::default()
        }
    }

    /// Penalty runs only.
    #[must_use]
    pub fn penalty(runs: u32) -> Self {
        Self {
            penalty: runs,
            ..Self::default()
        }
    }

    /// The sum of all kinds, or `None` if it does not fit a `u32`.
    #[must_use]
    pub fn checked_total(&self) -> Option<u32> {
        self.wides
            .checked_add(self.noballs)?
            .checked_add(self.byes)?
            .checked_add(self.legbyes)?
            .checked_add(self.penalty)
    }

    /// The sum of all kinds (saturating; validated balls never come near the limit).
    #[must_use]
    pub fn total(&self) -> u32 {
        self.checked_total().unwrap_or(u32::MAX)
    }

    /// True when there are no extras.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    pub(crate) fn add(&mut self, other: &Self) {
        self.wides += other.wides;
        self.noballs += other.noballs;
        self.byes += other.byes;
        self.legbyes += other.legbyes;
        self.penalty += other.penalty;
    }
}

/// How a batter was out, or left the crease without being out. Spelled as in Cricsheet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WicketKind {
    /// Bowled.
    #[serde(rename = "bowled")]
    Bowled,
    /// Caught by a fielder.
    #[serde(rename = "caught")]
    Caught,
    /// Caught by the bowler.
    #[serde(rename = "caught and bowled")]
    CaughtAndBowled,
    /// Leg before wicket.
    #[serde(rename = "lbw")]
    Lbw,
    /// Stumped.
    #[serde(rename = "stumped")]
    Stumped,
    /// Run out.
    #[serde(rename = "run out")]
    RunOut,
    /// Hit wicket.
    #[serde(rename = "hit wicket")]
    HitWicket,
    /// Hit the ball twice.
    #[serde(rename = "hit the ball twice")]
    HitTheBallTwice,
    /// Handled the ball (folded into obstructing the field since 2017, still in old data).
    #[serde(rename = "handled the ball")]
    HandledTheBall,
    /// Obstructing the field.
    #[serde(rename = "obstructing the field")]
    ObstructingTheField,
    /// Timed out: the incoming batter was not ready in time.
    #[serde(rename = "timed out")]
    TimedOut,
    /// Retired hurt: not out, may resume.
    #[serde(rename = "retired hurt")]
    RetiredHurt,
    /// Retired not out (other than hurt): not out, may resume with the captain's consent.
    #[serde(rename = "retired not out")]
    RetiredNotOut,
    /// Retired out: a dismissal.
    #[serde(rename = "retired out")]
    RetiredOut,
}

impl WicketKind {
    /// True if it costs the batting side a wicket. Retiring hurt or not out does not.
    #[must_use]
    pub const fn is_dismissal(self) -> bool {
        !matches!(self, Self::RetiredHurt | Self::RetiredNotOut)
    }

    /// True if the bowler is credited with the wicket.
    #[must_use]
    pub const fn credited_to_bowler(self) -> bool {
        matches!(
            self,
            Self::Bowled
                | Self::Caught
                | Self::CaughtAndBowled
                | Self::Lbw
                | Self::Stumped
                | Self::HitWicket
        )
    }

    /// True for the ways out that only the batter on strike can suffer.
    #[must_use]
    pub const fn striker_only(self) -> bool {
        matches!(
            self,
            Self::Bowled
                | Self::Caught
                | Self::CaughtAndBowled
                | Self::Lbw
                | Self::Stumped
                | Self::HitWicket
                | Self::HitTheBallTwice
                | Self::HandledTheBall
        )
    }

    /// How a scorecard writes it without names ("caught", "run out", ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bowled => "bowled",
            Self::Caught => "caught",
            Self::CaughtAndBowled => "caught and bowled",
            Self::Lbw => "lbw",
            Self::Stumped => "stumped",
            Self::RunOut => "run out",
            Self::HitWicket => "hit wicket",
            Self::HitTheBallTwice => "hit the ball twice",
            Self::HandledTheBall => "handled the ball",
            Self::ObstructingTheField => "obstructing the field",
            Self::TimedOut => "timed out",
            Self::RetiredHurt => "retired hurt",
            Self::RetiredNotOut => "retired not out",
            Self::RetiredOut => "retired out",
        }
    }
}

impl fmt::Display for WicketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A batter out (or retired) on a ball.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wicket {
    /// Who is out: the batter or the non-striker (or, when timed out, the incoming batter).
    pub player_out: String,
    /// How.
    pub kind: WicketKind,
    /// Fielders involved (the catcher, the keeper, the run-out throwers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fielders: Vec<Fielder>,
}

impl Wicket {
    /// A wicket with no fielder named.
    #[must_use]
    pub fn new(player_out: impl Into<String>, kind: WicketKind) -> Self {
        Self {
            player_out: player_out.into(),
            kind,
            fielders: Vec::new(),
        }
    }

    /// The same wicket with a fielder added.
    #[must_use]
    pub fn by(mut self, fielder: impl Into<String>) -> Self {
        self.fielders.push(Fielder {
            name: Some(fielder.into()),
            substitute: false,
        });
        self
    }
}

/// A fielder involved in a dismissal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fielder {
    /// The fielder's name (a substitute may be unnamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// True for a substitute fielder.
    #[serde(default, skip_serializing_if = "is_false")]
    pub substitute: bool,
}

/// Replacements made on a ball.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacements {
    /// A player replaced for the rest of the match (concussion or injury substitute, impact
    /// player, super-sub, national call-up). The player coming in joins the team's squad.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub in_match: Vec<MatchReplacement>,
    /// A player replaced in a role for now, e.g. a bowler who cannot finish an over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub role: Vec<RoleReplacement>,
}

/// A player replaced for the rest of the match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchReplacement {
    /// Their team.
    pub team: String,
    /// The player coming in.
    #[serde(rename = "in")]
    pub player_in: String,
    /// The player going out.
    #[serde(rename = "out")]
    pub player_out: String,
    /// Why, e.g. "concussion_substitute", "impact_player".
    pub reason: String,
}

/// A player replaced in a role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleReplacement {
    /// The player taking the role.
    #[serde(rename = "in")]
    pub player_in: String,
    /// The player leaving it.
    #[serde(default, rename = "out", skip_serializing_if = "Option::is_none")]
    pub player_out: Option<String>,
    /// Why, e.g. "injury", "excessive_underarm".
    pub reason: String,
    /// The role, e.g. "bowler".
    pub role: String,
}

/// A decision review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// The team asking.
    pub by: String,
    /// The umpire whose decision was reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umpire: Option<String>,
    /// The batter concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batter: Option<String>,
    /// "struck down" or "upheld".
    pub decision: String,
    /// What was reviewed, e.g. "wicket".
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// True when the decision stood on umpire's call.
    #[serde(default, skip_serializing_if = "is_false")]
    pub umpires_call: bool,
}

/// An amount of overs as cricket writes it: `19.4` is 19 overs and 4 balls. Serialized as
/// that string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Overs {
    /// Completed overs.
    pub overs: u32,
    /// Balls of the over in progress.
    pub balls: u32,
}

impl Overs {
    /// Whole overs.
    #[must_use]
    pub const fn whole(overs: u32) -> Self {
        Self { overs, balls: 0 }
    }

    /// `legal_balls` written in overs of `balls_per_over`.
    #[must_use]
    pub const fn from_balls(legal_balls: u32, balls_per_over: u32) -> Self {
        if balls_per_over == 0 {
            return Self {
                overs: 0,
                balls: legal_balls,
            };
        }
        Self {
            overs: legal_balls / balls_per_over,
            balls: legal_balls % balls_per_over,
        }
    }

    /// The number of legal balls, with overs of `balls_per_over` (saturating).
    #[must_use]
    pub const fn to_balls(self, balls_per_over: u32) -> u32 {
        self.overs
            .saturating_mul(balls_per_over)
            .saturating_add(self.balls)
    }
}

impl fmt::Display for Overs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.balls == 0 {
            write!(f, "{}", self.overs)
        } else {
            write!(f, "{}.{}", self.overs, self.balls)
        }
    }
}

/// The text was not overs written as `O` or `O.B`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not overs written as O or O.B: {0:?}")]
pub struct ParseOversError(pub String);

impl FromStr for Overs {
    type Err = ParseOversError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParseOversError(text.to_owned());
        let (overs, balls) = match text.split_once('.') {
            Some((overs, balls)) => (overs, Some(balls)),
            None => (text, None),
        };
        let overs = overs.parse().map_err(|_| bad())?;
        let balls = match balls {
            Some(balls) => balls.parse().map_err(|_| bad())?,
            None => 0,
        };
        Ok(Self { overs, balls })
    }
}

impl Serialize for Overs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Overs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What the side batting last must reach: `runs` (to win), within `overs` when the innings
/// was shortened or the target revised (e.g. by DLS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Runs to win.
    pub runs: u32,
    /// The innings' overs, if not the match's usual number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overs: Option<Overs>,
}

/// A powerplay: fielding restrictions from one ball to another (`from` 0.1 `to` 5.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Powerplay {
    /// First ball, as over.ball (the ball counted from 1).
    pub from: Overs,
    /// Last ball, as over.ball.
    pub to: Overs,
    /// "mandatory", "batting" or "fielding".
    pub kind: String,
}

/// How a match ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MatchResult {
    /// One side won.
    Win {
        /// The winner.
        winner: String,
        /// By how much, when play decided it (not for an awarded match).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        margin: Option<Margin>,
        /// How it was decided when not plainly on runs, e.g. "D/L", "Awarded".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<String>,
    },
    /// Scores level with the side batting last all out or out of overs.
    Tie {
        /// Who won the super over or bowl-out that broke the tie, if one did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        winner: Option<String>,
    },
    /// An unlimited-overs match not finished in time.
    Draw,
    /// A limited-overs match that could not be decided.
    NoResult,
}

/// A winning margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Margin {
    /// The side batting first won by this many runs.
    Runs(u32),
    /// The side batting last won with this many wickets in hand.
    Wickets(u32),
    /// The winner batted once and still led by this many runs.
    InningsAndRuns(u32),
}

impl fmt::Display for MatchResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Win {
                winner,
                margin,
                method,
            } => {
                write!(f, "{winner} won")?;
                match margin {
                    Some(Margin::Runs(n)) => write!(f, " by {n} {}", plural(*n, "run", "runs"))?,
                    Some(Margin::Wickets(n)) => {
                        write!(f, " by {n} {}", plural(*n, "wicket", "wickets"))?;
                    }
                    Some(Margin::InningsAndRuns(n)) => {
                        write!(f, " by an innings and {n} {}", plural(*n, "run", "runs"))?;
                    }
                    None => {}
                }
                match method {
                    Some(method) => write!(f, " ({method})"),
                    None => Ok(()),
                }
            }
            Self::Tie {
                winner: Some(winner),
            } => write!(f, "Match tied ({winner} won the tie-breaker)"),
            Self::Tie { winner: None } => f.write_str("Match tied"),
            Self::Draw => f.write_str("Match drawn"),
            Self::NoResult => f.write_str("No result"),
        }
    }
}

const fn plural(n: u32, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
const fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
const fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overs_are_written_as_cricket_writes_them() {
        assert_eq!(Overs::from_balls(118, 6).to_string(), "19.4");
        assert_eq!(Overs::from_balls(120, 6).to_string(), "20");
        assert_eq!(Overs::from_balls(98, 5).to_string(), "19.3");
        assert_eq!(
            "19.4".parse::<Overs>(),
            Ok(Overs {
                overs: 19,
                balls: 4
            })
        );
        assert_eq!("20".parse::<Overs>(), Ok(Overs::whole(20)));
        assert!("x.1".parse::<Overs>().is_err());
        assert_eq!(
            Overs {
                overs: 19,
                balls: 4
            }
            .to_balls(6),
            118
        );
    }

    #[test]
    fn a_cricsheet_delivery_deserializes_as_is() {
        let json = r#"{"batter": "M Vijay", "bowler": "SL Malinga",
            "extras": {"penalty": 5, "wides": 2}, "non_striker": "Q de Kock",
            "runs": {"batter": 0, "extras": 7, "total": 7},
            "wickets": [{"kind": "run out", "player_out": "M Vijay",
                         "fielders": [{"name": "X"}, {"name": "Y", "substitute": true}]}]}"#;
        let delivery: Delivery = serde_json::from_str(json).unwrap();
        assert_eq!(delivery.extras.total(), 7);
        assert!(!delivery.is_legal());
        assert_eq!(delivery.wickets[0].kind, WicketKind::RunOut);
        assert!(delivery.wickets[0].fielders[1].substitute);
        let back: Delivery =
            serde_json::from_str(&serde_json::to_string(&delivery).unwrap()).unwrap();
        assert_eq!(back, delivery);
    }

    #[test]
    fn results_read_as_a_scorecard_writes_them() {
        let win = MatchResult::Win {
            winner: "KKR".into(),
            margin: Some(Margin::Runs(140)),
            method: None,
        };
        assert_eq!(win.to_string(), "KKR won by 140 runs");
        let dl = MatchResult::Win {
            winner: "DD".into(),
            margin: Some(Margin::Wickets(1)),
            method: Some("D/L".into()),
        };
        assert_eq!(dl.to_string(), "DD won by 1 wicket (D/L)");
        assert_eq!(
            serde_json::to_value(&win).unwrap(),
            serde_json::json!({"type": "win", "winner": "KKR", "margin": {"runs": 140}})
        );
    }
}
