//! `mesos-master`: parses Mesos's flags and runs the master until interrupted.

use std::process::ExitCode;

fn main() -> ExitCode {
    let flags = match mesos_master::MasterFlags::from_args_and_env(std::env::args_os()) {
        Ok(f) => f,
        Err(mesos_master::FlagsError::Parse(e)) => e.exit(),
        Err(e) => {
            eprintln!("mesos-master: {e}");
            return ExitCode::from(1);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Before any thread starts: see heap_retention for why a master keeps freed memory.
    mesos_master::heap_retention::retain_freed_memory();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mesos-master: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        match mesos_master::start(flags).await {
            Ok(master) => {
                eprintln!("mesos-master listening on {}", master.addr());
                let _ = tokio::signal::ctrl_c().await;
                master.shutdown().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mesos-master: {e}");
                ExitCode::from(1)
            }
        }
    })
}
