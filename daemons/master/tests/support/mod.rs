//! Test plumbing: a master on an ephemeral port, a scheduler speaking the v1 HTTP API with a
//! real HTTP client, and a simulated agent speaking the agent link.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use futures::StreamExt;
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

/// GET of a JSON endpoint of the master, parsed.
pub async fn get_json(master: &mesos_master::MasterHandle, path: &str) -> serde_json::Value {
    reqwest::get(url(master, path))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
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

    /// The status carried by the next UPDATE event.
    pub async fn next_update(&mut self) -> pb::TaskStatus {
        self.next_of(spb::event::Type::Update)
            .await
            .update
            .expect("UPDATE carries an update")
            .status
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

pub use mesos_master::sim_agent::{SimAgent as RawSimAgent, register_message};

/// The simulated agent with panicking helpers, for brevity in tests.
pub struct SimAgent(pub RawSimAgent);

impl std::ops::Deref for SimAgent {
    type Target = RawSimAgent;
    fn deref(&self) -> &RawSimAgent {
        &self.0
    }
}

impl SimAgent {
    pub async fn connect(
        master: &mesos_master::MasterHandle,
        register: mesos_agent_protocol::AgentMessage,
    ) -> SimAgent {
        SimAgent(
            RawSimAgent::connect(master, register)
                .await
                .expect("agent registers"),
        )
    }
    pub async fn next_of(
        &mut self,
        kind: mesos_agent_protocol::v1::master_message::Type,
    ) -> mesos_agent_protocol::MasterMessage {
        self.0.next_of(kind).await.expect("message from master")
    }
}

/// ACCEPT of `offer` with one operation and no filters.
pub fn accept_call(offer: &pb::Offer, operation: pb::offer::Operation) -> spb::Call {
    spb::Call {
        r#type: Some(spb::call::Type::Accept as i32),
        accept: Some(spb::call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![operation],
            filters: None,
        }),
        ..Default::default()
    }
}

/// ACCEPT of `offer` launching `task`.
pub fn launch_task_call(offer: &pb::Offer, task: pb::TaskInfo) -> spb::Call {
    accept_call(
        offer,
        pb::offer::Operation {
            r#type: Some(pb::offer::operation::Type::Launch as i32),
            launch: Some(pb::offer::operation::Launch {
                task_infos: vec![task],
            }),
            ..Default::default()
        },
    )
}

/// ACCEPT of `offer` launching one command task (`true`) with `resources` (flag text).
pub fn launch_call(offer: &pb::Offer, task_id: &str, resources: &str) -> spb::Call {
    let res = mesos_core::resources::parse_flag_text(resources, "*").unwrap();
    let wire = mesos_core::resources::convert::resources_to_proto(
        &res,
        mesos_core::resources::convert::ResourceFormat::PreReservationRefinement,
    )
    .unwrap();
    launch_task_call(
        offer,
        pb::TaskInfo {
            name: task_id.into(),
            task_id: pb::TaskId {
                value: task_id.into(),
            },
            agent_id: offer.agent_id.clone(),
            resources: wire,
            command: Some(pb::CommandInfo {
                value: Some("true".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
}
