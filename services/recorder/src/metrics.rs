//! Every metric the recorder exports, declared once with its help text, and
//! what `/metrics` and `/healthz` (served by `moat_ops`) report.
//! Label values come from fixed sets (stream, result), never run ids or
//! tenants.

use std::sync::Arc;

use ::metrics::{Counter, Histogram};
use moat_ops::Family;

use crate::consumer::Feed;

/// The recorder's metrics.
pub struct Metrics {
    /// The registry, and readiness: both consumers set up and pulling.
    pub ops: moat_ops::Registry,
    /// Messages handled, by stream (`events`, `results`) and result
    /// (`applied`, `duplicate`, `malformed`, `retried`).
    pub messages: Family<Counter>,
    /// Time to write and commit one batch, by stream.
    pub transaction_seconds: Family<Histogram>,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// What became of a message: every `result` [`Metrics::count`] is given.
pub const RESULTS: [&str; 4] = ["applied", "duplicate", "malformed", "retried"];

impl Metrics {
    /// Registers every metric; every stream's series start at zero.
    pub fn new() -> Arc<Self> {
        let ops =
            moat_ops::Registry::new("moat_recorder", &[("transaction_seconds", LATENCY_BUCKETS)]);
        let streams = [Feed::Events, Feed::Results].map(Feed::label);
        let messages = ops
            .counters(
                "messages_total",
                "Messages handled, by stream (events, results) and result (applied, duplicate, malformed, retried)",
                &["stream", "result"],
            )
            .zeroed(&[&streams, &RESULTS]);
        let transaction_seconds = ops
            .histograms(
                "transaction_seconds",
                "Time to write and commit one batch of messages, by stream",
                &["stream"],
            )
            .zeroed(&[&streams]);
        Arc::new(Self {
            ops,
            messages,
            transaction_seconds,
        })
    }

    /// Counts `n` messages of `stream` with `result` (one of [`RESULTS`]).
    pub fn count(&self, stream: &str, result: &str, n: u64) {
        debug_assert!(RESULTS.contains(&result), "{result}");
        self.messages.with(&[stream, result]).increment(n);
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

    #[test]
    fn metrics_render_with_help_and_fixed_labels() {
        let m = Metrics::new();
        m.count("events", "applied", 3);
        let text = m.render();
        assert!(text.contains("# HELP moat_recorder_messages_total Messages handled"));
        assert!(
            text.contains("moat_recorder_messages_total{result=\"applied\",stream=\"events\"} 3")
        );
        assert!(
            text.contains("moat_recorder_messages_total{result=\"retried\",stream=\"results\"} 0")
        );
        assert!(text.contains("moat_recorder_transaction_seconds_count{stream=\"events\"} 0"));
        assert!(!m.is_ready());
    }
}
