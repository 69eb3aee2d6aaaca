//! NATS subjects and streams, named once: the edge publishes where the
//! launcher consumes, and the launcher publishes where the edge and the
//! recorder listen.
//!
//! - `runs.submit.<tenant>`: stream [`RUNS`], work queue, one message per run.
//! - `runs.events.<run>`: stream [`RUN_EVENTS`], a run's live events, kept about an hour.
//! - `runs.done.<tenant>`: stream [`RUN_RESULTS`], final records.

/// Stream of submitted runs (work-queue retention).
pub const RUNS: &str = "RUNS";
/// Stream of run events (limits retention, about an hour).
pub const RUN_EVENTS: &str = "RUN_EVENTS";
/// Stream of final run records.
pub const RUN_RESULTS: &str = "RUN_RESULTS";

/// Every submit subject, for the RUNS stream and the launchers' consumer.
pub const SUBMIT_ALL: &str = "runs.submit.>";
/// Every event subject.
pub const EVENTS_ALL: &str = "runs.events.>";
/// Every final-record subject.
pub const DONE_ALL: &str = "runs.done.>";

/// Where a tenant's runs are submitted.
pub fn submit(tenant: &str) -> String {
    debug_assert!(
        valid_token(tenant),
        "tenant {tenant:?} is not a subject token"
    );
    format!("runs.submit.{tenant}")
}

/// Where a run's events are published.
pub fn events(run: &str) -> String {
    debug_assert!(valid_token(run), "run id {run:?} is not a subject token");
    format!("runs.events.{run}")
}

/// Where a tenant's final records are published.
pub fn done(tenant: &str) -> String {
    debug_assert!(
        valid_token(tenant),
        "tenant {tenant:?} is not a subject token"
    );
    format!("runs.done.{tenant}")
}

/// A tenant or run id usable as one subject token: 1 to 64 of `[A-Za-z0-9_-]`
/// (no `.`, `*`, `>` or whitespace, which would change the subject's meaning).
pub fn valid_token(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cannot_change_a_subject() {
        assert!(valid_token("tenant-1_a"));
        for bad in ["", "a.b", "*", ">", "a b", &"x".repeat(65)] {
            assert!(!valid_token(bad), "{bad:?}");
        }
        assert_eq!(submit("t1"), "runs.submit.t1");
        assert_eq!(events("abc"), "runs.events.abc");
        assert_eq!(done("t1"), "runs.done.t1");
    }
}
