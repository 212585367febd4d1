//! Test support: a fake master speaking the agent link, and a small executor that runs inside
//! the test binary itself (re-executed with `FAKE_EXECUTOR=1`).

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesos_agent::{Agent, AgentFlags, AgentHandle};
use mesos_agent_protocol::v1::agent_message::Type as AgentType;
use mesos_agent_protocol::v1::master_message::{self as mm, Type as MasterType};
use mesos_agent_protocol::{AgentLink, AgentLinkServer, AgentMessage, MasterMessage};
use mesos_core::proto::v1::{
    AgentId, CommandInfo, Environment, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    MasterInfo, TaskId, TaskInfo, TaskState, environment,
};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

pub mod fake_executor;

type Outbox = mpsc::UnboundedSender<Result<MasterMessage, Status>>;

#[derive(Default)]
struct Shared {
    log: Vec<AgentMessage>,
    outbox: Option<Outbox>,
    registrations: Vec<AgentMessage>,
    next_id: u32,
}

/// A master that registers every agent and records what it says.
#[derive(Clone)]
pub struct FakeMaster {
    shared: Arc<Mutex<Shared>>,
    pub addr: SocketAddr,
}

struct Service {
    shared: Arc<Mutex<Shared>>,
}

#[tonic::async_trait]
impl AgentLink for Service {
    type AttachStream = UnboundedReceiverStream<Result<MasterMessage, Status>>;

    async fn attach(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inbound = request.into_inner();
        let shared = self.shared.clone();
        // Only `shared.outbox` holds the sender, so `drop_link` ends the stream.
        self.shared.lock().unwrap().outbox = Some(tx);
        tokio::spawn(async move {
            while let Some(Ok(msg)) = inbound.next().await {
                let mut s = shared.lock().unwrap();
                if msg.r#type == Some(AgentType::Register as i32) {
                    let reg = msg.register.clone().unwrap();
                    let id = match reg.agent_info.id {
                        Some(id) => id.value,
                        None => {
                            s.next_id += 1;
                            format!("master-S{}", s.next_id)
                        }
                    };
                    s.registrations.push(msg.clone());
                    let Some(tx) = s.outbox.clone() else { continue };
                    let _ = tx.send(Ok(MasterMessage {
                        r#type: Some(MasterType::Registered as i32),
                        registered: Some(mm::Registered {
                            agent_id: AgentId { value: id },
                            master_info: MasterInfo {
                                id: "master".into(),
                                ip: 0,
                                port: 5050,
                                hostname: Some("localhost".into()),
                                ..Default::default()
                            },
                            ping_interval_seconds: Some(15.0),
                        }),
                        ..Default::default()
                    }));
                }
                s.log.push(msg);
            }
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }
}

impl FakeMaster {
    pub async fn start() -> FakeMaster {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let service = Service {
            shared: shared.clone(),
        };
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(AgentLinkServer::new(service))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await
                .unwrap();
        });
        FakeMaster { shared, addr }
    }

    pub fn send(&self, msg: MasterMessage) {
        let s = self.shared.lock().unwrap();
        s.outbox
            .as_ref()
            .expect("an agent is attached")
            .send(Ok(msg))
            .unwrap();
    }

    /// Drops the current stream (the agent sees the link break).
    pub fn drop_link(&self) {
        self.shared.lock().unwrap().outbox = None;
    }

    pub fn registrations(&self) -> Vec<AgentMessage> {
        self.shared.lock().unwrap().registrations.clone()
    }

    pub fn messages(&self) -> Vec<AgentMessage> {
        self.shared.lock().unwrap().log.clone()
    }

    /// Waits for a message matching `pred`, searching everything received so far.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&AgentMessage) -> bool,
    ) -> AgentMessage {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| pred(m)) {
                return m;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; got {:#?}", self.summary());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn summary(&self) -> Vec<String> {
        self.messages()
            .iter()
            .map(|m| match &m.status_update {
                Some(u) => format!(
                    "UPDATE {} {:?} {:?} {:?}",
                    u.status.task_id.value,
                    TaskState::try_from(u.status.state),
                    u.status.reason,
                    u.status.message
                ),
                None => format!("{:?}", AgentType::try_from(m.r#type.unwrap_or(0))),
            })
            .collect()
    }

    /// Waits for a status update of `task` in `state`; returns its uuid.
    pub async fn wait_update(&self, task: &str, state: TaskState, timeout: Duration) -> Vec<u8> {
        let m = self
            .wait_for(&format!("{task} {state:?}"), timeout, |m| {
                m.status_update.as_ref().is_some_and(|u| {
                    u.status.task_id.value == task && u.status.state == state as i32
                })
            })
            .await;
        m.status_update.unwrap().status.uuid.unwrap()
    }

    pub fn count_updates(&self, task: &str, state: TaskState) -> usize {
        self.messages()
            .iter()
            .filter(|m| {
                m.status_update.as_ref().is_some_and(|u| {
                    u.status.task_id.value == task && u.status.state == state as i32
                })
            })
            .count()
    }

    pub fn ack(&self, framework: &str, task: &str, uuid: Vec<u8>) {
        self.send(MasterMessage {
            r#type: Some(MasterType::Acknowledge as i32),
            acknowledge: Some(mm::Acknowledge {
                framework_id: FrameworkId {
                    value: framework.into(),
                },
                task_id: TaskId { value: task.into() },
                uuid,
            }),
            ..Default::default()
        });
    }

    /// Waits for each of `states` of `task` in turn, acknowledging each (the agent forwards
    /// the next update only once the previous one is acknowledged).
    pub async fn ack_states(
        &self,
        framework: &str,
        task: &str,
        states: &[TaskState],
        timeout: Duration,
    ) {
        for &state in states {
            let uuid = self.wait_update(task, state, timeout).await;
            self.ack(framework, task, uuid);
        }
    }

    pub fn run_task(&self, framework: FrameworkInfo, task: TaskInfo) {
        self.send(MasterMessage {
            r#type: Some(MasterType::RunTask as i32),
            run_task: Some(mm::RunTask { framework, task }),
            ..Default::default()
        });
    }

    pub fn kill(&self, framework: &str, task: &str) {
        self.send(MasterMessage {
            r#type: Some(MasterType::KillTask as i32),
            kill_task: Some(mm::KillTask {
                framework_id: FrameworkId {
                    value: framework.into(),
                },
                task_id: TaskId { value: task.into() },
                kill_policy: None,
            }),
            ..Default::default()
        });
    }
}

pub fn framework(id: &str, checkpoint: bool) -> FrameworkInfo {
    FrameworkInfo {
        user: "nobody".into(),
        name: "test-framework".into(),
        id: Some(FrameworkId { value: id.into() }),
        checkpoint: Some(checkpoint),
        ..Default::default()
    }
}

/// A task run by the fake executor in this test binary.
pub fn custom_task(id: &str, cmd: &str, agent_id: &str) -> TaskInfo {
    let exe = std::env::current_exe().unwrap().display().to_string();
    TaskInfo {
        name: format!("task {id}"),
        task_id: TaskId { value: id.into() },
        agent_id: AgentId {
            value: agent_id.into(),
        },
        resources: Vec::new(),
        executor: Some(ExecutorInfo {
            executor_id: ExecutorId {
                value: format!("exec-{id}"),
            },
            command: Some(CommandInfo {
                shell: Some(false),
                value: Some(exe.clone()),
                arguments: vec![
                    exe,
                    "--exact".into(),
                    "fake_executor_main".into(),
                    "--nocapture".into(),
                    "--test-threads=1".into(),
                ],
                environment: Some(Environment {
                    variables: vec![environment::Variable {
                        name: "FAKE_EXECUTOR".into(),
                        value: Some("1".into()),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }),
            name: Some("fake executor".into()),
            ..Default::default()
        }),
        command: Some(CommandInfo {
            value: Some(cmd.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A command task (run by `mesos-executor`).
pub fn command_task(id: &str, cmd: &str, agent_id: &str) -> TaskInfo {
    TaskInfo {
        name: format!("task {id}"),
        task_id: TaskId { value: id.into() },
        agent_id: AgentId {
            value: agent_id.into(),
        },
        command: Some(CommandInfo {
            value: Some(cmd.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn launcher_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A loopback port free right now, for an agent that must come back on the same port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn start_agent(
    work_dir: &std::path::Path,
    master: &FakeMaster,
    port: u16,
) -> AgentHandle {
    start_agent_with_launcher(work_dir, master, port, &launcher_dir()).await
}

/// [`start_agent`] with the executors of `launcher_dir`.
pub async fn start_agent_with_launcher(
    work_dir: &std::path::Path,
    master: &FakeMaster,
    port: u16,
    launcher_dir: &std::path::Path,
) -> AgentHandle {
    Agent::start(test_flags(work_dir, master, port, launcher_dir))
        .await
        .unwrap()
}

/// The flags [`start_agent_with_launcher`] starts an agent with.
pub fn test_flags(
    work_dir: &std::path::Path,
    master: &FakeMaster,
    port: u16,
    launcher_dir: &std::path::Path,
) -> AgentFlags {
    let mut flags = AgentFlags::default_for_tests(work_dir, master.addr.to_string())
        .with_launcher_dir(launcher_dir)
        .with_resources("cpus:2;mem:1024;disk:1024;ports:[31000-31100]")
        .with_port(port);
    flags.executor_registration_timeout = "10secs".parse().unwrap();
    flags.executor_reregistration_timeout = "5secs".parse().unwrap();
    flags.executor_shutdown_grace_period = "1secs".parse().unwrap();
    flags
}

pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// Waits until `f` returns `Some`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
