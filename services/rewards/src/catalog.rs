//! The voucher catalog: SKUs (a brand's voucher of one denomination, its price in coins
//! and its expiry), their codes, purchases and redemptions.
//!
//! Codes are sealed at rest ([`codes::Sealer`]: AES-256-GCM per row, a keyed fingerprint
//! for the unique index), assigned to exactly one buyer by a conditional update, and shown
//! in clear only to their owner, once redeemed. A user's unredeemed vouchers of a SKU are
//! also units in the wallet (`VCH_<sku>`), which is what the SKU's market trades: a
//! purchase mints one unit, a redemption burns one, a trade moves units and then as many
//! codes. Redemption, claimed per key before it acts, is in [`redemption`].

mod redemption;

use crate::error::RewardsError;
use crate::ledger::{self, COIN, ISSUANCE, Ledger, TREASURY};
use crate::store::{code, purchase, sku};
use chrono::{DateTime, Utc};
use codes::{Pattern, Sealer};
use contracts::wallet::{Batch, Leg, TransferLeg};
use sea_orm::sea_query::{LockBehavior, LockType, OnConflict, Query};
use sea_orm::{
    ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// The most codes one request adds.
pub const MAX_CODES_PER_REQUEST: usize = 10_000;

/// A SKU as admins write it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"brand": "amazon", "brand_name": "Amazon", "name": "Amazon Pay voucher ₹100", "denomination": "100.00", "currency": "INR", "price": 1000, "pattern": "AMZ-{12:unambiguous/4}", "expires_at": "2027-12-31T23:59:59Z", "on_sale": true}))]
pub struct SkuInput {
    /// The brand's id (`a-z`, `0-9`, `-`).
    pub brand: String,
    pub brand_name: String,
    pub name: String,
    /// The voucher's face value, a decimal string.
    pub denomination: String,
    /// ISO 4217.
    pub currency: String,
    /// Coins per voucher from the catalog.
    pub price: u64,
    /// How generated codes look (`PREFIX-{length:charset/group}`); imported codes are kept
    /// as the partner wrote them.
    #[serde(default)]
    pub pattern: Option<String>,
    /// After this the voucher can be neither bought, traded nor redeemed.
    pub expires_at: DateTime<Utc>,
    #[serde(default = "yes")]
    pub on_sale: bool,
}

fn yes() -> bool {
    true
}

/// A SKU in the catalog.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"sku": "AMZ_100", "brand": {"id": "amazon", "name": "Amazon"}, "name": "Amazon Pay voucher ₹100", "denomination": "100.00", "currency": "INR", "price": 1000, "expires_at": "2027-12-31T23:59:59Z", "on_sale": true, "available": 250}))]
pub struct SkuView {
    pub sku: String,
    pub brand: Brand,
    pub name: String,
    pub denomination: String,
    pub currency: String,
    pub price: u64,
    pub expires_at: DateTime<Utc>,
    pub on_sale: bool,
    /// Codes left to buy.
    pub available: u64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Brand {
    pub id: String,
    pub name: String,
}

/// Codes to add: generated from the SKU's pattern up to an inventory, or a partner's.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schema(example = json!({"top_up_to": 500}))]
pub enum AddCodes {
    /// Generate codes until this many are available (so a resend adds nothing).
    TopUpTo(u64),
    /// The partner's codes, as given (a resend finds them all present).
    Codes(Vec<String>),
}

/// What an addition did.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CodesAdded {
    pub added: u64,
    /// Codes that were already in the catalog (a resent file, or a clash redrawn).
    pub already_present: u64,
    pub available: u64,
}

/// A purchase.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a4b2-7c1e-7d2a-9f10-3b5c2d4e6f90", "sku": "AMZ_100", "price": 1000, "status": "paid"}))]
pub struct PurchaseView {
    pub id: Uuid,
    pub sku: String,
    pub price: u64,
    /// `paid`, or `reserved` while the payment is still being taken.
    pub status: String,
}

/// One voucher a user holds.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a4b2-7c1e-7d2a-9f10-3b5c2d4e6f91", "sku": "AMZ_100", "name": "Amazon Pay voucher ₹100", "status": "redeemed", "code": "AMZ-7KQ2-M9XH-3WPA", "expires_at": "2027-12-31T23:59:59Z"}))]
pub struct VoucherView {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    /// `held` (tradeable, code hidden), `redeemed` (code shown) or `expired`.
    pub status: String,
    /// Only once redeemed, and only to its owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// The catalog of one node.
#[derive(Clone)]
pub struct Catalog {
    db: DatabaseConnection,
    ledger: Ledger,
    sealer: Arc<Sealer>,
    jobs: jobs::Jobs,
    retry_after: chrono::Duration,
}

impl Catalog {
    pub fn new(
        db: DatabaseConnection,
        ledger: Ledger,
        sealer: Sealer,
        jobs: jobs::Jobs,
        retry_after: chrono::Duration,
    ) -> Self {
        Self {
            db,
            ledger,
            sealer: Arc::new(sealer),
            jobs,
            retry_after,
        }
    }

    /// Creates or updates a SKU (its units are defined in the wallet first).
    pub async fn put_sku(&self, id: &str, input: SkuInput) -> Result<SkuView, RewardsError> {
        if !valid_sku(id) {
            return Err(RewardsError::invalid(
                "invalid_sku",
                "a SKU is 1 to 24 of A-Z, 0-9 and _",
            ));
        }
        if input.brand.is_empty()
            || input.brand.len() > 40
            || !input
                .brand
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(RewardsError::invalid(
                "invalid_brand",
                "a brand id is 1 to 40 of a-z, 0-9 and -",
            ));
        }
        for (field, value) in [("brand_name", &input.brand_name), ("name", &input.name)] {
            if value.trim().is_empty() || value.chars().count() > 120 {
                return Err(RewardsError::invalid(
                    "invalid_body",
                    format!("{field} must be 1 to 120 characters"),
                ));
            }
        }
        if input
            .denomination
            .parse::<rust_decimal::Decimal>()
            .map_or(true, |d| d <= rust_decimal::Decimal::ZERO)
        {
            return Err(RewardsError::invalid(
                "invalid_denomination",
                "denomination must be a positive decimal string",
            ));
        }
        if input.currency.len() != 3 || !input.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(RewardsError::invalid(
                "invalid_currency",
                "currency must be ISO 4217, as INR",
            ));
        }
        if input.price == 0 || input.price > crate::market::MAX_PRICE {
            return Err(RewardsError::invalid(
                "invalid_price",
                "price must be 1 to 1,000,000 coins",
            ));
        }
        if let Some(pattern) = &input.pattern {
            Pattern::parse(pattern)
                .map_err(|error| RewardsError::invalid("invalid_pattern", error.to_string()))?;
        }
        self.ledger.define_units(id).await?;
        let now = Utc::now();
        let row = sku::ActiveModel {
            sku: ActiveValue::Set(id.to_owned()),
            brand: ActiveValue::Set(input.brand),
            brand_name: ActiveValue::Set(input.brand_name),
            name: ActiveValue::Set(input.name),
            denomination: ActiveValue::Set(input.denomination),
            currency: ActiveValue::Set(input.currency),
            price: ActiveValue::Set(i64::try_from(input.price).unwrap_or(i64::MAX)),
            pattern: ActiveValue::Set(input.pattern),
            expires_at: ActiveValue::Set(input.expires_at),
            on_sale: ActiveValue::Set(input.on_sale),
            created_at: ActiveValue::Set(now),
            updated_at: ActiveValue::Set(now),
        };
        sku::Entity::insert(row)
            .on_conflict(
                OnConflict::column(sku::Column::Sku)
                    .update_columns([
                        sku::Column::Brand,
                        sku::Column::BrandName,
                        sku::Column::Name,
                        sku::Column::Denomination,
                        sku::Column::Currency,
                        sku::Column::Price,
                        sku::Column::Pattern,
                        sku::Column::ExpiresAt,
                        sku::Column::OnSale,
                        sku::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        let row = self.sku(id).await?;
        self.view(row).await
    }

    /// A SKU by id.
    pub async fn sku(&self, id: &str) -> Result<sku::Model, RewardsError> {
        sku::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| RewardsError::UnknownSku(id.to_owned()))
    }

    /// The SKU, if its market may trade now.
    pub async fn tradable(&self, id: &str) -> Result<sku::Model, RewardsError> {
        let row = self.sku(id).await?;
        if row.expires_at <= Utc::now() {
            return Err(RewardsError::Expired(id.to_owned()));
        }
        Ok(row)
    }

    async fn available(&self, id: &str) -> Result<u64, RewardsError> {
        Ok(code::Entity::find()
            .filter(code::Column::Sku.eq(id))
            .filter(code::Column::Owner.is_null())
            .filter(code::Column::RedeemedAt.is_null())
            .count(&self.db)
            .await?)
    }

    async fn view(&self, row: sku::Model) -> Result<SkuView, RewardsError> {
        let available = self.available(&row.sku).await?;
        Ok(sku_view(row, available))
    }

    /// The catalog as users see it: on sale and not expired, by brand, with what is left
    /// of each (counted in one query).
    pub async fn list(&self) -> Result<Vec<SkuView>, RewardsError> {
        let rows = sku::Entity::find()
            .filter(sku::Column::OnSale.eq(true))
            .filter(sku::Column::ExpiresAt.gt(Utc::now()))
            .order_by_asc(sku::Column::Brand)
            .order_by_asc(sku::Column::Sku)
            .all(&self.db)
            .await?;
        let counts: std::collections::HashMap<String, i64> = code::Entity::find()
            .select_only()
            .column(code::Column::Sku)
            .column_as(code::Column::Id.count(), "available")
            .filter(code::Column::Sku.is_in(rows.iter().map(|row| row.sku.clone())))
            .filter(code::Column::Owner.is_null())
            .filter(code::Column::RedeemedAt.is_null())
            .group_by(code::Column::Sku)
            .into_tuple::<(String, i64)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        Ok(rows
            .into_iter()
            .map(|row| {
                let available = counts
                    .get(&row.sku)
                    .map_or(0, |n| u64::try_from(*n).unwrap_or(0));
                sku_view(row, available)
            })
            .collect())
    }

    /// Adds codes to a SKU's inventory.
    pub async fn add_codes(&self, id: &str, request: AddCodes) -> Result<CodesAdded, RewardsError> {
        let row = self.sku(id).await?;
        let (added, already_present) = match request {
            AddCodes::TopUpTo(target) => {
                let pattern = row
                    .pattern
                    .as_deref()
                    .map(Pattern::parse)
                    .transpose()
                    .map_err(|error| RewardsError::invalid("invalid_pattern", error.to_string()))?
                    .ok_or_else(|| {
                        RewardsError::invalid(
                            "no_pattern",
                            "this SKU has no pattern to generate codes from",
                        )
                    })?;
                let total = code::Entity::find()
                    .filter(code::Column::Sku.eq(id))
                    .count(&self.db)
                    .await?;
                let available = self.available(id).await?;
                let wanted = target.saturating_sub(available);
                if wanted > MAX_CODES_PER_REQUEST as u64 {
                    return Err(RewardsError::invalid(
                        "too_many_codes",
                        format!("at most {MAX_CODES_PER_REQUEST} codes per request"),
                    ));
                }
                pattern.check_capacity(total + wanted).map_err(|error| {
                    RewardsError::invalid("pattern_too_small", error.to_string())
                })?;
                let mut added = 0;
                let mut clashes = 0;
                // A clash (a code drawn twice) is dropped by the unique index and drawn
                // again; the capacity check makes that rare.
                for _ in 0..8 {
                    if added >= wanted {
                        break;
                    }
                    let fresh: Vec<String> =
                        (0..wanted - added).map(|_| pattern.generate()).collect();
                    let count = fresh.len() as u64;
                    let inserted = self.insert_codes(id, fresh).await?;
                    clashes += count - inserted;
                    added += inserted;
                }
                (added, clashes)
            }
            AddCodes::Codes(list) => {
                if list.is_empty() || list.len() > MAX_CODES_PER_REQUEST {
                    return Err(RewardsError::invalid(
                        "too_many_codes",
                        format!("send 1 to {MAX_CODES_PER_REQUEST} codes per request"),
                    ));
                }
                let pattern = row.pattern.as_deref().and_then(|p| Pattern::parse(p).ok());
                let mut normalised = Vec::with_capacity(list.len());
                for (index, typed) in list.iter().enumerate() {
                    let code = normalise_imported(typed, pattern.as_ref()).ok_or_else(|| {
                        RewardsError::invalid(
                            "invalid_code",
                            format!("code #{} is empty, too long or has characters other than A-Z, 0-9 and -", index + 1),
                        )
                    })?;
                    normalised.push(code);
                }
                normalised.sort();
                let unique = normalised.len();
                normalised.dedup();
                let duplicates = (unique - normalised.len()) as u64;
                let count = normalised.len() as u64;
                let inserted = self.insert_codes(id, normalised).await?;
                (inserted, count - inserted + duplicates)
            }
        };
        Ok(CodesAdded {
            added,
            already_present,
            available: self.available(id).await?,
        })
    }

    /// Inserts codes, skipping any already present; returns how many were new.
    async fn insert_codes(&self, sku_id: &str, list: Vec<String>) -> Result<u64, RewardsError> {
        let now = Utc::now();
        let mut inserted = 0;
        for chunk in list.chunks(500) {
            let mut rows = Vec::with_capacity(chunk.len());
            for plain in chunk {
                let id = Uuid::now_v7();
                let sealed = self
                    .sealer
                    .seal(plain, &id.to_string())
                    .map_err(|error| RewardsError::Internal(error.to_string()))?;
                rows.push(code::ActiveModel {
                    id: ActiveValue::Set(id),
                    sku: ActiveValue::Set(sku_id.to_owned()),
                    sealed: ActiveValue::Set(sealed),
                    fingerprint: ActiveValue::Set(self.sealer.fingerprint(plain)),
                    owner: ActiveValue::Set(None),
                    purchase_id: ActiveValue::Set(None),
                    assigned_at: ActiveValue::Set(None),
                    redeemed_at: ActiveValue::Set(None),
                    redeem_key: ActiveValue::Set(None),
                    created_at: ActiveValue::Set(now),
                });
            }
            inserted += code::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::column(code::Column::Fingerprint)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&self.db)
                .await?;
        }
        Ok(inserted)
    }

    /// Buys one voucher: a code is reserved for the user, then paid for. `key` is the
    /// client's idempotency key. Returns the purchase and whether it is a resend's answer.
    pub async fn purchase(
        &self,
        user: Uuid,
        sku_id: &str,
        key: &str,
    ) -> Result<(PurchaseView, bool), RewardsError> {
        let id = ledger::leg_id(&["purchase", &user.to_string(), key]);
        if let Some(existing) = purchase::Entity::find_by_id(id).one(&self.db).await? {
            return self.resume(existing, sku_id).await;
        }
        let row = self.sku(sku_id).await?;
        if !row.on_sale {
            return Err(RewardsError::NotOnSale(sku_id.to_owned()));
        }
        if row.expires_at <= Utc::now() {
            return Err(RewardsError::Expired(sku_id.to_owned()));
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        // The insert comes first: on SQLite it takes the write lock at once, so the claim
        // below never has to upgrade a read.
        let inserted = purchase::Entity::insert(purchase::ActiveModel {
            id: ActiveValue::Set(id),
            user_id: ActiveValue::Set(user),
            idem_key: ActiveValue::Set(key.to_owned()),
            sku: ActiveValue::Set(sku_id.to_owned()),
            code_id: ActiveValue::Set(None),
            price: ActiveValue::Set(row.price),
            status: ActiveValue::Set("reserved".to_owned()),
            failure: ActiveValue::Set(None),
            created_at: ActiveValue::Set(now),
        })
        .on_conflict(
            OnConflict::column(purchase::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if inserted == 0 {
            // The same request, concurrently: answer as a resend.
            txn.rollback().await?;
            let existing = purchase::Entity::find_by_id(id)
                .one(&self.db)
                .await?
                .ok_or_else(|| RewardsError::Unavailable("purchase row vanished".into()))?;
            return self.resume(existing, sku_id).await;
        }
        let Some(code_id) = claim_code(&txn, sku_id, user, id).await? else {
            txn.rollback().await?;
            return Err(RewardsError::SoldOut(sku_id.to_owned()));
        };
        purchase::Entity::update(purchase::ActiveModel {
            id: ActiveValue::Unchanged(id),
            code_id: ActiveValue::Set(Some(code_id)),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        let enqueued = self
            .jobs
            .enqueue_all_in(
                &txn,
                vec![crate::work::purchase_job(id, now + self.retry_after)?],
            )
            .await
            .map_err(|error| RewardsError::Unavailable(error.to_string()))?;
        txn.commit().await?;
        self.jobs.wake(&enqueued).await;
        let paid = self.complete_purchase(id).await?;
        Ok((paid, false))
    }

    async fn resume(
        &self,
        existing: purchase::Model,
        sku_id: &str,
    ) -> Result<(PurchaseView, bool), RewardsError> {
        if existing.sku != sku_id {
            return Err(RewardsError::Conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used for another purchase".into(),
            ));
        }
        match existing.status.as_str() {
            "failed" => Err(stored_failure(&existing)),
            "paid" => Ok((purchase_view(&existing), true)),
            _ => Ok((self.complete_purchase(existing.id).await?, true)),
        }
    }

    /// Takes the payment of a reserved purchase: coins to the treasury and one unit to
    /// the buyer, in one batch. A refusal (not enough coins) gives the code back.
    pub async fn complete_purchase(&self, id: Uuid) -> Result<PurchaseView, RewardsError> {
        let row = purchase::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| RewardsError::Internal(format!("purchase {id} is missing")))?;
        match row.status.as_str() {
            "paid" => return Ok(purchase_view(&row)),
            "failed" => return Err(stored_failure(&row)),
            _ => {}
        }
        let purchase_id = id.to_string();
        let batch = Batch {
            legs: vec![
                Leg::Transfer(TransferLeg {
                    id: ledger::leg_id(&[&purchase_id, "pay"]),
                    debit: ledger::user(row.user_id),
                    credit: TREASURY.to_owned(),
                    asset: COIN.to_owned(),
                    amount: row.price.to_string(),
                    memo: Some(format!("voucher {}", row.sku)),
                }),
                Leg::Transfer(TransferLeg {
                    id: ledger::leg_id(&[&purchase_id, "unit"]),
                    debit: ISSUANCE.to_owned(),
                    credit: ledger::user(row.user_id),
                    asset: ledger::units_asset(&row.sku),
                    amount: "1".to_owned(),
                    memo: None,
                }),
            ],
        };
        match self.ledger.execute(&batch).await {
            Ok(_) => {
                purchase::Entity::update_many()
                    .col_expr(purchase::Column::Status, "paid".into())
                    .filter(purchase::Column::Id.eq(id))
                    .filter(purchase::Column::Status.eq("reserved"))
                    .exec(&self.db)
                    .await?;
                Ok(PurchaseView {
                    status: "paid".into(),
                    ..purchase_view(&row)
                })
            }
            Err(RewardsError::Wallet(refusal)) => {
                let txn = self.db.begin().await?;
                purchase::Entity::update_many()
                    .col_expr(purchase::Column::Status, "failed".into())
                    .col_expr(purchase::Column::Failure, Some(refusal.code.clone()).into())
                    .filter(purchase::Column::Id.eq(id))
                    .filter(purchase::Column::Status.eq("reserved"))
                    .exec(&txn)
                    .await?;
                code::Entity::update_many()
                    .col_expr(code::Column::Owner, Option::<Uuid>::None.into())
                    .col_expr(code::Column::PurchaseId, Option::<Uuid>::None.into())
                    .col_expr(
                        code::Column::AssignedAt,
                        Option::<DateTime<Utc>>::None.into(),
                    )
                    .filter(code::Column::PurchaseId.eq(id))
                    .exec(&txn)
                    .await?;
                txn.commit().await?;
                Err(RewardsError::Wallet(refusal))
            }
            Err(error) => Err(error),
        }
    }

    /// The user's vouchers: unredeemed ones without their code, redeemed ones with it.
    pub async fn mine(&self, user: Uuid) -> Result<Vec<VoucherView>, RewardsError> {
        let rows = code::Entity::find()
            .filter(code::Column::Owner.eq(user))
            .order_by_desc(code::Column::AssignedAt)
            .all(&self.db)
            .await?;
        let mut skus = std::collections::HashMap::new();
        let mut views = Vec::with_capacity(rows.len());
        let now = Utc::now();
        for row in rows {
            if !skus.contains_key(&row.sku) {
                let sku = self.sku(&row.sku).await?;
                skus.insert(row.sku.clone(), sku);
            }
            let sku = &skus[&row.sku];
            let (status, code) = match row.redeemed_at {
                Some(_) => ("redeemed", Some(self.open(&row)?)),
                None if sku.expires_at <= now => ("expired", None),
                None => ("held", None),
            };
            views.push(VoucherView {
                id: row.id,
                sku: row.sku.clone(),
                name: sku.name.clone(),
                status: status.to_owned(),
                code,
                expires_at: sku.expires_at,
            });
        }
        Ok(views)
    }

    fn open(&self, row: &code::Model) -> Result<String, RewardsError> {
        self.sealer
            .open(&row.sealed, &row.id.to_string())
            .map_err(|error| {
                RewardsError::Internal(format!("code {} does not open: {error}", row.id))
            })
    }

    fn redeemed_view(
        &self,
        row: &code::Model,
        sku: &sku::Model,
    ) -> Result<VoucherView, RewardsError> {
        Ok(VoucherView {
            id: row.id,
            sku: row.sku.clone(),
            name: sku.name.clone(),
            status: "redeemed".into(),
            code: Some(self.open(row)?),
            expires_at: sku.expires_at,
        })
    }
}

/// Reserves one available code of `sku_id` for `user`, or `None` when none is left. One
/// conditional update: concurrent buyers of the last code cannot both get it (on
/// Postgres, `SKIP LOCKED` sends them to other codes instead of queueing on one).
async fn claim_code(
    txn: &sea_orm::DatabaseTransaction,
    sku_id: &str,
    user: Uuid,
    purchase_id: Uuid,
) -> Result<Option<Uuid>, RewardsError> {
    loop {
        let candidate = Query::select()
            .column(code::Column::Id)
            .from(code::Entity)
            .and_where(code::Column::Sku.eq(sku_id))
            .and_where(code::Column::Owner.is_null())
            .and_where(code::Column::RedeemedAt.is_null())
            .limit(1)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        let claimed = code::Entity::update_many()
            .col_expr(code::Column::Owner, Some(user).into())
            .col_expr(code::Column::PurchaseId, Some(purchase_id).into())
            .col_expr(code::Column::AssignedAt, Some(Utc::now()).into())
            .filter(code::Column::Id.in_subquery(candidate))
            .filter(code::Column::Owner.is_null())
            .exec(txn)
            .await?;
        if claimed.rows_affected == 1 {
            let id = code::Entity::find()
                .select_only()
                .column(code::Column::Id)
                .filter(code::Column::PurchaseId.eq(purchase_id))
                .into_tuple()
                .one(txn)
                .await?;
            return Ok(id);
        }
        let left = code::Entity::find()
            .filter(code::Column::Sku.eq(sku_id))
            .filter(code::Column::Owner.is_null())
            .filter(code::Column::RedeemedAt.is_null())
            .count(txn)
            .await?;
        if left == 0 {
            return Ok(None);
        }
    }
}

fn sku_view(row: sku::Model, available: u64) -> SkuView {
    SkuView {
        available,
        brand: Brand {
            id: row.brand,
            name: row.brand_name,
        },
        sku: row.sku,
        name: row.name,
        denomination: row.denomination,
        currency: row.currency,
        price: u64::try_from(row.price).unwrap_or(0),
        expires_at: row.expires_at,
        on_sale: row.on_sale,
    }
}

fn purchase_view(row: &purchase::Model) -> PurchaseView {
    PurchaseView {
        id: row.id,
        sku: row.sku.clone(),
        price: u64::try_from(row.price).unwrap_or(0),
        status: row.status.clone(),
    }
}

fn stored_failure(row: &purchase::Model) -> RewardsError {
    let code = row
        .failure
        .clone()
        .unwrap_or_else(|| "purchase_failed".into());
    RewardsError::Wallet(contracts::Refusal {
        message: format!("the purchase was refused: {code}"),
        code,
    })
}

/// A SKU id: 1 to 24 of `A-Z`, `0-9` and `_` (it names the wallet asset `VCH_<sku>`).
pub fn valid_sku(id: &str) -> bool {
    (1..=24).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// A partner's code as stored: the SKU pattern's normal form when it fits the pattern,
/// otherwise upper case with surrounding space trimmed (partners have their own formats).
fn normalise_imported(typed: &str, pattern: Option<&Pattern>) -> Option<String> {
    if let Some(code) = pattern.and_then(|pattern| pattern.normalize(typed)) {
        return Some(code);
    }
    let code = typed.trim().to_ascii_uppercase();
    ((4..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'))
    .then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_codes_are_normalised_or_refused() {
        assert_eq!(
            normalise_imported(" ab12-cd34 ", None).as_deref(),
            Some("AB12-CD34")
        );
        assert_eq!(normalise_imported("ab", None), None);
        assert_eq!(normalise_imported("AB12 CD34", None), None);
        let pattern = Pattern::parse("AMZ-{8:alphanumeric/4}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            normalise_imported("amz ab12cd34", Some(&pattern)).as_deref(),
            Some("AMZ-AB12-CD34")
        );
    }

    #[test]
    fn sku_ids_name_wallet_assets() {
        assert!(valid_sku("AMZ_100"));
        assert!(!valid_sku("amz"));
        assert!(!valid_sku(""));
        assert!(!valid_sku("A234567890123456789012345"));
    }
}
