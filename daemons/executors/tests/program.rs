//! The programs' entry points (`command::main`, `default_executor::main`) as the agent runs
//! them: a separate process configured by the executor environment. The test binary runs
//! itself as that process through the `program_entry` test.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::executor::call;
use mesos_executor_sdk::testing::{FakeAgent, events};
use pb::TaskState as S;

const WAIT: Duration = Duration::from_secs(8);
const PROGRAM: &str = "MESOS_EXECUTORS_TEST_PROGRAM";

/// Runs an executor program when the test binary was started as one; passes otherwise.
#[test]
fn program_entry() {
    let code = match std::env::var(PROGRAM).as_deref() {
        Ok("command") => mesos_executors::command::main(),
        Ok("default") => mesos_executors::default_executor::main(),
        _ => return,
    };
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

fn spawn_program(kind: &str, agent: &FakeAgent, sandbox: &Path) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "program_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROGRAM, kind)
        .env("MESOS_FRAMEWORK_ID", "framework")
        .env("MESOS_EXECUTOR_ID", "executor")
        .env("MESOS_AGENT_ENDPOINT", agent.endpoint())
        .env("MESOS_DIRECTORY", sandbox)
        .env("MESOS_SANDBOX", sandbox)
        .env("MESOS_CHECKPOINT", "0")
        .env("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "2secs")
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim().chars().next());
        !matches!(state, Some('Z' | 'X'))
    })
}

#[tokio::test]
async fn command_program_runs_a_task_and_exits_zero() {
    let mut agent = FakeAgent::start().await.unwrap();
    agent.set_auto_acknowledge(true);
    let sandbox = tempfile::tempdir().unwrap();
    let config = agent.config(sandbox.path());
    let mut program = spawn_program("command", &agent, sandbox.path());

    let subscribe = agent.next_call(WAIT).await.expect("SUBSCRIBE");
    assert_eq!(subscribe.kind(), call::Type::Subscribe);
    assert_eq!(subscribe.content_type, "application/x-protobuf");
    assert!(agent.send_event(&events::subscribed(&config, pb::FrameworkInfo::default())));
    // A grandchild that leaves the task's process group and session, and outlives the task:
    // the program (a child subreaper) still kills it when the task ends.
    let escape = if Path::new("/usr/bin/setsid").exists() {
        "/usr/bin/setsid sleep 100 &"
    } else {
        "sleep 100 &"
    };
    let command = format!("{escape} echo $! > pids; exit 0");
    assert!(agent.send_event(&events::launch(events::shell_task("t", &command))));
    let mut states = Vec::new();
    for _ in 0..3 {
        states.push(agent.next_update(WAIT).await.expect("an update").state());
    }
    assert_eq!(states, [S::TaskStarting, S::TaskRunning, S::TaskFinished]);

    let status = tokio::time::timeout(WAIT, program.wait())
        .await
        .expect("the program exits")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let pids = std::fs::read_to_string(sandbox.path().join("pids")).unwrap();
    let pid: i32 = pids.trim().parse().unwrap();
    assert!(!alive(pid), "the escaped grandchild {pid} survived");
}

#[tokio::test]
async fn default_program_runs_a_group_and_shuts_down() {
    let mut agent = FakeAgent::start().await.unwrap();
    agent.set_auto_acknowledge(true);
    let sandbox = tempfile::tempdir().unwrap();
    let config = agent.config(sandbox.path());
    let mut program = spawn_program("default", &agent, sandbox.path());

    agent.next_call(WAIT).await.expect("SUBSCRIBE");
    assert!(agent.send_event(&events::subscribed(&config, pb::FrameworkInfo::default())));
    let group = vec![
        events::shell_task("a", "sleep 100"),
        events::shell_task("b", "sleep 100"),
    ];
    assert!(agent.send_event(&events::launch_group(group)));
    for _ in 0..4 {
        agent.next_update(WAIT).await.expect("STARTING or RUNNING");
    }
    assert!(agent.send_event(&events::shutdown()));
    for _ in 0..2 {
        let update = agent.next_update(WAIT).await.expect("a terminal update");
        assert_eq!(update.state(), S::TaskKilled);
    }
    let status = tokio::time::timeout(WAIT, program.wait())
        .await
        .expect("the program exits")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn program_without_environment_fails() {
    let status = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "program_entry", "--nocapture"])
        .env_clear()
        .env(PROGRAM, "command")
        .stderr(std::process::Stdio::piped())
        .output()
        .await
        .unwrap();
    assert_eq!(status.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(stderr.contains("MESOS_FRAMEWORK_ID"), "{stderr}");
}
