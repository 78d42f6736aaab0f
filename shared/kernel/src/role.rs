//! Roles a user can hold. They ride in access tokens and every route checks them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a user may do. A user holds one or more roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A fan: plays, holds a wallet, redeems rewards.
    User,
    /// Publishes content and scores live matches.
    Editor,
    /// Operates the platform.
    Admin,
    /// A partner site embedding our widgets.
    Partner,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 4] = [Role::User, Role::Editor, Role::Admin, Role::Partner];

    /// The role's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Partner => "partner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}` (expected one of: user, editor, admin, partner)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_parses_from_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(
                serde_json::to_string(&role).unwrap(),
                format!("\"{}\"", role.as_str())
            );
        }
        assert!("root".parse::<Role>().is_err());
    }
}
