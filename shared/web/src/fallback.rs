//! What the node answers when no handler produced a problem itself: unknown routes (404),
//! known routes called with the wrong method (405 with `Allow`), and any error response
//! that actix or a middleware wrote as plain text. Every one becomes problem+json.
//!
//! actix registers each `#[get]`/`#[post]` handler as its own guarded resource, so a
//! wrong method falls through to the default service as if the path were unknown. The
//! route table here is built from the published OpenAPI document, which lists every route
//! with its methods, to tell the two apart.

use crate::error::{ApiError, PROBLEM_JSON, code_for_status};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpRequest, ResponseError};

/// Every published route: its path template split into segments, and its methods.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<Segment>, Vec<Method>)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Literal(String),
    Param,
}

impl RouteTable {
    /// The routes of an OpenAPI document.
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = split(path)
                    .map(|segment| {
                        if segment.starts_with('{') && segment.ends_with('}') {
                            Segment::Param
                        } else {
                            Segment::Literal(segment.to_owned())
                        }
                    })
                    .collect();
                let methods = [
                    (&item.get, Method::GET),
                    (&item.post, Method::POST),
                    (&item.put, Method::PUT),
                    (&item.patch, Method::PATCH),
                    (&item.delete, Method::DELETE),
                    (&item.head, Method::HEAD),
                    (&item.options, Method::OPTIONS),
                ]
                .into_iter()
                .filter_map(|(operation, method)| operation.as_ref().map(|_| method))
                .collect();
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods a concrete path accepts (empty if no route has that path).
    pub fn methods_for(&self, path: &str) -> Vec<Method> {
        let segments: Vec<&str> = split(path).collect();
        let mut methods: Vec<Method> = self
            .routes
            .iter()
            .filter(|(template, _)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| match t {
                        Segment::Param => true,
                        Segment::Literal(literal) => literal == s,
                    })
            })
            .flat_map(|(_, methods)| methods.iter().cloned())
            .collect();
        methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        methods.dedup();
        methods
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|segment| !segment.is_empty())
}

/// The default service: 405 with `Allow` when the path exists under other methods, else 404.
pub async fn no_route(request: HttpRequest) -> actix_web::HttpResponse {
    let allowed = request
        .app_data::<actix_web::web::Data<RouteTable>>()
        .map(|table| table.methods_for(request.path()))
        .unwrap_or_default();
    let error = if allowed.is_empty() {
        ApiError::not_found(
            "not_found",
            format!("no route for {} {}", request.method(), request.path()),
        )
    } else {
        let allow = allowed
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!(
                "{} does not accept {}; it accepts {allow}",
                request.path(),
                request.method()
            ),
        )
        .with_header(header::ALLOW, allow)
    };
    error.error_response()
}

/// Middleware rewriting any error response that is not problem+json into one, keeping its
/// status and headers (`Allow`, `Retry-After`, `WWW-Authenticate`).
pub fn problem_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(to_problem)
}

fn to_problem<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let already_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if already_problem {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let (request, original) = response.into_parts();
    let detail = match status {
        StatusCode::NOT_FOUND => format!("no route for {} {}", request.method(), request.path()),
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_owned(),
        status if status.is_server_error() => {
            "an internal error occurred; it has been logged".to_owned()
        }
        status => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let mut replacement = ApiError::new(status, code_for_status(status), detail).error_response();
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    let replacement: actix_web::HttpResponse<EitherBody<B>> = replacement.map_into_right_body();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(
        request,
        replacement,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};

    #[test]
    fn paths_match_templates_and_collect_methods() {
        let paths = PathsBuilder::new()
            .path(
                "/v1/users/{id}",
                PathItem::new(HttpMethod::Get, OperationBuilder::new().build()),
            )
            .path(
                "/v1/users",
                PathItem::new(HttpMethod::Post, OperationBuilder::new().build()),
            )
            .build();
        let mut doc = utoipa::openapi::OpenApi::default();
        doc.paths = paths;
        let table = RouteTable::from_openapi(&doc);
        assert_eq!(table.methods_for("/v1/users/42"), vec![Method::GET]);
        assert_eq!(table.methods_for("/v1/users"), vec![Method::POST]);
        assert!(table.methods_for("/v1/users/42/x").is_empty());
        assert!(table.methods_for("/v2/users").is_empty());
    }
}
