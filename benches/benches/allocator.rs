//! Allocator benchmarks named after Mesos's own (`hierarchical_allocator_tests.cpp`).
//!
//! `decline_offers/agents=A,frameworks=F/round=R`: a cluster of A agents and F frameworks in one
//! role, where every offer of every earlier round was declined with an infinite filter; one
//! allocation cycle is timed at round R. `floor/decline_offers/...`: in the same run, the least
//! work such a cycle needs — one pass over the agents giving each to the lowest-share framework
//! popped from a binary heap, with no filters, reservations or quota.
//! `decline_offers/sorter/...`: the framework sorter's part of such a cycle alone (the lowest
//! framework and one allocation per agent), to set against the floor.
//! `decline_offers/mesos_ids/...`: round 0 at 10k x 1k with ids as long as a Mesos master
//! assigns (`<uuid>-S42`), which offers share rather than copy inline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Bencher, BenchmarkId, Criterion, criterion_group};
use mesos_allocator::Allocator;
use mesos_allocator::quantities::Quantities;
use mesos_allocator::sorter::{FlatSorter, Sorter, Visit};
use mesos_benches::allocator::{
    IdStyle, decline_all, decline_offers_cluster, decline_offers_cluster_named,
    decline_offers_free, decline_offers_total, large_and_small_quota_cluster,
    update_allocation_cluster,
};
use mesos_master::heap_retention::retain_freed_memory;

const GRID: &[(usize, usize)] = &[(1_000, 100), (5_000, 500), (10_000, 1_000), (20_000, 2_000)];
const ROUNDS: &[usize] = &[0, 1, 10];

fn decline_offers(c: &mut Criterion) {
    let mut group = c.benchmark_group("decline_offers");
    group.sample_size(10);
    let mut paired = Vec::new();
    for &(agents, frameworks) in GRID {
        let floor = FloorPass::new(agents, frameworks);
        for &round in ROUNDS {
            let id = BenchmarkId::new(
                format!("agents={agents},frameworks={frameworks}"),
                format!("round={round}"),
            );
            let mut pairs = Vec::new();
            group.bench_function(id, |b| {
                time_decline_round(
                    b,
                    agents,
                    round,
                    || decline_offers_cluster(agents, frameworks),
                    Some((&floor, &mut pairs)),
                );
            });
            paired.push(((agents, frameworks, round), pairs));
        }
        if (agents, frameworks) == (10_000, 1_000) {
            // The same round 0 with ids as long as a Mesos master assigns: copying them into
            // offers shares their text rather than copying it inline.
            let id = BenchmarkId::new(
                format!("mesos_ids/agents={agents},frameworks={frameworks}"),
                "round=0",
            );
            group.bench_function(id, |b| {
                time_decline_round(
                    b,
                    agents,
                    0,
                    || decline_offers_cluster_named(agents, frameworks, IdStyle::Mesos),
                    None,
                );
            });
        }
        // Floor: one heap pass, no filters.
        group.bench_function(
            BenchmarkId::new(
                format!("floor/agents={agents},frameworks={frameworks}"),
                "heap_pass",
            ),
            |b| b.iter(|| black_box(floor.run())),
        );
        // The framework sorter's share of such a cycle, alone: for each agent, the lowest
        // framework and the allocation of the agent's free part to it.
        group.bench_function(
            BenchmarkId::new(
                format!("sorter/agents={agents},frameworks={frameworks}"),
                "first_listed_and_allocated",
            ),
            |b| {
                let quantities = Quantities::of(&decline_offers_free());
                b.iter_batched(
                    || framework_sorter(agents, frameworks),
                    |mut sorter| {
                        for _agent in 0..agents {
                            let lowest = sorter.first_listed().expect("keys are fresh");
                            sorter.allocated(lowest, &quantities);
                        }
                        sorter
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    group.finish();
    report_paired(&paired);
}

/// The DeclineOffers floor for one grid point: one pass over the agents, each given to the
/// lowest-share framework popped from a binary heap, with no filters, reservations or quota.
struct FloorPass {
    agents: usize,
    frameworks: usize,
    /// Each agent's free cpus and mem.
    free: (f64, f64),
    /// The cluster's cpus and mem.
    total: (f64, f64),
}

impl FloorPass {
    fn new(agents: usize, frameworks: usize) -> FloorPass {
        let free = decline_offers_free();
        let total = decline_offers_total(agents);
        FloorPass {
            agents,
            frameworks,
            free: (free.cpus().unwrap().as_f64(), free.mem().unwrap().as_f64()),
            total: (total.get("cpus").as_f64(), total.get("mem").as_f64()),
        }
    }

    /// Runs the pass; returns the frameworks' allocations (cpus, mem).
    fn run(&self) -> Vec<(f64, f64)> {
        let ((cpus, mem), (total_cpus, total_mem)) = (self.free, self.total);
        let mut allocation = vec![(0.0f64, 0.0f64); self.frameworks];
        let mut heap: BinaryHeap<Reverse<(u64, usize)>> =
            (0..self.frameworks).map(|f| Reverse((0, f))).collect();
        for _agent in 0..self.agents {
            let Reverse((_, f)) = heap.pop().expect("frameworks exist");
            allocation[f].0 += cpus;
            allocation[f].1 += mem;
            let share = (allocation[f].0 / total_cpus).max(allocation[f].1 / total_mem);
            heap.push(Reverse((share.to_bits(), f)));
        }
        allocation
    }
}

/// (baseline, measured) times of one iteration, timed one right after the other.
type Pairs = Vec<(Duration, Duration)>;

/// The middle value (the upper one of an even count); `values` must not be empty.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The medians of the baselines, of the measured times, and of their per-iteration ratios,
/// in microseconds and times.
fn paired_medians(pairs: &Pairs) -> (f64, f64, f64) {
    let micros = |d: &Duration| d.as_secs_f64() * 1e6;
    (
        median(pairs.iter().map(|(b, _)| micros(b)).collect()),
        median(pairs.iter().map(|(_, m)| micros(m)).collect()),
        median(pairs.iter().map(|(b, m)| micros(m) / micros(b)).collect()),
    )
}

/// Prints, for each DeclineOffers cycle, its median time, the median of the floor passes run
/// just before each timed cycle, and the median of the per-iteration ratios. Criterion times
/// the floor as a benchmark of its own, minutes away from some of the cycles; on a shared
/// machine whose speed drifts, the ratio of those two figures moves with the drift (stop 22:
/// 5.6x and 5.0x for the same cycle in two runs). A floor timed beside each cycle sees the
/// same machine.
fn report_paired(paired: &[((usize, usize, usize), Pairs)]) {
    let measured = paired.iter().filter(|(_, pairs)| !pairs.is_empty());
    for (n, ((agents, frameworks, round), pairs)) in measured.enumerate() {
        if n == 0 {
            println!("\ndecline_offers paired with a floor pass timed just before each cycle:");
        }
        let (floor, cycle, ratio) = paired_medians(pairs);
        println!(
            "  agents={agents},frameworks={frameworks} round={round}: cycle {cycle:.1} us, \
             floor {floor:.1} us, ratio {ratio:.2}x (median of {} pairs)",
            pairs.len()
        );
    }
}

/// A DRF sorter over `frameworks` clients at their own paths (the allocator's default framework
/// sorter), measured against the total of `agents` DeclineOffers agents, with its keys built (as
/// after a cycle's first visit).
fn framework_sorter(agents: usize, frameworks: usize) -> FlatSorter {
    let mut sorter = FlatSorter::drf();
    sorter.set_total(&decline_offers_total(agents));
    for f in 0..frameworks {
        let client = u32::try_from(f).expect("few frameworks");
        sorter.add_client(client, &format!("framework{f}"));
        sorter.set_active(client, true);
    }
    sorter.visit(&mut |_| Visit::Stop);
    sorter
}

fn add_agents(c: &mut Criterion) {
    let mut group = c.benchmark_group("add_agents");
    group.sample_size(10);
    group.bench_function("agents=10000,frameworks=1000", |b| {
        // The clusters are dropped outside the timing (before stop 24, inside it).
        b.iter_with_large_drop(|| decline_offers_cluster(10_000, 1_000))
    });
    group.finish();
}

/// Times the cycle at `round` of DeclineOffers on a fresh cluster from `build` per iteration:
/// the rounds before it are run, and every offer declined forever, untimed. With a floor,
/// each iteration also times one floor pass (its second) just before the cycle and records the
/// pair (floor, cycle), outside criterion's figure.
fn time_decline_round(
    b: &mut Bencher<'_>,
    agents: usize,
    round: usize,
    build: impl Fn() -> Allocator,
    mut floor: Option<(&FloorPass, &mut Pairs)>,
) {
    b.iter_custom(|iterations| {
        let mut total = Duration::ZERO;
        for _ in 0..iterations {
            let mut a = build();
            let mut now = Duration::from_secs(1);
            for _ in 0..round {
                let offers = a.allocate(now).offers;
                decline_all(&mut a, &offers, now);
                now += Duration::from_secs(1);
            }
            let floor_time = floor.as_ref().map(|(pass, _)| {
                // Once untimed, so that the timed pass finds its memory in the cache, as the
                // cycle finds the cluster the rounds above just used: the floor's best case.
                black_box(pass.run());
                let start = Instant::now();
                black_box(pass.run());
                start.elapsed()
            });
            let start = Instant::now();
            let offers = black_box(a.allocate(now).offers);
            let elapsed = start.elapsed();
            total += elapsed;
            assert_eq!(offers.len(), agents, "every agent is offered");
            if let (Some((_, pairs)), Some(floor_time)) = (floor.as_mut(), floor_time) {
                pairs.push((floor_time, elapsed));
            }
        }
        total
    });
}

/// SuppressOffers at 10k agents x 1k frameworks: one cycle with 99 % of the frameworks
/// suppressed, next to one with all of them suppressed (the cost of the 1 % should be small).
/// The 99 % benchmark also times an all-suppressed cycle in each iteration, right after its
/// own, and prints the median ratio of the pairs (see [`report_paired`] for why).
fn suppress_offers(c: &mut Criterion) {
    let mut group = c.benchmark_group("suppress_offers");
    group.sample_size(10);
    let (agents, frameworks) = (10_000, 1_000);
    let mut pairs = Vec::new();
    let mut drops = Vec::new();
    for suppressed_pct in [20, 50, 99, 100] {
        let id = format!("agents={agents},frameworks={frameworks}/suppressed={suppressed_pct}%");
        group.bench_function(id, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let (elapsed, dropped) =
                        time_suppressed_cycle(agents, frameworks, suppressed_pct);
                    total += elapsed;
                    if suppressed_pct == 99 {
                        let (all, _) = time_suppressed_cycle(agents, frameworks, 100);
                        pairs.push((all, elapsed));
                        drops.push(dropped);
                    }
                }
                total
            })
        });
    }
    group.finish();
    if !pairs.is_empty() {
        let (all, some, ratio) = paired_medians(&pairs);
        let dropped = median(drops.iter().map(|d| d.as_secs_f64() * 1e6).collect());
        println!(
            "\nsuppress_offers paired: 99 % suppressed {some:.1} us, all suppressed {all:.1} us, \
             ratio {ratio:.2}x (median of {} pairs); dropping the 99 % cycle's offers \
             afterwards (untimed above) {dropped:.1} us",
            pairs.len()
        );
    }
}

/// One cycle of a fresh 10k x 1k cluster with `suppressed_pct` % of its frameworks suppressed:
/// the cycle's time, and the time its caller then takes to drop the offers.
fn time_suppressed_cycle(
    agents: usize,
    frameworks: usize,
    suppressed_pct: usize,
) -> (Duration, Duration) {
    let mut a = decline_offers_cluster(agents, frameworks);
    for f in 0..frameworks * suppressed_pct / 100 {
        a.suppress(&IdStyle::Short.framework(f), &[])
            .expect("known");
    }
    let start = Instant::now();
    let allocation = black_box(a.allocate(Duration::from_secs(1)));
    let elapsed = start.elapsed();
    // Checked, and dropped, after the clock stops, as in the other benchmarks: until stop 24
    // the allocation was a temporary dropped inside the timed statement, so the 99 % cycle
    // also paid for freeing its 10,000 offers.
    let offered = if suppressed_pct < 100 { agents } else { 0 };
    assert_eq!(
        allocation.offers.len(),
        offered,
        "every agent goes to an active framework"
    );
    let start = Instant::now();
    drop(allocation);
    (elapsed, start.elapsed())
}

/// LargeAndSmallQuota at 3,000 agents, roles and frameworks: the cycle that hands out the
/// cluster, then the cycle that has nothing left to give.
fn large_and_small_quota(c: &mut Criterion) {
    let mut group = c.benchmark_group("large_and_small_quota");
    group.sample_size(10);
    let (small, large) = (2_500, 500);
    group.bench_function("agents=3000,roles=3000/handout", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let mut a = large_and_small_quota_cluster(small, large);
                let start = Instant::now();
                let offers = black_box(a.allocate(Duration::from_secs(1)).offers);
                total += start.elapsed();
                assert_eq!(offers.len(), 3_500, "one offer per (framework, agent)");
            }
            total
        })
    });
    group.bench_function("agents=3000,roles=3000/empty_cycle", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let mut a = large_and_small_quota_cluster(small, large);
                a.allocate(Duration::from_secs(1));
                let start = Instant::now();
                let offers = black_box(a.allocate(Duration::from_secs(2)).offers);
                total += start.elapsed();
                assert!(offers.is_empty());
            }
            total
        })
    });
    group.bench_function("agents=3000,roles=3000/add_frameworks", |b| {
        // The clusters are dropped outside the timing (before stop 24, inside it).
        b.iter_with_large_drop(|| large_and_small_quota_cluster(small, large))
    });
    group.finish();
}

/// UpdateAllocation: 20 unreserve + reserve pairs on one agent carrying 200 roles'
/// reservations (800 resource objects), all in use.
fn update_allocation(c: &mut Criterion) {
    let mut group = c.benchmark_group("update_allocation");
    group.sample_size(10);
    group.bench_function("roles=200/20_unreserve_reserve_pairs", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let (mut a, framework, agent, reserved) = update_allocation_cluster(200);
                let unreserved = reserved.pop_reservation();
                let start = Instant::now();
                for _ in 0..20 {
                    a.update_allocation(&framework, &agent, &reserved, &unreserved)
                        .expect("held");
                    a.update_allocation(&framework, &agent, &unreserved, &reserved)
                        .expect("held");
                }
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    decline_offers,
    add_agents,
    suppress_offers,
    large_and_small_quota,
    update_allocation
);
/// Runs the groups with the master's malloc settings ([`retain_freed_memory`]), so that a cycle
/// is measured as the master runs it: each iteration drops a whole cluster, and with glibc's
/// defaults the next cycle writes its offers into memory the kernel must fault in again.
/// `MESOS_BENCH_DEFAULT_MALLOC=1` keeps glibc's defaults, to measure what the settings change.
fn main() {
    if std::env::var_os("MESOS_BENCH_DEFAULT_MALLOC").is_none() {
        retain_freed_memory();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
