//! [`Geofence`]: the node's current regions, policy and IP database behind one swappable
//! pointer, so admins change policy at runtime while checks run without a lock held across
//! any work.

use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};

use crate::error::GeofenceError;
use crate::ip::IpLocator;
use crate::policy::{Decision, Policy};
use crate::region::RegionIndex;

/// Everything one check reads, replaced as a whole.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub index: Arc<RegionIndex>,
    pub policy: Arc<Policy>,
    pub ip: Option<Arc<IpLocator>>,
}

/// The live geofence of a node. Checks clone an `Arc` under a read lock and evaluate
/// outside it; a replacement is one pointer swap.
#[derive(Debug)]
pub struct Geofence {
    current: RwLock<Arc<Snapshot>>,
}

impl Geofence {
    pub fn new(snapshot: Snapshot) -> Self {
        Self {
            current: RwLock::new(Arc::new(snapshot)),
        }
    }

    /// What checks read now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        // A panic while holding the lock can only have happened between two pointer
        // writes, so the value inside is whole either way.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Makes `snapshot` what every later check reads.
    pub fn replace(&self, snapshot: Snapshot) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
    }

    /// Decides `feature` for a request with the device's coordinates (if it sent them) and
    /// its IP address (if known), resolving the address through the IP database when one is
    /// configured. See [`Policy::decide_with`].
    pub fn check(
        &self,
        feature: &str,
        coordinates: Option<(f64, f64)>,
        ip: Option<IpAddr>,
    ) -> Result<Decision, GeofenceError> {
        let snapshot = self.snapshot();
        let ip_region = match (&snapshot.ip, ip) {
            (Some(locator), Some(ip)) => locator.region_code(ip),
            _ => None,
        };
        snapshot
            .policy
            .decide_with(feature, coordinates, ip_region.as_deref(), &snapshot.index)
    }
}
