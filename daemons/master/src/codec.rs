//! Content negotiation and message encoding for the v1 HTTP APIs, following Mesos's rules:
//! the request Content-Type must be exactly `application/json` or `application/x-protobuf`,
//! `Accept` prefers JSON, then protobuf, and streams are labelled with the message type.

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use mesos_core::json;
use prost::Message;
use prost_reflect::ReflectMessage;

pub(crate) const APPLICATION_JSON: &str = "application/json";
pub(crate) const APPLICATION_PROTOBUF: &str = "application/x-protobuf";

/// The two message encodings of the v1 APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Protobuf,
}

impl Format {
    pub(crate) fn media_type(self) -> &'static str {
        match self {
            Format::Json => APPLICATION_JSON,
            Format::Protobuf => APPLICATION_PROTOBUF,
        }
    }

    pub(crate) fn encode<M: Message + ReflectMessage>(self, message: &M) -> Vec<u8> {
        match self {
            Format::Json => json::to_vec(message),
            Format::Protobuf => message.encode_to_vec(),
        }
    }

    pub(crate) fn decode<M: Message + ReflectMessage + Default>(
        self,
        body: &[u8],
    ) -> Result<M, String> {
        match self {
            Format::Json => {
                let text = std::str::from_utf8(body)
                    .map_err(|e| format!("Failed to parse body into JSON: {e}"))?;
                json::from_str(text)
                    .map_err(|e| format!("Failed to convert JSON into Call protobuf: {e}"))
            }
            Format::Protobuf => {
                M::decode(body).map_err(|e| format!("Failed to parse body into Call protobuf: {e}"))
            }
        }
    }
}

/// Why a request's media types are refused, with Mesos's status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MediaError {
    /// 400.
    MissingContentType,
    /// 415.
    UnsupportedContentType(String),
    /// 406.
    NotAcceptable(String),
}

impl MediaError {
    pub(crate) fn status(&self) -> u16 {
        match self {
            MediaError::MissingContentType => 400,
            MediaError::UnsupportedContentType(_) => 415,
            MediaError::NotAcceptable(_) => 406,
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            MediaError::MissingContentType => "Expecting 'Content-Type' to be present".to_string(),
            MediaError::UnsupportedContentType(t) => format!(
                "Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}, got '{t}'"
            ),
            MediaError::NotAcceptable(a) => format!(
                "Expecting 'Accept' to allow '{APPLICATION_JSON}' or '{APPLICATION_PROTOBUF}', got '{a}'"
            ),
        }
    }
}

/// The request's body format from its Content-Type (exact match, as in Mesos).
pub(crate) fn request_format(headers: &HeaderMap) -> Result<Format, MediaError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Err(MediaError::MissingContentType);
    };
    let text = value.to_str().unwrap_or("");
    match text {
        APPLICATION_JSON => Ok(Format::Json),
        APPLICATION_PROTOBUF => Ok(Format::Protobuf),
        other => Err(MediaError::UnsupportedContentType(other.to_string())),
    }
}

/// The response format: JSON if acceptable, else protobuf; no `Accept` accepts anything.
pub(crate) fn response_format(headers: &HeaderMap) -> Result<Format, MediaError> {
    let Some(value) = headers.get(ACCEPT) else {
        return Ok(Format::Json);
    };
    let text = value.to_str().unwrap_or("");
    if accepts(text, APPLICATION_JSON) {
        Ok(Format::Json)
    } else if accepts(text, APPLICATION_PROTOBUF) {
        Ok(Format::Protobuf)
    } else {
        Err(MediaError::NotAcceptable(text.to_string()))
    }
}

/// Whether an `Accept` header value accepts `media` (exact type, then `type/*`, then `*/*`;
/// `q=0` refuses), like libprocess's `Request::acceptsMediaType`.
pub(crate) fn accepts(accept: &str, media: &str) -> bool {
    let (main, _) = media.split_once('/').unwrap_or((media, ""));
    let wildcard = format!("{main}/*");
    let mut best: Option<(u8, f64)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0;
        for p in parts {
            if let Some(v) = p.trim().strip_prefix("q=") {
                q = v.trim().parse().unwrap_or(1.0);
            }
        }
        let specificity = if range == media {
            3
        } else if range == wildcard {
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
    best.is_some_and(|(_, q)| q > 0.0)
}

/// Frames one message as a RecordIO record.
pub(crate) fn record<M: Message + ReflectMessage>(format: Format, message: &M) -> bytes::Bytes {
    let payload = format.encode(message);
    let mut out = Vec::with_capacity(payload.len() + 8);
    mesos_core::recordio::encode(&payload, &mut out);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_rules() {
        assert!(accepts("application/json", APPLICATION_JSON));
        assert!(accepts("application/*", APPLICATION_PROTOBUF));
        assert!(accepts("*/*", APPLICATION_JSON));
        assert!(!accepts("text/html", APPLICATION_JSON));
        assert!(!accepts("application/json;q=0, */*", APPLICATION_JSON));
        assert!(accepts("application/json;q=0, */*", APPLICATION_PROTOBUF));
    }

    #[test]
    fn content_type_is_exact() {
        let mut h = HeaderMap::new();
        assert_eq!(request_format(&h), Err(MediaError::MissingContentType));
        h.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert_eq!(request_format(&h).unwrap_err().status(), 415);
        h.insert(CONTENT_TYPE, "application/x-protobuf".parse().unwrap());
        assert_eq!(request_format(&h), Ok(Format::Protobuf));
    }
}
