//! The driver: subscribes, reads the event stream, calls the [`Scheduler`], and sends calls.
//!
//! It follows Mesos's rules for HTTP schedulers: two connections (the event stream and one
//! for calls), the `Mesos-Stream-Id` of the subscription on every call, 307 redirects to the
//! leading master, heartbeats every 15 s (a silent stream is treated as broken), and
//! re-subscription with the framework id after any disconnection so tasks survive master
//! failover.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::scheduler::{self, Call, Event, call, event};
use mesos_core::recordio::Decoder;
use prost::Message;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::error::SdkError;
use crate::scheduler::{Scheduler, Subscribed};
use crate::transport::{HttpTransport, Request, Transport};

/// The message encoding on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Protobuf,
}

impl Format {
    fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Protobuf => "application/x-protobuf",
        }
    }

    fn encode(self, call: &Call) -> Vec<u8> {
        match self {
            Format::Json => mesos_core::json::to_vec(call),
            Format::Protobuf => call.encode_to_vec(),
        }
    }

    fn decode(self, bytes: &[u8]) -> Result<Event, SdkError> {
        match self {
            Format::Json => {
                let text =
                    std::str::from_utf8(bytes).map_err(|e| SdkError::Protocol(e.to_string()))?;
                mesos_core::json::from_str(text).map_err(|e| SdkError::Protocol(e.to_string()))
            }
            Format::Protobuf => Event::decode(bytes).map_err(|e| SdkError::Protocol(e.to_string())),
        }
    }
}

/// How to run a framework.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Masters to try, as `host:port` or `http://host:port`; the leader is found by redirect.
    pub masters: Vec<String>,
    /// The framework. Its `id` is filled in after the first subscription, so later
    /// re-subscriptions fail over to the same framework.
    pub framework: pb::FrameworkInfo,
    /// Protobuf by default, as it is the cheaper encoding.
    pub format: Format,
    /// Acknowledge task and operation status updates after `Scheduler::update` or
    /// `Scheduler::operation_status` returns (default true).
    pub auto_acknowledge: bool,
    /// Ask for the state of every task after re-subscribing (default true).
    pub reconcile_on_resubscribe: bool,
    /// Roles to subscribe suppressed.
    pub suppressed_roles: Vec<String>,
    /// Offer constraints sent with SUBSCRIBE (Mesos 1.11), per role.
    pub offer_constraints: Option<scheduler::OfferConstraints>,
    /// HTTP basic credentials (principal, secret).
    pub credentials: Option<(String, String)>,
    /// Extra certificate authorities (PEM) trusted for `https://` masters, besides the
    /// system's (needs the `tls` feature).
    pub ca_certificates_pem: Vec<Vec<u8>>,
    /// Give up after this long without reaching any master (`None`: keep trying).
    pub connect_timeout: Option<Duration>,
    /// First and largest wait between reconnection attempts (jittered).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl DriverConfig {
    pub fn new(master: impl Into<String>, framework: pb::FrameworkInfo) -> DriverConfig {
        DriverConfig {
            masters: vec![master.into()],
            framework,
            format: Format::Protobuf,
            auto_acknowledge: true,
            reconcile_on_resubscribe: true,
            suppressed_roles: vec![],
            offer_constraints: None,
            credentials: None,
            ca_certificates_pem: vec![],
            connect_timeout: None,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Default)]
struct Connection {
    /// `http://host:port` of the master currently believed to lead.
    leader: Option<String>,
    framework_id: Option<pb::FrameworkId>,
    stream_id: Option<String>,
    /// The last accepted UPDATE_FRAMEWORK, which later re-subscriptions carry instead of the
    /// configured FrameworkInfo, suppressed roles and offer constraints.
    updated: Option<call::UpdateFramework>,
}

struct Inner {
    transport: Arc<dyn Transport>,
    format: Format,
    credentials: Option<(String, String)>,
    conn: Mutex<Connection>,
    stop: watch::Sender<bool>,
    /// Bounds the automatic acknowledgements in flight.
    acks_in_flight: Arc<tokio::sync::Semaphore>,
}

/// Automatic acknowledgements sent concurrently (each is one HTTP call).
const MAX_ACKS_IN_FLIGHT: usize = 32;

/// A handle for sending calls; cheap to clone and usable from any task.
#[derive(Clone)]
pub struct Driver {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

fn normalize(master: &str) -> String {
    let m = master.trim_end_matches('/');
    if m.starts_with("http://") || m.starts_with("https://") || m.starts_with("zk://") {
        m.to_string()
    } else {
        format!("http://{m}")
    }
}

fn basic_auth(credentials: &Option<(String, String)>) -> Option<(String, String)> {
    use base64::Engine;
    credentials.as_ref().map(|(p, s)| {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{p}:{s}"));
        ("Authorization".to_string(), format!("Basic {token}"))
    })
}

/// `Location: //host:port/path` (Mesos's protocol-relative redirect) to `http://host:port`.
fn leader_from_location(location: &str, current: &str) -> String {
    let scheme = if current.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    let rest = location
        .strip_prefix("//")
        .or_else(|| location.split_once("://").map(|(_, r)| r))
        .unwrap_or(location);
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}")
}

impl Driver {
    /// The framework id once subscribed.
    pub fn framework_id(&self) -> Option<pb::FrameworkId> {
        self.lock().framework_id.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.inner.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the driver's run loop (the framework stays registered until its failover
    /// timeout, as when a scheduler process exits).
    pub fn stop(&self) {
        let _ = self.inner.stop.send(true);
    }

    /// Sends one call on the call connection.
    pub async fn call(&self, mut call: Call) -> Result<(), SdkError> {
        let (leader, framework_id, stream_id) = {
            let c = self.lock();
            (
                c.leader.clone(),
                c.framework_id.clone(),
                c.stream_id.clone(),
            )
        };
        let (Some(leader), Some(framework_id), Some(stream_id)) = (leader, framework_id, stream_id)
        else {
            return Err(SdkError::NotSubscribed);
        };
        call.framework_id = Some(framework_id);
        let name = call.r#type().as_str_name().to_string();
        let mut headers = vec![
            (
                "Content-Type".to_string(),
                self.inner.format.media_type().to_string(),
            ),
            (
                "Accept".to_string(),
                self.inner.format.media_type().to_string(),
            ),
            ("Mesos-Stream-Id".to_string(), stream_id),
        ];
        headers.extend(basic_auth(&self.inner.credentials));
        let response = self
            .inner
            .transport
            .post(Request {
                url: format!("{leader}/api/v1/scheduler"),
                headers,
                body: self.inner.format.encode(&call),
            })
            .await?;
        match response.status {
            200 | 202 => Ok(()),
            status => Err(SdkError::Refused {
                call: name,
                status,
                message: String::from_utf8_lossy(&response.body).into_owned(),
            }),
        }
    }

    fn typed(kind: call::Type) -> Call {
        Call {
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    /// Accepts offers with operations (launch, launch group, reserve, ...; see [`crate::ops`]).
    pub async fn accept(
        &self,
        offer_ids: Vec<pb::OfferId>,
        operations: Vec<pb::offer::Operation>,
        filters: Option<pb::Filters>,
    ) -> Result<(), SdkError> {
        let mut c = Self::typed(call::Type::Accept);
        c.accept = Some(call::Accept {
            offer_ids,
            operations,
            filters,
        });
        self.call(c).await
    }

    /// Launches tasks on one offer.
    pub async fn launch(
        &self,
        offer_id: pb::OfferId,
        tasks: Vec<pb::TaskInfo>,
    ) -> Result<(), SdkError> {
        self.accept(vec![offer_id], vec![crate::ops::launch(tasks)], None)
            .await
    }

    /// Declines offers; `refuse_seconds` keeps them away for that long (Mesos default 5).
    pub async fn decline(
        &self,
        offer_ids: Vec<pb::OfferId>,
        refuse_seconds: Option<f64>,
    ) -> Result<(), SdkError> {
        let mut c = Self::typed(call::Type::Decline);
        c.decline = Some(call::Decline {
            offer_ids,
            filters: refuse_seconds.map(|s| pb::Filters {
                refuse_seconds: Some(s),
            }),
        });
        self.call(c).await
    }

    /// Accepts inverse offers (agrees to free the resources for maintenance).
    pub async fn accept_inverse_offers(
        &self,
        ids: Vec<pb::OfferId>,
        filters: Option<pb::Filters>,
    ) -> Result<(), SdkError> {
        let mut c = Self::typed(call::Type::AcceptInverseOffers);
        c.accept_inverse_offers = Some(call::AcceptInverseOffers {
            inverse_offer_ids: ids,
            filters,
        });
        self.call(c).await
    }

    /// Declines inverse offers (the resources cannot be freed in time).
    pub async fn decline_inverse_offers(
        &self,
        ids: Vec<pb::OfferId>,
        filters: Option<pb::Filters>,
    ) -> Result<(), SdkError> {
        let mut c = Self::typed(call::Type::DeclineInverseOffers);
        c.decline_inverse_offers = Some(call::DeclineInverseOffers {
            inverse_offer_ids: ids,
            filters,
        });
        self.call(c).await
    }

    /// Removes filters and un-suppresses the given roles (all roles when empty).
    pub async fn revive(&self, roles: Vec<String>) -> Result<(), SdkError> {
        let mut c = Self::typed(call::Type::Revive);
        c.revive = Some(call::Revive { roles });
        self.call(c).await
    }

    /// Stops offers for the given roles (all roles when empty).
    pub async fn suppress(&self, roles: Vec<String>) -> Result<(), SdkError> {
        let mut c = Self::typed(call::Type::Suppress);
        c.suppress = Some(call::Suppress { roles });
        self.call(c).await
    }

    pub async fn kill(
        &self,
        task_id: pb::TaskId,
        agent_id: Option<pb::AgentId>,
    ) -> Result<(), SdkError> {
        let mut c = Self::typed(call::Type::Kill);
        c.kill = Some(call::Kill {
            task_id,
            agent_id,
            kill_policy: None,
        });
        self.call(c).await
    }

    pub async fn shutdown(
        &self,
        executor_id: pb::ExecutorId,
        agent_id: pb::AgentId,
    ) -> Result<(), SdkError> {
        let mut c = Self::typed(call::Type::Shutdown);
        c.shutdown = Some(call::Shutdown {
            executor_id,
            agent_id,
        });
        self.call(c).await
    }

    /// Acknowledges a status update. Updates without a uuid (the master's own, such as
    /// reconciliation answers) need no acknowledgement and are skipped.
    pub async fn acknowledge(&self, status: &pb::TaskStatus) -> Result<(), SdkError> {
        let (Some(uuid), Some(agent_id)) = (&status.uuid, &status.agent_id) else {
            return Ok(());
        };
        let mut c = Self::typed(call::Type::Acknowledge);
        c.acknowledge = Some(call::Acknowledge {
            agent_id: agent_id.clone(),
            task_id: status.task_id.clone(),
            uuid: uuid.clone(),
        });
        self.call(c).await
    }

    /// Explicit reconciliation of the given tasks, or implicit (all tasks) when empty.
    pub async fn reconcile(
        &self,
        tasks: Vec<(pb::TaskId, Option<pb::AgentId>)>,
    ) -> Result<(), SdkError> {
        let mut c = Self::typed(call::Type::Reconcile);
        c.reconcile = Some(call::Reconcile {
            tasks: tasks
                .into_iter()
                .map(|(task_id, agent_id)| call::reconcile::Task { task_id, agent_id })
                .collect(),
        });
        self.call(c).await
    }

    /// Acknowledges an operation status update (one with a `uuid`).
    pub async fn acknowledge_operation_status(
        &self,
        status: &pb::OperationStatus,
    ) -> Result<(), SdkError> {
        let (Some(uuid), Some(operation_id)) = (&status.uuid, &status.operation_id) else {
            return Ok(());
        };
        let mut c = Self::typed(call::Type::AcknowledgeOperationStatus);
        c.acknowledge_operation_status = Some(call::AcknowledgeOperationStatus {
            agent_id: status.agent_id.clone(),
            resource_provider_id: status.resource_provider_id.clone(),
            uuid: uuid.value.clone(),
            operation_id: operation_id.clone(),
        });
        self.call(c).await
    }

    /// Asks for the state of the given operations, or of all of them when empty.
    pub async fn reconcile_operations(
        &self,
        operations: Vec<call::reconcile_operations::Operation>,
    ) -> Result<(), SdkError> {
        let mut c = Self::typed(call::Type::ReconcileOperations);
        c.reconcile_operations = Some(call::ReconcileOperations { operations });
        self.call(c).await
    }

    /// Sends data to an executor of this framework.
    pub async fn message(
        &self,
        agent_id: pb::AgentId,
        executor_id: pb::ExecutorId,
        data: Vec<u8>,
    ) -> Result<(), SdkError> {
        let mut c = Self::typed(call::Type::Message);
        c.message = Some(call::Message {
            agent_id,
            executor_id,
            data,
        });
        self.call(c).await
    }

    /// Asks the allocator for resources (Mesos's built-in allocator ignores it).
    pub async fn request(&self, requests: Vec<pb::Request>) -> Result<(), SdkError> {
        let mut c = Self::typed(call::Type::Request);
        c.request = Some(call::Request { requests });
        self.call(c).await
    }

    /// Changes the FrameworkInfo, the suppressed roles and the offer constraints. A missing
    /// `framework_info.id` is filled in. Once the master accepts the update, later
    /// re-subscriptions carry the new values.
    pub async fn update_framework(
        &self,
        framework_info: pb::FrameworkInfo,
        suppressed_roles: Vec<String>,
        offer_constraints: Option<scheduler::OfferConstraints>,
    ) -> Result<(), SdkError> {
        let mut framework_info = framework_info;
        // Mesos refuses an update whose FrameworkInfo names no id or another framework's.
        if framework_info.id.is_none() {
            framework_info.id = self.framework_id();
        }
        let update = call::UpdateFramework {
            framework_info,
            suppressed_roles,
            offer_constraints,
        };
        let mut c = Self::typed(call::Type::UpdateFramework);
        c.update_framework = Some(update.clone());
        self.call(c).await?;
        self.lock().updated = Some(update);
        Ok(())
    }

    /// Tears the framework down (all its tasks are killed) and stops the driver.
    pub async fn teardown(&self) -> Result<(), SdkError> {
        let result = self.call(Self::typed(call::Type::Teardown)).await;
        self.stop();
        result
    }
}

/// Runs a framework until it is torn down, stopped, or refused. Returns the scheduler so
/// the caller can read what it gathered.
pub async fn run<S: Scheduler>(config: DriverConfig, scheduler: S) -> Result<S, SdkError> {
    let uses_tls = config.masters.iter().any(|m| m.starts_with("https://"));
    let transport = if uses_tls || !config.ca_certificates_pem.is_empty() {
        HttpTransport::with_tls(&config.ca_certificates_pem)?
    } else {
        HttpTransport::new()?
    };
    let transport: Arc<dyn Transport> = Arc::new(transport);
    run_with_transport(config, scheduler, transport).await
}

/// [`run`] over a given transport.
pub async fn run_with_transport<S: Scheduler>(
    mut config: DriverConfig,
    mut scheduler: S,
    transport: Arc<dyn Transport>,
) -> Result<S, SdkError> {
    if config.masters.is_empty() {
        return Err(SdkError::Config("no master given".to_string()));
    }
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let driver = Driver {
        inner: Arc::new(Inner {
            transport,
            format: config.format,
            credentials: config.credentials.clone(),
            conn: Mutex::new(Connection {
                framework_id: config.framework.id.clone(),
                ..Default::default()
            }),
            stop: stop_tx,
            acks_in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_ACKS_IN_FLIGHT)),
        }),
    };
    let masters: Vec<String> = config.masters.iter().map(|m| normalize(m)).collect();
    let mut next_master = 0usize;
    let mut backoff = config.backoff_min;
    let mut unreachable_since: Option<tokio::time::Instant> = None;
    let mut subscribed_before = config.framework.id.is_some();
    loop {
        if *stop_rx.borrow() {
            return Ok(scheduler);
        }
        let candidate = driver
            .lock()
            .leader
            .clone()
            .unwrap_or_else(|| masters[next_master % masters.len()].clone());
        // A zk:// master is asked for the leader before every (re)subscription.
        let leader = if candidate.starts_with("zk://") {
            tokio::select! {
                r = crate::detector::leading_master(&candidate) => r,
                _ = stop_rx.changed() => return Ok(scheduler),
            }
        } else {
            Ok(candidate)
        };
        let outcome = match leader {
            Ok(leader) => tokio::select! {
                r = subscribe_once(&driver, &mut config, &mut scheduler, &leader, &mut subscribed_before) => r,
                _ = stop_rx.changed() => return Ok(scheduler),
            },
            Err(error) => Outcome::Retry {
                error,
                was_subscribed: false,
            },
        };
        match outcome {
            Outcome::Stopped => return Ok(scheduler),
            Outcome::Redirect(to) => {
                info!(leader = %to, "following redirect to the leading master");
                driver.lock().leader = Some(to);
                continue;
            }
            Outcome::Fatal(e) => return Err(e),
            Outcome::Retry {
                error,
                was_subscribed,
            } => {
                driver.lock().leader = None;
                next_master += 1;
                if was_subscribed {
                    backoff = config.backoff_min;
                    unreachable_since = None;
                    scheduler.disconnected(&driver).await;
                } else {
                    let since = *unreachable_since.get_or_insert_with(tokio::time::Instant::now);
                    if let Some(limit) = config.connect_timeout
                        && since.elapsed() >= limit
                    {
                        return Err(error);
                    }
                }
                debug!("reconnecting after {error}");
                let jitter = jitter(backoff);
                tokio::select! {
                    _ = tokio::time::sleep(jitter) => {}
                    _ = stop_rx.changed() => return Ok(scheduler),
                }
                backoff = (backoff * 2).min(config.backoff_max);
            }
        }
    }
}

fn jitter(base: Duration) -> Duration {
    let r = uuid::Uuid::new_v4().as_u128() % 1000;
    base.mul_f64(0.5 + (r as f64) / 1000.0)
}

enum Outcome {
    Stopped,
    Redirect(String),
    Retry {
        error: SdkError,
        was_subscribed: bool,
    },
    Fatal(SdkError),
}

async fn subscribe_once<S: Scheduler>(
    driver: &Driver,
    config: &mut DriverConfig,
    scheduler: &mut S,
    leader: &str,
    subscribed_before: &mut bool,
) -> Outcome {
    let format = config.format;
    // An accepted UPDATE_FRAMEWORK replaces what the configuration said.
    if let Some(update) = driver.lock().updated.take() {
        let id = config.framework.id.take();
        config.framework = update.framework_info;
        config.framework.id = config.framework.id.take().or(id);
        config.suppressed_roles = update.suppressed_roles;
        config.offer_constraints = update.offer_constraints;
    }
    let subscribe = Call {
        framework_id: config.framework.id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: config.framework.clone(),
            suppressed_roles: config.suppressed_roles.clone(),
            offer_constraints: config.offer_constraints.clone(),
        }),
        ..Default::default()
    };
    let mut headers = vec![
        ("Content-Type".to_string(), format.media_type().to_string()),
        ("Accept".to_string(), format.media_type().to_string()),
        ("Connection".to_string(), "close".to_string()),
    ];
    headers.extend(basic_auth(&config.credentials));
    let response = match driver
        .inner
        .transport
        .post_streaming(Request {
            url: format!("{leader}/api/v1/scheduler"),
            headers,
            body: format.encode(&subscribe),
        })
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                error: e,
                was_subscribed: false,
            };
        }
    };
    match response.status {
        200 => {}
        307 => {
            let location = response.header("Location").unwrap_or_default().to_string();
            return Outcome::Redirect(leader_from_location(&location, leader));
        }
        503 | 404 => {
            return Outcome::Retry {
                error: SdkError::Refused {
                    call: "SUBSCRIBE".into(),
                    status: response.status,
                    message: "master not ready".into(),
                },
                was_subscribed: false,
            };
        }
        status => {
            let mut body = response.body;
            let mut text = Vec::new();
            while let Some(Ok(chunk)) = body.next().await {
                text.extend_from_slice(&chunk);
            }
            return Outcome::Fatal(SdkError::Refused {
                call: "SUBSCRIBE".into(),
                status,
                message: String::from_utf8_lossy(&text).into_owned(),
            });
        }
    }
    let stream_id = response.header("Mesos-Stream-Id").map(str::to_string);
    {
        let mut c = driver.lock();
        c.leader = Some(leader.to_string());
        c.stream_id = stream_id;
    }
    let mut body = response.body;
    let mut decoder = Decoder::with_max_record_size(64 << 20);
    let mut heartbeat = Duration::from_secs(15);
    let mut subscribed = false;
    loop {
        // Mesos sends a heartbeat every interval; several missed ones mean a dead link.
        let next = tokio::time::timeout(heartbeat * 5, body.next()).await;
        let chunk = match next {
            Err(_) => {
                return Outcome::Retry {
                    error: SdkError::HeartbeatTimeout(heartbeat * 5),
                    was_subscribed: subscribed,
                };
            }
            Ok(None) => {
                return Outcome::Retry {
                    error: SdkError::Unreachable {
                        url: leader.to_string(),
                        message: "event stream closed".into(),
                    },
                    was_subscribed: subscribed,
                };
            }
            Ok(Some(Err(e))) => {
                return Outcome::Retry {
                    error: e,
                    was_subscribed: subscribed,
                };
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        let records = match decoder.decode(&chunk) {
            Ok(r) => r,
            Err(e) => return Outcome::Fatal(SdkError::Protocol(e.to_string())),
        };
        for record in records {
            let event = match format.decode(&record) {
                Ok(e) => e,
                Err(e) => return Outcome::Fatal(e),
            };
            match dispatch(driver, config, scheduler, event, subscribed_before).await {
                Dispatch::Continue => {}
                Dispatch::Subscribed(interval) => {
                    subscribed = true;
                    if let Some(i) = interval.filter(|i| i.is_finite() && *i > 0.0) {
                        heartbeat = Duration::from_secs_f64(i);
                    }
                }
                Dispatch::Error(message) => {
                    return if subscribed {
                        Outcome::Stopped
                    } else {
                        Outcome::Fatal(SdkError::SubscriptionRefused(message))
                    };
                }
            }
            if *driver.inner.stop.borrow() {
                return Outcome::Stopped;
            }
        }
    }
}

enum Dispatch {
    Continue,
    Subscribed(Option<f64>),
    Error(String),
}

async fn dispatch<S: Scheduler>(
    driver: &Driver,
    config: &mut DriverConfig,
    scheduler: &mut S,
    event: Event,
    subscribed_before: &mut bool,
) -> Dispatch {
    use event::Type as T;
    match event.r#type() {
        T::Subscribed => {
            let Some(s) = event.subscribed else {
                return Dispatch::Continue;
            };
            config.framework.id = Some(s.framework_id.clone());
            driver.lock().framework_id = Some(s.framework_id.clone());
            let resubscribed = *subscribed_before;
            *subscribed_before = true;
            info!(framework = %s.framework_id.value, resubscribed, "subscribed");
            let interval = s.heartbeat_interval_seconds;
            scheduler
                .subscribed(
                    driver,
                    Subscribed {
                        framework_id: s.framework_id,
                        heartbeat_interval_seconds: s.heartbeat_interval_seconds,
                        master_info: s.master_info,
                        resubscribed,
                    },
                )
                .await;
            if resubscribed
                && config.reconcile_on_resubscribe
                && let Err(e) = driver.reconcile(vec![]).await
            {
                warn!("reconciliation after re-subscribing failed: {e}");
            }
            return Dispatch::Subscribed(interval);
        }
        T::Offers => {
            if let Some(o) = event.offers {
                scheduler.offers(driver, o.offers).await;
            }
        }
        T::InverseOffers => {
            if let Some(o) = event.inverse_offers {
                scheduler.inverse_offers(driver, o.inverse_offers).await;
            }
        }
        T::Rescind => {
            if let Some(r) = event.rescind {
                scheduler.rescind(driver, r.offer_id).await;
            }
        }
        T::RescindInverseOffer => {
            if let Some(r) = event.rescind_inverse_offer {
                scheduler
                    .rescind_inverse_offer(driver, r.inverse_offer_id)
                    .await;
            }
        }
        T::Update => {
            if let Some(u) = event.update {
                let status = u.status;
                scheduler.update(driver, status.clone()).await;
                if config.auto_acknowledge && status.uuid.is_some() {
                    // Acknowledge without holding up the next event: a burst of updates
                    // would otherwise cost one HTTP round trip each, in sequence.
                    let permits = driver.inner.acks_in_flight.clone();
                    let Ok(permit) = permits.acquire_owned().await else {
                        return Dispatch::Continue;
                    };
                    let d = driver.clone();
                    tokio::spawn(async move {
                        if let Err(e) = d.acknowledge(&status).await {
                            warn!(task = %status.task_id.value, "acknowledgement failed: {e}");
                        }
                        drop(permit);
                    });
                }
            }
        }
        T::Message => {
            if let Some(m) = event.message {
                scheduler
                    .message(driver, m.agent_id, m.executor_id, m.data)
                    .await;
            }
        }
        T::Failure => {
            if let Some(f) = event.failure {
                scheduler
                    .failure(driver, f.agent_id, f.executor_id, f.status)
                    .await;
            }
        }
        T::Error => {
            let message = event.error.map(|e| e.message).unwrap_or_default();
            warn!("master error: {message}");
            scheduler.error(driver, message.clone()).await;
            return Dispatch::Error(message);
        }
        T::UpdateOperationStatus => {
            if let Some(u) = event.update_operation_status {
                let status = u.status;
                scheduler.operation_status(driver, status.clone()).await;
                if config.auto_acknowledge && status.uuid.is_some() {
                    let d = driver.clone();
                    tokio::spawn(async move {
                        if let Err(e) = d.acknowledge_operation_status(&status).await {
                            warn!("operation status acknowledgement failed: {e}");
                        }
                    });
                }
            }
        }
        T::Heartbeat | T::Unknown => {}
    }
    Dispatch::Continue
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations() {
        assert_eq!(
            leader_from_location("//m2:5050/master/api/v1/scheduler", "http://m1:5050"),
            "http://m2:5050"
        );
        assert_eq!(
            leader_from_location("http://m3:5050", "http://m1:5050"),
            "http://m3:5050"
        );
        assert_eq!(normalize("127.0.0.1:5050"), "http://127.0.0.1:5050");
        assert_eq!(normalize("http://h:1/"), "http://h:1");
    }
}
