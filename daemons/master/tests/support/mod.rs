//! Test plumbing: a master on an ephemeral port, a scheduler speaking the v1 HTTP API with a
//! real HTTP client, and a simulated agent speaking the agent link.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use futures::StreamExt;
use mesos_agent_protocol::v1::{agent_message, master_message};
use mesos_agent_protocol::{AgentLinkClient, AgentMessage, MasterMessage};
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::scheduler as spb;
use mesos_core::recordio::Decoder;
use mesos_master::MasterFlags;
use prost::Message;
use tokio::sync::mpsc;

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub async fn start_master() -> mesos_master::MasterHandle {
    let mut flags = MasterFlags::for_local(None);
    flags.allocation_interval = Duration::from_millis(50);
    mesos_master::start(flags).await.expect("master starts")
}

pub fn url(master: &mesos_master::MasterHandle, path: &str) -> String {
    format!("http://{}{path}", master.addr())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Wire {
    Json,
    Protobuf,
}

impl Wire {
    pub fn media(self) -> &'static str {
        match self {
            Wire::Json => "application/json",
            Wire::Protobuf => "application/x-protobuf",
        }
    }
    pub fn encode(self, call: &spb::Call) -> Vec<u8> {
        match self {
            Wire::Json => mesos_core::json::to_vec(call),
            Wire::Protobuf => call.encode_to_vec(),
        }
    }
    pub fn decode(self, bytes: &[u8]) -> spb::Event {
        match self {
            Wire::Json => mesos_core::json::from_str(std::str::from_utf8(bytes).unwrap()).unwrap(),
            Wire::Protobuf => spb::Event::decode(bytes).unwrap(),
        }
    }
}

/// A scheduler connected over HTTP: one streaming connection for events, another for calls.
pub struct Scheduler {
    pub base: String,
    pub wire: Wire,
    pub client: reqwest::Client,
    pub framework_id: String,
    pub stream_id: String,
    pub events: mpsc::UnboundedReceiver<spb::Event>,
    pub content_type: String,
    pending: Option<spb::Event>,
}

pub fn framework_info(name: &str) -> pb::FrameworkInfo {
    pb::FrameworkInfo {
        user: "test".into(),
        name: name.into(),
        ..Default::default()
    }
}

pub fn subscribe_call(info: pb::FrameworkInfo) -> spb::Call {
    spb::Call {
        framework_id: info.id.clone(),
        r#type: Some(spb::call::Type::Subscribe as i32),
        subscribe: Some(spb::call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Scheduler {
    pub async fn subscribe(base: &str, wire: Wire, info: pb::FrameworkInfo) -> Scheduler {
        let client = reqwest::Client::new();
        let response = client
            .post(format!("{base}/api/v1/scheduler"))
            .header("Content-Type", wire.media())
            .header("Accept", wire.media())
            .body(wire.encode(&subscribe_call(info)))
            .send()
            .await
            .expect("subscribe request");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        let stream_id = response
            .headers()
            .get("Mesos-Stream-Id")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let (tx, mut events) = mpsc::unbounded_channel();
        let mut body = response.bytes_stream();
        tokio::spawn(async move {
            let mut decoder = Decoder::with_max_record_size(16 << 20);
            while let Some(Ok(chunk)) = body.next().await {
                for record in decoder.decode(&chunk).unwrap() {
                    if tx.send(wire.decode(&record)).is_err() {
                        return;
                    }
                }
            }
        });
        let first = tokio::time::timeout(TIMEOUT, events.recv())
            .await
            .unwrap()
            .unwrap();
        let framework_id = first
            .subscribed
            .as_ref()
            .map(|s| s.framework_id.value.clone())
            .unwrap_or_default();
        let mut s = Scheduler {
            base: base.to_string(),
            wire,
            client,
            framework_id,
            stream_id,
            events,
            content_type,
            pending: None,
        };
        // Put SUBSCRIBED back in front for tests that inspect it.
        s.pending = Some(first);
        s
    }

    pub async fn next_event(&mut self) -> spb::Event {
        if let Some(e) = self.pending.take() {
            return e;
        }
        tokio::time::timeout(TIMEOUT, self.events.recv())
            .await
            .expect("an event within the timeout")
            .expect("stream open")
    }

    /// The next event that is not a HEARTBEAT.
    pub async fn next_non_heartbeat(&mut self) -> spb::Event {
        loop {
            let e = self.next_event().await;
            if e.r#type() != spb::event::Type::Heartbeat {
                return e;
            }
        }
    }

    pub async fn next_of(&mut self, kind: spb::event::Type) -> spb::Event {
        loop {
            let e = self.next_event().await;
            if e.r#type() == kind {
                return e;
            }
        }
    }

    pub async fn call(&self, mut call: spb::Call) -> reqwest::Response {
        call.framework_id = Some(pb::FrameworkId {
            value: self.framework_id.clone(),
        });
        self.client
            .post(format!("{}/api/v1/scheduler", self.base))
            .header("Content-Type", self.wire.media())
            .header("Mesos-Stream-Id", &self.stream_id)
            .body(self.wire.encode(&call))
            .send()
            .await
            .expect("call request")
    }
}

/// An agent simulated in-process: it registers over the real agent link and lets the test
/// see what the master sends and answer with status updates.
pub struct SimAgent {
    pub id: String,
    pub to_master: mpsc::UnboundedSender<AgentMessage>,
    pub from_master: tonic::Streaming<MasterMessage>,
}

pub fn register_message(resources: &str, id: Option<&str>) -> AgentMessage {
    let res = mesos_core::resources::parse_flag_text(resources, "*").unwrap();
    let wire = mesos_core::resources::convert::resources_to_proto(
        &res,
        mesos_core::resources::convert::ResourceFormat::PostReservationRefinement,
    )
    .unwrap();
    AgentMessage {
        r#type: Some(agent_message::Type::Register as i32),
        register: Some(agent_message::Register {
            agent_info: pb::AgentInfo {
                hostname: "127.0.0.1".into(),
                port: Some(5051),
                resources: wire,
                id: id.map(|v| pb::AgentId { value: v.into() }),
                ..Default::default()
            },
            ip: "127.0.0.1".into(),
            version: Some("1.11.0".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl SimAgent {
    pub async fn connect(master: &mesos_master::MasterHandle, register: AgentMessage) -> SimAgent {
        let mut client = AgentLinkClient::connect(format!("http://{}", master.addr()))
            .await
            .expect("link connects");
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(register).unwrap();
        let outbound = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
        let mut from_master = client.attach(outbound).await.expect("attach").into_inner();
        let first = from_master.message().await.unwrap().unwrap();
        assert_eq!(first.r#type(), master_message::Type::Registered);
        let id = first.registered.unwrap().agent_id.value;
        SimAgent {
            id,
            to_master: tx,
            from_master,
        }
    }

    pub async fn next(&mut self) -> MasterMessage {
        tokio::time::timeout(TIMEOUT, self.from_master.message())
            .await
            .expect("a master message within the timeout")
            .expect("link ok")
            .expect("link open")
    }

    pub async fn next_of(&mut self, kind: master_message::Type) -> MasterMessage {
        loop {
            let m = self.next().await;
            if m.r#type() == kind {
                return m;
            }
        }
    }

    pub fn send_status(&self, framework: &str, task: &str, state: pb::TaskState) -> Vec<u8> {
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        self.to_master
            .send(AgentMessage {
                r#type: Some(agent_message::Type::StatusUpdate as i32),
                status_update: Some(agent_message::StatusUpdate {
                    framework_id: pb::FrameworkId {
                        value: framework.into(),
                    },
                    executor_id: None,
                    status: pb::TaskStatus {
                        task_id: pb::TaskId { value: task.into() },
                        state: state as i32,
                        source: Some(pb::task_status::Source::Executor as i32),
                        agent_id: Some(pb::AgentId {
                            value: self.id.clone(),
                        }),
                        uuid: Some(uuid.clone()),
                        timestamp: Some(1.0),
                        ..Default::default()
                    },
                    latest_state: Some(state as i32),
                }),
                ..Default::default()
            })
            .unwrap();
        uuid
    }
}
