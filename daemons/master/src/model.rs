//! The legacy JSON shapes of `/master/state`, `/master/frameworks`, `/master/slaves`,
//! `/master/tasks` and friends (Mesos's `model()` and `json()` writers): flat resource
//! objects, `slave` naming, state names as strings.

use mesos_core::json as mjson;
use mesos_core::proto::v1 as pb;
use mesos_core::resources::convert::resources_from_proto;
use mesos_core::resources::{ResourceValue, Resources};
use serde_json::{Map, Value, json};

use crate::master::{MESOS_VERSION, Master};
use crate::state::{Agent, Framework, is_terminal};

/// Mesos's flat resource object: `cpus`, `gpus`, `mem`, `disk` always, ranges as
/// `"[a-b, c-d]"`, sets as `"{a, b}"`, revocable names suffixed `_revocable`.
pub(crate) fn resources(r: &Resources) -> Value {
    let mut out = Map::new();
    for name in ["cpus", "gpus", "mem", "disk"] {
        out.insert(name.to_string(), json!(0.0));
    }
    for res in r.iter() {
        let name = if res.revocable {
            format!("{}_revocable", res.name)
        } else {
            res.name.clone()
        };
        match &res.value {
            ResourceValue::Scalar(s) => {
                let prev = out.get(&name).and_then(Value::as_f64).unwrap_or(0.0);
                out.insert(name, json!(prev + s.as_f64()));
            }
            ResourceValue::Ranges(ranges) => {
                let text = ranges.to_string();
                let text = match out.get(&name).and_then(Value::as_str) {
                    Some(prev) => merge_bracketed(prev, &text),
                    None => text,
                };
                out.insert(name, json!(text));
            }
            ResourceValue::Set(set) => {
                let text = set.to_string();
                let text = match out.get(&name).and_then(Value::as_str) {
                    Some(prev) => merge_bracketed(prev, &text),
                    None => text,
                };
                out.insert(name, json!(text));
            }
        }
    }
    Value::Object(out)
}

fn merge_bracketed(a: &str, b: &str) -> String {
    let open = &a[..1];
    let close = &a[a.len() - 1..];
    let inner_a = &a[1..a.len() - 1];
    let inner_b = &b[1..b.len().saturating_sub(1)];
    match (inner_a.is_empty(), inner_b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{open}{inner_a}, {inner_b}{close}"),
    }
}

fn wire_resources(list: &[pb::Resource]) -> Value {
    resources(&resources_from_proto(list).unwrap_or_default())
}

pub(crate) fn task(t: &pb::Task) -> Value {
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|s| {
            let mut o = Map::new();
            o.insert("state".into(), json!(s.state().as_str_name()));
            o.insert("timestamp".into(), json!(s.timestamp.unwrap_or_default()));
            if let Some(h) = s.healthy {
                o.insert("healthy".into(), json!(h));
            }
            if let Some(l) = &s.labels {
                o.insert("labels".into(), mjson::to_value(l)["labels"].clone());
            }
            if let Some(c) = &s.container_status {
                o.insert("container_status".into(), mjson::to_value(c));
            }
            Value::Object(o)
        })
        .collect();
    let role = t
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()));
    let mut o = Map::new();
    o.insert("id".into(), json!(t.task_id.value));
    o.insert("name".into(), json!(t.name));
    o.insert("framework_id".into(), json!(t.framework_id.value));
    o.insert(
        "executor_id".into(),
        json!(
            t.executor_id
                .as_ref()
                .map(|e| e.value.as_str())
                .unwrap_or("")
        ),
    );
    o.insert("slave_id".into(), json!(t.agent_id.value));
    o.insert("state".into(), json!(t.state().as_str_name()));
    o.insert("resources".into(), wire_resources(&t.resources));
    if let Some(role) = role {
        o.insert("role".into(), json!(role));
    }
    o.insert("statuses".into(), Value::Array(statuses));
    if let Some(user) = &t.user {
        o.insert("user".into(), json!(user));
    }
    if let Some(l) = &t.labels {
        o.insert("labels".into(), mjson::to_value(l)["labels"].clone());
    }
    if let Some(d) = &t.discovery {
        o.insert("discovery".into(), mjson::to_value(d));
    }
    if let Some(c) = &t.container {
        o.insert("container".into(), mjson::to_value(c));
    }
    if let Some(h) = &t.health_check {
        o.insert("health_check".into(), mjson::to_value(h));
    }
    Value::Object(o)
}

fn capabilities(info: &pb::FrameworkInfo) -> Value {
    Value::Array(
        info.capabilities
            .iter()
            .map(|c| json!(c.r#type().as_str_name()))
            .collect(),
    )
}

/// A framework as `FullFrameworkWriter` writes it.
pub(crate) fn framework(master: &Master, fw: &Framework) -> Value {
    let info = &fw.info;
    let mut used = Resources::new();
    let mut tasks = Vec::new();
    let mut completed: Vec<Value> = Vec::new();
    for t in fw.tasks.values() {
        if is_terminal(t.state()) {
            completed.push(task(&t.task));
        } else {
            used += &t.resources;
            tasks.push(task(&t.task));
        }
    }
    completed.extend(fw.completed_tasks.iter().map(task));
    let mut offered = Resources::new();
    let offers: Vec<Value> = fw
        .offers
        .iter()
        .filter_map(|id| master.offers.get(id))
        .map(|o| {
            offered += &o.resources;
            json!({
                "id": o.id,
                "framework_id": o.framework,
                "allocation_info": {"role": o.role},
                "slave_id": o.agent,
                "resources": resources(&o.resources),
            })
        })
        .collect();
    let executors: Vec<Value> = fw
        .executors
        .iter()
        .flat_map(|(agent, execs)| {
            execs.values().map(move |e| {
                let mut v = mjson::to_value(e);
                if let Some(o) = v.as_object_mut() {
                    o.insert("slave_id".into(), json!(agent));
                }
                v
            })
        })
        .collect();
    let mut o = Map::new();
    o.insert("id".into(), json!(fw.id));
    o.insert("name".into(), json!(info.name));
    o.insert(
        "hostname".into(),
        json!(info.hostname.clone().unwrap_or_default()),
    );
    o.insert(
        "webui_url".into(),
        json!(info.webui_url.clone().unwrap_or_default()),
    );
    o.insert("capabilities".into(), capabilities(info));
    o.insert("used_resources".into(), resources(&used));
    o.insert("offered_resources".into(), resources(&offered));
    let mut total = used.clone();
    total += &offered;
    o.insert("resources".into(), resources(&total));
    o.insert("active".into(), json!(fw.active));
    o.insert("connected".into(), json!(fw.connected()));
    o.insert("recovered".into(), json!(fw.recovered));
    o.insert("user".into(), json!(info.user));
    o.insert(
        "failover_timeout".into(),
        json!(info.failover_timeout.unwrap_or(0.0)),
    );
    o.insert("checkpoint".into(), json!(info.checkpoint.unwrap_or(false)));
    if let Some(p) = &info.principal {
        o.insert("principal".into(), json!(p));
    }
    o.insert("registered_time".into(), json!(fw.registered_time));
    o.insert(
        "unregistered_time".into(),
        json!(fw.unregistered_time.unwrap_or(0.0)),
    );
    if let Some(t) = fw.reregistered_time {
        o.insert("reregistered_time".into(), json!(t));
    }
    let multi_role =
        crate::state::has_capability(info, pb::framework_info::capability::Type::MultiRole);
    if multi_role {
        o.insert("roles".into(), json!(fw.roles()));
    } else {
        o.insert(
            "role".into(),
            json!(fw.roles().first().cloned().unwrap_or_default()),
        );
    }
    o.insert("tasks".into(), Value::Array(tasks));
    o.insert(
        "unreachable_tasks".into(),
        Value::Array(fw.unreachable_tasks.iter().map(task).collect()),
    );
    o.insert("completed_tasks".into(), Value::Array(completed));
    o.insert("offers".into(), Value::Array(offers));
    o.insert("executors".into(), Value::Array(executors));
    if let Some(l) = &info.labels {
        o.insert("labels".into(), mjson::to_value(l)["labels"].clone());
    }
    Value::Object(o)
}

fn attributes(list: &[pb::Attribute]) -> Value {
    let mut o = Map::new();
    for a in list {
        let v = match a.r#type() {
            pb::value::Type::Scalar => json!(a.scalar.map(|s| s.value).unwrap_or_default()),
            pb::value::Type::Text => {
                json!(a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default())
            }
            pb::value::Type::Ranges => {
                let r: Vec<String> = a
                    .ranges
                    .as_ref()
                    .map(|r| {
                        r.range
                            .iter()
                            .map(|x| format!("{}-{}", x.begin, x.end))
                            .collect()
                    })
                    .unwrap_or_default();
                json!(format!("[{}]", r.join(", ")))
            }
            pb::value::Type::Set => {
                let s = a
                    .set
                    .as_ref()
                    .map(|s| s.item.join(", "))
                    .unwrap_or_default();
                json!(format!("{{{s}}}"))
            }
        };
        o.insert(a.name.clone(), v);
    }
    Value::Object(o)
}

/// An agent as the legacy endpoints write it.
/// Per-agent usage computed once per request (each is a pass over all tasks or offers).
pub(crate) struct AgentUsage<'a> {
    used: std::collections::HashMap<&'a str, Resources>,
    offered: std::collections::HashMap<&'a str, Resources>,
}

impl<'a> AgentUsage<'a> {
    pub(crate) fn of(master: &'a Master) -> AgentUsage<'a> {
        AgentUsage {
            used: master.usage_by_agent(),
            offered: master.offered_by_agent(),
        }
    }
}

pub(crate) fn slave(usage: &AgentUsage<'_>, a: &Agent) -> Value {
    let used = usage
        .used
        .get(a.id.as_str())
        .map(Resources::unallocate)
        .unwrap_or_default();
    let offered = usage
        .offered
        .get(a.id.as_str())
        .map(Resources::unallocate)
        .unwrap_or_default();
    let mut reserved = Map::new();
    for (role, r) in a.total.reservations() {
        reserved.insert(role, resources(&r));
    }
    json!({
        "id": a.id,
        "hostname": a.info.hostname,
        "port": a.port(),
        "pid": a.pid(),
        "attributes": attributes(&a.info.attributes),
        "registered_time": a.registered_time,
        "reregistered_time": a.reregistered_time,
        "resources": resources(&a.total),
        "used_resources": resources(&used),
        "offered_resources": resources(&offered),
        "reserved_resources": reserved,
        "unreserved_resources": resources(&a.total.unreserved()),
        "active": a.active(),
        "deactivated": a.deactivated,
        "version": a.version,
        "capabilities": a.capabilities.iter().map(|c| c.r#type().as_str_name()).collect::<Vec<_>>(),
    })
}

fn recovered_slave(info: &pb::AgentInfo) -> Value {
    json!({
        "id": info.id.as_ref().map(|i| i.value.clone()).unwrap_or_default(),
        "hostname": info.hostname,
        "port": info.port.unwrap_or(5051),
        "attributes": attributes(&info.attributes),
        "resources": wire_resources(&info.resources),
    })
}

fn sorted_frameworks(master: &Master) -> Vec<&Framework> {
    let mut fws: Vec<&Framework> = master.frameworks.values().collect();
    fws.sort_by(|a, b| a.id.cmp(&b.id));
    fws
}

fn sorted_agents(master: &Master) -> Vec<&Agent> {
    let mut agents: Vec<&Agent> = master.agents.values().collect();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    agents
}

pub(crate) fn flags(master: &Master) -> Value {
    let mut o = Map::new();
    for (k, v) in master.flags.to_map() {
        o.insert(k, json!(v));
    }
    Value::Object(o)
}

/// `/master/state`.
pub(crate) fn state(master: &Master) -> Value {
    let info = &master.info;
    let pid = info.pid.clone().unwrap_or_default();
    let hostname = info.hostname.clone().unwrap_or_default();
    let active = master.agents.values().filter(|a| a.active()).count();
    let usage = AgentUsage::of(master);
    let slaves: Vec<Value> = sorted_agents(master)
        .into_iter()
        .map(|a| slave(&usage, a))
        .collect();
    json!({
        "version": MESOS_VERSION,
        "build_date": "",
        "build_time": 0,
        "build_user": "",
        "start_time": master.start_time,
        "elected_time": master.start_time,
        "id": info.id,
        "pid": pid,
        "hostname": hostname,
        "capabilities": info.capabilities.iter().map(|c| c.r#type().as_str_name()).collect::<Vec<_>>(),
        "activated_slaves": active,
        "deactivated_slaves": master.agents.len() - active,
        "unreachable_slaves": master.unreachable_agents.len(),
        "leader": pid,
        "leader_info": {
            "id": info.id,
            "pid": pid,
            "port": info.port,
            "hostname": hostname,
        },
        "cluster": master.flags.cluster.clone().unwrap_or_default(),
        "flags": flags(master),
        "slaves": slaves,
        "recovered_slaves": master.recovered_agents.values().map(recovered_slave).collect::<Vec<_>>(),
        "frameworks": sorted_frameworks(master).into_iter().map(|f| framework(master, f)).collect::<Vec<_>>(),
        "completed_frameworks": master.completed_frameworks.iter().map(|f| framework(master, f)).collect::<Vec<_>>(),
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    })
}

/// `/master/state-summary`.
pub(crate) fn state_summary(master: &Master) -> Value {
    let count_states = |tasks: &mut dyn Iterator<Item = pb::TaskState>| {
        let mut o = Map::new();
        for name in [
            "TASK_STAGING",
            "TASK_STARTING",
            "TASK_RUNNING",
            "TASK_KILLING",
            "TASK_FINISHED",
            "TASK_KILLED",
            "TASK_FAILED",
            "TASK_LOST",
            "TASK_ERROR",
            "TASK_UNREACHABLE",
        ] {
            o.insert(name.to_string(), json!(0));
        }
        for s in tasks {
            let e = o.entry(s.as_str_name().to_string()).or_insert(json!(0));
            *e = json!(e.as_u64().unwrap_or(0) + 1);
        }
        o
    };
    let usage = AgentUsage::of(master);
    let mut by_agent: std::collections::HashMap<
        &str,
        (Vec<pb::TaskState>, std::collections::BTreeSet<&str>),
    > = Default::default();
    for f in master.frameworks.values() {
        for t in f.tasks.values() {
            let entry = by_agent.entry(t.agent_id()).or_default();
            entry.0.push(t.state());
            entry.1.insert(f.id.as_str());
        }
    }
    let slaves: Vec<Value> = sorted_agents(master)
        .into_iter()
        .map(|a| {
            let mut v = slave(&usage, a);
            let (states, fids) = by_agent.remove(a.id.as_str()).unwrap_or_default();
            let counts = count_states(&mut states.into_iter());
            let fids: Vec<&str> = fids.into_iter().collect();
            if let Some(o) = v.as_object_mut() {
                o.extend(counts);
                o.insert("framework_ids".into(), json!(fids));
            }
            v
        })
        .collect();
    let frameworks: Vec<Value> = sorted_frameworks(master)
        .into_iter()
        .map(|f| {
            let mut states = f
                .tasks
                .values()
                .map(|t| t.state())
                .chain(f.completed_tasks.iter().map(|t| t.state()));
            let counts = count_states(&mut states);
            let mut used = Resources::new();
            for t in f.tasks.values().filter(|t| !is_terminal(t.state())) {
                used += &t.resources;
            }
            let mut sids: Vec<&str> = f.tasks.values().map(|t| t.agent_id()).collect();
            sids.sort_unstable();
            sids.dedup();
            let mut o = Map::new();
            o.insert("id".into(), json!(f.id));
            o.insert("name".into(), json!(f.info.name));
            o.insert("active".into(), json!(f.active));
            o.insert("connected".into(), json!(f.connected()));
            o.insert("used_resources".into(), resources(&used));
            o.insert("slave_ids".into(), json!(sids));
            o.extend(counts);
            Value::Object(o)
        })
        .collect();
    json!({
        "hostname": master.info.hostname,
        "cluster": master.flags.cluster.clone().unwrap_or_default(),
        "slaves": slaves,
        "frameworks": frameworks,
    })
}

/// `/master/frameworks?framework_id=`.
pub(crate) fn frameworks(master: &Master, id: Option<&str>) -> Value {
    let keep = |f: &&Framework| id.is_none_or(|id| f.id == id);
    json!({
        "frameworks": sorted_frameworks(master).into_iter().filter(keep).map(|f| framework(master, f)).collect::<Vec<_>>(),
        "completed_frameworks": master.completed_frameworks.iter().filter(keep).map(|f| framework(master, f)).collect::<Vec<_>>(),
        "unregistered_frameworks": [],
    })
}

/// `/master/slaves?slave_id=`.
pub(crate) fn slaves(master: &Master, id: Option<&str>) -> Value {
    let usage = AgentUsage::of(master);
    let slaves: Vec<Value> = sorted_agents(master)
        .into_iter()
        .filter(|a| id.is_none_or(|id| a.id == id))
        .map(|a| slave(&usage, a))
        .collect();
    json!({
        "slaves": slaves,
        "recovered_slaves": master.recovered_agents.values().map(recovered_slave).collect::<Vec<_>>(),
    })
}

/// `/master/tasks` with `limit` (default 100), `offset`, `order` (`asc`|`des`),
/// `framework_id` and `task_id`.
pub(crate) fn tasks(
    master: &Master,
    limit: usize,
    offset: usize,
    descending: bool,
    framework_id: Option<&str>,
    task_id: Option<&str>,
) -> Value {
    let mut all: Vec<&pb::Task> = Vec::new();
    for f in master
        .frameworks
        .values()
        .chain(master.completed_frameworks.iter())
    {
        if framework_id.is_some_and(|id| id != f.id) {
            continue;
        }
        all.extend(f.tasks.values().map(|t| &t.task));
        all.extend(f.unreachable_tasks.iter());
        all.extend(f.completed_tasks.iter());
    }
    all.retain(|t| task_id.is_none_or(|id| t.task_id.value == id));
    let start_time = |t: &pb::Task| t.statuses.first().and_then(|s| s.timestamp).unwrap_or(0.0);
    all.sort_by(|a, b| {
        start_time(a)
            .partial_cmp(&start_time(b))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.task_id.value.cmp(&b.task_id.value))
    });
    if descending {
        all.reverse();
    }
    let page: Vec<Value> = all.into_iter().skip(offset).take(limit).map(task).collect();
    json!({ "tasks": page })
}

pub(crate) fn roles(master: &Master) -> Value {
    let roles: Vec<Value> = crate::operator::get_roles(master)
        .into_iter()
        .map(|r| {
            json!({
                "name": r.name,
                "weight": r.weight,
                "frameworks": r.frameworks.iter().map(|f| f.value.clone()).collect::<Vec<_>>(),
                "resources": wire_resources(&r.resources),
            })
        })
        .collect();
    json!({ "roles": roles })
}
