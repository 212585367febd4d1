//! Master benchmarks over real HTTP on loopback, each reported next to a baseline measured
//! in the same run:
//!
//! - `GET /master/state` at 10,000 agents, 100,000 running and 100,000 completed tasks,
//!   next to serialising the same JSON document with serde_json alone;
//! - `/health` p90 while two clients keep `/master/state` busy, next to `/health` idle;
//! - reconciling 100,000 unknown tasks (one RECONCILE call, until the last UPDATE arrives),
//!   next to encoding and decoding the same 100,000 events without a master;
//! - re-registering 10,000 agents (100,000 running tasks) over real agent links with a
//!   master restarted on the previous master's registry, next to applying the same REGISTER
//!   messages in-process to a master with no network and no registry.
//!
//! `cargo bench -p mesos-benches --bench master` runs the full sizes;
//! `-- --test` runs a small cluster once, as a smoke test.

use std::time::{Duration, Instant};

use futures::StreamExt;
use mesos_agent_protocol::AgentMessage;
use mesos_agent_protocol::v1::agent_message;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::scheduler as spb;
use mesos_master::bench_support::{
    ClusterShape, agent_registrations, bench_flags, populated_master, populated_master_in,
};
use mesos_master::sim_agent::SimAgent;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let last = samples.len() - 1;
    // Nearest-rank index; `p` is in [0, 1].
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = ((last as f64) * p).round() as usize;
    samples[i.min(last)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn state_bench(shape: ClusterShape, runs: usize) {
    let setup = Instant::now();
    let master = populated_master(shape).await.expect("master");
    let url = format!("http://{}/master/state", master.addr());
    println!(
        "master/state: {} agents, {} running, {} completed tasks (setup {:.1} s)",
        shape.agents,
        shape.agents * shape.running_per_agent,
        shape.frameworks * shape.completed_per_framework,
        setup.elapsed().as_secs_f64()
    );
    let client = reqwest::Client::new();
    let mut samples = Vec::new();
    let mut body = bytes::Bytes::new();
    for _ in 0..runs {
        let t = Instant::now();
        body = client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        samples.push(t.elapsed());
    }
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut baseline = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = serde_json::to_vec(&value).unwrap();
        std::hint::black_box(out);
        baseline.push(t.elapsed());
    }
    // The transfer floor: the same bytes served by a bare axum handler to the same client.
    let transfer = transfer_floor(&client, body.clone(), runs).await;
    let median = percentile(&mut samples, 0.5);
    let base = percentile(&mut baseline, 0.5);
    println!(
        "  GET /master/state median {:.1} ms ({} MB); serde_json alone {:.1} ms (ratio {:.2}x); \
         the same bytes from a bare HTTP handler {:.1} ms (ratio {:.2}x)",
        ms(median),
        body.len() / 1_000_000,
        ms(base),
        median.as_secs_f64() / base.as_secs_f64(),
        ms(transfer),
        median.as_secs_f64() / transfer.as_secs_f64(),
    );

    // /health while /master/state is under load.
    let health = format!("http://{}/health", master.addr());
    let mut idle = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        client
            .get(&health)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        idle.push(t.elapsed());
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut loaders = Vec::new();
    for _ in 0..2 {
        let (c, u, s) = (client.clone(), url.clone(), stop.clone());
        loaders.push(tokio::spawn(async move {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = c.get(&u).send().await.unwrap().bytes().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut loaded = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        client
            .get(&health)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        loaded.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in loaders {
        let _ = l.await;
    }
    println!(
        "  /health p90 under /master/state load {:.2} ms; idle p90 {:.2} ms",
        ms(percentile(&mut loaded, 0.9)),
        ms(percentile(&mut idle, 0.9))
    );
    master.shutdown().await;
}

async fn reconcile_bench(tasks: usize) {
    let master = populated_master(ClusterShape {
        agents: 1,
        frameworks: 1,
        running_per_agent: 0,
        completed_per_framework: 0,
    })
    .await
    .unwrap();
    let base = format!("http://{}/api/v1/scheduler", master.addr());
    let client = reqwest::Client::new();
    let subscribe = spb::Call {
        r#type: Some(spb::call::Type::Subscribe as i32),
        subscribe: Some(spb::call::Subscribe {
            framework_info: pb::FrameworkInfo {
                user: "bench".into(),
                name: "reconcile".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let response = client
        .post(&base)
        .header("Content-Type", "application/x-protobuf")
        .header("Accept", "application/x-protobuf")
        .body(prost::Message::encode_to_vec(&subscribe))
        .send()
        .await
        .unwrap();
    let stream_id = response.headers()["Mesos-Stream-Id"]
        .to_str()
        .unwrap()
        .to_string();
    let mut stream = response.bytes_stream();
    let mut decoder = mesos_core::recordio::Decoder::new();
    let first = decoder
        .decode(&stream.next().await.unwrap().unwrap())
        .unwrap();
    let subscribed: spb::Event = prost::Message::decode(first[0].as_slice()).unwrap();
    let framework_id = subscribed.subscribed.unwrap().framework_id;
    let call = spb::Call {
        framework_id: Some(framework_id),
        r#type: Some(spb::call::Type::Reconcile as i32),
        reconcile: Some(spb::call::Reconcile {
            tasks: (0..tasks)
                .map(|i| spb::call::reconcile::Task {
                    task_id: pb::TaskId {
                        value: format!("unknown-{i}"),
                    },
                    agent_id: None,
                })
                .collect(),
        }),
        ..Default::default()
    };
    let body = prost::Message::encode_to_vec(&call);
    let t = Instant::now();
    let r = client
        .post(&base)
        .header("Content-Type", "application/x-protobuf")
        .header("Mesos-Stream-Id", stream_id)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut updates = 0usize;
    while updates < tasks {
        let chunk = stream.next().await.unwrap().unwrap();
        decoder
            .decode_with(&chunk, |record| {
                let e: spb::Event = prost::Message::decode(record).unwrap();
                if e.r#type() == spb::event::Type::Update {
                    updates += 1;
                }
            })
            .unwrap();
    }
    let elapsed = t.elapsed();
    // Baseline: build, encode, frame and decode the same events without a master.
    let t0 = Instant::now();
    let mut bytes = Vec::new();
    for i in 0..tasks {
        let e = spb::Event {
            r#type: Some(spb::event::Type::Update as i32),
            update: Some(spb::event::Update {
                status: pb::TaskStatus {
                    task_id: pb::TaskId {
                        value: format!("unknown-{i}"),
                    },
                    state: pb::TaskState::TaskLost as i32,
                    ..Default::default()
                },
            }),
            ..Default::default()
        };
        mesos_core::recordio::encode(&prost::Message::encode_to_vec(&e), &mut bytes);
    }
    let mut n = 0;
    mesos_core::recordio::Decoder::new()
        .decode_with(&bytes, |r| {
            let e: spb::Event = prost::Message::decode(r).unwrap();
            n += usize::from(e.update.is_some());
        })
        .unwrap();
    let base = t0.elapsed();
    println!(
        "reconcile {tasks} unknown tasks: {:.1} ms to the last UPDATE; encode+decode alone {:.1} ms; ratio {:.1}x",
        ms(elapsed),
        ms(base),
        elapsed.as_secs_f64() / base.as_secs_f64()
    );
    master.shutdown().await;
}

/// Agent streams per HTTP/2 connection: 10,000 agents on their own connections would need
/// 20,000 file descriptors in this one process.
const AGENTS_PER_CONNECTION: usize = 100;
/// Registrations in flight at once (agents back off and retry in real clusters too).
const IN_FLIGHT: usize = 1_000;

async fn reregister_bench(shape: ClusterShape) {
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().to_string_lossy().into_owned();
    let setup = Instant::now();
    let first = populated_master_in(shape, Some(work_dir.clone()))
        .await
        .expect("first master");
    let old_id = first.id();
    first.shutdown().await;
    println!(
        "reregister: {} agents, {} running tasks (setup {:.1} s)",
        shape.agents,
        shape.agents * shape.running_per_agent,
        setup.elapsed().as_secs_f64()
    );

    // Baseline: the same REGISTER messages applied in-process, no links, no registry.
    let t = Instant::now();
    let baseline_master = populated_master(ClusterShape {
        completed_per_framework: 0,
        ..shape
    })
    .await
    .unwrap();
    let baseline = t.elapsed();
    baseline_master.shutdown().await;

    let registrations = agent_registrations(shape, &old_id);
    let t0 = Instant::now();
    let master = mesos_master::start(bench_flags(shape, Some(work_dir)))
        .await
        .expect("restarted master");
    let recovered = t0.elapsed();
    let url = format!("http://{}", master.addr());
    let mut channels = Vec::new();
    for _ in 0..shape.agents.div_ceil(AGENTS_PER_CONNECTION) {
        channels.push(
            tonic::transport::Endpoint::from_shared(url.clone())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut joins = tokio::task::JoinSet::new();
    for (i, register) in registrations.into_iter().enumerate() {
        let channel = channels[i / AGENTS_PER_CONNECTION].clone();
        let permits = permits.clone();
        joins.spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            let message = AgentMessage {
                r#type: Some(agent_message::Type::Register as i32),
                register: Some(register),
                ..Default::default()
            };
            SimAgent::connect_on(channel, message).await
        });
    }
    let mut agents = Vec::new();
    while let Some(joined) = joins.join_next().await {
        agents.push(joined.unwrap().expect("re-registered"));
    }
    let elapsed = t0.elapsed();
    let snapshot = reqwest::get(format!("{url}/metrics/snapshot"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let snapshot: serde_json::Value = serde_json::from_slice(&snapshot).unwrap();
    assert_eq!(
        snapshot["master/slaves_active"].as_f64(),
        Some(shape.agents as f64)
    );
    assert_eq!(
        snapshot["master/tasks_running"].as_f64(),
        Some((shape.agents * shape.running_per_agent) as f64)
    );
    println!(
        "  restart + re-register over links {:.1} ms (registry recovery {:.1} ms); \
         in-process admission alone {:.1} ms; ratio {:.2}x",
        ms(elapsed),
        ms(recovered),
        ms(baseline),
        elapsed.as_secs_f64() / baseline.as_secs_f64()
    );
    drop(agents);
    master.shutdown().await;
}

/// Median time to GET `body` from an axum handler that only clones it: what HTTP on
/// loopback costs for a document of that size, before any master work.
async fn transfer_floor(client: &reqwest::Client, body: bytes::Bytes, runs: usize) -> Duration {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/blob",
        axum::routing::get(move || {
            let body = body.clone();
            async move { body }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}/blob");
    let mut samples = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let got = client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        std::hint::black_box(got);
        samples.push(t.elapsed());
    }
    server.abort();
    percentile(&mut samples, 0.5)
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    // An optional name (`state`, `reconcile`, `reregister`) runs only the benchmarks whose
    // name contains it; cargo passes `--bench` itself, which is not a name.
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_default();
    let runs = |name: &str| name.contains(filter.as_str());
    let scale = |full: usize, small: usize| if smoke { small } else { full };
    let shape = ClusterShape {
        agents: scale(10_000, 100),
        frameworks: scale(100, 10),
        running_per_agent: 10,
        completed_per_framework: scale(1000, 10),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if runs("state") {
            state_bench(shape, scale(5, 1)).await;
        }
        if runs("reconcile") {
            reconcile_bench(scale(100_000, 1000)).await;
        }
        if runs("reregister") {
            reregister_bench(ClusterShape {
                completed_per_framework: 0,
                ..shape
            })
            .await;
        }
    });
}
