//! The driver's error type.

use std::time::Duration;

use mesos_core::recordio::RecordIoError;

/// What went wrong between the executor and the agent.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// A request could not be sent, or its response could not be read.
    #[error("{call} request to {url} failed: {source}")]
    Http {
        /// The call type, e.g. `SUBSCRIBE`.
        call: &'static str,
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The agent answered a call with an unexpected status code.
    #[error("agent answered {call} with status {status}: {body}")]
    UnexpectedStatus {
        /// The call type, e.g. `UPDATE`.
        call: &'static str,
        /// The HTTP status code.
        status: u16,
        /// The response body, which usually explains the refusal.
        body: String,
    },
    /// The agent labelled the event stream with another media type than the one asked for.
    #[error("agent answered SUBSCRIBE with content type '{actual}', expected '{expected}'")]
    ContentType {
        /// The media type asked for.
        expected: &'static str,
        /// The `Content-Type` received (empty if absent).
        actual: String,
    },
    /// The event stream is not valid RecordIO.
    #[error("malformed event stream: {0}")]
    RecordIo(#[from] RecordIoError),
    /// A record of the event stream is not an `Event`.
    #[error("cannot decode event: {0}")]
    Decode(String),
    /// The event stream ended.
    #[error("the agent closed the event stream")]
    EndOfStream,
    /// The connection to the agent broke and the framework does not checkpoint, so the executor
    /// shut down.
    #[error("disconnected from the agent ({cause}) and the framework does not checkpoint")]
    Disconnected {
        /// Why the connection broke.
        cause: String,
    },
    /// The agent could not be reached again within the recovery timeout.
    #[error(
        "could not subscribe to the agent within the recovery timeout of {timeout:?}: {last_error}"
    )]
    RecoveryTimeout {
        /// `MESOS_RECOVERY_TIMEOUT`.
        timeout: Duration,
        /// The last failure.
        last_error: String,
    },
}

impl ExecutorError {
    /// Whether retrying the subscription may help: transport failures, a broken stream and
    /// `503 Service Unavailable` (the agent is recovering) are transient, refusals are not.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Http { .. } | Self::RecordIo(_) | Self::Decode(_) | Self::EndOfStream => true,
            Self::UnexpectedStatus { status, .. } => *status == 503 || *status >= 500,
            Self::Client(_)
            | Self::ContentType { .. }
            | Self::Disconnected { .. }
            | Self::RecoveryTimeout { .. } => false,
        }
    }
}
