//! Builds large masters quickly for benchmarks: agents are admitted through the same
//! registration path the agent link uses (with their running tasks, as after a master
//! failover), but without a network connection each.

use std::time::Duration;

use mesos_agent_protocol::v1::agent_message;
use mesos_core::proto::v1 as pb;
use mesos_core::resources::convert::{ResourceFormat, resources_to_proto};
use mesos_core::resources::parse_flag_text;
use tokio::sync::mpsc;

use crate::{MasterError, MasterFlags, MasterHandle};

/// The shape of a populated cluster.
#[derive(Debug, Clone, Copy)]
pub struct ClusterShape {
    pub agents: usize,
    pub frameworks: usize,
    /// Running tasks on each agent.
    pub running_per_agent: usize,
    /// Completed tasks kept per framework.
    pub completed_per_framework: usize,
}

fn scalar(name: &str, value: f64) -> pb::Resource {
    pb::Resource {
        name: name.into(),
        r#type: pb::value::Type::Scalar as i32,
        scalar: Some(pb::value::Scalar { value }),
        ..Default::default()
    }
}

fn task(id: String, framework: &str, agent: &str, state: pb::TaskState, time: f64) -> pb::Task {
    pb::Task {
        name: id.clone(),
        task_id: pb::TaskId { value: id },
        framework_id: pb::FrameworkId {
            value: framework.to_string(),
        },
        executor_id: None,
        agent_id: pb::AgentId {
            value: agent.to_string(),
        },
        state: state as i32,
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        statuses: vec![pb::TaskStatus {
            task_id: pb::TaskId::default(),
            state: state as i32,
            timestamp: Some(time),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The master flags the benchmarks use: timers out of the way, completed tasks kept.
pub fn bench_flags(shape: ClusterShape, work_dir: Option<String>) -> MasterFlags {
    let mut flags = MasterFlags::for_local(work_dir);
    flags.allocation_interval = Duration::from_secs(3600);
    flags.agent_ping_timeout = Duration::from_secs(3600);
    flags.max_completed_tasks_per_framework = shape.completed_per_framework.max(1);
    flags
}

/// The ids of the shape's frameworks under a master id.
fn framework_ids(shape: ClusterShape, master_id: &str) -> Vec<String> {
    (0..shape.frameworks.max(1))
        .map(|f| format!("{master_id}-{f:04}"))
        .collect()
}

/// The REGISTER messages of the shape's agents, each with its running tasks, as agents send
/// them when they (re-)register with a master whose id was `master_id`.
pub fn agent_registrations(shape: ClusterShape, master_id: &str) -> Vec<agent_message::Register> {
    let per_agent_cpus = (shape.running_per_agent as f64 * 0.1).max(1.0) * 2.0;
    let total = parse_flag_text(
        &format!(
            "cpus:{per_agent_cpus};mem:{};disk:10000;ports:[31000-32000]",
            per_agent_cpus * 320.0 + 1024.0
        ),
        "*",
    )
    .unwrap_or_default();
    let total =
        resources_to_proto(&total, ResourceFormat::PostReservationRefinement).unwrap_or_default();
    let framework_ids = framework_ids(shape, master_id);
    (0..shape.agents)
        .map(|a| {
            let agent_id = format!("{master_id}-S{a}");
            let fid = &framework_ids[a % framework_ids.len()];
            let tasks: Vec<pb::Task> = (0..shape.running_per_agent)
                .map(|t| {
                    task(
                        format!("a{a}-t{t}"),
                        fid,
                        &agent_id,
                        pb::TaskState::TaskRunning,
                        1.0,
                    )
                })
                .collect();
            agent_message::Register {
                agent_info: pb::AgentInfo {
                    hostname: format!("agent{a}.example"),
                    port: Some(5051),
                    resources: total.clone(),
                    id: Some(pb::AgentId { value: agent_id }),
                    ..Default::default()
                },
                ip: "127.0.0.1".into(),
                version: Some(crate::MESOS_VERSION.into()),
                capabilities: vec![],
                frameworks: vec![pb::FrameworkInfo {
                    user: "bench".into(),
                    name: format!("framework {fid}"),
                    id: Some(pb::FrameworkId { value: fid.clone() }),
                    ..Default::default()
                }],
                executors: vec![],
                tasks,
            }
        })
        .collect()
}

/// Starts a master on loopback holding `shape`'s agents, frameworks and tasks.
pub async fn populated_master(shape: ClusterShape) -> Result<MasterHandle, MasterError> {
    populated_master_in(shape, None).await
}

/// Like [`populated_master`], with the registry under `work_dir` when given (so that a
/// second master started there recovers the agents).
pub async fn populated_master_in(
    shape: ClusterShape,
    work_dir: Option<String>,
) -> Result<MasterHandle, MasterError> {
    let handle = crate::start(bench_flags(shape, work_dir)).await?;
    let master_id = handle.id();
    let registrations = agent_registrations(shape, &master_id);
    let mut m = handle.shared.lock();
    for register in registrations {
        // Nobody listens on the link: messages to these agents are dropped.
        let (tx, _rx) = mpsc::unbounded_channel();
        m.register_agent(register, tx).map_err(MasterError::Flag)?;
    }
    for fid in &framework_ids(shape, &master_id) {
        if let Some(fw) = m.frameworks.get_mut(fid) {
            for t in 0..shape.completed_per_framework {
                fw.completed_tasks.push_back(task(
                    format!("{fid}-done{t}"),
                    fid,
                    &format!("{master_id}-S0"),
                    pb::TaskState::TaskFinished,
                    2.0,
                ));
            }
        }
    }
    drop(m);
    Ok(handle)
}
