//! Scenario generators shared by the benchmarks, so every figure in `benches/README.md` comes
//! from a named, reproducible input.

use mesos_core::resources::{Reservation, Resource, Resources};
use mesos_core::values::{Range, Ranges};

/// The roles used by the scenarios: `role0` .. `role{n-1}`.
pub fn role_name(i: usize) -> String {
    format!("role{i}")
}

/// A port set of `fragments` disjoint ranges of five ports each, starting at 31000 with gaps of
/// five, the shape an agent's ports take after many tasks came and went.
pub fn fragmented_ports(fragments: u64) -> Ranges {
    Ranges::from_ranges_coalescing(
        (0..fragments).map(|i| Range::new(31000 + i * 10, 31000 + i * 10 + 4)),
    )
    .expect("generated ranges are valid")
}

/// An agent with unreserved cpus, mem and disk, the same amounts statically reserved to each of
/// `roles` roles, and a ports resource of `port_fragments` fragments.
pub fn agent_with_reservations(roles: usize, port_fragments: u64) -> Resources {
    let mut total = Resources::new();
    total += &Resource::scalar("cpus", 16.0);
    total += &Resource::scalar("mem", 65536.0);
    total += &Resource::scalar("disk", 1_000_000.0);
    total += &Resource::new(
        "ports",
        mesos_core::resources::ResourceValue::Ranges(fragmented_ports(port_fragments)),
    );
    for i in 0..roles {
        let role = role_name(i);
        for (name, amount) in [("cpus", 4.0), ("mem", 8192.0), ("disk", 100_000.0)] {
            total += &Resource::scalar(name, amount).reserved_to(Reservation::static_to(&role));
        }
    }
    total
}

/// `count` task-sized resources (0.1 cpus, 32 MB, one port), spread over `roles` roles
/// (task `i` uses `role{i % roles}`'s reservation, or unreserved resources when `roles` is 0).
pub fn task_resources(count: usize, roles: usize) -> Vec<Resources> {
    (0..count)
        .map(|i| {
            let port = 31000 + (i as u64 % 100) * 10 + (i as u64 / 100) % 5;
            let reserve = |r: Resource| {
                if roles == 0 {
                    r
                } else {
                    r.reserved_to(Reservation::static_to(role_name(i % roles)))
                }
            };
            let mut task = Resources::new();
            task += &reserve(Resource::scalar("cpus", 0.1));
            task += &reserve(Resource::scalar("mem", 32.0));
            task += &Resource::range("ports", port, port);
            task
        })
        .collect()
}

/// Cluster shapes of Mesos's allocator benchmarks (`hierarchical_allocator_tests.cpp`).
pub mod allocator {
    use std::time::Duration;

    use mesos_allocator::quantities::Quantities;
    use mesos_allocator::{AgentConfig, Allocator, AllocatorOptions, FrameworkConfig, Offer};
    use mesos_core::ids::{AgentId, FrameworkId};
    use mesos_core::resources::{Resources, parse_flag_text};

    /// Mesos's `refuse_seconds = INT_MAX` filter.
    pub const REFUSE_FOREVER: Duration = Duration::from_secs(i32::MAX as u64);

    /// 16 disjoint single-port ranges starting at `base`, as Mesos's benchmark tasks use.
    fn port_ranges(base: u64) -> String {
        let list: Vec<String> = (0..16)
            .map(|i| format!("{}-{}", base + i * 2, base + i * 2))
            .collect();
        format!("[{}]", list.join(","))
    }

    /// How a scenario names its frameworks and agents.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum IdStyle {
        /// `framework7`, `agent42`, as Mesos's own benchmarks name them: short enough to be
        /// kept inline in the id.
        Short,
        /// What a Mesos master assigns: `<master uuid>-0007` and `<master uuid>-S42`. Too long
        /// to be kept inline, so each copy into an offer shares the text.
        Mesos,
    }

    impl IdStyle {
        /// The master id a [`IdStyle::Mesos`] id starts with.
        const MASTER: &'static str = "9d4b5c1e-8f2a-4e6b-a3c7-5f1d2e8b9a04";

        /// The id of framework `i`.
        pub fn framework(self, i: usize) -> FrameworkId {
            match self {
                IdStyle::Short => FrameworkId::new(format!("framework{i}")),
                IdStyle::Mesos => FrameworkId::new(format!("{}-{i:04}", Self::MASTER)),
            }
        }

        /// The id of agent `i`.
        pub fn agent(self, i: usize) -> AgentId {
            match self {
                IdStyle::Short => AgentId::new(format!("agent{i}")),
                IdStyle::Mesos => AgentId::new(format!("{}-S{i}", Self::MASTER)),
            }
        }
    }

    /// A DeclineOffers cluster: `agents` agents of `cpus:24;mem:4096;disk:4096;ports:[31000-32000]`,
    /// `frameworks` frameworks in role `*`, and on each agent a used slice of
    /// `cpus:16;mem:2014;disk:1024` plus 16 ports held by one framework (round robin).
    pub fn decline_offers_cluster(agents: usize, frameworks: usize) -> Allocator {
        decline_offers_cluster_named(agents, frameworks, IdStyle::Short)
    }

    /// [`decline_offers_cluster`] with ids in the given style.
    pub fn decline_offers_cluster_named(
        agents: usize,
        frameworks: usize,
        ids: IdStyle,
    ) -> Allocator {
        let mut a = Allocator::new(AllocatorOptions::default()).expect("default options");
        let framework_ids: Vec<FrameworkId> = (0..frameworks).map(|i| ids.framework(i)).collect();
        for id in &framework_ids {
            let config = FrameworkConfig {
                roles: vec!["*".into()],
                ..Default::default()
            };
            a.add_framework(id.clone(), config, &[], true)
                .expect("new framework");
        }
        let (total, used) = decline_offers_agent();
        let used = used.allocate("*");
        for i in 0..agents {
            let holder = framework_ids[i % frameworks].clone();
            a.add_agent(
                ids.agent(i),
                AgentConfig {
                    total: total.clone(),
                    ..Default::default()
                },
                &[(holder, used.clone())],
            )
            .expect("new agent");
        }
        a
    }

    /// Declines every offer with an infinite filter.
    pub fn decline_all(a: &mut Allocator, offers: &[Offer], now: Duration) {
        recover_all(a, offers, Some(REFUSE_FOREVER), now);
    }

    /// Gives every offer back, filtered for `refuse` when given.
    pub fn recover_all(
        a: &mut Allocator,
        offers: &[Offer],
        refuse: Option<Duration>,
        now: Duration,
    ) {
        for o in offers {
            a.recover_offered(&o.framework, &o.agent, &o.role, &o.resources, refuse, now)
                .expect("offered resources are allocated");
        }
    }

    /// A DeclineOffers agent's total and the slice of it one framework uses.
    fn decline_offers_agent() -> (Resources, Resources) {
        let total =
            parse_flag_text("cpus:24;mem:4096;disk:4096;ports:[31000-32000]", "*").expect("valid");
        let used = parse_flag_text(
            &format!("cpus:16;mem:2014;disk:1024;ports:{}", port_ranges(31000)),
            "*",
        )
        .expect("valid");
        (total, used)
    }

    /// The free part of a DeclineOffers agent, for the floor computation.
    pub fn decline_offers_free() -> Resources {
        let (total, used) = decline_offers_agent();
        &total - &used
    }

    /// The scalar total of a DeclineOffers cluster of `agents` agents: what shares are
    /// measured against.
    pub fn decline_offers_total(agents: usize) -> Quantities {
        let agent = Quantities::of(&decline_offers_agent().0);
        let mut total = Quantities::new();
        for _ in 0..agents {
            total.add(&agent);
        }
        total
    }

    /// LargeAndSmallQuota: `small` roles with quota `cpus:1;mem:1024;disk:1024` and `large`
    /// roles with `cpus:4;mem:4096;disk:4096` (guarantee = limit, as Mesos's legacy quota call
    /// sets), one framework each, on `small / 5 + large * 5` agents of `cpus:2;mem:2048;disk:2048`.
    pub fn large_and_small_quota_cluster(small: usize, large: usize) -> Allocator {
        use mesos_allocator::Quota;
        use mesos_allocator::quantities::{Limits, Quantities};
        let mut a = Allocator::new(AllocatorOptions::default()).expect("default options");
        let total = parse_flag_text("cpus:2;mem:2048;disk:2048", "*").expect("valid");
        for i in 0..small / 5 + large * 5 {
            a.add_agent(
                AgentId::new(format!("agent{i}")),
                AgentConfig {
                    total: total.clone(),
                    ..Default::default()
                },
                &[],
            )
            .expect("new agent");
        }
        let roles = (0..small)
            .map(|i| (format!("smallQuotaRole{i}"), "cpus:1;mem:1024;disk:1024"))
            .chain((0..large).map(|i| (format!("largeQuotaRole{i}"), "cpus:4;mem:4096;disk:4096")));
        for (role, quota) in roles {
            let config = FrameworkConfig {
                roles: vec![role.clone()],
                ..Default::default()
            };
            a.add_framework(FrameworkId::new(format!("fw-{role}")), config, &[], true)
                .expect("new framework");
            let q = Quantities::parse(quota).expect("valid");
            let limits = Limits::from_caps(q.iter().map(|(n, v)| (n.to_string(), v)));
            a.update_quota(
                &role,
                Quota {
                    guarantees: q,
                    limits,
                },
            )
            .expect("valid role");
        }
        a
    }

    /// One agent carrying, for each of `roles` roles, `cpus:100;mem:100;disk:100;ports:[2-2]`
    /// dynamically reserved with a unique label (so nothing merges), all in use by one framework
    /// per role. Returns the allocator and, for the first role, its framework, the agent and the
    /// reserved resources as allocated.
    pub fn update_allocation_cluster(roles: usize) -> (Allocator, FrameworkId, AgentId, Resources) {
        use mesos_core::resources::{Label, Reservation, ReservationKind};
        let mut a = Allocator::new(AllocatorOptions::default()).expect("default options");
        let agent = AgentId::new("agent0");
        let mut total = Resources::new();
        let mut used = Vec::new();
        for i in 0..roles {
            let role = format!("role-{i:036}");
            let reservation = Reservation {
                kind: ReservationKind::Dynamic,
                role: role.clone(),
                principal: None,
                labels: vec![Label {
                    key: "Label".into(),
                    value: Some(format!("{i:036x}")),
                }],
            };
            let mut mine = Resources::new();
            for r in parse_flag_text("cpus:100;mem:100;disk:100;ports:[2-2]", "*")
                .expect("valid")
                .iter()
            {
                mine += &r.clone().reserved_to(reservation.clone());
            }
            total += &mine;
            let id = FrameworkId::new(format!("framework{i}"));
            let config = FrameworkConfig {
                roles: vec![role.clone()],
                ..Default::default()
            };
            a.add_framework(id.clone(), config, &[], true)
                .expect("new framework");
            used.push((id, mine.allocate(&role)));
        }
        a.add_agent(
            agent.clone(),
            AgentConfig {
                total,
                ..Default::default()
            },
            &used,
        )
        .expect("new agent");
        let (framework, reserved) = used.swap_remove(0);
        (a, framework, agent, reserved)
    }
}
