//! The fake executor run by the agent tests (see `common::custom_task`). It speaks the v1
//! executor API: subscribes, runs each task's command with `sh -c`, reports RUNNING and the
//! outcome, honours KILL and SHUTDOWN, and resubscribes with its unacknowledged updates when
//! the agent restarts.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use mesos_core::proto::v1::executor::{Call, Event, call, event};
use mesos_core::proto::v1::task_status::Source;
use mesos_core::proto::v1::{ExecutorId, FrameworkId, TaskId, TaskInfo, TaskState, TaskStatus};

#[derive(Default)]
struct State {
    unacked: BTreeMap<Vec<u8>, TaskStatus>,
    tasks: HashMap<String, TaskInfo>,
    pids: HashMap<String, u32>,
    killed: HashMap<String, bool>,
    terminal: HashMap<String, bool>,
}

struct Ctx {
    url: String,
    fid: String,
    eid: String,
    client: reqwest::Client,
    state: Mutex<State>,
}

impl Ctx {
    fn call(&self, ty: call::Type) -> Call {
        Call {
            executor_id: ExecutorId {
                value: self.eid.clone(),
            },
            framework_id: FrameworkId {
                value: self.fid.clone(),
            },
            r#type: Some(ty as i32),
            ..Default::default()
        }
    }

    async fn post(&self, call: &Call) -> Result<reqwest::Response, reqwest::Error> {
        self.client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .body(mesos_core::json::to_string(call))
            .send()
            .await
    }

    async fn update(&self, task: &str, state: TaskState) {
        let status = TaskStatus {
            task_id: TaskId { value: task.into() },
            state: state as i32,
            source: Some(Source::Executor as i32),
            uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
            executor_id: Some(ExecutorId {
                value: self.eid.clone(),
            }),
            ..Default::default()
        };
        {
            let mut s = self.state.lock().unwrap();
            s.unacked
                .insert(status.uuid.clone().unwrap(), status.clone());
            if matches!(
                state,
                TaskState::TaskFinished | TaskState::TaskFailed | TaskState::TaskKilled
            ) {
                s.terminal.insert(task.to_string(), true);
            }
        }
        let mut c = self.call(call::Type::Update);
        c.update = Some(call::Update { status });
        // The agent may be restarting; the update is re-sent on resubscription anyway.
        let _ = self.post(&c).await;
    }
}

fn launch(ctx: &Arc<Ctx>, task: TaskInfo) {
    let id = task.task_id.value.clone();
    let cmd = task
        .command
        .as_ref()
        .and_then(|c| c.value.clone())
        .unwrap_or_default();
    ctx.state.lock().unwrap().tasks.insert(id.clone(), task);
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let mut child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&cmd)
            .spawn()
            .expect("spawn task");
        ctx.state
            .lock()
            .unwrap()
            .pids
            .insert(id.clone(), child.id().unwrap_or(0));
        ctx.update(&id, TaskState::TaskRunning).await;
        let status = child.wait().await.expect("wait task");
        let killed = ctx.state.lock().unwrap().killed.contains_key(&id);
        let state = if killed {
            TaskState::TaskKilled
        } else if status.success() {
            TaskState::TaskFinished
        } else {
            TaskState::TaskFailed
        };
        ctx.update(&id, state).await;
    });
}

fn kill(ctx: &Ctx, task: &str) {
    let mut s = ctx.state.lock().unwrap();
    s.killed.insert(task.to_string(), true);
    if let Some(pid) = s.pids.get(task) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(*pid).unwrap()),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

fn all_done(ctx: &Ctx) -> bool {
    let s = ctx.state.lock().unwrap();
    !s.tasks.is_empty()
        && s.unacked.is_empty()
        && s.tasks.keys().all(|t| s.terminal.contains_key(t))
}

/// Runs the executor until its tasks are done and acknowledged, or it is shut down.
pub async fn run() {
    let endpoint = std::env::var("MESOS_AGENT_ENDPOINT").expect("MESOS_AGENT_ENDPOINT");
    let ctx = Arc::new(Ctx {
        url: format!("http://{endpoint}/api/v1/executor"),
        fid: std::env::var("MESOS_FRAMEWORK_ID").unwrap(),
        eid: std::env::var("MESOS_EXECUTOR_ID").unwrap(),
        client: reqwest::Client::new(),
        state: Mutex::new(State::default()),
    });
    let mut last_connected = Instant::now();
    loop {
        if last_connected.elapsed() > Duration::from_secs(30) {
            eprintln!("fake executor: agent gone for too long");
            return;
        }
        let mut c = ctx.call(call::Type::Subscribe);
        {
            let s = ctx.state.lock().unwrap();
            c.subscribe = Some(call::Subscribe {
                unacknowledged_tasks: s
                    .tasks
                    .iter()
                    .filter(|(id, _)| !s.terminal.contains_key(*id))
                    .map(|(_, t)| t.clone())
                    .collect(),
                unacknowledged_updates: s
                    .unacked
                    .values()
                    .map(|status| call::Update {
                        status: status.clone(),
                    })
                    .collect(),
            });
        }
        let response = match ctx.post(&c).await {
            Ok(r) if r.status().as_u16() == 200 => r,
            Ok(r) => {
                eprintln!("fake executor: subscribe answered {}", r.status());
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut decoder = mesos_core::recordio::Decoder::new();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { break };
            for record in decoder.decode(&chunk).unwrap_or_default() {
                let text = String::from_utf8_lossy(&record).into_owned();
                let event: Event = mesos_core::json::from_str(&text).expect("event JSON");
                match event.r#type.and_then(|t| event::Type::try_from(t).ok()) {
                    Some(event::Type::Launch) => launch(&ctx, event.launch.unwrap().task),
                    Some(event::Type::Kill) => kill(&ctx, &event.kill.unwrap().task_id.value),
                    Some(event::Type::Acknowledged) => {
                        let a = event.acknowledged.unwrap();
                        ctx.state.lock().unwrap().unacked.remove(&a.uuid);
                        if all_done(&ctx) {
                            return;
                        }
                    }
                    Some(event::Type::Shutdown) => {
                        let ids: Vec<String> =
                            ctx.state.lock().unwrap().pids.keys().cloned().collect();
                        for id in ids {
                            kill(&ctx, &id);
                        }
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        return;
                    }
                    _ => {}
                }
            }
        }
        last_connected = Instant::now();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
