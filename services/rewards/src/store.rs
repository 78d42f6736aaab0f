//! The rewards tables as sea-orm entities. Each module is one table of
//! [`crate::migration`]; the rules about who writes what live with the code that writes.

/// One entity module: `entity!(name, "table", { fields }, [primary key fields])`.
macro_rules! entity {
    ($module:ident, $table:literal, { $($(#[$attr:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                $($(#[$attr])* pub $field: $ty,)*
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

entity!(sku, "rewards_skus", {
    #[sea_orm(primary_key, auto_increment = false)]
    sku: String,
    brand: String,
    brand_name: String,
    name: String,
    denomination: String,
    currency: String,
    price: i64,
    pattern: Option<String>,
    expires_at: ChronoDateTimeUtc,
    on_sale: bool,
    created_at: ChronoDateTimeUtc,
    updated_at: ChronoDateTimeUtc,
});

entity!(code, "rewards_codes", {
    #[sea_orm(primary_key, auto_increment = false)]
    id: Uuid,
    sku: String,
    sealed: String,
    fingerprint: String,
    owner: Option<Uuid>,
    purchase_id: Option<Uuid>,
    assigned_at: Option<ChronoDateTimeUtc>,
    redeemed_at: Option<ChronoDateTimeUtc>,
    redeem_key: Option<String>,
    created_at: ChronoDateTimeUtc,
});

entity!(redemption, "rewards_redemptions", {
    #[sea_orm(primary_key, auto_increment = false)]
    id: Uuid,
    user_id: Uuid,
    idem_key: String,
    sku: String,
    code_id: Option<Uuid>,
    status: String,
    failure: Option<String>,
    lease_until: ChronoDateTimeUtc,
    created_at: ChronoDateTimeUtc,
    updated_at: ChronoDateTimeUtc,
});

entity!(purchase, "rewards_purchases", {
    #[sea_orm(primary_key, auto_increment = false)]
    id: Uuid,
    user_id: Uuid,
    idem_key: String,
    sku: String,
    code_id: Option<Uuid>,
    price: i64,
    status: String,
    failure: Option<String>,
    created_at: ChronoDateTimeUtc,
});

entity!(order, "rewards_orders", {
    #[sea_orm(primary_key, auto_increment = false)]
    id: Uuid,
    user_id: Uuid,
    sku: String,
    engine_id: Option<i64>,
    side: String,
    price: i64,
    qty: i64,
    tif: String,
    request_hash: String,
    status: String,
    filled: i64,
    hold_id: Uuid,
    held: i64,
    holds: i32,
    reason: Option<String>,
    created_at: ChronoDateTimeUtc,
    updated_at: ChronoDateTimeUtc,
    /// The order as its first answer showed it (JSON), repeated to every resend.
    answer: Option<String>,
});

entity!(market_log, "rewards_market_log", {
    #[sea_orm(primary_key, auto_increment = false)]
    sku: String,
    #[sea_orm(primary_key, auto_increment = false)]
    seq: i64,
    command: String,
    created_at: ChronoDateTimeUtc,
});

entity!(trade, "rewards_trades", {
    #[sea_orm(primary_key, auto_increment = false)]
    sku: String,
    #[sea_orm(primary_key, auto_increment = false)]
    trade_id: i64,
    seq: i64,
    price: i64,
    qty: i64,
    taker_side: String,
    buy_order: Uuid,
    sell_order: Uuid,
    created_at: ChronoDateTimeUtc,
});

entity!(settlement, "rewards_settlements", {
    #[sea_orm(primary_key, auto_increment = false)]
    id: Uuid,
    sku: String,
    seq: i64,
    batch: String,
    code_moves: String,
    status: String,
    failure: Option<String>,
    created_at: ChronoDateTimeUtc,
    /// The settler sending it to the wallet (`settling`), and since when.
    claim: Option<Uuid>,
    claimed_at: Option<ChronoDateTimeUtc>,
});

entity!(campaign, "rewards_campaigns", {
    #[sea_orm(primary_key, auto_increment = false)]
    id: Uuid,
    name: String,
    trigger: String,
    streak_days: Option<i32>,
    amount: i64,
    budget: i64,
    spent: i64,
    per_user_cap: i32,
    starts_at: ChronoDateTimeUtc,
    ends_at: ChronoDateTimeUtc,
    created_at: ChronoDateTimeUtc,
    updated_at: ChronoDateTimeUtc,
});

entity!(campaign_user, "rewards_campaign_users", {
    #[sea_orm(primary_key, auto_increment = false)]
    campaign: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    user_id: Uuid,
    grants: i32,
});

entity!(grant, "rewards_grants", {
    #[sea_orm(primary_key, auto_increment = false)]
    id: Uuid,
    campaign: Uuid,
    user_id: Uuid,
    source: String,
    amount: i64,
    status: String,
    created_at: ChronoDateTimeUtc,
});

entity!(login, "rewards_logins", {
    #[sea_orm(primary_key, auto_increment = false)]
    user_id: Uuid,
    last_day: String,
    streak: i32,
});

entity!(secret, "rewards_secrets", {
    #[sea_orm(primary_key, auto_increment = false)]
    name: String,
    value: String,
});
