//! The master's state machine: frameworks, agents, tasks and offers, fed by scheduler calls,
//! agent messages and timers. All of it runs under one lock (see [`crate::Shared`]); methods
//! here never block and never await, so the lock is held only for bookkeeping.
//!
//! Outbound traffic leaves through unbounded channels: encoded RecordIO records to each
//! framework's event stream, `MasterMessage`s to each agent's link, and operator events to
//! each operator subscriber.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mesos_agent_protocol::v1::{agent_message, master_message};
use mesos_agent_protocol::{AgentMessage, MasterMessage};
use mesos_allocator::{
    AgentCapabilities, AgentConfig, Allocator, AllocatorOptions, FrameworkCapabilities,
    FrameworkConfig,
};
use mesos_core::ids::{AgentId, FrameworkId};
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::master as opb;
use mesos_core::proto::v1::scheduler as spb;
use mesos_core::proto::v1::task_status::Reason;
use mesos_core::resources::Resources;
use mesos_core::resources::convert::{
    ResourceFormat, convert_format, resources_from_proto, resources_to_proto,
};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use crate::codec::{self, Format};
use crate::flags::MasterFlags;
use crate::registry::{Registry, RegistrySnapshot};
use crate::state::{
    Agent, AgentConn, AgentLinkState, Framework, FrameworkConn, OfferRecord, TaskRecord,
    framework_roles, has_capability, is_terminal,
};

/// The version this master reports (plain dotted digits: pymesos parses it with `int()`).
pub const MESOS_VERSION: &str = "1.11.0";
/// Seconds between scheduler and operator stream heartbeats.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

type FwCap = pb::framework_info::capability::Type;

/// Seconds since the epoch as Mesos's `TimeInfo`.
pub(crate) fn time_info(secs: f64) -> pb::TimeInfo {
    // Nanoseconds since 1970 fit an i64 until 2262.
    #[allow(clippy::cast_possible_truncation)]
    let nanoseconds = (secs * 1e9) as i64;
    pb::TimeInfo { nanoseconds }
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// An operator event stream subscriber.
#[derive(Debug)]
pub(crate) struct OperatorSubscriber {
    pub format: Format,
    pub tx: UnboundedSender<Bytes>,
}

/// Counters behind `/metrics/snapshot`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counters {
    pub tasks_finished: u64,
    pub tasks_failed: u64,
    pub tasks_killed: u64,
    pub tasks_lost: u64,
    pub tasks_error: u64,
    pub tasks_dropped: u64,
    pub tasks_unreachable: u64,
    pub tasks_gone: u64,
    pub valid_status_updates: u64,
    pub invalid_status_updates: u64,
    pub messages_launch_tasks: u64,
    pub messages_decline_offers: u64,
    pub messages_kill_task: u64,
    pub messages_reconcile_tasks: u64,
    pub outstanding_offers_created: u64,
    pub offers_rescinded: u64,
    pub agent_registrations: u64,
    pub agent_reregistrations: u64,
    pub agent_removals: u64,
    pub frameworks_subscribed: u64,
    pub framework_teardowns: u64,
}

/// Why a scheduler call was refused, with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallError {
    pub status: u16,
    pub message: String,
}

impl CallError {
    pub(crate) fn bad_request(message: impl Into<String>) -> CallError {
        CallError {
            status: 400,
            message: message.into(),
        }
    }
    pub(crate) fn forbidden(message: impl Into<String>) -> CallError {
        CallError {
            status: 403,
            message: message.into(),
        }
    }
}

pub struct Master {
    pub(crate) flags: MasterFlags,
    pub(crate) info: pb::MasterInfo,
    pub(crate) start: Instant,
    pub(crate) start_time: f64,
    pub(crate) allocator: Allocator,
    pub(crate) registry: Registry,
    pub(crate) frameworks: HashMap<String, Framework>,
    pub(crate) completed_frameworks: VecDeque<Framework>,
    pub(crate) agents: HashMap<String, Agent>,
    /// Agents in the registry that have not re-registered since this master started.
    pub(crate) recovered_agents: HashMap<String, pb::AgentInfo>,
    pub(crate) unreachable_agents: BTreeMap<String, f64>,
    pub(crate) gone_agents: BTreeMap<String, f64>,
    pub(crate) offers: HashMap<String, OfferRecord>,
    pub(crate) weights: BTreeMap<String, f64>,
    pub(crate) quota: BTreeMap<String, pb::quota::QuotaConfig>,
    pub(crate) maintenance: pb::maintenance::Schedule,
    /// Machines an operator brought DOWN (START_MAINTENANCE); their agents may not register.
    pub(crate) down_machines: Vec<pb::MachineId>,
    /// Outstanding inverse offers by id.
    pub(crate) inverse_offers: HashMap<String, crate::maintenance::InverseOfferRecord>,
    /// The latest answer of each framework to an inverse offer, by (agent, framework).
    pub(crate) inverse_offer_statuses:
        BTreeMap<(String, String), pb::allocator::InverseOfferStatus>,
    pub(crate) operator_subscribers: Vec<OperatorSubscriber>,
    pub(crate) counters: Counters,
    next_framework: u64,
    next_agent: u64,
    next_offer: u64,
    next_conn: u64,
    /// Set when an event makes an allocation cycle worthwhile before the next interval.
    pub(crate) allocation_wanted: bool,
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master").field("id", &self.info.id).finish()
    }
}

/// A failure to start the master.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error("allocator: {0}")]
    Allocator(#[from] mesos_allocator::AllocatorError),
    #[error("invalid flag: {0}")]
    Flag(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

impl Master {
    pub(crate) fn new(
        flags: MasterFlags,
        registry: Registry,
        snapshot: RegistrySnapshot,
        listen: std::net::SocketAddr,
    ) -> Result<Master, MasterError> {
        let min_allocatable = flags
            .min_allocatable_resources
            .split('|')
            .filter(|s| !s.trim().is_empty())
            .map(mesos_allocator::quantities::Quantities::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| MasterError::Flag(format!("--min_allocatable_resources: {e}")))?;
        let allocator = Allocator::new(AllocatorOptions {
            role_sorter: flags.role_sorter.clone(),
            framework_sorter: flags.framework_sorter.clone(),
            min_allocatable_resources: min_allocatable,
            filter_gpu_resources: true,
            seed: now_secs().to_bits(),
        })?;
        let id = uuid::Uuid::new_v4().to_string();
        let advertise_ip = flags
            .advertise_ip
            .clone()
            .unwrap_or_else(|| listen.ip().to_string());
        let port = flags.advertise_port.unwrap_or(listen.port());
        let hostname = flags
            .hostname
            .clone()
            .unwrap_or_else(|| advertise_ip.clone());
        let ip_u32 = advertise_ip
            .parse::<std::net::Ipv4Addr>()
            .map(|ip| u32::from_ne_bytes(ip.octets()))
            .unwrap_or(0);
        let capability = |t: pb::master_info::capability::Type| pb::master_info::Capability {
            r#type: Some(t as i32),
        };
        let info = pb::MasterInfo {
            id: id.clone(),
            ip: ip_u32,
            port: u32::from(port),
            pid: Some(format!("master@{advertise_ip}:{port}")),
            hostname: Some(hostname.clone()),
            version: Some(MESOS_VERSION.to_string()),
            address: Some(pb::Address {
                hostname: Some(hostname),
                ip: Some(advertise_ip),
                port: i32::from(port),
            }),
            domain: None,
            capabilities: vec![
                capability(pb::master_info::capability::Type::AgentUpdate),
                capability(pb::master_info::capability::Type::AgentDraining),
                capability(pb::master_info::capability::Type::QuotaV2),
            ],
        };
        let mut master = Master {
            flags,
            info,
            start: Instant::now(),
            start_time: now_secs(),
            allocator,
            registry,
            frameworks: HashMap::new(),
            completed_frameworks: VecDeque::new(),
            agents: HashMap::new(),
            recovered_agents: HashMap::new(),
            unreachable_agents: BTreeMap::new(),
            gone_agents: BTreeMap::new(),
            offers: HashMap::new(),
            weights: BTreeMap::new(),
            quota: BTreeMap::new(),
            maintenance: pb::maintenance::Schedule::default(),
            down_machines: Vec::new(),
            inverse_offers: HashMap::new(),
            inverse_offer_statuses: BTreeMap::new(),
            operator_subscribers: Vec::new(),
            counters: Counters::default(),
            next_framework: 0,
            next_agent: 0,
            next_offer: 0,
            next_conn: 0,
            allocation_wanted: false,
        };
        master.recover(snapshot)?;
        Ok(master)
    }

    /// Loads the registry: known agents wait to re-register, weights and quota apply at once.
    fn recover(&mut self, snapshot: RegistrySnapshot) -> Result<(), MasterError> {
        for agent in snapshot.agents {
            if let Some(id) = agent.id.as_ref().map(|i| i.value.clone()) {
                self.recovered_agents.insert(id, agent);
            }
        }
        self.unreachable_agents = snapshot.unreachable.into_iter().collect();
        self.gone_agents = snapshot.gone.into_iter().collect();
        let mut weights: Vec<(String, f64)> = snapshot.weights;
        if let Some(text) = self.flags.weights.clone() {
            for item in text.split(',').filter(|s| !s.is_empty()) {
                let (role, w) = item.split_once('=').ok_or_else(|| {
                    MasterError::Flag(format!("--weights: '{item}' is not role=weight"))
                })?;
                let w: f64 = w
                    .parse()
                    .map_err(|_| MasterError::Flag(format!("--weights: bad weight in '{item}'")))?;
                weights.retain(|(r, _)| r != role);
                weights.push((role.to_string(), w));
            }
        }
        self.allocator.update_weights(&weights)?;
        self.weights = weights.into_iter().collect();
        for config in snapshot.quota {
            let quota = crate::operator::quota_from_config(&config)
                .map_err(|e| MasterError::Flag(format!("registry quota: {e}")))?;
            self.allocator.update_quota(&config.role, quota)?;
            self.quota.insert(config.role.clone(), config);
        }
        if let Some(schedule) = snapshot.maintenance {
            self.maintenance = schedule;
        }
        self.down_machines = snapshot.down_machines;
        Ok(())
    }

    pub(crate) fn now(&self) -> Duration {
        self.start.elapsed()
    }

    pub(crate) fn master_id(&self) -> &str {
        &self.info.id
    }

    // ------------------------------------------------------------------ outbound helpers

    pub(crate) fn send_event(&mut self, framework: &str, event: &spb::Event) {
        if let Some(fw) = self.frameworks.get(framework)
            && let Some(conn) = &fw.conn
        {
            let _ = conn.tx.send(codec::record(conn.format, event));
        }
    }

    fn send_to_agent(&self, agent: &str, message: MasterMessage) -> bool {
        match self.agents.get(agent).and_then(|a| a.conn.as_ref()) {
            Some(conn) => conn.tx.send(Ok(message)).is_ok(),
            None => false,
        }
    }

    /// Tells an agent to shut down (its executors and tasks with it).
    pub(crate) fn shutdown_agent(&self, agent: &str, message: &str) {
        self.send_to_agent(
            agent,
            MasterMessage {
                r#type: Some(master_message::Type::Shutdown as i32),
                shutdown: Some(master_message::Shutdown {
                    message: Some(message.to_string()),
                }),
                ..Default::default()
            },
        );
    }

    /// Sends an agent the whole set of its dynamic reservations and persistent volumes, which
    /// it keeps on disk and applies when it next (re-)registers.
    pub(crate) fn checkpoint_agent_resources(&self, agent: &str) {
        let Some(a) = self.agents.get(agent) else {
            return;
        };
        let set = a
            .total
            .filter(|r| r.is_dynamically_reserved() || r.is_persistent_volume());
        let resources =
            resources_to_proto(&set, ResourceFormat::PostReservationRefinement).unwrap_or_default();
        self.send_to_agent(
            agent,
            MasterMessage {
                r#type: Some(master_message::Type::CheckpointResources as i32),
                checkpoint_resources: Some(master_message::CheckpointResources { resources }),
                ..Default::default()
            },
        );
    }

    /// The next number for an offer or inverse offer id.
    pub(crate) fn next_offer_id(&mut self) -> u64 {
        let n = self.next_offer;
        self.next_offer += 1;
        n
    }

    pub(crate) fn publish(&mut self, event: &opb::Event) {
        self.operator_subscribers
            .retain(|s| s.tx.send(codec::record(s.format, event)).is_ok());
    }

    fn update_event(status: pb::TaskStatus) -> spb::Event {
        spb::Event {
            r#type: Some(spb::event::Type::Update as i32),
            update: Some(spb::event::Update { status }),
            ..Default::default()
        }
    }

    // ------------------------------------------------------------------ frameworks

    /// SUBSCRIBE: validates the FrameworkInfo, admits a new framework or fails over an
    /// existing one. On success the stream has already received SUBSCRIBED and HEARTBEAT.
    pub(crate) fn subscribe(
        &mut self,
        mut info: pb::FrameworkInfo,
        suppressed_roles: Vec<String>,
        conn: FrameworkConn,
    ) -> Result<String, String> {
        validate_framework_info(&info)?;
        let roles = framework_roles(&info);
        for role in &suppressed_roles {
            if !roles.contains(role) {
                return Err(format!(
                    "Suppressed role '{role}' is not contained in the list of roles"
                ));
            }
        }
        let now = now_secs();
        let id = match info.id.as_ref().map(|i| i.value.clone()) {
            Some(id) => {
                if self.completed_frameworks.iter().any(|f| f.id == id) {
                    return Err("Framework has been removed".to_string());
                }
                id
            }
            None => {
                let id = format!("{}-{:04}", self.master_id(), self.next_framework);
                self.next_framework += 1;
                info.id = Some(pb::FrameworkId { value: id.clone() });
                id
            }
        };
        let subscribed = spb::Event {
            r#type: Some(spb::event::Type::Subscribed as i32),
            subscribed: Some(spb::event::Subscribed {
                framework_id: pb::FrameworkId { value: id.clone() },
                heartbeat_interval_seconds: Some(HEARTBEAT_INTERVAL.as_secs_f64()),
                master_info: Some(self.info.clone()),
            }),
            ..Default::default()
        };
        let heartbeat = spb::Event {
            r#type: Some(spb::event::Type::Heartbeat as i32),
            ..Default::default()
        };
        let _ = conn.tx.send(codec::record(conn.format, &subscribed));
        let _ = conn.tx.send(codec::record(conn.format, &heartbeat));
        self.counters.frameworks_subscribed += 1;

        let config = allocator_config(&info, &suppressed_roles);
        if let Some(fw) = self.frameworks.get_mut(&id) {
            // Failover or reconnection of a known framework.
            if let Some(old) = fw.conn.take() {
                let error = spb::Event {
                    r#type: Some(spb::event::Type::Error as i32),
                    error: Some(spb::event::Error {
                        message: "Framework failed over".to_string(),
                    }),
                    ..Default::default()
                };
                let _ = old.tx.send(codec::record(old.format, &error));
            }
            let was_active = fw.active;
            fw.info = info.clone();
            fw.conn = Some(conn);
            fw.active = true;
            fw.recovered = false;
            fw.failover_deadline = None;
            fw.unregistered_time = None;
            fw.reregistered_time = Some(now);
            fw.suppressed_roles = suppressed_roles;
            let fid = FrameworkId::new(id.clone());
            if let Err(e) = self.allocator.update_framework(&fid, config) {
                warn!(framework = %id, "allocator refused framework update: {e}");
            }
            if !was_active {
                let _ = self.allocator.activate_framework(&fid);
            }
            // Offers made to the previous instance are void.
            self.rescind_framework_offers(&id, true);
            info!(framework = %id, "framework re-subscribed");
            self.publish(&framework_event(
                opb::event::Type::FrameworkUpdated,
                self.frameworks.get(&id),
            ));
        } else {
            let fw = Framework {
                id: id.clone(),
                info: info.clone(),
                conn: Some(conn),
                active: true,
                recovered: false,
                registered_time: now,
                reregistered_time: None,
                unregistered_time: None,
                failover_deadline: None,
                suppressed_roles,
                tasks: HashMap::new(),
                unreachable_tasks: VecDeque::new(),
                completed_tasks: VecDeque::new(),
                offers: Default::default(),
                executors: HashMap::new(),
            };
            self.frameworks.insert(id.clone(), fw);
            if let Err(e) =
                self.allocator
                    .add_framework(FrameworkId::new(id.clone()), config, &[], true)
            {
                warn!(framework = %id, "allocator refused framework: {e}");
            }
            info!(framework = %id, name = %info.name, "framework subscribed");
            self.publish(&framework_event(
                opb::event::Type::FrameworkAdded,
                self.frameworks.get(&id),
            ));
        }
        self.allocation_wanted = true;
        Ok(id)
    }

    /// The framework's event stream closed. Unless it was replaced by a newer stream, the
    /// framework is deactivated and removed after its failover timeout.
    pub(crate) fn framework_disconnected(&mut self, id: &str, stream_id: &str) {
        let Some(fw) = self.frameworks.get_mut(id) else {
            return;
        };
        if fw.conn.as_ref().map(|c| c.stream_id.as_str()) != Some(stream_id) {
            return;
        }
        fw.conn = None;
        fw.active = false;
        fw.unregistered_time = Some(now_secs());
        let timeout = fw.info.failover_timeout.unwrap_or(0.0);
        let timeout = if timeout.is_finite() && timeout > 0.0 {
            Duration::from_secs_f64(timeout.min(1e9))
        } else {
            Duration::ZERO
        };
        fw.failover_deadline = Some(Instant::now() + timeout);
        info!(framework = %id, ?timeout, "framework disconnected");
        let _ = self.allocator.deactivate_framework(&FrameworkId::new(id));
        self.rescind_framework_offers(id, false);
        if timeout.is_zero() {
            self.remove_framework(id);
        } else {
            self.publish(&framework_event(
                opb::event::Type::FrameworkUpdated,
                self.frameworks.get(id),
            ));
        }
    }

    /// Removes frameworks whose failover timeout expired.
    pub(crate) fn expire_frameworks(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self
            .frameworks
            .values()
            .filter(|f| f.conn.is_none() && f.failover_deadline.is_some_and(|d| d <= now))
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            info!(framework = %id, "framework failover timeout expired");
            self.remove_framework(&id);
        }
    }

    /// Tears a framework down: its tasks are killed, its offers rescinded, and it moves to
    /// the completed frameworks.
    pub(crate) fn remove_framework(&mut self, id: &str) {
        self.rescind_framework_offers(id, false);
        let Some(mut fw) = self.frameworks.remove(id) else {
            return;
        };
        self.counters.framework_teardowns += 1;
        let agents: Vec<String> = self.agents.keys().cloned().collect();
        for agent in &agents {
            self.send_to_agent(
                agent,
                MasterMessage {
                    r#type: Some(master_message::Type::ShutdownFramework as i32),
                    shutdown_framework: Some(master_message::ShutdownFramework {
                        framework_id: pb::FrameworkId {
                            value: id.to_string(),
                        },
                    }),
                    ..Default::default()
                },
            );
        }
        let now = now_secs();
        let tasks: Vec<TaskRecord> = fw.tasks.drain().map(|(_, t)| t).collect();
        for mut record in tasks {
            if !is_terminal(record.state()) {
                let status = master_status(
                    &record.task,
                    pb::TaskState::TaskKilled,
                    pb::task_status::Reason::FrameworkRemoved,
                    "Framework removed",
                    now,
                );
                record.task.state = pb::TaskState::TaskKilled as i32;
                record.task.statuses.push(status);
                self.counters.tasks_killed += 1;
            }
            fw.completed_tasks.push_back(record.task);
        }
        while fw.completed_tasks.len() > self.flags.max_completed_tasks_per_framework {
            fw.completed_tasks.pop_front();
        }
        if let Some(conn) = fw.conn.take() {
            let error = spb::Event {
                r#type: Some(spb::event::Type::Error as i32),
                error: Some(spb::event::Error {
                    message: "Framework removed".to_string(),
                }),
                ..Default::default()
            };
            let _ = conn.tx.send(codec::record(conn.format, &error));
        }
        fw.active = false;
        fw.unregistered_time.get_or_insert(now);
        let _ = self.allocator.remove_framework(&FrameworkId::new(id));
        info!(framework = %id, "framework removed");
        self.publish(&opb::Event {
            r#type: Some(opb::event::Type::FrameworkRemoved as i32),
            framework_removed: Some(opb::event::FrameworkRemoved {
                framework_info: fw.info.clone(),
            }),
            ..Default::default()
        });
        self.completed_frameworks.push_back(fw);
        while self.completed_frameworks.len() > self.flags.max_completed_frameworks {
            self.completed_frameworks.pop_front();
        }
        self.allocation_wanted = true;
    }

    /// Checks that a non-SUBSCRIBE call comes from the connected framework on its stream.
    pub(crate) fn authorize_call(
        &self,
        framework: &str,
        stream_id: Option<&str>,
    ) -> Result<(), CallError> {
        let Some(fw) = self.frameworks.get(framework) else {
            return Err(CallError::bad_request(format!(
                "Framework '{framework}' not found"
            )));
        };
        let Some(conn) = &fw.conn else {
            return Err(CallError::forbidden(format!(
                "Framework '{framework}' is not subscribed"
            )));
        };
        match stream_id {
            None => Err(CallError::bad_request(
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
            )),
            Some(s) if s != conn.stream_id => Err(CallError::bad_request(format!(
                "The stream ID '{s}' included in this request didn't match the stream ID currently associated with framework ID '{framework}'"
            ))),
            Some(_) => Ok(()),
        }
    }

    pub(crate) fn update_framework(
        &mut self,
        id: &str,
        info: pb::FrameworkInfo,
        suppressed_roles: Vec<String>,
    ) -> Result<(), CallError> {
        validate_framework_info(&info).map_err(CallError::bad_request)?;
        if info.id.as_ref().map(|i| i.value.as_str()) != Some(id) {
            return Err(CallError::bad_request(
                "'framework_info.id' must match the call's 'framework_id'",
            ));
        }
        let Some(fw) = self.frameworks.get_mut(id) else {
            return Err(CallError::bad_request(format!(
                "Framework '{id}' not found"
            )));
        };
        if fw.info.user != info.user || fw.info.checkpoint != info.checkpoint {
            return Err(CallError::bad_request(
                "Updating 'user' or 'checkpoint' of a framework is not supported",
            ));
        }
        let config = allocator_config(&info, &suppressed_roles);
        self.allocator
            .update_framework(&FrameworkId::new(id), config)
            .map_err(|e| CallError::bad_request(e.to_string()))?;
        fw.info = info.clone();
        fw.suppressed_roles = suppressed_roles;
        let agents: Vec<String> = fw.executors.keys().cloned().collect();
        for agent in agents {
            self.send_to_agent(
                &agent,
                MasterMessage {
                    r#type: Some(master_message::Type::UpdateFramework as i32),
                    update_framework: Some(master_message::UpdateFramework {
                        framework: info.clone(),
                    }),
                    ..Default::default()
                },
            );
        }
        self.rescind_framework_offers(id, true);
        self.publish(&framework_event(
            opb::event::Type::FrameworkUpdated,
            self.frameworks.get(id),
        ));
        self.allocation_wanted = true;
        Ok(())
    }

    // ------------------------------------------------------------------ offers

    /// One allocation cycle: asks the allocator for offers and sends them.
    pub(crate) fn allocate(&mut self) {
        self.allocation_wanted = false;
        let now = self.now();
        let allocation = self.allocator.allocate(now);
        self.send_inverse_offers(allocation.inverse_offers);
        let mut by_framework: BTreeMap<String, Vec<pb::Offer>> = BTreeMap::new();
        for offer in allocation.offers {
            let framework = offer.framework.as_str().to_string();
            let agent_id = offer.agent.as_str().to_string();
            let (Some(fw), Some(agent)) =
                (self.frameworks.get(&framework), self.agents.get(&agent_id))
            else {
                // Should not happen: give the resources straight back.
                if let Err(e) = self.allocator.recover_offered(
                    &offer.framework,
                    &offer.agent,
                    &offer.role,
                    &offer.resources,
                    None,
                    now,
                ) {
                    warn!(framework, agent = agent_id, "offer not returned: {e}");
                }
                continue;
            };
            let id = format!("{}-O{}", self.info.id, self.next_offer);
            self.next_offer += 1;
            let wire = offer_to_proto(&id, fw, agent, &offer.role, &offer.resources);
            by_framework
                .entry(framework.clone())
                .or_default()
                .push(wire);
            self.offers.insert(
                id.clone(),
                OfferRecord {
                    id: id.clone(),
                    framework: framework.clone(),
                    agent: agent_id,
                    role: offer.role.to_string(),
                    resources: offer.resources,
                    created: Instant::now(),
                },
            );
            if let Some(fw) = self.frameworks.get_mut(&framework) {
                fw.offers.insert(id);
            }
            self.counters.outstanding_offers_created += 1;
        }
        for (framework, offers) in by_framework {
            let event = spb::Event {
                r#type: Some(spb::event::Type::Offers as i32),
                offers: Some(spb::event::Offers { offers }),
                ..Default::default()
            };
            self.send_event(&framework, &event);
        }
    }

    /// Removes an offer, returning its resources to the allocator (with a filter when
    /// `refuse` is given) and telling the framework when `rescind` is set.
    fn remove_offer(
        &mut self,
        id: &str,
        rescind: bool,
        refuse: Option<Duration>,
    ) -> Option<OfferRecord> {
        let offer = self.offers.remove(id)?;
        if let Some(fw) = self.frameworks.get_mut(&offer.framework) {
            fw.offers.remove(id);
        }
        let now = self.now();
        if let Err(e) = self.allocator.recover_offered(
            &FrameworkId::new(offer.framework.clone()),
            &AgentId::new(offer.agent.clone()),
            &offer.role,
            &offer.resources,
            refuse,
            now,
        ) {
            warn!(offer = id, "offered resources not returned: {e}");
        }
        if rescind {
            self.counters.offers_rescinded += 1;
            let event = spb::Event {
                r#type: Some(spb::event::Type::Rescind as i32),
                rescind: Some(spb::event::Rescind {
                    offer_id: pb::OfferId {
                        value: id.to_string(),
                    },
                }),
                ..Default::default()
            };
            let framework = offer.framework.clone();
            self.send_event(&framework, &event);
        }
        Some(offer)
    }

    fn rescind_framework_offers(&mut self, framework: &str, notify: bool) {
        let ids: Vec<String> = self
            .frameworks
            .get(framework)
            .map(|f| f.offers.iter().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.remove_offer(&id, notify, None);
        }
    }

    fn rescind_agent_offers(&mut self, agent: &str) {
        let ids: Vec<String> = self
            .offers
            .values()
            .filter(|o| o.agent == agent)
            .map(|o| o.id.clone())
            .collect();
        for id in ids {
            self.remove_offer(&id, true, None);
        }
    }

    /// Rescinds offers older than `--offer_timeout`.
    pub(crate) fn expire_offers(&mut self) {
        let Some(timeout) = self.flags.offer_timeout else {
            return;
        };
        let now = Instant::now();
        let expired: Vec<String> = self
            .offers
            .values()
            .filter(|o| now.duration_since(o.created) >= timeout)
            .map(|o| o.id.clone())
            .collect();
        for id in expired {
            self.remove_offer(&id, true, None);
        }
    }

    pub(crate) fn decline(
        &mut self,
        framework: &str,
        offer_ids: &[pb::OfferId],
        filters: Option<&pb::Filters>,
    ) {
        self.counters.messages_decline_offers += 1;
        let refuse = refuse_duration(filters);
        for id in offer_ids {
            if self
                .offers
                .get(&id.value)
                .is_some_and(|o| o.framework == framework)
            {
                self.remove_offer(&id.value, false, Some(refuse));
            }
        }
    }

    pub(crate) fn revive(&mut self, framework: &str, roles: &[String]) -> Result<(), CallError> {
        self.allocator
            .revive(&FrameworkId::new(framework), roles)
            .map_err(|e| CallError::bad_request(e.to_string()))?;
        if let Some(fw) = self.frameworks.get_mut(framework) {
            if roles.is_empty() {
                fw.suppressed_roles.clear();
            } else {
                fw.suppressed_roles.retain(|r| !roles.contains(r));
            }
        }
        self.allocation_wanted = true;
        Ok(())
    }

    pub(crate) fn suppress(&mut self, framework: &str, roles: &[String]) -> Result<(), CallError> {
        self.allocator
            .suppress(&FrameworkId::new(framework), roles)
            .map_err(|e| CallError::bad_request(e.to_string()))?;
        if let Some(fw) = self.frameworks.get_mut(framework) {
            let all = if roles.is_empty() {
                fw.roles()
            } else {
                roles.to_vec()
            };
            for role in all {
                if !fw.suppressed_roles.contains(&role) {
                    fw.suppressed_roles.push(role);
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ accept

    /// ACCEPT: runs the operations against the accepted offers' resources. Problems with
    /// tasks are reported to the framework as TASK_ERROR / TASK_DROPPED updates, as Mesos
    /// does; the call itself always succeeds.
    pub(crate) fn accept(
        &mut self,
        framework: &str,
        offer_ids: &[pb::OfferId],
        operations: Vec<pb::offer::Operation>,
        filters: Option<&pb::Filters>,
    ) {
        self.counters.messages_launch_tasks += 1;
        let partition_aware = self
            .frameworks
            .get(framework)
            .is_some_and(|f| f.has_capability(FwCap::PartitionAware));
        // Validate the offers: they must exist, belong to this framework, one role and one
        // agent.
        let mut error: Option<String> = None;
        let mut agent: Option<String> = None;
        let mut role: Option<&str> = None;
        for id in offer_ids {
            match self.offers.get(&id.value) {
                None => {
                    error = Some(format!("Offer {} is no longer valid", id.value));
                    break;
                }
                Some(o) if o.framework != framework => {
                    error = Some(format!("Offer {} has invalid framework", id.value));
                    break;
                }
                Some(o) if role.is_some_and(|r| r != o.role) => {
                    error = Some(format!(
                        "Aggregated offers must be allocated to the same role. Offer {} uses \
                         role '{}' but another is using role '{}'",
                        id.value,
                        o.role,
                        role.unwrap_or_default()
                    ));
                    break;
                }
                Some(o) => {
                    role = Some(&o.role);
                    match &agent {
                        Some(a) if *a != o.agent => {
                            error = Some(
                                "Aggregated offers must belong to one single agent".to_string(),
                            );
                            break;
                        }
                        _ => agent = Some(o.agent.clone()),
                    }
                }
            }
        }
        if offer_ids.is_empty() {
            error = Some("No offers specified".to_string());
        }
        let mut offered = Resources::new();
        let mut offer_role = String::from("*");
        if error.is_none() {
            for id in offer_ids {
                if let Some(o) = self.remove_offer_silently(&id.value) {
                    // Operations and tasks name their resources with allocation roles.
                    offered += &o.resources.into_allocated(o.role.as_str());
                    offer_role = o.role;
                }
            }
        } else {
            // Tasks in an invalid accept are dropped with REASON_INVALID_OFFERS.
            let message = error.clone().unwrap_or_default();
            for op in &operations {
                for task in operation_tasks(op) {
                    let state = if partition_aware {
                        pb::TaskState::TaskDropped
                    } else {
                        pb::TaskState::TaskLost
                    };
                    self.send_master_update(
                        framework,
                        &task.task_id,
                        Some(&task.agent_id),
                        state,
                        pb::task_status::Reason::InvalidOffers,
                        &message,
                    );
                }
            }
            // Offers that were valid are still consumed: recover them.
            for id in offer_ids {
                if self
                    .offers
                    .get(&id.value)
                    .is_some_and(|o| o.framework == framework)
                {
                    self.remove_offer(&id.value, false, Some(refuse_duration(filters)));
                }
            }
            return;
        }
        let agent = agent.unwrap_or_default();
        let mut remaining = offered;
        for op in operations {
            use pb::offer::operation::Type as Op;
            match op.r#type() {
                Op::Launch => {
                    for task in op.launch.map(|l| l.task_infos).unwrap_or_default() {
                        self.launch_task(
                            framework,
                            &agent,
                            &offer_role,
                            task,
                            None,
                            &mut remaining,
                        );
                    }
                }
                Op::LaunchGroup => {
                    if let Some(lg) = op.launch_group {
                        self.launch_group(framework, &agent, &offer_role, lg, &mut remaining);
                    }
                }
                Op::Reserve | Op::Unreserve | Op::Create | Op::Destroy => {
                    if let Err(e) = self.apply_resource_operation(
                        framework,
                        &agent,
                        &offer_role,
                        &op,
                        &mut remaining,
                    ) {
                        warn!(framework, "dropping operation: {e}");
                    }
                }
                other => {
                    warn!(framework, "unsupported offer operation {other:?} ignored");
                }
            }
        }
        // Whatever was not used goes back, filtered as the framework asked.
        if !remaining.is_empty() {
            let now = self.now();
            if let Err(e) = self.allocator.recover_resources(
                &FrameworkId::new(framework),
                &AgentId::new(agent.clone()),
                &remaining,
                Some(refuse_duration(filters)),
                now,
            ) {
                warn!(
                    framework,
                    agent, "unused offered resources not returned: {e}"
                );
            }
        }
    }

    fn remove_offer_silently(&mut self, id: &str) -> Option<OfferRecord> {
        let offer = self.offers.remove(id)?;
        if let Some(fw) = self.frameworks.get_mut(&offer.framework) {
            fw.offers.remove(id);
        }
        Some(offer)
    }

    /// Converts task or operation resources given in any format into allocated resources of
    /// `role` (resources without an allocation role are taken as the offer's).
    fn offered_role_resources(list: &[pb::Resource], role: &str) -> Result<Resources, String> {
        let parsed = resources_from_proto(list).map_err(|e| format!("Invalid resources: {e}"))?;
        if parsed.iter().any(|r| r.allocation_role.is_none()) {
            Ok(parsed.unallocate().allocate(role))
        } else {
            Ok(parsed)
        }
    }

    fn launch_task(
        &mut self,
        framework: &str,
        agent: &str,
        role: &str,
        mut task: pb::TaskInfo,
        group_executor: Option<&pb::ExecutorInfo>,
        remaining: &mut Resources,
    ) -> bool {
        let validated =
            self.validate_task(framework, agent, role, &task, group_executor, remaining);
        let (resources, executor_resources) = match validated {
            Ok(r) => r,
            Err(message) => {
                self.counters.tasks_error += 1;
                self.send_master_update(
                    framework,
                    &task.task_id,
                    Some(&task.agent_id),
                    pb::TaskState::TaskError,
                    pb::task_status::Reason::TaskInvalid,
                    &message,
                );
                return false;
            }
        };
        *remaining -= &resources;
        *remaining -= &executor_resources;
        // Normalise the task's resources to the allocated, post-refinement form.
        task.resources = resources_to_proto(&resources, ResourceFormat::PostReservationRefinement)
            .unwrap_or_default();
        if let Some(executor) = task.executor.as_mut() {
            executor.framework_id = Some(pb::FrameworkId {
                value: framework.to_string(),
            });
            if !executor_resources.is_empty() || !executor.resources.is_empty() {
                let all =
                    Self::offered_role_resources(&executor.resources, role).unwrap_or_default();
                executor.resources =
                    resources_to_proto(&all, ResourceFormat::PostReservationRefinement)
                        .unwrap_or_default();
            }
        }
        let Some(fw) = self.frameworks.get_mut(framework) else {
            return false;
        };
        let now = now_secs();
        let executor_id = task
            .executor
            .as_ref()
            .map(|e| e.executor_id.clone())
            .or_else(|| group_executor.map(|e| e.executor_id.clone()));
        if let Some(executor) = task.executor.clone().or_else(|| group_executor.cloned()) {
            fw.executors
                .entry(agent.to_string())
                .or_default()
                .entry(executor.executor_id.value.clone())
                .or_insert(executor);
        }
        let wire = pb::Task {
            name: task.name.clone(),
            task_id: task.task_id.clone(),
            framework_id: pb::FrameworkId {
                value: framework.to_string(),
            },
            executor_id,
            agent_id: pb::AgentId {
                value: agent.to_string(),
            },
            state: pb::TaskState::TaskStaging as i32,
            resources: task.resources.clone(),
            statuses: vec![],
            status_update_state: None,
            status_update_uuid: None,
            labels: task.labels.clone(),
            discovery: task.discovery.clone(),
            container: task.container.clone(),
            health_check: task.health_check.clone(),
            kill_policy: task.kill_policy,
            user: fw.info.user.clone().into(),
            limits: task.limits.clone(),
        };
        let mut used = resources.clone();
        used += &executor_resources;
        fw.tasks.insert(
            task.task_id.value.clone(),
            TaskRecord {
                task: wire.clone(),
                resources: used,
                latest_status: None,
            },
        );
        let _ = now;
        let info = fw.info.clone();
        if group_executor.is_none() {
            self.send_to_agent(
                agent,
                MasterMessage {
                    r#type: Some(master_message::Type::RunTask as i32),
                    run_task: Some(master_message::RunTask {
                        framework: info,
                        task,
                    }),
                    ..Default::default()
                },
            );
        }
        self.publish(&opb::Event {
            r#type: Some(opb::event::Type::TaskAdded as i32),
            task_added: Some(opb::event::TaskAdded { task: wire }),
            ..Default::default()
        });
        true
    }

    fn launch_group(
        &mut self,
        framework: &str,
        agent: &str,
        role: &str,
        group: pb::offer::operation::LaunchGroup,
        remaining: &mut Resources,
    ) {
        let mut executor = group.executor.clone();
        executor.framework_id = Some(pb::FrameworkId {
            value: framework.to_string(),
        });
        let mut launched = Vec::new();
        let mut failed = false;
        // The executor's resources are charged once, with the first task.
        let mut first = true;
        for task in &group.task_group.tasks {
            if task.executor.is_some() || task.command.is_none() {
                failed = true;
                break;
            }
            let exec = if first { Some(&executor) } else { None };
            let _ = exec;
            first = false;
            if self.launch_task(
                framework,
                agent,
                role,
                task.clone(),
                Some(&executor),
                remaining,
            ) {
                launched.push(task.task_id.clone());
            } else {
                failed = true;
            }
        }
        if failed {
            // A group is all or nothing: drop what was admitted.
            for id in &launched {
                if let Some(fw) = self.frameworks.get_mut(framework)
                    && let Some(record) = fw.tasks.remove(&id.value)
                {
                    *remaining += &record.resources;
                }
                self.send_master_update(
                    framework,
                    id,
                    Some(&pb::AgentId {
                        value: agent.to_string(),
                    }),
                    pb::TaskState::TaskError,
                    pb::task_status::Reason::TaskGroupInvalid,
                    "Task group is invalid",
                );
            }
            return;
        }
        let info = self
            .frameworks
            .get(framework)
            .map(|f| f.info.clone())
            .unwrap_or_default();
        let mut task_group = group.task_group.clone();
        for task in &mut task_group.tasks {
            if let Some(record) = self
                .frameworks
                .get(framework)
                .and_then(|f| f.tasks.get(&task.task_id.value))
            {
                task.resources = record.task.resources.clone();
            }
        }
        self.send_to_agent(
            agent,
            MasterMessage {
                r#type: Some(master_message::Type::RunTaskGroup as i32),
                run_task_group: Some(master_message::RunTaskGroup {
                    framework: info,
                    executor,
                    task_group,
                }),
                ..Default::default()
            },
        );
    }

    /// Mesos's task validation, in its order: ids, agent, resources, executor.
    fn validate_task(
        &self,
        framework: &str,
        agent: &str,
        role: &str,
        task: &pb::TaskInfo,
        group_executor: Option<&pb::ExecutorInfo>,
        remaining: &Resources,
    ) -> Result<(Resources, Resources), String> {
        validate_id("Task", &task.task_id.value)?;
        let fw = self
            .frameworks
            .get(framework)
            .ok_or_else(|| "Framework is gone".to_string())?;
        if fw.tasks.contains_key(&task.task_id.value) {
            return Err(format!("Task has duplicate ID: {}", task.task_id.value));
        }
        if task.agent_id.value != agent {
            return Err(format!(
                "Task uses invalid agent: {} while offer is on agent {agent}",
                task.agent_id.value
            ));
        }
        if task.executor.is_some() == task.command.is_some() && group_executor.is_none() {
            return Err("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present".to_string());
        }
        let resources = Self::offered_role_resources(&task.resources, role)?;
        if resources.is_empty() {
            return Err("Task uses no resources".to_string());
        }
        let mut executor_resources = Resources::new();
        if let Some(executor) = &task.executor {
            validate_id("Executor", &executor.executor_id.value)?;
            if let Some(fid) = &executor.framework_id
                && fid.value != framework
            {
                return Err(format!(
                    "ExecutorInfo has an invalid FrameworkID (Actual: {} vs Expected: {framework})",
                    fid.value
                ));
            }
            let known = fw
                .executors
                .get(agent)
                .and_then(|e| e.get(&executor.executor_id.value));
            match known {
                Some(existing) => {
                    if existing.command != executor.command {
                        return Err(format!(
                            "ExecutorInfo is not compatible with ExecutorInfo of running executor {}",
                            executor.executor_id.value
                        ));
                    }
                }
                None => {
                    executor_resources = Self::offered_role_resources(&executor.resources, role)?;
                }
            }
        }
        if let Some(executor) = group_executor {
            let known = fw
                .executors
                .get(agent)
                .is_some_and(|e| e.contains_key(&executor.executor_id.value));
            let first_of_group = !fw.tasks.values().any(|t| {
                t.task.executor_id.as_ref() == Some(&executor.executor_id) && t.agent_id() == agent
            });
            if !known && first_of_group {
                executor_resources = Self::offered_role_resources(&executor.resources, role)?;
            }
        }
        let mut needed = resources.clone();
        needed += &executor_resources;
        if !remaining.contains(&needed) {
            return Err(format!(
                "Task uses more resources {needed} than available {remaining}"
            ));
        }
        Ok((resources, executor_resources))
    }

    /// Applies RESERVE, UNRESERVE, CREATE or DESTROY to the accepted offers. Like a task's,
    /// the operation's resources carry no allocation role when the framework is not
    /// MULTI_ROLE; they are taken as allocated to the offers' `role` then, as Mesos does.
    fn apply_resource_operation(
        &mut self,
        framework: &str,
        agent: &str,
        role: &str,
        op: &pb::offer::Operation,
        remaining: &mut Resources,
    ) -> Result<(), String> {
        use pb::offer::operation::Type as Op;
        let (from, to) = match op.r#type() {
            Op::Reserve => {
                let res = op
                    .reserve
                    .as_ref()
                    .map(|r| r.resources.as_slice())
                    .unwrap_or_default();
                let to = Self::offered_role_resources(res, role)?;
                (to.pop_reservation(), to)
            }
            Op::Unreserve => {
                let res = op
                    .unreserve
                    .as_ref()
                    .map(|r| r.resources.as_slice())
                    .unwrap_or_default();
                let from = Self::offered_role_resources(res, role)?;
                (from.clone(), from.pop_reservation())
            }
            Op::Create => {
                let res = op
                    .create
                    .as_ref()
                    .map(|r| r.volumes.as_slice())
                    .unwrap_or_default();
                let to = Self::offered_role_resources(res, role)?;
                let from = strip_volumes(&to);
                (from, to)
            }
            Op::Destroy => {
                let res = op
                    .destroy
                    .as_ref()
                    .map(|r| r.volumes.as_slice())
                    .unwrap_or_default();
                let from = Self::offered_role_resources(res, role)?;
                (from.clone(), strip_volumes(&from))
            }
            _ => return Err("not a resource operation".to_string()),
        };
        if !remaining.contains(&from) {
            return Err(format!(
                "Invalid operation: {from} is not contained in the offer"
            ));
        }
        self.allocator
            .update_allocation(
                &FrameworkId::new(framework),
                &AgentId::new(agent),
                &from,
                &to,
            )
            .map_err(|e| e.to_string())?;
        *remaining -= &from;
        *remaining += &to;
        if let Some(a) = self.agents.get_mut(agent) {
            a.total -= &from.unallocate();
            a.total += &to.unallocate();
        }
        self.checkpoint_agent_resources(agent);
        Ok(())
    }

    // ------------------------------------------------------------------ kill, ack, reconcile

    pub(crate) fn kill(
        &mut self,
        framework: &str,
        task_id: &pb::TaskId,
        agent_id: Option<&pb::AgentId>,
        kill_policy: Option<pb::KillPolicy>,
    ) {
        self.counters.messages_kill_task += 1;
        let Some(task) = self
            .frameworks
            .get(framework)
            .and_then(|f| f.tasks.get(&task_id.value))
        else {
            // Unknown task: answer the way reconciliation would.
            self.reconcile_unknown(framework, task_id, agent_id);
            return;
        };
        let agent = task.agent_id().to_string();
        self.send_to_agent(
            &agent,
            MasterMessage {
                r#type: Some(master_message::Type::KillTask as i32),
                kill_task: Some(master_message::KillTask {
                    framework_id: pb::FrameworkId {
                        value: framework.to_string(),
                    },
                    task_id: task_id.clone(),
                    kill_policy,
                }),
                ..Default::default()
            },
        );
    }

    pub(crate) fn acknowledge(
        &mut self,
        framework: &str,
        agent_id: &pb::AgentId,
        task_id: &pb::TaskId,
        uuid: &[u8],
    ) -> Result<(), CallError> {
        if uuid.len() != 16 {
            return Err(CallError::bad_request(format!(
                "'uuid' must be 16 bytes, got {}",
                uuid.len()
            )));
        }
        let Some(fw) = self.frameworks.get_mut(framework) else {
            return Ok(());
        };
        let mut completed = None;
        if let Some(record) = fw.tasks.get(&task_id.value)
            && record.task.status_update_uuid.as_deref() == Some(uuid)
            && record
                .task
                .status_update_state
                .and_then(|s| pb::TaskState::try_from(s).ok())
                .is_some_and(is_terminal)
        {
            completed = fw.tasks.remove(&task_id.value);
        }
        if let Some(record) = completed {
            fw.completed_tasks.push_back(record.task);
            while fw.completed_tasks.len() > self.flags.max_completed_tasks_per_framework {
                fw.completed_tasks.pop_front();
            }
        }
        self.send_to_agent(
            &agent_id.value,
            MasterMessage {
                r#type: Some(master_message::Type::Acknowledge as i32),
                acknowledge: Some(master_message::Acknowledge {
                    framework_id: pb::FrameworkId {
                        value: framework.to_string(),
                    },
                    task_id: task_id.clone(),
                    uuid: uuid.to_vec(),
                }),
                ..Default::default()
            },
        );
        Ok(())
    }

    pub(crate) fn reconcile(&mut self, framework: &str, tasks: &[spb::call::reconcile::Task]) {
        self.counters.messages_reconcile_tasks += 1;
        let now = now_secs();
        if tasks.is_empty() {
            let statuses: Vec<pb::TaskStatus> = self
                .frameworks
                .get(framework)
                .map(|f| {
                    f.tasks
                        .values()
                        .map(|t| reconciliation_status(t, now))
                        .collect()
                })
                .unwrap_or_default();
            for status in statuses {
                self.send_event(framework, &Self::update_event(status));
            }
            return;
        }
        for t in tasks {
            let known = self
                .frameworks
                .get(framework)
                .and_then(|f| f.tasks.get(&t.task_id.value))
                .map(|r| reconciliation_status(r, now));
            match known {
                Some(status) => self.send_event(framework, &Self::update_event(status)),
                None => self.reconcile_unknown(framework, &t.task_id, t.agent_id.as_ref()),
            }
        }
    }

    fn reconcile_unknown(
        &mut self,
        framework: &str,
        task_id: &pb::TaskId,
        agent_id: Option<&pb::AgentId>,
    ) {
        let partition_aware = self
            .frameworks
            .get(framework)
            .is_some_and(|f| f.has_capability(FwCap::PartitionAware));
        use pb::TaskState as S;
        // An agent the registry knows but that has not re-registered since this master
        // started may still report the task: say nothing until it does (or times out).
        if agent_id.is_some_and(|a| self.recovered_agents.contains_key(&a.value)) {
            return;
        }
        let (state, unreachable_time) = match agent_id.map(|a| a.value.as_str()) {
            Some(a) if self.agents.contains_key(a) => (S::TaskGone, None),
            Some(a) if self.unreachable_agents.contains_key(a) => {
                (S::TaskUnreachable, self.unreachable_agents.get(a).copied())
            }
            Some(a) if self.gone_agents.contains_key(a) => (S::TaskGoneByOperator, None),
            _ => (S::TaskUnknown, None),
        };
        let state = if partition_aware { state } else { S::TaskLost };
        let mut status = pb::TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            source: Some(pb::task_status::Source::Master as i32),
            reason: Some(pb::task_status::Reason::Reconciliation as i32),
            message: Some("Reconciliation: Task is unknown".to_string()),
            agent_id: agent_id.cloned(),
            timestamp: Some(now_secs()),
            ..Default::default()
        };
        if let Some(t) = unreachable_time {
            status.unreachable_time = Some(time_info(t));
        }
        self.send_event(framework, &Self::update_event(status));
    }

    /// A status update the master makes itself (no uuid: frameworks do not acknowledge it).
    fn send_master_update(
        &mut self,
        framework: &str,
        task_id: &pb::TaskId,
        agent_id: Option<&pb::AgentId>,
        state: pb::TaskState,
        reason: pb::task_status::Reason,
        message: &str,
    ) {
        let status = pb::TaskStatus {
            task_id: task_id.clone(),
            state: state as i32,
            source: Some(pb::task_status::Source::Master as i32),
            reason: Some(reason as i32),
            message: Some(message.to_string()),
            agent_id: agent_id.cloned(),
            timestamp: Some(now_secs()),
            ..Default::default()
        };
        self.send_event(framework, &Self::update_event(status));
    }

    pub(crate) fn framework_message(
        &mut self,
        agent: &pb::AgentId,
        executor: &pb::ExecutorId,
        framework: &str,
        data: Vec<u8>,
    ) -> Result<(), CallError> {
        if !self.agents.contains_key(&agent.value) {
            return Err(CallError::bad_request(format!(
                "Agent '{}' is not registered",
                agent.value
            )));
        }
        self.send_to_agent(
            &agent.value,
            MasterMessage {
                r#type: Some(master_message::Type::FrameworkMessage as i32),
                framework_message: Some(master_message::FrameworkMessage {
                    framework_id: pb::FrameworkId {
                        value: framework.to_string(),
                    },
                    executor_id: executor.clone(),
                    data,
                }),
                ..Default::default()
            },
        );
        Ok(())
    }

    pub(crate) fn shutdown_executor(
        &mut self,
        framework: &str,
        agent: &pb::AgentId,
        executor: &pb::ExecutorId,
    ) {
        self.send_to_agent(
            &agent.value,
            MasterMessage {
                r#type: Some(master_message::Type::ShutdownExecutor as i32),
                shutdown_executor: Some(master_message::ShutdownExecutor {
                    framework_id: pb::FrameworkId {
                        value: framework.to_string(),
                    },
                    executor_id: executor.clone(),
                }),
                ..Default::default()
            },
        );
    }

    // ------------------------------------------------------------------ agents

    /// Handles REGISTER on a new agent stream. Returns the agent id on success.
    pub(crate) fn register_agent(
        &mut self,
        register: agent_message::Register,
        tx: UnboundedSender<Result<MasterMessage, tonic::Status>>,
    ) -> Result<(String, u64), String> {
        let mut info = register.agent_info;
        let total = resources_from_proto(&info.resources)
            .map_err(|e| format!("Invalid agent resources: {e}"))?
            .unallocate();
        let requested = info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .filter(|s| !s.is_empty());
        if let Some(id) = &requested
            && self.gone_agents.contains_key(id)
        {
            return Err(format!("Agent {id} has been marked gone"));
        }
        if self.machine_is_down(&info.hostname, &register.ip) {
            return Err(format!(
                "Agent on {} ({}) may not register: its machine is DOWN for maintenance",
                info.hostname, register.ip
            ));
        }
        let now = now_secs();
        let reregistering = requested.is_some();
        let id = match requested {
            Some(id) => id,
            None => {
                let id = format!("{}-S{}", self.master_id(), self.next_agent);
                self.next_agent += 1;
                id
            }
        };
        info.id = Some(pb::AgentId { value: id.clone() });
        info.resources = resources_to_proto(&total, ResourceFormat::PostReservationRefinement)
            .unwrap_or_default();
        // An agent the registry already holds with the same info (the common re-registration
        // after a master failover) needs no write: skipping it keeps a burst of 10,000
        // re-registrations from waiting on 10,000 commits.
        let already_admitted = !self.unreachable_agents.contains_key(&id)
            && (self.recovered_agents.get(&id) == Some(&info)
                || self.agents.get(&id).is_some_and(|a| a.info == info));
        if !already_admitted {
            self.registry
                .admit_agent(&info)
                .map_err(|e| format!("Failed to admit agent: {e}"))?;
        }
        self.recovered_agents.remove(&id);
        let was_unreachable = self.unreachable_agents.remove(&id).is_some();
        self.next_conn += 1;
        let conn_id = self.next_conn;

        // A previous stream of the same agent is replaced.
        if self.agents.contains_key(&id) {
            self.rescind_agent_offers(&id);
            let _ = self.allocator.remove_agent(&AgentId::new(id.clone()));
            // Forget what the master thought ran there; the agent's report replaces it.
            for fw in self.frameworks.values_mut() {
                fw.tasks.retain(|_, t| t.agent_id() != id);
                fw.executors.remove(&id);
            }
        }

        // Rebuild frameworks and tasks from the agent's report.
        let partition_aware =
            |info: &pb::FrameworkInfo| has_capability(info, FwCap::PartitionAware);
        let mut used: BTreeMap<String, Resources> = BTreeMap::new();
        let mut kill_frameworks: Vec<String> = Vec::new();
        for finfo in &register.frameworks {
            let Some(fid) = finfo.id.as_ref().map(|i| i.value.clone()) else {
                continue;
            };
            if self.completed_frameworks.iter().any(|f| f.id == fid) {
                kill_frameworks.push(fid);
                continue;
            }
            if was_unreachable && !partition_aware(finfo) {
                // Mesos kills non-partition-aware tasks of agents that come back.
                kill_frameworks.push(fid);
                continue;
            }
            if !self.frameworks.contains_key(&fid) {
                let config = allocator_config(finfo, &[]);
                self.frameworks.insert(
                    fid.clone(),
                    Framework {
                        id: fid.clone(),
                        info: finfo.clone(),
                        conn: None,
                        active: false,
                        recovered: true,
                        registered_time: now,
                        reregistered_time: None,
                        unregistered_time: None,
                        failover_deadline: None,
                        suppressed_roles: vec![],
                        tasks: HashMap::new(),
                        unreachable_tasks: VecDeque::new(),
                        completed_tasks: VecDeque::new(),
                        offers: Default::default(),
                        executors: HashMap::new(),
                    },
                );
                let _ =
                    self.allocator
                        .add_framework(FrameworkId::new(fid.clone()), config, &[], false);
            }
        }
        for executor in &register.executors {
            let fid = &executor.framework_id.value;
            if kill_frameworks.contains(fid) {
                continue;
            }
            if let Some(fw) = self.frameworks.get_mut(fid) {
                fw.executors.entry(id.clone()).or_default().insert(
                    executor.executor_info.executor_id.value.clone(),
                    executor.executor_info.clone(),
                );
                if let Ok(r) = resources_from_proto(&executor.executor_info.resources)
                    && !r.is_empty()
                {
                    let role = fw
                        .roles()
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "*".to_string());
                    let r = if r.iter().any(|x| x.allocation_role.is_none()) {
                        r.unallocate().allocate(&role)
                    } else {
                        r
                    };
                    *used.entry(fid.clone()).or_default() += &r;
                }
            }
        }
        // The role tasks are accounted to, per framework (looked up once, not per task).
        let mut roles: HashMap<String, String> = HashMap::new();
        for task in register.tasks {
            let fid = task.framework_id.value.clone();
            if kill_frameworks.contains(&fid) {
                continue;
            }
            let Some(fw) = self.frameworks.get_mut(&fid) else {
                continue;
            };
            // Unreachable copies come back to life.
            if !fw.unreachable_tasks.is_empty() {
                fw.unreachable_tasks.retain(|t| t.task_id != task.task_id);
            }
            let role = roles.entry(fid.clone()).or_insert_with(|| {
                fw.roles()
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "*".to_string())
            });
            let role = role.as_str();
            let resources = Self::offered_role_resources(&task.resources, role).unwrap_or_default();
            let terminal = is_terminal(task.state());
            if !terminal {
                *used.entry(fid.clone()).or_default() += &resources;
            }
            let latest_status = task.statuses.last().cloned();
            fw.tasks.insert(
                task.task_id.value.clone(),
                TaskRecord {
                    task,
                    resources,
                    latest_status,
                },
            );
        }
        let used_list: Vec<(FrameworkId, Resources)> = used
            .into_iter()
            .map(|(f, r)| (FrameworkId::new(f), r))
            .collect();
        // Make sure the agent's total covers what is in use, so the books balance. A shared
        // volume used by several tasks is in the total once.
        let mut alloc_total = total.clone();
        for (_, r) in &used_list {
            let flat = r.unallocate();
            let plain = flat.non_shared();
            if !alloc_total.contains(&plain) {
                alloc_total += &plain;
            }
            for shared in flat.shared().iter() {
                if !alloc_total.contains_resource(shared) {
                    alloc_total.add_resource(shared);
                }
            }
        }
        let agent_caps = agent_capabilities(&register.capabilities);
        if let Err(e) = self.allocator.add_agent(
            AgentId::new(id.clone()),
            AgentConfig {
                total: alloc_total.clone(),
                capabilities: agent_caps,
                remote_region: None,
            },
            &used_list,
        ) {
            warn!(agent = %id, "allocator refused agent: {e}");
            return Err(format!("Agent refused: {e}"));
        }
        let agent = Agent {
            id: id.clone(),
            info: info.clone(),
            ip: register.ip.clone(),
            version: register
                .version
                .clone()
                .unwrap_or_else(|| MESOS_VERSION.to_string()),
            capabilities: register.capabilities.clone(),
            conn: Some(AgentConn {
                conn_id,
                tx: tx.clone(),
            }),
            link: AgentLinkState::Connected,
            deactivated: false,
            registered_time: now,
            reregistered_time: if reregistering { Some(now) } else { None },
            total: alloc_total,
            pong_pending: false,
            missed_pings: 0,
            unavailability: None,
        };
        self.agents.insert(id.clone(), agent);
        self.refresh_agent_unavailability(&id);
        let _ = tx.send(Ok(MasterMessage {
            r#type: Some(master_message::Type::Registered as i32),
            registered: Some(master_message::Registered {
                agent_id: pb::AgentId { value: id.clone() },
                master_info: self.info.clone(),
                ping_interval_seconds: Some(self.flags.agent_ping_timeout.as_secs_f64()),
            }),
            ..Default::default()
        }));
        for fid in kill_frameworks {
            let _ = tx.send(Ok(MasterMessage {
                r#type: Some(master_message::Type::ShutdownFramework as i32),
                shutdown_framework: Some(master_message::ShutdownFramework {
                    framework_id: pb::FrameworkId { value: fid },
                }),
                ..Default::default()
            }));
        }
        if reregistering {
            self.counters.agent_reregistrations += 1;
        } else {
            self.counters.agent_registrations += 1;
        }
        info!(agent = %id, reregistering, "agent registered");
        if !self.operator_subscribers.is_empty() {
            let usage = self.usage_by_agent();
            let offered = self.offered_by_agent();
            let agent = crate::operator::agent_to_proto(
                self.agents.get(&id).expect("just added"),
                usage.get(id.as_str()),
                offered.get(id.as_str()),
            );
            let event = opb::Event {
                r#type: Some(opb::event::Type::AgentAdded as i32),
                agent_added: Some(opb::event::AgentAdded { agent }),
                ..Default::default()
            };
            self.publish(&event);
        }
        self.allocation_wanted = true;
        Ok((id, conn_id))
    }

    /// The agent's stream ended. It stays registered (its tasks keep running) but gets no
    /// offers; pings decide when it becomes unreachable.
    pub(crate) fn agent_disconnected(&mut self, id: &str, conn_id: u64) {
        let Some(agent) = self.agents.get_mut(id) else {
            return;
        };
        if agent.conn.as_ref().map(|c| c.conn_id) != Some(conn_id) {
            return;
        }
        agent.conn = None;
        agent.link = AgentLinkState::Disconnected;
        info!(agent = %id, "agent disconnected");
        let _ = self.allocator.deactivate_agent(&AgentId::new(id));
        self.rescind_agent_offers(id);
    }

    /// Ping round: counts missed pongs and marks agents unreachable after too many.
    pub(crate) fn ping_agents(&mut self) {
        let max = self.flags.max_agent_ping_timeouts;
        let mut unreachable = Vec::new();
        for agent in self.agents.values_mut() {
            if agent.pong_pending || agent.conn.is_none() {
                agent.missed_pings += 1;
                if agent.missed_pings >= max {
                    unreachable.push(agent.id.clone());
                    continue;
                }
            }
            if let Some(conn) = &agent.conn {
                let _ = conn.tx.send(Ok(MasterMessage {
                    r#type: Some(master_message::Type::Ping as i32),
                    ..Default::default()
                }));
                agent.pong_pending = true;
            }
        }
        for id in unreachable {
            self.mark_agent_unreachable(&id);
        }
    }

    pub(crate) fn pong(&mut self, id: &str) {
        if let Some(agent) = self.agents.get_mut(id) {
            agent.pong_pending = false;
            agent.missed_pings = 0;
        }
    }

    /// Removes an agent that stopped answering: its tasks become TASK_UNREACHABLE (or
    /// TASK_LOST for frameworks that are not partition-aware).
    pub(crate) fn mark_agent_unreachable(&mut self, id: &str) {
        let now = now_secs();
        if let Err(e) = self.registry.mark_unreachable(id, now) {
            warn!(agent = %id, "cannot record unreachable agent, will retry: {e}");
            return;
        }
        warn!(agent = %id, "agent unreachable");
        self.remove_agent(id, AgentRemoval::Unreachable, "Agent is unreachable");
        self.unreachable_agents.insert(id.to_string(), now);
    }

    /// Forgets a registered agent (the registry is the caller's business): its offers and
    /// inverse offers are rescinded, its tasks end as Mesos's `__removeSlave` ends them, and
    /// operator subscribers hear AGENT_REMOVED.
    pub(crate) fn remove_agent(&mut self, id: &str, removal: AgentRemoval, message: &str) {
        let now = now_secs();
        self.counters.agent_removals += 1;
        self.rescind_agent_offers(id);
        self.rescind_agent_inverse_offers(id);
        self.agents.remove(id);
        let _ = self.allocator.remove_agent(&AgentId::new(id));
        let fids: Vec<String> = self.frameworks.keys().cloned().collect();
        for fid in fids {
            let Some(fw) = self.frameworks.get_mut(&fid) else {
                continue;
            };
            let partition_aware = fw.has_capability(FwCap::PartitionAware);
            fw.executors.remove(id);
            let ids: Vec<String> = fw
                .tasks
                .values()
                .filter(|t| t.agent_id() == id)
                .map(|t| t.task.task_id.value.clone())
                .collect();
            let mut updates = Vec::new();
            for tid in ids {
                let Some(mut record) = fw.tasks.remove(&tid) else {
                    continue;
                };
                if is_terminal(record.state()) {
                    fw.completed_tasks.push_back(record.task);
                    continue;
                }
                let (state, reason) = match (partition_aware, removal) {
                    (false, _) => (pb::TaskState::TaskLost, Reason::AgentRemoved),
                    (true, AgentRemoval::Unreachable) => {
                        (pb::TaskState::TaskUnreachable, Reason::AgentRemoved)
                    }
                    (true, AgentRemoval::ByOperator) => (
                        pb::TaskState::TaskGoneByOperator,
                        Reason::AgentRemovedByOperator,
                    ),
                };
                let mut status = master_status(&record.task, state, reason, message, now);
                if removal == AgentRemoval::Unreachable {
                    status.unreachable_time = Some(time_info(now));
                }
                record.task.state = state as i32;
                record.task.statuses.push(status.clone());
                if state == pb::TaskState::TaskUnreachable {
                    fw.unreachable_tasks.push_back(record.task);
                    self.counters.tasks_unreachable += 1;
                } else {
                    fw.completed_tasks.push_back(record.task);
                    self.counters.tasks_lost += 1;
                }
                updates.push(status);
            }
            while fw.unreachable_tasks.len() > self.flags.max_unreachable_tasks_per_framework {
                fw.unreachable_tasks.pop_front();
            }
            while fw.completed_tasks.len() > self.flags.max_completed_tasks_per_framework {
                fw.completed_tasks.pop_front();
            }
            for status in updates {
                self.send_event(&fid, &Self::update_event(status));
            }
        }
        self.publish(&opb::Event {
            r#type: Some(opb::event::Type::AgentRemoved as i32),
            agent_removed: Some(opb::event::AgentRemoved {
                agent_id: pb::AgentId {
                    value: id.to_string(),
                },
            }),
            ..Default::default()
        });
    }

    /// Agents from the registry that did not re-register in time become unreachable.
    pub(crate) fn expire_recovered_agents(&mut self) {
        if self.start.elapsed() < self.flags.agent_reregister_timeout {
            return;
        }
        let ids: Vec<String> = self.recovered_agents.keys().cloned().collect();
        for id in ids {
            let now = now_secs();
            if self.registry.mark_unreachable(&id, now).is_ok() {
                self.recovered_agents.remove(&id);
                self.unreachable_agents.insert(id, now);
            }
        }
    }

    /// A status update from an agent: record it and pass it to the framework, which
    /// acknowledges it through the master.
    pub(crate) fn status_update(&mut self, agent: &str, update: agent_message::StatusUpdate) {
        let fid = update.framework_id.value.clone();
        let status = update.status;
        let Some(fw) = self.frameworks.get_mut(&fid) else {
            self.counters.invalid_status_updates += 1;
            // The framework is gone: tell the agent to stop it, and ack so the update does
            // not linger.
            if self.completed_frameworks.iter().any(|f| f.id == fid)
                && let Some(uuid) = status.uuid.clone()
            {
                self.send_to_agent(
                    agent,
                    MasterMessage {
                        r#type: Some(master_message::Type::Acknowledge as i32),
                        acknowledge: Some(master_message::Acknowledge {
                            framework_id: update.framework_id.clone(),
                            task_id: status.task_id.clone(),
                            uuid,
                        }),
                        ..Default::default()
                    },
                );
            }
            return;
        };
        self.counters.valid_status_updates += 1;
        let tid = status.task_id.value.clone();
        let latest_state = update
            .latest_state
            .and_then(|s| pb::TaskState::try_from(s).ok())
            .unwrap_or_else(|| status.state());
        let mut became_terminal = None;
        let mut event_task = None;
        if let Some(record) = fw.tasks.get_mut(&tid) {
            let was_terminal = is_terminal(record.state());
            record.task.state = latest_state as i32;
            record.task.status_update_state = Some(status.state);
            record.task.status_update_uuid = status.uuid.clone();
            let mut kept = status.clone();
            kept.data = None;
            kept.message = None;
            kept.reason = None;
            if record.task.statuses.last().map(|s| s.state) != Some(status.state)
                || record.task.statuses.is_empty()
            {
                record.task.statuses.push(kept);
            }
            record.latest_status = Some(status.clone());
            if !was_terminal && is_terminal(latest_state) {
                became_terminal = Some(record.resources.clone());
            }
            event_task = Some(record.task.clone());
        }
        if let Some(resources) = became_terminal {
            let now = self.now();
            if let Err(e) = self.allocator.recover_resources(
                &FrameworkId::new(fid.clone()),
                &AgentId::new(agent),
                &resources,
                None,
                now,
            ) {
                warn!(
                    framework = fid,
                    "resources of an ended task not returned: {e}"
                );
            }
            match latest_state {
                pb::TaskState::TaskFinished => self.counters.tasks_finished += 1,
                pb::TaskState::TaskFailed => self.counters.tasks_failed += 1,
                pb::TaskState::TaskKilled => self.counters.tasks_killed += 1,
                pb::TaskState::TaskLost => self.counters.tasks_lost += 1,
                pb::TaskState::TaskError => self.counters.tasks_error += 1,
                pb::TaskState::TaskDropped => self.counters.tasks_dropped += 1,
                pb::TaskState::TaskGone => self.counters.tasks_gone += 1,
                _ => {}
            }
        }
        if let Some(task) = event_task {
            self.publish(&opb::Event {
                r#type: Some(opb::event::Type::TaskUpdated as i32),
                task_updated: Some(opb::event::TaskUpdated {
                    framework_id: task.framework_id.clone(),
                    status: status.clone(),
                    state: latest_state as i32,
                }),
                ..Default::default()
            });
        }
        self.send_event(&fid, &Self::update_event(status));
    }

    pub(crate) fn executor_message(
        &mut self,
        agent: &str,
        msg: agent_message::ExecutorToFramework,
    ) {
        let event = spb::Event {
            r#type: Some(spb::event::Type::Message as i32),
            message: Some(spb::event::Message {
                agent_id: pb::AgentId {
                    value: agent.to_string(),
                },
                executor_id: msg.executor_id,
                data: msg.data,
            }),
            ..Default::default()
        };
        self.send_event(&msg.framework_id.value, &event);
    }

    pub(crate) fn executor_exited(&mut self, agent: &str, exited: agent_message::ExecutorExited) {
        let fid = exited.framework_id.value.clone();
        let mut freed = Resources::new();
        if let Some(fw) = self.frameworks.get_mut(&fid)
            && let Some(execs) = fw.executors.get_mut(agent)
            && let Some(info) = execs.remove(&exited.executor_id.value)
        {
            let role = fw
                .roles()
                .first()
                .cloned()
                .unwrap_or_else(|| "*".to_string());
            if let Ok(r) = Self::offered_role_resources(&info.resources, &role) {
                freed = r;
            }
        }
        if !freed.is_empty() {
            let now = self.now();
            if let Err(e) = self.allocator.recover_resources(
                &FrameworkId::new(fid.clone()),
                &AgentId::new(agent),
                &freed,
                None,
                now,
            ) {
                warn!(
                    framework = fid,
                    agent, "executor resources not returned: {e}"
                );
            }
        }
        let event = spb::Event {
            r#type: Some(spb::event::Type::Failure as i32),
            failure: Some(spb::event::Failure {
                agent_id: Some(pb::AgentId {
                    value: agent.to_string(),
                }),
                executor_id: Some(exited.executor_id),
                status: exited.status,
            }),
            ..Default::default()
        };
        self.send_event(&fid, &event);
    }

    /// Dispatches one message from an agent's link (after REGISTER).
    pub(crate) fn handle_agent_message(&mut self, agent: &str, message: AgentMessage) {
        use agent_message::Type as T;
        match message.r#type() {
            T::StatusUpdate => {
                if let Some(update) = message.status_update {
                    self.status_update(agent, update);
                }
            }
            T::ExecutorMessage => {
                if let Some(msg) = message.executor_message {
                    self.executor_message(agent, msg);
                }
            }
            T::ExecutorExited => {
                if let Some(exited) = message.executor_exited {
                    self.executor_exited(agent, exited);
                }
            }
            T::Pong => self.pong(agent),
            T::Register | T::Unknown => {
                warn!(
                    agent,
                    "unexpected {:?} on an established link",
                    message.r#type()
                );
            }
        }
    }

    // ------------------------------------------------------------------ accounting helpers

    /// Resources used by live tasks, by agent (allocated form), in one pass over the tasks.
    pub(crate) fn usage_by_agent(&self) -> std::collections::HashMap<&str, Resources> {
        let mut used: std::collections::HashMap<&str, Resources> = Default::default();
        for fw in self.frameworks.values() {
            for t in fw.tasks.values() {
                if !is_terminal(t.state()) {
                    *used.entry(t.agent_id()).or_default() += &t.resources;
                }
            }
        }
        used
    }

    /// Resources in outstanding offers, by agent.
    pub(crate) fn offered_by_agent(&self) -> std::collections::HashMap<&str, Resources> {
        let mut offered: std::collections::HashMap<&str, Resources> = Default::default();
        for o in self.offers.values() {
            *offered.entry(o.agent.as_str()).or_default() += &o.resources.allocate(&o.role);
        }
        offered
    }
}

/// Why a registered agent is being removed; decides what its tasks become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentRemoval {
    /// It stopped answering pings: TASK_UNREACHABLE (TASK_LOST if not partition-aware).
    Unreachable,
    /// An operator took it away (machine DOWN, marked gone): TASK_GONE_BY_OPERATOR (TASK_LOST
    /// if not partition-aware).
    ByOperator,
}

/// The plain disk a persistent volume is made from (CREATE's input, DESTROY's output).
fn strip_volumes(volumes: &Resources) -> Resources {
    volumes
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.shared = false;
            if let Some(disk) = r.disk.as_mut() {
                disk.persistence = None;
                disk.volume = None;
                if disk.source.is_none() {
                    r.disk = None;
                }
            }
            r
        })
        .collect()
}

fn validate_id(kind: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{kind} ID must not be empty"));
    }
    if id == "." || id == ".." {
        return Err(format!("'{id}' is disallowed as {kind} ID"));
    }
    if id.contains('/') {
        return Err(format!("'/' is not allowed in {kind} ID"));
    }
    if id.chars().any(|c| c.is_control()) {
        return Err(format!("{kind} ID contains control characters"));
    }
    Ok(())
}

/// Mesos's FrameworkInfo checks that apply to HTTP frameworks.
pub(crate) fn validate_framework_info(info: &pb::FrameworkInfo) -> Result<(), String> {
    let multi_role = has_capability(info, FwCap::MultiRole);
    #[allow(deprecated)]
    let legacy_role = info.role.clone();
    if multi_role && legacy_role.is_some() {
        return Err(
            "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
                .to_string(),
        );
    }
    if !multi_role && !info.roles.is_empty() {
        return Err(
            "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
                .to_string(),
        );
    }
    let roles = framework_roles(info);
    if multi_role && roles.is_empty() {
        // Mesos accepts an empty role list: the framework is offered nothing.
    }
    let mut seen = std::collections::HashSet::new();
    for role in &roles {
        mesos_core::roles::validate_role(role)
            .map_err(|e| format!("Invalid role '{role}': {e}"))?;
        if !seen.insert(role) {
            return Err(format!(
                "'FrameworkInfo.roles' contains duplicate entry '{role}'"
            ));
        }
    }
    if let Some(id) = &info.id {
        validate_id("Framework", &id.value)?;
    }
    Ok(())
}

fn allocator_config(info: &pb::FrameworkInfo, suppressed: &[String]) -> FrameworkConfig {
    let has = |c| has_capability(info, c);
    let mut roles = framework_roles(info);
    if roles.is_empty() {
        roles.push("*".to_string());
    }
    FrameworkConfig {
        roles,
        suppressed_roles: suppressed.to_vec(),
        capabilities: FrameworkCapabilities {
            multi_role: has(FwCap::MultiRole),
            gpu_resources: has(FwCap::GpuResources),
            revocable_resources: has(FwCap::RevocableResources),
            shared_resources: has(FwCap::SharedResources),
            reservation_refinement: has(FwCap::ReservationRefinement),
            region_aware: has(FwCap::RegionAware),
        },
        min_allocatable: HashMap::new(),
    }
}

fn agent_capabilities(caps: &[pb::agent_info::Capability]) -> AgentCapabilities {
    use pb::agent_info::capability::Type as T;
    let has = |t: T| caps.iter().any(|c| c.r#type() == t);
    AgentCapabilities {
        multi_role: has(T::MultiRole) || caps.is_empty(),
        hierarchical_role: has(T::HierarchicalRole) || caps.is_empty(),
    }
}

fn refuse_duration(filters: Option<&pb::Filters>) -> Duration {
    let secs = filters.and_then(|f| f.refuse_seconds).unwrap_or(5.0);
    if secs.is_finite() && secs > 0.0 {
        Duration::from_secs_f64(secs.min(365.0 * 86_400.0))
    } else {
        Duration::ZERO
    }
}

fn operation_tasks(op: &pb::offer::Operation) -> Vec<pb::TaskInfo> {
    let mut out = Vec::new();
    if let Some(l) = &op.launch {
        out.extend(l.task_infos.iter().cloned());
    }
    if let Some(g) = &op.launch_group {
        out.extend(g.task_group.tasks.iter().cloned());
    }
    out
}

fn master_status(
    task: &pb::Task,
    state: pb::TaskState,
    reason: pb::task_status::Reason,
    message: &str,
    now: f64,
) -> pb::TaskStatus {
    pb::TaskStatus {
        task_id: task.task_id.clone(),
        state: state as i32,
        source: Some(pb::task_status::Source::Master as i32),
        reason: Some(reason as i32),
        message: Some(message.to_string()),
        agent_id: Some(task.agent_id.clone()),
        executor_id: task.executor_id.clone(),
        timestamp: Some(now),
        ..Default::default()
    }
}

/// The latest known status of a task, as reconciliation reports it (no uuid).
fn reconciliation_status(record: &TaskRecord, now: f64) -> pb::TaskStatus {
    let mut status = record
        .latest_status
        .clone()
        .unwrap_or_else(|| pb::TaskStatus {
            task_id: record.task.task_id.clone(),
            state: record.task.state,
            agent_id: Some(record.task.agent_id.clone()),
            executor_id: record.task.executor_id.clone(),
            ..Default::default()
        });
    status.state = record.task.state;
    status.uuid = None;
    status.source = Some(pb::task_status::Source::Master as i32);
    status.reason = Some(pb::task_status::Reason::Reconciliation as i32);
    status.message = Some("Reconciliation: Latest task state".to_string());
    status.timestamp = Some(now);
    status
}

/// An offer in the framework's resource format.
fn offer_to_proto(
    id: &str,
    fw: &Framework,
    agent: &Agent,
    role: &str,
    resources: &Resources,
) -> pb::Offer {
    let multi_role = fw.has_capability(FwCap::MultiRole);
    let refinement = fw.has_capability(FwCap::ReservationRefinement);
    let mut wire = resources_to_proto(resources, ResourceFormat::PostReservationRefinement)
        .unwrap_or_default();
    // The allocator's offers do not carry their role in each resource; the wire does, for
    // MULTI_ROLE frameworks (others predate allocation info).
    for r in &mut wire {
        r.allocation_info = multi_role.then(|| pb::resource::AllocationInfo {
            role: Some(role.to_string()),
        });
        if !refinement {
            let _ = convert_format(r, ResourceFormat::PreReservationRefinement);
        }
    }
    let executor_ids = fw
        .executors
        .get(&agent.id)
        .map(|e| {
            e.keys()
                .map(|k| pb::ExecutorId { value: k.clone() })
                .collect()
        })
        .unwrap_or_default();
    pb::Offer {
        id: pb::OfferId {
            value: id.to_string(),
        },
        framework_id: pb::FrameworkId {
            value: fw.id.clone(),
        },
        agent_id: pb::AgentId {
            value: agent.id.clone(),
        },
        hostname: agent.info.hostname.clone(),
        url: Some(pb::Url {
            scheme: "http".to_string(),
            address: pb::Address {
                hostname: Some(agent.info.hostname.clone()),
                ip: Some(agent.ip.clone()),
                port: i32::from(agent.port()),
            },
            path: Some("/slave(1)".to_string()),
            query: vec![],
            fragment: None,
        }),
        domain: agent.info.domain.clone(),
        resources: wire,
        attributes: agent.info.attributes.clone(),
        executor_ids,
        unavailability: None,
        allocation_info: if multi_role {
            Some(pb::resource::AllocationInfo {
                role: Some(role.to_string()),
            })
        } else {
            None
        },
    }
}

fn framework_event(kind: opb::event::Type, fw: Option<&Framework>) -> opb::Event {
    let framework = fw
        .map(crate::operator::framework_to_proto)
        .unwrap_or_default();
    let mut event = opb::Event {
        r#type: Some(kind as i32),
        ..Default::default()
    };
    match kind {
        opb::event::Type::FrameworkAdded => {
            event.framework_added = Some(opb::event::FrameworkAdded { framework });
        }
        _ => {
            event.framework_updated = Some(opb::event::FrameworkUpdated { framework });
        }
    }
    event
}
