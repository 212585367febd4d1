//! `mesos-default-executor`: placeholder until `mesos_executors::default_executor::main` exists;
//! it exits at once, so the agent reports the task group's tasks as failed.
fn main() {}
