//! The agent's command-line flags, with Mesos's names, defaults and `MESOS_<FLAG>` environment
//! variables. Any value may be given as `file:///path`, meaning "the contents of that file".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};

use crate::duration::MesosDuration;

/// What to do with executors found on start (`--recover`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecoverMode {
    /// Re-adopt live executors of checkpointing frameworks and re-register with the same id.
    Reconnect,
    /// Kill every executor found and start as a new agent.
    Cleanup,
}

impl RecoverMode {
    fn as_str(self) -> &'static str {
        match self {
            RecoverMode::Reconnect => "reconnect",
            RecoverMode::Cleanup => "cleanup",
        }
    }
}

/// Reads `file:///path` values; any other text is returned unchanged.
pub fn resolve_text(value: &str) -> Result<String, String> {
    match value.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| format!("cannot read flag value from '{path}': {e}")),
        None => Ok(value.to_string()),
    }
}

fn parse_duration(value: &str) -> Result<MesosDuration, String> {
    MesosDuration::parse(&resolve_text(value)?).map_err(|e| e.to_string())
}

fn parse_size(value: &str) -> Result<u64, String> {
    crate::fetcher_cache::parse_bytes(&resolve_text(value)?)
}

fn parse_fraction(value: &str) -> Result<f64, String> {
    let text = resolve_text(value)?;
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0.0 and 1.0"))
    }
}

/// `sizeof(sockaddr_un.sun_path)`: a socket path must be shorter, with its terminating NUL.
pub const DOMAIN_SOCKET_MAX_PATH: usize = 108;

/// The agent's flags (`mesos-agent --help` lists them).
#[derive(Debug, Clone, Parser)]
#[command(name = "mesos-agent", version = crate::VERSION, about = "Mesos agent", rename_all = "snake_case")]
pub struct AgentFlags {
    /// May be one of: host:port, zk://host1:port1,host2:port2,.../path (the leader is read from
    /// ZooKeeper), or file:///path/to/file holding either
    #[arg(long, env = "MESOS_MASTER", value_parser = resolve_text)]
    pub master: Option<String>,

    /// Path of the agent work directory: sandboxes and checkpointed state (required)
    #[arg(long, env = "MESOS_WORK_DIR", value_parser = resolve_text)]
    pub work_dir: Option<String>,

    /// Path of the agent runtime directory: what the agent must find again after it crashes but
    /// not after a reboot (records of executors of frameworks that do not checkpoint). Default:
    /// /var/run/mesos when /var/run is writable, else /tmp/mesos/runtime
    #[arg(long, env = "MESOS_RUNTIME_DIR", value_parser = resolve_text)]
    pub runtime_dir: Option<String>,

    /// If true, the agent also serves the executor API on a unix domain socket and tells
    /// executors where it is (MESOS_DOMAIN_SOCKET), so they need no TCP connection
    #[arg(long, env = "MESOS_HTTP_EXECUTOR_DOMAIN_SOCKETS", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub http_executor_domain_sockets: bool,

    /// Path of the executors' domain socket (shorter than 108 bytes); ignored unless
    /// --http_executor_domain_sockets. Default: <runtime_dir>/agent.sock
    #[arg(long, env = "MESOS_DOMAIN_SOCKET_LOCATION", value_parser = resolve_text)]
    pub domain_socket_location: Option<String>,

    /// IP address to listen on
    #[arg(long, env = "MESOS_IP", default_value = "127.0.0.1", value_parser = resolve_text)]
    pub ip: String,

    /// Port to listen on (0 picks a free one)
    #[arg(long, env = "MESOS_PORT", default_value_t = 5051)]
    pub port: u16,

    /// The hostname the agent reports (defaults to the system hostname)
    #[arg(long, env = "MESOS_HOSTNAME", value_parser = resolve_text)]
    pub hostname: Option<String>,

    /// IP address advertised to the master and executors instead of --ip
    #[arg(long, env = "MESOS_ADVERTISE_IP", value_parser = resolve_text)]
    pub advertise_ip: Option<String>,

    /// Port advertised to the master and executors instead of --port
    #[arg(long, env = "MESOS_ADVERTISE_PORT")]
    pub advertise_port: Option<u16>,

    /// Total consumable resources, as text (`cpus:4;mem:1024`) or a JSON array of Resource
    #[arg(long, env = "MESOS_RESOURCES", value_parser = resolve_text)]
    pub resources: Option<String>,

    /// Attributes of the machine (`rack:2;zone:a`)
    #[arg(long, env = "MESOS_ATTRIBUTES", value_parser = resolve_text)]
    pub attributes: Option<String>,

    /// Role given to --resources entries without one
    #[arg(long, env = "MESOS_DEFAULT_ROLE", default_value = "*", value_parser = resolve_text)]
    pub default_role: String,

    /// How long an executor may take to subscribe before it is killed
    #[arg(long, env = "MESOS_EXECUTOR_REGISTRATION_TIMEOUT", default_value = "1mins", value_parser = parse_duration)]
    pub executor_registration_timeout: MesosDuration,

    /// How long an executor is given to shut down before it is killed
    #[arg(long, env = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", default_value = "5secs", value_parser = parse_duration)]
    pub executor_shutdown_grace_period: MesosDuration,

    /// How long to wait after an executor ends before its sandbox is deleted
    #[arg(long, env = "MESOS_GC_DELAY", default_value = "1weeks", value_parser = parse_duration)]
    pub gc_delay: MesosDuration,

    /// Whether to recover executors (reconnect) or kill them and start fresh (cleanup)
    #[arg(long, env = "MESOS_RECOVER", default_value = "reconnect", value_enum)]
    pub recover: RecoverMode,

    /// How long re-adopted executors have to re-subscribe after an agent restart
    #[arg(long, env = "MESOS_RECOVERY_TIMEOUT", default_value = "15mins", value_parser = parse_duration)]
    pub recovery_timeout: MesosDuration,

    /// How long re-adopted executors have to re-subscribe after an agent restart before they are killed
    #[arg(long, env = "MESOS_EXECUTOR_REREGISTRATION_TIMEOUT", default_value = "2secs", value_parser = parse_duration)]
    pub executor_reregistration_timeout: MesosDuration,

    /// Whether recovery errors are fatal
    #[arg(long, env = "MESOS_STRICT", default_value_t = true, action = ArgAction::Set)]
    pub strict: bool,

    /// Fork command executors from one warm `mesos-executor` (a zygote) instead of starting each anew; falls back to starting them when the launcher directory's `mesos-executor` cannot serve as one (not in Apache Mesos)
    #[arg(long, env = "MESOS_EXECUTOR_ZYGOTE", default_value_t = true, action = ArgAction::Set)]
    pub executor_zygote: bool,

    /// Directory holding `mesos-executor` and `mesos-default-executor` (default: the directory of this program)
    #[arg(long, env = "MESOS_LAUNCHER_DIR", value_parser = resolve_text)]
    pub launcher_dir: Option<String>,

    /// The first (re-)registration attempt waits a random time up to this factor, doubling each retry up to 1mins
    #[arg(long, env = "MESOS_REGISTRATION_BACKOFF_FACTOR", default_value = "1secs", value_parser = parse_duration)]
    pub registration_backoff_factor: MesosDuration,

    /// Always on: status updates of checkpointing frameworks are written to disk (kept for compatibility)
    #[arg(long, env = "MESOS_CHECKPOINT", default_value_t = true, action = ArgAction::Set)]
    pub checkpoint: bool,

    /// Where a container with its own root filesystem sees its sandbox
    #[arg(long, env = "MESOS_SANDBOX_DIRECTORY", default_value = "/mnt/mesos/sandbox", value_parser = resolve_text)]
    pub sandbox_directory: String,

    /// JSON object of environment variables for executors; when set, the agent's own environment is not inherited
    #[arg(long, env = "MESOS_EXECUTOR_ENVIRONMENT_VARIABLES", value_parser = resolve_text)]
    pub executor_environment_variables: Option<String>,

    /// Directory for cached fetcher downloads (unused: no cache yet)
    #[arg(long, env = "MESOS_FETCHER_CACHE_DIR", default_value = "/tmp/mesos/fetch", value_parser = resolve_text)]
    pub fetcher_cache_dir: String,

    /// Size of the fetcher's download cache (e.g. 2GB)
    #[arg(long, env = "MESOS_FETCHER_CACHE_SIZE", default_value = "2GB", value_parser = parse_size)]
    pub fetcher_cache_size: u64,

    /// Directory prepended to relative executor and URI paths
    #[arg(long, env = "MESOS_FRAMEWORKS_HOME", value_parser = resolve_text)]
    pub frameworks_home: Option<String>,

    /// Completed executors remembered per framework
    #[arg(
        long,
        env = "MESOS_MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK",
        default_value_t = 150
    )]
    pub max_completed_executors_per_framework: usize,

    /// Fraction of the work_dir's disk to keep free: sandboxes are collected sooner as the
    /// disk fills (kept at most gc_delay × (1 − headroom − usage))
    #[arg(long, env = "MESOS_GC_DISK_HEADROOM", default_value_t = 0.1, value_parser = parse_fraction)]
    pub gc_disk_headroom: f64,

    /// How often the agent checks disk usage for sandbox garbage collection
    #[arg(long, env = "MESOS_DISK_WATCH_INTERVAL", default_value = "1mins", value_parser = parse_duration)]
    pub disk_watch_interval: MesosDuration,

    /// Send executors a HEARTBEAT this often
    #[arg(long, env = "MESOS_HTTP_HEARTBEAT_INTERVAL", default_value = "30mins", value_parser = parse_duration)]
    pub http_heartbeat_interval: MesosDuration,
}

impl AgentFlags {
    /// Flags for tests and embedding: listen on 127.0.0.1 with an ephemeral port, use
    /// `work_dir`, register with `master` (host:port), short timeouts elsewhere left at Mesos
    /// defaults.
    pub fn default_for_tests(work_dir: impl AsRef<Path>, master: impl Into<String>) -> Self {
        let mut flags = AgentFlags::parse_from(["mesos-agent"]);
        flags.work_dir = Some(work_dir.as_ref().display().to_string());
        flags.fetcher_cache_dir = work_dir.as_ref().join("fetch").display().to_string();
        flags.runtime_dir = Some(work_dir.as_ref().join("run").display().to_string());
        flags.master = Some(master.into());
        flags.port = 0;
        flags.registration_backoff_factor = MesosDuration(Duration::from_millis(100));
        flags
    }

    /// Sets `--launcher_dir`.
    pub fn with_launcher_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.launcher_dir = Some(dir.as_ref().display().to_string());
        self
    }

    /// Sets `--resources`.
    pub fn with_resources(mut self, text: impl Into<String>) -> Self {
        self.resources = Some(text.into());
        self
    }

    /// Sets `--port`.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The work directory, or an error naming the missing flag.
    pub fn work_dir(&self) -> Result<PathBuf, crate::AgentError> {
        match &self.work_dir {
            Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
            _ => Err(crate::AgentError::Flags(
                "flag 'work_dir' is required (for example --work_dir=/var/lib/mesos)".into(),
            )),
        }
    }

    /// `--runtime_dir`, or Mesos's default for it: `/var/run/mesos` when `/var/run` is
    /// writable, else `<tmp>/mesos/runtime`.
    pub fn runtime_dir(&self) -> PathBuf {
        if let Some(dir) = self.runtime_dir.as_deref().filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let var_run = Path::new("/var/run");
        if nix::unistd::access(
            var_run,
            nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK,
        )
        .is_ok()
        {
            var_run.join("mesos")
        } else {
            std::env::temp_dir().join("mesos").join("runtime")
        }
    }

    /// Where the executors' domain socket goes when `--http_executor_domain_sockets` is on:
    /// `--domain_socket_location`, else `<runtime_dir>/agent.sock`. `None` when it is off.
    ///
    /// # Errors
    ///
    /// A path of 108 bytes or more (the limit of `sockaddr_un`), and the `systemd:<name>` form,
    /// which needs socket activation this agent does not do.
    pub fn domain_socket(&self) -> Result<Option<PathBuf>, crate::AgentError> {
        if !self.http_executor_domain_sockets {
            return Ok(None);
        }
        let path = match self
            .domain_socket_location
            .as_deref()
            .filter(|l| !l.is_empty())
        {
            Some(location) if location.starts_with("systemd:") => {
                return Err(crate::AgentError::Flags(format!(
                    "--domain_socket_location '{location}': systemd socket activation is not supported; give a path"
                )));
            }
            Some(location) => PathBuf::from(location),
            None => self.runtime_dir().join("agent.sock"),
        };
        // Executors resolve the path from their sandboxes, not from the agent's directory.
        let path = std::path::absolute(&path).map_err(|e| {
            crate::AgentError::Flags(format!("domain socket location '{}': {e}", path.display()))
        })?;
        if path.as_os_str().len() >= DOMAIN_SOCKET_MAX_PATH {
            return Err(crate::AgentError::Flags(format!(
                "domain socket location '{}' is {} bytes long; it must be shorter than {DOMAIN_SOCKET_MAX_PATH}",
                path.display(),
                path.as_os_str().len()
            )));
        }
        Ok(Some(path))
    }

    /// The master's `host:port`, or an error for missing and unsupported forms.
    pub fn master_address(&self) -> Result<String, crate::AgentError> {
        let master = self.master.as_deref().unwrap_or("").trim();
        if master.is_empty() {
            return Err(crate::AgentError::Flags(
                "flag 'master' is required (host:port)".into(),
            ));
        }
        if master.starts_with("zk://") {
            // The leader is looked up in ZooKeeper before every connection attempt.
            mesos_scheduler_sdk::detector::ZkUrl::parse(master)
                .map_err(|e| crate::AgentError::Flags(format!("--master: {e}")))?;
            return Ok(master.to_string());
        }
        let stripped = master
            .strip_prefix("http://")
            .unwrap_or(master)
            .trim_end_matches('/');
        let stripped = stripped.strip_prefix("master@").unwrap_or(stripped);
        if !stripped.contains(':') {
            return Err(crate::AgentError::Flags(format!(
                "--master={master}: expected host:port"
            )));
        }
        Ok(stripped.to_string())
    }

    /// The directory holding the executor binaries.
    pub fn launcher_dir(&self) -> PathBuf {
        match &self.launcher_dir {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| PathBuf::from(".")),
        }
    }

    /// Every flag as Mesos shows it in `/flags` and `/state`.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        if let Some(v) = &self.master {
            put("master", v.clone());
        }
        if let Some(v) = &self.work_dir {
            put("work_dir", v.clone());
        }
        put("ip", self.ip.clone());
        put("port", self.port.to_string());
        if let Some(v) = &self.hostname {
            put("hostname", v.clone());
        }
        if let Some(v) = &self.advertise_ip {
            put("advertise_ip", v.clone());
        }
        if let Some(v) = self.advertise_port {
            put("advertise_port", v.to_string());
        }
        if let Some(v) = &self.resources {
            put("resources", v.clone());
        }
        if let Some(v) = &self.attributes {
            put("attributes", v.clone());
        }
        put("default_role", self.default_role.clone());
        put(
            "executor_registration_timeout",
            self.executor_registration_timeout.to_string(),
        );
        put(
            "executor_shutdown_grace_period",
            self.executor_shutdown_grace_period.to_string(),
        );
        put("gc_delay", self.gc_delay.to_string());
        put("recover", self.recover.as_str().to_string());
        put("recovery_timeout", self.recovery_timeout.to_string());
        put(
            "executor_reregistration_timeout",
            self.executor_reregistration_timeout.to_string(),
        );
        put("strict", self.strict.to_string());
        put("executor_zygote", self.executor_zygote.to_string());
        put("launcher_dir", self.launcher_dir().display().to_string());
        put(
            "registration_backoff_factor",
            self.registration_backoff_factor.to_string(),
        );
        put("checkpoint", self.checkpoint.to_string());
        put("sandbox_directory", self.sandbox_directory.clone());
        if let Some(v) = &self.executor_environment_variables {
            put("executor_environment_variables", v.clone());
        }
        put("fetcher_cache_dir", self.fetcher_cache_dir.clone());
        put("runtime_dir", self.runtime_dir().display().to_string());
        put(
            "http_executor_domain_sockets",
            self.http_executor_domain_sockets.to_string(),
        );
        if let Ok(Some(path)) = self.domain_socket() {
            put("domain_socket_location", path.display().to_string());
        }
        put(
            "fetcher_cache_size",
            format!("{}B", self.fetcher_cache_size),
        );
        if let Some(v) = &self.frameworks_home {
            put("frameworks_home", v.clone());
        }
        put(
            "max_completed_executors_per_framework",
            self.max_completed_executors_per_framework.to_string(),
        );
        put("disk_watch_interval", self.disk_watch_interval.to_string());
        put("gc_disk_headroom", format!("{:.6}", self.gc_disk_headroom));
        put(
            "http_heartbeat_interval",
            self.http_heartbeat_interval.to_string(),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_socket_flags() {
        let base = ["mesos-agent", "--work_dir=/tmp/x", "--runtime_dir=/run/m"];
        let off = AgentFlags::parse_from(base);
        assert_eq!(off.domain_socket().unwrap(), None);
        // Bare, as Mesos's boolean flags may be given.
        let bare = AgentFlags::parse_from(
            base.iter()
                .copied()
                .chain(["--http_executor_domain_sockets"]),
        );
        assert_eq!(
            bare.domain_socket().unwrap(),
            Some(PathBuf::from("/run/m/agent.sock"))
        );
        let explicit = AgentFlags::parse_from(base.iter().copied().chain([
            "--http_executor_domain_sockets=true",
            "--domain_socket_location=relative/agent.sock",
        ]));
        // Made absolute: executors resolve it from their sandboxes.
        assert_eq!(
            explicit.domain_socket().unwrap(),
            Some(std::env::current_dir().unwrap().join("relative/agent.sock"))
        );
    }

    #[test]
    fn defaults_match_mesos() {
        let f = AgentFlags::parse_from(["mesos-agent", "--work_dir=/tmp/x", "--master=h:5050"]);
        assert_eq!(f.port, 5051);
        assert_eq!(f.executor_registration_timeout.to_string(), "1mins");
        assert_eq!(f.executor_shutdown_grace_period.to_string(), "5secs");
        assert_eq!(f.gc_delay.to_string(), "1weeks");
        assert_eq!(f.recover, RecoverMode::Reconnect);
        assert!(f.strict);
        assert_eq!(f.master_address().unwrap(), "h:5050");
    }

    #[test]
    fn takes_zk_masters_and_rejects_a_missing_work_dir() {
        let f = AgentFlags::parse_from(["mesos-agent", "--master=zk://a:2181,b:2181/mesos"]);
        assert_eq!(f.master_address().unwrap(), "zk://a:2181,b:2181/mesos");
        let f = AgentFlags::parse_from(["mesos-agent", "--master=zk://a:2181"]);
        assert!(
            f.master_address()
                .unwrap_err()
                .to_string()
                .contains("--master")
        );
        assert!(f.work_dir().unwrap_err().to_string().contains("work_dir"));
        let f = AgentFlags::try_parse_from(["mesos-agent", "--strict=false", "--recover=cleanup"])
            .unwrap();
        assert!(!f.strict);
        assert_eq!(f.recover, RecoverMode::Cleanup);
        assert!(f.executor_zygote);
        let f = AgentFlags::try_parse_from(["mesos-agent", "--executor_zygote=false"]).unwrap();
        assert!(!f.executor_zygote);
        assert!(AgentFlags::try_parse_from(["mesos-agent", "--gc_delay=3"]).is_err());
    }

    #[test]
    fn file_values() {
        let dir = std::env::temp_dir().join(format!("agent-flags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("master");
        std::fs::write(&file, "10.0.0.1:5050\n").unwrap();
        let arg = format!("--master=file://{}", file.display());
        let f = AgentFlags::parse_from(["mesos-agent", arg.as_str()]);
        assert_eq!(f.master.as_deref(), Some("10.0.0.1:5050"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
