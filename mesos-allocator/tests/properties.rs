//! Property tests: random clusters and event sequences, with invariants checked after every
//! allocation cycle.

use std::collections::HashMap;
use std::time::Duration;

use mesos_allocator::quantities::{Limits, Quantities};
use mesos_allocator::{
    AgentConfig, Allocation, Allocator, AllocatorOptions, FrameworkCapabilities, FrameworkConfig,
    Quota,
};
use mesos_core::ids::{AgentId, FrameworkId};
use mesos_core::resources::{Resources, parse_flag_text};
use mesos_core::roles::is_same_or_descendant;
use mesos_core::values::Scalar;
use proptest::prelude::*;

const ROLES: &[&str] = &["a", "a/b", "c", "d"];
const AGENT_SHAPES: &[&str] = &[
    "cpus:4;mem:2048;ports:[31000-31010]",
    "cpus:2;mem:1024;cpus(a):1;mem(a):512",
    "cpus:8;mem:4096;gpus:1",
    "cpus(c):2;mem(c):1024;cpus:1;mem:256;disk:1000",
    "cpus:1;mem:64",
];

#[derive(Debug, Clone)]
enum Event {
    Allocate { advance: u64 },
    Decline { offer: usize, refuse: Option<u64> },
    Suppress { framework: usize },
    Revive { framework: usize },
    Weight { role: usize, weight: u8 },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => (0u64..8).prop_map(|advance| Event::Allocate { advance }),
        4 => (0usize..16, prop_oneof![Just(None), Just(Some(3)), Just(Some(1_000_000))])
            .prop_map(|(offer, refuse)| Event::Decline { offer, refuse }),
        1 => (0usize..4).prop_map(|framework| Event::Suppress { framework }),
        1 => (0usize..4).prop_map(|framework| Event::Revive { framework }),
        1 => (0usize..4, 1u8..4).prop_map(|(role, weight)| Event::Weight { role, weight }),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    agents: Vec<usize>,
    frameworks: Vec<(Vec<usize>, bool, bool)>,
    limit_on_d: Option<u8>,
    guarantee_on_c: Option<u8>,
    seed: u64,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop::collection::vec(0usize..AGENT_SHAPES.len(), 1..6),
        prop::collection::vec(
            (
                prop::collection::vec(0usize..ROLES.len(), 1..3),
                any::<bool>(),
                any::<bool>(),
            ),
            1..4,
        ),
        prop::option::of(1u8..6),
        prop::option::of(1u8..4),
        any::<u64>(),
    )
        .prop_map(
            |(agents, frameworks, limit_on_d, guarantee_on_c, seed)| Setup {
                agents,
                frameworks,
                limit_on_d,
                guarantee_on_c,
                seed,
            },
        )
}

fn build(s: &Setup) -> Allocator {
    let mut a = Allocator::new(AllocatorOptions {
        seed: s.seed,
        ..Default::default()
    })
    .unwrap();
    for (i, shape) in s.agents.iter().enumerate() {
        let total = parse_flag_text(AGENT_SHAPES[*shape], "*").unwrap();
        a.add_agent(
            AgentId::new(format!("a{i}")),
            AgentConfig {
                total,
                ..Default::default()
            },
            &[],
        )
        .unwrap();
    }
    for (i, (roles, multi, gpu)) in s.frameworks.iter().enumerate() {
        let mut names: Vec<String> = roles.iter().map(|r| ROLES[*r].to_string()).collect();
        names.dedup();
        if !multi {
            names.truncate(1);
        }
        let config = FrameworkConfig {
            roles: names,
            capabilities: FrameworkCapabilities {
                multi_role: *multi,
                gpu_resources: *gpu,
                ..Default::default()
            },
            ..Default::default()
        };
        a.add_framework(FrameworkId::new(format!("f{i}")), config, &[], true)
            .unwrap();
    }
    if let Some(cap) = s.limit_on_d {
        let limits = Limits::from_caps([("cpus".to_string(), Scalar::from_units(cap.into()))]);
        a.update_quota(
            "d",
            Quota {
                guarantees: Quantities::new(),
                limits,
            },
        )
        .unwrap();
    }
    if let Some(g) = s.guarantee_on_c {
        let guarantees = Quantities::parse(&format!("cpus:{g}")).unwrap();
        a.update_quota(
            "c",
            Quota {
                guarantees,
                limits: Limits::none(),
            },
        )
        .unwrap();
    }
    a
}

/// A filter the test expects the allocator to honour.
struct Refusal {
    framework: FrameworkId,
    agent: AgentId,
    role: String,
    resources: Resources,
    until: Duration,
}

/// Runs the events, checking invariants after each cycle; returns every cycle's decisions.
fn run(s: &Setup, events: &[Event]) -> Result<Vec<Allocation>, TestCaseError> {
    let mut a = build(s);
    let mut now = Duration::ZERO;
    let mut outstanding = Vec::new();
    let mut refusals: Vec<Refusal> = Vec::new();
    let mut history = Vec::new();
    for event in events {
        match event {
            Event::Allocate { advance } => {
                now += Duration::from_secs(*advance);
                let allocation = a.allocate(now);
                check(&a, s, &allocation, &refusals, now)?;
                outstanding.extend(allocation.offers.iter().cloned());
                history.push(allocation);
            }
            Event::Decline { offer, refuse } => {
                if outstanding.is_empty() {
                    continue;
                }
                let o: mesos_allocator::Offer = outstanding.remove(offer % outstanding.len());
                let refuse = refuse.map(Duration::from_secs);
                a.recover_offered(&o.framework, &o.agent, &o.role, &o.resources, refuse, now)
                    .unwrap();
                if let Some(r) = refuse {
                    refusals.push(Refusal {
                        framework: o.framework,
                        agent: o.agent,
                        role: o.role.to_string(),
                        resources: o.resources.clone(),
                        until: now + r,
                    });
                }
            }
            Event::Suppress { framework } => {
                let id = FrameworkId::new(format!("f{}", framework % s.frameworks.len()));
                a.suppress(&id, &[]).unwrap();
            }
            Event::Revive { framework } => {
                let id = FrameworkId::new(format!("f{}", framework % s.frameworks.len()));
                a.revive(&id, &[]).unwrap();
                refusals.retain(|r| r.framework != id);
            }
            Event::Weight { role, weight } => {
                a.update_weights(&[(ROLES[*role].to_string(), f64::from(*weight))])
                    .unwrap();
            }
        }
    }
    Ok(history)
}

fn check(
    a: &Allocator,
    s: &Setup,
    allocation: &Allocation,
    refusals: &[Refusal],
    now: Duration,
) -> Result<(), TestCaseError> {
    // 1. No agent is over-allocated: available + everything held adds up to the total.
    for i in 0..s.agents.len() {
        let agent = AgentId::new(format!("a{i}"));
        let mut sum = a.available(&agent).unwrap().clone();
        for f in 0..s.frameworks.len() {
            sum += &a
                .allocated(&FrameworkId::new(format!("f{f}")), &agent)
                .unwrap()
                .unallocate();
        }
        prop_assert_eq!(
            &sum,
            a.total(&agent).unwrap(),
            "agent {} books do not balance",
            agent
        );
    }
    let mut role_unreserved_cpus: HashMap<String, Scalar> = HashMap::new();
    for o in &allocation.offers {
        for r in o.resources.iter() {
            // 2. Offered resources carry no allocation role of their own (the offer's role is
            // theirs)...
            prop_assert_eq!(r.allocation_role.as_deref(), None);
            // 3. ...and reserved resources go only to their role or its subroles.
            if let Some(res) = r.reservations.last() {
                prop_assert!(
                    is_same_or_descendant(&o.role, &res.role),
                    "{} reserved to {} offered to {}",
                    r,
                    res.role,
                    o.role
                );
            }
            // 4. GPUs only to GPU-capable frameworks.
            if r.name == "gpus" {
                let f: usize = o.framework.as_str()[1..].parse().unwrap();
                prop_assert!(s.frameworks[f].2, "gpu offered to {}", o.framework);
            }
        }
        // 6. Every refusal still in force is held as a filter (debug builds also check the
        // allocator's running count of filters against its filters).
        let in_force = refusals.iter().filter(|r| r.until > now).count();
        prop_assert!(
            a.filter_count() >= in_force,
            "{} filters, {in_force} refusals in force",
            a.filter_count()
        );
        // 5. Filters are honoured until they expire (revive drops them from `refusals`).
        for f in refusals {
            if f.framework == o.framework && f.agent == o.agent && f.role == o.role && now < f.until
            {
                prop_assert!(
                    !f.resources.contains(&o.resources),
                    "{} offered {} on {} while filtered",
                    o.framework,
                    o.resources,
                    o.agent
                );
            }
        }
    }
    // 6. Role d never holds more unreserved cpus than its limit.
    if let Some(cap) = s.limit_on_d {
        for i in 0..s.agents.len() {
            let agent = AgentId::new(format!("a{i}"));
            for f in 0..s.frameworks.len() {
                let held = a
                    .allocated(&FrameworkId::new(format!("f{f}")), &agent)
                    .unwrap();
                let d_cpus = held
                    .allocated_to("d")
                    .unreserved()
                    .cpus()
                    .unwrap_or(Scalar::ZERO);
                *role_unreserved_cpus.entry("d".into()).or_default() += d_cpus;
            }
        }
        let held = role_unreserved_cpus
            .get("d")
            .copied()
            .unwrap_or(Scalar::ZERO);
        prop_assert!(
            held <= Scalar::from_units(cap.into()),
            "role d holds {} cpus over its limit {}",
            held,
            cap
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invariants_hold_over_random_event_sequences(s in setup(), events in prop::collection::vec(event(), 1..40)) {
        run(&s, &events)?;
    }

    #[test]
    fn the_same_events_and_seed_give_the_same_offers(s in setup(), events in prop::collection::vec(event(), 1..30)) {
        let first = run(&s, &events)?;
        let second = run(&s, &events)?;
        prop_assert_eq!(first, second);
    }

    #[test]
    fn a_role_below_its_guarantee_is_served_first(agents in 1usize..8, greedy in 1usize..4, guarantee in 1u32..6, seed in any::<u64>()) {
        // Splittable agents, several greedy frameworks in other roles, one quota role.
        let mut a = Allocator::new(AllocatorOptions { seed, ..Default::default() }).unwrap();
        for i in 0..agents {
            let total = parse_flag_text("cpus:2;mem:1024", "*").unwrap();
            a.add_agent(AgentId::new(format!("a{i}")), AgentConfig { total, ..Default::default() }, &[]).unwrap();
        }
        for g in 0..greedy {
            let config = FrameworkConfig { roles: vec![format!("greedy{g}")], ..Default::default() };
            a.add_framework(FrameworkId::new(format!("g{g}")), config, &[], true).unwrap();
        }
        let config = FrameworkConfig { roles: vec!["q".into()], ..Default::default() };
        a.add_framework(FrameworkId::new("q"), config, &[], true).unwrap();
        let guarantees = Quantities::parse(&format!("cpus:{guarantee}")).unwrap();
        a.update_quota("q", Quota { guarantees, limits: Limits::none() }).unwrap();
        let offers = a.allocate(Duration::ZERO).offers;
        let q_cpus = offers
            .iter()
            .filter(|o| o.role == "q")
            .filter_map(|o| o.resources.cpus())
            .fold(Scalar::ZERO, |x, y| x + y);
        let cluster = Scalar::from_units(2 * i64::try_from(agents).unwrap());
        let expected = Scalar::from_units(guarantee.into()).min(cluster);
        prop_assert!(q_cpus >= expected, "quota role got {} cpus, guarantee {} of {}", q_cpus, guarantee, cluster);
    }
}
