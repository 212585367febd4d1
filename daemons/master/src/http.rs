//! The master's HTTP surface, routed the way libprocess routes: `/master/<endpoint>`, with
//! paths that name no process delegated to `master`, trailing slashes dropped, unknown paths
//! answered by their nearest parent endpoint, and `?jsonp=cb` on read-only JSON endpoints.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::Stream;
use mesos_core::proto::v1::master as opb;
use mesos_core::proto::v1::scheduler as spb;
use tokio::sync::mpsc;

use crate::Shared;
use crate::codec::{self, Format, MediaError};
use crate::master::{CallError, HEARTBEAT_INTERVAL, Master, OperatorSubscriber};
use crate::state::FrameworkConn;
use crate::{model, operator};

/// Processes that own the first path segment; anything else goes to `master`.
const PROCESSES: &[&str] = &["master", "metrics", "version", "files", "logging"];

/// Every master endpoint, as a path below `/master/`.
const MASTER_ENDPOINTS: &[&str] = &[
    "api/v1/scheduler",
    "api/v1",
    "state",
    "state.json",
    "state-summary",
    "frameworks",
    "frameworks.json",
    "slaves",
    "slaves.json",
    "tasks",
    "tasks.json",
    "roles",
    "roles.json",
    "weights",
    "quota",
    "reserve",
    "unreserve",
    "maintenance/schedule",
    "maintenance/status",
    "machine/down",
    "machine/up",
    "teardown",
    "redirect",
    "health",
    "flags",
];

/// Resolves a request path to `(process, endpoint)`.
pub(crate) fn route(path: &str) -> Option<(&'static str, &'static str)> {
    let trimmed = path.trim_end_matches('/');
    let trimmed = trimmed.strip_prefix('/').unwrap_or(trimmed);
    if trimmed == "metrics" {
        return Some(("metrics", "prometheus"));
    }
    let (first, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let (process, rest) = if PROCESSES.contains(&first) {
        (first, rest)
    } else {
        ("master", trimmed)
    };
    match process {
        "master" => {
            if rest.starts_with("redirect/") {
                return None;
            }
            let mut candidate = rest;
            loop {
                if let Some(e) = MASTER_ENDPOINTS.iter().find(|e| **e == candidate) {
                    return Some(("master", e));
                }
                match candidate.rsplit_once('/') {
                    Some((parent, _)) => candidate = parent,
                    None => return None,
                }
            }
        }
        "metrics" if rest == "snapshot" || rest.starts_with("snapshot/") => {
            Some(("metrics", "snapshot"))
        }
        "version" => Some(("version", "")),
        _ => None,
    }
}

pub(crate) fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query().map(decode_form).unwrap_or_default()
}

/// Decodes `application/x-www-form-urlencoded` text.
pub(crate) fn decode_form(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn text(status: u16, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, message.into()).into_response()
}

fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// A JSON reply, wrapped as `cb(...)` when `?jsonp=cb` is given.
fn json_reply(value: &serde_json::Value, query: &HashMap<String, String>) -> Response {
    written_reply(query, |out| {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(out, value);
    })
}

/// A JSON document written by `write`, wrapped as `cb(...)` when `?jsonp=cb` is given.
fn written_reply(query: &HashMap<String, String>, write: impl FnOnce(&mut Vec<u8>)) -> Response {
    let mut out = Vec::new();
    let jsonp = query.get("jsonp");
    if let Some(cb) = jsonp {
        out.extend_from_slice(cb.as_bytes());
        out.push(b'(');
    }
    write(&mut out);
    let content_type = match jsonp {
        Some(_) => {
            out.extend_from_slice(b");");
            "text/javascript"
        }
        None => "application/json",
    };
    ([(header::CONTENT_TYPE, content_type)], out).into_response()
}

/// Writes a large read-only JSON reply on the blocking pool, so the async workers keep
/// serving other requests (`/health`, scheduler calls) while it is written.
///
/// `size_hint` remembers the size of the endpoint's last reply, so that the buffer is
/// reserved once instead of growing (and being copied and faulted in) a dozen times.
async fn read_json(
    shared: &Arc<Shared>,
    query: HashMap<String, String>,
    size_hint: &'static AtomicUsize,
    write: impl FnOnce(&Master, &mut Vec<u8>) + Send + 'static,
) -> Response {
    let shared = shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        written_reply(&query, |out| {
            out.reserve(size_hint.load(Ordering::Relaxed) + 4096);
            let m = shared.lock();
            write(&m, out);
            drop(m);
            size_hint.store(out.len(), Ordering::Relaxed);
        })
    })
    .await;
    match result {
        Ok(response) => response,
        Err(e) => text(500, format!("failed to build the reply: {e}")),
    }
}

fn media_error(e: MediaError) -> Response {
    text(e.status(), e.message())
}

fn call_error(e: CallError) -> Response {
    text(e.status, e.message)
}

/// The single entry point for every HTTP request.
pub(crate) async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((process, endpoint)) = route(uri.path()) else {
        return text(404, format!("No endpoint at '{}'", uri.path()));
    };
    let query = query_map(&uri);
    match (process, endpoint) {
        ("master", "api/v1/scheduler") => scheduler(&shared, &method, &headers, &body),
        ("master", "api/v1") => operator_api(&shared, &method, &headers, &body),
        ("master", "health") => empty(StatusCode::OK),
        ("master", "redirect") => {
            let m = shared.lock();
            let host = m.info.hostname.clone().unwrap_or_default();
            let location = format!("//{host}:{}", m.info.port);
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response()
        }
        ("master", "teardown") => teardown(&shared, &method, &body),
        ("master", "weights") => weights(&shared, &method, &body, &query),
        ("master", "quota") => quota(&shared, &method, &uri, &body, &query),
        ("master", "reserve") | ("master", "unreserve") => {
            reserve(&shared, &method, &body, endpoint == "reserve")
        }
        ("master", "maintenance/schedule") => maintenance_schedule(&shared, &method, &body, &query),
        ("master", "maintenance/status") => {
            let m = shared.lock();
            json_reply(&mesos_core::json::to_value(&m.maintenance_status()), &query)
        }
        ("master", "machine/down" | "machine/up") => {
            machines(&shared, &method, &body, endpoint == "machine/down")
        }
        ("master", "state" | "state.json") => {
            static SIZE: AtomicUsize = AtomicUsize::new(0);
            read_json(&shared, query, &SIZE, model::state).await
        }
        ("master", "state-summary") => {
            static SIZE: AtomicUsize = AtomicUsize::new(0);
            read_json(&shared, query, &SIZE, model::state_summary).await
        }
        ("master", "frameworks" | "frameworks.json") => {
            static SIZE: AtomicUsize = AtomicUsize::new(0);
            let id = query.get("framework_id").cloned();
            read_json(&shared, query, &SIZE, move |m, out| {
                model::frameworks(m, id.as_deref(), out);
            })
            .await
        }
        ("master", "slaves" | "slaves.json") => {
            static SIZE: AtomicUsize = AtomicUsize::new(0);
            let id = query.get("slave_id").cloned();
            read_json(&shared, query, &SIZE, move |m, out| {
                model::slaves(m, id.as_deref(), out);
            })
            .await
        }
        ("master", "tasks" | "tasks.json") => {
            let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
                None => 100,
                Some(Ok(l)) => l,
                Some(Err(_)) => return text(400, "Failed to parse 'limit': not a number"),
            };
            let offset = match query.get("offset").map(|l| l.parse::<usize>()) {
                None => 0,
                Some(Ok(l)) => l,
                Some(Err(_)) => return text(400, "Failed to parse 'offset': not a number"),
            };
            let descending = match query.get("order").map(String::as_str) {
                None | Some("des") => true,
                Some("asc") => false,
                Some(other) => {
                    return text(
                        400,
                        format!("Invalid 'order' '{other}': expecting 'asc' or 'des'"),
                    );
                }
            };
            let q = model::TasksQuery {
                limit,
                offset,
                descending,
                framework_id: query.get("framework_id").cloned(),
                task_id: query.get("task_id").cloned(),
            };
            static SIZE: AtomicUsize = AtomicUsize::new(0);
            read_json(&shared, query, &SIZE, move |m, out| {
                model::tasks(m, &q, out)
            })
            .await
        }
        ("master", "roles" | "roles.json") => {
            let m = shared.lock();
            json_reply(&model::roles(&m), &query)
        }
        ("master", "flags") => {
            let m = shared.lock();
            json_reply(&serde_json::json!({ "flags": model::flags(&m) }), &query)
        }
        ("metrics", "snapshot") => {
            let m = shared.lock();
            let map: serde_json::Map<String, serde_json::Value> = crate::metrics::snapshot(&m)
                .into_iter()
                .map(|(k, v)| (k, serde_json::json!(v)))
                .collect();
            json_reply(&serde_json::Value::Object(map), &query)
        }
        ("metrics", "prometheus") => {
            let m = shared.lock();
            let body = crate::metrics::prometheus(&crate::metrics::snapshot(&m));
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
        }
        ("version", _) => json_reply(
            &serde_json::json!({
                "version": crate::master::MESOS_VERSION,
                "build_date": "",
                "build_time": 0,
                "build_user": "",
            }),
            &query,
        ),
        _ => text(404, format!("No endpoint at '{}'", uri.path())),
    }
}

// ---------------------------------------------------------------- scheduler API

/// The event stream of one subscription. When the client goes away (the body is dropped),
/// the framework is told it disconnected.
struct EventStream {
    rx: mpsc::UnboundedReceiver<Bytes>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl Stream for EventStream {
    type Item = Result<Bytes, Infallible>;

    /// Coalesces the records already queued into one chunk (up to 256 KiB), so a burst of
    /// events (reconciliation, a large offer round) is not written one tiny chunk at a time.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        const MAX_CHUNK: usize = 256 * 1024;
        let first = match self.rx.poll_recv(cx) {
            Poll::Ready(Some(b)) => b,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let mut chunk: Option<Vec<u8>> = None;
        while chunk.as_ref().map_or(first.len(), Vec::len) < MAX_CHUNK {
            match self.rx.try_recv() {
                Ok(next) => chunk
                    .get_or_insert_with(|| first.to_vec())
                    .extend_from_slice(&next),
                Err(_) => break,
            }
        }
        Poll::Ready(Some(Ok(chunk.map_or(first, Bytes::from))))
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}

/// Sends a heartbeat record every 15 s for as long as the stream's owner keeps its sender.
fn spawn_heartbeats(tx: &mpsc::UnboundedSender<Bytes>, heartbeat: Bytes) {
    let weak = tx.downgrade();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(HEARTBEAT_INTERVAL);
        interval.tick().await;
        loop {
            interval.tick().await;
            match weak.upgrade() {
                Some(tx) if tx.send(heartbeat.clone()).is_ok() => {}
                _ => break,
            }
        }
    });
}

fn stream_response(format: Format, stream: EventStream, stream_id: Option<&str>) -> Response {
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    if let Some(id) = stream_id
        && let Ok(v) = HeaderValue::from_str(id)
    {
        headers.insert("Mesos-Stream-Id", v);
    }
    response
}

fn scheduler(shared: &Arc<Shared>, method: &Method, headers: &HeaderMap, body: &[u8]) -> Response {
    if method != Method::POST {
        return text(405, format!("Expecting 'POST', received '{method}'"));
    }
    let format = match codec::request_format(headers) {
        Ok(f) => f,
        Err(e) => return media_error(e),
    };
    let call: spb::Call = match format.decode(body) {
        Ok(c) => c,
        Err(e) => return text(400, e),
    };
    let kind = call.r#type();
    if kind == spb::call::Type::Unknown {
        return text(501, "Received an UNKNOWN call");
    }
    if kind == spb::call::Type::Subscribe {
        return subscribe(shared, headers, call);
    }
    let Some(framework_id) = call.framework_id.as_ref().map(|f| f.value.clone()) else {
        return text(400, "Expecting 'framework_id' to be present");
    };
    let stream_id = headers
        .get("Mesos-Stream-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut m = shared.lock();
    if let Err(e) = m.authorize_call(&framework_id, stream_id.as_deref()) {
        return call_error(e);
    }
    let result = scheduler_call(&mut m, &framework_id, kind, call);
    let wanted = m.allocation_wanted;
    drop(m);
    if wanted {
        shared.allocate_soon.notify_one();
    }
    match result {
        Ok(status) => empty(status),
        Err(e) => call_error(e),
    }
}

fn missing(field: &str) -> CallError {
    CallError::bad_request(format!("Expecting '{field}' to be present"))
}

fn scheduler_call(
    m: &mut Master,
    fid: &str,
    kind: spb::call::Type,
    call: spb::Call,
) -> Result<StatusCode, CallError> {
    use spb::call::Type as T;
    match kind {
        T::Teardown => m.remove_framework(fid),
        T::Accept => {
            let a = call.accept.ok_or_else(|| missing("accept"))?;
            m.accept(fid, &a.offer_ids, a.operations, a.filters.as_ref());
        }
        T::Decline => {
            let d = call.decline.ok_or_else(|| missing("decline"))?;
            m.decline(fid, &d.offer_ids, d.filters.as_ref());
        }
        T::AcceptInverseOffers => {
            let a = call
                .accept_inverse_offers
                .ok_or_else(|| missing("accept_inverse_offers"))?;
            m.answer_inverse_offers(fid, &a.inverse_offer_ids, true);
        }
        T::DeclineInverseOffers => {
            let d = call
                .decline_inverse_offers
                .ok_or_else(|| missing("decline_inverse_offers"))?;
            m.answer_inverse_offers(fid, &d.inverse_offer_ids, false);
        }
        T::Revive => {
            let roles = call.revive.map(|r| r.roles).unwrap_or_default();
            m.revive(fid, &roles)?;
        }
        T::Suppress => {
            let roles = call.suppress.map(|r| r.roles).unwrap_or_default();
            m.suppress(fid, &roles)?;
        }
        T::Kill => {
            let k = call.kill.ok_or_else(|| missing("kill"))?;
            m.kill(fid, &k.task_id, k.agent_id.as_ref(), k.kill_policy);
        }
        T::Shutdown => {
            let s = call.shutdown.ok_or_else(|| missing("shutdown"))?;
            m.shutdown_executor(fid, &s.agent_id, &s.executor_id);
        }
        T::Acknowledge => {
            let a = call.acknowledge.ok_or_else(|| missing("acknowledge"))?;
            m.acknowledge(fid, &a.agent_id, &a.task_id, &a.uuid)?;
        }
        T::AcknowledgeOperationStatus | T::ReconcileOperations => {
            return Err(CallError {
                status: 501,
                message: format!("{kind:?} is not implemented by this master"),
            });
        }
        T::Reconcile => {
            let r = call.reconcile.ok_or_else(|| missing("reconcile"))?;
            m.reconcile(fid, &r.tasks);
        }
        T::Message => {
            let msg = call.message.ok_or_else(|| missing("message"))?;
            m.framework_message(&msg.agent_id, &msg.executor_id, fid, msg.data)?;
        }
        T::Request => {}
        T::UpdateFramework => {
            let u = call
                .update_framework
                .ok_or_else(|| missing("update_framework"))?;
            m.update_framework(fid, u.framework_info, u.suppressed_roles)?;
            return Ok(StatusCode::OK);
        }
        T::Subscribe | T::Unknown => unreachable!("handled by the caller"),
    }
    Ok(StatusCode::ACCEPTED)
}

fn subscribe(shared: &Arc<Shared>, headers: &HeaderMap, call: spb::Call) -> Response {
    let format = match codec::response_format(headers) {
        Ok(f) => f,
        Err(e) => return media_error(e),
    };
    if headers.contains_key("Mesos-Stream-Id") {
        return text(
            400,
            "Subscribe calls should not include the 'Mesos-Stream-Id' header",
        );
    }
    let Some(sub) = call.subscribe else {
        return text(400, "Expecting 'subscribe' to be present");
    };
    if let (Some(a), Some(b)) = (&call.framework_id, &sub.framework_info.id)
        && a != b
    {
        return text(
            400,
            "'framework_id' differs from 'subscribe.framework_info.id'",
        );
    }
    if call.framework_id.is_some() && sub.framework_info.id.is_none() {
        return text(
            400,
            "'framework_id' is set but 'subscribe.framework_info.id' is not",
        );
    }
    let stream_id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    let heartbeat = codec::record(
        format,
        &spb::Event {
            r#type: Some(spb::event::Type::Heartbeat as i32),
            ..Default::default()
        },
    );
    spawn_heartbeats(&tx, heartbeat);
    let conn = FrameworkConn {
        stream_id: stream_id.clone(),
        format,
        tx: tx.clone(),
    };
    let result = {
        let mut m = shared.lock();
        m.subscribe(sub.framework_info, sub.suppressed_roles, conn)
    };
    match result {
        Ok(framework_id) => {
            drop(tx);
            shared.allocate_soon.notify_one();
            let weak = Arc::downgrade(shared);
            let sid = stream_id.clone();
            let stream = EventStream {
                rx,
                on_drop: Some(Box::new(move || {
                    if let Some(shared) = weak.upgrade() {
                        shared.lock().framework_disconnected(&framework_id, &sid);
                    }
                })),
            };
            stream_response(format, stream, Some(&stream_id))
        }
        Err(message) => {
            let error = spb::Event {
                r#type: Some(spb::event::Type::Error as i32),
                error: Some(spb::event::Error { message }),
                ..Default::default()
            };
            let _ = tx.send(codec::record(format, &error));
            drop(tx);
            stream_response(format, EventStream { rx, on_drop: None }, None)
        }
    }
}

// ---------------------------------------------------------------- operator API

fn operator_api(
    shared: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if method != Method::POST {
        return text(405, format!("Expecting 'POST', received '{method}'"));
    }
    let format = match codec::request_format(headers) {
        Ok(f) => f,
        Err(e) => return media_error(e),
    };
    let call: opb::Call = match format.decode(body) {
        Ok(c) => c,
        Err(e) => return text(400, e),
    };
    let accept = match codec::response_format(headers) {
        Ok(f) => f,
        Err(e) => return media_error(e),
    };
    if call.r#type() == opb::call::Type::Subscribe {
        return operator_subscribe(shared, accept);
    }
    let mut m = shared.lock();
    let result = operator::handle(&mut m, call);
    let wanted = m.allocation_wanted;
    drop(m);
    if wanted {
        shared.allocate_soon.notify_one();
    }
    match result {
        Ok(Some(response)) => (
            [(header::CONTENT_TYPE, accept.media_type())],
            accept.encode(&response),
        )
            .into_response(),
        Ok(None) => empty(StatusCode::OK),
        Err(e) => call_error(e),
    }
}

fn operator_subscribe(shared: &Arc<Shared>, format: Format) -> Response {
    let (tx, rx) = mpsc::unbounded_channel();
    {
        let mut m = shared.lock();
        if m.operator_subscribers.len() >= m.flags.max_operator_event_stream_subscribers {
            return text(503, "Too many operator event stream subscribers");
        }
        let subscribed = opb::Event {
            r#type: Some(opb::event::Type::Subscribed as i32),
            subscribed: Some(opb::event::Subscribed {
                get_state: Some(operator::get_state(&m)),
                heartbeat_interval_seconds: Some(HEARTBEAT_INTERVAL.as_secs_f64()),
            }),
            ..Default::default()
        };
        let heartbeat = codec::record(
            format,
            &opb::Event {
                r#type: Some(opb::event::Type::Heartbeat as i32),
                ..Default::default()
            },
        );
        let _ = tx.send(codec::record(format, &subscribed));
        let _ = tx.send(heartbeat.clone());
        spawn_heartbeats(&tx, heartbeat);
        m.operator_subscribers
            .push(OperatorSubscriber { format, tx });
    }
    stream_response(format, EventStream { rx, on_drop: None }, None)
}

// ---------------------------------------------------------------- legacy writes

fn teardown(shared: &Arc<Shared>, method: &Method, body: &[u8]) -> Response {
    if method != Method::POST {
        return text(405, format!("Expecting 'POST', received '{method}'"));
    }
    // The body is a form whatever the Content-Type says, as in Mesos.
    let form = decode_form(&String::from_utf8_lossy(body));
    let Some(id) = form.get("frameworkId") else {
        return text(
            400,
            "Missing 'frameworkId' query parameter in the request body",
        );
    };
    let mut m = shared.lock();
    if !m.frameworks.contains_key(id) {
        return text(400, format!("No framework found with specified ID '{id}'"));
    }
    m.remove_framework(id);
    drop(m);
    shared.allocate_soon.notify_one();
    empty(StatusCode::OK)
}

fn weights(
    shared: &Arc<Shared>,
    method: &Method,
    body: &[u8],
    query: &HashMap<String, String>,
) -> Response {
    if *method == Method::GET {
        let m = shared.lock();
        let list: Vec<serde_json::Value> = operator::weight_infos(&m)
            .iter()
            .map(mesos_core::json::to_value)
            .collect();
        return json_reply(&serde_json::Value::Array(list), query);
    }
    if *method != Method::PUT {
        return text(
            405,
            format!("Expecting 'GET' or 'PUT', received '{method}'"),
        );
    }
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return text(
                400,
                format!("Failed to parse update weights request JSON: {e}"),
            );
        }
    };
    let infos: Vec<mesos_core::proto::v1::WeightInfo> =
        match mesos_core::json::list_from_value(&value) {
            Ok(i) => i,
            Err(e) => return text(400, format!("Failed to convert weights JSON array: {e}")),
        };
    let mut m = shared.lock();
    match operator::update_weights(&mut m, &infos) {
        Ok(()) => empty(StatusCode::OK),
        Err(e) => call_error(e),
    }
}

fn quota(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    body: &[u8],
    query: &HashMap<String, String>,
) -> Response {
    match *method {
        Method::GET => {
            let m = shared.lock();
            json_reply(
                &mesos_core::json::to_value(&operator::quota_status(&m)),
                query,
            )
        }
        Method::POST => {
            let value: serde_json::Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return text(400, format!("Failed to parse set quota request JSON: {e}")),
            };
            let request: mesos_core::proto::v1::quota::QuotaRequest =
                match mesos_core::json::from_value(&value) {
                    Ok(r) => r,
                    Err(e) => return text(400, format!("Failed to convert quota request: {e}")),
                };
            let Some(role) = request.role.clone() else {
                return text(400, "Quota request has no 'role'");
            };
            let mut guarantees = HashMap::new();
            for r in &request.guarantee {
                if let Some(s) = r.scalar {
                    guarantees.insert(r.name.clone(), s);
                }
            }
            let config = mesos_core::proto::v1::quota::QuotaConfig {
                role,
                limits: guarantees.clone(),
                guarantees,
            };
            let mut m = shared.lock();
            match operator::update_quota(&mut m, &[config]) {
                Ok(()) => empty(StatusCode::OK),
                Err(e) => call_error(e),
            }
        }
        Method::DELETE => {
            let path = uri.path().trim_end_matches('/');
            let Some(role) = path.split("/quota/").nth(1).filter(|r| !r.is_empty()) else {
                return text(
                    400,
                    "Failed to parse the request path: expecting '/quota/<role>'",
                );
            };
            let mut m = shared.lock();
            if !m.quota.contains_key(role) {
                return text(
                    400,
                    format!(
                        "Failed to validate remove quota request for role '{role}': no quota set"
                    ),
                );
            }
            let config = mesos_core::proto::v1::quota::QuotaConfig {
                role: role.to_string(),
                ..Default::default()
            };
            match operator::update_quota(&mut m, &[config]) {
                Ok(()) => empty(StatusCode::OK),
                Err(e) => call_error(e),
            }
        }
        _ => text(
            405,
            format!("Expecting 'GET', 'POST' or 'DELETE', received '{method}'"),
        ),
    }
}

/// `/master/maintenance/schedule`: GET returns the schedule, POST replaces it (a JSON
/// `maintenance::Schedule`).
fn maintenance_schedule(
    shared: &Arc<Shared>,
    method: &Method,
    body: &[u8],
    query: &HashMap<String, String>,
) -> Response {
    match *method {
        Method::GET => {
            let m = shared.lock();
            json_reply(&mesos_core::json::to_value(&m.maintenance), query)
        }
        Method::POST => {
            let schedule = match mesos_core::json::from_str::<
                mesos_core::proto::v1::maintenance::Schedule,
            >(&String::from_utf8_lossy(body))
            {
                Ok(s) => s,
                Err(e) => return text(400, format!("Failed to parse the schedule: {e}")),
            };
            match shared.lock().update_maintenance_schedule(schedule) {
                Ok(()) => empty(StatusCode::OK),
                Err(e) => call_error(e),
            }
        }
        _ => text(
            405,
            format!("Expecting 'GET' or 'POST', received '{method}'"),
        ),
    }
}

/// `/master/machine/down` and `/master/machine/up`: a JSON array of machine ids.
fn machines(shared: &Arc<Shared>, method: &Method, body: &[u8], down: bool) -> Response {
    if method != Method::POST {
        return text(405, format!("Expecting 'POST', received '{method}'"));
    }
    let ids = serde_json::from_slice::<serde_json::Value>(body)
        .map_err(|e| e.to_string())
        .and_then(|v| {
            mesos_core::json::list_from_value::<mesos_core::proto::v1::MachineId>(&v)
                .map_err(|e| e.to_string())
        });
    let ids = match ids {
        Ok(ids) => ids,
        Err(e) => return text(400, format!("Failed to parse the list of machines: {e}")),
    };
    let mut m = shared.lock();
    let result = if down {
        m.start_maintenance(&ids)
    } else {
        m.stop_maintenance(&ids)
    };
    match result {
        Ok(()) => empty(StatusCode::OK),
        Err(e) => call_error(e),
    }
}

fn reserve(shared: &Arc<Shared>, method: &Method, body: &[u8], reserve: bool) -> Response {
    if method != Method::POST {
        return text(405, format!("Expecting 'POST', received '{method}'"));
    }
    let form = decode_form(&String::from_utf8_lossy(body));
    let Some(agent) = form.get("slaveId") else {
        return text(400, "Missing 'slaveId' query parameter in the request body");
    };
    let Some(resources) = form.get("resources") else {
        return text(
            400,
            "Missing 'resources' query parameter in the request body",
        );
    };
    let value: serde_json::Value = match serde_json::from_str(resources) {
        Ok(v) => v,
        Err(e) => {
            return text(
                400,
                format!("Error in parsing 'resources' query parameter: {e}"),
            );
        }
    };
    let list: Vec<mesos_core::proto::v1::Resource> = match mesos_core::json::list_from_value(&value)
    {
        Ok(l) => l,
        Err(e) => {
            return text(
                400,
                format!("Error in parsing 'resources' query parameter: {e}"),
            );
        }
    };
    let kind = if reserve {
        opb::call::Type::ReserveResources
    } else {
        opb::call::Type::UnreserveResources
    };
    let agent_id = mesos_core::proto::v1::AgentId {
        value: agent.clone(),
    };
    let call = opb::Call {
        r#type: Some(kind as i32),
        reserve_resources: reserve.then(|| opb::call::ReserveResources {
            agent_id: agent_id.clone(),
            source: vec![],
            resources: list.clone(),
        }),
        unreserve_resources: (!reserve).then(|| opb::call::UnreserveResources {
            agent_id: agent_id.clone(),
            resources: list.clone(),
        }),
        ..Default::default()
    };
    let mut m = shared.lock();
    match operator::handle(&mut m, call) {
        Ok(_) => {
            drop(m);
            shared.allocate_soon.notify_one();
            empty(StatusCode::ACCEPTED)
        }
        Err(e) => call_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_follows_libprocess() {
        assert_eq!(
            route("/api/v1/scheduler"),
            Some(("master", "api/v1/scheduler"))
        );
        assert_eq!(
            route("/master/api/v1/scheduler"),
            Some(("master", "api/v1/scheduler"))
        );
        assert_eq!(route("/api/v1/operator"), Some(("master", "api/v1")));
        assert_eq!(route("/master/frameworks/"), Some(("master", "frameworks")));
        assert_eq!(route("/master/quota/dev"), Some(("master", "quota")));
        assert_eq!(route("/state"), Some(("master", "state")));
        assert_eq!(route("/state.json"), Some(("master", "state.json")));
        assert_eq!(route("/health"), Some(("master", "health")));
        assert_eq!(route("/redirect"), Some(("master", "redirect")));
        assert_eq!(route("/redirect/x"), None);
        assert_eq!(route("/metrics/snapshot"), Some(("metrics", "snapshot")));
        assert_eq!(route("/metrics"), Some(("metrics", "prometheus")));
        assert_eq!(route("/version"), Some(("version", "")));
        assert_eq!(route("/nothing"), None);
    }

    #[test]
    fn form_decoding() {
        let f = decode_form("frameworkId=abc-0001&x=a%20b+c&y");
        assert_eq!(f["frameworkId"], "abc-0001");
        assert_eq!(f["x"], "a b c");
        assert_eq!(f["y"], "");
    }
}
