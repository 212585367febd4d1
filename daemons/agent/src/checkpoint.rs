//! Checkpoints under `<work_dir>/meta`: small protobuf files written atomically, and per-task
//! append-only logs of status updates and acknowledgements. Appends are made durable in batches
//! by the agent's [`crate::syncer::Syncer`] (one `syncfs` per group of bursts of events).
//!
//! Log record: one kind byte (`U` update, `A` acknowledgement), then a RecordIO record whose
//! payload is the `TaskStatus` or the 16-byte uuid. A torn tail is ignored on reading.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use mesos_core::proto::v1::{AgentInfo, ExecutorInfo, FrameworkInfo, Task, TaskStatus};
use prost::Message;

use crate::paths::{Layout, RunKey, relink};

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// How durable a write must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync before the rename: survives a machine crash (checkpointing frameworks).
    Synced,
    /// Rename only: survives the agent process dying, not the machine. Enough for what lets
    /// a restarted agent find and clean up executors of non-checkpointing frameworks (after
    /// a reboot those processes are gone anyway), and it keeps the disk out of the launch path.
    Unsynced,
}

impl Durability {
    /// `Synced` for a framework that asked for checkpointing.
    pub fn for_framework(checkpoint: bool) -> Durability {
        if checkpoint {
            Durability::Synced
        } else {
            Durability::Unsynced
        }
    }
}

/// Writes `bytes` to `path` atomically (temporary file, rename), with an fsync first when
/// `durability` asks for it.
pub fn write_replacing(path: &Path, bytes: &[u8], durability: Durability) -> io::Result<()> {
    if durability == Durability::Synced {
        return write_atomic(path, bytes);
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// Writes a protobuf message atomically.
pub fn write_message<M: Message>(path: &Path, message: &M) -> io::Result<()> {
    write_atomic(path, &message.encode_to_vec())
}

/// Reads a protobuf message; `None` when the file does not exist.
pub fn read_message<M: Message + Default>(path: &Path) -> io::Result<Option<M>> {
    match fs::read(path) {
        Ok(bytes) => M::decode(&bytes[..]).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// One entry of a task's update log.
#[allow(clippy::large_enum_variant)] // short-lived, one per append
#[derive(Debug, Clone, PartialEq)]
pub enum LogRecord {
    /// An update was accepted.
    Update(TaskStatus),
    /// The update with this uuid was acknowledged.
    Ack(Vec<u8>),
}

fn encode_record(record: &LogRecord) -> Vec<u8> {
    let (kind, payload) = match record {
        LogRecord::Update(s) => (b'U', s.encode_to_vec()),
        LogRecord::Ack(uuid) => (b'A', uuid.clone()),
    };
    let mut out = vec![kind];
    mesos_core::recordio::encode(&payload, &mut out);
    out
}

/// Reads a task's update log, stopping quietly at a torn or corrupt tail.
pub fn read_log(path: &Path) -> io::Result<Vec<LogRecord>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while let Some((&kind, tail)) = rest.split_first() {
        let Some(nl) = tail.iter().position(|b| *b == b'\n') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&tail[..nl])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            break;
        };
        let body = &tail[nl + 1..];
        if body.len() < len {
            break;
        }
        let payload = &body[..len];
        let record = match kind {
            b'U' => match TaskStatus::decode(payload) {
                Ok(s) => LogRecord::Update(s),
                Err(_) => break,
            },
            b'A' => LogRecord::Ack(payload.to_vec()),
            _ => break,
        };
        out.push(record);
        rest = &body[len..];
    }
    Ok(out)
}

/// Appends to task update logs, keeping up to [`MAX_OPEN_LOGS`] files open; durability is the
/// caller's business (see [`UpdateLog::take_unsynced`]).
#[derive(Debug, Default)]
pub struct UpdateLog {
    open: HashMap<PathBuf, File>,
    unsynced: bool,
}

/// How many task logs stay open between appends. A log is open from a task's first update to
/// its terminal acknowledgement, so a burst of thousands of short tasks on one agent would
/// otherwise hold a descriptor each on top of its executor's connections (10,000 tasks at
/// once ran the agent out of descriptors). Past this many, one is closed before the next is
/// opened: reopening a log to append costs one `open`, and the group commit's `syncfs` covers
/// closed files as well as open ones.
pub const MAX_OPEN_LOGS: usize = 256;

impl UpdateLog {
    /// Appends one record, written but not yet durable. Only updates make the log need a
    /// sync before what depends on them (forwarding the update) may happen: a lost
    /// acknowledgement only means the update is sent again after a restart, which the
    /// protocol allows, so acknowledgements never wait for the disk.
    pub fn append(&mut self, path: &Path, record: &LogRecord) -> io::Result<()> {
        if !self.open.contains_key(path) {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            if self.open.len() >= MAX_OPEN_LOGS
                && let Some(evicted) = self.open.keys().next().cloned()
            {
                self.open.remove(&evicted);
            }
            let f = OpenOptions::new().create(true).append(true).open(path)?;
            self.open.insert(path.to_path_buf(), f);
        }
        let f = self.open.get_mut(path).expect("inserted above");
        f.write_all(&encode_record(record))?;
        if matches!(record, LogRecord::Update(_)) {
            self.unsynced = true;
        }
        Ok(())
    }

    /// Whether updates were appended since the last call (they need a sync), and forgets it.
    pub fn take_unsynced(&mut self) -> bool {
        std::mem::take(&mut self.unsynced)
    }

    /// Closes a finished task's log.
    pub fn close(&mut self, path: &Path) {
        self.open.remove(path);
    }
}

/// A task found in the checkpoint.
#[derive(Debug, Clone, Default)]
pub struct RecoveredTask {
    /// The task as launched (state as of launch).
    pub task: Option<Task>,
    /// Updates in order, with acknowledged ones marked.
    pub updates: Vec<TaskStatus>,
    /// Uuids acknowledged.
    pub acked: HashSet<Vec<u8>>,
}

impl RecoveredTask {
    /// Updates not yet acknowledged, oldest first.
    pub fn unacked(&self) -> Vec<TaskStatus> {
        self.updates
            .iter()
            .filter(|s| !s.uuid.as_ref().is_some_and(|u| self.acked.contains(u)))
            .cloned()
            .collect()
    }

    /// Whether a terminal update was acknowledged.
    pub fn terminal_acked(&self) -> bool {
        self.updates.iter().any(|s| {
            crate::status_updates::is_terminal(s.state)
                && s.uuid.as_ref().is_some_and(|u| self.acked.contains(u))
        })
    }

    /// The newest state known.
    pub fn latest_state(&self) -> Option<i32> {
        self.updates.last().map(|s| s.state)
    }
}

/// An executor run found in the checkpoint.
#[derive(Debug, Clone, Default)]
pub struct RecoveredRun {
    /// Container id.
    pub container_id: String,
    /// The executor's pid, when it was forked.
    pub pid: Option<i32>,
    /// Whether the run is known to have ended.
    pub completed: bool,
    /// Its tasks by id.
    pub tasks: BTreeMap<String, RecoveredTask>,
}

/// An executor found in the checkpoint.
#[derive(Debug, Clone)]
pub struct RecoveredExecutor {
    /// The executor.
    pub info: ExecutorInfo,
    /// Its newest run.
    pub run: Option<RecoveredRun>,
}

/// A framework found in the checkpoint.
#[derive(Debug, Clone)]
pub struct RecoveredFramework {
    /// The framework.
    pub info: FrameworkInfo,
    /// Its executors by id.
    pub executors: BTreeMap<String, RecoveredExecutor>,
}

/// Everything checkpointed by a previous run of the agent.
#[derive(Debug, Clone)]
pub struct RecoveredAgent {
    /// The agent id.
    pub agent_id: String,
    /// The agent info as registered.
    pub info: Option<AgentInfo>,
    /// Frameworks by id.
    pub frameworks: BTreeMap<String, RecoveredFramework>,
}

fn dir_names(path: &Path) -> io::Result<Vec<String>> {
    match fs::read_dir(path) {
        Ok(entries) => {
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            names.sort();
            Ok(names)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Reads the checkpoint of the latest agent, if there is one: frameworks that checkpoint from
/// `layout`, the others' executors from `volatile` (the runtime directory's tree).
pub fn recover(layout: &Layout, volatile: &Layout) -> io::Result<Option<RecoveredAgent>> {
    let link = layout.latest_agent_link();
    let target = match fs::read_link(&link) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(agent_id) = target
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
    else {
        return Ok(None);
    };
    let info = read_message::<AgentInfo>(&layout.agent_info(&agent_id))?;
    let mut frameworks = recover_frameworks(layout, &agent_id)?;
    for (fid, found) in recover_frameworks(volatile, &agent_id)? {
        let framework = frameworks.entry(fid).or_insert_with(|| RecoveredFramework {
            info: found.info.clone(),
            executors: BTreeMap::new(),
        });
        for (eid, executor) in found.executors {
            framework.executors.entry(eid).or_insert(executor);
        }
    }
    Ok(Some(RecoveredAgent {
        agent_id,
        info,
        frameworks,
    }))
}

fn recover_frameworks(
    layout: &Layout,
    agent_id: &str,
) -> io::Result<BTreeMap<String, RecoveredFramework>> {
    let mut frameworks = BTreeMap::new();
    for fid in dir_names(&layout.frameworks_meta(agent_id))? {
        let Some(finfo) = read_message::<FrameworkInfo>(&layout.framework_info(agent_id, &fid))?
        else {
            continue;
        };
        let mut executors = BTreeMap::new();
        let exec_root = layout.framework_meta(agent_id, &fid).join("executors");
        for eid in dir_names(&exec_root)? {
            let Some(einfo) =
                read_message::<ExecutorInfo>(&layout.executor_info(agent_id, &fid, &eid))?
            else {
                continue;
            };
            let runs_dir = layout.executor_meta(agent_id, &fid, &eid).join("runs");
            let latest = fs::read_link(runs_dir.join("latest"))
                .ok()
                .and_then(|t| t.file_name().and_then(|n| n.to_str()).map(str::to_string));
            let run = match latest {
                None => None,
                Some(cid) => {
                    let key = RunKey {
                        framework_id: fid.clone(),
                        executor_id: eid.clone(),
                        container_id: cid.clone(),
                    };
                    Some(recover_run(layout, agent_id, &key)?)
                }
            };
            executors.insert(eid, RecoveredExecutor { info: einfo, run });
        }
        frameworks.insert(
            fid,
            RecoveredFramework {
                info: finfo,
                executors,
            },
        );
    }
    Ok(frameworks)
}

fn recover_run(layout: &Layout, agent_id: &str, key: &RunKey) -> io::Result<RecoveredRun> {
    let pid = fs::read_to_string(layout.forked_pid(agent_id, key))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    let completed = layout.run_completed(agent_id, key).exists();
    let mut tasks = BTreeMap::new();
    for tid in dir_names(&layout.run_meta(agent_id, key).join("tasks"))? {
        let task = read_message::<Task>(&layout.task_info(agent_id, key, &tid))?;
        let mut recovered = RecoveredTask {
            task,
            ..Default::default()
        };
        for record in read_log(&layout.task_updates(agent_id, key, &tid))? {
            match record {
                LogRecord::Update(s) => recovered.updates.push(s),
                LogRecord::Ack(uuid) => {
                    recovered.acked.insert(uuid);
                }
            }
        }
        tasks.insert(tid, recovered);
    }
    Ok(RecoveredRun {
        container_id: key.container_id.clone(),
        pid,
        completed,
        tasks,
    })
}

/// Records the agent id and info and points `meta/slaves/latest` at it.
pub fn checkpoint_agent(layout: &Layout, info: &AgentInfo, agent_id: &str) -> io::Result<()> {
    write_message(&layout.agent_info(agent_id), info)?;
    relink(&layout.agent_meta(agent_id), &layout.latest_agent_link())
}

/// Marks a run's checkpoint as belonging to a new container run (`runs/latest`).
pub fn checkpoint_run_start(layout: &Layout, agent_id: &str, key: &RunKey) -> io::Result<()> {
    let dir = layout.run_meta(agent_id, key);
    fs::create_dir_all(&dir)?;
    relink(&dir, &dir.with_file_name("latest"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_core::proto::v1::TaskId;

    #[test]
    fn log_roundtrip_ignores_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t/task.updates");
        let mut log = UpdateLog::default();
        let s = TaskStatus {
            task_id: TaskId { value: "t".into() },
            state: 1,
            uuid: Some(vec![7; 16]),
            ..Default::default()
        };
        log.append(&path, &LogRecord::Update(s.clone())).unwrap();
        log.append(&path, &LogRecord::Ack(vec![7; 16])).unwrap();
        assert!(log.take_unsynced());
        assert!(!log.take_unsynced());
        log.close(&path);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"U99\nabc").unwrap();
        let records = read_log(&path).unwrap();
        assert_eq!(
            records,
            vec![LogRecord::Update(s), LogRecord::Ack(vec![7; 16])]
        );
    }

    #[test]
    fn more_logs_than_stay_open_keep_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = UpdateLog::default();
        let tasks = MAX_OPEN_LOGS + 40;
        let path = |t: usize| dir.path().join(format!("t{t}/task.updates"));
        let status = |t: usize| TaskStatus {
            task_id: TaskId {
                value: format!("t{t}"),
            },
            state: 1,
            uuid: Some(vec![u8::try_from(t % 256).unwrap(); 16]),
            ..Default::default()
        };
        // Two rounds over every log: the second round reopens the ones closed to make room.
        for round in 0..2 {
            for t in 0..tasks {
                let record = if round == 0 {
                    LogRecord::Update(status(t))
                } else {
                    LogRecord::Ack(status(t).uuid.unwrap())
                };
                log.append(&path(t), &record).unwrap();
                assert!(log.open.len() <= MAX_OPEN_LOGS);
            }
        }
        for t in 0..tasks {
            assert_eq!(
                read_log(&path(t)).unwrap(),
                vec![
                    LogRecord::Update(status(t)),
                    LogRecord::Ack(status(t).uuid.unwrap())
                ],
                "task {t}"
            );
        }
    }
}
