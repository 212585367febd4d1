//! The v1 operator API (`/api/v1`) in JSON and protobuf, its event stream, and agent health
//! checking (unreachable agents and their tasks).

mod support;

use std::time::Duration;

use futures::StreamExt;
use mesos_agent_protocol::v1::master_message;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::master as opb;
use mesos_core::proto::v1::scheduler as spb;
use prost::Message;
use support::*;

async fn operator_json(
    master: &mesos_master::MasterHandle,
    body: &str,
) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(url(master, "/api/v1"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[tokio::test]
async fn queries_and_changes_in_json() {
    let master = start_master().await;
    let agent = SimAgent::connect(&master, register_message("cpus:2;mem:1024", None)).await;
    let (s, v) = operator_json(&master, r#"{"type":"GET_HEALTH"}"#).await;
    assert_eq!(
        (s, v["get_health"]["healthy"].clone()),
        (200, serde_json::json!(true))
    );
    let (s, v) = operator_json(&master, r#"{"type":"GET_AGENTS"}"#).await;
    assert_eq!(s, 200);
    assert_eq!(v["type"], "GET_AGENTS");
    assert_eq!(
        v["get_agents"]["agents"][0]["agent_info"]["id"]["value"],
        agent.id.as_str()
    );
    assert_eq!(
        v["get_agents"]["agents"][0]["pid"],
        "slave(1)@127.0.0.1:5051"
    );
    let (s, v) = operator_json(&master, r#"{"type":"GET_VERSION"}"#).await;
    assert_eq!(
        (s, v["get_version"]["version_info"]["version"].clone()),
        (200, serde_json::json!("1.11.0"))
    );
    let (s, _) = operator_json(
        &master,
        r#"{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"dev","weight":3.0}]}}"#,
    )
    .await;
    assert_eq!(s, 200);
    let (_, v) = operator_json(&master, r#"{"type":"GET_WEIGHTS"}"#).await;
    assert_eq!(v["get_weights"]["weight_infos"][0]["weight"], 3.0);
    let (s, _) = operator_json(
        &master,
        r#"{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"dev","guarantees":{"cpus":{"value":1.0}},"limits":{"cpus":{"value":2.0}}}]}}"#,
    )
    .await;
    assert_eq!(s, 200);
    let (_, v) = operator_json(&master, r#"{"type":"GET_QUOTA"}"#).await;
    assert_eq!(v["get_quota"]["status"]["configs"][0]["role"], "dev");
    // Bad input names the problem.
    let (s, v) = operator_json(
        &master,
        r#"{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"dev","weight":-1}]}}"#,
    )
    .await;
    assert_eq!(s, 400);
    assert!(v.as_str().unwrap().contains("weight"), "{v}");
    let (s, _) = operator_json(
        &master,
        r#"{"type":"TEARDOWN","teardown":{"framework_id":{"value":"nope"}}}"#,
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = operator_json(&master, r#"{"type":"NOT_A_CALL"}"#).await;
    assert_eq!(s, 400);
    // Accept is checked on every operator call.
    let r = reqwest::Client::new()
        .post(url(&master, "/api/v1"))
        .header("Content-Type", "application/json")
        .header("Accept", "text/html")
        .body(r#"{"type":"GET_HEALTH"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
}

#[tokio::test]
async fn get_state_in_protobuf() {
    let master = start_master().await;
    let _agent = SimAgent::connect(&master, register_message("cpus:2;mem:1024", None)).await;
    let call = opb::Call {
        r#type: Some(opb::call::Type::GetState as i32),
        ..Default::default()
    };
    let r = reqwest::Client::new()
        .post(url(&master, "/api/v1/operator"))
        .header("Content-Type", "application/x-protobuf")
        .header("Accept", "application/x-protobuf")
        .body(call.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let response = opb::Response::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(response.r#type(), opb::response::Type::GetState);
    let state = response.get_state.unwrap();
    assert_eq!(state.get_agents.unwrap().agents.len(), 1);
}

#[tokio::test]
async fn event_stream_reports_frameworks_tasks_and_agents() {
    let master = start_master().await;
    let r = reqwest::Client::new()
        .post(url(&master, "/api/v1"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(r#"{"type":"SUBSCRIBE"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    tokio::spawn(async move {
        let mut decoder = mesos_core::recordio::Decoder::new();
        while let Some(Ok(chunk)) = body.next().await {
            for record in decoder.decode(&chunk).unwrap() {
                let _ = tx.send(serde_json::from_slice(&record).unwrap());
            }
        }
    });
    async fn recv(
        events: &mut tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
    ) -> serde_json::Value {
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap()
    }
    assert_eq!(recv(&mut events).await["type"], "SUBSCRIBED");
    assert_eq!(recv(&mut events).await["type"], "HEARTBEAT");
    let mut agent = SimAgent::connect(&master, register_message("cpus:2;mem:1024", None)).await;
    assert_eq!(recv(&mut events).await["type"], "AGENT_ADDED");
    let mut s = Scheduler::subscribe(
        &format!("http://{}", master.addr()),
        Wire::Json,
        framework_info("watched"),
    )
    .await;
    assert_eq!(recv(&mut events).await["type"], "FRAMEWORK_ADDED");
    let offers = s
        .next_of(spb::event::Type::Offers)
        .await
        .offers
        .unwrap()
        .offers;
    let task = pb::TaskInfo {
        name: "w".into(),
        task_id: pb::TaskId { value: "w".into() },
        agent_id: offers[0].agent_id.clone(),
        resources: offers[0]
            .resources
            .iter()
            .filter(|r| r.name == "mem")
            .cloned()
            .collect(),
        command: Some(pb::CommandInfo {
            value: Some("true".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let accept = launch_task_call(&offers[0], task);
    assert_eq!(s.call(accept).await.status(), 202);
    let e = recv(&mut events).await;
    assert_eq!(e["type"], "TASK_ADDED");
    assert_eq!(e["task_added"]["task"]["task_id"]["value"], "w");
    agent.next_of(master_message::Type::RunTask).await;
    agent.send_status(&s.framework_id, "w", pb::TaskState::TaskRunning);
    let e = recv(&mut events).await;
    assert_eq!(e["type"], "TASK_UPDATED");
    assert_eq!(e["task_updated"]["state"], "TASK_RUNNING");
}

#[tokio::test]
async fn silent_agent_becomes_unreachable() {
    let mut flags = mesos_master::MasterFlags::for_local(None);
    flags.allocation_interval = Duration::from_millis(50);
    flags.agent_ping_timeout = Duration::from_millis(100);
    flags.max_agent_ping_timeouts = 2;
    let master = mesos_master::start(flags).await.unwrap();
    let mut agent = SimAgent::connect(&master, register_message("cpus:2;mem:1024", None)).await;
    let mut info = framework_info("aware");
    info.capabilities.push(pb::framework_info::Capability {
        r#type: Some(pb::framework_info::capability::Type::PartitionAware as i32),
    });
    let mut s = Scheduler::subscribe(&format!("http://{}", master.addr()), Wire::Json, info).await;
    let offers = s
        .next_of(spb::event::Type::Offers)
        .await
        .offers
        .unwrap()
        .offers;
    let task = pb::TaskInfo {
        name: "p".into(),
        task_id: pb::TaskId { value: "p".into() },
        agent_id: offers[0].agent_id.clone(),
        resources: offers[0]
            .resources
            .iter()
            .filter(|r| r.name == "cpus")
            .cloned()
            .collect(),
        command: Some(pb::CommandInfo {
            value: Some("sleep 100".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let accept = launch_task_call(&offers[0], task);
    assert_eq!(s.call(accept).await.status(), 202);
    agent.next_of(master_message::Type::RunTask).await;
    agent.send_status(&s.framework_id, "p", pb::TaskState::TaskRunning);
    s.next_of(spb::event::Type::Update).await;
    // The agent stops answering pings (nobody reads its link any more).
    let status = s.next_update().await;
    assert_eq!(status.state(), pb::TaskState::TaskUnreachable);
    assert!(status.unreachable_time.is_some());
    let state = get_json(&master, "/master/state").await;
    assert_eq!(state["unreachable_slaves"], 1);
    assert_eq!(state["frameworks"][0]["unreachable_tasks"][0]["id"], "p");
}
