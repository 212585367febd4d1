//! How the driver talks HTTP. The driver needs two things: a request/response call and a
//! streaming subscription; [`HttpTransport`] does both with reqwest and never follows
//! redirects itself, because a 307 from a master names the leader, which the driver adopts.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::error::SdkError;

/// A request to the master.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A body that arrives in chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, SdkError>> + Send>>;

/// A response whose body is a stream (SUBSCRIBE).
pub struct StreamingResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: ByteStream,
}

impl StreamingResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The transport the driver uses; swap it to add TLS, proxies or a test double.
#[async_trait]
pub trait Transport: Send + Sync {
    /// POSTs and reads the whole answer.
    async fn post(&self, request: Request) -> Result<Response, SdkError>;
    /// POSTs and returns as soon as the headers arrive.
    async fn post_streaming(&self, request: Request) -> Result<StreamingResponse, SdkError>;
}

/// HTTP/1.1 through reqwest, redirects not followed.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    pub fn new() -> Result<HttpTransport, SdkError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SdkError::Config(format!("HTTP client: {e}")))?;
        Ok(HttpTransport { client })
    }

    /// A transport that also speaks `https://`, trusting the system's certificate
    /// authorities and `ca_pem` (PEM certificates, e.g. a cluster's own CA).
    #[cfg(feature = "tls")]
    pub fn with_tls(ca_pem: &[Vec<u8>]) -> Result<HttpTransport, SdkError> {
        // reqwest is built without a crypto provider of its own: install ring's once for
        // the process (a provider already installed by the program is kept).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_rustls();
        for pem in ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| SdkError::Config(format!("CA certificate: {e}")))?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let client = builder
            .build()
            .map_err(|e| SdkError::Config(format!("HTTPS client: {e}")))?;
        Ok(HttpTransport { client })
    }

    /// Without the `tls` feature an `https://` master cannot be reached; say so up front.
    #[cfg(not(feature = "tls"))]
    pub fn with_tls(_ca_pem: &[Vec<u8>]) -> Result<HttpTransport, SdkError> {
        Err(SdkError::Config(
            "https:// masters need mesos-scheduler-sdk's `tls` feature".to_string(),
        ))
    }

    fn build(&self, request: &Request) -> reqwest::RequestBuilder {
        let mut r = self.client.post(&request.url).body(request.body.clone());
        for (k, v) in &request.headers {
            r = r.header(k, v);
        }
        r
    }
}

fn headers_of(r: &reqwest::Response) -> Vec<(String, String)> {
    r.headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect()
}

#[async_trait]
impl Transport for HttpTransport {
    async fn post(&self, request: Request) -> Result<Response, SdkError> {
        let response = self
            .build(&request)
            .send()
            .await
            .map_err(|e| SdkError::Unreachable {
                url: request.url.clone(),
                message: e.to_string(),
            })?;
        let status = response.status().as_u16();
        let headers = headers_of(&response);
        let body = response.bytes().await.map_err(|e| SdkError::Unreachable {
            url: request.url.clone(),
            message: e.to_string(),
        })?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    async fn post_streaming(&self, request: Request) -> Result<StreamingResponse, SdkError> {
        let response = self
            .build(&request)
            .send()
            .await
            .map_err(|e| SdkError::Unreachable {
                url: request.url.clone(),
                message: e.to_string(),
            })?;
        let status = response.status().as_u16();
        let headers = headers_of(&response);
        let url = request.url.clone();
        let body = response.bytes_stream().map(move |chunk| {
            chunk.map_err(|e| SdkError::Unreachable {
                url: url.clone(),
                message: e.to_string(),
            })
        });
        Ok(StreamingResponse {
            status,
            headers,
            body: Box::pin(body),
        })
    }
}
