//! The agent's HTTP server: one dispatcher that accepts both `/slave(1)/X` and `/X`, tolerates
//! trailing slashes and old `.json` suffixes, and answers JSONP for read-only endpoints.

// Handlers return ready-made responses as their errors.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::core::{Core, Event};

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What handlers share: the way to the agent's task.
#[derive(Clone)]
pub(crate) struct HttpState {
    pub events: mpsc::UnboundedSender<Event>,
}

impl HttpState {
    /// Runs `f` on the agent's state and returns its result; `None` if the agent stopped.
    pub(crate) async fn ask<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Core) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        self.events
            .send(Event::Ask(Box::new(move |core| {
                let _ = tx.send(f(core));
            })))
            .ok()?;
        rx.await.ok()
    }
}

pub(crate) fn router(state: HttpState) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// The executors' domain socket (`--http_executor_domain_sockets`): only the executor API and
/// the operator API, under the agent's process id as Mesos serves them there
/// (`/slave(1)/api/v1/executor`, `/slave(1)/api/v1`); anything else is refused.
pub(crate) fn executor_socket_router(state: HttpState) -> Router {
    Router::new().fallback(executor_socket).with_state(state)
}

async fn executor_socket(state: State<HttpState>, request: Request) -> Response {
    match request.uri().path() {
        "/slave(1)/api/v1/executor" | "/slave(1)/api/v1" => dispatch(state, request).await,
        other => error(
            403,
            format!(
                "'{other}' is not served on the executor socket: only /slave(1)/api/v1/executor and /slave(1)/api/v1 are"
            ),
        ),
    }
}

/// Decodes `a=b&c=d` with percent-escapes and `+` as space.
pub(crate) fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            out.push(b' ');
        } else if b == b'%'
            && let Some(v) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 2;
        } else {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A plain-text error response.
pub(crate) fn error(status: u16, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = message.into();
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A JSON response, or `cb(<json>)` when `?jsonp=cb` is given.
pub(crate) fn json_response(value: &Value, query: &HashMap<String, String>) -> Response {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    match query.get("jsonp").filter(|cb| !cb.is_empty()) {
        Some(cb) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/javascript")],
            format!("{cb}({text});"),
        )
            .into_response(),
        None => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            text,
        )
            .into_response(),
    }
}

fn agent_gone() -> Response {
    error(503, "Agent is shutting down")
}

/// Strips `/slave(1)`, trailing slashes and `.json`.
fn normalize(path: &str) -> String {
    let mut p = path.to_string();
    for prefix in ["/slave(1)", "/slave%281%29", "/slave%281)"] {
        if let Some(rest) = p.strip_prefix(prefix) {
            p = rest.to_string();
            break;
        }
    }
    while p.len() > 1 && p.ends_with('/') {
        p.pop();
    }
    if p.is_empty() {
        p.push('/');
    }
    if let Some(stripped) = p.strip_suffix(".json") {
        p = stripped.to_string();
    }
    p
}

async fn dispatch(State(state): State<HttpState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = normalize(parts.uri.path());
    let query = parse_query(parts.uri.query());
    let method = parts.method.clone();
    let headers = parts.headers.clone();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return error(400, format!("Failed to read request body: {e}")),
    };
    match path.as_str() {
        "/api/v1/executor" => crate::executor_api::handle(&state, &method, &headers, body).await,
        "/api/v1" => crate::operator::handle(&state, &method, &headers, body).await,
        "/health" => (StatusCode::OK, Body::empty()).into_response(),
        "/version" => json_response(&crate::version_json(), &query),
        "/state" => read(&state, &query, crate::views::state_json).await,
        "/flags" => read(&state, &query, crate::views::flags_json).await,
        "/metrics/snapshot" => read(&state, &query, crate::views::metrics_json).await,
        "/monitor/statistics" => match state.ask(crate::monitor::targets).await {
            Some(targets) => {
                let value =
                    tokio::task::spawn_blocking(move || crate::monitor::statistics_json(&targets))
                        .await
                        .unwrap_or(Value::Array(Vec::new()));
                json_response(&value, &query)
            }
            None => agent_gone(),
        },
        "/files/browse" => crate::files::browse(&state, &query).await,
        "/files/read" => crate::files::read(&state, &query).await,
        "/files/download" => crate::files::download(&state, &query).await,
        "/files/debug" => match state.ask(|core| crate::files::attached(core)).await {
            Some(map) => json_response(&serde_json::to_value(map).unwrap_or_default(), &query),
            None => agent_gone(),
        },
        _ => error(404, format!("No endpoint at '{}'", parts.uri.path())),
    }
}

async fn read(
    state: &HttpState,
    query: &HashMap<String, String>,
    view: fn(&Core) -> Value,
) -> Response {
    match state.ask(move |core| view(core)).await {
        Some(v) => json_response(&v, query),
        None => agent_gone(),
    }
}

/// The body content type of an API request: JSON, protobuf, or the error response.
pub(crate) fn request_content_type(headers: &HeaderMap) -> Result<bool, Response> {
    match headers.get(header::CONTENT_TYPE).map(HeaderValue::to_str) {
        None => Err(error(400, "Expecting 'Content-Type' to be present")),
        Some(Ok("application/json")) => Ok(true),
        Some(Ok("application/x-protobuf")) => Ok(false),
        Some(Ok(other)) => Err(error(
            415,
            format!(
                "Expecting 'Content-Type' of application/json or application/x-protobuf, got '{other}'"
            ),
        )),
        Some(Err(_)) => Err(error(415, "Unreadable 'Content-Type'")),
    }
}

/// How well an `Accept` header takes `media` (`type/subtype`): the q of the most specific match.
fn accept_quality(accept: &str, media: &str) -> Option<f64> {
    let (ty, _) = media.split_once('/')?;
    let mut best: Option<(u8, f64)> = None;
    for entry in accept.split(',') {
        let mut parts = entry.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0;
        for p in parts {
            if let Some(v) = p.trim().strip_prefix("q=") {
                q = v.trim().parse().unwrap_or(1.0);
            }
        }
        let specificity = if range == media {
            3
        } else if range == format!("{ty}/*") {
            2
        } else if range == "*/*" {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map(|(_, q)| q)
}

/// Negotiates the response format: `Ok(true)` for JSON, `Ok(false)` for protobuf.
pub(crate) fn response_json(headers: &HeaderMap) -> Result<bool, Response> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(true);
    };
    if accept_quality(accept, "application/json").is_some_and(|q| q > 0.0) {
        return Ok(true);
    }
    if accept_quality(accept, "application/x-protobuf").is_some_and(|q| q > 0.0) {
        return Ok(false);
    }
    Err(error(
        406,
        "Expecting 'Accept' to allow application/json or application/x-protobuf",
    ))
}

/// Checks the method of an API call.
pub(crate) fn require_post(method: &Method) -> Result<(), Response> {
    if method == Method::POST {
        Ok(())
    } else {
        Err(error(405, format!("Expecting 'POST', received '{method}'")))
    }
}

/// Reply with a body already in the negotiated format.
pub(crate) fn encoded(json: bool, body: Vec<u8>) -> Response {
    let ct = if json {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, ct)],
        Bytes::from(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries() {
        assert_eq!(normalize("/slave(1)/state/"), "/state");
        assert_eq!(normalize("/state.json"), "/state");
        assert_eq!(normalize("/slave(1)/api/v1/executor"), "/api/v1/executor");
        let q = parse_query(Some("path=%2Fa%20b&offset=-1&x"));
        assert_eq!(q["path"], "/a b");
        assert_eq!(q["offset"], "-1");
        assert_eq!(q["x"], "");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn accept_negotiation() {
        assert_eq!(
            accept_quality("application/json", "application/json"),
            Some(1.0)
        );
        assert_eq!(accept_quality("*/*;q=0.5", "application/json"), Some(0.5));
        assert_eq!(
            accept_quality(
                "application/*;q=0, application/x-protobuf",
                "application/json"
            ),
            Some(0.0)
        );
        assert_eq!(accept_quality("text/html", "application/json"), None);
    }
}
