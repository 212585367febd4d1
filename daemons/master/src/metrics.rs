//! `/metrics/snapshot` with Mesos's metric names, and the same numbers as Prometheus text.

use crate::master::Master;
use crate::state::is_terminal;

fn scalar(r: &mesos_core::resources::Resources, name: &str) -> f64 {
    r.scalar(name).map(|s| s.as_f64()).unwrap_or(0.0)
}

/// Every metric, sorted by name.
pub(crate) fn snapshot(master: &Master) -> Vec<(String, f64)> {
    let c = &master.counters;
    let mut out: Vec<(String, f64)> = Vec::with_capacity(64);
    let mut put = |name: &str, value: f64| out.push((name.to_string(), value));

    put("master/elected", 1.0);
    put("master/uptime_secs", master.start.elapsed().as_secs_f64());
    let active_agents = master.agents.values().filter(|a| a.active()).count();
    let connected_agents = master.agents.values().filter(|a| a.conn.is_some()).count();
    put("master/slaves_active", active_agents as f64);
    put(
        "master/slaves_inactive",
        (master.agents.len() - active_agents) as f64,
    );
    put("master/slaves_connected", connected_agents as f64);
    put(
        "master/slaves_disconnected",
        (master.agents.len() - connected_agents) as f64,
    );
    put(
        "master/slaves_unreachable",
        master.unreachable_agents.len() as f64,
    );
    put("master/slave_registrations", c.agent_registrations as f64);
    put(
        "master/slave_reregistrations",
        c.agent_reregistrations as f64,
    );
    put("master/slave_removals", c.agent_removals as f64);
    let active_fw = master.frameworks.values().filter(|f| f.active).count();
    let connected_fw = master.frameworks.values().filter(|f| f.connected()).count();
    put("master/frameworks_active", active_fw as f64);
    put(
        "master/frameworks_inactive",
        (master.frameworks.len() - active_fw) as f64,
    );
    put("master/frameworks_connected", connected_fw as f64);
    put(
        "master/frameworks_disconnected",
        (master.frameworks.len() - connected_fw) as f64,
    );
    put("master/outstanding_offers", master.offers.len() as f64);

    let mut staging = 0;
    let mut starting = 0;
    let mut running = 0;
    let mut killing = 0;
    for fw in master.frameworks.values() {
        for t in fw.tasks.values() {
            use mesos_core::proto::v1::TaskState as S;
            match t.state() {
                S::TaskStaging => staging += 1,
                S::TaskStarting => starting += 1,
                S::TaskRunning => running += 1,
                S::TaskKilling => killing += 1,
                s if is_terminal(s) => {}
                _ => {}
            }
        }
    }
    put("master/tasks_staging", f64::from(staging));
    put("master/tasks_starting", f64::from(starting));
    put("master/tasks_running", f64::from(running));
    put("master/tasks_killing", f64::from(killing));
    put("master/tasks_finished", c.tasks_finished as f64);
    put("master/tasks_failed", c.tasks_failed as f64);
    put("master/tasks_killed", c.tasks_killed as f64);
    put("master/tasks_lost", c.tasks_lost as f64);
    put("master/tasks_error", c.tasks_error as f64);
    put("master/tasks_dropped", c.tasks_dropped as f64);
    put("master/tasks_unreachable", c.tasks_unreachable as f64);
    put("master/tasks_gone", c.tasks_gone as f64);
    put("master/valid_status_updates", c.valid_status_updates as f64);
    put(
        "master/invalid_status_updates",
        c.invalid_status_updates as f64,
    );
    put(
        "master/messages_launch_tasks",
        c.messages_launch_tasks as f64,
    );
    put(
        "master/messages_decline_offers",
        c.messages_decline_offers as f64,
    );
    put("master/messages_kill_task", c.messages_kill_task as f64);
    put(
        "master/messages_reconcile_tasks",
        c.messages_reconcile_tasks as f64,
    );
    put("master/offers_rescinded", c.offers_rescinded as f64);

    let mut total = mesos_core::resources::Resources::new();
    let mut used = mesos_core::resources::Resources::new();
    for agent in master.agents.values() {
        total += &agent.total;
    }
    for r in master.usage_by_agent().values() {
        used += &r.unallocate();
    }
    for name in ["cpus", "mem", "disk", "gpus"] {
        let t = scalar(&total, name);
        let u = scalar(&used, name);
        put(&format!("master/{name}_total"), t);
        put(&format!("master/{name}_used"), u);
        put(
            &format!("master/{name}_percent"),
            if t > 0.0 { u / t } else { 0.0 },
        );
    }
    put("master/event_queue_messages", 0.0);
    put(
        "master/operator_event_stream_subscriptions",
        master.operator_subscribers.len() as f64,
    );
    put("registrar/state_fetch_ms", 0.0);
    put(
        "system/cpus_total",
        std::thread::available_parallelism()
            .map(|n| n.get() as f64)
            .unwrap_or(1.0),
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let mut parts = load.split_whitespace();
        for name in ["system/load_1min", "system/load_5min", "system/load_15min"] {
            if let Some(v) = parts.next().and_then(|p| p.parse().ok()) {
                put(name, v);
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Prometheus text exposition of the same metrics (`/` and `.` become `_`).
pub(crate) fn prometheus(metrics: &[(String, f64)]) -> String {
    let mut out = String::new();
    for (name, value) in metrics {
        let name: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        out.push_str(&format!(
            "# TYPE mesos_{name} gauge\nmesos_{name} {value}\n"
        ));
    }
    out
}
