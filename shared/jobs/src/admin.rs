//! `/v1/admin/jobs`: operators list and inspect jobs, retry and cancel them, see queue
//! counts, and pause or resume queues. Admins only. Mounted by the [`JobsModule`], which
//! also owns the jobs tables' migrations; the runners that execute jobs are started by
//! the services whose workers they run.

use crate::client::Jobs;
use crate::error::JobsError;
use crate::job::JobView;
use crate::store::{ListFilter, QueueStats};
use actix_web::web::{Data, Path, Query, ServiceConfig};
use actix_web::{HttpResponse, get, post};
use runtime::{Context, Module, Routes};
use serde::Serialize;
use std::sync::Arc;
use utoipa::{OpenApi, ToSchema};
use web::{Admins, ApiError, Authorized, Problem};

/// The jobs part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(list, one, retry, cancel, queues, pause, resume),
    components(schemas(Problem, JobView, QueueStats, Changed)),
    tags((name = "jobs", description = "Background jobs and their queues, for operators"))
)]
pub struct JobsApi;

/// Whether an action changed the job.
#[derive(Serialize, ToSchema)]
pub struct Changed {
    pub changed: bool,
}

impl From<JobsError> for ApiError {
    fn from(error: JobsError) -> Self {
        match error {
            JobsError::NotFound(_) => ApiError::not_found("job_not_found", error.to_string()),
            JobsError::UniqueConflict { .. } => {
                ApiError::conflict("unique_conflict", error.to_string())
            }
            JobsError::Invalid { .. } => ApiError::validation("invalid_queue", error.to_string()),
            _ => ApiError::internal(error),
        }
    }
}

/// Jobs, newest first, filtered by queue, state and worker; page with `before`.
#[utoipa::path(
    operation_id = "list_jobs",
    tag = "jobs",
    security(("bearer" = [])),
    params(ListFilter),
    responses(
        (status = 200, description = "The jobs", body = Vec<JobView>),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/admin/jobs")]
pub async fn list(
    jobs: Data<Jobs>,
    _admin: Authorized<Admins>,
    filter: Query<ListFilter>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(jobs.list(&filter).await?))
}

/// Jobs per state in every queue, and which queues are paused.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Counts per queue", body = Vec<QueueStats>),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/admin/jobs/queues")]
pub async fn queues(
    jobs: Data<Jobs>,
    _admin: Authorized<Admins>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(jobs.stats().await?))
}

/// Stop every node from starting jobs of a queue; running ones finish.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    params(("queue" = String, Path, description = "The queue")),
    responses(
        (status = 204, description = "Paused"),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_queue`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/admin/jobs/queues/{queue}/pause")]
pub async fn pause(
    jobs: Data<Jobs>,
    _admin: Authorized<Admins>,
    queue: Path<String>,
) -> Result<HttpResponse, ApiError> {
    jobs.pause(&queue).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Let nodes start jobs of a paused queue again.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    params(("queue" = String, Path, description = "The queue")),
    responses(
        (status = 204, description = "Resumed"),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_queue`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/admin/jobs/queues/{queue}/resume")]
pub async fn resume(
    jobs: Data<Jobs>,
    _admin: Authorized<Admins>,
    queue: Path<String>,
) -> Result<HttpResponse, ApiError> {
    jobs.resume(&queue).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One job, with the error of each failed attempt.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`job_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/admin/jobs/{id}")]
pub async fn one(
    jobs: Data<Jobs>,
    _admin: Authorized<Admins>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job = jobs
        .get(&id)
        .await?
        .ok_or_else(|| JobsError::NotFound(id.into_inner()))?;
    Ok(HttpResponse::Ok().json(job))
}

/// Run a finished or retryable job again now; `changed` is false when it is already
/// waiting or running.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "Retried, or left as it was", body = Changed),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`job_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`unique_conflict`: another job holds its unique key", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/admin/jobs/{id}/retry")]
pub async fn retry(
    jobs: Data<Jobs>,
    _admin: Authorized<Admins>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let changed = jobs.retry(&id).await?;
    Ok(HttpResponse::Ok().json(Changed { changed }))
}

/// Cancel a job: a waiting one never runs, a running one is stopped; `changed` is false
/// when it had already finished.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "Cancelled, or left as it was", body = Changed),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`job_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/admin/jobs/{id}/cancel")]
pub async fn cancel(
    jobs: Data<Jobs>,
    _admin: Authorized<Admins>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let changed = jobs.cancel(&id).await?;
    Ok(HttpResponse::Ok().json(Changed { changed }))
}

/// Registers the routes; the fixed `queues` paths before `{id}`, which would match them.
pub fn configure(config: &mut ServiceConfig, jobs: Data<Jobs>) {
    config
        .app_data(jobs)
        .service(list)
        .service(queues)
        .service(pause)
        .service(resume)
        .service(one)
        .service(retry)
        .service(cancel);
}

/// The jobs tables and their admin API, as the node mounts them.
pub struct JobsModule;

#[async_trait::async_trait]
impl Module for JobsModule {
    fn name(&self) -> &'static str {
        "jobs"
    }

    fn migrations(&self) -> Option<storage::Migrations> {
        Some(crate::migrations())
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        JobsApi::openapi()
    }

    async fn start(&self, context: &Context) -> anyhow::Result<Routes> {
        let jobs = Data::new(Jobs::new(context.db.clone(), context.bus.clone()));
        Ok(Arc::new(move |config| configure(config, jobs.clone())))
    }
}
