//! Who may play for whom. A team's squad is the list in the match information plus anyone
//! brought in by a match replacement (concussion substitute, impact player); a team with
//! no list is not checked, so a scorer without team sheets can still score.

use std::collections::BTreeMap;

use crate::error::IllegalEvent;
use crate::model::{Delivery, MatchInfo};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Squads {
    teams: Vec<String>,
    by_team: BTreeMap<String, Vec<String>>,
}

impl Squads {
    pub(crate) fn new(info: &MatchInfo) -> Self {
        let by_team = info
            .players
            .iter()
            .filter(|(_, players)| !players.is_empty())
            .map(|(team, players)| (team.clone(), players.clone()))
            .collect();
        Self {
            teams: info.teams.to_vec(),
            by_team,
        }
    }

    /// Whether `player` may play for `team`, on `ball` if given (which may itself bring
    /// them in).
    pub(crate) fn check(
        &self,
        team: &str,
        player: &str,
        ball: Option<&Delivery>,
    ) -> Result<(), IllegalEvent> {
        let Some(squad) = self.by_team.get(team) else {
            return Ok(());
        };
        let listed = squad.iter().any(|name| name == player);
        let coming_in = ball
            .and_then(|ball| ball.replacements.as_ref())
            .is_some_and(|r| {
                r.in_match
                    .iter()
                    .any(|r| r.team == team && r.player_in == player)
            });
        if listed || coming_in {
            Ok(())
        } else {
            Err(IllegalEvent::UnknownPlayer {
                player: player.to_owned(),
                team: team.to_owned(),
            })
        }
    }

    /// Whether the teams a ball's replacements name are playing.
    pub(crate) fn check_replacements(&self, ball: &Delivery) -> Result<(), IllegalEvent> {
        match ball
            .replacements
            .iter()
            .flat_map(|r| &r.in_match)
            .find(|r| !self.teams.contains(&r.team))
        {
            Some(replacement) => Err(IllegalEvent::UnknownTeam(replacement.team.clone())),
            None => Ok(()),
        }
    }

    /// Adds the players a ball brings in by match replacement.
    pub(crate) fn replace(&mut self, ball: &Delivery) {
        for replacement in ball.replacements.iter().flat_map(|r| &r.in_match) {
            if let Some(squad) = self.by_team.get_mut(&replacement.team)
                && !squad.contains(&replacement.player_in)
            {
                squad.push(replacement.player_in.clone());
            }
        }
    }
}
