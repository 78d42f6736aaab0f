//! One innings, counted ball by ball: totals, extras, who is at the crease, batting and
//! bowling figures, fall of wickets, partnerships. Every counting rule of the scorecard
//! lives here, applied once per ball so a match room pays O(players) per ball, never a
//! rescan of the innings.
//!
//! The rules: only balls that are neither wides nor no-balls are legal and make up overs;
//! a batter faces every ball but a wide; a bowler is charged with runs off the bat, wides
//! and no-balls but not byes, leg byes or penalty runs, and credited with bowled, caught,
//! lbw, stumped and hit-wicket dismissals only; retiring hurt (or not out) is not a wicket.
//!
//! This module trusts its input: [`crate::validate`] has already checked the ball against
//! the innings, so nothing here can fail.

use crate::event::CloseReason;
use crate::model::{Delivery, Extras, Fielder, Overs, Powerplay, Target, WicketKind};

/// The state of one innings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Innings {
    pub(crate) team: String,
    pub(crate) bowling_team: String,
    pub(crate) super_over: bool,
    /// True when this innings is a chase (the last innings of the match or of a super-over
    /// pair), so it has a target.
    pub(crate) chase: bool,
    pub(crate) target: Option<Target>,
    pub(crate) powerplays: Vec<Powerplay>,
    pub(crate) balls_per_over: u32,
    /// Legal balls allowed, if limited.
    pub(crate) max_balls: Option<u32>,
    /// Wickets the side has to lose before absent-hurt players are taken off.
    pub(crate) wickets_in_hand: u32,
    pub(crate) absent_hurt: Vec<String>,
    pub(crate) closed: Option<CloseReason>,
    /// Every run, penalty runs awarded outside a ball included.
    pub(crate) runs: u32,
    pub(crate) wickets: u32,
    pub(crate) legal_balls: u32,
    /// Every ball bowled, wides and no-balls included.
    pub(crate) deliveries: u32,
    /// Extras by kind; `penalty` includes penalty runs awarded outside a ball.
    pub(crate) extras: Extras,
    /// Penalty runs awarded outside a ball (before the first or after the last).
    pub(crate) penalty_runs: u32,
    /// In order of going in.
    pub(crate) batters: Vec<Batter>,
    /// In order of first bowling.
    pub(crate) bowlers: Vec<Bowler>,
    /// Indexes into `batters` of the (at most two) batters at the crease.
    pub(crate) crease: [Option<usize>; 2],
    pub(crate) fall: Vec<Fall>,
    pub(crate) partnerships: Vec<Partnership>,
    over: OverInProgress,
}

/// One batter's innings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Batter {
    pub(crate) name: String,
    pub(crate) runs: u32,
    pub(crate) balls: u32,
    pub(crate) fours: u32,
    pub(crate) sixes: u32,
    pub(crate) state: BatterState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BatterState {
    /// At the crease (or not out when the innings ended).
    In,
    /// Out; the bowler is named only when credited with the wicket.
    Out {
        kind: WicketKind,
        bowler: Option<String>,
        fielders: Vec<Fielder>,
    },
    /// Retired hurt or not out: not out, may come back while the innings lasts.
    Retired(WicketKind),
}

/// One bowler's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bowler {
    pub(crate) name: String,
    pub(crate) legal_balls: u32,
    pub(crate) maidens: u32,
    pub(crate) runs: u32,
    pub(crate) wickets: u32,
    /// Wides bowled (balls, not runs).
    pub(crate) wides: u32,
    /// No-balls bowled (balls, not runs).
    pub(crate) noballs: u32,
    /// Legal balls off which the bowler was charged nothing.
    pub(crate) dots: u32,
    pub(crate) fours: u32,
    pub(crate) sixes: u32,
}

/// A wicket's place in the innings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fall {
    pub(crate) wicket: u32,
    pub(crate) runs: u32,
    pub(crate) legal_balls: u32,
    pub(crate) player: String,
}

/// Two batters together at the crease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Partnership {
    /// Indexes into `batters`, in the order they appear on the first ball together.
    pub(crate) pair: [usize; 2],
    pub(crate) runs: u32,
    pub(crate) legal_balls: u32,
    /// False once one of them has left the crease.
    pub(crate) open: bool,
}

/// What a maiden needs to know about the over being bowled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct OverInProgress {
    bowler: Option<usize>,
    /// False once a second bowler has bowled in it (an injured bowler's over is no one's
    /// maiden).
    one_bowler: bool,
    charged: u32,
}

/// How an innings is set up; the match decides these from its rules and earlier innings.
pub(crate) struct Setup {
    pub(crate) team: String,
    pub(crate) bowling_team: String,
    pub(crate) super_over: bool,
    pub(crate) chase: bool,
    pub(crate) target: Option<Target>,
    pub(crate) powerplays: Vec<Powerplay>,
    pub(crate) balls_per_over: u32,
    pub(crate) max_balls: Option<u32>,
    pub(crate) wickets_in_hand: u32,
}

impl Innings {
    pub(crate) fn new(setup: Setup) -> Self {
        Self {
            team: setup.team,
            bowling_team: setup.bowling_team,
            super_over: setup.super_over,
            chase: setup.chase,
            target: setup.target,
            powerplays: setup.powerplays,
            balls_per_over: setup.balls_per_over,
            max_balls: setup.max_balls,
            wickets_in_hand: setup.wickets_in_hand,
            absent_hurt: Vec::new(),
            closed: None,
            runs: 0,
            wickets: 0,
            legal_balls: 0,
            deliveries: 0,
            extras: Extras::default(),
            penalty_runs: 0,
            batters: Vec::new(),
            bowlers: Vec::new(),
            crease: [None, None],
            fall: Vec::new(),
            partnerships: Vec::new(),
            over: OverInProgress::default(),
        }
    }

    /// Wickets that make the side all out.
    pub(crate) fn max_wickets(&self) -> u32 {
        let absent = u32::try_from(self.absent_hurt.len()).unwrap_or(u32::MAX);
        self.wickets_in_hand.saturating_sub(absent)
    }

    pub(crate) fn overs(&self) -> Overs {
        Overs::from_balls(self.legal_balls, self.balls_per_over)
    }

    pub(crate) fn batter(&self, name: &str) -> Option<&Batter> {
        self.batters.iter().find(|batter| batter.name == name)
    }

    /// The batters at the crease, in slot order.
    pub(crate) fn at_crease(&self) -> impl Iterator<Item = &Batter> {
        self.crease.iter().flatten().map(|&i| &self.batters[i])
    }

    pub(crate) fn is_at_crease(&self, name: &str) -> bool {
        self.at_crease().any(|batter| batter.name == name)
    }

    pub(crate) fn free_slots(&self) -> usize {
        self.crease.iter().filter(|slot| slot.is_none()).count()
    }

    /// Counts a validated ball.
    pub(crate) fn record(&mut self, ball: &Delivery) {
        let striker = self.come_in(&ball.batter);
        let other = self.come_in(&ball.non_striker);
        self.join_partnership(striker, other);

        let legal = ball.is_legal();
        self.deliveries += 1;
        self.runs += ball.runs.total;
        self.extras.add(&ball.extras);
        if legal {
            self.legal_balls += 1;
        }

        let boundary = |runs| !ball.runs.non_boundary && ball.runs.batter == runs;
        let batter = &mut self.batters[striker];
        batter.runs += ball.runs.batter;
        if ball.extras.wides == 0 {
            batter.balls += 1;
        }
        batter.fours += u32::from(boundary(4));
        batter.sixes += u32::from(boundary(6));

        let bowler = self.bowler_index(&ball.bowler);
        let charged = ball.runs.batter + ball.extras.wides + ball.extras.noballs;
        let figures = &mut self.bowlers[bowler];
        figures.runs += charged;
        figures.wides += u32::from(ball.extras.wides > 0);
        figures.noballs += u32::from(ball.extras.noballs > 0);
        figures.fours += u32::from(boundary(4));
        figures.sixes += u32::from(boundary(6));
        if legal {
            figures.legal_balls += 1;
            figures.dots += u32::from(charged == 0);
        }
        self.count_over(bowler, charged, legal);

        if let Some(partnership) = self.partnerships.last_mut() {
            partnership.runs += ball.runs.total;
            partnership.legal_balls += u32::from(legal);
        }

        for wicket in &ball.wickets {
            let out = self.batter_index(&wicket.player_out);
            if wicket.kind.is_dismissal() {
                self.wickets += 1;
                let credited = wicket.kind.credited_to_bowler();
                if credited {
                    self.bowlers[bowler].wickets += 1;
                }
                self.batters[out].state = BatterState::Out {
                    kind: wicket.kind,
                    bowler: credited.then(|| ball.bowler.clone()),
                    fielders: wicket.fielders.clone(),
                };
                self.fall.push(Fall {
                    wicket: self.wickets,
                    runs: self.runs,
                    legal_balls: self.legal_balls,
                    player: wicket.player_out.clone(),
                });
            } else {
                self.batters[out].state = BatterState::Retired(wicket.kind);
            }
            self.leave_crease(out);
        }
    }

    /// Penalty runs awarded outside a ball.
    pub(crate) fn award_penalty(&mut self, runs: u32) {
        self.runs += runs;
        self.penalty_runs += runs;
        self.extras.penalty += runs;
    }

    /// Puts a batter at the crease if not there already (validation has made sure there is
    /// room) and returns their index.
    fn come_in(&mut self, name: &str) -> usize {
        if let Some(&i) = self
            .crease
            .iter()
            .flatten()
            .find(|&&i| self.batters[i].name == name)
        {
            return i;
        }
        // A retired batter resumes their innings; anyone else starts one.
        let i = self.batter_index(name);
        self.batters[i].state = BatterState::In;
        if let Some(slot) = self.crease.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(i);
        }
        i
    }

    fn leave_crease(&mut self, batter: usize) {
        for slot in &mut self.crease {
            if *slot == Some(batter) {
                *slot = None;
                if let Some(partnership) = self.partnerships.last_mut() {
                    partnership.open = false;
                }
            }
        }
    }

    /// The index of a batter, adding them (yet to face) if new. A batter timed out is
    /// added here without ever reaching the crease.
    fn batter_index(&mut self, name: &str) -> usize {
        match self.batters.iter().position(|batter| batter.name == name) {
            Some(i) => i,
            None => {
                self.batters.push(Batter {
                    name: name.to_owned(),
                    runs: 0,
                    balls: 0,
                    fours: 0,
                    sixes: 0,
                    state: BatterState::In,
                });
                self.batters.len() - 1
            }
        }
    }

    fn bowler_index(&mut self, name: &str) -> usize {
        match self.bowlers.iter().position(|bowler| bowler.name == name) {
            Some(i) => i,
            None => {
                self.bowlers.push(Bowler {
                    name: name.to_owned(),
                    legal_balls: 0,
                    maidens: 0,
                    runs: 0,
                    wickets: 0,
                    wides: 0,
                    noballs: 0,
                    dots: 0,
                    fours: 0,
                    sixes: 0,
                });
                self.bowlers.len() - 1
            }
        }
    }

    fn join_partnership(&mut self, a: usize, b: usize) {
        let same_pair = |pair: [usize; 2]| pair == [a, b] || pair == [b, a];
        match self.partnerships.last_mut() {
            Some(current) if current.open && same_pair(current.pair) => {}
            current => {
                if let Some(current) = current {
                    current.open = false;
                }
                self.partnerships.push(Partnership {
                    pair: [a, b],
                    runs: 0,
                    legal_balls: 0,
                    open: true,
                });
            }
        }
    }

    /// Over boundaries come from the count of legal balls, so a maiden is decided when the
    /// over's last legal ball is counted.
    fn count_over(&mut self, bowler: usize, charged: u32, legal: bool) {
        match self.over.bowler {
            None => {
                self.over.bowler = Some(bowler);
                self.over.one_bowler = true;
            }
            Some(current) if current != bowler => self.over.one_bowler = false,
            Some(_) => {}
        }
        self.over.charged += charged;
        if legal && self.balls_per_over > 0 && self.legal_balls.is_multiple_of(self.balls_per_over)
        {
            if self.over.one_bowler && self.over.charged == 0 {
                self.bowlers[bowler].maidens += 1;
            }
            self.over = OverInProgress::default();
        }
    }
}
