//! `zk://` masters: a real ZooKeeper (Debian's `zookeeperd`, started standalone on a free
//! loopback port) holds the masters' `json.info_*` nodes the way Mesos's contenders write them;
//! the driver finds the leader there and subscribes to it, and an agent started with
//! `--master=zk://...` registers with it. When the leader's node goes, the next one leads.
//!
//! `scripts/test` installs `zookeeperd`. Without it this test fails under CI and, elsewhere,
//! says why it skips.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use mesos_core::proto::v1 as pb;
use mesos_scheduler_sdk::{Driver, DriverConfig, Scheduler, Subscribed, async_trait, run};
use zookeeper_client::{Acls, Client, CreateMode};

const ZK_SERVER: &str = "/usr/share/zookeeper/bin/zkServer.sh";

/// A standalone ZooKeeper in its own process group, stopped with the group.
struct ZooKeeper {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        // zkServer.sh runs java as a child: signal the whole group.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts ZooKeeper, or returns `None` (outside CI) when it is not installed.
async fn start_zookeeper() -> Option<ZooKeeper> {
    if !Path::new(ZK_SERVER).exists() {
        let why =
            format!("ZooKeeper is not installed ({ZK_SERVER}); scripts/test installs zookeeperd");
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipping: {why}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("zoo.cfg");
    std::fs::write(
        &config,
        format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\nmaxClientCnxns=0\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new(ZK_SERVER)
        .arg("start-foreground")
        .arg(&config)
        .env("ZOO_LOG_DIR", dir.path())
        .env("ZOO_LOG4J_PROP", "WARN,CONSOLE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("zkServer.sh starts");
    let zk = ZooKeeper {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Client::connect(&zk.servers()).await.is_err() {
        assert!(Instant::now() < deadline, "ZooKeeper did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Some(zk)
}

impl ZooKeeper {
    fn servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// What a Mesos master writes into its `json.info_` node.
fn master_info(id: &str, port: u16) -> String {
    mesos_core::json::to_string(&pb::MasterInfo {
        id: id.into(),
        ip: u32::from_ne_bytes([127, 0, 0, 1]),
        port: u32::from(port),
        hostname: Some("localhost".into()),
        address: Some(pb::Address {
            hostname: Some("localhost".into()),
            ip: Some("127.0.0.1".into()),
            port: i32::from(port),
        }),
        ..Default::default()
    })
}

struct Once;

#[async_trait]
impl Scheduler for Once {
    async fn subscribed(&mut self, driver: &Driver, info: Subscribed) {
        assert!(!info.framework_id.value.is_empty());
        driver.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_finds_the_leading_master_in_zookeeper() {
    let Some(zk) = start_zookeeper().await else {
        return;
    };
    let mut flags = mesos_master::MasterFlags::for_local(None);
    flags.allocation_interval = Duration::from_millis(50);
    let master = mesos_master::start(flags).await.unwrap();

    let client = Client::connect(&zk.servers()).await.unwrap();
    let ephemeral = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    client
        .create(
            "/mesos",
            b"",
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap();
    // The real master contends first, then a second "master" that is not listening.
    let (_, first) = client
        .create(
            "/mesos/json.info_",
            master_info(&master.id(), master.addr().port()).as_bytes(),
            &ephemeral,
        )
        .await
        .unwrap();
    let dead_port = free_port();
    client
        .create(
            "/mesos/json.info_",
            master_info("standby", dead_port).as_bytes(),
            &ephemeral,
        )
        .await
        .unwrap();
    // Nodes of other kinds are not masters.
    client
        .create(
            "/mesos/log_replicas",
            b"",
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap();

    let url = format!("zk://{}/mesos", zk.servers());
    // An agent given the zk:// URL registers with the leader.
    let agent_dir = tempfile::tempdir().unwrap();
    let agent = mesos_agent::Agent::start(
        mesos_agent::AgentFlags::default_for_tests(agent_dir.path(), url.clone())
            .with_resources("cpus:1;mem:256;disk:64"),
    )
    .await
    .expect("agent starts with a zk:// master");
    let agent_id = tokio::time::timeout(Duration::from_secs(20), agent.agent_id())
        .await
        .expect("the agent registers through ZooKeeper")
        .expect("agent id");
    assert!(agent_id.starts_with(&master.id()), "{agent_id}");
    assert_eq!(
        mesos_scheduler_sdk::detector::leading_master(&url)
            .await
            .unwrap(),
        format!("http://127.0.0.1:{}", master.addr().port())
    );

    let framework = pb::FrameworkInfo {
        user: "test".into(),
        name: "zk-detected".into(),
        ..Default::default()
    };
    tokio::time::timeout(
        Duration::from_secs(20),
        run(DriverConfig::new(url.clone(), framework), Once),
    )
    .await
    .expect("subscribed through the ZooKeeper-detected master")
    .expect("the driver runs");
    let frameworks: serde_json::Value =
        reqwest_get_json(&format!("http://{}/master/frameworks", master.addr())).await;
    // Stopped with no failover timeout, the framework is already among the completed ones.
    let names: Vec<&serde_json::Value> = ["frameworks", "completed_frameworks"]
        .iter()
        .flat_map(|k| frameworks[*k].as_array().into_iter().flatten())
        .map(|f| &f["name"])
        .collect();
    assert_eq!(names, vec!["zk-detected"], "{frameworks}");

    // The leader's node goes away (its session ended): the next contender leads.
    client
        .delete(&format!("/mesos/json.info_{first}"), None)
        .await
        .unwrap();
    assert_eq!(
        mesos_scheduler_sdk::detector::leading_master(&url)
            .await
            .unwrap(),
        format!("http://127.0.0.1:{dead_port}")
    );
    // An empty or missing path is an error naming it, not a hang.
    let missing =
        mesos_scheduler_sdk::detector::leading_master(&format!("zk://{}/nowhere", zk.servers()))
            .await
            .unwrap_err();
    assert!(missing.to_string().contains("/nowhere"), "{missing}");
    agent.shutdown().await;
    master.shutdown().await;
}

async fn reqwest_get_json(url: &str) -> serde_json::Value {
    let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap()
}
