//! Plugs a hand-written role sorter into the allocator and shows who gets what.
//!
//! ```text
//! cargo run --example custom_sorter -- [--cycles 4] [--seed 1]
//! ```
//!
//! The sorter here is a weighted round robin, written from scratch against
//! [`mesos_allocator::sorter::Sorter`]: roles take turns at agents, fewest offers per unit of
//! weight first, regardless of how much each already holds (DRF, the default, looks at holdings
//! instead). The example runs a small cluster for a few allocation cycles with it, printing every
//! offer, then runs the same cluster with the built-in DRF sorter and compares the outcome.
//!
//! # Writing a sorter
//!
//! The allocator keeps one sorter over roles (replaceable with
//! [`Allocator::set_role_sorter`]) and, inside each role, one over its frameworks. A sorter only
//! orders clients; the allocator decides what is offered. It calls:
//!
//! - `add_client(id, path)` / `remove_client(id)` when a role appears or goes. `id` is a dense
//!   [`ClientId`] the allocator picks; `path` is the role name. Nested roles (`eng/web`) form a
//!   tree that the built-in sorters honour; a flat sorter like this one may ignore it.
//! - `set_active(id, active)`: only active clients (roles with frameworks) may be visited.
//! - `set_weight(path, weight)` for `--weights` / UPDATE_WEIGHTS, possibly before the role
//!   exists, so keep weights by path.
//! - `allocated(id, quantities)` after each agent is handed out, once per role that got an
//!   offer there (and when existing allocations are replayed: on `set_role_sorter`, or when
//!   an agent or framework is re-added with resources in use); `unallocated(id, quantities)`
//!   when resources come back (declines, finished tasks).
//! - `set_total(quantities)` with the cluster's total, before a cycle after it changed.
//! - `visit(f)` once per agent: call `f` with active clients, best first, until it returns
//!   [`Visit::Stop`]. The order is a snapshot for that agent; updates for what the agent gave out
//!   arrive through `allocated` before the next agent's visit (unless the sorter answers
//!   `sole_listed`, which this one does not: then they may arrive summed, through
//!   `allocated_times`, when the cycle ends).
//! - Optional hooks that save the cycle a visit: `sole_listed`, `first_listed` and
//!   `second_listed` name the only, first or second client a visit would call, when the sorter
//!   knows without a walk; the defaults answer `None` (the allocator then visits).
//!
//! A sorter must be `Send`. Install it before adding roles, or rely on `set_role_sorter`
//! replaying the current roles, weights and allocations into it.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mesos_allocator::quantities::Quantities;
use mesos_allocator::sorter::{ClientId, Sorter, Visit};
use mesos_allocator::{AgentConfig, Allocator, AllocatorOptions, FrameworkConfig, Offer};
use mesos_core::ids::{AgentId, FrameworkId};
use mesos_core::resources::{Resources, parse_flag_text};
use mesos_examples::flag;

/// Weighted round robin: fewest offers per unit of weight first, then whoever was served
/// longest ago, then by path.
#[derive(Debug, Default)]
struct RoundRobinSorter {
    clients: HashMap<ClientId, Client>,
    weights: HashMap<String, f64>,
    /// Counts `allocated` calls, to know who was served last.
    clock: u64,
}

#[derive(Debug)]
struct Client {
    path: String,
    active: bool,
    offers: u64,
    last_served: u64,
}

impl RoundRobinSorter {
    fn weight(&self, path: &str) -> f64 {
        self.weights.get(path).copied().unwrap_or(1.0)
    }
}

impl Sorter for RoundRobinSorter {
    fn add_client(&mut self, client: ClientId, path: &str) {
        self.clients.insert(
            client,
            Client {
                path: path.to_string(),
                active: false,
                offers: 0,
                last_served: 0,
            },
        );
    }

    fn remove_client(&mut self, client: ClientId) {
        self.clients.remove(&client);
    }

    fn set_active(&mut self, client: ClientId, active: bool) {
        if let Some(c) = self.clients.get_mut(&client) {
            c.active = active;
        }
    }

    fn set_weight(&mut self, path: &str, weight: f64) {
        self.weights.insert(path.to_string(), weight);
    }

    fn allocated(&mut self, client: ClientId, quantities: &Quantities) {
        if quantities.is_empty() {
            return;
        }
        self.clock += 1;
        if let Some(c) = self.clients.get_mut(&client) {
            c.offers += 1;
            c.last_served = self.clock;
        }
    }

    fn unallocated(&mut self, _client: ClientId, _quantities: &Quantities) {
        // Turns are counted in offers, not in what is held: nothing to do.
    }

    fn set_total(&mut self, _total: &Quantities) {
        // Round robin does not measure shares.
    }

    fn visit(&mut self, f: &mut dyn FnMut(ClientId) -> Visit) {
        let mut order: Vec<(f64, u64, &str, ClientId)> = self
            .clients
            .iter()
            .filter(|(_, c)| c.active)
            .map(|(&id, c)| {
                let turns = c.offers as f64 / self.weight(&c.path);
                (turns, c.last_served, c.path.as_str(), id)
            })
            .collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2)));
        for (_, _, _, id) in order {
            if f(id) == Visit::Stop {
                break;
            }
        }
    }
}

// ----- a small cluster -----

/// A framework that launches one task per offer when it fits.
struct Framework {
    id: FrameworkId,
    task: Resources,
}

/// What each role ended up with.
#[derive(Debug, Default, Clone)]
struct Tally {
    offers: u64,
    held: Quantities,
}

const AGENTS: usize = 6;
const AGENT: &str = "cpus:8;mem:16384";
/// Role, framework, task shape, role weight.
const FRAMEWORKS: &[(&str, &str, &str, f64)] = &[
    ("analytics", "spark", "cpus:4;mem:8192", 1.0),
    ("batch", "hadoop", "cpus:2;mem:4096", 2.0),
    ("web", "nginx", "cpus:1;mem:1024", 1.0),
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cycles: u32 = flag(&args, "cycles", "4")
        .parse()
        .context("--cycles must be a whole number")?;
    ensure!(cycles > 0, "--cycles must be at least 1");
    let seed: u64 = flag(&args, "seed", "1")
        .parse()
        .context("--seed must be a whole number")?;

    println!(
        "{AGENTS} agents of {AGENT}; roles: {}",
        FRAMEWORKS
            .iter()
            .map(|(role, fw, task, w)| format!("{role} (weight {w}, {fw}: tasks of {task})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("\n== weighted round-robin sorter (custom) ==");
    let custom = run(
        Some(Box::new(RoundRobinSorter::default())),
        cycles,
        seed,
        true,
    )?;
    println!("\n== drf sorter (built in), same cluster, offers not shown ==");
    let drf = run(None, cycles, seed, false)?;
    println!();
    print_comparison(&custom, &drf)?;
    Ok(())
}

/// Runs `cycles` allocation cycles and returns each role's tally.
fn run(
    sorter: Option<Box<dyn Sorter + Send>>,
    cycles: u32,
    seed: u64,
    verbose: bool,
) -> Result<HashMap<String, Tally>> {
    let mut allocator = Allocator::new(AllocatorOptions {
        seed,
        ..AllocatorOptions::default()
    })?;
    if let Some(sorter) = sorter {
        allocator.set_role_sorter(sorter);
    }
    let weights: Vec<(String, f64)> = FRAMEWORKS
        .iter()
        .map(|(role, _, _, w)| (role.to_string(), *w))
        .collect();
    allocator.update_weights(&weights)?;
    let frameworks = add_frameworks(&mut allocator)?;
    for i in 0..AGENTS {
        let total = parse_flag_text(AGENT, "*")?;
        let config = AgentConfig {
            total,
            ..AgentConfig::default()
        };
        allocator.add_agent(AgentId::new(format!("agent-{i}")), config, &[])?;
    }
    let mut tally: HashMap<String, Tally> = HashMap::new();
    for cycle in 1..=cycles {
        let now = Duration::from_secs(u64::from(cycle));
        let offers = allocator.allocate(now).offers;
        if verbose {
            println!("cycle {cycle}: {} offer(s)", offers.len());
        }
        for offer in offers {
            let framework = frameworks
                .iter()
                .find(|f| f.id == offer.framework)
                .context("offer to an unknown framework")?;
            let launched = answer(&mut allocator, framework, &offer, now)?;
            if verbose {
                print_offer(&offer, launched.as_ref());
            }
            let t = tally.entry(offer.role.to_string()).or_default();
            t.offers += 1;
            if let Some(task) = launched {
                t.held.add(&Quantities::of(&task));
            }
        }
    }
    Ok(tally)
}

fn add_frameworks(allocator: &mut Allocator) -> Result<Vec<Framework>> {
    FRAMEWORKS
        .iter()
        .map(|&(role, name, task, _)| {
            let id = FrameworkId::new(name);
            let config = FrameworkConfig {
                roles: vec![role.to_string()],
                ..FrameworkConfig::default()
            };
            allocator.add_framework(id.clone(), config, &[], true)?;
            Ok(Framework {
                id,
                task: parse_flag_text(task, "*")?,
            })
        })
        .collect()
}

/// Launches one task if it fits and gives the rest back without a filter. Returns the task.
fn answer(
    allocator: &mut Allocator,
    framework: &Framework,
    offer: &Offer,
    now: Duration,
) -> Result<Option<Resources>> {
    let fits = offer.resources.contains(&framework.task);
    let left = if fits {
        &offer.resources - &framework.task
    } else {
        offer.resources.clone()
    };
    if !left.is_empty() {
        allocator.recover_offered(
            &offer.framework,
            &offer.agent,
            &offer.role,
            &left,
            None,
            now,
        )?;
    }
    Ok(fits.then(|| framework.task.clone()))
}

fn print_offer(offer: &Offer, launched: Option<&Resources>) {
    let action = match launched {
        Some(task) => format!("launched {task}"),
        None => "declined".to_string(),
    };
    println!(
        "  {:<8} -> {:<10} {:<7} offered {:<22} {action}",
        offer.agent.as_str(),
        offer.role,
        offer.framework.as_str(),
        offer.resources.to_string()
    );
}

fn print_comparison(custom: &HashMap<String, Tally>, drf: &HashMap<String, Tally>) -> Result<()> {
    let mut total = Quantities::parse(AGENT)?;
    for _ in 1..AGENTS {
        total.add(&Quantities::parse(AGENT)?);
    }
    println!(
        "{:<10} {:>6} | {:>13} {:>6} {:>6} | {:>13} {:>6} {:>6}",
        "role", "weight", "round-robin", "cpus", "share", "drf", "cpus", "share"
    );
    for (role, _, _, weight) in FRAMEWORKS {
        let cell = |t: Option<&Tally>| {
            let t = t.cloned().unwrap_or_default();
            format!(
                "{:>6} offers {:>6} {:>6.3}",
                t.offers,
                t.held.get("cpus").to_string(),
                t.held.dominant_share(&total)
            )
        };
        println!(
            "{role:<10} {weight:>6} | {} | {}",
            cell(custom.get(*role)),
            cell(drf.get(*role))
        );
    }
    println!(
        "(round robin hands out turns by weight whatever a role's tasks cost; DRF evens out \
         weighted shares of the cluster)"
    );
    Ok(())
}
