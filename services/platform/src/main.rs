//! `platform`: run the whole platform (or some of its services) as one process, and the
//! operator commands around it.

mod live_replay;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kernel::Role;
use std::io::BufRead;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    version,
    about = "The live-cricket platform: every service in one process."
)]
struct Cli {
    /// A TOML settings file (default: ./platform.toml if present).
    #[arg(long, short, global = true, env = "PLATFORM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP with every mounted service (the default).
    Serve {
        /// The address to listen on (overrides http.listen).
        #[arg(long)]
        listen: Option<String>,
        /// Run only these services (comma-separated); all of them by default.
        #[arg(long, value_delimiter = ',')]
        services: Vec<String>,
    },
    /// Apply every service's pending database migrations, then exit.
    Migrate,
    /// Print the merged OpenAPI document.
    Openapi,
    /// Manage users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Inspect the wallet ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Live matches on a running platform.
    Live {
        #[command(subcommand)]
        command: live_replay::LiveCommand,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every balance from the transfers and check the ledger's invariants; exits
    /// non-zero, naming each problem, when one is broken.
    Verify,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create a user; the password is read from the first line of standard input.
    Add {
        email: String,
        /// The user's role (repeat for several).
        #[arg(long = "role", default_value = "user")]
        roles: Vec<Role>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut figment = runtime::settings::sources(cli.config.as_deref());
    let command = cli.command.unwrap_or(Command::Serve {
        listen: None,
        services: Vec::new(),
    });
    match command {
        Command::Serve { listen, services } => {
            if let Some(listen) = listen {
                figment = figment.merge(("http.listen", listen));
            }
            serve(platform::node(figment, &services)?).await
        }
        Command::Migrate => {
            let node = platform::node(figment, &[])?;
            let _guard = telemetry::init(&node.settings().telemetry)?;
            node.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Openapi => {
            let node = platform::node(figment, &[])?;
            println!("{}", node.openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Users {
            command: UsersCommand::Add { email, roles },
        } => {
            let node = platform::node(figment, &[])?;
            let db = node.migrate().await?;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let user = accounts::add_user(&db, &email, password, roles).await?;
            println!("created user {} ({})", user.id, user.email);
            Ok(())
        }
        Command::Ledger {
            command: LedgerCommand::Verify,
        } => {
            let node = platform::node(figment, &["wallet".to_owned()])?;
            let db = node.migrate().await?;
            let report = wallet::verify::verify(&db).await?;
            print!("{report}");
            if !report.is_sound() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Live { command } => live_replay::run(command).await,
    }
}

async fn serve(node: runtime::Node) -> anyhow::Result<()> {
    let telemetry = telemetry::init(&node.settings().telemetry)?;
    let listen = node.settings().http.listen.clone();
    let listener =
        std::net::TcpListener::bind(&listen).with_context(|| format!("binding {listen}"))?;
    let mut running = node.start(listener).await?;
    let base = format!("http://{}", running.local_addr());
    println!("platform serving on {base}");
    println!("  API docs  {base}/docs/");
    println!("  OpenAPI   {base}/api-docs/openapi.json");
    println!("  health    {base}/health/ready");
    println!("  metrics   {base}/metrics");

    let failure = tokio::select! {
        _ = shutdown_signal() => None,
        reason = running.failed() => Some(reason),
    };
    let stopped = running.shutdown().await;
    // Spans are flushed even when stopping went wrong: they are how to find out why.
    telemetry.shutdown();
    stopped?;
    match failure {
        None => Ok(()),
        Some(reason) => anyhow::bail!("stopped after a failure: {reason}"),
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested");
}
