//! Every metric the edge exports, declared once with its help text. Labels
//! come from fixed sets: route names (never raw paths), status codes, error
//! codes.

use std::sync::Arc;

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts};

/// The edge's metrics.
pub struct Metrics {
    /// The registry, and readiness for `/healthz` on the metrics port.
    pub ops: moat_ops::Registry,
    /// Requests answered, by route and status.
    pub requests: IntCounterVec,
    /// Requests (and connections) refused, by error code (`rate_limited`,
    /// `queue_full`, `too_many_connections`, ...).
    pub refusals: IntCounterVec,
    /// WebSocket sessions open now.
    pub ws_sessions: IntGauge,
    /// TCP connections open now (lingering ones included).
    pub connections: IntGauge,
    /// WebSocket sessions ended, by reason (`finished`, `too_slow`, ...).
    pub ws_closed: IntCounterVec,
    /// Time to queue a run (publish and JetStream's confirmation).
    pub submit_seconds: Histogram,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let ops = moat_ops::Registry::new("moat_edge");
        let requests = ops.register(
            IntCounterVec::new(
                Opts::new("requests_total", "Requests answered, by route and status"),
                &["route", "status"],
            )
            .expect("metric"),
        );
        let refusals = ops.register(
            IntCounterVec::new(
                Opts::new("refusals_total", "Requests refused, by error code"),
                &["code"],
            )
            .expect("metric"),
        );
        let ws_sessions = ops
            .register(IntGauge::new("ws_sessions", "WebSocket sessions open now").expect("metric"));
        let connections =
            ops.register(IntGauge::new("connections", "TCP connections open now").expect("metric"));
        let ws_closed = ops.register(
            IntCounterVec::new(
                Opts::new("ws_closed_total", "WebSocket sessions ended, by reason"),
                &["reason"],
            )
            .expect("metric"),
        );
        let submit_seconds = ops.register(
            Histogram::with_opts(
                HistogramOpts::new(
                    "submit_seconds",
                    "Time to queue a run: publish and JetStream's confirmation",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ]),
            )
            .expect("metric"),
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
        let m = Metrics::new();
        m.requests.with_label_values(&["submit", "202"]).inc();
        assert!(m
            .render()
            .contains("moat_edge_requests_total{route=\"submit\",status=\"202\"} 1"));
    }
}
