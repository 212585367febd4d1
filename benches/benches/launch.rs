//! End-to-end launch throughput: N tasks of `true` from the first ACCEPT to the last
//! TASK_FINISHED, through one agent and through four, with checkpointing off and on. Every
//! task is a real command executor process that runs `sh -c true`, as in Mesos.
//!
//! Baseline in the same run: this machine's own fork+exec+wait rate for `/bin/true`
//! (`../shared/bench/fork-limit.sh` measures the same with a C launcher; here a plain
//! `std::process::Command` loop on two threads stands in, so the figure needs no C compiler).
//!
//! `cargo bench -p mesos-benches --bench launch` (10,000 tasks); `-- --test` runs 50 once
//! (one agent, checkpointing off; `--checkpoint` turns it on). `-- --tasks N` changes the
//! count. Agents serve executors on a unix domain socket (`--http_executor_domain_sockets`);
//! `LAUNCH_BENCH_EXECUTOR_TCP=1` makes them use loopback TCP.
//!
//! The bench binary is also the executor: agents are pointed at a link named
//! `mesos-executor` to this executable, and `main` runs the command executor under that name.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mesos_core::proto::v1 as pb;
use mesos_scheduler_sdk::matching::{OfferSpace, TaskNeeds};
use mesos_scheduler_sdk::{Driver, DriverConfig, Scheduler, async_trait, run};

struct Launcher {
    total: usize,
    launched: usize,
    finished: Arc<AtomicUsize>,
    failed: usize,
    first_accept: Option<Instant>,
    last_finish: Option<Instant>,
}

#[async_trait]
impl Scheduler for Launcher {
    async fn offers(&mut self, driver: &Driver, offers: Vec<pb::Offer>) {
        let needs = TaskNeeds::parse("cpus:0.01;mem:1").expect("valid");
        for offer in offers {
            let Ok(mut space) = OfferSpace::new(&offer) else {
                continue;
            };
            let mut tasks = Vec::new();
            while self.launched < self.total {
                let Some(resources) = space.take(&needs) else {
                    break;
                };
                let id = format!("t{}", self.launched);
                self.launched += 1;
                tasks.push(pb::TaskInfo {
                    name: id.clone(),
                    task_id: pb::TaskId { value: id },
                    agent_id: offer.agent_id.clone(),
                    resources,
                    command: Some(pb::CommandInfo {
                        value: Some("true".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
            if tasks.is_empty() {
                let _ = driver.decline(vec![offer.id.clone()], Some(1.0)).await;
                continue;
            }
            self.first_accept.get_or_insert_with(Instant::now);
            if let Err(e) = driver.launch(offer.id.clone(), tasks).await {
                eprintln!("launch failed: {e}");
            }
        }
    }

    async fn update(&mut self, driver: &Driver, status: pb::TaskStatus) {
        use pb::TaskState as S;
        match status.state() {
            S::TaskFinished => {
                self.finished.fetch_add(1, Ordering::Relaxed);
            }
            S::TaskFailed | S::TaskKilled | S::TaskError | S::TaskLost | S::TaskDropped => {
                self.failed += 1;
                if self.failed <= 3 {
                    eprintln!(
                        "{} {:?}: {}",
                        status.task_id.value,
                        status.state(),
                        status.message()
                    );
                }
            }
            _ => return,
        }
        if self.finished.load(Ordering::Relaxed) + self.failed == self.total {
            self.last_finish = Some(Instant::now());
            let _ = driver.teardown().await;
        }
    }
}

/// fork+exec+wait of `/bin/true` per second, one launcher per core.
fn spawn_rate(seconds: f64) -> f64 {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let _ = std::process::Command::new("/bin/true").status();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    total as f64 / seconds
}

/// Runs one configuration in `dir` (left in place: see `main`).
async fn measure(dir: &Path, runtime: &Path, tasks: usize, agents: usize, checkpoint: bool) -> f64 {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    // The executor binary: `$LAUNCH_BENCH_EXECUTOR` when set (e.g. a release build of the
    // agent package's `mesos-executor`), else this bench binary, which runs as the executor
    // when invoked through a link named `mesos-executor`.
    let exe = std::env::var_os("LAUNCH_BENCH_EXECUTOR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::current_exe().expect("current exe"));
    std::os::unix::fs::symlink(&exe, bin.join("mesos-executor")).expect("link");
    let mut flags = mesos_master::MasterFlags::for_local(None);
    flags.allocation_interval = Duration::from_millis(50);
    let master = mesos_master::start(flags).await.expect("master");
    let mut handles = Vec::new();
    for i in 0..agents {
        let mut agent_flags = mesos_agent::AgentFlags::default_for_tests(
            dir.join(format!("agent{i}")),
            master.addr().to_string(),
        )
        .with_launcher_dir(&bin)
        .with_resources("cpus:10000;mem:10000000;disk:1000");
        agent_flags.gc_delay = "1weeks".parse().expect("duration");
        agent_flags.runtime_dir = Some(runtime.join(format!("agent{i}")).display().to_string());
        agent_flags.http_executor_domain_sockets =
            std::env::var_os("LAUNCH_BENCH_EXECUTOR_TCP").is_none();
        let agent = mesos_agent::Agent::start(agent_flags).await.expect("agent");
        agent.agent_id().await;
        handles.push(agent);
    }
    let finished = Arc::new(AtomicUsize::new(0));
    let framework = pb::FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: "launch-bench".into(),
        checkpoint: Some(checkpoint),
        ..Default::default()
    };
    let scheduler = Launcher {
        total: tasks,
        launched: 0,
        finished: finished.clone(),
        failed: 0,
        first_accept: None,
        last_finish: None,
    };
    let done = run(
        DriverConfig::new(master.addr().to_string(), framework),
        scheduler,
    )
    .await
    .expect("framework runs");
    let elapsed = match (done.first_accept, done.last_finish) {
        (Some(a), Some(b)) => b.duration_since(a),
        _ => Duration::MAX,
    };
    let rate = done.finished.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64();
    println!(
        "  {tasks} tasks, {agents} agent(s), checkpoint {}: {:.2} s, {:.0} tasks/s ({} failed)",
        if checkpoint { "on " } else { "off" },
        elapsed.as_secs_f64(),
        rate,
        done.failed
    );
    for agent in handles {
        agent.shutdown().await;
    }
    master.shutdown().await;
    rate
}

fn main() -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_default();
    if Path::new(&argv0).file_name().and_then(|n| n.to_str()) == Some("mesos-executor") {
        return mesos_executors::command::main();
    }
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--test");
    let tasks = args
        .iter()
        .position(|a| a == "--tasks")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(if smoke { 50 } else { 10_000 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let spawn = spawn_rate(if smoke { 0.2 } else { 3.0 });
    println!(
        "launch throughput (baseline: fork+exec+wait of /bin/true, one launcher per core: {spawn:.0}/s)"
    );
    let smoke_config = [(1, args.iter().any(|a| a == "--checkpoint"))];
    let configs: &[(usize, bool)] = if smoke {
        &smoke_config
    } else {
        &[(1, false), (1, true), (4, false), (4, true)]
    };
    // Every configuration's work directory is kept until all have run: removing tens of
    // thousands of sandboxes right before the next configuration would charge it for the
    // filesystem's clean-up (on ext4 without a journal, inode allocation skips recently
    // freed inodes one by one).
    let work = tempfile::tempdir().expect("tempdir");
    // The agents' runtime directories (records of non-checkpointing executors) on a tmpfs, as
    // `/var/run/mesos` is on a host with systemd.
    let volatile = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("tempdir");
    // On ext4 without a journal (this machine's `/tmp`), allocating an inode skips, one by
    // one, every free inode deleted in the last 60 s, or in the last 360 s when its inode-table
    // block is dirty again, as it is while sandboxes are being created next to it. A run that
    // follows a mass deletion (a previous run's clean-up) within minutes pays for that; nothing
    // this process can do shortens it, so figures are taken on a filesystem quiet for 6 minutes
    // (benches/README.md). Writing out pending deletions at least keeps them from being flushed
    // in the middle of a measurement.
    if !smoke {
        let _ = std::process::Command::new("sync").status();
    }
    for (i, &(agents, checkpoint)) in configs.iter().enumerate() {
        let dir = work.path().join(format!("run{i}"));
        let runtime_dir = volatile.path().join(format!("run{i}"));
        let rate = runtime.block_on(measure(&dir, &runtime_dir, tasks, agents, checkpoint));
        println!("    = {:.2} of the spawn rate", rate / spawn);
    }
    ExitCode::SUCCESS
}
