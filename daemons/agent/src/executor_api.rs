//! `POST /api/v1/executor`: the v1 executor HTTP API (`Http::executor` in Mesos's
//! `src/slave/http.cpp`; `validateExecutorCall` in `src/common/validation.cpp`).

use std::convert::Infallible;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use mesos_core::proto::v1::TaskState;
use mesos_core::proto::v1::executor::Call;
use mesos_core::proto::v1::executor::call::Type as CallType;
use mesos_core::proto::v1::task_status::Source;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::http::{HttpState, error, request_content_type, require_post, response_json};
use crate::state::ExecutorConn;

/// Why a call is invalid, as Mesos words it.
pub(crate) fn validate(call: &Call) -> Result<CallType, String> {
    let Some(ty) = call.r#type else {
        return Err("Expecting 'type' to be present".into());
    };
    let ty = CallType::try_from(ty).map_err(|_| format!("Unknown call type {ty}"))?;
    if call.executor_id.value.is_empty() {
        return Err("Expecting 'executor_id' to be present".into());
    }
    if call.framework_id.value.is_empty() {
        return Err("Expecting 'framework_id' to be present".into());
    }
    match ty {
        CallType::Subscribe if call.subscribe.is_none() => {
            Err("Expecting 'subscribe' to be present".into())
        }
        CallType::Update => {
            let Some(update) = &call.update else {
                return Err("Expecting 'update' to be present".into());
            };
            let status = &update.status;
            match &status.uuid {
                None => return Err("Expecting 'uuid' to be present".into()),
                Some(u) if uuid::Uuid::from_slice(u).is_err() => {
                    return Err("Invalid 'uuid': expected 16 bytes".into());
                }
                Some(_) => {}
            }
            if status.source != Some(Source::Executor as i32) {
                return Err(
                    "Received Call from executor with 'source' not equal to SOURCE_EXECUTOR".into(),
                );
            }
            if status.state == TaskState::TaskStaging as i32 {
                return Err("Received TASK_STAGING from executor which is not allowed".into());
            }
            if let Some(e) = &status.executor_id
                && e.value != call.executor_id.value
            {
                return Err(format!(
                    "ExecutorID in Call: {} does not match ExecutorID in TaskStatus: {}",
                    call.executor_id.value, e.value
                ));
            }
            Ok(ty)
        }
        CallType::Message if call.message.is_none() => {
            Err("Expecting 'message' to be present".into())
        }
        _ => Ok(ty),
    }
}

/// Handles one executor call.
pub(crate) async fn handle(
    state: &HttpState,
    method: &Method,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = require_post(method) {
        return r;
    }
    let json = match request_content_type(headers) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let call: Call = if json {
        match std::str::from_utf8(&body)
            .map_err(|e| e.to_string())
            .and_then(|t| mesos_core::json::from_str(t).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => return error(400, format!("Failed to parse body into Call: {e}")),
        }
    } else {
        match Call::decode(&body[..]) {
            Ok(c) => c,
            Err(e) => return error(400, format!("Failed to parse body into Call: {e}")),
        }
    };
    let ty = match validate(&call) {
        Ok(t) => t,
        Err(e) => return error(400, format!("Failed to validate executor::Call: {e}")),
    };
    let fid = call.framework_id.value.clone();
    let eid = call.executor_id.value.clone();
    match ty {
        CallType::Subscribe => {
            let accept_json = match response_json(headers) {
                Ok(j) => j,
                Err(r) => return r,
            };
            let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
            let conn = ExecutorConn {
                tx,
                json: accept_json,
            };
            let subscribe = call.subscribe.unwrap_or_default();
            let result = state
                .ask(move |core| {
                    core.executor_subscribe(&fid, &eid, subscribe, conn, Instant::now())
                })
                .await;
            match result {
                None => error(503, "Agent is shutting down"),
                Some(Err((code, message))) => error(code, message),
                Some(Ok(())) => {
                    let ct = if accept_json {
                        "application/json"
                    } else {
                        "application/x-protobuf"
                    };
                    let stream = UnboundedReceiverStream::new(rx).map(Ok::<Bytes, Infallible>);
                    (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, ct)],
                        Body::from_stream(stream),
                    )
                        .into_response()
                }
            }
        }
        CallType::Update => {
            let status = call.update.map(|u| u.status).unwrap_or_default();
            let result = state
                .ask(move |core| {
                    core.executor_call_allowed(&fid, &eid)?;
                    core.executor_update(&fid, &eid, status, Instant::now());
                    Ok::<(), (u16, String)>(())
                })
                .await;
            reply(result)
        }
        CallType::Message => {
            let data = call.message.map(|m| m.data).unwrap_or_default();
            let result = state
                .ask(move |core| {
                    core.executor_call_allowed(&fid, &eid)?;
                    core.executor_message(&fid, &eid, data);
                    Ok::<(), (u16, String)>(())
                })
                .await;
            reply(result)
        }
        CallType::Heartbeat => StatusCode::ACCEPTED.into_response(),
        CallType::Unknown => error(501, "Received 'UNKNOWN' call"),
    }
}

fn reply(result: Option<Result<(), (u16, String)>>) -> Response {
    match result {
        None => error(503, "Agent is shutting down"),
        Some(Err((code, message))) => error(code, message),
        Some(Ok(())) => StatusCode::ACCEPTED.into_response(),
    }
}
