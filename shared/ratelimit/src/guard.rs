//! The middleware a route or scope wraps to count its requests under a group's quota.
//!
//! Every response it lets through carries `RateLimit-Limit`, `RateLimit-Remaining`,
//! `RateLimit-Reset` (seconds until the allowance is full) and `RateLimit-Policy`
//! (`limit;w=window`), after the IETF `httpapi-ratelimit-headers` draft; a refusal is a
//! 429 problem with code `rate_limited`, `Retry-After` and the same headers, and the
//! handler never runs. Guards stack: the most restrictive one's headers win.

use crate::client::{account_subject, client_ip, ip_subject};
use crate::config::OutagePolicy;
use crate::error::RateLimitError;
use crate::gcra::Decision;
use crate::limiter::{Key, Limiter};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::web::Data;
use actix_web::{Error, ResponseError};
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use web::ApiError;

/// `RateLimit-Limit`.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Counts requests under one group's quota, by address or by account.
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use ratelimit::{Guard, Key, Limiter, MemoryStore, RateLimitConfig, Store, groups};
/// use std::sync::Arc;
///
/// async fn log_in() -> HttpResponse {
///     HttpResponse::Ok().finish()
/// }
///
/// // At start: `Limiter::from_config(settings).await?` picks memory or Redis.
/// let settings = RateLimitConfig::default();
/// let store = Store::Memory(Arc::new(MemoryStore::new(settings.max_keys)));
/// let limiter = Limiter::with_store(settings, store)?;
/// // Checked now: a group or quota missing from the settings is an error here.
/// let by_address = Guard::new(limiter.clone(), groups::AUTH, Key::Ip)?;
/// let by_account = Guard::new(limiter, groups::MONEY, Key::Account)?;
/// let app = App::new()
///     .service(
///         web::resource("/v1/auth/login")
///             .wrap(by_address)
///             .route(web::post().to(log_in)),
///     )
///     .service(web::scope("/v1/rewards").wrap(by_account));
/// # drop(app);
/// # Ok::<(), ratelimit::RateLimitError>(())
/// ```
#[derive(Clone)]
pub struct Guard {
    limiter: Option<Limiter>,
    group: Arc<str>,
    key: Key,
}

impl Guard {
    /// A guard for `group` keyed by `key`; fails if the group has no such quota, so a
    /// typo stops the node at start instead of leaving a route unlimited.
    pub fn new(limiter: Limiter, group: &str, key: Key) -> Result<Self, RateLimitError> {
        limiter.quota(group, key)?;
        Ok(Self {
            limiter: Some(limiter),
            group: group.into(),
            key,
        })
    }

    /// A guard that finds its limiter in the app data (`web::Data<Limiter>`) at request
    /// time, for routes declared with attribute macros
    /// (`wrap = "ratelimit::Guard::from_app_data(\"auth\", ratelimit::Key::Ip)"`). An
    /// unknown group or missing app data answers 500 and logs why.
    pub fn from_app_data(group: &str, key: Key) -> Self {
        Self {
            limiter: None,
            group: group.into(),
            key,
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Guard
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = GuardService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService {
            service: Rc::new(service),
            guard: self.clone(),
        }))
    }
}

/// The guard wrapped around one service (see [`Guard`]).
pub struct GuardService<S> {
    service: Rc<S>,
    guard: Guard,
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let guard = self.guard.clone();
        Box::pin(async move {
            let Some(limiter) = guard.limiter.clone().or_else(|| {
                request
                    .app_data::<Data<Limiter>>()
                    .map(|data| data.get_ref().clone())
            }) else {
                let error = ApiError::internal(format!(
                    "rate limit guard for {}: ratelimit::Limiter is not registered as app data",
                    guard.group
                ));
                return Ok(respond(request, &error));
            };
            if !limiter.config().enabled {
                return pass(&*service, request, None).await;
            }
            let decision = match count(&limiter, &guard, &request).await {
                Ok(decision) => decision,
                Err(error @ (RateLimitError::UnknownGroup(_) | RateLimitError::NoQuota { .. })) => {
                    return Ok(respond(request, &ApiError::internal(error)));
                }
                Err(error) => match limiter.config().on_outage {
                    OutagePolicy::FailOpen => {
                        tracing::warn!(
                            group = %guard.group,
                            %error,
                            "rate limit store unavailable; admitting"
                        );
                        return pass(&*service, request, None).await;
                    }
                    OutagePolicy::FailClosed => {
                        tracing::warn!(
                            group = %guard.group,
                            %error,
                            "rate limit store unavailable; refusing"
                        );
                        let error =
                            ApiError::unavailable("rate limiting is unavailable; retry shortly")
                                .with_header(header::RETRY_AFTER, "1");
                        return Ok(respond(request, &error));
                    }
                },
            };
            if decision.allowed {
                return pass(&*service, request, Some(decision)).await;
            }
            let retry_after = ceil_seconds(decision.retry_after.unwrap_or_default()).max(1);
            tracing::debug!(group = %guard.group, key = %guard.key, retry_after, "rate limited");
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many requests ({} per {} s); retry in {retry_after} s",
                    decision.limit,
                    decision.window.as_secs()
                ),
            )
            .with_header(header::RETRY_AFTER, retry_after.to_string());
            for (name, value) in headers(&decision) {
                error = error.with_header(name, value);
            }
            Ok(respond(request, &error))
        })
    }
}

/// Counts the request under the identity the guard keys by.
async fn count(
    limiter: &Limiter,
    guard: &Guard,
    request: &ServiceRequest,
) -> Result<Decision, RateLimitError> {
    let ip = || {
        client_ip(request.request(), &limiter.config().trusted_proxies)
            .map(ip_subject)
            // Off TCP (a Unix socket) there is no address: such callers share one count.
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let (namespace, subject, quota) = match guard.key {
        Key::Ip => ("ip", ip(), limiter.quota(&guard.group, Key::Ip)?),
        Key::Account => {
            let account_quota = limiter.quota(&guard.group, Key::Account)?;
            match account_subject(request.request()) {
                Some(user) => ("account", user, account_quota),
                // Signed out: by address, under the group's per-IP quota if it has one. A
                // count of its own, so a route that also wraps a `Key::Ip` guard of the
                // same group does not count signed-out callers twice in one bucket.
                None => {
                    let quota = limiter
                        .quota(&guard.group, Key::Ip)
                        .unwrap_or(account_quota);
                    ("anonymous", ip(), quota)
                }
            }
        }
    };
    limiter
        .check_quota(&guard.group, namespace, &subject, quota)
        .await
}

async fn pass<S, B>(
    service: &S,
    request: ServiceRequest,
    decision: Option<Decision>,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    let mut response = service.call(request).await?;
    if let Some(decision) = decision {
        let headers = response.headers_mut();
        if more_restrictive_than_present(&decision, headers) {
            for (name, value) in headers_of(&decision) {
                headers.insert(name, value);
            }
        }
    }
    Ok(response.map_into_left_body())
}

/// Whether `decision` leaves fewer requests than what an inner guard already reported.
fn more_restrictive_than_present(decision: &Decision, headers: &HeaderMap) -> bool {
    headers
        .get(&RATELIMIT_REMAINING)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u32>().ok())
        .is_none_or(|present| decision.remaining < present)
}

fn respond<B>(request: ServiceRequest, error: &ApiError) -> ServiceResponse<EitherBody<B>> {
    request
        .into_response(error.error_response())
        .map_into_right_body()
}

fn ceil_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// The `RateLimit-*` headers of a decision, as text.
pub fn headers(decision: &Decision) -> [(HeaderName, String); 4] {
    [
        (RATELIMIT_LIMIT, decision.limit.to_string()),
        (RATELIMIT_REMAINING, decision.remaining.to_string()),
        (
            RATELIMIT_RESET,
            ceil_seconds(decision.reset_after).to_string(),
        ),
        (
            RATELIMIT_POLICY,
            format!("{};w={}", decision.limit, decision.window.as_secs()),
        ),
    ]
}

fn headers_of(decision: &Decision) -> impl Iterator<Item = (HeaderName, HeaderValue)> {
    headers(decision).into_iter().filter_map(|(name, value)| {
        HeaderValue::from_str(&value)
            .ok()
            .map(|value| (name, value))
    })
}
