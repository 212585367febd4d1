//! `execute`: runs one command as a task, like Mesos's `mesos-execute`, and prints the
//! task's states as they arrive. Exits 0 when the task finished.
//!
//! ```text
//! cargo run --example execute -- --master 127.0.0.1:5050 --name sleepy \
//!     --command 'sleep 2; echo done' --resources 'cpus:0.5;mem:64' --checkpoint
//! ```
//!
//! Flags follow mesos-execute: `--master`, `--name`, `--command`, `--resources`
//! (default `cpus:1;mem:128`), `--role`, `--checkpoint`, `--kill_after` (e.g. `10secs`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mesos_core::duration::parse_duration;
use mesos_core::proto::v1 as pb;
use mesos_scheduler_sdk::matching::{OfferSpace, TaskNeeds};
use mesos_scheduler_sdk::{Driver, DriverConfig, Scheduler, async_trait, run};

#[derive(Parser)]
#[command(rename_all = "snake_case", about = "Run one command as a Mesos task")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:5050")]
    master: String,
    /// Task name (also its id).
    #[arg(long)]
    name: String,
    /// Shell command to run.
    #[arg(long)]
    command: String,
    #[arg(long, default_value = "cpus:1;mem:128")]
    resources: String,
    #[arg(long, default_value = "*")]
    role: String,
    /// Ask the agent to checkpoint the task so it survives an agent restart.
    #[arg(long, default_value_t = false)]
    checkpoint: bool,
    /// Kill the task after this long (Mesos duration text, such as `10secs`).
    #[arg(long, value_parser = parse_duration)]
    kill_after: Option<Duration>,
}

struct Execute {
    args: Args,
    needs: TaskNeeds,
    launched: bool,
    last: Option<pb::TaskState>,
}

#[async_trait]
impl Scheduler for Execute {
    async fn offers(&mut self, driver: &Driver, offers: Vec<pb::Offer>) {
        for offer in offers {
            let taken = if self.launched {
                None
            } else {
                OfferSpace::new(&offer)
                    .ok()
                    .and_then(|mut s| s.take(&self.needs))
            };
            let Some(resources) = taken else {
                let _ = driver.decline(vec![offer.id.clone()], Some(60.0)).await;
                continue;
            };
            self.launched = true;
            let task = pb::TaskInfo {
                name: self.args.name.clone(),
                task_id: pb::TaskId {
                    value: self.args.name.clone(),
                },
                agent_id: offer.agent_id.clone(),
                resources,
                command: Some(pb::CommandInfo {
                    value: Some(self.args.command.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            println!(
                "Submitting task '{}' to agent {}",
                self.args.name, offer.agent_id.value
            );
            if let Err(e) = driver.launch(offer.id.clone(), vec![task]).await {
                eprintln!("launch failed: {e}");
            }
            if let Some(after) = self.args.kill_after {
                let d = driver.clone();
                let id = pb::TaskId {
                    value: self.args.name.clone(),
                };
                let agent = offer.agent_id.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    println!("Killing task after {after:?}");
                    let _ = d.kill(id, Some(agent)).await;
                });
            }
        }
    }

    async fn update(&mut self, driver: &Driver, status: pb::TaskStatus) {
        let state = status.state();
        println!(
            "Received status update {} for task '{}'",
            state.as_str_name(),
            status.task_id.value
        );
        if let Some(m) = status.message.as_ref().filter(|m| !m.is_empty()) {
            println!("  message: '{m}'");
        }
        self.last = Some(state);
        use pb::TaskState as S;
        if matches!(
            state,
            S::TaskFinished
                | S::TaskFailed
                | S::TaskKilled
                | S::TaskError
                | S::TaskLost
                | S::TaskDropped
                | S::TaskGone
        ) {
            let _ = driver.teardown().await;
        }
    }
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
        name: format!("mesos-execute instance for {}", args.name),
        role: Some(args.role.clone()),
        checkpoint: Some(args.checkpoint),
        ..Default::default()
    };
    let master = args.master.clone();
    let scheduler = Execute {
        args,
        needs,
        launched: false,
        last: None,
    };
    match run(DriverConfig::new(master, framework), scheduler).await {
        Ok(s) if s.last == Some(pb::TaskState::TaskFinished) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("execute: {e}");
            ExitCode::from(1)
        }
    }
}
