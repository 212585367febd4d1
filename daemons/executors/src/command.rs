//! Mesos's command executor: runs the one task of a LAUNCH (its `CommandInfo`, `sh -c` in
//! shell form or `value` with `arguments`) in the sandbox and reports TASK_STARTING,
//! TASK_RUNNING, then TASK_FINISHED (status 0), TASK_FAILED (`Command exited with status N`,
//! `Command terminated with signal S`) or TASK_KILLED; TASK_KILLING first on a kill when the
//! framework has the TASK_KILLING_STATE capability. Health checks of the task report `healthy`
//! in TASK_RUNNING updates and kill the task after too many consecutive failures.
//!
//! The task's standard output and error are the executor's, which the agent points at the
//! sandbox's `stdout` and `stderr`.

use std::process::ExitCode;

use mesos_executor_sdk::{Config, ExecutorError};

use crate::runner::{self, Mode, Options};

/// The `mesos-executor` program (or, when the agent asks for one, its executor zygote:
/// [`crate::zygote`]).
#[must_use]
pub fn main() -> ExitCode {
    if crate::zygote::requested() {
        return crate::zygote::serve();
    }
    crate::program_main(Mode::Command, "mesos-executor")
}

/// Runs the command executor with `config` until its task ended and the terminal update was
/// acknowledged (or 5 s passed), or until SHUTDOWN. For embedding and tests: unlike [`main`],
/// it leaves processes that escaped the task's process tree alone, since it cannot tell them
/// from the host process's other children.
///
/// # Errors
///
/// As [`mesos_executor_sdk::ExecutorDriver::run`].
pub async fn run(config: Config) -> Result<(), ExecutorError> {
    runner::run(
        config,
        Options {
            mode: Mode::Command,
            kill_own_descendants: false,
        },
    )
    .await
}
