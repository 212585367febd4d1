//! What the driver puts on the wire, call by call, pinned against the request examples of
//! Mesos's `docs/scheduler-http-api.md` (ids and values taken from them). A real HTTP server
//! on loopback records every request the driver sends through its HTTP transport; each JSON
//! body must equal the documented one, and each protobuf body must decode to the same call.
//!
//! Where the documentation disagrees with the v1 `scheduler.proto` it describes, the proto
//! wins and the expectation says so: REVIVE and SUPPRESS carry `roles` (a list), REQUEST
//! wraps its list in `request.requests` with `resources` as a list, and UPDATE_FRAMEWORK
//! names its framework in `framework_id` like every call after SUBSCRIBE. Calls the page has
//! no example for (the inverse-offer answers and the offer operations other than LAUNCH)
//! follow the proto's field names. Fields with a declared default that are not deprecated
//! (`checkpoint`, `failover_timeout` of a FrameworkInfo) are written even when unset, as Mesos's
//! own JSON writer (stout's `JSON::protobuf`, used by its scheduler library) writes them.
//! The documented acknowledgement uuid
//! (`jhadf73jhakdlfha723adf`) is not valid base64, so a 16-byte uuid spelled like it is used.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::scheduler as spb;
use mesos_scheduler_sdk::{Driver, DriverConfig, Format, Scheduler, Subscribed, async_trait, run};
use prost::Message as _;
use serde_json::{Value, json};

const FRAMEWORK_ID: &str = "12220-3440-12532-2345";
const STREAM_ID: &str = "130ae4e3-6b13-4ef4-baa9-9f2e85c3e9af";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    content_type: String,
    accept: String,
    stream_id: Option<String>,
    body: Bytes,
}

fn media(format: Format) -> &'static str {
    match format {
        Format::Json => "application/json",
        Format::Protobuf => "application/x-protobuf",
    }
}

fn decode_call(content_type: &str, body: &[u8]) -> spb::Call {
    if content_type == "application/json" {
        mesos_core::json::from_str(std::str::from_utf8(body).unwrap()).unwrap()
    } else {
        spb::Call::decode(body).unwrap()
    }
}

/// A master stand-in: SUBSCRIBE gets a SUBSCRIBED event and a stream that stays open, every
/// other call 202.
async fn recording_master() -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let log = recorded.clone();
    let app = axum::Router::new().route(
        "/api/v1/scheduler",
        axum::routing::post(
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let log = log.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let content_type = header("content-type").unwrap_or_default();
                    let call = decode_call(&content_type, &body);
                    log.lock().unwrap().push(Recorded {
                        path: uri.path().to_string(),
                        content_type: content_type.clone(),
                        accept: header("accept").unwrap_or_default(),
                        stream_id: header("mesos-stream-id"),
                        body: body.clone(),
                    });
                    if call.r#type() != spb::call::Type::Subscribe {
                        return Response::builder()
                            .status(StatusCode::ACCEPTED)
                            .body(Body::empty())
                            .unwrap();
                    }
                    let event = spb::Event {
                        r#type: Some(spb::event::Type::Subscribed as i32),
                        subscribed: Some(spb::event::Subscribed {
                            framework_id: pb::FrameworkId {
                                value: FRAMEWORK_ID.into(),
                            },
                            heartbeat_interval_seconds: Some(15.0),
                            master_info: None,
                        }),
                        ..Default::default()
                    };
                    let payload = if content_type == "application/json" {
                        mesos_core::json::to_vec(&event)
                    } else {
                        event.encode_to_vec()
                    };
                    let mut framed = Vec::new();
                    mesos_core::recordio::encode(&payload, &mut framed);
                    let stream =
                        futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(framed))])
                            .chain(futures::stream::pending());
                    Response::builder()
                        .status(StatusCode::OK)
                        .header("Content-Type", content_type)
                        .header("Mesos-Stream-Id", STREAM_ID)
                        .body(Body::from_stream(stream))
                        .unwrap()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr.to_string(), recorded)
}

use futures::StreamExt as _;

fn json_of<T: mesos_core::json::ReflectMessage + Default>(value: Value) -> T {
    mesos_core::json::from_value(&value).unwrap()
}

fn id<T: mesos_core::json::ReflectMessage + Default>(value: &str) -> T {
    json_of(json!({ "value": value }))
}

fn base64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// The documented `task_infos` of the ACCEPT example.
fn documented_task() -> Value {
    json!({
        "name": "My Task",
        "task_id": {"value": "12220-3440-12532-my-task"},
        "agent_id": {"value": "12220-3440-12532-S1233"},
        "executor": {
            "command": {"shell": true, "value": "sleep 1000"},
            "executor_id": {"value": "12214-23523-my-executor"}
        },
        "resources": [
            {"allocation_info": {"role": "engineering"}, "name": "cpus", "role": "*",
             "type": "SCALAR", "scalar": {"value": 1.0}},
            {"allocation_info": {"role": "engineering"}, "name": "mem", "role": "*",
             "type": "SCALAR", "scalar": {"value": 128.0}}
        ]
    })
}

fn reserved_cpus() -> Value {
    json!([{
        "name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0},
        "reservations": [{"type": "DYNAMIC", "role": "engineering", "principal": "ops"}]
    }])
}

fn volume() -> Value {
    json!([{
        "name": "disk", "type": "SCALAR", "scalar": {"value": 64.0},
        "reservations": [{"type": "DYNAMIC", "role": "engineering", "principal": "ops"}],
        "disk": {"persistence": {"id": "vol-1", "principal": "ops"},
                 "volume": {"container_path": "data", "mode": "RW"}}
    }])
}

/// Every call the driver offers, with the body Mesos documents for it.
fn expectations() -> Vec<(&'static str, Value)> {
    let fw = json!({"value": FRAMEWORK_ID});
    let operation = |kind: &str, field: &str, body: Value| {
        json!({
            "framework_id": fw,
            "type": "ACCEPT",
            "accept": {
                "offer_ids": [{"value": "12220-3440-12532-O12"}],
                "operations": [{"type": kind, field: body}],
                "filters": {"refuse_seconds": 5.0}
            }
        })
    };
    vec![
        (
            "SUBSCRIBE",
            json!({
                "type": "SUBSCRIBE",
                "subscribe": {
                    "framework_info": {
                        "user": "foo",
                        "name": "Example HTTP Framework",
                        "roles": ["test1", "test2"],
                        "capabilities": [{"type": "MULTI_ROLE"}],
                        "checkpoint": false,
                        "failover_timeout": 0.0
                    },
                    "suppressed_roles": ["test2"]
                }
            }),
        ),
        (
            "ACCEPT",
            operation(
                "LAUNCH",
                "launch",
                json!({"task_infos": [documented_task()]}),
            ),
        ),
        (
            "ACCEPT",
            operation(
                "LAUNCH_GROUP",
                "launch_group",
                json!({
                    "executor": {
                        "type": "DEFAULT",
                        "executor_id": {"value": "group-executor"},
                        "framework_id": fw
                    },
                    "task_group": {"tasks": [documented_task()]}
                }),
            ),
        ),
        (
            "ACCEPT",
            operation("RESERVE", "reserve", json!({"resources": reserved_cpus()})),
        ),
        (
            "ACCEPT",
            operation(
                "UNRESERVE",
                "unreserve",
                json!({"resources": reserved_cpus()}),
            ),
        ),
        (
            "ACCEPT",
            operation("CREATE", "create", json!({"volumes": volume()})),
        ),
        (
            "ACCEPT",
            operation("DESTROY", "destroy", json!({"volumes": volume()})),
        ),
        (
            "DECLINE",
            json!({
                "framework_id": fw,
                "type": "DECLINE",
                "decline": {
                    "offer_ids": [{"value": "12220-3440-12532-O12"}, {"value": "12220-3440-12532-O13"}],
                    "filters": {"refuse_seconds": 5.0}
                }
            }),
        ),
        (
            "ACCEPT_INVERSE_OFFERS",
            json!({
                "framework_id": fw,
                "type": "ACCEPT_INVERSE_OFFERS",
                "accept_inverse_offers": {"inverse_offer_ids": [{"value": "12220-3440-12532-O14"}]}
            }),
        ),
        (
            "DECLINE_INVERSE_OFFERS",
            json!({
                "framework_id": fw,
                "type": "DECLINE_INVERSE_OFFERS",
                "decline_inverse_offers": {"inverse_offer_ids": [{"value": "12220-3440-12532-O15"}]}
            }),
        ),
        (
            "REVIVE",
            json!({"framework_id": fw, "type": "REVIVE", "revive": {"roles": ["test1"]}}),
        ),
        (
            "SUPPRESS",
            json!({"framework_id": fw, "type": "SUPPRESS", "suppress": {"roles": ["test2"]}}),
        ),
        (
            "KILL",
            json!({
                "framework_id": fw,
                "type": "KILL",
                "kill": {
                    "task_id": {"value": "12220-3440-12532-my-task"},
                    "agent_id": {"value": "12220-3440-12532-S1233"}
                }
            }),
        ),
        (
            "SHUTDOWN",
            json!({
                "framework_id": fw,
                "type": "SHUTDOWN",
                "shutdown": {
                    "executor_id": {"value": "123450-2340-1232-my-executor"},
                    "agent_id": {"value": "12220-3440-12532-S1233"}
                }
            }),
        ),
        (
            "ACKNOWLEDGE",
            json!({
                "framework_id": fw,
                "type": "ACKNOWLEDGE",
                "acknowledge": {
                    "agent_id": {"value": "12220-3440-12532-S1233"},
                    "task_id": {"value": "12220-3440-12532-my-task"},
                    "uuid": "jhadf73jhakdlfha723adg=="
                }
            }),
        ),
        (
            "RECONCILE",
            json!({
                "framework_id": fw,
                "type": "RECONCILE",
                "reconcile": {
                    "tasks": [{"task_id": {"value": "312325"}, "agent_id": {"value": "123535"}}]
                }
            }),
        ),
        (
            "MESSAGE",
            json!({
                "framework_id": fw,
                "type": "MESSAGE",
                "message": {
                    "agent_id": {"value": "12220-3440-12532-S1233"},
                    "executor_id": {"value": "my-framework-executor"},
                    "data": "adaf838jahd748jnaldf"
                }
            }),
        ),
        (
            "REQUEST",
            json!({
                "framework_id": fw,
                "type": "REQUEST",
                "request": {"requests": [{"agent_id": {"value": "12220-3440-12532-S1233"}}]}
            }),
        ),
        (
            "UPDATE_FRAMEWORK",
            json!({
                "framework_id": fw,
                "type": "UPDATE_FRAMEWORK",
                "update_framework": {
                    "framework_info": {
                        "user": "foo",
                        "name": "Example HTTP Framework",
                        "id": fw,
                        "roles": ["test1", "test2"],
                        "capabilities": [{"type": "MULTI_ROLE"}],
                        "checkpoint": false,
                        "failover_timeout": 0.0
                    },
                    "suppressed_roles": ["test2"]
                }
            }),
        ),
        ("TEARDOWN", json!({"framework_id": fw, "type": "TEARDOWN"})),
    ]
}

/// Makes every documented call through the driver's typed methods, in `expectations` order.
struct Caller;

impl Caller {
    async fn all_calls(driver: &Driver) {
        let expected = expectations();
        let accept = |i: usize| -> spb::call::Accept { json_of(expected[i].1["accept"].clone()) };
        for i in 1..=6 {
            let a = accept(i);
            driver
                .accept(a.offer_ids, a.operations, a.filters)
                .await
                .unwrap();
        }
        driver
            .decline(
                vec![id("12220-3440-12532-O12"), id("12220-3440-12532-O13")],
                Some(5.0),
            )
            .await
            .unwrap();
        driver
            .accept_inverse_offers(vec![id("12220-3440-12532-O14")])
            .await
            .unwrap();
        driver
            .decline_inverse_offers(vec![id("12220-3440-12532-O15")])
            .await
            .unwrap();
        driver.revive(vec!["test1".into()]).await.unwrap();
        driver.suppress(vec!["test2".into()]).await.unwrap();
        driver
            .kill(
                id("12220-3440-12532-my-task"),
                Some(id("12220-3440-12532-S1233")),
            )
            .await
            .unwrap();
        driver
            .shutdown(
                id("123450-2340-1232-my-executor"),
                id("12220-3440-12532-S1233"),
            )
            .await
            .unwrap();
        let status = pb::TaskStatus {
            task_id: id("12220-3440-12532-my-task"),
            agent_id: Some(id("12220-3440-12532-S1233")),
            uuid: Some(base64("jhadf73jhakdlfha723adg==")),
            ..Default::default()
        };
        driver.acknowledge(&status).await.unwrap();
        driver
            .reconcile(vec![(id("312325"), Some(id("123535")))])
            .await
            .unwrap();
        driver
            .message(
                id("12220-3440-12532-S1233"),
                id("my-framework-executor"),
                base64("adaf838jahd748jnaldf"),
            )
            .await
            .unwrap();
        driver
            .request(vec![pb::Request {
                agent_id: Some(id("12220-3440-12532-S1233")),
                resources: vec![],
            }])
            .await
            .unwrap();
        let mut info: pb::FrameworkInfo =
            json_of(expected[18].1["update_framework"]["framework_info"].clone());
        info.id = Some(id(FRAMEWORK_ID));
        driver
            .update_framework(info, vec!["test2".into()])
            .await
            .unwrap();
        driver.teardown().await.unwrap();
    }
}

#[async_trait]
impl Scheduler for Caller {
    async fn subscribed(&mut self, driver: &Driver, _info: Subscribed) {
        Caller::all_calls(driver).await;
    }
}

/// Numbers compared as doubles: `5` and `5.0` are the same JSON number to Mesos.
fn normalized(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), normalized(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

async fn sent_calls(format: Format) -> Vec<Recorded> {
    let (addr, recorded) = recording_master().await;
    let framework: pb::FrameworkInfo =
        json_of(expectations()[0].1["subscribe"]["framework_info"].clone());
    let mut config = DriverConfig::new(addr, framework);
    config.format = format;
    config.suppressed_roles = vec!["test2".into()];
    tokio::time::timeout(Duration::from_secs(20), run(config, Caller))
        .await
        .expect("the driver finishes its calls")
        .expect("the driver runs");
    recorded.lock().unwrap().clone()
}

fn check_headers(format: Format, calls: &[Recorded]) {
    for (i, call) in calls.iter().enumerate() {
        assert_eq!(call.path, "/api/v1/scheduler");
        assert_eq!(call.content_type, media(format), "call {i}");
        assert_eq!(call.accept, media(format), "call {i}");
        if i == 0 {
            assert_eq!(call.stream_id, None, "SUBSCRIBE carries no Mesos-Stream-Id");
        } else {
            assert_eq!(call.stream_id.as_deref(), Some(STREAM_ID), "call {i}");
        }
    }
}

#[tokio::test]
async fn json_calls_are_the_documented_requests() {
    let calls = sent_calls(Format::Json).await;
    let expected = expectations();
    assert_eq!(calls.len(), expected.len(), "one request per call");
    check_headers(Format::Json, &calls);
    let mut wrong = Vec::new();
    for (call, (name, want)) in calls.iter().zip(&expected) {
        let got: Value = serde_json::from_slice(&call.body).unwrap();
        if normalized(&got) != normalized(want) {
            wrong.push(format!("{name}:\n  sent     {got}\n  expected {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn protobuf_calls_decode_to_the_documented_requests() {
    let calls = sent_calls(Format::Protobuf).await;
    let expected = expectations();
    assert_eq!(calls.len(), expected.len(), "one request per call");
    check_headers(Format::Protobuf, &calls);
    for (call, (name, want)) in calls.iter().zip(&expected) {
        let got = spb::Call::decode(call.body.as_ref()).unwrap();
        let want: spb::Call = json_of(want.clone());
        assert_eq!(got, want, "{name}");
    }
}
