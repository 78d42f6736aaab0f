//! The state machine's rules, one at a time: what it refuses (with which code), what closes
//! an innings, what the corrections do, who wins.

use std::collections::BTreeMap;

use crate::{
    BallId, CloseReason, Delivery, Extras, Format, IllegalEvent, Margin, Match, MatchEvent,
    MatchInfo, MatchResult, MatchStatus, Overs, Target, Wicket, WicketKind,
};

fn squad(prefix: &str, size: usize) -> Vec<String> {
    (1..=size).map(|i| format!("{prefix}{i}")).collect()
}

fn info(format: Format, squad_size: usize) -> MatchInfo {
    let mut info = MatchInfo::new("A", "B", format);
    info.players = BTreeMap::from([
        ("A".to_owned(), squad("A", squad_size)),
        ("B".to_owned(), squad("B", squad_size)),
    ]);
    info
}

fn started(info: MatchInfo) -> Match {
    let mut game = Match::new();
    game.apply(&MatchEvent::Started(Box::new(info))).unwrap();
    game
}

fn innings(team: &str) -> MatchEvent {
    MatchEvent::InningsStarted {
        team: team.to_owned(),
        target: None,
        super_over: false,
        powerplays: Vec::new(),
    }
}

fn super_over(team: &str) -> MatchEvent {
    MatchEvent::InningsStarted {
        team: team.to_owned(),
        target: None,
        super_over: true,
        powerplays: Vec::new(),
    }
}

/// A T20 between squads of eleven, A batting.
fn t20() -> Match {
    let mut game = started(info(Format::T20, 11));
    game.apply(&innings("A")).unwrap();
    game
}

fn ball(batter: &str, non_striker: &str, bowler: &str, runs: u32) -> MatchEvent {
    MatchEvent::Ball(Delivery::new(batter, non_striker, bowler, runs))
}

fn out(batter: &str, non_striker: &str, bowler: &str, kind: WicketKind) -> MatchEvent {
    MatchEvent::Ball(
        Delivery::new(batter, non_striker, bowler, 0).with_wicket(Wicket::new(batter, kind)),
    )
}

fn code(game: &mut Match, event: &MatchEvent) -> &'static str {
    let before = game.clone();
    let error = game.apply(event).expect_err("refused");
    assert_eq!(*game, before, "a refused event changed the match");
    error.code()
}

fn apply_all(game: &mut Match, events: &[MatchEvent]) {
    for event in events {
        game.apply(event)
            .unwrap_or_else(|e| panic!("{event:?}: {e}"));
    }
}

/// Bowls the side out: the opener stays at the other end while everyone else is bowled.
fn all_out(game: &mut Match, team: &str, bowler: &str, squad_size: usize) {
    let opener = format!("{team}1");
    for next in 2..=squad_size {
        let striker = format!("{team}{next}");
        game.apply(&out(&striker, &opener, bowler, WicketKind::Bowled))
            .unwrap();
    }
}

fn summary(game: &Match) -> String {
    game.result().map(|r| r.to_string()).unwrap_or_default()
}

#[test]
fn only_started_comes_first() {
    let mut game = Match::new();
    assert_eq!(code(&mut game, &ball("A1", "A2", "B1", 0)), "not_started");
    assert_eq!(code(&mut game, &innings("A")), "not_started");
    let mut game = started(info(Format::T20, 11));
    assert_eq!(
        code(
            &mut game,
            &MatchEvent::Started(Box::new(info(Format::T20, 11)))
        ),
        "already_started"
    );
    assert_eq!(code(&mut game, &ball("A1", "A2", "B1", 0)), "no_innings");
    assert_eq!(code(&mut game, &innings("C")), "unknown_team");
}

#[test]
fn match_information_must_describe_a_match() {
    let mut same = MatchInfo::new("A", "A", Format::T20);
    let mut game = Match::new();
    assert_eq!(
        code(&mut game, &MatchEvent::Started(Box::new(same.clone()))),
        "invalid_info"
    );
    same.teams[1] = "B".into();
    same.balls_per_over = 0;
    assert_eq!(
        code(&mut game, &MatchEvent::Started(Box::new(same))),
        "invalid_info"
    );
}

#[test]
fn no_ball_after_the_innings_closes() {
    let mut game = t20();
    game.apply(&ball("A1", "A2", "B1", 1)).unwrap();
    game.apply(&MatchEvent::InningsClosed {
        reason: CloseReason::Declared,
    })
    .unwrap();
    assert_eq!(
        code(&mut game, &ball("A2", "A1", "B1", 0)),
        "innings_closed"
    );
    let error = game.clone().apply(&ball("A2", "A1", "B1", 0)).unwrap_err();
    assert_eq!(error, IllegalEvent::InningsClosed(CloseReason::Declared));
    assert_eq!(error.to_string(), "the innings is closed (declared)");
}

#[test]
fn the_innings_closes_when_its_overs_are_bowled() {
    let mut game = t20();
    for _ in 0..120 {
        game.apply(&ball("A1", "A2", "B1", 0)).unwrap();
    }
    let card = game.scorecard();
    assert_eq!(card.innings[0].closed, Some(CloseReason::OversComplete));
    assert_eq!(card.innings[0].overs.to_string(), "20");
    assert_eq!(
        code(&mut game, &ball("A1", "A2", "B1", 0)),
        "innings_closed"
    );
    assert_eq!(game.status(), MatchStatus::InningsBreak);
}

#[test]
fn wides_and_no_balls_are_not_legal_balls() {
    let mut game = t20();
    apply_all(
        &mut game,
        &[
            ball("A1", "A2", "B1", 0),
            MatchEvent::Ball(Delivery::new("A1", "A2", "B1", 0).with_extras(Extras::wides(1))),
            MatchEvent::Ball(Delivery::new("A1", "A2", "B1", 4).with_extras(Extras::noballs(1))),
        ],
    );
    let card = game.scorecard();
    let innings = &card.innings[0];
    assert_eq!((innings.runs, innings.legal_balls), (6, 1));
    assert_eq!(innings.overs.to_string(), "0.1");
    // Faced the no-ball, not the wide.
    assert_eq!((innings.batting[0].runs, innings.batting[0].balls), (4, 2));
    // Charged both.
    assert_eq!(innings.bowling[0].runs, 6);
    assert_eq!(
        (innings.bowling[0].wides, innings.bowling[0].noballs),
        (1, 1)
    );
}

#[test]
fn the_side_is_all_out_at_ten_wickets_and_there_is_no_eleventh() {
    let mut game = t20();
    // A1 stays; A2..A11 are bowled one after another.
    for next in 2..=11 {
        game.apply(&out(&format!("A{next}"), "A1", "B1", WicketKind::Bowled))
            .unwrap();
    }
    let card = game.scorecard();
    assert_eq!(card.innings[0].wickets, 10);
    assert_eq!(card.innings[0].closed, Some(CloseReason::AllOut));
    assert_eq!(card.innings[0].bowling[0].wickets, 10);
    assert_eq!(
        code(&mut game, &out("A1", "A2", "B1", WicketKind::Bowled)),
        "innings_closed"
    );
}

#[test]
fn one_ball_cannot_take_more_wickets_than_are_left() {
    let mut game = t20();
    for next in 3..=11 {
        game.apply(&out(&format!("A{next}"), "A1", "B1", WicketKind::Bowled))
            .unwrap();
    }
    assert_eq!(game.scorecard().innings[0].wickets, 9);
    // A2 never came in; A1 and A2 together, both out on one ball, would be an eleventh.
    let double = Delivery::new("A2", "A1", "B1", 0)
        .with_wicket(Wicket::new("A2", WicketKind::Caught).by("B2"))
        .with_wicket(Wicket::new("A1", WicketKind::RunOut).by("B3"));
    assert_eq!(
        code(&mut game, &MatchEvent::Ball(double)),
        "too_many_wickets"
    );
}

#[test]
fn a_short_squad_is_all_out_sooner() {
    let mut game = started(info(Format::T20, 4));
    game.apply(&innings("A")).unwrap();
    all_out(&mut game, "A", "B1", 4);
    let card = game.scorecard();
    assert_eq!(card.innings[0].wickets, 3);
    assert_eq!(card.innings[0].closed, Some(CloseReason::AllOut));
}

#[test]
fn an_absent_hurt_player_brings_all_out_one_wicket_sooner() {
    let mut game = t20();
    game.apply(&MatchEvent::AbsentHurt {
        player: "A11".into(),
    })
    .unwrap();
    for next in 2..=10 {
        game.apply(&out(&format!("A{next}"), "A1", "B1", WicketKind::Bowled))
            .unwrap();
    }
    let card = game.scorecard();
    assert_eq!(card.innings[0].wickets, 9);
    assert_eq!(card.innings[0].closed, Some(CloseReason::AllOut));
    assert_eq!(card.innings[0].absent_hurt, ["A11"]);
}

#[test]
fn the_batters_must_be_the_two_at_the_crease() {
    let mut game = t20();
    assert_eq!(code(&mut game, &ball("A1", "A1", "B1", 0)), "wrong_batter");
    game.apply(&ball("A1", "A2", "B1", 1)).unwrap();
    // Strike is whatever the scorer says: either order is fine.
    game.apply(&ball("A1", "A2", "B1", 0)).unwrap();
    game.apply(&ball("A2", "A1", "B1", 0)).unwrap();
    // A third batter cannot join two.
    assert_eq!(code(&mut game, &ball("A3", "A1", "B1", 0)), "wrong_batter");
    let error = game.clone().apply(&ball("A3", "A1", "B1", 0)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "wrong batter \"A3\": not at the crease, where A1 and A2 are batting"
    );
    // After a wicket the new batter takes the free place, and the one out cannot return.
    game.apply(&out("A2", "A1", "B1", WicketKind::Lbw)).unwrap();
    assert_eq!(code(&mut game, &ball("A2", "A1", "B1", 0)), "wrong_batter");
    assert_eq!(code(&mut game, &ball("A3", "A4", "B1", 0)), "wrong_batter");
    game.apply(&ball("A1", "A3", "B1", 0)).unwrap();
    assert_eq!(game.at_crease(), ["A1", "A3"]);
}

#[test]
fn a_retired_hurt_batter_may_come_back_when_there_is_room() {
    let mut game = t20();
    apply_all(
        &mut game,
        &[
            ball("A1", "A2", "B1", 4),
            out("A1", "A2", "B1", WicketKind::RetiredHurt),
            ball("A3", "A2", "B1", 1),
        ],
    );
    // Both places are taken.
    assert_eq!(code(&mut game, &ball("A1", "A2", "B1", 0)), "wrong_batter");
    apply_all(
        &mut game,
        &[
            out("A3", "A2", "B1", WicketKind::Caught),
            ball("A1", "A2", "B1", 2),
        ],
    );
    let card = game.scorecard();
    let innings = &card.innings[0];
    assert_eq!(innings.wickets, 1, "retiring hurt is not a wicket");
    assert_eq!(innings.fall_of_wickets.len(), 1);
    let a1 = &innings.batting[0];
    assert_eq!((a1.runs, a1.balls, a1.how_out.as_str()), (6, 3, "not out"));
}

#[test]
fn runs_must_add_up_and_extras_must_be_possible() {
    let mut game = t20();
    let mut bad = Delivery::new("A1", "A2", "B1", 1);
    bad.runs.total = 2;
    assert_eq!(code(&mut game, &MatchEvent::Ball(bad)), "invalid_runs");
    let mut bad = Delivery::new("A1", "A2", "B1", 0).with_extras(Extras::byes(2));
    bad.runs.extras = 1;
    assert_eq!(code(&mut game, &MatchEvent::Ball(bad)), "invalid_runs");
    let huge = Delivery::new("A1", "A2", "B1", u32::MAX);
    assert_eq!(code(&mut game, &MatchEvent::Ball(huge)), "invalid_runs");
    let wide_no_ball = Delivery::new("A1", "A2", "B1", 0).with_extras(Extras {
        wides: 1,
        noballs: 1,
        ..Extras::default()
    });
    assert_eq!(
        code(&mut game, &MatchEvent::Ball(wide_no_ball)),
        "invalid_extras"
    );
    let hit_wide = Delivery::new("A1", "A2", "B1", 4).with_extras(Extras::wides(1));
    assert_eq!(
        code(&mut game, &MatchEvent::Ball(hit_wide)),
        "invalid_extras"
    );
    let hit_byes = Delivery::new("A1", "A2", "B1", 1).with_extras(Extras::byes(1));
    assert_eq!(
        code(&mut game, &MatchEvent::Ball(hit_byes)),
        "invalid_extras"
    );
}

#[test]
fn wickets_must_be_possible() {
    let mut game = t20();
    let bowled_non_striker =
        Delivery::new("A1", "A2", "B1", 0).with_wicket(Wicket::new("A2", WicketKind::Bowled));
    assert_eq!(
        code(&mut game, &MatchEvent::Ball(bowled_non_striker)),
        "invalid_wicket"
    );
    let bystander =
        Delivery::new("A1", "A2", "B1", 0).with_wicket(Wicket::new("A5", WicketKind::RunOut));
    assert_eq!(
        code(&mut game, &MatchEvent::Ball(bystander)),
        "invalid_wicket"
    );
    let bowled_off_a_no_ball = Delivery::new("A1", "A2", "B1", 0)
        .with_extras(Extras::noballs(1))
        .with_wicket(Wicket::new("A1", WicketKind::Bowled));
    assert_eq!(
        code(&mut game, &MatchEvent::Ball(bowled_off_a_no_ball)),
        "invalid_wicket"
    );
    // Run out off a no-ball and stumped off a wide are out.
    apply_all(
        &mut game,
        &[
            MatchEvent::Ball(
                Delivery::new("A1", "A2", "B1", 1)
                    .with_extras(Extras::noballs(1))
                    .with_wicket(Wicket::new("A2", WicketKind::RunOut).by("B4")),
            ),
            MatchEvent::Ball(
                Delivery::new("A1", "A3", "B1", 0)
                    .with_extras(Extras::wides(1))
                    .with_wicket(Wicket::new("A1", WicketKind::Stumped).by("B2")),
            ),
        ],
    );
    let card = game.scorecard();
    let innings = &card.innings[0];
    assert_eq!(innings.wickets, 2);
    assert_eq!(innings.batting[1].how_out, "run out (B4)");
    assert_eq!(innings.batting[0].how_out, "st B2 b B1");
    // The run out is not the bowler's; the stumping is.
    assert_eq!(innings.bowling[0].wickets, 1);
}

#[test]
fn players_must_be_in_their_squads() {
    let mut game = t20();
    assert_eq!(
        code(&mut game, &ball("Z9", "A2", "B1", 0)),
        "unknown_player"
    );
    assert_eq!(
        code(&mut game, &ball("A1", "A2", "A3", 0)),
        "unknown_player"
    );
    // A concussion substitute joins the squad on the ball that brings them in.
    let mut sub = Delivery::new("A1", "A2", "B12", 0);
    sub.replacements = Some(crate::Replacements {
        in_match: vec![crate::MatchReplacement {
            team: "B".into(),
            player_in: "B12".into(),
            player_out: "B1".into(),
            reason: "concussion_substitute".into(),
        }],
        role: Vec::new(),
    });
    game.apply(&MatchEvent::Ball(sub)).unwrap();
    game.apply(&ball("A1", "A2", "B12", 0)).unwrap();
    // Without squads, anyone may play.
    let mut open = started(MatchInfo::new("A", "B", Format::T20));
    open.apply(&innings("A")).unwrap();
    open.apply(&ball("anyone", "else", "at all", 0)).unwrap();
}

#[test]
fn undo_withdraws_the_last_event_exactly() {
    let mut game = Match::new();
    assert_eq!(code(&mut game, &MatchEvent::Undo), "nothing_to_undo");
    let mut game = started(info(Format::T20, 11));
    assert_eq!(code(&mut game, &MatchEvent::Undo), "nothing_to_undo");
    game.apply(&innings("A")).unwrap();
    game.apply(&ball("A1", "A2", "B1", 3)).unwrap();
    let before = game.clone();
    game.apply(&out("A2", "A1", "B1", WicketKind::Bowled))
        .unwrap();
    game.apply(&MatchEvent::Undo).unwrap();
    assert_eq!(game, before);
    // Undoing the ball that closed an innings reopens it.
    let mut game = t20();
    for _ in 0..120 {
        game.apply(&ball("A1", "A2", "B1", 0)).unwrap();
    }
    game.apply(&MatchEvent::Undo).unwrap();
    assert_eq!(game.status(), MatchStatus::InProgress);
    assert_eq!(game.scorecard().innings[0].overs.to_string(), "19.5");
}

#[test]
fn amend_rewrites_a_ball_and_rechecks_what_follows() {
    let mut game = t20();
    apply_all(
        &mut game,
        &[
            ball("A1", "A2", "B1", 1),
            ball("A2", "A1", "B1", 4),
            ball("A2", "A1", "B1", 0),
        ],
    );
    let unknown = BallId {
        innings: 0,
        ball: 3,
    };
    let amend = |ball, delivery| MatchEvent::Amend { ball, delivery };
    assert_eq!(
        code(
            &mut game,
            &amend(unknown, Delivery::new("A1", "A2", "B1", 0))
        ),
        "unknown_ball"
    );
    assert_eq!(
        code(
            &mut game,
            &amend(
                BallId {
                    innings: 1,
                    ball: 0
                },
                Delivery::new("A1", "A2", "B1", 0)
            )
        ),
        "unknown_ball"
    );
    // The four was a six.
    let second = BallId {
        innings: 0,
        ball: 1,
    };
    game.apply(&amend(second, Delivery::new("A2", "A1", "B1", 6)))
        .unwrap();
    assert_eq!(game.scorecard().innings[0].runs, 7);
    assert_eq!(game.ball(second).map(|b| b.runs.batter), Some(6));
    // Out on the first ball would leave A1 batting after being out: refused, nothing changes.
    let first = BallId {
        innings: 0,
        ball: 0,
    };
    let conflict = amend(
        first,
        Delivery::new("A1", "A2", "B1", 0).with_wicket(Wicket::new("A1", WicketKind::Bowled)),
    );
    assert_eq!(code(&mut game, &conflict), "amend_conflict");
    let error = game.clone().apply(&conflict).unwrap_err();
    assert!(
        matches!(&error, IllegalEvent::AmendConflict { at: 3, reason, .. } if reason.code() == "wrong_batter"),
        "{error:?}"
    );
    assert_eq!(
        game.last_ball(),
        Some(BallId {
            innings: 0,
            ball: 2
        })
    );
}

#[test]
fn the_chase_ends_when_the_target_is_reached() {
    let mut game = t20();
    apply_all(
        &mut game,
        &[ball("A1", "A2", "B1", 6), ball("A1", "A2", "B1", 4)],
    );
    game.apply(&MatchEvent::InningsClosed {
        reason: CloseReason::Curtailed,
    })
    .unwrap();
    assert_eq!(code(&mut game, &innings("A")), "invalid_innings");
    game.apply(&innings("B")).unwrap();
    let card = game.scorecard();
    assert_eq!(
        card.innings[1].target,
        Some(Target {
            runs: 11,
            overs: None
        })
    );
    assert_eq!(card.innings[1].runs_needed, Some(11));
    assert_eq!(card.innings[1].required_run_rate, Some(0.55));
    apply_all(
        &mut game,
        &[
            ball("B1", "B2", "A1", 6),
            out("B1", "B2", "A1", WicketKind::Caught),
        ],
    );
    game.apply(&ball("B3", "B2", "A1", 5)).unwrap();
    let card = game.scorecard();
    assert_eq!(card.innings[1].closed, Some(CloseReason::TargetReached));
    assert_eq!(card.status, MatchStatus::Completed);
    assert_eq!(
        card.result,
        Some(MatchResult::Win {
            winner: "B".into(),
            margin: Some(Margin::Wickets(9)),
            method: None,
        })
    );
    assert_eq!(
        code(&mut game, &ball("B3", "B2", "A1", 1)),
        "innings_closed"
    );
    assert_eq!(code(&mut game, &super_over("A")), "match_over");
}

#[test]
fn a_revised_target_shortens_the_chase() {
    let mut game = t20();
    for _ in 0..12 {
        game.apply(&ball("A1", "A2", "B1", 1)).unwrap();
    }
    game.apply(&MatchEvent::InningsClosed {
        reason: CloseReason::Curtailed,
    })
    .unwrap();
    game.apply(&innings("B")).unwrap();
    let revised = Target {
        runs: 10,
        overs: Some(Overs::whole(1)),
    };
    game.apply(&MatchEvent::TargetRevised { target: revised })
        .unwrap();
    assert_eq!(game.scorecard().innings[1].balls_remaining, Some(6));
    for _ in 0..6 {
        game.apply(&ball("B1", "B2", "A1", 1)).unwrap();
    }
    let card = game.scorecard();
    assert_eq!(card.innings[1].closed, Some(CloseReason::OversComplete));
    assert_eq!(card.summary.as_deref(), Some("A won by 3 runs"));
    // A target is only for the side batting last, and must not be behind the play.
    let mut first = t20();
    assert_eq!(
        code(&mut first, &MatchEvent::TargetRevised { target: revised }),
        "invalid_target"
    );
}

#[test]
fn a_tie_goes_to_a_super_over() {
    let mut game = t20();
    game.apply(&ball("A1", "A2", "B1", 4)).unwrap();
    game.apply(&MatchEvent::InningsClosed {
        reason: CloseReason::Curtailed,
    })
    .unwrap();
    game.apply(&innings("B")).unwrap();
    game.apply(&ball("B1", "B2", "A1", 4)).unwrap();
    assert_eq!(code(&mut game, &super_over("A")), "innings_in_progress");
    for _ in 1..120 {
        game.apply(&ball("B1", "B2", "A1", 0)).unwrap();
    }
    assert_eq!(game.status(), MatchStatus::InningsBreak);
    assert_eq!(game.result(), None);
    game.apply(&super_over("B")).unwrap();
    // Two wickets end a super over.
    apply_all(
        &mut game,
        &[
            ball("B1", "B2", "A1", 6),
            out("B1", "B2", "A1", WicketKind::Bowled),
            out("B3", "B2", "A1", WicketKind::Bowled),
        ],
    );
    assert_eq!(
        game.scorecard().innings[2].closed,
        Some(CloseReason::AllOut)
    );
    assert_eq!(code(&mut game, &super_over("B")), "invalid_innings");
    game.apply(&super_over("A")).unwrap();
    assert_eq!(game.scorecard().innings[3].target.map(|t| t.runs), Some(7));
    // Five off the over: one short of a second tie.
    for runs in [1, 1, 1, 1, 1, 0] {
        game.apply(&ball("A1", "A2", "B1", runs)).unwrap();
    }
    assert_eq!(
        game.result(),
        Some(MatchResult::Tie {
            winner: Some("B".into()),
        })
    );
}

#[test]
fn two_innings_cricket_wins_by_an_innings_and_draws() {
    // Squads of three: two wickets and the side is all out.
    let test = || {
        let mut game = started(info(Format::Test, 3));
        game.apply(&innings("A")).unwrap();
        apply_all(
            &mut game,
            &[
                ball("A1", "A2", "B1", 20),
                out("A1", "A2", "B1", WicketKind::Bowled),
                out("A3", "A2", "B1", WicketKind::Bowled),
            ],
        );
        game.apply(&innings("B")).unwrap();
        apply_all(
            &mut game,
            &[
                ball("B1", "B2", "A1", 5),
                out("B1", "B2", "A1", WicketKind::Bowled),
                out("B3", "B2", "A1", WicketKind::Bowled),
            ],
        );
        game
    };
    // B follows on and is out again 5 short.
    let mut game = test();
    game.apply(&innings("B")).unwrap();
    apply_all(
        &mut game,
        &[
            ball("B1", "B2", "A1", 10),
            out("B1", "B2", "A1", WicketKind::Bowled),
            out("B3", "B2", "A1", WicketKind::Bowled),
        ],
    );
    assert_eq!(summary(&game), "A won by an innings and 5 runs");
    assert_eq!(code(&mut game, &innings("A")), "match_over");

    // Or A bats again, sets 26 and the clock runs out.
    let mut game = test();
    game.apply(&innings("A")).unwrap();
    game.apply(&ball("A1", "A2", "B1", 10)).unwrap();
    game.apply(&MatchEvent::InningsClosed {
        reason: CloseReason::Declared,
    })
    .unwrap();
    game.apply(&innings("B")).unwrap();
    assert_eq!(game.scorecard().innings[3].target.map(|t| t.runs), Some(26));
    game.apply(&ball("B1", "B2", "A1", 10)).unwrap();
    game.apply(&MatchEvent::Ended { result: None }).unwrap();
    let card = game.scorecard();
    assert_eq!(card.innings[3].closed, Some(CloseReason::Curtailed));
    assert_eq!(card.result, Some(MatchResult::Draw));
    assert_eq!(code(&mut game, &ball("B1", "B2", "A1", 1)), "match_over");
    assert_eq!(code(&mut game, &innings("A")), "match_over");
}

#[test]
fn an_abandoned_limited_overs_match_has_no_result_unless_the_scorer_says() {
    let mut game = t20();
    game.apply(&ball("A1", "A2", "B1", 1)).unwrap();
    let mut abandoned = game.clone();
    abandoned
        .apply(&MatchEvent::Ended { result: None })
        .unwrap();
    assert_eq!(abandoned.result(), Some(MatchResult::NoResult));
    let dls = MatchResult::Win {
        winner: "A".into(),
        margin: Some(Margin::Runs(1)),
        method: Some("D/L".into()),
    };
    game.apply(&MatchEvent::Ended {
        result: Some(dls.clone()),
    })
    .unwrap();
    assert_eq!(game.result(), Some(dls));
    assert_eq!(
        code(&mut game, &MatchEvent::Ended { result: None }),
        "match_over"
    );
}

#[test]
fn penalty_runs_count_as_extras_but_are_no_ones_figures() {
    let mut game = t20();
    apply_all(
        &mut game,
        &[
            MatchEvent::PenaltyRuns { runs: 5 },
            MatchEvent::Ball(Delivery::new("A1", "A2", "B1", 0).with_extras(Extras {
                wides: 2,
                penalty: 5,
                ..Extras::default()
            })),
            MatchEvent::Ball(Delivery::new("A1", "A2", "B1", 0).with_extras(Extras::legbyes(1))),
        ],
    );
    assert_eq!(
        code(&mut game, &MatchEvent::PenaltyRuns { runs: 0 }),
        "invalid_runs"
    );
    let card = game.scorecard();
    let innings = &card.innings[0];
    assert_eq!(innings.runs, 13);
    assert_eq!(innings.extras.penalty, 10);
    assert_eq!(innings.extras.total, 13);
    assert_eq!(innings.bowling[0].runs, 2);
    assert_eq!(innings.partnerships[0].runs, 8);
}

#[test]
fn a_maiden_is_a_whole_over_by_one_bowler_for_nothing() {
    let mut game = t20();
    for _ in 0..6 {
        game.apply(&ball("A1", "A2", "B1", 0)).unwrap();
    }
    // Byes cost the bowler nothing: still a maiden.
    for _ in 0..5 {
        game.apply(&ball("A1", "A2", "B2", 0)).unwrap();
    }
    game.apply(&MatchEvent::Ball(
        Delivery::new("A1", "A2", "B2", 0).with_extras(Extras::byes(4)),
    ))
    .unwrap();
    // A wide spoils one.
    game.apply(&MatchEvent::Ball(
        Delivery::new("A1", "A2", "B1", 0).with_extras(Extras::wides(1)),
    ))
    .unwrap();
    for _ in 0..6 {
        game.apply(&ball("A1", "A2", "B1", 0)).unwrap();
    }
    let card = game.scorecard();
    let bowling = &card.innings[0].bowling;
    assert_eq!(
        (bowling[0].maidens, bowling[0].overs.to_string().as_str()),
        (1, "2")
    );
    assert_eq!(
        (bowling[1].maidens, bowling[1].runs, bowling[1].dots),
        (1, 0, 6)
    );
}

#[test]
fn the_hundred_counts_five_ball_overs() {
    let mut game = started(info(Format::Hundred, 11));
    game.apply(&innings("A")).unwrap();
    for _ in 0..98 {
        game.apply(&ball("A1", "A2", "B1", 1)).unwrap();
    }
    assert_eq!(game.scorecard().innings[0].overs.to_string(), "19.3");
    assert_eq!(game.scorecard().innings[0].run_rate, Some(5.0));
    game.apply(&ball("A1", "A2", "B1", 1)).unwrap();
    game.apply(&ball("A1", "A2", "B1", 1)).unwrap();
    assert_eq!(
        game.scorecard().innings[0].closed,
        Some(CloseReason::OversComplete)
    );
}

#[test]
fn only_the_scorer_closes_for_the_scorers_reasons() {
    let mut game = t20();
    let close = |reason| MatchEvent::InningsClosed { reason };
    assert_eq!(
        code(&mut game, &close(CloseReason::OversComplete)),
        "invalid_close"
    );
    assert_eq!(
        code(&mut game, &close(CloseReason::TargetReached)),
        "invalid_close"
    );
    game.apply(&ball("A1", "A2", "B1", 0)).unwrap();
    assert_eq!(
        code(&mut game, &close(CloseReason::Forfeited)),
        "invalid_close"
    );
    game.apply(&close(CloseReason::AllOut)).unwrap();
    assert_eq!(
        code(&mut game, &close(CloseReason::Declared)),
        "innings_closed"
    );
}

#[test]
fn codes_are_distinct_snake_case() {
    let id = BallId {
        innings: 0,
        ball: 0,
    };
    let all = [
        IllegalEvent::NotStarted,
        IllegalEvent::AlreadyStarted,
        IllegalEvent::InvalidInfo(String::new()),
        IllegalEvent::MatchOver,
        IllegalEvent::NoInnings,
        IllegalEvent::InningsClosed(CloseReason::AllOut),
        IllegalEvent::InningsInProgress(0),
        IllegalEvent::UnknownTeam(String::new()),
        IllegalEvent::InvalidInnings(String::new()),
        IllegalEvent::UnknownPlayer {
            player: String::new(),
            team: String::new(),
        },
        IllegalEvent::WrongBatter {
            player: String::new(),
            reason: String::new(),
        },
        IllegalEvent::TooManyWickets { max: 10 },
        IllegalEvent::InvalidRuns(String::new()),
        IllegalEvent::InvalidExtras(String::new()),
        IllegalEvent::InvalidWicket(String::new()),
        IllegalEvent::InvalidTarget(String::new()),
        IllegalEvent::InvalidClose(String::new()),
        IllegalEvent::NothingToUndo,
        IllegalEvent::UnknownBall(id),
        IllegalEvent::AmendConflict {
            ball: id,
            at: 0,
            reason: Box::new(IllegalEvent::NoInnings),
        },
    ];
    let codes: std::collections::BTreeSet<&str> = all.iter().map(IllegalEvent::code).collect();
    assert_eq!(codes.len(), all.len());
    assert!(
        codes
            .iter()
            .all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
    );
}
