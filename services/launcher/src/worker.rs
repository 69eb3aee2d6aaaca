//! The launcher's work: take a run from the fair dispatcher when a slot is
//! free, run it in a sandbox, publish its events and files, publish its
//! final record, and only then acknowledge it.
//!
//! Nothing is lost when a launcher dies mid-run: the unacknowledged message
//! is redelivered (to any launcher) after the ack wait and runs again as the
//! next attempt. Running jobs send progress acks so a long run is not
//! redelivered while it is alive. A run that keeps failing for
//! infrastructure reasons is given up after `max_deliver` attempts with a
//! `failed` record ([`crate::dead_letters`] covers the last attempt dying
//! with its launcher). A message this launcher cannot use (it does not
//! decode, or speaks a newer version) is recorded `failed` with the reason,
//! never dropped silently.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind};
use moat_queue::{subjects, Delivery, Dispatcher, Disposition, Plan};
use moat_wire::{
    EventBody, FileRef, NetEvent, NetUsage, Outcome, ResultFrame, RunRecord, RunRequest,
    ScriptError, Stages,
};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::events::EventPublisher;
use crate::frames::{Accepted, EventRate};
use crate::metrics::Metrics;
use crate::pool::Pool;
use crate::run::{run_until_result, RunReport, RunSettings};
use crate::store::ObjectStore;
use moat_egress::session::{Budget, Egress, HostSide, NetDone, RunIdentity};
use moat_wire::egress::EgressPlan;

/// What every job handler shares.
#[derive(Clone)]
pub struct Worker {
    /// JetStream, for events and records.
    pub js: jetstream::Context,
    /// Where sandboxes come from: warm from the pool, or made on demand.
    pub pool: Pool,
    /// Where files go.
    pub store: Arc<dyn ObjectStore>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Run settings (caps, grace, CPU).
    pub settings: RunSettings,
    /// Deliveries before giving up.
    pub max_deliver: i64,
    /// The consumers' ack wait (progress acks go out well inside it).
    pub ack_wait: Duration,
    /// Browser runs at once: one of these besides a slot, so a burst of
    /// browser runs cannot take every slot's worth of memory and CPU.
    pub browser_slots: Arc<Semaphore>,
    /// Where runs' fetches go.
    pub egress: Arc<dyn Egress>,
    /// What a run may do through the network: anonymous, tenant.
    pub budgets: (Budget, Budget),
}

/// Takes runs from `dispatcher` while a slot is free until `shutdown`, then
/// drains: running jobs get `drain` to finish, after which they are stopped
/// and handed back to the queue.
pub async fn consume(
    worker: Worker,
    mut dispatcher: Dispatcher,
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
        // Not raced against shutdown: `next` watches it itself and never
        // drops a message it has been handed.
        let Some(delivery) = dispatcher.next(&shutdown).await else {
            break;
        };
        let worker = worker.clone();
        let cancel = stop_jobs.child_token();
        tracker.spawn(async move { worker.handle(delivery, permit, cancel).await });
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
        metrics.busy_slots.increment(1.0);
        Self(metrics.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy_slots.decrement(1.0);
    }
}

/// Aborts the task when dropped, so a progress-ack loop never outlives its
/// job, even one whose handler panicked.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The run a message is about, as far as it could be read.
#[derive(Debug, Clone)]
pub struct RunRef {
    /// The run id.
    pub id: String,
    /// Its tenant (`anon` for anonymous clients).
    pub tenant: String,
    /// When it was submitted, Unix ms (0 if unknown).
    pub submitted_ms: u64,
}

impl RunRef {
    fn of(request: &RunRequest) -> Self {
        Self {
            id: request.id.clone(),
            tenant: request.tenant.clone(),
            submitted_ms: request.submitted_ms,
        }
    }
}

/// A message this launcher cannot run, and what it could still learn of it.
#[derive(Debug)]
pub struct Unusable {
    /// The run, if its id and tenant could be found (payload, else the
    /// message id header and the subject).
    pub run: Option<RunRef>,
    /// Why it cannot be run.
    pub reason: String,
}

/// The tenant anonymous runs are recorded under.
pub const ANONYMOUS_TENANT: &str = "anon";

/// Reads a run request, accepting fields it does not know (a newer edge may
/// add some) but no newer protocol version.
pub fn decode(subject: &str, msg_id: Option<&str>, payload: &[u8]) -> Result<RunRequest, Unusable> {
    let fallback = || {
        let id = msg_id.filter(|id| moat_wire::valid_token(id))?;
        let tenant = match subjects::client_of(subject)? {
            (Plan::Tenant, tenant) => tenant,
            (Plan::Anonymous, _) => ANONYMOUS_TENANT,
        };
        Some(RunRef {
            id: id.to_owned(),
            tenant: tenant.to_owned(),
            submitted_ms: 0,
        })
    };
    let request: RunRequest = serde_json::from_slice(payload).map_err(|e| Unusable {
        run: fallback(),
        reason: format!("the run request cannot be read: {e}"),
    })?;
    if !moat_wire::valid_token(&request.id) || !moat_wire::valid_token(&request.tenant) {
        return Err(Unusable {
            run: fallback(),
            reason: "the run request has an invalid id or tenant".into(),
        });
    }
    if request.v > moat_wire::PROTOCOL_VERSION {
        return Err(Unusable {
            run: Some(RunRef::of(&request)),
            reason: format!(
                "the run request is version {}; this launcher speaks version {}",
                request.v,
                moat_wire::PROTOCOL_VERSION
            ),
        });
    }
    Ok(request)
}

/// Why running a job failed, and what that means for it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RunFailure {
    /// Retry, give up, or hand back.
    pub disposition: Disposition,
    /// What went wrong.
    pub message: String,
}

impl RunFailure {
    fn retry(message: impl Into<String>) -> Self {
        Self {
            disposition: Disposition::Retry,
            message: message.into(),
        }
    }
}

impl Worker {
    async fn handle(
        self,
        delivery: Delivery,
        permit: OwnedSemaphorePermit,
        cancel: CancellationToken,
    ) {
        let _permit = permit;
        let _busy = Busy::new(&self.metrics);
        let msg = &delivery.message;
        let attempt = msg.info().map(|i| i.delivered).unwrap_or(1).max(1) as u32;
        let msg_id = msg
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_owned());
        let request = match decode(&msg.subject, msg_id.as_deref(), &msg.payload) {
            Ok(r) => r,
            Err(unusable) => {
                self.metrics.unusable.increment(1);
                match &unusable.run {
                    Some(run) => {
                        tracing::warn!(run = %run.id, reason = %unusable.reason, "recording an unusable run as failed");
                        self.fail(run, attempt, Outcome::Failed, &unusable.reason)
                            .await;
                    }
                    None => {
                        tracing::error!(subject = %msg.subject, reason = %unusable.reason, "a run request with no usable id; removed")
                    }
                }
                let _ = msg.ack_with(AckKind::Term).await;
                delivery.finish(&self.js.client()).await;
                return;
            }
        };
        let run = RunRef::of(&request);
        if let Err(e) = request.job.validate() {
            self.fail(&run, attempt, Outcome::InvalidJob, &e.to_string())
                .await;
            let _ = msg.ack_with(AckKind::Term).await;
            delivery.finish(&self.js.client()).await;
            return;
        }

        // Progress acks keep a long run from being redelivered while alive.
        let _heartbeat = {
            let msg = msg.clone();
            let every = self.ack_wait / 3;
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let _ = msg.ack_with(AckKind::Progress).await;
                }
            }))
        };
        let plan = delivery.client.0;
        // A browser run waits (its delivery kept alive) for a browser slot;
        // stopped while it waits, it goes back to the queue untouched.
        let _browser = if request.job.browser {
            tokio::select! {
                permit = self.browser_slots.clone().acquire_owned() => {
                    Some(permit.expect("the semaphore is never closed"))
                }
                () = cancel.cancelled() => {
                    let _ = msg.ack_with(AckKind::Nak(None)).await;
                    delivery.finish(&self.js.client()).await;
                    return;
                }
            }
        } else {
            None
        };
        let outcome = self.execute(&request, plan, attempt, &cancel).await;
        drop(_heartbeat);

        match outcome {
            Ok(()) => {
                if let Err(e) = msg.double_ack().await {
                    tracing::warn!(run = %run.id, error = %e, "ack after the final record");
                }
            }
            Err(f) if f.disposition == Disposition::Cancelled => {
                let _ = msg.ack_with(AckKind::Nak(None)).await;
            }
            Err(f)
                if f.disposition == Disposition::Permanent
                    || i64::from(attempt) >= self.max_deliver =>
            {
                tracing::error!(run = %run.id, attempt, error = %f, "giving up on run");
                let why = format!("the run could not be completed after {attempt} attempts: {f}");
                self.fail(&run, attempt, Outcome::Failed, &why).await;
                let _ = msg.ack_with(AckKind::Term).await;
            }
            Err(f) => {
                tracing::warn!(run = %run.id, attempt, error = %f, "run failed; it will be retried");
                let _ = msg.ack_with(AckKind::Nak(Some(retry_delay(attempt)))).await;
            }
        }
        // The client may have more queued, and now has room under its cap.
        delivery.finish(&self.js.client()).await;
    }

    /// Runs the job and publishes everything about it.
    async fn execute(
        &self,
        request: &RunRequest,
        plan: Plan,
        attempt: u32,
        cancel: &CancellationToken,
    ) -> Result<(), RunFailure> {
        let started_ms = moat_wire::run::now_ms();
        let queued = started_ms.saturating_sub(request.submitted_ms);
        let kind = if attempt == 1 { "first" } else { "retry" };
        self.metrics
            .queue_lag_seconds
            .with(&[kind, plan.token()])
            .record(queued as f64 / 1000.0);

        let (tx, mut rx) = mpsc::unbounded_channel::<Accepted>();
        let mut events = EventPublisher::new(self.js.clone(), &request.id, attempt);
        let began = Instant::now();
        let (net, mut net_done) = mpsc::unbounded_channel();
        let host = HostSide {
            egress: self.egress.clone(),
            who: RunIdentity {
                run: request.id.clone(),
                tenant: request.tenant.clone(),
                plan: match plan {
                    moat_queue::Plan::Anonymous => EgressPlan::Anonymous,
                    moat_queue::Plan::Tenant => EgressPlan::Tenant,
                },
                rules: request.egress.clone(),
            },
            budget: match plan {
                moat_queue::Plan::Anonymous => self.budgets.0,
                moat_queue::Plan::Tenant => self.budgets.1,
            },
            net,
        };
        let run = run_until_result(&self.pool, &request.job, &self.settings, tx, host, cancel);
        let publish = async {
            let mut files = Vec::new();
            let mut log_bytes = 0u64;
            let mut net = NetUsage::default();
            // The event-rate cap paces publication (frames wait in the
            // channel), so a flood slows only its own events.
            let mut rate = EventRate::new(&self.settings.caps, Instant::now());
            let (mut frames_open, mut net_open) = (true, true);
            while frames_open || net_open {
                let body = tokio::select! {
                    frame = rx.recv(), if frames_open => match frame {
                        None => {
                            frames_open = false;
                            continue;
                        }
                        Some(Accepted::Log(log)) => {
                            log_bytes += log.msg.len() as u64;
                            EventBody::Log(log)
                        }
                        Some(Accepted::File { name, media_type, data }) => {
                            let key = moat_wire::file_key(&request.id, attempt, &name);
                            let size = data.len() as u64;
                            self.store
                                .put(&key, data.into(), &media_type)
                                .await
                                .map_err(|e| RunFailure::retry(format!("storing {key}: {e}")))?;
                            let file = FileRef {
                                name,
                                media_type,
                                size,
                            };
                            files.push(file.clone());
                            EventBody::File(file)
                        }
                        // The result is the report's; calls went to the session.
                        Some(Accepted::Result(_) | Accepted::Call(_) | Accepted::Cancel(_)) => {
                            continue
                        }
                    },
                    done = net_done.recv(), if net_open => match done {
                        None => {
                            net_open = false;
                            continue;
                        }
                        Some(done) => {
                            net.requests += 1;
                            net.bytes += done.bytes;
                            EventBody::Net(net_event(done))
                        }
                    },
                };
                let wait = rate.take(Instant::now());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                events
                    .publish(body)
                    .await
                    .map_err(|e| RunFailure::retry(e.to_string()))?;
            }
            Ok::<_, RunFailure>((files, log_bytes, net))
        };
        let (ended, published) = tokio::join!(run, publish);
        let ended = ended.map_err(|e| RunFailure::retry(e.to_string()))?;
        // From here every path destroys the sandbox; the result goes out
        // before that, so the user never waits for a teardown.
        let (files, log_bytes, net) = match published {
            Ok(p) => p,
            Err(e) => {
                let _ = ended.teardown().await;
                return Err(e);
            }
        };
        if ended.report.cancelled {
            let _ = ended.teardown().await;
            return Err(RunFailure {
                disposition: Disposition::Cancelled,
                message: "the launcher is stopping".into(),
            });
        }
        let report = &ended.report;
        if !report.stderr.is_empty() {
            tracing::info!(run = %request.id, stderr = %report.stderr, "runner stderr");
        }
        let mut stages = Stages {
            queue_us: queued.saturating_mul(1000),
            acquire_us: micros(report.acquire),
            warm: report.warm,
            start_us: micros(report.start),
            execution_us: micros(report.execution),
            result_us: 0,
            teardown_us: None,
        };
        let result = report.result.clone();
        let ended_at = report.ended_at;
        stages.result_us = micros(ended_at.elapsed());
        let published = events.publish_result(result.clone(), stages).await;
        let (report, destroyed) = ended.teardown().await;
        if let Err(e) = destroyed {
            // The result is out; the sweep at the next start removes it.
            tracing::warn!(run = %request.id, error = %e, "destroying the sandbox");
        }
        stages.teardown_us = Some(micros(report.teardown));
        self.observe(&report, &stages, began.elapsed());
        published.map_err(|e| RunFailure::retry(e.to_string()))?;
        let mut record = record(
            &RunRef::of(request),
            attempt,
            &result,
            queued,
            &events,
            log_bytes,
            files,
        );
        record.net = net;
        record.stages = stages;
        self.publish_record(&record)
            .await
            .map_err(RunFailure::retry)
    }

    fn observe(&self, report: &RunReport, stages: &Stages, took: Duration) {
        let m = &self.metrics;
        let outcome = report.result.outcome.as_str();
        m.runs.with(&[outcome]).increment(1);
        m.run_seconds.with(&[outcome]).record(took);
        if !report.warm {
            // Warm sandboxes' creation and start are observed by the pool.
            m.sandbox_seconds.with(&["create"]).record(report.acquire);
            m.sandbox_seconds.with(&["start"]).record(report.start);
        }
        m.sandbox_seconds
            .with(&["teardown"])
            .record(report.teardown);
        for (stage, us) in stages.named() {
            m.stage_seconds.with(&[stage]).record(us as f64 / 1e6);
        }
        if let Some(v) = &report.violation {
            m.reject(v);
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

    /// Publishes a result event and a record with `outcome` (a launcher's
    /// verdict: `failed` or `invalid_job`) and the reason, for a run that
    /// will not be run (again).
    pub async fn fail(&self, run: &RunRef, attempt: u32, outcome: Outcome, why: &str) {
        let name = if outcome == Outcome::InvalidJob {
            "InvalidJob"
        } else {
            "Failed"
        };
        let result = ResultFrame {
            outcome,
            value: None,
            error: Some(ScriptError::new(name, why)),
            cpu_ms: 0,
            wall_ms: 0,
            heap_peak_bytes: 0,
        };
        let mut events = EventPublisher::new(self.js.clone(), &run.id, attempt);
        if let Err(e) = events.publish(EventBody::Result(result.clone())).await {
            tracing::error!(run = %run.id, error = %e, "publishing the final event");
        }
        let record = record(run, attempt, &result, 0, &events, 0, Vec::new());
        if let Err(e) = self.publish_record(&record).await {
            tracing::error!(run = %run.id, error = %e, "publishing the final record");
        }
        self.metrics.runs.with(&[outcome.as_str()]).increment(1);
    }
}

/// The final record of one attempt.
fn record(
    run: &RunRef,
    attempt: u32,
    result: &ResultFrame,
    queued_ms: u64,
    events: &EventPublisher,
    log_bytes: u64,
    files: Vec<FileRef>,
) -> RunRecord {
    RunRecord {
        v: moat_wire::PROTOCOL_VERSION,
        run: run.id.clone(),
        tenant: run.tenant.clone(),
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
        net: NetUsage::default(),
        stages: Stages::default(),
        submitted_ms: run.submitted_ms,
        finished_ms: moat_wire::run::now_ms(),
    }
}

/// A duration in whole microseconds, for [`Stages`].
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The `net` event for a finished request, its query cut.
fn net_event(done: NetDone) -> NetEvent {
    NetEvent {
        method: done.method,
        url: moat_wire::redact_query(&done.url),
        status: done.status,
        error: done.error.as_ref().map(|e| e.code.clone()),
        message: done.error.map(|e| e.message),
        bytes: done.bytes,
        ms: done.ms,
    }
}

/// How long a run that failed for a passing reason (NATS lost a server,
/// containerd restarted) waits before its next attempt: 1 s, then 5 s, so
/// the attempts span a NATS cluster's leader election or a reconnect
/// rather than all failing inside one.
fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(5u64.saturating_pow(attempt.saturating_sub(1)).min(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time() {
        assert_eq!(retry_delay(1), Duration::from_secs(1));
        assert_eq!(retry_delay(2), Duration::from_secs(5));
        assert_eq!(retry_delay(9), Duration::from_secs(30));
    }

    #[test]
    fn what_cannot_be_run_still_names_its_run() {
        let good =
            serde_json::to_vec(&RunRequest::new("r1", "acme", moat_wire::Job::new("1"))).unwrap();
        assert_eq!(
            decode("runs.submit.tenant.acme", Some("r1"), &good)
                .unwrap()
                .id,
            "r1"
        );
        // Garbage: the id comes from the message id, the tenant from the subject.
        let e = decode("runs.submit.tenant.acme", Some("r2"), b"{not json").unwrap_err();
        let run = e.run.unwrap();
        assert_eq!((run.id.as_str(), run.tenant.as_str()), ("r2", "acme"));
        assert!(e.reason.contains("cannot be read"), "{}", e.reason);
        let e = decode("runs.submit.anon.4-127-0-0-1", Some("r3"), b"[]").unwrap_err();
        assert_eq!(e.run.unwrap().tenant, "anon");
        // No usable id at all: nothing to record against.
        assert!(decode("runs.submit.tenant.acme", None, b"x")
            .unwrap_err()
            .run
            .is_none());
        assert!(decode("runs.submit.tenant.acme", Some("a.b"), b"x")
            .unwrap_err()
            .run
            .is_none());
        // A newer version is refused with the reason, not guessed at.
        let mut newer = RunRequest::new("r4", "acme", moat_wire::Job::new("1"));
        newer.v = moat_wire::PROTOCOL_VERSION + 1;
        let e = decode(
            "runs.submit.tenant.acme",
            None,
            &serde_json::to_vec(&newer).unwrap(),
        )
        .unwrap_err();
        assert!(e.reason.contains("version 2"), "{}", e.reason);
        assert_eq!(e.run.unwrap().id, "r4");
        // Unknown fields are fine (a newer edge added one).
        let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
        v["priority"] = "high".into();
        assert!(decode(
            "runs.submit.tenant.acme",
            None,
            &serde_json::to_vec(&v).unwrap()
        )
        .is_ok());
    }
}
