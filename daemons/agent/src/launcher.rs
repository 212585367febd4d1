//! Starting, signalling and watching executor processes.
//!
//! Executors run in their own process group (so a terminal's signals and the agent's exit do not
//! reach them, and the agent can signal the whole tree by pid), with stdout and stderr redirected
//! to files in the sandbox. An [`Isolator`] hook sees each container before and after launch so
//! resource isolation (cgroups) can slot in without touching the launcher.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use mesos_core::proto::v1::CommandInfo;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// A resource isolation hook around each container's life.
pub trait Isolator: Send + Sync + std::fmt::Debug {
    /// Called before the executor process starts.
    fn prepare(&self, container_id: &str, sandbox: &Path) -> std::io::Result<()>;
    /// Called with the executor's pid once it runs.
    fn isolate(&self, container_id: &str, pid: u32) -> std::io::Result<()>;
    /// Called after the container ended.
    fn cleanup(&self, container_id: &str);
}

/// The isolator that isolates nothing (Mesos's `posix` launcher without isolators).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoIsolation;

impl Isolator for NoIsolation {
    fn prepare(&self, _: &str, _: &Path) -> std::io::Result<()> {
        Ok(())
    }
    fn isolate(&self, _: &str, _: u32) -> std::io::Result<()> {
        Ok(())
    }
    fn cleanup(&self, _: &str) {}
}

/// Why an executor could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The command has neither a shell command nor an executable.
    #[error("executor command has no value")]
    NoCommand,
    /// Files in the sandbox could not be prepared.
    #[error("cannot prepare sandbox '{path}': {source}")]
    Sandbox {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The process did not start.
    #[error("cannot start executor '{program}': {source}")]
    Spawn {
        /// What was run.
        program: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// What to run and where.
#[derive(Debug, Clone)]
pub struct LaunchSpec<'a> {
    /// The executor's command.
    pub command: &'a CommandInfo,
    /// Its sandbox, which becomes its working directory.
    pub sandbox: &'a Path,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Whether the agent's own environment is inherited.
    pub inherit_env: bool,
}

/// A started executor: its pid, and its wait status once it ends (`None` when it could not be
/// learnt).
pub struct Spawned {
    /// The executor's process id.
    pub pid: u32,
    /// Resolves when the executor has ended.
    pub exit: std::pin::Pin<Box<dyn std::future::Future<Output = Option<i32>> + Send>>,
}

impl Spawned {
    /// Watches a child this process started.
    pub fn from_child(mut child: tokio::process::Child) -> Self {
        let pid = child.id().unwrap_or(0);
        Self {
            pid,
            exit: Box::pin(async move { child.wait().await.ok().map(wait_status) }),
        }
    }
}

/// Opens (appending, creating) the sandbox's `stdout` or `stderr` file.
pub fn open_output(sandbox: &Path, name: &str) -> Result<std::fs::File, LaunchError> {
    let path = sandbox.join(name);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|source| LaunchError::Sandbox {
            path: path.display().to_string(),
            source,
        })
}

/// Starts the executor; stdout and stderr go to `stdout` and `stderr` in the sandbox.
pub fn spawn(spec: &LaunchSpec<'_>) -> Result<tokio::process::Child, LaunchError> {
    let value = spec.command.value.clone().unwrap_or_default();
    if value.is_empty() {
        return Err(LaunchError::NoCommand);
    }
    let stdout = open_output(spec.sandbox, "stdout")?;
    let stderr = open_output(spec.sandbox, "stderr")?;
    let mut cmd = if spec.command.shell.unwrap_or(true) {
        let mut c = tokio::process::Command::new("/bin/sh");
        c.arg("-c").arg(&value);
        c
    } else {
        let mut c = tokio::process::Command::new(&value);
        let mut args = spec.command.arguments.iter();
        if let Some(argv0) = args.next() {
            c.arg0(argv0);
        }
        c.args(args);
        c
    };
    if !spec.inherit_env {
        cmd.env_clear();
    }
    cmd.envs(&spec.env)
        .current_dir(spec.sandbox)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .kill_on_drop(false);
    cmd.spawn().map_err(|source| LaunchError::Spawn {
        program: value,
        source,
    })
}

fn to_pid(pid: i32) -> Option<Pid> {
    (pid > 1).then(|| Pid::from_raw(pid))
}

/// Sends `signal` to the executor's process group and to the executor itself.
pub fn signal_tree(pid: i32, signal: Signal) {
    if let Some(p) = to_pid(pid) {
        let _ = killpg(p, signal);
        let _ = kill(p, signal);
    }
}

/// Asks the executor's tree to stop.
pub fn terminate(pid: i32) {
    signal_tree(pid, Signal::SIGTERM);
}

/// Kills the executor's tree.
pub fn destroy(pid: i32) {
    signal_tree(pid, Signal::SIGKILL);
}

/// Whether a process exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    let Some(p) = to_pid(pid) else {
        return false;
    };
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        return stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X");
    }
    kill(p, None).is_ok()
}

/// Mesos's wait status for an exit: code << 8, or the signal number.
pub fn wait_status(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.into_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_in_sandbox_with_output_files() {
        let dir = tempfile::tempdir().unwrap();
        let command = CommandInfo {
            value: Some("echo hello $GREETING; pwd >&2".into()),
            ..Default::default()
        };
        let mut env = BTreeMap::new();
        env.insert("GREETING".to_string(), "world".to_string());
        let spec = LaunchSpec {
            command: &command,
            sandbox: dir.path(),
            env,
            inherit_env: true,
        };
        let mut child = spawn(&spec).unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(wait_status(status), 0);
        let out = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
        assert_eq!(out, "hello world\n");
        assert!(!is_alive(
            i32::try_from(child.id().unwrap_or(0)).unwrap_or(0)
        ));
    }
}
