//! One durable pull consumer per client with work, on its plan's stream,
//! filtered to that client's subject. The server then does what a shared
//! FIFO consumer cannot: it keeps each client's runs in order, redelivers a
//! run whose launcher died (ack wait, max deliveries), and enforces the
//! plan's concurrency per client *fleet-wide* (`max_ack_pending`: runs
//! delivered and not yet acknowledged, whichever launcher holds them).
//!
//! Consumers are made on first use by any launcher, and each launcher's
//! create-or-update on first use brings an existing one to the configured
//! settings. An idle consumer is removed by the server after
//! [`INACTIVE_AFTER`] without pull requests or acks; its client's messages
//! stay in the stream (work-queue streams drop a message only when it is
//! acknowledged), and the next use makes it again. No consumer vanishes
//! under a running job: the server counts the inactivity from the last
//! delivery's ack wait, and running jobs send progress acks.

use std::time::Duration;

use async_nats::jetstream::consumer;

use crate::client::Plan;
use crate::subjects;

/// How long a consumer may see no pull requests before the server removes it.
pub const INACTIVE_AFTER: Duration = Duration::from_secs(5 * 60);

/// The delivery settings every per-client consumer gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// Deliveries of one run before it is given up.
    pub max_deliver: i64,
    /// How long a delivered run may go unacknowledged before redelivery.
    pub ack_wait: Duration,
    /// Runs one anonymous client may have running at once, fleet-wide.
    pub anon_concurrency: i64,
    /// Runs one tenant may have running at once, fleet-wide.
    pub tenant_concurrency: i64,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            max_deliver: 3,
            ack_wait: Duration::from_secs(30),
            anon_concurrency: 1,
            tenant_concurrency: 4,
        }
    }
}

impl ConsumerSettings {
    /// The per-client concurrency of `plan`.
    pub fn concurrency(&self, plan: Plan) -> i64 {
        match plan {
            Plan::Anonymous => self.anon_concurrency,
            Plan::Tenant => self.tenant_concurrency,
        }
    }
}

/// The consumer of `client` (a subject token) on `plan`'s stream; its name is
/// the client token (unique within the stream).
pub fn client_consumer(
    plan: Plan,
    client: &str,
    settings: &ConsumerSettings,
) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(client.to_owned()),
        filter_subject: subjects::submit(plan, client),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: settings.ack_wait,
        max_deliver: settings.max_deliver,
        max_ack_pending: settings.concurrency(plan),
        inactive_threshold: INACTIVE_AFTER,
        ..Default::default()
    }
}

/// The subject of the server's advisory when a run on `plan` reached its
/// last delivery (every client's consumer).
pub fn max_deliveries_advisory(plan: Plan) -> String {
    format!(
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.*",
        plan.stream()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_consumer_sees_only_its_runs_and_caps_them() {
        let s = ConsumerSettings::default();
        let c = client_consumer(Plan::Anonymous, "4-127-0-0-2", &s);
        assert_eq!(c.filter_subject, "runs.submit.anon.4-127-0-0-2");
        assert_eq!(c.durable_name.as_deref(), Some("4-127-0-0-2"));
        assert_eq!(c.max_ack_pending, 1);
        assert_eq!(client_consumer(Plan::Tenant, "acme", &s).max_ack_pending, 4);
        assert_eq!(
            max_deliveries_advisory(Plan::Tenant),
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.RUNS.*"
        );
    }
}
