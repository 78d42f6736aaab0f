//! A siteverify server on 127.0.0.1 for tests: real HTTP, the providers' protocol and error
//! codes, so the real [`crate::Verifier`] runs against it unchanged.
//!
//! Tests "solve" a captcha by [`FakeSiteverify::issue`]-ing a token with the score,
//! action and hostname the provider would report. Like the real services it answers
//! `missing-input-secret` / `invalid-input-secret` for our credentials,
//! `missing-input-response` / `invalid-input-response` for the token, and
//! `timeout-or-duplicate` for a token redeemed before or solved too long ago; an
//! [`Outage`] makes it fail (HTTP 500, Turnstile's `internal-error`, or no answer at all).
//!
//! It runs on its own thread and actix system, so tests on any runtime can use it; it
//! stops when dropped.

use crate::config::{CaptchaConfig, Provider};
use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use kernel::Secret;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How a token was solved: what the provider reports when it is verified.
#[derive(Clone, Debug)]
pub struct Solved {
    /// The provider's raw score (reCAPTCHA v3: 1.0 human; hCaptcha Enterprise: risk).
    pub score: Option<f64>,
    /// The widget's action.
    pub action: Option<String>,
    /// The site it was solved on.
    pub hostname: String,
    /// When it was solved.
    pub challenge_ts: DateTime<Utc>,
}

impl Solved {
    /// Solved just now on `hostname`, with no score and no action (like reCAPTCHA v2).
    pub fn on(hostname: impl Into<String>) -> Self {
        Self {
            score: None,
            action: None,
            hostname: hostname.into(),
            challenge_ts: Utc::now(),
        }
    }

    /// With a score (like reCAPTCHA v3).
    pub fn score(mut self, score: f64) -> Self {
        self.score = Some(score);
        self
    }

    /// For an action (like reCAPTCHA v3 and Turnstile).
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Solved at another time.
    pub fn solved_at(mut self, at: DateTime<Utc>) -> Self {
        self.challenge_ts = at;
        self
    }
}

/// How the fake misbehaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outage {
    /// It answers.
    #[default]
    None,
    /// HTTP 500 with no body worth reading.
    ServerError,
    /// HTTP 200, `success: false`, `error-codes: ["internal-error"]` (Turnstile).
    InternalError,
    /// It takes the request and never answers.
    Hang,
}

/// One siteverify request as the fake received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The `secret` field.
    pub secret: Option<String>,
    /// The `response` field (the token).
    pub response: Option<String>,
    /// The `remoteip` field.
    pub remoteip: Option<String>,
}

struct State {
    secret: String,
    token_lifetime: Duration,
    tokens: HashMap<String, Token>,
    outage: Outage,
    received: Vec<Received>,
}

struct Token {
    solved: Solved,
    redeemed: bool,
}

type Shared = Arc<Mutex<State>>;

/// A running fake siteverify server.
pub struct FakeSiteverify {
    addr: SocketAddr,
    state: Shared,
    handle: ServerHandle,
}

impl FakeSiteverify {
    /// Starts a server on a free port of 127.0.0.1 that accepts `secret`.
    pub fn start(secret: impl Into<String>) -> std::io::Result<Self> {
        let state: Shared = Arc::new(Mutex::new(State {
            secret: secret.into(),
            // Turnstile's and hCaptcha's token lifetime.
            token_lifetime: Duration::seconds(300),
            tokens: HashMap::new(),
            outage: Outage::None,
            received: Vec::new(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (started, handle) = std::sync::mpsc::channel();
        let server_state = Arc::clone(&state);
        std::thread::Builder::new()
            .name("fake-siteverify".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let data = web::Data::from(server_state);
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .route("/siteverify", web::post().to(siteverify))
                    })
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(0)
                    .listen(listener);
                    match server {
                        Ok(server) => {
                            let server = server.run();
                            let _ = started.send(Ok(server.handle()));
                            let _ = server.await;
                        }
                        Err(error) => {
                            let _ = started.send(Err(error));
                        }
                    }
                });
            })?;
        let handle = handle.recv().map_err(std::io::Error::other)??;
        Ok(Self {
            addr,
            state,
            handle,
        })
    }

    /// The siteverify URL (`http://127.0.0.1:<port>/siteverify`).
    pub fn url(&self) -> String {
        format!("http://{}/siteverify", self.addr)
    }

    /// Settings for a verifier that asks this server: enabled, its secret and URL, the
    /// rest default.
    pub fn config(&self, provider: Provider) -> CaptchaConfig {
        let secret = self.state().secret.clone();
        CaptchaConfig {
            enabled: true,
            provider,
            secret: Secret::new(secret),
            verify_url: Some(self.url()),
            ..CaptchaConfig::default()
        }
    }

    /// Makes `token` a solved captcha, verifiable once.
    pub fn issue(&self, token: impl Into<String>, solved: Solved) {
        self.state().tokens.insert(
            token.into(),
            Token {
                solved,
                redeemed: false,
            },
        );
    }

    /// Starts or ends an outage.
    pub fn set_outage(&self, outage: Outage) {
        self.state().outage = outage;
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.state().received.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Test state only; a panicked test thread must not take the others with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeSiteverify {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; the future only waits for it to
        // finish, which nobody here needs. Not graceful: a hanging request is cut off.
        drop(self.handle.stop(false));
    }
}

async fn siteverify(
    state: web::Data<Mutex<State>>,
    form: Result<web::Form<HashMap<String, String>>, actix_web::Error>,
) -> HttpResponse {
    let outage = {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Ok(form) = &form {
            state.received.push(Received {
                secret: form.get("secret").cloned(),
                response: form.get("response").cloned(),
                remoteip: form.get("remoteip").cloned(),
            });
        }
        state.outage
    };
    match outage {
        Outage::None => {}
        Outage::ServerError => return HttpResponse::InternalServerError().body("upstream error"),
        Outage::InternalError => return HttpResponse::Ok().json(failure(&["internal-error"])),
        Outage::Hang => std::future::pending::<()>().await,
    }
    let Ok(form) = form else {
        return HttpResponse::Ok().json(failure(&["bad-request"]));
    };
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    let mut codes = Vec::new();
    match form.get("secret").map(String::as_str) {
        None | Some("") => codes.push("missing-input-secret"),
        Some(secret) if secret != state.secret => codes.push("invalid-input-secret"),
        Some(_) => {}
    }
    let lifetime = state.token_lifetime;
    let token = match form.get("response").map(String::as_str) {
        None | Some("") => {
            codes.push("missing-input-response");
            None
        }
        Some(response) => match state.tokens.get_mut(response) {
            None => {
                codes.push("invalid-input-response");
                None
            }
            Some(token) if token.redeemed || Utc::now() - token.solved.challenge_ts > lifetime => {
                codes.push("timeout-or-duplicate");
                None
            }
            Some(token) => Some(token),
        },
    };
    match token {
        Some(token) if codes.is_empty() => {
            token.redeemed = true;
            HttpResponse::Ok().json(success(&token.solved))
        }
        _ => HttpResponse::Ok().json(failure(&codes)),
    }
}

fn success(solved: &Solved) -> Value {
    let mut body = json!({
        "success": true,
        "challenge_ts": solved.challenge_ts.to_rfc3339_opts(SecondsFormat::Millis, true),
        "hostname": solved.hostname,
        "error-codes": [],
    });
    if let Some(score) = solved.score {
        body["score"] = json!(score);
    }
    if let Some(action) = &solved.action {
        body["action"] = json!(action);
    }
    body
}

fn failure(codes: &[&str]) -> Value {
    json!({ "success": false, "error-codes": codes })
}
