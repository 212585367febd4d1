//! The executor's configuration, read from the environment the agent gives it.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use mesos_core::proto::v1 as pb;

/// `MESOS_RECOVERY_TIMEOUT` when the agent sets none (the agent's `--recovery_timeout` default).
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// `MESOS_SUBSCRIPTION_BACKOFF_MAX` when the agent sets none (Mesos's
/// `DEFAULT_SUBSCRIPTION_BACKOFF_MAX`).
pub const DEFAULT_SUBSCRIPTION_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD` when the agent sets none (the agent's
/// `--executor_shutdown_grace_period` default).
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// The path of the executor API on the agent. Mesos agents also serve it as
/// `/slave(1)/api/v1/executor`; the short form reaches the same handler by delegation.
pub const EXECUTOR_API_PATH: &str = "/api/v1/executor";

/// `sizeof(sockaddr_un.sun_path)`: a domain socket path must be shorter, with its NUL.
const DOMAIN_SOCKET_MAX_PATH: usize = 108;

/// The agent's process id when `MESOS_SLAVE_PID` does not give one.
const DEFAULT_AGENT_PROCESS_ID: &str = "slave(1)";

/// Why the environment does not describe an executor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A variable the agent always sets is absent or empty.
    #[error("environment variable {var} is not set")]
    Missing {
        /// The variable's name.
        var: &'static str,
    },
    /// A variable holds a duration that does not parse.
    #[error("environment variable {var}: {source}")]
    InvalidDuration {
        /// The variable's name.
        var: &'static str,
        /// What is wrong with its value.
        source: DurationError,
    },
    /// Neither `MESOS_AGENT_ENDPOINT` nor `MESOS_SLAVE_PID` holds an `ip:port`.
    #[error("environment variable {var}: '{value}' is not of the form ip:port")]
    InvalidEndpoint {
        /// The variable's name.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// `MESOS_DOMAIN_SOCKET` names a path too long for a unix socket address, even relative to
    /// the working directory.
    #[error(
        "environment variable MESOS_DOMAIN_SOCKET: '{path}' is too long for a unix socket (at most 107 bytes, also relative to the working directory)"
    )]
    DomainSocketPathTooLong {
        /// The path as given.
        path: String,
    },
}

/// Why a text is not a Mesos duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text does not start with a non-negative decimal number.
    #[error("'{text}' does not start with a number")]
    NoNumber {
        /// The text given.
        text: String,
    },
    /// The unit is not one of `ns`, `us`, `ms`, `secs`, `mins`, `hrs`, `days`, `weeks`.
    #[error(
        "'{text}' has unknown unit '{unit}' (expected ns, us, ms, secs, mins, hrs, days or weeks)"
    )]
    UnknownUnit {
        /// The text given.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// The duration does not fit in a [`Duration`].
    #[error("'{text}' is too long a duration")]
    OutOfRange {
        /// The text given.
        text: String,
    },
}

/// Parses a duration as Mesos writes it (stout's `Duration::parse`): a non-negative decimal
/// number directly followed by one of the units `ns`, `us`, `ms`, `secs`, `mins`, `hrs`, `days`
/// or `weeks`, e.g. `15mins`, `2secs`, `100ms`, `1.5secs`.
///
/// ```
/// use std::time::Duration;
/// use mesos_executor_sdk::parse_duration;
///
/// assert_eq!(parse_duration("15mins")?, Duration::from_secs(900));
/// assert_eq!(parse_duration("100ms")?, Duration::from_millis(100));
/// assert!(parse_duration("5").is_err());
/// # Ok::<(), mesos_executor_sdk::DurationError>(())
/// ```
///
/// # Errors
///
/// Returns a [`DurationError`] naming the text if it has no number, an unknown unit, or is too
/// large.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number.parse().map_err(|_| DurationError::NoNumber {
        text: text.to_owned(),
    })?;
    let seconds_per_unit = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "secs" => 1.0,
        "mins" => 60.0,
        "hrs" => 3600.0,
        "days" => 86400.0,
        "weeks" => 604_800.0,
        _ => {
            return Err(DurationError::UnknownUnit {
                text: text.to_owned(),
                unit: unit.to_owned(),
            });
        }
    };
    // Exact for integral values in the common units; fractions round to the nanosecond.
    Duration::try_from_secs_f64(value * seconds_per_unit).map_err(|_| DurationError::OutOfRange {
        text: text.to_owned(),
    })
}

/// The encoding of calls and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentType {
    /// `application/x-protobuf`, the default.
    #[default]
    Protobuf,
    /// `application/json`, in Mesos's JSON mapping.
    Json,
}

impl ContentType {
    /// The media type, as sent in `Content-Type` and `Accept`.
    #[must_use]
    pub const fn media_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// Everything the driver needs to reach the agent, normally from [`Config::from_env`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `MESOS_FRAMEWORK_ID`.
    pub framework_id: pb::FrameworkId,
    /// `MESOS_EXECUTOR_ID`.
    pub executor_id: pb::ExecutorId,
    /// The agent's `ip:port`: `MESOS_AGENT_ENDPOINT`, or the address part of `MESOS_SLAVE_PID`.
    pub agent_endpoint: String,
    /// `MESOS_DOMAIN_SOCKET`: the agent's executor socket (its `--http_executor_domain_sockets`);
    /// when set, the driver talks to the agent over it instead of TCP.
    pub domain_socket: Option<PathBuf>,
    /// The agent's process id, the part of `MESOS_SLAVE_PID` before `@` (`slave(1)`): an
    /// agent's domain socket serves the executor API only under it.
    pub agent_process_id: String,
    /// `MESOS_DIRECTORY`: the sandbox's path on the host.
    pub directory: PathBuf,
    /// `MESOS_SANDBOX`: the sandbox as the executor sees it; `directory` when unset.
    pub sandbox: PathBuf,
    /// `MESOS_CHECKPOINT`: whether the framework checkpoints, so that the executor survives an
    /// agent restart by reconnecting.
    pub checkpoint: bool,
    /// `MESOS_RECOVERY_TIMEOUT`: how long to keep trying to reconnect to a restarting agent.
    pub recovery_timeout: Duration,
    /// `MESOS_SUBSCRIPTION_BACKOFF_MAX`: the cap on the delay between reconnection attempts.
    pub subscription_backoff_max: Duration,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`: how long the agent waits after SHUTDOWN before it
    /// kills the executor.
    pub shutdown_grace_period: Duration,
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`, sent as `Authorization: Bearer <token>`.
    pub authentication_token: Option<String>,
    /// The encoding of calls and events; protobuf unless chosen otherwise.
    pub content_type: ContentType,
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the variable that is missing or malformed.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from `lookup`, which maps a variable name to its value (tests
    /// use a map instead of the process environment).
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the variable that is missing or malformed.
    pub fn from_lookup<F>(lookup: F) -> Result<Self, ConfigError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let get = |var: &str| lookup(var).filter(|v| !v.is_empty());
        let required = |var: &'static str| get(var).ok_or(ConfigError::Missing { var });
        let duration = |var: &'static str, default: Duration| match get(var) {
            None => Ok(default),
            Some(text) => {
                parse_duration(&text).map_err(|source| ConfigError::InvalidDuration { var, source })
            }
        };

        let framework_id = pb::FrameworkId {
            value: required("MESOS_FRAMEWORK_ID")?,
        };
        let executor_id = pb::ExecutorId {
            value: required("MESOS_EXECUTOR_ID")?,
        };
        let agent_endpoint = match get("MESOS_AGENT_ENDPOINT") {
            Some(endpoint) => check_endpoint("MESOS_AGENT_ENDPOINT", endpoint)?,
            None => match get("MESOS_SLAVE_PID") {
                // `slave(1)@10.0.0.1:5051`
                Some(pid) => {
                    let address = pid.rsplit_once('@').map_or("", |(_, a)| a).to_owned();
                    check_endpoint("MESOS_SLAVE_PID", address).map_err(|_| {
                        ConfigError::InvalidEndpoint {
                            var: "MESOS_SLAVE_PID",
                            value: pid.clone(),
                        }
                    })?
                }
                None => {
                    return Err(ConfigError::Missing {
                        var: "MESOS_AGENT_ENDPOINT",
                    });
                }
            },
        };
        let agent_process_id = get("MESOS_SLAVE_PID")
            .and_then(|pid| pid.split_once('@').map(|(id, _)| id.to_owned()))
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| DEFAULT_AGENT_PROCESS_ID.to_owned());
        let domain_socket = match get("MESOS_DOMAIN_SOCKET") {
            None => None,
            Some(path) => Some(
                usable_socket_path(&path)
                    .ok_or(ConfigError::DomainSocketPathTooLong { path: path.clone() })?,
            ),
        };
        let directory = PathBuf::from(required("MESOS_DIRECTORY")?);
        let sandbox = get("MESOS_SANDBOX").map_or_else(|| directory.clone(), PathBuf::from);
        let checkpoint = get("MESOS_CHECKPOINT").is_some_and(|v| v != "0");
        Ok(Self {
            framework_id,
            executor_id,
            agent_endpoint,
            domain_socket,
            agent_process_id,
            directory,
            sandbox,
            checkpoint,
            recovery_timeout: duration("MESOS_RECOVERY_TIMEOUT", DEFAULT_RECOVERY_TIMEOUT)?,
            subscription_backoff_max: duration(
                "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                DEFAULT_SUBSCRIPTION_BACKOFF_MAX,
            )?,
            shutdown_grace_period: duration(
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                DEFAULT_SHUTDOWN_GRACE_PERIOD,
            )?,
            authentication_token: get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"),
            content_type: ContentType::Protobuf,
        })
    }

    /// Chooses the encoding of calls and events.
    #[must_use]
    pub fn with_content_type(mut self, content_type: ContentType) -> Self {
        self.content_type = content_type;
        self
    }

    /// The URL of the agent's executor API. Over the domain socket the host part only names
    /// the agent in the `Host` header, and the path carries the agent's process id.
    #[must_use]
    pub fn url(&self) -> String {
        if self.domain_socket.is_some() {
            format!(
                "http://localhost/{}{EXECUTOR_API_PATH}",
                self.agent_process_id
            )
        } else {
            format!("http://{}{}", self.agent_endpoint, EXECUTOR_API_PATH)
        }
    }
}

/// `path` if it fits a unix socket address, else the same path relative to the working
/// directory if that fits (the sandbox is usually close to the agent's runtime directory).
fn usable_socket_path(path: &str) -> Option<PathBuf> {
    if path.len() < DOMAIN_SOCKET_MAX_PATH {
        return Some(PathBuf::from(path));
    }
    let cwd = std::env::current_dir().ok()?;
    let relative = relative_path(Path::new(path), &cwd)?;
    let relative = Path::new(".").join(relative);
    (relative.as_os_str().len() < DOMAIN_SOCKET_MAX_PATH).then_some(relative)
}

/// `path` as seen from the directory `base`; both absolute.
fn relative_path(path: &Path, base: &Path) -> Option<PathBuf> {
    if !path.is_absolute() || !base.is_absolute() {
        return None;
    }
    let path: Vec<Component<'_>> = path.components().collect();
    let base: Vec<Component<'_>> = base.components().collect();
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..base.len() {
        out.push("..");
    }
    for part in &path[common..] {
        out.push(part);
    }
    Some(out)
}

fn check_endpoint(var: &'static str, value: String) -> Result<String, ConfigError> {
    let valid = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if valid {
        Ok(value)
    } else {
        Err(ConfigError::InvalidEndpoint { var, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn check_duration(text: &str, expected: Duration) {
        assert_eq!(parse_duration(text), Ok(expected), "{text}");
    }

    #[test]
    fn durations_in_every_unit() {
        check_duration("15mins", Duration::from_secs(900));
        check_duration("2secs", Duration::from_secs(2));
        check_duration("100ms", Duration::from_millis(100));
        check_duration("250us", Duration::from_micros(250));
        check_duration("7ns", Duration::from_nanos(7));
        check_duration("3hrs", Duration::from_secs(3 * 3600));
        check_duration("2days", Duration::from_secs(2 * 86400));
        check_duration("1weeks", Duration::from_secs(604_800));
        check_duration("1.5secs", Duration::from_millis(1500));
        check_duration("0secs", Duration::ZERO);
        check_duration(" 5secs\n", Duration::from_secs(5));
    }

    #[test]
    fn malformed_durations_are_rejected() {
        assert!(matches!(
            parse_duration("5"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("5s"),
            Err(DurationError::UnknownUnit { unit, .. }) if unit == "s"
        ));
        assert!(matches!(
            parse_duration("secs"),
            Err(DurationError::NoNumber { .. })
        ));
        assert!(matches!(
            parse_duration("-1secs"),
            Err(DurationError::NoNumber { .. })
        ));
        assert!(matches!(
            parse_duration("1.2.3secs"),
            Err(DurationError::NoNumber { .. })
        ));
        assert!(matches!(
            parse_duration("1e300weeks"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999999weeks"),
            Err(DurationError::OutOfRange { .. })
        ));
    }

    fn env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const FULL: &[(&str, &str)] = &[
        ("MESOS_FRAMEWORK_ID", "fw-1"),
        ("MESOS_EXECUTOR_ID", "ex-1"),
        ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
        ("MESOS_DIRECTORY", "/var/sandbox"),
        ("MESOS_SANDBOX", "/mnt/mesos/sandbox"),
        ("MESOS_CHECKPOINT", "1"),
        ("MESOS_RECOVERY_TIMEOUT", "15mins"),
        ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "100ms"),
        ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "3secs"),
    ];

    #[test]
    fn reads_the_agent_environment() {
        let config = env(FULL).unwrap();
        assert_eq!(config.framework_id.value, "fw-1");
        assert_eq!(config.executor_id.value, "ex-1");
        assert_eq!(config.agent_endpoint, "127.0.0.1:5051");
        assert_eq!(config.url(), "http://127.0.0.1:5051/api/v1/executor");
        assert_eq!(config.directory, PathBuf::from("/var/sandbox"));
        assert_eq!(config.sandbox, PathBuf::from("/mnt/mesos/sandbox"));
        assert!(config.checkpoint);
        assert_eq!(config.recovery_timeout, Duration::from_secs(900));
        assert_eq!(config.subscription_backoff_max, Duration::from_millis(100));
        assert_eq!(config.shutdown_grace_period, Duration::from_secs(3));
        assert_eq!(config.content_type, ContentType::Protobuf);
        assert_eq!(config.authentication_token, None);
    }

    #[test]
    fn optional_variables_have_mesos_defaults() {
        let config = env(&FULL[..4]).unwrap();
        assert_eq!(config.sandbox, PathBuf::from("/var/sandbox"));
        assert!(!config.checkpoint);
        assert_eq!(config.recovery_timeout, DEFAULT_RECOVERY_TIMEOUT);
        assert_eq!(
            config.subscription_backoff_max,
            DEFAULT_SUBSCRIPTION_BACKOFF_MAX
        );
        assert_eq!(config.shutdown_grace_period, DEFAULT_SHUTDOWN_GRACE_PERIOD);
    }

    #[test]
    fn checkpoint_is_any_non_empty_value_but_zero() {
        for (value, expected) in [("1", true), ("0", false), ("", false), ("true", true)] {
            let mut vars = FULL[..4].to_vec();
            vars.push(("MESOS_CHECKPOINT", value));
            assert_eq!(env(&vars).unwrap().checkpoint, expected, "{value:?}");
        }
    }

    #[test]
    fn missing_variables_are_named() {
        for (i, var) in [
            "MESOS_FRAMEWORK_ID",
            "MESOS_EXECUTOR_ID",
            "MESOS_AGENT_ENDPOINT",
            "MESOS_DIRECTORY",
        ]
        .into_iter()
        .enumerate()
        {
            let vars: Vec<_> = FULL
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, kv)| *kv)
                .collect();
            let error = env(&vars).unwrap_err();
            assert_eq!(error, ConfigError::Missing { var });
            assert_eq!(
                error.to_string(),
                format!("environment variable {var} is not set")
            );
        }
    }

    #[test]
    fn malformed_variables_are_named() {
        let mut vars = FULL.to_vec();
        vars.push(("MESOS_RECOVERY_TIMEOUT", "soon"));
        let error = env(&vars).unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::InvalidDuration {
                    var: "MESOS_RECOVERY_TIMEOUT",
                    ..
                }
            ),
            "{error}"
        );

        let mut vars = FULL.to_vec();
        vars[2] = ("MESOS_AGENT_ENDPOINT", "localhost");
        assert_eq!(
            env(&vars).unwrap_err(),
            ConfigError::InvalidEndpoint {
                var: "MESOS_AGENT_ENDPOINT",
                value: "localhost".into()
            }
        );
    }

    #[test]
    fn falls_back_to_the_agent_pid() {
        let mut vars: Vec<_> = FULL
            .iter()
            .copied()
            .filter(|(k, _)| *k != "MESOS_AGENT_ENDPOINT")
            .collect();
        vars.push(("MESOS_SLAVE_PID", "slave(1)@10.0.0.7:5051"));
        assert_eq!(env(&vars).unwrap().agent_endpoint, "10.0.0.7:5051");
    }

    #[test]
    fn domain_socket_replaces_tcp_under_the_agent_process_id() {
        let plain = env(FULL).unwrap();
        assert_eq!(plain.domain_socket, None);
        assert_eq!(plain.url(), "http://127.0.0.1:5051/api/v1/executor");

        let mut vars = FULL.to_vec();
        vars.push(("MESOS_DOMAIN_SOCKET", "/var/run/mesos/agent.sock"));
        vars.push(("MESOS_SLAVE_PID", "slave(2)@127.0.0.1:5051"));
        let config = env(&vars).unwrap();
        assert_eq!(
            config.domain_socket.as_deref(),
            Some(Path::new("/var/run/mesos/agent.sock"))
        );
        assert_eq!(config.url(), "http://localhost/slave(2)/api/v1/executor");
        // Without MESOS_SLAVE_PID the agent is `slave(1)`.
        vars.retain(|(k, _)| *k != "MESOS_SLAVE_PID");
        assert_eq!(
            env(&vars).unwrap().url(),
            "http://localhost/slave(1)/api/v1/executor"
        );
    }

    #[test]
    fn long_socket_paths_are_shortened_relative_to_the_working_directory_or_refused() {
        let cwd = std::env::current_dir().unwrap();
        // Under the working directory: fits once made relative.
        let long_inside = cwd
            .join("x".repeat(50))
            .join("y".repeat(40))
            .join("agent.sock");
        assert!(long_inside.as_os_str().len() >= DOMAIN_SOCKET_MAX_PATH);
        let shortened = usable_socket_path(long_inside.to_str().unwrap()).unwrap();
        assert!(shortened.as_os_str().len() < DOMAIN_SOCKET_MAX_PATH);
        // `.` components inside a path are dropped by `components()`.
        assert!(
            cwd.join(&shortened)
                .components()
                .eq(long_inside.components())
        );
        // Too long either way: a clear error naming the variable.
        let hopeless = format!("/{}/agent.sock", "z".repeat(300));
        let mut vars = FULL.to_vec();
        vars.push(("MESOS_DOMAIN_SOCKET", hopeless.as_str()));
        assert_eq!(
            env(&vars).unwrap_err(),
            ConfigError::DomainSocketPathTooLong {
                path: hopeless.clone()
            }
        );
    }

    #[test]
    fn relative_paths_climb_out_of_the_base() {
        assert_eq!(
            relative_path(Path::new("/a/b/c.sock"), Path::new("/a/d/e")),
            Some(PathBuf::from("../../b/c.sock"))
        );
        assert_eq!(
            relative_path(Path::new("/a/b/c.sock"), Path::new("/a/b")),
            Some(PathBuf::from("c.sock"))
        );
        assert_eq!(relative_path(Path::new("a/b"), Path::new("/a")), None);
    }
}
