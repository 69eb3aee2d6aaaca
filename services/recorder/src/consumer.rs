//! The recorder's JetStream side: wait for the launcher's streams, attach a
//! durable pull consumer to each, and turn messages into database writes.
//!
//! Each batch of ready messages is decoded, written in one transaction
//! ([`moat_db::apply_event`], [`moat_db::apply_record`]) and acknowledged
//! only after the commit. A restart between commit and ack redelivers the
//! batch, which the idempotent writes absorb; a crash before the commit loses
//! nothing, since nothing was acknowledged. A batch whose transaction fails
//! is retried one message at a time, so one message the database refuses
//! cannot hold back the others; that message is nak'ed and retried later.
//! A message that is not a valid event or record is logged and terminated:
//! retrying cannot fix it.
//!
//! This module does not create streams: their one definition is in
//! `moat_queue::streams` and the launchers create them at start. The
//! recorder waits until they exist.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, AckKind, Message};
use futures::StreamExt;
use moat_db::{self as db, Applied, DbError};
use moat_queue::subjects;
use moat_wire::{Event, RunRecord, PROTOCOL_VERSION};
use sea_orm::{DatabaseConnection, TransactionTrait};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Which stream a consumer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// RUN_EVENTS, `runs.events.<run>`.
    Events,
    /// RUN_RESULTS, `runs.done.<tenant>`.
    Results,
}

impl Feed {
    /// The stream's name.
    pub fn stream(self) -> &'static str {
        match self {
            Feed::Events => subjects::RUN_EVENTS,
            Feed::Results => subjects::RUN_RESULTS,
        }
    }

    /// The consumer's filter subject.
    pub fn filter(self) -> &'static str {
        match self {
            Feed::Events => subjects::EVENTS_ALL,
            Feed::Results => subjects::DONE_ALL,
        }
    }

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Feed::Events => "events",
            Feed::Results => "results",
        }
    }
}

/// Why the consumers could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("consumer {name} on {stream}: {message}")]
pub struct ConsumerError {
    /// The stream.
    pub stream: &'static str,
    /// The consumer.
    pub name: String,
    /// Why.
    pub message: String,
}

/// Waits until `feed`'s stream exists (the launcher creates it), logging once
/// and then every 30 s while it does not; `None` if `shutdown` came first.
pub async fn wait_for_stream(
    js: &jetstream::Context,
    feed: Feed,
    shutdown: &CancellationToken,
) -> Option<jetstream::stream::Stream> {
    let mut last_log: Option<Instant> = None;
    loop {
        match js.get_stream(feed.stream()).await {
            Ok(stream) => {
                if last_log.is_some() {
                    tracing::info!(stream = feed.stream(), "stream is there now");
                }
                return Some(stream);
            }
            Err(e) => {
                if last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                    tracing::warn!(
                        stream = feed.stream(),
                        error = %e,
                        "waiting for the stream: the launcher creates it at start"
                    );
                    last_log = Some(Instant::now());
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// The durable pull consumer `name` on `stream`, created if missing and
/// otherwise updated to these settings (a changed ack wait or batch takes
/// effect on the next start): explicit acks, every message from the
/// stream's start, unlimited redeliveries (a database outage must not drop
/// records).
pub async fn durable(
    stream: &jetstream::stream::Stream,
    feed: Feed,
    name: &str,
    ack_wait: Duration,
    batch: usize,
) -> Result<consumer::PullConsumer, ConsumerError> {
    stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(name.to_owned()),
            ack_policy: consumer::AckPolicy::Explicit,
            deliver_policy: consumer::DeliverPolicy::All,
            ack_wait,
            max_deliver: -1,
            max_ack_pending: i64::try_from(batch * 4).unwrap_or(i64::MAX),
            filter_subject: feed.filter().into(),
            ..Default::default()
        })
        .await
        .map_err(|e| ConsumerError {
            stream: feed.stream(),
            name: name.to_owned(),
            message: e.to_string(),
        })
}

/// A decoded message.
#[derive(Debug)]
enum Decoded {
    Event(Event),
    Record(RunRecord),
}

/// Decodes and checks one message of `feed`: valid JSON of the right shape,
/// ids usable as subject tokens, the subject agreeing with the payload.
fn decode(feed: Feed, subject: &str, payload: &[u8]) -> Result<Decoded, String> {
    match feed {
        Feed::Events => {
            let event: Event = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
            if !subjects::valid_token(&event.run) || subject != subjects::events(&event.run) {
                return Err(format!("run {:?} does not match the subject", event.run));
            }
            if event.attempt == 0 || event.seq == 0 {
                return Err("attempt and seq start at 1".into());
            }
            Ok(Decoded::Event(event))
        }
        Feed::Results => {
            let record: RunRecord = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
            if record.v != PROTOCOL_VERSION {
                return Err(format!("unsupported record version {}", record.v));
            }
            if !subjects::valid_token(&record.run)
                || !subjects::valid_token(&record.tenant)
                || subject != subjects::done(&record.tenant)
            {
                return Err("run or tenant does not match the subject".into());
            }
            if record.attempt == 0 {
                return Err("attempt starts at 1".into());
            }
            Ok(Decoded::Record(record))
        }
    }
}

/// Applies one decoded message; `true` if it changed something.
async fn apply<C: sea_orm::ConnectionTrait>(c: &C, decoded: &Decoded) -> Result<bool, DbError> {
    match decoded {
        Decoded::Event(event) => Ok(db::apply_event(c, event).await? == Applied::New),
        Decoded::Record(record) => Ok(db::apply_record(c, record).await? == Applied::New),
    }
}

/// Applies every message in one transaction; how many were new.
async fn apply_all(db: &DatabaseConnection, batch: &[(Message, Decoded)]) -> Result<u64, DbError> {
    let txn = db.begin().await?;
    let mut new = 0;
    for (_, decoded) in batch {
        new += u64::from(apply(&txn, decoded).await?);
    }
    txn.commit().await?;
    Ok(new)
}

async fn ack(message: &Message, kind: AckKind) {
    if let Err(e) = message.ack_with(kind).await {
        // Not fatal: the message comes back after the ack wait, and writes
        // are idempotent.
        tracing::warn!(subject = %message.subject, error = %e, "acknowledging");
    }
}

/// Handles one batch of messages: decode, write, commit, acknowledge.
async fn handle(feed: Feed, db: &DatabaseConnection, metrics: &Metrics, messages: Vec<Message>) {
    let label = feed.label();
    let mut batch = Vec::with_capacity(messages.len());
    for message in messages {
        match decode(feed, message.subject.as_str(), &message.payload) {
            Ok(decoded) => batch.push((message, decoded)),
            Err(error) => {
                tracing::warn!(
                    stream = feed.stream(),
                    subject = %message.subject,
                    error = %error,
                    "malformed message: terminated"
                );
                metrics.count(label, "malformed", 1);
                ack(&message, AckKind::Term).await;
            }
        }
    }
    if batch.is_empty() {
        return;
    }
    let started = Instant::now();
    match apply_all(db, &batch).await {
        Ok(new) => {
            metrics
                .transaction_seconds
                .with(&[label])
                .record(started.elapsed());
            for (message, _) in &batch {
                ack(message, AckKind::Ack).await;
            }
            let total = batch.len() as u64;
            metrics.count(label, "applied", new);
            metrics.count(label, "duplicate", total - new);
        }
        Err(error) => {
            tracing::warn!(stream = feed.stream(), error = %error, size = batch.len(), "batch failed; retrying one by one");
            for (message, decoded) in &batch {
                let one = async {
                    let txn = db.begin().await?;
                    let new = apply(&txn, decoded).await?;
                    txn.commit().await?;
                    Ok::<_, DbError>(new)
                };
                match one.await {
                    Ok(new) => {
                        ack(message, AckKind::Ack).await;
                        metrics.count(label, if new { "applied" } else { "duplicate" }, 1);
                    }
                    Err(error) => {
                        tracing::warn!(subject = %message.subject, error = %error, "write failed; will retry");
                        metrics.count(label, "retried", 1);
                        ack(message, AckKind::Nak(Some(Duration::from_secs(1)))).await;
                    }
                }
            }
        }
    }
}

/// Pulls `feed` from `consumer` and writes it to `db` until `shutdown`. The
/// batch in hand when `shutdown` comes is finished (written and
/// acknowledged); messages delivered but not yet taken are redelivered to
/// the next recorder after the ack wait.
pub async fn consume(
    feed: Feed,
    consumer: consumer::PullConsumer,
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    batch: usize,
    shutdown: CancellationToken,
) {
    'outer: while !shutdown.is_cancelled() {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            s = consumer.stream().max_messages_per_batch(batch).messages() => s,
        };
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(stream = feed.stream(), error = %e, "pulling");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        // Whatever is ready now, up to `batch`, goes into one transaction.
        let mut chunks = stream.ready_chunks(batch);
        loop {
            let chunk = tokio::select! {
                () = shutdown.cancelled() => break 'outer,
                chunk = chunks.next() => chunk,
            };
            let Some(chunk) = chunk else { break };
            let mut messages = Vec::with_capacity(chunk.len());
            for item in chunk {
                match item {
                    Ok(message) => messages.push(message),
                    Err(e) => tracing::warn!(stream = feed.stream(), error = %e, "pulling"),
                }
            }
            if !messages.is_empty() {
                handle(feed, &db, &metrics, messages).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_messages_are_refused() {
        let event =
            br#"{"run":"r1","attempt":1,"seq":1,"t":"log","level":"info","msg":"hi","ts_ms":0}"#;
        assert!(decode(Feed::Events, "runs.events.r1", event).is_ok());
        assert!(decode(Feed::Events, "runs.events.r2", event).is_err());
        assert!(decode(Feed::Events, "runs.events.r1", b"not json").is_err());
        let zero =
            br#"{"run":"r1","attempt":0,"seq":1,"t":"log","level":"info","msg":"hi","ts_ms":0}"#;
        assert!(decode(Feed::Events, "runs.events.r1", zero).is_err());
        assert!(decode(Feed::Results, "runs.done.t", event).is_err());
    }
}
