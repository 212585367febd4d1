//! Maintenance end to end: a schedule drains an agent's machine, the framework using it gets
//! an inverse offer and accepts it, the machine goes DOWN (the agent is shut down, its task
//! is lost and it may not register again) and comes back UP; the schedule and the DOWN
//! machines survive a master restart. Bad requests get 400 with the reason.

mod support;

use mesos_agent_protocol::v1::master_message;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::scheduler as spb;
use serde_json::{Value, json};
use support::*;

const HOST: &str = "maint-host";

fn agent_on_host(resources: &str) -> mesos_agent_protocol::AgentMessage {
    let mut message = register_message(resources, None);
    if let Some(r) = message.register.as_mut() {
        r.agent_info.hostname = HOST.into();
    }
    message
}

fn machine() -> Value {
    json!({"hostname": HOST, "ip": "127.0.0.1"})
}

fn schedule(start_ns: i64) -> Value {
    json!({"windows": [{
        "machine_ids": [machine()],
        "unavailability": {"start": {"nanoseconds": start_ns}, "duration": {"nanoseconds": 3_600_000_000_000i64}},
    }]})
}

async fn post(master: &mesos_master::MasterHandle, path: &str, body: &Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url(master, path))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn draining_inverse_offers_down_and_up() {
    let master = start_master().await;
    let mut agent = SimAgent::connect(&master, agent_on_host("cpus:2;mem:1024")).await;
    let mut s = Scheduler::subscribe(
        &format!("http://{}", master.addr()),
        Wire::Json,
        framework_info("maint"),
    )
    .await;
    let offer = s
        .next_of(spb::event::Type::Offers)
        .await
        .offers
        .unwrap()
        .offers
        .remove(0);
    assert_eq!(
        s.call(launch_call(&offer, "t1", "cpus:1;mem:128"))
            .await
            .status(),
        202
    );
    agent.next_of(master_message::Type::RunTask).await;
    agent.send_status(&s.framework_id, "t1", pb::TaskState::TaskRunning);
    let update = s.next_of(spb::event::Type::Update).await.update.unwrap();
    assert_eq!(update.status.state(), pb::TaskState::TaskRunning);

    // Bad schedules and transitions are refused with the reason.
    let twice = json!({"windows": [
        {"machine_ids": [machine()], "unavailability": {"start": {"nanoseconds": 0}}},
        {"machine_ids": [machine()], "unavailability": {"start": {"nanoseconds": 0}}},
    ]});
    let (code, body) = post(&master, "/master/maintenance/schedule", &twice).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("more than once"), "{body}");
    let (code, body) = post(&master, "/master/machine/down", &json!([machine()])).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("not part of a maintenance schedule"),
        "{body}"
    );
    let (code, body) = post(&master, "/master/machine/down", &json!({"not": "a list"})).await;
    assert_eq!(code, 400, "{body}");

    // A schedule drains the machine: the framework using the agent gets an inverse offer.
    let start_ns = 4_000_000_000_000_000_000i64;
    let (code, body) = post(&master, "/master/maintenance/schedule", &schedule(start_ns)).await;
    assert_eq!(code, 200, "{body}");
    let inverse = s
        .next_of(spb::event::Type::InverseOffers)
        .await
        .inverse_offers
        .unwrap()
        .inverse_offers
        .remove(0);
    assert_eq!(inverse.agent_id.as_ref().unwrap().value, agent.id);
    assert_eq!(inverse.unavailability.start.nanoseconds, start_ns);
    let status = get_json(&master, "/master/maintenance/status").await;
    assert_eq!(status["draining_machines"][0]["id"]["hostname"], HOST);
    // Empty repeated fields are left out, as Mesos's protobuf-to-JSON leaves them out.
    assert_eq!(status.get("down_machines"), None, "{status}");

    let accept = spb::Call {
        r#type: Some(spb::call::Type::AcceptInverseOffers as i32),
        accept_inverse_offers: Some(spb::call::AcceptInverseOffers {
            inverse_offer_ids: vec![inverse.id.clone()],
            filters: None,
        }),
        ..Default::default()
    };
    assert_eq!(s.call(accept).await.status(), 202);
    let status = get_json(&master, "/master/maintenance/status").await;
    let answers = &status["draining_machines"][0]["statuses"];
    assert_eq!(answers[0]["status"], "ACCEPT", "{status}");
    assert_eq!(answers[0]["framework_id"]["value"], s.framework_id.as_str());

    let (code, body) = post(&master, "/master/machine/up", &json!([machine()])).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("not in DOWN mode"), "{body}");

    // DOWN: the agent is told to shut down and removed; its task is lost.
    let (code, body) = post(&master, "/master/machine/down", &json!([machine()])).await;
    assert_eq!(code, 200, "{body}");
    let shutdown = agent.next_of(master_message::Type::Shutdown).await;
    assert!(shutdown.shutdown.unwrap().message.unwrap().contains("DOWN"));
    let lost = s.next_update().await;
    assert_eq!(lost.task_id.value, "t1");
    assert_eq!(lost.state(), pb::TaskState::TaskLost);
    assert_eq!(lost.reason(), pb::task_status::Reason::AgentRemoved);
    let status = get_json(&master, "/master/maintenance/status").await;
    assert_eq!(status["down_machines"], json!([machine()]));
    assert_eq!(status.get("draining_machines"), None, "{status}");
    assert_eq!(
        get_json(&master, "/master/slaves").await["slaves"],
        json!([])
    );

    // While DOWN no agent of that machine may register, and the machine stays scheduled.
    let refused = RawSimAgent::connect(&master, agent_on_host("cpus:1;mem:64")).await;
    assert!(refused.is_err(), "an agent on a DOWN machine registered");
    let (code, body) = post(
        &master,
        "/master/maintenance/schedule",
        &json!({"windows": []}),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("cannot be removed from the schedule"),
        "{body}"
    );

    // UP: off the schedule, and agents register again.
    let (code, body) = post(&master, "/master/machine/up", &json!([machine()])).await;
    assert_eq!(code, 200, "{body}");
    let status = get_json(&master, "/master/maintenance/status").await;
    assert_eq!(
        status,
        json!({}),
        "both lists empty (and left out, as proto JSON does)"
    );
    assert_eq!(
        get_json(&master, "/master/maintenance/schedule").await,
        json!({})
    );
    SimAgent::connect(&master, agent_on_host("cpus:1;mem:64")).await;
    master.shutdown().await;
}

#[tokio::test]
async fn schedule_and_down_machines_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let flags = || {
        let mut f = mesos_master::MasterFlags::for_local(Some(dir.path().to_string_lossy().into()));
        f.allocation_interval = std::time::Duration::from_millis(50);
        f
    };
    let master = mesos_master::start(flags()).await.unwrap();
    let operator = |master: &mesos_master::MasterHandle, call: Value| {
        let endpoint = url(master, "/api/v1");
        async move {
            let r = reqwest::Client::new()
                .post(endpoint)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .body(call.to_string())
                .send()
                .await
                .unwrap();
            let code = r.status().as_u16();
            (code, r.text().await.unwrap())
        }
    };
    let (code, body) = operator(
        &master,
        json!({"type": "UPDATE_MAINTENANCE_SCHEDULE",
               "update_maintenance_schedule": {"schedule": schedule(0)}}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = operator(
        &master,
        json!({"type": "START_MAINTENANCE", "start_maintenance": {"machines": [machine()]}}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    master.shutdown().await;

    let master = mesos_master::start(flags()).await.unwrap();
    let (code, body) = operator(&master, json!({"type": "GET_MAINTENANCE_STATUS"})).await;
    assert_eq!(code, 200, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status["get_maintenance_status"]["status"]["down_machines"],
        json!([machine()])
    );
    let (code, body) = operator(&master, json!({"type": "GET_MAINTENANCE_SCHEDULE"})).await;
    assert_eq!(code, 200, "{body}");
    let got: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        got["get_maintenance_schedule"]["schedule"]["windows"][0]["machine_ids"],
        json!([machine()])
    );
    assert!(
        RawSimAgent::connect(&master, agent_on_host("cpus:1;mem:64"))
            .await
            .is_err(),
        "the DOWN machine is still DOWN after the restart"
    );
    master.shutdown().await;
}
