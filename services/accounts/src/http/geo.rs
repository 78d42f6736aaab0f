//! `/v1/geo/check` (may this user use this feature where they are?) and
//! `/v1/admin/geo/...` (policies, region sets and the audit trail, for admins).

use crate::geo::{GeoError, GeoService};
use actix_web::http::header;
use actix_web::web::{Bytes, Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put};
use geofence::{Basis, FeaturePolicy, IndexOptions, Reason};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use web::client::{TrustedProxies, client_ip};
use web::{Admins, ApiError, Authorized, Problem};

/// Where the device says it is, in WGS84 decimal degrees.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Position {
    #[schema(example = 17.385)]
    pub lat: f64,
    #[schema(example = 78.4867)]
    pub lon: f64,
}

/// A feature and, optionally, the device's position. The caller's IP address is used too.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"feature": "paid_quiz", "position": {"lat": 17.385, "lon": 78.4867}}))]
pub struct CheckRequest {
    pub feature: String,
    pub position: Option<Position>,
}

/// The decision, with the region it was made for and why.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"feature": "paid_quiz", "allowed": false, "region": "IN-TS", "reason": "region_denied", "basis": "coordinates"}))]
pub struct CheckResponse {
    pub feature: String,
    pub allowed: bool,
    /// The region (`IN-TS`) or country (`IN`) the location resolved to.
    pub region: Option<String>,
    /// `region_allowed`, `region_denied`, `default_allowed`, `default_denied`,
    /// `outside_known_regions`, `location_unknown` or `location_mismatch`.
    #[schema(value_type = String)]
    pub reason: Reason,
    /// `coordinates`, `ip` or `none`: which evidence decided.
    #[schema(value_type = String)]
    pub basis: Basis,
}

/// Whether a feature is available where the caller is. The device's position decides when
/// given; the caller's IP address decides without one and is cross-checked with one (a
/// position and an address in different countries is `location_mismatch`).
#[utoipa::path(
    tag = "geo",
    request_body = CheckRequest,
    responses(
        (status = 200, description = "The decision", body = CheckResponse),
        (status = 400, description = "`malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_feature`, `invalid_latitude`, `invalid_longitude` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/geo/check")]
pub async fn check(
    service: Data<GeoService>,
    request: HttpRequest,
    body: Json<CheckRequest>,
) -> Result<HttpResponse, ApiError> {
    let trusted = request
        .app_data::<Data<TrustedProxies>>()
        .map(|data| data.0.clone())
        .unwrap_or_default();
    let ip = client_ip(&request, &trusted);
    let position = body.position.as_ref().map(|p| (p.lat, p.lon));
    let decision = service.live().check(&body.feature, position, ip)?;
    Ok(HttpResponse::Ok().json(CheckResponse {
        feature: body.feature.clone(),
        allowed: decision.allowed,
        region: decision.region,
        reason: decision.reason,
        basis: decision.basis,
    }))
}

/// One feature's rules.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"default": "allow", "outside": "deny", "mismatch": "deny", "regions": {"IN-TS": "deny", "IN-AS": "deny"}}))]
pub struct Rules {
    /// `allow` or `deny` in a known region without an override.
    #[schema(value_type = String)]
    pub default: geofence::Rule,
    /// Overrides by region or country code.
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub regions: std::collections::BTreeMap<String, geofence::Rule>,
    /// `allow` or `deny` outside every known region and with no location.
    #[schema(value_type = String)]
    pub outside: geofence::Rule,
    /// `allow` or `deny` when position and IP address are in different countries
    /// (default `deny`).
    #[serde(default = "deny")]
    #[schema(value_type = String)]
    pub mismatch: geofence::Rule,
}

fn deny() -> geofence::Rule {
    geofence::Rule::Deny
}

impl From<FeaturePolicy> for Rules {
    fn from(p: FeaturePolicy) -> Self {
        Self {
            default: p.default,
            regions: p.regions,
            outside: p.outside,
            mismatch: p.mismatch,
        }
    }
}

impl From<Rules> for FeaturePolicy {
    fn from(r: Rules) -> Self {
        let mut policy = FeaturePolicy::new(r.default, r.outside).with_mismatch(r.mismatch);
        policy.regions = r.regions;
        policy
    }
}

/// A feature's policy in force and where it comes from.
#[derive(Serialize, ToSchema)]
pub struct PolicyView {
    pub feature: String,
    /// `admin` (set at runtime) or `config`.
    pub source: &'static str,
    pub rules: Rules,
}

const ADMIN_ERRORS: &str = "`missing_token`, `invalid_token` or `token_expired`";

/// Every feature's policy in force.
#[utoipa::path(
    tag = "geo",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The policies", body = Vec<PolicyView>),
        (status = 401, description = ADMIN_ERRORS, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/admin/geo/policies")]
pub async fn list_policies(
    service: Data<GeoService>,
    _admin: Authorized<Admins>,
) -> Result<HttpResponse, ApiError> {
    let views: Vec<PolicyView> = service
        .policies()
        .await?
        .into_iter()
        .map(|entry| PolicyView {
            feature: entry.feature,
            source: entry.source,
            rules: entry.rules.into(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Sets a feature's policy; it applies on every node at once (within
/// `reload_interval_seconds` at worst) and is recorded in the audit trail. Sending the
/// policy in force changes nothing and records nothing.
#[utoipa::path(
    tag = "geo",
    security(("bearer" = [])),
    params(("feature" = String, Path, description = "The feature, e.g. `paid_quiz`")),
    request_body = Rules,
    responses(
        (status = 200, description = "The policy now in force", body = PolicyView),
        (status = 401, description = ADMIN_ERRORS, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_name`, `unknown_region` or `invalid_body`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/v1/admin/geo/policies/{feature}")]
pub async fn put_policy(
    service: Data<GeoService>,
    admin: Authorized<Admins>,
    feature: Path<String>,
    rules: Json<Rules>,
) -> Result<HttpResponse, ApiError> {
    let rules: FeaturePolicy = rules.into_inner().into();
    service
        .put_policy(admin.0.user_id().0, &feature, rules.clone())
        .await?;
    Ok(HttpResponse::Ok().json(PolicyView {
        feature: feature.into_inner(),
        source: "admin",
        rules: rules.into(),
    }))
}

/// Drops the runtime override of a feature's policy; the configured one applies again.
/// Idempotent.
#[utoipa::path(
    tag = "geo",
    security(("bearer" = [])),
    params(("feature" = String, Path, description = "The feature")),
    responses(
        (status = 204, description = "No override remains"),
        (status = 401, description = ADMIN_ERRORS, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_name`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/v1/admin/geo/policies/{feature}")]
pub async fn delete_policy(
    service: Data<GeoService>,
    admin: Authorized<Admins>,
    feature: Path<String>,
) -> Result<HttpResponse, ApiError> {
    service.delete_policy(admin.0.user_id().0, &feature).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A region set and the codes it defines.
#[derive(Serialize, ToSchema)]
pub struct RegionSetView {
    pub name: String,
    /// Shipped in the binary; cannot be replaced or deleted.
    pub builtin: bool,
    pub codes: Vec<String>,
}

/// Every region set.
#[utoipa::path(
    tag = "geo",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sets", body = Vec<RegionSetView>),
        (status = 401, description = ADMIN_ERRORS, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/admin/geo/regions")]
pub async fn list_region_sets(
    service: Data<GeoService>,
    _admin: Authorized<Admins>,
) -> Result<HttpResponse, ApiError> {
    let views: Vec<RegionSetView> = service
        .region_sets()
        .await?
        .into_iter()
        .map(|set| RegionSetView {
            name: set.name,
            builtin: set.builtin,
            codes: set.codes,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Which feature properties carry each region's code and name.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SetOptions {
    /// Default `iso_3166_2`.
    pub code_property: Option<String>,
    /// Default `name`.
    pub name_property: Option<String>,
}

/// The largest region set accepted (a detailed country's subdivisions fit with room).
pub const MAX_REGION_SET_BYTES: usize = 16 * 1024 * 1024;

/// Adds or replaces an uploaded region set: a GeoJSON `FeatureCollection` of Polygon and
/// MultiPolygon features, each with a region code. A malformed feature is named in the
/// error (`feature #3 (name "Goa"): ...`). Uploading what is stored changes nothing.
#[utoipa::path(
    put,
    path = "/v1/admin/geo/regions/{set}",
    tag = "geo",
    security(("bearer" = [])),
    params(("set" = String, Path, description = "The set's name"), SetOptions),
    request_body(content = Object, content_type = "application/geo+json", description = "A GeoJSON FeatureCollection"),
    responses(
        (status = 200, description = "The set now stored", body = RegionSetView),
        (status = 401, description = ADMIN_ERRORS, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`builtin_region_set` or `region_in_use` (a policy names a code the new version drops)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: send application/geo+json or application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_name`, `invalid_json`, `not_feature_collection`, `malformed_feature`, `missing_geometry`, `unsupported_geometry`, `missing_region_code`, `duplicate_region_code`, `invalid_geometry` or `invalid_country_code`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_region_set(
    service: Data<GeoService>,
    admin: Authorized<Admins>,
    request: HttpRequest,
    set: Path<String>,
    options: Query<SetOptions>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let media_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    if !matches!(
        media_type,
        Some("application/geo+json" | "application/json")
    ) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the region set as application/geo+json",
        ));
    }
    let geojson = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::validation("invalid_json", "the body is not UTF-8"))?;
    let defaults = IndexOptions::default();
    let options = options.into_inner();
    let options = IndexOptions {
        code_property: options.code_property.unwrap_or(defaults.code_property),
        name_property: options.name_property.unwrap_or(defaults.name_property),
    };
    service
        .put_region_set(admin.0.user_id().0, &set, geojson, options)
        .await?;
    let view = service
        .region_sets()
        .await?
        .into_iter()
        .find(|entry| entry.name == *set)
        .map(|entry| RegionSetView {
            name: entry.name,
            builtin: entry.builtin,
            codes: entry.codes,
        });
    Ok(HttpResponse::Ok().json(view))
}

/// Deletes an uploaded region set, unless a policy still names one of its codes.
/// Idempotent.
#[utoipa::path(
    delete,
    path = "/v1/admin/geo/regions/{set}",
    tag = "geo",
    security(("bearer" = [])),
    params(("set" = String, Path, description = "The set's name")),
    responses(
        (status = 204, description = "The set is gone"),
        (status = 401, description = ADMIN_ERRORS, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`builtin_region_set` or `region_in_use`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_name`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_region_set(
    service: Data<GeoService>,
    admin: Authorized<Admins>,
    set: Path<String>,
) -> Result<HttpResponse, ApiError> {
    service.delete_region_set(admin.0.user_id().0, &set).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A page of the audit trail.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries older than this entry id (the last `id` of the previous page).
    pub before: Option<Uuid>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

/// One change, who made it and when.
#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The admin's user id.
    pub actor: Uuid,
    /// `policy.put`, `policy.delete`, `regions.put` or `regions.delete`.
    pub action: String,
    /// The feature or set name.
    pub target: String,
    /// The policy (or the set's codes) before, as JSON.
    pub before: Option<serde_json::Value>,
    /// And after.
    pub after: Option<serde_json::Value>,
}

/// Who changed which policy or region set, newest first.
#[utoipa::path(
    tag = "geo",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "Newest first", body = Vec<AuditEntry>),
        (status = 401, description = ADMIN_ERRORS, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_limit` or `invalid_query`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/admin/geo/audit")]
pub async fn audit(
    service: Data<GeoService>,
    _admin: Authorized<Admins>,
    query: Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation(
            "invalid_limit",
            "limit must be 1 to 200",
        ));
    }
    let parse = |text: Option<String>| text.and_then(|text| serde_json::from_str(&text).ok());
    let entries: Vec<AuditEntry> = service
        .audit(query.before, limit)
        .await?
        .into_iter()
        .map(|row| AuditEntry {
            id: row.id,
            at: row.at,
            actor: row.actor,
            action: row.action,
            target: row.target,
            before: parse(row.before),
            after: parse(row.after),
        })
        .collect();
    Ok(HttpResponse::Ok().json(entries))
}

impl From<GeoError> for ApiError {
    fn from(error: GeoError) -> Self {
        match &error {
            GeoError::Geofence(inner) => {
                let inner = inner.clone();
                ApiError::from(inner)
            }
            GeoError::InvalidName(_) => ApiError::validation("invalid_name", error.to_string()),
            GeoError::UnknownRegions(_) => {
                ApiError::validation("unknown_region", error.to_string())
            }
            GeoError::RegionsInUse(_) => ApiError::conflict("region_in_use", error.to_string()),
            GeoError::BuiltinSet => ApiError::conflict("builtin_region_set", error.to_string()),
            GeoError::Db(_) | GeoError::IpDatabase { .. } => ApiError::internal(error),
        }
    }
}
