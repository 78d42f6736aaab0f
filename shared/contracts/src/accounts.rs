//! Events of the accounts service.

use crate::Event;
use chrono::{DateTime, Utc};
use kernel::{Role, UserId};
use serde::{Deserialize, Serialize};

/// A new user signed up. Rewards campaigns (welcome bonus, referral) react to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSignedUp {
    pub user_id: UserId,
    pub roles: Vec<Role>,
    pub at: DateTime<Utc>,
}

impl Event for UserSignedUp {
    const SUBJECT: &'static str = "accounts.v1.user.signed_up";
}

/// A user logged in (daily login streaks are counted from it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserLoggedIn {
    pub user_id: UserId,
    pub at: DateTime<Utc>,
}

impl Event for UserLoggedIn {
    const SUBJECT: &'static str = "accounts.v1.user.logged_in";
}

/// An admin changed a geofence policy or region set. Every node reloads its geofence from
/// the database on it (and on a timer, in case it was missed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeofenceChanged {
    /// What changed: `policy:<feature>` or `regions:<set>`.
    pub target: String,
    pub at: DateTime<Utc>,
}

impl Event for GeofenceChanged {
    const SUBJECT: &'static str = "accounts.v1.geofence.changed";
}
