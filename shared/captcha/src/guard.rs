//! The middleware a route opts into by action name. It reads the token from
//! `X-Captcha-Token`, verifies it, and either refuses with problem+json before the handler
//! (and its body extractors) run, or records [`Passed`] in the request's extensions and
//! calls the handler.
//!
//! It reads no body and knows nothing of the route: the action name is all it is told.

use crate::error::CaptchaError;
use crate::verify::{Passed, Verifier};
use ::web::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::web::Data;
use actix_web::{Error, HttpMessage, ResponseError};
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

/// The request header carrying the widget's token.
pub const TOKEN_HEADER: &str = "x-captcha-token";

/// Requires a solved captcha for one action.
///
/// ```
/// use actix_web::{App, HttpResponse, web};
///
/// async fn sign_up() -> HttpResponse {
///     HttpResponse::Created().finish()
/// }
///
/// // Built once at start from the `[captcha]` settings; clones share one replay memory.
/// let verifier = captcha::Verifier::new(captcha::CaptchaConfig::default())?;
/// let app = App::new().service(
///     web::resource("/v1/auth/signup")
///         .wrap(captcha::Guard::new(verifier.clone(), captcha::actions::SIGNUP))
///         .route(web::post().to(sign_up)),
/// );
/// # drop(app);
/// # Ok::<(), captcha::CaptchaError>(())
/// ```
#[derive(Clone)]
pub struct Guard {
    verifier: Option<Verifier>,
    action: Arc<str>,
}

impl Guard {
    /// A guard checking tokens for `action` with `verifier`.
    pub fn new(verifier: Verifier, action: impl Into<String>) -> Self {
        Self {
            verifier: Some(verifier),
            action: action.into().into(),
        }
    }

    /// A guard that finds its verifier in the app data (`web::Data<Verifier>`) at request
    /// time, for routes declared with attribute macros:
    /// `#[post("/v1/rewards/claim", wrap = "captcha::Guard::from_app_data(\"reward_claim\")")]`.
    /// Without the app data the route answers 500 (and logs why).
    pub fn from_app_data(action: impl Into<String>) -> Self {
        Self {
            verifier: None,
            action: action.into().into(),
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
            let verifier = match guard.verifier.clone().or_else(|| {
                request
                    .app_data::<Data<Verifier>>()
                    .map(|data| data.get_ref().clone())
            }) {
                Some(verifier) => verifier,
                None => {
                    let error = ApiError::internal(format!(
                        "captcha guard for {}: captcha::Verifier is not registered as app data",
                        guard.action
                    ));
                    return Ok(refuse(request, &error));
                }
            };
            let token = match request.headers().get(TOKEN_HEADER).map(|v| v.to_str()) {
                None => None,
                Some(Ok(token)) => Some(token.to_owned()),
                // Tokens are ASCII; anything else was not made by a widget.
                Some(Err(_)) => {
                    let error = ApiError::from(CaptchaError::Invalid { codes: Vec::new() });
                    return Ok(refuse(request, &error));
                }
            };
            let remote_ip = request.peer_addr().map(|addr| addr.ip());
            match verifier
                .verify(&guard.action, token.as_deref(), remote_ip)
                .await
            {
                Ok(passed) => {
                    request.extensions_mut().insert::<Passed>(passed);
                    service
                        .call(request)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                }
                Err(error) => Ok(refuse(request, &ApiError::from(error))),
            }
        })
    }
}

fn refuse<B>(request: ServiceRequest, error: &ApiError) -> ServiceResponse<EitherBody<B>> {
    request
        .into_response(error.error_response())
        .map_into_right_body()
}
