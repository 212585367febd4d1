//! Allocation scenarios with Mesos's expected outcomes, one behaviour each.

use std::time::Duration;

use mesos_allocator::quantities::{Limits, Quantities};
use mesos_allocator::{
    AgentConfig, Allocator, AllocatorOptions, FrameworkCapabilities, FrameworkConfig, Offer, Quota,
};
use mesos_core::ids::{AgentId, FrameworkId};
use mesos_core::resources::{Resources, parse_flag_text};
use mesos_core::values::Scalar;

fn res(text: &str) -> Resources {
    parse_flag_text(text, "*").unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn allocator() -> Allocator {
    Allocator::new(AllocatorOptions::default()).unwrap()
}

fn agent(a: &mut Allocator, id: &str, total: &str) {
    agent_with(
        a,
        id,
        AgentConfig {
            total: res(total),
            ..Default::default()
        },
    );
}

fn agent_with(a: &mut Allocator, id: &str, config: AgentConfig) {
    a.add_agent(AgentId::new(id), config, &[]).unwrap();
}

fn framework(a: &mut Allocator, id: &str, roles: &[&str]) {
    framework_with(a, id, roles, FrameworkCapabilities::default());
}

fn framework_with(
    a: &mut Allocator,
    id: &str,
    roles: &[&str],
    capabilities: FrameworkCapabilities,
) {
    let config = FrameworkConfig {
        roles: roles.iter().map(|r| r.to_string()).collect(),
        capabilities,
        ..Default::default()
    };
    a.add_framework(FrameworkId::new(id), config, &[], true)
        .unwrap();
}

/// `framework@agent(role): resources` lines, sorted, for readable assertions.
fn describe(offers: &[Offer]) -> Vec<String> {
    let mut out: Vec<String> = offers
        .iter()
        .map(|o| {
            format!(
                "{}@{}({}): {}",
                o.framework,
                o.agent,
                o.role,
                canonical(&o.resources)
            )
        })
        .collect();
    out.sort();
    out
}

/// Resources as text with entries in sorted order (a bag's entry order is not meaningful).
fn canonical(resources: &Resources) -> String {
    let text = resources.unallocate().to_string();
    let mut parts: Vec<&str> = text.split("; ").collect();
    parts.sort();
    parts.join("; ")
}

fn decline_all(a: &mut Allocator, offers: &[Offer], refuse: Option<Duration>, now: Duration) {
    for o in offers {
        a.recover_offered(&o.framework, &o.agent, &o.role, &o.resources, refuse, now)
            .unwrap();
    }
}

#[test]
fn a_lone_framework_is_offered_the_whole_agent_for_its_role() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:4;mem:1024;ports:[31000-32000]");
    framework(&mut a, "f1", &["web"]);
    let offers = a.allocate(secs(0)).offers;
    assert_eq!(
        describe(&offers),
        ["f1@a1(web): cpus:4; mem:1024; ports:[31000-32000]"]
    );
    // The role is the offer's; the resources do not carry it, `allocated` does.
    assert!(
        offers[0]
            .resources
            .iter()
            .all(|r| r.allocation_role.is_none())
    );
    let held = a
        .allocated(&FrameworkId::new("f1"), &AgentId::new("a1"))
        .unwrap();
    assert_eq!(held, offers[0].resources.allocate("web"));
    // Everything is out on offer now.
    assert!(a.allocate(secs(1)).offers.is_empty());
    assert!(a.available(&AgentId::new("a1")).unwrap().is_empty());
}

#[test]
fn drf_gives_the_next_agent_to_the_role_with_the_lowest_share() {
    let mut a = allocator();
    framework(&mut a, "f1", &["r1"]);
    framework(&mut a, "f2", &["r2"]);
    agent(&mut a, "a1", "cpus:2;mem:1024");
    agent(&mut a, "a2", "cpus:2;mem:1024");
    let offers = a.allocate(secs(0)).offers;
    assert_eq!(offers.len(), 2);
    assert_ne!(
        offers[0].framework, offers[1].framework,
        "each role gets one agent"
    );
}

/// While one role is listed, its allocations reach the role sorter only when the cycle ends:
/// a role that joins later must still find them there.
#[test]
fn a_role_joining_later_sees_the_allocations_made_while_another_was_alone() {
    let mut a = allocator();
    framework(&mut a, "fa", &["a"]);
    agent(&mut a, "a1", "cpus:2;mem:1024");
    agent(&mut a, "a2", "cpus:2;mem:1024");
    let offers = a.allocate(secs(0)).offers;
    assert_eq!(offers.len(), 2, "the lone role is offered both agents");
    let a2 = offers
        .iter()
        .find(|o| o.agent == AgentId::new("a2"))
        .unwrap();
    decline_all(&mut a, std::slice::from_ref(a2), None, secs(0));
    framework(&mut a, "fb", &["b"]);
    // Role a holds half the cluster, role b nothing: b goes first (had a's allocations been
    // lost, the tie would go to a by name).
    assert_eq!(
        describe(&a.allocate(secs(1)).offers),
        ["fb@a2(b): cpus:2; mem:1024"]
    );
}

#[test]
fn weights_scale_fair_shares() {
    let mut a = allocator();
    framework(&mut a, "heavy", &["heavy"]);
    framework(&mut a, "light", &["light"]);
    a.update_weights(&[("heavy".into(), 3.0)]).unwrap();
    for i in 0..8 {
        agent(&mut a, &format!("a{i}"), "cpus:1;mem:128");
    }
    let offers = a.allocate(secs(0)).offers;
    let heavy = offers
        .iter()
        .filter(|o| o.framework.as_str() == "heavy")
        .count();
    assert_eq!(
        heavy,
        6,
        "3:1 weights split 8 agents 6:2: {:?}",
        describe(&offers)
    );
}

#[test]
fn reservations_go_only_to_their_role_and_its_subroles() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus(eng):2;mem(eng):256;cpus:1;mem:128");
    framework(&mut a, "ops", &["ops"]);
    let offers = a.allocate(secs(0)).offers;
    assert_eq!(describe(&offers), ["ops@a1(ops): cpus:1; mem:128"]);
    framework(&mut a, "ml", &["eng/ml"]);
    let offers = a.allocate(secs(1)).offers;
    assert_eq!(
        describe(&offers),
        [
            "ml@a1(eng/ml): cpus(reservations: [(STATIC,eng)]):2; mem(reservations: [(STATIC,eng)]):256"
        ]
    );
}

#[test]
fn declined_resources_are_filtered_until_the_filter_expires() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:1;mem:128");
    framework(&mut a, "f1", &["r"]);
    let offers = a.allocate(secs(0)).offers;
    decline_all(&mut a, &offers, Some(secs(5)), secs(0));
    assert!(a.allocate(secs(1)).offers.is_empty(), "filtered for 5 s");
    assert!(a.allocate(secs(4)).offers.is_empty());
    assert_eq!(a.allocate(secs(5)).offers.len(), 1, "filter expired");
}

#[test]
fn declining_one_role_of_a_multi_role_framework_leaves_its_other_role_held() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus(x):1;mem(x):64;cpus(y):2;mem(y):128");
    framework(&mut a, "f1", &["x", "y"]);
    let (f1, a1) = (FrameworkId::new("f1"), AgentId::new("a1"));
    let offers = a.allocate(secs(0)).offers;
    assert_eq!(offers.len(), 2, "{}", describe(&offers).join(", "));
    let x = offers.iter().find(|o| o.role == "x").unwrap();
    let y = offers.iter().find(|o| o.role == "y").unwrap();
    // y's resources are not held under x: refused, and nothing changes.
    let err = a
        .recover_offered(&f1, &a1, "x", &y.resources, None, secs(0))
        .unwrap_err();
    assert!(err.to_string().contains("not allocated"), "{err}");
    let both = &x.resources.allocate("x") + &y.resources.allocate("y");
    assert_eq!(a.allocated(&f1, &a1).unwrap(), both);
    // Declining y gives back y's part only.
    a.recover_offered(&f1, &a1, "y", &y.resources, Some(secs(60)), secs(0))
        .unwrap();
    assert_eq!(a.allocated(&f1, &a1).unwrap(), x.resources.allocate("x"));
    assert_eq!(a.available(&a1).unwrap(), &y.resources);
    // Declining it twice is an error that changes nothing.
    assert!(
        a.recover_offered(&f1, &a1, "y", &y.resources, None, secs(0))
            .is_err()
    );
    assert_eq!(a.allocated(&f1, &a1).unwrap(), x.resources.allocate("x"));
    // Resources that carry a role are recovered from that role, whatever the fallback.
    a.recover_offered(&f1, &a1, "y", &x.resources.allocate("x"), None, secs(0))
        .unwrap();
    assert!(a.allocated(&f1, &a1).unwrap().is_empty());
    // y's filter holds; x is offered again.
    assert_eq!(
        describe(&a.allocate(secs(1)).offers),
        ["f1@a1(x): cpus(reservations: [(STATIC,x)]):1; mem(reservations: [(STATIC,x)]):64"]
    );
}

/// Two tasks of one framework share a volume: the allocator holds it twice, and each task's
/// end gives back one copy (Mesos counts shared resources per user).
#[test]
fn a_shared_volume_used_by_two_tasks_is_given_back_by_each() {
    use mesos_core::resources::{Reservation, Resource};
    let mut a = allocator();
    framework(&mut a, "f1", &["r"]);
    let mut volume = Resource::scalar("disk", 64.0);
    volume.reservations.push(Reservation::dynamic_to("r", None));
    volume.shared = true;
    let volume = Resources::from(volume);
    let total = &res("cpus:2;mem:256") + &volume;
    let task = (&res("cpus:1;mem:128") + &volume).allocate("r");
    let both = &task + &task;
    assert_eq!(
        both.shared_count(both.iter().find(|r| r.shared).unwrap()),
        2
    );
    let (f1, a1) = (FrameworkId::new("f1"), AgentId::new("a1"));
    a.add_agent(
        a1.clone(),
        AgentConfig {
            total: total.clone(),
            ..Default::default()
        },
        &[(f1.clone(), both.clone())],
    )
    .unwrap();
    assert_eq!(a.allocated(&f1, &a1).unwrap(), both);
    a.recover_resources(&f1, &a1, &task, None, secs(0)).unwrap();
    assert_eq!(a.allocated(&f1, &a1).unwrap(), task);
    a.recover_resources(&f1, &a1, &task, None, secs(0)).unwrap();
    assert!(a.allocated(&f1, &a1).unwrap().is_empty());
    assert_eq!(a.available(&a1).unwrap(), &total);
    // Offered (to a framework that takes shared resources) and declined: the volume is
    // still there once.
    framework_with(
        &mut a,
        "f2",
        &["r"],
        FrameworkCapabilities {
            shared_resources: true,
            ..Default::default()
        },
    );
    let offers = a.allocate(secs(1)).offers;
    assert_eq!(offers.len(), 1);
    assert!(offers[0].resources.contains(&volume), "{:?}", offers[0]);
    decline_all(&mut a, &offers, None, secs(1));
    assert_eq!(a.available(&a1).unwrap(), &total);
}

#[test]
fn a_filter_passes_offers_larger_than_what_was_declined() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:2;mem:256");
    framework(&mut a, "f1", &["r"]);
    let offers = a.allocate(secs(0)).offers;
    // Decline half, keep half; then give the kept half back without a filter.
    let half = res("cpus:1;mem:128").allocate("r");
    a.recover_resources(
        &FrameworkId::new("f1"),
        &AgentId::new("a1"),
        &half,
        Some(secs(60)),
        secs(0),
    )
    .unwrap();
    assert!(a.allocate(secs(1)).offers.is_empty());
    let rest = &offers[0].resources.allocate("r") - &half;
    a.recover_resources(
        &FrameworkId::new("f1"),
        &AgentId::new("a1"),
        &rest,
        None,
        secs(1),
    )
    .unwrap();
    assert_eq!(
        describe(&a.allocate(secs(2)).offers),
        ["f1@a1(r): cpus:2; mem:256"]
    );
}

#[test]
fn the_next_framework_gets_what_another_declined() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:1;mem:128");
    framework(&mut a, "f1", &["r"]);
    framework(&mut a, "f2", &["r"]);
    let first = a.allocate(secs(0)).offers;
    decline_all(&mut a, &first, Some(secs(100)), secs(0));
    let second = a.allocate(secs(1)).offers;
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].framework, first[0].framework);
}

#[test]
fn suppress_stops_offers_and_revive_resumes_them_and_clears_filters() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:1;mem:128");
    framework(&mut a, "f1", &["r"]);
    let f1 = FrameworkId::new("f1");
    let offers = a.allocate(secs(0)).offers;
    decline_all(&mut a, &offers, Some(secs(1000)), secs(0));
    a.suppress(&f1, &[]).unwrap();
    assert!(a.allocate(secs(2000)).offers.is_empty(), "suppressed");
    a.revive(&f1, &[]).unwrap();
    assert_eq!(a.allocate(secs(2001)).offers.len(), 1);
    // Revive also clears a filter that has not expired.
    let offers = a.allocate(secs(2002)).offers;
    assert!(offers.is_empty());
}

/// 64 agents, each declined by two frameworks: `keeper` for 1000 s, `churner` for
/// `churner_refuse` seconds (two cycles, at 0 and 1 s).
fn keeper_and_churner(churner_refuse: u64) -> Allocator {
    let mut a = allocator();
    for i in 0..64 {
        agent(&mut a, &format!("a{i}"), "cpus:1;mem:128");
    }
    framework(&mut a, "keeper", &["r"]);
    framework(&mut a, "churner", &["r"]);
    for round in 0..2 {
        let offers = a.allocate(secs(round)).offers;
        assert_eq!(
            offers.len(),
            64,
            "round {round}: every agent not yet declined by both"
        );
        for o in &offers {
            let refuse = if o.framework.as_str() == "keeper" {
                1000
            } else {
                churner_refuse
            };
            a.recover_offered(
                &o.framework,
                &o.agent,
                &o.role,
                &o.resources,
                Some(secs(refuse)),
                secs(round),
            )
            .unwrap();
        }
    }
    assert_eq!(a.filter_count(), 128);
    a
}

/// Whether every offer goes to the churner, every agent offered.
fn all_to_the_churner(offers: &[Offer]) -> bool {
    offers.len() == 64 && offers.iter().all(|o| o.framework.as_str() == "churner")
}

// Dropping as many filters as there are agents (at least 64) makes the allocator rebuild the
// per-agent summaries it checks before a framework's filters; the filters left must hold, whether
// the others went by revive, by expiry, or with their framework.

#[test]
fn filters_survive_when_many_others_are_revived_away() {
    let mut a = keeper_and_churner(1000);
    assert!(
        a.allocate(secs(2)).offers.is_empty(),
        "both filtered everywhere"
    );
    a.revive(&FrameworkId::new("churner"), &[]).unwrap();
    assert_eq!(a.filter_count(), 64);
    let offers = a.allocate(secs(3)).offers;
    assert!(all_to_the_churner(&offers), "{:?}", describe(&offers));
}

#[test]
fn filters_survive_when_many_others_expire() {
    let mut a = keeper_and_churner(10);
    let offers = a.allocate(secs(20)).offers;
    assert_eq!(a.filter_count(), 64);
    assert!(all_to_the_churner(&offers), "{:?}", describe(&offers));
}

#[test]
fn filters_survive_when_many_others_go_with_their_framework() {
    let mut a = keeper_and_churner(1000);
    a.remove_framework(&FrameworkId::new("churner")).unwrap();
    assert_eq!(a.filter_count(), 64);
    let offers = a.allocate(secs(3)).offers;
    assert!(offers.is_empty(), "{:?}", describe(&offers));
}

#[test]
fn revive_clears_unexpired_filters() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:1;mem:128");
    framework(&mut a, "f1", &["r"]);
    let offers = a.allocate(secs(0)).offers;
    decline_all(&mut a, &offers, Some(secs(1000)), secs(0));
    assert!(a.allocate(secs(1)).offers.is_empty());
    a.revive(&FrameworkId::new("f1"), &["r".into()]).unwrap();
    assert_eq!(a.allocate(secs(2)).offers.len(), 1);
}

#[test]
fn filters_go_with_their_agent_or_framework_and_revive_drops_only_its_own_roles() {
    let mut a = allocator();
    for name in ["a1", "a2"] {
        agent(&mut a, name, "cpus:1;mem:128");
    }
    framework(&mut a, "f1", &["r", "s"]);
    framework(&mut a, "f2", &["r"]);
    let mut now = secs(0);
    // Every agent declined by every framework, for every role it offers.
    for _ in 0..6 {
        let offers = a.allocate(now).offers;
        decline_all(&mut a, &offers, Some(secs(1000)), now);
        now += secs(1);
    }
    assert!(a.allocate(now).offers.is_empty());
    assert_eq!(
        a.filter_count(),
        6,
        "f1 for r and s, f2 for r, on each agent"
    );
    a.remove_agent(&AgentId::new("a2")).unwrap();
    assert_eq!(a.filter_count(), 3);
    a.revive(&FrameworkId::new("f1"), &["s".into()]).unwrap();
    assert_eq!(
        a.filter_count(),
        2,
        "f1's filter for s is gone, not the one for r"
    );
    assert_eq!(
        describe(&a.allocate(now + secs(1)).offers),
        vec!["f1@a1(s): cpus:1; mem:128".to_string()]
    );
    a.remove_framework(&FrameworkId::new("f2")).unwrap();
    assert_eq!(a.filter_count(), 1);
}

#[test]
fn recovering_nothing_with_a_refusal_files_no_filter() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:1;mem:128");
    framework(&mut a, "f1", &["r"]);
    let (f1, a1) = (FrameworkId::new("f1"), AgentId::new("a1"));
    a.recover_resources(&f1, &a1, &Resources::new(), Some(secs(100)), secs(0))
        .unwrap();
    // Debug builds also check that no framework counts an agent where it holds no filter.
    assert_eq!(a.filter_count(), 0);
    assert_eq!(a.allocate(secs(1)).offers.len(), 1);
}

#[test]
fn filters_on_different_agents_expire_each_at_its_own_time() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:1;mem:128");
    agent(&mut a, "a2", "cpus:1;mem:128");
    framework(&mut a, "f1", &["r"]);
    let offers = a.allocate(secs(0)).offers;
    assert_eq!(offers.len(), 2);
    for o in &offers {
        let refuse = if o.agent == AgentId::new("a1") {
            10
        } else {
            20
        };
        a.recover_offered(
            &o.framework,
            &o.agent,
            &o.role,
            &o.resources,
            Some(secs(refuse)),
            secs(0),
        )
        .unwrap();
    }
    assert!(a.allocate(secs(5)).offers.is_empty());
    let at_10 = a.allocate(secs(10)).offers;
    assert_eq!(
        describe(&at_10),
        vec!["f1@a1(r): cpus:1; mem:128".to_string()]
    );
    assert_eq!(a.filter_count(), 1, "a2's filter is still due");
    assert!(
        a.allocate(secs(15)).offers.is_empty(),
        "a1 is offered, a2 still refused"
    );
    assert_eq!(
        describe(&a.allocate(secs(20)).offers),
        vec!["f1@a2(r): cpus:1; mem:128".to_string()]
    );
    assert_eq!(a.filter_count(), 0);
}

#[test]
fn leftovers_below_min_allocatable_are_not_offered() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:0.005;mem:16;disk:100");
    framework(&mut a, "f1", &["r"]);
    assert!(
        a.allocate(secs(0)).offers.is_empty(),
        "neither cpus:0.01 nor mem:32 is there"
    );
    agent(&mut a, "a2", "cpus:0.005;mem:32");
    assert_eq!(a.allocate(secs(1)).offers.len(), 1);
}

/// Framework `picky` in `roles`, with a minimum offer of its own for role `big`: cpus:4.
fn picky_framework(a: &mut Allocator, roles: &[&str]) {
    let config = FrameworkConfig {
        roles: roles.iter().map(|r| r.to_string()).collect(),
        min_allocatable: [(
            "big".to_string(),
            vec![Quantities::parse("cpus:4").unwrap()],
        )]
        .into(),
        ..Default::default()
    };
    a.add_framework(FrameworkId::new("picky"), config, &[], true)
        .unwrap();
}

/// A framework's own minimum for a role (its `offer_filters`) replaces the default one there,
/// and only there.
#[test]
fn a_framework_minimum_replaces_the_default_for_its_role_only() {
    let mut a = allocator();
    agent(&mut a, "small", "cpus:2;mem:1024");
    agent(&mut a, "tiny", "cpus:0.005;mem:16");
    picky_framework(&mut a, &["big", "other"]);
    // Both roles have nothing yet: big comes first (ties go by name), so small is checked
    // against big's minimum before other takes it.
    let offers = a.allocate(secs(0)).offers;
    assert_eq!(
        describe(&offers),
        ["picky@small(other): cpus:2; mem:1024"],
        "small is below role big's own minimum and meets the default one; tiny meets neither"
    );
    agent(&mut a, "large", "cpus:8;mem:1024");
    let offers = a.allocate(secs(1)).offers;
    assert_eq!(describe(&offers), ["picky@large(big): cpus:8; mem:1024"]);
}

/// The same with one role, where the cycle decides whole agents before its general visits.
#[test]
fn a_framework_minimum_holds_for_a_lone_role() {
    let mut a = allocator();
    agent(&mut a, "small", "cpus:2;mem:1024");
    picky_framework(&mut a, &["big"]);
    // Two cycles: the first lists the role as it settles the sorters, the second takes the
    // whole-agent shortcut.
    for t in 0..2 {
        let offers = a.allocate(secs(t)).offers;
        assert!(offers.is_empty(), "cycle {t}: {:?}", describe(&offers));
    }
    agent(&mut a, "large", "cpus:8;mem:1024");
    assert_eq!(
        describe(&a.allocate(secs(2)).offers),
        ["picky@large(big): cpus:8; mem:1024"]
    );
}

#[test]
fn gpu_agents_are_kept_for_gpu_capable_frameworks() {
    let mut a = allocator();
    agent(&mut a, "gpu", "cpus:4;mem:1024;gpus:1");
    framework(&mut a, "plain", &["r"]);
    assert!(a.allocate(secs(0)).offers.is_empty());
    let caps = FrameworkCapabilities {
        gpu_resources: true,
        ..Default::default()
    };
    framework_with(&mut a, "ml", &["r"], caps);
    assert_eq!(
        describe(&a.allocate(secs(1)).offers),
        ["ml@gpu(r): cpus:4; gpus:1; mem:1024"]
    );
}

#[test]
fn agents_in_other_regions_are_kept_for_region_aware_frameworks() {
    let mut a = allocator();
    agent_with(
        &mut a,
        "far",
        AgentConfig {
            total: res("cpus:4;mem:1024"),
            remote_region: Some("eu-west".into()),
            ..Default::default()
        },
    );
    agent(&mut a, "near", "cpus:2;mem:512");
    framework(&mut a, "local", &["r"]);
    assert_eq!(
        describe(&a.allocate(secs(0)).offers),
        ["local@near(r): cpus:2; mem:512"]
    );
    let caps = FrameworkCapabilities {
        region_aware: true,
        ..Default::default()
    };
    framework_with(&mut a, "global", &["r"], caps);
    assert_eq!(
        describe(&a.allocate(secs(1)).offers),
        ["global@far(r): cpus:4; mem:1024"]
    );
}

#[test]
fn revocable_resources_only_go_to_capable_frameworks() {
    let mut a = allocator();
    let mut total = res("cpus:1;mem:128");
    let mut extra = mesos_core::resources::Resource::scalar("cpus", 3.0);
    extra.revocable = true;
    total += &extra;
    agent_with(
        &mut a,
        "a1",
        AgentConfig {
            total,
            ..Default::default()
        },
    );
    framework(&mut a, "plain", &["r"]);
    let offers = a.allocate(secs(0)).offers;
    assert_eq!(describe(&offers), ["plain@a1(r): cpus:1; mem:128"]);
    let caps = FrameworkCapabilities {
        revocable_resources: true,
        ..Default::default()
    };
    framework_with(&mut a, "oversub", &["o"], caps);
    let offers = a.allocate(secs(1)).offers;
    assert_eq!(describe(&offers), ["oversub@a1(o): cpus{REV}:3"]);
}

fn guarantee(a: &mut Allocator, role: &str, guarantees: &str) {
    let quota = Quota {
        guarantees: Quantities::parse(guarantees).unwrap(),
        limits: Limits::none(),
    };
    a.update_quota(role, quota).unwrap();
}

fn offered_cpus(offers: &[Offer]) -> Scalar {
    offers
        .iter()
        .filter_map(|o| o.resources.cpus())
        .fold(Scalar::ZERO, |x, y| x + y)
}

#[test]
fn quota_guarantees_are_served_first_and_headroom_is_held_back() {
    let mut a = allocator();
    framework(&mut a, "greedy", &["greedy"]);
    for i in 0..4 {
        agent(&mut a, &format!("a{i}"), "cpus:1;mem:128");
    }
    guarantee(&mut a, "guaranteed", "cpus:2;mem:256");
    // The quota role has no framework yet: its guarantee is still held back from others.
    let offers = a.allocate(secs(0)).offers;
    let cpus = offered_cpus(&offers);
    assert_eq!(
        cpus,
        Scalar::from_units(2),
        "2 of 4 cpus held back: {:?}",
        describe(&offers)
    );
    framework(&mut a, "q", &["guaranteed"]);
    let offers = a.allocate(secs(1)).offers;
    let cpus = offered_cpus(&offers);
    assert!(offers.iter().all(|o| o.framework.as_str() == "q"));
    assert_eq!(cpus, Scalar::from_units(2));
}

/// A cycle books a lone role's whole-agent offers when it ends rather than one by one; the next
/// cycle's headroom must still count them as allocated.
#[test]
fn headroom_counts_what_a_lone_role_took_in_an_earlier_cycle() {
    let mut a = allocator();
    framework(&mut a, "greedy", &["greedy"]);
    for i in 0..4 {
        agent(&mut a, &format!("a{i}"), "cpus:1;mem:128");
    }
    let first = a.allocate(secs(0)).offers;
    assert_eq!(first.len(), 4, "{:?}", describe(&first));
    // The offers are kept; a guarantee of 2 cpus appears, for a role with no framework yet, and
    // 4 more agents.
    guarantee(&mut a, "guaranteed", "cpus:2;mem:256");
    for i in 4..8 {
        agent(&mut a, &format!("a{i}"), "cpus:1;mem:128");
    }
    // Unallocated: 4 cpus, of which 2 are held back for the guarantee.
    let second = a.allocate(secs(1)).offers;
    assert_eq!(
        offered_cpus(&second),
        Scalar::from_units(2),
        "{:?}",
        describe(&second)
    );
}

#[test]
fn quota_limits_cap_a_role() {
    let mut a = allocator();
    framework(&mut a, "f1", &["capped"]);
    agent(&mut a, "a1", "cpus:8;mem:1024");
    let limits = Limits::from_caps([("cpus".to_string(), Scalar::from_units(3))]);
    a.update_quota(
        "capped",
        Quota {
            guarantees: Quantities::new(),
            limits,
        },
    )
    .unwrap();
    let offers = a.allocate(secs(0)).offers;
    assert_eq!(describe(&offers), ["f1@a1(capped): cpus:3; mem:1024"]);
}

#[test]
fn multi_role_frameworks_get_one_offer_per_role() {
    let mut a = allocator();
    agent(
        &mut a,
        "a1",
        "cpus(r1):1;mem(r1):128;cpus(r2):2;mem(r2):256",
    );
    let caps = FrameworkCapabilities {
        multi_role: true,
        ..Default::default()
    };
    framework_with(&mut a, "f", &["r1", "r2"], caps);
    let offers = a.allocate(secs(0)).offers;
    assert_eq!(
        describe(&offers),
        [
            "f@a1(r1): cpus(reservations: [(STATIC,r1)]):1; mem(reservations: [(STATIC,r1)]):128",
            "f@a1(r2): cpus(reservations: [(STATIC,r2)]):2; mem(reservations: [(STATIC,r2)]):256",
        ]
    );
}

#[test]
fn removing_a_framework_frees_its_resources() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:1;mem:128");
    framework(&mut a, "f1", &["r"]);
    framework(&mut a, "f2", &["r"]);
    let offers = a.allocate(secs(0)).offers;
    let holder = offers[0].framework.clone();
    a.remove_framework(&holder).unwrap();
    let offers = a.allocate(secs(1)).offers;
    assert_eq!(offers.len(), 1);
    assert_ne!(offers[0].framework, holder);
}

#[test]
fn removing_a_framework_after_one_of_its_agents_left() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:1;mem:128");
    agent(&mut a, "a2", "cpus:2;mem:256");
    framework(&mut a, "f1", &["r"]);
    assert_eq!(a.allocate(secs(0)).offers.len(), 2);
    a.remove_agent(&AgentId::new("a1")).unwrap();
    a.remove_framework(&FrameworkId::new("f1")).unwrap();
    framework(&mut a, "f2", &["r"]);
    assert_eq!(
        describe(&a.allocate(secs(1)).offers),
        ["f2@a2(r): cpus:2; mem:256"]
    );
}

#[test]
fn maintenance_sends_inverse_offers_once_to_each_user() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:1;mem:128");
    framework(&mut a, "f1", &["r"]);
    a.allocate(secs(0));
    let window = mesos_allocator::Unavailability {
        start: secs(100),
        duration: Some(secs(60)),
    };
    a.update_unavailability(&AgentId::new("a1"), Some(window))
        .unwrap();
    let inverse = a.allocate(secs(1)).inverse_offers;
    assert_eq!(inverse.len(), 1);
    assert_eq!(inverse[0].framework.as_str(), "f1");
    assert!(a.allocate(secs(2)).inverse_offers.is_empty());
}

#[test]
fn inverse_offers_follow_maintenance_as_it_is_set_cleared_and_its_agent_removed() {
    let mut a = allocator();
    for id in ["a1", "a2", "a3"] {
        agent(&mut a, id, "cpus:1;mem:128");
    }
    framework(&mut a, "f1", &["r"]);
    assert_eq!(a.allocate(secs(0)).offers.len(), 3);
    let window = mesos_allocator::Unavailability {
        start: secs(100),
        duration: None,
    };
    // Set on a3 before a1: inverse offers still come in the order the agents were added.
    for id in ["a3", "a1"] {
        a.update_unavailability(&AgentId::new(id), Some(window))
            .unwrap();
    }
    let agents_of = |inverse: &[mesos_allocator::InverseOffer]| {
        inverse
            .iter()
            .map(|i| i.agent.as_str().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(agents_of(&a.allocate(secs(1)).inverse_offers), ["a1", "a3"]);
    // Cleared and set again: a new window asks again; a removed agent asks no more.
    a.update_unavailability(&AgentId::new("a1"), None).unwrap();
    a.update_unavailability(&AgentId::new("a2"), Some(window))
        .unwrap();
    a.update_unavailability(&AgentId::new("a1"), Some(window))
        .unwrap();
    a.remove_agent(&AgentId::new("a3")).unwrap();
    assert_eq!(agents_of(&a.allocate(secs(2)).inverse_offers), ["a1", "a2"]);
    a.update_unavailability(&AgentId::new("a1"), None).unwrap();
    a.update_unavailability(&AgentId::new("a2"), None).unwrap();
    a.update_unavailability(&AgentId::new("a2"), Some(window))
        .unwrap();
    assert_eq!(agents_of(&a.allocate(secs(3)).inverse_offers), ["a2"]);
}

#[test]
fn a_deactivated_agent_is_not_offered_until_activated_again() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:1;mem:128");
    agent(&mut a, "a2", "cpus:2;mem:256");
    a.deactivate_agent(&AgentId::new("a1")).unwrap();
    framework(&mut a, "f1", &["r"]);
    assert_eq!(
        describe(&a.allocate(secs(0)).offers),
        ["f1@a2(r): cpus:2; mem:256"]
    );
    a.activate_agent(&AgentId::new("a1")).unwrap();
    assert_eq!(
        describe(&a.allocate(secs(1)).offers),
        ["f1@a1(r): cpus:1; mem:128"]
    );
    // Removed while active: later cycles do not visit it.
    a.remove_agent(&AgentId::new("a1")).unwrap();
    assert!(a.activate_agent(&AgentId::new("a1")).is_err());
    a.recover_offered(
        &FrameworkId::new("f1"),
        &AgentId::new("a2"),
        "r",
        &res("cpus:2;mem:256"),
        None,
        secs(2),
    )
    .unwrap();
    assert_eq!(
        describe(&a.allocate(secs(3)).offers),
        ["f1@a2(r): cpus:2; mem:256"]
    );
}

#[test]
fn bad_events_are_typed_errors() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:1;mem:128");
    framework(&mut a, "f1", &["r"]);
    let f1 = FrameworkId::new("f1");
    let a1 = AgentId::new("a1");
    assert_eq!(
        a.recover_resources(&f1, &a1, &res("cpus:1").allocate("r"), None, secs(0))
            .unwrap_err()
            .to_string(),
        "resources cpus(allocated: r):1 are not allocated to framework f1 on agent a1"
    );
    assert_eq!(
        a.remove_agent(&AgentId::new("nope"))
            .unwrap_err()
            .to_string(),
        "unknown agent nope"
    );
    let bad = FrameworkConfig {
        roles: vec!["a//b".into()],
        ..Default::default()
    };
    assert_eq!(
        a.add_framework(FrameworkId::new("f2"), bad, &[], true)
            .unwrap_err()
            .to_string(),
        "invalid role: role 'a//b' cannot contain two adjacent slashes"
    );
    assert!(
        Allocator::new(AllocatorOptions {
            role_sorter: "fifo".into(),
            ..Default::default()
        })
        .is_err()
    );
}

#[test]
fn same_seed_same_offers() {
    let run = |seed: u64| {
        let mut a = Allocator::new(AllocatorOptions {
            seed,
            ..Default::default()
        })
        .unwrap();
        for i in 0..20 {
            agent(&mut a, &format!("a{i}"), "cpus:2;mem:512");
        }
        for i in 0..5 {
            framework(&mut a, &format!("f{i}"), &["r"]);
        }
        describe(&a.allocate(secs(0)).offers)
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2), "agent order depends on the seed");
}

#[test]
fn reserving_an_offer_in_place_changes_the_agent_for_good() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:4;mem:1024");
    framework(&mut a, "f1", &["web"]);
    let (f1, a1) = (FrameworkId::new("f1"), AgentId::new("a1"));
    let offer = a.allocate(secs(0)).offers.remove(0);
    let part = res("cpus:1;mem:256").allocate("web");
    let reserved = res("cpus:1;mem:256")
        .push_reservation(&mesos_core::resources::Reservation::dynamic_to("web", None))
        .allocate("web");
    a.update_allocation(&f1, &a1, &part, &reserved).unwrap();
    assert_eq!(
        a.total(&a1).unwrap().reserved(Some("web")).cpus(),
        Some(Scalar::from_units(1))
    );
    assert!(
        a.available(&a1).unwrap().is_empty(),
        "nothing freed by converting"
    );
    // Give everything back: the reservation now only goes to `web`.
    let held = a.allocated(&f1, &a1).unwrap();
    a.recover_resources(&f1, &a1, &held, None, secs(1)).unwrap();
    a.remove_framework(&f1).unwrap();
    framework(&mut a, "other", &["batch"]);
    let offers = a.allocate(secs(2)).offers;
    assert_eq!(describe(&offers), ["other@a1(batch): cpus:3; mem:768"]);
    assert_eq!(offer.resources.cpus(), Some(Scalar::from_units(4)));
    // Converting something that is not held is an error and changes nothing.
    let err = a
        .update_allocation(&FrameworkId::new("other"), &a1, &reserved, &part)
        .unwrap_err();
    assert!(err.to_string().starts_with("resources "), "{err}");
    assert_eq!(
        a.total(&a1).unwrap().reserved(Some("web")).cpus(),
        Some(Scalar::from_units(1))
    );
}

#[test]
fn expired_filters_are_forgotten() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:1;mem:128");
    agent(&mut a, "a2", "cpus:1;mem:128");
    framework(&mut a, "f1", &["r"]);
    let offers = a.allocate(secs(0)).offers;
    decline_all(&mut a, &offers[..1], Some(secs(5)), secs(0));
    decline_all(&mut a, &offers[1..], Some(secs(50)), secs(0));
    assert_eq!(a.filter_count(), 2);
    a.allocate(secs(6));
    assert_eq!(
        a.filter_count(),
        1,
        "the 5 s filter is gone, the 50 s one stays"
    );
    a.allocate(secs(60));
    assert_eq!(a.filter_count(), 0);
}

#[test]
fn a_rejected_conversion_or_registration_changes_nothing() {
    let mut a = allocator();
    agent(&mut a, "a1", "cpus:2;mem:256");
    framework(&mut a, "f1", &["web"]);
    let (f1, a1) = (FrameworkId::new("f1"), AgentId::new("a1"));
    a.allocate(secs(0));
    let held = a.allocated(&f1, &a1).unwrap();
    // The target carries no allocation role: rejected before anything is untracked.
    let err = a
        .update_allocation(&f1, &a1, &held, &res("cpus:2;mem:256"))
        .unwrap_err();
    assert!(
        err.to_string().contains("carries no allocation role"),
        "{err}"
    );
    assert_eq!(a.allocated(&f1, &a1).unwrap(), held);
    // An agent whose used resources lack allocation roles is not half-added.
    let used = [(f1.clone(), res("cpus:1"))];
    let config = AgentConfig {
        total: res("cpus:1;mem:32"),
        ..Default::default()
    };
    assert!(
        a.add_agent(AgentId::new("a2"), config.clone(), &used)
            .is_err()
    );
    assert!(a.total(&AgentId::new("a2")).is_err(), "not added");
    a.add_agent(AgentId::new("a2"), config, &[]).unwrap();
}
