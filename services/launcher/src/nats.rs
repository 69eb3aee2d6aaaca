//! JetStream set-up: the three streams and the launchers' shared consumer,
//! created or updated at start so a fresh server works with no manual step.
//! The definitions follow the design brief's subjects; a fleet deploys the
//! same ones from `nats/`.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use moat_wire::subjects;

/// Why JetStream set-up failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A stream could not be created or updated.
    #[error("stream {name}: {message}")]
    Stream {
        /// The stream.
        name: &'static str,
        /// Why.
        message: String,
    },
    /// The consumer could not be created.
    #[error("consumer {name}: {message}")]
    Consumer {
        /// The consumer.
        name: String,
        /// Why.
        message: String,
    },
}

/// Creates (or updates) RUNS, RUN_EVENTS and RUN_RESULTS.
pub async fn ensure_streams(
    js: &jetstream::Context,
    max_queued_per_tenant: i64,
) -> Result<(), SetupError> {
    let configs = [
        stream::Config {
            name: subjects::RUNS.into(),
            subjects: vec![subjects::SUBMIT_ALL.into()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            // A full tenant queue refuses the publish (the edge answers 429)
            // instead of dropping old runs.
            max_messages_per_subject: max_queued_per_tenant,
            discard: stream::DiscardPolicy::New,
            discard_new_per_subject: true,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        },
        stream::Config {
            name: subjects::RUN_EVENTS.into(),
            subjects: vec![subjects::EVENTS_ALL.into()],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            max_age: Duration::from_secs(3600),
            ..Default::default()
        },
        stream::Config {
            name: subjects::RUN_RESULTS.into(),
            subjects: vec![subjects::DONE_ALL.into()],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            max_age: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        },
    ];
    let names = [subjects::RUNS, subjects::RUN_EVENTS, subjects::RUN_RESULTS];
    for (config, name) in configs.into_iter().zip(names) {
        let result = match js.get_stream(name).await {
            Ok(_) => js
                .update_stream(config)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(_) => js
                .create_stream(config)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        result.map_err(|message| SetupError::Stream { name, message })?;
    }
    Ok(())
}

/// The durable pull consumer on RUNS that every launcher pulls from.
pub async fn runs_consumer(
    js: &jetstream::Context,
    name: &str,
    max_deliver: i64,
    ack_wait: Duration,
) -> Result<consumer::PullConsumer, SetupError> {
    let err = |e: &dyn std::fmt::Display| SetupError::Consumer {
        name: name.to_owned(),
        message: e.to_string(),
    };
    let stream = js.get_stream(subjects::RUNS).await.map_err(|e| err(&e))?;
    stream
        .get_or_create_consumer(
            name,
            consumer::pull::Config {
                durable_name: Some(name.to_owned()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait,
                max_deliver,
                filter_subject: subjects::SUBMIT_ALL.into(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| err(&e))
}
