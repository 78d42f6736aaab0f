//! `platform live replay FILE --speed N`: a Cricsheet match scored ball by ball into a
//! running platform, through its scorer API (see `live::replay`).

use anyhow::Context as _;
use clap::Subcommand;
use live::replay::{Replay, Scorer, ball_interval};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum LiveCommand {
    /// Replay a Cricsheet JSON file into a new live match on a running platform, a ball
    /// every 40 s divided by the speed; prints each update as it is recorded.
    Replay {
        /// The Cricsheet match file.
        file: PathBuf,
        /// Times real time (a ball every 40 s at 1; at 40, one a second).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// The platform's address.
        #[arg(long, env = "PLATFORM_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// An editor's or admin's access token.
        #[arg(long, env = "PLATFORM_TOKEN", hide_env_values = true)]
        token: String,
    },
}

pub async fn run(command: LiveCommand) -> anyhow::Result<()> {
    let LiveCommand::Replay {
        file,
        speed,
        url,
        token,
    } = command;
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let replay = Replay::parse(&bytes).with_context(|| format!("parsing {}", file.display()))?;
    let interval = ball_interval(speed)?;
    let scorer = Scorer::new(&url, token)?;
    let created = scorer.create(&replay).await?;
    println!(
        "match {} created; replaying {} events ({} balls, one every {:.3} s)",
        created.id,
        replay.events(),
        replay.balls(),
        interval.as_secs_f64()
    );
    let last = scorer
        .replay(created.id, &replay, interval, |update| {
            let score: Vec<String> = update
                .summary
                .innings
                .iter()
                .map(|innings| {
                    format!(
                        "{} {}/{} ({})",
                        innings.team, innings.runs, innings.wickets, innings.overs
                    )
                })
                .collect();
            println!("seq {}: {}", update.seq, score.join(", "));
        })
        .await?;
    println!("match {} replayed to seq {last}", created.id);
    Ok(())
}
