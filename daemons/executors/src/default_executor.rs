//! Mesos's default executor, simplified: runs each task of a LAUNCH_GROUP as a child process
//! in `<sandbox>/tasks/<task_id>` (created; the task's `stdout` and `stderr` files are there,
//! and its `MESOS_SANDBOX` points there), in a process group of its own, and reports each
//! task's TASK_STARTING, TASK_RUNNING and terminal update. The tasks of a group live and die
//! together: when one fails or is killed, the others are killed (TASK_KILLED); a KILL of one
//! kills the group. The executor exits when every task has ended and the terminal updates are
//! acknowledged (or 5 s passed). Containers (images, nested containers, volumes) are not
//! supported: tasks run on the host, as the command executor's do.

use std::process::ExitCode;

use mesos_executor_sdk::{Config, ExecutorError};

use crate::runner::{self, Mode, Options};

/// The `mesos-default-executor` program.
#[must_use]
pub fn main() -> ExitCode {
    crate::program_main(Mode::Default, "mesos-default-executor")
}

/// Runs the default executor with `config`; see [`crate::command::run`] for how this differs
/// from [`main`].
///
/// # Errors
///
/// As [`mesos_executor_sdk::ExecutorDriver::run`].
pub async fn run(config: Config) -> Result<(), ExecutorError> {
    runner::run(
        config,
        Options {
            mode: Mode::Default,
            kill_own_descendants: false,
        },
    )
    .await
}
