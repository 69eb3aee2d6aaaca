//! The launcher's work: pull a run when a slot is free, run it in a sandbox,
//! publish its events and files, publish its final record, and only then
//! acknowledge it.
//!
//! Nothing is lost when a launcher dies mid-run: the unacknowledged message
//! is redelivered (to any launcher) after the ack wait and runs again as the
//! next attempt. Running jobs send progress acks so a long run is not
//! redelivered while it is alive. A run that keeps failing for
//! infrastructure reasons is given up after `max_deliver` attempts with a
//! `failed` record; if the last attempt's launcher died, the server's
//! max-deliveries advisory reaches a dead-letter task here, which writes the
//! `failed` record and removes the message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::PullConsumer, AckKind};
use futures::StreamExt;
use moat_wire::{
    subjects, EventBody, FileRef, Outcome, ResultFrame, RunRecord, RunRequest, ScriptError,
};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::events::EventPublisher;
use crate::frames::{Accepted, EventRate};
use crate::metrics::Metrics;
use crate::run::{run_job, RunReport, RunSettings};
use crate::sandbox::Sandboxes;
use crate::store::ObjectStore;

/// What every job handler shares.
#[derive(Clone)]
pub struct Worker {
    /// JetStream, for events and records.
    pub js: jetstream::Context,
    /// The sandbox factory.
    pub sandboxes: Sandboxes,
    /// Where files go.
    pub store: Arc<dyn ObjectStore>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Run settings (caps, grace, CPU).
    pub settings: RunSettings,
    /// Deliveries before giving up.
    pub max_deliver: i64,
    /// The consumer's ack wait (progress acks go out well inside it).
    pub ack_wait: Duration,
}

/// Pulls and runs jobs until `shutdown`, then drains: running jobs get
/// `drain` to finish, after which they are stopped and sent back to the queue.
pub async fn consume(
    worker: Worker,
    consumer: PullConsumer,
    slots: usize,
    drain: Duration,
    shutdown: CancellationToken,
) {
    let semaphore = Arc::new(Semaphore::new(slots));
    let tracker = TaskTracker::new();
    let stop_jobs = CancellationToken::new();
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = semaphore.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        // One message per free slot: a launcher never holds work it cannot start.
        let fetched = tokio::select! {
            () = shutdown.cancelled() => break,
            batch = consumer.fetch().max_messages(1).expires(Duration::from_secs(1)).messages() => batch,
        };
        let mut batch = match fetched {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "fetching runs");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        match batch.next().await {
            Some(Ok(msg)) => {
                let worker = worker.clone();
                let cancel = stop_jobs.child_token();
                tracker.spawn(async move { worker.handle(msg, permit, cancel).await });
            }
            Some(Err(e)) => tracing::warn!(error = %e, "receiving a run"),
            None => {}
        }
    }
    tracker.close();
    if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
        tracing::warn!("drain period over: stopping running jobs and returning them to the queue");
        stop_jobs.cancel();
        tracker.wait().await;
    }
}

/// Keeps `busy_slots` true while a job holds its slot.
struct Busy(Arc<Metrics>);

impl Busy {
    fn new(metrics: &Arc<Metrics>) -> Self {
        metrics.busy_slots.inc();
        Self(metrics.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy_slots.dec();
    }
}

impl Worker {
    async fn handle(
        self,
        msg: jetstream::Message,
        permit: OwnedSemaphorePermit,
        cancel: CancellationToken,
    ) {
        let _permit = permit;
        let _busy = Busy::new(&self.metrics);
        let attempt = msg.info().map(|i| i.delivered).unwrap_or(1).max(1) as u32;
        let request: RunRequest = match serde_json::from_slice(&msg.payload) {
            Ok(r) => r,
            Err(e) => {
                // Not ours to run and never will be: drop it for good.
                tracing::warn!(subject = %msg.subject, error = %e, "malformed run request");
                let _ = msg.ack_with(AckKind::Term).await;
                return;
            }
        };
        if !subjects::valid_token(&request.id) || !subjects::valid_token(&request.tenant) {
            tracing::warn!(run = %request.id, "run request with an invalid id or tenant");
            let _ = msg.ack_with(AckKind::Term).await;
            return;
        }
        if let Err(e) = request.job.validate() {
            let error = ScriptError::new("InvalidJob", e.to_string());
            let result = launcher_result(Outcome::InvalidJob, error, 0);
            let mut events = EventPublisher::new(self.js.clone(), &request.id, attempt);
            let _ = events.publish(EventBody::Result(result.clone())).await;
            let record = self.record(&request, attempt, &result, 0, &events, 0, Vec::new());
            let _ = self.publish_record(&record).await;
            let _ = msg.ack_with(AckKind::Term).await;
            return;
        }

        // Progress acks keep a long run from being redelivered while alive.
        let msg = Arc::new(msg);
        let heartbeat = {
            let msg = msg.clone();
            let every = self.ack_wait / 3;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let _ = msg.ack_with(AckKind::Progress).await;
                }
            })
        };
        let outcome = self.execute(&request, attempt, &cancel).await;
        heartbeat.abort();

        match outcome {
            Ok(Executed::Done) => {
                if let Err(e) = msg.double_ack().await {
                    tracing::warn!(run = %request.id, error = %e, "ack after the final record");
                }
            }
            Ok(Executed::Cancelled) => {
                let _ = msg.ack_with(AckKind::Nak(None)).await;
            }
            Err(e) if i64::from(attempt) >= self.max_deliver => {
                tracing::error!(run = %request.id, attempt, error = %e, "giving up on run");
                self.give_up(&request, attempt, &e).await;
                let _ = msg.ack_with(AckKind::Term).await;
            }
            Err(e) => {
                tracing::warn!(run = %request.id, attempt, error = %e, "run failed; it will be retried");
                let _ = msg
                    .ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
                    .await;
            }
        }
    }

    /// Runs the job and publishes everything about it.
    async fn execute(
        &self,
        request: &RunRequest,
        attempt: u32,
        cancel: &CancellationToken,
    ) -> Result<Executed, String> {
        let started_ms = moat_wire::run::now_ms();
        let queued = started_ms.saturating_sub(request.submitted_ms);
        let kind = if attempt == 1 { "first" } else { "retry" };
        self.metrics
            .queue_lag_seconds
            .with_label_values(&[kind])
            .observe(queued as f64 / 1000.0);

        let (tx, mut rx) = mpsc::unbounded_channel::<Accepted>();
        let mut events = EventPublisher::new(self.js.clone(), &request.id, attempt);
        let began = Instant::now();
        let run = run_job(&self.sandboxes, &request.job, &self.settings, tx, cancel);
        let publish = async {
            let mut files = Vec::new();
            let mut log_bytes = 0u64;
            // The event-rate cap paces publication (frames wait in the
            // channel), so a flood slows only its own events.
            let mut rate = EventRate::new(&self.settings.caps, Instant::now());
            while let Some(frame) = rx.recv().await {
                let wait = rate.take(Instant::now());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                let body = match frame {
                    Accepted::Log(log) => {
                        log_bytes += log.msg.len() as u64;
                        EventBody::Log(log)
                    }
                    Accepted::File {
                        name,
                        media_type,
                        data,
                    } => {
                        let key = format!("{}/{attempt}/{name}", request.id);
                        let size = data.len() as u64;
                        self.store
                            .put(&key, data.into(), &media_type)
                            .await
                            .map_err(|e| format!("storing {key}: {e}"))?;
                        let file = FileRef {
                            name,
                            media_type,
                            size,
                        };
                        files.push(file.clone());
                        EventBody::File(file)
                    }
                    Accepted::Result(_) => continue,
                };
                events.publish(body).await.map_err(|e| e.to_string())?;
            }
            Ok::<_, String>((files, log_bytes))
        };
        let (report, published) = tokio::join!(run, publish);
        let report = report.map_err(|e| e.to_string())?;
        let (files, log_bytes) = published?;
        self.observe(&report, began.elapsed());
        if report.cancelled {
            return Ok(Executed::Cancelled);
        }
        if !report.stderr.is_empty() {
            tracing::info!(run = %request.id, stderr = %report.stderr, "runner stderr");
        }
        events
            .publish(EventBody::Result(report.result.clone()))
            .await
            .map_err(|e| e.to_string())?;
        let record = self.record(
            request,
            attempt,
            &report.result,
            queued,
            &events,
            log_bytes,
            files,
        );
        self.publish_record(&record).await?;
        Ok(Executed::Done)
    }

    fn observe(&self, report: &RunReport, took: Duration) {
        let m = &self.metrics;
        let outcome = report.result.outcome.as_str();
        m.runs.with_label_values(&[outcome]).inc();
        m.run_seconds
            .with_label_values(&[outcome])
            .observe(took.as_secs_f64());
        m.sandbox_seconds
            .with_label_values(&["create"])
            .observe(report.create.as_secs_f64());
        m.sandbox_seconds
            .with_label_values(&["start"])
            .observe(report.start.as_secs_f64());
        m.sandbox_seconds
            .with_label_values(&["teardown"])
            .observe(report.teardown.as_secs_f64());
        if let Some(v) = &report.violation {
            m.reject(v);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        request: &RunRequest,
        attempt: u32,
        result: &ResultFrame,
        queued_ms: u64,
        events: &EventPublisher,
        log_bytes: u64,
        files: Vec<FileRef>,
    ) -> RunRecord {
        RunRecord {
            v: moat_wire::PROTOCOL_VERSION,
            run: request.id.clone(),
            tenant: request.tenant.clone(),
            attempt,
            outcome: result.outcome,
            value: result.value.clone(),
            error: result.error.clone(),
            cpu_ms: result.cpu_ms,
            wall_ms: result.wall_ms,
            heap_peak_bytes: result.heap_peak_bytes,
            queued_ms,
            events: events.published(),
            log_bytes,
            files,
            submitted_ms: request.submitted_ms,
            finished_ms: moat_wire::run::now_ms(),
        }
    }

    async fn publish_record(&self, record: &RunRecord) -> Result<(), String> {
        let payload = serde_json::to_vec(record).expect("records serialise");
        let mut headers = async_nats::HeaderMap::new();
        // One record per attempt, even if this publish is retried.
        headers.insert(
            "Nats-Msg-Id",
            format!("{}-{}", record.run, record.attempt).as_str(),
        );
        let ack = self
            .js
            .publish_with_headers(subjects::done(&record.tenant), headers, payload.into())
            .await
            .map_err(|e| format!("publishing the final record: {e}"))?;
        ack.await
            .map_err(|e| format!("publishing the final record: {e}"))?;
        Ok(())
    }

    /// Publishes a `failed` result event and record for a run given up on.
    async fn give_up(&self, request: &RunRequest, attempt: u32, why: &str) {
        let error = ScriptError::new(
            "Failed",
            format!("the run could not be completed after {attempt} attempts: {why}"),
        );
        let result = launcher_result(Outcome::Failed, error, 0);
        let mut events = EventPublisher::new(self.js.clone(), &request.id, attempt);
        if let Err(e) = events.publish(EventBody::Result(result.clone())).await {
            tracing::error!(run = %request.id, error = %e, "publishing the failed event");
        }
        let record = self.record(request, attempt, &result, 0, &events, 0, Vec::new());
        if let Err(e) = self.publish_record(&record).await {
            tracing::error!(run = %request.id, error = %e, "publishing the failed record");
        }
        self.metrics
            .runs
            .with_label_values(&[Outcome::Failed.as_str()])
            .inc();
    }
}

/// How a job's execution ended, when it did not fail.
enum Executed {
    /// Everything was published; ack.
    Done,
    /// Stopped for shutdown; back to the queue.
    Cancelled,
}

/// A result written by the launcher (no runner result to report).
fn launcher_result(outcome: Outcome, error: ScriptError, wall_ms: u64) -> ResultFrame {
    ResultFrame {
        outcome,
        value: None,
        error: Some(error),
        cpu_ms: 0,
        wall_ms,
        heap_peak_bytes: 0,
    }
}

/// Handles the server's max-deliveries advisories for the runs consumer: the
/// run's last attempt died with its launcher, so nobody else will report it.
/// A queue group makes exactly one launcher handle each advisory.
pub async fn dead_letters(
    worker: Worker,
    client: async_nats::Client,
    consumer: String,
    shutdown: CancellationToken,
) -> Result<(), async_nats::SubscribeError> {
    let subject = format!(
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.{consumer}",
        subjects::RUNS
    );
    let mut advisories = client
        .queue_subscribe(subject, "moat-dead-letters".into())
        .await?;
    loop {
        let advisory = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            a = advisories.next() => match a { Some(a) => a, None => return Ok(()) },
        };
        let seq = serde_json::from_slice::<serde_json::Value>(&advisory.payload)
            .ok()
            .and_then(|v| v["stream_seq"].as_u64());
        let Some(seq) = seq else { continue };
        let Ok(stream) = worker.js.get_stream(subjects::RUNS).await else {
            continue;
        };
        let Ok(raw) = stream.get_raw_message(seq).await else {
            continue;
        };
        if let Ok(request) = serde_json::from_slice::<RunRequest>(&raw.payload) {
            let attempts = worker.max_deliver as u32;
            worker
                .give_up(
                    &request,
                    attempts,
                    "its launcher stopped during the last attempt",
                )
                .await;
        }
        if let Err(e) = stream.delete_message(seq).await {
            tracing::warn!(seq, error = %e, "removing a dead-lettered run");
        }
    }
}
