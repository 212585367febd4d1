//! Starting a task's command and signalling its whole process tree.

use std::collections::HashMap;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use mesos_core::proto::v1 as pb;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// Where a task's standard output and error go.
pub(crate) enum Output<'a> {
    /// The executor's own (the agent points them at the sandbox's `stdout` and `stderr`).
    Inherit,
    /// Files `stdout` and `stderr` in this directory.
    Files(&'a Path),
}

/// Builds the command of `info`: `sh -c <value>` in shell form, else `value` with `arguments`
/// as its argv (`arguments[0]` is argv\[0\], as with `execvp`).
pub(crate) fn command(info: &pb::CommandInfo) -> Result<tokio::process::Command, String> {
    let value = info
        .value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| "the task's command has no value".to_owned())?;
    let mut command = if info.shell() {
        let mut command = tokio::process::Command::new("/bin/sh");
        command.arg("-c").arg(value);
        command
    } else {
        let mut command = tokio::process::Command::new(value);
        if let Some((argv0, rest)) = info.arguments.split_first() {
            command.arg0(argv0).args(rest);
        }
        command
    };
    if let Some(environment) = &info.environment {
        for variable in &environment.variables {
            let value = match (&variable.value, &variable.secret) {
                (Some(value), _) => value.clone(),
                (
                    None,
                    Some(pb::Secret {
                        value: Some(secret),
                        ..
                    }),
                ) => String::from_utf8_lossy(&secret.data).into_owned(),
                _ => {
                    tracing::warn!(name = %variable.name, "skipping an environment variable without a value");
                    continue;
                }
            };
            command.env(&variable.name, value);
        }
    }
    Ok(command)
}

/// Starts `info` in `cwd`, in a new process group led by the child, so that the whole tree can
/// be signalled at once.
pub(crate) fn spawn(
    info: &pb::CommandInfo,
    cwd: &Path,
    output: &Output<'_>,
    extra_env: &[(&str, String)],
) -> Result<tokio::process::Child, String> {
    let mut command = command(info)?;
    command
        .current_dir(cwd)
        .envs(extra_env.iter().map(|(k, v)| (*k, v)))
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(false);
    if let Output::Files(dir) = output {
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .map_err(|e| format!("cannot open {}: {e}", dir.join(name).display()))
        };
        command.stdout(open("stdout")?).stderr(open("stderr")?);
    }
    if let Some(user) = info.user.as_deref().filter(|u| !u.is_empty()) {
        switch_user(&mut command, user)?;
    }
    command
        .spawn()
        .map_err(|e| format!("cannot start the command: {e}"))
}

/// Runs the command as `user` when the executor is root; otherwise the task runs as the
/// executor's own user (which the agent already chose), with a warning if that is another one.
fn switch_user(command: &mut tokio::process::Command, user: &str) -> Result<(), String> {
    let current = nix::unistd::Uid::current();
    let entry = nix::unistd::User::from_name(user)
        .map_err(|e| format!("cannot look up user '{user}': {e}"))?;
    let Some(entry) = entry else {
        if current.is_root() {
            return Err(format!("user '{user}' does not exist"));
        }
        tracing::warn!(%user, "unknown user; running the task as the executor's user");
        return Ok(());
    };
    if entry.uid == current {
        return Ok(());
    }
    if !current.is_root() {
        tracing::warn!(%user, "not running as root, so the task runs as the executor's user");
        return Ok(());
    }
    command
        .uid(entry.uid.as_raw())
        .gid(entry.gid.as_raw())
        .env("USER", user)
        .env("HOME", &entry.dir);
    Ok(())
}

/// One line of `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub(crate) pid: i32,
    pub(crate) state: char,
    pub(crate) ppid: i32,
    pub(crate) pgrp: i32,
    pub(crate) start_time: u64,
}

/// Parses `/proc/<pid>/stat`; the command name may hold spaces and parentheses, so fields are
/// counted from the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let (head, tail) = text.rsplit_once(')')?;
    let pid = head.split_once('(')?.0.trim().parse().ok()?;
    let fields: Vec<&str> = tail.split_whitespace().collect();
    Some(ProcStat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

pub(crate) fn stat(pid: i32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process on the machine that has not exited (zombies excluded).
fn all_processes() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .filter(|s| s.state != 'Z' && s.state != 'X')
        .collect()
}

/// The live processes whose ancestry includes `root` (not `root` itself), or that are in
/// process group `pgrp`.
pub(crate) fn tree(root: i32, pgrp: Option<i32>) -> Vec<ProcStat> {
    let processes = all_processes();
    let parents: HashMap<i32, i32> = processes.iter().map(|p| (p.pid, p.ppid)).collect();
    let descends = |mut pid: i32| {
        // Bounded walk: a pid table always ends at 0 or 1, but guard against a torn read.
        for _ in 0..processes.len() {
            match parents.get(&pid) {
                Some(&parent) if parent == root => return true,
                Some(&parent) if parent > 1 => pid = parent,
                _ => return false,
            }
        }
        false
    };
    processes
        .iter()
        .filter(|p| p.pid != root && (Some(p.pgrp) == pgrp || descends(p.pid)))
        .copied()
        .collect()
}

/// The processes of one task: its leader and everything seen descending from it, remembered
/// across signals so that a process orphaned by its parent's death is still found.
#[derive(Debug, Default)]
pub(crate) struct ProcessTree {
    /// pid → start time, to never signal a recycled pid.
    known: HashMap<i32, u64>,
}

impl ProcessTree {
    /// Signals the group led by `leader`, every process descending from it, and every process
    /// seen earlier that still runs. Returns how many processes were signalled.
    pub(crate) fn signal(&mut self, leader: i32, signal: Signal) -> usize {
        // Members of the group that are not descendants are reached by `killpg` below.
        for process in descendants(leader) {
            self.known.entry(process.pid).or_insert(process.start_time);
        }
        if let Some(process) = stat(leader) {
            self.known.entry(leader).or_insert(process.start_time);
        }
        let _ = killpg(Pid::from_raw(leader), signal);
        let mut signalled = 0;
        self.known.retain(|&pid, &mut start_time| match stat(pid) {
            Some(s) if s.start_time == start_time && s.state != 'Z' && s.state != 'X' => {
                let _ = kill(Pid::from_raw(pid), signal);
                signalled += 1;
                true
            }
            _ => false,
        });
        signalled
    }

    /// Kills every process of the tree and waits (up to about a second) until none is left.
    pub(crate) async fn kill_all(&mut self, leader: i32) {
        for _ in 0..20 {
            if self.signal(leader, Signal::SIGKILL) == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Whether the kernel lists children in `/proc/<pid>/task/<tid>/children`
/// (`CONFIG_PROC_CHILDREN`); checked once, on this process.
fn child_lists_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let me = std::process::id();
        std::path::Path::new(&format!("/proc/{me}/task/{me}/children")).exists()
    })
}

/// The direct children of `pid`, from `/proc/<pid>/task/*/children` (zombies included).
/// `None` when the kernel does not provide the file.
fn children(pid: i32) -> Option<Vec<i32>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut out = Vec::new();
    let mut any = false;
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        any = true;
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    any.then_some(out)
}

/// Every descendant of `root`, walking the kernel's child lists: the cost follows the size of
/// the tree, not of the machine's process table (which matters with thousands of executors
/// on one host). Falls back to a scan of `/proc` when child lists are unavailable.
fn descendants(root: i32) -> Vec<ProcStat> {
    if !child_lists_available() {
        return tree(root, None);
    }
    // A root that is gone (already reaped) has no descendants left: its orphans moved to a
    // subreaper. Scanning the whole process table here, once per finished task, made a host
    // with thousands of executors quadratic.
    let mut out = Vec::new();
    let mut queue = children(root).unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    while let Some(pid) = queue.pop() {
        if !seen.insert(pid) {
            continue;
        }
        if let Some(s) = stat(pid) {
            out.push(s);
        }
        queue.extend(children(pid).unwrap_or_default());
    }
    out
}

/// Kills every live descendant of the executor itself. The executor makes itself a child
/// subreaper, so a task's orphans become its children; this finds them even if they left the
/// task's process group.
pub(crate) fn kill_own_descendants() {
    let me = std::process::id();
    let Ok(me) = i32::try_from(me) else { return };
    for process in descendants(me) {
        if process.state != 'Z' && process.state != 'X' {
            let _ = kill(Pid::from_raw(process.pid), Signal::SIGKILL);
        }
    }
}

/// Reaps exited children of the executor: orphans it adopted as a subreaper. Call it only when
/// no `Child` handle of the executor is still waiting, or it could take that child's status.
pub(crate) fn reap_adopted() {
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let kids = children(me).unwrap_or_else(|| {
        tree(me, None)
            .into_iter()
            .filter(|p| p.ppid == me)
            .map(|p| p.pid)
            .collect()
    });
    for pid in kids {
        if let Some(s) = stat(pid)
            && s.ppid == me
            && s.state == 'Z'
        {
            let _ = nix::sys::wait::waitpid(
                Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
    }
}

/// Mesos's wording of how a command ended: `exited with status N` or `terminated with signal
/// <name>`.
pub(crate) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("Command exited with status {code}"),
        (None, Some(signal)) => format!("Command terminated with signal {}", signal_name(signal)),
        (None, None) => "Command terminated".to_owned(),
    }
}

/// `strsignal(3)`'s names, as Mesos prints them.
fn signal_name(signal: i32) -> String {
    let name = match Signal::try_from(signal) {
        Ok(Signal::SIGHUP) => "Hangup",
        Ok(Signal::SIGINT) => "Interrupt",
        Ok(Signal::SIGQUIT) => "Quit",
        Ok(Signal::SIGILL) => "Illegal instruction",
        Ok(Signal::SIGTRAP) => "Trace/breakpoint trap",
        Ok(Signal::SIGABRT) => "Aborted",
        Ok(Signal::SIGBUS) => "Bus error",
        Ok(Signal::SIGFPE) => "Floating point exception",
        Ok(Signal::SIGKILL) => "Killed",
        Ok(Signal::SIGUSR1) => "User defined signal 1",
        Ok(Signal::SIGSEGV) => "Segmentation fault",
        Ok(Signal::SIGUSR2) => "User defined signal 2",
        Ok(Signal::SIGPIPE) => "Broken pipe",
        Ok(Signal::SIGALRM) => "Alarm clock",
        Ok(Signal::SIGTERM) => "Terminated",
        _ => return format!("Unknown signal {signal}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;

    #[test]
    fn parses_stat_lines_with_odd_names() {
        let line = "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                pid: 1234,
                state: 'S',
                ppid: 1,
                pgrp: 1234,
                start_time: 98765
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn describes_exits_as_mesos_does() {
        assert_eq!(
            describe(ExitStatus::from_raw(3 << 8)),
            "Command exited with status 3"
        );
        assert_eq!(
            describe(ExitStatus::from_raw(9)),
            "Command terminated with signal Killed"
        );
        assert_eq!(
            describe(ExitStatus::from_raw(15)),
            "Command terminated with signal Terminated"
        );
    }

    #[test]
    fn argv_form_keeps_argv0() {
        let info = pb::CommandInfo {
            shell: Some(false),
            value: Some("/bin/echo".into()),
            arguments: vec!["echo".into(), "hi".into()],
            ..pb::CommandInfo::default()
        };
        let command = command(&info).unwrap();
        let std = command.as_std();
        assert_eq!(std.get_program(), "/bin/echo");
        assert_eq!(std.get_args().collect::<Vec<_>>(), ["hi"]);
        let shell = pb::CommandInfo {
            value: Some("exit 3".into()),
            ..pb::CommandInfo::default()
        };
        let command = super::command(&shell).unwrap();
        assert_eq!(command.as_std().get_program(), "/bin/sh");
        assert_eq!(
            command.as_std().get_args().collect::<Vec<_>>(),
            ["-c", "exit 3"]
        );
    }
}
