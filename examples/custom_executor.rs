//! `custom_executor`: a framework that brings its own executor, built on
//! `mesos-executor-sdk`. It launches two tasks on one executor (same `ExecutorInfo`), sends
//! each task a framework message once it runs, and the executor answers with a message of its
//! own (naming its process id, which shows both tasks share one executor) and finishes the
//! task. Exits 0 when both tasks finished and both answers came back from the same executor.
//!
//! ```text
//! cargo run --release --bin mesos-local &
//! cargo run --release --example custom_executor -- --master 127.0.0.1:5050
//! ```
//!
//! The executor is this same program started with `--executor`; it reaches the sandbox
//! through the fetcher (`file://` URI of this binary), so agents must be able to read the path
//! the framework runs from.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use clap::Parser;
use mesos_core::proto::v1 as pb;
use mesos_executor_sdk::{Executor, ExecutorDriver};
use mesos_scheduler_sdk::matching::{OfferSpace, TaskNeeds};
use mesos_scheduler_sdk::{Driver, DriverConfig, Scheduler, async_trait, run};

#[derive(Parser)]
#[command(about = "Two tasks on one custom executor, talking through framework messages")]
struct Args {
    /// The master, as host:port.
    #[arg(long, default_value = "127.0.0.1:5050")]
    master: String,
    /// Run as the executor (the agent starts the program this way).
    #[arg(long)]
    executor: bool,
}

const EXECUTOR_ID: &str = "echo-executor";
const TASKS: [&str; 2] = ["echo-1", "echo-2"];

// ------------------------------------------------------------------ the executor

/// Reports each task running, and finishes it when the framework's message for it arrives.
struct EchoExecutor {
    tasks: BTreeMap<String, pb::TaskInfo>,
}

fn status(task_id: &pb::TaskId, state: pb::TaskState, message: &str) -> pb::TaskStatus {
    pb::TaskStatus {
        task_id: task_id.clone(),
        state: state as i32,
        message: Some(message.to_string()),
        ..Default::default()
    }
}

#[async_trait]
impl Executor for EchoExecutor {
    async fn launch(&mut self, driver: &ExecutorDriver, task: pb::TaskInfo) {
        let running = status(
            &task.task_id,
            pb::TaskState::TaskRunning,
            "waiting for a message",
        );
        self.tasks.insert(task.task_id.value.clone(), task);
        if let Err(e) = driver.send_update(running).await {
            eprintln!("update failed: {e}");
        }
    }

    async fn kill(
        &mut self,
        driver: &ExecutorDriver,
        task_id: pb::TaskId,
        _: Option<pb::KillPolicy>,
    ) {
        self.tasks.remove(&task_id.value);
        let _ = driver
            .send_update(status(&task_id, pb::TaskState::TaskKilled, "killed"))
            .await;
    }

    async fn message(&mut self, driver: &ExecutorDriver, data: Vec<u8>) {
        let text = String::from_utf8_lossy(&data).to_string();
        let Some(task) = text.strip_prefix("ping:") else {
            eprintln!("unexpected message {text:?}");
            return;
        };
        let Some(info) = self.tasks.remove(task) else {
            eprintln!("message for unknown task {task}");
            return;
        };
        let reply = format!("pong:{task}:{}", std::process::id());
        if let Err(e) = driver.send_message(reply.into_bytes()).await {
            eprintln!("message failed: {e}");
        }
        let _ = driver
            .send_update(status(
                &info.task_id,
                pb::TaskState::TaskFinished,
                "answered",
            ))
            .await;
    }

    async fn shutdown(&mut self, driver: &ExecutorDriver) {
        driver
            .wait_acknowledged(std::time::Duration::from_secs(5))
            .await;
    }
}

// ------------------------------------------------------------------ the framework

struct Framework {
    exe: String,
    launched: bool,
    running: BTreeSet<String>,
    finished: BTreeSet<String>,
    /// Task → the executor process that answered for it.
    answers: BTreeMap<String, String>,
    failed: usize,
}

impl Framework {
    fn executor_info(&self) -> pb::ExecutorInfo {
        pb::ExecutorInfo {
            r#type: Some(pb::executor_info::Type::Custom as i32),
            executor_id: pb::ExecutorId {
                value: EXECUTOR_ID.into(),
            },
            name: Some("echo executor".into()),
            command: Some(pb::CommandInfo {
                uris: vec![pb::command_info::Uri {
                    value: format!("file://{}", self.exe),
                    executable: Some(true),
                    output_file: Some("custom_executor".into()),
                    ..Default::default()
                }],
                value: Some("./custom_executor --executor".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn done(&self) -> bool {
        self.failed > 0 || (self.finished.len() == TASKS.len() && self.answers.len() == TASKS.len())
    }
}

#[async_trait]
impl Scheduler for Framework {
    async fn offers(&mut self, driver: &Driver, offers: Vec<pb::Offer>) {
        let needs = TaskNeeds::parse("cpus:0.1;mem:32").expect("valid resources");
        for offer in offers {
            let mut launch = Vec::new();
            if !self.launched
                && let Ok(mut space) = OfferSpace::new(&offer)
            {
                // The executor's own resources, then each task's.
                let executor_resources = space.take(&needs);
                let task_resources: Vec<_> =
                    TASKS.iter().map_while(|_| space.take(&needs)).collect();
                if let (Some(executor_resources), 2) = (executor_resources, task_resources.len()) {
                    let mut executor = self.executor_info();
                    executor.resources = executor_resources;
                    for (name, resources) in TASKS.iter().zip(task_resources) {
                        launch.push(pb::TaskInfo {
                            name: (*name).into(),
                            task_id: pb::TaskId {
                                value: (*name).into(),
                            },
                            agent_id: offer.agent_id.clone(),
                            resources,
                            executor: Some(executor.clone()),
                            ..Default::default()
                        });
                    }
                }
            }
            let result = if launch.is_empty() {
                driver.decline(vec![offer.id.clone()], Some(30.0)).await
            } else {
                self.launched = true;
                println!(
                    "launching {} tasks on one executor on {}",
                    launch.len(),
                    offer.hostname
                );
                driver.launch(offer.id.clone(), launch).await
            };
            if let Err(e) = result {
                eprintln!("call failed: {e}");
            }
        }
    }

    async fn update(&mut self, driver: &Driver, status: pb::TaskStatus) {
        use pb::TaskState as S;
        let id = status.task_id.value.clone();
        println!("{id} is {}", status.state().as_str_name());
        match status.state() {
            S::TaskRunning if self.running.insert(id.clone()) => {
                let (Some(agent), Some(executor)) = (status.agent_id, status.executor_id) else {
                    eprintln!("{id}: update without agent or executor id");
                    self.failed += 1;
                    return;
                };
                if let Err(e) = driver
                    .message(agent, executor, format!("ping:{id}").into_bytes())
                    .await
                {
                    eprintln!("message failed: {e}");
                    self.failed += 1;
                }
            }
            S::TaskFinished => {
                self.finished.insert(id);
            }
            S::TaskFailed | S::TaskKilled | S::TaskLost | S::TaskError | S::TaskDropped => {
                eprintln!("{id}: {}", status.message());
                self.failed += 1;
            }
            _ => {}
        }
        if self.done() {
            let _ = driver.teardown().await;
        }
    }

    async fn message(
        &mut self,
        driver: &Driver,
        _agent_id: pb::AgentId,
        executor_id: pb::ExecutorId,
        data: Vec<u8>,
    ) {
        let text = String::from_utf8_lossy(&data).to_string();
        println!("message from {}: {text}", executor_id.value);
        if let Some(rest) = text.strip_prefix("pong:")
            && let Some((task, pid)) = rest.split_once(':')
        {
            self.answers.insert(task.to_string(), pid.to_string());
        }
        if self.done() {
            let _ = driver.teardown().await;
        }
    }

    async fn error(&mut self, _driver: &Driver, message: String) {
        eprintln!("master error: {message}");
        self.failed += 1;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.executor {
        let config = match mesos_executor_sdk::Config::from_env() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("not started by an agent: {e}");
                return ExitCode::from(2);
            }
        };
        let executor = EchoExecutor {
            tasks: BTreeMap::new(),
        };
        return match mesos_executor_sdk::run(executor, config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("executor failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p.display().to_string(),
        Err(e) => {
            eprintln!("cannot find this program's path: {e}");
            return ExitCode::from(2);
        }
    };
    let framework = pb::FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: "custom_executor".into(),
        ..Default::default()
    };
    let scheduler = Framework {
        exe,
        launched: false,
        running: BTreeSet::new(),
        finished: BTreeSet::new(),
        answers: BTreeMap::new(),
        failed: 0,
    };
    let done = match run(DriverConfig::new(args.master, framework), scheduler).await {
        Ok(done) => done,
        Err(e) => {
            eprintln!("framework failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let executors: BTreeSet<&String> = done.answers.values().collect();
    let ok = done.failed == 0
        && done.finished.len() == TASKS.len()
        && done.answers.len() == TASKS.len()
        && executors.len() == 1;
    if ok {
        println!("both tasks answered from executor process {:?}", executors);
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "finished {:?}, answers {:?}, failures {}",
            done.finished, done.answers, done.failed
        );
        ExitCode::FAILURE
    }
}
