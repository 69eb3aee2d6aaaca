//! The streams, defined once and created *or updated* to these settings at
//! start, so a fresh server works with no manual step and a changed limit
//! takes effect on the next start. A fleet deploys the same definitions.
//!
//! Queue caps are enforced by JetStream itself, atomically across every
//! edge: each plan's stream has `max_msgs_per_subject` = that plan's queue cap
//! per client (one subject per client) with discard-new-per-subject, so a
//! full client's next publish is refused (the edge answers 429) and nothing
//! already queued is dropped. The anonymous stream also has a total cap.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::client::Plan;
use crate::subjects;

/// How much may wait in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Runs one anonymous client may have queued (running ones included).
    pub anon_per_client: i64,
    /// Runs all anonymous clients together may have queued.
    pub anon_total: i64,
    /// Runs one tenant may have queued (running ones included).
    pub tenant_per_client: i64,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            anon_per_client: 3,
            anon_total: 1_000,
            tenant_per_client: 100,
        }
    }
}

impl QueueLimits {
    /// Checks that every cap is at least 1.
    pub fn validate(&self) -> Result<(), String> {
        if self.anon_per_client < 1 || self.anon_total < 1 || self.tenant_per_client < 1 {
            return Err("queue caps must be at least 1".into());
        }
        Ok(())
    }
}

/// Why JetStream set-up failed.
#[derive(Debug, thiserror::Error)]
#[error("stream {name}: {message}")]
pub struct SetupError {
    /// The stream.
    pub name: &'static str,
    /// Why.
    pub message: String,
}

/// How long a publish is remembered for deduplication (a retried submit or
/// record within it is stored once).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The stream a plan's runs wait in.
pub fn runs_stream(plan: Plan, limits: &QueueLimits) -> stream::Config {
    let (per_client, total) = match plan {
        Plan::Anonymous => (limits.anon_per_client, limits.anon_total),
        Plan::Tenant => (limits.tenant_per_client, -1),
    };
    stream::Config {
        name: plan.stream().into(),
        subjects: vec![subjects::submit_all(plan)],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        max_messages_per_subject: per_client,
        max_messages: total,
        discard: stream::DiscardPolicy::New,
        discard_new_per_subject: true,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    }
}

/// Every run's events, kept an hour for late subscribers.
pub fn events_stream() -> stream::Config {
    stream::Config {
        name: subjects::RUN_EVENTS.into(),
        subjects: vec![subjects::EVENTS_ALL.into()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(3600),
        ..Default::default()
    }
}

/// Every run's final record, kept a week for the recorder and analytics.
pub fn results_stream() -> stream::Config {
    stream::Config {
        name: subjects::RUN_RESULTS.into(),
        subjects: vec![subjects::DONE_ALL.into()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(7 * 24 * 3600),
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    }
}

/// Every stream moat uses, in creation order.
pub fn all_streams(limits: &QueueLimits) -> Vec<stream::Config> {
    vec![
        runs_stream(Plan::Tenant, limits),
        runs_stream(Plan::Anonymous, limits),
        events_stream(),
        results_stream(),
    ]
}

/// `configs` with `replicas` copies of each stream: a NATS cluster keeps
/// them on that many servers, so a lost server loses nothing. (Left at 0,
/// a new stream gets 1 and an existing one keeps its count: see
/// [`ensure_streams`].)
pub fn replicated(configs: Vec<stream::Config>, replicas: usize) -> Vec<stream::Config> {
    configs
        .into_iter()
        .map(|c| stream::Config {
            num_replicas: replicas,
            ..c
        })
        .collect()
}

/// Creates each stream, or updates it to this definition if it exists.
pub async fn ensure_streams(
    js: &jetstream::Context,
    configs: Vec<stream::Config>,
) -> Result<(), SetupError> {
    for config in configs {
        let name: &'static str = match config.name.as_str() {
            n if n == subjects::RUNS => subjects::RUNS,
            n if n == subjects::RUNS_ANON => subjects::RUNS_ANON,
            n if n == subjects::RUN_EVENTS => subjects::RUN_EVENTS,
            _ => subjects::RUN_RESULTS,
        };
        let result = match js.get_stream(name).await {
            // No replica count given: the stream keeps the one it has (an
            // operator's, or a launcher's that was given one).
            Ok(existing) => js
                .update_stream(match config.num_replicas {
                    0 => stream::Config {
                        num_replicas: existing.cached_info().config.num_replicas,
                        ..config
                    },
                    _ => config,
                })
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(_) => js
                .create_stream(config)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        result.map_err(|message| SetupError { name, message })?;
    }
    Ok(())
}

/// [`ensure_streams`], tried again every second for up to `patience`: a
/// NATS cluster that has just started (or lost its JetStream leader)
/// answers no JetStream request for a few seconds.
pub async fn ensure_streams_patiently(
    js: &jetstream::Context,
    configs: Vec<stream::Config>,
    patience: Duration,
) -> Result<(), SetupError> {
    let until = tokio::time::Instant::now() + patience;
    loop {
        match ensure_streams(js, configs.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() < until => {
                tracing::info!(error = %e, "JetStream is not ready yet; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_plan_caps_its_clients_queues() {
        let limits = QueueLimits::default();
        let anon = runs_stream(Plan::Anonymous, &limits);
        assert_eq!(anon.max_messages_per_subject, 3);
        assert_eq!(anon.max_messages, 1_000);
        assert!(anon.discard_new_per_subject);
        assert_eq!(anon.subjects, vec!["runs.submit.anon.>".to_owned()]);
        let tenant = runs_stream(Plan::Tenant, &limits);
        assert_eq!(tenant.max_messages_per_subject, 100);
        assert_eq!(tenant.name, "RUNS");
        assert!(QueueLimits {
            anon_per_client: 0,
            ..limits
        }
        .validate()
        .is_err());
        assert_eq!(all_streams(&limits).len(), 4);
        assert!(replicated(all_streams(&limits), 3)
            .iter()
            .all(|c| c.num_replicas == 3));
    }
}
