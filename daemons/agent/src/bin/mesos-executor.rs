fn main() -> std::process::ExitCode {
    mesos_executors::command::main()
}
