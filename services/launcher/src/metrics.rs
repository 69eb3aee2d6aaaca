//! Every metric the launcher exports, declared once with its help text, and
//! what `/metrics` and `/healthz` (served by `moat_ops`) report.
//! Label values come from fixed sets (outcomes, violation kinds), never run
//! ids or tenants.

use std::sync::Arc;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

use crate::frames::Violation;

/// The launcher's metrics.
pub struct Metrics {
    /// The registry, and readiness: connected and pulling.
    pub ops: moat_ops::Registry,
    /// Runs finished, by outcome.
    pub runs: IntCounterVec,
    /// Sandbox lifecycle latency by step: create, start, teardown.
    pub sandbox_seconds: HistogramVec,
    /// Whole-run duration (sandbox created to destroyed), by outcome.
    pub run_seconds: HistogramVec,
    /// Slots running a sandbox now.
    pub busy_slots: IntGauge,
    /// Time from submission to the sandbox starting.
    pub queue_lag_seconds: HistogramVec,
    /// Runner output refused, by reason.
    pub frames_rejected: IntCounterVec,
    /// Queued messages that could not be run (undecodable, newer version).
    pub unusable: IntCounter,
    /// Where a run's time went, by stage (`moat_wire::Stages`).
    pub stage_seconds: HistogramVec,
    /// Warm sandboxes ready now, by class (heap MiB).
    pub pool_ready: IntGaugeVec,
    /// Sandboxes handed to runs, by source: `warm` (the pool) or `cold`.
    pub pool_acquired: IntCounterVec,
    /// Pooled sandboxes destroyed unused, by reason: `age`, `exited`, `surplus`.
    pub pool_discarded: IntCounterVec,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Finer at the low end than [`LATENCY_BUCKETS`]: a warm run's stages are
/// a few milliseconds each.
const STAGE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let ops = moat_ops::Registry::new("moat_launcher");
        let runs = ops.register(
            IntCounterVec::new(
                Opts::new("runs_total", "Runs finished, by outcome"),
                &["outcome"],
            )
            .expect("metric"),
        );
        let sandbox_seconds = ops.register(
            HistogramVec::new(
                HistogramOpts::new(
                    "sandbox_seconds",
                    "Sandbox lifecycle latency by step (create, start, teardown)",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["step"],
            )
            .expect("metric"),
        );
        let run_seconds = ops.register(
            HistogramVec::new(
                HistogramOpts::new(
                    "run_seconds",
                    "Whole-run duration, sandbox created to destroyed, by outcome",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["outcome"],
            )
            .expect("metric"),
        );
        let busy_slots = ops
            .register(IntGauge::new("busy_slots", "Slots running a sandbox now").expect("metric"));
        let queue_lag_seconds = ops.register(
            HistogramVec::new(
                HistogramOpts::new(
                    "queue_lag_seconds",
                    "Time from submission to the sandbox starting, by attempt kind and plan",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["attempt", "plan"],
            )
            .expect("metric"),
        );
        let frames_rejected = ops.register(
            IntCounterVec::new(
                Opts::new("frames_rejected_total", "Runner output refused, by reason"),
                &["reason"],
            )
            .expect("metric"),
        );
        let unusable = ops.register(
            IntCounter::new(
                "unusable_runs_total",
                "Queued messages that could not be run (undecodable, newer version), recorded failed",
            )
            .expect("metric"),
        );
        let stage_seconds = ops.register(
            HistogramVec::new(
                HistogramOpts::new(
                    "stage_seconds",
                    "Where a run's time went, by stage (queue, acquire, start, execution, result, teardown)",
                )
                .buckets(STAGE_BUCKETS.to_vec()),
                &["stage"],
            )
            .expect("metric"),
        );
        let pool_ready = ops.register(
            IntGaugeVec::new(
                Opts::new(
                    "pool_ready",
                    "Warm sandboxes ready now, by class (heap MiB)",
                ),
                &["class"],
            )
            .expect("metric"),
        );
        let pool_acquired = ops.register(
            IntCounterVec::new(
                Opts::new(
                    "pool_acquired_total",
                    "Sandboxes handed to runs, by source (warm, cold)",
                ),
                &["source"],
            )
            .expect("metric"),
        );
        let pool_discarded = ops.register(
            IntCounterVec::new(
                Opts::new(
                    "pool_discarded_total",
                    "Pooled sandboxes destroyed unused, by reason (age, exited, surplus)",
                ),
                &["reason"],
            )
            .expect("metric"),
        );
        Arc::new(Self {
            ops,
            stage_seconds,
            pool_ready,
            pool_acquired,
            pool_discarded,
            unusable,
            runs,
            sandbox_seconds,
            run_seconds,
            busy_slots,
            queue_lag_seconds,
            frames_rejected,
        })
    }

    /// Counts a refused stream under its fixed reason label.
    pub fn reject(&self, violation: &Violation) {
        let reason = match violation {
            Violation::FrameTooLarge(_) => "frame_too_large",
            Violation::TotalTooLarge(_) => "total_too_large",
            Violation::Malformed(_) => "malformed",
            Violation::AfterResult => "after_result",
            Violation::FileName(_) => "file_name",
            Violation::FileSize(_) => "file_size",
            Violation::Files => "files",
            Violation::Calls(_) => "calls",
        };
        self.frames_rejected.with_label_values(&[reason]).inc();
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
        m.runs.with_label_values(&["ok"]).inc();
        m.reject(&Violation::AfterResult);
        let text = m.render();
        assert!(text.contains("# HELP moat_launcher_runs_total Runs finished, by outcome"));
        assert!(text.contains("moat_launcher_runs_total{outcome=\"ok\"} 1"));
        assert!(text.contains("moat_launcher_frames_rejected_total{reason=\"after_result\"} 1"));
    }
}
