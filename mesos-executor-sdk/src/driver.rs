//! The driver handle: sends calls and keeps the unacknowledged updates and tasks.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesos_core::json;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::executor::{Call, call};
use prost::Message as _;
use tokio::sync::watch;

use crate::config::{Config, ContentType};
use crate::error::ExecutorError;

/// A cloneable handle to the connection with the agent, given to every [`Executor`] callback.
///
/// Executors that do work in their own tasks keep a clone and send updates from there.
///
/// [`Executor`]: crate::Executor
#[derive(Clone)]
pub struct ExecutorDriver {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    url: String,
    /// For calls. The event stream has a client of its own, so that calls never wait behind it
    /// for a pooled connection.
    client: reqwest::Client,
    pending: Mutex<Pending>,
    /// The number of unacknowledged updates, for [`ExecutorDriver::wait_acknowledged`].
    unacknowledged: watch::Sender<usize>,
    stopped: watch::Sender<bool>,
}

/// What a re-SUBSCRIBE must tell the agent.
#[derive(Default)]
struct Pending {
    /// Launched tasks without an acknowledged terminal update, in launch order.
    tasks: Vec<pb::TaskInfo>,
    /// Updates sent and not yet acknowledged, in sending order.
    updates: Vec<pb::TaskStatus>,
}

impl std::fmt::Debug for ExecutorDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorDriver")
            .field("url", &self.inner.url)
            .field("executor_id", &self.inner.config.executor_id.value)
            .finish_non_exhaustive()
    }
}

/// Whether an update in `state` ends its task.
#[must_use]
pub fn is_terminal(state: pb::TaskState) -> bool {
    use pb::TaskState as S;
    matches!(
        state,
        S::TaskFinished
            | S::TaskFailed
            | S::TaskKilled
            | S::TaskError
            | S::TaskLost
            | S::TaskDropped
            | S::TaskGone
            | S::TaskGoneByOperator
    )
}

impl ExecutorDriver {
    /// Creates a driver for `config`; [`run`](Self::run) connects it.
    ///
    /// # Errors
    ///
    /// Returns [`ExecutorError::Client`] if the HTTP client cannot be built.
    pub fn new(config: Config) -> Result<Self, ExecutorError> {
        let client = http_client(&config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                url: config.url(),
                config,
                client,
                pending: Mutex::new(Pending::default()),
                unacknowledged: watch::channel(0).0,
                stopped: watch::channel(false).0,
            }),
        })
    }

    /// The configuration the driver was made with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Sends `status` to the agent in an UPDATE call, and keeps it until the agent acknowledges
    /// it, to resend it after a reconnection.
    ///
    /// Fills in what the executor may leave out: `uuid` (a fresh version 4 UUID), `source`
    /// (`SOURCE_EXECUTOR`), `executor_id` and `timestamp` (now, in seconds). Returns the status
    /// as sent.
    ///
    /// # Errors
    ///
    /// Returns an error if the request fails or the agent answers with anything but
    /// `202 Accepted`. After a transport failure or a 5xx answer the update stays
    /// unacknowledged, so that the next SUBSCRIBE carries it; an update the agent refused (4xx)
    /// is forgotten.
    pub async fn send_update(
        &self,
        mut status: pb::TaskStatus,
    ) -> Result<pb::TaskStatus, ExecutorError> {
        if status.uuid.is_none() {
            status.uuid = Some(uuid::Uuid::new_v4().as_bytes().to_vec());
        }
        status.source = Some(pb::task_status::Source::Executor as i32);
        if status.executor_id.is_none() {
            status.executor_id = Some(self.inner.config.executor_id.clone());
        }
        if status.timestamp.is_none() {
            status.timestamp = Some(now_seconds());
        }
        {
            let mut pending = self.pending();
            pending.updates.push(status.clone());
            self.inner
                .unacknowledged
                .send_replace(pending.updates.len());
        }
        let call = Call {
            r#type: Some(call::Type::Update as i32),
            update: Some(call::Update {
                status: status.clone(),
            }),
            ..self.call_header()
        };
        match self.post("UPDATE", &call).await {
            Ok(()) => Ok(status),
            Err(error) => {
                // A refused update (4xx: invalid, unknown task) will never be acknowledged;
                // resending it after a reconnection would only be refused again.
                if let ExecutorError::UnexpectedStatus {
                    status: 400..=499, ..
                } = error
                {
                    let mut pending = self.pending();
                    pending.updates.retain(|u| u.uuid != status.uuid);
                    self.inner
                        .unacknowledged
                        .send_replace(pending.updates.len());
                }
                Err(error)
            }
        }
    }

    /// Sends framework `data` to the scheduler in a MESSAGE call (delivered at most once).
    ///
    /// # Errors
    ///
    /// Returns an error if the request fails or the agent answers with anything but
    /// `202 Accepted`.
    pub async fn send_message(&self, data: Vec<u8>) -> Result<(), ExecutorError> {
        let call = Call {
            r#type: Some(call::Type::Message as i32),
            message: Some(call::Message { data }),
            ..self.call_header()
        };
        self.post("MESSAGE", &call).await
    }

    /// Makes [`run`](Self::run) return `Ok(())` as soon as the current callback (if any) is
    /// done, without calling any further callback.
    pub fn stop(&self) {
        self.inner.stopped.send_replace(true);
    }

    /// Whether [`stop`](Self::stop) was called.
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        *self.inner.stopped.borrow()
    }

    /// The updates sent and not acknowledged yet, in sending order.
    #[must_use]
    pub fn unacknowledged_updates(&self) -> Vec<pb::TaskStatus> {
        self.pending().updates.clone()
    }

    /// The launched tasks whose terminal update is not acknowledged yet, in launch order.
    #[must_use]
    pub fn unacknowledged_tasks(&self) -> Vec<pb::TaskInfo> {
        self.pending().tasks.clone()
    }

    /// Waits until every update sent so far is acknowledged, or `timeout` passes. Returns
    /// whether all were acknowledged.
    ///
    /// Acknowledgements are processed as they arrive, even while a callback is running, so a
    /// callback (for example [`Executor::shutdown`](crate::Executor::shutdown)) may wait here.
    pub async fn wait_acknowledged(&self, timeout: Duration) -> bool {
        let mut receiver = self.inner.unacknowledged.subscribe();
        tokio::time::timeout(timeout, receiver.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    pub(crate) fn stopped_receiver(&self) -> watch::Receiver<bool> {
        self.inner.stopped.subscribe()
    }

    pub(crate) fn url(&self) -> &str {
        &self.inner.url
    }

    /// Records a launched task, for `unacknowledged_tasks` in a later SUBSCRIBE.
    pub(crate) fn record_launch(&self, task: &pb::TaskInfo) {
        let mut pending = self.pending();
        pending.tasks.retain(|t| t.task_id != task.task_id);
        pending.tasks.push(task.clone());
    }

    /// Forgets the update with `uuid`, and its task if the update was terminal. Returns whether
    /// such an update was pending.
    pub(crate) fn record_acknowledgement(&self, task_id: &pb::TaskId, uuid: &[u8]) -> bool {
        let mut pending = self.pending();
        let Some(index) = pending
            .updates
            .iter()
            .position(|u| u.uuid.as_deref() == Some(uuid))
        else {
            return false;
        };
        let update = pending.updates.remove(index);
        if is_terminal(update.state()) {
            pending.tasks.retain(|t| &t.task_id != task_id);
        }
        self.inner
            .unacknowledged
            .send_replace(pending.updates.len());
        true
    }

    /// The SUBSCRIBE call, carrying what is still unacknowledged.
    pub(crate) fn subscribe_call(&self) -> Call {
        let pending = self.pending();
        Call {
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                unacknowledged_tasks: pending.tasks.clone(),
                unacknowledged_updates: pending
                    .updates
                    .iter()
                    .map(|status| call::Update {
                        status: status.clone(),
                    })
                    .collect(),
            }),
            ..self.call_header()
        }
    }

    /// A request carrying `call`, with the content type, accept and authorization headers.
    pub(crate) fn request(&self, client: &reqwest::Client, call: &Call) -> reqwest::RequestBuilder {
        let config = &self.inner.config;
        let media_type = config.content_type.media_type();
        let body = match config.content_type {
            ContentType::Protobuf => call.encode_to_vec(),
            ContentType::Json => json::to_vec(call),
        };
        let mut request = client
            .post(&self.inner.url)
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .header(reqwest::header::ACCEPT, media_type)
            .body(body);
        if let Some(token) = &config.authentication_token {
            request = request.header(reqwest::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        request
    }

    fn call_header(&self) -> Call {
        Call {
            executor_id: self.inner.config.executor_id.clone(),
            framework_id: self.inner.config.framework_id.clone(),
            ..Call::default()
        }
    }

    async fn post(&self, name: &'static str, call: &Call) -> Result<(), ExecutorError> {
        let response = self
            .request(&self.inner.client, call)
            .send()
            .await
            .map_err(|source| ExecutorError::Http {
                call: name,
                url: self.inner.url.clone(),
                source,
            })?;
        let status = response.status().as_u16();
        if status == 202 {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(ExecutorError::UnexpectedStatus {
            call: name,
            status,
            body,
        })
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        // The lock is never held across an await or a callback, so poisoning means a panic in
        // this module's own short critical sections; the data is still consistent.
        self.inner
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A client that reaches the agent the way `config` says: its domain socket when it has one,
/// else TCP.
pub(crate) fn http_client(config: &Config) -> Result<reqwest::Client, ExecutorError> {
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
    if let Some(socket) = &config.domain_socket {
        builder = builder.unix_socket(socket.as_path());
    }
    builder.build().map_err(ExecutorError::Client)
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
