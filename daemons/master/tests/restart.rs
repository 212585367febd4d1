//! A master restart loses nothing: the registry brings back admitted agents (which must
//! re-register with the same id, carrying their running tasks), and frameworks re-subscribe
//! with their id and see those tasks through reconciliation.

mod support;

use std::time::Duration;

use mesos_agent_protocol::v1::master_message;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::scheduler as spb;
use mesos_master::MasterFlags;
use support::*;

async fn start_at(dir: &std::path::Path, port: u16) -> mesos_master::MasterHandle {
    let mut flags = MasterFlags::for_local(Some(dir.display().to_string()));
    flags.port = port;
    flags.allocation_interval = Duration::from_millis(50);
    mesos_master::start(flags).await.expect("master starts")
}

#[tokio::test]
async fn restart_keeps_agents_and_running_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let master = start_at(dir.path(), 0).await;
    let port = master.addr().port();
    let agent = SimAgent::connect(&master, register_message("cpus:2;mem:1024", None)).await;
    let agent_id = agent.id.clone();
    let mut info = framework_info("survivor");
    info.failover_timeout = Some(3600.0);
    let base = format!("http://{}", master.addr());
    let mut s = Scheduler::subscribe(&base, Wire::Json, info.clone()).await;
    let framework_id = s.framework_id.clone();
    let weights = reqwest::Client::new()
        .put(url(&master, "/master/weights"))
        .body(r#"[{"role":"dev","weight":2.5}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(weights.status(), 200);
    let offers = s
        .next_of(spb::event::Type::Offers)
        .await
        .offers
        .unwrap()
        .offers;
    let offer = &offers[0];
    let mut agent = agent;
    let task = pb::TaskInfo {
        name: "long".into(),
        task_id: pb::TaskId {
            value: "long".into(),
        },
        agent_id: offer.agent_id.clone(),
        resources: offer
            .resources
            .iter()
            .filter(|r| r.name == "cpus")
            .cloned()
            .collect(),
        command: Some(pb::CommandInfo {
            value: Some("sleep 1000".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let accept = launch_task_call(offer, task);
    assert_eq!(s.call(accept).await.status(), 202);
    let run = agent
        .next_of(master_message::Type::RunTask)
        .await
        .run_task
        .unwrap();
    agent.send_status(&framework_id, "long", pb::TaskState::TaskRunning);
    s.next_of(spb::event::Type::Update).await;

    // Kill the master (drop it) and start it again on the same port and work_dir.
    drop(s);
    drop(agent);
    master.shutdown().await;
    let master = start_at(dir.path(), port).await;
    let state = get_json(&master, "/master/state").await;
    assert_eq!(
        state["recovered_slaves"][0]["id"],
        agent_id.as_str(),
        "registry remembers the agent"
    );
    let weights = get_json(&master, "/master/weights").await;
    assert_eq!(weights[0]["weight"], 2.5);

    // The agent re-registers with its id and its running task.
    let mut register = register_message("cpus:2;mem:1024", Some(&agent_id));
    let reg = register.register.as_mut().unwrap();
    let mut fw_info = run.framework.clone();
    fw_info.id = Some(pb::FrameworkId {
        value: framework_id.clone(),
    });
    reg.frameworks.push(fw_info);
    reg.tasks.push(pb::Task {
        name: "long".into(),
        task_id: pb::TaskId {
            value: "long".into(),
        },
        framework_id: pb::FrameworkId {
            value: framework_id.clone(),
        },
        agent_id: pb::AgentId {
            value: agent_id.clone(),
        },
        state: pb::TaskState::TaskRunning as i32,
        resources: run.task.resources.clone(),
        ..Default::default()
    });
    let agent = SimAgent::connect(&master, register).await;
    assert_eq!(agent.id, agent_id);

    // The framework re-subscribes with its id and reconciles.
    info.id = Some(pb::FrameworkId {
        value: framework_id.clone(),
    });
    let mut s = Scheduler::subscribe(&format!("http://{}", master.addr()), Wire::Json, info).await;
    assert_eq!(s.framework_id, framework_id);
    let call = spb::Call {
        r#type: Some(spb::call::Type::Reconcile as i32),
        reconcile: Some(spb::call::Reconcile { tasks: vec![] }),
        ..Default::default()
    };
    assert_eq!(s.call(call).await.status(), 202);
    let status = s.next_update().await;
    assert_eq!(status.task_id.value, "long");
    assert_eq!(status.state(), pb::TaskState::TaskRunning);
    let state = get_json(&master, "/master/state").await;
    assert_eq!(state["frameworks"][0]["tasks"][0]["id"], "long");
    assert_eq!(state["slaves"][0]["used_resources"]["cpus"], 2.0);
}

/// An agent registers with two running tasks of one framework that share a persistent volume:
/// the agent's total counts the volume once and is not grown by the tasks' resources, and the
/// framework is offered nothing more than what is free.
#[tokio::test]
async fn tasks_sharing_a_volume_do_not_inflate_the_agent() {
    use mesos_agent_protocol::v1::{AgentMessage, agent_message};
    use mesos_core::resources::convert::{ResourceFormat, resources_to_proto};
    use mesos_core::resources::{Reservation, Resource, Resources, parse_flag_text};
    let dir = tempfile::tempdir().unwrap();
    let master = start_at(dir.path(), 0).await;
    let mut volume = Resource::scalar("disk", 64.0);
    volume
        .reservations
        .push(Reservation::dynamic_to("r", Some("ops".into())));
    volume.shared = true;
    let volume = Resources::from(volume);
    let wire =
        |r: &Resources| resources_to_proto(r, ResourceFormat::PostReservationRefinement).unwrap();
    let total = &parse_flag_text("cpus:4;mem:512", "*").unwrap() + &volume;
    let task_resources = (&parse_flag_text("cpus:1;mem:128", "*").unwrap() + &volume).allocate("r");
    let framework_id = format!("{}-0000", master.id());
    let agent_id = format!("{}-S7", master.id());
    let task = |id: &str| pb::Task {
        name: id.into(),
        task_id: pb::TaskId { value: id.into() },
        framework_id: pb::FrameworkId {
            value: framework_id.clone(),
        },
        agent_id: pb::AgentId {
            value: agent_id.clone(),
        },
        state: pb::TaskState::TaskRunning as i32,
        resources: wire(&task_resources),
        ..Default::default()
    };
    let register = AgentMessage {
        r#type: Some(agent_message::Type::Register as i32),
        register: Some(agent_message::Register {
            agent_info: pb::AgentInfo {
                hostname: "127.0.0.1".into(),
                port: Some(5051),
                resources: wire(&total),
                id: Some(pb::AgentId {
                    value: agent_id.clone(),
                }),
                ..Default::default()
            },
            ip: "127.0.0.1".into(),
            version: Some("1.11.0".into()),
            frameworks: vec![pb::FrameworkInfo {
                id: Some(pb::FrameworkId {
                    value: framework_id.clone(),
                }),
                roles: vec!["r".into()],
                capabilities: vec![pb::framework_info::Capability {
                    r#type: Some(pb::framework_info::capability::Type::MultiRole as i32),
                }],
                ..framework_info("sharer")
            }],
            tasks: vec![task("t1"), task("t2")],
            ..Default::default()
        }),
        ..Default::default()
    };
    let _agent = SimAgent::connect(&master, register).await;
    let state = get_json(&master, "/master/state").await;
    let resources = &state["slaves"][0]["resources"];
    assert_eq!(resources["cpus"], 4.0, "{resources}");
    assert_eq!(resources["mem"], 512.0, "{resources}");
    assert_eq!(resources["disk"], 64.0, "{resources}");
}
