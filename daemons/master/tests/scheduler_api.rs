//! The v1 scheduler API end to end against a master with a simulated agent: subscribe,
//! offers, launch, status updates and acknowledgements, kill, reconcile, teardown, and
//! Mesos's status codes for malformed calls, in JSON and in protobuf.

mod support;

use mesos_agent_protocol::v1::master_message;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::scheduler as spb;
use support::*;

async fn launch_and_finish(wire: Wire) {
    let master = start_master().await;
    let mut agent = SimAgent::connect(&master, register_message("cpus:2;mem:1024", None)).await;
    let mut s = Scheduler::subscribe(
        &format!("http://{}", master.addr()),
        wire,
        framework_info("e2e"),
    )
    .await;
    assert_eq!(s.content_type, wire.media());
    assert!(
        uuid::Uuid::parse_str(&s.stream_id).is_ok(),
        "stream id is a UUID"
    );
    let subscribed = s.next_event().await;
    assert_eq!(subscribed.r#type(), spb::event::Type::Subscribed);
    let sub = subscribed.subscribed.unwrap();
    assert_eq!(sub.heartbeat_interval_seconds, Some(15.0));
    assert!(sub.framework_id.value.starts_with(&master.id()));
    // A heartbeat follows right away.
    assert_eq!(s.next_event().await.r#type(), spb::event::Type::Heartbeat);

    let offers = s
        .next_of(spb::event::Type::Offers)
        .await
        .offers
        .unwrap()
        .offers;
    assert_eq!(offers.len(), 1);
    let offer = &offers[0];
    assert_eq!(offer.agent_id.value, agent.id);
    // Not MULTI_ROLE: no allocation_info; not RESERVATION_REFINEMENT: legacy role field.
    assert!(offer.allocation_info.is_none());
    #[allow(deprecated)]
    let roles: Vec<Option<String>> = offer.resources.iter().map(|r| r.role.clone()).collect();
    assert!(roles.iter().all(|r| r.as_deref() == Some("*")), "{roles:?}");

    let resp = s.call(launch_call(offer, "t1", "cpus:1;mem:128")).await;
    assert_eq!(resp.status(), 202);
    let run = agent
        .next_of(master_message::Type::RunTask)
        .await
        .run_task
        .unwrap();
    assert_eq!(run.task.task_id.value, "t1");
    assert_eq!(run.framework.id.unwrap().value, s.framework_id);

    let uuid = agent.send_status(&s.framework_id, "t1", pb::TaskState::TaskRunning);
    let update = s.next_update().await;
    assert_eq!(update.state(), pb::TaskState::TaskRunning);
    assert_eq!(update.uuid.as_deref(), Some(uuid.as_slice()));
    let ack = spb::Call {
        r#type: Some(spb::call::Type::Acknowledge as i32),
        acknowledge: Some(spb::call::Acknowledge {
            agent_id: pb::AgentId {
                value: agent.id.clone(),
            },
            task_id: pb::TaskId { value: "t1".into() },
            uuid: uuid.clone(),
        }),
        ..Default::default()
    };
    assert_eq!(s.call(ack).await.status(), 202);
    let acked = agent
        .next_of(master_message::Type::Acknowledge)
        .await
        .acknowledge
        .unwrap();
    assert_eq!(acked.uuid, uuid);

    let state = get_json(&master, "/master/state").await;
    assert_eq!(state["frameworks"][0]["tasks"][0]["state"], "TASK_RUNNING");
    assert_eq!(state["frameworks"][0]["tasks"][0]["resources"]["cpus"], 1.0);
    assert_eq!(state["slaves"][0]["used_resources"]["mem"], 128.0);

    let uuid = agent.send_status(&s.framework_id, "t1", pb::TaskState::TaskFinished);
    let update = s.next_update().await;
    assert_eq!(update.state(), pb::TaskState::TaskFinished);
    let ack = spb::Call {
        r#type: Some(spb::call::Type::Acknowledge as i32),
        acknowledge: Some(spb::call::Acknowledge {
            agent_id: pb::AgentId {
                value: agent.id.clone(),
            },
            task_id: pb::TaskId { value: "t1".into() },
            uuid,
        }),
        ..Default::default()
    };
    assert_eq!(s.call(ack).await.status(), 202);
    agent.next_of(master_message::Type::Acknowledge).await;
    let state = get_json(&master, "/master/state").await;
    assert_eq!(
        state["frameworks"][0]["completed_tasks"][0]["state"],
        "TASK_FINISHED"
    );
    let metrics = get_json(&master, "/metrics/snapshot").await;
    assert_eq!(metrics["master/tasks_finished"], 1.0);
    assert_eq!(metrics["master/cpus_total"], 2.0);
}

#[tokio::test]
async fn json_scheduler_launches_a_task() {
    launch_and_finish(Wire::Json).await;
}

#[tokio::test]
async fn protobuf_scheduler_launches_a_task() {
    launch_and_finish(Wire::Protobuf).await;
}

#[tokio::test]
async fn malformed_calls_get_mesos_status_codes() {
    let master = start_master().await;
    let client = reqwest::Client::new();
    let endpoint = url(&master, "/api/v1/scheduler");
    let post = |ct: Option<&str>, body: &str| {
        let mut r = client.post(&endpoint).body(body.to_string());
        if let Some(ct) = ct {
            r = r.header("Content-Type", ct);
        }
        r.send()
    };
    let r = post(None, "{}").await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Content-Type"));
    let r = post(Some("application/json; charset=utf-8"), "{}")
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = post(Some("application/json"), "{not json").await.unwrap();
    assert_eq!(r.status(), 400);
    let r = post(Some("application/json"), r#"{"type":"SUBSCRIBE"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "subscribe without 'subscribe'");
    let r = post(
        Some("application/json"),
        r#"{"type":"DECLINE","decline":{"offer_ids":[]}}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("framework_id"));
    let r = post(
        Some("application/json"),
        r#"{"type":"DECLINE","framework_id":{"value":"nope"},"decline":{"offer_ids":[]}}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("nope"));
    let r = client.get(&endpoint).send().await.unwrap();
    assert_eq!(r.status(), 405);

    // A subscribed framework without the stream id.
    let mut s = Scheduler::subscribe(
        &format!("http://{}", master.addr()),
        Wire::Json,
        framework_info("x"),
    )
    .await;
    s.next_event().await;
    let body = format!(
        r#"{{"type":"REVIVE","framework_id":{{"value":"{}"}}}}"#,
        s.framework_id
    );
    let r = post(Some("application/json"), &body).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Mesos-Stream-Id"));
    let r = client
        .post(&endpoint)
        .header("Content-Type", "application/json")
        .header("Mesos-Stream-Id", "00000000-0000-0000-0000-000000000000")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client
        .post(&endpoint)
        .header("Content-Type", "application/json")
        .header("Mesos-Stream-Id", &s.stream_id)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // The master is still healthy.
    assert_eq!(
        reqwest::get(url(&master, "/health"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn over_committed_launch_is_a_task_error() {
    let master = start_master().await;
    let _agent = SimAgent::connect(&master, register_message("cpus:1;mem:256", None)).await;
    let mut s = Scheduler::subscribe(
        &format!("http://{}", master.addr()),
        Wire::Json,
        framework_info("big"),
    )
    .await;
    let offers = s
        .next_of(spb::event::Type::Offers)
        .await
        .offers
        .unwrap()
        .offers;
    let r = s
        .call(launch_call(&offers[0], "huge", "cpus:8;mem:128"))
        .await;
    assert_eq!(r.status(), 202);
    let status = s.next_update().await;
    assert_eq!(status.state(), pb::TaskState::TaskError);
    assert_eq!(status.reason(), pb::task_status::Reason::TaskInvalid);
    assert!(
        status.message().contains("more resources"),
        "{}",
        status.message()
    );
    assert!(status.uuid.is_none());
}

#[tokio::test]
async fn reconciliation_and_kill_of_unknown_tasks() {
    let master = start_master().await;
    let agent = SimAgent::connect(&master, register_message("cpus:1;mem:256", None)).await;
    let mut s = Scheduler::subscribe(
        &format!("http://{}", master.addr()),
        Wire::Json,
        framework_info("rec"),
    )
    .await;
    let call = spb::Call {
        r#type: Some(spb::call::Type::Reconcile as i32),
        reconcile: Some(spb::call::Reconcile {
            tasks: vec![spb::call::reconcile::Task {
                task_id: pb::TaskId {
                    value: "ghost".into(),
                },
                agent_id: Some(pb::AgentId {
                    value: agent.id.clone(),
                }),
            }],
        }),
        ..Default::default()
    };
    assert_eq!(s.call(call).await.status(), 202);
    let status = s.next_update().await;
    // Not PARTITION_AWARE: TASK_LOST rather than TASK_GONE.
    assert_eq!(status.state(), pb::TaskState::TaskLost);
    assert_eq!(status.reason(), pb::task_status::Reason::Reconciliation);
}

#[tokio::test]
async fn curl_teardown_with_json_content_type() {
    let master = start_master().await;
    let mut s = Scheduler::subscribe(
        &format!("http://{}", master.addr()),
        Wire::Json,
        framework_info("gone"),
    )
    .await;
    s.next_event().await;
    // The exact command operators run: a form body under a JSON Content-Type.
    let r = reqwest::Client::new()
        .post(url(&master, "/master/teardown"))
        .header("Content-Type", "application/json")
        .body(format!("frameworkId={}", s.framework_id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let state = get_json(&master, "/master/state").await;
    assert_eq!(state["frameworks"].as_array().unwrap().len(), 0);
    assert_eq!(
        state["completed_frameworks"][0]["id"],
        s.framework_id.as_str()
    );
    // The framework's stream got an error and closed.
    let e = s.next_of(spb::event::Type::Error).await;
    assert!(e.error.unwrap().message.contains("removed"));
    // JSON body: 400 naming the missing key.
    let r = reqwest::Client::new()
        .post(url(&master, "/master/teardown"))
        .header("Content-Type", "application/json")
        .body(r#"{"frameworkId":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("frameworkId"));
}

#[tokio::test]
async fn failover_sends_error_to_the_old_stream() {
    let master = start_master().await;
    let mut info = framework_info("fo");
    info.failover_timeout = Some(60.0);
    let base = format!("http://{}", master.addr());
    let mut first = Scheduler::subscribe(&base, Wire::Json, info.clone()).await;
    first.next_event().await;
    info.id = Some(pb::FrameworkId {
        value: first.framework_id.clone(),
    });
    let mut second = Scheduler::subscribe(&base, Wire::Json, info).await;
    assert_eq!(second.framework_id, first.framework_id);
    second.next_event().await;
    let e = first.next_of(spb::event::Type::Error).await;
    assert_eq!(e.error.unwrap().message, "Framework failed over");
}

#[tokio::test]
async fn legacy_endpoints_route_like_libprocess() {
    let master = start_master().await;
    for path in [
        "/master/state",
        "/state",
        "/state.json",
        "/master/state.json",
        "/master/frameworks/",
        "/master/slaves",
        "/slaves",
        "/master/tasks",
        "/tasks",
        "/master/roles",
        "/master/flags",
        "/metrics/snapshot",
        "/version",
        "/master/state-summary",
    ] {
        let r = reqwest::get(url(&master, path)).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let _: serde_json::Value = r.json().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let r = reqwest::get(url(&master, "/master/state?jsonp=cb"))
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/javascript");
    let body = r.text().await.unwrap();
    assert!(body.starts_with("cb({") && body.ends_with(");"));
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url(&master, "/master/redirect"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("//"));
    let v = get_json(&master, "/version").await;
    assert_eq!(v["version"], "1.11.0");
    let text = reqwest::get(url(&master, "/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("mesos_master_elected 1"));
    assert_eq!(
        reqwest::get(url(&master, "/nowhere"))
            .await
            .unwrap()
            .status(),
        404
    );
}

/// A framework that is not MULTI_ROLE sends RESERVE without `allocation_info` on its resources
/// (it never saw any in its offers); the master takes them as allocated to the offer's role.
#[tokio::test]
async fn reserve_without_allocation_info_from_a_single_role_framework() {
    use mesos_core::resources::{Reservation, Resource, Resources};
    let master = start_master().await;
    let mut agent = SimAgent::connect(&master, register_message("cpus:2;mem:1024", None)).await;
    #[allow(deprecated)]
    let info = pb::FrameworkInfo {
        role: Some("web".into()),
        principal: Some("ops".into()),
        ..framework_info("reserver")
    };
    let mut s = Scheduler::subscribe(&format!("http://{}", master.addr()), Wire::Json, info).await;
    let offers = s
        .next_of(spb::event::Type::Offers)
        .await
        .offers
        .unwrap()
        .offers;
    let offer = &offers[0];
    let mut cpus = Resource::scalar("cpus", 1.0);
    cpus.reservations
        .push(Reservation::dynamic_to("web", Some("ops".into())));
    let wire = mesos_core::resources::convert::resources_to_proto(
        &Resources::from(cpus),
        mesos_core::resources::convert::ResourceFormat::PreReservationRefinement,
    )
    .unwrap();
    assert!(wire.iter().all(|r| r.allocation_info.is_none()));
    let accept = accept_call(
        offer,
        pb::offer::Operation {
            r#type: Some(pb::offer::operation::Type::Reserve as i32),
            reserve: Some(pb::offer::operation::Reserve {
                resources: wire,
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    assert_eq!(s.call(accept).await.status(), 202);
    let checkpoint = agent
        .next_of(master_message::Type::CheckpointResources)
        .await
        .checkpoint_resources
        .unwrap();
    let reserved: Vec<(String, Vec<String>)> = checkpoint
        .resources
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.reservations
                    .iter()
                    .map(|x| x.role.clone().unwrap_or_default())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        reserved,
        vec![("cpus".to_string(), vec!["web".to_string()])]
    );
}

/// A MULTI_ROLE framework subscribed to roles `a` and `b` on a master with one agent that has
/// a static reservation for `b`, and its first offers, one per role, sorted by role.
async fn multi_role_offers(
    master: &mesos_master::MasterHandle,
) -> (Scheduler, SimAgent, Vec<pb::Offer>) {
    let agent = SimAgent::connect(
        master,
        register_message("cpus(b):1;mem(b):128;cpus:2;mem:256", None),
    )
    .await;
    let info = pb::FrameworkInfo {
        roles: vec!["a".into(), "b".into()],
        capabilities: vec![pb::framework_info::Capability {
            r#type: Some(pb::framework_info::capability::Type::MultiRole as i32),
        }],
        ..framework_info("multi")
    };
    let mut s = Scheduler::subscribe(&format!("http://{}", master.addr()), Wire::Json, info).await;
    let mut offers = Vec::new();
    while offers.len() < 2 {
        let event = s.next_of(spb::event::Type::Offers).await;
        offers.extend(event.offers.unwrap().offers);
    }
    offers.sort_by_key(offer_role);
    (s, agent, offers)
}

fn offer_role(offer: &pb::Offer) -> Option<String> {
    offer.allocation_info.as_ref().and_then(|i| i.role.clone())
}

/// A MULTI_ROLE framework gets one offer per role on an agent, each resource carrying the
/// offer's role in `allocation_info`; it launches on one offer with the resources as offered
/// and declines the other, which comes back for the same role (nothing leaks between roles).
#[tokio::test]
async fn multi_role_offers_carry_their_role_and_return_to_it() {
    let master = start_master().await;
    let (mut s, mut agent, offers) = multi_role_offers(&master).await;
    let (a, b) = (&offers[0], &offers[1]);
    assert_eq!(offer_role(a).as_deref(), Some("a"));
    assert_eq!(offer_role(b).as_deref(), Some("b"));
    for offer in [a, b] {
        for r in &offer.resources {
            assert_eq!(
                r.allocation_info.as_ref().and_then(|i| i.role.clone()),
                offer_role(offer),
                "{r:?} in the offer for {:?}",
                offer_role(offer)
            );
        }
    }
    // Launch on b with half of what it offers, named as offered (allocation_info included).
    let mut task_resources = b.resources.clone();
    for r in &mut task_resources {
        if let Some(scalar) = r.scalar.as_mut() {
            scalar.value /= 2.0;
        }
    }
    let task = pb::TaskInfo {
        name: "t-b".into(),
        task_id: pb::TaskId {
            value: "t-b".into(),
        },
        agent_id: b.agent_id.clone(),
        resources: task_resources,
        command: Some(pb::CommandInfo {
            value: Some("true".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(s.call(launch_task_call(b, task)).await.status(), 202);
    let run = agent
        .next_of(master_message::Type::RunTask)
        .await
        .run_task
        .unwrap();
    assert_eq!(run.task.task_id.value, "t-b");
    assert!(
        run.task.resources.iter().all(|r| r
            .allocation_info
            .as_ref()
            .and_then(|i| i.role.as_deref())
            == Some("b")),
        "{:?}",
        run.task.resources
    );
    // Decline a without a filter: the same resources come back for a.
    let decline = spb::Call {
        r#type: Some(spb::call::Type::Decline as i32),
        decline: Some(spb::call::Decline {
            offer_ids: vec![a.id.clone()],
            filters: Some(pb::Filters {
                refuse_seconds: Some(0.0),
            }),
        }),
        ..Default::default()
    };
    assert_eq!(s.call(decline).await.status(), 202);
    let again = loop {
        let event = s.next_of(spb::event::Type::Offers).await;
        if let Some(o) = event
            .offers
            .unwrap()
            .offers
            .into_iter()
            .find(|o| offer_role(o).as_deref() == Some("a"))
        {
            break o;
        }
    };
    assert_eq!(again.resources, a.resources);
}

/// Offers for two roles cannot be accepted together (Mesos's validation): the task is lost with
/// REASON_INVALID_OFFERS and the offers are consumed.
#[tokio::test]
async fn aggregated_offers_of_two_roles_are_refused() {
    let master = start_master().await;
    let (mut s, _agent, offers) = multi_role_offers(&master).await;
    let mut call = launch_call(&offers[0], "t-ab", "cpus:0.5;mem:32");
    call.accept
        .as_mut()
        .unwrap()
        .offer_ids
        .push(offers[1].id.clone());
    assert_eq!(s.call(call).await.status(), 202);
    let status = s.next_update().await;
    assert_eq!(status.task_id.value, "t-ab");
    assert_eq!(status.state(), pb::TaskState::TaskLost);
    assert_eq!(status.reason(), pb::task_status::Reason::InvalidOffers);
    assert!(
        status
            .message
            .as_deref()
            .is_some_and(|m| m.contains("must be allocated to the same role")),
        "{status:?}"
    );
}
