//! The legacy JSON shapes of `/master/state`, `/master/frameworks`, `/master/slaves`,
//! `/master/tasks` and friends (Mesos's `model()` and `json()` writers): flat resource
//! objects, `slave` naming, state names as strings.
//!
//! The large documents are streamed into a byte buffer ([`crate::json_out`]) rather than
//! built as a `serde_json::Value` tree: at 10,000 agents and 200,000 tasks the tree costs
//! far more than the text.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use mesos_core::json as mjson;
use mesos_core::proto::v1 as pb;
use mesos_core::resources::convert::resource_from_proto;
use mesos_core::resources::{Resource, ResourceValue, Resources};
use mesos_core::values::Scalar;
use serde_json::{Value, json};

use crate::json_out::{Obj, object};
use crate::master::{MESOS_VERSION, Master};
use crate::state::{Agent, Framework, OfferRecord, TaskRecord, is_terminal};

/// Mesos's flat resource object, accumulated: `cpus`, `gpus`, `mem`, `disk` always, scalars
/// summed by name, ranges as `"[a-b, c-d]"`, sets as `"{a, b}"`, revocable names suffixed
/// `_revocable`.
#[derive(Debug, Clone)]
pub(crate) struct Flat {
    /// Output key (with the `_revocable` suffix) and value; the four standard names are
    /// static so that a task's flat object costs one allocation.
    entries: Vec<(Cow<'static, str>, FlatValue)>,
}

#[derive(Debug, Clone)]
enum FlatValue {
    Scalar(Scalar),
    Text(String),
}

impl Default for Flat {
    fn default() -> Flat {
        let mut entries = Vec::with_capacity(5);
        for name in ["cpus", "gpus", "mem", "disk"] {
            entries.push((Cow::Borrowed(name), FlatValue::Scalar(Scalar::ZERO)));
        }
        Flat { entries }
    }
}

impl Flat {
    pub(crate) fn of(resources: &Resources) -> Flat {
        let mut flat = Flat::default();
        flat.add_all(resources);
        flat
    }

    /// Flattens wire resources; entries that do not convert are left out, as the
    /// validated collection they came from would have left them out.
    pub(crate) fn of_wire(list: &[pb::Resource]) -> Flat {
        let mut flat = Flat::default();
        for wire in list {
            let scalar = (wire.r#type == pb::value::Type::Scalar as i32)
                .then_some(wire.scalar.as_ref())
                .flatten();
            match scalar {
                // The common case, without converting the whole resource.
                Some(s) if !wire.name.is_empty() => {
                    flat.add_scalar(
                        &wire.name,
                        wire.revocable.is_some(),
                        Scalar::from_f64(s.value),
                    );
                }
                _ => {
                    if let Ok(r) = resource_from_proto(wire) {
                        flat.add(&r);
                    }
                }
            }
        }
        flat
    }

    pub(crate) fn add_all(&mut self, resources: &Resources) {
        for r in resources.iter() {
            self.add(r);
        }
    }

    pub(crate) fn add(&mut self, r: &Resource) {
        match &r.value {
            ResourceValue::Scalar(s) => self.add_scalar(&r.name, r.revocable, *s),
            ResourceValue::Ranges(ranges) => {
                self.add_text(&r.name, r.revocable, ranges.to_string())
            }
            ResourceValue::Set(set) => self.add_text(&r.name, r.revocable, set.to_string()),
        }
    }

    fn slot(&mut self, name: &str, revocable: bool) -> Option<&mut FlatValue> {
        self.entries
            .iter_mut()
            .find(|(key, _)| {
                if revocable {
                    key.strip_suffix("_revocable") == Some(name)
                } else {
                    key.as_ref() == name
                }
            })
            .map(|(_, v)| v)
    }

    fn key(name: &str, revocable: bool) -> Cow<'static, str> {
        if revocable {
            Cow::Owned(format!("{name}_revocable"))
        } else {
            Cow::Owned(name.to_string())
        }
    }

    fn add_scalar(&mut self, name: &str, revocable: bool, amount: Scalar) {
        match self.slot(name, revocable) {
            Some(FlatValue::Scalar(s)) => *s = s.checked_add(amount).unwrap_or(*s),
            Some(slot) => *slot = FlatValue::Scalar(amount),
            None => self
                .entries
                .push((Flat::key(name, revocable), FlatValue::Scalar(amount))),
        }
    }

    fn add_text(&mut self, name: &str, revocable: bool, text: String) {
        match self.slot(name, revocable) {
            Some(FlatValue::Text(prev)) => *prev = merge_bracketed(prev, &text),
            Some(slot) => *slot = FlatValue::Text(text),
            None => self
                .entries
                .push((Flat::key(name, revocable), FlatValue::Text(text))),
        }
    }

    /// Adds another flat object's amounts to this one's.
    fn merge(&mut self, other: &Flat) {
        for (key, value) in &other.entries {
            let slot = self.entries.iter_mut().find(|(k, _)| k == key);
            match (slot, value) {
                (Some((_, FlatValue::Scalar(s))), FlatValue::Scalar(add)) => {
                    *s = s.checked_add(*add).unwrap_or(*s);
                }
                (Some((_, FlatValue::Text(prev))), FlatValue::Text(add)) => {
                    *prev = merge_bracketed(prev, add);
                }
                (Some((_, slot)), _) => *slot = value.clone(),
                (None, _) => self.entries.push((key.clone(), value.clone())),
            }
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        object(out, |o| {
            for (key, value) in &self.entries {
                match value {
                    FlatValue::Scalar(s) => o.f64(key, s.as_f64()),
                    FlatValue::Text(t) => o.str(key, t),
                }
            }
        });
    }

    pub(crate) fn to_value(&self) -> Value {
        let mut out = Vec::new();
        self.write(&mut out);
        serde_json::from_slice(&out).unwrap_or(Value::Null)
    }
}

fn merge_bracketed(a: &str, b: &str) -> String {
    if a.len() < 2 {
        return b.to_string();
    }
    let open = &a[..1];
    let close = &a[a.len() - 1..];
    let inner_a = &a[1..a.len() - 1];
    let inner_b = b.get(1..b.len().saturating_sub(1)).unwrap_or("");
    match (inner_a.is_empty(), inner_b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{open}{inner_a}, {inner_b}{close}"),
    }
}

/// `{"labels": [...]}`'s array, written directly.
fn write_labels(o: &mut Obj<'_>, labels: &pb::Labels) {
    o.arr("labels", |a| {
        for l in &labels.labels {
            a.obj(|o| {
                o.str("key", &l.key);
                if let Some(v) = &l.value {
                    o.str("value", v);
                }
            });
        }
    });
}

/// A task's fields; `resources` is the already converted collection when there is one.
fn write_task(o: &mut Obj<'_>, t: &pb::Task, resources: Option<&Resources>) {
    o.str("id", &t.task_id.value);
    o.str("name", &t.name);
    o.str("framework_id", &t.framework_id.value);
    o.str(
        "executor_id",
        t.executor_id.as_ref().map_or("", |e| e.value.as_str()),
    );
    o.str("slave_id", &t.agent_id.value);
    o.str("state", t.state().as_str_name());
    let flat = match resources {
        Some(r) => Flat::of(r),
        None => Flat::of_wire(&t.resources),
    };
    flat.write(o.key("resources"));
    let role = t
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.as_deref()));
    if let Some(role) = role {
        o.str("role", role);
    }
    o.arr("statuses", |a| {
        for s in &t.statuses {
            a.obj(|o| {
                o.str("state", s.state().as_str_name());
                o.f64("timestamp", s.timestamp.unwrap_or_default());
                if let Some(h) = s.healthy {
                    o.bool("healthy", h);
                }
                if let Some(l) = &s.labels {
                    write_labels(o, l);
                }
                if let Some(c) = &s.container_status {
                    o.value("container_status", &mjson::to_value(c));
                }
            });
        }
    });
    if let Some(user) = &t.user {
        o.str("user", user);
    }
    if let Some(l) = &t.labels {
        write_labels(o, l);
    }
    if let Some(d) = &t.discovery {
        o.value("discovery", &mjson::to_value(d));
    }
    if let Some(c) = &t.container {
        o.value("container", &mjson::to_value(c));
    }
    if let Some(h) = &t.health_check {
        o.value("health_check", &mjson::to_value(h));
    }
}

fn write_task_record(o: &mut Obj<'_>, t: &TaskRecord) {
    write_task(o, &t.task, Some(&t.resources));
}

fn capability_names(info: &pb::FrameworkInfo) -> impl Iterator<Item = &'static str> + '_ {
    info.capabilities.iter().map(|c| c.r#type().as_str_name())
}

/// The master's outstanding offers by id.
type Offers = HashMap<String, OfferRecord>;

/// A framework as `FullFrameworkWriter` writes it.
///
/// The resources of its running tasks are also added to `used_by_agent` when given, so that
/// `/master/state` walks its 100,000s of tasks once rather than twice.
fn write_framework<'a>(
    o: &mut Obj<'_>,
    all_offers: &Offers,
    fw: &'a Framework,
    mut used_by_agent: Option<&mut UsedByAgent<'a>>,
) {
    let info = &fw.info;
    let mut used = Flat::default();
    let mut offered = Flat::default();
    for t in fw.tasks.values() {
        if !is_terminal(t.state()) {
            used.add_all(&t.resources);
            if let Some(by_agent) = used_by_agent.as_deref_mut() {
                by_agent
                    .entry(t.agent_id())
                    .or_default()
                    .add_all(&t.resources);
            }
        }
    }
    let offers: Vec<_> = fw
        .offers
        .iter()
        .filter_map(|id| all_offers.get(id))
        .collect();
    for offer in &offers {
        offered.add_all(&offer.resources);
    }
    let mut total = used.clone();
    for offer in &offers {
        total.add_all(&offer.resources);
    }
    o.str("id", &fw.id);
    o.str("name", &info.name);
    o.str("hostname", info.hostname.as_deref().unwrap_or_default());
    o.str("webui_url", info.webui_url.as_deref().unwrap_or_default());
    o.strs("capabilities", capability_names(info));
    used.write(o.key("used_resources"));
    offered.write(o.key("offered_resources"));
    total.write(o.key("resources"));
    o.bool("active", fw.active);
    o.bool("connected", fw.connected());
    o.bool("recovered", fw.recovered);
    o.str("user", &info.user);
    o.f64("failover_timeout", info.failover_timeout.unwrap_or(0.0));
    o.bool("checkpoint", info.checkpoint.unwrap_or(false));
    if let Some(p) = &info.principal {
        o.str("principal", p);
    }
    o.f64("registered_time", fw.registered_time);
    o.f64("unregistered_time", fw.unregistered_time.unwrap_or(0.0));
    if let Some(t) = fw.reregistered_time {
        o.f64("reregistered_time", t);
    }
    if fw.has_capability(pb::framework_info::capability::Type::MultiRole) {
        o.value("roles", &fw.roles());
    } else {
        o.str("role", fw.roles().first().map_or("", String::as_str));
    }
    o.arr("tasks", |a| {
        for t in fw.tasks.values().filter(|t| !is_terminal(t.state())) {
            a.obj(|o| write_task_record(o, t));
        }
    });
    o.arr("unreachable_tasks", |a| {
        for t in &fw.unreachable_tasks {
            a.obj(|o| write_task(o, t, None));
        }
    });
    o.arr("completed_tasks", |a| {
        for t in fw.tasks.values().filter(|t| is_terminal(t.state())) {
            a.obj(|o| write_task_record(o, t));
        }
        for t in &fw.completed_tasks {
            a.obj(|o| write_task(o, t, None));
        }
    });
    o.arr("offers", |a| {
        for offer in &offers {
            a.obj(|o| {
                o.str("id", &offer.id);
                o.str("framework_id", &offer.framework);
                o.obj("allocation_info", |o| o.str("role", &offer.role));
                o.str("slave_id", &offer.agent);
                Flat::of(&offer.resources).write(o.key("resources"));
            });
        }
    });
    o.arr("executors", |a| {
        for (agent, execs) in &fw.executors {
            for e in execs.values() {
                let mut v = mjson::to_value(e);
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("slave_id".into(), json!(agent));
                }
                a.value(&v);
            }
        }
    });
    if let Some(l) = &info.labels {
        write_labels(o, l);
    }
}

fn attributes(list: &[pb::Attribute]) -> Value {
    let mut o = serde_json::Map::new();
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

/// Resources of running tasks by agent id.
type UsedByAgent<'a> = HashMap<&'a str, Flat>;

/// Per-agent usage computed once per request (each is a pass over all tasks or offers).
pub(crate) struct AgentUsage<'a> {
    used: UsedByAgent<'a>,
    offered: HashMap<&'a str, Flat>,
}

impl<'a> AgentUsage<'a> {
    /// Usage from a pass over every task.
    pub(crate) fn of(master: &'a Master) -> AgentUsage<'a> {
        let mut used: UsedByAgent<'a> = HashMap::new();
        for fw in master.frameworks.values() {
            for t in fw.tasks.values().filter(|t| !is_terminal(t.state())) {
                used.entry(t.agent_id()).or_default().add_all(&t.resources);
            }
        }
        AgentUsage::with_used(master, used)
    }

    /// Usage from running tasks already summed by agent.
    fn with_used(master: &'a Master, used: UsedByAgent<'a>) -> AgentUsage<'a> {
        let mut offered: HashMap<&str, Flat> = HashMap::new();
        for offer in master.offers.values() {
            offered
                .entry(offer.agent.as_str())
                .or_default()
                .add_all(&offer.resources);
        }
        AgentUsage { used, offered }
    }
}

/// An agent's fields as the legacy endpoints write them.
fn write_slave(o: &mut Obj<'_>, usage: &AgentUsage<'_>, a: &Agent) {
    let none = Flat::default();
    o.str("id", &a.id);
    o.str("hostname", &a.info.hostname);
    o.u64("port", u64::from(a.port()));
    o.str("pid", &a.pid());
    o.value("attributes", &attributes(&a.info.attributes));
    o.f64("registered_time", a.registered_time);
    o.value("reregistered_time", &a.reregistered_time);
    Flat::of(&a.total).write(o.key("resources"));
    usage
        .used
        .get(a.id.as_str())
        .unwrap_or(&none)
        .write(o.key("used_resources"));
    usage
        .offered
        .get(a.id.as_str())
        .unwrap_or(&none)
        .write(o.key("offered_resources"));
    o.obj("reserved_resources", |o| {
        for (role, r) in a.total.reservations() {
            Flat::of(&r).write(o.key(&role));
        }
    });
    Flat::of(&a.total.unreserved()).write(o.key("unreserved_resources"));
    o.bool("active", a.active());
    o.bool("deactivated", a.deactivated);
    o.str("version", &a.version);
    o.strs(
        "capabilities",
        a.capabilities.iter().map(|c| c.r#type().as_str_name()),
    );
}

fn write_recovered_slave(o: &mut Obj<'_>, info: &pb::AgentInfo) {
    o.str("id", info.id.as_ref().map_or("", |i| i.value.as_str()));
    o.str("hostname", &info.hostname);
    o.value("port", &info.port.unwrap_or(5051));
    o.value("attributes", &attributes(&info.attributes));
    Flat::of_wire(&info.resources).write(o.key("resources"));
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
    let mut o = serde_json::Map::new();
    for (k, v) in master.flags.to_map() {
        o.insert(k, json!(v));
    }
    Value::Object(o)
}

/// Writes `frameworks`, `completed_frameworks` and `unregistered_frameworks`; returns the
/// resources of the active frameworks' running tasks by agent.
fn write_frameworks_arrays<'a>(
    o: &mut Obj<'_>,
    master: &'a Master,
    id: Option<&str>,
) -> UsedByAgent<'a> {
    let keep = |f: &&Framework| id.is_none_or(|id| f.id == id);
    let offers = &master.offers;
    let active: Vec<&Framework> = sorted_frameworks(master).into_iter().filter(keep).collect();
    let completed: Vec<&Framework> = master.completed_frameworks.iter().filter(keep).collect();
    let mut used = UsedByAgent::new();
    o.arr("frameworks", |a| {
        let parts = a.objs_parallel(&active, writer_threads(&active), |o, f, used| {
            write_framework(o, offers, f, Some(used));
        });
        for part in parts {
            for (agent, flat) in part {
                used.entry(agent).or_default().merge(&flat);
            }
        }
    });
    o.arr("completed_frameworks", |a| {
        a.objs_parallel(
            &completed,
            writer_threads(&completed),
            |o, f, _: &mut ()| {
                write_framework(o, offers, f, None);
            },
        );
    });
    o.arr("unregistered_frameworks", |_| {});
    used
}

/// How many threads write a list of frameworks: one unless they hold enough tasks to
/// be worth the threads (the writing is bound by memory latency, one task at a time).
fn writer_threads(frameworks: &[&Framework]) -> usize {
    const TASKS_PER_THREAD: usize = 20_000;
    let tasks: usize = frameworks
        .iter()
        .map(|f| f.tasks.len() + f.completed_tasks.len() + f.unreachable_tasks.len())
        .sum();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (tasks / TASKS_PER_THREAD).clamp(1, cores.min(8))
}

fn write_slaves_arrays(o: &mut Obj<'_>, master: &Master, id: Option<&str>, usage: &AgentUsage<'_>) {
    /// Below this many agents per thread a second thread costs more than it saves.
    const AGENTS_PER_THREAD: usize = 2_000;
    let agents: Vec<&Agent> = sorted_agents(master)
        .into_iter()
        .filter(|a| id.is_none_or(|id| a.id == id))
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = (agents.len() / AGENTS_PER_THREAD).clamp(1, cores.min(8));
    o.arr("slaves", |a| {
        a.objs_parallel(&agents, threads, |o, agent, _: &mut ()| {
            write_slave(o, usage, agent);
        });
    });
    o.arr("recovered_slaves", |a| {
        for info in master.recovered_agents.values() {
            a.obj(|o| write_recovered_slave(o, info));
        }
    });
}

/// `/master/state`.
pub(crate) fn state(master: &Master, out: &mut Vec<u8>) {
    let info = &master.info;
    let pid = info.pid.as_deref().unwrap_or_default();
    let hostname = info.hostname.as_deref().unwrap_or_default();
    let active = master.agents.values().filter(|a| a.active()).count();
    object(out, |o| {
        o.str("version", MESOS_VERSION);
        o.str("build_date", "");
        o.u64("build_time", 0);
        o.str("build_user", "");
        o.f64("start_time", master.start_time);
        o.f64("elected_time", master.start_time);
        o.str("id", &info.id);
        o.str("pid", pid);
        o.str("hostname", hostname);
        o.strs(
            "capabilities",
            info.capabilities.iter().map(|c| c.r#type().as_str_name()),
        );
        o.u64("activated_slaves", active as u64);
        o.u64("deactivated_slaves", (master.agents.len() - active) as u64);
        o.u64("unreachable_slaves", master.unreachable_agents.len() as u64);
        o.str("leader", pid);
        o.obj("leader_info", |o| {
            o.str("id", &info.id);
            o.str("pid", pid);
            o.u64("port", u64::from(info.port));
            o.str("hostname", hostname);
        });
        o.str(
            "cluster",
            master.flags.cluster.as_deref().unwrap_or_default(),
        );
        o.value("flags", &flags(master));
        // Frameworks first: writing them sums the agents' used resources.
        let used = write_frameworks_arrays(o, master, None);
        write_slaves_arrays(o, master, None, &AgentUsage::with_used(master, used));
        o.arr("orphan_tasks", |_| {});
    });
}

/// The task-state counters of `/master/state-summary`, every state present.
const SUMMARY_STATES: [pb::TaskState; 10] = [
    pb::TaskState::TaskStaging,
    pb::TaskState::TaskStarting,
    pb::TaskState::TaskRunning,
    pb::TaskState::TaskKilling,
    pb::TaskState::TaskFinished,
    pb::TaskState::TaskKilled,
    pb::TaskState::TaskFailed,
    pb::TaskState::TaskLost,
    pb::TaskState::TaskError,
    pb::TaskState::TaskUnreachable,
];

fn write_state_counts(o: &mut Obj<'_>, states: impl Iterator<Item = pb::TaskState>) {
    let mut counts: Vec<(pb::TaskState, u64)> = SUMMARY_STATES.iter().map(|s| (*s, 0)).collect();
    for s in states {
        match counts.iter_mut().find(|(state, _)| *state == s) {
            Some((_, n)) => *n += 1,
            None => counts.push((s, 1)),
        }
    }
    for (state, n) in counts {
        o.u64(state.as_str_name(), n);
    }
}

/// `/master/state-summary`.
pub(crate) fn state_summary(master: &Master, out: &mut Vec<u8>) {
    let usage = AgentUsage::of(master);
    let mut by_agent: HashMap<&str, (Vec<pb::TaskState>, BTreeSet<&str>)> = HashMap::new();
    for f in master.frameworks.values() {
        for t in f.tasks.values() {
            let entry = by_agent.entry(t.agent_id()).or_default();
            entry.0.push(t.state());
            entry.1.insert(f.id.as_str());
        }
    }
    object(out, |o| {
        o.str(
            "hostname",
            master.info.hostname.as_deref().unwrap_or_default(),
        );
        o.str(
            "cluster",
            master.flags.cluster.as_deref().unwrap_or_default(),
        );
        o.arr("slaves", |a| {
            for agent in sorted_agents(master) {
                a.obj(|o| {
                    write_slave(o, &usage, agent);
                    let (states, fids) = by_agent.remove(agent.id.as_str()).unwrap_or_default();
                    write_state_counts(o, states.into_iter());
                    o.strs("framework_ids", fids);
                });
            }
        });
        o.arr("frameworks", |a| {
            for f in sorted_frameworks(master) {
                a.obj(|o| {
                    let mut used = Flat::default();
                    for t in f.tasks.values().filter(|t| !is_terminal(t.state())) {
                        used.add_all(&t.resources);
                    }
                    let mut agent_ids: Vec<&str> = f.tasks.values().map(|t| t.agent_id()).collect();
                    agent_ids.sort_unstable();
                    agent_ids.dedup();
                    o.str("id", &f.id);
                    o.str("name", &f.info.name);
                    o.bool("active", f.active);
                    o.bool("connected", f.connected());
                    used.write(o.key("used_resources"));
                    o.strs("slave_ids", agent_ids);
                    write_state_counts(
                        o,
                        f.tasks
                            .values()
                            .map(|t| t.state())
                            .chain(f.completed_tasks.iter().map(|t| t.state())),
                    );
                });
            }
        });
    });
}

/// `/master/frameworks?framework_id=`.
pub(crate) fn frameworks(master: &Master, id: Option<&str>, out: &mut Vec<u8>) {
    object(out, |o| {
        write_frameworks_arrays(o, master, id);
    });
}

/// `/master/slaves?slave_id=`.
pub(crate) fn slaves(master: &Master, id: Option<&str>, out: &mut Vec<u8>) {
    object(out, |o| {
        write_slaves_arrays(o, master, id, &AgentUsage::of(master))
    });
}

/// Which page of `/master/tasks` to write.
#[derive(Debug, Clone, Default)]
pub(crate) struct TasksQuery {
    /// At most this many tasks (Mesos's default is 100).
    pub limit: usize,
    pub offset: usize,
    /// `order=des`: newest first.
    pub descending: bool,
    pub framework_id: Option<String>,
    pub task_id: Option<String>,
}

/// `/master/tasks`: all tasks (active, unreachable, completed) ordered by start time.
pub(crate) fn tasks(master: &Master, q: &TasksQuery, out: &mut Vec<u8>) {
    let mut all: Vec<&pb::Task> = Vec::new();
    for f in master
        .frameworks
        .values()
        .chain(master.completed_frameworks.iter())
    {
        if q.framework_id.as_deref().is_some_and(|id| id != f.id) {
            continue;
        }
        all.extend(f.tasks.values().map(|t| &t.task));
        all.extend(f.unreachable_tasks.iter());
        all.extend(f.completed_tasks.iter());
    }
    all.retain(|t| q.task_id.as_deref().is_none_or(|id| t.task_id.value == id));
    let start_time = |t: &pb::Task| t.statuses.first().and_then(|s| s.timestamp).unwrap_or(0.0);
    all.sort_by(|a, b| {
        start_time(a)
            .partial_cmp(&start_time(b))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.task_id.value.cmp(&b.task_id.value))
    });
    if q.descending {
        all.reverse();
    }
    object(out, |o| {
        o.arr("tasks", |a| {
            for t in all.into_iter().skip(q.offset).take(q.limit) {
                a.obj(|o| write_task(o, t, None));
            }
        });
    });
}

pub(crate) fn roles(master: &Master) -> Value {
    let roles: Vec<Value> = crate::operator::get_roles(master)
        .into_iter()
        .map(|r| {
            json!({
                "name": r.name,
                "weight": r.weight,
                "frameworks": r.frameworks.iter().map(|f| f.value.clone()).collect::<Vec<_>>(),
                "resources": Flat::of_wire(&r.resources).to_value(),
            })
        })
        .collect();
    json!({ "roles": roles })
}

/// Writes a whole document into a fresh buffer (for tests and small replies).
#[cfg(test)]
pub(crate) fn to_value(write: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut out = Vec::new();
    write(&mut out);
    serde_json::from_slice(&out).expect("the writers produce valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_agent_protocol::v1::agent_message;
    use mesos_core::resources::convert::{ResourceFormat, resources_to_proto};
    use mesos_core::resources::parse_flag_text;

    fn wire(text: &str) -> Vec<pb::Resource> {
        resources_to_proto(
            &parse_flag_text(text, "*").unwrap(),
            ResourceFormat::PostReservationRefinement,
        )
        .unwrap()
    }

    #[test]
    fn flat_resources_sum_scalars_by_name_and_join_ranges_and_sets() {
        let text = "cpus:1;cpus(web):0.5;mem:64.1;mem(web):0.2;ports:[1-2];ports(web):[5-6];\
                    colours:{red,blue}";
        let expected = json!({
            "cpus": 1.5, "gpus": 0.0, "mem": 64.3, "disk": 0.0,
            "ports": "[1-2, 5-6]", "colours": "{blue, red}",
        });
        assert_eq!(Flat::of_wire(&wire(text)).to_value(), expected);
        let collection = parse_flag_text(text, "*").unwrap();
        assert_eq!(Flat::of(&collection).to_value(), expected);
    }

    #[test]
    fn revocable_resources_get_their_own_names() {
        let mut list = wire("cpus:1");
        let mut revocable = wire("cpus:2;ports:[7-8]");
        for r in &mut revocable {
            r.revocable = Some(pb::resource::RevocableInfo::default());
        }
        list.extend(revocable);
        assert_eq!(
            Flat::of_wire(&list).to_value(),
            json!({
                "cpus": 1.0, "cpus_revocable": 2.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0,
                "ports_revocable": "[7-8]",
            })
        );
    }

    fn running_task(agent: &str, framework: &str) -> pb::Task {
        pb::Task {
            name: "web-1".into(),
            task_id: pb::TaskId { value: "t1".into() },
            framework_id: pb::FrameworkId {
                value: framework.into(),
            },
            executor_id: None,
            agent_id: pb::AgentId {
                value: agent.into(),
            },
            state: pb::TaskState::TaskRunning as i32,
            resources: wire("cpus:0.5;mem:64;ports:[31001-31001]"),
            statuses: vec![pb::TaskStatus {
                state: pb::TaskState::TaskRunning as i32,
                timestamp: Some(12.5),
                healthy: Some(true),
                ..Default::default()
            }],
            labels: Some(pb::Labels {
                labels: vec![pb::Label {
                    key: "tier".into(),
                    value: Some("front \"end\"".into()),
                }],
            }),
            user: Some("alice".into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn state_writes_agents_frameworks_and_tasks_in_mesos_shapes() {
        let handle = crate::start(crate::MasterFlags::for_local(None))
            .await
            .unwrap();
        let agent_id = format!("{}-S0", handle.id());
        let framework_id = format!("{}-0000", handle.id());
        let register = agent_message::Register {
            agent_info: pb::AgentInfo {
                hostname: "agent0.example".into(),
                port: Some(5051),
                resources: wire("cpus:4;mem:1024;disk:100;ports:[31000-31005];cpus(web):2"),
                id: Some(pb::AgentId {
                    value: agent_id.clone(),
                }),
                ..Default::default()
            },
            ip: "127.0.0.1".into(),
            version: Some(crate::MESOS_VERSION.into()),
            capabilities: vec![],
            frameworks: vec![pb::FrameworkInfo {
                user: "alice".into(),
                name: "web".into(),
                id: Some(pb::FrameworkId {
                    value: framework_id.clone(),
                }),
                ..Default::default()
            }],
            executors: vec![],
            tasks: vec![running_task(&agent_id, &framework_id)],
        };
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let state = {
            let mut m = handle.shared.lock();
            m.register_agent(register, tx).unwrap();
            to_value(|out| state(&m, out))
        };

        let slave = &state["slaves"][0];
        assert_eq!(slave["id"], json!(agent_id));
        assert_eq!(slave["pid"], json!("slave(1)@127.0.0.1:5051"));
        assert_eq!(
            slave["resources"],
            json!({"cpus": 6.0, "gpus": 0.0, "mem": 1024.0, "disk": 100.0, "ports": "[31000-31005]"})
        );
        assert_eq!(
            slave["used_resources"],
            json!({"cpus": 0.5, "gpus": 0.0, "mem": 64.0, "disk": 0.0, "ports": "[31001-31001]"})
        );
        assert_eq!(
            slave["reserved_resources"],
            json!({"web": {"cpus": 2.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0}})
        );
        assert_eq!(slave["unreserved_resources"]["cpus"], json!(4.0));
        assert_eq!(slave["active"], json!(true));

        let fw = &state["frameworks"][0];
        assert_eq!(fw["id"], json!(framework_id));
        assert_eq!(fw["role"], json!("*"));
        assert_eq!(fw["used_resources"]["cpus"], json!(0.5));
        assert_eq!(fw["completed_tasks"], json!([]));
        let mut task = fw["tasks"][0].clone();
        task.as_object_mut().unwrap().remove("role");
        assert_eq!(
            task,
            json!({
                "id": "t1", "name": "web-1", "framework_id": framework_id,
                "executor_id": "", "slave_id": agent_id, "state": "TASK_RUNNING",
                "resources": {"cpus": 0.5, "gpus": 0.0, "mem": 64.0, "disk": 0.0,
                              "ports": "[31001-31001]"},
                "statuses": [{"state": "TASK_RUNNING", "timestamp": 12.5, "healthy": true}],
                "user": "alice",
                "labels": [{"key": "tier", "value": "front \"end\""}],
            })
        );
        for key in [
            "slaves",
            "recovered_slaves",
            "frameworks",
            "completed_frameworks",
            "orphan_tasks",
            "unregistered_frameworks",
        ] {
            assert!(state[key].is_array(), "{key} is an array");
        }
        assert_eq!(state["activated_slaves"], json!(1));
        handle.shutdown().await;
    }
}
