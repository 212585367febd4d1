//! The on-disk layout under `--work_dir`, as Mesos's `src/slave/paths.hpp` lays it out:
//! sandboxes under `slaves/`, checkpoints under `meta/slaves/`.

use std::path::{Path, PathBuf};

/// Names the run of one executor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunKey {
    /// Framework id.
    pub framework_id: String,
    /// Executor id.
    pub executor_id: String,
    /// Container id (a UUID).
    pub container_id: String,
}

/// Paths of one agent's work directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    meta: PathBuf,
}

impl Layout {
    /// The layout rooted at `work_dir`, with checkpoints under `<work_dir>/meta`.
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        let root = work_dir.into();
        Layout {
            meta: root.join("meta"),
            root,
        }
    }

    /// The same sandboxes, with the checkpoint tree under `<runtime_dir>/meta` instead: where
    /// the agent records executors of frameworks that do not checkpoint. Like Mesos's
    /// `--runtime_dir`, that tree must survive an agent crash (so a restarted agent can find
    /// and kill those executors) but not a reboot, so it belongs on a tmpfs such as
    /// `/var/run`, and it keeps most of a short task's file creations off the work_dir's disk.
    pub fn with_runtime_meta(&self, runtime_dir: impl AsRef<Path>) -> Self {
        Layout {
            root: self.root.clone(),
            meta: runtime_dir.as_ref().join("meta"),
        }
    }

    /// The work directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<work_dir>/meta` (or `<runtime_dir>/meta`, see [`Layout::with_runtime_meta`]).
    pub fn meta(&self) -> PathBuf {
        self.meta.clone()
    }

    /// `<work_dir>/meta/resources/resources.info`: dynamic reservations and volumes.
    pub fn checkpointed_resources(&self) -> PathBuf {
        self.meta().join("resources").join("resources.info")
    }

    /// `<work_dir>/meta/boot_id`.
    pub fn boot_id(&self) -> PathBuf {
        self.meta().join("boot_id")
    }

    /// `<work_dir>/meta/slaves/latest`: a symlink to the current agent's meta directory.
    pub fn latest_agent_link(&self) -> PathBuf {
        self.meta().join("slaves").join("latest")
    }

    /// `<work_dir>/meta/slaves/<aid>`.
    pub fn agent_meta(&self, agent_id: &str) -> PathBuf {
        self.meta().join("slaves").join(agent_id)
    }

    /// `<work_dir>/meta/slaves/<aid>/slave.info`.
    pub fn agent_info(&self, agent_id: &str) -> PathBuf {
        self.agent_meta(agent_id).join("slave.info")
    }

    /// `<work_dir>/meta/slaves/<aid>/frameworks`.
    pub fn frameworks_meta(&self, agent_id: &str) -> PathBuf {
        self.agent_meta(agent_id).join("frameworks")
    }

    /// `.../frameworks/<fid>`.
    pub fn framework_meta(&self, agent_id: &str, framework_id: &str) -> PathBuf {
        self.frameworks_meta(agent_id).join(framework_id)
    }

    /// `.../frameworks/<fid>/framework.info`.
    pub fn framework_info(&self, agent_id: &str, framework_id: &str) -> PathBuf {
        self.framework_meta(agent_id, framework_id)
            .join("framework.info")
    }

    /// `.../frameworks/<fid>/executors/<eid>`.
    pub fn executor_meta(&self, agent_id: &str, framework_id: &str, executor_id: &str) -> PathBuf {
        self.framework_meta(agent_id, framework_id)
            .join("executors")
            .join(executor_id)
    }

    /// `.../executors/<eid>/executor.info`.
    pub fn executor_info(&self, agent_id: &str, framework_id: &str, executor_id: &str) -> PathBuf {
        self.executor_meta(agent_id, framework_id, executor_id)
            .join("executor.info")
    }

    /// `.../executors/<eid>/runs/<cid>`.
    pub fn run_meta(&self, agent_id: &str, run: &RunKey) -> PathBuf {
        self.executor_meta(agent_id, &run.framework_id, &run.executor_id)
            .join("runs")
            .join(&run.container_id)
    }

    /// `.../runs/<cid>/pids/forked.pid`.
    pub fn forked_pid(&self, agent_id: &str, run: &RunKey) -> PathBuf {
        self.run_meta(agent_id, run).join("pids").join("forked.pid")
    }

    /// `.../runs/<cid>/completed`: present once the run has ended.
    pub fn run_completed(&self, agent_id: &str, run: &RunKey) -> PathBuf {
        self.run_meta(agent_id, run).join("completed")
    }

    /// `.../runs/<cid>/tasks/<tid>`.
    pub fn task_meta(&self, agent_id: &str, run: &RunKey, task_id: &str) -> PathBuf {
        self.run_meta(agent_id, run).join("tasks").join(task_id)
    }

    /// `.../tasks/<tid>/task.info`.
    pub fn task_info(&self, agent_id: &str, run: &RunKey, task_id: &str) -> PathBuf {
        self.task_meta(agent_id, run, task_id).join("task.info")
    }

    /// `.../tasks/<tid>/task.updates`.
    pub fn task_updates(&self, agent_id: &str, run: &RunKey, task_id: &str) -> PathBuf {
        self.task_meta(agent_id, run, task_id).join("task.updates")
    }

    /// `<work_dir>/slaves/<aid>`.
    pub fn agent_dir(&self, agent_id: &str) -> PathBuf {
        self.root.join("slaves").join(agent_id)
    }

    /// `<work_dir>/slaves/<aid>/frameworks/<fid>/executors/<eid>`.
    pub fn executor_dir(&self, agent_id: &str, framework_id: &str, executor_id: &str) -> PathBuf {
        self.agent_dir(agent_id)
            .join("frameworks")
            .join(framework_id)
            .join("executors")
            .join(executor_id)
    }

    /// The sandbox: `.../executors/<eid>/runs/<cid>`.
    pub fn sandbox(&self, agent_id: &str, run: &RunKey) -> PathBuf {
        self.executor_dir(agent_id, &run.framework_id, &run.executor_id)
            .join("runs")
            .join(&run.container_id)
    }

    /// `.../executors/<eid>/runs/latest`.
    pub fn latest_sandbox_link(
        &self,
        agent_id: &str,
        framework_id: &str,
        executor_id: &str,
    ) -> PathBuf {
        self.executor_dir(agent_id, framework_id, executor_id)
            .join("runs")
            .join("latest")
    }
}

/// Whether an id is safe to use as one path component.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id != "latest"
        && !id.contains('/')
        && !id.contains('\0')
        && id.len() <= 242
}

/// Replaces `link` with a symlink to `target`.
pub fn relink(target: &Path, link: &Path) -> std::io::Result<()> {
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = link.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_mesos() {
        let l = Layout::new("/w");
        let run = RunKey {
            framework_id: "f".into(),
            executor_id: "e".into(),
            container_id: "c".into(),
        };
        assert_eq!(
            l.sandbox("a", &run),
            Path::new("/w/slaves/a/frameworks/f/executors/e/runs/c")
        );
        assert_eq!(
            l.task_updates("a", &run, "t"),
            Path::new("/w/meta/slaves/a/frameworks/f/executors/e/runs/c/tasks/t/task.updates")
        );
        let volatile = l.with_runtime_meta("/run/mesos");
        assert_eq!(volatile.sandbox("a", &run), l.sandbox("a", &run));
        assert_eq!(
            volatile.forked_pid("a", &run),
            Path::new("/run/mesos/meta/slaves/a/frameworks/f/executors/e/runs/c/pids/forked.pid")
        );
        assert!(!valid_id("../x"));
        assert!(valid_id("task-1"));
    }
}
