//! What the driver puts on the wire, call by call, pinned against the request examples of
//! Mesos's `docs/scheduler-http-api.md` (and, for the operations that page does not show,
//! `docs/running-workloads.md`, `docs/reservation.md` and `docs/persistent-volume.md`).
//!
//! Every request goes through [`run`] with the default [`HttpTransport`] over real HTTP to a
//! fake master on 127.0.0.1:0, which records it. Each call is checked in both encodings:
//!
//! - method `POST`, path `/api/v1/scheduler`, `Content-Type` and `Accept` of the encoding, and
//!   `Mesos-Stream-Id` on every call but SUBSCRIBE (which has `Connection: close` instead);
//! - JSON: the body, parsed, equals the documented JSON with the doc's ids and values. The
//!   only additions are fields with an explicit proto default (`failover_timeout: 0.0`,
//!   `checkpoint: false`, ...), which Mesos's own JSON writer (stout's `JSON::protobuf`,
//!   also used by Mesos's C++ scheduler library) always writes; each is listed by path;
//! - protobuf: the body decodes to exactly the message the documented JSON describes.
//!
//! Where the doc's example is not what Mesos itself accepts (it predates a proto change or
//! has a typo), the test follows `scheduler.proto` and says why next to the example.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::scheduler::{Call, Event, call, event};
use mesos_scheduler_sdk::transport::HttpTransport;
use mesos_scheduler_sdk::{
    Driver, DriverConfig, Format, Scheduler, SdkError, Subscribed, async_trait, ops, run,
};
use prost::Message;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const FRAMEWORK_ID: &str = "12220-3440-12532-2345";
const STREAM_ID: &str = "130ae4e3-6b13-4ef4-baa9-9f2e85c3e9af";

/// One request as the fake master saw it.
#[derive(Debug)]
struct Captured {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Captured {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type EventSender = mpsc::UnboundedSender<Result<Bytes, Infallible>>;

#[derive(Clone)]
struct FakeState {
    requests: mpsc::UnboundedSender<Captured>,
    /// Open event streams; dropping a sender ends its stream.
    streams: Arc<Mutex<Vec<EventSender>>>,
}

/// A master that answers SUBSCRIBE with SUBSCRIBED and every other call with 202.
struct FakeMaster {
    addr: std::net::SocketAddr,
    requests: mpsc::UnboundedReceiver<Captured>,
    streams: Arc<Mutex<Vec<EventSender>>>,
    server: tokio::task::JoinHandle<()>,
}

fn media_type(format: Format) -> &'static str {
    match format {
        Format::Json => "application/json",
        Format::Protobuf => "application/x-protobuf",
    }
}

fn decode_call(content_type: Option<&str>, body: &[u8]) -> Call {
    match content_type {
        Some("application/json") => {
            mesos_core::json::from_str(std::str::from_utf8(body).unwrap()).unwrap()
        }
        Some("application/x-protobuf") => Call::decode(body).unwrap(),
        other => panic!("unexpected Content-Type {other:?}"),
    }
}

async fn handle(
    axum::extract::State(state): axum::extract::State<FakeState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let call = decode_call(content_type.as_deref(), &body);
    let _ = state.requests.send(Captured {
        method,
        path: uri.path().to_string(),
        headers,
        body,
    });
    if call.r#type() != call::Type::Subscribe {
        let status = if call.r#type() == call::Type::UpdateFramework {
            200
        } else {
            202
        };
        return Response::builder()
            .status(status)
            .body(Body::empty())
            .unwrap();
    }
    let framework_id = call.framework_id.unwrap_or(pb::FrameworkId {
        value: FRAMEWORK_ID.into(),
    });
    let event = Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id,
            heartbeat_interval_seconds: Some(15.0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let record = if accept == "application/x-protobuf" {
        event.encode_to_vec()
    } else {
        mesos_core::json::to_vec(&event)
    };
    let mut framed = Vec::new();
    mesos_core::recordio::encode(&record, &mut framed);
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(Ok(Bytes::from(framed))).unwrap();
    state.streams.lock().unwrap().push(tx);
    Response::builder()
        .status(200)
        .header("Content-Type", accept)
        .header("Mesos-Stream-Id", STREAM_ID)
        .body(Body::from_stream(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
        ))
        .unwrap()
}

impl FakeMaster {
    async fn start() -> FakeMaster {
        let (tx, requests) = mpsc::unbounded_channel();
        let streams = Arc::new(Mutex::new(Vec::new()));
        let state = FakeState {
            requests: tx,
            streams: streams.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeMaster {
            addr,
            requests,
            streams,
            server,
        }
    }

    async fn next(&mut self) -> Captured {
        tokio::time::timeout(Duration::from_secs(10), self.requests.recv())
            .await
            .expect("a request within 10 s")
            .expect("server running")
    }

    /// Ends every open event stream, as a failed master would.
    fn close_streams(&self) {
        self.streams.lock().unwrap().clear();
    }
}

impl Drop for FakeMaster {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Hands the driver to the test once subscribed.
struct Grab(mpsc::UnboundedSender<Driver>);

#[async_trait]
impl Scheduler for Grab {
    async fn subscribed(&mut self, driver: &Driver, _info: Subscribed) {
        let _ = self.0.send(driver.clone());
    }
}

/// The FrameworkInfo, suppressed roles and offer constraints of the SUBSCRIBE example.
fn doc_config(addr: std::net::SocketAddr, format: Format) -> DriverConfig {
    use pb::scheduler::attribute_constraint::{Predicate, Selector, predicate, selector};
    use pb::scheduler::offer_constraints::{RoleConstraints, role_constraints::Group};
    let framework = pb::FrameworkInfo {
        user: "foo".into(),
        name: "Example HTTP Framework".into(),
        roles: vec!["test1".into(), "test2".into()],
        capabilities: vec![pb::framework_info::Capability {
            r#type: Some(pb::framework_info::capability::Type::MultiRole as i32),
        }],
        ..Default::default()
    };
    let mut config = DriverConfig::new(addr.to_string(), framework);
    config.format = format;
    config.suppressed_roles = vec!["test2".into()];
    config.offer_constraints = Some(pb::scheduler::OfferConstraints {
        role_constraints: [(
            "test1".to_string(),
            RoleConstraints {
                groups: vec![Group {
                    attribute_constraints: vec![pb::scheduler::AttributeConstraint {
                        selector: Selector {
                            selector: Some(selector::Selector::AttributeName("foo".into())),
                        },
                        predicate: Predicate {
                            predicate: Some(predicate::Predicate::Exists(predicate::Exists {})),
                        },
                    }],
                }],
            },
        )]
        .into(),
    });
    config
}

/// Starts a fake master and a driver subscribed to it; returns the SUBSCRIBE request too.
async fn subscribed_with(config: DriverConfig, master: &mut FakeMaster) -> (Driver, Captured) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let transport = Arc::new(HttpTransport::new().unwrap());
    tokio::spawn(mesos_scheduler_sdk::run_with_transport(
        config,
        Grab(tx),
        transport,
    ));
    let subscribe = master.next().await;
    let driver = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("subscribed within 10 s")
        .unwrap();
    (driver, subscribe)
}

async fn subscribed(format: Format) -> (FakeMaster, Driver) {
    let mut master = FakeMaster::start().await;
    let config = doc_config(master.addr, format);
    let (driver, _) = subscribed_with(config, &mut master).await;
    (master, driver)
}

/// Numbers compared by value: the doc writes `5.0` and `5` alike.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        other => other.clone(),
    }
}

/// `doc` with fields added at JSON pointers (each must be new, under an existing object).
fn with(doc: &Value, additions: &[(&str, Value)]) -> Value {
    let mut out = doc.clone();
    for (pointer, value) in additions {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let object = out
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("no object at {parent}"));
        assert!(
            object.insert(key.to_string(), value.clone()).is_none(),
            "{pointer} is already in the doc example"
        );
    }
    out
}

/// Checks one captured request against the documented JSON `doc` (plus the fields Mesos's
/// JSON writer adds, `defaults`).
fn check(
    format: Format,
    request: &Captured,
    doc: &Value,
    defaults: &[(&str, Value)],
    stream_id: Option<&str>,
) {
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/api/v1/scheduler");
    assert_eq!(request.header("content-type"), Some(media_type(format)));
    assert_eq!(request.header("accept"), Some(media_type(format)));
    assert_eq!(request.header("mesos-stream-id"), stream_id);
    match format {
        Format::Json => {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let expected = with(doc, defaults);
            assert_eq!(
                normalize(&body),
                normalize(&expected),
                "\nsent:     {}\nexpected: {}",
                serde_json::to_string_pretty(&body).unwrap(),
                serde_json::to_string_pretty(&expected).unwrap()
            );
        }
        Format::Protobuf => {
            let sent = Call::decode(&request.body[..]).unwrap();
            let expected: Call = mesos_core::json::from_value(doc).unwrap();
            assert_eq!(sent, expected);
        }
    }
}

/// Sends one call in each encoding and checks what arrived.
async fn pin<F, Fut>(send: F, doc: Value, defaults: &[(&str, Value)])
where
    F: Fn(Driver) -> Fut,
    Fut: std::future::Future<Output = Result<(), SdkError>>,
{
    for format in [Format::Json, Format::Protobuf] {
        let (mut master, driver) = subscribed(format).await;
        send(driver.clone()).await.unwrap();
        let request = master.next().await;
        check(format, &request, &doc, defaults, Some(STREAM_ID));
        driver.stop();
    }
}

fn id(value: &str) -> pb::FrameworkId {
    pb::FrameworkId {
        value: value.into(),
    }
}

fn offer_id(value: &str) -> pb::OfferId {
    pb::OfferId {
        value: value.into(),
    }
}

fn agent_id(value: &str) -> pb::AgentId {
    pb::AgentId {
        value: value.into(),
    }
}

fn task_id(value: &str) -> pb::TaskId {
    pb::TaskId {
        value: value.into(),
    }
}

fn executor_id(value: &str) -> pb::ExecutorId {
    pb::ExecutorId {
        value: value.into(),
    }
}

fn base64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn scalar(name: &str, value: f64) -> pb::Resource {
    pb::Resource {
        name: name.into(),
        r#type: pb::value::Type::Scalar as i32,
        scalar: Some(pb::value::Scalar { value }),
        ..Default::default()
    }
}

/// The SUBSCRIBE example, in the fields the driver writes.
fn subscribe_doc() -> Value {
    json!({
        "type": "SUBSCRIBE",
        "subscribe": {
            "framework_info": {
                "user": "foo",
                "name": "Example HTTP Framework",
                "roles": ["test1", "test2"],
                "capabilities": [{"type": "MULTI_ROLE"}]
            },
            "suppressed_roles": ["test2"],
            "offer_constraints": {
                "role_constraints": {
                    "test1": {
                        "groups": [{
                            "attribute_constraints": [{
                                "selector": {"attribute_name": "foo"},
                                "predicate": {"exists": {}}
                            }]
                        }]
                    }
                }
            }
        }
    })
}

/// FrameworkInfo fields with an explicit default, which Mesos's JSON writer always writes.
fn framework_info_defaults(prefix: &str) -> Vec<(String, Value)> {
    vec![
        (format!("{prefix}/failover_timeout"), json!(0.0)),
        (format!("{prefix}/checkpoint"), json!(false)),
    ]
}

fn as_refs(v: &[(String, Value)]) -> Vec<(&str, Value)> {
    v.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

#[tokio::test]
async fn subscribe() {
    for format in [Format::Json, Format::Protobuf] {
        let mut master = FakeMaster::start().await;
        let config = doc_config(master.addr, format);
        let (driver, request) = subscribed_with(config, &mut master).await;
        // SUBSCRIBE never carries a stream id and asks for the connection to close after.
        check(
            format,
            &request,
            &subscribe_doc(),
            &as_refs(&framework_info_defaults("/subscribe/framework_info")),
            None,
        );
        assert_eq!(request.header("connection"), Some("close"));
        driver.stop();
    }
}

/// A scheduler that already has a framework id re-subscribes with it, in `framework_id`
/// and in `framework_info.id` ("Alternatively, if ... are set"), then reconciles all its
/// tasks (an empty RECONCILE).
#[tokio::test]
async fn resubscribe_with_framework_id_then_reconcile() {
    for format in [Format::Json, Format::Protobuf] {
        let mut master = FakeMaster::start().await;
        let mut config = doc_config(master.addr, format);
        config.framework.id = Some(id(FRAMEWORK_ID));
        let (driver, request) = subscribed_with(config, &mut master).await;
        let mut doc = subscribe_doc();
        doc["framework_id"] = json!({"value": FRAMEWORK_ID});
        doc["subscribe"]["framework_info"]["id"] = json!({"value": FRAMEWORK_ID});
        check(
            format,
            &request,
            &doc,
            &as_refs(&framework_info_defaults("/subscribe/framework_info")),
            None,
        );
        let reconcile = master.next().await;
        check(
            format,
            &reconcile,
            &json!({
                "framework_id": {"value": FRAMEWORK_ID},
                "type": "RECONCILE",
                "reconcile": {}
            }),
            &[],
            Some(STREAM_ID),
        );
        driver.stop();
    }
}

#[tokio::test]
async fn teardown() {
    pin(
        |d| async move { d.teardown().await },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "TEARDOWN"
        }),
        &[],
    )
    .await;
}

/// The ACCEPT example: one LAUNCH of a task with a custom executor.
#[tokio::test]
async fn accept_launch() {
    let doc = json!({
        "framework_id": {"value": FRAMEWORK_ID},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [{"value": "12220-3440-12532-O12"}],
            "operations": [{
                "type": "LAUNCH",
                "launch": {
                    "task_infos": [{
                        "name": "My Task",
                        "task_id": {"value": "12220-3440-12532-my-task"},
                        "agent_id": {"value": "12220-3440-12532-S1233"},
                        "executor": {
                            "command": {"shell": true, "value": "sleep 1000"},
                            "executor_id": {"value": "12214-23523-my-executor"}
                        },
                        "resources": [{
                            "allocation_info": {"role": "engineering"},
                            "name": "cpus",
                            "role": "*",
                            "type": "SCALAR",
                            "scalar": {"value": 1.0}
                        }, {
                            "allocation_info": {"role": "engineering"},
                            "name": "mem",
                            "role": "*",
                            "type": "SCALAR",
                            "scalar": {"value": 128.0}
                        }],
                        // The doc writes `"cpus": "Infinity", "mem": 512.0`, but `limits` is
                        // `map<string, Value.Scalar>`: Mesos reads and writes each value as
                        // a Scalar message (see the quota examples of operator-http-api.md),
                        // and rejects a bare number or string there.
                        "limits": {
                            "cpus": {"value": "Infinity"},
                            "mem": {"value": 512.0}
                        }
                    }]
                }
            }],
            "filters": {"refuse_seconds": 5.0}
        }
    });
    pin(
        |d| async move {
            let mut resources = vec![scalar("cpus", 1.0), scalar("mem", 128.0)];
            for r in &mut resources {
                r.allocation_info = Some(pb::resource::AllocationInfo {
                    role: Some("engineering".into()),
                });
                #[allow(deprecated)]
                {
                    r.role = Some("*".into());
                }
            }
            let task = pb::TaskInfo {
                name: "My Task".into(),
                task_id: task_id("12220-3440-12532-my-task"),
                agent_id: agent_id("12220-3440-12532-S1233"),
                executor: Some(pb::ExecutorInfo {
                    executor_id: executor_id("12214-23523-my-executor"),
                    command: Some(pb::CommandInfo {
                        shell: Some(true),
                        value: Some("sleep 1000".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                resources,
                limits: [
                    (
                        "cpus".to_string(),
                        pb::value::Scalar {
                            value: f64::INFINITY,
                        },
                    ),
                    ("mem".to_string(), pb::value::Scalar { value: 512.0 }),
                ]
                .into(),
                ..Default::default()
            };
            d.accept(
                vec![offer_id("12220-3440-12532-O12")],
                vec![ops::launch(vec![task])],
                Some(pb::Filters {
                    refuse_seconds: Some(5.0),
                }),
            )
            .await
        },
        doc,
        &[],
    )
    .await;
}

/// LAUNCH_GROUP as in running-workloads.md's task group example, in an ACCEPT.
#[tokio::test]
async fn accept_launch_group() {
    let doc = json!({
        "framework_id": {"value": FRAMEWORK_ID},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [{"value": "12220-3440-12532-O12"}],
            "operations": [{
                "type": "LAUNCH_GROUP",
                "launch_group": {
                    "executor": {
                        "type": "DEFAULT",
                        "executor_id": {"value": "28649-27G5-291H9-3816-04"},
                        "framework_id": {"value": FRAMEWORK_ID},
                        "resources": [
                            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                            {"name": "disk", "type": "SCALAR", "scalar": {"value": 32}}
                        ]
                    },
                    "task_group": {
                        "tasks": [{
                            "name": "Name of the task",
                            "task_id": {"value": "task-000001"},
                            "agent_id": {"value": "83J792-S8FH-W397K-2861-S01"},
                            "resources": [
                                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}},
                                {"name": "mem", "type": "SCALAR", "scalar": {"value": 512}},
                                {"name": "disk", "type": "SCALAR", "scalar": {"value": 1024}}
                            ],
                            // As in accept_launch: Scalar messages, not bare values (the doc
                            // example also lacks the comma after `limits`).
                            "limits": {
                                "cpus": {"value": "Infinity"},
                                "mem": {"value": 4096}
                            },
                            // The doc puts `uris` next to `command`; TaskInfo has no such
                            // field (Mesos would drop it): URIs belong to CommandInfo.
                            "command": {
                                "value": "./my-artifact/run.sh",
                                "uris": [{"value": "https://my-server.com/my-artifact.tar.gz"}]
                            },
                            "container": {
                                "type": "MESOS",
                                "linux_info": {"share_cgroups": false}
                            }
                        }]
                    }
                }
            }],
            "filters": {"refuse_seconds": 5.0}
        }
    });
    let task = "/accept/operations/0/launch_group/task_group/tasks/0";
    let defaults = [
        // `CommandInfo.shell` and `CommandInfo.URI.extract` have `[default = true]`.
        (format!("{task}/command/shell"), json!(true)),
        (format!("{task}/command/uris/0/extract"), json!(true)),
    ];
    pin(
        |d| async move {
            let executor = pb::ExecutorInfo {
                r#type: Some(pb::executor_info::Type::Default as i32),
                executor_id: executor_id("28649-27G5-291H9-3816-04"),
                framework_id: Some(id(FRAMEWORK_ID)),
                resources: vec![
                    scalar("cpus", 0.1),
                    scalar("mem", 32.0),
                    scalar("disk", 32.0),
                ],
                ..Default::default()
            };
            let task = pb::TaskInfo {
                name: "Name of the task".into(),
                task_id: task_id("task-000001"),
                agent_id: agent_id("83J792-S8FH-W397K-2861-S01"),
                resources: vec![
                    scalar("cpus", 1.0),
                    scalar("mem", 512.0),
                    scalar("disk", 1024.0),
                ],
                limits: [
                    (
                        "cpus".to_string(),
                        pb::value::Scalar {
                            value: f64::INFINITY,
                        },
                    ),
                    ("mem".to_string(), pb::value::Scalar { value: 4096.0 }),
                ]
                .into(),
                command: Some(pb::CommandInfo {
                    value: Some("./my-artifact/run.sh".into()),
                    uris: vec![pb::command_info::Uri {
                        value: "https://my-server.com/my-artifact.tar.gz".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                container: Some(pb::ContainerInfo {
                    r#type: pb::container_info::Type::Mesos as i32,
                    linux_info: Some(pb::LinuxInfo {
                        share_cgroups: Some(false),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            d.accept(
                vec![offer_id("12220-3440-12532-O12")],
                vec![ops::launch_group(executor, vec![task])],
                Some(pb::Filters {
                    refuse_seconds: Some(5.0),
                }),
            )
            .await
        },
        doc,
        &as_refs(&defaults),
    )
    .await;
}

/// The reservation-refinement resources of reservation.md ("engineering/backend" pushes its
/// reservation onto "engineering"'s), with the doc's `<principal>` placeholders filled in.
fn refined(name: &str, value: f64) -> pb::Resource {
    let reservation = |role: &str, principal: &str| pb::resource::ReservationInfo {
        r#type: Some(pb::resource::reservation_info::Type::Dynamic as i32),
        role: Some(role.into()),
        principal: Some(principal.into()),
        ..Default::default()
    };
    pb::Resource {
        allocation_info: Some(pb::resource::AllocationInfo {
            role: Some("engineering/backend".into()),
        }),
        reservations: vec![
            reservation("engineering", "ops"),
            reservation("engineering/backend", "backend-fw"),
        ],
        ..scalar(name, value)
    }
}

fn refined_json(name: &str, value: f64) -> Value {
    json!({
        "allocation_info": {"role": "engineering/backend"},
        "name": name,
        "type": "SCALAR",
        "scalar": {"value": value},
        "reservations": [
            {"type": "DYNAMIC", "role": "engineering", "principal": "ops"},
            {"type": "DYNAMIC", "role": "engineering/backend", "principal": "backend-fw"}
        ]
    })
}

fn accept_doc(operation: Value) -> Value {
    json!({
        "framework_id": {"value": FRAMEWORK_ID},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [{"value": "12220-3440-12532-O12"}],
            "operations": [operation]
        }
    })
}

#[tokio::test]
async fn accept_reserve() {
    pin(
        |d| async move {
            let resources = vec![refined("cpus", 8.0), refined("mem", 4096.0)];
            d.accept(
                vec![offer_id("12220-3440-12532-O12")],
                vec![ops::reserve(resources)],
                None,
            )
            .await
        },
        accept_doc(json!({
            "type": "RESERVE",
            "reserve": {"resources": [refined_json("cpus", 8.0), refined_json("mem", 4096.0)]}
        })),
        &[],
    )
    .await;
}

#[tokio::test]
async fn accept_unreserve() {
    pin(
        |d| async move {
            let resources = vec![refined("cpus", 8.0), refined("mem", 4096.0)];
            d.accept(
                vec![offer_id("12220-3440-12532-O12")],
                vec![ops::unreserve(resources)],
                None,
            )
            .await
        },
        accept_doc(json!({
            "type": "UNRESERVE",
            "unreserve": {"resources": [refined_json("cpus", 8.0), refined_json("mem", 4096.0)]}
        })),
        &[],
    )
    .await;
}

/// The persistent volume of persistent-volume.md (pre-refinement `role` and `reservation`),
/// with its placeholders filled in; CREATE names the volume's principal, DESTROY does not.
fn volume(with_principal: bool) -> pb::Resource {
    #[allow(deprecated)]
    pb::Resource {
        role: Some("engineering".into()),
        reservation: Some(pb::resource::ReservationInfo {
            principal: Some("backend-fw".into()),
            ..Default::default()
        }),
        disk: Some(pb::resource::DiskInfo {
            persistence: Some(pb::resource::disk_info::Persistence {
                id: "volume-1".into(),
                principal: with_principal.then(|| "backend-fw".into()),
            }),
            volume: Some(pb::Volume {
                container_path: "data".into(),
                mode: pb::volume::Mode::Rw as i32,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..scalar("disk", 2048.0)
    }
}

fn volume_json(with_principal: bool) -> Value {
    let mut persistence = json!({"id": "volume-1"});
    if with_principal {
        persistence["principal"] = json!("backend-fw");
    }
    json!({
        "name": "disk",
        "type": "SCALAR",
        "scalar": {"value": 2048},
        "role": "engineering",
        "reservation": {"principal": "backend-fw"},
        "disk": {
            "persistence": persistence,
            "volume": {"container_path": "data", "mode": "RW"}
        }
    })
}

#[tokio::test]
async fn accept_create() {
    pin(
        |d| async move {
            d.accept(
                vec![offer_id("12220-3440-12532-O12")],
                vec![ops::create(vec![volume(true)])],
                None,
            )
            .await
        },
        accept_doc(json!({"type": "CREATE", "create": {"volumes": [volume_json(true)]}})),
        &[],
    )
    .await;
}

#[tokio::test]
async fn accept_destroy() {
    pin(
        |d| async move {
            d.accept(
                vec![offer_id("12220-3440-12532-O12")],
                vec![ops::destroy(vec![volume(false)])],
                None,
            )
            .await
        },
        accept_doc(json!({"type": "DESTROY", "destroy": {"volumes": [volume_json(false)]}})),
        &[],
    )
    .await;
}

#[tokio::test]
async fn decline_with_filters() {
    pin(
        |d| async move {
            d.decline(
                vec![
                    offer_id("12220-3440-12532-O12"),
                    offer_id("12220-3440-12532-O13"),
                ],
                Some(5.0),
            )
            .await
        },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "DECLINE",
            "decline": {
                "offer_ids": [
                    {"value": "12220-3440-12532-O12"},
                    {"value": "12220-3440-12532-O13"}
                ],
                "filters": {"refuse_seconds": 5.0}
            }
        }),
        &[],
    )
    .await;
}

/// Not in the doc; the shape of `Call.AcceptInverseOffers` in scheduler.proto.
#[tokio::test]
async fn accept_inverse_offers() {
    pin(
        |d| async move {
            d.accept_inverse_offers(
                vec![offer_id("12220-3440-12532-I1")],
                Some(pb::Filters {
                    refuse_seconds: Some(60.0),
                }),
            )
            .await
        },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "ACCEPT_INVERSE_OFFERS",
            "accept_inverse_offers": {
                "inverse_offer_ids": [{"value": "12220-3440-12532-I1"}],
                "filters": {"refuse_seconds": 60.0}
            }
        }),
        &[],
    )
    .await;
}

/// Not in the doc; the shape of `Call.DeclineInverseOffers` in scheduler.proto.
#[tokio::test]
async fn decline_inverse_offers() {
    pin(
        |d| async move {
            d.decline_inverse_offers(vec![offer_id("12220-3440-12532-I1")], None)
                .await
        },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "DECLINE_INVERSE_OFFERS",
            "decline_inverse_offers": {
                "inverse_offer_ids": [{"value": "12220-3440-12532-I1"}]
            }
        }),
        &[],
    )
    .await;
}

/// The doc's REVIVE example still shows the pre-multi-role `"role": <one role>`; since
/// Mesos 1.7 `Call.Revive` has `repeated string roles`, and Mesos ignores an unknown `role`
/// key (reviving every role), so the roles go in `roles`.
#[tokio::test]
async fn revive_with_roles() {
    pin(
        |d| async move { d.revive(vec!["test1".into()]).await },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "REVIVE",
            "revive": {"roles": ["test1"]}
        }),
        &[],
    )
    .await;
}

#[tokio::test]
async fn suppress_with_roles() {
    pin(
        |d| async move { d.suppress(vec!["test1".into(), "test2".into()]).await },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "SUPPRESS",
            "suppress": {"roles": ["test1", "test2"]}
        }),
        &[],
    )
    .await;
}

#[tokio::test]
async fn kill() {
    pin(
        |d| async move {
            d.kill(
                task_id("12220-3440-12532-my-task"),
                Some(agent_id("12220-3440-12532-S1233")),
            )
            .await
        },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "KILL",
            "kill": {
                "task_id": {"value": "12220-3440-12532-my-task"},
                "agent_id": {"value": "12220-3440-12532-S1233"}
            }
        }),
        &[],
    )
    .await;
}

#[tokio::test]
async fn shutdown() {
    pin(
        |d| async move {
            d.shutdown(
                executor_id("123450-2340-1232-my-executor"),
                agent_id("12220-3440-12532-S1233"),
            )
            .await
        },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "SHUTDOWN",
            "shutdown": {
                "executor_id": {"value": "123450-2340-1232-my-executor"},
                "agent_id": {"value": "12220-3440-12532-S1233"}
            }
        }),
        &[],
    )
    .await;
}

/// The doc's uuid, `jhadf73jhakdlfha723adf`, is 22 characters of base64 whose last one
/// carries non-zero spare bits, so no byte string encodes to it. A uuid is 16 raw bytes,
/// which Mesos (and the driver) write as padded standard base64: the test uses the 16 bytes
/// the doc's text stands for, written canonically (`...adQ==`).
const DOC_UUID_BASE64: &str = "jhadf73jhakdlfha723adQ==";

#[tokio::test]
async fn acknowledge() {
    pin(
        |d| async move {
            d.acknowledge(&pb::TaskStatus {
                task_id: task_id("12220-3440-12532-my-task"),
                agent_id: Some(agent_id("12220-3440-12532-S1233")),
                uuid: Some(base64(DOC_UUID_BASE64)),
                state: pb::TaskState::TaskRunning as i32,
                ..Default::default()
            })
            .await
        },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "ACKNOWLEDGE",
            "acknowledge": {
                "agent_id": {"value": "12220-3440-12532-S1233"},
                "task_id": {"value": "12220-3440-12532-my-task"},
                "uuid": DOC_UUID_BASE64
            }
        }),
        &[],
    )
    .await;
}

/// The doc writes `"operation_id": "73jhakdlfha723adf"`, but `operation_id` is an
/// `OperationID` message, `{"value": ...}`, as in the RECONCILE_OPERATIONS example.
#[tokio::test]
async fn acknowledge_operation_status() {
    pin(
        |d| async move {
            d.acknowledge_operation_status(&pb::OperationStatus {
                operation_id: Some(pb::OperationId {
                    value: "73jhakdlfha723adf".into(),
                }),
                state: pb::OperationState::OperationFinished as i32,
                uuid: Some(pb::Uuid {
                    value: base64(DOC_UUID_BASE64),
                }),
                agent_id: Some(agent_id("12220-3440-12532-S1233")),
                resource_provider_id: Some(pb::ResourceProviderId {
                    value: "12220-3440-12532-rp".into(),
                }),
                ..Default::default()
            })
            .await
        },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "ACKNOWLEDGE_OPERATION_STATUS",
            "acknowledge_operation_status": {
                "agent_id": {"value": "12220-3440-12532-S1233"},
                "resource_provider_id": {"value": "12220-3440-12532-rp"},
                "uuid": DOC_UUID_BASE64,
                "operation_id": {"value": "73jhakdlfha723adf"}
            }
        }),
        &[],
    )
    .await;
}

#[tokio::test]
async fn reconcile() {
    pin(
        |d| async move {
            d.reconcile(vec![(task_id("312325"), Some(agent_id("123535")))])
                .await
        },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "RECONCILE",
            "reconcile": {
                "tasks": [{
                    "task_id": {"value": "312325"},
                    "agent_id": {"value": "123535"}
                }]
            }
        }),
        &[],
    )
    .await;
}

#[tokio::test]
async fn reconcile_operations() {
    pin(
        |d| async move {
            d.reconcile_operations(vec![call::reconcile_operations::Operation {
                operation_id: pb::OperationId {
                    value: "312325".into(),
                },
                agent_id: Some(agent_id("123535")),
                resource_provider_id: Some(pb::ResourceProviderId {
                    value: "927695".into(),
                }),
            }])
            .await
        },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "RECONCILE_OPERATIONS",
            "reconcile_operations": {
                "operations": [{
                    "operation_id": {"value": "312325"},
                    "agent_id": {"value": "123535"},
                    "resource_provider_id": {"value": "927695"}
                }]
            }
        }),
        &[],
    )
    .await;
}

#[tokio::test]
async fn message() {
    pin(
        |d| async move {
            d.message(
                agent_id("12220-3440-12532-S1233"),
                executor_id("my-framework-executor"),
                base64("adaf838jahd748jnaldf"),
            )
            .await
        },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "MESSAGE",
            "message": {
                "agent_id": {"value": "12220-3440-12532-S1233"},
                "executor_id": {"value": "my-framework-executor"},
                "data": "adaf838jahd748jnaldf"
            }
        }),
        &[],
    )
    .await;
}

/// The doc's REQUEST example puts `requests` next to `type`; in scheduler.proto they are in
/// `Call.request` (`Call.Request.requests`), where Mesos looks for them. Its empty
/// `"resources": {}` is an empty list, which is not written.
#[tokio::test]
async fn request() {
    pin(
        |d| async move {
            d.request(vec![pb::Request {
                agent_id: Some(agent_id("12220-3440-12532-S1233")),
                resources: vec![],
            }])
            .await
        },
        json!({
            "framework_id": {"value": FRAMEWORK_ID},
            "type": "REQUEST",
            "request": {
                "requests": [{"agent_id": {"value": "12220-3440-12532-S1233"}}]
            }
        }),
        &[],
    )
    .await;
}

/// The doc's UPDATE_FRAMEWORK example has neither `framework_id` nor
/// `framework_info.id`, but Mesos refuses the call unless both are present and equal
/// ("'framework_id' differs from 'update_framework.framework_info.id'"): the driver fills
/// in the id. (The example also lacks a comma after `suppressed_roles`.)
fn update_framework_doc() -> Value {
    let mut doc = subscribe_doc();
    let mut update = doc["subscribe"].take();
    update["framework_info"]["id"] = json!({"value": FRAMEWORK_ID});
    json!({
        "framework_id": {"value": FRAMEWORK_ID},
        "type": "UPDATE_FRAMEWORK",
        "update_framework": update
    })
}

#[tokio::test]
async fn update_framework() {
    pin(
        |d| async move {
            let config = doc_config("127.0.0.1:1".parse().unwrap(), Format::Json);
            d.update_framework(
                config.framework,
                config.suppressed_roles,
                config.offer_constraints,
            )
            .await
        },
        update_framework_doc(),
        &as_refs(&framework_info_defaults("/update_framework/framework_info")),
    )
    .await;
}

/// After an accepted UPDATE_FRAMEWORK, a re-subscription carries the updated FrameworkInfo
/// and suppressed roles, not the ones the driver was started with.
#[tokio::test]
async fn resubscription_carries_the_updated_framework() {
    let mut master = FakeMaster::start().await;
    let config = doc_config(master.addr, Format::Json);
    let (driver, _) = subscribed_with(config.clone(), &mut master).await;
    let mut info = config.framework.clone();
    info.name = "Renamed".into();
    info.roles.push("test3".into());
    driver
        .update_framework(info, vec!["test3".into()], None)
        .await
        .unwrap();
    let _update = master.next().await;
    master.close_streams();
    let resubscribe = master.next().await;
    let call = decode_call(resubscribe.header("content-type"), &resubscribe.body);
    assert_eq!(call.r#type(), call::Type::Subscribe);
    assert_eq!(call.framework_id, Some(id(FRAMEWORK_ID)));
    let subscribe = call.subscribe.unwrap();
    assert_eq!(subscribe.framework_info.name, "Renamed");
    assert_eq!(subscribe.framework_info.roles, ["test1", "test2", "test3"]);
    assert_eq!(subscribe.framework_info.id, Some(id(FRAMEWORK_ID)));
    assert_eq!(subscribe.suppressed_roles, ["test3"]);
    assert_eq!(subscribe.offer_constraints, None);
    driver.stop();
}

/// `run` itself (not `run_with_transport`) speaks the same bytes.
#[tokio::test]
async fn run_uses_http_transport() {
    let mut master = FakeMaster::start().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(run(doc_config(master.addr, Format::Json), Grab(tx)));
    let request = master.next().await;
    check(
        Format::Json,
        &request,
        &subscribe_doc(),
        &as_refs(&framework_info_defaults("/subscribe/framework_info")),
        None,
    );
    let driver = rx.recv().await.unwrap();
    driver.teardown().await.unwrap();
    check(
        Format::Json,
        &master.next().await,
        &json!({"framework_id": {"value": FRAMEWORK_ID}, "type": "TEARDOWN"}),
        &[],
        Some(STREAM_ID),
    );
}

impl FakeMaster {
    /// Sends an event on every open stream.
    fn push(&self, event: &Event, format: Format) {
        let record = match format {
            Format::Json => mesos_core::json::to_vec(event),
            Format::Protobuf => event.encode_to_vec(),
        };
        let mut framed = Vec::new();
        mesos_core::recordio::encode(&record, &mut framed);
        for stream in self.streams.lock().unwrap().iter() {
            let _ = stream.send(Ok(Bytes::from(framed.clone())));
        }
    }
}

/// An operation status update with a uuid is acknowledged automatically, with the ids it
/// carried.
#[tokio::test]
async fn operation_status_updates_are_acknowledged() {
    for format in [Format::Json, Format::Protobuf] {
        let (mut master, driver) = subscribed(format).await;
        let status = pb::OperationStatus {
            operation_id: Some(pb::OperationId {
                value: "73jhakdlfha723adf".into(),
            }),
            state: pb::OperationState::OperationFinished as i32,
            uuid: Some(pb::Uuid {
                value: base64(DOC_UUID_BASE64),
            }),
            agent_id: Some(agent_id("12220-3440-12532-S1233")),
            resource_provider_id: Some(pb::ResourceProviderId {
                value: "12220-3440-12532-rp".into(),
            }),
            ..Default::default()
        };
        master.push(
            &Event {
                r#type: Some(event::Type::UpdateOperationStatus as i32),
                update_operation_status: Some(event::UpdateOperationStatus { status }),
                ..Default::default()
            },
            format,
        );
        let ack = master.next().await;
        check(
            format,
            &ack,
            &json!({
                "framework_id": {"value": FRAMEWORK_ID},
                "type": "ACKNOWLEDGE_OPERATION_STATUS",
                "acknowledge_operation_status": {
                    "agent_id": {"value": "12220-3440-12532-S1233"},
                    "resource_provider_id": {"value": "12220-3440-12532-rp"},
                    "uuid": DOC_UUID_BASE64,
                    "operation_id": {"value": "73jhakdlfha723adf"}
                }
            }),
            &[],
            Some(STREAM_ID),
        );
        driver.stop();
    }
}

/// With credentials, every request carries HTTP basic authentication, as Mesos's
/// `--authenticate_http_frameworks` expects.
#[tokio::test]
async fn credentials_go_as_basic_authentication_on_every_request() {
    let mut master = FakeMaster::start().await;
    let mut config = doc_config(master.addr, Format::Json);
    config.credentials = Some(("principal".into(), "secret".into()));
    let (driver, subscribe) = subscribed_with(config, &mut master).await;
    // base64("principal:secret")
    let expected = "Basic cHJpbmNpcGFsOnNlY3JldA==";
    assert_eq!(subscribe.header("authorization"), Some(expected));
    driver.revive(vec![]).await.unwrap();
    let revive = master.next().await;
    assert_eq!(revive.header("authorization"), Some(expected));
}
