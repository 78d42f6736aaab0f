//! `platform live replay`: the command line scoring a Cricsheet file, ball by ball, into a
//! running node through its scorer API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kernel::{Role, UserId};
use serde_json::Value;
use std::sync::Arc;
use testkit::TestApp;

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../live/tests/fixtures/335982.json"
);

fn replay(args: &[&str], token: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_platform"));
    command
        .args(["live", "replay"])
        .args(args)
        .env("PLATFORM_TOKEN", token)
        .env("RUST_LOG", "warn")
        .env_remove("PLATFORM_URL")
        .env_remove("PLATFORM_CONFIG");
    command
}

#[tokio::test]
async fn live_replay_scores_a_file_into_a_running_node() {
    let app = TestApp::spawn(vec![Arc::new(live::Live)]).await.unwrap();
    let editor = app.token(UserId::new(), &[Role::Editor]);

    let output = replay(&[FILE, "--speed", "100000", "--url", &app.address], &editor)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // "match <id> replayed to seq <n>", after a line per update.
    let last = stdout.lines().last().unwrap();
    let words: Vec<&str> = last.split_whitespace().collect();
    assert_eq!((words[0], words[2]), ("match", "replayed"), "{last}");
    let (id, seq) = (words[1], words[5].parse::<i64>().unwrap());
    let updates = stdout
        .lines()
        .filter(|line| line.starts_with("seq "))
        .count();
    assert_eq!(i64::try_from(updates).unwrap(), seq - 1, "{stdout}");

    let card: Value = app
        .client
        .get(app.url(&format!("/v1/live/matches/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(card["seq"], seq);
    assert_eq!(card["status"], "completed");
    // The file's own totals: each innings' runs are the sum of its deliveries' totals.
    let file: Value = serde_json::from_slice(&std::fs::read(FILE).unwrap()).unwrap();
    for (innings, card) in file["innings"]
        .as_array()
        .unwrap()
        .iter()
        .zip(card["innings"].as_array().unwrap())
    {
        let runs: u64 = innings["overs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|over| over["deliveries"].as_array().unwrap())
            .map(|delivery| delivery["runs"]["total"].as_u64().unwrap())
            .sum();
        assert_eq!(card["team"], innings["team"]);
        assert_eq!(card["runs"], runs);
    }

    // Refusals are named and exit non-zero: a fan's token, a speed of zero.
    let fan = app.token(UserId::new(), &[Role::User]);
    let output = replay(&[FILE, "--url", &app.address], &fan)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("forbidden"), "{stderr}");
    let output = replay(&[FILE, "--speed", "0", "--url", &app.address], &editor)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("speed"), "{stderr}");
}
