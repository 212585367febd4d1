//! End-to-end tests of the agent against a fake master, with real executor processes.

mod common;

use std::time::Duration;

use common::{FakeMaster, custom_task, eventually, framework, get_json, start_agent};
use mesos_agent_protocol::v1::agent_message::Type as AgentType;
use mesos_core::proto::v1::TaskState;

const T: Duration = Duration::from_secs(10);

/// Entry point of the fake executor: a no-op unless the agent launched this binary as one.
#[test]
fn fake_executor_main() {
    if std::env::var("FAKE_EXECUTOR").as_deref() != Ok("1") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(common::fake_executor::run());
    std::process::exit(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_succeeds_and_its_output_is_readable() {
    let work = tempfile::tempdir().unwrap();
    let master = FakeMaster::start().await;
    let agent = start_agent(work.path(), &master, 0).await;
    let aid = agent.agent_id().await.unwrap();
    let base = format!("http://{}", agent.http_addr());

    master.run_task(
        framework("fw-1", false),
        custom_task("t1", "echo hello-from-task", &aid),
    );
    let running = master.wait_update("t1", TaskState::TaskRunning, T).await;
    master.ack("fw-1", "t1", running);
    let finished = master.wait_update("t1", TaskState::TaskFinished, T).await;
    master.ack("fw-1", "t1", finished);

    // The sandbox is reachable under its virtual name.
    let path = "/frameworks/fw-1/executors/exec-t1/runs/latest/stdout";
    let data = eventually("task output", T, || async {
        let (status, v) = get_json(&format!("{base}/files/read?path={path}&offset=0")).await;
        let data = v["data"].as_str().unwrap_or("").to_string();
        (status == 200 && data.contains("hello-from-task")).then_some(data)
    })
    .await;
    assert!(data.contains("hello-from-task"));
    let (status, v) = get_json(&format!("{base}/files/read?path={path}&offset=-1")).await;
    assert_eq!(status, 200);
    assert_eq!(v["data"], "");
    assert_eq!(v["offset"].as_u64().unwrap(), data.len() as u64);
    let (status, listing) = get_json(&format!(
        "{base}/slave(1)/files/browse?path=/frameworks/fw-1/executors/exec-t1/runs/latest"
    ))
    .await;
    assert_eq!(status, 200);
    assert!(
        listing
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"].as_str().unwrap().ends_with("/stdout"))
    );

    // The executor exits once its updates are acknowledged; the task is then completed.
    master
        .wait_for("EXECUTOR_EXITED", T, |m| {
            m.r#type == Some(AgentType::ExecutorExited as i32)
        })
        .await;
    let state = eventually("completed task in /state", T, || async {
        let (_, s) = get_json(&format!("{base}/state")).await;
        let done =
            s["completed_frameworks"][0]["completed_executors"][0]["completed_tasks"][0].clone();
        (done["state"] == "TASK_FINISHED").then_some(s)
    })
    .await;
    assert_eq!(state["id"], aid.as_str());
    assert!(
        state["pid"]
            .as_str()
            .unwrap()
            .starts_with("slave(1)@127.0.0.1:")
    );
    assert_eq!(state["resources"]["cpus"], 2.0);
    assert_eq!(state["resources"]["ports"], "[31000-31100]");
    let executor = &state["completed_frameworks"][0]["completed_executors"][0];
    assert_eq!(executor["id"], "exec-t1");
    assert!(executor["directory"].as_str().unwrap().contains("/runs/"));
    let (_, metrics) = get_json(&format!("{base}/metrics/snapshot")).await;
    assert_eq!(metrics["slave/tasks_finished"], 1.0);
    assert_eq!(metrics["slave/registered"], 1.0);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_killed_tasks() {
    let work = tempfile::tempdir().unwrap();
    let master = FakeMaster::start().await;
    let agent = start_agent(work.path(), &master, 0).await;
    let aid = agent.agent_id().await.unwrap();

    master.run_task(framework("fw-2", false), custom_task("bad", "exit 3", &aid));
    master.run_task(
        framework("fw-2", false),
        custom_task("long", "sleep 30", &aid),
    );
    // One update in flight per task: FAILED follows only once RUNNING is acknowledged.
    let bad_running = master.wait_update("bad", TaskState::TaskRunning, T).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(master.count_updates("bad", TaskState::TaskFailed), 0);
    master.ack("fw-2", "bad", bad_running);
    let failed = master.wait_update("bad", TaskState::TaskFailed, T).await;
    let running = master.wait_update("long", TaskState::TaskRunning, T).await;
    master.ack("fw-2", "long", running);
    master.kill("fw-2", "long");
    let killed = master.wait_update("long", TaskState::TaskKilled, T).await;
    master.ack("fw-2", "long", killed);
    master.ack("fw-2", "bad", failed);

    // Killing an unknown task of a known framework reports it lost.
    master.kill("fw-2", "nope");
    master.wait_update("nope", TaskState::TaskLost, T).await;
    let base = format!("http://{}", agent.http_addr());
    eventually("both executors done", T, || async {
        let (_, m) = get_json(&format!("{base}/metrics/snapshot")).await;
        (m["slave/executors_terminated"] == 2.0).then_some(())
    })
    .await;
    let (_, m) = get_json(&format!("{base}/metrics/snapshot")).await;
    assert_eq!(m["slave/tasks_failed"], 1.0);
    assert_eq!(m["slave/tasks_killed"], 1.0);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_task_goes_through_mesos_executor() {
    let work = tempfile::tempdir().unwrap();
    let master = FakeMaster::start().await;
    let agent = start_agent(work.path(), &master, 0).await;
    let aid = agent.agent_id().await.unwrap();
    let base = format!("http://{}", agent.http_addr());
    master.run_task(
        framework("fw-3", false),
        common::command_task("cmd", "exit 3", &aid),
    );
    // The agent built the command executor's ExecutorInfo.
    let state = eventually("command executor", T, || async {
        let (_, s) = get_json(&format!("{base}/state")).await;
        let e = s["frameworks"][0]["executors"][0].clone();
        (!e.is_null()).then_some(e)
    })
    .await;
    assert_eq!(state["id"], "cmd");
    assert_eq!(state["source"], "cmd");
    assert_eq!(
        state["name"],
        "Command Executor (Task: cmd) (Command: sh -c 'exit 3')"
    );
    // The real command executor reports STARTING, RUNNING, then FAILED for `exit 3`; the
    // agent forwards one update at a time, each after the previous one is acknowledged.
    master
        .ack_states(
            "fw-3",
            "cmd",
            &[
                TaskState::TaskStarting,
                TaskState::TaskRunning,
                TaskState::TaskFailed,
            ],
            T,
        )
        .await;
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executors_talk_to_the_agent_over_its_domain_socket() {
    let work = tempfile::tempdir().unwrap();
    let master = FakeMaster::start().await;
    let mut flags = common::test_flags(work.path(), &master, 0, &common::launcher_dir());
    flags.http_executor_domain_sockets = true;
    let agent = mesos_agent::Agent::start(flags).await.unwrap();
    let aid = agent.agent_id().await.unwrap();
    let base = format!("http://{}", agent.http_addr());
    let socket = work.path().join("run").join("agent.sock");
    // Open to every user on the host, as Mesos makes it (tasks may run as other users).
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o666);
    let (_, flags) = get_json(&format!("{base}/flags")).await;
    assert_eq!(flags["flags"]["http_executor_domain_sockets"], "true");
    assert_eq!(
        flags["flags"]["domain_socket_location"],
        socket.display().to_string()
    );
    // A second agent pointed at the same socket refuses to start instead of taking it over.
    let other = tempfile::tempdir().unwrap();
    let mut second = common::test_flags(other.path(), &master, 0, &common::launcher_dir());
    second.http_executor_domain_sockets = true;
    second.domain_socket_location = Some(socket.display().to_string());
    let err = mesos_agent::Agent::start(second).await.unwrap_err();
    assert!(err.to_string().contains("already served"), "{err}");

    // The socket serves the executor and operator APIs only, as Mesos's does.
    let over_socket = reqwest::Client::builder()
        .unix_socket(socket.clone())
        .build()
        .unwrap();
    let refused = over_socket
        .get("http://localhost/slave(1)/state")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("/slave(1)/api/v1"));
    let health = over_socket
        .post("http://localhost/slave(1)/api/v1")
        .header("content-type", "application/json")
        .body(r#"{"type":"GET_HEALTH"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.text().await.unwrap().contains("\"healthy\":true"));

    // A command task runs to completion, its executor connected through the socket.
    master.run_task(
        framework("fw-sock", false),
        common::command_task("sock", "true", &aid),
    );
    master
        .ack_states(
            "fw-sock",
            "sock",
            &[
                TaskState::TaskStarting,
                TaskState::TaskRunning,
                TaskState::TaskFinished,
            ],
            T,
        )
        .await;
    let path = "/frameworks/fw-sock/executors/sock/runs/latest/stderr";
    let (status, log) = get_json(&format!("{base}/files/read?path={path}&offset=0")).await;
    assert_eq!(status, 200);
    let log = log["data"].as_str().unwrap_or_default().to_owned();
    assert!(
        log.contains("http://localhost/slave(1)/api/v1/executor"),
        "the executor did not use the socket: {log}"
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_are_resent_until_acknowledged() {
    let work = tempfile::tempdir().unwrap();
    let master = FakeMaster::start().await;
    let agent = start_agent(work.path(), &master, 0).await;
    let aid = agent.agent_id().await.unwrap();
    master.run_task(
        framework("fw-4", false),
        custom_task("slow", "sleep 30", &aid),
    );
    let uuid = master.wait_update("slow", TaskState::TaskRunning, T).await;
    eventually("a retry after 10s", Duration::from_secs(14), || async {
        (master.count_updates("slow", TaskState::TaskRunning) >= 2).then_some(())
    })
    .await;
    let retries = master.count_updates("slow", TaskState::TaskRunning);
    master.ack("fw-4", "slow", uuid);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        master.count_updates("slow", TaskState::TaskRunning),
        retries
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_recovers_the_running_task() {
    restart_recovers_the_running_task_over(false).await;
}

/// The same with `--http_executor_domain_sockets`: the restarted agent binds the socket again
/// (the old one is stale, not refused as a live agent's) and re-adopts the executor, which was
/// launched with `MESOS_DOMAIN_SOCKET`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_recovers_the_running_task_over_the_domain_socket() {
    restart_recovers_the_running_task_over(true).await;
}

async fn restart_recovers_the_running_task_over(domain_socket: bool) {
    let work = tempfile::tempdir().unwrap();
    let master = FakeMaster::start().await;
    let port = common::free_port();
    let start_agent = |work: &std::path::Path, master: &FakeMaster, port: u16| {
        let mut flags = common::test_flags(work, master, port, &common::launcher_dir());
        flags.http_executor_domain_sockets = domain_socket;
        async move { mesos_agent::Agent::start(flags).await.unwrap() }
    };
    let agent = start_agent(work.path(), &master, port).await;
    let aid = agent.agent_id().await.unwrap();
    master.run_task(
        framework("fw-5", true),
        custom_task("keep", "sleep 60", &aid),
    );
    let uuid = master.wait_update("keep", TaskState::TaskRunning, T).await;
    master.ack("fw-5", "keep", uuid);
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.stop().await;

    let agent = start_agent(work.path(), &master, port).await;
    assert_eq!(agent.agent_id().await.unwrap(), aid);
    let regs = master.registrations();
    assert_eq!(regs.len(), 2);
    let reg = regs[1].register.clone().unwrap();
    assert_eq!(reg.agent_info.id.unwrap().value, aid);
    let tasks: Vec<_> = reg
        .tasks
        .iter()
        .filter(|t| t.task_id.value == "keep")
        .collect();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].state, TaskState::TaskRunning as i32);
    assert_eq!(reg.executors.len(), 1);

    let base = format!("http://{}", agent.http_addr());
    let (_, state) = get_json(&format!("{base}/state")).await;
    let running: Vec<_> = state["frameworks"][0]["executors"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"] == "keep")
        .cloned()
        .collect();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0]["state"], "TASK_RUNNING");

    // The re-adopted executor re-subscribed and still obeys kills.
    eventually("executor re-subscribed", T, || async {
        let (_, m) = get_json(&format!("{base}/metrics/snapshot")).await;
        (m["slave/executors_running"] == 1.0).then_some(())
    })
    .await;
    master.kill("fw-5", "keep");
    let killed = master.wait_update("keep", TaskState::TaskKilled, T).await;
    master.ack("fw-5", "keep", killed);
    assert_eq!(master.count_updates("keep", TaskState::TaskLost), 0);
    assert_eq!(master.count_updates("keep", TaskState::TaskFailed), 0);
    agent.shutdown().await;
}

/// Executors of a framework that does not checkpoint are recorded under `--runtime_dir`, not in
/// the work_dir's checkpoint (as in Mesos), and a restarted agent still finds and kills them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_checkpointing_executors_are_recorded_in_the_runtime_dir_and_killed_on_restart() {
    let work = tempfile::tempdir().unwrap();
    let master = FakeMaster::start().await;
    let port = common::free_port();
    let agent = start_agent(work.path(), &master, port).await;
    let aid = agent.agent_id().await.unwrap();
    master.run_task(
        framework("fw-volatile", false),
        custom_task("brief", "sleep 60", &aid),
    );
    let uuid = master.wait_update("brief", TaskState::TaskRunning, T).await;
    master.ack("fw-volatile", "brief", uuid);

    // `default_for_tests` puts the runtime directory at `<work_dir>/run`.
    let agent_meta = |root: &std::path::Path| root.join("meta/slaves").join(&aid);
    let framework_meta = |root: &std::path::Path| agent_meta(root).join("frameworks/fw-volatile");
    let run = framework_meta(&work.path().join("run")).join("executors/exec-brief/runs/latest");
    assert!(
        framework_meta(&work.path().join("run"))
            .join("framework.info")
            .is_file()
    );
    assert!(!framework_meta(work.path()).exists());
    assert!(agent_meta(work.path()).join("slave.info").is_file());
    let pid: i32 = eventually("pid recorded", T, || async {
        std::fs::read_to_string(run.join("pids/forked.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    })
    .await;
    assert!(is_running(pid), "executor {pid} runs");
    agent.stop().await;
    assert!(is_running(pid), "executor {pid} outlives the agent");

    let agent = start_agent(work.path(), &master, port).await;
    assert_eq!(agent.agent_id().await.unwrap(), aid);
    eventually("executor killed", T, || async {
        (!is_running(pid)).then_some(())
    })
    .await;
    assert!(run.join("completed").exists());
    let reg = master.registrations()[1].register.clone().unwrap();
    assert!(reg.tasks.iter().all(|t| t.task_id.value != "brief"));
    agent.shutdown().await;
}

/// Alive and not a zombie.
fn is_running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string))
        })
        .is_some_and(|state| state != "Z" && state != "X")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_reject_bad_input() {
    let work = tempfile::tempdir().unwrap();
    let master = FakeMaster::start().await;
    let agent = start_agent(work.path(), &master, 0).await;
    agent.agent_id().await.unwrap();
    let base = format!("http://{}", agent.http_addr());
    let client = reqwest::Client::new();

    let r = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    let (status, v) = get_json(&format!("{base}/slave(1)/version/")).await;
    assert_eq!((status, v["version"].as_str()), (200, Some("1.11.0")));
    let r = client
        .get(format!("{base}/state?jsonp=cb"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/javascript");
    assert!(r.text().await.unwrap().starts_with("cb({"));
    let (status, flags) = get_json(&format!("{base}/flags")).await;
    assert_eq!(status, 200);
    assert_eq!(flags["flags"]["gc_delay"], "1weeks");

    assert_eq!(get_json(&format!("{base}/files/read")).await.0, 400);
    assert_eq!(
        get_json(&format!("{base}/files/read?path=/nope")).await.0,
        404
    );
    assert_eq!(
        get_json(&format!("{base}/files/read?path=/etc/passwd"))
            .await
            .0,
        404
    );
    assert_eq!(
        get_json(&format!("{base}/files/read?path=/x&offset=abc"))
            .await
            .0,
        400
    );
    assert_eq!(get_json(&format!("{base}/files/browse")).await.0, 400);
    assert_eq!(get_json(&format!("{base}/nothing/here")).await.0, 404);

    let api = format!("{base}/api/v1/executor");
    let post = |ct: Option<&'static str>, body: &'static str| {
        let mut r = client.post(&api).body(body);
        if let Some(ct) = ct {
            r = r.header("Content-Type", ct);
        }
        r.send()
    };
    assert_eq!(client.get(&api).send().await.unwrap().status(), 405);
    assert_eq!(post(None, "{}").await.unwrap().status(), 400);
    assert_eq!(post(Some("text/plain"), "{}").await.unwrap().status(), 415);
    assert_eq!(
        post(Some("application/json; charset=utf-8"), "{}")
            .await
            .unwrap()
            .status(),
        415
    );
    assert_eq!(
        post(Some("application/json"), "not json")
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        post(Some("application/x-protobuf"), "\u{1}\u{2}")
            .await
            .unwrap()
            .status(),
        400
    );
    let subscribe = r#"{"type":"SUBSCRIBE","framework_id":{"value":"f"},"executor_id":{"value":"e"},"subscribe":{}}"#;
    let r = post(Some("application/json"), subscribe).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not known"));
    let update = r#"{"type":"UPDATE","framework_id":{"value":"f"},"executor_id":{"value":"e"},"update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR"}}}"#;
    let r = post(Some("application/json"), update).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("uuid"));

    let op = format!("{base}/api/v1");
    let r = client
        .post(&op)
        .header("Content-Type", "application/json")
        .body(r#"{"type":"GET_HEALTH"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["type"], "GET_HEALTH");
    assert_eq!(v["get_health"]["healthy"], true);
    let r = client
        .post(&op)
        .header("Content-Type", "application/json")
        .body(r#"{"type":"GET_STATE"}"#)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["type"], "GET_STATE");
    let r = client
        .post(&op)
        .header("Content-Type", "application/json")
        .body(r#"{"type":"NOT_A_CALL"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client
        .post(&op)
        .header("Content-Type", "application/json")
        .header("Accept", "text/html")
        .body(r#"{"type":"GET_HEALTH"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    agent.shutdown().await;
}

#[tokio::test]
async fn start_rejects_bad_flags() {
    let work = tempfile::tempdir().unwrap();
    let mut flags = mesos_agent::AgentFlags::default_for_tests(work.path(), "zk://h:2181");
    // A ZooKeeper URL needs a znode path.
    let err = mesos_agent::Agent::start(flags.clone()).await.unwrap_err();
    assert!(err.to_string().contains("--master"), "{err}");
    flags.master = Some("no-port".into());
    let err = mesos_agent::Agent::start(flags.clone()).await.unwrap_err();
    assert!(err.to_string().contains("host:port"), "{err}");
    flags.master = Some("127.0.0.1:1".into());
    flags.resources = Some("cpus:lots".into());
    let err = mesos_agent::Agent::start(flags.clone()).await.unwrap_err();
    assert!(err.to_string().contains("--resources"), "{err}");
    flags.resources = None;
    flags.http_executor_domain_sockets = true;
    flags.domain_socket_location = Some(format!("/{}/agent.sock", "s".repeat(120)));
    let err = mesos_agent::Agent::start(flags.clone()).await.unwrap_err();
    assert!(err.to_string().contains("shorter than 108"), "{err}");
    flags.domain_socket_location = Some("systemd:mesos-agent".into());
    let err = mesos_agent::Agent::start(flags.clone()).await.unwrap_err();
    assert!(err.to_string().contains("systemd"), "{err}");
    flags.http_executor_domain_sockets = false;
    flags.work_dir = None;
    assert!(
        mesos_agent::Agent::start(flags)
            .await
            .unwrap_err()
            .to_string()
            .contains("work_dir")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_that_never_subscribes_times_out() {
    let work = tempfile::tempdir().unwrap();
    let master = FakeMaster::start().await;
    let mut flags =
        mesos_agent::AgentFlags::default_for_tests(work.path(), master.addr.to_string())
            .with_launcher_dir(common::launcher_dir());
    flags.executor_registration_timeout = "1secs".parse().unwrap();
    let agent = mesos_agent::Agent::start(flags).await.unwrap();
    let aid = agent.agent_id().await.unwrap();
    let mut task = custom_task("mute", "true", &aid);
    let executor = task.executor.as_mut().unwrap();
    executor.command = Some(mesos_core::proto::v1::CommandInfo {
        value: Some("sleep 30".into()),
        ..Default::default()
    });
    master.run_task(framework("fw-6", false), task);
    let m = master
        .wait_for("registration timeout", T, |m| {
            m.status_update.as_ref().is_some_and(|u| {
                u.status.task_id.value == "mute" && u.status.state == TaskState::TaskFailed as i32
            })
        })
        .await;
    let status = m.status_update.unwrap().status;
    assert_eq!(
        status.reason,
        Some(mesos_core::proto::v1::task_status::Reason::ExecutorRegistrationTimeout as i32)
    );
    assert_eq!(
        status.source,
        Some(mesos_core::proto::v1::task_status::Source::Agent as i32)
    );
    assert_eq!(status.uuid.as_ref().map(Vec::len), Some(16));
    master
        .wait_for("EXECUTOR_EXITED", T, |m| {
            m.r#type == Some(AgentType::ExecutorExited as i32)
        })
        .await;
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_break_reregisters_and_resends_pending_updates() {
    let work = tempfile::tempdir().unwrap();
    let master = FakeMaster::start().await;
    let agent = start_agent(work.path(), &master, 0).await;
    let aid = agent.agent_id().await.unwrap();
    master.run_task(
        framework("fw-7", false),
        custom_task("t7", "sleep 30", &aid),
    );
    master.wait_update("t7", TaskState::TaskRunning, T).await;
    assert_eq!(master.count_updates("t7", TaskState::TaskRunning), 1);
    master.drop_link();
    eventually("re-registration", T, || async {
        (master.registrations().len() == 2).then_some(())
    })
    .await;
    let reg = master.registrations()[1].register.clone().unwrap();
    assert_eq!(reg.agent_info.id.unwrap().value, aid);
    assert_eq!(reg.tasks.len(), 1);
    // The unacknowledged RUNNING update is sent again right after re-registration.
    eventually("resent update", T, || async {
        (master.count_updates("t7", TaskState::TaskRunning) == 2).then_some(())
    })
    .await;
    agent.shutdown().await;
}

/// Dynamic reservations the master checkpoints on the agent survive an agent restart: the
/// next REGISTER reports the agent's resources with them applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpointed_reservations_survive_a_restart() {
    use mesos_agent_protocol::MasterMessage;
    use mesos_agent_protocol::v1::master_message;
    use mesos_core::resources::convert::{
        ResourceFormat, resources_from_proto, resources_to_proto,
    };
    use mesos_core::resources::{Reservation, Resources, parse_flag_text};

    let work = tempfile::tempdir().unwrap();
    let master = FakeMaster::start().await;
    let port = common::free_port();
    let agent = start_agent(work.path(), &master, port).await;
    agent.agent_id().await.unwrap();
    let reserved: Resources = parse_flag_text("cpus:1;mem:256", "*")
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.reservations.push(Reservation::dynamic_to("web", None));
            r
        })
        .collect();
    let checkpoint = |set: &Resources| MasterMessage {
        r#type: Some(master_message::Type::CheckpointResources as i32),
        checkpoint_resources: Some(master_message::CheckpointResources {
            resources: resources_to_proto(set, ResourceFormat::PostReservationRefinement).unwrap(),
        }),
        ..Default::default()
    };
    // More than the agent has is refused and changes nothing.
    let too_much: Resources = parse_flag_text("cpus:64", "*")
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.reservations.push(Reservation::dynamic_to("web", None));
            r
        })
        .collect();
    master.send(checkpoint(&too_much));
    master.send(checkpoint(&reserved));
    let file = work.path().join("meta/resources/resources.info");
    eventually("checkpoint written", T, || async {
        file.exists().then_some(())
    })
    .await;
    agent.stop().await;

    let agent = start_agent(work.path(), &master, port).await;
    agent.agent_id().await.unwrap();
    let regs = master.registrations();
    let reported = resources_from_proto(
        &regs
            .last()
            .unwrap()
            .register
            .as_ref()
            .unwrap()
            .agent_info
            .resources,
    )
    .unwrap();
    let mut expected =
        parse_flag_text("cpus:1;mem:768;disk:1024;ports:[31000-31100]", "*").unwrap();
    expected += &reserved;
    assert_eq!(reported, expected);
    agent.shutdown().await;
}

/// The process whose working directory is `dir` and whose parent's is not: the executor of
/// that sandbox (its task's processes run there too, below it).
fn executor_in(dir: &str) -> Option<(i32, i32)> {
    let cwd = |pid: i32| std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| cwd(pid).is_some_and(|c| c == std::path::Path::new(dir)))
        .find_map(|pid| {
            let ppid = parent_pid(pid)?;
            (cwd(ppid).is_none_or(|c| c != std::path::Path::new(dir))).then_some((pid, ppid))
        })
}

/// The parent's pid, from `/proc/<pid>/stat` (the field after the state, which follows the
/// parenthesised command name).
fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_executors_are_forked_by_the_zygote_which_reports_their_exit() {
    let work = tempfile::tempdir().unwrap();
    let master = FakeMaster::start().await;
    let agent = start_agent(work.path(), &master, 0).await;
    let aid = agent.agent_id().await.unwrap();
    let base = format!("http://{}", agent.http_addr());
    master.run_task(
        framework("fw-z", false),
        common::command_task(
            "zz",
            "echo from-the-zygote $MESOS_EXECUTOR_ID $MESOS_EXECUTOR_SERVE_ZYGOTE.; sleep 30",
            &aid,
        ),
    );
    master
        .ack_states(
            "fw-z",
            "zz",
            &[TaskState::TaskStarting, TaskState::TaskRunning],
            T,
        )
        .await;
    let directory = eventually("executor directory", T, || async {
        let (_, s) = get_json(&format!("{base}/state")).await;
        s["frameworks"][0]["executors"][0]["directory"]
            .as_str()
            .map(str::to_string)
    })
    .await;
    let (executor, parent) =
        eventually("executor process", T, || async { executor_in(&directory) }).await;
    // Forked by the zygote (a `mesos-executor` that is this agent's child), not by the agent.
    assert_eq!(comm(executor), "mesos-executor");
    assert_eq!(comm(parent), "mesos-executor", "parent {parent}");
    assert_eq!(
        parent_pid(parent).and_then(|p| u32::try_from(p).ok()),
        Some(std::process::id())
    );
    // The child got the sandbox's stdout and the executor's environment (without the
    // zygote's own variable).
    let out = eventually("task output", T, || async {
        let text = std::fs::read_to_string(format!("{directory}/stdout")).ok()?;
        text.contains("from-the-zygote").then_some(text)
    })
    .await;
    assert_eq!(out.trim(), "from-the-zygote zz .");
    // Killing the executor: the zygote reports the signal as its wait status.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(executor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let exited = master
        .wait_for("EXECUTOR_EXITED", T, |m| {
            m.r#type == Some(AgentType::ExecutorExited as i32)
        })
        .await;
    assert_eq!(exited.executor_exited.unwrap().status, Some(9));
    let failed = master.wait_update("zz", TaskState::TaskFailed, T).await;
    master.ack("fw-z", "zz", failed);
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_without_a_zygote_when_the_launcher_cannot_be_one() {
    // A `mesos-executor` that never serves as a zygote (as Apache Mesos's would not): the
    // agent falls back to starting each executor.
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("mesos-executor");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nunset {}\nexec {} \"$@\"\n",
            mesos_executors::zygote::wire::ZYGOTE_ENV,
            env!("CARGO_BIN_EXE_mesos-executor")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let master = FakeMaster::start().await;
    let agent =
        common::start_agent_with_launcher(&work.path().join("work"), &master, 0, &bin).await;
    let aid = agent.agent_id().await.unwrap();
    for id in ["a", "b"] {
        master.run_task(
            framework("fw-nz", false),
            common::command_task(id, "exit 0", &aid),
        );
    }
    for id in ["a", "b"] {
        master
            .ack_states(
                "fw-nz",
                id,
                &[
                    TaskState::TaskStarting,
                    TaskState::TaskRunning,
                    TaskState::TaskFinished,
                ],
                T,
            )
            .await;
    }
    agent.shutdown().await;
}
