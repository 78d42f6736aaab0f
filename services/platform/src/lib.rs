//! The platform: which services exist and how one node of it is put together.
//!
//! `main.rs` is only the command line; tests build the same node through [`node`].

use runtime::{Module, Node};
use std::sync::Arc;

/// Every service of the platform, in start order.
pub fn services() -> Vec<Arc<dyn Module>> {
    vec![
        // First: the job tables and their admin API, which services' runners use.
        Arc::new(jobs::JobsModule),
        Arc::new(accounts::Accounts),
        Arc::new(wallet::Wallet),
        Arc::new(live::Live),
        Arc::new(rewards::Rewards),
    ]
}

/// A node mounting the services named in `only` (every service when empty).
pub fn node(figment: runtime::settings::Figment, only: &[String]) -> anyhow::Result<Node> {
    let known: Vec<&str> = services().iter().map(|service| service.name()).collect();
    if let Some(unknown) = only.iter().find(|name| !known.contains(&name.as_str())) {
        anyhow::bail!(
            "unknown service `{unknown}`; the services are: {}",
            known.join(", ")
        );
    }
    let mounted = services()
        .into_iter()
        .filter(|service| only.is_empty() || only.iter().any(|name| name == service.name()));
    Ok(Node::new(figment)?.mount(mounted))
}
