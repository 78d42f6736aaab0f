//! Live scoring through several `platform serve` processes on one database (and, under
//! `TEST_NATS_URL`, one NATS): what scorers behind a round-robin balancer see.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use kernel::{Role, UserId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// Thirty balls of one match scored through three nodes in turn: every one is recorded
/// (201, never a 409 for another node's write), the match's log holds them with gapless
/// seqs, and every node shows the same scorecard.
#[tokio::test]
async fn balls_scored_through_three_nodes_in_turn_are_all_recorded() {
    let deployment = common::Deployment::new().await;
    let nodes = [
        deployment.node(&[]),
        deployment.node(&[]),
        deployment.node(&[]),
    ];
    let editor = testkit::token(UserId::new(), &[Role::Editor]);
    let client = &deployment.client;
    let post = |node: &common::Node, path: String, body: Value| {
        client
            .post(node.url(&path))
            .bearer_auth(&editor)
            .json(&body)
            .send()
    };

    let info = json!({"teams": ["Kolkata", "Bangalore"], "format": "t20",
        "balls_per_over": 6, "overs": 20});
    let response = post(&nodes[0], "/v1/live/matches".into(), info)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let balls = format!("/v1/live/matches/{id}/balls");
    let response = post(
        &nodes[1],
        balls.clone(),
        json!({"type": "innings_started", "team": "Kolkata"}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    let mut runs = 0;
    for n in 0..30_usize {
        // Even runs, so Ganguly keeps the strike; a new over swaps ends, so the bowler
        // and the striker follow the over.
        let scored = [0, 2, 4, 6, 2, 0][n % 6];
        let over = n / 6;
        let (batter, non_striker) = if over % 2 == 0 {
            ("Ganguly", "McCullum")
        } else {
            ("McCullum", "Ganguly")
        };
        let bowler = if over % 2 == 0 { "Praveen" } else { "Zaheer" };
        let ball = json!({"type": "ball", "batter": batter, "non_striker": non_striker,
            "bowler": bowler, "runs": {"batter": scored, "extras": 0, "total": scored}});
        let node = &nodes[n % 3];
        let response = post(node, balls.clone(), ball).await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(
            status,
            StatusCode::CREATED,
            "ball {n} through node {}: {body}",
            n % 3
        );
        runs += scored;
        assert_eq!(body["seq"], n + 3, "{body}");
        assert_eq!(body["summary"]["innings"][0]["runs"], runs, "{body}");
    }

    // The log: seqs 1 (the match) to 32, one event each, no gap.
    let db = sea_orm::Database::connect(deployment.database_url())
        .await
        .unwrap();
    let log = live::store::log(&db, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let seqs: Vec<i64> = log.iter().map(|logged| logged.seq).collect();
    assert_eq!(seqs, (1..=32).collect::<Vec<i64>>());

    // Every node shows the same match (one that wrote none of the last balls catches up).
    let card = format!("/v1/live/matches/{id}");
    let get = |node: &common::Node| {
        let url = node.url(&card);
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    let expected = get(&nodes[2]).await;
    assert_eq!(expected["seq"], 32, "{expected}");
    assert_eq!(expected["innings"][0]["runs"], runs, "{expected}");
    assert_eq!(expected["innings"][0]["overs"], "5", "{expected}");
    for node in &nodes {
        testkit::eventually(
            "every node shows the latest scorecard",
            Duration::from_secs(10),
            || async { get(node).await == expected },
        )
        .await;
    }
    for mut node in nodes {
        assert!(node.is_running());
        node.kill();
    }
}
