//! Runs DeclineOffers cycles in a loop for profiling:
//! `cargo run --release -p mesos-benches --example profile_decline -- AGENTS FRAMEWORKS ROUNDS [SUPPRESSED_PERCENT] [refuse|return] [mesos-ids]`.
//!
//! With `refuse` (the default), every offer is declined with an infinite filter, as in the
//! benchmark; with `return`, offers are given back without a filter, so every round repeats
//! round 0 on one cluster (a profile then shows the cycle, not the set-up). With `mesos-ids`,
//! frameworks and agents get ids of the length a Mesos master assigns instead of short ones.
//! Each round also prints the page faults the cycle took (Linux). malloc is set up as the master
//! sets it, unless `MESOS_BENCH_DEFAULT_MALLOC=1` (see `mesos_master::heap_retention`).

use std::time::{Duration, Instant};

use mesos_benches::allocator::{
    IdStyle, REFUSE_FOREVER, decline_offers_cluster_named, recover_all,
};
use mesos_master::heap_retention::minor_page_faults;

fn main() {
    if std::env::var_os("MESOS_BENCH_DEFAULT_MALLOC").is_none() {
        mesos_master::heap_retention::retain_freed_memory();
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (agents, frameworks, rounds) = (
        args.first().copied().unwrap_or(10_000),
        args.get(1).copied().unwrap_or(1_000),
        args.get(2).copied().unwrap_or(10),
    );
    let ids = if std::env::args().any(|a| a == "mesos-ids") {
        IdStyle::Mesos
    } else {
        IdStyle::Short
    };
    let start = Instant::now();
    let mut a = decline_offers_cluster_named(agents, frameworks, ids);
    println!("setup {:?}", start.elapsed());
    let suppressed = args.get(3).copied().unwrap_or(0);
    let give_back = std::env::args().any(|a| a == "return");
    for f in 0..frameworks * suppressed / 100 {
        a.suppress(&ids.framework(f), &[]).expect("known framework");
    }
    let mut now = Duration::from_secs(1);
    for round in 0..=rounds {
        let faults_before = minor_page_faults();
        let start = Instant::now();
        let offers = a.allocate(now).offers;
        let elapsed = start.elapsed();
        let faults = minor_page_faults().zip(faults_before).map_or_else(
            || "?".to_string(),
            |(after, before)| (after - before).to_string(),
        );
        println!(
            "round {round}: {} offers in {elapsed:?}, {faults} page faults",
            offers.len(),
        );
        let refuse = (!give_back).then_some(REFUSE_FOREVER);
        recover_all(&mut a, &offers, refuse, now);
        now += Duration::from_secs(1);
    }
}
