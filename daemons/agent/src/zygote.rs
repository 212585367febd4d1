//! The agent's end of the executor zygote (`mesos_executors::zygote`): command executors are
//! forked by a warm `mesos-executor` process instead of being exec'd one by one, which halves
//! what a command task costs to start on machines where program start-up is slow.
//!
//! The zygote is started on the first command-executor launch. If it cannot be started (the
//! `mesos-executor` in `--launcher_dir` is not ours, or does not answer), launches fall back to
//! exec for the agent's life. If it dies later, executors it forked are watched by pid until
//! they end (their wait status is then unknown) and the next launch starts a new zygote.

use std::collections::HashMap;
use std::future::Future;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesos_executors::zygote::wire::{FromZygote, LaunchRequest, MAX_MESSAGE, ZYGOTE_ENV};
use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, Shutdown, SockFlag, SockType, recv, sendmsg, shutdown,
    socketpair,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

use crate::launcher::{self, LaunchError, LaunchSpec, Spawned};

/// How long a new zygote may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often executors of a lost zygote are checked for liveness.
const ORPHAN_POLL: Duration = Duration::from_millis(500);

/// Starts command executors through a zygote when one is available.
#[derive(Debug)]
pub(crate) struct Zygotes {
    program: PathBuf,
    state: tokio::sync::Mutex<State>,
}

#[derive(Debug)]
enum State {
    NotStarted,
    Running(Arc<Client>),
    /// A zygote could not be started: exec every executor.
    Unavailable,
}

impl Zygotes {
    /// Zygotes run `program` (the launcher directory's `mesos-executor`).
    pub(crate) fn new(program: PathBuf) -> Self {
        Self {
            program,
            state: tokio::sync::Mutex::new(State::NotStarted),
        }
    }

    /// Whether `command` starts the program this zygote forks (the built-in command
    /// executor); anything else is exec'd.
    pub(crate) fn serves(&self, command: &mesos_core::proto::v1::CommandInfo) -> bool {
        command.value.as_deref().map(Path::new) == Some(self.program.as_path())
    }

    /// Launches the command executor `spec` describes through the zygote, or `None` when there
    /// is no zygote and the caller should exec it.
    pub(crate) async fn launch(
        &self,
        spec: &LaunchSpec<'_>,
    ) -> Option<Result<Spawned, LaunchError>> {
        let client = self.client().await?;
        Some(client.launch(spec).await)
    }

    async fn client(&self) -> Option<Arc<Client>> {
        let mut state = self.state.lock().await;
        if let State::Running(client) = &*state {
            if !client.is_closed() {
                return Some(client.clone());
            }
            tracing::warn!("the executor zygote exited; starting another");
        }
        if matches!(*state, State::Unavailable) {
            return None;
        }
        match Client::start(&self.program).await {
            Ok(client) => {
                tracing::info!("executor zygote started from {}", self.program.display());
                *state = State::Running(client.clone());
                Some(client)
            }
            Err(error) => {
                tracing::warn!(
                    "no executor zygote ({}: {error}); executors are started one by one",
                    self.program.display()
                );
                *state = State::Unavailable;
                None
            }
        }
    }
}

impl Drop for Zygotes {
    fn drop(&mut self) {
        // The reader task holds the client too: close the socket so that it and the zygote
        // both see the end.
        if let State::Running(client) = self.state.get_mut() {
            let _ = shutdown(client.socket.get_ref().as_raw_fd(), Shutdown::Both);
        }
    }
}

/// A running zygote.
#[derive(Debug)]
struct Client {
    socket: AsyncFd<OwnedFd>,
    next_id: AtomicU64,
    table: Mutex<Table>,
}

type ExitSender = oneshot::Sender<Option<i32>>;

#[derive(Debug, Default)]
struct Table {
    /// Requests not yet answered: where the pid goes, and where the exit will go.
    launches: HashMap<u64, (oneshot::Sender<Result<u32, String>>, ExitSender)>,
    /// Running executors.
    exits: HashMap<u32, ExitSender>,
    closed: bool,
}

impl Client {
    async fn start(program: &Path) -> std::io::Result<Arc<Self>> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let mut child = tokio::process::Command::new(program)
            .arg0("mesos-executor")
            .env(ZYGOTE_ENV, "1")
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(false)
            .spawn()?;
        nix::fcntl::fcntl(
            &ours,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )?;
        // `AsyncFd::new` is deprecated because an arbitrary `T` need not own its descriptor;
        // an `OwnedFd` does, so registering it is sound.
        #[allow(deprecated)]
        let socket = AsyncFd::new(ours)?;
        let client = Arc::new(Self {
            socket,
            next_id: AtomicU64::new(1),
            table: Mutex::new(Table::default()),
        });
        let mut buf = vec![0u8; MAX_MESSAGE];
        let first = tokio::time::timeout(READY_TIMEOUT, client.receive(&mut buf)).await;
        let ready = matches!(&first, Ok(Ok(Some(FromZygote::Ready))));
        if !ready {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(std::io::Error::other(match first {
                Err(_) => "did not answer".to_string(),
                Ok(Ok(None)) => "exited without serving".to_string(),
                Ok(Ok(Some(other))) => format!("answered {other:?} before it was ready"),
                Ok(Err(e)) => e.to_string(),
            }));
        }
        // Reap the zygote whenever it ends.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        tokio::spawn(client.clone().read_loop(buf));
        Ok(client)
    }

    fn is_closed(&self) -> bool {
        self.table.lock().map_or(true, |t| t.closed)
    }

    /// The next message; `None` when the zygote's end closed.
    async fn receive(&self, buf: &mut [u8]) -> std::io::Result<Option<FromZygote>> {
        let n = self
            .socket
            .async_io(Interest::READABLE, |fd| {
                recv(fd.as_raw_fd(), buf, MsgFlags::empty()).map_err(std::io::Error::from)
            })
            .await?;
        if n == 0 {
            return Ok(None);
        }
        FromZygote::decode(&buf[..n])
            .map(Some)
            .map_err(std::io::Error::other)
    }

    async fn read_loop(self: Arc<Self>, mut buf: Vec<u8>) {
        loop {
            let message = match self.receive(&mut buf).await {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!("executor zygote: {error}");
                    break;
                }
            };
            let Ok(mut table) = self.table.lock() else {
                break;
            };
            match message {
                FromZygote::Ready => {}
                FromZygote::Launched { id, pid } => {
                    if let Some((pid_tx, exit_tx)) = table.launches.remove(&id) {
                        table.exits.insert(pid, exit_tx);
                        let _ = pid_tx.send(Ok(pid));
                    }
                }
                FromZygote::Failed { id, error } => {
                    if let Some((pid_tx, _)) = table.launches.remove(&id) {
                        let _ = pid_tx.send(Err(error));
                    }
                }
                FromZygote::Exited { pid, status } => {
                    if let Some(exit_tx) = table.exits.remove(&pid) {
                        let _ = exit_tx.send(Some(status));
                    }
                }
            }
        }
        self.close();
    }

    /// The zygote is gone: unanswered launches fail, running executors are watched by pid.
    fn close(&self) {
        let Ok(mut table) = self.table.lock() else {
            return;
        };
        table.closed = true;
        for (_, (pid_tx, _)) in table.launches.drain() {
            let _ = pid_tx.send(Err("the executor zygote exited".into()));
        }
        for (pid, exit_tx) in table.exits.drain() {
            tokio::spawn(async move {
                let pid = i32::try_from(pid).unwrap_or(0);
                while launcher::is_alive(pid) {
                    tokio::time::sleep(ORPHAN_POLL).await;
                }
                let _ = exit_tx.send(None);
            });
        }
    }

    async fn launch(&self, spec: &LaunchSpec<'_>) -> Result<Spawned, LaunchError> {
        let stdout = launcher::open_output(spec.sandbox, "stdout")?;
        let stderr = launcher::open_output(spec.sandbox, "stderr")?;
        let request = LaunchRequest {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            cwd: spec.sandbox.to_path_buf(),
            inherit_env: spec.inherit_env,
            env: spec.env.iter().map(|(k, v)| (k.into(), v.into())).collect(),
        };
        let spawn_error = |message: String| LaunchError::Spawn {
            program: "mesos-executor (zygote)".into(),
            source: std::io::Error::other(message),
        };
        let (pid_tx, pid_rx) = oneshot::channel();
        let (exit_tx, exit_rx) = oneshot::channel();
        {
            let mut table = self
                .table
                .lock()
                .map_err(|_| spawn_error("zygote state poisoned".into()))?;
            if table.closed {
                return Err(spawn_error("the executor zygote exited".into()));
            }
            table.launches.insert(request.id, (pid_tx, exit_tx));
        }
        let bytes = request.encode();
        if bytes.len() > MAX_MESSAGE {
            if let Ok(mut table) = self.table.lock() {
                table.launches.remove(&request.id);
            }
            return Err(spawn_error(format!(
                "the executor's environment takes {} bytes, more than the zygote accepts ({MAX_MESSAGE})",
                bytes.len()
            )));
        }
        let fds = [stdout.as_fd().as_raw_fd(), stderr.as_fd().as_raw_fd()];
        let sent = self
            .socket
            .async_io(Interest::WRITABLE, |fd| {
                sendmsg::<()>(
                    fd.as_raw_fd(),
                    &[IoSlice::new(&bytes)],
                    &[ControlMessage::ScmRights(&fds)],
                    MsgFlags::empty(),
                    None,
                )
                .map_err(std::io::Error::from)
            })
            .await;
        if let Err(error) = sent {
            if let Ok(mut table) = self.table.lock() {
                table.launches.remove(&request.id);
            }
            return Err(spawn_error(format!(
                "cannot reach the executor zygote: {error}"
            )));
        }
        // The zygote has its own copies now.
        drop((stdout, stderr));
        let pid = pid_rx
            .await
            .map_err(|_| spawn_error("the executor zygote exited".into()))?
            .map_err(spawn_error)?;
        let exit: Pin<Box<dyn Future<Output = Option<i32>> + Send>> =
            Box::pin(async move { exit_rx.await.ok().flatten() });
        Ok(Spawned { pid, exit })
    }
}
