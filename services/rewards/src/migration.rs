//! The rewards schema. Migrations are never edited once released; each names itself.
//!
//! Coins and units are `BIGINT`; ids the platform or a client chooses are UUIDs; a
//! market's command log is keyed by (sku, seq), so two nodes appending to one market
//! cannot both win.

use sea_orm_migration::prelude::*;

mod m0002_redemptions;
mod m0003_market_integrity;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_rewards::Migration),
            Box::new(m0002_redemptions::Migration),
            Box::new(m0003_market_integrity::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        storage::migration_table("rewards")
    }
}

mod m0001_rewards {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0001_rewards"
        }
    }

    fn text(name: &'static str) -> ColumnDef {
        ColumnDef::new(Alias::new(name))
            .string()
            .not_null()
            .to_owned()
    }
    fn text_null(name: &'static str) -> ColumnDef {
        ColumnDef::new(Alias::new(name)).string().null().to_owned()
    }
    fn long_text(name: &'static str) -> ColumnDef {
        ColumnDef::new(Alias::new(name))
            .text()
            .not_null()
            .to_owned()
    }
    fn big(name: &'static str) -> ColumnDef {
        ColumnDef::new(Alias::new(name))
            .big_integer()
            .not_null()
            .to_owned()
    }
    fn big_null(name: &'static str) -> ColumnDef {
        ColumnDef::new(Alias::new(name))
            .big_integer()
            .null()
            .to_owned()
    }
    fn int(name: &'static str) -> ColumnDef {
        ColumnDef::new(Alias::new(name))
            .integer()
            .not_null()
            .to_owned()
    }
    fn int_null(name: &'static str) -> ColumnDef {
        ColumnDef::new(Alias::new(name)).integer().null().to_owned()
    }
    fn uuid(name: &'static str) -> ColumnDef {
        ColumnDef::new(Alias::new(name))
            .uuid()
            .not_null()
            .to_owned()
    }
    fn uuid_null(name: &'static str) -> ColumnDef {
        ColumnDef::new(Alias::new(name)).uuid().null().to_owned()
    }
    fn at(name: &'static str) -> ColumnDef {
        ColumnDef::new(Alias::new(name))
            .timestamp_with_time_zone()
            .not_null()
            .to_owned()
    }
    fn at_null(name: &'static str) -> ColumnDef {
        ColumnDef::new(Alias::new(name))
            .timestamp_with_time_zone()
            .null()
            .to_owned()
    }
    fn boolean(name: &'static str) -> ColumnDef {
        ColumnDef::new(Alias::new(name))
            .boolean()
            .not_null()
            .to_owned()
    }

    fn table(
        name: &'static str,
        columns: Vec<ColumnDef>,
        key: &[&'static str],
    ) -> TableCreateStatement {
        let mut table = Table::create();
        table.table(Alias::new(name));
        for mut column in columns {
            table.col(&mut column);
        }
        let mut primary = Index::create();
        for column in key {
            primary.col(Alias::new(*column));
        }
        table.primary_key(&mut primary);
        table.to_owned()
    }

    fn index(
        name: &'static str,
        on: &'static str,
        columns: &[&'static str],
        unique: bool,
    ) -> IndexCreateStatement {
        let mut index = Index::create();
        index.name(name).table(Alias::new(on));
        for column in columns {
            index.col(Alias::new(*column));
        }
        if unique {
            index.unique();
        }
        index.to_owned()
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            let tables = [
                table(
                    "rewards_skus",
                    vec![
                        text("sku"),
                        text("brand"),
                        text("brand_name"),
                        text("name"),
                        text("denomination"),
                        text("currency"),
                        big("price"),
                        text_null("pattern"),
                        at("expires_at"),
                        boolean("on_sale"),
                        at("created_at"),
                        at("updated_at"),
                    ],
                    &["sku"],
                ),
                table(
                    "rewards_codes",
                    vec![
                        uuid("id"),
                        text("sku"),
                        long_text("sealed"),
                        text("fingerprint"),
                        uuid_null("owner"),
                        uuid_null("purchase_id"),
                        at_null("assigned_at"),
                        at_null("redeemed_at"),
                        text_null("redeem_key"),
                        at("created_at"),
                    ],
                    &["id"],
                ),
                table(
                    "rewards_purchases",
                    vec![
                        uuid("id"),
                        uuid("user_id"),
                        text("idem_key"),
                        text("sku"),
                        uuid_null("code_id"),
                        big("price"),
                        text("status"),
                        text_null("failure"),
                        at("created_at"),
                    ],
                    &["id"],
                ),
                table(
                    "rewards_orders",
                    vec![
                        uuid("id"),
                        uuid("user_id"),
                        text("sku"),
                        big_null("engine_id"),
                        text("side"),
                        big("price"),
                        big("qty"),
                        text("tif"),
                        text("request_hash"),
                        text("status"),
                        big("filled"),
                        uuid("hold_id"),
                        big("held"),
                        int("holds"),
                        text_null("reason"),
                        at("created_at"),
                        at("updated_at"),
                    ],
                    &["id"],
                ),
                table(
                    "rewards_market_log",
                    vec![
                        text("sku"),
                        big("seq"),
                        long_text("command"),
                        at("created_at"),
                    ],
                    &["sku", "seq"],
                ),
                table(
                    "rewards_trades",
                    vec![
                        text("sku"),
                        big("trade_id"),
                        big("seq"),
                        big("price"),
                        big("qty"),
                        text("taker_side"),
                        uuid("buy_order"),
                        uuid("sell_order"),
                        at("created_at"),
                    ],
                    &["sku", "trade_id"],
                ),
                table(
                    "rewards_settlements",
                    vec![
                        uuid("id"),
                        text("sku"),
                        big("seq"),
                        long_text("batch"),
                        long_text("code_moves"),
                        text("status"),
                        text_null("failure"),
                        at("created_at"),
                    ],
                    &["id"],
                ),
                table(
                    "rewards_campaigns",
                    vec![
                        uuid("id"),
                        text("name"),
                        text("trigger"),
                        int_null("streak_days"),
                        big("amount"),
                        big("budget"),
                        big("spent"),
                        int("per_user_cap"),
                        at("starts_at"),
                        at("ends_at"),
                        at("created_at"),
                        at("updated_at"),
                    ],
                    &["id"],
                ),
                table(
                    "rewards_campaign_users",
                    vec![uuid("campaign"), uuid("user_id"), int("grants")],
                    &["campaign", "user_id"],
                ),
                table(
                    "rewards_grants",
                    vec![
                        uuid("id"),
                        uuid("campaign"),
                        uuid("user_id"),
                        text("source"),
                        big("amount"),
                        text("status"),
                        at("created_at"),
                    ],
                    &["id"],
                ),
                table(
                    "rewards_logins",
                    vec![uuid("user_id"), text("last_day"), int("streak")],
                    &["user_id"],
                ),
                table(
                    "rewards_secrets",
                    vec![text("name"), text("value")],
                    &["name"],
                ),
            ];
            for table in tables {
                manager.create_table(table).await?;
            }
            let indexes = [
                index(
                    "rewards_codes_fingerprint",
                    "rewards_codes",
                    &["fingerprint"],
                    true,
                ),
                index(
                    "rewards_codes_owner",
                    "rewards_codes",
                    &["sku", "owner"],
                    false,
                ),
                index(
                    "rewards_purchases_key",
                    "rewards_purchases",
                    &["user_id", "idem_key"],
                    true,
                ),
                index(
                    "rewards_orders_open",
                    "rewards_orders",
                    &["sku", "status"],
                    false,
                ),
                index(
                    "rewards_orders_user",
                    "rewards_orders",
                    &["user_id", "created_at"],
                    false,
                ),
                index(
                    "rewards_settlements_status",
                    "rewards_settlements",
                    &["sku", "status"],
                    false,
                ),
                index(
                    "rewards_grants_source",
                    "rewards_grants",
                    &["campaign", "user_id", "source"],
                    true,
                ),
            ];
            for index in indexes {
                manager.create_index(index).await?;
            }
            Ok(())
        }
    }
}
