//! Replays a cluster workload in virtual time through the real allocator and reports how well
//! it shared the cluster.
//!
//! ```text
//! cargo run --release --example simulate -- --agents 1000 --frameworks 100 --hours 1 --out DIR
//! ```
//!
//! Every `--interval-ms` of virtual time (default 1000) the simulator:
//!
//! 1. ends the tasks whose time is up and recovers their resources;
//! 2. queues the tasks submitted since the last cycle with their frameworks (a framework with
//!    nothing queued is suppressed, and revived when work arrives);
//! 3. calls [`Allocator::allocate`]; each framework packs its queued tasks into its offers, first
//!    fit in queue order, and gives back what it did not use: with a `--refuse-seconds` filter
//!    (default 5) when it launched nothing from the offer, without a filter otherwise;
//! 4. records each role's dominant share (running tasks' cpus or mem over the cluster's, whichever
//!    is larger) and the cluster's cpu utilization.
//!
//! At the end it prints utilization, each role's mean dominant share, Jain's fairness index over
//! the roles' weighted dominant shares (each cycle over the roles with tasks running or queued,
//! each share divided by the role's weight; then averaged over cycles), the submit-to-launch
//! delay, task counts and the wall time, and writes
//! `DIR/shares.csv` (`time_seconds,role,dominant_share,utilization`, one row per role per
//! cycle) and `DIR/shares.svg` (the shares as a line chart).
//!
//! # The synthetic workload (default)
//!
//! `--agents N` agents of shape `--agent` (default `cpus:8;mem:32768`); `--frameworks N`
//! frameworks spread round-robin over `--roles N` roles named `r0`, `r1`, … (default 4), with
//! optional weights `--weights r0=2,r1=1`. Each framework draws one task shape from
//! `--task-shapes` (`|`-separated, default `cpus:1;mem:2048|cpus:2;mem:4096|cpus:0.5;mem:1024`)
//! and submits jobs as a Poisson process; a job is a geometric number of tasks (mean
//! `--tasks-per-job`, default 4), each running for a lognormal (`--durations lognormal`,
//! `--sigma`, default 1) or exponential (`--durations exponential`) time of mean
//! `--mean-duration` seconds (default 300). Arrival rates are set so that the work submitted is
//! `--load` times the cluster's cpus (default 1.1: slightly more than fits, so that roles compete
//! and the sorter's policy shows), split evenly between frameworks.
//!
//! # A trace instead
//!
//! `--trace FILE` replays a CSV file, one task per line (agents are still synthetic):
//!
//! ```text
//! submit_seconds,framework,role,cpus,mem,duration_seconds
//! 0,spark,analytics,1,2048,120
//! 2.5,web,serving,0.5,512,600
//! ```
//!
//! The header line is optional; blank lines and lines starting with `#` are skipped; `mem` is in
//! MB; each framework must keep one role. `examples/data/sample-trace.csv` is a small sample.
//! With a trace, the synthetic-workload options (`--frameworks`, `--roles`, `--task-shapes`,
//! `--load`, …) do not apply.
//!
//! # Other options
//!
//! `--offer-filters on|off` (default `on`): each framework declares its smallest task as its
//! role's `min_allocatable_resources` (Mesos's `FrameworkInfo.offer_filters`), so it is not
//! offered fragments it cannot use, such as the memory left on an agent whose cpus are all taken.
//! With `off`, those fragments are offered and declined every cycle, which is several times the
//! allocator work.
//!
//! `--seed N` (default 1) seeds both the workload and the allocator; `--sorter drf|random|priority`
//! picks the role sorter (default `drf`); `--hours H` is the virtual time simulated (default 1).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use mesos_allocator::quantities::Quantities;
use mesos_allocator::rng::SplitMix64;
use mesos_allocator::{AgentConfig, Allocator, AllocatorOptions, FrameworkConfig, Offer};
use mesos_core::ids::{AgentId, FrameworkId};
use mesos_core::resources::{Resource, Resources, parse_flag_text};
use mesos_examples::flag;

const OPTIONS: &[&str] = &[
    "agents",
    "agent",
    "frameworks",
    "roles",
    "weights",
    "hours",
    "interval-ms",
    "seed",
    "sorter",
    "trace",
    "out",
    "load",
    "task-shapes",
    "tasks-per-job",
    "mean-duration",
    "durations",
    "sigma",
    "refuse-seconds",
    "offer-filters",
];

/// How many queued tasks that do not fit a framework scans past before it gives up on an offer.
const MAX_MISFITS: usize = 32;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "usage: simulate --out DIR [--agents N] [--frameworks N] [--hours H] [--roles N] \
             [--weights r0=2,r1=1] [--interval-ms MS] [--seed N] [--sorter drf|random|priority] \
             [--trace FILE] [--agent RESOURCES] [--task-shapes 'A|B|C'] [--load X] \
             [--tasks-per-job X] [--mean-duration S] [--durations lognormal|exponential] \
             [--sigma X] [--refuse-seconds S] [--offer-filters on|off]\n(see the top of examples/simulate.rs)"
        );
        return Ok(());
    }
    check_options(&args)?;
    let config = Config::from_args(&args)?;
    let started = Instant::now();
    let mut sim = Simulation::new(&config)?;
    sim.run()?;
    let wall = started.elapsed();
    let report = Report::new(&sim);
    report.print(&sim, wall);
    write_outputs(&config.out, &sim, &report)?;
    Ok(())
}

// ----- configuration -----

/// How task durations are drawn.
#[derive(Debug, Clone, Copy)]
enum DurationLaw {
    Lognormal { sigma: f64 },
    Exponential,
}

/// Parameters of the synthetic workload.
#[derive(Debug, Clone)]
struct Synthetic {
    frameworks: usize,
    roles: usize,
    task_shapes: Vec<Resources>,
    load: f64,
    tasks_per_job: f64,
    mean_duration: f64,
    law: DurationLaw,
}

#[derive(Debug, Clone)]
enum Source {
    Synthetic(Synthetic),
    Trace(PathBuf),
}

#[derive(Debug, Clone)]
struct Config {
    agents: usize,
    agent_shape: Resources,
    weights: Vec<(String, f64)>,
    horizon: Duration,
    interval: Duration,
    refuse: Duration,
    /// Frameworks set their smallest task as `min_allocatable_resources` for their role.
    offer_filters: bool,
    seed: u64,
    sorter: String,
    source: Source,
    out: PathBuf,
}

/// Rejects `--options` this example does not know, so typos do not pass silently.
fn check_options(args: &[String]) -> Result<()> {
    for arg in args {
        if let Some(name) = arg.strip_prefix("--") {
            let name = name.split('=').next().unwrap_or(name);
            ensure!(
                OPTIONS.contains(&name),
                "unknown option --{name} (try --help)"
            );
        }
    }
    Ok(())
}

/// Parses `--name` as a `T`, or `default` when it is absent.
fn parsed<T>(args: &[String], name: &str, default: &str) -> Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text = flag(args, name, default);
    text.parse()
        .with_context(|| format!("--{name}: cannot parse '{text}'"))
}

/// Parses `--name` as a strictly positive, finite number.
fn positive(args: &[String], name: &str, default: &str) -> Result<f64> {
    let value: f64 = parsed(args, name, default)?;
    ensure!(
        value.is_finite() && value > 0.0,
        "--{name} must be a positive number, not {value}"
    );
    Ok(value)
}

fn seconds(value: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(value).with_context(|| format!("{what}: {value} s is out of range"))
}

impl Config {
    fn from_args(args: &[String]) -> Result<Config> {
        let out = flag(args, "out", "");
        ensure!(!out.is_empty(), "--out DIR is required");
        let agents: usize = parsed(args, "agents", "1000")?;
        ensure!(agents > 0, "--agents must be at least 1");
        let agent_text = flag(args, "agent", "cpus:8;mem:32768");
        let agent_shape = parse_flag_text(&agent_text, "*").context("parsing --agent")?;
        ensure!(
            agent_shape.cpus().is_some_and(|c| !c.is_zero()),
            "--agent must have cpus"
        );
        let interval_ms: u64 = parsed(args, "interval-ms", "1000")?;
        ensure!(interval_ms > 0, "--interval-ms must be at least 1");
        let hours = positive(args, "hours", "1")?;
        let trace = flag(args, "trace", "");
        let source = if trace.is_empty() {
            Source::Synthetic(Synthetic::from_args(args)?)
        } else {
            Source::Trace(PathBuf::from(trace))
        };
        Ok(Config {
            agents,
            agent_shape,
            weights: parse_weights(&flag(args, "weights", ""))?,
            horizon: seconds(hours * 3600.0, "--hours")?,
            interval: Duration::from_millis(interval_ms),
            refuse: seconds(
                parsed::<f64>(args, "refuse-seconds", "5")?,
                "--refuse-seconds",
            )?,
            offer_filters: match flag(args, "offer-filters", "on").as_str() {
                "on" => true,
                "off" => false,
                other => bail!("--offer-filters must be 'on' or 'off', not '{other}'"),
            },
            seed: parsed(args, "seed", "1")?,
            sorter: flag(args, "sorter", "drf"),
            source,
            out: PathBuf::from(out),
        })
    }
}

impl Synthetic {
    fn from_args(args: &[String]) -> Result<Synthetic> {
        let frameworks: usize = parsed(args, "frameworks", "100")?;
        ensure!(frameworks > 0, "--frameworks must be at least 1");
        let roles: usize = parsed(args, "roles", "4")?;
        ensure!(roles > 0, "--roles must be at least 1");
        let shapes = flag(
            args,
            "task-shapes",
            "cpus:1;mem:2048|cpus:2;mem:4096|cpus:0.5;mem:1024",
        );
        let task_shapes = shapes
            .split('|')
            .map(|s| {
                let shape = parse_flag_text(s.trim(), "*")
                    .with_context(|| format!("parsing --task-shapes entry '{s}'"))?;
                ensure!(
                    shape.cpus().is_some_and(|c| !c.is_zero()),
                    "task shape '{s}' needs cpus"
                );
                Ok(shape)
            })
            .collect::<Result<Vec<_>>>()?;
        let law = match flag(args, "durations", "lognormal").as_str() {
            "lognormal" => DurationLaw::Lognormal {
                sigma: positive(args, "sigma", "1")?,
            },
            "exponential" => DurationLaw::Exponential,
            other => bail!("--durations must be 'lognormal' or 'exponential', not '{other}'"),
        };
        let tasks_per_job = positive(args, "tasks-per-job", "4")?;
        ensure!(tasks_per_job >= 1.0, "--tasks-per-job must be at least 1");
        Ok(Synthetic {
            frameworks,
            roles,
            task_shapes,
            load: positive(args, "load", "1.1")?,
            tasks_per_job,
            mean_duration: positive(args, "mean-duration", "300")?,
            law,
        })
    }
}

/// Parses `r0=2,r1=1`.
fn parse_weights(text: &str) -> Result<Vec<(String, f64)>> {
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (role, weight) = part
                .split_once('=')
                .with_context(|| format!("--weights entry '{part}' is not ROLE=WEIGHT"))?;
            let weight: f64 = weight
                .trim()
                .parse()
                .with_context(|| format!("--weights: bad weight in '{part}'"))?;
            ensure!(
                weight.is_finite() && weight > 0.0,
                "--weights: weight of {role} must be positive"
            );
            Ok((role.trim().to_string(), weight))
        })
        .collect()
}

// ----- random sampling -----

/// Seeded sampling on top of the allocator's SplitMix64.
struct Rng(SplitMix64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed))
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        self.0.next_unit()
    }

    fn exponential(&mut self, mean: f64) -> f64 {
        -self.unit().ln() * mean
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Lognormal with the given mean and log-space standard deviation.
    fn lognormal(&mut self, mean: f64, sigma: f64) -> f64 {
        let mu = mean.ln() - sigma * sigma / 2.0;
        (mu + sigma * self.normal()).exp()
    }

    /// At least 1, geometric with the given mean.
    fn geometric(&mut self, mean: f64) -> usize {
        let p = 1.0 / mean;
        let mut k = 1;
        while self.unit() > p && k < 10_000 {
            k += 1;
        }
        k
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.0.below(items.len())]
    }
}

// ----- the workload -----

/// A task from submission to launch.
#[derive(Debug, Clone)]
struct Task {
    framework: usize,
    /// Its resources, without an allocation role (its framework's role is theirs).
    resources: Resources,
    cpus: f64,
    mem: f64,
    submit: Duration,
    duration: Duration,
}

/// A framework as the workload sees it.
#[derive(Debug, Clone)]
struct FrameworkSpec {
    name: String,
    role: String,
    /// The smallest task it runs (cpus and mem each at their minimum).
    smallest_task: Quantities,
}

/// Where tasks come from: generated on the fly or read from a trace, in submit order.
enum Arrivals {
    Generated(Generator),
    Trace(VecDeque<Task>),
}

impl Arrivals {
    /// Moves the tasks submitted up to `now` into `out`.
    fn until(&mut self, now: Duration, out: &mut Vec<Task>) {
        match self {
            Arrivals::Generated(g) => g.until(now, out),
            Arrivals::Trace(tasks) => {
                while tasks.front().is_some_and(|t| t.submit <= now) {
                    out.extend(tasks.pop_front());
                }
            }
        }
    }
}

/// Per-framework Poisson job arrivals.
struct Generator {
    rng: Rng,
    /// Per framework: task shape (allocated to its role), mean seconds between jobs.
    frameworks: Vec<(Resources, f64)>,
    /// Next job submission, soonest first.
    next: BinaryHeap<Due>,
    tasks_per_job: f64,
    mean_duration: f64,
    law: DurationLaw,
}

impl Generator {
    fn until(&mut self, now: Duration, out: &mut Vec<Task>) {
        while let Some(due) = self.next.peek().copied()
            && due.at <= now
        {
            self.next.pop();
            self.submit_job(due.index, due.at, out);
            let gap = self.rng.exponential(self.frameworks[due.index].1);
            self.next.push(Due {
                at: due.at + Duration::from_secs_f64(gap.min(1e9)),
                index: due.index,
            });
        }
    }

    fn submit_job(&mut self, framework: usize, at: Duration, out: &mut Vec<Task>) {
        let shape = self.frameworks[framework].0.clone();
        let cpus = shape.cpus().map_or(0.0, |c| c.as_f64());
        let mem = shape.mem().map_or(0.0, |m| m.as_f64());
        for _ in 0..self.rng.geometric(self.tasks_per_job) {
            let seconds = match self.law {
                DurationLaw::Lognormal { sigma } => self.rng.lognormal(self.mean_duration, sigma),
                DurationLaw::Exponential => self.rng.exponential(self.mean_duration),
            };
            out.push(Task {
                framework,
                resources: shape.clone(),
                cpus,
                mem,
                submit: at,
                duration: Duration::from_secs_f64(seconds.clamp(0.001, 1e9)),
            });
        }
    }
}

/// Something due at a time; a min-heap entry (ties by index, for determinism).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Due {
    at: Duration,
    index: usize,
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.index).cmp(&(self.at, self.index))
    }
}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Builds the synthetic frameworks and their arrival processes.
fn synthetic_workload(
    s: &Synthetic,
    cluster_cpus: f64,
    seed: u64,
) -> (Vec<FrameworkSpec>, Arrivals) {
    let mut rng = Rng::new(seed ^ 0x5EED_F00D);
    let mut specs = Vec::with_capacity(s.frameworks);
    let mut frameworks = Vec::with_capacity(s.frameworks);
    let mut next = BinaryHeap::new();
    // Each framework submits an equal part of `load × cluster cpus` cpu-seconds per second.
    let cpu_rate = s.load * cluster_cpus / s.frameworks as f64;
    for i in 0..s.frameworks {
        let role = format!("r{}", i % s.roles);
        let shape = rng.pick(&s.task_shapes).clone();
        let cpus = shape.cpus().map_or(1.0, |c| c.as_f64());
        let mean_gap = s.tasks_per_job * cpus * s.mean_duration / cpu_rate;
        let first = rng.exponential(mean_gap);
        next.push(Due {
            at: Duration::from_secs_f64(first.min(1e9)),
            index: i,
        });
        frameworks.push((shape.clone(), mean_gap));
        specs.push(FrameworkSpec {
            name: format!("framework-{i:03}"),
            role,
            smallest_task: Quantities::of(&shape),
        });
    }
    let generator = Generator {
        rng,
        frameworks,
        next,
        tasks_per_job: s.tasks_per_job,
        mean_duration: s.mean_duration,
        law: s.law,
    };
    (specs, Arrivals::Generated(generator))
}

/// Reads a trace (format in the module docs).
fn trace_workload(path: &Path) -> Result<(Vec<FrameworkSpec>, Arrivals)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading trace {}", path.display()))?;
    let mut specs: Vec<FrameworkSpec> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut tasks = Vec::new();
    // Per framework: the smallest cpus and mem of its tasks.
    let mut smallest: Vec<(f64, f64)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("submit_seconds") {
            continue;
        }
        let row = TraceRow::parse(line)
            .with_context(|| format!("{}:{}: '{line}'", path.display(), n + 1))?;
        let framework = match index.get(&row.framework) {
            Some(&i) => {
                ensure!(
                    specs[i].role == row.role,
                    "{}:{}: framework {} was in role {} before, now {}",
                    path.display(),
                    n + 1,
                    row.framework,
                    specs[i].role,
                    row.role
                );
                i
            }
            None => {
                index.insert(row.framework.clone(), specs.len());
                specs.push(FrameworkSpec {
                    name: row.framework.clone(),
                    role: row.role.clone(),
                    smallest_task: Quantities::new(),
                });
                smallest.push((row.cpus, row.mem));
                specs.len() - 1
            }
        };
        let (cpus, mem) = &mut smallest[framework];
        *cpus = cpus.min(row.cpus);
        *mem = mem.min(row.mem);
        tasks.push(row.into_task(framework));
    }
    for (spec, (cpus, mem)) in specs.iter_mut().zip(smallest) {
        spec.smallest_task = Quantities::of(&task_resources(cpus, mem));
    }
    ensure!(!tasks.is_empty(), "trace {} has no tasks", path.display());
    tasks.sort_by_key(|t| t.submit);
    Ok((specs, Arrivals::Trace(tasks.into())))
}

/// One line of a trace.
struct TraceRow {
    submit: Duration,
    framework: String,
    role: String,
    cpus: f64,
    mem: f64,
    duration: Duration,
}

impl TraceRow {
    fn parse(line: &str) -> Result<TraceRow> {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [submit, framework, role, cpus, mem, duration] = fields[..] else {
            bail!("expected 6 fields, found {}", fields.len());
        };
        let number = |text: &str, what: &str| -> Result<f64> {
            let v: f64 = text
                .parse()
                .with_context(|| format!("{what} '{text}' is not a number"))?;
            ensure!(v.is_finite() && v >= 0.0, "{what} must be at least 0");
            Ok(v)
        };
        let cpus = number(cpus, "cpus")?;
        ensure!(cpus > 0.0, "cpus must be positive");
        ensure!(!framework.is_empty(), "empty framework name");
        mesos_core::roles::validate_role(role).context("bad role")?;
        Ok(TraceRow {
            submit: seconds(number(submit, "submit_seconds")?, "submit_seconds")?,
            framework: framework.to_string(),
            role: role.to_string(),
            cpus,
            mem: number(mem, "mem")?,
            duration: seconds(number(duration, "duration_seconds")?, "duration_seconds")?,
        })
    }

    fn into_task(self, framework: usize) -> Task {
        Task {
            framework,
            resources: task_resources(self.cpus, self.mem),
            cpus: self.cpus,
            mem: self.mem,
            submit: self.submit,
            duration: self.duration,
        }
    }
}

/// `cpus:C;mem:M` (without mem when it is zero).
fn task_resources(cpus: f64, mem: f64) -> Resources {
    let mut resources = Resources::from(Resource::scalar("cpus", cpus));
    if mem > 0.0 {
        resources += &Resource::scalar("mem", mem);
    }
    resources
}

// ----- the simulation -----

/// A framework's simulated scheduler.
struct Framework {
    id: FrameworkId,
    role: usize,
    queue: VecDeque<Task>,
    suppressed: bool,
}

/// A launched task, in a min-heap by finish time.
struct Running {
    finish: Duration,
    seq: u64,
    framework: usize,
    agent: AgentId,
    task: Task,
}

impl PartialEq for Running {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Running {}
impl Ord for Running {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.finish, other.seq).cmp(&(self.finish, self.seq))
    }
}
impl PartialOrd for Running {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One cycle's measurements.
struct Sample {
    time: Duration,
    shares: Vec<f64>,
    utilization: f64,
    /// Jain's index over the weighted shares of roles with work, if any had some.
    jain: Option<f64>,
}

/// Running counters.
#[derive(Default)]
struct Counters {
    offers: u64,
    declined: u64,
    launched: u64,
    finished: u64,
    delays: Vec<f64>,
    allocate_time: Duration,
}

struct Simulation {
    allocator: Allocator,
    agents: usize,
    frameworks: Vec<Framework>,
    framework_index: HashMap<FrameworkId, usize>,
    roles: Vec<String>,
    weights: Vec<f64>,
    /// Cpus and mem of running tasks, per role.
    role_cpus: Vec<f64>,
    role_mem: Vec<f64>,
    /// Queued tasks per role.
    role_queued: Vec<usize>,
    total_cpus: f64,
    total_mem: f64,
    arrivals: Arrivals,
    running: BinaryHeap<Running>,
    seq: u64,
    horizon: Duration,
    interval: Duration,
    refuse: Duration,
    sorter: String,
    samples: Vec<Sample>,
    counters: Counters,
}

impl Simulation {
    fn new(config: &Config) -> Result<Simulation> {
        let scalar = |v: Option<mesos_core::values::Scalar>| v.map_or(0.0, |s| s.as_f64());
        let total_cpus = scalar(config.agent_shape.cpus()) * config.agents as f64;
        let total_mem = scalar(config.agent_shape.mem()) * config.agents as f64;
        let (specs, arrivals) = match &config.source {
            Source::Synthetic(s) => synthetic_workload(s, total_cpus, config.seed),
            Source::Trace(path) => trace_workload(path)?,
        };
        let mut allocator = Allocator::new(AllocatorOptions {
            role_sorter: config.sorter.clone(),
            seed: config.seed,
            ..AllocatorOptions::default()
        })
        .context("--sorter")?;
        allocator.update_weights(&config.weights)?;
        add_agents(&mut allocator, config)?;
        let (frameworks, roles) = add_frameworks(&mut allocator, specs, config.offer_filters)?;
        let weights = role_weights(&roles, &config.weights);
        let n = roles.len();
        let framework_index = frameworks
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id.clone(), i))
            .collect();
        Ok(Simulation {
            allocator,
            agents: config.agents,
            frameworks,
            framework_index,
            roles,
            weights,
            role_cpus: vec![0.0; n],
            role_mem: vec![0.0; n],
            role_queued: vec![0; n],
            total_cpus,
            total_mem,
            arrivals,
            running: BinaryHeap::new(),
            seq: 0,
            horizon: config.horizon,
            interval: config.interval,
            refuse: config.refuse,
            sorter: config.sorter.clone(),
            samples: Vec::new(),
            counters: Counters::default(),
        })
    }

    fn run(&mut self) -> Result<()> {
        let mut now = Duration::ZERO;
        let mut arrived = Vec::new();
        while now <= self.horizon {
            self.finish_tasks(now)?;
            self.arrivals.until(now, &mut arrived);
            self.enqueue(arrived.drain(..))?;
            let started = Instant::now();
            let offers = self.allocator.allocate(now).offers;
            self.counters.allocate_time += started.elapsed();
            for offer in offers {
                self.answer(offer, now)?;
            }
            self.suppress_idle()?;
            self.sample(now);
            now += self.interval;
        }
        Ok(())
    }

    /// Ends the tasks due by `now` and gives their resources back.
    fn finish_tasks(&mut self, now: Duration) -> Result<()> {
        while self.running.peek().is_some_and(|r| r.finish <= now) {
            let Some(done) = self.running.pop() else {
                break;
            };
            let framework = &self.frameworks[done.framework];
            self.allocator.recover_offered(
                &framework.id,
                &done.agent,
                &self.roles[framework.role],
                &done.task.resources,
                None,
                now,
            )?;
            self.role_cpus[framework.role] -= done.task.cpus;
            self.role_mem[framework.role] -= done.task.mem;
            self.counters.finished += 1;
        }
        Ok(())
    }

    /// Queues newly submitted tasks, reviving frameworks that had nothing to do.
    fn enqueue(&mut self, tasks: impl Iterator<Item = Task>) -> Result<()> {
        for task in tasks {
            let framework = &mut self.frameworks[task.framework];
            if framework.suppressed {
                self.allocator.revive(&framework.id, &[])?;
                framework.suppressed = false;
            }
            self.role_queued[framework.role] += 1;
            framework.queue.push_back(task);
        }
        Ok(())
    }

    /// The framework launches what fits of its queue and gives back the rest.
    fn answer(&mut self, offer: Offer, now: Duration) -> Result<()> {
        self.counters.offers += 1;
        let index = *self
            .framework_index
            .get(&offer.framework)
            .context("offer to an unknown framework")?;
        let (launched, left) = first_fit(&mut self.frameworks[index].queue, &offer.resources);
        let role = self.frameworks[index].role;
        self.role_queued[role] -= launched.len();
        let refuse = if launched.is_empty() {
            self.counters.declined += 1;
            Some(self.refuse)
        } else {
            None
        };
        for task in launched {
            self.launch(index, &offer.agent, task, now);
        }
        if !left.is_empty() {
            self.allocator.recover_offered(
                &offer.framework,
                &offer.agent,
                &offer.role,
                &left,
                refuse,
                now,
            )?;
        }
        Ok(())
    }

    fn launch(&mut self, framework: usize, agent: &AgentId, task: Task, now: Duration) {
        let role = self.frameworks[framework].role;
        self.role_cpus[role] += task.cpus;
        self.role_mem[role] += task.mem;
        self.counters.launched += 1;
        self.counters
            .delays
            .push(now.saturating_sub(task.submit).as_secs_f64());
        self.seq += 1;
        self.running.push(Running {
            finish: now + task.duration,
            seq: self.seq,
            framework,
            agent: agent.clone(),
            task,
        });
    }

    /// Frameworks with an empty queue ask for no more offers.
    fn suppress_idle(&mut self) -> Result<()> {
        for framework in &mut self.frameworks {
            if !framework.suppressed && framework.queue.is_empty() {
                self.allocator.suppress(&framework.id, &[])?;
                framework.suppressed = true;
            }
        }
        Ok(())
    }

    fn sample(&mut self, now: Duration) {
        let shares: Vec<f64> = (0..self.roles.len())
            .map(|r| {
                let cpus = self.role_cpus[r] / self.total_cpus;
                let mem = if self.total_mem > 0.0 {
                    self.role_mem[r] / self.total_mem
                } else {
                    0.0
                };
                cpus.max(mem).max(0.0)
            })
            .collect();
        let busy: f64 = self.role_cpus.iter().sum();
        let weighted: Vec<f64> = (0..self.roles.len())
            .filter(|&r| self.role_queued[r] > 0 || self.role_cpus[r] > 1e-9)
            .map(|r| shares[r] / self.weights[r])
            .collect();
        self.samples.push(Sample {
            time: now,
            shares,
            utilization: busy / self.total_cpus,
            jain: jain_index(&weighted),
        });
    }
}

fn add_agents(allocator: &mut Allocator, config: &Config) -> Result<()> {
    for i in 0..config.agents {
        let agent = AgentConfig {
            total: config.agent_shape.clone(),
            ..AgentConfig::default()
        };
        allocator.add_agent(AgentId::new(format!("agent-{i:04}")), agent, &[])?;
    }
    Ok(())
}

/// Subscribes the frameworks, suppressed since nothing is queued yet; returns them and the
/// roles in order of first appearance.
fn add_frameworks(
    allocator: &mut Allocator,
    specs: Vec<FrameworkSpec>,
    offer_filters: bool,
) -> Result<(Vec<Framework>, Vec<String>)> {
    let mut roles: Vec<String> = Vec::new();
    let mut frameworks = Vec::with_capacity(specs.len());
    for spec in specs {
        let role = roles
            .iter()
            .position(|r| *r == spec.role)
            .unwrap_or_else(|| {
                roles.push(spec.role.clone());
                roles.len() - 1
            });
        let mut min_allocatable = HashMap::new();
        if offer_filters {
            min_allocatable.insert(spec.role.clone(), vec![spec.smallest_task]);
        }
        let config = FrameworkConfig {
            roles: vec![spec.role.clone()],
            suppressed_roles: vec![spec.role],
            min_allocatable,
            ..FrameworkConfig::default()
        };
        let id = FrameworkId::new(spec.name);
        allocator.add_framework(id.clone(), config, &[], true)?;
        frameworks.push(Framework {
            id,
            role,
            queue: VecDeque::new(),
            suppressed: true,
        });
    }
    Ok((frameworks, roles))
}

/// Each role's weight (1 unless `--weights` says otherwise).
fn role_weights(roles: &[String], weights: &[(String, f64)]) -> Vec<f64> {
    for (name, _) in weights {
        if !roles.contains(name) {
            eprintln!("warning: --weights names role {name}, which has no frameworks");
        }
    }
    roles
        .iter()
        .map(|r| {
            weights
                .iter()
                .find(|(name, _)| name == r)
                .map_or(1.0, |(_, w)| *w)
        })
        .collect()
}

/// Launches queued tasks, in queue order, while they fit in the offer; returns them and what is
/// left of the offer. Gives up after [`MAX_MISFITS`] tasks that do not fit.
fn first_fit(queue: &mut VecDeque<Task>, offer: &Resources) -> (Vec<Task>, Resources) {
    let mut left = offer.clone();
    let mut launched = Vec::new();
    let mut misfits = 0;
    let mut i = 0;
    while i < queue.len() && misfits < MAX_MISFITS {
        if left.contains(&queue[i].resources) {
            left -= &queue[i].resources;
            launched.extend(queue.remove(i));
        } else {
            misfits += 1;
            i += 1;
        }
    }
    (launched, left)
}

/// Jain's fairness index, `(Σx)² / (n·Σx²)`: 1 when all equal, `1/n` when one has everything.
fn jain_index(values: &[f64]) -> Option<f64> {
    let sum: f64 = values.iter().sum();
    let squares: f64 = values.iter().map(|x| x * x).sum();
    (squares > 0.0).then(|| sum * sum / (values.len() as f64 * squares))
}

// ----- the report -----

struct Report {
    utilization: f64,
    mean_shares: Vec<f64>,
    jain: Option<f64>,
    delay_mean: f64,
    delay_p50: f64,
    delay_p99: f64,
}

impl Report {
    fn new(sim: &Simulation) -> Report {
        let n = sim.samples.len().max(1) as f64;
        let utilization = sim.samples.iter().map(|s| s.utilization).sum::<f64>() / n;
        let mean_shares = (0..sim.roles.len())
            .map(|r| sim.samples.iter().map(|s| s.shares[r]).sum::<f64>() / n)
            .collect();
        let jains: Vec<f64> = sim.samples.iter().filter_map(|s| s.jain).collect();
        let jain = (!jains.is_empty()).then(|| jains.iter().sum::<f64>() / jains.len() as f64);
        let mut delays = sim.counters.delays.clone();
        delays.sort_by(f64::total_cmp);
        let delay_mean = delays.iter().sum::<f64>() / delays.len().max(1) as f64;
        Report {
            utilization,
            mean_shares,
            jain,
            delay_mean,
            delay_p50: percentile(&delays, 50),
            delay_p99: percentile(&delays, 99),
        }
    }

    fn print(&self, sim: &Simulation, wall: Duration) {
        let c = &sim.counters;
        let queued: usize = sim.frameworks.iter().map(|f| f.queue.len()).sum();
        println!(
            "simulated {:.2} h of virtual time in {} cycles: {} agents ({} cpus, {} MB), {} frameworks, {} roles, {} sorter",
            sim.horizon.as_secs_f64() / 3600.0,
            sim.samples.len(),
            sim.agents,
            sim.total_cpus,
            sim.total_mem,
            sim.frameworks.len(),
            sim.roles.len(),
            sim.sorter
        );
        println!(
            "utilization (cpus in tasks / total): {:.1}%",
            self.utilization * 100.0
        );
        println!("mean dominant share by role:");
        for (r, role) in sim.roles.iter().enumerate() {
            println!(
                "  {role:<12} weight {:<5} {:.3}",
                sim.weights[r], self.mean_shares[r]
            );
        }
        match self.jain {
            Some(j) => println!(
                "Jain's fairness index over weighted dominant shares (time-averaged): {j:.3}"
            ),
            None => println!("Jain's fairness index: no role ever ran anything"),
        }
        println!(
            "submit-to-launch delay: mean {:.1} s, p50 {:.1} s, p99 {:.1} s",
            self.delay_mean, self.delay_p50, self.delay_p99
        );
        println!(
            "tasks: {} launched, {} finished, {} still queued; {} offers, {} declined outright",
            c.launched, c.finished, queued, c.offers, c.declined
        );
        println!(
            "wall time: {:.2} s ({:.2} s in Allocator::allocate)",
            wall.as_secs_f64(),
            c.allocate_time.as_secs_f64()
        );
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], pct: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() - 1) * pct / 100]
}

// ----- output files -----

fn write_outputs(dir: &Path, sim: &Simulation, report: &Report) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let csv = dir.join("shares.csv");
    std::fs::write(&csv, shares_csv(sim)).with_context(|| format!("writing {}", csv.display()))?;
    let svg = dir.join("shares.svg");
    std::fs::write(&svg, shares_svg(sim, report))
        .with_context(|| format!("writing {}", svg.display()))?;
    println!("wrote {} and {}", csv.display(), svg.display());
    Ok(())
}

fn shares_csv(sim: &Simulation) -> String {
    let mut out = String::from("time_seconds,role,dominant_share,utilization\n");
    for s in &sim.samples {
        for (r, role) in sim.roles.iter().enumerate() {
            let _ = writeln!(
                out,
                "{},{role},{:.5},{:.5}",
                s.time.as_secs_f64(),
                s.shares[r],
                s.utilization
            );
        }
    }
    out
}

/// Chart geometry.
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 540.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = 70.0;
/// At most this many points per line: samples are averaged in buckets beyond it.
const MAX_POINTS: usize = 600;
const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22",
];

/// A line chart of each role's dominant share over time.
fn shares_svg(sim: &Simulation, report: &Report) -> String {
    let chart = Chart::new(sim);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="13">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    chart.titles(&mut svg, sim, report);
    chart.grid(&mut svg);
    chart.axes(&mut svg);
    for r in 0..sim.roles.len() {
        chart.line(&mut svg, sim, r);
        chart.legend_entry(&mut svg, sim, report, r);
    }
    svg.push_str("</svg>\n");
    svg
}

/// The plot area and its scales.
struct Chart {
    plot_w: f64,
    plot_h: f64,
    /// Time axis: unit name, seconds per unit, last value.
    time_unit: &'static str,
    time_scale: f64,
    x_max: f64,
    y_max: f64,
    y_step: f64,
}

impl Chart {
    fn new(sim: &Simulation) -> Chart {
        let end = sim.samples.last().map_or(1.0, |s| s.time.as_secs_f64());
        let (time_unit, time_scale) = if end > 3.0 * 3600.0 {
            ("hours", 3600.0)
        } else if end > 180.0 {
            ("minutes", 60.0)
        } else {
            ("seconds", 1.0)
        };
        let peak = sim
            .samples
            .iter()
            .flat_map(|s| s.shares.iter().copied())
            .fold(0.0f64, f64::max);
        let top = peak.max(0.01) * 1.1;
        let y_step = nice_step(top, 6);
        Chart {
            plot_w: WIDTH - LEFT - RIGHT,
            plot_h: HEIGHT - TOP - BOTTOM,
            time_unit,
            time_scale,
            x_max: (end / time_scale).max(1e-9),
            y_max: (top / y_step).ceil() * y_step,
            y_step,
        }
    }

    /// Pixel column of a time in axis units.
    fn x(&self, t: f64) -> f64 {
        LEFT + t / self.x_max * self.plot_w
    }

    /// Pixel row of a share.
    fn y(&self, v: f64) -> f64 {
        TOP + self.plot_h - v / self.y_max * self.plot_h
    }

    fn titles(&self, svg: &mut String, sim: &Simulation, report: &Report) {
        let center = LEFT + self.plot_w / 2.0;
        let _ = writeln!(
            svg,
            r#"<text x="{center}" y="30" text-anchor="middle" font-size="17" font-weight="bold">Dominant share by role ({} sorter, {} agents, {} frameworks)</text>"#,
            xml_escape(&sim.sorter),
            sim.agents,
            sim.frameworks.len()
        );
        let jain = report.jain.map_or("n/a".to_string(), |j| format!("{j:.3}"));
        let _ = writeln!(
            svg,
            r##"<text x="{center}" y="48" text-anchor="middle" fill="#555">mean cpu utilization {:.1}% · Jain's index over weighted shares {jain}</text>"##,
            report.utilization * 100.0
        );
    }

    /// Grid lines with tick labels on both axes.
    fn grid(&self, svg: &mut String) {
        let bottom = TOP + self.plot_h;
        let x_step = nice_step(self.x_max, 8);
        for i in 0..=ticks(self.x_max, x_step) {
            let t = f64::from(i) * x_step;
            let px = self.x(t);
            let _ = writeln!(
                svg,
                r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{bottom:.1}" stroke="#e5e5e5"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                bottom + 20.0,
                tick_label(t, x_step)
            );
        }
        for i in 0..=ticks(self.y_max, self.y_step) {
            let v = f64::from(i) * self.y_step;
            let py = self.y(v);
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + self.plot_w,
                LEFT - 8.0,
                py + 4.0,
                tick_label(v, self.y_step)
            );
        }
    }

    /// The two axes and their labels.
    fn axes(&self, svg: &mut String) {
        let _ = writeln!(
            svg,
            r#"<path d="M{LEFT},{TOP} V{:.1} H{:.1}" fill="none" stroke="black"/>"#,
            TOP + self.plot_h,
            LEFT + self.plot_w
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">virtual time ({})</text>"#,
            LEFT + self.plot_w / 2.0,
            HEIGHT - 22.0,
            self.time_unit
        );
        let _ = writeln!(
            svg,
            r#"<text transform="translate(24 {:.1}) rotate(-90)" text-anchor="middle">dominant share of the cluster</text>"#,
            TOP + self.plot_h / 2.0
        );
    }

    /// One role's share over time.
    fn line(&self, svg: &mut String, sim: &Simulation, role: usize) {
        let points: Vec<String> = downsample(sim, role)
            .into_iter()
            .map(|(t, v)| format!("{:.1},{:.1}", self.x(t / self.time_scale), self.y(v)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.6" stroke-linejoin="round"/>"#,
            points.join(" "),
            color(role)
        );
    }

    /// A role's swatch, name, weight and mean share, right of the plot.
    fn legend_entry(&self, svg: &mut String, sim: &Simulation, report: &Report, role: usize) {
        let lx = LEFT + self.plot_w + 20.0;
        let ly = TOP + 10.0 + role as f64 * 38.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{} (weight {})</text><text x="{}" y="{}" font-size="11" fill="#555">mean share {:.3}</text>"##,
            lx + 24.0,
            color(role),
            lx + 32.0,
            ly + 4.0,
            xml_escape(&sim.roles[role]),
            sim.weights[role],
            lx + 32.0,
            ly + 19.0,
            report.mean_shares[role]
        );
    }
}

fn color(role: usize) -> &'static str {
    COLORS[role % COLORS.len()]
}

/// `(seconds, share)` points of one role, averaged in buckets so that there are at most
/// [`MAX_POINTS`].
fn downsample(sim: &Simulation, role: usize) -> Vec<(f64, f64)> {
    let bucket = sim.samples.len().div_ceil(MAX_POINTS).max(1);
    sim.samples
        .chunks(bucket)
        .map(|chunk| {
            let n = chunk.len() as f64;
            let t = chunk.iter().map(|s| s.time.as_secs_f64()).sum::<f64>() / n;
            let v = chunk.iter().map(|s| s.shares[role]).sum::<f64>() / n;
            (t, v)
        })
        .collect()
}

/// A round step (1, 2 or 5 × 10^k) that cuts `range` into about `target` parts.
fn nice_step(range: f64, target: u32) -> f64 {
    let raw = range / f64::from(target);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = match raw / magnitude {
        n if n <= 1.0 => 1.0,
        n if n <= 2.0 => 2.0,
        n if n <= 5.0 => 5.0,
        _ => 10.0,
    };
    step * magnitude
}

/// How many whole steps fit in `max` (with a little slack for rounding).
fn ticks(max: f64, step: f64) -> u32 {
    let mut n = 0;
    while f64::from(n + 1) * step <= max * (1.0 + 1e-9) && n < 1000 {
        n += 1;
    }
    n
}

/// A tick value with as many decimals as its step needs.
fn tick_label(value: f64, step: f64) -> String {
    let mut decimals = 0;
    let mut s = step;
    while (s - s.round()).abs() > 1e-9 && decimals < 6 {
        s *= 10.0;
        decimals += 1;
    }
    format!("{value:.decimals$}")
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
