//! The v1 operator API (`POST /api/v1`): queries answer with a `Response`, changes answer
//! with an empty body. Also the conversions from the master's records to the operator
//! protobufs, shared with the operator event stream.

use mesos_allocator::Quota;
use mesos_allocator::quantities::{Limits, Quantities};
use mesos_core::ids::FrameworkId;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::master as opb;
use mesos_core::resources::Resources;
use mesos_core::resources::convert::{ResourceFormat, resources_from_proto, resources_to_proto};
use mesos_core::values::Scalar;

use crate::master::{CallError, MESOS_VERSION, Master, now_secs};
use crate::state::{Agent, Framework, is_terminal};

type CallType = opb::call::Type;
type RespType = opb::response::Type;

fn time(secs: f64) -> pb::TimeInfo {
    crate::master::time_info(secs)
}

fn endpoint(resources: &Resources) -> Vec<pb::Resource> {
    resources_to_proto(resources, ResourceFormat::Endpoint).unwrap_or_default()
}

pub(crate) fn agent_to_proto(
    agent: &Agent,
    used: Option<&Resources>,
    offered: Option<&Resources>,
) -> opb::response::get_agents::Agent {
    let none = Resources::new();
    opb::response::get_agents::Agent {
        agent_info: agent.info.clone(),
        active: agent.active(),
        deactivated: Some(agent.deactivated),
        version: agent.version.clone(),
        pid: Some(agent.pid()),
        registered_time: Some(time(agent.registered_time)),
        reregistered_time: agent.reregistered_time.map(time),
        total_resources: endpoint(&agent.total),
        allocated_resources: endpoint(used.unwrap_or(&none)),
        offered_resources: endpoint(offered.unwrap_or(&none)),
        capabilities: agent.capabilities.clone(),
        resource_providers: vec![],
        drain_info: None,
        estimated_drain_start_time: None,
    }
}

pub(crate) fn framework_to_proto(fw: &Framework) -> opb::response::get_frameworks::Framework {
    let mut allocated = Resources::new();
    for t in fw.tasks.values() {
        if !is_terminal(t.state()) {
            allocated += &t.resources;
        }
    }
    opb::response::get_frameworks::Framework {
        framework_info: fw.info.clone(),
        active: fw.active,
        connected: fw.connected(),
        recovered: fw.recovered,
        registered_time: Some(time(fw.registered_time)),
        reregistered_time: fw.reregistered_time.map(time),
        unregistered_time: fw.unregistered_time.map(time),
        offers: vec![],
        inverse_offers: vec![],
        allocated_resources: endpoint(&allocated),
        offered_resources: vec![],
        offer_constraints: None,
    }
}

/// Quota as the allocator takes it.
pub(crate) fn quota_from_config(config: &pb::quota::QuotaConfig) -> Result<Quota, String> {
    mesos_core::roles::validate_role(&config.role).map_err(|e| e.to_string())?;
    let mut guarantees = Quantities::default();
    for (name, v) in &config.guarantees {
        let s = Scalar::try_from_f64(v.value)
            .filter(|s| !s.is_negative())
            .ok_or_else(|| format!("invalid guarantee {name}:{}", v.value))?;
        guarantees.set(name, s);
    }
    let mut caps = Vec::new();
    for (name, v) in &config.limits {
        let s = Scalar::try_from_f64(v.value)
            .filter(|s| !s.is_negative())
            .ok_or_else(|| format!("invalid limit {name}:{}", v.value))?;
        caps.push((name.clone(), s));
        if guarantees.get(name) > s {
            return Err(format!(
                "guarantee of '{name}' exceeds its limit in role '{}'",
                config.role
            ));
        }
    }
    let limits = if caps.is_empty() {
        Limits::none()
    } else {
        Limits::from_caps(caps)
    };
    Ok(Quota { guarantees, limits })
}

pub(crate) fn get_state(master: &Master) -> opb::response::GetState {
    opb::response::GetState {
        get_tasks: Some(get_tasks(master)),
        get_executors: Some(get_executors(master)),
        get_frameworks: Some(get_frameworks(master)),
        get_agents: Some(get_agents(master)),
    }
}

fn get_agents(master: &Master) -> opb::response::GetAgents {
    let mut agents: Vec<_> = master.agents.values().collect();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    let usage = master.usage_by_agent();
    let offered = master.offered_by_agent();
    opb::response::GetAgents {
        agents: agents
            .into_iter()
            .map(|a| agent_to_proto(a, usage.get(a.id.as_str()), offered.get(a.id.as_str())))
            .collect(),
        recovered_agents: master.recovered_agents.values().cloned().collect(),
    }
}

#[allow(deprecated)]
fn get_frameworks(master: &Master) -> opb::response::GetFrameworks {
    let mut fws: Vec<_> = master.frameworks.values().collect();
    fws.sort_by(|a, b| a.id.cmp(&b.id));
    opb::response::GetFrameworks {
        frameworks: fws.into_iter().map(framework_to_proto).collect(),
        completed_frameworks: master
            .completed_frameworks
            .iter()
            .map(framework_to_proto)
            .collect(),
        recovered_frameworks: vec![],
    }
}

#[allow(deprecated)]
fn get_executors(master: &Master) -> opb::response::GetExecutors {
    let mut executors = Vec::new();
    for fw in master.frameworks.values() {
        for (agent, execs) in &fw.executors {
            for info in execs.values() {
                executors.push(opb::response::get_executors::Executor {
                    executor_info: info.clone(),
                    agent_id: pb::AgentId {
                        value: agent.clone(),
                    },
                });
            }
        }
    }
    opb::response::GetExecutors {
        executors,
        orphan_executors: vec![],
    }
}

#[allow(deprecated)]
fn get_tasks(master: &Master) -> opb::response::GetTasks {
    let mut out = opb::response::GetTasks::default();
    for fw in master.frameworks.values() {
        for t in fw.tasks.values() {
            if is_terminal(t.state()) {
                out.completed_tasks.push(t.task.clone());
            } else {
                out.tasks.push(t.task.clone());
            }
        }
        out.unreachable_tasks
            .extend(fw.unreachable_tasks.iter().cloned());
        out.completed_tasks
            .extend(fw.completed_tasks.iter().cloned());
    }
    for fw in &master.completed_frameworks {
        out.completed_tasks
            .extend(fw.completed_tasks.iter().cloned());
    }
    out
}

pub(crate) fn get_roles(master: &Master) -> Vec<pb::Role> {
    let mut roles: std::collections::BTreeMap<String, (Vec<pb::FrameworkId>, Resources)> =
        Default::default();
    for fw in master.frameworks.values() {
        for role in fw.roles() {
            roles.entry(role).or_default().0.push(pb::FrameworkId {
                value: fw.id.clone(),
            });
        }
        for t in fw.tasks.values() {
            if is_terminal(t.state()) {
                continue;
            }
            for r in t.resources.iter() {
                if let Some(role) = &r.allocation_role {
                    roles.entry(role.to_string()).or_default().1.add_resource(r);
                }
            }
        }
    }
    for role in master.weights.keys().chain(master.quota.keys()) {
        roles.entry(role.clone()).or_default();
    }
    roles
        .into_iter()
        .map(|(name, (frameworks, resources))| pb::Role {
            weight: master.weights.get(&name).copied().unwrap_or(1.0),
            name,
            frameworks,
            resources: endpoint(&resources.unallocate()),
        })
        .collect()
}

pub(crate) fn weight_infos(master: &Master) -> Vec<pb::WeightInfo> {
    master
        .weights
        .iter()
        .map(|(role, weight)| pb::WeightInfo {
            weight: *weight,
            role: Some(role.clone()),
        })
        .collect()
}

pub(crate) fn update_weights(
    master: &mut Master,
    infos: &[pb::WeightInfo],
) -> Result<(), CallError> {
    let mut weights = Vec::new();
    for info in infos {
        let role = info
            .role
            .clone()
            .ok_or_else(|| CallError::bad_request("Every weight needs a 'role'"))?;
        mesos_core::roles::validate_role(&role)
            .map_err(|e| CallError::bad_request(format!("Invalid role '{role}': {e}")))?;
        if !(info.weight.is_finite() && info.weight > 0.0) {
            return Err(CallError::bad_request(format!(
                "Invalid weight '{}' for role '{role}': weights must be positive",
                info.weight
            )));
        }
        weights.push((role, info.weight));
    }
    master
        .registry
        .update_weights(&weights)
        .map_err(|e| CallError {
            status: 503,
            message: e.to_string(),
        })?;
    master
        .allocator
        .update_weights(&weights)
        .map_err(|e| CallError::bad_request(e.to_string()))?;
    for (role, w) in weights {
        if (w - 1.0).abs() < f64::EPSILON {
            master.weights.remove(&role);
        } else {
            master.weights.insert(role, w);
        }
    }
    Ok(())
}

pub(crate) fn update_quota(
    master: &mut Master,
    configs: &[pb::quota::QuotaConfig],
) -> Result<(), CallError> {
    let mut parsed = Vec::new();
    for config in configs {
        let quota = quota_from_config(config).map_err(CallError::bad_request)?;
        parsed.push((config.clone(), quota));
    }
    master
        .registry
        .update_quota(configs)
        .map_err(|e| CallError {
            status: 503,
            message: e.to_string(),
        })?;
    for (config, quota) in parsed {
        master
            .allocator
            .update_quota(&config.role, quota)
            .map_err(|e| CallError::bad_request(e.to_string()))?;
        if config.guarantees.is_empty() && config.limits.is_empty() {
            master.quota.remove(&config.role);
        } else {
            master.quota.insert(config.role.clone(), config);
        }
    }
    master.allocation_wanted = true;
    Ok(())
}

#[allow(deprecated)]
pub(crate) fn quota_status(master: &Master) -> pb::quota::QuotaStatus {
    pb::quota::QuotaStatus {
        infos: master
            .quota
            .values()
            .map(|c| pb::quota::QuotaInfo {
                role: Some(c.role.clone()),
                principal: None,
                guarantee: c
                    .guarantees
                    .iter()
                    .map(|(name, v)| pb::Resource {
                        name: name.clone(),
                        r#type: pb::value::Type::Scalar as i32,
                        scalar: Some(*v),
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect(),
        configs: master.quota.values().cloned().collect(),
    }
}

pub(crate) fn flags(master: &Master) -> Vec<pb::Flag> {
    master
        .flags
        .to_map()
        .into_iter()
        .map(|(name, value)| pb::Flag {
            name,
            value: Some(value),
        })
        .collect()
}

pub(crate) fn version_info() -> pb::VersionInfo {
    pb::VersionInfo {
        version: MESOS_VERSION.to_string(),
        build_date: None,
        build_time: None,
        build_user: None,
        git_sha: None,
        git_branch: None,
        git_tag: None,
    }
}

fn response(kind: RespType) -> opb::Response {
    opb::Response {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// Reserves or unreserves resources on an agent outside of offers (operator RESERVE/UNRESERVE):
/// only resources that are not offered or used can change.
fn change_reservation(
    master: &mut Master,
    agent_id: &pb::AgentId,
    resources: &[pb::Resource],
    reserve: bool,
) -> Result<(), CallError> {
    let parsed = resources_from_proto(resources)
        .map_err(|e| CallError::bad_request(format!("Invalid resources: {e}")))?;
    if parsed.is_empty() {
        return Err(CallError::bad_request("No resources specified"));
    }
    let (from, to) = if reserve {
        if parsed.iter().any(|r| !r.is_reserved()) {
            return Err(CallError::bad_request(
                "Resources to reserve must carry a reservation",
            ));
        }
        (parsed.pop_reservation(), parsed.clone())
    } else {
        (parsed.clone(), parsed.pop_reservation())
    };
    let id = mesos_core::ids::AgentId::new(agent_id.value.clone());
    let available = master
        .allocator
        .available(&id)
        .map_err(|_| CallError::bad_request(format!("Unknown agent {}", agent_id.value)))?
        .clone();
    if !available.contains(&from) {
        return Err(CallError {
            status: 409,
            message: format!("Agent {} does not have {from} available", agent_id.value),
        });
    }
    let agent = master
        .agents
        .get_mut(&agent_id.value)
        .ok_or_else(|| CallError::bad_request(format!("Unknown agent {}", agent_id.value)))?;
    let mut total = agent.total.clone();
    total -= &from;
    total += &to;
    master
        .allocator
        .update_agent(&id, total.clone())
        .map_err(|e| CallError {
            status: 409,
            message: e.to_string(),
        })?;
    agent.total = total;
    master.checkpoint_agent_resources(&agent_id.value);
    master.allocation_wanted = true;
    Ok(())
}

/// Runs one operator call. `Ok(None)` means success with an empty body.
pub(crate) fn handle(
    master: &mut Master,
    call: opb::Call,
) -> Result<Option<opb::Response>, CallError> {
    let kind = call.r#type();
    let mut out = None;
    match kind {
        CallType::Unknown => {
            return Err(CallError {
                status: 400,
                message: "Expecting 'type' to be present".to_string(),
            });
        }
        CallType::GetHealth => {
            let mut r = response(RespType::GetHealth);
            r.get_health = Some(opb::response::GetHealth { healthy: true });
            out = Some(r);
        }
        CallType::GetFlags => {
            let mut r = response(RespType::GetFlags);
            r.get_flags = Some(opb::response::GetFlags {
                flags: flags(master),
            });
            out = Some(r);
        }
        CallType::GetVersion => {
            let mut r = response(RespType::GetVersion);
            r.get_version = Some(opb::response::GetVersion {
                version_info: version_info(),
            });
            out = Some(r);
        }
        CallType::GetMetrics => {
            let mut r = response(RespType::GetMetrics);
            r.get_metrics = Some(opb::response::GetMetrics {
                metrics: crate::metrics::snapshot(master)
                    .into_iter()
                    .map(|(name, value)| pb::Metric {
                        name,
                        value: Some(value),
                    })
                    .collect(),
            });
            out = Some(r);
        }
        CallType::GetLoggingLevel => {
            let mut r = response(RespType::GetLoggingLevel);
            r.get_logging_level = Some(opb::response::GetLoggingLevel { level: 0 });
            out = Some(r);
        }
        CallType::GetState => {
            let mut r = response(RespType::GetState);
            r.get_state = Some(get_state(master));
            out = Some(r);
        }
        CallType::GetAgents => {
            let mut r = response(RespType::GetAgents);
            r.get_agents = Some(get_agents(master));
            out = Some(r);
        }
        CallType::GetFrameworks => {
            let mut r = response(RespType::GetFrameworks);
            r.get_frameworks = Some(get_frameworks(master));
            out = Some(r);
        }
        CallType::GetExecutors => {
            let mut r = response(RespType::GetExecutors);
            r.get_executors = Some(get_executors(master));
            out = Some(r);
        }
        CallType::GetTasks => {
            let mut r = response(RespType::GetTasks);
            r.get_tasks = Some(get_tasks(master));
            out = Some(r);
        }
        CallType::GetRoles => {
            let mut r = response(RespType::GetRoles);
            r.get_roles = Some(opb::response::GetRoles {
                roles: get_roles(master),
            });
            out = Some(r);
        }
        CallType::GetWeights => {
            let mut r = response(RespType::GetWeights);
            r.get_weights = Some(opb::response::GetWeights {
                weight_infos: weight_infos(master),
            });
            out = Some(r);
        }
        CallType::UpdateWeights => {
            let infos = call.update_weights.map(|u| u.weight_infos).ok_or_else(|| {
                CallError::bad_request("Expecting 'update_weights' to be present")
            })?;
            update_weights(master, &infos)?;
        }
        CallType::GetMaster => {
            let mut r = response(RespType::GetMaster);
            r.get_master = Some(opb::response::GetMaster {
                master_info: Some(master.info.clone()),
                start_time: Some(master.start_time),
                elected_time: Some(master.start_time),
            });
            out = Some(r);
        }
        CallType::GetQuota => {
            let mut r = response(RespType::GetQuota);
            r.get_quota = Some(opb::response::GetQuota {
                status: quota_status(master),
            });
            out = Some(r);
        }
        CallType::UpdateQuota => {
            let configs = call
                .update_quota
                .map(|u| u.quota_configs)
                .ok_or_else(|| CallError::bad_request("Expecting 'update_quota' to be present"))?;
            update_quota(master, &configs)?;
        }
        CallType::ReserveResources => {
            let r = call.reserve_resources.ok_or_else(|| {
                CallError::bad_request("Expecting 'reserve_resources' to be present")
            })?;
            change_reservation(master, &r.agent_id, &r.resources, true)?;
        }
        CallType::UnreserveResources => {
            let r = call.unreserve_resources.ok_or_else(|| {
                CallError::bad_request("Expecting 'unreserve_resources' to be present")
            })?;
            change_reservation(master, &r.agent_id, &r.resources, false)?;
        }
        CallType::Teardown => {
            let t = call
                .teardown
                .ok_or_else(|| CallError::bad_request("Expecting 'teardown' to be present"))?;
            if !master.frameworks.contains_key(&t.framework_id.value) {
                return Err(CallError::bad_request(format!(
                    "No framework found with specified ID '{}'",
                    t.framework_id.value
                )));
            }
            master.remove_framework(&t.framework_id.value);
        }
        CallType::GetMaintenanceSchedule => {
            let mut r = response(RespType::GetMaintenanceSchedule);
            r.get_maintenance_schedule = Some(opb::response::GetMaintenanceSchedule {
                schedule: master.maintenance.clone(),
            });
            out = Some(r);
        }
        CallType::GetMaintenanceStatus => {
            let mut r = response(RespType::GetMaintenanceStatus);
            r.get_maintenance_status = Some(opb::response::GetMaintenanceStatus {
                status: master.maintenance_status(),
            });
            out = Some(r);
        }
        CallType::UpdateMaintenanceSchedule => {
            let s = call.update_maintenance_schedule.ok_or_else(|| {
                CallError::bad_request("Expecting 'update_maintenance_schedule' to be present")
            })?;
            master.update_maintenance_schedule(s.schedule)?;
        }
        CallType::StartMaintenance => {
            let m = call.start_maintenance.ok_or_else(|| {
                CallError::bad_request("Expecting 'start_maintenance' to be present")
            })?;
            master.start_maintenance(&m.machines)?;
        }
        CallType::StopMaintenance => {
            let m = call.stop_maintenance.ok_or_else(|| {
                CallError::bad_request("Expecting 'stop_maintenance' to be present")
            })?;
            master.stop_maintenance(&m.machines)?;
        }
        CallType::Subscribe => {
            // Handled by the HTTP layer, which owns the stream.
            return Err(CallError::bad_request("SUBSCRIBE is handled as a stream"));
        }
        CallType::MarkAgentGone => {
            let m = call.mark_agent_gone.ok_or_else(|| {
                CallError::bad_request("Expecting 'mark_agent_gone' to be present")
            })?;
            let id = m.agent_id.value;
            if !master.agents.contains_key(&id) && !master.unreachable_agents.contains_key(&id) {
                return Err(CallError {
                    status: 404,
                    message: format!("Agent '{id}' not found"),
                });
            }
            master
                .registry
                .mark_gone(&id, now_secs())
                .map_err(|e| CallError {
                    status: 503,
                    message: e.to_string(),
                })?;
            if master.agents.contains_key(&id) {
                const GONE: &str = "Agent marked gone by the operator";
                master.shutdown_agent(&id, GONE);
                master.remove_agent(&id, crate::master::AgentRemoval::ByOperator, GONE);
            }
            master.unreachable_agents.remove(&id);
            master.gone_agents.insert(id, now_secs());
        }
        CallType::DeactivateAgent | CallType::ReactivateAgent => {
            let id = match kind {
                CallType::DeactivateAgent => call.deactivate_agent.map(|d| d.agent_id),
                _ => call.reactivate_agent.map(|d| d.agent_id),
            }
            .ok_or_else(|| CallError::bad_request("Expecting 'agent_id' to be present"))?;
            let deactivate = kind == CallType::DeactivateAgent;
            let agent = master.agents.get_mut(&id.value).ok_or_else(|| CallError {
                status: 404,
                message: format!("Agent '{}' not found", id.value),
            })?;
            agent.deactivated = deactivate;
            let aid = mesos_core::ids::AgentId::new(id.value.clone());
            let _ = if deactivate {
                master.allocator.deactivate_agent(&aid)
            } else {
                master.allocator.activate_agent(&aid)
            };
        }
        other => {
            return Err(CallError {
                status: 501,
                message: format!("Operator call {other:?} is not implemented by this master"),
            });
        }
    }
    let _ = FrameworkId::new("");
    Ok(out)
}
