//! Geofencing of features by location: the policies and region sets in force, changed by
//! admins at runtime with an audit trail, and the node's live [`Geofence`] kept in step
//! with them.
//!
//! The policy in force for a feature is the admin's override (table
//! `accounts_geo_policies`) or else the configured one (`[geofence.features]`). The regions
//! are the built-in Indian states plus uploaded sets (`accounts_geo_region_sets`). A write
//! commits its row and its audit entry in one transaction, then swaps this node's snapshot
//! and announces [`GeofenceChanged`] so the other nodes reload; each node also reloads on a
//! timer, so a missed announcement delays a change, never loses it.

pub mod settings;
pub mod store;

use bus::{DynBus, Message};
use chrono::{SubsecRound, Utc};
use contracts::Event;
use contracts::accounts::GeofenceChanged;
use futures::StreamExt;
use geofence::{
    FeaturePolicy, Geofence, GeofenceError, IndexOptions, IpLocator, Policy, RegionIndex, Snapshot,
    Source,
};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use settings::GeofenceSettings;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use store::Change;
use tokio::sync::Notify;
use uuid::Uuid;

/// The name of the built-in set.
pub const BUILTIN_SET: &str = "india";

/// Why a geofence operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error(transparent)]
    Geofence(#[from] GeofenceError),
    #[error("{0:?} is not a valid name: 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter")]
    InvalidName(String),
    #[error("no region has the code(s) {0:?}; upload a region set that defines them first")]
    UnknownRegions(Vec<String>),
    #[error("policies still refer to region(s) {0:?} of this set; change them first")]
    RegionsInUse(Vec<String>),
    #[error("the built-in region set {BUILTIN_SET:?} cannot be replaced or deleted")]
    BuiltinSet,
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("IP database {path}: {reason}")]
    IpDatabase { path: String, reason: String },
}

/// One feature's policy as listed to admins.
#[derive(Clone, Debug)]
pub struct PolicyEntry {
    pub feature: String,
    pub rules: FeaturePolicy,
    /// `admin` when overridden at runtime, else `config`.
    pub source: &'static str,
}

/// One region set as listed to admins.
#[derive(Clone, Debug)]
pub struct RegionSetEntry {
    pub name: String,
    pub builtin: bool,
    pub codes: Vec<String>,
}

/// A region index and the (set name, updated-at) stamps of the rows it was built from.
type BuiltIndex = (Vec<(String, i64)>, Arc<RegionIndex>);

/// The geofence service of a node.
#[derive(Clone)]
pub struct GeoService {
    db: DatabaseConnection,
    bus: DynBus,
    settings: Arc<GeofenceSettings>,
    ip: Option<Arc<IpLocator>>,
    live: Arc<Geofence>,
    /// The region index with the set rows it was built from, so a reload that finds the
    /// same rows skips re-parsing half a megabyte of GeoJSON.
    regions: Arc<Mutex<Option<BuiltIndex>>>,
    /// Serialises this node's admin writes, so each validates against the state the one
    /// before it left.
    writes: Arc<tokio::sync::Mutex<()>>,
    /// Serialises reloads: two overlapping ones (a change event and a write here) could
    /// otherwise finish out of order, and the one that read the database first would
    /// install the older state last.
    reloading: Arc<tokio::sync::Mutex<()>>,
}

impl GeoService {
    /// Loads the IP database and the stored policies and regions.
    pub async fn start(
        db: DatabaseConnection,
        bus: DynBus,
        settings: GeofenceSettings,
    ) -> Result<Self, GeoError> {
        let ip = match &settings.ip_database {
            None => None,
            Some(path) => {
                let failed = |reason: String| GeoError::IpDatabase {
                    path: path.display().to_string(),
                    reason,
                };
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                Some(Arc::new(
                    IpLocator::from_bytes(bytes).map_err(|e| failed(e.to_string()))?,
                ))
            }
        };
        let empty = Snapshot {
            index: Arc::new(RegionIndex::from_sources(&[], &[])?),
            policy: Arc::new(Policy::new()),
            ip: ip.clone(),
        };
        let service = Self {
            db,
            bus,
            settings: Arc::new(settings),
            ip,
            live: Arc::new(Geofence::new(empty)),
            regions: Arc::default(),
            writes: Arc::default(),
            reloading: Arc::default(),
        };
        service.reload().await?;
        let snapshot = service.live.snapshot();
        for (feature, code) in snapshot.policy.unknown_region_codes(&snapshot.index) {
            tracing::warn!(
                feature,
                code,
                "a geofence override names a region no set defines; it never applies"
            );
        }
        Ok(service)
    }

    /// The live geofence, for guards and checks.
    pub fn live(&self) -> Arc<Geofence> {
        Arc::clone(&self.live)
    }

    /// Re-reads policies and regions and makes them what checks read.
    pub async fn reload(&self) -> Result<(), GeoError> {
        let _reloading = self.reloading.lock().await;
        let sets = store::region_sets(&self.db).await?;
        let rows = store::policies(&self.db).await?;
        let index = self.index_for(&sets)?;
        let policy = self.effective_policy(&rows);
        self.live.replace(Snapshot {
            index,
            policy: Arc::new(policy),
            ip: self.ip.clone(),
        });
        Ok(())
    }

    /// Reloads on every change announcement and every `reload_interval_seconds`, until
    /// `stop` is notified.
    pub async fn follow_changes(self, stop: Arc<Notify>) {
        let mut changes = match self.bus.subscribe(GeofenceChanged::SUBJECT).await {
            Ok(subscription) => Some(subscription),
            Err(error) => {
                tracing::warn!(%error, "geofence changes: not subscribed; relying on the timer");
                None
            }
        };
        let period = Duration::from_secs(self.settings.reload_interval_seconds.max(1));
        let mut timer = tokio::time::interval(period);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.notified() => return,
                _ = timer.tick() => {}
                Some(_) = async { match changes.as_mut() {
                    Some(changes) => changes.next().await,
                    None => std::future::pending().await,
                } } => {}
            }
            if let Err(error) = self.reload().await {
                tracing::warn!(%error, "geofence reload failed; the previous policy stays in force");
            }
        }
    }

    /// Every feature's policy in force.
    pub async fn policies(&self) -> Result<Vec<PolicyEntry>, GeoError> {
        let rows = store::policies(&self.db).await?;
        let overridden: BTreeSet<&str> = rows.iter().map(|row| row.feature.as_str()).collect();
        let policy = self.effective_policy(&rows);
        Ok(policy
            .features
            .into_iter()
            .map(|(feature, rules)| PolicyEntry {
                source: if overridden.contains(feature.as_str()) {
                    "admin"
                } else {
                    "config"
                },
                feature,
                rules,
            })
            .collect())
    }

    /// Sets `feature`'s policy. `Ok(false)`: it was that already, nothing was written.
    pub async fn put_policy(
        &self,
        actor: Uuid,
        feature: &str,
        rules: FeaturePolicy,
    ) -> Result<bool, GeoError> {
        check_name(feature)?;
        let _write = self.writes.lock().await;
        let snapshot = self.live.snapshot();
        let unknown: Vec<String> = rules
            .regions
            .keys()
            .filter(|code| snapshot.index.get(code).is_none())
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(GeoError::UnknownRegions(unknown));
        }
        let before = snapshot.policy.features.get(feature);
        if before == Some(&rules) {
            return Ok(false);
        }
        let now = Utc::now().trunc_subsecs(6);
        let rules_json = to_json(&rules);
        let txn = self.db.begin().await?;
        store::upsert_policy(
            &txn,
            store::policy::Model {
                feature: feature.to_owned(),
                rules: rules_json.clone(),
                updated_at: now,
                updated_by: actor,
            },
        )
        .await?;
        store::record(
            &txn,
            Change {
                actor,
                action: "policy.put",
                target: feature,
                before: before.map(to_json),
                after: Some(rules_json),
            },
            now,
        )
        .await?;
        txn.commit().await?;
        self.changed(format!("policy:{feature}")).await;
        Ok(true)
    }

    /// Drops the admin override of `feature`, so the configured policy (if any) applies
    /// again. `Ok(false)`: there was none.
    pub async fn delete_policy(&self, actor: Uuid, feature: &str) -> Result<bool, GeoError> {
        check_name(feature)?;
        let _write = self.writes.lock().await;
        let before = self
            .live
            .snapshot()
            .policy
            .features
            .get(feature)
            .map(to_json);
        let now = Utc::now().trunc_subsecs(6);
        let txn = self.db.begin().await?;
        if !store::delete_policy(&txn, feature).await? {
            return Ok(false);
        }
        let after = self.settings.features.get(feature).map(to_json);
        store::record(
            &txn,
            Change {
                actor,
                action: "policy.delete",
                target: feature,
                before,
                after,
            },
            now,
        )
        .await?;
        txn.commit().await?;
        self.changed(format!("policy:{feature}")).await;
        Ok(true)
    }

    /// Every region set with its codes.
    pub async fn region_sets(&self) -> Result<Vec<RegionSetEntry>, GeoError> {
        let mut entries = Vec::new();
        if self.settings.builtin_regions {
            let index =
                RegionIndex::from_sources(&[builtin_source(&IndexOptions::default())], &[])?;
            entries.push(RegionSetEntry {
                name: BUILTIN_SET.to_owned(),
                builtin: true,
                codes: index.regions().iter().map(|r| r.code.clone()).collect(),
            });
        }
        for row in store::region_sets(&self.db).await? {
            let options = options_of(&row);
            let index = RegionIndex::from_geojson_slice_with(row.geojson.as_bytes(), &options)?;
            entries.push(RegionSetEntry {
                name: row.name,
                builtin: false,
                codes: index.regions().iter().map(|r| r.code.clone()).collect(),
            });
        }
        Ok(entries)
    }

    /// Adds or replaces the uploaded set `name`. Refused, with the offending feature
    /// named, when the GeoJSON is malformed or a code clashes with another set's; refused
    /// when a policy still names a code the new version drops. `Ok(false)`: identical to
    /// what is stored, nothing was written.
    pub async fn put_region_set(
        &self,
        actor: Uuid,
        name: &str,
        geojson: String,
        options: IndexOptions,
    ) -> Result<bool, GeoError> {
        check_name(name)?;
        if name == BUILTIN_SET && self.settings.builtin_regions {
            return Err(GeoError::BuiltinSet);
        }
        let _write = self.writes.lock().await;
        let now = Utc::now().trunc_subsecs(6);
        let mut sets = store::region_sets(&self.db).await?;
        let old = sets
            .iter()
            .position(|row| row.name == name)
            .map(|i| sets.remove(i));
        if old.as_ref().is_some_and(|old| {
            old.geojson == geojson
                && old.code_property == options.code_property
                && old.name_property == options.name_property
        }) {
            return Ok(false);
        }
        let row = store::region_set::Model {
            name: name.to_owned(),
            geojson,
            code_property: options.code_property,
            name_property: options.name_property,
            updated_at: now,
            updated_by: actor,
        };
        sets.push(row.clone());
        let index = self.build_index(&sets)?;
        self.refuse_dropped_codes(&index).await?;
        let change = Change {
            actor,
            action: "regions.put",
            target: name,
            before: old.as_ref().and_then(codes_json),
            after: codes_json(&row),
        };
        let txn = self.db.begin().await?;
        store::upsert_region_set(&txn, row).await?;
        store::record(&txn, change, now).await?;
        txn.commit().await?;
        self.changed(format!("regions:{name}")).await;
        Ok(true)
    }

    /// Deletes the uploaded set `name`, unless a policy still names one of its codes.
    pub async fn delete_region_set(&self, actor: Uuid, name: &str) -> Result<bool, GeoError> {
        check_name(name)?;
        if name == BUILTIN_SET && self.settings.builtin_regions {
            return Err(GeoError::BuiltinSet);
        }
        let _write = self.writes.lock().await;
        let mut sets = store::region_sets(&self.db).await?;
        let Some(old) = sets
            .iter()
            .position(|row| row.name == name)
            .map(|i| sets.remove(i))
        else {
            return Ok(false);
        };
        let index = self.build_index(&sets)?;
        self.refuse_dropped_codes(&index).await?;
        let before = codes_json(&old);
        let now = Utc::now().trunc_subsecs(6);
        let txn = self.db.begin().await?;
        store::delete_region_set(&txn, name).await?;
        store::record(
            &txn,
            Change {
                actor,
                action: "regions.delete",
                target: name,
                before,
                after: None,
            },
            now,
        )
        .await?;
        txn.commit().await?;
        self.changed(format!("regions:{name}")).await;
        Ok(true)
    }

    /// The audit trail, newest first.
    pub async fn audit(
        &self,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<store::audit::Model>, GeoError> {
        Ok(store::audit_page(&self.db, before, limit).await?)
    }

    /// After a committed write: this node reloads now, the others on the announcement.
    async fn changed(&self, target: String) {
        if let Err(error) = self.reload().await {
            tracing::warn!(%error, "geofence reload after a change failed; the timer retries");
        }
        let event = GeofenceChanged {
            target,
            at: Utc::now(),
        };
        let published = match Message::json(GeofenceChanged::SUBJECT, &event) {
            Ok(message) => self.bus.publish(message).await,
            Err(error) => Err(error),
        };
        if let Err(error) = published {
            tracing::warn!(%error, "geofence change not announced; other nodes pick it up on their timer");
        }
    }

    /// Refuses a region change that would leave a policy override naming a code no set
    /// defines any more (it would silently stop applying).
    async fn refuse_dropped_codes(&self, index: &RegionIndex) -> Result<(), GeoError> {
        let current = self.live.snapshot();
        let known_before: BTreeSet<(&str, &str)> = current
            .policy
            .unknown_region_codes(&current.index)
            .into_iter()
            .collect();
        let dropped: BTreeSet<String> = current
            .policy
            .unknown_region_codes(index)
            .into_iter()
            .filter(|pair| !known_before.contains(pair))
            .map(|(_, code)| code.to_owned())
            .collect();
        if dropped.is_empty() {
            Ok(())
        } else {
            Err(GeoError::RegionsInUse(dropped.into_iter().collect()))
        }
    }

    /// The index for these stored sets, reusing the last one when the rows are the same.
    fn index_for(&self, sets: &[store::region_set::Model]) -> Result<Arc<RegionIndex>, GeoError> {
        let stamp: Vec<(String, i64)> = sets
            .iter()
            .map(|row| (row.name.clone(), row.updated_at.timestamp_micros()))
            .collect();
        let mut cached = self.regions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, index)) = cached.as_ref()
            && *seen == stamp
        {
            return Ok(Arc::clone(index));
        }
        let index = Arc::new(self.build_index(sets)?);
        *cached = Some((stamp, Arc::clone(&index)));
        Ok(index)
    }

    fn build_index(&self, sets: &[store::region_set::Model]) -> Result<RegionIndex, GeofenceError> {
        let default_options = IndexOptions::default();
        let options: Vec<IndexOptions> = sets.iter().map(options_of).collect();
        let mut sources = Vec::with_capacity(sets.len() + 1);
        if self.settings.builtin_regions {
            sources.push(builtin_source(&default_options));
        }
        sources.extend(sets.iter().zip(&options).map(|(row, options)| Source {
            name: &row.name,
            geojson: row.geojson.as_bytes(),
            options,
        }));
        RegionIndex::from_sources(&sources, &self.settings.countries)
    }

    /// The configured policies with the admin's overrides on top.
    fn effective_policy(&self, rows: &[store::policy::Model]) -> Policy {
        let mut policy = Policy {
            features: self.settings.features.clone(),
        };
        for row in rows {
            match serde_json::from_str::<FeaturePolicy>(&row.rules) {
                Ok(rules) => {
                    policy.features.insert(row.feature.clone(), rules);
                }
                // Only this module writes the column, from a parsed policy; a row that does
                // not parse was written by hand, and the configured policy is safer.
                Err(error) => {
                    tracing::error!(feature = row.feature, %error, "unreadable geofence policy row ignored");
                }
            }
        }
        policy
    }
}

fn builtin_source(options: &IndexOptions) -> Source<'_> {
    Source {
        name: BUILTIN_SET,
        geojson: geofence::INDIA_STATES,
        options,
    }
}

/// The codes a stored set defines, as a JSON array for the audit trail.
fn codes_json(row: &store::region_set::Model) -> Option<String> {
    RegionIndex::from_geojson_slice_with(row.geojson.as_bytes(), &options_of(row))
        .map(|index| to_json(&index.regions().iter().map(|r| &r.code).collect::<Vec<_>>()))
        .ok()
}

fn options_of(row: &store::region_set::Model) -> IndexOptions {
    IndexOptions {
        code_property: row.code_property.clone(),
        name_property: row.name_property.clone(),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain data structs to a string cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// Feature and set names: what URLs and logs can carry without escaping.
fn check_name(name: &str) -> Result<(), GeoError> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(GeoError::InvalidName(name.to_owned()))
    }
}
