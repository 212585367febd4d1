//! The registry: what must survive a master restart. Admitted agents, unreachable agents,
//! weights, quota and the maintenance schedule, stored in an embedded ACID store (redb) under
//! `--work_dir`, or in memory with `--registry=in_memory`.
//!
//! Each change is committed before the master acts on it (an agent is told REGISTERED only
//! after its admission is durable), so a restart never forgets an acknowledged change.

use std::path::Path;

use mesos_core::proto::v1 as pb;
use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const AGENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("agents");
const UNREACHABLE: TableDefinition<&str, f64> = TableDefinition::new("unreachable");
const GONE: TableDefinition<&str, f64> = TableDefinition::new("gone");
const WEIGHTS: TableDefinition<&str, f64> = TableDefinition::new("weights");
const QUOTA: TableDefinition<&str, &[u8]> = TableDefinition::new("quota");
const MAINTENANCE: TableDefinition<&str, &[u8]> = TableDefinition::new("maintenance");

const SCHEDULE_KEY: &str = "schedule";
/// The DOWN machines, stored as a `ClusterStatus` holding only `down_machines`.
const DOWN_KEY: &str = "down";

/// A registry operation that failed; the change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry store: {0}")]
    Store(String),
    #[error("registry entry '{key}' is corrupt: {source}")]
    Corrupt {
        key: String,
        source: prost::DecodeError,
    },
}

fn store<E: std::fmt::Display>(e: E) -> RegistryError {
    RegistryError::Store(e.to_string())
}

/// Everything the registry holds, read once at start.
#[derive(Debug, Default, Clone)]
pub struct RegistrySnapshot {
    pub agents: Vec<pb::AgentInfo>,
    pub unreachable: Vec<(String, f64)>,
    pub gone: Vec<(String, f64)>,
    pub weights: Vec<(String, f64)>,
    pub quota: Vec<pb::quota::QuotaConfig>,
    pub maintenance: Option<pb::maintenance::Schedule>,
    /// Machines in DOWN mode.
    pub down_machines: Vec<pb::MachineId>,
}

/// The durable store. `close` releases the file (and its lock) even while other parts of a
/// stopping master still hold the registry.
pub struct Registry {
    db: Option<Database>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry")
    }
}

impl Registry {
    /// Opens (or creates) the registry file `<work_dir>/registry.redb`.
    pub fn open(work_dir: &Path) -> Result<Registry, RegistryError> {
        std::fs::create_dir_all(work_dir).map_err(store)?;
        let db = Database::create(work_dir.join("registry.redb")).map_err(store)?;
        Self::init(db)
    }

    /// A registry that lives only as long as the process.
    pub fn in_memory() -> Result<Registry, RegistryError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(store)?;
        Self::init(db)
    }

    fn init(db: Database) -> Result<Registry, RegistryError> {
        let tx = db.begin_write().map_err(store)?;
        tx.open_table(AGENTS).map_err(store)?;
        tx.open_table(UNREACHABLE).map_err(store)?;
        tx.open_table(GONE).map_err(store)?;
        tx.open_table(WEIGHTS).map_err(store)?;
        tx.open_table(QUOTA).map_err(store)?;
        tx.open_table(MAINTENANCE).map_err(store)?;
        tx.commit().map_err(store)?;
        Ok(Registry { db: Some(db) })
    }

    fn db(&self) -> Result<&Database, RegistryError> {
        self.db
            .as_ref()
            .ok_or_else(|| RegistryError::Store("the registry is closed".to_string()))
    }

    /// Closes the store; later operations fail.
    pub fn close(&mut self) {
        self.db = None;
    }

    /// Reads everything.
    pub fn snapshot(&self) -> Result<RegistrySnapshot, RegistryError> {
        let tx = self.db()?.begin_read().map_err(store)?;
        let mut snap = RegistrySnapshot::default();
        for entry in tx
            .open_table(AGENTS)
            .map_err(store)?
            .iter()
            .map_err(store)?
        {
            let (k, v) = entry.map_err(store)?;
            snap.agents
                .push(pb::AgentInfo::decode(v.value()).map_err(|source| {
                    RegistryError::Corrupt {
                        key: k.value().to_string(),
                        source,
                    }
                })?);
        }
        for entry in tx
            .open_table(UNREACHABLE)
            .map_err(store)?
            .iter()
            .map_err(store)?
        {
            let (k, v) = entry.map_err(store)?;
            snap.unreachable.push((k.value().to_string(), v.value()));
        }
        for entry in tx.open_table(GONE).map_err(store)?.iter().map_err(store)? {
            let (k, v) = entry.map_err(store)?;
            snap.gone.push((k.value().to_string(), v.value()));
        }
        for entry in tx
            .open_table(WEIGHTS)
            .map_err(store)?
            .iter()
            .map_err(store)?
        {
            let (k, v) = entry.map_err(store)?;
            snap.weights.push((k.value().to_string(), v.value()));
        }
        for entry in tx.open_table(QUOTA).map_err(store)?.iter().map_err(store)? {
            let (k, v) = entry.map_err(store)?;
            snap.quota
                .push(pb::quota::QuotaConfig::decode(v.value()).map_err(|source| {
                    RegistryError::Corrupt {
                        key: k.value().to_string(),
                        source,
                    }
                })?);
        }
        if let Some(v) = tx
            .open_table(MAINTENANCE)
            .map_err(store)?
            .get(SCHEDULE_KEY)
            .map_err(store)?
        {
            snap.maintenance = Some(pb::maintenance::Schedule::decode(v.value()).map_err(
                |source| RegistryError::Corrupt {
                    key: SCHEDULE_KEY.to_string(),
                    source,
                },
            )?);
        }
        if let Some(v) = tx
            .open_table(MAINTENANCE)
            .map_err(store)?
            .get(DOWN_KEY)
            .map_err(store)?
        {
            snap.down_machines = pb::maintenance::ClusterStatus::decode(v.value())
                .map_err(|source| RegistryError::Corrupt {
                    key: DOWN_KEY.to_string(),
                    source,
                })?
                .down_machines;
        }
        Ok(snap)
    }

    /// Admits (or updates) an agent; it is no longer unreachable.
    pub fn admit_agent(&self, info: &pb::AgentInfo) -> Result<(), RegistryError> {
        let id = info
            .id
            .as_ref()
            .map(|i| i.value.as_str())
            .unwrap_or_default();
        let tx = self.db()?.begin_write().map_err(store)?;
        tx.open_table(AGENTS)
            .map_err(store)?
            .insert(id, info.encode_to_vec().as_slice())
            .map_err(store)?;
        tx.open_table(UNREACHABLE)
            .map_err(store)?
            .remove(id)
            .map_err(store)?;
        tx.commit().map_err(store)
    }

    /// Moves an admitted agent to the unreachable list.
    pub fn mark_unreachable(&self, id: &str, time: f64) -> Result<(), RegistryError> {
        let tx = self.db()?.begin_write().map_err(store)?;
        tx.open_table(AGENTS)
            .map_err(store)?
            .remove(id)
            .map_err(store)?;
        tx.open_table(UNREACHABLE)
            .map_err(store)?
            .insert(id, time)
            .map_err(store)?;
        tx.commit().map_err(store)
    }

    /// Marks an agent gone for good.
    pub fn mark_gone(&self, id: &str, time: f64) -> Result<(), RegistryError> {
        let tx = self.db()?.begin_write().map_err(store)?;
        tx.open_table(AGENTS)
            .map_err(store)?
            .remove(id)
            .map_err(store)?;
        tx.open_table(UNREACHABLE)
            .map_err(store)?
            .remove(id)
            .map_err(store)?;
        tx.open_table(GONE)
            .map_err(store)?
            .insert(id, time)
            .map_err(store)?;
        tx.commit().map_err(store)
    }

    /// Replaces the weights of the given roles (weight 1.0 removes the entry).
    pub fn update_weights(&self, weights: &[(String, f64)]) -> Result<(), RegistryError> {
        let tx = self.db()?.begin_write().map_err(store)?;
        {
            let mut table = tx.open_table(WEIGHTS).map_err(store)?;
            for (role, weight) in weights {
                if (*weight - 1.0).abs() < f64::EPSILON {
                    table.remove(role.as_str()).map_err(store)?;
                } else {
                    table.insert(role.as_str(), *weight).map_err(store)?;
                }
            }
        }
        tx.commit().map_err(store)
    }

    /// Stores quota configurations; one with neither guarantees nor limits removes the role.
    pub fn update_quota(&self, configs: &[pb::quota::QuotaConfig]) -> Result<(), RegistryError> {
        let tx = self.db()?.begin_write().map_err(store)?;
        {
            let mut table = tx.open_table(QUOTA).map_err(store)?;
            for config in configs {
                if config.guarantees.is_empty() && config.limits.is_empty() {
                    table.remove(config.role.as_str()).map_err(store)?;
                } else {
                    table
                        .insert(config.role.as_str(), config.encode_to_vec().as_slice())
                        .map_err(store)?;
                }
            }
        }
        tx.commit().map_err(store)
    }

    /// Replaces the maintenance schedule and the set of DOWN machines, in one commit.
    pub fn update_maintenance(
        &self,
        schedule: &pb::maintenance::Schedule,
        down_machines: &[pb::MachineId],
    ) -> Result<(), RegistryError> {
        let down = pb::maintenance::ClusterStatus {
            draining_machines: vec![],
            down_machines: down_machines.to_vec(),
        };
        let tx = self.db()?.begin_write().map_err(store)?;
        {
            let mut table = tx.open_table(MAINTENANCE).map_err(store)?;
            table
                .insert(SCHEDULE_KEY, schedule.encode_to_vec().as_slice())
                .map_err(store)?;
            table
                .insert(DOWN_KEY, down.encode_to_vec().as_slice())
                .map_err(store)?;
        }
        tx.commit().map_err(store)
    }

    /// Removes an admitted agent (its machine went DOWN): it must register anew.
    pub fn remove_agent(&self, id: &str) -> Result<(), RegistryError> {
        let tx = self.db()?.begin_write().map_err(store)?;
        tx.open_table(AGENTS)
            .map_err(store)?
            .remove(id)
            .map_err(store)?;
        tx.commit().map_err(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str) -> pb::AgentInfo {
        pb::AgentInfo {
            hostname: "h".into(),
            id: Some(pb::AgentId { value: id.into() }),
            ..Default::default()
        }
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let r = Registry::open(dir.path()).unwrap();
            r.admit_agent(&agent("a1")).unwrap();
            r.admit_agent(&agent("a2")).unwrap();
            r.mark_unreachable("a2", 12.5).unwrap();
            r.update_weights(&[("dev".into(), 2.0), ("ops".into(), 1.0)])
                .unwrap();
        }
        let r = Registry::open(dir.path()).unwrap();
        let s = r.snapshot().unwrap();
        assert_eq!(s.agents.len(), 1);
        assert_eq!(s.unreachable, vec![("a2".to_string(), 12.5)]);
        assert_eq!(s.weights, vec![("dev".to_string(), 2.0)]);
        r.admit_agent(&agent("a2")).unwrap();
        let s = r.snapshot().unwrap();
        assert_eq!(s.agents.len(), 2);
        assert!(s.unreachable.is_empty());
    }
}
