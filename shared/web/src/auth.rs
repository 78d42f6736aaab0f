//! Who is calling: HS256 JWT access tokens, the [`Authenticated`] extractor, and role
//! checks any service uses with [`Authorized`].
//!
//! Access tokens are short-lived and verified without a database round trip; revoking a
//! session stops its refresh token, and the access token dies with its `exp`. Accounts
//! issues tokens; every other service only verifies them.

use crate::error::ApiError;
use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use kernel::{Role, Secret, UserId};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::future::{Ready, ready};
use std::marker::PhantomData;

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: UserId,
    /// What the user may do.
    pub roles: Vec<Role>,
    /// The session (refresh token family) the token was issued for.
    pub sid: uuid::Uuid,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// The issuer; tokens of another issuer are rejected.
    pub iss: String,
}

impl Claims {
    /// Whether the user holds any of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|role| roles.contains(role))
    }
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not HS256")]
    Algorithm,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token was issued by someone else")]
    Issuer,
    #[error("the token has expired")]
    Expired,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The key that signs and verifies access tokens.
#[derive(Clone)]
pub struct JwtKeys {
    secret: Secret<Vec<u8>>,
    issuer: String,
}

impl JwtKeys {
    /// Keys for `issuer` with an HMAC secret (at least 32 random bytes in production).
    pub fn new(secret: &[u8], issuer: impl Into<String>) -> Self {
        Self {
            secret: Secret::new(secret.to_vec()),
            issuer: issuer.into(),
        }
    }

    /// The issuer stamped into and required of tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        #[allow(clippy::expect_used)]
        Hmac::<Sha256>::new_from_slice(self.secret.expose()).expect("hmac takes any key length")
    }

    /// Signs `claims` into a compact JWT.
    pub fn sign(&self, claims: &Claims) -> String {
        // Claims hold only strings, numbers and enums: serialising them cannot fail.
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signing_input = format!("{}.{}", B64.encode(HEADER), B64.encode(payload));
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = B64.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Checks a token's algorithm, signature, issuer and expiry at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        // The algorithm is fixed, never taken from the token: no `alg: none`, no key confusion.
        let header: serde_json::Value = B64
            .decode(header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenError::Malformed)?;
        if header.get("alg").and_then(|alg| alg.as_str()) != Some("HS256") {
            return Err(TokenError::Algorithm);
        }
        let signature = B64.decode(signature).map_err(|_| TokenError::Malformed)?;
        let signing_input_len = token.len() - signature_len(token);
        let mut mac = self.mac();
        mac.update(&token.as_bytes()[..signing_input_len]);
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = B64
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.iss != self.issuer {
            return Err(TokenError::Issuer);
        }
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Length of `.signature` at the end of a token, so the signed part is everything before it.
fn signature_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

/// A caller with a valid access token. Rejects with 401 otherwise.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Claims);

impl Authenticated {
    /// The caller's user id.
    pub fn user_id(&self) -> UserId {
        self.0.sub
    }

    /// 403 unless the caller holds one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.0.has_any(roles) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this requires one of the roles: {}",
                roles
                    .iter()
                    .map(|role| role.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

fn authenticate(request: &HttpRequest) -> Result<Authenticated, ApiError> {
    let keys = request
        .app_data::<web::Data<JwtKeys>>()
        .ok_or_else(|| ApiError::internal("JwtKeys are not registered as app data"))?;
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing_token", "an access token is required"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|value| {
            value
                .get(..7)
                .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
                .map(|_| value[7..].trim())
        })
        .ok_or_else(|| {
            ApiError::unauthorized("invalid_token", "expected `Authorization: Bearer <token>`")
        })?;
    match keys.verify(token, Utc::now()) {
        Ok(claims) => Ok(Authenticated(claims)),
        Err(TokenError::Expired) => Err(ApiError::unauthorized(
            "token_expired",
            "the access token has expired; refresh it",
        )),
        Err(error) => Err(ApiError::unauthorized("invalid_token", error.to_string())),
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(request))
    }
}

/// A set of roles a route accepts, as a type (see [`Authorized`]).
pub trait RoleSet: 'static {
    /// Any of these roles is enough.
    const ROLES: &'static [Role];
}

/// Any signed-in user.
pub struct Users;
impl RoleSet for Users {
    const ROLES: &'static [Role] = &Role::ALL;
}

/// Editors and admins (content, live scoring).
pub struct Editors;
impl RoleSet for Editors {
    const ROLES: &'static [Role] = &[Role::Editor, Role::Admin];
}

/// Admins only.
pub struct Admins;
impl RoleSet for Admins {
    const ROLES: &'static [Role] = &[Role::Admin];
}

/// A caller holding one of `R`'s roles: 401 without a valid token, 403 without the role.
pub struct Authorized<R: RoleSet>(pub Authenticated, PhantomData<R>);

impl<R: RoleSet> Authorized<R> {
    /// The caller's claims.
    pub fn claims(&self) -> &Claims {
        &self.0.0
    }
}

impl<R: RoleSet> FromRequest for Authorized<R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(request).and_then(|caller| {
            caller.require_any(R::ROLES)?;
            Ok(Authorized(caller, PhantomData))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: UserId::new(),
            roles: vec![Role::User],
            sid: uuid::Uuid::new_v4(),
            iat: 0,
            exp,
            iss: "platform".into(),
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "platform");
        let now = Utc::now();
        let claims = claims(now.timestamp() + 60);
        let token = keys.sign(&claims);
        assert_eq!(keys.verify(&token, now).unwrap(), claims);
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(keys.verify(&token, later), Err(TokenError::Expired));
    }

    #[test]
    fn tampered_foreign_and_unsigned_tokens_are_refused() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "platform");
        let now = Utc::now();
        let token = keys.sign(&claims(now.timestamp() + 60));

        let other = JwtKeys::new(b"another secret, another signature", "platform");
        assert_eq!(other.verify(&token, now), Err(TokenError::Signature));

        let foreign = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "elsewhere");
        assert_eq!(foreign.verify(&token, now), Err(TokenError::Issuer));

        // Swap in a payload claiming the admin role: the signature no longer matches.
        let mut forged = claims(now.timestamp() + 60);
        forged.roles = vec![Role::Admin];
        let parts: Vec<&str> = token.split('.').collect();
        let payload = B64.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
        assert_eq!(keys.verify(&tampered, now), Err(TokenError::Signature));

        let unsigned = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), parts[1]);
        assert_eq!(keys.verify(&unsigned, now), Err(TokenError::Algorithm));

        assert_eq!(keys.verify("not-a-jwt", now), Err(TokenError::Malformed));
    }
}
