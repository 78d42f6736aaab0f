//! The wallet's tables as sea-orm entities, for reads and simple writes. The batched
//! ledger writes live in [`crate::ledger`].

use crate::domain::{AccountInfo, Asset, Owner, Totals};
use contracts::wallet::{TransferKind, TransferRecord};

pub mod asset {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "wallet_assets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub scale: i32,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "wallet_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub owner: String,
        pub asset: String,
        pub flags: i32,
        pub debits_pending: i64,
        pub debits_posted: i64,
        pub credits_pending: i64,
        pub credits_posted: i64,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod transfer {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "wallet_transfers")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub id: Uuid,
        pub batch_id: Uuid,
        pub kind: String,
        pub debit_account: Uuid,
        pub debit_owner: String,
        pub credit_account: Uuid,
        pub credit_owner: String,
        pub asset: String,
        pub amount: i64,
        pub pending_id: Option<Uuid>,
        pub expires_at: Option<ChronoDateTimeUtc>,
        pub memo: Option<String>,
        pub request_hash: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod hold {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "wallet_holds")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub debit_account: Uuid,
        pub debit_owner: String,
        pub credit_account: Uuid,
        pub credit_owner: String,
        pub asset: String,
        pub amount: i64,
        pub expires_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl account::Model {
    pub fn totals(&self) -> Totals {
        Totals {
            debits_pending: self.debits_pending,
            debits_posted: self.debits_posted,
            credits_pending: self.credits_pending,
            credits_posted: self.credits_posted,
        }
    }

    /// What the account is, if its owner column parses (it always does for rows the
    /// wallet wrote).
    pub fn info(&self) -> Option<AccountInfo> {
        Some(AccountInfo {
            id: self.id,
            owner: Owner::parse(&self.owner)?,
            asset: self.asset.clone(),
            flags: self.flags,
        })
    }
}

impl transfer::Model {
    /// The API's view of this row; `asset` formats the amount.
    pub fn record(&self, asset: &Asset) -> TransferRecord {
        TransferRecord {
            id: self.id,
            kind: TransferKind::parse(&self.kind).unwrap_or(TransferKind::Transfer),
            debit_account: self.debit_account,
            debit_owner: self.debit_owner.clone(),
            credit_account: self.credit_account,
            credit_owner: self.credit_owner.clone(),
            asset: self.asset.clone(),
            amount: asset.format(self.amount),
            pending_id: self.pending_id,
            expires_at: self.expires_at,
            memo: self.memo.clone(),
            created_at: self.created_at,
        }
    }
}
