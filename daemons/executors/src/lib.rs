//! Mesos's built-in executors on [`mesos_executor_sdk`]: the command executor (one task from
//! LAUNCH, [`command`]) and the default executor (task groups from LAUNCH_GROUP,
//! [`default_executor`]).
//!
//! The agent runs them as programs (`mesos-executor`, `mesos-default-executor`) whose `main`
//! is [`command::main`] or [`default_executor::main`]; they read the executor environment the
//! agent sets (`MESOS_FRAMEWORK_ID`, `MESOS_EXECUTOR_ID`, `MESOS_AGENT_ENDPOINT`,
//! `MESOS_SANDBOX`, ...) and exit with status 0 once their tasks' terminal updates are
//! acknowledged.
//!
//! Each task runs in a process group of its own. Killing a task sends SIGTERM to the group and
//! to every process descending from the task, then SIGKILL after the grace period (the KILL
//! event's kill policy, else the task's, else 3 seconds), and kills whatever is left of the tree
//! when the task's main process ends. The programs make themselves child subreapers, so a
//! process that escaped the group is still found among the executor's descendants.

mod health;
mod process;
mod runner;

pub mod command;
pub mod default_executor;
// Forking needs `unsafe`; it is confined to this module.
#[allow(unsafe_code)]
pub mod zygote;

use std::process::ExitCode;

use mesos_executor_sdk::Config;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). Executors forked by the zygote
/// inherit its subscriber (set up once, before the first fork) and skip this.
fn init_logging(ansi: bool) {
    if tracing::dispatcher::has_been_set() {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// The body of both programs: logging to stderr, configuration from the environment, a tokio
/// runtime, the run loop.
fn program_main(mode: runner::Mode, name: &str) -> ExitCode {
    ExitCode::from(executor_main(mode, name))
}

/// [`program_main`] with the exit code as a number, for executors forked by the zygote.
fn executor_main(mode: runner::Mode, name: &str) -> u8 {
    // The agent points stderr at the sandbox's `stderr` file: no colour codes there.
    init_logging(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "{name}: cannot read the executor environment");
            return 1;
        }
    };
    if let Err(error) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!(%error, "cannot become a child subreaper; orphaned task processes may survive");
    }
    // One thread: an executor does little work, and a host may run thousands of them.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "{name}: cannot start the runtime");
            return 1;
        }
    };
    let options = runner::Options {
        mode,
        kill_own_descendants: true,
    };
    tracing::info!(executor = %config.executor_id.value, framework = %config.framework_id.value, agent = %config.url(), socket = ?config.domain_socket, "{name} starting");
    match runtime.block_on(runner::run(config, options)) {
        Ok(()) => 0,
        Err(error) => {
            tracing::error!(%error, "{name} failed");
            1
        }
    }
}
