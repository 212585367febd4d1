//! `/monitor/statistics`: resource usage of each executor's process tree, read from `/proc`
//! (executors lead their own process group, so the tree is the group).

// `ExecutorInfo.source` and `FrameworkInfo.role` are deprecated but Mesos still reports them.
#![allow(deprecated)]

use mesos_core::proto::v1::ResourceStatistics;
use mesos_core::resources::convert::resources_from_proto;
use serde_json::{Value, json};

use crate::core::Core;
use crate::state::ExecutorState;

/// What the monitor needs to know about one executor.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub framework_id: String,
    pub executor_id: String,
    pub executor_name: String,
    pub source: String,
    pub container_id: String,
    pub pid: Option<i32>,
    pub cpus_limit: Option<f64>,
    pub mem_limit: Option<u64>,
}

/// Running executors.
pub(crate) fn targets(core: &mut Core) -> Vec<Target> {
    let mut out = Vec::new();
    for f in core.frameworks.values() {
        for e in f.executors.values() {
            if e.state == ExecutorState::Terminated {
                continue;
            }
            let mut resources = resources_from_proto(&e.info.resources).unwrap_or_default();
            for t in e.launched.values() {
                resources += &resources_from_proto(&t.resources).unwrap_or_default();
            }
            out.push(Target {
                framework_id: e.key.framework_id.clone(),
                executor_id: e.key.executor_id.clone(),
                executor_name: e.info.name.clone().unwrap_or_default(),
                source: e.info.source.clone().unwrap_or_default(),
                container_id: e.key.container_id.clone(),
                pid: e.pid,
                cpus_limit: resources.cpus().map(|s| s.as_f64()),
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                mem_limit: resources
                    .mem()
                    .map(|s| (s.as_f64() * 1024.0 * 1024.0) as u64),
            });
        }
    }
    out
}

struct ProcStat {
    pgrp: i32,
    utime: u64,
    stime: u64,
    threads: u64,
    rss_pages: u64,
}

fn read_stat(pid: &str) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the command: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) ... num_threads(17) ... rss(21)
    Some(ProcStat {
        pgrp: fields.get(2)?.parse().ok()?,
        utime: fields.get(11)?.parse().ok()?,
        stime: fields.get(12)?.parse().ok()?,
        threads: fields.get(17)?.parse().ok()?,
        rss_pages: fields.get(21)?.parse().ok()?,
    })
}

/// Usage of the process group led by `pid`.
pub(crate) fn usage(pid: i32) -> ResourceStatistics {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)
        .unwrap_or(100) as f64;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096);
    let (mut processes, mut threads, mut utime, mut stime, mut rss) =
        (0u32, 0u64, 0u64, 0u64, 0u64);
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Some(stat) = read_stat(name) else {
                continue;
            };
            if stat.pgrp != pid {
                continue;
            }
            processes += 1;
            threads += stat.threads;
            utime += stat.utime;
            stime += stat.stime;
            rss += stat.rss_pages * page;
        }
    }
    ResourceStatistics {
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        processes: Some(processes),
        threads: Some(u32::try_from(threads).unwrap_or(u32::MAX)),
        cpus_user_time_secs: Some(utime as f64 / ticks),
        cpus_system_time_secs: Some(stime as f64 / ticks),
        mem_rss_bytes: Some(rss),
        mem_total_bytes: Some(rss),
        ..Default::default()
    }
}

/// Statistics of one target, with its limits.
pub(crate) fn target_statistics(t: &Target) -> ResourceStatistics {
    let mut s = t.pid.map(usage).unwrap_or_default();
    s.cpus_limit = t.cpus_limit;
    s.mem_limit_bytes = t.mem_limit;
    s
}

/// The `/monitor/statistics` array.
pub(crate) fn statistics_json(targets: &[Target]) -> Value {
    Value::Array(
        targets
            .iter()
            .map(|t| {
                json!({
                    "framework_id": t.framework_id,
                    "executor_id": t.executor_id,
                    "executor_name": t.executor_name,
                    "source": t.source,
                    "container_id": t.container_id,
                    "statistics": mesos_core::json::to_value(&target_statistics(t)),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process_group() {
        let pgrp = nix::unistd::getpgrp().as_raw();
        let s = usage(pgrp);
        assert!(s.processes.unwrap_or(0) >= 1);
        assert!(s.mem_rss_bytes.unwrap_or(0) > 0);
    }
}
