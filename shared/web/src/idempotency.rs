//! Safe retries of writes: the `Idempotency-Key` request header a client sends with a
//! write, and the 201 that answers both the first send and every resend (a resend is
//! marked `Idempotent-Replayed: true`). Each service keeps its own record of keys next to
//! the rows they created, so a resend on any node finds the first answer.

use crate::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use std::future::{Ready, ready};

/// The response header that marks an answer to a resend: nothing new was recorded.
pub const REPLAYED: &str = "idempotent-replayed";
/// The longest idempotency key taken: room for a UUID or any client's own scheme, not for
/// a payload smuggled in a header.
pub const MAX_KEY_LEN: usize = 128;

/// The `Idempotency-Key` of a request, if it has one (a malformed one is a 400
/// `invalid_idempotency_key`).
pub struct IdempotencyKey(pub Option<String>);

impl IdempotencyKey {
    /// The key, or 400 `idempotency_key_required` for a write that must have one.
    pub fn required(self) -> Result<String, ApiError> {
        self.0.ok_or_else(|| {
            ApiError::bad_request(
                "idempotency_key_required",
                "this write needs an Idempotency-Key header so that a retry cannot repeat it",
            )
        })
    }
}

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(idempotency_key(request).map(IdempotencyKey))
    }
}

/// Reads and checks the `Idempotency-Key` header.
pub fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    request
        .headers()
        .get("idempotency-key")
        .map(|value| {
            value
                .to_str()
                .ok()
                .filter(|key| {
                    (1..=MAX_KEY_LEN).contains(&key.len())
                        && key.bytes().all(|byte| byte.is_ascii_graphic())
                })
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_idempotency_key",
                        format!(
                            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
                        ),
                    )
                })
        })
        .transpose()
}

/// 201 with `body`, whether recorded now or by the first of several sends (then marked
/// `Idempotent-Replayed`): a client retrying after a lost answer gets exactly the answer
/// it lost.
pub fn created_response(body: &impl serde::Serialize, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::Created();
    if replayed {
        response.insert_header((REPLAYED, "true"));
    }
    response.json(body)
}
