//! Golden tests: the JSON examples of Apache Mesos's HTTP API docs (`docs/scheduler-http-api.md`,
//! `docs/executor-http-api.md`, `docs/operator-http-api.md`, Apache Mesos commit c1b42f79d157)
//! must survive our Mesos-style JSON mapping.
//!
//! Each fixture under `tests/golden/<doc>/` holds one example body:
//! `{"message": "<full proto name>", "source": "<doc and heading>", "doc_fix"?: "...", "json": {...}}`.
//! For every fixture the test parses `json` with [`dynamic_from_value`], writes it back with
//! [`dynamic_to_value`] and requires the result to equal the input, where numbers compare
//! numerically and the output may add only keys for unset fields that declare an explicit,
//! non-deprecated `[default = ...]` (Mesos writes those). It also requires that a second JSON
//! round trip is a fixed point and that a protobuf binary round trip keeps the message.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mesos_core::json::{dynamic_from_value, dynamic_to_value};
use mesos_core::proto::DESCRIPTOR_POOL;
use prost::Message as _;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, Value,
};
use serde_json::{Map, Value as Json};

const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

/// Fixtures extracted per doc directory. A broken directory walk must not make the
/// round-trip test pass vacuously.
const EXPECTED_PER_DOC: &[(&str, usize)] =
    &[("executor", 11), ("operator", 102), ("scheduler", 26)];
const EXPECTED_TOTAL: usize = 139;

/// All `*.json` files below `dir`, sorted by path.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(json_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "json") {
            out.push(path);
        }
    }
    out
}

fn fixture_name(path: &Path) -> String {
    path.strip_prefix(GOLDEN_DIR)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn fixture_count_is_not_vacuous() {
    let all = json_files(Path::new(GOLDEN_DIR));
    assert!(
        all.len() >= EXPECTED_TOTAL,
        "expected at least {EXPECTED_TOTAL} fixtures under {GOLDEN_DIR}, found {}",
        all.len()
    );
    for (doc, expected) in EXPECTED_PER_DOC {
        let found = json_files(&Path::new(GOLDEN_DIR).join(doc)).len();
        assert!(
            found >= *expected,
            "expected at least {expected} fixtures for {doc}, found {found}"
        );
    }
}

/// Reads a fixture and returns its message name and example body.
fn load(path: &Path) -> Result<(String, Json), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let fixture: Json = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    let Json::Object(fields) = fixture else {
        return Err("fixture is not a JSON object".into());
    };
    for key in fields.keys() {
        if !matches!(key.as_str(), "message" | "source" | "doc_fix" | "json") {
            return Err(format!("unexpected fixture key '{key}'"));
        }
    }
    let message = match fields.get("message") {
        Some(Json::String(s)) => s.clone(),
        _ => return Err("missing string 'message'".into()),
    };
    if !matches!(fields.get("source"), Some(Json::String(s)) if !s.is_empty()) {
        return Err("missing string 'source'".into());
    }
    if let Some(fix) = fields.get("doc_fix")
        && !matches!(fix, Json::String(s) if !s.is_empty())
    {
        return Err("'doc_fix' must be a non-empty string".into());
    }
    let json = fields
        .get("json")
        .cloned()
        .ok_or_else(|| "missing 'json'".to_string())?;
    Ok((message, json))
}

fn describe(json: &Json) -> String {
    let text = json.to_string();
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(77).collect::<String>())
    } else {
        text
    }
}

/// Compares the written JSON (`actual`) with the example (`expected`) and records every
/// difference with its JSON path.
struct Comparer<'a> {
    fixture: &'a str,
    failures: &'a mut Vec<String>,
}

impl Comparer<'_> {
    fn fail(&mut self, path: &str, what: String) {
        self.failures
            .push(format!("{}: {path}: {what}", self.fixture));
    }

    fn message(
        &mut self,
        expected: &Map<String, Json>,
        actual: &Map<String, Json>,
        descriptor: &MessageDescriptor,
        path: &str,
    ) {
        for (key, want) in expected {
            let field_path = format!("{path}.{key}");
            let Some(field) = descriptor.get_field_by_name(key) else {
                self.fail(
                    &field_path,
                    format!("{} has no field '{key}'", descriptor.full_name()),
                );
                continue;
            };
            match actual.get(key) {
                Some(got) => self.field(want, got, &field, &field_path),
                None => self.fail(
                    &field_path,
                    format!("missing from output (input {})", describe(want)),
                ),
            }
        }
        for (key, got) in actual {
            if expected.contains_key(key) {
                continue;
            }
            let field_path = format!("{path}.{key}");
            match descriptor.get_field_by_name(key) {
                Some(field) if writes_default(&field) => {}
                Some(_) => self.fail(
                    &field_path,
                    format!(
                        "extra key in output ({}) for a field without a written default",
                        describe(got)
                    ),
                ),
                None => self.fail(
                    &field_path,
                    format!("output key is not a field of {}", descriptor.full_name()),
                ),
            }
        }
    }

    fn field(&mut self, expected: &Json, actual: &Json, field: &FieldDescriptor, path: &str) {
        if field.is_map() {
            let value_kind = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other,
            };
            let (Json::Object(want), Json::Object(got)) = (expected, actual) else {
                self.fail(
                    path,
                    format!(
                        "expected map {}, output {}",
                        describe(expected),
                        describe(actual)
                    ),
                );
                return;
            };
            for (key, w) in want {
                let entry_path = format!("{path}[{key:?}]");
                match got.get(key) {
                    Some(g) => self.value(w, g, &value_kind, &entry_path),
                    None => self.fail(&entry_path, "map entry missing from output".into()),
                }
            }
            for key in got.keys().filter(|k| !want.contains_key(*k)) {
                self.fail(
                    &format!("{path}[{key:?}]"),
                    "extra map entry in output".into(),
                );
            }
        } else if field.is_list() {
            let (Json::Array(want), Json::Array(got)) = (expected, actual) else {
                self.fail(
                    path,
                    format!(
                        "expected list {}, output {}",
                        describe(expected),
                        describe(actual)
                    ),
                );
                return;
            };
            if want.len() != got.len() {
                self.fail(
                    path,
                    format!("list of {} items became {}", want.len(), got.len()),
                );
            }
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                self.value(w, g, &field.kind(), &format!("{path}[{i}]"));
            }
        } else {
            self.value(expected, actual, &field.kind(), path);
        }
    }

    fn value(&mut self, expected: &Json, actual: &Json, kind: &Kind, path: &str) {
        match (kind, expected, actual) {
            (Kind::Message(descriptor), Json::Object(want), Json::Object(got)) => {
                self.message(want, got, descriptor, path);
            }
            (_, Json::Number(want), Json::Number(got)) => {
                if !numbers_equal(want, got) {
                    self.fail(path, format!("number {want} became {got}"));
                }
            }
            _ if expected == actual => {}
            _ => self.fail(
                path,
                format!("{} became {}", describe(expected), describe(actual)),
            ),
        }
    }
}

/// Numbers compare by value: `1 == 1.0`; integers beyond f64 precision compare exactly.
fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Mesos writes an unset optional field when it declares an explicit, non-deprecated default.
fn writes_default(field: &FieldDescriptor) -> bool {
    let proto = field.field_descriptor_proto();
    proto.default_value.is_some()
        && !proto
            .options
            .as_ref()
            .and_then(|o| o.deprecated)
            .unwrap_or(false)
}

/// Field-by-field equality of two messages that treats an empty list as unset, since the
/// binary form cannot tell them apart. Records the path of each difference.
fn same_message(a: &DynamicMessage, b: &DynamicMessage, path: &str, diffs: &mut Vec<String>) {
    for field in a.descriptor().fields() {
        let field_path = format!("{path}.{}", field.name());
        if !field.is_list() && !field.is_map() {
            match (a.has_field(&field), b.has_field(&field)) {
                (true, true) => {}
                // Unset on both sides; do not descend into defaults (messages can nest).
                (false, false) => continue,
                _ => {
                    diffs.push(format!("{field_path}: presence differs"));
                    continue;
                }
            }
        }
        same_value(
            &a.get_field(&field),
            &b.get_field(&field),
            &field_path,
            diffs,
        );
    }
}

fn same_value(a: &Value, b: &Value, path: &str, diffs: &mut Vec<String>) {
    match (a, b) {
        (Value::Message(x), Value::Message(y)) => same_message(x, y, path, diffs),
        (Value::List(x), Value::List(y)) => {
            if x.len() == y.len() {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    same_value(p, q, &format!("{path}[{i}]"), diffs);
                }
            } else {
                diffs.push(format!("{path}: {} items became {}", x.len(), y.len()));
            }
        }
        (Value::Map(x), Value::Map(y)) => {
            if x.len() != y.len() {
                diffs.push(format!("{path}: {} entries became {}", x.len(), y.len()));
            }
            for (key, p) in x {
                match y.get(key) {
                    Some(q) => same_value(p, q, &format!("{path}[{key:?}]"), diffs),
                    None => diffs.push(format!("{path}[{key:?}]: entry lost")),
                }
            }
        }
        _ if a == b => {}
        _ => diffs.push(format!("{path}: {a:?} became {b:?}")),
    }
}

/// Runs every check on one fixture, appending failures.
fn check_fixture(name: &str, message: &str, json: &Json, failures: &mut Vec<String>) {
    let Some(descriptor) = DESCRIPTOR_POOL.get_message_by_name(message) else {
        failures.push(format!("{name}: unknown message type '{message}'"));
        return;
    };
    let parsed = match dynamic_from_value(&descriptor, json) {
        Ok(parsed) => parsed,
        Err(e) => {
            failures.push(format!("{name}: parse failed: {e}"));
            return;
        }
    };
    let written = dynamic_to_value(&parsed);
    match (json, &written) {
        (Json::Object(want), Json::Object(got)) => Comparer {
            fixture: name,
            failures,
        }
        .message(want, got, &descriptor, "$"),
        _ => failures.push(format!("{name}: $: example or output is not an object")),
    }

    // A second JSON round trip must be a fixed point.
    match dynamic_from_value(&descriptor, &written) {
        Ok(reparsed) => {
            let rewritten = dynamic_to_value(&reparsed);
            if rewritten != written {
                failures.push(format!(
                    "{name}: second round trip differs:\n  first:  {written}\n  second: {rewritten}"
                ));
            }
        }
        Err(e) => failures.push(format!("{name}: own output does not parse: {e}")),
    }

    // Protobuf binary round trip.
    let bytes = parsed.encode_to_vec();
    match DynamicMessage::decode(descriptor.clone(), bytes.as_slice()) {
        Ok(decoded) => {
            let mut diffs = Vec::new();
            same_message(&parsed, &decoded, "$", &mut diffs);
            for diff in diffs {
                failures.push(format!("{name}: binary round trip: {diff}"));
            }
            let rewritten = dynamic_to_value(&decoded);
            if rewritten != written {
                failures.push(format!(
                    "{name}: binary round trip writes different JSON:\n  before: {written}\n  after:  {rewritten}"
                ));
            }
        }
        Err(e) => failures.push(format!("{name}: binary decode failed: {e}")),
    }
}

#[test]
fn doc_examples_round_trip() {
    let paths = json_files(Path::new(GOLDEN_DIR));
    assert!(
        paths.len() >= EXPECTED_TOTAL,
        "only {} fixtures found under {GOLDEN_DIR}",
        paths.len()
    );
    let mut failures = Vec::new();
    for path in &paths {
        let name = fixture_name(path);
        match load(path) {
            Ok((message, json)) => check_fixture(&name, &message, &json, &mut failures),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    if !failures.is_empty() {
        let mut report = format!(
            "{} failure(s) in {} fixtures:\n",
            failures.len(),
            paths.len()
        );
        for failure in &failures {
            let _ = writeln!(report, "  {failure}");
        }
        panic!("{report}");
    }
}

/// The comparison must catch what the golden test exists to catch; a comparer that accepts
/// everything would make every fixture pass.
#[test]
fn comparison_is_strict() {
    let compare = |message: &str, expected: Json, actual: Json| -> Vec<String> {
        let descriptor = DESCRIPTOR_POOL
            .get_message_by_name(message)
            .expect("known message");
        let mut failures = Vec::new();
        let (Json::Object(want), Json::Object(got)) = (&expected, &actual) else {
            panic!("objects expected");
        };
        Comparer {
            fixture: "case",
            failures: &mut failures,
        }
        .message(want, got, &descriptor, "$");
        failures
    };
    let info = "mesos.v1.FrameworkInfo";
    let base = serde_json::json!({"user": "u", "name": "n", "failover_timeout": 1});

    // Numbers compare by value, and defaulted fields may be added.
    let written = serde_json::json!(
        {"user": "u", "name": "n", "failover_timeout": 1.0, "checkpoint": false}
    );
    assert_eq!(compare(info, base.clone(), written), Vec::<String>::new());

    // A lost key, a changed value and an added field without a default are all reported.
    let lost = compare(
        info,
        base.clone(),
        serde_json::json!({"user": "u", "failover_timeout": 1}),
    );
    assert!(
        lost.iter()
            .any(|f| f.contains("$.name") && f.contains("missing")),
        "{lost:?}"
    );
    let changed = compare(
        info,
        base.clone(),
        serde_json::json!({"user": "u", "name": "n", "failover_timeout": 2}),
    );
    assert!(
        changed.iter().any(|f| f.contains("$.failover_timeout")),
        "{changed:?}"
    );
    let extra = compare(
        info,
        base,
        serde_json::json!({"user": "u", "name": "n", "failover_timeout": 1, "hostname": "h"}),
    );
    assert!(extra.iter().any(|f| f.contains("$.hostname")), "{extra:?}");

    // Resource.role has `[default = "*"]` but is deprecated, so it may not be added.
    let role = DESCRIPTOR_POOL
        .get_message_by_name("mesos.v1.Resource")
        .and_then(|m| m.get_field_by_name("role"))
        .expect("Resource.role");
    assert!(role.field_descriptor_proto().default_value.is_some());
    assert!(!writes_default(&role));

    // A doc error (a key that is no field) fails the whole fixture check with its path.
    let mut failures = Vec::new();
    let bad = serde_json::json!({"type": "UPDATE", "update": {"status": {
        "task_id": {"value": "t"}, "state": "TASK_RUNNING", "bytes": "AAAA"}}});
    check_fixture("case", "mesos.v1.scheduler.Event", &bad, &mut failures);
    assert!(
        failures.iter().any(|f| f.contains("$.update.status.bytes")),
        "{failures:?}"
    );
}
