//! `hello_world`: launches N command tasks, waits for all of them to finish, and exits with
//! their status (0 when every task finished, 1 otherwise).
//!
//! ```text
//! cargo run --release --bin mesos-local &        # a local cluster on 127.0.0.1:5050
//! cargo run --release --example hello_world -- --master 127.0.0.1:5050 --tasks 5
//! ```
//!
//! It works the same against Apache Mesos 1.x. Flags: `--master HOST:PORT`, `--tasks N`,
//! `--command CMD` (run by `sh -c`), `--resources cpus:0.1;mem:32` per task, `--role ROLE`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;
use mesos_core::proto::v1 as pb;
use mesos_scheduler_sdk::matching::{OfferSpace, TaskNeeds};
use mesos_scheduler_sdk::{Driver, DriverConfig, Scheduler, async_trait, run};

#[derive(Parser)]
#[command(about = "Launch N command tasks and wait for them to finish")]
struct Args {
    /// The master, as host:port.
    #[arg(long, default_value = "127.0.0.1:5050")]
    master: String,
    /// How many tasks to run.
    #[arg(long, default_value_t = 3)]
    tasks: usize,
    /// The command each task runs (through `sh -c`).
    #[arg(long, default_value = "echo hello from $(hostname)")]
    command: String,
    /// Resources of each task.
    #[arg(long, default_value = "cpus:0.1;mem:32")]
    resources: String,
    /// Role to subscribe with.
    #[arg(long, default_value = "*")]
    role: String,
}

struct HelloWorld {
    needs: TaskNeeds,
    command: String,
    total: usize,
    launched: usize,
    /// Terminal state of each finished task.
    done: BTreeMap<String, pb::TaskState>,
}

#[async_trait]
impl Scheduler for HelloWorld {
    async fn offers(&mut self, driver: &Driver, offers: Vec<pb::Offer>) {
        for offer in offers {
            let mut space = match OfferSpace::new(&offer) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("skipping offer: {e}");
                    continue;
                }
            };
            let mut tasks = Vec::new();
            while self.launched < self.total {
                let Some(resources) = space.take(&self.needs) else {
                    break;
                };
                let id = format!("hello-{}", self.launched);
                self.launched += 1;
                tasks.push(pb::TaskInfo {
                    name: id.clone(),
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
            let result = if tasks.is_empty() {
                driver.decline(vec![offer.id.clone()], Some(30.0)).await
            } else {
                println!("launching {} task(s) on {}", tasks.len(), offer.hostname);
                driver.launch(offer.id.clone(), tasks).await
            };
            if let Err(e) = result {
                eprintln!("call failed: {e}");
            }
        }
        if self.launched == self.total {
            let _ = driver.suppress(vec![]).await;
        }
    }

    async fn update(&mut self, driver: &Driver, status: pb::TaskStatus) {
        let state = status.state();
        println!("{} is {}", status.task_id.value, state.as_str_name());
        if is_terminal(state) {
            if state != pb::TaskState::TaskFinished {
                eprintln!("  {}", status.message.unwrap_or_default());
            }
            self.done.insert(status.task_id.value, state);
            if self.done.len() == self.total {
                let _ = driver.teardown().await;
            }
        }
    }

    async fn error(&mut self, _driver: &Driver, message: String) {
        eprintln!("master error: {message}");
    }
}

fn is_terminal(state: pb::TaskState) -> bool {
    use pb::TaskState as S;
    matches!(
        state,
        S::TaskFinished
            | S::TaskFailed
            | S::TaskKilled
            | S::TaskError
            | S::TaskLost
            | S::TaskDropped
            | S::TaskGone
            | S::TaskGoneByOperator
    )
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let needs = match TaskNeeds::parse(&args.resources) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    #[allow(deprecated)]
    let framework = pb::FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: "hello_world".into(),
        role: Some(args.role.clone()),
        ..Default::default()
    };
    let scheduler = HelloWorld {
        needs,
        command: args.command,
        total: args.tasks,
        launched: 0,
        done: BTreeMap::new(),
    };
    if args.tasks == 0 {
        return ExitCode::SUCCESS;
    }
    match run(DriverConfig::new(args.master, framework), scheduler).await {
        Ok(s) => {
            let finished = s
                .done
                .values()
                .filter(|st| **st == pb::TaskState::TaskFinished)
                .count();
            println!("{finished} of {} task(s) finished", s.total);
            if finished == s.total {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("hello_world: {e}");
            ExitCode::from(1)
        }
    }
}
