//! Allocator benchmarks named after Mesos's own (`hierarchical_allocator_tests.cpp`).
//!
//! `decline_offers/agents=A,frameworks=F/round=R`: a cluster of A agents and F frameworks in one
//! role, where every offer of every earlier round was declined with an infinite filter; one
//! allocation cycle is timed at round R. `floor/decline_offers/...`: in the same run, the least
//! work such a cycle needs — one pass over the agents giving each to the lowest-share framework
//! popped from a binary heap, with no filters, reservations or quota.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mesos_benches::allocator::{decline_all, decline_offers_cluster, decline_offers_free};

const GRID: &[(usize, usize)] = &[(1_000, 100), (5_000, 500), (10_000, 1_000), (20_000, 2_000)];
const ROUNDS: &[usize] = &[0, 1, 10];

fn decline_offers(c: &mut Criterion) {
    let mut group = c.benchmark_group("decline_offers");
    group.sample_size(10);
    for &(agents, frameworks) in GRID {
        for &round in ROUNDS {
            let id = BenchmarkId::new(
                format!("agents={agents},frameworks={frameworks}"),
                format!("round={round}"),
            );
            group.bench_function(id, |b| {
                b.iter_custom(|iterations| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        let mut a = decline_offers_cluster(agents, frameworks);
                        let mut now = Duration::from_secs(1);
                        for _ in 0..round {
                            let offers = a.allocate(now).offers;
                            decline_all(&mut a, &offers, now);
                            now += Duration::from_secs(1);
                        }
                        let start = Instant::now();
                        let offers = black_box(a.allocate(now).offers);
                        total += start.elapsed();
                        assert_eq!(offers.len(), agents, "every agent is offered");
                    }
                    total
                })
            });
        }
        // Floor: one heap pass, no filters.
        let free = decline_offers_free();
        let (cpus, mem) = (free.cpus().unwrap().as_f64(), free.mem().unwrap().as_f64());
        let (total_cpus, total_mem) = (24.0 * agents as f64, 4096.0 * agents as f64);
        group.bench_function(
            BenchmarkId::new(
                format!("floor/agents={agents},frameworks={frameworks}"),
                "heap_pass",
            ),
            |b| {
                b.iter(|| {
                    let mut allocation = vec![(0.0f64, 0.0f64); frameworks];
                    let mut heap: BinaryHeap<Reverse<(u64, usize)>> =
                        (0..frameworks).map(|f| Reverse((0, f))).collect();
                    for _agent in 0..agents {
                        let Reverse((_, f)) = heap.pop().expect("frameworks exist");
                        allocation[f].0 += cpus;
                        allocation[f].1 += mem;
                        let share = (allocation[f].0 / total_cpus).max(allocation[f].1 / total_mem);
                        heap.push(Reverse((share.to_bits(), f)));
                    }
                    black_box(allocation)
                })
            },
        );
    }
    group.finish();
}

fn add_agents(c: &mut Criterion) {
    let mut group = c.benchmark_group("add_agents");
    group.sample_size(10);
    group.bench_function("agents=10000,frameworks=1000", |b| {
        b.iter(|| black_box(decline_offers_cluster(10_000, 1_000)))
    });
    group.finish();
}

criterion_group!(benches, decline_offers, add_agents);
criterion_main!(benches);
