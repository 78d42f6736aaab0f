//! The middleware a route opts into by action name. It reads the token from
//! `X-Captcha-Token`, verifies it, and either refuses with problem+json before the handler
//! (and its body extractors) run, or records [`Passed`] in the request's extensions and
//! calls the handler.
//!
//! It reads no body and knows nothing of the route: the action name is all it is told.

use crate::error::CaptchaError;
use crate::verify::{Passed, Verifier};
use ::web::ApiError;
use ::web::guard::{Check, Guard};
use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;
use actix_web::web::Data;
use std::sync::Arc;

/// The request header carrying the widget's token.
pub const TOKEN_HEADER: &str = "x-captcha-token";

/// A guard requiring a solved captcha for `action`, checked by `verifier`.
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
///         .wrap(captcha::guard(verifier.clone(), captcha::actions::SIGNUP))
///         .route(web::post().to(sign_up)),
/// );
/// # drop(app);
/// # Ok::<(), captcha::CaptchaError>(())
/// ```
pub fn guard(verifier: Verifier, action: impl Into<String>) -> Guard<Captcha> {
    Guard(Captcha {
        verifier: Some(verifier),
        action: action.into().into(),
    })
}

/// A guard that finds its verifier in the app data (`web::Data<Verifier>`) at request
/// time, for routes declared with attribute macros:
/// `#[post("/v1/rewards/claim", wrap = "captcha::guard_from_app_data(\"reward_claim\")")]`.
/// Without the app data the route answers 500 (and logs why).
pub fn guard_from_app_data(action: impl Into<String>) -> Guard<Captcha> {
    Guard(Captcha {
        verifier: None,
        action: action.into().into(),
    })
}

/// The [`Check`] behind [`guard`]: one action's tokens, checked by a verifier.
#[derive(Clone)]
pub struct Captcha {
    verifier: Option<Verifier>,
    action: Arc<str>,
}

impl Check for Captcha {
    async fn check(&self, request: &ServiceRequest) -> Result<(), ApiError> {
        let verifier = self
            .verifier
            .clone()
            .or_else(|| {
                request
                    .app_data::<Data<Verifier>>()
                    .map(|data| data.get_ref().clone())
            })
            .ok_or_else(|| {
                ApiError::internal(format!(
                    "captcha guard for {}: captcha::Verifier is not registered as app data",
                    self.action
                ))
            })?;
        let token = match request.headers().get(TOKEN_HEADER).map(|v| v.to_str()) {
            None => None,
            Some(Ok(token)) => Some(token.to_owned()),
            // Tokens are ASCII; anything else was not made by a widget.
            Some(Err(_)) => return Err(CaptchaError::Invalid { codes: Vec::new() }.into()),
        };
        let remote_ip = request.peer_addr().map(|addr| addr.ip());
        let passed = verifier
            .verify(&self.action, token.as_deref(), remote_ip)
            .await?;
        request.extensions_mut().insert::<Passed>(passed);
        Ok(())
    }
}
