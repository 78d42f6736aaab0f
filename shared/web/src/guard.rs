//! One middleware for every guard that decides before the handler runs: a route wraps
//! `Guard(check)` and the [`Check`] either lets the request through or refuses it with
//! a problem+json error, before any body extractor has read a byte.
//!
//! What differs between guards (captcha, geofence, ...) is only the check; the actix
//! `Transform`/`Service` pair around it lives here once.

use crate::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, ResponseError};
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

/// What a guard decides about one request. It may record what it learnt in the request's
/// extensions for the handler.
pub trait Check: Clone + 'static {
    fn check(&self, request: &ServiceRequest) -> impl Future<Output = Result<(), ApiError>>;
}

/// Wraps a route or scope in a [`Check`].
#[derive(Clone)]
pub struct Guard<C>(pub C);

impl<S, B, C> Transform<S, ServiceRequest> for Guard<C>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    C: Check,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = GuardService<S, C>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService {
            service: Rc::new(service),
            check: self.0.clone(),
        }))
    }
}

/// The guard wrapped around one service (see [`Guard`]).
pub struct GuardService<S, C> {
    service: Rc<S>,
    check: C,
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B, C> Service<ServiceRequest> for GuardService<S, C>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    C: Check,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let check = self.check.clone();
        Box::pin(async move {
            match check.check(&request).await {
                Ok(()) => service
                    .call(request)
                    .await
                    .map(ServiceResponse::map_into_left_body),
                Err(error) => {
                    let response = error.error_response().map_into_right_body();
                    Ok(request.into_response(response))
                }
            }
        })
    }
}
