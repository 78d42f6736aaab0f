//! The published contract: the merged OpenAPI document at `/api-docs/openapi.json` and a
//! Swagger UI at `/docs`, served from assets vendored into the binary (no CDN, no download
//! at build or run time).

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa_swagger_ui::SwaggerUi;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api-docs/openapi.json";

/// The name routes use in `security(("bearer" = []))`.
pub const BEARER: &str = "bearer";

/// An empty document with the platform's info and its bearer-token security scheme; each
/// mounted service's part is merged into it.
pub fn base_document(title: &str, version: &str, description: &str) -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(title)
                .version(version)
                .description(Some(description)),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    BEARER,
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .bearer_format("JWT")
                            .description(Some("An access token from POST /v1/auth/login"))
                            .build(),
                    ),
                )
                .build(),
        ))
        .build()
}

/// Registers the document and the docs UI.
pub fn configure(doc: OpenApi) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config| {
        config
            // The UI lives under `/docs/`; the bare path redirects there.
            .route(
                "/docs",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header(("location", "/docs/"))
                        .finish()
                }),
            )
            .service(SwaggerUi::new("/docs/{_:.*}").url(OPENAPI_PATH, doc));
    }
}
