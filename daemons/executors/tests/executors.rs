//! The command and default executors against a fake agent, with real processes.

use std::path::Path;
use std::time::Duration;

use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::executor::call;
use mesos_executor_sdk::ExecutorError;
use mesos_executor_sdk::testing::{FakeAgent, events};
use pb::TaskState as S;

const WAIT: Duration = Duration::from_secs(8);

type Run = tokio::task::JoinHandle<Result<(), ExecutorError>>;

struct Harness {
    agent: FakeAgent,
    run: Run,
    sandbox: tempfile::TempDir,
}

#[derive(Clone, Copy, PartialEq)]
enum Which {
    Command,
    Default,
}

/// Starts an executor against a fake agent that acknowledges every update, and subscribes it
/// for a framework with or without the TASK_KILLING_STATE capability.
async fn start(which: Which, killing_capability: bool) -> Harness {
    let mut agent = FakeAgent::start().await.unwrap();
    agent.set_auto_acknowledge(true);
    let sandbox = tempfile::tempdir().unwrap();
    let config = agent.config(sandbox.path());
    let run = tokio::spawn({
        let config = config.clone();
        async move {
            match which {
                Which::Command => mesos_executors::command::run(config).await,
                Which::Default => mesos_executors::default_executor::run(config).await,
            }
        }
    });
    let subscribe = agent.next_call(WAIT).await.expect("SUBSCRIBE");
    assert_eq!(subscribe.kind(), call::Type::Subscribe);
    let capabilities = if killing_capability {
        vec![pb::framework_info::Capability {
            r#type: Some(pb::framework_info::capability::Type::TaskKillingState as i32),
        }]
    } else {
        Vec::new()
    };
    let framework = pb::FrameworkInfo {
        user: "root".into(),
        name: "test".into(),
        capabilities,
        ..pb::FrameworkInfo::default()
    };
    assert!(agent.send_event(&events::subscribed(&config, framework)));
    Harness {
        agent,
        run,
        sandbox,
    }
}

impl Harness {
    async fn update(&mut self) -> pb::TaskStatus {
        let status = self.agent.next_update(WAIT).await.expect("an update");
        assert_eq!(status.source(), pb::task_status::Source::Executor);
        assert_eq!(status.uuid.as_ref().map(Vec::len), Some(16));
        status
    }

    /// The next `n` updates, as (task, state) pairs.
    async fn updates(&mut self, n: usize) -> Vec<(String, S)> {
        let mut out = Vec::new();
        for _ in 0..n {
            let status = self.update().await;
            out.push((status.task_id.value.clone(), status.state()));
        }
        out
    }

    async fn states(&mut self, n: usize) -> Vec<S> {
        self.updates(n).await.into_iter().map(|(_, s)| s).collect()
    }

    async fn finished(self) -> tempfile::TempDir {
        let result = tokio::time::timeout(WAIT, self.run)
            .await
            .expect("the executor exits")
            .unwrap();
        result.expect("the executor exits cleanly");
        self.sandbox
    }

    fn launch(&self, task: pb::TaskInfo) {
        assert!(self.agent.send_event(&events::launch(task)));
    }
}

/// Waits until `file` in `dir` has `lines` lines, and returns them as pids.
async fn pids(dir: &Path, file: &str, lines: usize) -> Vec<i32> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if pids.len() >= lines {
            return pids;
        }
        assert!(tokio::time::Instant::now() < deadline, "pids never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `pid` is a live process (zombies count as dead).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim().chars().next());
        !matches!(state, Some('Z' | 'X'))
    })
}

#[tokio::test]
async fn successful_command_finishes() {
    let mut h = start(Which::Command, false).await;
    h.launch(events::shell_task("t", "echo hello; exit 0"));
    assert_eq!(h.states(2).await, [S::TaskStarting, S::TaskRunning]);
    let finished = h.update().await;
    assert_eq!(finished.state(), S::TaskFinished);
    assert_eq!(
        finished.message.as_deref(),
        Some("Command exited with status 0")
    );
    assert_eq!(
        finished.executor_id.map(|e| e.value).as_deref(),
        Some("executor")
    );
    h.finished().await;
}

#[tokio::test]
async fn failing_command_fails_with_its_status() {
    let mut h = start(Which::Command, false).await;
    h.launch(events::shell_task("t", "exit 3"));
    assert_eq!(h.states(2).await, [S::TaskStarting, S::TaskRunning]);
    let failed = h.update().await;
    assert_eq!(failed.state(), S::TaskFailed);
    assert_eq!(
        failed.message.as_deref(),
        Some("Command exited with status 3")
    );
    assert_eq!(failed.reason, None);
    h.finished().await;
}

#[tokio::test]
async fn argv_command_gets_environment_and_sandbox() {
    let mut h = start(Which::Command, false).await;
    let mut task = events::shell_task("t", "");
    task.command = Some(pb::CommandInfo {
        shell: Some(false),
        value: Some("/bin/sh".into()),
        arguments: vec!["sh".into(), "-c".into(), "echo \"$0 $FOO\" > out".into()],
        environment: Some(pb::Environment {
            variables: vec![pb::environment::Variable {
                name: "FOO".into(),
                value: Some("bar".into()),
                ..pb::environment::Variable::default()
            }],
        }),
        ..pb::CommandInfo::default()
    });
    h.launch(task);
    assert_eq!(
        h.states(3).await,
        [S::TaskStarting, S::TaskRunning, S::TaskFinished]
    );
    let sandbox = h.finished().await;
    assert_eq!(
        std::fs::read_to_string(sandbox.path().join("out")).unwrap(),
        "sh bar\n"
    );
}

#[tokio::test]
async fn missing_program_fails_the_launch() {
    let mut h = start(Which::Command, false).await;
    let mut task = events::shell_task("t", "");
    task.command = Some(pb::CommandInfo {
        shell: Some(false),
        value: Some("/nonexistent/program".into()),
        ..pb::CommandInfo::default()
    });
    h.launch(task);
    assert_eq!(h.states(1).await, [S::TaskStarting]);
    let failed = h.update().await;
    assert_eq!(failed.state(), S::TaskFailed);
    assert!(failed.message.unwrap().starts_with("Failed to launch task"));
    h.finished().await;
}

#[tokio::test]
async fn kill_takes_the_whole_tree() {
    let mut h = start(Which::Command, true).await;
    // The last grandchild leaves the task's process group and session (when `setsid` exists).
    let escape = if Path::new("/usr/bin/setsid").exists() {
        "/usr/bin/setsid sleep 100 & echo $! >> pids;"
    } else {
        "sleep 100 & echo $! >> pids;"
    };
    h.launch(events::shell_task(
        "t",
        &format!("echo $$ > pids; sleep 100 & echo $! >> pids; sleep 100 & echo $! >> pids; {escape} wait"),
    ));
    assert_eq!(h.states(2).await, [S::TaskStarting, S::TaskRunning]);
    let pids = pids(h.sandbox.path(), "pids", 4).await;
    assert!(pids.iter().all(|&p| alive(p)));
    let task_id = pb::TaskId { value: "t".into() };
    assert!(h.agent.send_event(&events::kill(&task_id, None)));
    assert_eq!(h.states(1).await, [S::TaskKilling]);
    let killed = h.update().await;
    assert_eq!(killed.state(), S::TaskKilled);
    assert_eq!(
        killed.message.as_deref(),
        Some("Command terminated with signal Terminated")
    );
    for pid in pids {
        assert!(!alive(pid), "process {pid} of the task survived");
    }
    h.finished().await;
}

#[tokio::test]
async fn kill_escalates_to_sigkill_after_the_grace_period() {
    // No TASK_KILLING capability: no TASK_KILLING update.
    let mut h = start(Which::Command, false).await;
    h.launch(events::shell_task(
        "t",
        "trap '' TERM; echo $$ > pids; sleep 100 & echo $! >> pids; \
         sh -c 'sleep 100 & echo $! >> pids; wait' & wait",
    ));
    assert_eq!(h.states(2).await, [S::TaskStarting, S::TaskRunning]);
    let pids = pids(h.sandbox.path(), "pids", 3).await;
    let task_id = pb::TaskId { value: "t".into() };
    let started = std::time::Instant::now();
    assert!(
        h.agent
            .send_event(&events::kill(&task_id, Some(Duration::from_millis(300))))
    );
    let killed = h.update().await;
    assert_eq!(killed.state(), S::TaskKilled);
    assert_eq!(
        killed.message.as_deref(),
        Some("Command terminated with signal Killed")
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "SIGKILL before the grace period"
    );
    for pid in pids {
        assert!(!alive(pid), "process {pid} of the task survived");
    }
    h.finished().await;
}

#[tokio::test]
async fn shutdown_kills_the_task() {
    let mut h = start(Which::Command, false).await;
    h.launch(events::shell_task("t", "echo $$ > pids; exec sleep 100"));
    assert_eq!(h.states(2).await, [S::TaskStarting, S::TaskRunning]);
    let pids = pids(h.sandbox.path(), "pids", 1).await;
    assert!(h.agent.send_event(&events::shutdown()));
    assert_eq!(h.states(1).await, [S::TaskKilled]);
    assert!(!alive(pids[0]));
    h.finished().await;
}

#[tokio::test]
async fn second_task_is_refused() {
    let mut h = start(Which::Command, false).await;
    h.launch(events::shell_task("a", "sleep 1"));
    assert_eq!(h.states(2).await, [S::TaskStarting, S::TaskRunning]);
    h.launch(events::shell_task("b", "true"));
    let refused = h.update().await;
    assert_eq!(
        (refused.task_id.value.as_str(), refused.state()),
        ("b", S::TaskFailed)
    );
    assert_eq!(h.updates(1).await, [("a".to_owned(), S::TaskFinished)]);
    h.finished().await;
}

#[tokio::test]
async fn max_completion_time_fails_the_task() {
    let mut h = start(Which::Command, false).await;
    let mut task = events::shell_task("t", "sleep 100");
    task.max_completion_time = Some(pb::DurationInfo {
        nanoseconds: 200_000_000,
    });
    h.launch(task);
    assert_eq!(h.states(2).await, [S::TaskStarting, S::TaskRunning]);
    let failed = h.update().await;
    assert_eq!(failed.state(), S::TaskFailed);
    assert_eq!(
        failed.reason(),
        pb::task_status::Reason::MaxCompletionTimeReached
    );
    h.finished().await;
}

fn command_check(command: &str, failures: u32) -> pb::HealthCheck {
    pb::HealthCheck {
        r#type: Some(pb::health_check::Type::Command as i32),
        command: Some(pb::CommandInfo {
            value: Some(command.into()),
            ..pb::CommandInfo::default()
        }),
        delay_seconds: Some(0.0),
        interval_seconds: Some(0.1),
        timeout_seconds: Some(2.0),
        grace_period_seconds: Some(0.0),
        consecutive_failures: Some(failures),
        ..pb::HealthCheck::default()
    }
}

#[tokio::test]
async fn healthy_task_reports_health() {
    let mut h = start(Which::Command, false).await;
    let mut task = events::shell_task("t", "sleep 2");
    task.health_check = Some(command_check("true", 3));
    h.launch(task);
    assert_eq!(h.states(2).await, [S::TaskStarting, S::TaskRunning]);
    let health = h.update().await;
    assert_eq!(health.state(), S::TaskRunning);
    assert_eq!(health.healthy, Some(true));
    assert_eq!(
        health.reason(),
        pb::task_status::Reason::TaskHealthCheckStatusUpdated
    );
    let finished = h.update().await;
    assert_eq!(
        (finished.state(), finished.healthy),
        (S::TaskFinished, Some(true))
    );
    h.finished().await;
}

#[tokio::test]
async fn unhealthy_task_is_killed() {
    let mut h = start(Which::Command, false).await;
    let mut task = events::shell_task("t", "sleep 100");
    task.health_check = Some(command_check("exit 1", 2));
    h.launch(task);
    assert_eq!(h.states(2).await, [S::TaskStarting, S::TaskRunning]);
    let unhealthy = h.update().await;
    assert_eq!(
        (unhealthy.state(), unhealthy.healthy),
        (S::TaskRunning, Some(false))
    );
    let mut last = h.update().await;
    if last.state() == S::TaskRunning {
        // The failure that asks for the kill.
        assert_eq!(last.healthy, Some(false));
        last = h.update().await;
    }
    assert_eq!((last.state(), last.healthy), (S::TaskKilled, Some(false)));
    h.finished().await;
}

#[tokio::test]
async fn http_and_tcp_health_checks() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, router).await });

    for check in [
        pb::HealthCheck {
            r#type: Some(pb::health_check::Type::Http as i32),
            http: Some(pb::health_check::HttpCheckInfo {
                port: u32::from(port),
                path: Some("/health".into()),
                ..pb::health_check::HttpCheckInfo::default()
            }),
            ..command_check("", 3)
        },
        pb::HealthCheck {
            r#type: Some(pb::health_check::Type::Tcp as i32),
            tcp: Some(pb::health_check::TcpCheckInfo {
                port: u32::from(port),
                protocol: None,
            }),
            ..command_check("", 3)
        },
    ] {
        let mut h = start(Which::Command, false).await;
        let mut task = events::shell_task("t", "sleep 1");
        task.health_check = Some(pb::HealthCheck {
            command: None,
            ..check
        });
        h.launch(task);
        assert_eq!(h.states(2).await, [S::TaskStarting, S::TaskRunning]);
        let health = h.update().await;
        assert_eq!(
            (health.state(), health.healthy),
            (S::TaskRunning, Some(true))
        );
        assert_eq!(h.states(1).await, [S::TaskFinished]);
        h.finished().await;
    }
}

#[tokio::test]
async fn task_group_runs_in_task_sandboxes() {
    let mut h = start(Which::Default, false).await;
    let group = vec![
        events::shell_task(
            "a",
            "echo out-a; echo err-a >&2; echo $MESOS_SANDBOX > where",
        ),
        events::shell_task("b", "echo out-b"),
    ];
    assert!(h.agent.send_event(&events::launch_group(group)));
    let updates = h.updates(6).await;
    for task in ["a", "b"] {
        let states: Vec<S> = updates
            .iter()
            .filter(|(t, _)| t == task)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(
            states,
            [S::TaskStarting, S::TaskRunning, S::TaskFinished],
            "{task}"
        );
    }
    let sandbox = h.finished().await;
    let a = sandbox.path().join("tasks/a");
    assert_eq!(
        std::fs::read_to_string(a.join("stdout")).unwrap(),
        "out-a\n"
    );
    assert_eq!(
        std::fs::read_to_string(a.join("stderr")).unwrap(),
        "err-a\n"
    );
    assert_eq!(
        std::fs::read_to_string(a.join("where")).unwrap().trim(),
        a.to_str().unwrap()
    );
    let b = sandbox.path().join("tasks/b");
    assert_eq!(
        std::fs::read_to_string(b.join("stdout")).unwrap(),
        "out-b\n"
    );
}

#[tokio::test]
async fn failed_task_kills_its_group() {
    let mut h = start(Which::Default, false).await;
    let group = vec![
        events::shell_task("long", "echo $$ > pid; exec sleep 100"),
        events::shell_task("bad", "sleep 0.3; exit 1"),
    ];
    assert!(h.agent.send_event(&events::launch_group(group)));
    let updates = h.updates(6).await;
    let last = |task: &str| {
        updates
            .iter()
            .rev()
            .find(|(t, _)| t == task)
            .map(|(_, s)| *s)
    };
    assert_eq!(last("bad"), Some(S::TaskFailed));
    assert_eq!(last("long"), Some(S::TaskKilled));
    let sandbox = h.finished().await;
    let pid = pids(&sandbox.path().join("tasks/long"), "pid", 1).await;
    assert!(!alive(pid[0]));
}

#[tokio::test]
async fn kill_of_one_task_kills_the_group_and_launch_is_refused() {
    let mut h = start(Which::Default, true).await;
    h.launch(events::shell_task("single", "true"));
    assert_eq!(h.updates(1).await, [("single".to_owned(), S::TaskFailed)]);
    let group = vec![
        events::shell_task("x", "sleep 100"),
        events::shell_task("y", "sleep 100"),
    ];
    assert!(h.agent.send_event(&events::launch_group(group)));
    assert_eq!(h.updates(4).await.len(), 4);
    let x = pb::TaskId { value: "x".into() };
    assert!(
        h.agent
            .send_event(&events::kill(&x, Some(Duration::from_millis(500))))
    );
    let updates = h.updates(4).await;
    for task in ["x", "y"] {
        let states: Vec<S> = updates
            .iter()
            .filter(|(t, _)| t == task)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(states, [S::TaskKilling, S::TaskKilled], "{task}");
    }
    h.finished().await;
}
