//! `batch_pi`: estimates π by Monte Carlo, spread over many tasks. Each task throws darts at
//! the unit square and prints how many landed inside the quarter circle; the framework reads
//! every task's `stdout` back through the agent's `/files/read` endpoint and combines them.
//!
//! ```text
//! cargo run --release --bin mesos-local &
//! cargo run --release --example batch_pi -- --master 127.0.0.1:5050 --tasks 8
//! ```
//!
//! The tasks run this same program in worker mode (`batch_pi --worker --seed S --samples N`):
//! the binary reaches the sandbox through the fetcher (`CommandInfo.uris` with a `file://`
//! URI), so agents must be able to read the path the framework runs from — true on one
//! machine, or with the binary on a shared filesystem. Exits 0 when the estimate is within
//! `--tolerance` of π.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;
use mesos_core::proto::v1 as pb;
use mesos_scheduler_sdk::matching::{OfferSpace, TaskNeeds};
use mesos_scheduler_sdk::{Driver, DriverConfig, Scheduler, Subscribed, async_trait, run};

#[derive(Parser)]
#[command(about = "Estimate pi with a Monte Carlo computation spread over tasks")]
struct Args {
    /// The master, as host:port.
    #[arg(long, default_value = "127.0.0.1:5050")]
    master: String,
    /// How many tasks to spread the work over.
    #[arg(long, default_value_t = 4)]
    tasks: usize,
    /// Darts thrown by each task.
    #[arg(long, default_value_t = 2_000_000)]
    samples: u64,
    /// Resources of each task.
    #[arg(long, default_value = "cpus:0.1;mem:32")]
    resources: String,
    /// Largest accepted distance between the estimate and π.
    #[arg(long, default_value_t = 0.01)]
    tolerance: f64,
    /// Run as a task: throw the darts and print `hits=H samples=N`.
    #[arg(long)]
    worker: bool,
    /// The worker's random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// splitmix64: a small, well-mixed generator, enough for darts.
struct SplitMix(u64);

impl SplitMix {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn throw_darts(seed: u64, samples: u64) -> u64 {
    let mut rng = SplitMix(seed);
    (0..samples)
        .filter(|_| {
            let (x, y) = (rng.next_unit(), rng.next_unit());
            x * x + y * y <= 1.0
        })
        .count() as u64
}

/// `hits=H samples=N` from a worker's output.
fn parse_result(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("hits="))?;
    let mut hits = None;
    let mut samples = None;
    for field in line.split_whitespace() {
        match field.split_once('=') {
            Some(("hits", v)) => hits = v.parse().ok(),
            Some(("samples", v)) => samples = v.parse().ok(),
            _ => {}
        }
    }
    Some((hits?, samples?))
}

struct BatchPi {
    needs: TaskNeeds,
    exe: String,
    tasks: usize,
    samples: u64,
    launched: usize,
    framework_id: String,
    /// Where each task runs: the agent's `ip:port`.
    agents: BTreeMap<String, String>,
    results: BTreeMap<String, (u64, u64)>,
    failed: usize,
    http: reqwest::Client,
}

impl BatchPi {
    /// Reads a finished task's stdout from its agent (command tasks run in an executor
    /// named after the task).
    async fn read_result(&self, task_id: &str) -> Result<(u64, u64), String> {
        let agent = self
            .agents
            .get(task_id)
            .ok_or_else(|| format!("no agent known for {task_id}"))?;
        let path = format!(
            "/frameworks/{}/executors/{task_id}/runs/latest/stdout",
            self.framework_id
        );
        let url = format!("http://{agent}/files/read?path={path}&offset=0&length=4096");
        let body: serde_json::Value = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let data = body["data"].as_str().unwrap_or_default();
        parse_result(data).ok_or_else(|| format!("{task_id} printed no result: {data:?}"))
    }
}

#[async_trait]
impl Scheduler for BatchPi {
    async fn subscribed(&mut self, _driver: &Driver, info: Subscribed) {
        self.framework_id = info.framework_id.value;
    }

    async fn offers(&mut self, driver: &Driver, offers: Vec<pb::Offer>) {
        for offer in offers {
            let Ok(mut space) = OfferSpace::new(&offer) else {
                continue;
            };
            let agent = offer
                .url
                .as_ref()
                .map(|u| {
                    let ip = u
                        .address
                        .ip
                        .clone()
                        .unwrap_or_else(|| offer.hostname.clone());
                    format!("{ip}:{}", u.address.port)
                })
                .unwrap_or_else(|| format!("{}:5051", offer.hostname));
            let mut tasks = Vec::new();
            while self.launched < self.tasks {
                let Some(resources) = space.take(&self.needs) else {
                    break;
                };
                let id = format!("pi-{}", self.launched);
                self.launched += 1;
                self.agents.insert(id.clone(), agent.clone());
                tasks.push(pb::TaskInfo {
                    name: id.clone(),
                    task_id: pb::TaskId { value: id },
                    agent_id: offer.agent_id.clone(),
                    resources,
                    command: Some(pb::CommandInfo {
                        uris: vec![pb::command_info::Uri {
                            value: format!("file://{}", self.exe),
                            executable: Some(true),
                            output_file: Some("batch_pi".into()),
                            ..Default::default()
                        }],
                        value: Some(format!(
                            "./batch_pi --worker --seed {} --samples {}",
                            self.launched, self.samples
                        )),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
            let result = if tasks.is_empty() {
                driver.decline(vec![offer.id.clone()], Some(30.0)).await
            } else {
                driver.launch(offer.id.clone(), tasks).await
            };
            if let Err(e) = result {
                eprintln!("call failed: {e}");
            }
        }
        if self.launched == self.tasks {
            let _ = driver.suppress(vec![]).await;
        }
    }

    async fn update(&mut self, driver: &Driver, status: pb::TaskStatus) {
        use pb::TaskState as S;
        let id = status.task_id.value.clone();
        match status.state() {
            S::TaskFinished => match self.read_result(&id).await {
                Ok(result) => {
                    println!("{id}: {} of {} darts inside", result.0, result.1);
                    self.results.insert(id, result);
                }
                Err(e) => {
                    eprintln!("{e}");
                    self.failed += 1;
                }
            },
            S::TaskFailed | S::TaskKilled | S::TaskLost | S::TaskError | S::TaskDropped => {
                eprintln!("{id} ended {:?}: {}", status.state(), status.message());
                self.failed += 1;
            }
            _ => return,
        }
        if self.results.len() + self.failed == self.tasks {
            let _ = driver.teardown().await;
        }
    }

    async fn error(&mut self, _driver: &Driver, message: String) {
        eprintln!("master error: {message}");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.worker {
        let hits = throw_darts(args.seed, args.samples);
        println!("hits={hits} samples={}", args.samples);
        return ExitCode::SUCCESS;
    }
    let needs = match TaskNeeds::parse(&args.resources) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("--resources: {e}");
            return ExitCode::from(2);
        }
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p.display().to_string(),
        Err(e) => {
            eprintln!("cannot find this program's path: {e}");
            return ExitCode::from(2);
        }
    };
    let framework = pb::FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: "batch_pi".into(),
        ..Default::default()
    };
    let scheduler = BatchPi {
        needs,
        exe,
        tasks: args.tasks,
        samples: args.samples,
        launched: 0,
        framework_id: String::new(),
        agents: BTreeMap::new(),
        results: BTreeMap::new(),
        failed: 0,
        http: reqwest::Client::new(),
    };
    let done = match run(DriverConfig::new(args.master, framework), scheduler).await {
        Ok(done) => done,
        Err(e) => {
            eprintln!("framework failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (hits, samples) = done
        .results
        .values()
        .fold((0, 0), |(h, s), (dh, ds)| (h + dh, s + ds));
    if done.failed > 0 || samples == 0 {
        eprintln!("{} task(s) failed", done.failed);
        return ExitCode::FAILURE;
    }
    let estimate = 4.0 * hits as f64 / samples as f64;
    let error = (estimate - std::f64::consts::PI).abs();
    println!(
        "pi ≈ {estimate:.6} from {samples} darts over {} tasks (error {error:.6})",
        done.results.len()
    );
    if error <= args.tolerance {
        ExitCode::SUCCESS
    } else {
        eprintln!("the estimate is further than {} from pi", args.tolerance);
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_output_parses_and_darts_estimate_pi() {
        assert_eq!(parse_result("hits=785 samples=1000\n"), Some((785, 1000)));
        assert_eq!(parse_result("nothing here"), None);
        let hits = throw_darts(7, 200_000);
        let estimate = 4.0 * hits as f64 / 200_000.0;
        assert!((estimate - std::f64::consts::PI).abs() < 0.02, "{estimate}");
    }
}
