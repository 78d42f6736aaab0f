//! Two nodes of one deployment on one database (and, with TEST_NATS_URL, one NATS), many
//! clients moving money between the same few wallets through both at once. The database
//! transaction alone must keep the ledger right: each node has its own wallet actors, so
//! nothing in memory orders the two nodes' writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kernel::{Role, UserId};
use rand::Rng;
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use testkit::TestApp;
use uuid::Uuid;

async fn post(app: &TestApp, token: &str, legs: Value) -> StatusCode {
    app.client
        .post(app.url("/v1/admin/ledger/transfers"))
        .bearer_auth(token)
        .json(&json!({ "legs": legs }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_racing_on_the_same_wallets_keep_the_ledger_exact() {
    let a = Arc::new(
        TestApp::spawn(vec![Arc::new(jobs::JobsModule), Arc::new(wallet::Wallet)])
            .await
            .unwrap(),
    );
    let b = Arc::new(a.another_node().await.unwrap());
    let admin = Arc::new(a.token(UserId::new(), &[Role::Admin]));
    let wallets: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    for user in &wallets {
        let legs = json!([{"kind": "transfer", "id": Uuid::now_v7(), "debit": "system:issuance",
            "credit": format!("user:{user}"), "asset": "COIN", "amount": "100"}]);
        assert_eq!(post(&a, &admin, legs).await, StatusCode::CREATED);
    }

    // 400 transfers between random wallets, each sent to both nodes at once (a client
    // retrying on another node): exactly one copy may move money.
    let clients = (0..400).map(|_| {
        let (a, b, admin) = (a.clone(), b.clone(), admin.clone());
        let mut rng = rand::rng();
        let from = wallets[rng.random_range(0..wallets.len())];
        let mut to = wallets[rng.random_range(0..wallets.len())];
        while to == from {
            to = wallets[rng.random_range(0..wallets.len())];
        }
        let id = Uuid::now_v7();
        let legs = json!([{"kind": "transfer", "id": id, "debit": format!("user:{from}"),
            "credit": format!("user:{to}"), "asset": "COIN", "amount": rng.random_range(1..=40).to_string()}]);
        tokio::spawn(async move {
            let (first, second) =
                tokio::join!(post(&a, &admin, legs.clone()), post(&b, &admin, legs));
            (id, first, second)
        })
    });
    let mut accepted = HashSet::new();
    let mut refused = 0;
    for outcome in futures::future::join_all(clients).await {
        let (id, first, second) = outcome.unwrap();
        let statuses = [first, second];
        for status in statuses {
            assert!(
                [
                    StatusCode::CREATED,
                    StatusCode::OK,
                    StatusCode::UNPROCESSABLE_ENTITY
                ]
                .contains(&status),
                "{status}"
            );
        }
        let created = statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count();
        assert!(
            created <= 1,
            "one transfer id moved money twice: {statuses:?}"
        );
        if statuses.contains(&StatusCode::CREATED) {
            accepted.insert(id);
        } else {
            refused += 1;
        }
    }
    assert!(
        !accepted.is_empty() && refused > 0,
        "the load should both pay and overdraw"
    );

    let db = a.node().db();
    // Every accepted id is there once; nothing else is (the 4 issuances aside).
    let transfers = wallet::store::transfer::Entity::find()
        .count(db)
        .await
        .unwrap();
    assert_eq!(transfers, accepted.len() as u64 + 4);
    let report = wallet::verify::verify(db).await.unwrap();
    assert!(report.is_sound(), "{report}");
    println!(
        "{} transfers accepted, {refused} refused for funds; {report}",
        accepted.len()
    );
}
