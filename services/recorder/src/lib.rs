//! moat's recorder: the memory of the system. It reads every run's events
//! (RUN_EVENTS) and final records (RUN_RESULTS) through durable JetStream
//! consumers and writes them to the database: run status, outcome, timings
//! and sizes, a bounded log excerpt, files, and per-tenant daily usage,
//! through [`moat_db`], the database layer the edge reads with.
//!
//! It never runs code, publishes nothing, and does not create the streams
//! (the launcher owns their definitions; the recorder waits for them).
//! Restarting it mid-stream loses and duplicates nothing: messages are
//! acknowledged only after their transaction commits, and every write is
//! idempotent (see [`moat_db::write`](mod@moat_db::write)).
//!
//! - [`config`]: flags and validation;
//! - [`consumer`]: streams, durable consumers, batches, acks;
//! - [`metrics`]: `/metrics` and `/healthz`.

pub mod config;
pub mod consumer;
pub mod metrics;

use moat_db as db;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::consumer::Feed;
use crate::metrics::Metrics;

/// Why the recorder could not start.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The database cannot be opened or migrated.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// NATS cannot be reached.
    #[error("cannot connect to NATS at {url}: {message}")]
    Nats {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// A durable consumer could not be set up.
    #[error(transparent)]
    Consumer(#[from] consumer::ConsumerError),
}

/// Runs the recorder until `shutdown` is cancelled: opens and migrates the
/// database, waits for the streams, consumes both until cancelled, finishes
/// the batches in hand, and closes the database. `metrics_listener` serves
/// `/metrics` and `/healthz` (200 once both consumers are pulling).
pub async fn run(
    config: Config,
    metrics_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RecorderError> {
    config.validate()?;
    let metrics = Metrics::new();
    let server = tokio::spawn(moat_ops::serve(
        metrics.clone(),
        metrics_listener,
        shutdown.clone(),
    ));
    let result = consume_all(&config, &metrics, &shutdown).await;
    metrics.ops.set_ready(false);
    // On an error at start the metrics server must stop too.
    shutdown.cancel();
    let _ = server.await;
    result
}

async fn consume_all(
    config: &Config,
    metrics: &std::sync::Arc<Metrics>,
    shutdown: &CancellationToken,
) -> Result<(), RecorderError> {
    let db = db::connect(&config.database_url).await?;
    let client = moat_queue::connect(&config.nats_url, &config.nats, moat_queue::Role::Recorder)
        .await
        .map_err(|e| RecorderError::Nats {
            url: config.nats_url.clone(),
            message: e.to_string(),
        })?;
    let js = async_nats::jetstream::new(client.clone());

    let tracker = TaskTracker::new();
    let feeds = [
        (Feed::Events, &config.events_consumer),
        (Feed::Results, &config.results_consumer),
    ];
    let mut consumers = Vec::new();
    for (feed, name) in feeds {
        let Some(stream) = consumer::wait_for_stream(&js, feed, shutdown).await else {
            db.close().await.map_err(db::DbError::from)?;
            return Ok(());
        };
        let durable =
            consumer::durable(&stream, feed, name, config.ack_wait(), config.batch).await?;
        consumers.push((feed, durable));
    }
    for (feed, durable) in consumers {
        tracker.spawn(consumer::consume(
            feed,
            durable,
            db.clone(),
            metrics.clone(),
            config.batch,
            shutdown.clone(),
        ));
    }
    tracker.close();
    metrics.ops.set_ready(true);
    tracing::info!(
        nats = %config.nats_url,
        database = %redact(&config.database_url),
        "recorder ready"
    );
    tracker.wait().await;
    metrics.ops.set_ready(false);
    // Bounded: with NATS gone a flush would wait for a reconnect forever.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), client.flush()).await;
    db.close().await.map_err(db::DbError::from)?;
    tracing::info!("recorder stopped");
    Ok(())
}

/// The database URL without a password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            super::redact("sqlite://.run/moat.db?mode=rwc"),
            "sqlite://.run/moat.db?mode=rwc"
        );
    }
}
