//! Every metric the egress service exports, declared once with its help
//! text. Label values come from fixed sets (the result's reason), never
//! URLs, hosts or tenants.

use std::sync::Arc;

use ::metrics::{Counter, Histogram};
use moat_ops::Family;

/// The egress service's metrics.
pub struct Metrics {
    /// The registry, and readiness: subscribed to the fetch subject.
    pub ops: moat_ops::Registry,
    /// Requests answered, by result: `ok`, or the failure's reason label.
    pub requests: Family<Counter>,
    /// Time to answer one request, redirects and body included.
    pub request_seconds: Histogram,
}

const REQUEST_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every result a request is counted under: `ok`, `upload` (its body could
/// not be taken), and each [`crate::fetch::FetchError::reason`] (which
/// `serve::respond` also uses for rules it cannot apply and requests it
/// cannot read). A new reason goes here too.
pub const RESULTS: [&str; 17] = [
    "ok",
    "upload",
    "denied",
    "response-too-large",
    "headers-too-large",
    "host-rate",
    "too-many-redirects",
    "redirected",
    "invalid-request",
    "not-found",
    "dns",
    "connect",
    "timeout",
    "closed",
    "protocol",
    "tls",
    "decode",
];

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let ops = moat_ops::Registry::new("moat_egress", &[("request_seconds", REQUEST_BUCKETS)]);
        let requests = ops
            .counters(
                "requests_total",
                "Requests answered, by result (ok, or the failure's reason: denied, host-rate, response-too-large, dns, connect, timeout, tls, protocol, ...)",
                &["result"],
            )
            .zeroed(&[&RESULTS]);
        let request_seconds = ops.histogram(
            "request_seconds",
            "Time to answer one request, redirects and body included",
        );
        Arc::new(Self {
            ops,
            requests,
            request_seconds,
        })
    }
}

impl moat_ops::HasRegistry for Metrics {
    fn registry(&self) -> &moat_ops::Registry {
        &self.ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::{FetchError, TlsFailure};
    use crate::host_rate::HostBusy;
    use crate::policy::Refusal;
    use moat_ops::Health;
    use std::time::Duration;

    #[test]
    fn every_fetch_failure_reason_is_a_zeroed_result() {
        let host = || "example.com".to_owned();
        for e in [
            FetchError::Denied(Refusal::Credentials),
            FetchError::ResponseTooLarge { max: 1 },
            FetchError::HostBusy(HostBusy {
                host: host(),
                retry_after: Duration::from_secs(1),
            }),
            FetchError::HeadersTooLarge { max: 1 },
            FetchError::TooManyRedirects { max: 1 },
            FetchError::Redirected {
                status: 302,
                location: None,
            },
            FetchError::InvalidRequest(String::new()),
            FetchError::NotFound { host: host() },
            FetchError::Dns {
                host: host(),
                detail: String::new(),
            },
            FetchError::Connect {
                addr: ([127, 0, 0, 1], 1).into(),
                kind: std::io::ErrorKind::ConnectionRefused,
            },
            FetchError::Timeout {
                after: Duration::from_secs(1),
            },
            FetchError::Closed,
            FetchError::Protocol(String::new()),
            FetchError::Tls {
                host: host(),
                failure: TlsFailure::Expired,
            },
            FetchError::Decode { coding: "gzip" },
        ] {
            assert!(RESULTS.contains(&e.reason()), "{}", e.reason());
        }
        let m = Metrics::new();
        let text = m.render();
        for line in [
            "moat_egress_requests_total{result=\"host-rate\"} 0",
            "moat_egress_request_seconds_count 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
    }
}
