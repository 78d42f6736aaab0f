//! The accounts tables and the queries on them. Nothing outside this module writes SQL.

use chrono::{DateTime, Utc};
use kernel::{Role, Secret, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, SqlErr,
};
use uuid::Uuid;

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts_users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub email: String,
        pub password_hash: String,
        /// Comma-separated role names.
        pub roles: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
        pub revoked_reason: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod refresh_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts_refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub session_id: Uuid,
        pub created_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A user as the service sees it.
#[derive(Clone, Debug)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub password_hash: Secret<String>,
    pub roles: Vec<Role>,
    pub created_at: DateTime<Utc>,
}

impl From<user::Model> for User {
    fn from(model: user::Model) -> Self {
        Self {
            id: UserId(model.id),
            email: model.email,
            password_hash: Secret::new(model.password_hash),
            // Only this module writes the column, from `Role::as_str`: unknown names cannot occur.
            roles: model
                .roles
                .split(',')
                .filter_map(|name| name.parse().ok())
                .collect(),
            created_at: model.created_at,
        }
    }
}

/// Inserting a user whose email exists already.
pub struct EmailTaken;

/// Inserts a user; the unique email key decides races between concurrent sign-ups.
pub async fn insert_user(
    db: &impl ConnectionTrait,
    user: &User,
) -> Result<Result<(), EmailTaken>, DbErr> {
    let roles = user
        .roles
        .iter()
        .map(|role| role.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let row = user::ActiveModel {
        id: Set(user.id.0),
        email: Set(user.email.clone()),
        password_hash: Set(user.password_hash.expose().clone()),
        roles: Set(roles),
        created_at: Set(user.created_at),
    };
    match user::Entity::insert(row).exec_without_returning(db).await {
        Ok(_) => Ok(Ok(())),
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Ok(Err(EmailTaken))
        }
        Err(error) => Err(error),
    }
}

pub async fn user_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<User>, DbErr> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await?
        .map(User::from))
}

pub async fn user_by_id(db: &impl ConnectionTrait, id: UserId) -> Result<Option<User>, DbErr> {
    Ok(user::Entity::find_by_id(id.0)
        .one(db)
        .await?
        .map(User::from))
}

/// Starts a session with its first refresh token.
pub async fn insert_session(
    db: &impl ConnectionTrait,
    session: &session::Model,
    token_hash: String,
) -> Result<(), DbErr> {
    session::Entity::insert(session::ActiveModel {
        id: Set(session.id),
        user_id: Set(session.user_id),
        created_at: Set(session.created_at),
        expires_at: Set(session.expires_at),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    insert_refresh_token(db, session.id, token_hash, session.created_at).await
}

pub async fn insert_refresh_token(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    token_hash: String,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    refresh_token::Entity::insert(refresh_token::ActiveModel {
        token_hash: Set(token_hash),
        session_id: Set(session_id),
        created_at: Set(now),
        used_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// A refresh token with its session.
pub async fn refresh_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<(refresh_token::Model, session::Model)>, DbErr> {
    let Some(token) = refresh_token::Entity::find_by_id(token_hash.to_owned())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let session = session::Entity::find_by_id(token.session_id)
        .one(db)
        .await?;
    Ok(session.map(|session| (token, session)))
}

/// Marks a token used, only if it was not used yet. `false`: someone used it first.
pub async fn consume_refresh_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Revokes a session (and so every refresh token of it), keeping the first reason.
pub async fn revoke_session(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .col_expr(session::Column::RevokedReason, Expr::value(reason))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
