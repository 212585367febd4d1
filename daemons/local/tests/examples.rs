//! Every example framework, run as a real process against a master and a real agent in this
//! test process: each must exit 0. `service_keeper` also rides out a master restart with the
//! right number of copies still running.
//!
//! The example binaries are the ones `cargo test --workspace` builds into
//! `target/debug/examples`; when this package's tests run alone and they are missing, they are
//! built first into a separate target directory (a nested cargo on the same one would wait for
//! the lock the outer `cargo test` holds).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The path of an example's binary, building the examples if they are not there.
fn example(name: &str) -> PathBuf {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mesos-local"))
        .parent()
        .expect("target/debug")
        .to_path_buf();
    let built = bin_dir.join("examples").join(name);
    if built.exists() {
        return built;
    }
    let own_target = bin_dir.join("example-tests");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "mesos-examples", "--examples"])
        .arg("--target-dir")
        .arg(&own_target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the examples failed");
    own_target.join("debug/examples").join(name)
}

struct Cluster {
    master: Option<mesos_master::MasterHandle>,
    port: u16,
    agent: Option<mesos_agent::AgentHandle>,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn master_flags(dir: &Path, port: u16) -> mesos_master::MasterFlags {
        let mut flags =
            mesos_master::MasterFlags::for_local(Some(dir.join("master").display().to_string()));
        flags.port = port;
        flags.allocation_interval = Duration::from_millis(50);
        flags
    }

    async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let master = mesos_master::start(Self::master_flags(dir.path(), 0))
            .await
            .unwrap();
        let port = master.addr().port();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for name in ["mesos-executor", "mesos-default-executor"] {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_mesos-local"), bin.join(name)).unwrap();
        }
        let flags = mesos_agent::AgentFlags::default_for_tests(
            dir.path().join("agent"),
            master.addr().to_string(),
        )
        .with_launcher_dir(&bin)
        .with_resources("cpus:4;mem:4096;disk:1024;ports:[31000-31100]");
        let agent = mesos_agent::Agent::start(flags).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), agent.agent_id())
            .await
            .expect("agent registers")
            .expect("agent id");
        Cluster {
            master: Some(master),
            port,
            agent: Some(agent),
            dir,
        }
    }

    fn master_addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the master and starts a new one on the same port and registry.
    async fn restart_master(&mut self) {
        if let Some(m) = self.master.take() {
            m.shutdown().await;
        }
        let master = mesos_master::start(Self::master_flags(self.dir.path(), self.port))
            .await
            .expect("restarted master");
        self.master = Some(master);
    }

    async fn stop(mut self) {
        if let Some(a) = self.agent.take() {
            a.shutdown().await;
        }
        if let Some(m) = self.master.take() {
            m.shutdown().await;
        }
    }
}

/// Runs an example to completion (at most a minute) and returns its exit success and output.
async fn run_example(name: &str, args: &[&str]) -> (bool, String) {
    let mut command = tokio::process::Command::new(example(name));
    command.args(args).kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("{name} did not finish within a minute"))
        .expect("example runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_runs_to_completion() {
    let cluster = Cluster::start().await;
    let master = cluster.master_addr();
    let runs: [(&str, Vec<&str>); 4] = [
        ("hello_world", vec!["--master", &master, "--tasks", "3"]),
        (
            "execute",
            vec![
                "--master",
                &master,
                "--name",
                "once",
                "--command",
                "echo executed",
            ],
        ),
        (
            "batch_pi",
            vec![
                "--master",
                &master,
                "--tasks",
                "3",
                "--samples",
                "300000",
                "--tolerance",
                "0.03",
            ],
        ),
        ("custom_executor", vec!["--master", &master]),
    ];
    for (name, args) in runs {
        let (ok, output) = run_example(name, &args).await;
        assert!(ok, "{name} failed:\n{output}");
    }
    // custom_executor's two tasks shared one executor: the example checks it and says so.
    let (_, output) = run_example("custom_executor", &["--master", &master]).await;
    assert!(
        output.contains("both tasks answered from executor process"),
        "{output}"
    );
    cluster.stop().await;
}

/// The framework's tasks the master knows as running.
async fn running_tasks(master: &str, framework_name: &str) -> Vec<String> {
    let state: serde_json::Value = reqwest::get(format!("http://{master}/master/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == framework_name)
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["state"] == "TASK_RUNNING")
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_keeper_rides_out_a_master_restart() {
    let mut cluster = Cluster::start().await;
    let master = cluster.master_addr();
    let id_file = cluster.dir.path().join("keeper.id");
    let mut keeper = Command::new(example("service_keeper"))
        .args(["--master", &master, "--instances", "2", "--run_for", "4"])
        .arg("--id_file")
        .arg(&id_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("service_keeper starts");
    let stdout = keeper.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let wait_for = |needle: &str, within: Duration| {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(100)) {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
        }
        panic!("no '{needle}' from service_keeper; it printed {seen:?}");
    };
    wait_for("running=2", Duration::from_secs(30));
    let before = running_tasks(&master, "service_keeper").await;
    assert_eq!(before.len(), 2, "{before:?}");

    // The master goes away and comes back; the agent re-registers with the running copies
    // and the keeper fails over to the new master, reconciles and adopts them.
    cluster.restart_master().await;
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = keeper.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = keeper.kill();
                let printed: Vec<String> = lines_rx.try_iter().collect();
                panic!("service_keeper did not finish after the master restart: {printed:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "service_keeper failed after the restart");
    let after = running_tasks(&master, "service_keeper").await;
    assert_eq!(
        after.len(),
        2,
        "two copies run after the restart: {after:?}"
    );
    let mut kept: Vec<&String> = after.iter().filter(|t| before.contains(t)).collect();
    kept.sort();
    assert_eq!(
        kept.len(),
        2,
        "the same copies were adopted, none relaunched: {before:?} -> {after:?}"
    );
    cluster.stop().await;
}
