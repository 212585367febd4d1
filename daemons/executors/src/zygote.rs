//! The executor zygote: a `mesos-executor` that, instead of running one executor, forks
//! ready-made command executors for its agent.
//!
//! Why: starting a program is expensive next to forking one that is already running. On a
//! virtual machine every new glibc process spends most of its start in the dynamic loader
//! (CPU feature and cache detection traps to the hypervisor), and a Rust binary adds its
//! relocations and runtime set-up; a command task then pays that twice (the executor, then
//! `sh`). The zygote pays it once and forks each executor from a warm, single-threaded
//! process: the child sets up its sandbox, standard output and error, environment and
//! process group exactly as an exec'd executor would, and runs the same `main`.
//!
//! The agent starts the zygote with [`wire::ZYGOTE_ENV`] set and one end of a
//! `SOCK_SEQPACKET` socket pair as its standard input, and waits for [`wire::FromZygote::Ready`].
//! The zygote answers each [`wire::LaunchRequest`] with the executor's pid or an error, and
//! reports every executor's wait status when it ends (it is their parent). It exits when the
//! agent's end closes; running executors are not touched (they outlive the agent, as
//! exec'd executors do, and a restarted agent re-adopts them by pid).

pub mod wire;

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::process::ExitCode;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, send};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use self::wire::{FromZygote, LaunchRequest, MAX_MESSAGE, ZYGOTE_ENV};
use crate::runner::Mode;

/// Whether this process was started as a zygote (see the module docs).
#[must_use]
pub fn requested() -> bool {
    std::env::var_os(ZYGOTE_ENV).is_some_and(|v| v == "1")
}

/// Serves launch requests on standard input until the agent goes away.
#[must_use]
pub fn serve() -> ExitCode {
    // Standard input is the agent's socket; it is taken over here (fd 0 is reopened on
    // /dev/null in every child).
    let socket = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => fd,
        Err(error) => {
            eprintln!("mesos-executor zygote: no socket on standard input: {error}");
            return ExitCode::FAILURE;
        }
    };
    match Zygote::new(socket).and_then(|mut z| z.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mesos-executor zygote: {error}");
            ExitCode::FAILURE
        }
    }
}

struct Zygote {
    socket: OwnedFd,
    children: SignalFd,
    /// The signal mask before SIGCHLD was blocked; children get it back.
    mask: SigSet,
}

impl Zygote {
    fn new(socket: OwnedFd) -> Result<Self, Errno> {
        let mut chld = SigSet::empty();
        chld.add(Signal::SIGCHLD);
        // SIGCHLD is read from a signalfd; it must be blocked and not ignored (an inherited
        // SIG_IGN would make the kernel reap children without a status).
        // SAFETY: SIG_DFL installs no handler, so no code runs on the signal.
        unsafe {
            nix::sys::signal::signal(Signal::SIGCHLD, nix::sys::signal::SigHandler::SigDfl)?;
        }
        let mask = chld.thread_swap_mask(SigmaskHow::SIG_BLOCK)?;
        let children = SignalFd::with_flags(&chld, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Self {
            socket,
            children,
            mask,
        })
    }

    fn run(&mut self) -> Result<(), Errno> {
        // Warm what every executor would otherwise set up again: CPU feature detection and
        // the log subscriber (its writer is fd 2, which each child points at its sandbox).
        #[cfg(target_arch = "x86_64")]
        let _ = std::arch::is_x86_feature_detected!("avx2");
        crate::init_logging(false);
        self.send(&FromZygote::Ready)?;
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let (socket_ready, children_ready) = {
                let mut fds = [
                    PollFd::new(self.socket.as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.children.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(e),
                }
                let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
                (ready(&fds[0]), ready(&fds[1]))
            };
            if children_ready {
                self.reap()?;
            }
            if socket_ready {
                match self.receive(&mut buf)? {
                    None => return Ok(()),
                    Some((bytes, fds)) => self.launch(&buf[..bytes], fds)?,
                }
            }
        }
    }

    fn send(&self, message: &FromZygote) -> Result<(), Errno> {
        loop {
            match send(
                self.socket.as_raw_fd(),
                &message.encode(),
                MsgFlags::empty(),
            ) {
                Err(Errno::EINTR) => {}
                other => return other.map(drop),
            }
        }
    }

    /// One datagram and the descriptors sent with it; `None` once the agent's end closed.
    fn receive(&self, buf: &mut [u8]) -> Result<Option<(usize, Vec<OwnedFd>)>, Errno> {
        let mut space = nix::cmsg_space!([RawFd; 4]);
        let mut iov = [IoSliceMut::new(buf)];
        let message = loop {
            match recvmsg::<()>(
                self.socket.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(Errno::EINTR) => {}
                other => break other?,
            }
        };
        let mut fds = Vec::new();
        for cmsg in message.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = cmsg {
                // SAFETY: the kernel just installed these descriptors in this process for
                // this message; nothing else owns them.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        if message.bytes == 0 && fds.is_empty() {
            return Ok(None);
        }
        Ok(Some((message.bytes, fds)))
    }

    fn launch(&self, bytes: &[u8], fds: Vec<OwnedFd>) -> Result<(), Errno> {
        let request = match LaunchRequest::decode(bytes) {
            Ok(r) => r,
            Err(error) => {
                eprintln!("mesos-executor zygote: {error}");
                return match LaunchRequest::peek_id(bytes) {
                    Some(id) => self.send(&FromZygote::Failed {
                        id,
                        error: format!("malformed launch request: {error}"),
                    }),
                    // Not a request at all: nobody waits for an answer.
                    None => Ok(()),
                };
            }
        };
        let [stdout, stderr]: [OwnedFd; 2] = match fds.try_into() {
            Ok(pair) => pair,
            Err(_) => {
                return self.send(&FromZygote::Failed {
                    id: request.id,
                    error: "launch request without stdout and stderr".into(),
                });
            }
        };
        // SAFETY: the zygote is single-threaded (no runtime, no helper threads), so the
        // child starts with every lock free and may run ordinary Rust code.
        match unsafe { nix::unistd::fork() } {
            Err(e) => self.send(&FromZygote::Failed {
                id: request.id,
                error: format!("fork: {e}"),
            }),
            Ok(ForkResult::Parent { child }) => self.send(&FromZygote::Launched {
                id: request.id,
                pid: child.as_raw().unsigned_abs(),
            }),
            Ok(ForkResult::Child) => {
                let code = match self.become_executor(&request, stdout.as_fd(), stderr.as_fd()) {
                    Ok(()) => crate::executor_main(Mode::Command, "mesos-executor"),
                    Err(error) => {
                        eprintln!("mesos-executor: cannot set up the executor: {error}");
                        1
                    }
                };
                std::process::exit(i32::from(code));
            }
        }
    }

    /// In the child: everything an exec'd executor would have been given.
    fn become_executor(
        &self,
        request: &LaunchRequest,
        stdout: BorrowedFd<'_>,
        stderr: BorrowedFd<'_>,
    ) -> Result<(), Errno> {
        self.mask.thread_set_mask()?;
        nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
        let null = nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDWR,
            nix::sys::stat::Mode::empty(),
        )?;
        nix::unistd::dup2_stdin(&null)?;
        nix::unistd::dup2_stdout(stdout)?;
        nix::unistd::dup2_stderr(stderr)?;
        nix::unistd::chdir(&request.cwd)?;
        // The child is single-threaded, which is what makes changing the environment sound.
        if !request.inherit_env {
            for (name, _) in std::env::vars_os() {
                // SAFETY: no other thread exists in this process.
                unsafe { std::env::remove_var(name) };
            }
        }
        // SAFETY: as above.
        unsafe { std::env::remove_var(ZYGOTE_ENV) };
        for (name, value) in &request.env {
            if !name.is_empty() {
                // SAFETY: as above.
                unsafe { std::env::set_var(name, value) };
            }
        }
        Ok(())
    }

    /// Reports every child that ended.
    fn reap(&self) -> Result<(), Errno> {
        while let Ok(Some(_)) = self.children.read_signal() {}
        loop {
            let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
                Ok(status) => status,
            };
            let (pid, raw) = match status {
                WaitStatus::Exited(pid, code) => (pid, (code & 0xff) << 8),
                WaitStatus::Signaled(pid, signal, core) => {
                    (pid, signal as i32 | if core { 0x80 } else { 0 })
                }
                _ => continue,
            };
            self.send(&FromZygote::Exited {
                pid: pid.as_raw().unsigned_abs(),
                status: raw,
            })?;
        }
    }
}
