//! One actor per user wallet: it orders that user's requests one at a time and turns away,
//! before they reach a shared transaction, the ones its cached balances say will fail.
//!
//! The cache is a lower bound on what the user can spend: every debit of the user's
//! accounts made through this node goes through this actor, and money arriving from
//! elsewhere only raises the true balance. A request the cache doubts is not refused here;
//! it is committed alone, where the database decides (and answers replays). So the actor
//! makes the ledger fast, never correct: two nodes each running an actor for one user
//! still cannot overdraw it, because the database transaction checks every balance.

use crate::committer::Committer;
use crate::domain::{LedgerError, Owner, Totals};
use crate::ledger::Committed;
use crate::plan::Planned;
use crate::store::account;
use actors::ractor::RpcReplyPort;
use actors::{ActorError, Keyed};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::collections::HashMap;
use uuid::Uuid;

/// What a wallet actor is asked.
pub enum WalletMsg {
    /// Commit a request whose first debit is this user's.
    Execute {
        request: Planned,
        reply: RpcReplyPort<Result<Committed, LedgerError>>,
    },
}

/// The behaviour shared by every wallet actor of a node.
pub struct Wallets {
    pub db: DatabaseConnection,
    pub committer: Committer,
}

/// One wallet's cached totals, by account id.
pub struct WalletState {
    totals: HashMap<Uuid, Totals>,
}

impl Wallets {
    async fn load(&self, user: Uuid) -> Result<HashMap<Uuid, Totals>, ActorError> {
        let rows = account::Entity::find()
            .filter(account::Column::Owner.eq(Owner::User(user).to_string()))
            .all(&self.db)
            .await
            .map_err(|error| ActorError::Failed(error.to_string()))?;
        Ok(rows.iter().map(|row| (row.id, row.totals())).collect())
    }
}

impl Keyed for Wallets {
    type Key = Uuid;
    type Msg = WalletMsg;
    type State = WalletState;

    async fn init(&self, user: &Uuid) -> Result<WalletState, ActorError> {
        Ok(WalletState {
            totals: self.load(*user).await?,
        })
    }

    async fn handle(
        &self,
        user: &Uuid,
        state: &mut WalletState,
        msg: WalletMsg,
    ) -> Result<(), ActorError> {
        match msg {
            WalletMsg::Execute { request, reply } => {
                let debits = request.debits_of(*user);
                let covered = debits.iter().all(|(account, amount)| {
                    state
                        .totals
                        .get(account)
                        .is_some_and(|totals| totals.available() >= *amount)
                });
                let result = if covered {
                    self.committer.commit(request).await
                } else {
                    self.committer.commit_alone(request).await
                };
                match &result {
                    Ok(committed) if covered => {
                        for (account, totals) in &committed.totals {
                            if state.totals.contains_key(account) {
                                state.totals.insert(*account, *totals);
                            }
                        }
                    }
                    // The cache was doubtful or wrong: read the truth.
                    Ok(_) | Err(LedgerError::InsufficientFunds(_)) => {
                        state.totals = self.load(*user).await?;
                    }
                    Err(_) => {}
                }
                let _ = reply.send(result);
            }
        }
        Ok(())
    }
}
