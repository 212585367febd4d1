//! Resource arithmetic at realistic sizes: an agent with 10 roles of reservations and a ports
//! set of 100 fragments, and 1,000 task-sized resources added and subtracted.
//!
//! `floor/*` measures the least work any implementation must do for the same sums (plain
//! integer adds over the same task list), so each figure can be read as a ratio to it.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mesos_benches::{agent_with_reservations, task_resources};
use mesos_core::json;
use mesos_core::resources::convert::{ResourceFormat, resources_from_proto, resources_to_proto};
use mesos_core::resources::{Resources, parse_flag_text};

const ROLES: usize = 10;
const PORT_FRAGMENTS: u64 = 100;
const TASKS: usize = 1000;

fn arithmetic(c: &mut Criterion) {
    let agent = agent_with_reservations(ROLES, PORT_FRAGMENTS);
    let tasks = task_resources(TASKS, ROLES);
    let mut used = Resources::new();
    for t in &tasks {
        used += t;
    }

    c.bench_function("resources/add_1000_tasks", |b| {
        b.iter(|| {
            let mut sum = Resources::new();
            for t in &tasks {
                sum += black_box(t);
            }
            sum
        })
    });

    c.bench_function("resources/subtract_1000_tasks_from_agent", |b| {
        b.iter(|| {
            let mut free = agent.clone();
            for t in &tasks {
                free -= black_box(t);
            }
            free
        })
    });

    c.bench_function("resources/contains_1000_tasks", |b| {
        b.iter(|| {
            tasks
                .iter()
                .filter(|t| agent.contains(black_box(t)))
                .count()
        })
    });

    c.bench_function("resources/agent_minus_used", |b| {
        b.iter(|| black_box(&agent) - &used)
    });

    c.bench_function("resources/allocatable_to_role", |b| {
        b.iter(|| black_box(&agent).allocatable_to("role3"))
    });

    // Floor: the same 1,000 additions with the resource structure stripped away — three
    // integer sums and a port bitmap.
    let flat: Vec<(i64, i64, usize)> = tasks
        .iter()
        .map(|t| {
            let port = t
                .ports()
                .and_then(|p| p.iter().next().map(|r| r.begin))
                .unwrap_or(0);
            (
                t.cpus().unwrap().milli(),
                t.mem().unwrap().milli(),
                usize::try_from(port - 31000).unwrap(),
            )
        })
        .collect();
    c.bench_function("floor/add_1000_tasks_flat", |b| {
        b.iter(|| {
            let mut cpus = 0i64;
            let mut mem = 0i64;
            let mut ports = [0u64; 1024];
            for &(c, m, p) in black_box(&flat) {
                cpus += c;
                mem += m;
                let bit = p;
                ports[bit / 64 % 1024] |= 1 << (bit % 64);
            }
            (cpus, mem, ports)
        })
    });
}

fn text_and_wire(c: &mut Criterion) {
    let agent = agent_with_reservations(ROLES, PORT_FRAGMENTS);
    let text = agent
        .to_flag_text()
        .expect("static reservations have a flag form");
    let wire = resources_to_proto(&agent, ResourceFormat::PostReservationRefinement).unwrap();
    let json_text = serde_json::Value::Array(wire.iter().map(json::to_value).collect()).to_string();

    c.bench_function("resources/parse_flag_text_agent", |b| {
        b.iter(|| parse_flag_text(black_box(&text), "*").unwrap())
    });
    c.bench_function("resources/to_proto_agent", |b| {
        b.iter(|| resources_to_proto(black_box(&agent), ResourceFormat::Endpoint).unwrap())
    });
    c.bench_function("resources/from_proto_agent", |b| {
        b.iter(|| resources_from_proto(black_box(&wire)).unwrap())
    });
    c.bench_function("resources/json_write_agent_streaming", |b| {
        b.iter(|| {
            black_box(&wire)
                .iter()
                .map(json::to_vec)
                .collect::<Vec<_>>()
        })
    });
    // Floor for the JSON writers: serde_json alone writing the same document from a `Value`.
    let json_value: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    c.bench_function("floor/serde_json_write_agent", |b| {
        b.iter(|| serde_json::to_vec(black_box(&json_value)).unwrap())
    });
    c.bench_function("resources/json_write_agent", |b| {
        b.iter(|| {
            serde_json::Value::Array(black_box(&wire).iter().map(json::to_value).collect())
                .to_string()
        })
    });
    c.bench_function("resources/json_read_agent", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_str(black_box(&json_text)).unwrap();
            json::list_from_value::<mesos_core::proto::v1::Resource>(&v).unwrap()
        })
    });
    // Floor for the JSON figures: serde_json alone parsing the same text into a `Value`.
    c.bench_function("floor/serde_json_parse_agent", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&json_text)).unwrap())
    });
}

criterion_group!(benches, arithmetic, text_and_wire);
criterion_main!(benches);
