//! `mesos-local`: a master and `--num_agents` agents in one process, for development and
//! tests. It takes the master's flags plus `--num_agents`, `--resources` and `--attributes`
//! (for every agent); without `--work_dir` everything lives in a temporary directory that
//! is removed on exit. It prints where the master listens.
//!
//! The same binary is also the executors the agents launch: the agents are pointed at a
//! directory of links named `mesos-executor` and `mesos-default-executor` to this
//! executable, and `main` runs the executor its name asks for. So `cargo run --bin
//! mesos-local` needs nothing else built.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use mesos_master::MasterFlags;

#[derive(Debug, Parser)]
#[command(
    rename_all = "snake_case",
    name = "mesos-local",
    about = "A master and N agents in one process"
)]
struct LocalFlags {
    #[command(flatten)]
    master: MasterFlags,
    /// Number of agents to run.
    #[arg(long, default_value_t = 1)]
    num_agents: usize,
    /// Resources of each agent (default: detected, shared between the agents).
    #[arg(long)]
    resources: Option<String>,
    /// Attributes of each agent.
    #[arg(long)]
    attributes: Option<String>,
}

fn executor_entry() -> Option<ExitCode> {
    let argv0 = std::env::args_os().next()?;
    let name = Path::new(&argv0).file_name()?.to_str()?.to_string();
    match name.as_str() {
        "mesos-executor" => Some(mesos_executors::command::main()),
        "mesos-default-executor" => Some(mesos_executors::default_executor::main()),
        _ => None,
    }
}

/// Links `mesos-executor` and `mesos-default-executor` to this executable in `dir`.
fn link_executors(dir: &Path) -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    for name in ["mesos-executor", "mesos-default-executor"] {
        let link = bin.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&exe, &link)?;
    }
    Ok(bin)
}

fn main() -> ExitCode {
    if let Some(code) = executor_entry() {
        return code;
    }
    let command = LocalFlags::command();
    let args = match mesos_master::flags::expand_mesos_args(
        &command,
        std::env::args_os(),
        std::env::vars(),
    ) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mesos-local: {e}");
            return ExitCode::from(1);
        }
    };
    let flags = match command
        .try_get_matches_from(args)
        .and_then(|m| LocalFlags::from_arg_matches(&m))
    {
        Ok(f) => f,
        Err(e) => e.exit(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // The master in this process keeps freed memory as the mesos-master binary does.
    mesos_master::heap_retention::retain_freed_memory();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mesos-local: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(flags)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesos-local: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(mut flags: LocalFlags) -> anyhow::Result<()> {
    let temp;
    let work_dir: PathBuf = match &flags.master.work_dir {
        Some(dir) => PathBuf::from(dir),
        None => {
            temp = tempfile::Builder::new().prefix("mesos-local-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let mut master_flags = flags.master.clone();
    master_flags.work_dir = Some(work_dir.join("master").display().to_string());
    if master_flags.registry != "in_memory" {
        master_flags.registry = "replicated_log".to_string();
    }
    let master = mesos_master::start(master_flags).await?;
    let master_addr = master.addr();
    let launcher_dir = link_executors(&work_dir)?;
    let mut agents = Vec::new();
    for i in 0..flags.num_agents {
        let dir = work_dir.join("agents").join(i.to_string());
        let mut agent_flags =
            mesos_agent::AgentFlags::default_for_tests(&dir, master_addr.to_string())
                .with_launcher_dir(&launcher_dir);
        agent_flags.ip = flags.master.ip.clone();
        if let Some(r) = flags
            .resources
            .take()
            .or_else(|| default_share(flags.num_agents))
        {
            flags.resources = Some(r.clone());
            agent_flags = agent_flags.with_resources(r);
        }
        agent_flags.attributes = flags.attributes.clone();
        let agent = mesos_agent::Agent::start(agent_flags).await?;
        agents.push(agent);
    }
    for agent in &agents {
        let id = agent.agent_id().await;
        eprintln!(
            "agent {} at http://{}",
            id.unwrap_or_else(|| "(registering)".into()),
            agent.http_addr()
        );
    }
    println!("Master listening on http://{master_addr}");
    println!("Work directory: {}", work_dir.display());
    // Ctrl-C, or SIGTERM from a service manager or a script (background jobs of
    // non-interactive shells ignore SIGINT).
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = terminate.recv() => {}
    }
    eprintln!("stopping the cluster");
    for agent in agents {
        agent.shutdown().await;
    }
    master.shutdown().await;
    Ok(())
}

/// With several agents on one machine, each gets an equal share of its CPUs and memory so
/// the cluster does not report the machine N times over.
fn default_share(agents: usize) -> Option<String> {
    if agents <= 1 {
        return None;
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    Some(format!("cpus:{:.2}", (cpus / agents as f64).max(0.1)))
}
