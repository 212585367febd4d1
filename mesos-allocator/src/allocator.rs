//! The hierarchical allocator: state fed by events, decisions returned by [`Allocator::allocate`].
//!
//! The cycle follows Mesos 1.11 (`__generateOffers` in `hierarchical.cpp`): agents are visited in
//! a (seeded) random order; on each agent, roles are visited in role-sorter order and, within a
//! role, frameworks in that role's framework-sorter order. A first stage serves roles whose quota
//! guarantees are unmet, offering only as much unreserved resource as the guarantee still needs;
//! a second stage offers everything else, holding back enough unreserved resource to satisfy
//! every outstanding guarantee ("headroom") and never letting a role exceed its quota limits.
//!
//! Sorter order on an agent is a snapshot taken when the agent is reached (as in Mesos, where
//! `sort()` returns a list), so the sorter updates for an agent's allocations are applied after
//! the agent is done. That lets a visit stop at the first eligible framework instead of sorting
//! every framework for every agent.

use std::collections::HashMap;
use std::time::Duration;

use rustc_hash::{FxHashMap, FxHashSet};

use mesos_core::ids::{AgentId, FrameworkId};
use mesos_core::resources::{Resource, ResourceValue, Resources, SmolStr};
use mesos_core::roles;
use mesos_core::values::Scalar;

use crate::agent_filters::{AgentFilters, FilterOwner};
use crate::free_bag::FreeBag;
use crate::holdings::{Holding, HoldingKey, Holdings, sum_of};
use crate::prefetch::{prefetch, prefetch_address};
use crate::quantities::{Limits, Quantities};
use crate::rng::SplitMix64;
use crate::sorter::{self, ClientId, Sorter, Visit, visit_lowest_first};

/// The longest decline filter, as in Mesos.
const MAX_REFUSE: Duration = Duration::from_secs(365 * 24 * 3600);

/// Errors from feeding the allocator inconsistent events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocatorError {
    /// A sorter name other than `drf`, `random` or `priority`.
    #[error("unknown sorter '{0}'; expected 'drf', 'random' or 'priority'")]
    UnknownSorter(String),
    /// The framework was never added or was removed.
    #[error("unknown framework {0}")]
    UnknownFramework(FrameworkId),
    /// The agent was never added or was removed.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// The framework is already known.
    #[error("framework {0} is already added")]
    DuplicateFramework(FrameworkId),
    /// The agent is already known.
    #[error("agent {0} is already added")]
    DuplicateAgent(AgentId),
    /// A role name that Mesos would reject.
    #[error("invalid role: {0}")]
    InvalidRole(#[from] roles::RoleError),
    /// A framework subscribed to no role.
    #[error("framework {0} has no roles")]
    NoRoles(FrameworkId),
    /// Resources recovered or converted that are not allocated there.
    #[error("resources {resources} are not allocated to framework {framework} on agent {agent}")]
    NotAllocated {
        /// The framework.
        framework: FrameworkId,
        /// The agent.
        agent: AgentId,
        /// What was claimed.
        resources: String,
    },
    /// A resource without allocation info where one is required.
    #[error("resource {0} carries no allocation role")]
    MissingAllocationRole(String),
}

/// What a framework can handle, from its `FrameworkInfo.capabilities`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameworkCapabilities {
    /// May subscribe to several roles; required to be offered by MULTI_ROLE agents only.
    pub multi_role: bool,
    /// May receive agents that have GPUs.
    pub gpu_resources: bool,
    /// May receive revocable resources.
    pub revocable_resources: bool,
    /// May receive shared resources.
    pub shared_resources: bool,
    /// May receive refined (stacked) reservations.
    pub reservation_refinement: bool,
    /// May receive agents in other regions.
    pub region_aware: bool,
}

/// A framework as the allocator sees it.
#[derive(Debug, Clone, Default)]
pub struct FrameworkConfig {
    /// Roles it subscribes to.
    pub roles: Vec<String>,
    /// Roles for which it wants no offers.
    pub suppressed_roles: Vec<String>,
    /// Its capabilities.
    pub capabilities: FrameworkCapabilities,
    /// Per-role override of `min_allocatable_resources` (from `offer_filters`).
    pub min_allocatable: HashMap<String, Vec<Quantities>>,
}

/// What an agent can handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentCapabilities {
    /// Understands allocation info (MULTI_ROLE).
    pub multi_role: bool,
    /// Understands `a/b` roles (HIERARCHICAL_ROLE).
    pub hierarchical_role: bool,
}

impl Default for AgentCapabilities {
    fn default() -> Self {
        AgentCapabilities {
            multi_role: true,
            hierarchical_role: true,
        }
    }
}

/// An agent as the allocator sees it.
#[derive(Debug, Clone, Default)]
pub struct AgentConfig {
    /// All of its resources, including reservations.
    pub total: Resources,
    /// Its capabilities.
    pub capabilities: AgentCapabilities,
    /// Its fault-domain region, when it is in a region other than the master's.
    pub remote_region: Option<String>,
}

/// A role's quota: guaranteed amounts and caps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quota {
    /// Amounts the role is entitled to before others get unreserved resources.
    pub guarantees: Quantities,
    /// Amounts the role may never exceed.
    pub limits: Limits,
}

/// A window of planned maintenance on an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailability {
    /// When it starts (same clock as `now`).
    pub start: Duration,
    /// How long it lasts, if bounded.
    pub duration: Option<Duration>,
}

/// Tunables, with Mesos's defaults.
#[derive(Debug, Clone)]
pub struct AllocatorOptions {
    /// `--role_sorter`: `drf`, `random` or `priority`.
    pub role_sorter: String,
    /// `--framework_sorter`: `drf`, `random` or `priority`.
    pub framework_sorter: String,
    /// `--min_allocatable_resources`: an offer must hold at least one of these.
    pub min_allocatable_resources: Vec<Quantities>,
    /// `--filter_gpu_resources`: keep GPU agents for GPU-capable frameworks.
    pub filter_gpu_resources: bool,
    /// Seed for every random choice, so runs are reproducible.
    pub seed: u64,
}

impl Default for AllocatorOptions {
    fn default() -> Self {
        AllocatorOptions {
            role_sorter: "drf".into(),
            framework_sorter: "drf".into(),
            min_allocatable_resources: vec![
                Quantities::parse("cpus:0.01").expect("valid"),
                Quantities::parse("mem:32").expect("valid"),
            ],
            filter_gpu_resources: true,
            seed: 0,
        }
    }
}

/// Resources offered to one framework, for one role, on one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offer {
    /// Who is offered.
    pub framework: FrameworkId,
    /// Where.
    pub agent: AgentId,
    /// For which of its roles: the resources are allocated to it.
    pub role: SmolStr,
    /// What, without allocation roles: the role is `role` (stamp it with
    /// [`Resources::into_allocated`] where each resource must carry it, as on the wire).
    /// Writing it into every resource would cost the allocation cycle a cache miss per resource.
    pub resources: Resources,
}

/// A request that a framework give back an agent going into maintenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InverseOffer {
    /// Who is asked.
    pub framework: FrameworkId,
    /// Which agent.
    pub agent: AgentId,
    /// When it will be unavailable.
    pub unavailability: Unavailability,
}

/// The decisions of one allocation cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocation {
    /// New offers.
    pub offers: Vec<Offer>,
    /// New inverse offers.
    pub inverse_offers: Vec<InverseOffer>,
}

/// What the allocation loop needs to know about an agent's free resources, kept beside them
/// so that the loop does not walk the resources (each a separate allocation) for every agent.
/// (Until the agent is done the summary describes its bag as it was: an offer of the whole
/// bag takes `quantities` out when it is recorded, and then the summary is refreshed.)
#[derive(Debug, Default)]
struct FreeSummary {
    /// Scalar quantities of the free resources.
    quantities: Quantities,
    /// Some free resource is reserved.
    reserved: bool,
    /// Every free resource is unreserved, unshared and not revocable: any framework can take
    /// all of them.
    plain: bool,
    /// `quantities` hold one of `--min_allocatable_resources` (or that list is empty): what a
    /// framework without minimums of its own checks for every agent it is about to be offered,
    /// worked out here, when the bag changes, rather than in the cycle for each offer. Not
    /// meaningful for an empty bag, which the cycle passes over first.
    meets_default_minimum: bool,
}

impl FreeSummary {
    /// The summary of no resources, as [`FreeSummary::of`] gives it (but for
    /// `meets_default_minimum`, which is not meaningful for an empty bag).
    const NOTHING: FreeSummary = FreeSummary {
        quantities: Quantities::new(),
        reserved: false,
        plain: true,
        meets_default_minimum: false,
    };

    /// The summary of `free`, given the default minimums an offer must meet.
    fn of(free: &Resources, minimums: &[Quantities]) -> FreeSummary {
        let mut reserved = false;
        let mut plain = true;
        for r in free.iter() {
            reserved |= r.is_reserved();
            plain &= !r.is_reserved() && !r.shared && !r.revocable;
        }
        let quantities = Quantities::of(free);
        FreeSummary {
            meets_default_minimum: meets_minimum(minimums, &quantities),
            quantities,
            reserved,
            plain,
        }
    }
}

#[derive(Debug)]
struct AgentState {
    id: AgentId,
    total: Resources,
    /// Free resources: neither offered nor used, plus every shared resource of the total once
    /// (as in Mesos, a shared resource can be offered and used by several frameworks at
    /// once, so holding it never takes it away). Every change is followed by
    /// [`AgentState::refresh_free`].
    available: FreeBag,
    free: FreeSummary,
    /// Offered or in use, by framework and role, without allocation roles.
    by_framework: Holdings,
    capabilities: AgentCapabilities,
    remote: bool,
    has_gpu: bool,
    unavailability: Option<Unavailability>,
    /// Frameworks already sent an inverse offer for the current unavailability.
    inverse_offered: FxHashSet<usize>,
    /// Decline filters refusing this agent's resources.
    filters: AgentFilters,
}

impl AgentState {
    /// Brings the summary, and the spare handle an offer of the whole bag takes, up to date
    /// with `available` (`minimums`: the allocator's default minimum offers).
    fn refresh_free(&mut self, minimums: &[Quantities]) {
        if self.available.is_empty() {
            // The common case, after a whole-agent offer: no walk, and no spare to make (an
            // empty bag's spare is empty).
            self.free = FreeSummary::NOTHING;
            return;
        }
        self.free = FreeSummary::of(&self.available, minimums);
        self.available.make_spare();
    }

    /// Hints that the agent's id is about to be copied into an offer. An id too long to be kept
    /// inline (as Mesos's are) is shared text, and the copy updates its reference count: a
    /// cache miss of its own, away from the agent's state. The count sits just before the text
    /// in the shared allocation; were that ever not so, only the hint would be wasted.
    fn prefetch_id(&self) {
        if self.id.0.is_heap_allocated() {
            let text = self.id.as_str().as_ptr();
            prefetch_address(text.wrapping_sub(2 * size_of::<usize>()));
            prefetch_address(text);
        }
    }

    /// Everything offered or in use on the agent, by whichever framework.
    fn allocated(&self) -> Resources {
        sum_of(self.by_framework.values().flat_map(Holding::parts))
    }
}

#[derive(Debug)]
struct FrameworkState {
    id: FrameworkId,
    roles: Vec<usize>,
    suppressed: FxHashSet<usize>,
    capabilities: FrameworkCapabilities,
    min_allocatable: FxHashMap<usize, Vec<Quantities>>,
    active: bool,
    /// How many decline filters the framework holds on each agent where it holds any (the
    /// filters themselves are kept with the agents: see [`AgentFilters`]).
    filtered_agents: FxHashMap<usize, usize>,
}

struct RoleState {
    name: SmolStr,
    frameworks: FxHashSet<usize>,
    framework_sorter: Box<dyn Sorter + Send>,
    quota: Quota,
    /// Reservations to exactly this role on all agents (scalars).
    reserved: Quantities,
    /// Allocated unreserved non-revocable scalars of exactly this role. During a cycle it
    /// lags for the role sorter's only listed role, whose whole-agent offers are added when
    /// the cycle ends ([`Allocator::record_deferred`]); it is read only before a cycle's
    /// first offer.
    allocated_unreserved: Quantities,
    /// Allocated reserved scalars of exactly this role.
    allocated_reserved: Quantities,
    /// Whether the role is in the role sorter.
    tracked: bool,
}

/// The hierarchical DRF allocator. See the module docs for the cycle.
pub struct Allocator {
    options: AllocatorOptions,
    rng: SplitMix64,
    agents: Vec<Option<AgentState>>,
    /// Whether each agent (by index) takes part in cycles: live and not deactivated. Kept
    /// apart from the agents' state so that listing a cycle's agents reads a few kilobytes
    /// rather than every agent's state.
    agent_active: Vec<bool>,
    /// Agents with planned maintenance, by index, sorted: the only ones inverse offers come
    /// from, so that a cycle does not read every agent to find them.
    unavailable: Vec<usize>,
    agent_index: FxHashMap<AgentId, usize>,
    frameworks: Vec<Option<FrameworkState>>,
    framework_index: FxHashMap<FrameworkId, usize>,
    roles: Vec<RoleState>,
    role_index: FxHashMap<String, usize>,
    role_sorter: Box<dyn Sorter + Send>,
    weights: FxHashMap<String, f64>,
    /// Scalar totals of all agents (revocable included): the pool shares are measured against.
    cluster_total: Quantities,
    /// Whether sorters have seen the current `cluster_total`.
    totals_synced: bool,
    /// The earliest expiry among decline filters, so expired ones are dropped without a scan
    /// on every cycle.
    next_filter_expiry: Duration,
    /// The agents of the current cycle, in the order they are visited.
    candidates: Vec<usize>,
    /// Decline filters held, over all frameworks.
    live_filters: usize,
    /// Within [`Allocator::allocate`].
    in_cycle: bool,
    /// The current cycle's allocations to the role sorter's only listed role, told to the role
    /// sorter with one call when the cycle ends, and its whole-agent offers' sum added to the
    /// role's unreserved total then (see [`Allocator::account_quantities`]).
    deferred_role_allocation: Option<DeferredAllocation>,
    /// Whether [`Allocator::allocate_agent`] may decide a whole-agent offer before its visits;
    /// tests turn it off to check that the visits decide the same.
    #[cfg(test)]
    whole_agent_shortcut: bool,
    /// Decisions the shortcut made, so that tests can tell it was taken.
    #[cfg(test)]
    shortcut_hits: usize,
}

/// Allocations to one role, summed, not yet told to the role sorter (nor, for whole-agent
/// offers, to the role's unreserved total).
#[derive(Debug)]
struct DeferredAllocation {
    client: ClientId,
    /// Allocations booked as all unreserved and non-revocable (`unreserved: None` in
    /// [`Allocator::account_quantities`]: whole plain agents).
    all_unreserved: Quantities,
    /// The others (their unreserved parts are booked as they are made).
    rest: Quantities,
    times: u64,
}

impl std::fmt::Debug for Allocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Allocator")
            .field("agents", &self.agent_index.len())
            .field("frameworks", &self.framework_index.len())
            .field("roles", &self.role_index.len())
            .finish()
    }
}

fn scalars(resources: &Resources) -> Quantities {
    Quantities::of(resources)
}

fn is_quota_resource(r: &Resource) -> bool {
    matches!(r.value, ResourceValue::Scalar(_)) && !r.is_reserved() && !r.revocable
}

/// Up to `room` of a scalar resource: all of it when it fits, a split part otherwise, and
/// nothing for a disk that cannot be split (persistent volumes, MOUNT disks).
fn take_up_to(r: &Resource, have: Scalar, room: Scalar) -> Option<(Resource, Scalar)> {
    if room.milli() <= 0 {
        None
    } else if have <= room {
        Some((r.clone(), have))
    } else if r.disk.is_some() {
        None
    } else {
        let mut part = r.clone();
        part.value = ResourceValue::Scalar(room);
        Some((part, room))
    }
}

/// Keeps at most `target` of each named scalar, dropping names `target` lacks (Mesos's
/// `shrinkResources` for quantities).
fn shrink_to(resources: &Resources, target: &Quantities) -> Resources {
    let mut left = target.clone();
    let mut out = Resources::new();
    for r in resources.iter() {
        let ResourceValue::Scalar(have) = r.value else {
            continue;
        };
        let room = left.get(&r.name);
        if let Some((part, taken)) = take_up_to(r, have, room) {
            left.set(&r.name, room - taken);
            out += &part;
        }
    }
    out
}

/// Keeps at most `limits` of each capped scalar; uncapped names pass through.
fn shrink_to_limits(resources: &Resources, limits: &Limits) -> Resources {
    if limits.is_empty() {
        return resources.clone();
    }
    let mut used = Quantities::new();
    let mut out = Resources::new();
    for r in resources.iter() {
        let (ResourceValue::Scalar(have), Some(cap)) = (&r.value, limits.get(&r.name)) else {
            out += r;
            continue;
        };
        let already = used.get(&r.name);
        if let Some((part, taken)) = take_up_to(r, *have, cap - already) {
            used.set(&r.name, already + taken);
            out += &part;
        }
    }
    out
}

impl Allocator {
    /// An allocator with no agents or frameworks.
    pub fn new(options: AllocatorOptions) -> Result<Allocator, AllocatorError> {
        let role_sorter = sorter::by_name(&options.role_sorter, options.seed)
            .ok_or_else(|| AllocatorError::UnknownSorter(options.role_sorter.clone()))?;
        if sorter::by_name(&options.framework_sorter, 0).is_none() {
            return Err(AllocatorError::UnknownSorter(
                options.framework_sorter.clone(),
            ));
        }
        Ok(Allocator {
            rng: SplitMix64::new(options.seed),
            options,
            agents: Vec::new(),
            agent_active: Vec::new(),
            unavailable: Vec::new(),
            agent_index: FxHashMap::default(),
            frameworks: Vec::new(),
            framework_index: FxHashMap::default(),
            roles: Vec::new(),
            role_index: FxHashMap::default(),
            role_sorter,
            weights: FxHashMap::default(),
            cluster_total: Quantities::new(),
            totals_synced: true,
            next_filter_expiry: Duration::MAX,
            candidates: Vec::new(),
            live_filters: 0,
            in_cycle: false,
            deferred_role_allocation: None,
            #[cfg(test)]
            whole_agent_shortcut: true,
            #[cfg(test)]
            shortcut_hits: 0,
        })
    }

    /// Replaces a custom role sorter (for policies written outside this crate).
    pub fn set_role_sorter(&mut self, mut sorter: Box<dyn Sorter + Send>) {
        for (i, role) in self.roles.iter().enumerate() {
            if role.tracked {
                let id = client_id(i);
                sorter.add_client(id, &role.name);
                sorter.set_active(id, !role.frameworks.is_empty());
            }
        }
        for (path, w) in &self.weights {
            sorter.set_weight(path, *w);
        }
        self.role_sorter = sorter;
        self.totals_synced = false;
        self.resync_role_allocations();
    }

    fn resync_role_allocations(&mut self) {
        let mut per_role: FxHashMap<usize, Quantities> = FxHashMap::default();
        for agent in self.agents.iter().flatten() {
            for (key, holding) in agent.by_framework.iter() {
                let q = per_role.entry(key.role).or_default();
                for part in holding.parts() {
                    q.add(&scalars(part));
                }
            }
        }
        for (idx, q) in per_role {
            self.role_sorter.allocated(client_id(idx), &q);
        }
    }

    fn agent(&self, id: &AgentId) -> Result<usize, AllocatorError> {
        self.agent_index
            .get(id)
            .copied()
            .ok_or_else(|| AllocatorError::UnknownAgent(id.clone()))
    }

    fn framework(&self, id: &FrameworkId) -> Result<usize, AllocatorError> {
        self.framework_index
            .get(id)
            .copied()
            .ok_or_else(|| AllocatorError::UnknownFramework(id.clone()))
    }

    fn role(&mut self, name: &str) -> Result<usize, AllocatorError> {
        if let Some(&i) = self.role_index.get(name) {
            return Ok(i);
        }
        roles::validate_role(name)?;
        let i = self.roles.len();
        let mut framework_sorter = sorter::by_name(
            &self.options.framework_sorter,
            self.options.seed ^ (i as u64).wrapping_mul(0x9E37_79B9),
        )
        .expect("checked in new");
        framework_sorter.set_total(&self.cluster_total);
        self.roles.push(RoleState {
            name: SmolStr::new(name),
            frameworks: FxHashSet::default(),
            framework_sorter,
            quota: Quota::default(),
            reserved: Quantities::new(),
            allocated_unreserved: Quantities::new(),
            allocated_reserved: Quantities::new(),
            tracked: false,
        });
        self.role_index.insert(name.to_string(), i);
        Ok(i)
    }

    fn track_role(&mut self, role: usize) {
        if !self.roles[role].tracked {
            self.roles[role].tracked = true;
            self.role_sorter
                .add_client(client_id(role), &self.roles[role].name);
        }
        let active = !self.roles[role].frameworks.is_empty();
        self.role_sorter.set_active(client_id(role), active);
    }

    fn framework_state(&self, i: usize) -> &FrameworkState {
        self.frameworks[i].as_ref().expect("live framework")
    }

    fn agent_state(&self, i: usize) -> &AgentState {
        self.agents[i].as_ref().expect("live agent")
    }

    fn agent_state_mut(&mut self, i: usize) -> &mut AgentState {
        self.agents[i].as_mut().expect("live agent")
    }

    /// [`AgentState::refresh_free`] for agent `i`.
    fn refresh_free(&mut self, i: usize) {
        let Allocator {
            agents, options, ..
        } = self;
        agents[i]
            .as_mut()
            .expect("live agent")
            .refresh_free(&options.min_allocatable_resources);
    }

    // ----- frameworks -----

    /// Adds a framework with what it already uses on each agent (after a master failover).
    /// Each used resource must carry its allocation role.
    pub fn add_framework(
        &mut self,
        id: FrameworkId,
        config: FrameworkConfig,
        used: &[(AgentId, Resources)],
        active: bool,
    ) -> Result<(), AllocatorError> {
        if self.framework_index.contains_key(&id) {
            return Err(AllocatorError::DuplicateFramework(id));
        }
        if config.roles.is_empty() {
            return Err(AllocatorError::NoRoles(id));
        }
        let (role_ids, suppressed, min_allocatable) = self.resolve_roles_of(&config)?;
        for (_, resources) in used {
            Self::check_allocation_roles(resources)?;
        }
        let used_agents: Vec<usize> = used
            .iter()
            .map(|(a, _)| self.agent(a))
            .collect::<Result<_, _>>()?;
        let index = self.frameworks.len();
        self.frameworks.push(Some(FrameworkState {
            id: id.clone(),
            roles: role_ids.clone(),
            suppressed,
            capabilities: config.capabilities,
            min_allocatable,
            active,
            filtered_agents: FxHashMap::default(),
        }));
        self.framework_index.insert(id, index);
        for &role in &role_ids {
            self.join_role(index, role);
        }
        for (agent, (_, resources)) in used_agents.into_iter().zip(used) {
            self.track_allocation(agent, index, resources)?;
        }
        Ok(())
    }

    /// The role indices a framework configuration names: its roles, its suppressed roles, and
    /// its per-role minimum offer sizes. Invalid role names are errors.
    #[allow(clippy::type_complexity)]
    fn resolve_roles_of(
        &mut self,
        config: &FrameworkConfig,
    ) -> Result<
        (
            Vec<usize>,
            FxHashSet<usize>,
            FxHashMap<usize, Vec<Quantities>>,
        ),
        AllocatorError,
    > {
        let roles = config
            .roles
            .iter()
            .map(|r| self.role(r))
            .collect::<Result<Vec<_>, _>>()?;
        let suppressed = config
            .suppressed_roles
            .iter()
            .map(|r| self.role(r))
            .collect::<Result<FxHashSet<_>, _>>()?;
        let mut min_allocatable = FxHashMap::default();
        for (r, q) in &config.min_allocatable {
            min_allocatable.insert(self.role(r)?, q.clone());
        }
        Ok((roles, suppressed, min_allocatable))
    }

    fn join_role(&mut self, framework: usize, role: usize) {
        let (active, suppressed) = {
            let f = self.framework_state(framework);
            (f.active, f.suppressed.contains(&role))
        };
        let name = self.framework_state(framework).id.as_str().to_string();
        let state = &mut self.roles[role];
        state.frameworks.insert(framework);
        let id = client_id(framework);
        state.framework_sorter.add_client(id, &name);
        state.framework_sorter.set_active(id, active && !suppressed);
        self.track_role(role);
    }

    fn leave_role(&mut self, framework: usize, role: usize) {
        let state = &mut self.roles[role];
        state.frameworks.remove(&framework);
        state.framework_sorter.remove_client(client_id(framework));
        if state.tracked {
            let active = !state.frameworks.is_empty();
            self.role_sorter.set_active(client_id(role), active);
        }
    }

    /// Removes a framework; its resources become available again.
    pub fn remove_framework(&mut self, id: &FrameworkId) -> Result<(), AllocatorError> {
        let index = self.framework(id)?;
        for a in 0..self.agents.len() {
            let held: Vec<(usize, Resources)> = self.agents[a]
                .as_ref()
                .map(|s| {
                    s.by_framework
                        .of_framework(index)
                        .map(|(role, h)| (role, h.sum()))
                        .collect()
                })
                .unwrap_or_default();
            if !held.is_empty() {
                self.untrack_allocation(a, index, &held)?;
            }
            if let Some(agent) = self.agents[a].as_mut() {
                agent.inverse_offered.remove(&index);
            }
        }
        let roles = self.framework_state(index).roles.clone();
        for role in roles {
            self.leave_role(index, role);
        }
        self.drop_filters_of(index, |_| true);
        self.frameworks[index] = None;
        self.framework_index.remove(id);
        Ok(())
    }

    /// Stops offering to a framework (it disconnected) without removing its allocations.
    pub fn deactivate_framework(&mut self, id: &FrameworkId) -> Result<(), AllocatorError> {
        self.set_framework_active(id, false)
    }

    /// Resumes offering to a framework.
    pub fn activate_framework(&mut self, id: &FrameworkId) -> Result<(), AllocatorError> {
        self.set_framework_active(id, true)
    }

    fn set_framework_active(
        &mut self,
        id: &FrameworkId,
        active: bool,
    ) -> Result<(), AllocatorError> {
        let index = self.framework(id)?;
        let f = self.frameworks[index].as_mut().expect("live framework");
        f.active = active;
        let roles: Vec<(usize, bool)> = f
            .roles
            .iter()
            .map(|r| (*r, f.suppressed.contains(r)))
            .collect();
        for (role, suppressed) in roles {
            self.roles[role]
                .framework_sorter
                .set_active(client_id(index), active && !suppressed);
        }
        Ok(())
    }

    /// Applies a new configuration (UPDATE_FRAMEWORK or a re-subscription).
    pub fn update_framework(
        &mut self,
        id: &FrameworkId,
        config: FrameworkConfig,
    ) -> Result<(), AllocatorError> {
        let index = self.framework(id)?;
        if config.roles.is_empty() {
            return Err(AllocatorError::NoRoles(id.clone()));
        }
        let (new_roles, suppressed, min_allocatable) = self.resolve_roles_of(&config)?;
        let old_roles = self.framework_state(index).roles.clone();
        {
            let f = self.frameworks[index].as_mut().expect("live framework");
            f.capabilities = config.capabilities;
            f.min_allocatable = min_allocatable;
            f.suppressed = suppressed;
            f.roles = new_roles.clone();
        }
        for role in &old_roles {
            if !new_roles.contains(role) {
                // Mesos keeps the framework tracked under a role while it holds resources
                // there; here the allocation stays on the agent and in the role's totals.
                self.leave_role(index, *role);
            }
        }
        for role in &new_roles {
            if !old_roles.contains(role) {
                self.join_role(index, *role);
            }
        }
        let active = self.framework_state(index).active;
        for role in new_roles {
            let suppressed = self.framework_state(index).suppressed.contains(&role);
            self.roles[role]
                .framework_sorter
                .set_active(client_id(index), active && !suppressed);
        }
        Ok(())
    }

    /// SUPPRESS: no offers for these roles (all of the framework's roles when empty).
    pub fn suppress(&mut self, id: &FrameworkId, roles: &[String]) -> Result<(), AllocatorError> {
        let index = self.framework(id)?;
        for role in self.resolve_roles(index, roles) {
            self.frameworks[index]
                .as_mut()
                .expect("live")
                .suppressed
                .insert(role);
            self.roles[role]
                .framework_sorter
                .set_active(client_id(index), false);
        }
        Ok(())
    }

    /// REVIVE: offers again for these roles (all when empty), and their filters are cleared.
    pub fn revive(&mut self, id: &FrameworkId, roles: &[String]) -> Result<(), AllocatorError> {
        let index = self.framework(id)?;
        let targets = self.resolve_roles(index, roles);
        let f = self.frameworks[index].as_mut().expect("live");
        let active = f.active;
        for role in &targets {
            f.suppressed.remove(role);
        }
        self.drop_filters_of(index, |role| targets.contains(&role));
        for role in targets {
            self.roles[role]
                .framework_sorter
                .set_active(client_id(index), active);
        }
        Ok(())
    }

    fn resolve_roles(&self, framework: usize, names: &[String]) -> Vec<usize> {
        let f = self.framework_state(framework);
        if names.is_empty() {
            return f.roles.clone();
        }
        names
            .iter()
            .filter_map(|n| self.role_index.get(n).copied())
            .filter(|r| f.roles.contains(r))
            .collect()
    }

    // ----- agents -----

    /// Adds an agent with what each framework already uses there (each resource carrying its
    /// allocation role).
    pub fn add_agent(
        &mut self,
        id: AgentId,
        config: AgentConfig,
        used: &[(FrameworkId, Resources)],
    ) -> Result<(), AllocatorError> {
        if self.agent_index.contains_key(&id) {
            return Err(AllocatorError::DuplicateAgent(id));
        }
        for (_, resources) in used {
            Self::check_allocation_roles(resources)?;
        }
        for (role, _) in config.total.reservations() {
            roles::validate_role(&role)?;
        }
        let used_frameworks: Vec<usize> = used
            .iter()
            .map(|(f, _)| self.framework(f))
            .collect::<Result<_, _>>()?;
        let index = self.agents.len();
        let has_gpu = config.total.gpus().is_some_and(|g| !g.is_zero());
        self.add_reservations(&config.total)?;
        self.cluster_total.add(&scalars(&config.total));
        self.totals_synced = false;
        self.agent_active.push(true);
        self.agents.push(Some(AgentState {
            id: id.clone(),
            free: FreeSummary::of(&config.total, &self.options.min_allocatable_resources),
            available: FreeBag::new(config.total.clone()),
            total: config.total,
            by_framework: Holdings::default(),
            capabilities: config.capabilities,
            remote: config.remote_region.is_some(),
            has_gpu,
            unavailability: None,
            inverse_offered: FxHashSet::default(),
            filters: AgentFilters::default(),
        }));
        self.agent_index.insert(id, index);
        for (framework, (_, resources)) in used_frameworks.into_iter().zip(used) {
            self.track_allocation(index, framework, resources)?;
        }
        Ok(())
    }

    fn add_reservations(&mut self, total: &Resources) -> Result<(), AllocatorError> {
        for (role, reserved) in total.reservations() {
            let idx = self.role(&role)?;
            self.roles[idx].reserved.add(&scalars(&reserved));
        }
        Ok(())
    }

    fn remove_reservations(&mut self, total: &Resources) {
        for (role, reserved) in total.reservations() {
            if let Some(&idx) = self.role_index.get(role.as_str()) {
                self.roles[idx].reserved.subtract(&scalars(&reserved));
            }
        }
    }

    /// Removes an agent and everything allocated on it.
    pub fn remove_agent(&mut self, id: &AgentId) -> Result<(), AllocatorError> {
        let index = self.agent(id)?;
        let holders: Vec<(HoldingKey, Resources)> = self
            .agent_state(index)
            .by_framework
            .iter()
            .map(|(k, r)| (k, r.sum()))
            .collect();
        for (key, r) in holders {
            self.untrack_allocation(index, key.framework, &[(key.role, r)])?;
        }
        let total = self.agent_state(index).total.clone();
        self.remove_reservations(&total);
        self.cluster_total.subtract(&scalars(&total));
        self.totals_synced = false;
        self.drop_filters_at(index, |_, _| true);
        self.agents[index] = None;
        self.agent_active[index] = false;
        self.list_under_maintenance(index, false);
        self.agent_index.remove(id);
        Ok(())
    }

    /// Replaces an agent's total (new revocable estimate, operator reservation, resize). What is
    /// allocated stays allocated.
    pub fn update_agent(&mut self, id: &AgentId, total: Resources) -> Result<(), AllocatorError> {
        let index = self.agent(id)?;
        let old = self.agent_state(index).total.clone();
        self.remove_reservations(&old);
        self.add_reservations(&total)?;
        self.cluster_total.subtract(&scalars(&old));
        self.cluster_total.add(&scalars(&total));
        self.totals_synced = false;
        let agent = self.agent_state_mut(index);
        agent.has_gpu = total.gpus().is_some_and(|g| !g.is_zero());
        *agent.available.edit() = &total - &agent.allocated().non_shared();
        agent.total = total;
        self.refresh_free(index);
        Ok(())
    }

    /// Includes an agent in allocation again (after draining or deactivation).
    pub fn activate_agent(&mut self, id: &AgentId) -> Result<(), AllocatorError> {
        let index = self.agent(id)?;
        self.agent_active[index] = true;
        Ok(())
    }

    /// Excludes an agent from allocation.
    pub fn deactivate_agent(&mut self, id: &AgentId) -> Result<(), AllocatorError> {
        let index = self.agent(id)?;
        self.agent_active[index] = false;
        Ok(())
    }

    /// Sets or clears planned maintenance; frameworks using the agent get inverse offers.
    pub fn update_unavailability(
        &mut self,
        id: &AgentId,
        unavailability: Option<Unavailability>,
    ) -> Result<(), AllocatorError> {
        let index = self.agent(id)?;
        self.list_under_maintenance(index, unavailability.is_some());
        let agent = self.agent_state_mut(index);
        agent.unavailability = unavailability;
        agent.inverse_offered.clear();
        Ok(())
    }

    /// Adds the agent to, or removes it from, the sorted list of agents under maintenance.
    fn list_under_maintenance(&mut self, index: usize, listed: bool) {
        match (self.unavailable.binary_search(&index), listed) {
            (Err(at), true) => self.unavailable.insert(at, index),
            (Ok(at), false) => {
                self.unavailable.remove(at);
            }
            _ => {}
        }
    }

    // ----- allocations -----

    /// Adds (or, with `add == false`, removes) one role's part of an allocation to the role's
    /// quota bookkeeping and to both sorters.
    fn account(&mut self, role: usize, framework: usize, part: &Resources, add: bool) {
        // One pass, no intermediate bags: this runs for every offer.
        let (mut q, mut unreserved, mut reserved) =
            (Quantities::new(), Quantities::new(), Quantities::new());
        for r in part.iter() {
            if let ResourceValue::Scalar(amount) = r.value {
                q.add_milli(&r.name, amount.milli());
                if is_quota_resource(r) {
                    unreserved.add_milli(&r.name, amount.milli());
                } else if r.is_reserved() {
                    reserved.add_milli(&r.name, amount.milli());
                }
            }
        }
        self.account_quantities(role, framework, &q, Some(&unreserved), &reserved, add);
    }

    /// [`Allocator::account`] with the quantities already split: all scalars, the unreserved
    /// non-revocable ones (`None`: all of `q`, as for a whole plain agent) and the reserved ones.
    ///
    /// In a cycle, an allocation to the role sorter's only listed role is summed rather than
    /// told to the role sorter, which learns the sum from [`Allocator::record_deferred`] when
    /// the cycle ends: with one role listed there is no order among roles to keep, so the
    /// role sorter is not asked for one until then, and the sum (amounts and number of
    /// allocations) leaves it as the single updates would. For allocations passed with
    /// `unreserved: None` the role's unreserved total waits with it (the sum is the same),
    /// since the cycle reads that total only before its first offer.
    #[inline(always)]
    fn account_quantities(
        &mut self,
        role: usize,
        framework: usize,
        q: &Quantities,
        unreserved: Option<&Quantities>,
        reserved: &Quantities,
        add: bool,
    ) {
        let state = &mut self.roles[role];
        if !add {
            state.allocated_unreserved.subtract(unreserved.unwrap_or(q));
            if !reserved.is_empty() {
                state.allocated_reserved.subtract(reserved);
            }
            state.framework_sorter.unallocated(client_id(framework), q);
            self.role_sorter.unallocated(client_id(role), q);
            return;
        }
        if !reserved.is_empty() {
            state.allocated_reserved.add(reserved);
        }
        state.framework_sorter.allocated(client_id(framework), q);
        let client = client_id(role);
        let deferred = match &mut self.deferred_role_allocation {
            Some(deferred) if deferred.client == client => deferred,
            None if self.in_cycle && self.role_sorter.sole_listed() == Some(client) => {
                self.deferred_role_allocation.insert(DeferredAllocation {
                    client,
                    all_unreserved: Quantities::new(),
                    rest: Quantities::new(),
                    times: 0,
                })
            }
            _ => {
                state.allocated_unreserved.add(unreserved.unwrap_or(q));
                self.role_sorter.allocated(client, q);
                return;
            }
        };
        deferred.times += 1;
        match unreserved {
            None => deferred.all_unreserved.add(q),
            Some(unreserved) => {
                deferred.rest.add(q);
                state.allocated_unreserved.add(unreserved);
            }
        }
    }

    /// Checks that every resource carries a valid allocation role, so that tracking cannot
    /// fail halfway through.
    fn check_allocation_roles(resources: &Resources) -> Result<(), AllocatorError> {
        for r in resources.iter() {
            match &r.allocation_role {
                Some(role) => roles::validate_role(role)?,
                None => return Err(AllocatorError::MissingAllocationRole(r.to_string())),
            }
        }
        Ok(())
    }

    /// Records resources that carry their allocation roles as held by the framework.
    fn track_allocation(
        &mut self,
        agent: usize,
        framework: usize,
        resources: &Resources,
    ) -> Result<(), AllocatorError> {
        Self::check_allocation_roles(resources)?;
        let mut taken = Resources::new();
        for (role, part) in split_by_role_or(resources, None)? {
            let r = self.role(&role)?;
            self.track_role(r);
            if !self.roles[r].frameworks.contains(&framework) {
                // A framework holding resources of a role it no longer subscribes to.
                let name = self.framework_state(framework).id.as_str().to_string();
                self.roles[r]
                    .framework_sorter
                    .add_client(client_id(framework), &name);
            }
            self.account(r, framework, &part, true);
            taken += &part;
            let key = HoldingKey { framework, role: r };
            self.agent_state_mut(agent).by_framework.add(key, part);
        }
        let state = self.agent_state_mut(agent);
        // Shared resources stay available however many hold them (see `AgentState`).
        *state.available.edit() -= &taken.non_shared();
        self.refresh_free(agent);
        Ok(())
    }

    /// Gives back what the framework holds on the agent, per role (bags without allocation
    /// roles). Nothing changes unless every part is held.
    fn untrack_allocation(
        &mut self,
        agent: usize,
        framework: usize,
        parts: &[(usize, Resources)],
    ) -> Result<(), AllocatorError> {
        if parts.is_empty() {
            return Ok(());
        }
        let key = |role: usize| HoldingKey { framework, role };
        let state = self.agent_state_mut(agent);
        for (role, part) in parts {
            let held = state.by_framework.get_mut(key(*role)).map(|h| &*h.merged());
            if !held.is_some_and(|h| h.contains(part)) {
                let mut claimed = Resources::new();
                for (role, part) in parts {
                    claimed += &part.allocate(&self.roles[*role].name);
                }
                return Err(self.not_allocated(agent, framework, &claimed));
            }
        }
        for (role, part) in parts {
            self.account(*role, framework, part, false);
            let state = self.agent_state_mut(agent);
            *state.available.edit() += &part.non_shared();
            let key = key(*role);
            if let Some(held) = state.by_framework.get_mut(key) {
                let held = held.merged();
                *held -= part;
                if held.is_empty() {
                    state.by_framework.remove(key);
                }
            }
        }
        self.refresh_free(agent);
        Ok(())
    }

    fn not_allocated(&self, agent: usize, framework: usize, claimed: &Resources) -> AllocatorError {
        AllocatorError::NotAllocated {
            framework: self.framework_state(framework).id.clone(),
            agent: self.agent_state(agent).id.clone(),
            resources: claimed.to_string(),
        }
    }

    /// Splits resources by allocation role into bags without roles, taking those without one
    /// as allocated to `fallback`. A role the allocator never saw holds nothing.
    fn held_parts(
        &self,
        framework: usize,
        agent: usize,
        resources: &Resources,
        fallback: Option<&SmolStr>,
    ) -> Result<Vec<(usize, Resources)>, AllocatorError> {
        let parts = split_by_role_or(resources, fallback)?;
        let mut out = Vec::with_capacity(parts.len());
        for (role, part) in parts {
            match self.role_index.get(role.as_str()) {
                Some(&r) => out.push((r, part)),
                None => return Err(self.not_allocated(agent, framework, resources)),
            }
        }
        Ok(out)
    }

    /// Gives resources back (finished task, the unused part of an accepted offer). Every
    /// resource must carry its allocation role. With `refuse`, the framework is not offered
    /// these resources on this agent again until `now + refuse` (per role), unless it revives.
    pub fn recover_resources(
        &mut self,
        framework: &FrameworkId,
        agent: &AgentId,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Duration,
    ) -> Result<(), AllocatorError> {
        self.recover(framework, agent, None, resources, refuse, now)
    }

    /// Gives back resources offered for `role` (a declined or rescinded offer: an
    /// [`Offer`]'s `role` and `resources`). Resources that carry an allocation role keep it;
    /// the others are taken as allocated to `role`. Filters as
    /// [`Allocator::recover_resources`] does.
    pub fn recover_offered(
        &mut self,
        framework: &FrameworkId,
        agent: &AgentId,
        role: &str,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Duration,
    ) -> Result<(), AllocatorError> {
        let role = SmolStr::from(role);
        self.recover(framework, agent, Some(&role), resources, refuse, now)
    }

    /// Both recoveries: resources without an allocation role are `fallback`'s.
    fn recover(
        &mut self,
        framework: &FrameworkId,
        agent: &AgentId,
        fallback: Option<&SmolStr>,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Duration,
    ) -> Result<(), AllocatorError> {
        let f = self.framework(framework)?;
        let a = self.agent(agent)?;
        let parts = self.held_parts(f, a, resources, fallback)?;
        self.untrack_allocation(a, f, &parts)?;
        // Nothing recovered files no filter (and no count of filters on the agent).
        if let Some(refuse) = refuse.filter(|d| !d.is_zero() && !parts.is_empty()) {
            // Mesos caps refusals at a year.
            let refuse = refuse.min(MAX_REFUSE);
            let until = now.checked_add(refuse).unwrap_or(Duration::MAX);
            self.next_filter_expiry = self.next_filter_expiry.min(until);
            *self.frameworks[f]
                .as_mut()
                .expect("live")
                .filtered_agents
                .entry(a)
                .or_default() += parts.len();
            self.live_filters += parts.len();
            let filters = &mut self.agent_state_mut(a).filters;
            for (role, part) in parts {
                filters.add(FilterOwner { framework: f, role }, part, until);
            }
        }
        Ok(())
    }

    /// Converts allocated resources in place (RESERVE, UNRESERVE, CREATE, DESTROY applied to an
    /// offer): `from` must be allocated to the framework on the agent; it becomes `to`, and the
    /// agent's total changes the same way.
    pub fn update_allocation(
        &mut self,
        framework: &FrameworkId,
        agent: &AgentId,
        from: &Resources,
        to: &Resources,
    ) -> Result<(), AllocatorError> {
        let f = self.framework(framework)?;
        let a = self.agent(agent)?;
        // Check everything that can fail before the first change, so an error loses nothing.
        Self::check_allocation_roles(to)?;
        for (role, _) in to.reservations() {
            roles::validate_role(&role)?;
        }
        let held = self.held_parts(f, a, from, None)?;
        self.untrack_allocation(a, f, &held)?;
        // Apply the change as a delta rather than rebuilding the agent from its new total: an
        // agent can carry hundreds of reservations.
        let (from, to_unallocated) = (from.unallocate(), to.unallocate());
        self.remove_reservations(&from);
        self.add_reservations(&to_unallocated)?;
        let (before, after) = (scalars(&from), scalars(&to_unallocated));
        if before != after {
            self.cluster_total.subtract(&before);
            self.cluster_total.add(&after);
            self.totals_synced = false;
        }
        let state = self.agent_state_mut(a);
        state.total -= &from;
        state.total += &to_unallocated;
        let available = state.available.edit();
        *available -= &from;
        *available += &to_unallocated;
        state.has_gpu = state.total.gpus().is_some_and(|g| !g.is_zero());
        self.refresh_free(a);
        self.track_allocation(a, f, to)
    }

    /// Sets role weights (`--weights`, UPDATE_WEIGHTS).
    pub fn update_weights(&mut self, weights: &[(String, f64)]) -> Result<(), AllocatorError> {
        for (role, weight) in weights {
            roles::validate_role(role)?;
            self.weights.insert(role.clone(), *weight);
            self.role_sorter.set_weight(role, *weight);
        }
        Ok(())
    }

    /// Sets a role's quota (UPDATE_QUOTA); a default `Quota` removes it.
    pub fn update_quota(&mut self, role: &str, quota: Quota) -> Result<(), AllocatorError> {
        let r = self.role(role)?;
        self.roles[r].quota = quota;
        Ok(())
    }

    /// What is free on an agent (not offered, not used).
    pub fn available(&self, agent: &AgentId) -> Result<&Resources, AllocatorError> {
        Ok(&self.agent_state(self.agent(agent)?).available)
    }

    /// What a framework holds on an agent (offered or used).
    pub fn allocated(
        &self,
        framework: &FrameworkId,
        agent: &AgentId,
    ) -> Result<Resources, AllocatorError> {
        let f = self.framework(framework)?;
        let a = self.agent(agent)?;
        let mut out = Resources::new();
        for (role, holding) in self.agent_state(a).by_framework.of_framework(f) {
            out += &holding.sum().into_allocated(self.roles[role].name.clone());
        }
        Ok(out)
    }

    /// How many decline filters are held (expired ones are dropped at the next cycle).
    pub fn filter_count(&self) -> usize {
        debug_assert_eq!(
            self.live_filters,
            self.agents
                .iter()
                .flatten()
                .map(|a| a.filters.len())
                .sum::<usize>(),
            "the count of filters held is kept with every filter filed and dropped"
        );
        let counts = || {
            self.frameworks
                .iter()
                .flatten()
                .flat_map(|f| f.filtered_agents.values())
        };
        debug_assert_eq!(
            self.live_filters,
            counts().sum::<usize>(),
            "each framework counts its filters on each agent"
        );
        debug_assert!(
            counts().all(|&count| count > 0),
            "a framework counts only agents where it holds filters"
        );
        self.live_filters
    }

    /// An agent's total.
    pub fn total(&self, agent: &AgentId) -> Result<&Resources, AllocatorError> {
        Ok(&self.agent_state(self.agent(agent)?).total)
    }

    // ----- the allocation cycle -----

    /// Quota consumed by each role with a quota, counting its subroles: allocated unreserved
    /// non-revocable scalars plus all reservations (Mesos's "offered or consumed"). Also, for
    /// every role, the roles with a quota whose consumption grows when it is offered something
    /// (itself and its ancestors).
    fn quota_consumption(&self) -> (Vec<Option<Quantities>>, Vec<Vec<usize>>) {
        debug_assert!(
            self.deferred_role_allocation.is_none(),
            "a role's unreserved total is read while a cycle's allocations to it are pending"
        );
        let mut consumed: Vec<Option<Quantities>> = self
            .roles
            .iter()
            .map(|r| (r.quota != Quota::default()).then(Quantities::new))
            .collect();
        let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); self.roles.len()];
        if consumed.iter().all(Option::is_none) {
            return (consumed, consumers);
        }
        for (i, role) in self.roles.iter().enumerate() {
            let chain = std::iter::once(role.name.as_str()).chain(roles::ancestors(&role.name));
            for name in chain {
                if let Some(&q) = self.role_index.get(name)
                    && consumed[q].is_some()
                {
                    consumers[i].push(q);
                }
            }
            for &q in &consumers[i] {
                let total = consumed[q].as_mut().expect("quota role");
                total.add(&role.allocated_unreserved);
                total.add(&role.reserved);
            }
        }
        (consumed, consumers)
    }

    /// Runs one allocation cycle at time `now` and returns the offers made. Offered resources
    /// count as allocated until recovered.
    pub fn allocate(&mut self, now: Duration) -> Allocation {
        if now >= self.next_filter_expiry {
            self.drop_expired_filters(now);
        }
        if !self.totals_synced {
            self.role_sorter.set_total(&self.cluster_total);
            for role in &mut self.roles {
                role.framework_sorter.set_total(&self.cluster_total);
            }
            self.totals_synced = true;
        }
        // The agent list is reused from cycle to cycle: allocating it anew can cost more than
        // the cycle when the heap is fragmented by the previous cycle's offers.
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        candidates.extend((0..self.agent_active.len()).filter(|&i| self.agent_active[i]));
        self.rng.shuffle(&mut candidates);

        // Quota bookkeeping, for roles with a quota only.
        let (consumed, consumers) = self.quota_consumption();
        let mut cycle = Cycle {
            now,
            quotas: self.roles.iter().map(|r| r.quota.clone()).collect(),
            consumed,
            consumers,
            unmet: vec![false; self.roles.len()],
            capped_out: vec![false; self.roles.len()],
            active: vec![false; self.roles.len()],
            active_uncapped: 0,
            common_caps: Vec::new(),
            required_headroom: Quantities::new(),
            available_headroom: Quantities::new(),
        };
        let mut any_unmet = false;
        for (r, consumed) in cycle.consumed.iter().enumerate() {
            if let Some(consumed) = consumed {
                let quota = &self.roles[r].quota;
                let guarantees = &quota.guarantees;
                cycle.unmet[r] = !guarantees.is_empty() && !consumed.contains(guarantees);
                cycle.capped_out[r] =
                    !quota.limits.is_empty() && limits_reached(&quota.limits, consumed);
                any_unmet |= cycle.unmet[r];
                if !self.roles[r].name.contains('/') {
                    cycle.required_headroom.add(&guarantees.minus(consumed));
                }
            }
        }
        // Roles offers can go to, and which of them are not yet at all their limits.
        let active: Vec<usize> = (0..self.roles.len())
            .filter(|&r| self.roles[r].tracked && !self.roles[r].frameworks.is_empty())
            .collect();
        cycle.active_uncapped = active.iter().filter(|&&r| !cycle.capped_out[r]).count();
        for &r in &active {
            cycle.active[r] = true;
        }
        cycle.common_caps = common_caps(active.iter().map(|&r| &self.roles[r].quota.limits));
        if !cycle.required_headroom.is_empty() {
            let mut headroom = self.cluster_total.clone();
            for role in &self.roles {
                headroom.subtract(&role.allocated_unreserved);
                headroom.subtract(&role.allocated_reserved);
                // Unallocated reservations are not available to others either.
                headroom.subtract(&role.reserved.minus(&role.allocated_reserved));
            }
            for agent in self.agents.iter().flatten() {
                headroom.subtract(&scalars(&agent.available.revocable()));
            }
            cycle.available_headroom = headroom;
        }

        let mut offers: Vec<Offer> = Vec::with_capacity(candidates.len());
        let mut pending: Vec<PendingOffer> = Vec::new();
        self.in_cycle = true;
        // Stage 1 only runs while some guarantee is unmet.
        let stages: &[Stage] = if !any_unmet {
            &[Stage::Everything]
        } else {
            &[Stage::Guarantees, Stage::Everything]
        };
        for (i, &stage) in stages.iter().enumerate() {
            if i > 0 {
                self.rng.shuffle(&mut candidates);
            }
            for (n, &agent) in candidates.iter().enumerate() {
                if let Some(&ahead) = candidates.get(n + 2 * PREFETCH_AHEAD) {
                    // The slot's address only: reading whether it is `Some` would wait for it.
                    prefetch(&self.agents[ahead]);
                }
                // By now the state asked for above has arrived: it says where the id is.
                if let Some(&ahead) = candidates.get(n + PREFETCH_AHEAD)
                    && let Some(state) = self.agents[ahead].as_ref()
                {
                    state.prefetch_id();
                    state.filters.prefetch(self.framework_index.len());
                }
                self.allocate_agent(stage, agent, &mut cycle, &mut pending);
                if pending.is_empty() {
                    continue;
                }
                for p in pending.drain(..) {
                    // Sorter updates land after the agent, as Mesos's sorted snapshot implies
                    // (the role sorter's at the end of the cycle while it lists one role).
                    let (framework, role) = (p.framework, p.role);
                    let resources = self.track_offer(agent, p);
                    let offer = push_default(&mut offers);
                    offer.framework = self.framework_state(framework).id.clone();
                    offer.agent = self.agent_state(agent).id.clone();
                    offer.role = self.roles[role].name.clone();
                    offer.resources = resources;
                }
                self.refresh_free(agent);
            }
        }
        self.in_cycle = false;
        self.record_deferred();
        self.candidates = candidates;
        let offers = if stages.len() > 1 {
            merge_offers(offers)
        } else {
            offers
        };
        let inverse_offers = self.inverse_offers();
        Allocation {
            offers,
            inverse_offers,
        }
    }

    /// Tells the role sorter the allocations of the cycle summed by
    /// [`Allocator::account_quantities`], and adds the whole-agent offers among them to the
    /// role's unreserved total.
    fn record_deferred(&mut self) {
        if let Some(deferred) = self.deferred_role_allocation.take() {
            self.roles[deferred.client as usize]
                .allocated_unreserved
                .add(&deferred.all_unreserved);
            let mut sum = deferred.rest;
            sum.add(&deferred.all_unreserved);
            self.role_sorter
                .allocated_times(deferred.client, &sum, deferred.times);
        }
    }

    /// Forgets decline filters that have expired (Mesos removes each when its timer fires).
    fn drop_expired_filters(&mut self, now: Duration) {
        // The agents holding filters, from the frameworks' counts: reading every agent's state
        // to find them would cost a cache miss per agent, filtered or not.
        let mut filtered: Vec<usize> = self
            .frameworks
            .iter()
            .flatten()
            .flat_map(|f| f.filtered_agents.keys().copied())
            .collect();
        filtered.sort_unstable();
        filtered.dedup();
        let mut next = Duration::MAX;
        for a in filtered {
            self.drop_filters_at(a, |_, until| until <= now);
            let left = self.agents[a].as_ref().map(|s| s.filters.next_expiry());
            next = next.min(left.unwrap_or(Duration::MAX));
        }
        self.next_filter_expiry = next;
    }

    /// Drops the filters on agent `agent` that `drop` picks (by owner and expiry), keeping the
    /// frameworks' counts of them.
    fn drop_filters_at(&mut self, agent: usize, drop: impl FnMut(FilterOwner, Duration) -> bool) {
        let Allocator {
            agents,
            frameworks,
            live_filters,
            ..
        } = self;
        let Some(state) = agents[agent].as_mut() else {
            return;
        };
        *live_filters -= state.filters.drop_where(drop, |owner| {
            if let Some(f) = frameworks[owner.framework].as_mut()
                && let Some(count) = f.filtered_agents.get_mut(&agent)
            {
                *count -= 1;
                if *count == 0 {
                    f.filtered_agents.remove(&agent);
                }
            }
        });
    }

    /// Drops framework `framework`'s filters for the roles `for_role` picks, on every agent.
    fn drop_filters_of(&mut self, framework: usize, for_role: impl Fn(usize) -> bool) {
        let agents: Vec<usize> = self
            .framework_state(framework)
            .filtered_agents
            .keys()
            .copied()
            .collect();
        for agent in agents {
            self.drop_filters_at(agent, |owner, _| {
                owner.framework == framework && for_role(owner.role)
            });
        }
    }

    /// Records a fresh offer, already taken out of the agent's available resources, and returns
    /// its resources (without allocation roles).
    fn track_offer(&mut self, agent: usize, offer: PendingOffer) -> Resources {
        let PendingOffer {
            framework,
            role,
            resources,
            books_handle,
            whole_and_plain,
        } = offer;
        if whole_and_plain {
            // Unreserved and not revocable: all of it counts towards quota.
            let q = std::mem::take(&mut self.agent_state_mut(agent).free.quantities);
            self.account_quantities(role, framework, &q, None, &Quantities::new(), true);
        } else {
            self.account(role, framework, &resources, true);
        }
        self.agent_state_mut(agent).by_framework.add(
            HoldingKey { framework, role },
            books_handle.unwrap_or_else(|| resources.clone()),
        );
        resources
    }

    /// Decides the offers on one agent for one stage; see the module docs.
    fn allocate_agent(
        &mut self,
        stage: Stage,
        agent: usize,
        cycle: &mut Cycle,
        pending: &mut Vec<PendingOffer>,
    ) {
        #[cfg(test)]
        let shortcut = self.whole_agent_shortcut;
        #[cfg(not(test))]
        let shortcut = true;
        let Allocator {
            options,
            agents,
            frameworks,
            roles,
            role_sorter,
            ..
        } = self;
        let astate = agents[agent].as_mut().expect("candidate agents are live");
        let traits = AgentTraits {
            capabilities: astate.capabilities,
            has_gpu: astate.has_gpu,
            remote: astate.remote,
        };
        // Offers are taken out of the agent's available resources as they are decided; the
        // rest of the bookkeeping happens in `track_offer` once the agent is done.
        let remaining = &mut astate.available;
        if remaining.is_empty() {
            return;
        }
        // The summary describes `remaining` until the first offer on this agent changes it.
        let free = &astate.free;
        let filters = &astate.filters;
        let mut untouched = true;
        let mut offered_shared = Resources::new();
        let has_reservations = free.reserved;
        // Every role that could be offered something is at all of its limits, and this agent has
        // only unreserved scalars that every such role caps: nothing can be offered here.
        if stage == Stage::Everything
            && cycle.active_uncapped == 0
            && remaining.iter().all(|r| {
                is_quota_resource(r) && !r.shared && cycle.common_caps.iter().any(|c| *c == r.name)
            })
        {
            return;
        }
        // The (role, lowest framework) the shortcut below found unable to take the agent: the
        // visits would check it again in the same state and pass it too. (When the shortcut
        // also turned down the second framework, the visits check that one again.)
        let mut passed: Option<(usize, usize)> = None;
        if shortcut && stage == Stage::Everything && free.plain {
            // The common case, decided before the visits below are set up: one role listed,
            // with no limits and no headroom held back, whose lowest framework takes the whole
            // agent, or else the next one when the sorter names it without a walk. These are
            // the checks the visits would make for those frameworks, in the same order; when
            // they fail, the visits decide from the start (passing the lowest framework).
            // One loop rather than two copies of the checks: called twice, the checks were
            // compiled out of line, 40 more instructions per agent.
            let now = cycle.now;
            let whole_to_one = role_sorter
                .sole_listed()
                .map(|client| client as usize)
                .filter(|&role| {
                    roles[role].quota.limits.is_empty() && cycle.required_headroom.is_empty()
                })
                .and_then(|role| {
                    let sorter = &roles[role].framework_sorter;
                    let mut framework = sorter.first_listed()? as usize;
                    // The lowest framework, then the next one when the sorter names it without
                    // a walk (the visits would ask it next, in the same state).
                    for next in [true, false] {
                        let fstate = frameworks[framework].as_ref()?;
                        let takes_it = min_allocatable_ok_for_free(options, fstate, role, free)
                            && capable_of_agent(options, &fstate.capabilities, &traits)
                            && !is_filtered(
                                fstate,
                                framework,
                                &roles[role].name,
                                role,
                                &traits,
                                filters,
                                remaining,
                                now,
                            );
                        if takes_it {
                            return Some((framework, role));
                        }
                        if !next {
                            break;
                        }
                        passed = Some((role, framework));
                        framework = sorter.second_listed()? as usize;
                    }
                    None
                });
            if let Some((framework, role)) = whole_to_one {
                offer_whole(pending, remaining, framework, role, true);
                #[cfg(test)]
                {
                    self.shortcut_hits += 1;
                }
                return;
            }
        }
        let mut per_role = |role_client: ClientId| {
            if remaining.is_empty() {
                return Visit::Stop;
            }
            let role = role_client as usize;
            let RoleState {
                name: role_name,
                quota,
                framework_sorter,
                ..
            } = &mut roles[role];
            if stage == Stage::Guarantees && !cycle.unmet[role] {
                return Visit::Continue;
            }
            // A role at all of its limits can take nothing here when the agent only has
            // unreserved scalars of the capped kinds left (LargeAndSmallQuota's empty cycle).
            if stage == Stage::Everything
                && !has_reservations
                && cycle.capped_out[role]
                && remaining.iter().all(|r| {
                    is_quota_resource(r) && !r.shared && quota.limits.get(&r.name).is_some()
                })
            {
                return Visit::Continue;
            }
            // What this role may use here; recomputed only after an offer changes `remaining`.
            let mut for_role: Option<Resources> = None;
            // Decides the offer to one framework; `Stop` once nothing is left for the next.
            let mut offer_to = |framework_client: ClientId| {
                let framework = framework_client as usize;
                if passed == Some((role, framework)) {
                    return Visit::Continue;
                }
                let Some(fstate) = frameworks[framework].as_ref() else {
                    return Visit::Continue;
                };
                let available: &Resources = if has_reservations || !offered_shared.is_empty() {
                    for_role.get_or_insert_with(|| {
                        let mut r = if has_reservations {
                            remaining.allocatable_to(role_name)
                        } else {
                            Resources::clone(remaining)
                        };
                        if !offered_shared.is_empty() {
                            r -= &offered_shared;
                        }
                        r
                    })
                } else {
                    remaining
                };
                if available.is_empty() {
                    return Visit::Stop;
                }
                // Whether what the framework is offered is the whole of the agent's free,
                // plain resources, as summarised before any offer here.
                let whole_and_plain = untouched && free.plain;
                let enough = if whole_and_plain {
                    min_allocatable_ok_for_free(options, fstate, role, free)
                } else {
                    min_allocatable_ok(options, fstate, role, available)
                };
                if !enough || !capable_of_agent(options, &fstate.capabilities, &traits) {
                    return Visit::Continue;
                }
                let caps = fstate.capabilities;
                let incapable = |r: &Resource| {
                    (!caps.shared_resources && r.shared)
                        || (!caps.revocable_resources && r.revocable)
                        || (!caps.reservation_refinement && r.reservations.len() > 1)
                };
                let plain_stage_two = stage == Stage::Everything
                    && quota.limits.is_empty()
                    && cycle.required_headroom.is_empty();
                // The common case: the whole of what is left on the agent goes to this framework,
                // so the offer is the agent's remaining bag itself, moved rather than copied.
                if plain_stage_two
                    && !has_reservations
                    && offered_shared.is_empty()
                    && (whole_and_plain || !available.iter().any(|r| incapable(r) || r.shared))
                {
                    if is_filtered(
                        fstate, framework, role_name, role, &traits, filters, available, cycle.now,
                    ) {
                        return Visit::Continue;
                    }
                    offer_whole(pending, remaining, framework, role, whole_and_plain);
                    untouched = false;
                    for_role = None;
                    // The agent is empty: the next framework would find nothing.
                    return Visit::Stop;
                }
                let available: Resources = if available.iter().any(incapable) {
                    available.filter(|r| !incapable(r))
                } else {
                    available.clone()
                };
                let (to_offer, guarantee_part, additional) = if plain_stage_two {
                    // No quota anywhere near: everything available is offered.
                    (available, Resources::new(), Resources::new())
                } else {
                    let consumed_now = cycle.consumed[role].clone().unwrap_or_default();
                    let quota_resources = available.filter(is_quota_resource);
                    let base = available.filter(|r| {
                        r.is_reserved()
                            || !matches!(r.value, ResourceValue::Scalar(_))
                            || r.revocable
                    });
                    let (guarantee_part, mut additional) = if stage == Stage::Guarantees {
                        let unmet = quota.guarantees.minus(&consumed_now);
                        if unmet.is_empty() {
                            return Visit::Stop;
                        }
                        let part = shrink_to(&quota_resources, &unmet);
                        if part.is_empty() {
                            return Visit::Continue;
                        }
                        let rest = &quota_resources - &part;
                        (part, rest)
                    } else {
                        (Resources::new(), quota_resources)
                    };
                    if !quota.limits.is_empty() {
                        let mut used = consumed_now;
                        used.add(&scalars(&guarantee_part));
                        additional = shrink_to_limits(&additional, &quota.limits.minus(&used));
                    }
                    if !cycle.required_headroom.is_empty() && !additional.is_empty() {
                        let spare = cycle.available_headroom.minus(&cycle.required_headroom);
                        additional = shrink_to(&additional, &spare);
                    }
                    let mut to_offer = base;
                    to_offer += &guarantee_part;
                    to_offer += &additional;
                    (to_offer, guarantee_part, additional)
                };
                if !min_allocatable_ok(options, fstate, role, &to_offer)
                    || is_filtered(
                        fstate, framework, role_name, role, &traits, filters, &to_offer, cycle.now,
                    )
                {
                    return Visit::Continue;
                }
                if !plain_stage_two {
                    let increase = scalars(&(&guarantee_part + &additional));
                    for &r in &cycle.consumers[role] {
                        if let Some(c) = cycle.consumed[r].as_mut() {
                            c.add(&increase);
                            let q = &cycle.quotas[r];
                            cycle.unmet[r] = !q.guarantees.is_empty() && !c.contains(&q.guarantees);
                            let capped = !q.limits.is_empty() && limits_reached(&q.limits, c);
                            if capped && !cycle.capped_out[r] && cycle.active[r] {
                                cycle.active_uncapped -= 1;
                            }
                            cycle.capped_out[r] = capped;
                        }
                    }
                    if stage == Stage::Guarantees {
                        cycle.required_headroom.subtract(&scalars(&guarantee_part));
                    }
                    cycle.available_headroom.subtract(&increase);
                }
                // Shared resources stay available to other frameworks on this agent.
                if to_offer.iter().any(|r| r.shared) {
                    *remaining.edit() -= &to_offer.non_shared();
                    offered_shared += &to_offer.shared();
                } else {
                    *remaining.edit() -= &to_offer;
                }
                for_role = None;
                untouched = false;
                let p = push_default(pending);
                (p.framework, p.role, p.resources) = (framework, role, to_offer);
                if remaining.is_empty() || (stage == Stage::Guarantees && !cycle.unmet[role]) {
                    return Visit::Stop;
                }
                Visit::Continue
            };
            // Most agents go whole to the role's lowest framework (the order cannot change
            // during the agent: sorters learn of its offers after it).
            visit_lowest_first(&mut **framework_sorter, &mut offer_to);
            Visit::Continue
        };
        visit_lowest_first(&mut **role_sorter, &mut per_role);
    }

    fn inverse_offers(&mut self) -> Vec<InverseOffer> {
        let mut out = Vec::new();
        for &index in &self.unavailable {
            debug_assert!(
                self.agents[index]
                    .as_ref()
                    .is_some_and(|a| a.unavailability.is_some()),
                "agent {index} is listed as under maintenance but is not"
            );
            let Some(agent) = self.agents[index].as_mut() else {
                continue;
            };
            let Some(unavailability) = agent.unavailability else {
                continue;
            };
            for f in agent.by_framework.frameworks() {
                if agent.inverse_offered.insert(f)
                    && let Some(fs) = self.frameworks[f].as_ref()
                    && fs.active
                {
                    out.push(InverseOffer {
                        framework: fs.id.clone(),
                        agent: agent.id.clone(),
                        unavailability,
                    });
                }
            }
        }
        out
    }
}

/// How many agents ahead of the current one the cycle asks the processor to load the shared
/// text of the agent's id (see [`prefetch`]); the agent's state, which says where that text
/// is, is asked for twice as far ahead. Far enough that a load is done when the cycle gets
/// there, near enough that the line is not evicted by the work in between.
const PREFETCH_AHEAD: usize = 8;

/// Appends a default value to `list` and returns it, for the caller to fill in place.
///
/// The cycle's records (offers, pending offers) are built in the list rather than pushed whole:
/// a value built on the stack and then pushed is copied in 16-byte loads, which the processor
/// cannot forward from the narrower stores that built it, and each waits for those stores to
/// reach the cache (perf, 1k x 100: the copies into the offer list and the pending list took
/// 15 % of the cycle's samples; filling in place took the cycle from 115 to 108 us). Even the
/// default was built on the stack by `push`: `extend` with `once_with` makes the value only
/// once the list has room, and the compiler then writes it straight into the list.
fn push_default<T: Default>(list: &mut Vec<T>) -> &mut T {
    list.extend(std::iter::once_with(T::default));
    list.last_mut().expect("an element was just pushed")
}

/// Decides the offer of the agent's whole free bag to `framework` for `role`, taking the bag.
/// Always inlined: left to the compiler, it was called out of line, 27 more instructions per
/// agent in a 1k x 100 cycle (callgrind).
#[inline(always)]
fn offer_whole(
    pending: &mut Vec<PendingOffer>,
    free: &mut FreeBag,
    framework: usize,
    role: usize,
    whole_and_plain: bool,
) {
    let (resources, books_handle) = free.take_whole();
    // Made in the list (see `push_default`): built on the stack and copied, this record took
    // 7 % of the samples in `Allocator::allocate` itself at 10k x 1k, 99 % suppressed (perf).
    pending.extend(std::iter::once_with(|| PendingOffer {
        framework,
        role,
        resources,
        books_handle,
        whole_and_plain,
    }));
}

/// An offer decided on an agent, recorded once the agent is done.
#[derive(Default)]
struct PendingOffer {
    framework: usize,
    role: usize,
    resources: Resources,
    /// A second handle to `resources`, made when the agent's free bag last changed (see
    /// [`FreeBag`]), for the books.
    books_handle: Option<Resources>,
    /// The offer is the agent's whole free bag, all unreserved, non-revocable and unshared:
    /// its scalar quantities are the agent's free summary's, left in place until the agent is
    /// done, so that recording it need not walk its resources.
    whole_and_plain: bool,
}

/// The parts of an agent that decide eligibility, copied out of the borrowed state.
#[derive(Debug, Clone, Copy)]
struct AgentTraits {
    capabilities: AgentCapabilities,
    has_gpu: bool,
    remote: bool,
}

/// Per-cycle quota bookkeeping.
struct Cycle {
    now: Duration,
    /// Quota consumed so far, by role; `Some` for roles with a quota.
    consumed: Vec<Option<Quantities>>,
    /// For each role, the roles with a quota that an offer to it consumes (self, ancestors).
    consumers: Vec<Vec<usize>>,
    /// Each role's quota, as of the cycle's start.
    quotas: Vec<Quota>,
    /// Roles with a guarantee not yet met.
    unmet: Vec<bool>,
    /// Roles that have reached every quota limit.
    capped_out: Vec<bool>,
    /// Roles with frameworks.
    active: Vec<bool>,
    /// How many roles with frameworks are not capped out.
    active_uncapped: usize,
    /// Resource names capped by the limits of every role with frameworks.
    common_caps: Vec<String>,
    /// Unreserved resources still owed to unmet guarantees.
    required_headroom: Quantities,
    /// Unreserved resources not yet allocated (only computed when headroom is required).
    available_headroom: Quantities,
}

/// The resource names that every one of `limits` caps.
fn common_caps<'a>(mut limits: impl Iterator<Item = &'a Limits>) -> Vec<String> {
    let Some(first) = limits.next() else {
        return Vec::new();
    };
    let mut names: Vec<String> = first.caps().map(|(n, _)| n.to_string()).collect();
    for l in limits {
        names.retain(|n| l.get(n).is_some());
        if names.is_empty() {
            break;
        }
    }
    names
}

/// True when every capped resource is consumed up to its cap.
fn limits_reached(limits: &Limits, consumed: &Quantities) -> bool {
    limits.caps().all(|(name, cap)| consumed.get(name) >= cap)
}

/// An offer must hold at least one of the minimum sets (any-of), per framework and role.
fn min_allocatable_ok(
    options: &AllocatorOptions,
    framework: &FrameworkState,
    role: usize,
    offer: &Resources,
) -> bool {
    if offer.is_empty() {
        return false;
    }
    min_allocatable_ok_for(options, framework, role, &scalars(offer))
}

/// [`min_allocatable_ok_for`] on an agent's whole free bag, as its summary describes it.
#[inline(always)]
fn min_allocatable_ok_for_free(
    options: &AllocatorOptions,
    framework: &FrameworkState,
    role: usize,
    free: &FreeSummary,
) -> bool {
    if framework.min_allocatable.is_empty() {
        free.meets_default_minimum
    } else {
        min_allocatable_ok_for(options, framework, role, &free.quantities)
    }
}

/// [`min_allocatable_ok`] on the scalar quantities of a non-empty offer.
fn min_allocatable_ok_for(
    options: &AllocatorOptions,
    framework: &FrameworkState,
    role: usize,
    have: &Quantities,
) -> bool {
    // Most frameworks set no minimum of their own: no hashing then.
    let own = if framework.min_allocatable.is_empty() {
        None
    } else {
        framework.min_allocatable.get(&role)
    };
    meets_minimum(own.unwrap_or(&options.min_allocatable_resources), have)
}

/// Whether `have` holds one of `minimums` (anything does when there are none).
fn meets_minimum(minimums: &[Quantities], have: &Quantities) -> bool {
    minimums.is_empty() || minimums.iter().any(|m| have.contains(m))
}

/// Implicit filters (agent capabilities) and the framework's decline filters.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn is_filtered(
    framework: &FrameworkState,
    framework_index: usize,
    role_name: &str,
    role: usize,
    agent: &AgentTraits,
    filters: &AgentFilters,
    offer: &Resources,
    now: Duration,
) -> bool {
    if framework.capabilities.multi_role && !agent.capabilities.multi_role {
        return true;
    }
    if !agent.capabilities.hierarchical_role && role_name.contains('/') {
        return true;
    }
    let owner = FilterOwner {
        framework: framework_index,
        role,
    };
    filters.refuses(owner, offer, now)
}

/// GPU agents only for GPU-capable frameworks; remote agents only for region-aware ones.
fn capable_of_agent(
    options: &AllocatorOptions,
    caps: &FrameworkCapabilities,
    agent: &AgentTraits,
) -> bool {
    // Most agents are neither: one test then, before the framework's capabilities are read.
    if !(agent.has_gpu || agent.remote) {
        return true;
    }
    !(options.filter_gpu_resources && !caps.gpu_resources && agent.has_gpu)
        && (caps.region_aware || !agent.remote)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Guarantees,
    Everything,
}

fn client_id(index: usize) -> ClientId {
    ClientId::try_from(index).expect("fewer than 2^32 clients")
}

/// Splits resources by allocation role into bags without allocation roles; resources without
/// one belong to `fallback`, or are an error when there is none. Shared resources keep their
/// counts (a volume held by two tasks is held twice).
fn split_by_role_or(
    resources: &Resources,
    fallback: Option<&SmolStr>,
) -> Result<Vec<(SmolStr, Resources)>, AllocatorError> {
    if let Some(role) = fallback
        && resources.iter().all(|r| r.allocation_role.is_none())
    {
        // A declined offer: nothing to split or copy.
        return Ok(vec![(role.clone(), resources.clone())]);
    }
    fn role_of<'a>(r: &'a Resource, fallback: Option<&'a SmolStr>) -> Option<&'a SmolStr> {
        r.allocation_role.as_ref().or(fallback)
    }
    let mut roles: Vec<SmolStr> = Vec::new();
    for r in resources.iter() {
        let Some(role) = role_of(r, fallback) else {
            return Err(AllocatorError::MissingAllocationRole(r.to_string()));
        };
        if !roles.contains(role) {
            roles.push(role.clone());
        }
    }
    Ok(roles
        .into_iter()
        .map(|role| {
            let part = resources
                .filter(|r| role_of(r, fallback) == Some(&role))
                .unallocate();
            (role, part)
        })
        .collect())
}

/// Merges offers for the same framework, agent and role (stage 1 and stage 2 may both offer).
fn merge_offers(offers: Vec<Offer>) -> Vec<Offer> {
    let mut out: Vec<Offer> = Vec::with_capacity(offers.len());
    let mut index: FxHashMap<(FrameworkId, AgentId, SmolStr), usize> = FxHashMap::default();
    for o in offers {
        let key = (o.framework.clone(), o.agent.clone(), o.role.clone());
        match index.get(&key) {
            Some(&i) => out[i].resources += &o.resources,
            None => {
                index.insert(key, out.len());
                out.push(o);
            }
        }
    }
    out
}

#[cfg(test)]
mod whole_agent_shortcut_tests {
    use super::*;
    use mesos_core::resources::parse_flag_text;
    use proptest::prelude::*;

    /// Agent shapes; `ROLE` stands for the frameworks' role (a reservation makes the agent's
    /// free resources not plain, which the shortcut leaves to the visits).
    const SHAPES: &[&str] = &[
        "cpus:4;mem:2048",
        "cpus:8;mem:4096;gpus:1",
        "cpus:1;mem:16",
        "cpus:2;mem:512;cpus(ROLE):1;mem(ROLE):64",
    ];

    #[derive(Debug, Clone)]
    enum Event {
        Allocate,
        Decline { offer: usize, refuse: Option<u64> },
        Suppress(usize),
        Revive(usize),
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            3 => Just(Event::Allocate),
            4 => (0usize..8, prop_oneof![Just(None), Just(Some(2)), Just(Some(1_000))])
                .prop_map(|(offer, refuse)| Event::Decline { offer, refuse }),
            1 => (0usize..4).prop_map(Event::Suppress),
            1 => (0usize..4).prop_map(Event::Revive),
        ]
    }

    /// What else the cluster has that the shortcut must leave to the visits.
    #[derive(Debug, Clone, Copy)]
    struct Extras {
        /// A quota limit on the frameworks' role (high enough never to be reached).
        limit: bool,
        /// A guarantee on another role, with no frameworks: headroom is held back for it.
        guarantee_elsewhere: bool,
    }

    fn extras() -> impl Strategy<Value = Extras> {
        (any::<bool>(), any::<bool>()).prop_map(|(limit, guarantee_elsewhere)| Extras {
            limit,
            guarantee_elsewhere,
        })
    }

    /// One role (so the shortcut applies) and frameworks and agents that differ in what the
    /// shortcut checks: GPUs, MULTI_ROLE, hierarchical roles, minimum allocatable resources.
    fn build(
        seed: u64,
        role: &str,
        agents: &[(usize, bool)],
        frameworks: &[(bool, bool)],
        extras: Extras,
        shortcut: bool,
    ) -> Allocator {
        let mut a = Allocator::new(AllocatorOptions {
            seed,
            min_allocatable_resources: vec![Quantities::parse("mem:32").unwrap()],
            ..Default::default()
        })
        .unwrap();
        a.whole_agent_shortcut = shortcut;
        for (i, &(shape, old_agent)) in agents.iter().enumerate() {
            let capabilities = if old_agent {
                AgentCapabilities {
                    multi_role: false,
                    hierarchical_role: false,
                }
            } else {
                AgentCapabilities::default()
            };
            let config = AgentConfig {
                total: parse_flag_text(&SHAPES[shape].replace("ROLE", role), "*").unwrap(),
                capabilities,
                ..Default::default()
            };
            a.add_agent(AgentId::new(format!("a{i}")), config, &[])
                .unwrap();
        }
        for (i, &(gpu, multi)) in frameworks.iter().enumerate() {
            let config = FrameworkConfig {
                roles: vec![role.to_string()],
                capabilities: FrameworkCapabilities {
                    gpu_resources: gpu,
                    multi_role: multi,
                    ..Default::default()
                },
                ..Default::default()
            };
            a.add_framework(FrameworkId::new(format!("f{i}")), config, &[], true)
                .unwrap();
        }
        if extras.limit {
            let limits = Limits::from_caps([("cpus".to_string(), Scalar::from_units(1_000))]);
            let guarantees = Quantities::new();
            a.update_quota(role, Quota { guarantees, limits }).unwrap();
        }
        if extras.guarantee_elsewhere {
            let guarantees = Quantities::parse("cpus:1").unwrap();
            let limits = Limits::none();
            a.update_quota("other", Quota { guarantees, limits })
                .unwrap();
        }
        a
    }

    #[test]
    fn the_shortcut_decides_a_plain_one_role_cycle() {
        let agents = [(0, false), (1, false), (0, false)];
        let plain = Extras {
            limit: false,
            guarantee_elsewhere: false,
        };
        let mut a = build(
            7,
            "web",
            &agents,
            &[(true, false), (true, true)],
            plain,
            true,
        );
        let offers = a.allocate(Duration::from_secs(1)).offers;
        assert_eq!(offers.len(), 3);
        assert_eq!(
            a.shortcut_hits, 2,
            "every agent but the first, whose visits rebuild the new sorters' keys"
        );
    }

    proptest! {
        #[test]
        fn the_shortcut_offers_what_the_visits_offer(
            seed in any::<u64>(),
            role in prop_oneof![Just("web"), Just("eng/web")],
            agents in prop::collection::vec((0usize..SHAPES.len(), any::<bool>()), 1..6),
            frameworks in prop::collection::vec((any::<bool>(), any::<bool>()), 1..4),
            extras in extras(),
            events in prop::collection::vec(event(), 1..30),
        ) {
            let mut with = build(seed, role, &agents, &frameworks, extras, true);
            let mut without = build(seed, role, &agents, &frameworks, extras, false);
            let mut now = Duration::from_secs(1);
            let mut offers: Vec<Offer> = Vec::new();
            let mut taken = 0;
            for event in &events {
                match event {
                    Event::Allocate => {
                        let fast = with.allocate(now);
                        let slow = without.allocate(now);
                        prop_assert_eq!(&fast.offers, &slow.offers);
                        // And the books agree: what each role holds, reserved or not.
                        for (r, s) in with.roles.iter().zip(&without.roles) {
                            prop_assert_eq!(&r.allocated_unreserved, &s.allocated_unreserved);
                            prop_assert_eq!(&r.allocated_reserved, &s.allocated_reserved);
                        }
                        taken += fast.offers.len();
                        offers.extend(fast.offers);
                        now += Duration::from_secs(1);
                    }
                    Event::Decline { offer, refuse } if *offer < offers.len() => {
                        let o = offers.swap_remove(*offer);
                        let refuse = refuse.map(Duration::from_secs);
                        for a in [&mut with, &mut without] {
                            a.recover_offered(&o.framework, &o.agent, &o.role, &o.resources, refuse, now)
                                .unwrap();
                        }
                    }
                    Event::Decline { .. } => {}
                    Event::Suppress(f) | Event::Revive(f) if *f < frameworks.len() => {
                        let id = FrameworkId::new(format!("f{f}"));
                        for a in [&mut with, &mut without] {
                            if matches!(event, Event::Suppress(_)) {
                                a.suppress(&id, &[]).unwrap();
                            } else {
                                a.revive(&id, &[]).unwrap();
                            }
                        }
                    }
                    Event::Suppress(_) | Event::Revive(_) => {}
                }
            }
            // Limits and headroom are the visits' to weigh.
            if extras.limit || extras.guarantee_elsewhere {
                prop_assert_eq!(with.shortcut_hits, 0);
            }
            // Not a vacuous comparison: some runs offer something.
            prop_assume!(taken > 0);
        }
    }
}
