//! The wallet's commands on the bus (`wallet.v1.cmd.*`), for other services: the same
//! operations as the REST API, answered by one node of the `wallet` queue group with
//! `Result<Reply, Refusal>` as JSON.
//!
//! Each request runs on its own task, so one slow wallet never holds up another, but at
//! most `wallet.bus_concurrency` at once per node: past that a request is refused at once
//! with `ledger_unavailable`, which callers already treat as "the wallet is away, retry
//! later". Refusing beats queueing: a queued request's caller may have given up long before
//! its turn, and the work would still be done.

use crate::domain::{LedgerError, Owner};
use crate::service::WalletService;
use bus::{DynBus, Message};
use contracts::wallet::{BalanceQuery, Batch, DefineAsset, HoldLeg, Leg, PostLeg, VoidLeg};
use contracts::{Command, Refusal};
use futures::StreamExt;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The queue group every wallet node answers in.
const GROUP: &str = "wallet";

type Handler<C> =
    Arc<dyn Fn(C) -> BoxFuture<'static, Result<<C as Command>::Reply, LedgerError>> + Send + Sync>;

/// Subscribes to every command; the returned tasks serve until the bus closes.
pub async fn serve(
    bus: DynBus,
    service: WalletService,
    concurrency: usize,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let slots = Arc::new(Semaphore::new(concurrency));
    let s = service.clone();
    let transfer: Handler<Batch> = Arc::new(move |batch| {
        let s = s.clone();
        Box::pin(async move { s.execute(&batch).await })
    });
    let s = service.clone();
    let hold: Handler<HoldLeg> = Arc::new(move |leg| {
        let s = s.clone();
        Box::pin(async move {
            s.execute(&Batch {
                legs: vec![Leg::Hold(leg)],
            })
            .await
        })
    });
    let s = service.clone();
    let post: Handler<PostLeg> = Arc::new(move |leg| {
        let s = s.clone();
        Box::pin(async move {
            s.execute(&Batch {
                legs: vec![Leg::Post(leg)],
            })
            .await
        })
    });
    let s = service.clone();
    let void: Handler<VoidLeg> = Arc::new(move |leg| {
        let s = s.clone();
        Box::pin(async move {
            s.execute(&Batch {
                legs: vec![Leg::Void(leg)],
            })
            .await
        })
    });
    let s = service.clone();
    let define_asset: Handler<DefineAsset> = Arc::new(move |command| {
        let s = s.clone();
        Box::pin(async move {
            let asset = s
                .define_asset(crate::domain::Asset {
                    code: command.code,
                    scale: command.scale,
                })
                .await?;
            Ok(DefineAsset {
                code: asset.code,
                scale: asset.scale,
            })
        })
    });
    let s = service;
    let balance: Handler<BalanceQuery> = Arc::new(move |query| {
        let s = s.clone();
        Box::pin(async move {
            let owner = Owner::parse(&query.owner)
                .ok_or_else(|| LedgerError::UnknownAccount(query.owner.clone()))?;
            s.balances(&owner).await
        })
    });
    Ok(vec![
        listen(&bus, &slots, transfer).await?,
        listen(&bus, &slots, hold).await?,
        listen(&bus, &slots, post).await?,
        listen(&bus, &slots, void).await?,
        listen(&bus, &slots, balance).await?,
        listen(&bus, &slots, define_asset).await?,
    ])
}

async fn listen<C: Command>(
    bus: &DynBus,
    slots: &Arc<Semaphore>,
    handler: Handler<C>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut requests = bus.queue_subscribe(C::SUBJECT, GROUP).await?;
    let bus = bus.clone();
    let slots = Arc::clone(slots);
    Ok(tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let bus = bus.clone();
            let handler = handler.clone();
            let slot = Arc::clone(&slots).try_acquire_owned();
            tokio::spawn(async move {
                let answer = match (slot, request.decode::<C>()) {
                    (Err(_full), _) => {
                        metrics::counter!("wallet_bus_refused_total", "reason" => "overloaded")
                            .increment(1);
                        Err(refusal(&LedgerError::Unavailable(
                            "this node has too many wallet commands in flight".into(),
                        )))
                    }
                    // The slot is held until the answer is ready.
                    (Ok(_slot), Ok(command)) => handler(command).await.map_err(|e| refusal(&e)),
                    (Ok(_slot), Err(error)) => Err(Refusal {
                        code: "malformed_command".to_owned(),
                        message: error.to_string(),
                    }),
                };
                if let Err(error) = reply(&bus, &request, &answer).await {
                    tracing::warn!(%error, subject = C::SUBJECT, "wallet reply not sent");
                }
            });
        }
    }))
}

fn refusal(error: &LedgerError) -> Refusal {
    Refusal {
        code: error.code().to_owned(),
        message: error.to_string(),
    }
}

async fn reply<T: serde::Serialize>(
    bus: &DynBus,
    request: &Message,
    answer: &Result<T, Refusal>,
) -> Result<(), bus::BusError> {
    let response = request.response_json(answer)?;
    bus.reply(request, response).await
}
