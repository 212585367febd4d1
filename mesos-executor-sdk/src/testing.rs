//! A fake agent for tests of executors: it serves `POST /api/v1/executor` on a loopback port,
//! records every call, and streams the events a test gives it to the subscribed executor.
//!
//! ```
//! use std::time::Duration;
//! use mesos_executor_sdk::testing::{FakeAgent, events};
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let mut agent = FakeAgent::start().await?;
//! let config = agent.config(std::env::temp_dir());
//! // Run an executor with `config` in a task, then drive it:
//! // let call = agent.next_call(Duration::from_secs(5)).await.expect("SUBSCRIBE");
//! // agent.send_event(&events::subscribed(&config, Default::default()));
//! # let _ = config; Ok(()) }
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::channel::mpsc as stream_mpsc;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::executor::{Call, Event, call};
use mesos_core::{json, recordio};
use prost::Message as _;
use tokio::sync::mpsc;

use crate::config::{Config, ContentType};

/// A call as the fake agent received it.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    /// The decoded call.
    pub call: Call,
    /// The request's `Content-Type`.
    pub content_type: String,
    /// The request's `Accept`, if any.
    pub accept: Option<String>,
    /// The request's `Authorization`, if any.
    pub authorization: Option<String>,
    /// The status code the fake agent answered with.
    pub response_status: u16,
}

impl RecordedCall {
    /// The call's type.
    #[must_use]
    pub fn kind(&self) -> call::Type {
        self.call.r#type()
    }
}

type StreamSender = stream_mpsc::UnboundedSender<Result<Bytes, Infallible>>;

struct Shared {
    /// The current subscriber's stream and its encoding.
    stream: Mutex<Option<(ContentType, StreamSender)>>,
    calls: mpsc::UnboundedSender<RecordedCall>,
    auto_acknowledge: AtomicBool,
    /// Status codes to answer the next SUBSCRIBE calls with instead of `200`.
    refusals: Mutex<VecDeque<u16>>,
}

impl Shared {
    fn lock_stream(&self) -> std::sync::MutexGuard<'_, Option<(ContentType, StreamSender)>> {
        self.stream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn send(&self, event: &Event) -> bool {
        let guard = self.lock_stream();
        let Some((content_type, sender)) = guard.as_ref() else {
            return false;
        };
        let payload = match content_type {
            ContentType::Protobuf => event.encode_to_vec(),
            ContentType::Json => json::to_vec(event),
        };
        let mut record = Vec::new();
        recordio::encode(&payload, &mut record);
        sender.unbounded_send(Ok(Bytes::from(record))).is_ok()
    }
}

/// The agent side of the executor API, on `127.0.0.1` and an ephemeral port.
///
/// It answers SUBSCRIBE with `200 OK` and a RecordIO stream in the request's encoding, and
/// UPDATE, MESSAGE and HEARTBEAT with `202 Accepted`; it checks no ids. Events go to the most
/// recent subscriber. The server stops when the `FakeAgent` is dropped.
pub struct FakeAgent {
    endpoint: String,
    /// Set when serving on a domain socket instead of TCP.
    socket: Option<PathBuf>,
    shared: Arc<Shared>,
    calls: mpsc::UnboundedReceiver<RecordedCall>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.close_stream();
        self.server.abort();
    }
}

impl FakeAgent {
    /// Starts serving on a loopback TCP port.
    ///
    /// # Errors
    ///
    /// Returns the error of binding the loopback listener.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = listener.local_addr()?.to_string();
        Ok(Self::serve(listener, endpoint, None))
    }

    /// Starts serving on a unix domain socket at `path` only, as an agent's executor socket
    /// (`--http_executor_domain_sockets`); [`config`](Self::config) then names the socket and
    /// a TCP endpoint where nothing listens, so a driver that reaches this agent used the
    /// socket.
    ///
    /// # Errors
    ///
    /// Returns the error of binding the socket.
    pub fn start_on_socket(path: impl Into<PathBuf>) -> std::io::Result<Self> {
        let path = path.into();
        let listener = tokio::net::UnixListener::bind(&path)?;
        // Port 9 (discard) on loopback: nothing listens there on a test machine.
        Ok(Self::serve(listener, "127.0.0.1:9".into(), Some(path)))
    }

    fn serve<L: axum::serve::Listener>(
        listener: L,
        endpoint: String,
        socket: Option<PathBuf>,
    ) -> Self
    where
        L::Addr: std::fmt::Debug,
    {
        let (calls_sender, calls) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            stream: Mutex::new(None),
            calls: calls_sender,
            auto_acknowledge: AtomicBool::new(false),
            refusals: Mutex::new(VecDeque::new()),
        });
        let router = axum::Router::new()
            .route("/api/v1/executor", axum::routing::post(handle))
            .route("/slave(1)/api/v1/executor", axum::routing::post(handle))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "fake agent stopped");
            }
        });
        Self {
            endpoint,
            socket,
            shared,
            calls,
            server,
        }
    }

    /// The agent's `ip:port`, as in `MESOS_AGENT_ENDPOINT`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// A configuration for an executor of this agent: framework `framework`, executor
    /// `executor`, sandbox `directory`, no checkpointing, a 5 s recovery timeout and a 100 ms
    /// subscription backoff cap, a 1 s shutdown grace period.
    #[must_use]
    pub fn config(&self, directory: impl Into<PathBuf>) -> Config {
        let directory = directory.into();
        Config {
            framework_id: pb::FrameworkId {
                value: "framework".into(),
            },
            executor_id: pb::ExecutorId {
                value: "executor".into(),
            },
            agent_endpoint: self.endpoint(),
            domain_socket: self.socket.clone(),
            agent_process_id: "slave(1)".into(),
            sandbox: directory.clone(),
            directory,
            checkpoint: false,
            recovery_timeout: Duration::from_secs(5),
            subscription_backoff_max: Duration::from_millis(100),
            shutdown_grace_period: Duration::from_secs(1),
            authentication_token: None,
            content_type: ContentType::Protobuf,
        }
    }

    /// The next call received, waiting at most `timeout`.
    pub async fn next_call(&mut self, timeout: Duration) -> Option<RecordedCall> {
        tokio::time::timeout(timeout, self.calls.recv())
            .await
            .ok()
            .flatten()
    }

    /// The status of the next UPDATE call, skipping other calls, waiting at most `timeout`.
    pub async fn next_update(&mut self, timeout: Duration) -> Option<pb::TaskStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let call = self.next_call(left).await?;
            if let Some(update) = call.call.update {
                return Some(update.status);
            }
        }
    }

    /// Streams `event` to the current subscriber. Returns `false` if there is none.
    pub fn send_event(&self, event: &Event) -> bool {
        self.shared.send(event)
    }

    /// Ends the current subscriber's stream, as an agent restart would.
    pub fn close_stream(&self) {
        self.shared.lock_stream().take();
    }

    /// When on, every UPDATE is answered with an ACKNOWLEDGED event on the stream.
    pub fn set_auto_acknowledge(&self, on: bool) {
        self.shared.auto_acknowledge.store(on, Ordering::SeqCst);
    }

    /// Answers the next SUBSCRIBE calls with these status codes (e.g. `503` while "recovering")
    /// before accepting one again.
    pub fn refuse_subscriptions(&self, statuses: impl IntoIterator<Item = u16>) {
        self.shared
            .refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(statuses);
    }
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type_header = text(header::CONTENT_TYPE).unwrap_or_default();
    let content_type = match content_type_header.as_str() {
        "application/x-protobuf" => ContentType::Protobuf,
        "application/json" => ContentType::Json,
        "" => {
            return (
                StatusCode::BAD_REQUEST,
                "Expecting 'Content-Type' to be present",
            )
                .into_response();
        }
        other => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported '{other}'"),
            )
                .into_response();
        }
    };
    let decoded = match content_type {
        ContentType::Protobuf => Call::decode(body.as_ref()).map_err(|e| e.to_string()),
        ContentType::Json => std::str::from_utf8(&body)
            .map_err(|e| e.to_string())
            .and_then(|t| json::from_str::<Call>(t).map_err(|e| e.to_string())),
    };
    let call = match decoded {
        Ok(call) => call,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("Failed to parse body: {error}"),
            )
                .into_response();
        }
    };
    let mut recorded = RecordedCall {
        call: call.clone(),
        content_type: content_type_header,
        accept: text(header::ACCEPT),
        authorization: text(header::AUTHORIZATION),
        response_status: 202,
    };

    if call.r#type() == call::Type::Subscribe {
        let refusal = shared
            .refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front();
        if let Some(status) = refusal {
            recorded.response_status = status;
            let _ = shared.calls.send(recorded);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return (status, "refused by the test").into_response();
        }
        let (sender, receiver) = stream_mpsc::unbounded();
        *shared.lock_stream() = Some((content_type, sender));
        recorded.response_status = 200;
        let _ = shared.calls.send(recorded);
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type.media_type())
            .body(Body::from_stream(receiver))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }

    let acknowledge = call
        .update
        .as_ref()
        .filter(|_| shared.auto_acknowledge.load(Ordering::SeqCst))
        .map(|u| {
            events::acknowledged(&u.status.task_id, u.status.uuid.clone().unwrap_or_default())
        });
    let _ = shared.calls.send(recorded);
    if let Some(event) = acknowledge {
        shared.send(&event);
    }
    StatusCode::ACCEPTED.into_response()
}

/// Builders for the events a fake agent sends.
pub mod events {
    use mesos_core::proto::v1 as pb;
    use mesos_core::proto::v1::executor::{Event, event};

    use crate::config::Config;

    fn of(kind: event::Type) -> Event {
        Event {
            r#type: Some(kind as i32),
            ..Event::default()
        }
    }

    /// SUBSCRIBED for the executor of `config`, with `framework` as the framework's info (its
    /// id is filled in from `config`).
    #[must_use]
    pub fn subscribed(config: &Config, mut framework: pb::FrameworkInfo) -> Event {
        framework.id = Some(config.framework_id.clone());
        Event {
            subscribed: Some(event::Subscribed {
                executor_info: pb::ExecutorInfo {
                    executor_id: config.executor_id.clone(),
                    framework_id: Some(config.framework_id.clone()),
                    ..pb::ExecutorInfo::default()
                },
                framework_info: framework,
                agent_info: pb::AgentInfo {
                    hostname: "localhost".into(),
                    id: Some(pb::AgentId {
                        value: "agent".into(),
                    }),
                    ..pb::AgentInfo::default()
                },
                container_id: Some(pb::ContainerId {
                    value: "container".into(),
                    parent: None,
                }),
            }),
            ..of(event::Type::Subscribed)
        }
    }

    /// LAUNCH of `task`.
    #[must_use]
    pub fn launch(task: pb::TaskInfo) -> Event {
        Event {
            launch: Some(event::Launch { task }),
            ..of(event::Type::Launch)
        }
    }

    /// LAUNCH_GROUP of `tasks`.
    #[must_use]
    pub fn launch_group(tasks: Vec<pb::TaskInfo>) -> Event {
        Event {
            launch_group: Some(event::LaunchGroup {
                task_group: pb::TaskGroupInfo { tasks },
            }),
            ..of(event::Type::LaunchGroup)
        }
    }

    /// KILL of `task_id`, with an optional grace period overriding the task's kill policy.
    #[must_use]
    pub fn kill(task_id: &pb::TaskId, grace_period: Option<std::time::Duration>) -> Event {
        Event {
            kill: Some(event::Kill {
                task_id: task_id.clone(),
                kill_policy: grace_period.map(|g| pb::KillPolicy {
                    grace_period: Some(pb::DurationInfo {
                        nanoseconds: i64::try_from(g.as_nanos()).unwrap_or(i64::MAX),
                    }),
                }),
            }),
            ..of(event::Type::Kill)
        }
    }

    /// ACKNOWLEDGED of the update `uuid` of `task_id`.
    #[must_use]
    pub fn acknowledged(task_id: &pb::TaskId, uuid: Vec<u8>) -> Event {
        Event {
            acknowledged: Some(event::Acknowledged {
                task_id: task_id.clone(),
                uuid,
            }),
            ..of(event::Type::Acknowledged)
        }
    }

    /// MESSAGE with `data`.
    #[must_use]
    pub fn message(data: Vec<u8>) -> Event {
        Event {
            message: Some(event::Message { data }),
            ..of(event::Type::Message)
        }
    }

    /// ERROR with `message`.
    #[must_use]
    pub fn error(message: &str) -> Event {
        Event {
            error: Some(event::Error {
                message: message.to_owned(),
            }),
            ..of(event::Type::Error)
        }
    }

    /// HEARTBEAT.
    #[must_use]
    pub fn heartbeat() -> Event {
        of(event::Type::Heartbeat)
    }

    /// SHUTDOWN.
    #[must_use]
    pub fn shutdown() -> Event {
        of(event::Type::Shutdown)
    }

    /// A task that runs `shell_command` with `sh -c`.
    #[must_use]
    pub fn shell_task(id: &str, shell_command: &str) -> pb::TaskInfo {
        pb::TaskInfo {
            name: id.to_owned(),
            task_id: pb::TaskId { value: id.into() },
            agent_id: pb::AgentId {
                value: "agent".into(),
            },
            command: Some(pb::CommandInfo {
                value: Some(shell_command.to_owned()),
                ..pb::CommandInfo::default()
            }),
            ..pb::TaskInfo::default()
        }
    }
}
