//! mesos-master's flags, with Mesos's names and defaults.
//!
//! Every flag can also come from `MESOS_<FLAG>` in the environment, and any value written
//! `file:///path` is replaced by the contents of that file, as in Mesos. Boolean flags take
//! `--flag`, `--flag=true|false` and `--no-flag`.

use std::ffi::OsString;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};
use mesos_core::duration::parse_duration;

/// The master's configuration.
#[derive(Debug, Clone, Parser)]
#[command(
    rename_all = "snake_case",
    name = "mesos-master",
    about = "The Mesos master: pools agents' resources and offers them to frameworks"
)]
pub struct MasterFlags {
    /// IP address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 5050)]
    pub port: u16,
    /// Hostname advertised to frameworks and agents (default: the IP).
    #[arg(long)]
    pub hostname: Option<String>,
    /// IP advertised to others when it differs from `--ip`.
    #[arg(long)]
    pub advertise_ip: Option<String>,
    /// Port advertised to others when it differs from `--port`.
    #[arg(long)]
    pub advertise_port: Option<u16>,
    /// Directory of the registry (required unless `--registry=in_memory`).
    #[arg(long)]
    pub work_dir: Option<String>,
    /// Where the registry lives: `replicated_log` (a store under `--work_dir`) or `in_memory`.
    #[arg(long, default_value = "replicated_log")]
    pub registry: String,
    /// Human-readable name of the cluster.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Time between allocation cycles.
    #[arg(long, default_value = "1secs", value_parser = parse_duration)]
    pub allocation_interval: Duration,
    /// How long an offer stays outstanding before it is rescinded (default: forever).
    #[arg(long, value_parser = parse_duration)]
    pub offer_timeout: Option<Duration>,
    /// Role sorter: `drf`, `priority` or `random`.
    #[arg(long, default_value = "drf")]
    pub role_sorter: String,
    /// Framework sorter within a role: `drf`, `priority` or `random`.
    #[arg(long, default_value = "drf")]
    pub framework_sorter: String,
    /// Initial weights, `role1=weight1,role2=weight2`.
    #[arg(long)]
    pub weights: Option<String>,
    /// Deprecated in Mesos: a whitelist of roles. Accepted and reported.
    #[arg(long)]
    pub roles: Option<String>,
    /// Minimum resources an offer must hold, `cpus:0.01|mem:32`.
    #[arg(long, default_value = "cpus:0.01|mem:32")]
    pub min_allocatable_resources: String,
    /// Completed frameworks kept in memory.
    #[arg(long, default_value_t = 50)]
    pub max_completed_frameworks: usize,
    /// Completed tasks kept per framework.
    #[arg(long, default_value_t = 1000)]
    pub max_completed_tasks_per_framework: usize,
    /// Unreachable tasks kept per framework.
    #[arg(long, default_value_t = 1000)]
    pub max_unreachable_tasks_per_framework: usize,
    /// Time between pings of an agent; a missed pong counts as a timeout.
    #[arg(long, default_value = "15secs", value_parser = parse_duration)]
    pub agent_ping_timeout: Duration,
    /// Missed pongs after which an agent is unreachable.
    #[arg(long, default_value_t = 5)]
    pub max_agent_ping_timeouts: u32,
    /// How long agents known to the registry have to re-register after a master restart.
    #[arg(long, default_value = "10mins", value_parser = parse_duration)]
    pub agent_reregister_timeout: Duration,
    /// Maximum number of operator API event stream subscribers.
    #[arg(long, default_value_t = 1000)]
    pub max_operator_event_stream_subscribers: usize,
    /// ZooKeeper URL for leader election (`zk://host:port,.../path`).
    #[arg(long)]
    pub zk: Option<String>,
    /// Size of the registry's replication quorum (with `--zk`).
    #[arg(long)]
    pub quorum: Option<u32>,
    /// Whether the master lets frameworks register without authentication.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub authenticate_frameworks: bool,
    /// Whether HTTP frameworks must authenticate.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub authenticate_http_frameworks: bool,
    /// Whether read-only HTTP endpoints require authentication.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub authenticate_http_readonly: bool,
    /// Whether read-write HTTP endpoints require authentication.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub authenticate_http_readwrite: bool,
    /// Directory for log files (logs go to stderr when unset).
    #[arg(long)]
    pub log_dir: Option<String>,
    /// Lowest level logged: INFO, WARNING or ERROR.
    #[arg(long, default_value = "INFO")]
    pub logging_level: String,
    /// Whether to look up the hostname by reverse DNS when `--hostname` is unset.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub hostname_lookup: bool,
}

/// Flags that cannot be parsed or are inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum FlagsError {
    /// clap rejected the command line (also carries `--help` output).
    #[error(transparent)]
    Parse(#[from] clap::Error),
    /// A `file://` value could not be read.
    #[error("cannot read flag '{flag}' from {path}: {source}")]
    File {
        flag: String,
        path: String,
        source: std::io::Error,
    },
    /// A value that parsed but makes no sense.
    #[error("invalid flag: {0}")]
    Invalid(String),
}

impl MasterFlags {
    /// Parses the command line, `MESOS_*` variables and `file://` values.
    pub fn from_args_and_env<I, T>(args: I) -> Result<MasterFlags, FlagsError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let command = MasterFlags::command();
        let args = expand_mesos_args(&command, args, std::env::vars())?;
        let matches = command.try_get_matches_from(args)?;
        let flags = MasterFlags::from_arg_matches(&matches)?;
        flags.validate()?;
        Ok(flags)
    }

    /// Defaults suitable for tests and `mesos-local`: loopback, an ephemeral port, an in-memory
    /// registry unless a work_dir is given.
    pub fn for_local(work_dir: Option<String>) -> MasterFlags {
        let mut flags = MasterFlags::parse_from(["mesos-master"]);
        flags.port = 0;
        match work_dir {
            Some(dir) => flags.work_dir = Some(dir),
            None => flags.registry = "in_memory".to_string(),
        }
        flags
    }

    fn validate(&self) -> Result<(), FlagsError> {
        match self.registry.as_str() {
            "in_memory" => {}
            "replicated_log" if self.work_dir.is_none() => {
                return Err(FlagsError::Invalid(
                    "--work_dir is required with --registry=replicated_log".to_string(),
                ));
            }
            "replicated_log" => {}
            other => {
                return Err(FlagsError::Invalid(format!(
                    "--registry must be 'replicated_log' or 'in_memory', not '{other}'"
                )));
            }
        }
        if self.max_agent_ping_timeouts == 0 {
            return Err(FlagsError::Invalid(
                "--max_agent_ping_timeouts must be at least 1".to_string(),
            ));
        }
        Ok(())
    }

    /// Every flag as `name -> value text`, for `/master/flags` and GET_FLAGS.
    pub fn to_map(&self) -> Vec<(String, String)> {
        use mesos_core::duration::format_duration as d;
        let mut out = vec![
            ("ip".to_string(), self.ip.clone()),
            ("port".to_string(), self.port.to_string()),
            ("registry".to_string(), self.registry.clone()),
            (
                "allocation_interval".to_string(),
                d(self.allocation_interval),
            ),
            ("role_sorter".to_string(), self.role_sorter.clone()),
            (
                "framework_sorter".to_string(),
                self.framework_sorter.clone(),
            ),
            (
                "min_allocatable_resources".to_string(),
                self.min_allocatable_resources.clone(),
            ),
            (
                "max_completed_frameworks".to_string(),
                self.max_completed_frameworks.to_string(),
            ),
            (
                "max_completed_tasks_per_framework".to_string(),
                self.max_completed_tasks_per_framework.to_string(),
            ),
            (
                "max_unreachable_tasks_per_framework".to_string(),
                self.max_unreachable_tasks_per_framework.to_string(),
            ),
            ("agent_ping_timeout".to_string(), d(self.agent_ping_timeout)),
            (
                "max_agent_ping_timeouts".to_string(),
                self.max_agent_ping_timeouts.to_string(),
            ),
            (
                "agent_reregister_timeout".to_string(),
                d(self.agent_reregister_timeout),
            ),
            (
                "max_operator_event_stream_subscribers".to_string(),
                self.max_operator_event_stream_subscribers.to_string(),
            ),
            (
                "authenticate_frameworks".to_string(),
                self.authenticate_frameworks.to_string(),
            ),
            (
                "authenticate_http_frameworks".to_string(),
                self.authenticate_http_frameworks.to_string(),
            ),
            (
                "authenticate_http_readonly".to_string(),
                self.authenticate_http_readonly.to_string(),
            ),
            (
                "authenticate_http_readwrite".to_string(),
                self.authenticate_http_readwrite.to_string(),
            ),
            ("logging_level".to_string(), self.logging_level.clone()),
            (
                "hostname_lookup".to_string(),
                self.hostname_lookup.to_string(),
            ),
        ];
        let optional = [
            ("hostname", self.hostname.clone()),
            ("advertise_ip", self.advertise_ip.clone()),
            ("advertise_port", self.advertise_port.map(|p| p.to_string())),
            ("work_dir", self.work_dir.clone()),
            ("cluster", self.cluster.clone()),
            ("offer_timeout", self.offer_timeout.map(d)),
            ("weights", self.weights.clone()),
            ("roles", self.roles.clone()),
            ("zk", self.zk.clone()),
            ("quorum", self.quorum.map(|q| q.to_string())),
            ("log_dir", self.log_dir.clone()),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                out.push((name.to_string(), value));
            }
        }
        out.sort();
        out
    }
}

/// Rewrites a Mesos-style command line into one clap understands: `--no-flag` becomes
/// `--flag=false`, `MESOS_<FLAG>` variables fill flags the command line does not give, and
/// `file://` values are replaced by the file's contents (trailing newline trimmed).
pub fn expand_mesos_args<I, T>(
    command: &clap::Command,
    args: I,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<OsString>, FlagsError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let known: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect();
    let mut out: Vec<OsString> = Vec::new();
    let mut given: Vec<String> = Vec::new();
    for (i, arg) in args.into_iter().enumerate() {
        let arg: OsString = arg.into();
        let Some(text) = arg.to_str().map(str::to_string) else {
            out.push(arg);
            continue;
        };
        if i == 0 || !text.starts_with("--") {
            out.push(arg);
            continue;
        }
        let body = &text[2..];
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        if value.is_none()
            && let Some(negated) = name.strip_prefix("no-")
            && known.iter().any(|k| k == negated)
        {
            given.push(negated.to_string());
            out.push(format!("--{negated}=false").into());
            continue;
        }
        given.push(name.clone());
        match value {
            Some(v) => out.push(format!("--{name}={}", resolve_file_value(&name, &v)?).into()),
            None => out.push(arg),
        }
    }
    for (key, value) in env {
        let Some(flag) = key.strip_prefix("MESOS_") else {
            continue;
        };
        let flag = flag.to_ascii_lowercase();
        if known.contains(&flag) && !given.contains(&flag) {
            out.push(format!("--{flag}={}", resolve_file_value(&flag, &value)?).into());
        }
    }
    Ok(out)
}

fn resolve_file_value(flag: &str, value: &str) -> Result<String, FlagsError> {
    match value.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|source| FlagsError::File {
                flag: flag.to_string(),
                path: path.to_string(),
                source,
            }),
        None => Ok(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<MasterFlags, FlagsError> {
        let command = MasterFlags::command();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let args = expand_mesos_args(&command, args.iter().copied(), env)?;
        let matches = command.try_get_matches_from(args)?;
        Ok(MasterFlags::from_arg_matches(&matches)?)
    }

    #[test]
    fn defaults_match_mesos() {
        let f = parse(&["m"], &[]).unwrap();
        assert_eq!(f.port, 5050);
        assert_eq!(f.allocation_interval, Duration::from_secs(1));
        assert_eq!(f.agent_ping_timeout, Duration::from_secs(15));
        assert_eq!(f.max_agent_ping_timeouts, 5);
        assert_eq!(f.max_completed_frameworks, 50);
        assert_eq!(f.max_completed_tasks_per_framework, 1000);
        assert!(f.offer_timeout.is_none());
    }

    #[test]
    fn env_file_and_negation() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("port");
        std::fs::write(&file, "6060\n").unwrap();
        let value = format!("--port=file://{}", file.display());
        let f = parse(
            &["m", &value, "--no-hostname_lookup"],
            &[("MESOS_ALLOCATION_INTERVAL", "250ms"), ("MESOS_PORT", "1")],
        )
        .unwrap();
        assert_eq!(f.port, 6060, "the command line wins over the environment");
        assert_eq!(f.allocation_interval, Duration::from_millis(250));
        assert!(!f.hostname_lookup);
    }

    #[test]
    fn bad_values_are_named() {
        let err = parse(&["m", "--allocation_interval=soon"], &[]).unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
        let err = parse(&["m", "--port=file:///nonexistent/x"], &[]).unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");
    }
}
