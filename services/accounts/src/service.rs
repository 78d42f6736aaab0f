//! The accounts use cases: sign up, log in, refresh, log out, look up.
//!
//! Password hashing is argon2id with OWASP's parameters, run on the blocking pool: it costs
//! tens of milliseconds of CPU by design, which must never stall the async workers.

use crate::domain::credentials::{self, CredentialError};
use crate::domain::tokens;
use crate::store::{self, User, session};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use bus::{DynBus, Message};
use chrono::{Duration, Utc};
use contracts::Event;
use contracts::accounts::{UserLoggedIn, UserSignedUp};
use kernel::{Role, Secret, UserId};
use runtime::Context;
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use std::sync::Arc;
use web::{Claims, JwtKeys};

/// Why an accounts operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("an account with this email exists already")]
    EmailTaken,
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    #[error("the refresh token was used already; the session has been revoked")]
    RefreshTokenReused,
    #[error("the session has ended; log in again")]
    SessionEnded,
    #[error("the user no longer exists")]
    UnknownUser,
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("password hashing: {0}")]
    Hashing(String),
}

/// Tokens handed to a client after sign-up, login or refresh.
/// Not `Debug`: it holds live tokens.
#[derive(Clone)]
pub struct Session {
    pub user: User,
    pub access_token: String,
    pub access_expires_in: i64,
    pub refresh_token: String,
}

/// The service: its connections and token settings.
#[derive(Clone)]
pub struct AuthService {
    db: DatabaseConnection,
    bus: DynBus,
    jwt: JwtKeys,
    access_ttl: Duration,
    refresh_ttl: Duration,
    /// Verified against when the email is unknown, so both failures cost the same time.
    dummy_hash: Arc<str>,
}

impl AuthService {
    /// The service on a node's connections and settings.
    pub fn from_context(context: &Context) -> Self {
        Self::new(
            context.db.clone(),
            context.bus.clone(),
            context.jwt.clone(),
            Duration::seconds(context.settings.auth.access_ttl_seconds),
            Duration::seconds(context.settings.auth.refresh_ttl_seconds),
        )
    }

    pub fn new(
        db: DatabaseConnection,
        bus: DynBus,
        jwt: JwtKeys,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Self {
        // Hashing a fixed string cannot fail with default parameters; an empty hash would
        // only make unknown-email logins cheaper, never accept one.
        let dummy_hash = hash_password_now("not a real password, only for timing")
            .unwrap_or_default()
            .into();
        Self {
            db,
            bus,
            jwt,
            access_ttl,
            refresh_ttl,
            dummy_hash,
        }
    }

    /// Creates a user with `roles` and returns a logged-in session.
    pub async fn sign_up(
        &self,
        email: &str,
        password: String,
        roles: Vec<Role>,
    ) -> Result<Session, AuthError> {
        let user = new_user(email, password, roles).await?;
        let (refresh_token, refresh_hash) = tokens::new_refresh_token();
        let session = self.new_session(&user);
        let txn = self.db.begin().await?;
        if store::insert_user(&txn, &user).await?.is_err() {
            return Err(AuthError::EmailTaken);
        }
        store::insert_session(&txn, &session, refresh_hash).await?;
        txn.commit().await?;
        tracing::info!(user_id = %user.id, "user signed up");
        self.announce(&UserSignedUp {
            user_id: user.id,
            roles: user.roles.clone(),
            at: user.created_at,
        })
        .await;
        Ok(self.tokens_for(user, session.id, refresh_token))
    }

    /// Checks a password and opens a session. Unknown email and wrong password are the
    /// same error after the same work, so neither the answer nor its timing tells them apart.
    pub async fn log_in(&self, email: &str, password: String) -> Result<Session, AuthError> {
        let user = match credentials::normalize_email(email) {
            Ok(email) => store::user_by_email(&self.db, &email).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().map_or_else(
            || self.dummy_hash.to_string(),
            |user| user.password_hash.expose().clone(),
        );
        let matches = verify_password(password, hash).await?;
        let Some(user) = user.filter(|_| matches) else {
            return Err(AuthError::InvalidCredentials);
        };
        let (refresh_token, refresh_hash) = tokens::new_refresh_token();
        let session = self.new_session(&user);
        store::insert_session(&self.db, &session, refresh_hash).await?;
        self.announce(&UserLoggedIn {
            user_id: user.id,
            at: session.created_at,
        })
        .await;
        Ok(self.tokens_for(user, session.id, refresh_token))
    }

    /// Swaps a refresh token for a new pair. A token works once: presenting a used one
    /// revokes its session, cutting off whoever holds either copy.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, AuthError> {
        let hash = tokens::hash_refresh_token(refresh_token);
        let now = Utc::now();
        let txn = self.db.begin().await?;
        // Consuming first, with a conditional update, decides races on both backends: of
        // two concurrent refreshes with one token exactly one updates the row, and the
        // other sees it used. (Reading first would make SQLite refuse the late writer with
        // SQLITE_BUSY instead.)
        let consumed = store::consume_refresh_token(&txn, &hash, now).await?;
        let Some((_, session)) = store::refresh_token(&txn, &hash).await? else {
            return Err(AuthError::InvalidRefreshToken);
        };
        if session.revoked_at.is_some() || session.expires_at <= now {
            return Err(AuthError::SessionEnded);
        }
        if !consumed {
            txn.rollback().await?;
            store::revoke_session(&self.db, session.id, "refresh_token_reused", now).await?;
            tracing::warn!(session_id = %session.id, user_id = %session.user_id, "refresh token reused; session revoked");
            return Err(AuthError::RefreshTokenReused);
        }
        let user = store::user_by_id(&txn, UserId(session.user_id))
            .await?
            .ok_or(AuthError::UnknownUser)?;
        let (new_token, new_hash) = tokens::new_refresh_token();
        store::insert_refresh_token(&txn, session.id, new_hash, now).await?;
        txn.commit().await?;
        Ok(self.tokens_for(user, session.id, new_token))
    }

    /// Ends the session of a refresh token. Idempotent: an unknown or ended session is fine.
    pub async fn log_out(&self, refresh_token: &str) -> Result<(), AuthError> {
        let hash = tokens::hash_refresh_token(refresh_token);
        if let Some((_, session)) = store::refresh_token(&self.db, &hash).await? {
            store::revoke_session(&self.db, session.id, "logout", Utc::now()).await?;
        }
        Ok(())
    }

    /// The user behind an access token.
    pub async fn user(&self, id: UserId) -> Result<User, AuthError> {
        store::user_by_id(&self.db, id)
            .await?
            .ok_or(AuthError::UnknownUser)
    }

    fn new_session(&self, user: &User) -> session::Model {
        let now = Utc::now();
        session::Model {
            id: uuid::Uuid::now_v7(),
            user_id: user.id.0,
            created_at: now,
            expires_at: now + self.refresh_ttl,
            revoked_at: None,
            revoked_reason: None,
        }
    }

    fn tokens_for(&self, user: User, session_id: uuid::Uuid, refresh_token: String) -> Session {
        let now = Utc::now();
        let claims = Claims {
            sub: user.id,
            roles: user.roles.clone(),
            sid: session_id,
            iat: now.timestamp(),
            exp: (now + self.access_ttl).timestamp(),
            iss: self.jwt.issuer().to_owned(),
        };
        Session {
            access_token: self.jwt.sign(&claims),
            access_expires_in: self.access_ttl.num_seconds(),
            refresh_token,
            user,
        }
    }

    /// Tells the platform; the write has committed already, so a bus outage must not
    /// fail the request (consumers needing every event get an outbox with the wallet).
    async fn announce<E: Event>(&self, event: &E) {
        let published = match Message::json(E::SUBJECT, event) {
            Ok(message) => self.bus.publish(message).await,
            Err(error) => Err(error),
        };
        if let Err(error) = published {
            tracing::warn!(subject = E::SUBJECT, %error, "event not published");
        }
    }
}

/// Creates a user without a session (how operators make the first admin).
pub async fn add_user(
    db: &DatabaseConnection,
    email: &str,
    password: String,
    roles: Vec<Role>,
) -> Result<User, AuthError> {
    let user = new_user(email, password, roles).await?;
    match store::insert_user(db, &user).await? {
        Ok(()) => Ok(user),
        Err(store::EmailTaken) => Err(AuthError::EmailTaken),
    }
}

/// A valid, not yet stored user with its password hashed.
async fn new_user(email: &str, password: String, roles: Vec<Role>) -> Result<User, AuthError> {
    let email = credentials::normalize_email(email)?;
    credentials::check_password(&password, &email)?;
    Ok(User {
        id: UserId::new(),
        email,
        password_hash: Secret::new(hash_password(password).await?),
        roles,
        created_at: Utc::now(),
    })
}

fn hash_password_now(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AuthError::Hashing(error.to_string()))
}

async fn hash_password(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || hash_password_now(&password))
        .await
        .map_err(|error| AuthError::Hashing(error.to_string()))?
}

async fn verify_password(password: String, hash: String) -> Result<bool, AuthError> {
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .map_err(|error| AuthError::Hashing(error.to_string()))
}
