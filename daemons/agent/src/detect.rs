//! The agent's total resources: detected cpus, memory, disk and the default port range, each
//! replaced by a `--resources` entry of the same name (Mesos's `Containerizer::resources`).

use std::path::Path;

use mesos_core::resources::{Resource, Resources, parse_flag_text};

use crate::AgentError;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
const DEFAULT_MEM: u64 = GIB;
const DEFAULT_DISK: u64 = 10 * GIB;

/// What the machine offers, as probed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probed {
    /// Online CPUs.
    pub cpus: f64,
    /// Total memory in bytes, if known.
    pub mem_total: Option<u64>,
    /// Size of the work directory's filesystem in bytes, if known.
    pub disk_total: Option<u64>,
}

/// Probes this machine.
pub fn probe(work_dir: &Path) -> Probed {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| parse_meminfo_total(&text));
    let disk_total = nix::sys::statvfs::statvfs(work_dir)
        .ok()
        .map(|s| s.blocks() * s.fragment_size());
    Probed {
        cpus,
        mem_total,
        disk_total,
    }
}

fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Memory offered: total minus 1 GiB when there are at least 2 GiB, else half.
pub fn usable_mem_mb(total: Option<u64>) -> u64 {
    let bytes = match total {
        None => DEFAULT_MEM,
        Some(t) if t >= 2 * GIB => t - GIB,
        Some(t) => t / 2,
    };
    bytes / MIB
}

/// Disk offered: total minus 5 GiB when there are at least 10 GiB, else half.
pub fn usable_disk_mb(total: Option<u64>) -> u64 {
    let bytes = match total {
        None => DEFAULT_DISK,
        Some(t) if t >= 10 * GIB => t - 5 * GIB,
        Some(t) => t / 2,
    };
    bytes / MIB
}

/// Combines `--resources` with probed values for whatever it leaves out.
pub fn agent_resources(
    flag: Option<&str>,
    default_role: &str,
    probed: Probed,
) -> Result<Resources, AgentError> {
    let mut resources = match flag {
        Some(text) if !text.trim().is_empty() => parse_flag_text(text, default_role)
            .map_err(|e| AgentError::Flags(format!("invalid --resources: {e}")))?,
        _ => Resources::new(),
    };
    let has = |r: &Resources, name: &str| r.iter().any(|x| x.name == name);
    if !has(&resources, "cpus") {
        resources.add_resource(&Resource::scalar("cpus", probed.cpus));
    }
    if !has(&resources, "mem") {
        resources.add_resource(&Resource::scalar(
            "mem",
            usable_mem_mb(probed.mem_total) as f64,
        ));
    }
    if !has(&resources, "disk") {
        resources.add_resource(&Resource::scalar(
            "disk",
            usable_disk_mb(probed.disk_total) as f64,
        ));
    }
    if !has(&resources, "ports") {
        resources.add_resource(&Resource::range("ports", 31000, 32000));
    }
    Ok(resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_like_mesos() {
        assert_eq!(usable_mem_mb(Some(8 * GIB)), 7 * 1024);
        assert_eq!(usable_mem_mb(Some(GIB)), 512);
        assert_eq!(usable_disk_mb(Some(100 * GIB)), 95 * 1024);
        assert_eq!(usable_disk_mb(Some(4 * GIB)), 2048);
        assert_eq!(usable_disk_mb(None), 10 * 1024);
    }

    #[test]
    fn flag_entries_override_probes() {
        let probed = Probed {
            cpus: 8.0,
            mem_total: Some(16 * GIB),
            disk_total: Some(100 * GIB),
        };
        let r = agent_resources(Some("cpus:2;gpus:1"), "*", probed).unwrap();
        assert_eq!(
            r.to_string(),
            "cpus:2; gpus:1; mem:15360; disk:97280; ports:[31000-32000]"
        );
        assert!(agent_resources(Some("cpus:x"), "*", probed).is_err());
        assert_eq!(
            parse_meminfo_total("MemTotal:  1024 kB\n"),
            Some(1024 * 1024)
        );
    }
}
