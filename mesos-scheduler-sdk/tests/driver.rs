//! The driver against a real master with a simulated agent: subscribe, launch through
//! offer matching, automatic acknowledgements, teardown, and typed errors.

use std::time::Duration;

use mesos_agent_protocol::v1::master_message;
use mesos_core::proto::v1 as pb;
use mesos_master::sim_agent::{SimAgent, register_message};
use mesos_scheduler_sdk::matching::{OfferSpace, TaskNeeds};
use mesos_scheduler_sdk::{Driver, DriverConfig, Format, Scheduler, SdkError, async_trait, run};

struct OneTask {
    launched: bool,
    states: Vec<pb::TaskState>,
}

#[async_trait]
impl Scheduler for OneTask {
    async fn offers(&mut self, driver: &Driver, offers: Vec<pb::Offer>) {
        for offer in offers {
            let mut space = OfferSpace::new(&offer).unwrap();
            let needs = TaskNeeds::parse("cpus:0.5;mem:64").unwrap();
            if !self.launched
                && let Some(resources) = space.take(&needs)
            {
                self.launched = true;
                let task = pb::TaskInfo {
                    name: "t".into(),
                    task_id: pb::TaskId { value: "t".into() },
                    agent_id: offer.agent_id.clone(),
                    resources,
                    command: Some(pb::CommandInfo {
                        value: Some("true".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                driver.launch(offer.id.clone(), vec![task]).await.unwrap();
            } else {
                driver
                    .decline(vec![offer.id.clone()], Some(60.0))
                    .await
                    .unwrap();
            }
        }
    }

    async fn update(&mut self, driver: &Driver, status: pb::TaskStatus) {
        self.states.push(status.state());
        if status.state() == pb::TaskState::TaskFinished {
            driver.teardown().await.unwrap();
        }
    }
}

fn framework(name: &str) -> pb::FrameworkInfo {
    pb::FrameworkInfo {
        user: "test".into(),
        name: name.into(),
        ..Default::default()
    }
}

async fn master() -> mesos_master::MasterHandle {
    let mut flags = mesos_master::MasterFlags::for_local(None);
    flags.allocation_interval = Duration::from_millis(20);
    mesos_master::start(flags).await.unwrap()
}

async fn one_task(format: Format) {
    let master = master().await;
    let mut agent = SimAgent::connect(&master, register_message("cpus:1;mem:256", None))
        .await
        .unwrap();
    let mut config = DriverConfig::new(master.addr().to_string(), framework("sdk"));
    config.format = format;
    let driver = tokio::spawn(run(
        config,
        OneTask {
            launched: false,
            states: vec![],
        },
    ));
    let run_task = agent
        .next_of(master_message::Type::RunTask)
        .await
        .unwrap()
        .run_task
        .unwrap();
    let fid = run_task.framework.id.unwrap().value;
    let uuid = agent.send_status(&fid, "t", pb::TaskState::TaskRunning);
    let ack = agent
        .next_of(master_message::Type::Acknowledge)
        .await
        .unwrap()
        .acknowledge
        .unwrap();
    assert_eq!(ack.uuid, uuid, "the driver acknowledged automatically");
    agent.send_status(&fid, "t", pb::TaskState::TaskFinished);
    let done = tokio::time::timeout(Duration::from_secs(10), driver)
        .await
        .expect("driver stops after teardown")
        .unwrap()
        .unwrap();
    assert_eq!(
        done.states,
        vec![pb::TaskState::TaskRunning, pb::TaskState::TaskFinished]
    );
    let state: serde_json::Value = serde_json::from_slice(
        &reqwest::get(format!("http://{}/master/state", master.addr()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(state["completed_frameworks"][0]["name"], "sdk");
}

#[tokio::test]
async fn protobuf_driver_runs_a_task() {
    one_task(Format::Protobuf).await;
}

#[tokio::test]
async fn json_driver_runs_a_task() {
    one_task(Format::Json).await;
}

struct Nothing;
impl Scheduler for Nothing {}

#[tokio::test]
async fn bad_framework_info_is_a_typed_error() {
    let master = master().await;
    let mut info = framework("bad");
    #[allow(deprecated)]
    {
        info.role = Some("/bad//role".into());
    }
    let err = run(DriverConfig::new(master.addr().to_string(), info), Nothing)
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(err, SdkError::SubscriptionRefused(ref m) if m.contains("role")),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_master_times_out() {
    let mut config = DriverConfig::new("127.0.0.1:1", framework("x"));
    config.connect_timeout = Some(Duration::from_millis(300));
    let err = run(config, Nothing).await.err().expect("gives up");
    assert!(matches!(err, SdkError::Unreachable { .. }), "{err}");
}
