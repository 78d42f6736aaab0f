//! Cross-origin access from configured browser origins (the app's web build, partner sites).

use actix_cors::Cors;
use serde::Deserialize;

/// The `[http.cors]` settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CorsConfig {
    /// Origins allowed to call the API from a browser (`https://app.example.com`); `*`
    /// allows any origin (without credentials). Empty: no cross-origin access.
    pub allowed_origins: Vec<String>,
    /// How long browsers may cache a preflight answer, in seconds.
    pub max_age_seconds: Option<usize>,
}

impl CorsConfig {
    /// The actix middleware for these settings.
    pub fn middleware(&self) -> Cors {
        let mut cors = Cors::default()
            .allow_any_method()
            .allow_any_header()
            .expose_headers(["x-request-id", "retry-after", "ratelimit-remaining"])
            .max_age(self.max_age_seconds.or(Some(600)));
        for origin in &self.allowed_origins {
            cors = if origin == "*" {
                cors.allow_any_origin()
            } else {
                cors.allowed_origin(origin)
            };
        }
        cors
    }
}
