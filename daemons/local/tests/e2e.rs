//! End to end with real processes: a master and agents in this test process, executors as
//! real child processes (this package's `mesos-local` binary, which doubles as the command
//! executor), and frameworks speaking the v1 HTTP API through the scheduler SDK, plus pymesos
//! from PyPI as an unmodified third-party client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mesos_core::proto::v1 as pb;
use mesos_scheduler_sdk::matching::{OfferSpace, TaskNeeds};
use mesos_scheduler_sdk::{Driver, DriverConfig, Scheduler, async_trait, run};

struct Cluster {
    master: mesos_master::MasterHandle,
    agents: Vec<mesos_agent::AgentHandle>,
    _dir: tempfile::TempDir,
}

fn executor_dir(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["mesos-executor", "mesos-default-executor"] {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_mesos-local"), bin.join(name)).unwrap();
    }
    bin
}

impl Cluster {
    async fn start(agents: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut flags = mesos_master::MasterFlags::for_local(None);
        flags.allocation_interval = Duration::from_millis(50);
        let master = mesos_master::start(flags).await.unwrap();
        let bin = executor_dir(dir.path());
        let mut handles = Vec::new();
        for i in 0..agents {
            let flags = mesos_agent::AgentFlags::default_for_tests(
                dir.path().join(format!("agent{i}")),
                master.addr().to_string(),
            )
            .with_launcher_dir(&bin)
            .with_resources("cpus:4;mem:2048;disk:1024;ports:[31000-31100]");
            let agent = mesos_agent::Agent::start(flags).await.unwrap();
            tokio::time::timeout(Duration::from_secs(10), agent.agent_id())
                .await
                .expect("agent registers")
                .expect("agent id");
            handles.push(agent);
        }
        Cluster {
            master,
            agents: handles,
            _dir: dir,
        }
    }

    fn master_addr(&self) -> String {
        self.master.addr().to_string()
    }
}

/// Runs each command as one task and records every status.
struct Commands {
    commands: Vec<String>,
    launched: usize,
    statuses: Vec<pb::TaskStatus>,
    kill: Vec<String>,
}

fn terminal(state: pb::TaskState) -> bool {
    use pb::TaskState as S;
    matches!(
        state,
        S::TaskFinished
            | S::TaskFailed
            | S::TaskKilled
            | S::TaskError
            | S::TaskLost
            | S::TaskDropped
    )
}

impl Commands {
    fn new(commands: &[&str]) -> Commands {
        Commands {
            commands: commands.iter().map(|c| c.to_string()).collect(),
            launched: 0,
            statuses: vec![],
            kill: vec![],
        }
    }

    fn finals(&self) -> Vec<(String, pb::TaskState)> {
        let mut out: Vec<(String, pb::TaskState)> = self
            .statuses
            .iter()
            .filter(|s| terminal(s.state()))
            .map(|s| (s.task_id.value.clone(), s.state()))
            .collect();
        out.sort();
        out
    }
}

#[async_trait]
impl Scheduler for Commands {
    async fn offers(&mut self, driver: &Driver, offers: Vec<pb::Offer>) {
        for offer in offers {
            let mut space = OfferSpace::new(&offer).unwrap();
            let needs = TaskNeeds::parse("cpus:0.1;mem:32").unwrap();
            let mut tasks = Vec::new();
            while self.launched < self.commands.len() {
                let Some(resources) = space.take(&needs) else {
                    break;
                };
                let i = self.launched;
                self.launched += 1;
                tasks.push(pb::TaskInfo {
                    name: format!("task-{i}"),
                    task_id: pb::TaskId {
                        value: format!("task-{i}"),
                    },
                    agent_id: offer.agent_id.clone(),
                    resources,
                    command: Some(pb::CommandInfo {
                        value: Some(self.commands[i].clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
            if tasks.is_empty() {
                driver
                    .decline(vec![offer.id.clone()], Some(60.0))
                    .await
                    .unwrap();
            } else {
                driver.launch(offer.id.clone(), tasks).await.unwrap();
            }
        }
    }

    async fn update(&mut self, driver: &Driver, status: pb::TaskStatus) {
        let id = status.task_id.value.clone();
        let state = status.state();
        self.statuses.push(status.clone());
        if state == pb::TaskState::TaskRunning && self.kill.contains(&id) {
            driver
                .kill(status.task_id.clone(), status.agent_id.clone())
                .await
                .unwrap();
        }
        if self.finals().len() == self.commands.len() {
            driver.teardown().await.unwrap();
        }
    }
}

fn framework(name: &str) -> pb::FrameworkInfo {
    pb::FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: name.into(),
        ..Default::default()
    }
}

async fn run_commands(cluster: &Cluster, scheduler: Commands) -> Commands {
    run_commands_as(cluster, scheduler, mesos_scheduler_sdk::Format::Protobuf).await
}

async fn run_commands_as(
    cluster: &Cluster,
    scheduler: Commands,
    format: mesos_scheduler_sdk::Format,
) -> Commands {
    let mut config = DriverConfig::new(cluster.master_addr(), framework("e2e"));
    config.format = format;
    tokio::time::timeout(Duration::from_secs(60), run(config, scheduler))
        .await
        .expect("framework finishes in time")
        .expect("driver runs")
}

/// The same framework speaking JSON: launch, kill, reconcile and teardown with real agents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_framework_launches_kills_and_tears_down() {
    let cluster = Cluster::start(1).await;
    let mut scheduler = Commands::new(&["true", "sleep 100"]);
    scheduler.kill.push("task-1".into());
    let done = run_commands_as(&cluster, scheduler, mesos_scheduler_sdk::Format::Json).await;
    assert_eq!(
        done.finals(),
        vec![
            ("task-0".to_string(), pb::TaskState::TaskFinished),
            ("task-1".to_string(), pb::TaskState::TaskKilled),
        ]
    );
    let state: serde_json::Value =
        reqwest::get(format!("http://{}/master/state", cluster.master_addr()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(state["completed_frameworks"][0]["name"], "e2e", "torn down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_tasks_succeed_fail_and_are_killed() {
    let cluster = Cluster::start(1).await;
    let mut scheduler = Commands::new(&[
        "echo hello from task-0",
        "exit 3",
        "sleep 100 & sleep 100 & wait",
    ]);
    scheduler.kill.push("task-2".into());
    let done = run_commands(&cluster, scheduler).await;
    assert_eq!(
        done.finals(),
        vec![
            ("task-0".to_string(), pb::TaskState::TaskFinished),
            ("task-1".to_string(), pb::TaskState::TaskFailed),
            ("task-2".to_string(), pb::TaskState::TaskKilled),
        ]
    );
    let failed = done
        .statuses
        .iter()
        .find(|s| s.task_id.value == "task-1" && s.state() == pb::TaskState::TaskFailed)
        .unwrap();
    assert!(failed.message().contains('3'), "{}", failed.message());
    // Each terminal update was delivered once.
    for id in ["task-0", "task-1", "task-2"] {
        let n = done
            .statuses
            .iter()
            .filter(|s| s.task_id.value == id && terminal(s.state()))
            .count();
        assert_eq!(n, 1, "{id} reported once");
    }

    // The first task's stdout, read back through the agent's /files/read.
    let agent = &cluster.agents[0];
    let state: serde_json::Value = reqwest::get(format!("http://{}/state", agent.http_addr()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut directory = None;
    for key in ["frameworks", "completed_frameworks"] {
        for fw in state[key].as_array().into_iter().flatten() {
            for ekey in ["executors", "completed_executors"] {
                for e in fw[ekey].as_array().into_iter().flatten() {
                    if e["id"] == "task-0" {
                        directory = e["directory"].as_str().map(str::to_string);
                    }
                }
            }
        }
    }
    let directory = directory.expect("task-0's sandbox in /state");
    let read: serde_json::Value = reqwest::get(format!(
        "http://{}/files/read?path={}/stdout&offset=0",
        agent.http_addr(),
        directory
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(
        read["data"].as_str().unwrap().contains("hello from task-0"),
        "{read}"
    );
    // The master saw the same outcome.
    let metrics: serde_json::Value =
        reqwest::get(format!("http://{}/metrics/snapshot", cluster.master_addr()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(metrics["master/tasks_finished"], 1.0);
    assert_eq!(metrics["master/tasks_failed"], 1.0);
    assert_eq!(metrics["master/tasks_killed"], 1.0);
    // The agent is advertised as `slave(1)@ip:port`, which the web UI and CLI build URLs from.
    let state: serde_json::Value =
        reqwest::get(format!("http://{}/master/state", cluster.master_addr()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        state["slaves"][0]["pid"],
        format!("slave(1)@{}", agent.http_addr()).as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_spread_over_several_agents() {
    let cluster = Cluster::start(2).await;
    let commands: Vec<String> = (0..8).map(|i| format!("echo {i}")).collect();
    let refs: Vec<&str> = commands.iter().map(String::as_str).collect();
    let done = run_commands(&cluster, Commands::new(&refs)).await;
    let finals = done.finals();
    assert_eq!(finals.len(), 8);
    assert!(
        finals
            .iter()
            .all(|(_, s)| *s == pb::TaskState::TaskFinished),
        "{finals:?}"
    );
}

/// pymesos 0.3.15 from PyPI, unmodified, runs command tasks to completion. Its virtualenv is
/// built by `scripts/pymesos-env` (the test command runs it first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymesos_launches_command_tasks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join("target/pymesos-venv/bin/python");
    assert!(
        python.exists(),
        "pymesos is not installed: run scripts/pymesos-env (scripts/test does) to build {}",
        python.display()
    );
    let cluster = Cluster::start(1).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pymesos/launch_tasks.py");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&python)
            .arg(&script)
            .arg(cluster.master_addr())
            .arg("3")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("pymesos finishes in time")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "pymesos failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("finished 3 of 3"), "{stdout}");
}

/// Records every status and launches `sleep` tasks until `total` are running.
struct Sleepers {
    total: usize,
    launched: usize,
    seen: std::sync::Arc<std::sync::Mutex<Vec<pb::TaskStatus>>>,
    subscriptions: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The driver handle, so the test can send calls.
    driver: std::sync::Arc<std::sync::Mutex<Option<Driver>>>,
}

#[async_trait]
impl Scheduler for Sleepers {
    async fn subscribed(&mut self, driver: &Driver, _info: mesos_scheduler_sdk::Subscribed) {
        *self.driver.lock().unwrap() = Some(driver.clone());
        self.subscriptions
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    async fn offers(&mut self, driver: &Driver, offers: Vec<pb::Offer>) {
        for offer in offers {
            let mut space = OfferSpace::new(&offer).unwrap();
            let needs = TaskNeeds::parse("cpus:0.1;mem:32").unwrap();
            let mut tasks = Vec::new();
            while self.launched < self.total {
                let Some(resources) = space.take(&needs) else {
                    break;
                };
                let id = format!("sleeper-{}", self.launched);
                self.launched += 1;
                tasks.push(pb::TaskInfo {
                    name: id.clone(),
                    task_id: pb::TaskId { value: id },
                    agent_id: offer.agent_id.clone(),
                    resources,
                    command: Some(pb::CommandInfo {
                        value: Some("sleep 1000".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
            if tasks.is_empty() {
                let _ = driver.decline(vec![offer.id.clone()], Some(3600.0)).await;
            } else {
                driver.launch(offer.id.clone(), tasks).await.unwrap();
            }
        }
    }

    async fn update(&mut self, _driver: &Driver, status: pb::TaskStatus) {
        self.seen.lock().unwrap().push(status);
    }
}

/// Killing the master and starting it again (same port, same work_dir) loses no running task:
/// the agent re-registers with its tasks, the framework re-subscribes with its id and
/// reconciliation reports every task RUNNING.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_restart_loses_no_running_task() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let master_dir = dir.path().join("master");
    let start_master = |port: u16| {
        let mut flags =
            mesos_master::MasterFlags::for_local(Some(master_dir.display().to_string()));
        flags.port = port;
        flags.allocation_interval = Duration::from_millis(50);
        mesos_master::start(flags)
    };
    let master = start_master(0).await.unwrap();
    let port = master.addr().port();
    let bin = executor_dir(dir.path());
    let agent = mesos_agent::Agent::start(
        mesos_agent::AgentFlags::default_for_tests(
            dir.path().join("agent"),
            master.addr().to_string(),
        )
        .with_launcher_dir(&bin)
        .with_resources("cpus:4;mem:2048;disk:1024"),
    )
    .await
    .unwrap();
    let agent_id = agent.agent_id().await.unwrap();

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let subscriptions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handle = std::sync::Arc::new(std::sync::Mutex::new(None));
    let mut info = framework("restart");
    info.failover_timeout = Some(3600.0);
    info.checkpoint = Some(true);
    let driver = tokio::spawn(run(
        DriverConfig::new(master.addr().to_string(), info),
        Sleepers {
            total: 3,
            launched: 0,
            seen: seen.clone(),
            subscriptions: subscriptions.clone(),
            driver: handle.clone(),
        },
    ));
    let running = |seen: &std::sync::Mutex<Vec<pb::TaskStatus>>| {
        let mut ids: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.state() == pb::TaskState::TaskRunning)
            .map(|s| s.task_id.value.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    let t = std::time::Instant::now();
    while running(&seen) < 3 {
        assert!(t.elapsed() < Duration::from_secs(30), "tasks did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A dynamic reservation made before the restart must survive it: the master checkpoints
    // it on the agent, which reports it when it re-registers.
    let resources = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":0.5},
        "reservations":[{"type":"DYNAMIC","role":"web","principal":"ops"}]}]"#;
    let encoded: String = resources
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let reserve = reqwest::Client::new()
        .post(format!("http://{}/master/reserve", master.addr()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("slaveId={agent_id}&resources={encoded}"))
        .send()
        .await
        .unwrap();
    assert_eq!(reserve.status(), 202, "{}", reserve.text().await.unwrap());
    let checkpointed = dir.path().join("agent/meta/resources/resources.info");
    let t = std::time::Instant::now();
    while !checkpointed.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "agent did not checkpoint"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    master.shutdown().await;
    let before = seen.lock().unwrap().len();
    let master = start_master(port).await.unwrap();

    // The agent re-registers with its tasks and the framework re-subscribes with its id.
    let t = std::time::Instant::now();
    loop {
        let state: serde_json::Value =
            reqwest::get(format!("http://{}/master/state", master.addr()))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let tasks = state["frameworks"][0]["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let all_running = tasks.len() == 3 && tasks.iter().all(|t| t["state"] == "TASK_RUNNING");
        if all_running
            && state["slaves"][0]["id"] == agent_id.as_str()
            && state["slaves"][0]["reserved_resources"]["web"]["cpus"] == 0.5
            && state["frameworks"][0]["connected"] == true
            && subscriptions.load(Ordering::SeqCst) >= 2
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "cluster did not recover: {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Implicit reconciliation reports every task RUNNING.
    let driver_handle = handle.lock().unwrap().clone().unwrap();
    driver_handle.reconcile(vec![]).await.unwrap();
    let t = std::time::Instant::now();
    loop {
        let reconciled: std::collections::BTreeSet<String> = seen.lock().unwrap()[before..]
            .iter()
            .filter(|s| {
                s.reason() == pb::task_status::Reason::Reconciliation
                    && s.state() == pb::TaskState::TaskRunning
            })
            .map(|s| s.task_id.value.clone())
            .collect();
        if reconciled.len() == 3 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "reconciliation answered {reconciled:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ended = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| terminal(s.state()))
        .count();
    assert_eq!(ended, 0, "no task ended across the restart");
    driver.abort();
    agent.shutdown().await;
    master.shutdown().await;
}
