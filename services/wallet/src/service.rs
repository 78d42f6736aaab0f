//! The wallet's front door, shared by the REST API and the bus commands: plan a request,
//! route it to the debited user's wallet actor (or straight to the group commit when no
//! user pays), and answer balance and history reads from the database.

use crate::committer::Committer;
use crate::domain::{AccountInfo, Asset, LedgerError, Owner, Totals};
use crate::ledger::Ledger;
use crate::plan::Catalog;
use crate::settings::WalletSettings;
use crate::store::{account, asset, transfer};
use crate::wallet_actor::{WalletMsg, Wallets};
use actors::{ActorError, Registry, RegistryConfig};
use contracts::wallet::{Balance, Balances, Batch, Receipt, TransferRecord};
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// One page of a wallet's history, newest first.
pub struct HistoryPage {
    /// Each transfer and whether it brought money in (`true`) or took it out.
    pub items: Vec<(TransferRecord, bool)>,
    /// Pass back to get the next (older) page; `None` on the last page.
    pub next_cursor: Option<i64>,
}

/// An account with its totals, for operators.
pub struct AccountDetails {
    pub info: AccountInfo,
    pub totals: Totals,
    pub asset: Asset,
}

/// The wallet service of one node.
#[derive(Clone)]
pub struct WalletService {
    db: DatabaseConnection,
    catalog: Arc<Catalog>,
    committer: Committer,
    wallets: Registry<Wallets>,
}

impl WalletService {
    /// Defines the configured assets, then starts the group commit and the wallet actors
    /// (under `supervisor`). `committed` is woken after every commit.
    pub async fn start(
        db: DatabaseConnection,
        settings: &WalletSettings,
        committed: Arc<tokio::sync::Notify>,
        jobs: jobs::Jobs,
        supervisor: Option<actors::ractor::ActorCell>,
    ) -> anyhow::Result<Self> {
        let catalog = Arc::new(Catalog::new(db.clone(), settings.system_flags()));
        for asset in settings.all_assets() {
            define_asset(&db, &asset).await?;
            catalog.remember_asset(asset);
        }
        let ledger = Arc::new(Ledger::new(db.clone(), catalog.clone(), committed, jobs));
        let committer = Committer::spawn(ledger, settings.committers, settings.max_batch);
        let wallets = Registry::spawn(
            "wallets",
            Arc::new(Wallets {
                db: db.clone(),
                committer: committer.clone(),
            }),
            RegistryConfig {
                idle_timeout: Duration::from_secs(settings.idle_timeout_seconds),
                ..RegistryConfig::default()
            },
            supervisor,
        )
        .await?;
        Ok(Self {
            db,
            catalog,
            committer,
            wallets,
        })
    }

    /// Stops the wallet actors (each finishes what it has queued).
    pub async fn stop(&self) {
        self.wallets.stop().await;
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Commits a linked batch: every leg, or none.
    pub async fn execute(&self, batch: &Batch) -> Result<Receipt, LedgerError> {
        let request = self.catalog.plan(batch).await?;
        let committed = match request.debtor() {
            Some(user) => self
                .wallets
                .call(user, |reply| WalletMsg::Execute { request, reply })
                .await
                .map_err(actor_error)??,
            None => self.committer.commit(request).await?,
        };
        Ok(committed.receipt)
    }

    /// Expires hold `pending_id` (the platform's own deadline, not a client's request).
    pub async fn expire(&self, pending_id: Uuid) -> Result<Receipt, LedgerError> {
        let request = crate::plan::Planned::expiry(pending_id);
        Ok(self.committer.commit(request).await?.receipt)
    }

    /// Defines `asset` at run time (other services' assets, such as voucher SKUs), or
    /// confirms it exists with the same scale.
    pub async fn define_asset(&self, asset: Asset) -> Result<Asset, LedgerError> {
        if !crate::domain::valid_asset_code(&asset.code) || asset.scale > 8 {
            return Err(LedgerError::InvalidAsset(asset.code));
        }
        define_asset(&self.db, &asset).await?;
        self.catalog.remember_asset(asset.clone());
        Ok(asset)
    }

    /// Every balance `owner` has, one per asset.
    pub async fn balances(&self, owner: &Owner) -> Result<Balances, LedgerError> {
        let rows = account::Entity::find()
            .filter(account::Column::Owner.eq(owner.to_string()))
            .order_by_asc(account::Column::Asset)
            .all(&self.db)
            .await?;
        let mut balances = Vec::with_capacity(rows.len());
        for row in rows {
            let asset = self.catalog.asset(&row.asset).await?;
            balances.push(balance(row.id, &asset, &row.totals()));
        }
        Ok(Balances {
            owner: owner.to_string(),
            balances,
        })
    }

    /// A page of `user`'s transfers, newest first, optionally in one asset, older than
    /// `cursor`.
    pub async fn history(
        &self,
        user: Uuid,
        asset: Option<&str>,
        limit: u64,
        cursor: Option<i64>,
    ) -> Result<HistoryPage, LedgerError> {
        let owner = Owner::User(user);
        let accounts: Vec<Uuid> = match asset {
            Some(code) => {
                let asset = self.catalog.asset(code).await?;
                vec![crate::domain::account_id(&owner, &asset.code)]
            }
            None => account::Entity::find()
                .filter(account::Column::Owner.eq(owner.to_string()))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|row| row.id)
                .collect(),
        };
        if accounts.is_empty() {
            return Ok(HistoryPage {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let mut query = transfer::Entity::find().filter(
            Condition::any()
                .add(transfer::Column::DebitAccount.is_in(accounts.clone()))
                .add(transfer::Column::CreditAccount.is_in(accounts.clone())),
        );
        if let Some(cursor) = cursor {
            query = query.filter(transfer::Column::Seq.lt(cursor));
        }
        // One more than asked: whether it exists says if there is a next page.
        let mut rows = query
            .order_by_desc(transfer::Column::Seq)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = more.then(|| rows.last().map(|row| row.seq)).flatten();
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let asset = self.catalog.asset(&row.asset).await?;
            let incoming = accounts.contains(&row.credit_account);
            items.push((row.record(&asset), incoming));
        }
        Ok(HistoryPage { items, next_cursor })
    }

    /// One account with its totals.
    pub async fn account(&self, id: Uuid) -> Result<Option<AccountDetails>, LedgerError> {
        let Some(row) = account::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        let Some(info) = row.info() else {
            return Ok(None);
        };
        let asset = self.catalog.asset(&row.asset).await?;
        Ok(Some(AccountDetails {
            totals: row.totals(),
            info,
            asset,
        }))
    }
}

/// The API's view of one account's totals.
pub fn balance(account_id: Uuid, asset: &Asset, totals: &Totals) -> Balance {
    Balance {
        account_id,
        asset: asset.code.clone(),
        posted: asset.format(totals.posted()),
        pending: asset.format(totals.debits_pending),
        incoming: asset.format(totals.credits_pending),
        available: asset.format(totals.available()),
    }
}

/// Creates `asset` if it is new; its scale can never change afterwards (every stored
/// amount depends on it), so a different scale is an error.
async fn define_asset(db: &DatabaseConnection, definition: &Asset) -> Result<(), LedgerError> {
    let scale = i32::try_from(definition.scale)
        .map_err(|_| LedgerError::InvalidAsset(definition.code.clone()))?;
    asset::Entity::insert(asset::ActiveModel {
        code: ActiveValue::Set(definition.code.clone()),
        scale: ActiveValue::Set(scale),
        created_at: ActiveValue::Set(chrono::Utc::now()),
    })
    .on_conflict_do_nothing_on([asset::Column::Code])
    .exec(db)
    .await?;
    let stored = asset::Entity::find_by_id(definition.code.clone())
        .one(db)
        .await?
        .map_or(-1, |row| row.scale);
    if stored == scale {
        Ok(())
    } else {
        Err(LedgerError::AssetScaleConflict {
            code: definition.code.clone(),
            stored: u32::try_from(stored).unwrap_or_default(),
        })
    }
}

fn actor_error(error: ActorError) -> LedgerError {
    // The request may still commit after a timeout: the client retries with the same ids.
    LedgerError::Unavailable(error.to_string())
}
