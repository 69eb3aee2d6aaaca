//! Every metric the egress service exports, declared once with its help
//! text. Label values come from fixed sets (the result's reason), never
//! URLs, hosts or tenants.

use std::sync::Arc;

use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts};

/// The egress service's metrics.
pub struct Metrics {
    /// The registry, and readiness: subscribed to the fetch subject.
    pub ops: moat_ops::Registry,
    /// Requests answered, by result: `ok`, or the failure's reason label.
    pub requests: IntCounterVec,
    /// Time to answer one request, redirects and body included.
    pub request_seconds: Histogram,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let ops = moat_ops::Registry::new("moat_egress");
        let requests = ops.register(
            IntCounterVec::new(
                Opts::new(
                    "requests_total",
                    "Requests answered, by result (ok, or the failure's reason: denied, limit, dns, refused, timeout, tls, protocol, ...)",
                ),
                &["result"],
            )
            .expect("metric"),
        );
        let request_seconds = ops.register(
            Histogram::with_opts(
                HistogramOpts::new(
                    "request_seconds",
                    "Time to answer one request, redirects and body included",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ]),
            )
            .expect("metric"),
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
