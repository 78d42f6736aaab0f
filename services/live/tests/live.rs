//! The live service through its HTTP API and SSE stream, on the real node (SQLite and the
//! local bus by default; Postgres and NATS with TEST_DATABASE_URL / TEST_NATS_URL). Every
//! test makes its own matches (fresh uuids), so tests sharing one NATS server never share
//! a subject.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kernel::{Role, UserId};
use reqwest::StatusCode;
use runtime::settings::Figment;
use sea_orm::ConnectionTrait;
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
        Self::with(|settings| settings).await
    }

    /// A node with its settings adjusted by `configure`, and an editor's token.
    async fn with(configure: impl FnOnce(Figment) -> Figment) -> Self {
        let app = TestApp::spawn_with(vec![Arc::new(live::Live)], configure)
            .await
            .unwrap();
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

    /// POSTs an event with extra headers; returns the status, whether the answer was a
    /// replay of an earlier one, and the body.
    async fn score(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (StatusCode, bool, Value) {
        let mut request = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(&self.editor)
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|value| value == "true");
        (
            status,
            replayed,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// Another node of the same deployment, with the same editor.
    async fn another(&self) -> Self {
        Self {
            app: self.app.another_node().await.unwrap(),
            editor: self.editor.clone(),
        }
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
            if let Some(event) = take_event(&mut self.buffer) {
                return event;
            }
            let chunk = self.response.chunk().await.unwrap().expect("stream ended");
            self.buffer.extend_from_slice(&chunk);
        }
    }
}

/// The next whole SSE event at the front of `buffer`, if there is one; heartbeats (blocks
/// of comments only) are dropped on the way.
fn take_event(buffer: &mut Vec<u8>) -> Option<Event> {
    while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
        let block: Vec<u8> = buffer.drain(..end + 2).collect();
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
        if let Some(event) = event {
            let data = serde_json::from_str(&data).unwrap();
            return Some(Event { event, id, data });
        }
    }
    None
}

/// An SSE client on a bare socket whose receive buffer is kept small, so that when it
/// stops reading, the server's writes back up after kilobytes rather than the tens of
/// megabytes Linux lets a loopback socket grow to. It speaks just enough HTTP/1.1 for one
/// chunked response.
struct RawSse {
    socket: tokio::net::TcpStream,
    /// Received, not yet de-chunked.
    raw: Vec<u8>,
    /// De-chunked body, not yet parsed into events.
    body: Vec<u8>,
    ended: bool,
}

impl RawSse {
    async fn open(app: &TestApp, path: &str) -> Self {
        use tokio::io::AsyncWriteExt;

        let address = app.address.trim_start_matches("http://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut socket = socket.connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n");
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut sse = Self {
            socket,
            raw: Vec::new(),
            body: Vec::new(),
            ended: false,
        };
        let end = loop {
            if let Some(end) = sse.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            assert!(sse.fill().await, "closed before the response head");
        };
        let head = String::from_utf8(sse.raw.drain(..end + 4).collect())
            .unwrap()
            .to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        sse
    }

    /// Reads what the socket has; false at end of stream.
    async fn fill(&mut self) -> bool {
        use tokio::io::AsyncReadExt;

        let mut chunk = [0_u8; 16 * 1024];
        let read = self.socket.read(&mut chunk).await.unwrap();
        self.raw.extend_from_slice(&chunk[..read]);
        read > 0
    }

    /// The next event, or `None` once the server has ended the response.
    async fn next(&mut self) -> Option<Event> {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Some(event) = take_event(&mut self.body) {
                    return Some(event);
                }
                if self.ended || !self.dechunk() && !self.fill().await {
                    return None;
                }
            }
        })
        .await
        .expect("no SSE event or end within 20 s")
    }

    /// Moves one whole chunk from `raw` to `body`; false when none is complete yet.
    fn dechunk(&mut self) -> bool {
        let Some(line) = self.raw.windows(2).position(|w| w == b"\r\n") else {
            return false;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&self.raw[..line]).unwrap(), 16).unwrap();
        if self.raw.len() < line + 2 + size + 2 {
            return false;
        }
        self.body
            .extend_from_slice(&self.raw[line + 2..line + 2 + size]);
        self.raw.drain(..line + 2 + size + 2);
        self.ended = size == 0;
        true
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

/// Every way of addressing a match that does not exist is a 404 problem with one code,
/// and records nothing (that no room or subscription is left behind is checked beside the
/// service, where they can be counted).
#[tokio::test]
async fn unknown_matches_are_404() {
    let live = Live::new().await;
    let id = uuid::Uuid::now_v7();
    let (status, problem) = live.get(&format!("/v1/live/matches/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["code"], "match_not_found");
    for (path, body) in [("balls", ball(1)), ("undo", Value::Null)] {
        let (status, problem) = live
            .post(
                &format!("/v1/live/matches/{id}/{path}"),
                Some(&live.editor),
                &body,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(problem["code"], "match_not_found", "{path}");
    }
    for last_event_id in [None, Some("3")] {
        let mut request = live
            .app
            .client
            .get(live.app.url(&format!("/v1/live/matches/{id}/stream")));
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "match_not_found");
    }
    // Asking did not make the match exist.
    let (status, problem) = live.get(&format!("/v1/live/matches/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (_, list) = live.get("/v1/live/matches").await;
    assert_eq!(list, json!([]));
}

/// A scorer whose answer was lost resends with the same `Idempotency-Key` and gets the
/// first answer back, however often and on whichever node; `If-Match` refuses a ball
/// scored on top of one the scorer had not seen. Nothing refused is recorded.
#[tokio::test]
async fn a_resent_ball_is_recorded_once() {
    let live = Live::new().await;
    let id = live.started_match().await;
    let balls = format!("/v1/live/matches/{id}/balls");
    let card = format!("/v1/live/matches/{id}");

    let (status, replayed, first) = live
        .score(&balls, &ball(4), &[("Idempotency-Key", "over-1-ball-1")])
        .await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{first}");
    assert_eq!(first["seq"], 3);
    let (status, replayed, again) = live
        .score(&balls, &ball(4), &[("Idempotency-Key", "over-1-ball-1")])
        .await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true), "{again}");
    assert_eq!(again, first);

    // The match moves on; a late resend still gets the first answer, score and all.
    assert_eq!(live.ball(&id, 2).await["seq"], 4);
    let (status, replayed, late) = live
        .score(&balls, &ball(4), &[("Idempotency-Key", "over-1-ball-1")])
        .await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true), "{late}");
    assert_eq!(late, first);

    // The same key with another ball is a client bug, not a resend.
    let (status, _, problem) = live
        .score(&balls, &ball(6), &[("Idempotency-Key", "over-1-ball-1")])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "idempotency_key_reused");

    // If-Match: the seq the scorer last saw.
    let (status, _, fifth) = live.score(&balls, &ball(6), &[("If-Match", "\"4\"")]).await;
    assert_eq!(status, StatusCode::CREATED, "{fifth}");
    assert_eq!(fifth["seq"], 5);
    let (status, _, problem) = live.score(&balls, &ball(6), &[("If-Match", "\"4\"")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "seq_mismatch");
    assert!(
        problem["detail"].as_str().unwrap().contains("seq 5"),
        "{problem}"
    );

    // Both together, as a careful scorer sends them: the retry of a ball that was recorded
    // is answered by the key, although its If-Match is now stale.
    let guarded = [("Idempotency-Key", "over-1-ball-4"), ("If-Match", "\"5\"")];
    let (status, replayed, sixth) = live.score(&balls, &ball(0), &guarded).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{sixth}");
    assert_eq!(sixth["seq"], 6);
    let (status, replayed, again) = live.score(&balls, &ball(0), &guarded).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true), "{again}");
    assert_eq!(again, sixth);

    // Undo is guarded the same way: resending it withdraws nothing more.
    let undo = format!("/v1/live/matches/{id}/undo");
    let key = [("Idempotency-Key", "undo-1")];
    let (status, _, undone) = live.score(&undo, &Value::Null, &key).await;
    assert_eq!(status, StatusCode::CREATED, "{undone}");
    let (status, replayed, again) = live.score(&undo, &Value::Null, &key).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true), "{again}");
    assert_eq!(again, undone);
    assert_eq!(undone["seq"], 7);

    // Malformed headers are refused before anything is looked at.
    for (header, value, code) in [
        ("Idempotency-Key", "", "invalid_idempotency_key"),
        ("Idempotency-Key", "has space", "invalid_idempotency_key"),
        (
            "Idempotency-Key",
            &"k".repeat(129),
            "invalid_idempotency_key",
        ),
        ("If-Match", "\"seven\"", "invalid_if_match"),
        ("If-Match", "-1", "invalid_if_match"),
    ] {
        let (status, _, problem) = live.score(&balls, &ball(4), &[(header, value)]).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{header}: {value:?} {problem}"
        );
        assert_eq!(problem["code"], code, "{header}: {value:?}");
        assert_eq!(problem["status"], 400);
    }
    let (_, now) = live.get(&card).await;
    assert_eq!(now["seq"], 7);
    assert_eq!(now["innings"][0]["runs"], 12);

    // A fresh room (another node, rebuilt from the log) knows the keys too.
    let other = Live {
        app: live.app.another_node().await.unwrap(),
        editor: live.editor.clone(),
    };
    let (status, replayed, again) = other
        .score(&balls, &ball(4), &[("Idempotency-Key", "over-1-ball-1")])
        .await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true), "{again}");
    assert_eq!(again, first);

    // The same resend racing on both nodes at once is recorded once: one room appends, the
    // other loses the race on the key, reloads the log and answers with the winner's update.
    let resend = ball(2);
    let sends = (0..8).map(|n| {
        let node = if n % 2 == 0 { &live } else { &other };
        node.score(&balls, &resend, &[("Idempotency-Key", "over-2-ball-1")])
    });
    let answers = futures::future::join_all(sends).await;
    let recorded: Vec<_> = answers
        .iter()
        .filter(|(_, replayed, _)| !replayed)
        .collect();
    assert_eq!(recorded.len(), 1, "{answers:?}");
    for (status, _, update) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{update}");
        assert_eq!(update, &recorded[0].2);
    }
    assert_eq!(recorded[0].2["seq"], 8);
    let (_, now) = other.get(&card).await;
    assert_eq!(now["seq"], 8);
    assert_eq!(now["innings"][0]["runs"], 14);
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

/// The import route has a body limit of its own, above the node's JSON limit (256 KB): a
/// Test match file is a few hundred KB. Over the import limit is a 413 problem and nothing
/// is stored.
#[tokio::test]
async fn a_file_larger_than_the_json_limit_is_imported() {
    let live = Live::new().await;
    let file: Value = serde_json::from_slice(&fixture("729309.json")).unwrap();
    // The same real match, laid out with a wider indent: the size of a Test match file.
    let mut large = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(&[b' '; 16]);
    let mut serializer = serde_json::Serializer::with_formatter(&mut large, formatter);
    serde::Serialize::serialize(&file, &mut serializer).unwrap();
    assert!(large.len() > 300 * 1024, "{} bytes", large.len());

    let import = |app: &TestApp, body: Vec<u8>| {
        app.client
            .post(app.url("/v1/live/matches/import"))
            .bearer_auth(&live.editor)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let response = import(&live.app, large.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let (_, card) = live
        .get(&format!(
            "/v1/live/matches/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    let expected = expected_innings(&file);
    assert_eq!(card["innings"][0]["runs"], expected[0].1);
    assert_eq!(card["innings"][1]["runs"], expected[1].1);

    // Over the import limit, here set below the file's size (8 MiB by default).
    let strict = TestApp::spawn_with(vec![Arc::new(live::Live)], |settings| {
        settings.merge(("live.import_limit_bytes", 100_000))
    })
    .await
    .unwrap();
    let response = import(&strict, large).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "payload_too_large");
    let list: Value = strict
        .client
        .get(strict.url("/v1/live/matches"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
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

/// A room behind another node's writes (same database) does not hand its race to the
/// scorer: it loses the append, catches up from the log and records the same ball on top.
#[tokio::test]
async fn a_room_behind_another_node_catches_up_and_records_the_ball() {
    let live = Live::new().await;
    let id = live.started_match().await;
    // Node A's room holds the match at seq 2.
    let (_, card) = live.get(&format!("/v1/live/matches/{id}")).await;
    assert_eq!(card["seq"], 2);

    // Node B (same database) appends seq 3 behind A's back.
    let other = live.another().await;
    assert_eq!(other.ball(&id, 4).await["seq"], 3);

    // A's room tries seq 3 too, loses, reads seq 3 from the log and records the ball as
    // seq 4, on top of B's four runs.
    let retried = live.ball(&id, 2).await;
    assert_eq!(retried["seq"], 4);
    assert_eq!(retried["summary"]["innings"][0]["runs"], 6);
}

/// Scorers behind a round-robin balancer: the balls of one match scored through three
/// nodes in turn (so each node's room is behind the last writer every time) are all
/// recorded, 201 each, in one gapless run of seqs, and every node then shows the same
/// scorecard. The guards hold across nodes: a resend to another node is answered with the
/// first answer, `If-Match` with the latest seq is accepted by a node that had not seen it,
/// a stale one is refused. An event legal only after another node's last one (the next
/// innings, after a close) is recorded; one illegal against the caught-up match is refused.
#[tokio::test]
async fn balls_scored_through_three_nodes_in_turn_all_succeed() {
    let a = Live::new().await;
    let id = a.started_match().await;
    let (b, c) = (a.another().await, a.another().await);
    let nodes = [&a, &b, &c];
    let balls = format!("/v1/live/matches/{id}/balls");

    let mut seqs = Vec::new();
    let mut runs = 0;
    for n in 0..15 {
        let scored = [0, 2, 4, 6][n % 4];
        let (status, _, update) = nodes[n % 3].score(&balls, &ball(scored), &[]).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "ball {n} through node {}: {update}",
            n % 3
        );
        seqs.push(update["seq"].as_i64().unwrap());
        runs += scored;
        assert_eq!(update["summary"]["innings"][0]["runs"], runs, "{update}");
    }
    assert_eq!(seqs, (3..=17).collect::<Vec<i64>>());

    // A resend through another node is the first answer, not a second ball.
    let key = [("Idempotency-Key", "over-3-ball-4")];
    let (status, replayed, first) = a.score(&balls, &ball(2), &key).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{first}");
    assert_eq!(first["seq"], 18);
    let (status, replayed, again) = b.score(&balls, &ball(2), &key).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true), "{again}");
    assert_eq!(again, first);

    // If-Match: the latest seq, sent to a node that has not seen it, is current.
    let (status, _, update) = c.score(&balls, &ball(4), &[("If-Match", "\"18\"")]).await;
    assert_eq!(status, StatusCode::CREATED, "{update}");
    assert_eq!(update["seq"], 19);
    let (status, _, problem) = a.score(&balls, &ball(4), &[("If-Match", "\"18\"")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "seq_mismatch");

    // The innings closes through B; C, which has not seen the close, starts the next one.
    let close = json!({"type": "innings_closed", "reason": "curtailed"});
    let (status, _, update) = b.score(&balls, &close, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{update}");
    assert_eq!(update["seq"], 20);
    let next = json!({"type": "innings_started", "team": "Bangalore"});
    let (status, _, update) = c.score(&balls, &next, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{update}");
    assert_eq!(update["seq"], 21);
    // Starting it again through A is wrong whatever A had seen: refused, nothing recorded.
    let (status, _, problem) = a.score(&balls, &next, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "innings_in_progress");

    // Every node shows the same match: 21 events, Kolkata's 48 runs, Bangalore batting.
    let card = format!("/v1/live/matches/{id}");
    let (_, expected) = c.get(&card).await;
    assert_eq!(expected["seq"], 21, "{expected}");
    assert_eq!(expected["innings"][0]["runs"], runs + 6, "{expected}");
    assert_eq!(expected["innings"][1]["team"], "Bangalore", "{expected}");
    for node in nodes {
        testkit::eventually(
            "every node shows the latest scorecard",
            Duration::from_secs(10),
            || async { node.get(&card).await.1 == expected },
        )
        .await;
    }
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

/// `live replay` through the scorer API: a viewer sees every event of the file live, in
/// order, paced at the speed asked for, and the scorecard ends equal to the file's totals.
#[tokio::test]
async fn a_replayed_file_is_scored_ball_by_ball_at_its_pace() {
    use live::replay::{Replay, Scorer, ball_interval};

    let live = Live::new().await;
    let bytes = fixture("hundred_2021-08-18_LondonSpirit_v_WelshFire.json");
    let replay = Replay::parse(&bytes).unwrap();
    let scorer = Scorer::new(&live.app.address, live.editor.clone()).unwrap();
    let created = scorer.create(&replay).await.unwrap();
    let id = created.id.to_string();
    let mut stream = live.stream(&id, None).await;
    assert_eq!(stream.next().await.id, Some(1));

    // 8000 times real time: a ball every 5 ms.
    let interval = ball_interval(8000.0).unwrap();
    let started = std::time::Instant::now();
    let mut sent = Vec::new();
    let events = replay.events();
    let (last, received) = tokio::join!(
        scorer.replay(created.id, &replay, interval, |update| sent
            .push(serde_json::to_value(update).unwrap())),
        async {
            let mut received = Vec::new();
            for _ in 0..events {
                received.push(stream.next().await);
            }
            received
        }
    );
    let elapsed = started.elapsed();
    let last = last.unwrap();
    assert_eq!(last, 1 + events as i64);
    // Paced: the first ball goes at once, each later one an interval after the one before.
    let balls = u32::try_from(replay.balls()).unwrap();
    assert!(
        elapsed >= interval * (balls - 1),
        "{balls} balls in {elapsed:?}"
    );
    assert_eq!(received.len(), sent.len());
    for (event, update) in received.iter().zip(&sent) {
        assert_eq!(event.event, "event");
        assert_eq!(event.id, update["seq"].as_i64());
        assert_eq!(&event.data, update);
    }

    let (_, card) = live.get(&format!("/v1/live/matches/{id}")).await;
    assert_eq!(card["seq"], last);
    let file: Value = serde_json::from_slice(&bytes).unwrap();
    for (card, (team, runs, wickets, overs, _)) in card["innings"]
        .as_array()
        .unwrap()
        .iter()
        .zip(expected_innings(&file))
    {
        assert_eq!(card["team"], team.as_str());
        assert_eq!(card["runs"], runs);
        assert_eq!(card["wickets"], wickets);
        assert_eq!(card["overs"], overs.as_str());
    }
    assert_eq!(card["status"], "completed");
}

/// A viewer that stops reading does not hold up the match or anyone else: over real
/// sockets, a fast viewer gets every ball as it is scored while a stalled one falls behind;
/// when the stalled one reads again it gets what was already on its way, then `resync`,
/// and the stream ends; reconnecting with the `resync` seq as `Last-Event-ID` brings it
/// exactly the rest.
#[tokio::test]
async fn a_viewer_that_stops_reading_is_cut_off_and_holds_nobody_up() {
    // The kernel's send timeout (the next test) must not close the stalled socket first.
    let live = Live::with(|settings| {
        settings
            .merge(("live.viewer_queue", 4))
            .merge(("http.send_timeout_seconds", 600))
    })
    .await;
    // Long team names make each update about 8 KB (every summary names the team), so the
    // buffers between the server and a stalled client fill after hundreds of balls rather
    // than tens of thousands.
    let team = "Kolkata ".repeat(1000);
    let info =
        json!({"teams": [team, "Bangalore"], "format": "t20", "balls_per_over": 6, "overs": 20});
    let (status, created) = live
        .post("/v1/live/matches", Some(&live.editor), &info)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let balls = format!("/v1/live/matches/{id}/balls");
    let (status, body) = live
        .post(
            &balls,
            Some(&live.editor),
            &json!({"type": "innings_started", "team": team}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let mut fast = live.stream(&id, None).await;
    assert_eq!(fast.next().await.id, Some(2));
    let mut stalled = RawSse::open(&live.app, &format!("/v1/live/matches/{id}/stream")).await;
    assert_eq!(stalled.next().await.unwrap().id, Some(2));

    // Wides, so the innings never closes however many are bowled. The stalled viewer must
    // fall more than its queue behind what the kernel and the server can buffer for it:
    // the socket's send buffer grows to at most tcp_wmem's maximum, plus the few KB its
    // receive buffer and the server's write buffer hold.
    let wide = json!({
        "type": "ball", "batter": "Ganguly", "non_striker": "McCullum", "bowler": "Praveen",
        "runs": {"batter": 0, "extras": 1, "total": 1}, "extras": {"wides": 1}
    });
    let send_buffer_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|text| text.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20);
    let enough = send_buffer_max + (1 << 20);
    let mut delivered = 0;
    let mut last = 2;
    while delivered < enough {
        let (status, update) = live.post(&balls, Some(&live.editor), &wide).await;
        assert_eq!(status, StatusCode::CREATED, "{update}");
        last = update["seq"].as_i64().unwrap();
        // The fast viewer has each ball before the next is scored: nobody waits for the
        // stalled one.
        let event = fast.next().await;
        assert_eq!((event.event.as_str(), event.id), ("event", Some(last)));
        assert_eq!(event.data, update);
        delivered += event.data.to_string().len();
        assert!(last < 1000, "the stalled viewer was never cut off");
    }

    // The stalled viewer reads again: what was already on its way, in order, then resync.
    let mut seq = 2;
    let resync = loop {
        let event = stalled
            .next()
            .await
            .expect("the stream ended without a resync");
        if event.event == "resync" {
            break event;
        }
        seq += 1;
        assert_eq!((event.event.as_str(), event.id), ("event", Some(seq)));
    };
    assert_eq!(resync.data["reason"], "lagged");
    assert_eq!(resync.data["seq"], seq);
    assert!(seq < last, "it was cut off at {seq} of {last}");
    assert!(
        stalled.next().await.is_none(),
        "the stream goes on after resync"
    );

    // It reconnects where it was cut off and gets exactly the rest.
    let mut again = live.stream(&id, Some(seq)).await;
    for expected in seq + 1..=last {
        let event = again.next().await;
        assert_eq!((event.event.as_str(), event.id), ("event", Some(expected)));
    }
    let (_, card) = live.get(&format!("/v1/live/matches/{id}")).await;
    assert_eq!(card["seq"], last);
}

/// A viewer that never reads again is disconnected by the node, not kept for the length of
/// the match: once its socket has taken nothing for `http.send_timeout_seconds`, the
/// kernel aborts the connection and the node drops the stream. A viewer that reads gets
/// every ball meanwhile.
#[tokio::test]
async fn a_viewer_that_never_reads_again_is_disconnected() {
    let live = Live::with(|settings| settings.merge(("http.send_timeout_seconds", 1))).await;
    let id = live.started_match().await;
    let mut reader = live.stream(&id, None).await;
    assert_eq!(reader.next().await.id, Some(2));
    let mut gone = RawSse::open(&live.app, &format!("/v1/live/matches/{id}/stream")).await;
    assert_eq!(gone.next().await.unwrap().id, Some(2));
    let server = live.app.node().local_addr();
    let client = gone.socket.local_addr().unwrap();
    assert!(
        connected(server, client),
        "the node holds the viewer's connection"
    );

    // Wides until the node has let go of the silent viewer: its few KB of receive buffer
    // fill within tens of balls, then the kernel gives up a second later.
    let wide = json!({
        "type": "ball", "batter": "Ganguly", "non_striker": "McCullum", "bowler": "Praveen",
        "runs": {"batter": 0, "extras": 1, "total": 1}, "extras": {"wides": 1}
    });
    let balls = format!("/v1/live/matches/{id}/balls");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = 2;
    while connected(server, client) {
        assert!(
            std::time::Instant::now() < deadline,
            "the silent viewer was still connected after {} balls",
            last - 2
        );
        let (status, update) = live.post(&balls, Some(&live.editor), &wide).await;
        assert_eq!(status, StatusCode::CREATED, "{update}");
        last = update["seq"].as_i64().unwrap();
        let event = reader.next().await;
        assert_eq!((event.event.as_str(), event.id), ("event", Some(last)));
    }

    // What the silent viewer had taken before it was dropped ends short of the match, and
    // the stream ends rather than resuming.
    let mut received = Vec::new();
    let mut chunk = [0_u8; 16 * 1024];
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        use tokio::io::AsyncReadExt;
        loop {
            match gone.socket.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(read) => received.extend_from_slice(&chunk[..read]),
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the dropped stream did not end");
    let text = String::from_utf8_lossy(&received);
    assert!(
        !text.contains(&format!("\nid: {last}\n")),
        "the dropped viewer got the last ball"
    );
}

/// Whether the kernel still has a TCP connection from `server` to `client` open, read off
/// `/proc/net/tcp` (loopback IPv4): the node's side of a connection it has dropped or the
/// kernel has aborted is gone from it.
fn connected(server: std::net::SocketAddr, client: std::net::SocketAddr) -> bool {
    let hex = |address: std::net::SocketAddr| {
        let std::net::IpAddr::V4(ip) = address.ip() else {
            panic!("IPv4 loopback only")
        };
        format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(ip.octets()),
            address.port()
        )
    };
    let (local, remote) = (hex(server), hex(client));
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .any(|line| {
            let mut fields = line.split_whitespace().skip(1);
            fields.next() == Some(local.as_str()) && fields.next() == Some(remote.as_str())
        })
}

/// A match created or imported with an `Idempotency-Key` is created once: the same
/// request again answers the first match (`Idempotent-Replayed: true`), also on another
/// node; a different match under the key is 409 and creates nothing.
#[tokio::test]
async fn a_resent_creation_makes_one_match() {
    let live = Live::new().await;
    let key = format!("create-{}", uuid::Uuid::new_v4());
    let headers = [("idempotency-key", key.as_str())];
    let (status, replayed, first) = live.score("/v1/live/matches", &info(), &headers).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{first}");
    // The same match, spelled differently.
    let respelled = json!({"overs": 20, "balls_per_over": 6, "format": "t20", "teams": ["Kolkata", "Bangalore"]});
    let (status, replayed, again) = live.score("/v1/live/matches", &respelled, &headers).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true), "{again}");
    assert_eq!(again, first);

    let other = live.app.another_node().await.unwrap();
    let response = other
        .client
        .post(other.url("/v1/live/matches"))
        .bearer_auth(&live.editor)
        .header("idempotency-key", &key)
        .json(&info())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    assert_eq!(response.json::<Value>().await.unwrap(), first);

    let different =
        json!({"teams": ["Chennai", "Mumbai"], "format": "t20", "balls_per_over": 6, "overs": 20});
    let (status, _, problem) = live.score("/v1/live/matches", &different, &headers).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "idempotency_key_reused");
    let (_, listed) = live.get("/v1/live/matches").await;
    let teams: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|listing| &listing["teams"])
        .collect();
    assert!(!teams.contains(&&json!(["Chennai", "Mumbai"])), "{listed}");
    assert_eq!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|listing| listing["id"] == first["id"])
            .count(),
        1
    );

    // An import the same way: the file's bytes are the request.
    let file = fixture(FIXTURES[2]);
    let import = |key: &'static str| {
        live.app
            .client
            .post(live.app.url("/v1/live/matches/import"))
            .bearer_auth(&live.editor)
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(file.clone())
            .send()
    };
    let first_import = import("import-once").await.unwrap();
    assert_eq!(first_import.status(), StatusCode::CREATED);
    let first_import: Value = first_import.json().await.unwrap();
    let second_import = import("import-once").await.unwrap();
    assert_eq!(second_import.headers()["idempotent-replayed"], "true");
    assert_eq!(second_import.json::<Value>().await.unwrap(), first_import);

    let (status, _, problem) = live
        .score(
            "/v1/live/matches",
            &info(),
            &[("idempotency-key", "bad key")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["code"], "invalid_idempotency_key");
}

/// Every event is kept in the bus's `LIVE` stream, once however often it was published,
/// for consumers that must see each one (reward campaigns, commentary): a durable consumer
/// attached after the balls were scored reads them all, in order.
#[tokio::test]
async fn every_event_is_kept_in_the_live_stream() {
    let live = Live::new().await;
    let id = live.started_match().await;
    let scored = [live.ball(&id, 4).await, live.ball(&id, 2).await];
    let seen = from_the_stream(&live, &id, 4, Duration::from_secs(10)).await;
    let seqs: Vec<i64> = seen
        .iter()
        .map(|update| update["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(seen[2], scored[0]);
    assert_eq!(seen[3], scored[1]);
}

/// The first `count` updates of a match in the `LIVE` stream, read by a durable consumer
/// of the test's own, each waited for at most `within`.
async fn from_the_stream(live: &Live, id: &str, count: usize, within: Duration) -> Vec<Value> {
    let match_id: uuid::Uuid = id.parse().unwrap();
    let mut consumer = live
        .app
        .node()
        .bus()
        .consume(
            bus::ConsumerConfig::new(contracts::live::STREAM, format!("test-{match_id}"))
                .with_filter_subject(contracts::live::subject(match_id)),
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < count {
        let message = tokio::time::timeout(within, futures::StreamExt::next(&mut consumer))
            .await
            .unwrap_or_else(|_| {
                panic!("the stream holds {count} events of the match; got {seen:?}")
            })
            .unwrap()
            .unwrap();
        let update: Value = message.message.decode().unwrap();
        seen.push(update);
        message.ack().await.unwrap();
    }
    seen
}

/// A node that stores an event and dies before publishing it leaves no gap in the `LIVE`
/// stream: the event's outbox row, written in the event's transaction, is relayed. The
/// crash is the room's own write without the publish that follows it.
#[tokio::test]
async fn an_event_stored_but_never_published_reaches_the_live_stream() {
    let live = Live::new().await;
    let id = live.started_match().await;
    let third = live.ball(&id, 4).await;
    let match_id: uuid::Uuid = id.parse().unwrap();

    // Seq 4 as the room would store it; then the "node" is gone before publishing.
    let mut fourth = third.clone();
    fourth["seq"] = json!(4);
    fourth["event"] = ball(2);
    fourth["summary"]["innings"][0]["runs"] = json!(6);
    fourth["summary"]["innings"][0]["overs"] = json!("0.2");
    let update: live::feed::Update = serde_json::from_value(fourth).unwrap();
    assert_eq!(update.match_id, match_id);
    live::store::append(live.app.node().db(), &update, None, None)
        .await
        .unwrap();
    let fourth = serde_json::to_value(&update).unwrap();

    let seen = from_the_stream(&live, &id, 4, Duration::from_secs(30)).await;
    let seqs: Vec<i64> = seen.iter().map(|u| u["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(seen[2], third);
    assert_eq!(seen[3], fourth);

    // The room, which never saw seq 4, scores the next ball on top of it.
    let fifth = live.ball(&id, 6).await;
    assert_eq!(fifth["seq"], 5);
    assert_eq!(fifth["summary"]["innings"][0]["runs"], 12);
}

/// A viewer reconnecting with `Last-Event-ID` within the events the node keeps in memory
/// for the match is answered from memory: it gets exactly what it missed while the log
/// cannot even be read. One that missed more than memory holds gets exactly its events
/// from the log.
#[tokio::test]
async fn a_viewer_resuming_within_recent_events_is_answered_from_memory() {
    let live = Live::with(|settings| settings.merge(("live.resume_ring", 4))).await;
    let id = live.started_match().await;
    // A viewer keeps the match watched on this node while the balls are scored.
    let mut watching = live.stream(&id, None).await;
    assert_eq!(watching.next().await.id, Some(2));
    let mut scored = Vec::new();
    for runs in [0, 2, 4, 6, 2, 4] {
        scored.push(live.ball(&id, runs).await);
    }
    for expected in &scored {
        assert_eq!(watching.next().await.data, *expected);
    }

    // The log becomes unreadable; a viewer that missed the last three still resumes.
    let db = live.app.node().db();
    db.execute_unprepared("ALTER TABLE live_events RENAME TO live_events_away")
        .await
        .unwrap();
    let mut resumed = live.stream(&id, Some(5)).await;
    for expected in &scored[3..] {
        let event = resumed.next().await;
        assert_eq!(event.event, "event");
        assert_eq!(event.id, expected["seq"].as_i64());
        assert_eq!(&event.data, expected);
    }
    // Older than memory (seqs 5 to 8 are kept): that one needs the log.
    let response = live
        .app
        .client
        .get(live.app.url(&format!("/v1/live/matches/{id}/stream")))
        .header("Last-Event-ID", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    db.execute_unprepared("ALTER TABLE live_events_away RENAME TO live_events")
        .await
        .unwrap();
    let mut old = live.stream(&id, Some(2)).await;
    for expected in &scored {
        let event = old.next().await;
        assert_eq!(event.id, expected["seq"].as_i64());
        assert_eq!(&event.data, expected);
    }
    // Both then follow the match live.
    let next = live.ball(&id, 6).await;
    assert_eq!(resumed.next().await.data, next);
    assert_eq!(old.next().await.data, next);
}

/// The NATS server with a websocket listener that `nix/nats/websocket-test.conf` describes:
/// its client port (where the platform under test connects) and its websocket.
const WS_NATS_CLIENT: &str = "127.0.0.1:4223";

/// That server, started for this test unless one already listens (CI may start it).
struct WsNats {
    started: Option<(tokio::process::Child, std::path::PathBuf)>,
}

impl Drop for WsNats {
    fn drop(&mut self) {
        if let Some((mut server, dir)) = self.started.take() {
            let _ = server.start_kill();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl WsNats {
    async fn ensure() -> Self {
        if tokio::net::TcpStream::connect(WS_NATS_CLIENT).await.is_ok() {
            return Self { started: None };
        }
        let config = format!(
            "{}/../../nix/nats/websocket-test.conf",
            env!("CARGO_MANIFEST_DIR")
        );
        // Its JetStream store (the relative store_dir of the config) goes in a directory
        // that is removed afterwards.
        let dir = std::env::temp_dir().join(format!("live-ws-nats-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let child = tokio::process::Command::new(binary)
            .arg("-c")
            .arg(std::fs::canonicalize(config).unwrap())
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server on PATH (or NATS_SERVER) to start the websocket NATS");
        // Bounded polling until it listens.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(WS_NATS_CLIENT).await.is_ok() {
                return Self {
                    started: Some((child, dir)),
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the websocket NATS did not listen on {WS_NATS_CLIENT} within 10 s");
    }
}

/// A browser-like viewer on NATS over websocket (nats-py, a real client that is not the
/// platform's): with no credentials it is the read-only `viewer`; it receives the update
/// of a ball scored through the REST API, its attempt to publish a forged update is
/// refused by the server and reaches no one, and it resumes from a sequence: asked what
/// it missed after seq N, the live service answers exactly the events since, or a
/// snapshot when N is not a seq it can resume from.
#[tokio::test]
#[ignore = "needs nats-server (websocket config) and nats-py: set TEST_NATS_WS"]
async fn a_websocket_viewer_receives_balls_cannot_publish_and_resumes() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let ws_url = std::env::var("TEST_NATS_WS").expect("set TEST_NATS_WS=ws://127.0.0.1:8223");
    let _nats = WsNats::ensure().await;
    let live =
        Live::with(|settings| settings.merge(("bus.nats_url", format!("nats://{WS_NATS_CLIENT}"))))
            .await;
    let id = live.started_match().await;
    // A viewer on the platform's side of the same server, to see what reaches viewers.
    let mut sse = live.stream(&id, None).await;
    assert_eq!(sse.next().await.id, Some(2));

    let python = std::env::var("TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!("{}/tests/nats_ws_viewer.py", env!("CARGO_MANIFEST_DIR"));
    let mut viewer = tokio::process::Command::new(python)
        .arg(script)
        .arg(&ws_url)
        .arg(&id)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 with nats-py and aiohttp (or TEST_PYTHON)");
    let mut said = BufReader::new(viewer.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), said.next_line())
            .await
            .expect("the websocket viewer said nothing within 30 s")
            .unwrap()
            .expect("the websocket viewer exited early");
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next().await, json!({"ready": true}));

    let scored = live.ball(&id, 4).await;
    let mut stdin = viewer.stdin.take().unwrap();
    stdin
        .write_all(format!("{}\n", scored["seq"]).as_bytes())
        .await
        .unwrap();
    assert_eq!(next().await, json!({"received": scored}));
    let refused = next().await;
    let error = refused["refused"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("permissions violation"), "{refused}");

    // The forged update (seq 4, an undo) reached no one: the next thing platform viewers
    // get is the real ball 4.
    assert_eq!(sse.next().await.data, scored);
    let mut missed = Vec::new();
    for _ in 0..5 {
        missed.push(live.ball(&id, 2).await);
    }
    let event = sse.next().await;
    assert_eq!(event.id, Some(4));
    assert_eq!(event.data, missed[0]);

    // Resuming after seq 3: exactly the five balls since, in order.
    stdin.write_all(b"after 3\n").await.unwrap();
    assert_eq!(
        next().await,
        json!({"answer": {"type": "missed", "events": missed}})
    );
    // After nothing it knows: the match as it stands.
    stdin.write_all(b"after 0\n").await.unwrap();
    let answer = next().await;
    assert_eq!(answer["answer"]["type"], "snapshot", "{answer}");
    assert_eq!(answer["answer"]["snapshot"]["seq"], 8);
    assert_eq!(answer["answer"]["snapshot"]["innings"][0]["runs"], 14);
    stdin.write_all(b"quit\n").await.unwrap();
    assert!(viewer.wait().await.unwrap().success());
}
