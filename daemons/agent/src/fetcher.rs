//! The fetcher: puts `CommandInfo.uris` into the sandbox before the executor starts — local
//! paths, `file://`, `http://` and `https://` URIs, optionally extracted (`.tar`, `.tar.gz`,
//! `.tgz`, `.tar.bz2`, `.tar.xz`, `.zip` via the system `tar` and `unzip`) or made executable.
//! URIs marked `cache` are downloaded once per user ([`crate::fetcher_cache`]); `https://`
//! goes through [`crate::https`], checked against the system's certificate authorities.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use mesos_core::proto::v1::command_info::Uri;

use crate::fetcher_cache::FetcherCache;

/// Why a URI could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URI has no file name and no `output_file`.
    #[error("cannot tell a file name for URI '{0}'")]
    NoName(String),
    /// An `output_file` that leaves the sandbox.
    #[error("output_file '{0}' must be a relative path inside the sandbox")]
    BadOutput(String),
    /// Download or copy failed.
    #[error("failed to fetch '{uri}': {reason}")]
    Fetch {
        /// The URI.
        uri: String,
        /// What went wrong.
        reason: String,
    },
    /// Extraction failed.
    #[error("failed to extract '{path}': {reason}")]
    Extract {
        /// The archive.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

fn base_name(uri: &str) -> Option<String> {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    path.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn archive_kind(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    [
        (".tar.gz", "tar"),
        (".tgz", "tar"),
        (".tar.bz2", "tar"),
        (".tbz2", "tar"),
        (".tar.xz", "tar"),
        (".txz", "tar"),
        (".tar", "tar"),
        (".zip", "zip"),
    ]
    .iter()
    .find(|(ext, _)| lower.ends_with(ext))
    .map(|(_, kind)| *kind)
}

/// Where relative paths resolve, the download cache, and whose downloads these are.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchContext<'a> {
    /// `--frameworks_home`.
    pub frameworks_home: Option<&'a str>,
    pub cache: Option<&'a FetcherCache>,
    /// The user the executor runs as (cached downloads are not shared between users).
    pub user: &'a str,
    /// Authorities `https://` downloads are checked against (the system's, in the agent).
    pub tls: Option<&'a crate::https::TlsRoots>,
}

/// Fetches every URI into `sandbox`, in order.
pub async fn fetch_all(
    uris: &[Uri],
    sandbox: &Path,
    context: FetchContext<'_>,
) -> Result<(), FetchError> {
    for uri in uris {
        fetch_one(uri, sandbox, context).await?;
    }
    Ok(())
}

async fn fetch_one(uri: &Uri, sandbox: &Path, context: FetchContext<'_>) -> Result<(), FetchError> {
    let frameworks_home = context.frameworks_home;
    let value = uri.value.trim();
    let name = match &uri.output_file {
        Some(out) => {
            if out.starts_with('/') || out.split('/').any(|c| c == "..") {
                return Err(FetchError::BadOutput(out.clone()));
            }
            out.clone()
        }
        None => base_name(value).ok_or_else(|| FetchError::NoName(value.to_string()))?,
    };
    let dest = sandbox.join(&name);
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| fetch_err(value, e))?;
    }
    let cache = context.cache.filter(|_| uri.cache.unwrap_or(false));
    let cached = cache.and_then(|c| c.lookup(context.user, value));
    if let Some(cached) = &cached {
        tokio::fs::copy(&cached, &dest)
            .await
            .map_err(|e| fetch_err(value, e))?;
    } else if value.starts_with("https://") {
        let roots = context.tls.ok_or_else(|| {
            fetch_err(
                value,
                "no certificate authorities to check https:// against",
            )
        })?;
        let bytes = crate::https::get(value, roots)
            .await
            .map_err(|e| fetch_err(value, e))?;
        tokio::fs::write(&dest, &bytes)
            .await
            .map_err(|e| fetch_err(value, e))?;
    } else if value.starts_with("http://") {
        let response = reqwest::get(value).await.map_err(|e| fetch_err(value, e))?;
        if !response.status().is_success() {
            return Err(fetch_err(value, format!("HTTP {}", response.status())));
        }
        let bytes = response.bytes().await.map_err(|e| fetch_err(value, e))?;
        tokio::fs::write(&dest, &bytes)
            .await
            .map_err(|e| fetch_err(value, e))?;
    } else {
        let local = value.strip_prefix("file://").unwrap_or(value);
        if local.contains("://") {
            return Err(fetch_err(value, "unsupported URI scheme"));
        }
        let source = if Path::new(local).is_absolute() {
            PathBuf::from(local)
        } else {
            match frameworks_home {
                Some(home) => Path::new(home).join(local),
                None => {
                    return Err(fetch_err(
                        value,
                        "relative path given but --frameworks_home is not set",
                    ));
                }
            }
        };
        tokio::fs::copy(&source, &dest)
            .await
            .map_err(|e| fetch_err(value, e))?;
    }
    if let Some(cache) = cache
        && cached.is_none()
        && let Err(e) = cache.insert(context.user, value, &dest)
    {
        tracing::warn!("cannot keep '{value}' in the fetcher cache: {e}");
    }
    if uri.executable.unwrap_or(false) {
        tokio::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
            .await
            .map_err(|e| fetch_err(value, e))?;
    } else if uri.extract.unwrap_or(true)
        && let Some(kind) = archive_kind(&name)
    {
        extract(&dest, kind, sandbox).await?;
    }
    Ok(())
}

async fn extract(archive: &Path, kind: &str, into: &Path) -> Result<(), FetchError> {
    let mut cmd = if kind == "zip" {
        let mut c = tokio::process::Command::new("unzip");
        c.arg("-o").arg("-q").arg(archive).arg("-d").arg(into);
        c
    } else {
        let mut c = tokio::process::Command::new("tar");
        c.arg("-C").arg(into).arg("-xf").arg(archive);
        c
    };
    let output = cmd.output().await.map_err(|e| FetchError::Extract {
        path: archive.display().to_string(),
        reason: e.to_string(),
    })?;
    if !output.status.success() {
        return Err(FetchError::Extract {
            path: archive.display().to_string(),
            reason: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
}

fn fetch_err(uri: &str, reason: impl std::fmt::Display) -> FetchError {
    FetchError::Fetch {
        uri: uri.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn copies_extracts_and_marks_executable() {
        let src = tempfile::tempdir().unwrap();
        let sandbox = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::create_dir(src.path().join("pkg")).unwrap();
        std::fs::write(src.path().join("pkg/data.txt"), "data").unwrap();
        let status = std::process::Command::new("tar")
            .arg("-C")
            .arg(src.path())
            .args(["-czf", "pkg.tar.gz", "pkg"])
            .current_dir(src.path())
            .status()
            .unwrap();
        assert!(status.success());
        let uris = vec![
            Uri {
                value: format!("file://{}/run.sh", src.path().display()),
                executable: Some(true),
                ..Default::default()
            },
            Uri {
                value: format!("{}/pkg.tar.gz", src.path().display()),
                ..Default::default()
            },
            Uri {
                value: format!("{}/run.sh", src.path().display()),
                output_file: Some("renamed.sh".into()),
                ..Default::default()
            },
        ];
        fetch_all(&uris, sandbox.path(), FetchContext::default())
            .await
            .unwrap();
        let mode = std::fs::metadata(sandbox.path().join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read_to_string(sandbox.path().join("pkg/data.txt")).unwrap(),
            "data"
        );
        assert!(sandbox.path().join("renamed.sh").exists());
        let bad = vec![Uri {
            value: "/nonexistent/file".into(),
            ..Default::default()
        }];
        assert!(
            fetch_all(&bad, sandbox.path(), FetchContext::default())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn cached_uris_are_downloaded_once_per_user() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().route(
            "/tool.sh",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { "#!/bin/sh\necho tool\n" }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let dir = tempfile::tempdir().unwrap();
        let cache = FetcherCache::new(&dir.path().join("cache"), 1 << 20).unwrap();
        let uri = |cache: bool| Uri {
            value: format!("http://{addr}/tool.sh"),
            cache: Some(cache),
            executable: Some(true),
            ..Default::default()
        };
        let fetch = |sandbox: std::path::PathBuf, user: &'static str, cached: bool| {
            let cache = &cache;
            let uri = uri(cached);
            async move {
                std::fs::create_dir_all(&sandbox).unwrap();
                let context = FetchContext {
                    frameworks_home: None,
                    cache: Some(cache),
                    user,
                    tls: None,
                };
                fetch_all(&[uri], &sandbox, context).await.unwrap();
                std::fs::read_to_string(sandbox.join("tool.sh")).unwrap()
            }
        };
        assert_eq!(
            fetch(dir.path().join("s1"), "alice", true).await,
            "#!/bin/sh\necho tool\n"
        );
        assert_eq!(
            fetch(dir.path().join("s2"), "alice", true).await,
            "#!/bin/sh\necho tool\n"
        );
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "the second fetch came from the cache"
        );
        fetch(dir.path().join("s3"), "bob", true).await;
        assert_eq!(
            hits.load(Ordering::SeqCst),
            2,
            "another user does not share it"
        );
        fetch(dir.path().join("s4"), "alice", false).await;
        assert_eq!(
            hits.load(Ordering::SeqCst),
            3,
            "an uncached URI is downloaded"
        );
        let mode = std::fs::metadata(dir.path().join("s2/tool.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        server.abort();
    }

    /// A TLS endpoint on loopback in front of a plain HTTP server; returns its port and the
    /// PEM of its self-signed certificate.
    async fn tls_front(backend: std::net::SocketAddr) -> (u16, String) {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        (port, cert.pem())
    }

    #[tokio::test]
    async fn https_uris_are_fetched_and_checked_against_the_authorities() {
        let app = axum::Router::new()
            .route(
                "/tool.tar.gz",
                axum::routing::get(|| async { "not really a tarball" }),
            )
            .route(
                "/moved",
                axum::routing::get(|| async { axum::response::Redirect::temporary("/data.txt") }),
            )
            .route(
                "/data.txt",
                axum::routing::get(|| async { "payload over tls" }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let (port, ca) = tls_front(backend).await;
        let trusted = crate::https::TlsRoots::from_pem(ca.as_bytes()).unwrap();
        let sandbox = tempfile::tempdir().unwrap();
        let uri = |path: &str| Uri {
            value: format!("https://localhost:{port}{path}"),
            extract: Some(false),
            ..Default::default()
        };
        let context = FetchContext {
            tls: Some(&trusted),
            ..FetchContext::default()
        };
        fetch_all(&[uri("/data.txt"), uri("/moved")], sandbox.path(), context)
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(sandbox.path().join("data.txt")).unwrap(),
            "payload over tls"
        );
        assert_eq!(
            std::fs::read_to_string(sandbox.path().join("moved")).unwrap(),
            "payload over tls",
            "the redirect was followed"
        );
        // The system's authorities do not vouch for this certificate.
        let system = crate::https::TlsRoots::system();
        let untrusted = FetchContext {
            tls: Some(&system),
            ..FetchContext::default()
        };
        let err = fetch_all(&[uri("/data.txt")], sandbox.path(), untrusted)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("TLS"), "{err}");
        server.abort();
    }
}
