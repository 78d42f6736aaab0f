//! Operational endpoints: liveness, readiness (the database and the bus answer) and
//! Prometheus metrics.

use crate::error::{ApiError, FieldError, Problem};
use actix_web::{HttpResponse, get, web};
use futures::future::{BoxFuture, join_all};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// A dependency the node needs to serve: checked on every readiness probe.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The named checks behind `/health/ready`.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Check)>,
}

impl Readiness {
    /// Adds a named check.
    pub fn with(mut self, name: &'static str, check: Check) -> Self {
        self.checks.push((name, check));
        self
    }
}

/// The readiness report of a ready node.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ready", "checks": {"database": "ok", "bus": "ok"}}))]
pub struct ReadyReport {
    /// Always `ready` (a node that is not ready answers with a problem).
    pub status: &'static str,
    /// Each check's outcome.
    pub checks: BTreeMap<&'static str, String>,
}

/// Liveness: the process serves HTTP.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The process is alive")))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "live" }))
}

/// Readiness: the database and the bus answer; load balancers route traffic only when 200.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Every dependency answers", body = ReadyReport),
        (status = 503, description = "`not_ready`: the failing checks are listed in `errors`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/health/ready")]
pub async fn ready(readiness: web::Data<Readiness>) -> Result<HttpResponse, ApiError> {
    // A probe must answer quickly even when a dependency hangs.
    const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
    let outcomes = join_all(readiness.checks.iter().map(|(name, check)| async move {
        let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(error)) => error,
            Err(_) => "timed out".to_owned(),
        };
        (*name, outcome)
    }))
    .await;
    let failing: Vec<FieldError> = outcomes
        .iter()
        .filter(|(_, outcome)| outcome != "ok")
        .map(|(name, outcome)| FieldError {
            field: (*name).to_owned(),
            message: outcome.clone(),
        })
        .collect();
    if failing.is_empty() {
        Ok(HttpResponse::Ok().json(ReadyReport {
            status: "ready",
            checks: outcomes.into_iter().collect(),
        }))
    } else {
        tracing::warn!(checks = ?failing, "not ready");
        Err(ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "a dependency of this node does not answer",
        )
        .with_errors(failing))
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
#[get("/metrics")]
pub async fn metrics() -> Result<HttpResponse, ApiError> {
    let handle = telemetry::metrics_handle().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render()))
}

/// The OpenAPI part of these endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(paths(live, ready, metrics), tags((name = "operations", description = "Health and metrics")))]
pub struct OpsApi;

/// Registers the endpoints.
pub fn configure(config: &mut web::ServiceConfig) {
    config.service(live).service(ready).service(metrics);
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, test};

    #[actix_web::test]
    async fn a_failing_dependency_makes_the_node_not_ready() {
        let readiness = Readiness::default()
            .with("database", Arc::new(|| Box::pin(async { Ok(()) })))
            .with(
                "bus",
                Arc::new(|| Box::pin(async { Err("connection refused".to_owned()) })),
            );
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(readiness))
                .service(ready),
        )
        .await;
        let response = test::call_service(
            &app,
            test::TestRequest::get().uri("/health/ready").to_request(),
        )
        .await;
        assert_eq!(response.status(), 503);
        let problem: Problem = test::read_body_json(response).await;
        assert_eq!(problem.code, "not_ready");
        assert_eq!(
            problem.errors,
            vec![FieldError {
                field: "bus".into(),
                message: "connection refused".into()
            }]
        );
    }
}
