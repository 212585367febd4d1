//! `POST /api/v1` on the agent: the v1 operator API (`mesos.v1.agent.Call`), read-only calls.
//! Response type numbers differ from call numbers (agent.proto).

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use mesos_core::proto::v1::agent::call::Type as CallType;
use mesos_core::proto::v1::agent::response::{self as resp, Type as RespType};
use mesos_core::proto::v1::agent::{Call, Response as AgentResponse};
use mesos_core::proto::v1::{
    ContainerId, FileInfo, Flag, Metric, ResourceStatistics, TimeInfo, VersionInfo,
};
use prost::Message;

use crate::core::Core;
use crate::http::{HttpState, encoded, error, request_content_type, require_post, response_json};
use crate::state::ExecutorState;

fn get_tasks(core: &Core) -> resp::GetTasks {
    let aid = core.agent_id.clone().unwrap_or_default();
    let mut out = resp::GetTasks::default();
    for f in core
        .frameworks
        .values()
        .chain(core.completed_frameworks.iter())
    {
        for e in f.executors.values().chain(f.completed_executors.iter()) {
            for t in e.live_tasks(&e.key.framework_id, &aid) {
                if e.launched.contains_key(&t.task_id.value) {
                    out.launched_tasks.push(t);
                } else if e.terminated.contains_key(&t.task_id.value) {
                    out.terminated_tasks.push(t);
                } else {
                    out.queued_tasks.push(t);
                }
            }
            out.completed_tasks.extend(e.completed.iter().cloned());
        }
    }
    out
}

fn get_executors(core: &Core) -> resp::GetExecutors {
    let mut out = resp::GetExecutors::default();
    for f in core
        .frameworks
        .values()
        .chain(core.completed_frameworks.iter())
    {
        for e in f.executors.values() {
            let x = resp::get_executors::Executor {
                executor_info: e.info.clone(),
            };
            if e.state == ExecutorState::Terminated {
                out.completed_executors.push(x);
            } else {
                out.executors.push(x);
            }
        }
        for e in &f.completed_executors {
            out.completed_executors.push(resp::get_executors::Executor {
                executor_info: e.info.clone(),
            });
        }
    }
    out
}

fn get_frameworks(core: &Core) -> resp::GetFrameworks {
    resp::GetFrameworks {
        frameworks: core
            .frameworks
            .values()
            .map(|f| resp::get_frameworks::Framework {
                framework_info: f.info.clone(),
            })
            .collect(),
        completed_frameworks: core
            .completed_frameworks
            .iter()
            .map(|f| resp::get_frameworks::Framework {
                framework_info: f.info.clone(),
            })
            .collect(),
    }
}

fn version() -> VersionInfo {
    VersionInfo {
        version: crate::VERSION.to_string(),
        build_date: Some(String::new()),
        build_time: Some(0.0),
        build_user: Some(String::new()),
        ..Default::default()
    }
}

fn file_info(path: &std::path::Path, shown: String) -> Option<FileInfo> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some(FileInfo {
        path: shown,
        nlink: i32::try_from(meta.nlink()).ok(),
        size: Some(meta.size()),
        mtime: Some(TimeInfo {
            nanoseconds: meta.mtime() * 1_000_000_000,
        }),
        mode: Some(meta.permissions().mode()),
        uid: Some(meta.uid().to_string()),
        gid: Some(meta.gid().to_string()),
    })
}

/// Handles one operator call.
pub(crate) async fn handle(
    state: &HttpState,
    method: &Method,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = require_post(method) {
        return r;
    }
    let json_in = match request_content_type(headers) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let call: Call = if json_in {
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
    let Some(ty) = call.r#type.and_then(|t| CallType::try_from(t).ok()) else {
        return error(
            400,
            "Failed to validate agent::Call: Expecting 'type' to be present",
        );
    };
    let json_out = match response_json(headers) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let mut response = AgentResponse::default();
    match ty {
        CallType::GetHealth => {
            response.r#type = Some(RespType::GetHealth as i32);
            response.get_health = Some(resp::GetHealth { healthy: true });
        }
        CallType::GetVersion => {
            response.r#type = Some(RespType::GetVersion as i32);
            response.get_version = Some(resp::GetVersion {
                version_info: version(),
            });
        }
        CallType::GetFlags => {
            let Some(flags) = state.ask(|core| core.flags.to_map()).await else {
                return error(503, "Agent is shutting down");
            };
            response.r#type = Some(RespType::GetFlags as i32);
            response.get_flags = Some(resp::GetFlags {
                flags: flags
                    .into_iter()
                    .map(|(name, value)| Flag {
                        name,
                        value: Some(value),
                    })
                    .collect(),
            });
        }
        CallType::GetMetrics => {
            let Some(metrics) = state.ask(|core| crate::views::metrics_json(core)).await else {
                return error(503, "Agent is shutting down");
            };
            response.r#type = Some(RespType::GetMetrics as i32);
            response.get_metrics = Some(resp::GetMetrics {
                metrics: metrics
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| Metric {
                                name: k.clone(),
                                value: v.as_f64(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        CallType::GetState => {
            let Some(s) = state
                .ask(|core| resp::GetState {
                    get_tasks: Some(get_tasks(core)),
                    get_executors: Some(get_executors(core)),
                    get_frameworks: Some(get_frameworks(core)),
                })
                .await
            else {
                return error(503, "Agent is shutting down");
            };
            response.r#type = Some(RespType::GetState as i32);
            response.get_state = Some(s);
        }
        CallType::GetTasks => {
            let Some(t) = state.ask(|core| get_tasks(core)).await else {
                return error(503, "Agent is shutting down");
            };
            response.r#type = Some(RespType::GetTasks as i32);
            response.get_tasks = Some(t);
        }
        CallType::GetExecutors => {
            let Some(e) = state.ask(|core| get_executors(core)).await else {
                return error(503, "Agent is shutting down");
            };
            response.r#type = Some(RespType::GetExecutors as i32);
            response.get_executors = Some(e);
        }
        CallType::GetFrameworks => {
            let Some(f) = state.ask(|core| get_frameworks(core)).await else {
                return error(503, "Agent is shutting down");
            };
            response.r#type = Some(RespType::GetFrameworks as i32);
            response.get_frameworks = Some(f);
        }
        CallType::GetAgent => {
            let Some(info) = state.ask(|core| core.agent_info()).await else {
                return error(503, "Agent is shutting down");
            };
            response.r#type = Some(RespType::GetAgent as i32);
            response.get_agent = Some(resp::GetAgent {
                agent_info: Some(info),
                ..Default::default()
            });
        }
        CallType::GetContainers => {
            let Some(targets) = state.ask(crate::monitor::targets).await else {
                return error(503, "Agent is shutting down");
            };
            let stats: Vec<(crate::monitor::Target, ResourceStatistics)> =
                tokio::task::spawn_blocking(move || {
                    targets
                        .into_iter()
                        .map(|t| {
                            let s = crate::monitor::target_statistics(&t);
                            (t, s)
                        })
                        .collect()
                })
                .await
                .unwrap_or_default();
            response.r#type = Some(RespType::GetContainers as i32);
            response.get_containers = Some(resp::GetContainers {
                containers: stats
                    .into_iter()
                    .map(|(t, s)| resp::get_containers::Container {
                        framework_id: Some(mesos_core::proto::v1::FrameworkId {
                            value: t.framework_id,
                        }),
                        executor_id: Some(mesos_core::proto::v1::ExecutorId {
                            value: t.executor_id,
                        }),
                        executor_name: Some(t.executor_name),
                        container_id: ContainerId {
                            value: t.container_id,
                            parent: None,
                        },
                        container_status: None,
                        resource_statistics: Some(s),
                    })
                    .collect(),
            });
        }
        CallType::ListFiles => {
            let path = call.list_files.map(|l| l.path).unwrap_or_default();
            if path.is_empty() {
                return error(
                    400,
                    "Failed to validate agent::Call: Expecting 'list_files.path' to be present",
                );
            }
            let shown = path.trim_end_matches('/').to_string();
            let Some(real) = state
                .ask(move |core| crate::files::resolve_path(core, &path))
                .await
            else {
                return error(503, "Agent is shutting down");
            };
            let Some(real) = real else {
                return error(404, "");
            };
            let mut infos = Vec::new();
            if real.is_dir() {
                if let Ok(entries) = std::fs::read_dir(&real) {
                    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
                    entries.sort_by_key(std::fs::DirEntry::file_name);
                    for entry in entries {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        if let Some(i) = file_info(&entry.path(), format!("{shown}/{name}")) {
                            infos.push(i);
                        }
                    }
                }
            } else if let Some(i) = file_info(&real, shown) {
                infos.push(i);
            }
            response.r#type = Some(RespType::ListFiles as i32);
            response.list_files = Some(resp::ListFiles { file_infos: infos });
        }
        CallType::ReadFile => {
            let Some(read) = call.read_file else {
                return error(
                    400,
                    "Failed to validate agent::Call: Expecting 'read_file' to be present",
                );
            };
            let path = read.path.clone();
            let Some(real) = state
                .ask(move |core| crate::files::resolve_path(core, &path))
                .await
            else {
                return error(503, "Agent is shutting down");
            };
            let Some(real) = real else {
                return error(404, "");
            };
            if real.is_dir() {
                return error(400, "Cannot read a directory");
            }
            match crate::files::read_range(&real, read.offset, read.length) {
                Ok((size, data)) => {
                    response.r#type = Some(RespType::ReadFile as i32);
                    response.read_file = Some(resp::ReadFile { size, data });
                }
                Err(e) => return error(500, format!("Failed to read file: {e}")),
            }
        }
        other => {
            return error(
                501,
                format!("Agent call {} is not implemented", other.as_str_name()),
            );
        }
    }
    let body = if json_out {
        mesos_core::json::to_vec(&response)
    } else {
        response.encode_to_vec()
    };
    encoded(json_out, body)
}
