//! The link between this project's master and its agents: one long-lived, bidirectional gRPC
//! stream per agent (`AgentLink.Attach`).
//!
//! The agent opens the stream and sends `REGISTER` first; the master answers `REGISTERED` and
//! from then on sends tasks to run, kills, acknowledgements and pings, while the agent sends
//! status updates, executor messages and pongs. A closed stream means the agent disconnected;
//! the master's ping accounting decides when it becomes unreachable.

#![allow(missing_docs, clippy::all, clippy::pedantic, unreachable_pub)]

/// Package `mesos.internal.v1`.
pub mod v1 {
    tonic::include_proto!("mesos.internal.v1");
}

pub use v1::agent_link_client::AgentLinkClient;
pub use v1::agent_link_server::{AgentLink, AgentLinkServer};
pub use v1::{AgentMessage, ExecutorOnAgent, MasterMessage};
