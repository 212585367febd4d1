//! The executor SDK: a typed [`Executor`] trait and a driver for the Mesos v1 executor HTTP API
//! (`POST http://<agent>/api/v1/executor`), for Apache Mesos agents and ours alike.
//!
//! An executor is a process the agent starts to run tasks. It reads its [`Config`] from the
//! environment the agent gives it, subscribes, and then receives events: the agent's SUBSCRIBED,
//! tasks to LAUNCH, KILL requests, acknowledgements of its status updates, and finally SHUTDOWN.
//! It reports task states with [`ExecutorDriver::send_update`], which fills in the fields Mesos
//! requires (`uuid`, `source`, `executor_id`, `timestamp`) and keeps each update until the agent
//! acknowledges it, so that a checkpointing executor resends what an agent restart lost.
//!
//! # Example
//!
//! An executor that "runs" each task by reporting it running and then finished:
//!
//! ```no_run
//! use async_trait::async_trait;
//! use mesos_core::proto::v1 as pb;
//! use mesos_executor_sdk::{Config, Executor, ExecutorDriver};
//!
//! struct Instant;
//!
//! fn status(task: &pb::TaskInfo, state: pb::TaskState) -> pb::TaskStatus {
//!     pb::TaskStatus {
//!         task_id: task.task_id.clone(),
//!         state: state as i32,
//!         ..Default::default()
//!     }
//! }
//!
//! #[async_trait]
//! impl Executor for Instant {
//!     async fn launch(&mut self, driver: &ExecutorDriver, task: pb::TaskInfo) {
//!         for state in [pb::TaskState::TaskRunning, pb::TaskState::TaskFinished] {
//!             if let Err(error) = driver.send_update(status(&task, state)).await {
//!                 eprintln!("update failed: {error}");
//!             }
//!         }
//!     }
//!
//!     async fn kill(&mut self, _: &ExecutorDriver, _: pb::TaskId, _: Option<pb::KillPolicy>) {
//!         // Tasks finish at once; there is nothing to kill.
//!     }
//!
//!     async fn shutdown(&mut self, driver: &ExecutorDriver) {
//!         // Give the agent a moment to acknowledge the last updates.
//!         driver.wait_acknowledged(std::time::Duration::from_secs(5)).await;
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let config = Config::from_env()?;
//!     mesos_executor_sdk::run(Instant, config).await?;
//!     Ok(())
//! }
//! ```
//!
//! Events are dispatched one at a time, in stream order, and each callback is awaited before
//! the next event is read from the queue; long work (a task's process) belongs in a spawned
//! task that keeps a clone of the [`ExecutorDriver`]. Acknowledgements are applied to the
//! driver's bookkeeping as soon as they arrive, even while a callback runs.
//!
//! With the `testing` feature, [`testing::FakeAgent`] plays the agent's side of the API for
//! tests of executors.

#![warn(missing_docs)]

mod config;
mod driver;
mod error;
mod run;
#[cfg(feature = "testing")]
pub mod testing;

use async_trait::async_trait;
use mesos_core::proto::v1 as pb;

pub use config::{
    Config, ConfigError, ContentType, DEFAULT_RECOVERY_TIMEOUT, DEFAULT_SHUTDOWN_GRACE_PERIOD,
    DEFAULT_SUBSCRIPTION_BACKOFF_MAX, DurationError, EXECUTOR_API_PATH, parse_duration,
};
pub use driver::{ExecutorDriver, is_terminal};
pub use error::ExecutorError;
pub use mesos_core::proto::v1::executor::event::Subscribed;
pub use run::run;

/// The callbacks of an executor, one per event type.
///
/// Every callback gets the [`ExecutorDriver`] to send updates and messages with. Only
/// [`launch`](Self::launch), [`kill`](Self::kill) and [`shutdown`](Self::shutdown) must be
/// written; the others default to logging or doing nothing.
#[async_trait]
pub trait Executor: Send {
    /// The agent accepted the subscription (again, after a reconnection).
    async fn subscribed(&mut self, driver: &ExecutorDriver, info: Subscribed) {
        let _ = (driver, info);
    }

    /// Launch `task`. Send at least one update for it, and a terminal one when it ends.
    async fn launch(&mut self, driver: &ExecutorDriver, task: pb::TaskInfo);

    /// Launch a task group (the default executor's job). The default fails every task of the
    /// group with `TASK_FAILED`, as an executor that cannot run groups should.
    async fn launch_group(&mut self, driver: &ExecutorDriver, group: pb::TaskGroupInfo) {
        for task in group.tasks {
            let status = pb::TaskStatus {
                task_id: task.task_id,
                state: pb::TaskState::TaskFailed as i32,
                message: Some("this executor does not support task groups".to_owned()),
                ..pb::TaskStatus::default()
            };
            if let Err(error) = driver.send_update(status).await {
                tracing::warn!(%error, "cannot fail a task of an unsupported group");
            }
        }
    }

    /// Kill the task `task_id`, within the grace period of `kill_policy` if given (it overrides
    /// the task's own kill policy), and send its terminal update.
    async fn kill(
        &mut self,
        driver: &ExecutorDriver,
        task_id: pb::TaskId,
        kill_policy: Option<pb::KillPolicy>,
    );

    /// The agent acknowledged the update `uuid` of `task_id`. The driver has already forgotten
    /// the update when this runs.
    async fn acknowledged(&mut self, driver: &ExecutorDriver, task_id: pb::TaskId, uuid: Vec<u8>) {
        let _ = (driver, task_id, uuid);
    }

    /// The scheduler sent framework `data`.
    async fn message(&mut self, driver: &ExecutorDriver, data: Vec<u8>) {
        let _ = (driver, data);
    }

    /// Kill every task and clean up; the run loop returns when this returns. Called on SHUTDOWN,
    /// and when the connection to the agent is lost for good.
    async fn shutdown(&mut self, driver: &ExecutorDriver);

    /// The agent reported an error (usually about a call of this executor).
    async fn error(&mut self, driver: &ExecutorDriver, message: String) {
        let _ = driver;
        tracing::error!(%message, "agent reported an error");
    }

    /// The event stream broke. The driver then reconnects (checkpointing frameworks) or calls
    /// [`shutdown`](Self::shutdown).
    async fn disconnected(&mut self, driver: &ExecutorDriver) {
        let _ = driver;
    }
}
