//! Master benchmarks over real HTTP on loopback, each reported next to a baseline measured
//! in the same run:
//!
//! - `GET /master/state` at 10,000 agents, 100,000 running and 100,000 completed tasks,
//!   next to serialising the same JSON document with serde_json alone;
//! - `/health` p90 while two clients keep `/master/state` busy, next to `/health` idle;
//! - reconciling 100,000 unknown tasks (one RECONCILE call, until the last UPDATE arrives),
//!   next to encoding and decoding the same 100,000 events without a master.
//!
//! `cargo bench -p mesos-benches --bench master` runs the full sizes;
//! `-- --test` runs a small cluster once, as a smoke test.

use std::time::{Duration, Instant};

use futures::StreamExt;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::scheduler as spb;
use mesos_master::bench_support::{ClusterShape, populated_master};

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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if smoke {
            state_bench(
                ClusterShape {
                    agents: 100,
                    frameworks: 10,
                    running_per_agent: 10,
                    completed_per_framework: 10,
                },
                1,
            )
            .await;
            reconcile_bench(1000).await;
        } else {
            state_bench(
                ClusterShape {
                    agents: 10_000,
                    frameworks: 100,
                    running_per_agent: 10,
                    completed_per_framework: 1000,
                },
                5,
            )
            .await;
            reconcile_bench(100_000).await;
        }
    });
}
