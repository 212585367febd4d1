//! Times LargeAndSmallQuota's setup and two cycles once:
//! `cargo run --release -p mesos-benches --example profile_quota`.

use std::time::{Duration, Instant};

use mesos_benches::allocator::large_and_small_quota_cluster;

fn main() {
    // As the master sets malloc up (see `mesos_master::heap_retention`), unless
    // `MESOS_BENCH_DEFAULT_MALLOC=1`.
    if std::env::var_os("MESOS_BENCH_DEFAULT_MALLOC").is_none() {
        mesos_master::heap_retention::retain_freed_memory();
    }
    let start = Instant::now();
    let mut a = large_and_small_quota_cluster(2_500, 500);
    println!(
        "setup (3,000 agents, roles, frameworks): {:?}",
        start.elapsed()
    );
    for (i, now) in [1u64, 2].into_iter().enumerate() {
        let start = Instant::now();
        let offers = a.allocate(Duration::from_secs(now)).offers;
        println!(
            "cycle {i}: {} offers in {:?}",
            offers.len(),
            start.elapsed()
        );
    }
}
