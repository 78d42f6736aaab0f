//! The live service through its HTTP API and SSE stream, on the real node (SQLite and the
//! local bus by default; Postgres and NATS with TEST_DATABASE_URL / TEST_NATS_URL). Every
//! test makes its own matches (fresh uuids), so tests sharing one NATS server never share
//! a subject.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kernel::{Role, UserId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use testkit::TestApp;

const FIXTURES: [&str; 3] = [
    "335982.json",
    "729309.json",
    "hundred_2021-08-18_LondonSpirit_v_WelshFire.json",
];

struct Live {
    app: TestApp,
    editor: String,
}

impl Live {
    async fn new() -> Self {
        let app = TestApp::spawn(vec![Arc::new(live::Live)]).await.unwrap();
        let editor = app.token(UserId::new(), &[Role::Editor]);
        Self { app, editor }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut request = self.app.client.post(self.app.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .app
            .client
            .get(self.app.url(path))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A T20 match with its first innings under way; returns its id.
    async fn started_match(&self) -> String {
        let (status, created) = self
            .post("/v1/live/matches", Some(&self.editor), &info())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let (status, body) = self
            .post(
                &format!("/v1/live/matches/{id}/balls"),
                Some(&self.editor),
                &json!({"type": "innings_started", "team": "Kolkata"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        id
    }

    async fn ball(&self, id: &str, runs: u32) -> Value {
        let (status, body) = self
            .post(
                &format!("/v1/live/matches/{id}/balls"),
                Some(&self.editor),
                &ball(runs),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn stream(&self, id: &str, last_event_id: Option<i64>) -> Sse {
        let mut request = self
            .app
            .client
            .get(self.app.url(&format!("/v1/live/matches/{id}/stream")));
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Sse {
            response,
            buffer: Vec::new(),
        }
    }
}

fn info() -> Value {
    json!({"teams": ["Kolkata", "Bangalore"], "format": "t20", "balls_per_over": 6, "overs": 20})
}

/// Ganguly on strike to Praveen; odd runs would swap ends, so tests score evens.
fn ball(runs: u32) -> Value {
    json!({
        "type": "ball", "batter": "Ganguly", "non_striker": "McCullum", "bowler": "Praveen",
        "runs": {"batter": runs, "extras": 0, "total": runs}
    })
}

/// One SSE event as read off the wire.
#[derive(Debug)]
struct Event {
    event: String,
    id: Option<i64>,
    data: Value,
}

/// An SSE stream read by hand: `event:`, `id:` and `data:` lines, comments skipped.
struct Sse {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Sse {
    async fn next(&mut self) -> Event {
        // A bound, not a timing assertion: a broken stream fails the test instead of
        // hanging it.
        tokio::time::timeout(Duration::from_secs(20), self.read())
            .await
            .expect("no SSE event within 20 s")
    }

    async fn read(&mut self) -> Event {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let text = String::from_utf8(block).unwrap();
                let mut event = None;
                let mut id = None;
                let mut data = String::new();
                for line in text.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        event = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("id: ") {
                        id = Some(value.parse().unwrap());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push_str(value);
                    }
                }
                // A block of comments only is a heartbeat.
                if let Some(event) = event {
                    let data = serde_json::from_str(&data).unwrap();
                    return Event { event, id, data };
                }
                continue;
            }
            let chunk = self.response.chunk().await.unwrap().expect("stream ended");
            self.buffer.extend_from_slice(&chunk);
        }
    }
}

#[tokio::test]
async fn only_editors_and_admins_score() {
    let live = Live::new().await;
    let fan = live.app.token(UserId::new(), &[Role::User]);
    let admin = live.app.token(UserId::new(), &[Role::Admin]);

    let (status, body) = live.post("/v1/live/matches", None, &info()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "missing_token");
    let (status, body) = live.post("/v1/live/matches", Some(&fan), &info()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden");
    let (status, body) = live.post("/v1/live/matches", Some(&admin), &info()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let id = live.started_match().await;
    let balls = format!("/v1/live/matches/{id}/balls");
    let undo = format!("/v1/live/matches/{id}/undo");
    for path in [&balls, &undo] {
        let (status, _) = live.post(path, None, &ball(4)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = live.post(path, Some(&fan), &ball(4)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, body) = live
        .post(
            "/v1/live/matches/import",
            Some(&fan),
            &json!({"meta": {"data_version": "1.0.0"}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Reading is public; nothing the fan tried was recorded.
    let (status, card) = live.get(&format!("/v1/live/matches/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(card["seq"], 2);
    assert_eq!(card["innings"][0]["runs"], 0);
}

#[tokio::test]
async fn an_illegal_ball_is_refused_and_changes_nothing() {
    let live = Live::new().await;
    let id = live.started_match().await;
    let first = live.ball(&id, 4).await;
    assert_eq!(first["seq"], 3);
    assert_eq!(first["summary"]["innings"][0]["runs"], 4);
    let (_, before) = live.get(&format!("/v1/live/matches/{id}")).await;

    // Runs that do not add up.
    let wrong = json!({
        "type": "ball", "batter": "Ganguly", "non_striker": "McCullum", "bowler": "Praveen",
        "runs": {"batter": 4, "extras": 0, "total": 5}
    });
    let (status, problem) = live
        .post(
            &format!("/v1/live/matches/{id}/balls"),
            Some(&live.editor),
            &wrong,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "invalid_runs");
    // A batter who is not at the crease.
    let stranger = json!({
        "type": "ball", "batter": "Dravid", "non_striker": "McCullum", "bowler": "Praveen",
        "runs": {"batter": 0, "extras": 0, "total": 0}
    });
    let (status, problem) = live
        .post(
            &format!("/v1/live/matches/{id}/balls"),
            Some(&live.editor),
            &stranger,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "wrong_batter");

    let (_, after) = live.get(&format!("/v1/live/matches/{id}")).await;
    assert_eq!(after, before);
    // The next legal ball takes the very next seq: nothing was stored for the refused ones.
    let next = live.ball(&id, 2).await;
    assert_eq!(next["seq"], 4);
    assert_eq!(next["summary"]["innings"][0]["runs"], 6);

    // A fresh room (as after a restart) reads the same match back from the log.
    let other = live.app.another_node().await.unwrap();
    let response = other
        .client
        .get(other.url(&format!("/v1/live/matches/{id}")))
        .send()
        .await
        .unwrap();
    let replayed: Value = response.json().await.unwrap();
    assert_eq!(replayed["seq"], 4);
    assert_eq!(replayed["innings"][0]["runs"], 6);
}

#[tokio::test]
async fn undo_withdraws_the_last_ball_as_a_new_event() {
    let live = Live::new().await;
    let (_, created) = live
        .post("/v1/live/matches", Some(&live.editor), &info())
        .await;
    let fresh = created["id"].as_str().unwrap();
    let (status, problem) = live
        .post(
            &format!("/v1/live/matches/{fresh}/undo"),
            Some(&live.editor),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "nothing_to_undo");

    let id = live.started_match().await;
    live.ball(&id, 6).await;
    live.ball(&id, 4).await;
    let (status, undone) = live
        .post(
            &format!("/v1/live/matches/{id}/undo"),
            Some(&live.editor),
            &Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{undone}");
    assert_eq!(undone["seq"], 5);
    assert_eq!(undone["event"]["type"], "undo");
    assert_eq!(undone["summary"]["innings"][0]["runs"], 6);
    assert_eq!(undone["summary"]["innings"][0]["overs"], "0.1");
}

#[tokio::test]
async fn unknown_matches_are_404() {
    let live = Live::new().await;
    let id = uuid::Uuid::now_v7();
    let (status, problem) = live.get(&format!("/v1/live/matches/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["code"], "match_not_found");
    let (status, problem) = live
        .post(
            &format!("/v1/live/matches/{id}/balls"),
            Some(&live.editor),
            &ball(1),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["code"], "match_not_found");
    let response = live
        .app
        .client
        .get(live.app.url(&format!("/v1/live/matches/{id}/stream")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Per innings (team, runs, wickets, overs, [wides, noballs, byes, legbyes, penalty]),
/// summed from the raw Cricsheet JSON, independently of the code under test.
fn expected_innings(file: &Value) -> Vec<(String, u64, u64, String, [u64; 5])> {
    let balls_per_over = file["info"]["balls_per_over"].as_u64().unwrap_or(6);
    let mut out = Vec::new();
    for innings in file["innings"].as_array().unwrap() {
        let (mut runs, mut wickets, mut legal) = (0, 0, 0);
        let mut extras = [0_u64; 5];
        for over in innings["overs"].as_array().unwrap() {
            for delivery in over["deliveries"].as_array().unwrap() {
                runs += delivery["runs"]["total"].as_u64().unwrap();
                let kinds = &delivery["extras"];
                for (slot, kind) in ["wides", "noballs", "byes", "legbyes", "penalty"]
                    .iter()
                    .enumerate()
                {
                    extras[slot] += kinds[kind].as_u64().unwrap_or(0);
                }
                if kinds.get("wides").is_none() && kinds.get("noballs").is_none() {
                    legal += 1;
                }
                if let Some(fallen) = delivery["wickets"].as_array() {
                    // Retired hurt is not out.
                    wickets += fallen
                        .iter()
                        .filter(|wicket| wicket["kind"] != "retired hurt")
                        .count() as u64;
                }
            }
        }
        out.push((
            innings["team"].as_str().unwrap().to_owned(),
            runs,
            wickets,
            // Whole overs read "20", as on a scorecard; otherwise "19.4".
            match legal % balls_per_over {
                0 => format!("{}", legal / balls_per_over),
                balls => format!("{}.{balls}", legal / balls_per_over),
            },
            extras,
        ));
    }
    out
}

#[tokio::test]
async fn imported_fixtures_score_what_their_files_say() {
    let live = Live::new().await;
    for name in FIXTURES {
        let bytes = fixture(name);
        let response = live
            .app
            .client
            .post(live.app.url("/v1/live/matches/import"))
            .bearer_auth(&live.editor)
            .header("content-type", "application/json")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{name}");
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["status"], "completed", "{name}");
        let id = created["id"].as_str().unwrap();

        let (status, card) = live.get(&format!("/v1/live/matches/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(card["seq"], created["seq"]);
        let file: Value = serde_json::from_slice(&bytes).unwrap();
        let expected = expected_innings(&file);
        let innings = card["innings"].as_array().unwrap();
        assert_eq!(innings.len(), expected.len(), "{name}");
        for (card, (team, runs, wickets, overs, extras)) in innings.iter().zip(&expected) {
            assert_eq!(card["team"], team.as_str(), "{name}");
            assert_eq!(card["runs"], *runs, "{name} {team}");
            assert_eq!(card["wickets"], *wickets, "{name} {team}");
            assert_eq!(card["overs"], overs.as_str(), "{name} {team}");
            let got = ["wides", "noballs", "byes", "legbyes", "penalty"]
                .map(|kind| card["extras"][kind].as_u64().unwrap());
            assert_eq!(&got, extras, "{name} {team}");
        }
    }
    let (status, list) = live.get("/v1/live/matches").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), FIXTURES.len());
}

#[tokio::test]
async fn a_malformed_file_is_refused_with_its_path() {
    let live = Live::new().await;
    let mut file: Value = serde_json::from_slice(&fixture("335982.json")).unwrap();
    file["innings"][1]["overs"][3]["deliveries"][2]["runs"]["total"] = json!("four");
    let (status, problem) = live
        .post("/v1/live/matches/import", Some(&live.editor), &file)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "malformed_file");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("innings[1].overs[3].deliveries[2].runs.total"),
        "{detail}"
    );
    let (_, list) = live.get("/v1/live/matches").await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn a_viewer_resumes_with_exactly_what_it_missed() {
    let live = Live::new().await;
    let id = live.started_match().await;

    let mut stream = live.stream(&id, None).await;
    let snapshot = stream.next().await;
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.id, Some(2));
    assert_eq!(snapshot.data["seq"], 2);
    assert_eq!(snapshot.data["innings"][0]["team"], "Kolkata");
    drop(stream);

    let mut scored = Vec::new();
    for runs in [0, 2, 4, 6, 2] {
        scored.push(live.ball(&id, runs).await);
    }

    let mut stream = live.stream(&id, snapshot.id).await;
    for expected in &scored {
        let event = stream.next().await;
        assert_eq!(event.event, "event");
        assert_eq!(event.id, expected["seq"].as_i64());
        assert_eq!(&event.data, expected);
    }
    // Then live: the next ball arrives through the bus, not the log.
    let next = live.ball(&id, 4).await;
    let event = stream.next().await;
    assert_eq!(event.event, "event");
    assert_eq!(event.id, Some(8));
    assert_eq!(event.data, next);

    // A viewer already up to date gets nothing replayed, then the next ball.
    let mut current = live.stream(&id, Some(8)).await;
    let next = live.ball(&id, 0).await;
    let event = current.next().await;
    assert_eq!((event.event.as_str(), event.id), ("event", Some(9)));
    assert_eq!(event.data, next);
    let event = stream.next().await;
    assert_eq!(event.id, Some(9));

    // An id that is not one of this match's gets a fresh snapshot.
    let mut lost = live.stream(&id, Some(1000)).await;
    let event = lost.next().await;
    assert_eq!((event.event.as_str(), event.id), ("snapshot", Some(9)));
    assert_eq!(event.data["innings"][0]["runs"], 18);
}

#[tokio::test]
async fn two_rooms_for_one_match_cannot_both_append_a_seq() {
    let live = Live::new().await;
    let id = live.started_match().await;
    // Node A's room holds the match at seq 2.
    let (_, card) = live.get(&format!("/v1/live/matches/{id}")).await;
    assert_eq!(card["seq"], 2);

    // Node B (same database) appends seq 3 behind A's back.
    let other = Live {
        app: live.app.another_node().await.unwrap(),
        editor: live.editor.clone(),
    };
    assert_eq!(other.ball(&id, 4).await["seq"], 3);

    // A's room tries seq 3 too: the key refuses it, and A reloads the log.
    let (status, problem) = live
        .post(
            &format!("/v1/live/matches/{id}/balls"),
            Some(&live.editor),
            &ball(2),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "concurrent_write");
    let retried = live.ball(&id, 2).await;
    assert_eq!(retried["seq"], 4);
    assert_eq!(retried["summary"]["innings"][0]["runs"], 6);
}

#[tokio::test]
#[ignore = "needs NATS: set TEST_NATS_URL"]
async fn viewers_on_another_node_see_balls_scored_on_this_one() {
    assert!(testkit::nats_url().is_some(), "set TEST_NATS_URL");
    let live = Live::new().await;
    let id = live.started_match().await;
    let other = Live {
        app: live.app.another_node().await.unwrap(),
        editor: live.editor.clone(),
    };
    let mut stream = other.stream(&id, None).await;
    assert_eq!(stream.next().await.id, Some(2));
    let scored = live.ball(&id, 6).await;
    let event = stream.next().await;
    assert_eq!((event.event.as_str(), event.id), ("event", Some(3)));
    assert_eq!(event.data, scored);
}
