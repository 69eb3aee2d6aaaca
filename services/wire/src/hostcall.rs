//! The host-call channel: how a run asks its host for what the sandbox cannot
//! do itself (the network today; a browser's traffic later), and how the
//! answers come back.
//!
//! The runner writes a [`CallFrame`] (or a [`CancelFrame`]) on stdout among
//! its other frames; the host (the launcher in a sandbox, `moat exec` on a
//! workstation) answers with [`ReplyLine`]s on the runner's stdin, after the
//! job line: any number of [`Reply::Chunk`]s carrying the call's bytes, then
//! exactly one [`Reply::Fetched`] or [`Reply::Failed`]. Lines in both
//! directions are versioned and size-capped; both ends decode strictly
//! (unknown operations, replies and versions are errors).

use serde::{Deserialize, Serialize};

use crate::frames::PROTOCOL_VERSION;

/// Most calls a run may have waiting for a reply at once. The runner refuses
/// more (the script sees an error); the host treats more as a protocol error.
pub const MAX_CALLS_IN_FLIGHT: usize = 16;
/// Most calls one run may make in all; a runner past it has been subverted
/// (the egress quotas are far lower), and the host ends the run.
pub const MAX_CALLS_PER_RUN: u64 = 10_000;
/// Most bytes of a request body a call may carry (before base64).
pub const MAX_CALL_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Bytes of a reply's data per chunk line (before base64).
pub const REPLY_CHUNK_BYTES: usize = 256 * 1024;
/// Longest reply line the runner reads, newline included: a chunk's base64
/// with room for its envelope, or a response head with many headers.
pub const MAX_REPLY_LINE_BYTES: usize = REPLY_CHUNK_BYTES * 4 / 3 + 64 * 1024;

/// A call from the run to its host, with the id its replies will carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallFrame {
    /// Chosen by the runner, unique within the run.
    pub id: u32,
    /// What is asked.
    #[serde(flatten)]
    pub call: HostCall,
}

/// The operations a run may ask of its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum HostCall {
    /// An HTTP request, made by the egress service under the run's policy.
    Fetch(FetchCall),
}

/// A `fetch()` as the script made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchCall {
    /// `GET`, `POST`, ... (checked by the egress service).
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Request headers, in order, names as given.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The request body, standard base64 with padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// What to do with a redirect.
    #[serde(default)]
    pub redirect: RedirectMode,
    /// The script's own limit for this request, inside the run's deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl FetchCall {
    /// A plain `GET` of `url`: no headers, no body, redirects followed.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            redirect: RedirectMode::Follow,
            timeout_ms: None,
        }
    }
}

/// `fetch`'s `redirect` option.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectMode {
    /// Follow redirects (each hop checked against the policy).
    #[default]
    Follow,
    /// Return the redirect response itself.
    Manual,
    /// Fail on a redirect.
    Error,
}

/// The run no longer wants the answer to call `id` (an `AbortSignal` fired).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelFrame {
    /// The call's id.
    pub id: u32,
}

/// One line the host writes to the runner's stdin after the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyLine {
    /// Protocol version.
    pub v: u32,
    /// The call this answers.
    pub id: u32,
    /// The answer, or a part of it.
    #[serde(flatten)]
    pub reply: Reply,
}

/// A reply, or a part of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Reply {
    /// Some of the call's bytes (a response body), in order, before its end.
    Chunk {
        /// Standard base64 with padding, at most [`REPLY_CHUNK_BYTES`] decoded.
        data: String,
    },
    /// A fetch's response; the chunks before it are its body.
    Fetched(FetchResponse),
    /// The call failed; the chunks before it (if any) mean nothing.
    Failed(HostError),
}

/// A response as the script sees it (the body came in chunks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    /// The HTTP status.
    pub status: u16,
    /// The reason phrase (empty over HTTP/2).
    #[serde(default)]
    pub status_text: String,
    /// Response headers, in order, names in lower case.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The final URL, after redirects.
    pub url: String,
    /// Whether a redirect was followed.
    #[serde(default)]
    pub redirected: bool,
}

/// Why a call failed, in the terms the script's error will carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct HostError {
    /// The error's `cause.code`: `EGRESS_DENIED`, `EGRESS_LIMIT`,
    /// `ENOTFOUND`, `ECONNREFUSED`, `ETIMEDOUT`, ...
    pub code: String,
    /// The sentence the script's error carries.
    pub message: String,
}

impl HostError {
    /// An error with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Why a reply line was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// Not JSON, or not a known reply shape.
    #[error("malformed reply: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A protocol version this build does not speak.
    #[error("unsupported reply version {0}")]
    Version(u32),
}

impl ReplyLine {
    /// A reply line of this build's version.
    pub fn new(id: u32, reply: Reply) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id,
            reply,
        }
    }

    /// Encodes the line, newline included.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising these types cannot fail: all keys are strings.
        let mut line = serde_json::to_vec(self).expect("replies always serialise");
        line.push(b'\n');
        line
    }

    /// Decodes one line (without its newline), checking the version.
    pub fn decode(line: &[u8]) -> Result<Self, ReplyError> {
        let line: ReplyLine = serde_json::from_slice(line)?;
        if line.v != PROTOCOL_VERSION {
            return Err(ReplyError::Version(line.v));
        }
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_round_trip_through_one_line() {
        let replies = [
            Reply::Chunk {
                data: "aGVsbG8=".into(),
            },
            Reply::Fetched(FetchResponse {
                status: 200,
                status_text: "OK".into(),
                headers: vec![("content-type".into(), "text/plain".into())],
                url: "http://127.0.0.1:8080/".into(),
                redirected: false,
            }),
            Reply::Failed(HostError::new(
                "EGRESS_DENIED",
                "127.0.0.2 is a loopback address",
            )),
        ];
        for reply in replies {
            let line = ReplyLine::new(7, reply).encode();
            assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
            let back = ReplyLine::decode(&line[..line.len() - 1]).unwrap();
            assert_eq!(back.id, 7);
            assert_eq!(back, ReplyLine::decode(&line[..line.len() - 1]).unwrap());
        }
    }

    #[test]
    fn unknown_replies_and_versions_are_refused() {
        assert!(ReplyLine::decode(br#"{"v":1,"id":1,"t":"exec","cmd":"sh"}"#).is_err());
        assert!(matches!(
            ReplyLine::decode(br#"{"v":9,"id":1,"t":"chunk","data":""}"#),
            Err(ReplyError::Version(9))
        ));
        assert!(ReplyLine::decode(br#"{"v":1,"t":"chunk","data":""}"#).is_err());
    }

    #[test]
    fn a_chunk_line_fits_the_cap() {
        let data = "A".repeat(REPLY_CHUNK_BYTES.div_ceil(3) * 4);
        let line = ReplyLine::new(u32::MAX, Reply::Chunk { data }).encode();
        assert!(line.len() <= MAX_REPLY_LINE_BYTES);
    }
}
