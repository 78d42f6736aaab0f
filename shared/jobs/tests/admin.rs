//! `/v1/admin/jobs` on the real node (SQLite and the local bus by default; Postgres and
//! NATS with TEST_DATABASE_URL / TEST_NATS_URL), talked to over HTTP like a client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jobs::{Job, JobError, JobOptions, Jobs, NewJob, Worker};
use kernel::{Role, UserId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use testkit::TestApp;

struct Report;

impl Worker for Report {
    const NAME: &'static str = "test.report";
    type Args = Value;

    fn options() -> JobOptions {
        JobOptions::default().queue("reports")
    }

    async fn perform(&self, _job: Job<Value>) -> Result<Value, JobError> {
        Ok(Value::Null)
    }
}

async fn call(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
) -> (StatusCode, Value) {
    let response = app
        .client
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_list_cancel_retry_and_pause_jobs() {
    let app = TestApp::spawn(vec![Arc::new(jobs::JobsModule)])
        .await
        .unwrap();
    let admin = app.token(UserId::new(), &[Role::Admin]);
    let user = app.token(UserId::new(), &[Role::User]);
    let jobs = Jobs::new(app.node().db().clone(), app.node().bus().clone());
    let a = jobs
        .enqueue(NewJob::of::<Report>(&json!({"n": 1})).unwrap())
        .await
        .unwrap();
    let b = jobs
        .enqueue(NewJob::of::<Report>(&json!({"n": 2})).unwrap())
        .await
        .unwrap();

    let (status, body) = call(&app, &user, reqwest::Method::GET, "/v1/admin/jobs").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden");

    let (status, body) = call(
        &app,
        &admin,
        reqwest::Method::GET,
        "/v1/admin/jobs?queue=reports&state=available",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b.id.as_str(), a.id.as_str()], "newest first");
    let (_, page) = call(
        &app,
        &admin,
        reqwest::Method::GET,
        &format!("/v1/admin/jobs?limit=1&before={}", b.id),
    )
    .await;
    assert_eq!(page[0]["id"], a.id.as_str());

    let (status, body) = call(
        &app,
        &admin,
        reqwest::Method::POST,
        &format!("/v1/admin/jobs/{}/cancel", a.id),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"changed": true})));
    let (_, job) = call(
        &app,
        &admin,
        reqwest::Method::GET,
        &format!("/v1/admin/jobs/{}", a.id),
    )
    .await;
    assert_eq!(job["state"], "cancelled");
    let (status, body) = call(
        &app,
        &admin,
        reqwest::Method::POST,
        &format!("/v1/admin/jobs/{}/retry", a.id),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"changed": true})));
    let (_, job) = call(
        &app,
        &admin,
        reqwest::Method::GET,
        &format!("/v1/admin/jobs/{}", a.id),
    )
    .await;
    assert_eq!(job["state"], "available");

    let (status, body) = call(
        &app,
        &admin,
        reqwest::Method::GET,
        "/v1/admin/jobs/no-such-job",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "job_not_found");
    let (status, _) = call(
        &app,
        &admin,
        reqwest::Method::POST,
        "/v1/admin/jobs/no-such-job/cancel",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = call(
        &app,
        &admin,
        reqwest::Method::POST,
        "/v1/admin/jobs/queues/reports/pause",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(&app, &admin, reqwest::Method::GET, "/v1/admin/jobs/queues").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!([{"queue": "reports", "paused": true, "scheduled": 0, "available": 2, "executing": 0,
            "retryable": 0, "completed": 0, "discarded": 0, "cancelled": 0}])
    );
    let (status, _) = call(
        &app,
        &admin,
        reqwest::Method::POST,
        "/v1/admin/jobs/queues/reports/resume",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(
        &app,
        &admin,
        reqwest::Method::POST,
        "/v1/admin/jobs/queues/bad.name/pause",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (status, doc) = call(&app, &admin, reqwest::Method::GET, "/api-docs/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/v1/admin/jobs",
        "/v1/admin/jobs/{id}/cancel",
        "/v1/admin/jobs/queues/{queue}/pause",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    app.shutdown().await.unwrap();
}
