//! `mesos-agent`: see `mesos-agent --help`.

fn main() -> std::process::ExitCode {
    mesos_agent::run_from_env()
}
