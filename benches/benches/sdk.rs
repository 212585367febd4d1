//! Scheduler-side overhead of the SDK: per offer and per status update, the driver decodes the
//! event from the RecordIO stream, runs the `Scheduler` callback and sends the call it leads
//! to (a DECLINE for each offer, the automatic ACKNOWLEDGE for each update), through an
//! in-memory transport that answers every call 202 at once. Baseline in the same run: a bare
//! RecordIO + protobuf decode of the same bytes.
//!
//! `cargo bench -p mesos-benches --bench sdk` (100,000 offers and 100,000 updates);
//! `-- --test` runs 2,000 of each once.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::scheduler as spb;
use mesos_core::resources::convert::{ResourceFormat, resources_to_proto};
use mesos_core::resources::parse_flag_text;
use mesos_scheduler_sdk::transport::{Request, Response, StreamingResponse, Transport};
use mesos_scheduler_sdk::{Driver, DriverConfig, Scheduler, SdkError, async_trait};
use prost::Message;

/// Answers every call 202 and serves one prepared event stream to SUBSCRIBE.
struct InMemoryMaster {
    stream: std::sync::Mutex<Option<Vec<Bytes>>>,
    calls: AtomicUsize,
    /// Signalled when `expected` calls have arrived.
    expected: usize,
    done: tokio::sync::Notify,
}

#[async_trait]
impl Transport for InMemoryMaster {
    async fn post(&self, _request: Request) -> Result<Response, SdkError> {
        if self.calls.fetch_add(1, Ordering::Relaxed) + 1 == self.expected {
            self.done.notify_one();
        }
        Ok(Response {
            status: 202,
            headers: vec![],
            body: Bytes::new(),
        })
    }

    async fn post_streaming(&self, _request: Request) -> Result<StreamingResponse, SdkError> {
        let chunks = self.stream.lock().unwrap().take().unwrap_or_default();
        // After the prepared events the stream stays open (as a master's does) until the
        // benchmark stops the driver.
        let body: Pin<Box<dyn Stream<Item = Result<Bytes, SdkError>> + Send>> = Box::pin(
            futures::stream::iter(chunks.into_iter().map(Ok)).chain(futures::stream::pending()),
        );
        Ok(StreamingResponse {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/x-protobuf".into()),
                (
                    "Mesos-Stream-Id".into(),
                    "5d8f5e1c-9a59-4a41-8f5c-0bb1b0c1d6a2".into(),
                ),
            ],
            body,
        })
    }
}

use futures::StreamExt as _;

/// Declines every offer; counts what it saw.
struct Decliner {
    offers: usize,
    updates: usize,
}

#[async_trait]
impl Scheduler for Decliner {
    async fn offers(&mut self, driver: &Driver, offers: Vec<pb::Offer>) {
        self.offers += offers.len();
        let ids = offers.into_iter().map(|o| o.id).collect();
        let _ = driver.decline(ids, Some(5.0)).await;
    }

    async fn update(&mut self, _driver: &Driver, _status: pb::TaskStatus) {
        self.updates += 1;
    }
}

fn offer(i: usize, resources: &[pb::Resource]) -> pb::Offer {
    pb::Offer {
        id: pb::OfferId {
            value: format!("6b5e3c1a-0f3d-4a1e-9a8b-1c2d3e4f5a6b-O{i}"),
        },
        framework_id: pb::FrameworkId {
            value: "6b5e3c1a-0f3d-4a1e-9a8b-1c2d3e4f5a6b-0000".into(),
        },
        agent_id: pb::AgentId {
            value: format!("6b5e3c1a-0f3d-4a1e-9a8b-1c2d3e4f5a6b-S{}", i % 1000),
        },
        hostname: format!("agent{}.example", i % 1000),
        resources: resources.to_vec(),
        ..Default::default()
    }
}

fn update(i: usize) -> pb::TaskStatus {
    pb::TaskStatus {
        task_id: pb::TaskId {
            value: format!("task-{i}"),
        },
        state: pb::TaskState::TaskRunning as i32,
        source: Some(pb::task_status::Source::Executor as i32),
        agent_id: Some(pb::AgentId {
            value: format!("6b5e3c1a-0f3d-4a1e-9a8b-1c2d3e4f5a6b-S{}", i % 1000),
        }),
        uuid: Some(uuid::Uuid::from_u128(i as u128 + 1).as_bytes().to_vec()),
        timestamp: Some(1_700_000_000.0 + i as f64),
        ..Default::default()
    }
}

/// The event stream: SUBSCRIBED, then one OFFERS event per offer and one UPDATE per status,
/// interleaved, in RecordIO chunks of about 64 KiB.
fn event_stream(offers: usize, updates: usize) -> (Vec<Bytes>, usize) {
    let agent = parse_flag_text(
        "cpus:24;mem:65536;disk:409600;ports:[31000-32000];cpus(web):4;mem(web):8192",
        "*",
    )
    .unwrap();
    let resources = resources_to_proto(&agent, ResourceFormat::PreReservationRefinement).unwrap();
    let mut events = vec![spb::Event {
        r#type: Some(spb::event::Type::Subscribed as i32),
        subscribed: Some(spb::event::Subscribed {
            framework_id: pb::FrameworkId {
                value: "6b5e3c1a-0f3d-4a1e-9a8b-1c2d3e4f5a6b-0000".into(),
            },
            heartbeat_interval_seconds: Some(15.0),
            master_info: None,
        }),
        ..Default::default()
    }];
    for i in 0..offers.max(updates) {
        if i < offers {
            events.push(spb::Event {
                r#type: Some(spb::event::Type::Offers as i32),
                offers: Some(spb::event::Offers {
                    offers: vec![offer(i, &resources)],
                }),
                ..Default::default()
            });
        }
        if i < updates {
            events.push(spb::Event {
                r#type: Some(spb::event::Type::Update as i32),
                update: Some(spb::event::Update { status: update(i) }),
                ..Default::default()
            });
        }
    }
    let mut chunks = Vec::new();
    let mut chunk = Vec::new();
    let mut total = 0;
    for e in &events {
        mesos_core::recordio::encode(&e.encode_to_vec(), &mut chunk);
        if chunk.len() >= 64 << 10 {
            total += chunk.len();
            chunks.push(Bytes::from(std::mem::take(&mut chunk)));
        }
    }
    total += chunk.len();
    chunks.push(Bytes::from(chunk));
    (chunks, total)
}

/// Decoding the same bytes with nothing else: RecordIO frames, then `Event`s.
fn bare_decode(chunks: &[Bytes]) -> (Duration, usize) {
    let t = Instant::now();
    let mut decoder = mesos_core::recordio::Decoder::new();
    let mut n = 0;
    for chunk in chunks {
        decoder
            .decode_with(chunk, |record| {
                let e = spb::Event::decode(record).unwrap();
                n += usize::from(e.offers.is_some() || e.update.is_some());
                std::hint::black_box(e);
            })
            .unwrap();
    }
    (t.elapsed(), n)
}

async fn through_the_driver(chunks: Vec<Bytes>, offers: usize, updates: usize) -> Duration {
    let transport = Arc::new(InMemoryMaster {
        stream: std::sync::Mutex::new(Some(chunks)),
        calls: AtomicUsize::new(0),
        // One DECLINE per offer and one ACKNOWLEDGE per update.
        expected: offers + updates,
        done: tokio::sync::Notify::new(),
    });
    let framework = pb::FrameworkInfo {
        user: "bench".into(),
        name: "sdk-bench".into(),
        ..Default::default()
    };
    let mut config = DriverConfig::new("127.0.0.1:5050".to_string(), framework);
    config.reconcile_on_resubscribe = false;
    let t = Instant::now();
    let run = tokio::spawn(mesos_scheduler_sdk::run_with_transport(
        config,
        Decliner {
            offers: 0,
            updates: 0,
        },
        transport.clone(),
    ));
    transport.done.notified().await;
    let elapsed = t.elapsed();
    run.abort();
    elapsed
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    let n = if smoke { 2_000 } else { 100_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (chunks, bytes) = event_stream(n, n);
    let (decode, decoded) = bare_decode(&chunks);
    assert_eq!(decoded, 2 * n);
    let driven = runtime.block_on(through_the_driver(chunks, n, n));
    let per_event = driven.as_secs_f64() / (2 * n) as f64;
    println!(
        "sdk: {n} offers + {n} updates ({:.1} MB): driver (decode, callback, DECLINE / ACKNOWLEDGE) \
         {:.1} ms = {:.2} us per event, {:.0} events/s; bare decode {:.1} ms = {:.2} us per event; \
         ratio {:.1}x",
        bytes as f64 / 1e6,
        driven.as_secs_f64() * 1e3,
        per_event * 1e6,
        1.0 / per_event,
        decode.as_secs_f64() * 1e3,
        decode.as_secs_f64() / (2 * n) as f64 * 1e6,
        driven.as_secs_f64() / decode.as_secs_f64()
    );
}
