//! Every metric the recorder exports, declared once with its help text, and
//! what `/metrics` and `/healthz` (served by `moat_ops`) report.
//! Label values come from fixed sets (stream, result), never run ids or
//! tenants.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// The recorder's metrics.
pub struct Metrics {
    registry: Registry,
    /// Messages handled, by stream (`events`, `results`) and result
    /// (`applied`, `duplicate`, `malformed`, `retried`).
    pub messages: IntCounterVec,
    /// Time to write and commit one batch, by stream.
    pub transaction_seconds: HistogramVec,
    /// Whether both consumers are set up and pulling.
    ready: AtomicBool,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let registry =
            Registry::new_custom(Some("moat_recorder".into()), None).expect("valid prefix");
        let messages = IntCounterVec::new(
            Opts::new(
                "messages_total",
                "Messages handled, by stream (events, results) and result (applied, duplicate, malformed, retried)",
            ),
            &["stream", "result"],
        )
        .expect("metric");
        let transaction_seconds = HistogramVec::new(
            HistogramOpts::new(
                "transaction_seconds",
                "Time to write and commit one batch of messages, by stream",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["stream"],
        )
        .expect("metric");
        registry
            .register(Box::new(messages.clone()))
            .expect("metric names are unique");
        registry
            .register(Box::new(transaction_seconds.clone()))
            .expect("metric names are unique");
        Arc::new(Self {
            registry,
            messages,
            transaction_seconds,
            ready: AtomicBool::new(false),
        })
    }

    /// Counts `n` messages of `stream` with `result`.
    pub fn count(&self, stream: &str, result: &str, n: u64) {
        self.messages.with_label_values(&[stream, result]).inc_by(n);
    }

    /// Marks the recorder ready (database migrated, consumers pulling) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether `/healthz` should answer 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        moat_ops::render_registry(&self.registry)
    }
}

impl moat_ops::Health for Metrics {
    fn render(&self) -> String {
        Metrics::render(self)
    }
    fn is_ready(&self) -> bool {
        Metrics::is_ready(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_with_help_and_fixed_labels() {
        let m = Metrics::new();
        m.count("events", "applied", 3);
        let text = m.render();
        assert!(text.contains("# HELP moat_recorder_messages_total Messages handled"));
        assert!(
            text.contains("moat_recorder_messages_total{result=\"applied\",stream=\"events\"} 3")
        );
        assert!(!m.is_ready());
    }
}
