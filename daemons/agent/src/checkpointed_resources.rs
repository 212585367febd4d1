//! The agent's checkpointed resources: dynamic reservations and persistent volumes the master
//! made on this agent. They live on disk (`<work_dir>/meta/resources/resources.info`) so that
//! after an agent or master restart the agent reports its resources with them applied and no
//! reservation is lost.

use std::path::Path;

use mesos_agent_protocol::v1::master_message::CheckpointResources;
use mesos_core::proto::v1 as pb;
use mesos_core::resources::convert::{ResourceFormat, resources_from_proto, resources_to_proto};
use mesos_core::resources::{ReservationKind, Resource, Resources};

use crate::checkpoint;

/// Why a checkpointed set cannot be applied to the agent's resources.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointedError {
    #[error("invalid checkpointed resources: {0}")]
    Invalid(String),
    #[error("the agent's resources {total} do not contain {base}, which {resource} is made from")]
    NotContained {
        total: String,
        base: String,
        resource: String,
    },
    #[error("checkpointed resources file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What a checkpointed resource was made from: its static reservations only, no volume.
fn base_of(r: &Resource) -> Resource {
    let mut base = r.clone();
    base.reservations
        .retain(|reservation| reservation.kind == ReservationKind::Static);
    base.shared = false;
    if let Some(disk) = base.disk.as_mut() {
        disk.persistence = None;
        disk.volume = None;
        if disk.source.is_none() {
            base.disk = None;
        }
    }
    base
}

/// The agent's total: its own (static) resources with each checkpointed resource carved out of
/// what it was made from.
pub fn apply(
    static_resources: &Resources,
    checkpointed: &Resources,
) -> Result<Resources, CheckpointedError> {
    let mut total = static_resources.clone();
    for r in checkpointed.iter() {
        let base = Resources::from(base_of(r));
        if !total.contains(&base) {
            return Err(CheckpointedError::NotContained {
                total: total.to_string(),
                base: base.to_string(),
                resource: r.to_string(),
            });
        }
        total -= &base;
        total += &Resources::from(r.clone());
    }
    Ok(total)
}

/// Converts the master's CHECKPOINT_RESOURCES list.
pub fn from_wire(list: &[pb::Resource]) -> Result<Resources, CheckpointedError> {
    resources_from_proto(list)
        .map(|r| r.unallocate())
        .map_err(|e| CheckpointedError::Invalid(e.to_string()))
}

/// Reads the checkpointed set; none on disk is the empty set.
pub fn load(path: &Path) -> Result<Resources, CheckpointedError> {
    let io = |source| CheckpointedError::Io {
        path: path.display().to_string(),
        source,
    };
    match checkpoint::read_message::<CheckpointResources>(path).map_err(io)? {
        Some(list) => from_wire(&list.resources),
        None => Ok(Resources::new()),
    }
}

/// Writes the set atomically (write, fsync, rename).
pub fn save(path: &Path, checkpointed: &Resources) -> Result<(), CheckpointedError> {
    let resources = resources_to_proto(checkpointed, ResourceFormat::PostReservationRefinement)
        .map_err(|e| CheckpointedError::Invalid(e.to_string()))?;
    checkpoint::write_message(path, &CheckpointResources { resources }).map_err(|source| {
        CheckpointedError::Io {
            path: path.display().to_string(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_core::resources::parse_flag_text;

    fn dynamic(text: &str, role: &str) -> Resources {
        parse_flag_text(text, "*")
            .unwrap()
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.reservations
                    .push(mesos_core::resources::Reservation::dynamic_to(role, None));
                r
            })
            .collect()
    }

    #[test]
    fn reservations_are_carved_out_of_static_resources() {
        let static_resources = parse_flag_text("cpus:4;mem:1024;cpus(ops):1", "*").unwrap();
        let reserved = dynamic("cpus:1;mem:256", "web");
        let total = apply(&static_resources, &reserved).unwrap();
        let mut expected = parse_flag_text("cpus:3;mem:768;cpus(ops):1", "*").unwrap();
        expected += &reserved;
        assert_eq!(total, expected);
        assert!(apply(&static_resources, &dynamic("cpus:5", "web")).is_err());
        assert_eq!(
            apply(&static_resources, &Resources::new()).unwrap(),
            static_resources
        );
    }

    #[test]
    fn the_set_survives_a_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta/resources/resources.info");
        assert!(load(&path).unwrap().is_empty());
        let reserved = dynamic("cpus:1;mem:256", "web");
        save(&path, &reserved).unwrap();
        assert_eq!(load(&path).unwrap(), reserved);
    }
}
