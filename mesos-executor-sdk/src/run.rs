//! The run loop: subscribe, read the event stream, dispatch events, reconnect.

use std::time::Duration;

use futures::StreamExt as _;
use mesos_core::json;
use mesos_core::proto::v1::executor::{Event, event};
use mesos_core::recordio::Decoder;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::Executor;
use crate::config::{Config, ContentType};
use crate::driver::{ExecutorDriver, http_client};
use crate::error::ExecutorError;

/// The first delay between subscription attempts; it doubles up to
/// [`Config::subscription_backoff_max`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);

/// Connects to the agent described by `config` and runs `executor` until it is done.
///
/// See [`ExecutorDriver::run`].
///
/// # Errors
///
/// As [`ExecutorDriver::run`].
pub async fn run<E: Executor>(executor: E, config: Config) -> Result<(), ExecutorError> {
    ExecutorDriver::new(config)?.run(executor).await
}

/// One subscription: the events read by its reader task, which stops when this is dropped.
///
/// Events travel boxed: an `Event` is over 4 KB, and the channel allocates its slots 32 at a
/// time, which inline would be a 140 KB block (a fresh mapping) per executor.
struct Subscription {
    events: mpsc::UnboundedReceiver<Result<Box<Event>, ExecutorError>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

enum Outcome {
    /// The executor is done: SHUTDOWN was handled or `stop` was called.
    Done,
    /// The stream broke.
    Broken(ExecutorError),
}

impl ExecutorDriver {
    /// Subscribes to the agent and dispatches events to `executor`, in order, until one of:
    ///
    /// - SHUTDOWN arrives: [`Executor::shutdown`] runs to completion, then this returns `Ok`;
    /// - [`stop`](Self::stop) is called: this returns `Ok` once the current callback is done;
    /// - the event stream breaks and the framework does not checkpoint:
    ///   [`Executor::disconnected`] and [`Executor::shutdown`] run, then this returns
    ///   [`ExecutorError::Disconnected`];
    /// - the stream broke, the framework checkpoints, and no new subscription succeeded within
    ///   the recovery timeout (attempts back off up to the subscription backoff max):
    ///   [`Executor::shutdown`] runs, then this returns [`ExecutorError::RecoveryTimeout`].
    ///
    /// Each SUBSCRIBE carries the launched tasks whose terminal update is unacknowledged and
    /// the unacknowledged updates, which the agent then resends. The first subscription is
    /// retried the same way while the agent is unreachable or answers 503 (recovering).
    ///
    /// # Errors
    ///
    /// As listed above, or the agent's refusal of SUBSCRIBE (a 4xx answer, a wrong content
    /// type).
    pub async fn run<E: Executor>(&self, mut executor: E) -> Result<(), ExecutorError> {
        let mut stopped = self.stopped_receiver();
        let mut subscribed_once = false;
        loop {
            let subscription = match self.subscribe_with_retry(&mut stopped).await {
                Ok(Some(subscription)) => subscription,
                Ok(None) => return Ok(()),
                Err(error) => {
                    if subscribed_once {
                        executor.shutdown(self).await;
                    }
                    return Err(error);
                }
            };
            match self
                .dispatch(
                    &mut executor,
                    subscription,
                    &mut stopped,
                    &mut subscribed_once,
                )
                .await
            {
                Outcome::Done => return Ok(()),
                Outcome::Broken(error) => {
                    tracing::warn!(%error, "disconnected from the agent");
                    executor.disconnected(self).await;
                    if self.is_stopped() {
                        return Ok(());
                    }
                    if !self.config().checkpoint {
                        executor.shutdown(self).await;
                        return Err(ExecutorError::Disconnected {
                            cause: error.to_string(),
                        });
                    }
                }
            }
        }
    }

    async fn dispatch<E: Executor>(
        &self,
        executor: &mut E,
        mut subscription: Subscription,
        stopped: &mut tokio::sync::watch::Receiver<bool>,
        subscribed_once: &mut bool,
    ) -> Outcome {
        loop {
            let item = tokio::select! {
                biased;
                _ = stopped.wait_for(|s| *s) => return Outcome::Done,
                item = subscription.events.recv() => item,
            };
            let event = match item {
                Some(Ok(event)) => event,
                Some(Err(error)) => return Outcome::Broken(error),
                None => return Outcome::Broken(ExecutorError::EndOfStream),
            };
            if self.is_stopped() {
                return Outcome::Done;
            }
            use event::Type;
            match event.r#type() {
                Type::Subscribed => {
                    let Some(info) = event.subscribed else {
                        tracing::warn!("SUBSCRIBED event without 'subscribed'");
                        continue;
                    };
                    *subscribed_once = true;
                    executor.subscribed(self, info).await;
                }
                Type::Launch => match event.launch {
                    Some(launch) => executor.launch(self, launch.task).await,
                    None => tracing::warn!("LAUNCH event without 'launch'"),
                },
                Type::LaunchGroup => match event.launch_group {
                    Some(launch) => executor.launch_group(self, launch.task_group).await,
                    None => tracing::warn!("LAUNCH_GROUP event without 'launch_group'"),
                },
                Type::Kill => match event.kill {
                    Some(kill) => executor.kill(self, kill.task_id, kill.kill_policy).await,
                    None => tracing::warn!("KILL event without 'kill'"),
                },
                Type::Acknowledged => match event.acknowledged {
                    Some(ack) => executor.acknowledged(self, ack.task_id, ack.uuid).await,
                    None => tracing::warn!("ACKNOWLEDGED event without 'acknowledged'"),
                },
                Type::Message => match event.message {
                    Some(message) => executor.message(self, message.data).await,
                    None => tracing::warn!("MESSAGE event without 'message'"),
                },
                Type::Error => {
                    let message = event.error.map(|e| e.message).unwrap_or_default();
                    executor.error(self, message).await;
                }
                Type::Shutdown => {
                    executor.shutdown(self).await;
                    return Outcome::Done;
                }
                Type::Heartbeat => {}
                Type::Unknown => tracing::warn!("ignoring an event of unknown type"),
            }
        }
    }

    /// Subscribes, retrying transient failures with backoff until the recovery timeout.
    /// Returns `None` if the driver was stopped meanwhile.
    async fn subscribe_with_retry(
        &self,
        stopped: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<Option<Subscription>, ExecutorError> {
        let config = self.config();
        let deadline = Instant::now() + config.recovery_timeout;
        let mut backoff = INITIAL_BACKOFF.min(config.subscription_backoff_max);
        loop {
            if self.is_stopped() {
                return Ok(None);
            }
            let error = match self.subscribe().await {
                Ok(subscription) => return Ok(Some(subscription)),
                Err(error) if error.is_transient() => error,
                Err(error) => return Err(error),
            };
            // A random delay in [backoff / 2, backoff], so that many executors of a restarted
            // agent do not reconnect in lockstep.
            let random = uuid::Uuid::new_v4().into_bytes();
            let fraction =
                f64::from(u16::from_le_bytes([random[0], random[1]])) / f64::from(u16::MAX);
            let delay = backoff.mul_f64(0.5 + fraction / 2.0);
            if Instant::now() + delay >= deadline {
                return Err(ExecutorError::RecoveryTimeout {
                    timeout: config.recovery_timeout,
                    last_error: error.to_string(),
                });
            }
            tracing::info!(%error, ?delay, "subscription failed, retrying");
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return Ok(None),
                () = tokio::time::sleep(delay) => {}
            }
            backoff = (backoff * 2).min(config.subscription_backoff_max);
        }
    }

    /// Sends SUBSCRIBE and, on `200 OK` with the right content type, starts reading events.
    async fn subscribe(&self) -> Result<Subscription, ExecutorError> {
        let content_type = self.config().content_type;
        // A client per subscription: the stream occupies its connection for good.
        let client = http_client(self.config())?;
        let response = self
            .request(&client, &self.subscribe_call())
            .send()
            .await
            .map_err(|source| ExecutorError::Http {
                call: "SUBSCRIBE",
                url: self.url().to_owned(),
                source,
            })?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.text().await.unwrap_or_default();
            return Err(ExecutorError::UnexpectedStatus {
                call: "SUBSCRIBE",
                status,
                body,
            });
        }
        let actual = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let expected = content_type.media_type();
        if actual.split(';').next().map(str::trim) != Some(expected) {
            return Err(ExecutorError::ContentType { expected, actual });
        }

        let (sender, events) = mpsc::unbounded_channel();
        let driver = self.clone();
        let reader = tokio::spawn(async move {
            let result = read_events(&driver, content_type, response, &sender).await;
            let _ = sender.send(Err(result.err().unwrap_or(ExecutorError::EndOfStream)));
        });
        Ok(Subscription { events, reader })
    }
}

/// Reads the stream, keeping the driver's bookkeeping current before an event is queued for
/// its callback: acknowledgements are applied here, so that a callback that waits for them
/// (see [`ExecutorDriver::wait_acknowledged`]) is not waiting for itself.
async fn read_events(
    driver: &ExecutorDriver,
    content_type: ContentType,
    response: reqwest::Response,
    sender: &mpsc::UnboundedSender<Result<Box<Event>, ExecutorError>>,
) -> Result<(), ExecutorError> {
    let url = driver.url().to_owned();
    let mut body = response.bytes_stream();
    let mut decoder = Decoder::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|source| ExecutorError::Http {
            call: "SUBSCRIBE",
            url: url.clone(),
            source,
        })?;
        for record in decoder.decode(&chunk)? {
            let event = decode_event(content_type, &record)?;
            match event.r#type() {
                event::Type::Launch => {
                    if let Some(launch) = &event.launch {
                        driver.record_launch(&launch.task);
                    }
                }
                event::Type::LaunchGroup => {
                    if let Some(launch) = &event.launch_group {
                        for task in &launch.task_group.tasks {
                            driver.record_launch(task);
                        }
                    }
                }
                event::Type::Acknowledged => {
                    if let Some(ack) = &event.acknowledged
                        && !driver.record_acknowledgement(&ack.task_id, &ack.uuid)
                    {
                        tracing::warn!(task = %ack.task_id.value, "acknowledgement of an unknown update");
                    }
                }
                _ => {}
            }
            if sender.send(Ok(Box::new(event))).is_err() {
                return Ok(());
            }
        }
    }
    decoder.finish()?;
    Err(ExecutorError::EndOfStream)
}

fn decode_event(content_type: ContentType, record: &[u8]) -> Result<Event, ExecutorError> {
    match content_type {
        ContentType::Protobuf => {
            Event::decode(record).map_err(|e| ExecutorError::Decode(e.to_string()))
        }
        ContentType::Json => {
            let text =
                std::str::from_utf8(record).map_err(|e| ExecutorError::Decode(e.to_string()))?;
            json::from_str(text).map_err(|e| ExecutorError::Decode(e.to_string()))
        }
    }
}
