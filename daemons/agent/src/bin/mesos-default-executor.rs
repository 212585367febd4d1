fn main() -> std::process::ExitCode {
    mesos_executors::default_executor::main()
}
