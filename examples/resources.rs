//! Packs tasks onto an agent with the Mesos resource model and prints what an offer for the
//! remainder looks like on the wire.
//!
//! ```text
//! cargo run --example resources -- \
//!     --agent 'cpus:4;mem:4096;disk(web):1000;ports:[31000-32000]' \
//!     --task 'cpus:0.5;mem:256;ports:[31000-31000]' --role web
//! ```
//!
//! It parses both resource strings as the agent's `--resources` flag would, places copies of
//! the task until the next one no longer fits (taking a fresh port each time), and prints the
//! leftover resources as Mesos JSON in the two offer formats: the one MULTI_ROLE /
//! RESERVATION_REFINEMENT frameworks receive, and the older one everyone else receives.

use anyhow::{Context, Result, bail};
use mesos_core::json;
use mesos_core::resources::convert::{ResourceFormat, resources_to_proto};
use mesos_core::resources::{Resource, Resources, parse_flag_text};
use mesos_examples::flag;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let agent_text = flag(
        &args,
        "agent",
        "cpus:4;mem:4096;disk(web):1000;ports:[31000-32000]",
    );
    let task_text = flag(&args, "task", "cpus:0.5;mem:256");
    let role = flag(&args, "role", "web");

    let agent = parse_flag_text(&agent_text, "*").context("parsing --agent")?;
    let task = parse_flag_text(&task_text, "*").context("parsing --task")?;
    if task.is_empty() {
        bail!("--task describes no resources");
    }
    println!("agent:   {agent}");
    println!("task:    {task}");

    let mut free = agent.allocatable_to(&role);
    let mut placed = 0;
    loop {
        let mut want = fit_to_role(&task, &free);
        if let Some(port) = free.ports().and_then(|p| p.iter().next().map(|r| r.begin))
            && want.ports().is_none()
        {
            want += &Resource::range("ports", port, port);
        }
        if !free.contains(&want) {
            break;
        }
        free -= &want;
        placed += 1;
    }
    println!("placed {placed} task(s) for role {role}");
    println!("left:    {free}");

    let allocated = free.allocate(&role);
    for (label, format) in [
        (
            "offer (RESERVATION_REFINEMENT)",
            ResourceFormat::PostReservationRefinement,
        ),
        (
            "offer (legacy format)",
            ResourceFormat::PreReservationRefinement,
        ),
    ] {
        let wire = resources_to_proto(&allocated, format)?;
        let list: Vec<_> = wire.iter().map(json::to_value).collect();
        println!("{label}:\n{}", serde_json::to_string_pretty(&list)?);
    }
    Ok(())
}

/// Moves each unreserved part of `task` onto the role's reservation when that reservation has
/// room, the way a framework prefers its reserved resources.
fn fit_to_role(task: &Resources, free: &Resources) -> Resources {
    let mut out = Resources::new();
    for r in task.iter() {
        let reserved = free
            .reserved(None)
            .iter()
            .filter(|x| x.name == r.name)
            .map(|x| {
                let mut candidate = r.clone();
                candidate.reservations = x.reservations.clone();
                candidate
            })
            .find(|candidate| free.contains_resource(candidate));
        out += &reserved.unwrap_or_else(|| r.clone());
    }
    out
}
