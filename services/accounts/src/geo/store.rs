//! The geofence tables: admin policy overrides, uploaded region sets and the audit trail.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};
use uuid::Uuid;

pub mod policy {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts_geo_policies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub feature: String,
        /// `geofence::FeaturePolicy` as JSON.
        pub rules: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod region_set {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts_geo_region_sets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub geojson: String,
        pub code_property: String,
        pub name_property: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts_geo_audit")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub at: DateTimeUtc,
        pub actor: Uuid,
        pub action: String,
        pub target: String,
        pub before: Option<String>,
        pub after: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub async fn policies(db: &impl ConnectionTrait) -> Result<Vec<policy::Model>, DbErr> {
    policy::Entity::find().all(db).await
}

pub async fn region_sets(db: &impl ConnectionTrait) -> Result<Vec<region_set::Model>, DbErr> {
    region_set::Entity::find()
        .order_by_asc(region_set::Column::Name)
        .all(db)
        .await
}

pub async fn upsert_policy(db: &impl ConnectionTrait, row: policy::Model) -> Result<(), DbErr> {
    policy::Entity::insert(policy::ActiveModel {
        feature: Set(row.feature),
        rules: Set(row.rules),
        updated_at: Set(row.updated_at),
        updated_by: Set(row.updated_by),
    })
    .on_conflict(
        OnConflict::column(policy::Column::Feature)
            .update_columns([
                policy::Column::Rules,
                policy::Column::UpdatedAt,
                policy::Column::UpdatedBy,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// `true` when a row was deleted.
pub async fn delete_policy(db: &impl ConnectionTrait, feature: &str) -> Result<bool, DbErr> {
    let result = policy::Entity::delete_by_id(feature.to_owned())
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

pub async fn upsert_region_set(
    db: &impl ConnectionTrait,
    row: region_set::Model,
) -> Result<(), DbErr> {
    region_set::Entity::insert(region_set::ActiveModel {
        name: Set(row.name),
        geojson: Set(row.geojson),
        code_property: Set(row.code_property),
        name_property: Set(row.name_property),
        updated_at: Set(row.updated_at),
        updated_by: Set(row.updated_by),
    })
    .on_conflict(
        OnConflict::column(region_set::Column::Name)
            .update_columns([
                region_set::Column::Geojson,
                region_set::Column::CodeProperty,
                region_set::Column::NameProperty,
                region_set::Column::UpdatedAt,
                region_set::Column::UpdatedBy,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// `true` when a row was deleted.
pub async fn delete_region_set(db: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    let result = region_set::Entity::delete_by_id(name.to_owned())
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// One audit entry.
pub struct Change<'a> {
    pub actor: Uuid,
    pub action: &'a str,
    pub target: &'a str,
    pub before: Option<String>,
    pub after: Option<String>,
}

pub async fn record(
    db: &impl ConnectionTrait,
    change: Change<'_>,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    audit::Entity::insert(audit::ActiveModel {
        id: Set(Uuid::now_v7()),
        at: Set(at),
        actor: Set(change.actor),
        action: Set(change.action.to_owned()),
        target: Set(change.target.to_owned()),
        before: Set(change.before),
        after: Set(change.after),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The newest `limit` entries, newest first, older than `before` when given.
pub async fn audit_page(
    db: &impl ConnectionTrait,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<audit::Model>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let mut query = audit::Entity::find();
    if let Some(before) = before {
        query = query.filter(audit::Column::Id.lt(before));
    }
    query
        .order_by_desc(audit::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
