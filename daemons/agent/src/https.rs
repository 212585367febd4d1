//! `https://` downloads for the fetcher: HTTP/1.1 over rustls (ring), trusting the system's
//! certificate authorities (`/etc/ssl/certs`, or `SSL_CERT_FILE` / `SSL_CERT_DIR`), following
//! up to five redirects. Kept apart from the agent's plain-HTTP client so that TLS code lives
//! only in the agent, not in the executors built beside it.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

/// The certificate authorities downloads are checked against.
#[derive(Clone)]
pub struct TlsRoots(Arc<rustls::ClientConfig>);

impl std::fmt::Debug for TlsRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsRoots")
    }
}

impl TlsRoots {
    /// The system's authorities; certificates that do not parse are skipped.
    pub fn system() -> TlsRoots {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
        TlsRoots::from_store(roots)
    }

    /// Exactly the authorities in `pem` (a bundle).
    pub fn from_pem(pem: &[u8]) -> Result<TlsRoots, String> {
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject as _;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("bad certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("unusable certificate: {e}"))?;
        }
        Ok(TlsRoots::from_store(roots))
    }

    fn from_store(roots: rustls::RootCertStore) -> TlsRoots {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        TlsRoots(Arc::new(config))
    }
}

/// Downloads `url` (`https://host[:port]/path`).
pub async fn get(url: &str, roots: &TlsRoots) -> Result<Bytes, String> {
    let mut url = url.to_string();
    for _ in 0..5 {
        match get_once(&url, roots).await? {
            Fetched::Body(bytes) => return Ok(bytes),
            Fetched::Redirect(to) if to.starts_with("https://") => url = to,
            Fetched::Redirect(to) => return Err(format!("refusing to follow a redirect to {to}")),
        }
    }
    Err("more than five redirects".to_string())
}

enum Fetched {
    Body(Bytes),
    Redirect(String),
}

async fn get_once(url: &str, roots: &TlsRoots) -> Result<Fetched, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    let host = uri.host().ok_or("the URL has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(443);
    let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .map_err(|e| format!("bad host name '{host}': {e}"))?;
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(roots.0.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host}:{port}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| format!("HTTP with {host}:{port}: {e}"))?;
    tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(
            hyper::header::USER_AGENT,
            concat!("mesos-agent/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("HTTP {status} without a Location"))?;
        let next = if location.starts_with('/') {
            format!(
                "https://{}{location}",
                uri.authority().map_or(host, |a| a.to_string())
            )
        } else {
            location.to_string()
        };
        return Ok(Fetched::Redirect(next));
    }
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading {url}: {e}"))?;
    Ok(Fetched::Body(body.to_bytes()))
}
