//! Every metric the launcher exports, declared once with its help text, and
//! what `/metrics` and `/healthz` (served by `moat_ops`) report.
//! Label values come from fixed sets (outcomes, violation kinds), never run
//! ids or tenants.

use std::sync::Arc;

use ::metrics::{Counter, Gauge, Histogram};
use moat_ops::Family;
use moat_queue::Plan;
use moat_wire::{Outcome, Stages};

use crate::frames::Violation;

/// The launcher's metrics.
pub struct Metrics {
    /// The registry, and readiness: connected and pulling.
    pub ops: moat_ops::Registry,
    /// Runs finished, by outcome.
    pub runs: Family<Counter>,
    /// Sandbox lifecycle latency by step: create, start, teardown.
    pub sandbox_seconds: Family<Histogram>,
    /// Whole-run duration (sandbox created to destroyed), by outcome.
    pub run_seconds: Family<Histogram>,
    /// Slots running a sandbox now.
    pub busy_slots: Gauge,
    /// Time from submission to the sandbox starting.
    pub queue_lag_seconds: Family<Histogram>,
    /// Runner output refused, by reason.
    pub frames_rejected: Family<Counter>,
    /// Queued messages that could not be run (undecodable, newer version).
    pub unusable: Counter,
    /// Where a run's time went, by stage (`moat_wire::Stages`).
    pub stage_seconds: Family<Histogram>,
    /// Warm sandboxes ready now, by class (heap MiB). The classes come from
    /// the configuration: the pool sets each to 0 when it starts.
    pub pool_ready: Family<Gauge>,
    /// Sandboxes handed to runs, by source: `warm` (the pool) or `cold`.
    pub pool_acquired: Family<Counter>,
    /// Pooled sandboxes destroyed unused, by reason: `age`, `exited`, `surplus`.
    pub pool_discarded: Family<Counter>,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Finer at the low end than [`LATENCY_BUCKETS`]: a warm run's stages are
/// a few milliseconds each.
const STAGE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// The sandbox lifecycle's steps.
const STEPS: [&str; 3] = ["create", "start", "teardown"];
/// A run's attempt kinds, for the queue lag.
const ATTEMPTS: [&str; 2] = ["first", "retry"];
/// Where a sandbox for a run came from.
const SOURCES: [&str; 2] = ["warm", "cold"];
/// Why a pooled sandbox was destroyed unused (the pool's own reasons).
const DISCARDS: [&str; 3] = ["age", "exited", "surplus"];
/// Every reason [`Metrics::reject`] counts under.
const REJECTS: [&str; 8] = [
    "frame_too_large",
    "total_too_large",
    "malformed",
    "after_result",
    "file_name",
    "file_size",
    "files",
    "calls",
];

impl Metrics {
    /// Registers every metric; every series from a fixed set of label
    /// values starts at zero.
    pub fn new() -> Arc<Self> {
        let ops = moat_ops::Registry::new(
            "moat_launcher",
            &[
                ("sandbox_seconds", LATENCY_BUCKETS),
                ("run_seconds", LATENCY_BUCKETS),
                ("queue_lag_seconds", LATENCY_BUCKETS),
                ("stage_seconds", STAGE_BUCKETS),
            ],
        );
        let outcomes = Outcome::ALL.map(Outcome::as_str);
        let plans = Plan::ALL.map(Plan::token);
        // Every stage, teardown included.
        let stages: Vec<&str> = Stages {
            teardown_us: Some(0),
            ..Stages::default()
        }
        .named()
        .into_iter()
        .map(|(stage, _)| stage)
        .collect();
        let runs = ops
            .counters("runs_total", "Runs finished, by outcome", &["outcome"])
            .zeroed(&[&outcomes]);
        let sandbox_seconds = ops
            .histograms(
                "sandbox_seconds",
                "Sandbox lifecycle latency by step (create, start, teardown)",
                &["step"],
            )
            .zeroed(&[&STEPS]);
        let run_seconds = ops
            .histograms(
                "run_seconds",
                "Whole-run duration, sandbox created to destroyed, by outcome",
                &["outcome"],
            )
            .zeroed(&[&outcomes]);
        let busy_slots = ops.gauge("busy_slots", "Slots running a sandbox now");
        let queue_lag_seconds = ops
            .histograms(
                "queue_lag_seconds",
                "Time from submission to the sandbox starting, by attempt kind and plan",
                &["attempt", "plan"],
            )
            .zeroed(&[&ATTEMPTS, &plans]);
        let frames_rejected = ops
            .counters(
                "frames_rejected_total",
                "Runner output refused, by reason",
                &["reason"],
            )
            .zeroed(&[&REJECTS]);
        let unusable = ops.counter(
            "unusable_runs_total",
            "Queued messages that could not be run (undecodable, newer version), recorded failed",
        );
        let stage_seconds = ops
            .histograms(
                "stage_seconds",
                "Where a run's time went, by stage (queue, acquire, start, execution, result, teardown)",
                &["stage"],
            )
            .zeroed(&[&stages]);
        // The classes are the configuration's: `Pool::start` zeroes them.
        let pool_ready = ops.gauges(
            "pool_ready",
            "Warm sandboxes ready now, by class (heap MiB)",
            &["class"],
        );
        let pool_acquired = ops
            .counters(
                "pool_acquired_total",
                "Sandboxes handed to runs, by source (warm, cold)",
                &["source"],
            )
            .zeroed(&[&SOURCES]);
        let pool_discarded = ops
            .counters(
                "pool_discarded_total",
                "Pooled sandboxes destroyed unused, by reason (age, exited, surplus)",
                &["reason"],
            )
            .zeroed(&[&DISCARDS]);
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
        self.frames_rejected
            .with(&[reject_reason(violation)])
            .increment(1);
    }
}

/// The fixed reason label for a refused stream (one of [`REJECTS`]).
fn reject_reason(violation: &Violation) -> &'static str {
    match violation {
        Violation::FrameTooLarge(_) => "frame_too_large",
        Violation::TotalTooLarge(_) => "total_too_large",
        Violation::Malformed(_) => "malformed",
        Violation::AfterResult => "after_result",
        Violation::FileName(_) => "file_name",
        Violation::FileSize(_) => "file_size",
        Violation::Files => "files",
        Violation::Calls(_) => "calls",
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
        m.runs.with(&["ok"]).increment(1);
        m.reject(&Violation::AfterResult);
        let text = m.render();
        assert!(text.contains("# HELP moat_launcher_runs_total Runs finished, by outcome"));
        assert!(text.contains("moat_launcher_runs_total{outcome=\"ok\"} 1"));
        assert!(text.contains("moat_launcher_frames_rejected_total{reason=\"after_result\"} 1"));
        // Every series of a fixed set exists from the start, at zero.
        for line in [
            "moat_launcher_runs_total{outcome=\"protocol_error\"} 0",
            "moat_launcher_run_seconds_count{outcome=\"timeout\"} 0",
            "moat_launcher_sandbox_seconds_count{step=\"teardown\"} 0",
            "moat_launcher_queue_lag_seconds_count{attempt=\"retry\",plan=\"anon\"} 0",
            "moat_launcher_stage_seconds_count{stage=\"teardown\"} 0",
            "moat_launcher_pool_acquired_total{source=\"cold\"} 0",
            "moat_launcher_pool_discarded_total{reason=\"surplus\"} 0",
            "moat_launcher_frames_rejected_total{reason=\"calls\"} 0",
            "moat_launcher_unusable_runs_total 0",
            "moat_launcher_busy_slots 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
    }

    #[test]
    fn every_violation_has_a_zeroed_reason() {
        for v in [
            Violation::FrameTooLarge(1),
            Violation::TotalTooLarge(1),
            Violation::Malformed(String::new()),
            Violation::AfterResult,
            Violation::FileName(String::new()),
            Violation::FileSize(String::new()),
            Violation::Files,
            Violation::Calls(""),
        ] {
            assert!(REJECTS.contains(&reject_reason(&v)), "{v:?}");
        }
    }
}
