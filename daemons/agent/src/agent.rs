//! Starting the agent: validate flags, recover checkpoints, bind HTTP, then run one task that
//! owns all state ([`crate::core::Core`]) and is fed [`Event`]s by the HTTP server, the master
//! link and executor watchers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesos_core::attributes::Attributes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::AgentError;
use crate::checkpoint;
use crate::core::{Core, Event};
use crate::flags::{AgentFlags, RecoverMode};
use crate::launcher::{self, Isolator, NoIsolation};
use crate::paths::Layout;

/// Binds the executors' domain socket at `path`, replacing the socket a previous agent left
/// there. A path that exists but is no socket is left alone and reported, and so is a socket a
/// live agent still answers on: taking it over would cut that agent's executors off.
fn bind_executor_socket(
    path: &std::path::Path,
) -> Result<(tokio::net::UnixListener, std::path::PathBuf), AgentError> {
    use std::os::unix::fs::FileTypeExt;
    let io = |what: String| move |source| AgentError::Io { what, source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(io(format!("create directory {}", parent.display())))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(AgentError::Flags(format!(
                    "domain socket location '{}' is already served by a running agent; give \
                     each agent its own --runtime_dir or --domain_socket_location",
                    path.display()
                )));
            }
            std::fs::remove_file(path)
                .map_err(io(format!("remove the old socket {}", path.display())))?
        }
        Ok(_) => {
            return Err(AgentError::Flags(format!(
                "domain socket location '{}' exists and is not a socket",
                path.display()
            )));
        }
        Err(_) => {}
    }
    let listener = tokio::net::UnixListener::bind(path)
        .map_err(io(format!("bind the executor socket {}", path.display())))?;
    // Executors may run as other users (the task's user); as in Mesos, anyone on the host may
    // connect, and the API itself decides what they may do.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o666)).map_err(
        io(format!("open up the executor socket {}", path.display())),
    )?;
    Ok((listener, path.to_path_buf()))
}

/// How often timers are checked.
const TICK: Duration = Duration::from_millis(200);

/// The agent (use [`Agent::start`]).
#[derive(Debug)]
pub struct Agent;

/// A running agent.
#[derive(Debug)]
pub struct AgentHandle {
    http_addr: SocketAddr,
    events: mpsc::UnboundedSender<Event>,
    agent_id: watch::Receiver<Option<String>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Agent {
    /// Starts an agent with no resource isolation.
    pub async fn start(flags: AgentFlags) -> Result<AgentHandle, AgentError> {
        Agent::start_with_isolator(flags, Arc::new(NoIsolation)).await
    }

    /// Starts an agent whose containers go through `isolator`.
    pub async fn start_with_isolator(
        mut flags: AgentFlags,
        isolator: Arc<dyn Isolator>,
    ) -> Result<AgentHandle, AgentError> {
        let work_dir = flags.work_dir()?;
        let master = flags.master_address()?;
        std::fs::create_dir_all(&work_dir).map_err(|e| AgentError::Io {
            what: format!("create work directory {}", work_dir.display()),
            source: e,
        })?;
        let layout = Layout::new(&work_dir);
        let probed = crate::detect::probe(&work_dir);
        let resources = crate::detect::agent_resources(
            flags.resources.as_deref(),
            &flags.default_role,
            probed,
        )?;
        let attributes = match flags.attributes.as_deref() {
            Some(text) => Attributes::parse(text)
                .map_err(|e| AgentError::Flags(format!("invalid --attributes: {e}")))?,
            None => Attributes::default(),
        };
        let ip: IpAddr = flags
            .ip
            .parse()
            .map_err(|_| AgentError::Flags(format!("invalid --ip '{}'", flags.ip)))?;
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, flags.port))
            .await
            .map_err(|e| AgentError::Io {
                what: format!("bind {}:{}", flags.ip, flags.port),
                source: e,
            })?;
        let executor_socket = match flags.domain_socket()? {
            Some(path) => {
                // Resolved once: every executor launch reads it again.
                flags.domain_socket_location = Some(path.display().to_string());
                Some(bind_executor_socket(&path)?)
            }
            None => None,
        };
        let local = listener.local_addr().map_err(|e| AgentError::Io {
            what: "read listener address".into(),
            source: e,
        })?;
        let advertised_ip = match &flags.advertise_ip {
            Some(text) => text
                .parse()
                .map_err(|_| AgentError::Flags(format!("invalid --advertise_ip '{text}'")))?,
            None if local.ip().is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            None => local.ip(),
        };
        let advertised =
            SocketAddr::new(advertised_ip, flags.advertise_port.unwrap_or(local.port()));
        let hostname = flags.hostname.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| advertised_ip.to_string())
        });

        let flags = Arc::new(flags);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (id_tx, id_rx) = watch::channel(None);
        let checkpointed = crate::checkpointed_resources::load(&layout.checkpointed_resources())?;
        let syncer = crate::syncer::Syncer::start(&layout.meta()).map_err(|e| AgentError::Io {
            what: format!(
                "start the checkpoint syncer for {}",
                layout.meta().display()
            ),
            source: e,
        })?;
        let mut core = Core::new(
            flags.clone(),
            layout.clone(),
            hostname,
            advertised,
            (resources, checkpointed),
            attributes,
            events_tx.clone(),
            id_tx,
            isolator,
            syncer,
        )?;
        // One cache directory per agent, so agents sharing a host never empty each other's.
        let cache_dir =
            std::path::Path::new(&flags.fetcher_cache_dir).join(format!("agent-{}", local.port()));
        match crate::fetcher_cache::FetcherCache::new(&cache_dir, flags.fetcher_cache_size) {
            Ok(cache) => core.fetcher_cache = Some(Arc::new(cache)),
            Err(e) => tracing::warn!(
                "fetcher cache at {} unavailable, URIs are fetched uncached: {e}",
                cache_dir.display()
            ),
        }

        let now = Instant::now();
        let recovered = checkpoint::recover(&layout, &core.volatile).map_err(|e| AgentError::Io {
            what: "read checkpointed state".into(),
            source: e,
        });
        match (flags.recover, recovered) {
            (_, Err(e)) if flags.strict => return Err(e),
            (_, Err(e)) => {
                tracing::error!("ignoring unreadable checkpoint: {e}");
                core.metrics.recovery_errors += 1;
            }
            (_, Ok(None)) => {}
            (RecoverMode::Reconnect, Ok(Some(state))) => {
                tracing::info!("recovering agent {}", state.agent_id);
                core.recover(state, now);
            }
            (RecoverMode::Cleanup, Ok(Some(state))) => {
                tracing::info!(
                    "--recover=cleanup: killing executors of agent {}",
                    state.agent_id
                );
                for f in state.frameworks.values() {
                    for e in f.executors.values() {
                        if let Some(pid) = e.run.as_ref().and_then(|r| r.pid)
                            && launcher::is_alive(pid)
                        {
                            launcher::destroy(pid);
                        }
                    }
                }
                let _ = std::fs::remove_file(layout.latest_agent_link());
            }
        }

        let http = crate::http::router(crate::http::HttpState {
            events: events_tx.clone(),
        });
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, http).await {
                tracing::error!("agent HTTP server failed: {e}");
            }
        });
        let mut tasks = vec![server];
        if let Some((listener, path)) = executor_socket {
            let executors = crate::http::executor_socket_router(crate::http::HttpState {
                events: events_tx.clone(),
            });
            tracing::info!("executor API also on {}", path.display());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, executors).await {
                    tracing::error!("agent executor socket server failed: {e}");
                }
            }));
        }
        tasks.push(tokio::spawn(run(core, events_rx, master)));
        tracing::info!("agent listening on {advertised}");
        Ok(AgentHandle {
            http_addr: advertised,
            events: events_tx,
            agent_id: id_rx,
            tasks,
        })
    }
}

async fn run(mut core: Core, mut events: mpsc::UnboundedReceiver<Event>, master: String) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut link: Option<AbortOnDrop> = None;
    let mut durable = core.syncer.durable();
    let mut syncer_alive = true;
    loop {
        if !core.link_started && core.recovery_deadline.is_none() {
            core.link_started = true;
            let events = core.events.clone();
            let factor = core.flags.registration_backoff_factor.get();
            link = Some(AbortOnDrop(tokio::spawn(crate::master_link::run(
                master.clone(),
                events,
                factor,
            ))));
        }
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let now = Instant::now();
                core.handle(event, now);
                // Batch whatever else is ready so one fsync covers it all.
                for _ in 0..256 {
                    match events.try_recv() {
                        Ok(event) => core.handle(event, now),
                        Err(_) => break,
                    }
                }
                core.flush();
            }
            _ = tick.tick() => {
                core.tick(Instant::now());
                core.flush();
            }
            changed = durable.changed(), if syncer_alive => {
                match changed {
                    Ok(()) => {
                        let generation = *durable.borrow_and_update();
                        core.synced(generation);
                    }
                    Err(_) => {
                        tracing::error!("the checkpoint syncer stopped; updates are sent unsynced");
                        syncer_alive = false;
                        core.synced(u64::MAX);
                    }
                }
            }
        }
        if core.stopped {
            break;
        }
    }
    drop(link);
}

/// Aborts a task when dropped, so the master link dies with the agent's task.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl AgentHandle {
    /// The address the agent's HTTP server is reachable at (as advertised).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The agent id, once the master has registered the agent; `None` if the agent stopped.
    pub async fn agent_id(&self) -> Option<String> {
        let mut rx = self.agent_id.clone();
        let result = rx.wait_for(Option::is_some).await;
        result.ok().and_then(|v| v.clone())
    }

    /// The agent id if already registered.
    pub fn agent_id_now(&self) -> Option<String> {
        self.agent_id.borrow().clone()
    }

    /// Shuts the agent down like Mesos does when the master asks: executors are told to shut
    /// down, killed after their grace period, then the agent stops.
    pub async fn shutdown(mut self) {
        let (done, wait) = oneshot::channel();
        if self
            .events
            .send(Event::Shutdown {
                kill_executors: true,
                done,
            })
            .is_ok()
        {
            let _ = wait.await;
        }
        self.abort_and_wait().await;
    }

    /// Stops the agent as if its process exited: executors keep running and are re-adopted
    /// by the next agent started on the same work directory. Dropping the handle does the same.
    pub async fn stop(mut self) {
        let (done, wait) = oneshot::channel();
        if self
            .events
            .send(Event::Shutdown {
                kill_executors: false,
                done,
            })
            .is_ok()
        {
            let _ = wait.await;
        }
        self.abort_and_wait().await;
    }

    /// Aborts the agent's tasks and waits until they are gone (so the port is free again).
    async fn abort_and_wait(&mut self) {
        let tasks: Vec<JoinHandle<()>> = self.tasks.drain(..).collect();
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    fn abort(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        self.abort();
    }
}
