//! The agent's bookkeeping of frameworks, executors and tasks (Mesos's `Framework` and
//! `Executor` in `src/slave/slave.hpp`), as plain data.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use mesos_core::proto::v1::executor::Event as ExecutorEvent;
use mesos_core::proto::v1::{
    ExecutorInfo, FrameworkId, FrameworkInfo, Task, TaskGroupInfo, TaskInfo, TaskState, TaskStatus,
};
use prost::Message;
use tokio::sync::mpsc;

use crate::paths::RunKey;
use crate::status_updates::is_terminal;

/// Where an executor is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExecutorState {
    /// Launched (or re-adopted) and not yet subscribed.
    Registering,
    /// Subscribed.
    Running,
    /// Asked to shut down.
    Terminating,
    /// Its process is gone.
    Terminated,
}

/// The SUBSCRIBE stream of a connected executor.
#[derive(Debug, Clone)]
pub(crate) struct ExecutorConn {
    /// Encoded RecordIO records to write to the stream.
    pub(crate) tx: mpsc::UnboundedSender<Bytes>,
    /// JSON (true) or protobuf.
    pub(crate) json: bool,
}

impl ExecutorConn {
    /// Writes one event; false when the executor's connection is gone.
    pub(crate) fn send(&self, event: &ExecutorEvent) -> bool {
        let payload = if self.json {
            mesos_core::json::to_vec(event)
        } else {
            event.encode_to_vec()
        };
        let mut record = Vec::with_capacity(payload.len() + 12);
        mesos_core::recordio::encode(&payload, &mut record);
        self.tx.send(Bytes::from(record)).is_ok()
    }
}

/// How the agent wants tasks of a dying executor reported.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Termination {
    /// State for its non-terminal tasks.
    pub(crate) state: TaskState,
    /// Reason for the updates.
    pub(crate) reason: mesos_core::proto::v1::task_status::Reason,
    /// Message for the updates.
    pub(crate) message: String,
}

/// One executor run.
#[derive(Debug)]
pub(crate) struct Executor {
    /// The executor as launched.
    pub(crate) info: ExecutorInfo,
    /// Framework, executor and container ids.
    pub(crate) key: RunKey,
    /// The sandbox.
    pub(crate) directory: PathBuf,
    /// Life-cycle state.
    pub(crate) state: ExecutorState,
    /// The process id, once forked.
    pub(crate) pid: Option<i32>,
    /// Built by the agent for a command task.
    pub(crate) command_executor: bool,
    /// Re-adopted after an agent restart (its exit is polled, not awaited).
    pub(crate) adopted: bool,
    /// The SUBSCRIBE stream.
    pub(crate) conn: Option<ExecutorConn>,
    /// Tasks waiting for SUBSCRIBE.
    pub(crate) queued: Vec<TaskInfo>,
    /// Task groups waiting for SUBSCRIBE.
    pub(crate) queued_groups: Vec<TaskGroupInfo>,
    /// Tasks given to the executor that are not terminal.
    pub(crate) launched: BTreeMap<String, Task>,
    /// Terminal tasks whose terminal update is not yet acknowledged.
    pub(crate) terminated: BTreeMap<String, Task>,
    /// Terminal and acknowledged tasks.
    pub(crate) completed: VecDeque<Task>,
    /// When an unsubscribed executor is given up.
    pub(crate) registration_deadline: Option<Instant>,
    /// When a terminating executor is killed.
    pub(crate) kill_deadline: Option<Instant>,
    /// Set when the agent decided to end the executor.
    pub(crate) pending_termination: Option<Termination>,
    /// Wait status once it exited.
    pub(crate) exit_status: Option<i32>,
    /// When the last heartbeat went to the executor.
    pub(crate) last_heartbeat: Instant,
    /// Holds one of the agent's launch slots (from its start until it subscribes or ends).
    pub(crate) launching: bool,
}

impl Executor {
    /// Finds a task wherever it is.
    pub(crate) fn task_mut(&mut self, task_id: &str) -> Option<&mut Task> {
        if let Some(t) = self.launched.get_mut(task_id) {
            return Some(t);
        }
        self.terminated.get_mut(task_id)
    }

    /// Whether the executor knows the task (queued, running or terminated).
    pub(crate) fn has_task(&self, task_id: &str) -> bool {
        self.launched.contains_key(task_id)
            || self.terminated.contains_key(task_id)
            || self.queued.iter().any(|t| t.task_id.value == task_id)
            || self
                .queued_groups
                .iter()
                .any(|g| g.tasks.iter().any(|t| t.task_id.value == task_id))
    }

    /// Applies a status update to a known task, moving it to `terminated` when terminal.
    pub(crate) fn apply_update(&mut self, status: &TaskStatus) -> bool {
        let id = status.task_id.value.clone();
        let Some(task) = self.task_mut(&id) else {
            return false;
        };
        task.state = status.state;
        task.statuses.push(status.clone());
        if task.statuses.len() > 10 {
            task.statuses.remove(0);
        }
        if is_terminal(status.state)
            && let Some(task) = self.launched.remove(&id)
        {
            self.terminated.insert(id, task);
        }
        true
    }

    /// Every task not yet completed, as `Task`s (queued ones in STAGING).
    pub(crate) fn live_tasks(&self, framework_id: &str, agent_id: &str) -> Vec<Task> {
        let mut out: Vec<Task> = self
            .queued
            .iter()
            .chain(self.queued_groups.iter().flat_map(|g| g.tasks.iter()))
            .map(|t| {
                new_task(
                    t,
                    framework_id,
                    (!self.command_executor).then_some(&self.key.executor_id[..]),
                    agent_id,
                )
            })
            .collect();
        out.extend(self.launched.values().cloned());
        out.extend(self.terminated.values().cloned());
        out
    }
}

/// A framework with executors on this agent.
#[derive(Debug)]
pub(crate) struct Framework {
    /// The framework.
    pub(crate) info: FrameworkInfo,
    /// Running executors by id.
    pub(crate) executors: BTreeMap<String, Executor>,
    /// Finished executors, newest last.
    pub(crate) completed_executors: VecDeque<Executor>,
}

impl Framework {
    /// A framework with nothing running yet.
    pub(crate) fn new(info: FrameworkInfo) -> Self {
        Framework {
            info,
            executors: BTreeMap::new(),
            completed_executors: VecDeque::new(),
        }
    }

    /// Whether the framework checkpoints.
    pub(crate) fn checkpoint(&self) -> bool {
        self.info.checkpoint.unwrap_or(false)
    }

    /// The executor running a task.
    pub(crate) fn executor_of_task(&self, task_id: &str) -> Option<&str> {
        self.executor_id_with_task(None, task_id)
    }

    /// The id of the executor that has `task_id`. `hint` (the executor an update came with)
    /// and an executor named after the task (a command task's) are tried before a scan, so
    /// an agent running thousands of executors does not compare every task id per update.
    pub(crate) fn executor_id_with_task(&self, hint: Option<&str>, task_id: &str) -> Option<&str> {
        for id in [hint, Some(task_id)].into_iter().flatten() {
            if let Some((id, e)) = self.executors.get_key_value(id)
                && e.has_task(task_id)
            {
                return Some(id.as_str());
            }
        }
        self.executors
            .iter()
            .find(|(_, e)| e.has_task(task_id))
            .map(|(id, _)| id.as_str())
    }

    /// The executor that has `task_id` (see [`Framework::executor_id_with_task`]).
    pub(crate) fn executor_with_task_mut(
        &mut self,
        hint: Option<&str>,
        task_id: &str,
    ) -> Option<&mut Executor> {
        let id = self.executor_id_with_task(hint, task_id)?.to_string();
        self.executors.get_mut(&id)
    }

    /// Whether the framework is partition aware.
    pub(crate) fn partition_aware(&self) -> bool {
        use mesos_core::proto::v1::framework_info::capability::Type;
        self.info
            .capabilities
            .iter()
            .any(|c| c.r#type == Some(Type::PartitionAware as i32))
    }
}

/// A task record as the agent reports it.
pub(crate) fn new_task(
    info: &TaskInfo,
    framework_id: &str,
    executor_id: Option<&str>,
    agent_id: &str,
) -> Task {
    Task {
        name: info.name.clone(),
        task_id: info.task_id.clone(),
        framework_id: FrameworkId {
            value: framework_id.to_string(),
        },
        executor_id: executor_id.map(|e| mesos_core::proto::v1::ExecutorId {
            value: e.to_string(),
        }),
        agent_id: mesos_core::proto::v1::AgentId {
            value: agent_id.to_string(),
        },
        state: TaskState::TaskStaging as i32,
        resources: info.resources.clone(),
        labels: info.labels.clone(),
        discovery: info.discovery.clone(),
        container: info.container.clone(),
        health_check: info.health_check.clone(),
        kill_policy: info.kill_policy,
        user: info.command.as_ref().and_then(|c| c.user.clone()),
        limits: info.limits.clone(),
        ..Default::default()
    }
}
