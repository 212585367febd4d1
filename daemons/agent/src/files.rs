//! `/files/{browse,read,download}` (Mesos's `src/files/files.cpp`) over the agent's sandboxes:
//! real sandbox paths, `<work_dir>/slaves/...`, and the virtual
//! `/frameworks/<fid>/executors/<eid>/runs/latest`.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::core::Core;
use crate::http::{HttpState, error, json_response};

/// Largest chunk `/files/read` returns (16 pages, as Mesos).
const MAX_READ: u64 = 16 * 4096;

/// The virtual names of every sandbox the agent knows, to their directories.
pub(crate) fn attached(core: &Core) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let frameworks = core
        .frameworks
        .values()
        .chain(core.completed_frameworks.iter());
    for f in frameworks {
        // Completed first so a running executor's run wins the `latest` name.
        for e in f.completed_executors.iter().chain(f.executors.values()) {
            out.insert(
                format!(
                    "/frameworks/{}/executors/{}/runs/latest",
                    e.key.framework_id, e.key.executor_id
                ),
                e.directory.clone(),
            );
        }
    }
    out
}

/// Why a path cannot be served.
enum Resolve {
    Found(PathBuf),
    NotFound,
}

/// The real path behind a requested one, if it is an attached sandbox or inside one.
pub(crate) fn resolve_path(core: &Core, path: &str) -> Option<PathBuf> {
    let path = path.trim_end_matches('/');
    match resolve_in(core, if path.is_empty() { "/" } else { path }) {
        Resolve::Found(p) => Some(p),
        Resolve::NotFound => None,
    }
}

fn resolve_in(core: &Core, path: &str) -> Resolve {
    let virtuals = attached(core);
    for (name, dir) in &virtuals {
        if path == name {
            return Resolve::Found(dir.clone());
        }
        if let Some(rest) = path.strip_prefix(name.as_str())
            && rest.starts_with('/')
        {
            return checked(dir, &dir.join(rest.trim_start_matches('/')));
        }
    }
    let root = core.layout.root().join("slaves");
    checked(&root, Path::new(path))
}

/// Accepts `candidate` only if it resolves inside `root`.
fn checked(root: &Path, candidate: &Path) -> Resolve {
    let (Ok(root), Ok(real)) = (root.canonicalize(), candidate.canonicalize()) else {
        return Resolve::NotFound;
    };
    if real.starts_with(&root) {
        Resolve::Found(real)
    } else {
        Resolve::NotFound
    }
}

async fn resolve(state: &HttpState, query: &HashMap<String, String>) -> Result<PathBuf, Response> {
    let Some(path) = query.get("path").filter(|p| !p.is_empty()).cloned() else {
        return Err(error(400, "Expecting 'path=value' in query."));
    };
    let path = path.trim_end_matches('/').to_string();
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    match state.ask(move |core| resolve_in(core, &path)).await {
        None => Err(error(503, "Agent is shutting down")),
        Some(Resolve::NotFound) => Err(error(404, "")),
        Some(Resolve::Found(p)) => Ok(p),
    }
}

fn mode_string(mode: u32, is_dir: bool, is_link: bool) -> String {
    let mut s = String::with_capacity(10);
    s.push(if is_link {
        'l'
    } else if is_dir {
        'd'
    } else {
        '-'
    });
    for shift in [6u32, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

fn file_info(path: &Path, shown: &str) -> Option<Value> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let uid = meta.uid();
    let gid = meta.gid();
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name);
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name);
    Some(json!({
        "path": shown,
        "nlink": meta.nlink(),
        "size": meta.size(),
        "mtime": meta.mtime(),
        "mode": mode_string(meta.permissions().mode(), meta.is_dir(), meta.file_type().is_symlink()),
        "uid": user,
        "gid": group,
    }))
}

/// `GET /files/browse?path=`.
pub(crate) async fn browse(state: &HttpState, query: &HashMap<String, String>) -> Response {
    let requested = query.get("path").cloned().unwrap_or_default();
    let real = match resolve(state, query).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let requested = requested.trim_end_matches('/').to_string();
    let listing = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        if real.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&real) {
                let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
                entries.sort_by_key(std::fs::DirEntry::file_name);
                for entry in entries {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if let Some(info) = file_info(&entry.path(), &format!("{requested}/{name}")) {
                        out.push(info);
                    }
                }
            }
        } else if let Some(info) = file_info(&real, &requested) {
            out.push(info);
        }
        Value::Array(out)
    })
    .await
    .unwrap_or(Value::Array(Vec::new()));
    json_response(&listing, query)
}

/// Reads `[offset, offset+length)` of a file, capped; returns (size, data).
pub(crate) fn read_range(
    path: &Path,
    offset: u64,
    length: Option<u64>,
) -> std::io::Result<(u64, Vec<u8>)> {
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    if offset >= size {
        return Ok((size, Vec::new()));
    }
    let want = length
        .unwrap_or(size - offset)
        .min(size - offset)
        .min(MAX_READ);
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    f.take(want).read_to_end(&mut buf)?;
    Ok((size, buf))
}

/// `GET /files/read?path=&offset=&length=`.
pub(crate) async fn read(state: &HttpState, query: &HashMap<String, String>) -> Response {
    if query.get("path").is_none_or(String::is_empty) {
        return error(400, "Expecting 'path=value' in query.");
    }
    let offset: i64 = match query.get("offset") {
        None => -1,
        Some(v) => match v.parse::<i64>() {
            Ok(o) if o < -1 => return error(400, format!("Negative offset provided: {o}.")),
            Ok(o) => o,
            Err(e) => return error(400, format!("Failed to parse offset: {e}.")),
        },
    };
    let length: Option<u64> = match query.get("length") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(l) if l < -1 => return error(400, format!("Negative length provided: {l}.")),
            Ok(-1) => None,
            Ok(l) => Some(u64::try_from(l).unwrap_or(0)),
            Err(e) => return error(400, format!("Failed to parse length: {e}.")),
        },
    };
    let real = match resolve(state, query).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if real.is_dir() {
        return error(400, "Cannot read a directory.");
    }
    let result = tokio::task::spawn_blocking(move || {
        if offset == -1 {
            read_range(&real, 0, Some(0))
        } else {
            read_range(&real, u64::try_from(offset).unwrap_or(0), length)
        }
    })
    .await;
    match result {
        Ok(Ok((size, data))) => {
            let shown = if offset == -1 {
                size
            } else {
                u64::try_from(offset).unwrap_or(0)
            };
            json_response(
                &json!({ "offset": shown, "data": String::from_utf8_lossy(&data) }),
                query,
            )
        }
        Ok(Err(e)) => error(500, format!("Failed to read file: {e}")),
        Err(e) => error(500, format!("Failed to read file: {e}")),
    }
}

/// `GET /files/download?path=`.
pub(crate) async fn download(state: &HttpState, query: &HashMap<String, String>) -> Response {
    let real = match resolve(state, query).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if real.is_dir() {
        return error(400, "Cannot download a directory.");
    }
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match tokio::fs::read(&real).await {
        Ok(bytes) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename={name}"),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => error(500, format!("Failed to read file: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_ranges() {
        assert_eq!(mode_string(0o755, true, false), "drwxr-xr-x");
        assert_eq!(mode_string(0o644, false, false), "-rw-r--r--");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, "hello world").unwrap();
        assert_eq!(read_range(&f, 6, None).unwrap(), (11, b"world".to_vec()));
        assert_eq!(read_range(&f, 0, Some(5)).unwrap(), (11, b"hello".to_vec()));
        assert_eq!(read_range(&f, 20, None).unwrap(), (11, Vec::new()));
    }
}
