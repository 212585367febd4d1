//! The engine shared by the command executor and the default executor: one actor task owns
//! every task's state; the [`Executor`] callbacks, process waiters, kill timers and health
//! checkers send it messages.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use async_trait::async_trait;
use mesos_core::proto::v1 as pb;
use mesos_executor_sdk::{Config, Executor, ExecutorDriver, ExecutorError, Subscribed};
use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::health;
use crate::process::{self, Output, ProcessTree};

/// The grace period between SIGTERM and SIGKILL when neither the KILL event nor the task has a
/// kill policy (Mesos's command executor default).
pub(crate) const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);

/// How long to wait for the acknowledgement of the last terminal update before exiting.
pub(crate) const ACK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One task from LAUNCH; its output is the executor's own.
    Command,
    /// Task groups from LAUNCH_GROUP; each task gets `<sandbox>/tasks/<task_id>`.
    Default,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) mode: Mode,
    /// Also kill every descendant of the executor process when a task ends (only right when
    /// the executor is alone in its process and a child subreaper, as in the binaries).
    pub(crate) kill_own_descendants: bool,
}

/// Runs the executor described by `options` until it is done.
pub(crate) async fn run(config: Config, options: Options) -> Result<(), ExecutorError> {
    let driver = ExecutorDriver::new(config)?;
    let executor = TaskExecutor::new(driver.clone(), options);
    driver.run(executor).await
}

enum Msg {
    Subscribed(Box<Subscribed>),
    Launch(Vec<pb::TaskInfo>, bool),
    Kill(pb::TaskId, Option<pb::KillPolicy>),
    Shutdown(oneshot::Sender<()>),
    Exited(String, std::io::Result<ExitStatus>),
    Escalate(String, u64),
    Health(String, health::Report),
    /// The task's `max_completion_time` passed.
    Deadline(String),
    Finished,
}

/// The [`Executor`] half: forwards events to the actor.
pub(crate) struct TaskExecutor {
    sender: mpsc::UnboundedSender<Msg>,
}

impl TaskExecutor {
    pub(crate) fn new(driver: ExecutorDriver, options: Options) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let actor = Actor {
            sandbox: driver.config().sandbox.clone(),
            shutdown_grace: driver.config().shutdown_grace_period,
            driver,
            options,
            sender: sender.clone(),
            killing_capability: false,
            tasks: BTreeMap::new(),
            launched_any: false,
            shutting_down: false,
            finishing: false,
            shutdown_waiters: Vec::new(),
        };
        tokio::spawn(actor.run(receiver));
        Self { sender }
    }

    fn send(&self, msg: Msg) {
        if self.sender.send(msg).is_err() {
            tracing::error!("the executor's task actor is gone");
        }
    }
}

#[async_trait]
impl Executor for TaskExecutor {
    async fn subscribed(&mut self, _: &ExecutorDriver, info: Subscribed) {
        self.send(Msg::Subscribed(Box::new(info)));
    }

    async fn launch(&mut self, _: &ExecutorDriver, task: pb::TaskInfo) {
        self.send(Msg::Launch(vec![task], false));
    }

    async fn launch_group(&mut self, _: &ExecutorDriver, group: pb::TaskGroupInfo) {
        self.send(Msg::Launch(group.tasks, true));
    }

    async fn kill(
        &mut self,
        _: &ExecutorDriver,
        task_id: pb::TaskId,
        kill_policy: Option<pb::KillPolicy>,
    ) {
        self.send(Msg::Kill(task_id, kill_policy));
    }

    async fn shutdown(&mut self, driver: &ExecutorDriver) {
        let (reply, done) = oneshot::channel();
        self.send(Msg::Shutdown(reply));
        // The agent kills the executor after its shutdown grace period anyway; do not outlive
        // that by much if the actor is stuck.
        let limit = driver.config().shutdown_grace_period + ACK_TIMEOUT + Duration::from_secs(5);
        let _ = tokio::time::timeout(limit, done).await;
    }
}

struct KillState {
    generation: u64,
    deadline: Instant,
}

struct Task {
    info: pb::TaskInfo,
    /// Index of the LAUNCH or LAUNCH_GROUP that brought the task.
    group: usize,
    /// The process group leader, once started.
    pid: Option<i32>,
    tree: ProcessTree,
    terminal: bool,
    kill: Option<KillState>,
    health: Option<tokio::task::JoinHandle<()>>,
    healthy: Option<bool>,
    killed_by_health_check: bool,
    /// Killed for running past its `max_completion_time`.
    timed_out: bool,
}

impl Task {
    fn stop_health_check(&mut self) {
        if let Some(checker) = self.health.take() {
            checker.abort();
        }
    }
}

struct Actor {
    driver: ExecutorDriver,
    options: Options,
    sandbox: PathBuf,
    shutdown_grace: Duration,
    sender: mpsc::UnboundedSender<Msg>,
    killing_capability: bool,
    tasks: BTreeMap<String, Task>,
    launched_any: bool,
    shutting_down: bool,
    finishing: bool,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
}

fn grace_of(policy: Option<&pb::KillPolicy>) -> Option<Duration> {
    let nanoseconds = policy?.grace_period?.nanoseconds;
    Some(Duration::from_nanos(
        u64::try_from(nanoseconds).unwrap_or(0),
    ))
}

fn status(task_id: &pb::TaskId, state: pb::TaskState, message: Option<String>) -> pb::TaskStatus {
    pb::TaskStatus {
        task_id: task_id.clone(),
        state: state as i32,
        message,
        ..pb::TaskStatus::default()
    }
}

impl Actor {
    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Msg>) {
        let mut groups = 0usize;
        while let Some(msg) = receiver.recv().await {
            match msg {
                Msg::Subscribed(info) => {
                    use pb::framework_info::capability::Type;
                    self.killing_capability = info
                        .framework_info
                        .capabilities
                        .iter()
                        .any(|c| c.r#type() == Type::TaskKillingState);
                }
                Msg::Launch(tasks, is_group) => {
                    groups += 1;
                    self.launch(tasks, is_group, groups).await;
                }
                Msg::Kill(task_id, policy) => {
                    self.kill_request(&task_id.value, policy.as_ref()).await
                }
                Msg::Shutdown(reply) => {
                    self.shutdown_waiters.push(reply);
                    self.shutting_down = true;
                    let ids: Vec<String> = self.tasks.keys().cloned().collect();
                    for id in ids {
                        let grace = self.shutdown_grace;
                        self.kill_task(&id, grace).await;
                    }
                    self.check_done();
                }
                Msg::Exited(id, result) => self.exited(&id, result).await,
                Msg::Escalate(id, generation) => {
                    if let Some(task) = self.tasks.get_mut(&id)
                        && !task.terminal
                        && task
                            .kill
                            .as_ref()
                            .is_some_and(|k| k.generation == generation)
                        && let Some(pid) = task.pid
                    {
                        tracing::info!(task = %id, "grace period over; sending SIGKILL");
                        task.tree.signal(pid, Signal::SIGKILL);
                    }
                }
                Msg::Health(id, report) => self.health(&id, report).await,
                Msg::Deadline(id) => {
                    let Some(task) = self.tasks.get_mut(&id) else {
                        continue;
                    };
                    if task.terminal || task.kill.is_some() {
                        continue;
                    }
                    tracing::warn!(task = %id, "task exceeded its maximum completion time");
                    task.timed_out = true;
                    let grace =
                        grace_of(task.info.kill_policy.as_ref()).unwrap_or(DEFAULT_KILL_GRACE);
                    let group = task.group;
                    match self.options.mode {
                        Mode::Command => self.kill_task(&id, grace).await,
                        Mode::Default => self.kill_group(group, None).await,
                    }
                }
                Msg::Finished => {
                    for waiter in self.shutdown_waiters.drain(..) {
                        let _ = waiter.send(());
                    }
                    self.driver.stop();
                }
            }
        }
    }

    async fn update(&self, status: pb::TaskStatus) {
        let state = status.state();
        if let Err(error) = self.driver.send_update(status).await {
            tracing::warn!(%error, ?state, "status update not accepted (kept for resending)");
        }
    }

    async fn fail(&mut self, task_id: &pb::TaskId, message: String) {
        tracing::warn!(task = %task_id.value, %message, "task failed to launch");
        self.update(status(task_id, pb::TaskState::TaskFailed, Some(message)))
            .await;
    }

    async fn launch(&mut self, tasks: Vec<pb::TaskInfo>, is_group: bool, group: usize) {
        let refusal = match (self.options.mode, is_group) {
            _ if self.shutting_down => Some("the executor is shutting down".to_owned()),
            (Mode::Command, true) => {
                Some("the command executor does not run task groups".to_owned())
            }
            (Mode::Command, false) if self.launched_any => {
                Some("Attempted to run multiple tasks using a \"command\" executor".to_owned())
            }
            (Mode::Default, false) => {
                Some("the default executor runs task groups only (LAUNCH_GROUP)".to_owned())
            }
            _ => None,
        };
        if let Some(message) = refusal {
            for task in tasks {
                self.fail(&task.task_id, message.clone()).await;
            }
            return;
        }
        self.launched_any = true;

        let mut launch_failed = false;
        for info in tasks {
            let id = info.task_id.value.clone();
            if self.tasks.contains_key(&id) {
                tracing::warn!(task = %id, "ignoring a second launch of the same task");
                continue;
            }
            self.update(status(&info.task_id, pb::TaskState::TaskStarting, None))
                .await;
            let started = self.start(&info);
            let mut task = Task {
                info,
                group,
                pid: None,
                tree: ProcessTree::default(),
                terminal: false,
                kill: None,
                health: None,
                healthy: None,
                killed_by_health_check: false,
                timed_out: false,
            };
            match started {
                Ok((child, cwd)) => {
                    let pid = child.id().and_then(|p| i32::try_from(p).ok());
                    task.pid = pid;
                    tracing::info!(task = %id, ?pid, "task started");
                    let sender = self.sender.clone();
                    let waited_id = id.clone();
                    tokio::spawn(async move {
                        let mut child = child;
                        let result = child.wait().await;
                        let _ = sender.send(Msg::Exited(waited_id, result));
                    });
                    self.update(status(&task.info.task_id, pb::TaskState::TaskRunning, None))
                        .await;
                    if let Some(limit) = task.info.max_completion_time {
                        let limit =
                            Duration::from_nanos(u64::try_from(limit.nanoseconds).unwrap_or(0));
                        let sender = self.sender.clone();
                        let timed_id = id.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(limit).await;
                            let _ = sender.send(Msg::Deadline(timed_id));
                        });
                    }
                    if let Some(check) = task.info.health_check.clone() {
                        let sender = self.sender.clone();
                        let checked_id = id.clone();
                        task.health = Some(health::spawn(check, cwd, Instant::now(), move |r| {
                            let _ = sender.send(Msg::Health(checked_id.clone(), r));
                        }));
                    }
                }
                Err(message) => {
                    task.terminal = true;
                    launch_failed = true;
                    let task_id = task.info.task_id.clone();
                    self.fail(&task_id, format!("Failed to launch task: {message}"))
                        .await;
                }
            }
            self.tasks.insert(id, task);
        }
        if launch_failed {
            self.kill_group(group, None).await;
        }
        self.check_done();
    }

    /// Creates the task's working directory and starts its command.
    fn start(&self, info: &pb::TaskInfo) -> Result<(tokio::process::Child, PathBuf), String> {
        let command = info
            .command
            .as_ref()
            .ok_or_else(|| "the task has no command".to_owned())?;
        match self.options.mode {
            Mode::Command => {
                let child = process::spawn(command, &self.sandbox, &Output::Inherit, &[])?;
                Ok((child, self.sandbox.clone()))
            }
            Mode::Default => {
                let dir = self.sandbox.join("tasks").join(&info.task_id.value);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let env = [
                    ("MESOS_SANDBOX", dir.display().to_string()),
                    ("MESOS_TASK_ID", info.task_id.value.clone()),
                ];
                let child = process::spawn(command, &dir, &Output::Files(&dir), &env)?;
                Ok((child, dir))
            }
        }
    }

    async fn kill_request(&mut self, id: &str, policy: Option<&pb::KillPolicy>) {
        let Some(task) = self.tasks.get(id) else {
            tracing::warn!(task = %id, "KILL of an unknown task");
            return;
        };
        let override_grace = grace_of(policy);
        match self.options.mode {
            // Tasks of a group live and die together.
            Mode::Default => self.kill_group(task.group, override_grace).await,
            Mode::Command => {
                let grace = override_grace
                    .or_else(|| grace_of(task.info.kill_policy.as_ref()))
                    .unwrap_or(DEFAULT_KILL_GRACE);
                self.kill_task(id, grace).await;
            }
        }
    }

    async fn kill_group(&mut self, group: usize, override_grace: Option<Duration>) {
        let members: Vec<(String, Duration)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.group == group && !t.terminal)
            .map(|(id, t)| {
                let grace = override_grace
                    .or_else(|| grace_of(t.info.kill_policy.as_ref()))
                    .unwrap_or(DEFAULT_KILL_GRACE);
                (id.clone(), grace)
            })
            .collect();
        for (id, grace) in members {
            self.kill_task(&id, grace).await;
        }
    }

    /// SIGTERM to the task's tree now, SIGKILL after `grace` unless it ended. A second kill may
    /// shorten the grace period, never lengthen it.
    async fn kill_task(&mut self, id: &str, grace: Duration) {
        let deadline = Instant::now() + grace;
        let (pid, first, generation, healthy, task_id) = {
            let Some(task) = self.tasks.get_mut(id) else {
                return;
            };
            let Some(pid) = task.pid else { return };
            if task.terminal {
                return;
            }
            match &mut task.kill {
                Some(kill) if deadline >= kill.deadline => return,
                Some(kill) => {
                    kill.generation += 1;
                    kill.deadline = deadline;
                    (
                        pid,
                        false,
                        kill.generation,
                        task.healthy,
                        task.info.task_id.clone(),
                    )
                }
                None => {
                    task.kill = Some(KillState {
                        generation: 0,
                        deadline,
                    });
                    task.stop_health_check();
                    (pid, true, 0, task.healthy, task.info.task_id.clone())
                }
            }
        };
        if first {
            if self.killing_capability {
                let mut killing = status(&task_id, pb::TaskState::TaskKilling, None);
                killing.healthy = healthy;
                self.update(killing).await;
            }
            tracing::info!(task = %id, ?grace, "sending SIGTERM");
            if let Some(task) = self.tasks.get_mut(id) {
                task.tree.signal(pid, Signal::SIGTERM);
            }
        }
        let sender = self.sender.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            let _ = sender.send(Msg::Escalate(id, generation));
        });
    }

    async fn exited(&mut self, id: &str, result: std::io::Result<ExitStatus>) {
        let Some(task) = self.tasks.get_mut(id) else {
            return;
        };
        task.stop_health_check();
        // Nothing of the task may outlive it.
        if let Some(pid) = task.pid {
            task.tree.kill_all(pid).await;
        }
        let Some(task) = self.tasks.get_mut(id) else {
            return;
        };
        task.terminal = true;
        // Orphans that left the task's tree can only be told apart from other tasks' processes
        // when no other task runs (always, for the command executor). Every task's main process
        // has been waited for by then, so reaping adopted zombies steals no exit status.
        if self.options.kill_own_descendants && self.tasks.values().all(|t| t.terminal) {
            process::kill_own_descendants();
            process::reap_adopted();
        }
        let Some(task) = self.tasks.get_mut(id) else {
            return;
        };
        let mut update = match (&result, task.kill.is_some()) {
            (Ok(_), true) if task.timed_out => {
                let mut update = status(
                    &task.info.task_id,
                    pb::TaskState::TaskFailed,
                    Some("Task exceeded maximum completion time".to_owned()),
                );
                update.reason = Some(pb::task_status::Reason::MaxCompletionTimeReached as i32);
                update
            }
            (Err(error), _) => status(
                &task.info.task_id,
                pb::TaskState::TaskFailed,
                Some(format!("Failed to wait for the command: {error}")),
            ),
            (Ok(exit), true) => status(
                &task.info.task_id,
                pb::TaskState::TaskKilled,
                Some(process::describe(*exit)),
            ),
            (Ok(exit), false) if exit.success() => status(
                &task.info.task_id,
                pb::TaskState::TaskFinished,
                Some(process::describe(*exit)),
            ),
            (Ok(exit), false) => status(
                &task.info.task_id,
                pb::TaskState::TaskFailed,
                Some(process::describe(*exit)),
            ),
        };
        if task.killed_by_health_check {
            update.healthy = Some(false);
            update.reason = Some(pb::task_status::Reason::TaskHealthCheckStatusUpdated as i32);
        } else {
            update.healthy = task.healthy;
        }
        let finished = update.state() == pb::TaskState::TaskFinished;
        let group = task.group;
        tracing::info!(task = %id, state = ?update.state(), message = ?update.message, "task ended");
        self.update(update).await;
        if self.options.mode == Mode::Default && !finished {
            self.kill_group(group, None).await;
        }
        self.check_done();
    }

    async fn health(&mut self, id: &str, report: health::Report) {
        let Some(task) = self.tasks.get_mut(id) else {
            return;
        };
        if task.terminal || task.kill.is_some() {
            return;
        }
        task.healthy = Some(report.healthy);
        let mut update = status(&task.info.task_id, pb::TaskState::TaskRunning, None);
        update.healthy = Some(report.healthy);
        update.reason = Some(pb::task_status::Reason::TaskHealthCheckStatusUpdated as i32);
        if report.kill {
            task.killed_by_health_check = true;
            update.message = Some("Task failed its health checks".to_owned());
        }
        let grace = grace_of(task.info.kill_policy.as_ref()).unwrap_or(DEFAULT_KILL_GRACE);
        let group = task.group;
        self.update(update).await;
        if report.kill {
            tracing::warn!(task = %id, "killing the task after failed health checks");
            match self.options.mode {
                Mode::Command => self.kill_task(id, grace).await,
                Mode::Default => self.kill_group(group, None).await,
            }
        }
    }

    /// Once every task has ended (or on shutdown with none), waits for the acknowledgements of
    /// the terminal updates, briefly, and stops the driver.
    fn check_done(&mut self) {
        let all_ended = self.tasks.values().all(|t| t.terminal);
        if self.finishing || !all_ended || !(self.launched_any || self.shutting_down) {
            return;
        }
        self.finishing = true;
        let driver = self.driver.clone();
        let sender = self.sender.clone();
        tokio::spawn(async move {
            if !driver.wait_acknowledged(ACK_TIMEOUT).await {
                tracing::warn!("terminal updates not acknowledged in time; exiting anyway");
            }
            let _ = sender.send(Msg::Finished);
        });
    }
}
