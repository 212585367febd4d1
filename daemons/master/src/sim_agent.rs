//! An agent simulated in-process: it speaks the real agent link (registration, pongs,
//! status updates) without running anything, so tests and benchmarks can drive a master
//! at scale without processes.

use std::time::Duration;

use mesos_agent_protocol::v1::{agent_message, master_message};
use mesos_agent_protocol::{AgentLinkClient, AgentMessage, MasterMessage};
use mesos_core::proto::v1 as pb;
use tokio::sync::mpsc;

use crate::MasterHandle;

/// How long the helpers wait for a message before failing.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A failure of the simulated agent's link.
#[derive(Debug, thiserror::Error)]
pub enum SimAgentError {
    #[error("link: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("master refused the agent: {0}")]
    Status(#[from] tonic::Status),
    #[error("unexpected first message from the master: {0:?}")]
    Unexpected(i32),
    #[error("the link closed")]
    Closed,
    #[error("no message within {0:?}")]
    Timeout(Duration),
}

/// An agent simulated in-process: it registers over the real agent link and lets the test
/// see what the master sends and answer with status updates.
pub struct SimAgent {
    pub id: String,
    pub to_master: mpsc::UnboundedSender<AgentMessage>,
    pub from_master: tonic::Streaming<MasterMessage>,
}

/// A REGISTER message for an agent with `resources` (flag text); `id` re-registers.
pub fn register_message(resources: &str, id: Option<&str>) -> AgentMessage {
    let res = mesos_core::resources::parse_flag_text(resources, "*").unwrap_or_default();
    let wire = mesos_core::resources::convert::resources_to_proto(
        &res,
        mesos_core::resources::convert::ResourceFormat::PostReservationRefinement,
    )
    .unwrap_or_default();
    AgentMessage {
        r#type: Some(agent_message::Type::Register as i32),
        register: Some(agent_message::Register {
            agent_info: pb::AgentInfo {
                hostname: "127.0.0.1".into(),
                port: Some(5051),
                resources: wire,
                id: id.map(|v| pb::AgentId { value: v.into() }),
                ..Default::default()
            },
            ip: "127.0.0.1".into(),
            version: Some("1.11.0".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl SimAgent {
    pub async fn connect(
        master: &MasterHandle,
        register: AgentMessage,
    ) -> Result<SimAgent, SimAgentError> {
        Self::connect_to(&master.addr().to_string(), register).await
    }

    /// Connects to a master at `host:port`.
    pub async fn connect_to(addr: &str, register: AgentMessage) -> Result<SimAgent, SimAgentError> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(SimAgentError::Transport)?
            .connect()
            .await?;
        Self::connect_on(channel, register).await
    }

    /// Attaches over an existing channel: HTTP/2 carries many agents' streams on one
    /// connection, which lets a benchmark run 10,000 agents within the process's file limit.
    pub async fn connect_on(
        channel: tonic::transport::Channel,
        register: AgentMessage,
    ) -> Result<SimAgent, SimAgentError> {
        let mut client = AgentLinkClient::new(channel);
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(register);
        let outbound = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
        let mut from_master = client.attach(outbound).await?.into_inner();
        let first = from_master.message().await?.ok_or(SimAgentError::Closed)?;
        let Some(registered) = first.registered else {
            return Err(SimAgentError::Unexpected(first.r#type.unwrap_or_default()));
        };
        Ok(SimAgent {
            id: registered.agent_id.value,
            to_master: tx,
            from_master,
        })
    }

    /// The next message from the master; PINGs are answered and skipped.
    pub async fn next(&mut self) -> Result<MasterMessage, SimAgentError> {
        loop {
            let m = tokio::time::timeout(TIMEOUT, self.from_master.message())
                .await
                .map_err(|_| SimAgentError::Timeout(TIMEOUT))??
                .ok_or(SimAgentError::Closed)?;
            if m.r#type() == master_message::Type::Ping {
                let _ = self.to_master.send(AgentMessage {
                    r#type: Some(agent_message::Type::Pong as i32),
                    ..Default::default()
                });
                continue;
            }
            return Ok(m);
        }
    }

    /// The next message of one type, skipping others.
    pub async fn next_of(
        &mut self,
        kind: master_message::Type,
    ) -> Result<MasterMessage, SimAgentError> {
        loop {
            let m = self.next().await?;
            if m.r#type() == kind {
                return Ok(m);
            }
        }
    }

    /// Sends a status update as an executor would; returns its uuid.
    pub fn send_status(&self, framework: &str, task: &str, state: pb::TaskState) -> Vec<u8> {
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        self.to_master
            .send(AgentMessage {
                r#type: Some(agent_message::Type::StatusUpdate as i32),
                status_update: Some(agent_message::StatusUpdate {
                    framework_id: pb::FrameworkId {
                        value: framework.into(),
                    },
                    executor_id: None,
                    status: pb::TaskStatus {
                        task_id: pb::TaskId { value: task.into() },
                        state: state as i32,
                        source: Some(pb::task_status::Source::Executor as i32),
                        agent_id: Some(pb::AgentId {
                            value: self.id.clone(),
                        }),
                        uuid: Some(uuid.clone()),
                        timestamp: Some(1.0),
                        ..Default::default()
                    },
                    latest_state: Some(state as i32),
                }),
                ..Default::default()
            })
            .ok();
        uuid
    }
}
