//! The driver against a fake agent: exact calls on the wire, event dispatch, reconnection.

use std::time::Duration;

use async_trait::async_trait;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::executor::call;
use mesos_executor_sdk::testing::{FakeAgent, RecordedCall, events};
use mesos_executor_sdk::{
    Config, ContentType, Executor, ExecutorDriver, ExecutorError, Subscribed,
};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(5);

/// What the test executor saw, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Subscribed(String),
    Launch(String),
    Group(usize),
    Kill(String, Option<i64>),
    Acknowledged(String),
    Message(Vec<u8>),
    Error(String),
    Disconnected,
    Shutdown,
}

/// Reports RUNNING on launch, answers "ping" with "pong", and reports FINISHED on kill.
struct Recorder(mpsc::UnboundedSender<Seen>);

fn status(task_id: &pb::TaskId, state: pb::TaskState) -> pb::TaskStatus {
    pb::TaskStatus {
        task_id: task_id.clone(),
        state: state as i32,
        ..pb::TaskStatus::default()
    }
}

#[async_trait]
impl Executor for Recorder {
    async fn subscribed(&mut self, _: &ExecutorDriver, info: Subscribed) {
        let _ = self.0.send(Seen::Subscribed(info.framework_info.name));
    }
    async fn launch(&mut self, driver: &ExecutorDriver, task: pb::TaskInfo) {
        let _ = self.0.send(Seen::Launch(task.task_id.value.clone()));
        driver
            .send_update(status(&task.task_id, pb::TaskState::TaskRunning))
            .await
            .expect("RUNNING accepted");
    }
    async fn launch_group(&mut self, _: &ExecutorDriver, group: pb::TaskGroupInfo) {
        let _ = self.0.send(Seen::Group(group.tasks.len()));
    }
    async fn kill(
        &mut self,
        driver: &ExecutorDriver,
        task_id: pb::TaskId,
        policy: Option<pb::KillPolicy>,
    ) {
        let grace = policy.and_then(|p| p.grace_period).map(|g| g.nanoseconds);
        let _ = self.0.send(Seen::Kill(task_id.value.clone(), grace));
        driver
            .send_update(status(&task_id, pb::TaskState::TaskKilled))
            .await
            .expect("KILLED accepted");
    }
    async fn acknowledged(&mut self, _: &ExecutorDriver, task_id: pb::TaskId, _: Vec<u8>) {
        let _ = self.0.send(Seen::Acknowledged(task_id.value));
    }
    async fn message(&mut self, driver: &ExecutorDriver, data: Vec<u8>) {
        if data == b"ping" {
            driver
                .send_message(b"pong".to_vec())
                .await
                .expect("MESSAGE accepted");
        }
        let _ = self.0.send(Seen::Message(data));
    }
    async fn error(&mut self, _: &ExecutorDriver, message: String) {
        let _ = self.0.send(Seen::Error(message));
    }
    async fn disconnected(&mut self, _: &ExecutorDriver) {
        let _ = self.0.send(Seen::Disconnected);
    }
    async fn shutdown(&mut self, _: &ExecutorDriver) {
        let _ = self.0.send(Seen::Shutdown);
    }
}

struct Harness {
    agent: FakeAgent,
    config: Config,
    seen: mpsc::UnboundedReceiver<Seen>,
    run: tokio::task::JoinHandle<Result<(), ExecutorError>>,
    driver: ExecutorDriver,
    _sandbox: tempfile::TempDir,
}

async fn start(content_type: ContentType, checkpoint: bool) -> Harness {
    harness(FakeAgent::start().await.unwrap(), content_type, checkpoint)
}

fn harness(agent: FakeAgent, content_type: ContentType, checkpoint: bool) -> Harness {
    let sandbox = tempfile::tempdir().unwrap();
    let mut config = agent.config(sandbox.path()).with_content_type(content_type);
    config.checkpoint = checkpoint;
    config.authentication_token = Some("secret".into());
    let (sender, seen) = mpsc::unbounded_channel();
    let driver = ExecutorDriver::new(config.clone()).unwrap();
    let run = tokio::spawn({
        let driver = driver.clone();
        async move { driver.run(Recorder(sender)).await }
    });
    Harness {
        agent,
        config,
        seen,
        run,
        driver,
        _sandbox: sandbox,
    }
}

impl Harness {
    async fn call(&mut self) -> RecordedCall {
        self.agent.next_call(WAIT).await.expect("a call")
    }
    async fn seen(&mut self) -> Seen {
        tokio::time::timeout(WAIT, self.seen.recv())
            .await
            .expect("a callback")
            .expect("open")
    }
    fn send(&self, event: &mesos_core::proto::v1::executor::Event) {
        assert!(self.agent.send_event(event), "no subscriber");
    }
    async fn subscribe(&mut self) -> RecordedCall {
        let call = self.call().await;
        assert_eq!(call.kind(), call::Type::Subscribe);
        let framework = pb::FrameworkInfo {
            user: "root".into(),
            name: "test-framework".into(),
            ..pb::FrameworkInfo::default()
        };
        self.send(&events::subscribed(&self.config, framework));
        assert_eq!(self.seen().await, Seen::Subscribed("test-framework".into()));
        call
    }
}

fn check_headers(call: &RecordedCall, media_type: &str) {
    assert_eq!(call.content_type, media_type);
    assert_eq!(call.accept.as_deref(), Some(media_type));
    assert_eq!(call.authorization.as_deref(), Some("Bearer secret"));
    assert_eq!(call.call.executor_id.value, "executor");
    assert_eq!(call.call.framework_id.value, "framework");
}

fn check_update(call: &RecordedCall, state: pb::TaskState) -> pb::TaskStatus {
    assert_eq!(call.kind(), call::Type::Update);
    assert_eq!(call.response_status, 202);
    let status = call.call.update.clone().expect("update").status;
    assert_eq!(status.state(), state);
    assert_eq!(
        status.uuid.as_ref().map(Vec::len),
        Some(16),
        "uuid of 16 bytes"
    );
    assert_eq!(status.source(), pb::task_status::Source::Executor);
    assert_eq!(
        status.executor_id.as_ref().map(|e| e.value.as_str()),
        Some("executor")
    );
    assert!(
        status.timestamp.is_some_and(|t| t > 1.0e9),
        "timestamp in seconds"
    );
    status
}

async fn full_session(content_type: ContentType) {
    let media_type = content_type.media_type();
    let mut h = start(content_type, false).await;
    let subscribe = h.subscribe().await;
    check_headers(&subscribe, media_type);
    assert_eq!(subscribe.response_status, 200);
    let first = subscribe.call.subscribe.expect("subscribe");
    assert!(first.unacknowledged_tasks.is_empty() && first.unacknowledged_updates.is_empty());

    let task = events::shell_task("task-1", "true");
    h.send(&events::heartbeat());
    h.send(&events::launch(task.clone()));
    assert_eq!(h.seen().await, Seen::Launch("task-1".into()));
    let running_call = h.call().await;
    check_headers(&running_call, media_type);
    let running = check_update(&running_call, pb::TaskState::TaskRunning);
    assert_eq!(h.driver.unacknowledged_updates(), vec![running.clone()]);
    // JSON writes explicit defaults (`shell: true`), so compare ids.
    let task_ids = |driver: &ExecutorDriver| -> Vec<String> {
        driver
            .unacknowledged_tasks()
            .into_iter()
            .map(|t| t.task_id.value)
            .collect()
    };
    assert_eq!(task_ids(&h.driver), ["task-1"]);

    h.send(&events::acknowledged(
        &task.task_id,
        running.uuid.clone().unwrap(),
    ));
    assert_eq!(h.seen().await, Seen::Acknowledged("task-1".into()));
    assert!(h.driver.unacknowledged_updates().is_empty());
    assert_eq!(task_ids(&h.driver), ["task-1"], "not terminal yet");

    h.send(&events::message(b"ping".to_vec()));
    let message = h.call().await;
    check_headers(&message, media_type);
    assert_eq!(message.kind(), call::Type::Message);
    assert_eq!(message.call.message.unwrap().data, b"pong");
    assert_eq!(h.seen().await, Seen::Message(b"ping".to_vec()));

    h.send(&events::kill(&task.task_id, Some(Duration::from_secs(2))));
    assert_eq!(
        h.seen().await,
        Seen::Kill("task-1".into(), Some(2_000_000_000))
    );
    let killed = check_update(&h.call().await, pb::TaskState::TaskKilled);
    assert_ne!(killed.uuid, running.uuid);
    h.send(&events::acknowledged(
        &task.task_id,
        killed.uuid.clone().unwrap(),
    ));
    assert_eq!(h.seen().await, Seen::Acknowledged("task-1".into()));
    assert!(
        h.driver.unacknowledged_tasks().is_empty(),
        "terminal update acknowledged"
    );
    assert!(h.driver.wait_acknowledged(Duration::from_millis(10)).await);

    h.send(&events::launch_group(vec![
        events::shell_task("a", "true"),
        events::shell_task("b", "true"),
    ]));
    assert_eq!(h.seen().await, Seen::Group(2));
    h.send(&events::error("boom"));
    assert_eq!(h.seen().await, Seen::Error("boom".into()));

    h.send(&events::shutdown());
    assert_eq!(h.seen().await, Seen::Shutdown);
    tokio::time::timeout(WAIT, h.run)
        .await
        .unwrap()
        .unwrap()
        .expect("run returns Ok after SHUTDOWN");
}

#[tokio::test]
async fn protobuf_session() {
    full_session(ContentType::Protobuf).await;
}

#[tokio::test]
async fn json_session() {
    full_session(ContentType::Json).await;
}

#[tokio::test]
async fn checkpointing_executor_resubscribes_with_unacknowledged_state() {
    let mut h = start(ContentType::Protobuf, true).await;
    h.subscribe().await;
    let task = events::shell_task("task-1", "sleep 1");
    h.send(&events::launch(task.clone()));
    assert_eq!(h.seen().await, Seen::Launch("task-1".into()));
    let running = check_update(&h.call().await, pb::TaskState::TaskRunning);

    // The agent restarts: the stream ends and the first SUBSCRIBE is refused while it recovers.
    h.agent.refuse_subscriptions([503]);
    h.agent.close_stream();
    assert_eq!(h.seen().await, Seen::Disconnected);
    let refused = h.call().await;
    assert_eq!(
        (refused.kind(), refused.response_status),
        (call::Type::Subscribe, 503)
    );
    let again = h.subscribe().await;
    let subscribe = again.call.subscribe.expect("subscribe");
    assert_eq!(subscribe.unacknowledged_tasks, vec![task.clone()]);
    assert_eq!(subscribe.unacknowledged_updates.len(), 1);
    assert_eq!(subscribe.unacknowledged_updates[0].status, running);

    h.send(&events::acknowledged(&task.task_id, running.uuid.unwrap()));
    assert_eq!(h.seen().await, Seen::Acknowledged("task-1".into()));
    h.send(&events::shutdown());
    assert_eq!(h.seen().await, Seen::Shutdown);
    tokio::time::timeout(WAIT, h.run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn non_checkpointing_executor_shuts_down_when_disconnected() {
    let mut h = start(ContentType::Protobuf, false).await;
    h.subscribe().await;
    h.agent.close_stream();
    assert_eq!(h.seen().await, Seen::Disconnected);
    assert_eq!(h.seen().await, Seen::Shutdown);
    let result = tokio::time::timeout(WAIT, h.run).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(ExecutorError::Disconnected { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn driver_reaches_the_agent_over_its_domain_socket() {
    let dir = tempfile::tempdir().unwrap();
    let agent = FakeAgent::start_on_socket(dir.path().join("agent.sock")).unwrap();
    let mut h = harness(agent, ContentType::Protobuf, false);
    // Nothing listens on the TCP endpoint the configuration also names.
    assert_eq!(h.config.agent_endpoint, "127.0.0.1:9");
    assert_eq!(h.config.url(), "http://localhost/slave(1)/api/v1/executor");
    h.subscribe().await;
    let task = events::shell_task("task-1", "true");
    h.send(&events::launch(task));
    assert_eq!(h.seen().await, Seen::Launch("task-1".into()));
    // The update goes over a second connection to the same socket.
    check_update(&h.call().await, pb::TaskState::TaskRunning);
    h.send(&events::shutdown());
    assert_eq!(h.seen().await, Seen::Shutdown);
    tokio::time::timeout(WAIT, h.run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn refused_subscription_is_an_error() {
    let agent = FakeAgent::start().await.unwrap();
    agent.refuse_subscriptions([403]);
    let (sender, _seen) = mpsc::unbounded_channel();
    let config = agent.config(std::env::temp_dir());
    let result = tokio::time::timeout(WAIT, mesos_executor_sdk::run(Recorder(sender), config))
        .await
        .unwrap();
    assert!(
        matches!(
            result,
            Err(ExecutorError::UnexpectedStatus {
                call: "SUBSCRIBE",
                status: 403,
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn unreachable_agent_times_out() {
    // A port with nothing listening: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let agent = FakeAgent::start().await.unwrap();
    let mut config = agent.config(std::env::temp_dir());
    config.agent_endpoint = format!("127.0.0.1:{port}");
    config.recovery_timeout = Duration::from_millis(500);
    let (sender, _seen) = mpsc::unbounded_channel();
    let result = tokio::time::timeout(WAIT, mesos_executor_sdk::run(Recorder(sender), config))
        .await
        .unwrap();
    assert!(
        matches!(result, Err(ExecutorError::RecoveryTimeout { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn stop_ends_the_run_loop() {
    let mut h = start(ContentType::Protobuf, false).await;
    h.subscribe().await;
    h.driver.stop();
    tokio::time::timeout(WAIT, h.run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn auto_acknowledgement_clears_pending_updates() {
    let mut h = start(ContentType::Json, false).await;
    h.agent.set_auto_acknowledge(true);
    h.subscribe().await;
    h.send(&events::launch(events::shell_task("t", "true")));
    assert_eq!(h.seen().await, Seen::Launch("t".into()));
    assert_eq!(h.seen().await, Seen::Acknowledged("t".into()));
    assert!(h.driver.wait_acknowledged(WAIT).await);
}
