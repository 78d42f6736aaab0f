//! Real Cricsheet files (tests/fixtures, ODC-BY 1.0, see the README there) imported and
//! replayed ball by ball through `Match::apply`; the scorecard is checked against totals
//! computed here straight from the file's JSON, without the crate's counting rules. Plus
//! malformed files, which must say what is wrong and where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use cricket::cricsheet::{self, ImportedMatch};
use cricket::{CricsheetError, Margin, Match, MatchEvent, MatchResult, MatchStatus, Scorecard};
use serde_json::Value;

const IPL_2008: &str = "335982.json";
const IPL_2014: &str = "729309.json";
const HUNDRED: &str = "hundred_2021-08-18_LondonSpirit_v_WelshFire.json";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Imports a file and replays its events one by one, as a match room would.
fn replay(name: &str) -> (ImportedMatch, Match) {
    let imported = cricsheet::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut game = Match::new();
    for (i, event) in imported.events.iter().enumerate() {
        game.apply(event)
            .unwrap_or_else(|e| panic!("{name}: event {i} ({event:?}) refused: {e}"));
    }
    (imported, game)
}

/// An innings' figures, summed from the raw JSON.
#[derive(Debug, Default)]
struct Expected {
    team: String,
    runs: u64,
    wickets: u64,
    legal_balls: u64,
    extras: BTreeMap<&'static str, u64>,
    /// Per batter: runs, balls faced (every delivery but wides).
    batters: BTreeMap<String, (u64, u64)>,
    /// Per bowler: runs charged (bat + wides + no-balls), legal balls.
    bowlers: BTreeMap<String, (u64, u64)>,
}

const KINDS: [&str; 5] = ["wides", "noballs", "byes", "legbyes", "penalty"];

fn expected(file: &Value) -> Vec<Expected> {
    let num = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64).unwrap_or(0);
    let mut all = Vec::new();
    for innings in file["innings"].as_array().unwrap() {
        let mut e = Expected {
            team: innings["team"].as_str().unwrap().to_owned(),
            ..Expected::default()
        };
        let penalty = &innings["penalty_runs"];
        let outside = num(penalty, "pre") + num(penalty, "post");
        e.runs += outside;
        *e.extras.entry("penalty").or_default() += outside;
        for over in innings["overs"].as_array().unwrap() {
            for ball in over["deliveries"].as_array().unwrap() {
                let extras = &ball["extras"];
                let wides = num(extras, "wides");
                let noballs = num(extras, "noballs");
                e.runs += num(&ball["runs"], "total");
                for kind in KINDS {
                    *e.extras.entry(kind).or_default() += num(extras, kind);
                }
                let legal = wides == 0 && noballs == 0;
                e.legal_balls += u64::from(legal);
                for wicket in ball["wickets"].as_array().into_iter().flatten() {
                    let kind = wicket["kind"].as_str().unwrap();
                    e.wickets += u64::from(kind != "retired hurt" && kind != "retired not out");
                }
                let bat = num(&ball["runs"], "batter");
                let batter = e
                    .batters
                    .entry(ball["batter"].as_str().unwrap().to_owned())
                    .or_default();
                batter.0 += bat;
                batter.1 += u64::from(wides == 0);
                let bowler = e
                    .bowlers
                    .entry(ball["bowler"].as_str().unwrap().to_owned())
                    .or_default();
                bowler.0 += bat + wides + noballs;
                bowler.1 += u64::from(legal);
            }
        }
        all.push(e);
    }
    all
}

fn check_against_file(name: &str) -> (ImportedMatch, Match, Scorecard) {
    let file: Value = serde_json::from_slice(&fixture(name)).unwrap();
    let per_over = file["info"]["balls_per_over"].as_u64().unwrap();
    let (imported, game) = replay(name);
    let card = game.scorecard();
    // The JSON a client sees: `innings[].{team, runs, wickets, overs, extras}`.
    let json = serde_json::to_value(&card).unwrap();
    let innings = json["innings"].as_array().unwrap();
    let expected = expected(&file);
    assert_eq!(innings.len(), expected.len(), "{name}: innings");
    for (i, (got, want)) in innings.iter().zip(&expected).enumerate() {
        let at = format!("{name} innings {i}");
        assert_eq!(got["team"], want.team.as_str(), "{at}: team");
        assert_eq!(got["runs"], want.runs, "{at}: runs");
        assert_eq!(got["wickets"], want.wickets, "{at}: wickets");
        let overs = if want.legal_balls % per_over == 0 {
            format!("{}", want.legal_balls / per_over)
        } else {
            format!(
                "{}.{}",
                want.legal_balls / per_over,
                want.legal_balls % per_over
            )
        };
        assert_eq!(got["overs"], overs.as_str(), "{at}: overs");
        for kind in KINDS {
            assert_eq!(
                got["extras"][kind], want.extras[kind],
                "{at}: extras.{kind}"
            );
        }
        assert_eq!(
            got["extras"]["total"],
            want.extras.values().sum::<u64>(),
            "{at}: extras.total"
        );
        for line in got["batting"].as_array().unwrap() {
            let batter = line["name"].as_str().unwrap();
            // A batter out without facing (run out backing up, timed out) is not in the sums.
            let (runs, balls) = want.batters.get(batter).copied().unwrap_or_default();
            assert_eq!(line["runs"], runs, "{at}: {batter} runs");
            assert_eq!(line["balls"], balls, "{at}: {batter} balls");
        }
        let bowling = got["bowling"].as_array().unwrap();
        assert_eq!(bowling.len(), want.bowlers.len(), "{at}: bowlers");
        for line in bowling {
            let bowler = line["name"].as_str().unwrap();
            let (runs, balls) = want.bowlers[bowler];
            assert_eq!(line["runs"], runs, "{at}: {bowler} runs");
            assert_eq!(line["legal_balls"], balls, "{at}: {bowler} balls");
        }
        let fall = got["fall_of_wickets"].as_array().unwrap();
        assert_eq!(fall.len() as u64, want.wickets, "{at}: fall of wickets");
    }

    // Play alone decides these matches the way the file records.
    let (last, before) = imported.events.split_last().unwrap();
    assert!(matches!(last, MatchEvent::Ended { .. }));
    let decided = Match::replay(before).unwrap();
    assert_eq!(decided.status(), MatchStatus::Completed, "{name}");
    assert_eq!(decided.result(), imported.outcome, "{name}: result");
    assert_eq!(card.result, imported.outcome, "{name}: result");

    // The scorecard is a pure function of the events in effect.
    assert_eq!(Scorecard::from_events(game.events()).unwrap(), card);
    (imported, game, card)
}

#[test]
fn ipl_2008_data_version_1_0_0() {
    let (imported, _, card) = check_against_file(IPL_2008);
    assert_eq!(imported.meta.data_version, "1.0.0");
    assert_eq!(imported.info.balls_per_over, 6);
    assert_eq!(
        imported.outcome,
        Some(MatchResult::Win {
            winner: "Kolkata Knight Riders".into(),
            margin: Some(Margin::Runs(140)),
            method: None,
        })
    );
    let kkr = &card.innings[0];
    assert_eq!(
        (kkr.runs, kkr.wickets, kkr.overs.to_string().as_str()),
        (222, 3, "20")
    );
    let mccullum = kkr
        .batting
        .iter()
        .find(|b| b.name == "BB McCullum")
        .unwrap();
    assert_eq!((mccullum.runs, mccullum.how_out.as_str()), (158, "not out"));
    assert_eq!(
        card.summary.as_deref(),
        Some("Kolkata Knight Riders won by 140 runs")
    );
    let rcb = &card.innings[1];
    assert_eq!(rcb.target.map(|t| t.runs), Some(223));
    assert_eq!(rcb.closed, Some(cricket::CloseReason::AllOut));
}

#[test]
fn ipl_2014_retired_hurt_and_penalty_runs() {
    let (_, _, card) = check_against_file(IPL_2014);
    let mi = &card.innings[0];
    // Harbhajan retired hurt: seven wicket records, six wickets.
    assert_eq!((mi.runs, mi.wickets), (125, 6));
    let harbhajan = mi
        .batting
        .iter()
        .find(|b| b.name == "Harbhajan Singh")
        .unwrap();
    assert_eq!(harbhajan.how_out, "retired hurt");
    assert!(harbhajan.dismissal.is_none());
    assert!(
        mi.fall_of_wickets
            .iter()
            .all(|f| f.player != "Harbhajan Singh")
    );
    // Z Khan came in for him with a ball of the innings left.
    assert!(
        mi.batting
            .iter()
            .any(|b| b.name == "Z Khan" && b.how_out == "not out")
    );

    // Two wides and five penalty runs on one ball: the bowler is charged the wides only
    // (every bowler's runs are checked against the file in `check_against_file`).
    let dd = &card.innings[1];
    assert_eq!(dd.extras.penalty, 5);
    let malinga = dd.bowling.iter().find(|b| b.name == "SL Malinga").unwrap();
    assert!(malinga.wides >= 1);
    assert_eq!(dd.closed, Some(cricket::CloseReason::TargetReached));
    assert_eq!(
        card.summary.as_deref(),
        Some("Delhi Daredevils won by 6 wickets")
    );
}

#[test]
fn the_hundred_has_five_ball_overs() {
    let (imported, _, card) = check_against_file(HUNDRED);
    assert_eq!(imported.info.format, cricket::Format::Hundred);
    assert_eq!(card.balls_per_over, 5);
    let spirit = &card.innings[0];
    assert_eq!(
        (spirit.legal_balls, spirit.overs.to_string().as_str()),
        (100, "20")
    );
    assert_eq!(spirit.closed, Some(cricket::CloseReason::OversComplete));
    let fire = &card.innings[1];
    assert_eq!(fire.overs.to_string(), "19.3");
    assert_eq!(card.summary.as_deref(), Some("Welsh Fire won by 3 wickets"));
}

#[test]
fn every_partial_replay_is_consistent() {
    // After every event of a real match, the running scorecard equals the one derived from
    // scratch, and undoing the event restores the scorecard before it exactly.
    let imported = cricsheet::parse(&fixture(IPL_2014)).unwrap();
    let mut game = Match::new();
    let mut before = game.scorecard();
    for event in &imported.events {
        game.apply(event).unwrap();
        let after = game.scorecard();
        if game.events().len() > 1 {
            let mut undone = game.clone();
            undone.apply(&MatchEvent::Undo).unwrap();
            assert_eq!(undone.scorecard(), before, "undo of {event:?}");
        }
        before = after;
    }
}

fn malformed(json: &str) -> CricsheetError {
    cricsheet::parse(json.as_bytes()).unwrap_err()
}

/// The smallest valid file, with `ball` as its one delivery.
fn minimal(ball: &str) -> String {
    format!(
        r#"{{"meta": {{"data_version": "1.1.0"}},
            "info": {{"balls_per_over": 6, "teams": ["A", "B"], "match_type": "T20", "overs": 20}},
            "innings": [{{"team": "A", "overs": [{{"over": 0, "deliveries": [{ball}]}}]}}]}}"#
    )
}

#[test]
fn a_minimal_file_imports() {
    let imported = cricsheet::parse(
        minimal(r#"{"batter": "a", "non_striker": "b", "bowler": "c", "runs": {"batter": 1, "extras": 0, "total": 1}}"#)
            .as_bytes(),
    )
    .unwrap();
    let card = Scorecard::from_events(&imported.events).unwrap();
    assert_eq!(card.innings[0].runs, 1);
    assert_eq!(card.status, MatchStatus::Completed);
    assert_eq!(card.result, Some(MatchResult::NoResult));
}

#[test]
fn a_missing_field_is_named_by_its_path() {
    let mut file: Value = serde_json::from_slice(&fixture(IPL_2014)).unwrap();
    file["innings"][1]["overs"][3]["deliveries"][2]["runs"]
        .as_object_mut()
        .unwrap()
        .remove("total");
    let error = cricsheet::parse(&serde_json::to_vec(&file).unwrap()).unwrap_err();
    assert_eq!(error.path(), "innings[1].overs[3].deliveries[2].runs.total");
    assert_eq!(error.code(), "malformed_file");
    assert!(
        error
            .to_string()
            .starts_with("innings[1].overs[3].deliveries[2].runs.total: missing field"),
        "{error}"
    );
}

#[test]
fn a_wrong_type_or_unknown_kind_is_named_by_its_path() {
    let error = malformed(&minimal(
        r#"{"batter": "a", "non_striker": "b", "bowler": "c", "runs": {"batter": -1, "extras": 0, "total": 1}}"#,
    ));
    assert_eq!(
        error.path(),
        "innings[0].overs[0].deliveries[0].runs.batter"
    );
    assert!(error.to_string().contains("invalid value"), "{error}");

    let error = malformed(&minimal(
        r#"{"batter": "a", "non_striker": "b", "bowler": "c", "runs": {"batter": 0, "extras": 0, "total": 0},
            "wickets": [{"player_out": "a", "kind": "kidnapped"}]}"#,
    ));
    assert_eq!(
        error.path(),
        "innings[0].overs[0].deliveries[0].wickets[0].kind"
    );
    assert!(
        error.to_string().contains("unknown variant `kidnapped`"),
        "{error}"
    );

    let error = malformed("{\"meta\": ");
    assert_eq!(error.code(), "malformed_file");

    let error = malformed(r#"{"meta": {"data_version": "1.0.0"}}"#);
    assert_eq!(error.path(), "info");
}

#[test]
fn a_ball_the_rules_refuse_is_named_by_its_path() {
    let error = malformed(&minimal(
        r#"{"batter": "a", "non_striker": "b", "bowler": "c", "runs": {"batter": 1, "extras": 0, "total": 2}}"#,
    ));
    assert_eq!(error.path(), "innings[0].overs[0].deliveries[0]");
    let CricsheetError::Rejected { error: refused, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(refused.code(), "invalid_runs");
    assert!(error.to_string().contains("runs.total is 2"), "{error}");
}

#[test]
fn an_unsupported_version_or_match_type_is_refused() {
    let file = minimal(
        r#"{"batter": "a", "non_striker": "b", "bowler": "c", "runs": {"batter": 0, "extras": 0, "total": 0}}"#,
    );
    let error = malformed(&file.replace("1.1.0", "2.0.0"));
    assert_eq!(error.path(), "meta.data_version");
    assert_eq!(error.code(), "invalid_file");
    let error = malformed(&file.replace("\"T20\"", "\"Beach\""));
    assert_eq!(error.path(), "info.match_type");
}
