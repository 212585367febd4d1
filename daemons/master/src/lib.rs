//! The master: keeps agents, frameworks and tasks; offers agents' free resources to
//! frameworks as the allocator decides; launches what frameworks accept; relays status
//! updates; and serves Mesos's v1 scheduler and operator APIs and the legacy endpoints.
//!
//! Layout: [`master::Master`] is the state machine (no I/O, one lock); `http` and `link`
//! translate HTTP requests and agent-link messages into its methods; `registry` persists what
//! must survive a restart; timers (allocation, pings, timeouts) live in [`MasterHandle`]'s
//! background tasks.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let flags = mesos_master::MasterFlags::for_local(None);
//! let master = mesos_master::start(flags).await?;
//! println!("master at {}", master.addr());
//! # Ok(()) }
//! ```

#[doc(hidden)]
pub mod bench_support;
pub mod codec;
pub mod flags;
pub mod heap_retention;
mod http;
mod json_out;
mod link;
mod maintenance;
pub mod master;
mod metrics;
mod model;
mod operator;
pub mod registry;
pub mod sim_agent;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use tokio::sync::{Notify, oneshot};
use tracing::info;

pub use flags::{FlagsError, MasterFlags};
pub use master::{MESOS_VERSION, Master, MasterError};

/// State shared by the HTTP handlers, the agent links and the timers.
pub(crate) struct Shared {
    master: Mutex<Master>,
    /// Wakes the allocation loop early after events that make offers worthwhile.
    allocate_soon: Notify,
}

impl Shared {
    /// Locks the master. A panic while holding the lock is a bug; the state is still used
    /// rather than taking the whole master down.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Master> {
        self.master.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running master.
pub struct MasterHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl MasterHandle {
    /// Where the master listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The master's id (a UUID, new at each start).
    pub fn id(&self) -> String {
        self.shared.lock().info.id.clone()
    }

    /// Stops serving and drops every connection.
    pub async fn shutdown(mut self) {
        let tasks: Vec<_> = self.tasks.drain(..).collect();
        self.stop();
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
        // Close every stream so clients notice.
        let mut m = self.shared.lock();
        for fw in m.frameworks.values_mut() {
            fw.conn = None;
        }
        for agent in m.agents.values_mut() {
            agent.conn = None;
        }
        m.operator_subscribers.clear();
        m.registry.close();
    }
}

impl Drop for MasterHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a master: opens the registry, binds `--ip:--port` and serves HTTP and the agent
/// link on that one port.
pub async fn start(flags: MasterFlags) -> Result<MasterHandle, MasterError> {
    let bind = format!("{}:{}", flags.ip, flags.port);
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|source| MasterError::Bind {
            addr: bind.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| MasterError::Bind {
        addr: bind.clone(),
        source,
    })?;
    let registry = match flags.registry.as_str() {
        "in_memory" => registry::Registry::in_memory()?,
        _ => registry::Registry::open(std::path::Path::new(
            flags.work_dir.as_deref().unwrap_or("."),
        ))?,
    };
    let snapshot = registry.snapshot()?;
    let master = Master::new(flags.clone(), registry, snapshot, addr)?;
    info!(id = %master.info.id, %addr, "master started");
    let shared = Arc::new(Shared {
        master: Mutex::new(master),
        allocate_soon: Notify::new(),
    });

    let grpc = tonic::service::Routes::new(mesos_agent_protocol::AgentLinkServer::new(
        link::LinkService {
            shared: shared.clone(),
        },
    ))
    .prepare()
    .into_axum_router();
    let http_routes: Router = Router::new()
        .fallback(http::dispatch)
        .with_state(shared.clone());
    let app: Router = grpc.fallback_service(http_routes);

    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = shutdown_rx.await;
            })
            .await;
    });

    let mut tasks = vec![server];
    tasks.push(tokio::spawn(allocation_loop(
        shared.clone(),
        flags.allocation_interval,
    )));
    tasks.push(tokio::spawn(ping_loop(
        shared.clone(),
        flags.agent_ping_timeout,
    )));
    Ok(MasterHandle {
        addr,
        shared,
        shutdown: Some(shutdown_tx),
        tasks,
    })
}

/// Allocates every `--allocation_interval`, and soon after events that ask for it (batched
/// over a few milliseconds so a burst of events makes one cycle).
async fn allocation_loop(shared: Arc<Shared>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shared.allocate_soon.notified() => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let mut m = shared.lock();
        m.expire_frameworks();
        m.expire_offers();
        m.expire_recovered_agents();
        m.allocate();
    }
}

async fn ping_loop(shared: Arc<Shared>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        shared.lock().ping_agents();
    }
}
