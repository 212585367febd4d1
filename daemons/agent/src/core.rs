//! The agent's state and every decision it makes, owned by one task (see [`crate::agent`]).
//! Handlers change state and queue effects; [`Core::flush`] makes checkpoints durable and only
//! then sends what depended on them.

// `ExecutorInfo.source` and `FrameworkInfo.role` are deprecated but Mesos still reports them.
#![allow(deprecated)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mesos_agent_protocol::v1::agent_message::{
    ExecutorExited, ExecutorToFramework, Register, StatusUpdate, Type as AgentType,
};
use mesos_agent_protocol::v1::master_message::Type as MasterType;
use mesos_agent_protocol::{AgentMessage, ExecutorOnAgent, MasterMessage};
use mesos_core::attributes::Attributes;
use mesos_core::proto::v1::executor::{Event as ExecutorEvent, event as ev};
use mesos_core::proto::v1::task_status::{Reason, Source};
use mesos_core::proto::v1::{
    AgentId, AgentInfo, CommandInfo, ContainerId, ExecutorId, ExecutorInfo, FrameworkInfo,
    MasterInfo, TaskGroupInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};
use mesos_core::resources::Resources;
use tokio::sync::{mpsc, oneshot, watch};

use crate::checkpoint::{self, LogRecord, UpdateLog};
use crate::flags::AgentFlags;
use crate::launcher::{self, Isolator, LaunchSpec, Spawned};
use crate::paths::{Layout, RunKey, relink, valid_id};
use crate::state::{Executor, ExecutorConn, ExecutorState, Framework, Termination, new_task};
use crate::status_updates::{Forward, StatusUpdateManager, is_terminal};
use crate::syncer::Syncer;

/// Completed frameworks remembered (`MAX_COMPLETED_FRAMEWORKS`).
const MAX_COMPLETED_FRAMEWORKS: usize = 50;
/// Completed tasks remembered per executor (`MAX_COMPLETED_TASKS_PER_EXECUTOR`).
const MAX_COMPLETED_TASKS: usize = 200;

/// Events consumed by the agent's task.
#[allow(clippy::large_enum_variant)] // moved once through a channel
pub(crate) enum Event {
    /// A new master stream is open; REGISTER must be its first message.
    LinkUp {
        tx: mpsc::UnboundedSender<AgentMessage>,
        epoch: u64,
    },
    /// The master stream with this epoch broke.
    LinkDown { epoch: u64 },
    /// A message from the master.
    FromMaster(MasterMessage),
    /// An executor process started (or failed to).
    Launched {
        key: RunKey,
        result: Result<u32, String>,
    },
    /// An executor process exited with this wait status.
    Exited { key: RunKey, status: Option<i32> },
    /// Run a closure on the state (HTTP handlers).
    Ask(Box<dyn FnOnce(&mut Core) + Send>),
    /// Stop the agent, optionally killing executors first.
    Shutdown {
        kill_executors: bool,
        done: oneshot::Sender<()>,
    },
}

/// Sends that wait for checkpoints to be durable, or only for those queued before them.
#[allow(clippy::large_enum_variant)] // a handful per event batch
enum Deferred {
    /// A status update for the master, sent while registered.
    Update(AgentMessage),
    /// Any other message for whatever master link is up.
    Link(AgentMessage),
    /// An event for an executor's connection.
    Executor(RunKey, ExecutorEvent),
}

/// Counters for `/metrics/snapshot`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Metrics {
    pub tasks_finished: u64,
    pub tasks_failed: u64,
    pub tasks_killed: u64,
    pub tasks_lost: u64,
    pub tasks_gone: u64,
    pub tasks_dropped: u64,
    pub tasks_error: u64,
    pub valid_status_updates: u64,
    pub invalid_status_updates: u64,
    pub valid_framework_messages: u64,
    pub invalid_framework_messages: u64,
    pub executors_terminated: u64,
    pub recovery_errors: u64,
    pub container_launch_errors: u64,
}

/// The master link as the core sees it.
struct MasterConn {
    tx: mpsc::UnboundedSender<AgentMessage>,
    epoch: u64,
}

/// Everything the agent knows.
pub(crate) struct Core {
    pub flags: Arc<AgentFlags>,
    /// Sandboxes, and checkpoints of frameworks that checkpoint (under `<work_dir>/meta`).
    pub layout: Layout,
    /// The same sandboxes, with records of the other frameworks' executors under
    /// `<runtime_dir>/meta` (see [`Layout::with_runtime_meta`]).
    pub volatile: Layout,
    pub agent_id: Option<String>,
    pub hostname: String,
    pub addr: SocketAddr,
    /// The total: `static_resources` with `checkpointed` applied.
    pub resources: Resources,
    /// From `--resources` and detection.
    pub static_resources: Resources,
    /// Dynamic reservations and persistent volumes made by the master (kept on disk).
    pub checkpointed: Resources,
    pub attributes: Attributes,
    pub frameworks: BTreeMap<String, Framework>,
    pub completed_frameworks: VecDeque<Framework>,
    pub updates: StatusUpdateManager,
    pub metrics: Metrics,
    pub registered: bool,
    pub master_info: Option<MasterInfo>,
    pub start_time: SystemTime,
    pub events: mpsc::UnboundedSender<Event>,
    pub agent_id_tx: watch::Sender<Option<String>>,
    /// Set while waiting for re-adopted executors before registering.
    pub recovery_deadline: Option<Instant>,
    /// The master link task starts once recovery is over.
    pub link_started: bool,
    pub stopping: Option<(Instant, oneshot::Sender<()>)>,
    pub stopped: bool,
    isolator: Arc<dyn Isolator>,
    log: UpdateLog,
    /// Makes checkpoints durable in groups, off the event loop.
    pub syncer: Syncer,
    /// The newest checkpoint generation known to be durable.
    durable: u64,
    /// What this burst of events wants sent, in order.
    deferred: Vec<Deferred>,
    /// Sends waiting for a checkpoint generation to be durable, in order.
    outbox: VecDeque<(u64, Deferred)>,
    master: Option<MasterConn>,
    gc: Vec<crate::gc::Scheduled>,
    /// Executor launches started and not yet subscribed or ended.
    launches_in_flight: usize,
    /// How many launches may be in flight (see [`Core::launch_slots`]); read once, because
    /// asking the system for the usable cores reads several cgroup files.
    launch_slots: usize,
    /// Launches waiting for a slot, oldest first.
    launch_queue: VecDeque<(RunKey, PendingLaunch)>,
    /// Forks command executors (`--executor_zygote`; `None` when off).
    zygotes: Option<Arc<crate::zygote::Zygotes>>,
    /// Certificate authorities for `https://` URIs (the system's, read once at start).
    pub tls_roots: crate::https::TlsRoots,
    /// Downloads of URIs marked `cache`, shared by this agent's executors.
    pub fetcher_cache: Option<Arc<crate::fetcher_cache::FetcherCache>>,
    /// When disk usage is next checked for garbage collection under pressure.
    next_disk_check: Option<Instant>,
    last_ping: Option<Instant>,
    ping_interval: Option<Duration>,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn new_uuid() -> Vec<u8> {
    uuid::Uuid::new_v4().as_bytes().to_vec()
}

fn grace_period(info: &ExecutorInfo, flags: &AgentFlags) -> Duration {
    info.shutdown_grace_period
        .as_ref()
        .and_then(|d| u64::try_from(d.nanoseconds).ok())
        .map_or(
            flags.executor_shutdown_grace_period.get(),
            Duration::from_nanos,
        )
}

/// An executor launch waiting for a slot: everything from sandbox creation to `exec`.
type PendingLaunch = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// What must exist on disk before an executor starts: its sandbox (with the `latest` link),
/// whatever the isolator prepares, and its checkpointed info and run directory.
struct PrepareRun {
    layout: Layout,
    isolator: Arc<dyn Isolator>,
    agent_id: String,
    key: RunKey,
    sandbox: std::path::PathBuf,
    /// The encoded `ExecutorInfo`.
    info: Vec<u8>,
    /// Whether the framework checkpoints: then the launch waits for a group sync of what
    /// `run` wrote before the executor starts.
    durability: checkpoint::Durability,
    /// The first tasks' checkpoints (`task.info` paths and encoded `Task`s) of a
    /// checkpointing framework: written here, before the executor can get them, and on the
    /// blocking pool rather than one by one on the agent's event loop.
    task_infos: Vec<(std::path::PathBuf, Vec<u8>)>,
}

impl PrepareRun {
    fn run(&self) -> Result<(), String> {
        let PrepareRun {
            layout,
            agent_id,
            key,
            sandbox,
            ..
        } = self;
        std::fs::create_dir_all(sandbox)
            .map_err(|e| format!("cannot create sandbox {}: {e}", sandbox.display()))?;
        let _ = relink(
            sandbox,
            &layout.latest_sandbox_link(agent_id, &key.framework_id, &key.executor_id),
        );
        self.isolator
            .prepare(&key.container_id, sandbox)
            .map_err(|e| format!("isolator failed to prepare the container: {e}"))?;
        // Durability comes from the group sync the launch waits for (see `durability`).
        if let Err(e) = checkpoint::write_replacing(
            &layout.executor_info(agent_id, &key.framework_id, &key.executor_id),
            &self.info,
            checkpoint::Durability::Unsynced,
        )
        .and_then(|()| checkpoint::checkpoint_run_start(layout, agent_id, key))
        {
            tracing::error!("cannot checkpoint executor {}: {e}", key.executor_id);
        }
        for (path, bytes) in &self.task_infos {
            if let Err(e) =
                checkpoint::write_replacing(path, bytes, checkpoint::Durability::Unsynced)
            {
                tracing::error!("cannot checkpoint task {}: {e}", path.display());
            }
        }
        Ok(())
    }
}

impl Core {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        flags: Arc<AgentFlags>,
        layout: Layout,
        hostname: String,
        addr: SocketAddr,
        (static_resources, checkpointed): (Resources, Resources),
        attributes: Attributes,
        events: mpsc::UnboundedSender<Event>,
        agent_id_tx: watch::Sender<Option<String>>,
        isolator: Arc<dyn Isolator>,
        syncer: Syncer,
    ) -> Result<Core, crate::checkpointed_resources::CheckpointedError> {
        let resources = crate::checkpointed_resources::apply(&static_resources, &checkpointed)?;
        let zygotes = flags.executor_zygote.then(|| {
            Arc::new(crate::zygote::Zygotes::new(
                flags.launcher_dir().join("mesos-executor"),
            ))
        });
        let volatile = layout.with_runtime_meta(flags.runtime_dir());
        Ok(Core {
            flags,
            layout,
            volatile,
            agent_id: None,
            hostname,
            addr,
            resources,
            static_resources,
            checkpointed,
            attributes,
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            updates: StatusUpdateManager::new(),
            metrics: Metrics::default(),
            registered: false,
            master_info: None,
            start_time: SystemTime::now(),
            events,
            agent_id_tx,
            recovery_deadline: None,
            link_started: false,
            stopping: None,
            stopped: false,
            isolator,
            log: UpdateLog::default(),
            syncer,
            durable: 0,
            deferred: Vec::new(),
            outbox: VecDeque::new(),
            master: None,
            gc: Vec::new(),
            fetcher_cache: None,
            tls_roots: crate::https::TlsRoots::system(),
            launches_in_flight: 0,
            launch_slots: Self::launch_slots(),
            launch_queue: VecDeque::new(),
            zygotes,
            next_disk_check: None,
            last_ping: None,
            ping_interval: None,
        })
    }

    /// `slave(1)@ip:port`.
    pub(crate) fn pid(&self) -> String {
        format!("slave(1)@{}", self.addr)
    }

    /// The agent's info as registered (id when known).
    pub(crate) fn agent_info(&self) -> AgentInfo {
        AgentInfo {
            hostname: self.hostname.clone(),
            port: Some(i32::from(self.addr.port())),
            resources: mesos_core::resources::convert::resources_to_proto(
                &self.resources,
                mesos_core::resources::convert::ResourceFormat::Endpoint,
            )
            .unwrap_or_default(),
            attributes: self.attributes.to_proto(),
            id: self.agent_id.clone().map(|value| AgentId { value }),
            domain: None,
        }
    }

    fn aid(&self) -> String {
        self.agent_id.clone().unwrap_or_default()
    }

    // ---- events ---------------------------------------------------------------------------

    pub(crate) fn handle(&mut self, event: Event, now: Instant) {
        match event {
            Event::LinkUp { tx, epoch } => {
                let register = self.register_message();
                if tx.send(register).is_ok() {
                    self.master = Some(MasterConn { tx, epoch });
                }
                self.registered = false;
            }
            Event::LinkDown { epoch } => {
                if self.master.as_ref().is_some_and(|m| m.epoch == epoch) {
                    tracing::warn!("lost the connection to the master; reconnecting");
                    self.master = None;
                    self.registered = false;
                }
            }
            Event::FromMaster(msg) => self.on_master_message(msg, now),
            Event::Launched { key, result } => self.launched(&key, result),
            Event::Exited { key, status } => self.executor_exited(&key, status, now),
            Event::Ask(f) => f(self),
            Event::Shutdown {
                kill_executors,
                done,
            } => {
                if kill_executors {
                    self.shutdown_all(now);
                    let grace =
                        self.flags.executor_shutdown_grace_period.get() + Duration::from_secs(1);
                    self.stopping = Some((now + grace, done));
                } else {
                    self.stopped = true;
                    let _ = done.send(());
                }
            }
        }
    }

    fn register_message(&self) -> AgentMessage {
        let aid = self.aid();
        let mut frameworks = Vec::new();
        let mut executors = Vec::new();
        let mut tasks = Vec::new();
        for (fid, fw) in &self.frameworks {
            if fw.executors.is_empty() {
                continue;
            }
            frameworks.push(fw.info.clone());
            for e in fw.executors.values() {
                if e.state == ExecutorState::Terminated {
                    continue;
                }
                executors.push(ExecutorOnAgent {
                    framework_id: fw.info.id.clone().unwrap_or_default(),
                    executor_info: e.info.clone(),
                });
                tasks.extend(e.live_tasks(fid, &aid));
            }
        }
        use mesos_core::proto::v1::agent_info::capability::Type as Cap;
        let capabilities = [
            Cap::MultiRole,
            Cap::HierarchicalRole,
            Cap::ReservationRefinement,
            Cap::AgentDraining,
        ]
        .iter()
        .map(|t| mesos_core::proto::v1::agent_info::Capability {
            r#type: Some(*t as i32),
        })
        .collect();
        AgentMessage {
            r#type: Some(AgentType::Register as i32),
            register: Some(Register {
                agent_info: self.agent_info(),
                ip: self.addr.ip().to_string(),
                version: Some(crate::VERSION.to_string()),
                capabilities,
                frameworks,
                executors,
                tasks,
            }),
            ..Default::default()
        }
    }

    fn send_master(&mut self, msg: AgentMessage) {
        // Nothing overtakes a status update still waiting for its checkpoint.
        if !self.deferred.is_empty() || !self.outbox.is_empty() {
            self.deferred.push(Deferred::Link(msg));
            return;
        }
        self.send_link(msg);
    }

    fn send_link(&mut self, msg: AgentMessage) {
        if let Some(m) = &self.master
            && m.tx.send(msg).is_err()
        {
            self.master = None;
            self.registered = false;
        }
    }

    fn on_master_message(&mut self, msg: MasterMessage, now: Instant) {
        let ty = msg.r#type.and_then(|t| MasterType::try_from(t).ok());
        match ty {
            Some(MasterType::Registered) => {
                if let Some(r) = msg.registered {
                    self.registered_with(
                        r.agent_id.value,
                        r.master_info,
                        r.ping_interval_seconds,
                        now,
                    );
                }
            }
            Some(MasterType::RunTask) => {
                if let Some(r) = msg.run_task {
                    self.run_task(r.framework, r.task, now);
                }
            }
            Some(MasterType::RunTaskGroup) => {
                if let Some(r) = msg.run_task_group {
                    self.run_task_group(r.framework, r.executor, r.task_group, now);
                }
            }
            Some(MasterType::KillTask) => {
                if let Some(k) = msg.kill_task {
                    self.kill_task(&k.framework_id.value, &k.task_id.value, k.kill_policy, now);
                }
            }
            Some(MasterType::Acknowledge) => {
                if let Some(a) = msg.acknowledge {
                    self.acknowledge(&a.framework_id.value, &a.task_id.value, &a.uuid, now);
                }
            }
            Some(MasterType::FrameworkMessage) => {
                if let Some(m) = msg.framework_message {
                    self.framework_message(&m.framework_id.value, &m.executor_id.value, m.data);
                }
            }
            Some(MasterType::ShutdownFramework) => {
                if let Some(s) = msg.shutdown_framework {
                    self.shutdown_framework(&s.framework_id.value, now);
                }
            }
            Some(MasterType::ShutdownExecutor) => {
                if let Some(s) = msg.shutdown_executor {
                    self.shutdown_executor(&s.framework_id.value, &s.executor_id.value, now);
                }
            }
            Some(MasterType::Ping) => {
                self.last_ping = Some(now);
                self.send_master(AgentMessage {
                    r#type: Some(AgentType::Pong as i32),
                    ..Default::default()
                });
            }
            Some(MasterType::UpdateFramework) => {
                if let Some(u) = msg.update_framework {
                    self.update_framework(u.framework);
                }
            }
            Some(MasterType::Shutdown) => {
                let why = msg.shutdown.and_then(|s| s.message).unwrap_or_default();
                tracing::warn!("master asked this agent to shut down: {why}");
                self.shutdown_all(now);
                let (tx, _rx) = oneshot::channel();
                let grace =
                    self.flags.executor_shutdown_grace_period.get() + Duration::from_secs(1);
                self.stopping = Some((now + grace, tx));
            }
            Some(MasterType::CheckpointResources) => {
                if let Some(c) = msg.checkpoint_resources {
                    self.checkpoint_resources(&c.resources);
                }
            }
            Some(MasterType::Unknown) | None => {
                tracing::warn!("ignoring master message of unknown type {:?}", msg.r#type);
            }
        }
    }

    /// Applies and keeps the master's new set of reservations and volumes. A set that does
    /// not fit is refused (logged) and the agent keeps what it had.
    fn checkpoint_resources(&mut self, wire: &[mesos_core::proto::v1::Resource]) {
        use crate::checkpointed_resources as cr;
        let result = cr::from_wire(wire).and_then(|checkpointed| {
            let total = cr::apply(&self.static_resources, &checkpointed)?;
            cr::save(&self.layout.checkpointed_resources(), &checkpointed)?;
            Ok((checkpointed, total))
        });
        match result {
            Ok((checkpointed, total)) => {
                tracing::info!(%checkpointed, "checkpointed resources updated");
                self.checkpointed = checkpointed;
                self.resources = total;
            }
            Err(e) => tracing::error!("refusing checkpointed resources from the master: {e}"),
        }
    }

    fn registered_with(
        &mut self,
        agent_id: String,
        master_info: MasterInfo,
        ping_interval: Option<f64>,
        now: Instant,
    ) {
        if self.agent_id.as_deref().is_some_and(|id| id != agent_id) {
            tracing::warn!(
                "master assigned id {agent_id} although this agent was {}",
                self.aid()
            );
        }
        let first = self.agent_id.as_deref() != Some(&agent_id);
        self.agent_id = Some(agent_id.clone());
        if first {
            let info = self.agent_info();
            if let Err(e) = checkpoint::checkpoint_agent(&self.layout, &info, &agent_id) {
                tracing::error!("cannot checkpoint agent id: {e}");
            }
        }
        self.registered = true;
        self.master_info = Some(master_info);
        self.ping_interval = ping_interval
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64);
        self.last_ping = Some(now);
        let _ = self.agent_id_tx.send(Some(agent_id));
        tracing::info!("registered with the master as {}", self.aid());
        for f in self.updates.resend_all(now) {
            let msg = self.status_message(&f);
            self.send_master(msg);
        }
    }

    // ---- launching --------------------------------------------------------------------------

    /// Where a framework's executors are recorded: the work_dir's checkpoint when it
    /// checkpoints, the runtime directory otherwise.
    fn meta_layout(&self, checkpoint: bool) -> &Layout {
        if checkpoint {
            &self.layout
        } else {
            &self.volatile
        }
    }

    fn ensure_framework(&mut self, info: &FrameworkInfo) -> Option<String> {
        let fid = info.id.as_ref()?.value.clone();
        if !valid_id(&fid) {
            return None;
        }
        let aid = self.aid();
        let mut changed = true;
        let fw = self
            .frameworks
            .entry(fid.clone())
            .and_modify(|fw| changed = fw.info != *info)
            .or_insert_with(|| Framework::new(info.clone()));
        // Every launch carries the framework's info: it is written (with an fsync) only when
        // it is new or differs, not once per task on the event loop.
        if changed {
            fw.info = info.clone();
            let layout = if fw.checkpoint() {
                &self.layout
            } else {
                &self.volatile
            };
            if let Err(e) = checkpoint::write_message(&layout.framework_info(&aid, &fid), &fw.info)
            {
                tracing::error!("cannot checkpoint framework {fid}: {e}");
            }
        }
        Some(fid)
    }

    fn command_executor_info(&self, framework: &FrameworkInfo, task: &TaskInfo) -> ExecutorInfo {
        let cmd = task.command.clone().unwrap_or_default();
        let shell = cmd.shell.unwrap_or(true);
        let id = task.task_id.value.clone();
        let describe = |s: String| {
            if s.len() > 15 {
                format!("{}...", s.chars().take(12).collect::<String>())
            } else {
                s
            }
        };
        let summary = if shell {
            match &cmd.value {
                None => "(Command: NO COMMAND)".to_string(),
                Some(v) => format!("(Command: sh -c '{}')", describe(v.clone())),
            }
        } else {
            match &cmd.value {
                None => "(Command: NO EXECUTABLE)".to_string(),
                Some(v) => {
                    let args = format!("{v}, {}", cmd.arguments.join(", "));
                    format!("(Command: [{}])", describe(args))
                }
            }
        };
        let launcher = self.flags.launcher_dir().join("mesos-executor");
        let mut command = CommandInfo {
            uris: cmd.uris.clone(),
            environment: cmd.environment.clone(),
            user: cmd.user.clone(),
            ..Default::default()
        };
        if launcher.exists() {
            command.shell = Some(false);
            command.value = Some(launcher.display().to_string());
            command.arguments = vec![
                "mesos-executor".to_string(),
                format!("--launcher_dir={}", self.flags.launcher_dir().display()),
            ];
        } else {
            command.shell = Some(true);
            command.value = Some(format!(
                "echo '{}: No such file or directory'; exit 1",
                launcher.display()
            ));
        }
        let mut overhead =
            mesos_core::resources::parse_flag_text("cpus:0.1;mem:32", "*").unwrap_or_default();
        if let Some(role) = task
            .resources
            .iter()
            .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()))
        {
            overhead = overhead.allocate(&role);
        }
        let shutdown_grace_period = task
            .kill_policy
            .as_ref()
            .and_then(|k| k.grace_period.as_ref())
            .map(|g| mesos_core::proto::v1::DurationInfo {
                nanoseconds: g.nanoseconds + 2_000_000_000,
            });
        ExecutorInfo {
            r#type: Some(mesos_core::proto::v1::executor_info::Type::Default as i32),
            executor_id: ExecutorId { value: id.clone() },
            framework_id: framework.id.clone(),
            command: Some(command),
            container: task.container.clone(),
            resources: mesos_core::resources::convert::resources_to_proto(
                &overhead,
                mesos_core::resources::convert::ResourceFormat::PostReservationRefinement,
            )
            .unwrap_or_default(),
            name: Some(format!("Command Executor (Task: {id}) {summary}")),
            source: Some(id),
            labels: task.labels.clone(),
            discovery: task.discovery.clone(),
            shutdown_grace_period,
            ..Default::default()
        }
    }

    /// Reports a task the agent cannot run.
    fn refuse_task(
        &mut self,
        fid: &str,
        task_id: &TaskId,
        executor_id: Option<&str>,
        message: String,
        now: Instant,
    ) {
        let partition_aware = self
            .frameworks
            .get(fid)
            .is_some_and(Framework::partition_aware);
        let state = if partition_aware {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        tracing::warn!("refusing task {}: {message}", task_id.value);
        let status = self.agent_status(task_id, executor_id, state, Reason::InvalidOffers, message);
        self.status_update(fid, executor_id, status, now);
    }

    fn run_task(&mut self, framework: FrameworkInfo, task: TaskInfo, now: Instant) {
        let Some(fid) = self.ensure_framework(&framework) else {
            tracing::warn!("RUN_TASK without a valid framework id; ignored");
            return;
        };
        if !valid_id(&task.task_id.value) {
            self.refuse_task(
                &fid,
                &task.task_id.clone(),
                None,
                format!("invalid task id '{}'", task.task_id.value),
                now,
            );
            return;
        }
        let executor_info = match &task.executor {
            Some(e) => {
                let mut e = e.clone();
                e.framework_id = framework.id.clone();
                e
            }
            None => self.command_executor_info(&framework, &task),
        };
        let command = task.executor.is_none();
        let mut task = task;
        task.agent_id = AgentId { value: self.aid() };
        self.add_tasks(&fid, executor_info, command, vec![task], false, now);
    }

    fn run_task_group(
        &mut self,
        framework: FrameworkInfo,
        executor: ExecutorInfo,
        group: TaskGroupInfo,
        now: Instant,
    ) {
        let Some(fid) = self.ensure_framework(&framework) else {
            tracing::warn!("RUN_TASK_GROUP without a valid framework id; ignored");
            return;
        };
        let mut executor = executor;
        executor.framework_id = framework.id.clone();
        if executor.command.is_none() {
            let path = self.flags.launcher_dir().join("mesos-default-executor");
            executor.command = Some(CommandInfo {
                shell: Some(false),
                value: Some(path.display().to_string()),
                arguments: vec![
                    "mesos-default-executor".to_string(),
                    format!("--launcher_dir={}", self.flags.launcher_dir().display()),
                ],
                ..Default::default()
            });
        }
        let mut tasks = group.tasks;
        for t in &mut tasks {
            t.agent_id = AgentId { value: self.aid() };
        }
        self.add_tasks(&fid, executor, false, tasks, true, now);
    }

    fn add_tasks(
        &mut self,
        fid: &str,
        info: ExecutorInfo,
        command: bool,
        tasks: Vec<TaskInfo>,
        group: bool,
        now: Instant,
    ) {
        let eid = info.executor_id.value.clone();
        if !valid_id(&eid) {
            for t in &tasks {
                self.refuse_task(
                    fid,
                    &t.task_id,
                    None,
                    format!("invalid executor id '{eid}'"),
                    now,
                );
            }
            return;
        }
        let aid = self.aid();
        let exists = self.frameworks[fid].executors.get(&eid).map(|e| e.state);
        match exists {
            Some(ExecutorState::Terminating | ExecutorState::Terminated) => {
                for t in &tasks {
                    self.refuse_task(
                        fid,
                        &t.task_id,
                        Some(&eid),
                        "Executor terminating".into(),
                        now,
                    );
                }
                return;
            }
            Some(_) => {}
            None => {
                if let Err(e) = self.launch_executor(fid, info, command, &tasks, now) {
                    for t in &tasks {
                        let status = self.agent_status(
                            &t.task_id,
                            Some(&eid),
                            TaskState::TaskFailed,
                            Reason::ContainerLaunchFailed,
                            e.clone(),
                        );
                        self.status_update(fid, Some(&eid), status, now);
                    }
                    return;
                }
            }
        }
        let fw = self.frameworks.get_mut(fid).expect("ensured");
        // A new executor's launch checkpoints its first tasks (see `PrepareRun`).
        let checkpoint = fw.checkpoint() && exists.is_some();
        let executor = fw.executors.get_mut(&eid).expect("exists or launched");
        let executor_id = (!executor.command_executor).then(|| eid.clone());
        for t in &tasks {
            let record = new_task(t, fid, executor_id.as_deref(), &aid);
            if checkpoint {
                let path = self.layout.task_info(&aid, &executor.key, &t.task_id.value);
                if let Err(e) = checkpoint::write_message(&path, &record) {
                    tracing::error!("cannot checkpoint task {}: {e}", t.task_id.value);
                }
            }
        }
        match (&executor.conn, executor.state) {
            (Some(conn), ExecutorState::Running) => {
                let conn = conn.clone();
                for t in &tasks {
                    executor.launched.insert(
                        t.task_id.value.clone(),
                        new_task(t, fid, executor_id.as_deref(), &aid),
                    );
                }
                if group {
                    conn.send(&launch_group_event(tasks));
                } else {
                    for t in tasks {
                        conn.send(&launch_event(t));
                    }
                }
            }
            _ => {
                if group {
                    executor.queued_groups.push(TaskGroupInfo { tasks });
                } else {
                    executor.queued.extend(tasks);
                }
            }
        }
    }

    fn executor_env(&self, fw: &Framework, e: &Executor) -> (BTreeMap<String, String>, bool) {
        let mut env = BTreeMap::new();
        let mut inherit = true;
        if let Some(json) = &self.flags.executor_environment_variables
            && let Ok(serde_json::Value::Object(map)) = serde_json::from_str(json)
        {
            inherit = false;
            for (k, v) in map {
                if let Some(s) = v.as_str() {
                    env.insert(k, s.to_string());
                }
            }
        }
        if let Some(vars) = e.info.command.as_ref().and_then(|c| c.environment.as_ref()) {
            for v in &vars.variables {
                if let Some(value) = &v.value {
                    env.insert(v.name.clone(), value.clone());
                }
            }
        }
        let dir = e.directory.display().to_string();
        let checkpoint = fw.checkpoint();
        let mut put = |k: &str, v: String| {
            env.insert(k.to_string(), v);
        };
        put("MESOS_FRAMEWORK_ID", e.key.framework_id.clone());
        put("MESOS_EXECUTOR_ID", e.key.executor_id.clone());
        put("MESOS_SLAVE_ID", self.aid());
        put("MESOS_AGENT_ENDPOINT", self.addr.to_string());
        put("MESOS_SLAVE_PID", self.pid());
        put("MESOS_DIRECTORY", dir.clone());
        put("MESOS_SANDBOX", dir);
        put(
            "MESOS_CHECKPOINT",
            if checkpoint { "1" } else { "0" }.to_string(),
        );
        put("MESOS_HTTP_COMMAND_EXECUTOR", "1".to_string());
        // Validated when the agent started; executors that know the variable use the socket.
        if let Ok(Some(socket)) = self.flags.domain_socket() {
            put("MESOS_DOMAIN_SOCKET", socket.display().to_string());
        }
        put(
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
            crate::duration::MesosDuration(grace_period(&e.info, &self.flags)).to_string(),
        );
        if checkpoint {
            put(
                "MESOS_RECOVERY_TIMEOUT",
                self.flags.recovery_timeout.to_string(),
            );
            put(
                "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                self.flags.executor_reregistration_timeout.to_string(),
            );
        }
        put("LIBPROCESS_PORT", "0".to_string());
        (env, inherit)
    }

    fn launch_executor(
        &mut self,
        fid: &str,
        info: ExecutorInfo,
        command: bool,
        tasks: &[TaskInfo],
        now: Instant,
    ) -> Result<(), String> {
        let aid = self.aid();
        let eid = info.executor_id.value.clone();
        let key = RunKey {
            framework_id: fid.to_string(),
            executor_id: eid.clone(),
            container_id: uuid::Uuid::new_v4().to_string(),
        };
        let directory = self.layout.sandbox(&aid, &key);
        let checkpointing = self.frameworks.get(fid).is_some_and(|f| f.checkpoint());
        // The sandbox and the executor's checkpoint are written off the agent's event loop
        // (on the blocking pool, before the executor starts), so that launching thousands of
        // executors does not serialise every event behind the filesystem.
        let prepare = PrepareRun {
            layout: self.meta_layout(checkpointing).clone(),
            isolator: self.isolator.clone(),
            agent_id: aid.clone(),
            key: key.clone(),
            sandbox: directory.clone(),
            info: prost::Message::encode_to_vec(&info),
            durability: checkpoint::Durability::for_framework(checkpointing),
            task_infos: if checkpointing {
                let executor_id = (!command).then_some(eid.as_str());
                tasks
                    .iter()
                    .map(|t| {
                        (
                            self.layout.task_info(&aid, &key, &t.task_id.value),
                            prost::Message::encode_to_vec(&new_task(t, fid, executor_id, &aid)),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
        };
        let fw = &self.frameworks[fid];
        let executor = Executor {
            info,
            key: key.clone(),
            directory,
            state: ExecutorState::Registering,
            pid: None,
            command_executor: command,
            adopted: false,
            conn: None,
            queued: Vec::new(),
            queued_groups: Vec::new(),
            launched: BTreeMap::new(),
            terminated: BTreeMap::new(),
            completed: VecDeque::new(),
            // Set when the launch gets a slot and starts.
            registration_deadline: None,
            kill_deadline: None,
            pending_termination: None,
            exit_status: None,
            last_heartbeat: now,
            launching: false,
        };
        let (env, inherit_env) = self.executor_env(fw, &executor);
        let command_info = executor.info.command.clone().unwrap_or_default();
        let sandbox = executor.directory.clone();
        let frameworks_home = self.flags.frameworks_home.clone();
        let fetcher_cache = self.fetcher_cache.clone();
        let tls_roots = self.tls_roots.clone();
        let user = command_info
            .user
            .clone()
            .or_else(|| Some(fw.info.user.clone()))
            .unwrap_or_default();
        let events = self.events.clone();
        let syncer = self.syncer.clone();
        // Only the built-in command executor is forked by the zygote.
        let zygotes = self
            .zygotes
            .clone()
            .filter(|z| command && z.serves(&command_info));
        tracing::info!(
            "launching executor {eid} of framework {fid} in {}",
            sandbox.display()
        );
        self.frameworks
            .get_mut(fid)
            .expect("checked")
            .executors
            .insert(eid, executor);
        let launch_key = key.clone();
        let launch: PendingLaunch = Box::pin(async move {
            let durability = prepare.durability;
            let pid_file = prepare.layout.forked_pid(&prepare.agent_id, &prepare.key);
            let prepared = tokio::task::spawn_blocking(move || prepare.run())
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
            if let Err(e) = prepared {
                let _ = events.send(Event::Launched {
                    key,
                    result: Err(e),
                });
                return;
            }
            if durability == checkpoint::Durability::Synced {
                syncer.sync().await;
            }
            let context = crate::fetcher::FetchContext {
                frameworks_home: frameworks_home.as_deref(),
                cache: fetcher_cache.as_deref(),
                user: &user,
                tls: Some(&tls_roots),
            };
            if let Err(e) = crate::fetcher::fetch_all(&command_info.uris, &sandbox, context).await {
                let _ = append_stderr(&sandbox, &format!("Failed to fetch: {e}\n"));
                let _ = events.send(Event::Launched {
                    key,
                    result: Err(format!("Failed to fetch URIs: {e}")),
                });
                return;
            }
            let spec = LaunchSpec {
                command: &command_info,
                sandbox: &sandbox,
                env,
                inherit_env,
            };
            let forked = match &zygotes {
                Some(zygotes) => zygotes.launch(&spec).await,
                None => None,
            };
            let spawned = forked.unwrap_or_else(|| launcher::spawn(&spec).map(Spawned::from_child));
            match spawned {
                Err(e) => {
                    let _ = events.send(Event::Launched {
                        key,
                        result: Err(e.to_string()),
                    });
                }
                Ok(Spawned { pid, exit }) => {
                    // Written from the runtime's thread without an fsync of its own: a pid
                    // only matters while the machine stays up; the next group sync makes it
                    // durable for checkpointing frameworks.
                    if let Err(err) = checkpoint::write_replacing(
                        &pid_file,
                        pid.to_string().as_bytes(),
                        checkpoint::Durability::Unsynced,
                    ) {
                        tracing::error!(
                            "cannot checkpoint pid of executor {}: {err}",
                            key.executor_id
                        );
                    } else if durability == checkpoint::Durability::Synced {
                        syncer.request();
                    }
                    let _ = events.send(Event::Launched {
                        key: key.clone(),
                        result: Ok(pid),
                    });
                    let status = exit.await;
                    let _ = events.send(Event::Exited { key, status });
                }
            }
        });
        self.start_launch(launch_key, launch, now);
        Ok(())
    }

    /// How many executors may be starting at once (forked and not yet subscribed). Launching
    /// ten thousand at once on a small machine only makes them all slow (and runs out of file
    /// descriptors); the rest wait in order, their registration timeout not yet running.
    fn launch_slots() -> usize {
        const PER_CORE: usize = 256;
        std::thread::available_parallelism().map_or(1, usize::from) * PER_CORE
    }

    fn start_launch(&mut self, key: RunKey, launch: PendingLaunch, now: Instant) {
        if self.launches_in_flight >= self.launch_slots {
            self.launch_queue.push_back((key, launch));
        } else {
            self.begin_launch(key, launch, now);
        }
    }

    fn begin_launch(&mut self, key: RunKey, launch: PendingLaunch, now: Instant) {
        let timeout = self.flags.executor_registration_timeout.get();
        let stopping = self.stopping.is_some();
        let Some(e) = self.executor_mut(&key) else {
            return;
        };
        if stopping || e.state != ExecutorState::Registering {
            // Killed or shut down while it waited: it never runs.
            self.executor_exited(&key, None, now);
            return;
        }
        e.launching = true;
        e.registration_deadline = Some(now + timeout);
        self.launches_in_flight += 1;
        tokio::spawn(launch);
    }

    /// The executor subscribed or ended: its launch slot goes to the next waiting launch.
    fn release_launch(&mut self, key: &RunKey, now: Instant) {
        if let Some(e) = self.executor_mut(key)
            && e.launching
        {
            e.launching = false;
            self.launches_in_flight = self.launches_in_flight.saturating_sub(1);
        }
        while self.launches_in_flight < self.launch_slots {
            let Some((key, launch)) = self.launch_queue.pop_front() else {
                break;
            };
            self.begin_launch(key, launch, now);
        }
    }

    fn executor_mut(&mut self, key: &RunKey) -> Option<&mut Executor> {
        self.frameworks
            .get_mut(&key.framework_id)?
            .executors
            .get_mut(&key.executor_id)
            .filter(|e| e.key.container_id == key.container_id)
    }

    fn launched(&mut self, key: &RunKey, result: Result<u32, String>) {
        let isolator = self.isolator.clone();
        match result {
            Ok(pid) => {
                let Some(e) = self.executor_mut(key) else {
                    return;
                };
                let pid = i32::try_from(pid).unwrap_or(0);
                e.pid = Some(pid);
                if let Err(err) =
                    isolator.isolate(&key.container_id, u32::try_from(pid).unwrap_or(0))
                {
                    tracing::error!("isolator failed for {}: {err}", key.container_id);
                }
                // A kill decided before the pid was known.
                if e.state == ExecutorState::Terminating && e.conn.is_none() {
                    launcher::destroy(pid);
                }
            }
            Err(message) => {
                self.metrics.container_launch_errors += 1;
                if let Some(e) = self.executor_mut(key) {
                    e.pending_termination = Some(Termination {
                        state: TaskState::TaskFailed,
                        reason: Reason::ContainerLaunchFailed,
                        message,
                    });
                }
                self.executor_exited(key, None, Instant::now());
            }
        }
    }

    // ---- executor API -----------------------------------------------------------------------

    /// SUBSCRIBE: binds the stream, sends SUBSCRIBED and whatever was queued.
    pub(crate) fn executor_subscribe(
        &mut self,
        fid: &str,
        eid: &str,
        subscribe: mesos_core::proto::v1::executor::call::Subscribe,
        conn: ExecutorConn,
        now: Instant,
    ) -> Result<(), (u16, String)> {
        let aid = self.aid();
        let agent_info = self.agent_info();
        let Some(fw) = self.frameworks.get_mut(fid) else {
            return Err((400, format!("Framework '{fid}' is not known to this agent")));
        };
        let framework_info = fw.info.clone();
        let Some(e) = fw.executors.get_mut(eid) else {
            return Err((
                400,
                format!("Executor '{eid}' of framework '{fid}' is not known to this agent"),
            ));
        };
        if matches!(
            e.state,
            ExecutorState::Terminating | ExecutorState::Terminated
        ) {
            return Err((400, format!("Executor '{eid}' is terminating")));
        }
        e.state = ExecutorState::Running;
        e.registration_deadline = None;
        e.conn = Some(conn.clone());
        e.last_heartbeat = now;
        conn.send(&ExecutorEvent {
            r#type: Some(ev::Type::Subscribed as i32),
            subscribed: Some(ev::Subscribed {
                executor_info: e.info.clone(),
                framework_info,
                agent_info,
                container_id: Some(ContainerId {
                    value: e.key.container_id.clone(),
                    parent: None,
                }),
            }),
            ..Default::default()
        });
        // Tasks the executor knows and the agent does not (it may have missed the launch).
        let executor_id = (!e.command_executor).then(|| eid.to_string());
        for t in subscribe.unacknowledged_tasks {
            if !e.has_task(&t.task_id.value) {
                e.launched.insert(
                    t.task_id.value.clone(),
                    new_task(&t, fid, executor_id.as_deref(), &aid),
                );
            }
        }
        for t in std::mem::take(&mut e.queued) {
            e.launched.insert(
                t.task_id.value.clone(),
                new_task(&t, fid, executor_id.as_deref(), &aid),
            );
            conn.send(&launch_event(t));
        }
        for g in std::mem::take(&mut e.queued_groups) {
            for t in &g.tasks {
                e.launched.insert(
                    t.task_id.value.clone(),
                    new_task(t, fid, executor_id.as_deref(), &aid),
                );
            }
            conn.send(&launch_group_event(g.tasks));
        }
        // Updates the executor sent that the agent never saw (lost in a restart).
        for u in subscribe.unacknowledged_updates {
            let status = u.status;
            let known = self
                .updates
                .pending(fid, &status.task_id.value)
                .iter()
                .any(|p| p.uuid == status.uuid);
            let done = self
                .frameworks
                .get(fid)
                .and_then(|f| f.executors.get(eid))
                .is_some_and(|e| {
                    e.completed.iter().any(|t| t.task_id == status.task_id)
                        || e.task_state(&status.task_id.value)
                            .is_some_and(|s| s == status.state)
                });
            if !known && !done {
                self.status_update(fid, Some(eid), status, now);
            }
        }
        self.check_recovery_done(now);
        let key = self
            .frameworks
            .get(fid)
            .and_then(|f| f.executors.get(eid))
            .map(|e| e.key.clone());
        if let Some(key) = key {
            self.release_launch(&key, now);
        }
        Ok(())
    }

    /// UPDATE from an executor (already validated).
    pub(crate) fn executor_update(
        &mut self,
        fid: &str,
        eid: &str,
        mut status: TaskStatus,
        now: Instant,
    ) {
        status.agent_id = Some(AgentId { value: self.aid() });
        status.executor_id = Some(ExecutorId {
            value: eid.to_string(),
        });
        if status.timestamp.is_none() {
            status.timestamp = Some(now_secs());
        }
        self.metrics.valid_status_updates += 1;
        self.status_update(fid, Some(eid), status, now);
    }

    /// MESSAGE from an executor.
    pub(crate) fn executor_message(&mut self, fid: &str, eid: &str, data: Vec<u8>) {
        self.send_master(AgentMessage {
            r#type: Some(AgentType::ExecutorMessage as i32),
            executor_message: Some(ExecutorToFramework {
                framework_id: mesos_core::proto::v1::FrameworkId {
                    value: fid.to_string(),
                },
                executor_id: ExecutorId {
                    value: eid.to_string(),
                },
                data,
            }),
            ..Default::default()
        });
    }

    /// Checks that a non-SUBSCRIBE call comes from a known, subscribed executor.
    pub(crate) fn executor_call_allowed(&self, fid: &str, eid: &str) -> Result<(), (u16, String)> {
        let Some(fw) = self.frameworks.get(fid) else {
            return Err((400, format!("Framework '{fid}' is not known to this agent")));
        };
        let Some(e) = fw.executors.get(eid) else {
            return Err((
                400,
                format!("Executor '{eid}' of framework '{fid}' is not known to this agent"),
            ));
        };
        if e.conn.is_none() || e.state == ExecutorState::Registering {
            return Err((403, "Executor is not subscribed".to_string()));
        }
        Ok(())
    }

    // ---- status updates ---------------------------------------------------------------------

    fn agent_status(
        &self,
        task_id: &TaskId,
        executor_id: Option<&str>,
        state: TaskState,
        reason: Reason,
        message: String,
    ) -> TaskStatus {
        TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            message: Some(message),
            source: Some(Source::Agent as i32),
            reason: Some(reason as i32),
            agent_id: Some(AgentId { value: self.aid() }),
            executor_id: executor_id.map(|e| ExecutorId {
                value: e.to_string(),
            }),
            timestamp: Some(now_secs()),
            uuid: Some(new_uuid()),
            ..Default::default()
        }
    }

    fn count_state(&mut self, state: i32) {
        let m = &mut self.metrics;
        match TaskState::try_from(state) {
            Ok(TaskState::TaskFinished) => m.tasks_finished += 1,
            Ok(TaskState::TaskFailed) => m.tasks_failed += 1,
            Ok(TaskState::TaskKilled) => m.tasks_killed += 1,
            Ok(TaskState::TaskLost) => m.tasks_lost += 1,
            Ok(TaskState::TaskGone | TaskState::TaskGoneByOperator) => m.tasks_gone += 1,
            Ok(TaskState::TaskDropped) => m.tasks_dropped += 1,
            Ok(TaskState::TaskError) => m.tasks_error += 1,
            _ => {}
        }
    }

    /// Records an update (from an executor or the agent) and queues it for the master.
    fn status_update(&mut self, fid: &str, eid: Option<&str>, status: TaskStatus, now: Instant) {
        let aid = self.aid();
        let task_id = status.task_id.value.clone();
        let mut log_path = None;
        let mut newly_terminal = false;
        if let Some(fw) = self.frameworks.get_mut(fid) {
            let checkpoint = fw.checkpoint();
            let executor = match eid {
                Some(eid) => fw.executors.get_mut(eid),
                None => fw.executor_with_task_mut(None, &task_id),
            };
            if let Some(e) = executor {
                let before = e.task_state(&task_id);
                e.apply_update(&status);
                newly_terminal =
                    is_terminal(status.state) && before.is_some_and(|s| !is_terminal(s));
                if checkpoint && e.has_task(&task_id) {
                    log_path = Some(self.layout.task_updates(&aid, &e.key, &task_id));
                }
            }
        }
        if newly_terminal {
            self.count_state(status.state);
        }
        if let Some(path) = &log_path
            && let Err(e) = self.log.append(path, &LogRecord::Update(status.clone()))
        {
            tracing::error!("cannot checkpoint status update of task {task_id}: {e}");
        }
        match self.updates.add(fid, eid, status, now) {
            Ok(Some(forward)) => {
                let msg = self.status_message(&forward);
                self.deferred.push(Deferred::Update(msg));
            }
            Ok(None) => {}
            Err(e) => {
                self.metrics.invalid_status_updates += 1;
                tracing::warn!("dropping status update: {e}");
            }
        }
    }

    fn status_message(&self, f: &Forward) -> AgentMessage {
        let latest_state = self
            .frameworks
            .get(&f.framework_id)
            .and_then(|fw| {
                let task_id = &f.status.task_id.value;
                let eid = fw.executor_id_with_task(f.executor_id.as_deref(), task_id)?;
                fw.executors.get(eid)?.task_state(task_id)
            })
            .and_then(|s| TaskState::try_from(s).ok())
            .map(|s| s as i32);
        AgentMessage {
            r#type: Some(AgentType::StatusUpdate as i32),
            status_update: Some(StatusUpdate {
                framework_id: mesos_core::proto::v1::FrameworkId {
                    value: f.framework_id.clone(),
                },
                executor_id: f.executor_id.clone().map(|value| ExecutorId { value }),
                status: f.status.clone(),
                latest_state,
            }),
            ..Default::default()
        }
    }

    fn acknowledge(&mut self, fid: &str, tid: &str, uuid: &[u8], now: Instant) {
        let acked = match self.updates.acknowledge(fid, tid, uuid, now) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("ignoring acknowledgement: {e}");
                return;
            }
        };
        let aid = self.aid();
        let mut exec_key = None;
        if let Some(fw) = self.frameworks.get_mut(fid) {
            let checkpoint = fw.checkpoint();
            if let Some(e) = fw.executor_with_task_mut(acked.executor_id.as_deref(), tid) {
                exec_key = Some(e.key.clone());
                let path = self.layout.task_updates(&aid, &e.key, tid);
                if checkpoint
                    && let Err(err) = self.log.append(&path, &LogRecord::Ack(uuid.to_vec()))
                {
                    tracing::error!("cannot checkpoint acknowledgement of task {tid}: {err}");
                }
                if acked.terminal
                    && let Some(task) = e.terminated.remove(tid)
                {
                    e.completed.push_back(task);
                    while e.completed.len() > MAX_COMPLETED_TASKS {
                        e.completed.pop_front();
                    }
                }
                if acked.terminal {
                    self.log.close(&path);
                }
            }
        }
        if let Some(key) = &exec_key
            && acked.status.source == Some(Source::Executor as i32)
        {
            self.deferred.push(Deferred::Executor(
                key.clone(),
                ExecutorEvent {
                    r#type: Some(ev::Type::Acknowledged as i32),
                    acknowledged: Some(ev::Acknowledged {
                        task_id: TaskId {
                            value: tid.to_string(),
                        },
                        uuid: uuid.to_vec(),
                    }),
                    ..Default::default()
                },
            ));
        }
        if let Some(next) = acked.next {
            let msg = self.status_message(&next);
            self.deferred.push(Deferred::Update(msg));
        }
        if let Some(key) = exec_key {
            self.maybe_complete_executor(&key, now);
        } else {
            self.updates.cleanup(fid, tid);
        }
    }

    /// Ends a burst of events: what it wants sent goes out once the status updates it
    /// checkpointed are durable (at once when there are none and nothing older is waiting).
    pub(crate) fn flush(&mut self) {
        let generation = if self.log.take_unsynced() {
            self.syncer.request()
        } else {
            self.outbox.back().map_or(0, |(g, _)| *g)
        };
        self.outbox.extend(
            std::mem::take(&mut self.deferred)
                .into_iter()
                .map(|d| (generation, d)),
        );
        self.deliver();
    }

    /// Checkpoints up to `generation` are durable.
    pub(crate) fn synced(&mut self, generation: u64) {
        self.durable = self.durable.max(generation);
        self.deliver();
    }

    fn deliver(&mut self) {
        while self.outbox.front().is_some_and(|(g, _)| *g <= self.durable) {
            let (_, d) = self.outbox.pop_front().expect("checked");
            match d {
                Deferred::Update(msg) => {
                    if self.registered {
                        self.send_link(msg);
                    }
                }
                Deferred::Link(msg) => self.send_link(msg),
                Deferred::Executor(key, event) => {
                    if let Some(e) = self.executor_mut(&key)
                        && let Some(conn) = &e.conn
                        && !conn.send(&event)
                    {
                        e.conn = None;
                    }
                }
            }
        }
    }

    // ---- kills and shutdowns ----------------------------------------------------------------

    fn kill_task(
        &mut self,
        fid: &str,
        tid: &str,
        policy: Option<mesos_core::proto::v1::KillPolicy>,
        now: Instant,
    ) {
        let aid = self.aid();
        let Some(fw) = self.frameworks.get_mut(fid) else {
            tracing::warn!("ignoring kill of task {tid}: framework {fid} is unknown");
            return;
        };
        let Some(eid) = fw.executor_of_task(tid).map(str::to_string) else {
            let task_id = TaskId {
                value: tid.to_string(),
            };
            let state = if fw.partition_aware() {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            };
            let status = self.agent_status(
                &task_id,
                None,
                state,
                Reason::ExecutorTerminated,
                "Cannot find executor".into(),
            );
            self.status_update(fid, None, status, now);
            return;
        };
        let e = fw.executors.get_mut(&eid).expect("found above");
        let queued = e.queued.iter().position(|t| t.task_id.value == tid);
        let group = e
            .queued_groups
            .iter()
            .position(|g| g.tasks.iter().any(|t| t.task_id.value == tid));
        if queued.is_some() || group.is_some() {
            let mut killed = Vec::new();
            if let Some(i) = queued {
                killed.push(e.queued.remove(i));
            }
            if let Some(i) = group {
                killed.extend(e.queued_groups.remove(i).tasks);
            }
            let key = e.key.clone();
            let executor_id = (!e.command_executor).then(|| eid.clone());
            for t in &killed {
                // Keep the task visible until its terminal update is acknowledged.
                e.launched.insert(
                    t.task_id.value.clone(),
                    new_task(t, fid, executor_id.as_deref(), &aid),
                );
            }
            let empty = e.queued.is_empty()
                && e.queued_groups.is_empty()
                && e.launched.len() == killed.len();
            for t in killed {
                let status = self.agent_status(
                    &t.task_id,
                    Some(&eid),
                    TaskState::TaskKilled,
                    Reason::TaskKilledDuringLaunch,
                    "Killed before delivery to the executor".into(),
                );
                self.status_update(fid, Some(&eid), status, now);
            }
            if empty {
                self.shutdown_executor_key(&key, now);
            }
            return;
        }
        if e.launched.contains_key(tid) {
            match &e.conn {
                Some(conn) => {
                    conn.send(&ExecutorEvent {
                        r#type: Some(ev::Type::Kill as i32),
                        kill: Some(ev::Kill {
                            task_id: TaskId {
                                value: tid.to_string(),
                            },
                            kill_policy: policy,
                        }),
                        ..Default::default()
                    });
                }
                None => {
                    tracing::warn!("cannot kill task {tid} now: executor {eid} is not connected");
                }
            }
        }
    }

    fn framework_message(&mut self, fid: &str, eid: &str, data: Vec<u8>) {
        let conn = self
            .frameworks
            .get(fid)
            .and_then(|f| f.executors.get(eid))
            .and_then(|e| e.conn.clone());
        match conn {
            Some(conn) => {
                self.metrics.valid_framework_messages += 1;
                conn.send(&ExecutorEvent {
                    r#type: Some(ev::Type::Message as i32),
                    message: Some(ev::Message { data }),
                    ..Default::default()
                });
            }
            None => {
                self.metrics.invalid_framework_messages += 1;
                tracing::warn!("dropping framework message for executor {eid}: not connected");
            }
        }
    }

    fn update_framework(&mut self, info: FrameworkInfo) {
        let Some(fid) = info.id.as_ref().map(|i| i.value.clone()) else {
            return;
        };
        if self.frameworks.contains_key(&fid) {
            self.ensure_framework(&info);
        }
    }

    fn shutdown_framework(&mut self, fid: &str, now: Instant) {
        let keys: Vec<RunKey> = self
            .frameworks
            .get(fid)
            .map(|f| f.executors.values().map(|e| e.key.clone()).collect())
            .unwrap_or_default();
        for key in keys {
            self.shutdown_executor_key(&key, now);
        }
    }

    fn shutdown_executor(&mut self, fid: &str, eid: &str, now: Instant) {
        let key = self
            .frameworks
            .get(fid)
            .and_then(|f| f.executors.get(eid))
            .map(|e| e.key.clone());
        if let Some(key) = key {
            self.shutdown_executor_key(&key, now);
        }
    }

    fn shutdown_executor_key(&mut self, key: &RunKey, now: Instant) {
        let grace = {
            let flags = self.flags.clone();
            let Some(e) = self.executor_mut(key) else {
                return;
            };
            grace_period(&e.info, &flags)
        };
        let Some(e) = self.executor_mut(key) else {
            return;
        };
        match e.state {
            ExecutorState::Terminated => {}
            ExecutorState::Terminating => {}
            ExecutorState::Registering => {
                e.state = ExecutorState::Terminating;
                if let Some(pid) = e.pid {
                    launcher::destroy(pid);
                }
                e.kill_deadline = Some(now + grace);
            }
            ExecutorState::Running => {
                e.state = ExecutorState::Terminating;
                let sent = e.conn.as_ref().is_some_and(|c| {
                    c.send(&ExecutorEvent {
                        r#type: Some(ev::Type::Shutdown as i32),
                        ..Default::default()
                    })
                });
                if !sent && let Some(pid) = e.pid {
                    launcher::terminate(pid);
                }
                e.kill_deadline = Some(now + grace);
            }
        }
    }

    fn shutdown_all(&mut self, now: Instant) {
        let keys: Vec<RunKey> = self
            .frameworks
            .values()
            .flat_map(|f| f.executors.values().map(|e| e.key.clone()))
            .collect();
        for key in keys {
            self.shutdown_executor_key(&key, now);
        }
    }

    /// An executor's process ended.
    fn executor_exited(&mut self, key: &RunKey, status: Option<i32>, now: Instant) {
        self.release_launch(key, now);
        let aid = self.aid();
        let isolator = self.isolator.clone();
        let Some(e) = self.executor_mut(key) else {
            return;
        };
        if e.state == ExecutorState::Terminated {
            return;
        }
        tracing::info!(
            "executor {} of framework {} exited with status {:?}",
            key.executor_id,
            key.framework_id,
            status
        );
        e.state = ExecutorState::Terminated;
        e.exit_status = status;
        e.conn = None;
        e.registration_deadline = None;
        e.kill_deadline = None;
        if let Some(pid) = e.pid {
            // Leftover processes of its group go with it.
            launcher::destroy(pid);
        }
        let termination = e.pending_termination.clone().unwrap_or(Termination {
            state: TaskState::TaskFailed,
            reason: Reason::ExecutorTerminated,
            message: "Executor terminated".into(),
        });
        let mut ids: Vec<TaskId> = e.launched.values().map(|t| t.task_id.clone()).collect();
        ids.extend(e.queued.drain(..).map(|t| {
            let id = t.task_id.clone();
            e.launched.insert(
                id.value.clone(),
                new_task(&t, &key.framework_id, None, &aid),
            );
            id
        }));
        let groups: Vec<TaskGroupInfo> = e.queued_groups.drain(..).collect();
        for g in groups {
            for t in g.tasks {
                ids.push(t.task_id.clone());
                e.launched.insert(
                    t.task_id.value.clone(),
                    new_task(&t, &key.framework_id, Some(&key.executor_id), &aid),
                );
            }
        }
        isolator.cleanup(&key.container_id);
        self.metrics.executors_terminated += 1;
        for id in ids {
            let status = self.agent_status(
                &id,
                Some(&key.executor_id),
                termination.state,
                termination.reason,
                termination.message.clone(),
            );
            self.status_update(&key.framework_id, Some(&key.executor_id), status, now);
        }
        self.send_master(AgentMessage {
            r#type: Some(AgentType::ExecutorExited as i32),
            executor_exited: Some(ExecutorExited {
                framework_id: mesos_core::proto::v1::FrameworkId {
                    value: key.framework_id.clone(),
                },
                executor_id: ExecutorId {
                    value: key.executor_id.clone(),
                },
                status,
            }),
            ..Default::default()
        });
        self.maybe_complete_executor(key, now);
        self.check_recovery_done(now);
    }

    /// Moves a terminated executor whose updates are all acknowledged to the completed list.
    fn maybe_complete_executor(&mut self, key: &RunKey, now: Instant) {
        let aid = self.aid();
        let done = {
            let Some(e) = self
                .frameworks
                .get(&key.framework_id)
                .and_then(|f| f.executors.get(&key.executor_id))
                .filter(|e| e.key.container_id == key.container_id)
            else {
                return;
            };
            if e.state != ExecutorState::Terminated || !e.launched.is_empty() {
                return;
            }
            !e.terminated
                .keys()
                .any(|tid| self.updates.has_pending(&key.framework_id, tid))
        };
        if !done {
            return;
        }
        let fw = self
            .frameworks
            .get_mut(&key.framework_id)
            .expect("found above");
        let mut e = fw.executors.remove(&key.executor_id).expect("found above");
        for (tid, task) in std::mem::take(&mut e.terminated) {
            self.updates.cleanup(&key.framework_id, &tid);
            e.completed.push_back(task);
        }
        let layout = if fw.checkpoint() {
            &self.layout
        } else {
            &self.volatile
        };
        // Durable with the next group sync when the framework checkpoints.
        if checkpoint::write_replacing(
            &layout.run_completed(&aid, key),
            b"",
            checkpoint::Durability::Unsynced,
        )
        .is_ok()
            && fw.checkpoint()
        {
            self.syncer.request();
        }
        for path in [e.directory.clone(), layout.run_meta(&aid, key)] {
            self.gc.push(crate::gc::Scheduled { ended: now, path });
        }
        fw.completed_executors.push_back(e);
        while fw.completed_executors.len() > self.flags.max_completed_executors_per_framework {
            fw.completed_executors.pop_front();
        }
        if fw.executors.is_empty() {
            let fw = self.frameworks.remove(&key.framework_id).expect("present");
            self.completed_frameworks.push_back(fw);
            while self.completed_frameworks.len() > MAX_COMPLETED_FRAMEWORKS {
                self.completed_frameworks.pop_front();
            }
        }
    }

    // ---- timers -----------------------------------------------------------------------------

    /// Periodic work: retries, timeouts, heartbeats, liveness of adopted executors, GC.
    pub(crate) fn tick(&mut self, now: Instant) {
        if self.registered {
            for f in self.updates.due(now) {
                let msg = self.status_message(&f);
                self.send_master(msg);
            }
        }
        let heartbeat = self.flags.http_heartbeat_interval.get();
        let reregistration = self.flags.executor_reregistration_timeout;
        let registration = self.flags.executor_registration_timeout;
        let mut exited = Vec::new();
        for fw in self.frameworks.values_mut() {
            let partition_aware = fw.partition_aware();
            for e in fw.executors.values_mut() {
                if e.registration_deadline.is_some_and(|d| d <= now)
                    && e.state == ExecutorState::Registering
                {
                    e.registration_deadline = None;
                    e.state = ExecutorState::Terminating;
                    e.pending_termination = Some(if e.adopted {
                        Termination {
                            state: if partition_aware {
                                TaskState::TaskGone
                            } else {
                                TaskState::TaskLost
                            },
                            reason: Reason::ExecutorReregistrationTimeout,
                            message: format!("Executor did not reregister within {reregistration}"),
                        }
                    } else {
                        Termination {
                            state: TaskState::TaskFailed,
                            reason: Reason::ExecutorRegistrationTimeout,
                            message: format!("Executor did not register within {registration}"),
                        }
                    });
                    match e.pid {
                        Some(pid) => {
                            launcher::destroy(pid);
                            if e.adopted {
                                exited.push(e.key.clone());
                            }
                        }
                        None => exited.push(e.key.clone()),
                    }
                }
                if e.kill_deadline.is_some_and(|d| d <= now) {
                    e.kill_deadline = None;
                    match e.pid {
                        Some(pid) => launcher::destroy(pid),
                        None => exited.push(e.key.clone()),
                    }
                }
                if e.adopted
                    && e.state != ExecutorState::Terminated
                    && !e.pid.is_some_and(launcher::is_alive)
                {
                    exited.push(e.key.clone());
                }
                if let Some(conn) = &e.conn
                    && now.duration_since(e.last_heartbeat) >= heartbeat
                {
                    e.last_heartbeat = now;
                    if !conn.send(&ExecutorEvent {
                        r#type: Some(ev::Type::Heartbeat as i32),
                        ..Default::default()
                    }) {
                        e.conn = None;
                    }
                }
            }
        }
        exited.dedup();
        for key in exited {
            self.executor_exited(&key, None, now);
        }
        self.check_recovery_done(now);
        self.collect_garbage(now);
        if let Some((deadline, _)) = &self.stopping {
            let all_gone = self.frameworks.values().all(|f| {
                f.executors
                    .values()
                    .all(|e| e.state == ExecutorState::Terminated)
            });
            if all_gone || *deadline <= now {
                for f in self.frameworks.values() {
                    for e in f.executors.values() {
                        if let Some(pid) = e.pid
                            && e.state != ExecutorState::Terminated
                        {
                            launcher::destroy(pid);
                        }
                    }
                }
                if let Some((_, done)) = self.stopping.take() {
                    let _ = done.send(());
                }
                self.stopped = true;
            }
        }
    }

    /// Deletes finished sandboxes older than `--gc_delay`, or than the shorter age the disk
    /// usage allows (checked every `--disk_watch_interval`).
    fn collect_garbage(&mut self, now: Instant) {
        let gc_delay = self.flags.gc_delay.get();
        let mut max_age = gc_delay;
        if self.next_disk_check.is_none_or(|at| at <= now) {
            self.next_disk_check = Some(now + self.flags.disk_watch_interval.get());
            match crate::gc::disk_usage(self.layout.root()) {
                Ok(usage) => {
                    max_age =
                        crate::gc::max_allowed_age(gc_delay, self.flags.gc_disk_headroom, usage);
                    if max_age < gc_delay {
                        tracing::info!(
                            "disk {:.0}% full: removing sandboxes older than {:?}",
                            usage * 100.0,
                            max_age
                        );
                    }
                }
                Err(e) => tracing::warn!("cannot read disk usage of the work_dir: {e}"),
            }
        }
        let (due, keep) = crate::gc::due(std::mem::take(&mut self.gc), now, max_age);
        self.gc = keep;
        for entry in due {
            tracing::info!("garbage collecting {}", entry.path.display());
            let _ = std::fs::remove_dir_all(&entry.path);
        }
    }

    /// Ends the recovery window once every adopted executor re-subscribed or gave up.
    pub(crate) fn check_recovery_done(&mut self, now: Instant) {
        let Some(deadline) = self.recovery_deadline else {
            return;
        };
        let waiting = self.frameworks.values().any(|f| {
            f.executors
                .values()
                .any(|e| e.adopted && e.state == ExecutorState::Registering)
        });
        if !waiting || deadline <= now {
            self.recovery_deadline = None;
        }
    }

    // ---- recovery ---------------------------------------------------------------------------

    /// Rebuilds state from checkpoints (`--recover=reconnect`).
    pub(crate) fn recover(&mut self, recovered: checkpoint::RecoveredAgent, now: Instant) {
        let aid = recovered.agent_id.clone();
        self.agent_id = Some(aid.clone());
        let reregistration = self.flags.executor_reregistration_timeout.get();
        let mut waiting = false;
        let mut dead = Vec::new();
        for (fid, rf) in recovered.frameworks {
            let mut fw = Framework::new(rf.info);
            let checkpoint = fw.checkpoint();
            for (eid, re) in rf.executors {
                let Some(run) = re.run else { continue };
                if run.completed {
                    continue;
                }
                let key = RunKey {
                    framework_id: fid.clone(),
                    executor_id: eid.clone(),
                    container_id: run.container_id.clone(),
                };
                let alive = run.pid.is_some_and(launcher::is_alive);
                if !checkpoint {
                    if let Some(pid) = run.pid.filter(|_| alive) {
                        tracing::info!(
                            "killing executor {eid} of non-checkpointing framework {fid}"
                        );
                        launcher::destroy(pid);
                    }
                    let _ = checkpoint::write_replacing(
                        &self.volatile.run_completed(&aid, &key),
                        b"",
                        checkpoint::Durability::Unsynced,
                    );
                    continue;
                }
                let command = re
                    .info
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("Command Executor"));
                let mut e = Executor {
                    directory: self.layout.sandbox(&aid, &key),
                    info: re.info,
                    key: key.clone(),
                    state: ExecutorState::Registering,
                    pid: run.pid,
                    command_executor: command,
                    adopted: true,
                    conn: None,
                    queued: Vec::new(),
                    queued_groups: Vec::new(),
                    launched: BTreeMap::new(),
                    terminated: BTreeMap::new(),
                    completed: VecDeque::new(),
                    registration_deadline: Some(now + reregistration),
                    kill_deadline: None,
                    pending_termination: None,
                    exit_status: None,
                    last_heartbeat: now,
                    launching: false,
                };
                for (tid, rt) in run.tasks {
                    let Some(mut task) = rt.task.clone() else {
                        continue;
                    };
                    let unacked = rt.unacked();
                    let terminal_acked = rt.terminal_acked();
                    if let Some(state) = rt.latest_state() {
                        task.state = state;
                    }
                    task.statuses = rt.updates.iter().rev().take(10).rev().cloned().collect();
                    self.updates
                        .recover(&fid, Some(&eid), &tid, unacked, terminal_acked);
                    if terminal_acked {
                        e.completed.push_back(task);
                    } else if is_terminal(task.state) {
                        e.terminated.insert(tid, task);
                    } else {
                        e.launched.insert(tid, task);
                    }
                }
                if alive {
                    waiting = true;
                } else {
                    dead.push(key.clone());
                }
                fw.executors.insert(eid, e);
            }
            if !fw.executors.is_empty() {
                self.frameworks.insert(fid, fw);
            }
        }
        for key in dead {
            if let Some(e) = self.executor_mut(&key) {
                e.pending_termination = Some(Termination {
                    state: TaskState::TaskFailed,
                    reason: Reason::ExecutorTerminated,
                    message: "Executor terminated while the agent was down".into(),
                });
            }
            self.executor_exited(&key, None, now);
        }
        if waiting {
            self.recovery_deadline = Some(now + reregistration);
        }
    }
}

impl Executor {
    /// The current state of a task this executor runs (queued tasks are STAGING).
    pub(crate) fn task_state(&self, task_id: &str) -> Option<i32> {
        if let Some(t) = self
            .launched
            .get(task_id)
            .or_else(|| self.terminated.get(task_id))
        {
            return Some(t.state);
        }
        self.has_task(task_id)
            .then_some(TaskState::TaskStaging as i32)
    }
}

fn launch_event(task: TaskInfo) -> ExecutorEvent {
    ExecutorEvent {
        r#type: Some(ev::Type::Launch as i32),
        launch: Some(ev::Launch { task }),
        ..Default::default()
    }
}

fn launch_group_event(tasks: Vec<TaskInfo>) -> ExecutorEvent {
    ExecutorEvent {
        r#type: Some(ev::Type::LaunchGroup as i32),
        launch_group: Some(ev::LaunchGroup {
            task_group: TaskGroupInfo { tasks },
        }),
        ..Default::default()
    }
}

fn append_stderr(sandbox: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(sandbox.join("stderr"))?;
    f.write_all(text.as_bytes())
}
