//! NATS subjects and stream names, named once: the edge publishes where the
//! launchers consume, and the launchers publish where the edge and the
//! recorder listen.
//!
//! - `runs.submit.<plan>.<client>`: the plan's runs stream (work queue), one
//!   message per run; the client token is a tenant name or an anonymous
//!   address prefix ([`crate::client`]).
//! - `runs.wake.<plan>.<client>`: core NATS only (never stored): "this client
//!   may have work", sent after a submit and after a run ends, so launchers
//!   learn of work without polling. Losing one costs at most a resync period.
//! - `runs.events.<run>`: stream [`RUN_EVENTS`], a run's live events, kept about an hour.
//! - `runs.done.<tenant>`: stream [`RUN_RESULTS`], final records.

use crate::client::Plan;

pub use moat_wire::valid_token;

/// Stream of tenants' submitted runs (work-queue retention).
pub const RUNS: &str = "RUNS";
/// Stream of anonymous clients' submitted runs (work-queue retention).
pub const RUNS_ANON: &str = "RUNS_ANON";
/// Stream of run events (limits retention, about an hour).
pub const RUN_EVENTS: &str = "RUN_EVENTS";
/// Stream of final run records.
pub const RUN_RESULTS: &str = "RUN_RESULTS";

/// Every event subject.
pub const EVENTS_ALL: &str = "runs.events.>";
/// Every final-record subject.
pub const DONE_ALL: &str = "runs.done.>";
/// Every wake subject.
pub const WAKE_ALL: &str = "runs.wake.>";

/// Where `client`'s runs on `plan` are submitted.
pub fn submit(plan: Plan, client: &str) -> String {
    debug_assert!(
        valid_token(client),
        "client {client:?} is not a subject token"
    );
    format!("runs.submit.{}.{client}", plan.token())
}

/// Every submit subject of `plan` (its stream's subjects).
pub fn submit_all(plan: Plan) -> String {
    format!("runs.submit.{}.>", plan.token())
}

/// Where launchers are told that `client` on `plan` may have work.
pub fn wake(plan: Plan, client: &str) -> String {
    debug_assert!(
        valid_token(client),
        "client {client:?} is not a subject token"
    );
    format!("runs.wake.{}.{client}", plan.token())
}

/// The plan and client token of a submit or wake subject, if it is one.
pub fn client_of(subject: &str) -> Option<(Plan, &str)> {
    let rest = subject
        .strip_prefix("runs.submit.")
        .or_else(|| subject.strip_prefix("runs.wake."))?;
    let (plan, client) = rest.split_once('.')?;
    let plan = Plan::from_token(plan)?;
    valid_token(client).then_some((plan, client))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip_and_refuse_what_is_not_theirs() {
        assert_eq!(submit(Plan::Tenant, "t1"), "runs.submit.tenant.t1");
        assert_eq!(
            submit(Plan::Anonymous, "4-127-0-0-2"),
            "runs.submit.anon.4-127-0-0-2"
        );
        assert_eq!(wake(Plan::Anonymous, "x"), "runs.wake.anon.x");
        assert_eq!(
            client_of("runs.submit.tenant.t1"),
            Some((Plan::Tenant, "t1"))
        );
        assert_eq!(client_of("runs.wake.anon.x"), Some((Plan::Anonymous, "x")));
        for bad in [
            "runs.submit.t1",
            "runs.submit.gold.t1",
            "runs.submit.tenant.a.b",
            "runs.events.x",
            "runs.submit.tenant.",
        ] {
            assert_eq!(client_of(bad), None, "{bad}");
        }
        assert_eq!(events("abc"), "runs.events.abc");
        assert_eq!(done("t1"), "runs.done.t1");
        assert_eq!(submit_all(Plan::Tenant), "runs.submit.tenant.>");
    }
}
