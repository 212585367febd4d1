//! JSON views of the agent's state for the legacy endpoints (`/state`, `/flags`,
//! `/metrics/snapshot`), in Mesos's shapes (`src/slave/http.cpp`, `src/common/http.cpp`).

// `ExecutorInfo.source` and `FrameworkInfo.role` are deprecated but Mesos still reports them.
#![allow(deprecated)]

use mesos_core::proto::v1::{Resource as PbResource, Task, TaskInfo, TaskState};
use mesos_core::resources::convert::resources_from_proto;
use mesos_core::resources::{ResourceValue, Resources};
use serde_json::{Map, Value, json};

use crate::core::Core;
use crate::state::{Executor, ExecutorState, Framework, new_task};

/// Mesos's legacy flat resource object: `cpus`, `gpus`, `mem`, `disk` always present.
pub(crate) fn legacy_resources(resources: &Resources) -> Value {
    let mut out = Map::new();
    for name in ["cpus", "gpus", "mem", "disk"] {
        out.insert(name.to_string(), json!(0.0));
    }
    let mut ranges: std::collections::BTreeMap<String, Resources> = Default::default();
    for r in resources.iter() {
        let name = if r.revocable {
            format!("{}_revocable", r.name)
        } else {
            r.name.to_string()
        };
        match &r.value {
            ResourceValue::Scalar(s) => {
                let prev = out.get(&name).and_then(Value::as_f64).unwrap_or(0.0);
                out.insert(name, json!(prev + s.as_f64()));
            }
            ResourceValue::Ranges(_) | ResourceValue::Set(_) => {
                let mut plain = r.clone();
                plain.reservations.clear();
                plain.allocation_role = None;
                plain.revocable = false;
                plain.disk = None;
                plain.shared = false;
                ranges.entry(name).or_default().add_resource(&plain);
            }
        }
    }
    for (name, bag) in ranges {
        if let Some(r) = bag.iter().next() {
            out.insert(name, json!(r.value.to_string()));
        }
    }
    Value::Object(out)
}

fn legacy_from_proto(list: &[PbResource]) -> Value {
    legacy_resources(&resources_from_proto(list).unwrap_or_default())
}

fn state_name(state: i32) -> String {
    TaskState::try_from(state)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| "TASK_UNKNOWN".into())
}

fn task_role(task: &Task, framework: &Framework) -> String {
    task.resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()))
        .or_else(|| framework.info.roles.first().cloned())
        .or_else(|| framework.info.role.clone())
        .unwrap_or_else(|| "*".into())
}

/// A task as Mesos's `json(Task)` writes it.
pub(crate) fn task_json(task: &Task, framework: &Framework) -> Value {
    let statuses: Vec<Value> = task
        .statuses
        .iter()
        .map(|s| {
            let mut o = Map::new();
            o.insert("state".into(), json!(state_name(s.state)));
            o.insert("timestamp".into(), json!(s.timestamp.unwrap_or(0.0)));
            if let Some(h) = s.healthy {
                o.insert("healthy".into(), json!(h));
            }
            if let Some(c) = &s.container_status {
                o.insert("container_status".into(), mesos_core::json::to_value(c));
            }
            if let Some(l) = &s.labels {
                o.insert(
                    "labels".into(),
                    mesos_core::json::to_value(l)["labels"].clone(),
                );
            }
            Value::Object(o)
        })
        .collect();
    let mut o = Map::new();
    o.insert("id".into(), json!(task.task_id.value));
    o.insert("name".into(), json!(task.name));
    o.insert("framework_id".into(), json!(task.framework_id.value));
    o.insert(
        "executor_id".into(),
        json!(task.executor_id.as_ref().map_or("", |e| e.value.as_str())),
    );
    o.insert("slave_id".into(), json!(task.agent_id.value));
    o.insert("state".into(), json!(state_name(task.state)));
    o.insert("resources".into(), legacy_from_proto(&task.resources));
    o.insert("role".into(), json!(task_role(task, framework)));
    o.insert("statuses".into(), Value::Array(statuses));
    if let Some(u) = &task.user {
        o.insert("user".into(), json!(u));
    }
    if let Some(l) = &task.labels {
        o.insert(
            "labels".into(),
            mesos_core::json::to_value(l)["labels"].clone(),
        );
    }
    if let Some(d) = &task.discovery {
        o.insert("discovery".into(), mesos_core::json::to_value(d));
    }
    if let Some(c) = &task.container {
        o.insert("container".into(), mesos_core::json::to_value(c));
    }
    if let Some(h) = &task.health_check {
        o.insert("health_check".into(), mesos_core::json::to_value(h));
    }
    Value::Object(o)
}

fn queued_json(t: &TaskInfo, framework: &Framework, e: &Executor, agent_id: &str) -> Value {
    let fid = &e.key.framework_id;
    let task = new_task(
        t,
        fid,
        (!e.command_executor).then_some(e.key.executor_id.as_str()),
        agent_id,
    );
    task_json(&task, framework)
}

/// An executor as `/state` writes it.
pub(crate) fn executor_json(e: &Executor, framework: &Framework, agent_id: &str) -> Value {
    let mut resources = resources_from_proto(&e.info.resources).unwrap_or_default();
    for t in e.launched.values() {
        resources += &resources_from_proto(&t.resources).unwrap_or_default();
    }
    let role = framework
        .info
        .roles
        .first()
        .cloned()
        .or_else(|| framework.info.role.clone())
        .unwrap_or_else(|| "*".into());
    let queued: Vec<Value> = e
        .queued
        .iter()
        .chain(e.queued_groups.iter().flat_map(|g| g.tasks.iter()))
        .map(|t| queued_json(t, framework, e, agent_id))
        .collect();
    let ty = e
        .info
        .r#type
        .and_then(|t| mesos_core::proto::v1::executor_info::Type::try_from(t).ok())
        .map_or("UNKNOWN", |t| t.as_str_name());
    let mut o = Map::new();
    o.insert("id".into(), json!(e.key.executor_id));
    o.insert(
        "name".into(),
        json!(e.info.name.clone().unwrap_or_default()),
    );
    o.insert(
        "source".into(),
        json!(e.info.source.clone().unwrap_or_default()),
    );
    o.insert("container".into(), json!(e.key.container_id));
    o.insert("directory".into(), json!(e.directory.display().to_string()));
    o.insert("resources".into(), legacy_resources(&resources));
    o.insert("role".into(), json!(role));
    o.insert("type".into(), json!(ty));
    if let Some(l) = &e.info.labels {
        o.insert(
            "labels".into(),
            mesos_core::json::to_value(l)["labels"].clone(),
        );
    }
    o.insert(
        "tasks".into(),
        Value::Array(
            e.launched
                .values()
                .chain(e.terminated.values())
                .map(|t| task_json(t, framework))
                .collect(),
        ),
    );
    o.insert("queued_tasks".into(), Value::Array(queued));
    o.insert(
        "completed_tasks".into(),
        Value::Array(
            e.completed
                .iter()
                .map(|t| task_json(t, framework))
                .collect(),
        ),
    );
    Value::Object(o)
}

/// A framework as `/state` writes it.
pub(crate) fn framework_json(f: &Framework, agent_id: &str) -> Value {
    let info = &f.info;
    let mut o = Map::new();
    o.insert(
        "id".into(),
        json!(info.id.as_ref().map_or("", |i| i.value.as_str())),
    );
    o.insert("name".into(), json!(info.name));
    o.insert("user".into(), json!(info.user));
    o.insert(
        "failover_timeout".into(),
        json!(info.failover_timeout.unwrap_or(0.0)),
    );
    o.insert("checkpoint".into(), json!(info.checkpoint.unwrap_or(false)));
    o.insert(
        "hostname".into(),
        json!(info.hostname.clone().unwrap_or_default()),
    );
    if info.roles.is_empty() {
        o.insert(
            "role".into(),
            json!(info.role.clone().unwrap_or_else(|| "*".into())),
        );
    } else {
        o.insert("roles".into(), json!(info.roles));
    }
    if let Some(p) = &info.principal {
        o.insert("principal".into(), json!(p));
    }
    o.insert(
        "capabilities".into(),
        mesos_core::json::to_value(info)
            .get("capabilities")
            .cloned()
            .unwrap_or_else(|| json!([])),
    );
    o.insert(
        "executors".into(),
        Value::Array(
            f.executors
                .values()
                .map(|e| executor_json(e, f, agent_id))
                .collect(),
        ),
    );
    o.insert(
        "completed_executors".into(),
        Value::Array(
            f.completed_executors
                .iter()
                .map(|e| executor_json(e, f, agent_id))
                .collect(),
        ),
    );
    Value::Object(o)
}

fn attributes_json(core: &Core) -> Value {
    let mut o = Map::new();
    for a in core.attributes.iter() {
        let v = match &a.value {
            mesos_core::values::Value::Scalar(s) => json!(s.as_f64()),
            other => json!(other.to_string()),
        };
        o.insert(a.name.clone(), v);
    }
    Value::Object(o)
}

/// `/state`.
pub(crate) fn state_json(core: &Core) -> Value {
    let aid = core.agent_id.clone().unwrap_or_default();
    let start = core
        .start_time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let reserved: Map<String, Value> = core
        .resources
        .reservations()
        .iter()
        .map(|(role, r)| (role.clone(), legacy_resources(r)))
        .collect();
    let unreserved = core.resources.unreserved();
    json!({
        "version": crate::VERSION,
        "build_date": "",
        "build_time": 0,
        "build_user": "",
        "start_time": start,
        "id": aid,
        "pid": core.pid(),
        "hostname": core.hostname,
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "AGENT_DRAINING"],
        "resources": legacy_resources(&core.resources),
        "reserved_resources": reserved,
        "unreserved_resources": legacy_resources(&unreserved),
        "reserved_resources_full": core.resources.reservations().iter().map(|(role, r)| {
            (role.clone(), full(r))
        }).collect::<Map<String, Value>>(),
        "unreserved_resources_full": full(&unreserved),
        "reserved_resources_allocated": {},
        "unreserved_resources_allocated": legacy_resources(&Resources::new()),
        "attributes": attributes_json(core),
        "master_hostname": core.master_info.as_ref().and_then(|m| m.hostname.clone()).unwrap_or_default(),
        "flags": core.flags.to_map(),
        "frameworks": core.frameworks.values().map(|f| framework_json(f, &aid)).collect::<Vec<_>>(),
        "completed_frameworks": core.completed_frameworks.iter().map(|f| framework_json(f, &aid)).collect::<Vec<_>>(),
    })
}

fn full(r: &Resources) -> Value {
    let list = mesos_core::resources::convert::resources_to_proto(
        r,
        mesos_core::resources::convert::ResourceFormat::Endpoint,
    )
    .unwrap_or_default();
    Value::Array(list.iter().map(mesos_core::json::to_value).collect())
}

/// `/flags`.
pub(crate) fn flags_json(core: &Core) -> Value {
    json!({ "flags": core.flags.to_map() })
}

/// `/metrics/snapshot`.
pub(crate) fn metrics_json(core: &Core) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: f64| {
        m.insert(k.to_string(), json!(v));
    };
    let uptime = core.start_time.elapsed().map_or(0.0, |d| d.as_secs_f64());
    put("slave/uptime_secs", uptime);
    put("slave/registered", if core.registered { 1.0 } else { 0.0 });
    let mx = &core.metrics;
    put("slave/recovery_errors", mx.recovery_errors as f64);
    put("slave/frameworks_active", core.frameworks.len() as f64);
    let mut by_state = std::collections::BTreeMap::<i32, u64>::new();
    let mut executors = [0u64; 4];
    let mut used = Resources::new();
    for f in core.frameworks.values() {
        for e in f.executors.values() {
            let idx = match e.state {
                ExecutorState::Registering => 0,
                ExecutorState::Running => 1,
                ExecutorState::Terminating => 2,
                ExecutorState::Terminated => 3,
            };
            executors[idx] += 1;
            *by_state.entry(TaskState::TaskStaging as i32).or_default() += (e.queued.len()
                + e.queued_groups.iter().map(|g| g.tasks.len()).sum::<usize>())
                as u64;
            for t in e.launched.values() {
                *by_state.entry(t.state).or_default() += 1;
                used += &resources_from_proto(&t.resources).unwrap_or_default();
            }
            if e.state != ExecutorState::Terminated {
                used += &resources_from_proto(&e.info.resources).unwrap_or_default();
            }
        }
    }
    let count = |s: TaskState| by_state.get(&(s as i32)).copied().unwrap_or(0) as f64;
    put("slave/tasks_staging", count(TaskState::TaskStaging));
    put("slave/tasks_starting", count(TaskState::TaskStarting));
    put("slave/tasks_running", count(TaskState::TaskRunning));
    put("slave/tasks_killing", count(TaskState::TaskKilling));
    put("slave/tasks_finished", mx.tasks_finished as f64);
    put("slave/tasks_failed", mx.tasks_failed as f64);
    put("slave/tasks_killed", mx.tasks_killed as f64);
    put("slave/tasks_lost", mx.tasks_lost as f64);
    put("slave/tasks_gone", mx.tasks_gone as f64);
    put("slave/tasks_dropped", mx.tasks_dropped as f64);
    put("slave/tasks_error", mx.tasks_error as f64);
    put("slave/executors_registering", executors[0] as f64);
    put("slave/executors_running", executors[1] as f64);
    put("slave/executors_terminating", executors[2] as f64);
    put("slave/executors_terminated", mx.executors_terminated as f64);
    put("slave/executors_preempted", 0.0);
    put("slave/valid_status_updates", mx.valid_status_updates as f64);
    put(
        "slave/invalid_status_updates",
        mx.invalid_status_updates as f64,
    );
    put(
        "slave/valid_framework_messages",
        mx.valid_framework_messages as f64,
    );
    put(
        "slave/invalid_framework_messages",
        mx.invalid_framework_messages as f64,
    );
    put(
        "slave/container_launch_errors",
        mx.container_launch_errors as f64,
    );
    put(
        "slave/executor_directory_max_allowed_age_secs",
        core.flags.gc_delay.get().as_secs_f64(),
    );
    for name in ["cpus", "gpus", "mem", "disk"] {
        let total = core.resources.scalar(name).map_or(0.0, |s| s.as_f64());
        let u = used.scalar(name).map_or(0.0, |s| s.as_f64());
        put(&format!("slave/{name}_total"), total);
        put(&format!("slave/{name}_used"), u);
        put(
            &format!("slave/{name}_percent"),
            if total > 0.0 { u / total } else { 0.0 },
        );
        put(&format!("slave/{name}_revocable_total"), 0.0);
        put(&format!("slave/{name}_revocable_used"), 0.0);
        put(&format!("slave/{name}_revocable_percent"), 0.0);
    }
    if let Ok(text) = std::fs::read_to_string("/proc/loadavg") {
        let mut parts = text.split_whitespace();
        for key in ["system/load_1min", "system/load_5min", "system/load_15min"] {
            if let Some(v) = parts.next().and_then(|p| p.parse::<f64>().ok()) {
                put(key, v);
            }
        }
    }
    put(
        "system/cpus_total",
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64,
    );
    if let Ok(text) = std::fs::read_to_string("/proc/meminfo") {
        for (key, field) in [
            ("system/mem_total_bytes", "MemTotal:"),
            ("system/mem_free_bytes", "MemAvailable:"),
        ] {
            if let Some(kib) = text
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
            {
                put(key, kib * 1024.0);
            }
        }
    }
    Value::Object(m)
}
