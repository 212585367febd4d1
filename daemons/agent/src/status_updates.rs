//! The status update manager as a value: per task, updates go to the master in order, one in
//! flight at a time, re-sent with backoff (10 s doubling up to 10 min) until the master forwards
//! the framework's acknowledgement of exactly that update. Time is an argument; the caller owns
//! the clock, the link and the disk.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use mesos_core::proto::v1::TaskStatus;

/// First retry interval (`STATUS_UPDATE_RETRY_INTERVAL_MIN`).
pub const RETRY_MIN: Duration = Duration::from_secs(10);
/// Retry interval cap (`STATUS_UPDATE_RETRY_INTERVAL_MAX`).
pub const RETRY_MAX: Duration = Duration::from_secs(600);

/// An update to send to the master now.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    /// Framework of the task.
    pub framework_id: String,
    /// Executor of the task, if any.
    pub executor_id: Option<String>,
    /// The update (with its uuid).
    pub status: TaskStatus,
}

/// Why an update or acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The update carries no uuid.
    #[error("status update for task '{0}' has no uuid")]
    MissingUuid(String),
    /// The same update (by uuid) is already queued.
    #[error("duplicate status update for task '{0}'")]
    Duplicate(String),
    /// The task's terminal update was already acknowledged.
    #[error("task '{0}' already reached a terminal state")]
    AfterTerminal(String),
    /// No stream exists for the task.
    #[error("no pending status updates for task '{task}' of framework '{framework}'")]
    UnknownTask {
        /// Framework id.
        framework: String,
        /// Task id.
        task: String,
    },
    /// The acknowledgement does not name the update in flight.
    #[error("acknowledgement for task '{0}' does not match the update in flight")]
    UnexpectedAck(String),
}

/// What an accepted acknowledgement released.
#[derive(Debug, Clone, PartialEq)]
pub struct Acked {
    /// The acknowledged update.
    pub status: TaskStatus,
    /// The executor of the task, when the stream knows it.
    pub executor_id: Option<String>,
    /// The next update to send, if one was waiting.
    pub next: Option<Forward>,
    /// Whether the acknowledged update was terminal (the stream is then closed).
    pub terminal: bool,
}

#[derive(Debug, Clone)]
struct Stream {
    executor_id: Option<String>,
    pending: VecDeque<TaskStatus>,
    next_retry: Option<Instant>,
    backoff: Duration,
    terminated: bool,
}

/// All status update streams of an agent, keyed by (framework id, task id).
#[derive(Debug, Clone, Default)]
pub struct StatusUpdateManager {
    streams: BTreeMap<(String, String), Stream>,
}

/// Whether a task state is terminal.
pub fn is_terminal(state: i32) -> bool {
    use mesos_core::proto::v1::TaskState as S;
    [
        S::TaskFinished,
        S::TaskFailed,
        S::TaskKilled,
        S::TaskError,
        S::TaskLost,
        S::TaskDropped,
        S::TaskGone,
        S::TaskGoneByOperator,
    ]
    .iter()
    .any(|s| *s as i32 == state)
}

impl StatusUpdateManager {
    /// An empty manager.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues an update. Returns it as a [`Forward`] when it is the only one in flight.
    pub fn add(
        &mut self,
        framework_id: &str,
        executor_id: Option<&str>,
        status: TaskStatus,
        now: Instant,
    ) -> Result<Option<Forward>, UpdateError> {
        let task = status.task_id.value.clone();
        let Some(uuid) = status.uuid.clone() else {
            return Err(UpdateError::MissingUuid(task));
        };
        let stream = self
            .streams
            .entry((framework_id.to_string(), task.clone()))
            .or_insert_with(|| Stream {
                executor_id: executor_id.map(str::to_string),
                pending: VecDeque::new(),
                next_retry: None,
                backoff: RETRY_MIN,
                terminated: false,
            });
        if stream.terminated {
            return Err(UpdateError::AfterTerminal(task));
        }
        if stream
            .pending
            .iter()
            .any(|s| s.uuid.as_deref() == Some(&uuid[..]))
        {
            return Err(UpdateError::Duplicate(task));
        }
        stream.pending.push_back(status);
        if stream.pending.len() == 1 {
            stream.backoff = RETRY_MIN;
            stream.next_retry = Some(now + RETRY_MIN);
            return Ok(Some(Forward {
                framework_id: framework_id.to_string(),
                executor_id: stream.executor_id.clone(),
                status: stream.pending[0].clone(),
            }));
        }
        Ok(None)
    }

    /// Restores a stream from checkpointed updates (already in order, acknowledged ones
    /// removed). `terminated` is true when a terminal update was already acknowledged.
    pub fn recover(
        &mut self,
        framework_id: &str,
        executor_id: Option<&str>,
        task_id: &str,
        pending: Vec<TaskStatus>,
        terminated: bool,
    ) {
        if pending.is_empty() && !terminated {
            return;
        }
        self.streams.insert(
            (framework_id.to_string(), task_id.to_string()),
            Stream {
                executor_id: executor_id.map(str::to_string),
                pending: pending.into(),
                next_retry: None,
                backoff: RETRY_MIN,
                terminated,
            },
        );
    }

    /// Accepts the master's acknowledgement of the update in flight.
    pub fn acknowledge(
        &mut self,
        framework_id: &str,
        task_id: &str,
        uuid: &[u8],
        now: Instant,
    ) -> Result<Acked, UpdateError> {
        let key = (framework_id.to_string(), task_id.to_string());
        let Some(stream) = self.streams.get_mut(&key) else {
            return Err(UpdateError::UnknownTask {
                framework: framework_id.to_string(),
                task: task_id.to_string(),
            });
        };
        match stream.pending.front() {
            Some(front) if front.uuid.as_deref() == Some(uuid) => {}
            _ => return Err(UpdateError::UnexpectedAck(task_id.to_string())),
        }
        let executor_id = stream.executor_id.clone();
        let status = stream.pending.pop_front().expect("front checked above");
        let terminal = is_terminal(status.state);
        if terminal {
            stream.terminated = true;
        }
        let next = stream.pending.front().cloned().map(|s| Forward {
            framework_id: framework_id.to_string(),
            executor_id: stream.executor_id.clone(),
            status: s,
        });
        stream.backoff = RETRY_MIN;
        stream.next_retry = next.as_ref().map(|_| now + RETRY_MIN);
        if stream.pending.is_empty() && !stream.terminated {
            self.streams.remove(&key);
        }
        Ok(Acked {
            status,
            executor_id,
            next,
            terminal,
        })
    }

    /// Updates whose retry time has come; each one's interval doubles up to [`RETRY_MAX`].
    pub fn due(&mut self, now: Instant) -> Vec<Forward> {
        let mut out = Vec::new();
        for ((framework_id, _), stream) in &mut self.streams {
            let Some(at) = stream.next_retry else {
                continue;
            };
            if at > now {
                continue;
            }
            if let Some(front) = stream.pending.front() {
                stream.backoff = (stream.backoff * 2).min(RETRY_MAX);
                stream.next_retry = Some(now + stream.backoff);
                out.push(Forward {
                    framework_id: framework_id.clone(),
                    executor_id: stream.executor_id.clone(),
                    status: front.clone(),
                });
            }
        }
        out
    }

    /// Every update in flight, for sending right after (re-)registration; timers restart.
    pub fn resend_all(&mut self, now: Instant) -> Vec<Forward> {
        let mut out = Vec::new();
        for ((framework_id, _), stream) in &mut self.streams {
            if let Some(front) = stream.pending.front() {
                stream.backoff = RETRY_MIN;
                stream.next_retry = Some(now + RETRY_MIN);
                out.push(Forward {
                    framework_id: framework_id.clone(),
                    executor_id: stream.executor_id.clone(),
                    status: front.clone(),
                });
            }
        }
        out
    }

    /// The earliest retry time, for the caller's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.streams.values().filter_map(|s| s.next_retry).min()
    }

    /// Whether the task has unacknowledged updates.
    pub fn has_pending(&self, framework_id: &str, task_id: &str) -> bool {
        self.streams
            .get(&(framework_id.to_string(), task_id.to_string()))
            .is_some_and(|s| !s.pending.is_empty())
    }

    /// The unacknowledged updates of a task, oldest first.
    pub fn pending(&self, framework_id: &str, task_id: &str) -> Vec<TaskStatus> {
        self.streams
            .get(&(framework_id.to_string(), task_id.to_string()))
            .map(|s| s.pending.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets every stream of a task (its executor is gone and nothing is pending).
    pub fn cleanup(&mut self, framework_id: &str, task_id: &str) {
        let key = (framework_id.to_string(), task_id.to_string());
        if self.streams.get(&key).is_some_and(|s| s.pending.is_empty()) {
            self.streams.remove(&key);
        }
    }

    /// Number of updates waiting across all tasks.
    pub fn pending_count(&self) -> usize {
        self.streams.values().map(|s| s.pending.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_core::proto::v1::{TaskId, TaskState};

    fn status(task: &str, state: TaskState, uuid: u8) -> TaskStatus {
        TaskStatus {
            task_id: TaskId { value: task.into() },
            state: state as i32,
            uuid: Some(vec![uuid; 16]),
            ..Default::default()
        }
    }

    #[test]
    fn one_in_flight_in_order_with_backoff() {
        let t0 = Instant::now();
        let mut m = StatusUpdateManager::new();
        let f = m
            .add("f", Some("e"), status("t", TaskState::TaskRunning, 1), t0)
            .unwrap();
        assert!(f.is_some());
        assert!(
            m.add("f", Some("e"), status("t", TaskState::TaskFinished, 2), t0)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            m.add("f", Some("e"), status("t", TaskState::TaskRunning, 1), t0),
            Err(UpdateError::Duplicate("t".into()))
        );
        assert!(m.due(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(m.due(t0 + Duration::from_secs(10)).len(), 1);
        assert!(m.due(t0 + Duration::from_secs(29)).is_empty());
        assert_eq!(m.due(t0 + Duration::from_secs(30)).len(), 1);
        assert!(m.acknowledge("f", "t", &[2; 16], t0).is_err());
        let acked = m.acknowledge("f", "t", &[1; 16], t0).unwrap();
        assert_eq!(acked.next.unwrap().status.uuid, Some(vec![2; 16]));
        let acked = m.acknowledge("f", "t", &[2; 16], t0).unwrap();
        assert!(acked.terminal && acked.next.is_none());
        assert_eq!(
            m.add("f", Some("e"), status("t", TaskState::TaskFailed, 3), t0),
            Err(UpdateError::AfterTerminal("t".into()))
        );
        assert_eq!(m.pending_count(), 0);
    }

    #[test]
    fn backoff_caps_at_ten_minutes() {
        let t0 = Instant::now();
        let mut m = StatusUpdateManager::new();
        m.add("f", None, status("t", TaskState::TaskRunning, 1), t0)
            .unwrap();
        let mut now = t0;
        for _ in 0..12 {
            now = m.next_deadline().unwrap();
            assert_eq!(m.due(now).len(), 1);
        }
        assert_eq!(m.next_deadline().unwrap() - now, RETRY_MAX);
        assert_eq!(m.resend_all(now).len(), 1);
        assert_eq!(m.next_deadline().unwrap() - now, RETRY_MIN);
    }
}
