//! SIGKILL of a real `mesos-agent` process with running tasks, then a restart on the same
//! work_dir and port: the agent re-adopts its executors, re-registers with the same id, every
//! task is still running and was reported RUNNING exactly once, and the tasks can still be
//! killed. The master and the framework (through the scheduler SDK) run in this process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mesos_core::proto::v1 as pb;
use mesos_scheduler_sdk::matching::{OfferSpace, TaskNeeds};
use mesos_scheduler_sdk::{Driver, DriverConfig, Scheduler, async_trait, run};

const TASKS: usize = 5;

/// Kills the agent and every executor started under `work_dir` when the test ends, pass or fail.
struct Cleanup {
    agent: Option<Child>,
    work_dir: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut a) = self.agent.take() {
            let _ = a.kill();
            let _ = a.wait();
        }
        kill_executors_under(&self.work_dir);
    }
}

/// Executors carry `MESOS_DIRECTORY=<work_dir>/...` in their environment.
fn kill_executors_under(work_dir: &Path) {
    let needle = format!("MESOS_DIRECTORY={}", work_dir.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|v| v.starts_with(needle.as_bytes()))
        {
            let _ = Command::new("kill")
                .arg("-9")
                .arg(format!("-{pid}"))
                .status();
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_agent(master: &str, work_dir: &Path, port: u16) -> Child {
    let launcher_dir = Path::new(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_mesos-agent"))
        .arg(format!("--master={master}"))
        .arg(format!("--work_dir={}", work_dir.display()))
        .arg(format!("--runtime_dir={}", work_dir.join("run").display()))
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--launcher_dir={}", launcher_dir.display()))
        .arg("--resources=cpus:4;mem:2048;disk:1024")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("mesos-agent starts")
}

#[derive(Default)]
struct Seen {
    statuses: Vec<pb::TaskStatus>,
}

struct LongTasks {
    launched: usize,
    seen: Arc<Mutex<Seen>>,
}

#[async_trait]
impl Scheduler for LongTasks {
    async fn offers(&mut self, driver: &Driver, offers: Vec<pb::Offer>) {
        for offer in offers {
            let mut space = OfferSpace::new(&offer).unwrap();
            let needs = TaskNeeds::parse("cpus:0.1;mem:32").unwrap();
            let mut tasks = Vec::new();
            while self.launched < TASKS {
                let Some(resources) = space.take(&needs) else {
                    break;
                };
                let id = format!("long-{}", self.launched);
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
        self.seen.lock().unwrap().statuses.push(status);
    }
}

fn count(seen: &Arc<Mutex<Seen>>, state: pb::TaskState) -> usize {
    seen.lock()
        .unwrap()
        .statuses
        .iter()
        .filter(|s| s.state() == state)
        .count()
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn master_state(master: &str) -> serde_json::Value {
    let body = reqwest::get(format!("http://{master}/master/state"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_loses_no_task() {
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().join("agent");
    let mut flags = mesos_master::MasterFlags::for_local(None);
    flags.allocation_interval = Duration::from_millis(50);
    let master = mesos_master::start(flags).await.unwrap();
    let master_addr = master.addr().to_string();
    let port = free_port();
    let mut cleanup = Cleanup {
        agent: Some(start_agent(&master_addr, &work_dir, port)),
        work_dir: work_dir.clone(),
    };

    let seen = Arc::new(Mutex::new(Seen::default()));
    let framework = pb::FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: "sigkill".into(),
        checkpoint: Some(true),
        failover_timeout: Some(3600.0),
        ..Default::default()
    };
    let driver = tokio::spawn(run(
        DriverConfig::new(master_addr.clone(), framework),
        LongTasks {
            launched: 0,
            seen: seen.clone(),
        },
    ));
    wait_for("all tasks RUNNING", Duration::from_secs(30), || {
        count(&seen, pb::TaskState::TaskRunning) == TASKS
    })
    .await;
    // Let the acknowledgements reach the agent's checkpoints.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let state = master_state(&master_addr).await;
    let agent_id = state["slaves"][0]["id"].as_str().unwrap().to_string();

    // SIGKILL: no chance to clean up or flush anything.
    let mut agent = cleanup.agent.take().unwrap();
    agent.kill().unwrap();
    agent.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    cleanup.agent = Some(start_agent(&master_addr, &work_dir, port));

    // The agent comes back with the same id and all tasks still running.
    let start = Instant::now();
    loop {
        let state = master_state(&master_addr).await;
        let same_agent = state["slaves"][0]["id"] == agent_id.as_str()
            && state["slaves"][0]["active"] == true
            && state["slaves"][0]["reregistered_time"].is_number();
        let running = state["frameworks"][0]["tasks"]
            .as_array()
            .map(|t| t.iter().filter(|t| t["state"] == "TASK_RUNNING").count())
            .unwrap_or(0);
        if same_agent && running == TASKS {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "agent did not come back with its tasks: {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let agent_state: serde_json::Value = serde_json::from_slice(
        &reqwest::get(format!("http://127.0.0.1:{port}/state"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(agent_state["id"], agent_id.as_str());
    let agent_tasks: usize = agent_state["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["executors"].as_array().cloned().unwrap_or_default())
        .map(|e| e["tasks"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        agent_tasks, TASKS,
        "each task once on the agent: {agent_state}"
    );

    // Nothing was lost or reported twice.
    tokio::time::sleep(Duration::from_secs(1)).await;
    {
        let seen = seen.lock().unwrap();
        for i in 0..TASKS {
            let id = format!("long-{i}");
            let running = seen
                .statuses
                .iter()
                .filter(|s| s.task_id.value == id && s.state() == pb::TaskState::TaskRunning)
                .count();
            assert_eq!(
                running, 1,
                "{id} reported RUNNING once: {:?}",
                seen.statuses
            );
        }
        let terminal = seen
            .statuses
            .iter()
            .filter(|s| {
                !matches!(
                    s.state(),
                    pb::TaskState::TaskRunning
                        | pb::TaskState::TaskStarting
                        | pb::TaskState::TaskStaging
                )
            })
            .count();
        assert_eq!(terminal, 0, "no task ended: {:?}", seen.statuses);
    }

    // The re-adopted executors still obey the agent: a teardown stops them all.
    driver.abort();
    let teardown = reqwest::Client::new()
        .post(format!("http://{master_addr}/master/teardown"))
        .body(format!(
            "frameworkId={}",
            master_state(&master_addr).await["frameworks"][0]["id"]
                .as_str()
                .unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(teardown.status(), 200);
    let start = Instant::now();
    loop {
        let s: serde_json::Value = serde_json::from_slice(
            &reqwest::get(format!("http://127.0.0.1:{port}/state"))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        let live: usize = s["frameworks"]
            .as_array()
            .map(|f| {
                f.iter()
                    .flat_map(|f| f["executors"].as_array().cloned().unwrap_or_default())
                    .count()
            })
            .unwrap_or(0);
        if live == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "executors still running: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(cleanup);
    master.shutdown().await;
}
