//! One running node of the platform: it loads the settings, connects the database and the
//! bus, runs the migrations of every mounted service, starts their actors under the root
//! supervisor, serves their routes with the shared HTTP stack, and shuts all of it down in
//! order.
//!
//! A service plugs in by implementing [`Module`]; it never learns which other services run
//! beside it. Splitting the platform into processes is a matter of mounting fewer modules.

pub mod background;
pub mod module;
pub mod node;
pub mod settings;
mod supervisor;

pub use module::{Context, Module, Routes};
pub use node::{Node, RunningNode};
pub use settings::Settings;
