//! Every metric the edge exports, declared once with its help text. Labels
//! come from fixed sets: route names (never raw paths), status codes, error
//! codes.

use std::sync::Arc;

use ::metrics::{Counter, Gauge, Histogram};
use moat_ops::Family;

use crate::events::SessionEnd;

/// The edge's metrics.
pub struct Metrics {
    /// The registry, and readiness for `/healthz` on the metrics port.
    pub ops: moat_ops::Registry,
    /// Requests answered, by route and status.
    pub requests: Family<Counter>,
    /// Requests (and connections) refused, by error code (`rate_limited`,
    /// `queue_full`, `too_many_connections`, ...).
    pub refusals: Family<Counter>,
    /// WebSocket sessions open now.
    pub ws_sessions: Gauge,
    /// TCP connections open now (lingering ones included).
    pub connections: Gauge,
    /// WebSocket sessions ended, by reason (`finished`, `too_slow`, ...).
    pub ws_closed: Family<Counter>,
    /// Time to queue a run (publish and JetStream's confirmation).
    pub submit_seconds: Histogram,
}

const SUBMIT_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Every route [`route_name`] names, with the status it answers when all
/// goes well: those series exist from the start. The other statuses are not
/// a fixed set (errors, and whatever warp and hyper answer themselves), so
/// their series appear when first counted.
pub const ROUTES: [[&str; 2]; 8] = [
    ["submit", "202"],
    ["status", "200"],
    ["events", "101"],
    ["file", "200"],
    ["usage", "200"],
    ["health", "200"],
    ["page", "200"],
    ["other", "404"],
];

/// The refusal codes from fixed sets: every [`crate::errors::ApiError`]
/// code but a bad request's, warp's rejections as
/// `routes::rejection_response` names them, and the connection limit's.
/// A bad request's own code (`invalid_json`, `code_too_large`, ...) is
/// chosen where it is refused, not from one list: those series appear when
/// first counted.
pub const REFUSAL_CODES: [&str; 14] = [
    "payload_too_large",
    "body_timeout",
    "not_found",
    "invalid_key",
    "rate_limited",
    "queue_full",
    "too_many_sessions",
    "unavailable",
    "method_not_allowed",
    "invalid_query",
    "invalid_header",
    "missing_header",
    "bad_request",
    "too_many_connections",
];

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let ops = moat_ops::Registry::new("moat_edge", &[("submit_seconds", SUBMIT_BUCKETS)]);
        let requests = ops
            .counters(
                "requests_total",
                "Requests answered, by route and status",
                &["route", "status"],
            )
            .zeroed_series(&ROUTES);
        let refusals = ops
            .counters(
                "refusals_total",
                "Requests refused, by error code",
                &["code"],
            )
            .zeroed(&[&REFUSAL_CODES]);
        let ws_sessions = ops.gauge("ws_sessions", "WebSocket sessions open now");
        let connections = ops.gauge("connections", "TCP connections open now");
        let ws_closed = ops
            .counters(
                "ws_closed_total",
                "WebSocket sessions ended, by reason",
                &["reason"],
            )
            .zeroed(&[&SessionEnd::ALL.map(SessionEnd::label)]);
        let submit_seconds = ops.histogram(
            "submit_seconds",
            "Time to queue a run: publish and JetStream's confirmation",
        );
        Arc::new(Self {
            ops,
            requests,
            refusals,
            ws_sessions,
            connections,
            ws_closed,
            submit_seconds,
        })
    }
}

/// The route name for a request, from a fixed set.
pub fn route_name(method: &warp::http::Method, path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["v1", "runs"]) => "submit",
        ("GET", ["v1", "runs", _]) => "status",
        ("GET", ["v1", "runs", _, "events"]) => "events",
        ("GET", ["v1", "runs", _, "files", _]) => "file",
        ("GET", ["v1", "usage"]) => "usage",
        ("GET", ["healthz"]) | ("GET", ["readyz"]) => "health",
        ("GET", [_]) => "page",
        _ => "other",
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
    use moat_ops::Health;
    use warp::http::Method;

    #[test]
    fn routes_are_named_from_a_fixed_set() {
        assert_eq!(route_name(&Method::POST, "/v1/runs"), "submit");
        assert_eq!(route_name(&Method::GET, "/v1/runs/abc"), "status");
        assert_eq!(route_name(&Method::GET, "/v1/runs/abc/events"), "events");
        assert_eq!(route_name(&Method::GET, "/v1/usage"), "usage");
        assert_eq!(route_name(&Method::GET, "/anything/else/abc123"), "other");
        assert_eq!(route_name(&Method::GET, "/"), "page");
        assert_eq!(route_name(&Method::GET, "/playground.js"), "page");
        for (method, path) in [
            (Method::POST, "/v1/runs"),
            (Method::GET, "/v1/runs/abc"),
            (Method::GET, "/v1/runs/abc/events"),
            (Method::GET, "/v1/runs/abc/files/out.txt"),
            (Method::GET, "/v1/usage"),
            (Method::GET, "/healthz"),
            (Method::GET, "/"),
            (Method::DELETE, "/v1/runs"),
        ] {
            let route = route_name(&method, path);
            assert!(ROUTES.iter().any(|[r, _]| *r == route), "{route}");
        }
        let m = Metrics::new();
        m.requests.with(&["submit", "429"]).increment(1);
        let text = m.render();
        assert!(text.contains("moat_edge_requests_total{route=\"submit\",status=\"429\"} 1"));
        // The fixed sets are there, at zero, before anything happened.
        for line in [
            "moat_edge_requests_total{route=\"submit\",status=\"202\"} 0",
            "moat_edge_refusals_total{code=\"too_many_connections\"} 0",
            "moat_edge_ws_closed_total{reason=\"too_slow\"} 0",
            "moat_edge_ws_sessions 0",
            "moat_edge_connections 0",
            "moat_edge_submit_seconds_count 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
    }

    #[test]
    fn every_fixed_refusal_code_is_zeroed() {
        use crate::errors::ApiError;
        use crate::rate_limit::Headers;
        let headers = Headers {
            limit: 1,
            remaining: 0,
            reset_secs: 1,
        };
        for e in [
            ApiError::PayloadTooLarge(1),
            ApiError::BodyTimeout,
            ApiError::NotFound,
            ApiError::Unauthorized,
            ApiError::RateLimited {
                scope: "ip",
                headers,
                retry_after_secs: 1,
            },
            ApiError::QueueFull,
            ApiError::TooManySessions,
            ApiError::Unavailable,
            ApiError::PlaygroundNotBuilt,
        ] {
            assert!(REFUSAL_CODES.contains(&e.code()), "{}", e.code());
        }
    }
}
