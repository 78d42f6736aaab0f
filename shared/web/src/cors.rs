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
            // Browsers hide response headers from scripts unless they are listed here; the
            // rate limit ones let a front end back off before it is refused.
            .expose_headers([
                "x-request-id",
                "retry-after",
                "ratelimit-limit",
                "ratelimit-remaining",
                "ratelimit-reset",
                "ratelimit-policy",
            ])
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, HttpResponse, test, web};

    #[actix_web::test]
    async fn allowed_origins_can_read_the_rate_limit_headers() {
        let config = CorsConfig {
            allowed_origins: vec!["https://app.example.com".into()],
            max_age_seconds: None,
        };
        let app = test::init_service(
            App::new()
                .wrap(config.middleware())
                .route("/", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let response = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/")
                .insert_header(("origin", "https://app.example.com"))
                .to_request(),
        )
        .await;
        let exposed = response
            .headers()
            .get("access-control-expose-headers")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        for header in [
            "x-request-id",
            "retry-after",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "ratelimit-policy",
        ] {
            assert!(exposed.contains(header), "{header} not in {exposed:?}");
        }
    }
}
