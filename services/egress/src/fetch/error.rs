//! [`FetchError`]: why one fetch failed, as the script will see it: a
//! Node-like error code and a sentence naming what the user asked for.
//!
//! The codes follow Node's where Node has one (`ENOTFOUND`,
//! `ECONNREFUSED`, `ERR_TLS_CERT_ALTNAME_INVALID`, ...), so scripts written
//! for Node branch the same way here; moat's own outcomes are `EGRESS_*`.
//! [`FetchError::reason`] is a fixed label per variant, for metrics.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::host_rate::HostBusy;
use crate::policy::Refusal;

/// Why one fetch (all its redirect hops together) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The policy refused a destination: the URL asked for, a redirect's
    /// target, or an address a name resolved to.
    #[error(transparent)]
    Denied(#[from] Refusal),
    /// The decoded response (headers counted) grew past the byte cap.
    #[error("the response is over {max} bytes")]
    ResponseTooLarge {
        /// The cap, `Limits::max_response_bytes`.
        max: u64,
    },
    /// moat is already making as many requests to this host as the fleet's
    /// per-host limit allows.
    #[error("moat is making too many requests to {} across all runs; try again in {}", .0.host, seconds(&.0.retry_after))]
    HostBusy(HostBusy),
    /// The response headers alone are over the fixed header limit.
    #[error("the response headers are over {max} bytes")]
    HeadersTooLarge {
        /// The limit on one response's headers.
        max: usize,
    },
    /// A redirect past `Limits::max_redirects`.
    #[error("too many redirects (more than {max})")]
    TooManyRedirects {
        /// The number of redirects allowed.
        max: u32,
    },
    /// The server answered with a redirect status and the request's mode
    /// was `Redirect::Error`.
    #[error("the server redirected ({status}) and the request's redirect mode is \"error\"")]
    Redirected {
        /// The redirect status.
        status: u16,
        /// The `Location` the server sent, if any.
        location: Option<String>,
    },
    /// The request itself cannot be sent: a bad method, a header name or
    /// value that is not valid HTTP, a body on GET.
    #[error("{0}")]
    InvalidRequest(String),
    /// The name does not exist (NXDOMAIN, or no address at all).
    #[error("getaddrinfo ENOTFOUND {host}")]
    NotFound {
        /// The domain asked for.
        host: String,
    },
    /// The resolver failed: no answer, SERVFAIL, a truncated or malformed
    /// answer.
    #[error("getaddrinfo EAI_AGAIN {host} ({detail})")]
    Dns {
        /// The domain asked for.
        host: String,
        /// What went wrong, for the user.
        detail: String,
    },
    /// No checked address accepted a TCP connection; the address is the
    /// last one tried.
    #[error("connect {} {addr}", connect_code(*.kind))]
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// How its connection failed (`TimedOut` for the connect timeout).
        kind: io::ErrorKind,
    },
    /// The request's own timeout, which covers every step, ran out.
    #[error("the request timed out after {}", seconds(.after))]
    Timeout {
        /// The request's timeout.
        after: Duration,
    },
    /// The server closed or reset the connection before the response was
    /// complete.
    #[error("the server closed the connection before the response was complete")]
    Closed,
    /// The server's bytes are not HTTP we accept.
    #[error("the server sent an invalid HTTP response ({0})")]
    Protocol(String),
    /// The TLS handshake failed or the certificate was not accepted.
    #[error("{}", tls_message(.host, .failure))]
    Tls {
        /// The host the certificate was checked against.
        host: String,
        /// Why.
        failure: TlsFailure,
    },
    /// The body does not decode as its `Content-Encoding` says.
    #[error("the response body is not valid {coding} data")]
    Decode {
        /// The coding that failed: "gzip", "deflate" or "br".
        coding: &'static str,
    },
}

impl From<HostBusy> for FetchError {
    fn from(busy: HostBusy) -> Self {
        FetchError::HostBusy(busy)
    }
}

/// Why a TLS connection was not accepted; each has its own Node-like code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// The certificate does not name the host (`ERR_TLS_CERT_ALTNAME_INVALID`).
    AltName,
    /// No trusted root signs the chain (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`).
    UnknownIssuer,
    /// The certificate has expired (`CERT_HAS_EXPIRED`).
    Expired,
    /// The certificate is not valid yet (`CERT_NOT_YET_VALID`).
    NotYetValid,
    /// The certificate was revoked (`CERT_REVOKED`).
    Revoked,
    /// A signature in the chain does not verify: signed by another key of
    /// a trusted authority's name (`CERT_SIGNATURE_FAILURE`).
    BadSignature,
    /// Anything else: a bad certificate, an alert, no common protocol
    /// (`ERR_TLS`); holds rustls' description.
    Other(String),
}

impl TlsFailure {
    /// The script-facing error code.
    pub fn code(&self) -> &'static str {
        match self {
            TlsFailure::AltName => "ERR_TLS_CERT_ALTNAME_INVALID",
            TlsFailure::UnknownIssuer => "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            TlsFailure::Expired => "CERT_HAS_EXPIRED",
            TlsFailure::NotYetValid => "CERT_NOT_YET_VALID",
            TlsFailure::Revoked => "CERT_REVOKED",
            TlsFailure::BadSignature => "CERT_SIGNATURE_FAILURE",
            TlsFailure::Other(_) => "ERR_TLS",
        }
    }
}

impl FetchError {
    /// The script-facing error code, Node's where Node has one.
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::Denied(refusal) => refusal.code(),
            FetchError::ResponseTooLarge { .. }
            | FetchError::HeadersTooLarge { .. }
            | FetchError::TooManyRedirects { .. }
            | FetchError::HostBusy(_) => "EGRESS_LIMIT",
            FetchError::Redirected { .. } => "EGRESS_REDIRECT",
            FetchError::InvalidRequest(_) => "ERR_INVALID_ARG_VALUE",
            FetchError::NotFound { .. } => "ENOTFOUND",
            FetchError::Dns { .. } => "EAI_AGAIN",
            FetchError::Connect { kind, .. } => connect_code(*kind),
            FetchError::Timeout { .. } => "ETIMEDOUT",
            FetchError::Closed => "ECONNRESET",
            FetchError::Protocol(_) => "EPROTO",
            FetchError::Tls { failure, .. } => failure.code(),
            FetchError::Decode { .. } => "Z_DATA_ERROR",
        }
    }

    /// A short fixed label for metrics, one per variant.
    pub fn reason(&self) -> &'static str {
        match self {
            FetchError::Denied(_) => "denied",
            FetchError::ResponseTooLarge { .. } => "response-too-large",
            FetchError::HeadersTooLarge { .. } => "headers-too-large",
            FetchError::HostBusy(_) => "host-rate",
            FetchError::TooManyRedirects { .. } => "too-many-redirects",
            FetchError::Redirected { .. } => "redirected",
            FetchError::InvalidRequest(_) => "invalid-request",
            FetchError::NotFound { .. } => "not-found",
            FetchError::Dns { .. } => "dns",
            FetchError::Connect { .. } => "connect",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Closed => "closed",
            FetchError::Protocol(_) => "protocol",
            FetchError::Tls { .. } => "tls",
            FetchError::Decode { .. } => "decode",
        }
    }

    /// The policy's refusal, when that is why the fetch failed.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            FetchError::Denied(refusal) => Some(refusal),
            _ => None,
        }
    }
}

/// Node's code for a failed TCP connection.
fn connect_code(kind: io::ErrorKind) -> &'static str {
    match kind {
        io::ErrorKind::TimedOut => "ETIMEDOUT",
        io::ErrorKind::HostUnreachable => "EHOSTUNREACH",
        io::ErrorKind::NetworkUnreachable => "ENETUNREACH",
        io::ErrorKind::ConnectionReset => "ECONNRESET",
        io::ErrorKind::AddrNotAvailable => "EADDRNOTAVAIL",
        _ => "ECONNREFUSED",
    }
}

/// "5s", "1.5s", "250ms".
fn seconds(after: &Duration) -> String {
    if after.subsec_millis() == 0 {
        format!("{}s", after.as_secs())
    } else if after.as_secs() == 0 {
        format!("{}ms", after.as_millis())
    } else {
        format!("{:.1}s", after.as_secs_f64())
    }
}

/// The sentence for a TLS failure.
fn tls_message(host: &str, failure: &TlsFailure) -> String {
    match failure {
        TlsFailure::AltName => {
            format!("the certificate presented by {host} is not valid for {host}")
        }
        TlsFailure::UnknownIssuer => {
            format!("the certificate presented by {host} is not signed by a trusted authority")
        }
        TlsFailure::Expired => format!("the certificate presented by {host} has expired"),
        TlsFailure::NotYetValid => format!("the certificate presented by {host} is not valid yet"),
        TlsFailure::Revoked => format!("the certificate presented by {host} has been revoked"),
        TlsFailure::BadSignature => {
            format!("the certificate presented by {host} has a signature that does not verify")
        }
        TlsFailure::Other(detail) => format!("the TLS connection to {host} failed: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_the_user_sees_them() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let cases = [
            (
                FetchError::ResponseTooLarge { max: 8_388_608 },
                "EGRESS_LIMIT",
                "the response is over 8388608 bytes",
            ),
            (
                FetchError::TooManyRedirects { max: 20 },
                "EGRESS_LIMIT",
                "too many redirects (more than 20)",
            ),
            (
                FetchError::HostBusy(HostBusy {
                    host: "api.example.com".into(),
                    retry_after: Duration::from_millis(250),
                }),
                "EGRESS_LIMIT",
                "moat is making too many requests to api.example.com across all runs; try again in 250ms",
            ),
            (
                FetchError::NotFound {
                    host: "nosuch.test".into(),
                },
                "ENOTFOUND",
                "getaddrinfo ENOTFOUND nosuch.test",
            ),
            (
                FetchError::Connect {
                    addr,
                    kind: io::ErrorKind::ConnectionRefused,
                },
                "ECONNREFUSED",
                "connect ECONNREFUSED 127.0.0.1:8080",
            ),
            (
                FetchError::Connect {
                    addr,
                    kind: io::ErrorKind::TimedOut,
                },
                "ETIMEDOUT",
                "connect ETIMEDOUT 127.0.0.1:8080",
            ),
            (
                FetchError::Timeout {
                    after: Duration::from_millis(1500),
                },
                "ETIMEDOUT",
                "the request timed out after 1.5s",
            ),
            (
                FetchError::Tls {
                    host: "api.test".into(),
                    failure: TlsFailure::AltName,
                },
                "ERR_TLS_CERT_ALTNAME_INVALID",
                "the certificate presented by api.test is not valid for api.test",
            ),
        ];
        for (error, code, message) in cases {
            assert_eq!(error.code(), code, "{error:?}");
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn durations_are_written_short() {
        assert_eq!(seconds(&Duration::from_secs(5)), "5s");
        assert_eq!(seconds(&Duration::from_millis(250)), "250ms");
        assert_eq!(seconds(&Duration::from_millis(2500)), "2.5s");
    }
}
