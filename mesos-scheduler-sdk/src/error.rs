//! The SDK's typed errors.

/// What can go wrong talking to a master.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The master could not be reached at all.
    #[error("cannot reach master at {url}: {message}")]
    Unreachable { url: String, message: String },
    /// The master answered a call with an error status; the message is the master's body.
    #[error("master refused {call} with HTTP {status}: {message}")]
    Refused {
        call: String,
        status: u16,
        message: String,
    },
    /// The master sent bytes that are not a valid event.
    #[error("malformed event from master: {0}")]
    Protocol(String),
    /// The subscription was refused with an ERROR event (for example a bad FrameworkInfo).
    #[error("subscription refused: {0}")]
    SubscriptionRefused(String),
    /// No heartbeat or event within the allowed time.
    #[error("no event from the master for {0:?}")]
    HeartbeatTimeout(std::time::Duration),
    /// The driver is not subscribed (no framework id or stream id yet).
    #[error("not subscribed")]
    NotSubscribed,
    /// A configuration value that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
}
