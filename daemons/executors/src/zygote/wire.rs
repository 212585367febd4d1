//! The messages between an agent and its executor zygote, one per `SOCK_SEQPACKET` datagram.
//!
//! Pure encoding and decoding, so both ends (the agent's client and the zygote) share one
//! definition and it can be tested without processes. Strings travel as raw bytes (an
//! environment need not be UTF-8); integers are little-endian. A launch request's standard
//! output and error travel beside it as `SCM_RIGHTS` file descriptors, in that order.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// The largest datagram either end sends or accepts.
pub const MAX_MESSAGE: usize = 1 << 20;

/// The environment variable (set to `1`) that makes `mesos-executor` serve as a zygote on its
/// stdin. Distinct from the agent's `MESOS_EXECUTOR_ZYGOTE` flag variable.
pub const ZYGOTE_ENV: &str = "MESOS_EXECUTOR_SERVE_ZYGOTE";

/// Start one command executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchRequest {
    /// Chosen by the agent; echoed in the answer.
    pub id: u64,
    /// The sandbox, the executor's working directory.
    pub cwd: PathBuf,
    /// Whether the zygote's own environment (the agent's) is kept under `env`.
    pub inherit_env: bool,
    /// Variables set for the executor.
    pub env: Vec<(OsString, OsString)>,
}

/// What the zygote tells the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromZygote {
    /// Sent once at start: the zygote serves requests.
    Ready,
    /// The executor of request `id` runs as `pid`.
    Launched {
        /// The request.
        id: u64,
        /// The executor's process id.
        pid: u32,
    },
    /// Request `id` could not be started.
    Failed {
        /// The request.
        id: u64,
        /// Why.
        error: String,
    },
    /// A launched executor ended with this wait status (exit code << 8, or the signal).
    Exited {
        /// Its process id.
        pid: u32,
        /// The raw wait status.
        status: i32,
    },
}

/// A message that does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The message ends inside a field.
    #[error("zygote message truncated")]
    Truncated,
    /// The first byte names no message.
    #[error("unknown zygote message tag {0}")]
    UnknownTag(u8),
    /// Bytes follow the last field.
    #[error("zygote message has {0} trailing bytes")]
    Trailing(usize),
}

const LAUNCH: u8 = b'L';
const READY: u8 = b'R';
const LAUNCHED: u8 = b'S';
const FAILED: u8 = b'F';
const EXITED: u8 = b'X';

impl LaunchRequest {
    /// The request's datagram.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![LAUNCH];
        out.extend_from_slice(&self.id.to_le_bytes());
        out.push(u8::from(self.inherit_env));
        put_bytes(&mut out, self.cwd.as_os_str().as_bytes());
        put_len(&mut out, self.env.len());
        for (name, value) in &self.env {
            put_bytes(&mut out, name.as_bytes());
            put_bytes(&mut out, value.as_bytes());
        }
        out
    }

    /// The id of a request datagram that may not decode as a whole, so that even a malformed
    /// request gets an answer.
    #[must_use]
    pub fn peek_id(bytes: &[u8]) -> Option<u64> {
        let mut r = Reader(bytes);
        (r.u8().ok()? == LAUNCH).then(|| r.u64().ok()).flatten()
    }

    /// Reads a request datagram.
    ///
    /// # Errors
    ///
    /// [`WireError`] when the bytes are not a whole request.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader(bytes);
        match r.u8()? {
            LAUNCH => {}
            tag => return Err(WireError::UnknownTag(tag)),
        }
        let id = r.u64()?;
        let inherit_env = r.u8()? != 0;
        let cwd = PathBuf::from(OsString::from_vec(r.bytes()?.to_vec()));
        let count = r.len()?;
        let mut env = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let name = OsString::from_vec(r.bytes()?.to_vec());
            let value = OsString::from_vec(r.bytes()?.to_vec());
            env.push((name, value));
        }
        r.end()?;
        Ok(Self {
            id,
            cwd,
            inherit_env,
            env,
        })
    }
}

impl FromZygote {
    /// The message's datagram.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        match self {
            Self::Ready => out.push(READY),
            Self::Launched { id, pid } => {
                out.push(LAUNCHED);
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&pid.to_le_bytes());
            }
            Self::Failed { id, error } => {
                out.push(FAILED);
                out.extend_from_slice(&id.to_le_bytes());
                put_bytes(&mut out, error.as_bytes());
            }
            Self::Exited { pid, status } => {
                out.push(EXITED);
                out.extend_from_slice(&pid.to_le_bytes());
                out.extend_from_slice(&status.to_le_bytes());
            }
        }
        out
    }

    /// Reads a message datagram.
    ///
    /// # Errors
    ///
    /// [`WireError`] when the bytes are not a whole message.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader(bytes);
        let message = match r.u8()? {
            READY => Self::Ready,
            LAUNCHED => Self::Launched {
                id: r.u64()?,
                pid: r.u32()?,
            },
            FAILED => Self::Failed {
                id: r.u64()?,
                error: String::from_utf8_lossy(r.bytes()?).into_owned(),
            },
            EXITED => Self::Exited {
                pid: r.u32()?,
                status: i32::from_le_bytes(r.array()?),
            },
            tag => return Err(WireError::UnknownTag(tag)),
        };
        r.end()?;
        Ok(message)
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Messages are capped far below 4 GiB.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn len(&mut self) -> Result<usize, WireError> {
        usize::try_from(self.u32()?).map_err(|_| WireError::Truncated)
    }
    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.len()?;
        self.take(n)
    }
    fn end(&self) -> Result<(), WireError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing(self.0.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_requests_round_trip_with_non_utf8_environment() {
        let request = LaunchRequest {
            id: 7,
            cwd: PathBuf::from("/var/lib/mesos/slaves/S0/runs/c1"),
            inherit_env: false,
            env: vec![
                ("MESOS_FRAMEWORK_ID".into(), "f-0000".into()),
                (
                    OsString::from_vec(b"RAW\xff".to_vec()),
                    OsString::from_vec(vec![0xfe, b'=', 0]),
                ),
            ],
        };
        assert_eq!(LaunchRequest::decode(&request.encode()), Ok(request));
    }

    #[test]
    fn zygote_messages_round_trip() {
        for message in [
            FromZygote::Ready,
            FromZygote::Launched { id: 1, pid: 4242 },
            FromZygote::Failed {
                id: u64::MAX,
                error: "fork: Resource temporarily unavailable".into(),
            },
            FromZygote::Exited {
                pid: 9,
                status: 9 << 8,
            },
        ] {
            assert_eq!(FromZygote::decode(&message.encode()), Ok(message));
        }
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert_eq!(FromZygote::decode(&[]), Err(WireError::Truncated));
        assert_eq!(FromZygote::decode(b"Q"), Err(WireError::UnknownTag(b'Q')));
        assert_eq!(FromZygote::decode(&[b'S', 1, 2]), Err(WireError::Truncated));
        let mut launched = FromZygote::Launched { id: 1, pid: 2 }.encode();
        launched.push(0);
        assert_eq!(FromZygote::decode(&launched), Err(WireError::Trailing(1)));
        let mut request = LaunchRequest {
            id: 1,
            cwd: "/".into(),
            inherit_env: true,
            env: vec![],
        }
        .encode();
        // An environment count far beyond the bytes present.
        let n = request.len();
        request[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(LaunchRequest::decode(&request), Err(WireError::Truncated));
        assert_eq!(LaunchRequest::peek_id(&request), Some(1));
        assert_eq!(LaunchRequest::peek_id(b"L12"), None);
        assert_eq!(LaunchRequest::peek_id(b"S123456789"), None);
    }
}
