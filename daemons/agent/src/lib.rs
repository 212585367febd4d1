//! The Mesos agent: registers with the master over the agent link, runs executors as real
//! processes in sandboxes, serves the v1 executor API, relays status updates reliably
//! (checkpointed, re-sent until acknowledged), and recovers its executors after a restart.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mesos_agent::AgentError> {
//! use mesos_agent::{Agent, AgentFlags};
//!
//! let flags = AgentFlags::default_for_tests("/tmp/agent-work", "127.0.0.1:5050")
//!     .with_launcher_dir("/usr/libexec/mesos");
//! let agent = Agent::start(flags).await?;
//! println!("agent at {} registered as {:?}", agent.http_addr(), agent.agent_id().await);
//! agent.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Module map: [`flags`] and [`duration`] (command line), [`detect`] (resources), [`paths`]
//! (work directory layout), [`checkpoint`] (on-disk state), [`status_updates`] (the pure
//! status update manager), [`launcher`] (processes and the isolator hook), [`fetcher`]
//! (`CommandInfo.uris`); the private modules hold the state (`state`, `core`), the master link,
//! and the HTTP endpoints (`http`, `executor_api`, `operator`, `files`, `views`, `monitor`).

use std::process::ExitCode;

use clap::Parser;

mod agent;
pub mod checkpoint;
pub mod checkpointed_resources;
mod core;
pub mod detect;
pub mod duration;
mod executor_api;
pub mod fetcher;
pub mod fetcher_cache;
mod files;
pub mod flags;
pub mod gc;
mod http;
pub mod https;
pub mod launcher;
mod master_link;
mod monitor;
mod operator;
pub mod paths;
mod state;
pub mod status_updates;
pub mod syncer;
mod views;
mod zygote;

pub use agent::{Agent, AgentHandle};
pub use flags::{AgentFlags, RecoverMode};
pub use launcher::{Isolator, NoIsolation};

/// The Mesos version this agent reports.
pub const VERSION: &str = "1.11.0";

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A flag is missing or invalid.
    #[error("{0}")]
    Flags(String),
    /// A file or socket operation failed.
    #[error("failed to {what}: {source}")]
    Io {
        /// What was attempted.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The checkpointed reservations and volumes do not fit the agent's resources (its
    /// `--resources` shrank below what was reserved).
    #[error("checkpointed resources: {0}")]
    Checkpointed(#[from] checkpointed_resources::CheckpointedError),
}

/// `/version`.
pub(crate) fn version_json() -> serde_json::Value {
    serde_json::json!({
        "version": VERSION,
        "build_date": "",
        "build_time": 0,
        "build_user": "",
    })
}

/// The `mesos-agent` program: parse flags (and `MESOS_*` variables), start, run until Ctrl-C
/// or SIGTERM (executors keep running and are recovered by the next start).
pub fn run_from_env() -> ExitCode {
    let flags = match AgentFlags::try_parse() {
        Ok(f) => f,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("failed to start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let agent = match Agent::start(flags).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("mesos-agent: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("failed to install a SIGTERM handler: {e}");
                    return ExitCode::FAILURE;
                }
            };
        let mut usr1 =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("failed to install a SIGUSR1 handler: {e}");
                    return ExitCode::FAILURE;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => agent.stop().await,
            _ = term.recv() => agent.stop().await,
            // As in Mesos, SIGUSR1 shuts the agent down together with its executors.
            _ = usr1.recv() => agent.shutdown().await,
        }
        ExitCode::SUCCESS
    })
}
