//! Cricsheet import: a match file in Cricsheet's JSON format (data versions 1.0.0 and
//! 1.1.0, <https://cricsheet.org/format/json/>) becomes the match information and the
//! ordered events that replay it ball by ball through [`Match::apply`].
//!
//! Deliveries deserialize straight into [`Delivery`], which shares Cricsheet's shape; the
//! rest of the file (info, innings) is read into private types here and mapped. Innings
//! that end by play (all out, overs bowled, target reached) close by themselves on replay;
//! the importer adds the closes play cannot show (declared, forfeited, or an innings cut
//! short before the next one), which it finds by replaying as it goes. So [`parse`] only
//! returns events that replay cleanly, and an error names the place in the file, as
//! `innings[1].overs[3].deliveries[2].runs.total: missing field`.
//!
//! Not imported: `miscounted_overs` (overs are counted from legal balls, so an over the
//! umpire miscounted shifts later over boundaries by the miscount), `bowl_out` deliveries
//! and `missing` (the file's notes on data it lacks).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::CricsheetError;
use crate::event::{CloseReason, MatchEvent};
use crate::model::{
    Competition, Delivery, Format, Margin, MatchInfo, MatchResult, Overs, Powerplay, Target, Toss,
};
use crate::state::{Match, MatchStatus};

/// A match read from a Cricsheet file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedMatch {
    /// The file's own details.
    pub meta: Meta,
    /// The match information (also the first event).
    pub info: MatchInfo,
    /// The events, in order: `Started`, then per innings `InningsStarted`, absent-hurt
    /// players, penalty runs before the first ball, each ball, penalty runs after the last,
    /// a close where play does not close it; finally `Ended`.
    pub events: Vec<MatchEvent>,
    /// The result as the file records it (also given by the final `Ended` event).
    pub outcome: Option<MatchResult>,
}

/// The file's own details.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Meta {
    /// The format version, e.g. "1.0.0".
    pub data_version: String,
    /// When the file was first created.
    #[serde(default)]
    pub created: Option<String>,
    /// The file's revision.
    #[serde(default)]
    pub revision: Option<u32>,
}

/// Reads a Cricsheet JSON match file.
///
/// # Errors
/// What is wrong and where: malformed JSON or a missing or mistyped field
/// ([`CricsheetError::Malformed`]), content that cannot describe a match
/// ([`CricsheetError::Invalid`]), or a record the match rules refuse
/// ([`CricsheetError::Rejected`]).
pub fn parse(bytes: &[u8]) -> Result<ImportedMatch, CricsheetError> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let file: File = serde_path_to_error::deserialize(&mut json).map_err(malformed)?;
    json.end()
        .map_err(|error| malformed_at(String::new(), &error))?;

    if !file.meta.data_version.starts_with("1.") {
        return Err(invalid(
            "meta.data_version",
            format!(
                "unsupported data version {} (1.x expected)",
                file.meta.data_version
            ),
        ));
    }
    let mut raw_info = file.info;
    let raw_outcome = raw_info.outcome.take();
    let info = match_info(raw_info)?;
    let mut replay = Replay::default();
    replay.push(MatchEvent::Started(Box::new(info.clone())), || {
        "info".to_owned()
    })?;

    let count = file.innings.len();
    for (i, innings) in file.innings.into_iter().enumerate() {
        let at = format!("innings[{i}]");
        let target = innings
            .target
            .map(|target| -> Result<Target, CricsheetError> {
                let overs = target
                    .overs
                    .map(|overs| overs_at(overs, || format!("{at}.target.overs")))
                    .transpose()?;
                Ok(Target {
                    runs: target.runs,
                    overs,
                })
            })
            .transpose()?;
        let powerplays = innings
            .powerplays
            .into_iter()
            .enumerate()
            .map(|(p, powerplay)| {
                Ok(Powerplay {
                    from: overs_at(powerplay.from, || format!("{at}.powerplays[{p}].from"))?,
                    to: overs_at(powerplay.to, || format!("{at}.powerplays[{p}].to"))?,
                    kind: powerplay.kind,
                })
            })
            .collect::<Result<Vec<_>, CricsheetError>>()?;
        replay.push(
            MatchEvent::InningsStarted {
                team: innings.team,
                target,
                super_over: innings.super_over,
                powerplays,
            },
            || at.clone(),
        )?;
        for (k, player) in innings.absent_hurt.into_iter().enumerate() {
            replay.push(MatchEvent::AbsentHurt { player }, || {
                format!("{at}.absent_hurt[{k}]")
            })?;
        }
        let penalty = innings.penalty_runs.unwrap_or_default();
        if penalty.pre > 0 {
            replay.push(MatchEvent::PenaltyRuns { runs: penalty.pre }, || {
                format!("{at}.penalty_runs.pre")
            })?;
        }
        let mut last_over = None;
        for (o, over) in innings.overs.into_iter().enumerate() {
            if last_over.is_some_and(|last| over.over <= last) {
                return Err(invalid(
                    &format!("{at}.overs[{o}].over"),
                    format!(
                        "over {} comes after over {}",
                        over.over,
                        last_over.unwrap_or(0)
                    ),
                ));
            }
            last_over = Some(over.over);
            for (d, delivery) in over.deliveries.into_iter().enumerate() {
                replay.push(MatchEvent::Ball(delivery), || {
                    format!("{at}.overs[{o}].deliveries[{d}]")
                })?;
            }
        }
        if penalty.post > 0 {
            replay.push(MatchEvent::PenaltyRuns { runs: penalty.post }, || {
                format!("{at}.penalty_runs.post")
            })?;
        }
        if replay.innings_open() {
            let reason = if innings.forfeited {
                Some(CloseReason::Forfeited)
            } else if innings.declared {
                Some(CloseReason::Declared)
            } else if i + 1 < count {
                // Cut short (rain, a reduced match) with another innings to follow.
                Some(CloseReason::Curtailed)
            } else {
                // The last innings: the final `Ended` closes it.
                None
            };
            if let Some(reason) = reason {
                replay.push(MatchEvent::InningsClosed { reason }, || at.clone())?;
            }
        }
    }

    let outcome = raw_outcome.and_then(outcome);
    replay.push(
        MatchEvent::Ended {
            result: outcome.clone(),
        },
        || "info.outcome".to_owned(),
    )?;
    Ok(ImportedMatch {
        meta: file.meta,
        info,
        events: replay.events,
        outcome,
    })
}

/// The events so far and the match they make, so each event is checked as it is added.
#[derive(Default)]
struct Replay {
    game: Match,
    events: Vec<MatchEvent>,
}

impl Replay {
    fn push(
        &mut self,
        event: MatchEvent,
        path: impl FnOnce() -> String,
    ) -> Result<(), CricsheetError> {
        self.game
            .apply(&event)
            .map_err(|error| CricsheetError::Rejected {
                path: path(),
                error,
            })?;
        self.events.push(event);
        Ok(())
    }

    fn innings_open(&self) -> bool {
        self.game.status() == MatchStatus::InProgress
    }
}

fn match_info(raw: RawInfo) -> Result<MatchInfo, CricsheetError> {
    let teams: [String; 2] = raw.teams.try_into().map_err(|teams: Vec<String>| {
        invalid("info.teams", format!("{} teams, two expected", teams.len()))
    })?;
    let format = match (raw.match_type.as_str(), raw.balls_per_over) {
        // The Hundred is recorded as T20 in overs of five balls.
        ("T20" | "IT20", 5) => Format::Hundred,
        ("T20" | "IT20", _) => Format::T20,
        ("ODI" | "ODM", _) => Format::Odi,
        ("Test" | "MDM", _) => Format::Test,
        (other, _) => {
            return Err(invalid(
                "info.match_type",
                format!("unknown match type {other:?}"),
            ));
        }
    };
    let overs = match format {
        Format::Test => raw.overs,
        _ => raw.overs.or(format.overs()),
    };
    Ok(MatchInfo {
        teams,
        format,
        balls_per_over: raw.balls_per_over,
        overs,
        players: raw.players,
        toss: raw.toss,
        venue: raw.venue,
        city: raw.city,
        dates: raw.dates,
        event: raw.event.map(|event| Competition {
            name: event.name,
            match_number: event.match_number,
            group: event.group.map(Text::into_string),
            stage: event.stage,
            sub_name: event.sub_name,
        }),
        gender: raw.gender,
        season: raw.season.map(Text::into_string),
        team_type: raw.team_type,
        match_type: Some(raw.match_type),
        match_type_number: raw.match_type_number,
        officials: raw.officials,
        player_of_match: raw.player_of_match,
        registry: raw.registry.people,
        supersubs: raw.supersubs,
    })
}

/// The file's outcome as a result, if it records one.
fn outcome(raw: RawOutcome) -> Option<MatchResult> {
    match raw.result.as_deref() {
        Some("draw") => return Some(MatchResult::Draw),
        Some("no result") => return Some(MatchResult::NoResult),
        Some("tie") => {
            return Some(MatchResult::Tie {
                winner: raw.eliminator.or(raw.bowl_out),
            });
        }
        _ => {}
    }
    let by = raw.by.unwrap_or_default();
    let margin = match (by.innings, by.runs, by.wickets) {
        (Some(_), Some(runs), _) => Some(Margin::InningsAndRuns(runs)),
        (None, Some(runs), _) => Some(Margin::Runs(runs)),
        (_, None, Some(wickets)) => Some(Margin::Wickets(wickets)),
        _ => None,
    };
    Some(MatchResult::Win {
        winner: raw.winner?,
        margin,
        method: raw.method,
    })
}

/// Overs written as a JSON number (`5.6`, `20`) as cricket writes them.
fn overs_at(number: f64, path: impl FnOnce() -> String) -> Result<Overs, CricsheetError> {
    // The shortest decimal that reads back as the same number is how the file wrote it.
    number
        .to_string()
        .parse()
        .map_err(|_| invalid(&path(), format!("{number} is not overs written as O.B")))
}

fn invalid(path: &str, message: String) -> CricsheetError {
    CricsheetError::Invalid {
        path: path.to_owned(),
        message,
    }
}

fn malformed(error: serde_path_to_error::Error<serde_json::Error>) -> CricsheetError {
    let path = error.path().to_string();
    malformed_at(path, error.inner())
}

fn malformed_at(mut path: String, error: &serde_json::Error) -> CricsheetError {
    let (line, column) = (error.line(), error.column());
    let mut message = error.to_string();
    // serde_json appends the position, which is reported on its own.
    if let Some(bare) = message.strip_suffix(&format!(" at line {line} column {column}")) {
        message = bare.to_owned();
    }
    // Name a missing field in the path, as `runs.total: missing field`.
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        path = if path.is_empty() || path == "." {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        };
        message = "missing field".to_owned();
    }
    if path.is_empty() {
        path.push('.');
    }
    CricsheetError::Malformed {
        path,
        message,
        line,
        column,
    }
}

// The file as Cricsheet writes it, where it differs from the model.

#[derive(Deserialize)]
struct File {
    meta: Meta,
    info: RawInfo,
    #[serde(default)]
    innings: Vec<RawInnings>,
}

#[derive(Deserialize)]
struct RawInfo {
    balls_per_over: u32,
    teams: Vec<String>,
    match_type: String,
    #[serde(default)]
    overs: Option<u32>,
    #[serde(default)]
    players: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    registry: Registry,
    #[serde(default)]
    toss: Option<Toss>,
    #[serde(default)]
    outcome: Option<RawOutcome>,
    #[serde(default)]
    venue: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    dates: Vec<String>,
    #[serde(default)]
    event: Option<RawEvent>,
    #[serde(default)]
    gender: Option<String>,
    #[serde(default)]
    season: Option<Text>,
    #[serde(default)]
    team_type: Option<String>,
    #[serde(default)]
    match_type_number: Option<u32>,
    #[serde(default)]
    officials: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    player_of_match: Vec<String>,
    #[serde(default)]
    supersubs: BTreeMap<String, String>,
}

#[derive(Default, Deserialize)]
struct Registry {
    #[serde(default)]
    people: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    match_number: Option<u32>,
    #[serde(default)]
    group: Option<Text>,
    #[serde(default)]
    stage: Option<String>,
    #[serde(default)]
    sub_name: Option<String>,
}

/// A field Cricsheet writes as a string in some files and a number in others (`season`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    String(String),
    Number(serde_json::Number),
}

impl Text {
    fn into_string(self) -> String {
        match self {
            Self::String(text) => text,
            Self::Number(number) => number.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct RawOutcome {
    #[serde(default)]
    winner: Option<String>,
    #[serde(default)]
    by: Option<RawBy>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    eliminator: Option<String>,
    #[serde(default)]
    bowl_out: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawBy {
    #[serde(default)]
    runs: Option<u32>,
    #[serde(default)]
    wickets: Option<u32>,
    #[serde(default)]
    innings: Option<u32>,
}

#[derive(Deserialize)]
struct RawInnings {
    team: String,
    #[serde(default)]
    overs: Vec<RawOver>,
    #[serde(default)]
    absent_hurt: Vec<String>,
    #[serde(default)]
    penalty_runs: Option<RawPenalty>,
    #[serde(default)]
    declared: bool,
    #[serde(default)]
    forfeited: bool,
    #[serde(default)]
    powerplays: Vec<RawPowerplay>,
    #[serde(default)]
    target: Option<RawTarget>,
    #[serde(default)]
    super_over: bool,
}

#[derive(Deserialize)]
struct RawOver {
    over: u32,
    deliveries: Vec<Delivery>,
}

#[derive(Clone, Copy, Default, Deserialize)]
struct RawPenalty {
    #[serde(default)]
    pre: u32,
    #[serde(default)]
    post: u32,
}

#[derive(Deserialize)]
struct RawPowerplay {
    from: f64,
    to: f64,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct RawTarget {
    runs: u32,
    #[serde(default)]
    overs: Option<f64>,
}
