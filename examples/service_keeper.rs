//! `service_keeper`: keeps `--instances` copies of a long-running command alive. A copy that
//! ends (or is lost with its agent) is launched again. The framework registers with a
//! failover timeout and keeps its id in `--id_file`, so a restarted keeper (or a keeper whose
//! master restarted) resumes the same framework, reconciles, and adopts the copies still
//! running instead of starting more.
//!
//! ```text
//! cargo run --release --bin mesos-local &
//! cargo run --release --example service_keeper -- --master 127.0.0.1:5050 --instances 3
//! ```
//!
//! It prints `running=N` whenever the number of running copies changes. With `--run_for S`
//! it exits 0 once all copies have run together for S seconds, leaving them running (start
//! it again to resume); `--teardown` ends the framework and its tasks on exit instead.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use mesos_core::proto::v1 as pb;
use mesos_scheduler_sdk::matching::{OfferSpace, TaskNeeds};
use mesos_scheduler_sdk::{Driver, DriverConfig, Scheduler, Subscribed, async_trait, run};

#[derive(Parser)]
#[command(
    about = "Keep N copies of a long-running command alive",
    rename_all = "snake_case"
)]
struct Args {
    /// The master, as host:port.
    #[arg(long, default_value = "127.0.0.1:5050")]
    master: String,
    /// How many copies to keep running.
    #[arg(long, default_value_t = 3)]
    instances: usize,
    /// The command each copy runs (through `sh -c`).
    #[arg(long, default_value = "sleep 3600")]
    command: String,
    /// Resources of each copy.
    #[arg(long, default_value = "cpus:0.1;mem:32")]
    resources: String,
    /// Where the framework id is kept between runs.
    #[arg(long, default_value = "service_keeper.id")]
    id_file: std::path::PathBuf,
    /// Exit 0 once every copy has been running for this many seconds.
    #[arg(long)]
    run_for: Option<f64>,
    /// Tear the framework down (killing its tasks) on exit.
    #[arg(long)]
    teardown: bool,
}

/// How long after subscribing the keeper only listens to reconciliation before launching.
const RECONCILE_GRACE: Duration = Duration::from_millis(1500);

/// What the keeper knows, shared with the timer that ends a `--run_for` run.
#[derive(Default)]
struct Shared {
    driver: Option<Driver>,
    running: usize,
    /// Since when every copy has been running.
    steady_since: Option<Instant>,
}

struct Keeper {
    instances: usize,
    command: String,
    needs: TaskNeeds,
    id_file: std::path::PathBuf,
    /// Copy number → its current task id and last known state.
    copies: BTreeMap<usize, (String, pb::TaskState)>,
    generation: u64,
    listen_until: Option<Instant>,
    shared: Arc<Mutex<Shared>>,
}

/// `keeper-<copy>-<generation>` → copy.
fn copy_of(task_id: &str) -> Option<usize> {
    task_id
        .strip_prefix("keeper-")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

fn alive(state: pb::TaskState) -> bool {
    use pb::TaskState as S;
    matches!(
        state,
        S::TaskStaging | S::TaskStarting | S::TaskRunning | S::TaskKilling | S::TaskUnreachable
    )
}

impl Keeper {
    fn report(&mut self) {
        let running = self
            .copies
            .values()
            .filter(|(_, s)| *s == pb::TaskState::TaskRunning)
            .count();
        let mut shared = self.shared.lock().unwrap();
        if running != shared.running {
            println!("running={running}");
            shared.running = running;
        }
        if running == self.instances {
            shared.steady_since.get_or_insert_with(Instant::now);
        } else {
            shared.steady_since = None;
        }
    }

    fn missing(&self) -> Vec<usize> {
        (0..self.instances)
            .filter(|i| self.copies.get(i).is_none_or(|(_, s)| !alive(*s)))
            .collect()
    }
}

#[async_trait]
impl Scheduler for Keeper {
    async fn subscribed(&mut self, driver: &Driver, info: Subscribed) {
        println!(
            "subscribed as {}{}",
            info.framework_id.value,
            if info.resubscribed { " (resumed)" } else { "" }
        );
        if let Err(e) = std::fs::write(&self.id_file, &info.framework_id.value) {
            eprintln!(
                "cannot keep the framework id in {}: {e}",
                self.id_file.display()
            );
        }
        self.shared.lock().unwrap().driver = Some(driver.clone());
        // Learn what still runs before launching anything.
        self.listen_until = Some(Instant::now() + RECONCILE_GRACE);
        if let Err(e) = driver.reconcile(vec![]).await {
            eprintln!("reconcile failed: {e}");
        }
    }

    async fn offers(&mut self, driver: &Driver, offers: Vec<pb::Offer>) {
        let listening = self.listen_until.is_some_and(|t| Instant::now() < t);
        for offer in offers {
            let mut tasks = Vec::new();
            if !listening && let Ok(mut space) = OfferSpace::new(&offer) {
                for copy in self.missing() {
                    let Some(resources) = space.take(&self.needs) else {
                        break;
                    };
                    self.generation += 1;
                    let id = format!("keeper-{copy}-{}", self.generation);
                    self.copies
                        .insert(copy, (id.clone(), pb::TaskState::TaskStaging));
                    tasks.push(pb::TaskInfo {
                        name: format!("keeper copy {copy}"),
                        task_id: pb::TaskId { value: id },
                        agent_id: offer.agent_id.clone(),
                        resources,
                        command: Some(pb::CommandInfo {
                            value: Some(self.command.clone()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                }
            }
            let result = if tasks.is_empty() {
                driver.decline(vec![offer.id.clone()], Some(1.0)).await
            } else {
                println!("launching {} copies on {}", tasks.len(), offer.hostname);
                driver.launch(offer.id.clone(), tasks).await
            };
            if let Err(e) = result {
                eprintln!("call failed: {e}");
            }
        }
    }

    async fn update(&mut self, driver: &Driver, status: pb::TaskStatus) {
        let id = status.task_id.value.clone();
        let state = status.state();
        let Some(copy) = copy_of(&id) else {
            return;
        };
        if let Some(generation) = id.rsplit('-').next().and_then(|g| g.parse::<u64>().ok()) {
            self.generation = self.generation.max(generation);
        }
        match self.copies.get(&copy) {
            // A second live task for the same copy (launched before a failover was noticed):
            // keep the one we know, kill the other.
            Some((current, current_state))
                if current != &id && alive(*current_state) && alive(state) =>
            {
                println!("{id} duplicates {current}; killing it");
                let _ = driver
                    .kill(status.task_id.clone(), status.agent_id.clone())
                    .await;
            }
            Some((current, _)) if current != &id && !alive(state) => {}
            _ => {
                if !alive(state) {
                    println!("{id} ended: {}", state.as_str_name());
                }
                self.copies.insert(copy, (id, state));
            }
        }
        self.report();
        if !self.missing().is_empty() {
            let _ = driver.revive(vec![]).await;
        }
    }

    async fn disconnected(&mut self, _driver: &Driver) {
        // Until reconciliation with the (new) master says otherwise, nothing is known to run;
        // the copies are not relaunched meanwhile (staging counts as alive).
        println!("disconnected from the master");
        for (_, state) in self.copies.values_mut() {
            if alive(*state) {
                *state = pb::TaskState::TaskStaging;
            }
        }
        self.report();
    }

    async fn error(&mut self, _driver: &Driver, message: String) {
        eprintln!("master error: {message}");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let needs = match TaskNeeds::parse(&args.resources) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("--resources: {e}");
            return ExitCode::from(2);
        }
    };
    let mut framework = pb::FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: "service_keeper".into(),
        failover_timeout: Some(7.0 * 24.0 * 3600.0),
        checkpoint: Some(true),
        ..Default::default()
    };
    if let Ok(id) = std::fs::read_to_string(&args.id_file) {
        let id = id.trim().to_string();
        if !id.is_empty() {
            println!("resuming framework {id}");
            framework.id = Some(pb::FrameworkId { value: id });
        }
    }
    let shared = Arc::new(Mutex::new(Shared::default()));
    let keeper = Keeper {
        instances: args.instances,
        command: args.command,
        needs,
        id_file: args.id_file,
        copies: BTreeMap::new(),
        generation: 0,
        listen_until: None,
        shared: shared.clone(),
    };
    // While not every copy is known to run, ask the master again every two seconds: after a
    // master failover it learns about running tasks only when their agents re-register, and
    // a reconciliation sent before that gets no answer.
    {
        let shared = shared.clone();
        let instances = args.instances;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let driver = {
                    let s = shared.lock().unwrap();
                    match &s.driver {
                        Some(d) if s.running < instances => d.clone(),
                        _ => continue,
                    }
                };
                let _ = driver.reconcile(vec![]).await;
            }
        });
    }
    if let Some(seconds) = args.run_for {
        let shared = shared.clone();
        let teardown = args.teardown;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let driver = {
                    let s = shared.lock().unwrap();
                    match (&s.driver, s.steady_since) {
                        (Some(d), Some(t)) if t.elapsed().as_secs_f64() >= seconds => d.clone(),
                        _ => continue,
                    }
                };
                if teardown {
                    let _ = driver.teardown().await;
                }
                driver.stop();
                return;
            }
        });
    }
    match run(DriverConfig::new(args.master, framework), keeper).await {
        Ok(keeper) => {
            let running = keeper.shared.lock().unwrap().running;
            println!(
                "exiting with {running} of {} copies running",
                keeper.instances
            );
            if running == keeper.instances {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("framework failed: {e}");
            ExitCode::FAILURE
        }
    }
}
