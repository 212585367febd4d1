//! The master's records of frameworks, agents, tasks and offers.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use mesos_agent_protocol::MasterMessage;
use mesos_core::proto::v1 as pb;
use mesos_core::resources::Resources;
use tokio::sync::mpsc::UnboundedSender;

use crate::codec::Format;

/// The scheduler event stream of a connected HTTP framework.
#[derive(Debug)]
pub(crate) struct FrameworkConn {
    /// The `Mesos-Stream-Id` given at SUBSCRIBE; calls must present it.
    pub stream_id: String,
    pub format: Format,
    pub tx: UnboundedSender<Bytes>,
}

/// A task as the master knows it.
#[derive(Debug, Clone)]
pub(crate) struct TaskRecord {
    /// The wire form (`statuses`, `state`, `status_update_*` kept current).
    pub task: pb::Task,
    /// Resources with their allocation role (what the allocator accounts).
    pub resources: Resources,
    /// The latest status received, re-sent by reconciliation.
    pub latest_status: Option<pb::TaskStatus>,
}

impl TaskRecord {
    pub(crate) fn state(&self) -> pb::TaskState {
        self.task.state()
    }

    pub(crate) fn agent_id(&self) -> &str {
        &self.task.agent_id.value
    }
}

#[derive(Debug)]
pub(crate) struct Framework {
    pub id: String,
    pub info: pb::FrameworkInfo,
    pub conn: Option<FrameworkConn>,
    /// False once deactivated (disconnected, or by an operator).
    pub active: bool,
    /// Known only from agents' re-registration; not yet re-subscribed since master start.
    pub recovered: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unregistered_time: Option<f64>,
    /// When a disconnected framework is removed (`failover_timeout`).
    pub failover_deadline: Option<Instant>,
    pub suppressed_roles: Vec<String>,
    pub tasks: HashMap<String, TaskRecord>,
    pub unreachable_tasks: VecDeque<pb::Task>,
    pub completed_tasks: VecDeque<pb::Task>,
    pub offers: HashSet<String>,
    /// Executors by agent, then executor id.
    pub executors: HashMap<String, BTreeMap<String, pb::ExecutorInfo>>,
}

impl Framework {
    pub(crate) fn roles(&self) -> Vec<String> {
        framework_roles(&self.info)
    }

    pub(crate) fn has_capability(&self, cap: pb::framework_info::capability::Type) -> bool {
        has_capability(&self.info, cap)
    }

    pub(crate) fn connected(&self) -> bool {
        self.conn.is_some()
    }
}

/// The roles of a framework: `roles` when MULTI_ROLE, else the legacy `role` (default `*`).
pub(crate) fn framework_roles(info: &pb::FrameworkInfo) -> Vec<String> {
    if has_capability(info, pb::framework_info::capability::Type::MultiRole) {
        info.roles.clone()
    } else {
        vec![legacy_role(info)]
    }
}

pub(crate) fn has_capability(
    info: &pb::FrameworkInfo,
    cap: pb::framework_info::capability::Type,
) -> bool {
    info.capabilities.iter().any(|c| c.r#type() == cap)
}

/// How an agent is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentLinkState {
    Connected,
    Disconnected,
}

#[derive(Debug)]
pub(crate) struct AgentConn {
    /// Distinguishes successive streams of the same agent.
    pub conn_id: u64,
    pub tx: UnboundedSender<Result<MasterMessage, tonic::Status>>,
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub id: String,
    pub info: pb::AgentInfo,
    pub ip: String,
    pub version: String,
    pub capabilities: Vec<pb::agent_info::Capability>,
    pub conn: Option<AgentConn>,
    pub link: AgentLinkState,
    /// Operator deactivation (DEACTIVATE_AGENT, draining).
    pub deactivated: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub total: Resources,
    pub pong_pending: bool,
    pub missed_pings: u32,
    /// Planned maintenance of the agent's machine, as given to the allocator.
    pub unavailability: Option<pb::Unavailability>,
}

impl Agent {
    pub(crate) fn port(&self) -> u16 {
        u16::try_from(self.info.port.unwrap_or(5051)).unwrap_or(5051)
    }

    pub(crate) fn pid(&self) -> String {
        format!("slave(1)@{}:{}", self.ip, self.port())
    }

    pub(crate) fn active(&self) -> bool {
        self.link == AgentLinkState::Connected && !self.deactivated
    }
}

/// An outstanding offer.
#[derive(Debug, Clone)]
pub(crate) struct OfferRecord {
    pub id: String,
    pub framework: String,
    pub agent: String,
    pub role: String,
    /// As the allocator offered them: without allocation roles (`role` is theirs).
    pub resources: Resources,
    pub created: Instant,
}

/// Mesos's terminal task states.
pub(crate) fn is_terminal(state: pb::TaskState) -> bool {
    use pb::TaskState as S;
    matches!(
        state,
        S::TaskFinished
            | S::TaskFailed
            | S::TaskKilled
            | S::TaskError
            | S::TaskLost
            | S::TaskDropped
            | S::TaskGone
            | S::TaskGoneByOperator
    )
}

/// The deprecated single `role` of a framework that is not MULTI_ROLE.
#[allow(deprecated)]
pub(crate) fn legacy_role(info: &pb::FrameworkInfo) -> String {
    info.role.clone().unwrap_or_else(|| "*".to_string())
}
