//! One whole run in one sandbox: take a started sandbox from the pool (or
//! make one), send the job, decode the output as it comes, enforce the
//! deadline from outside, decide the result, then destroy the sandbox.
//!
//! The launcher's deadline is the job's plus a grace period: the runner's own
//! deadline and watchdog should always win, so reaching this one means the
//! runner could not stop itself (or was made not to), and the sandbox is
//! killed. What the run ends as is decided here, from what was seen: a
//! protocol violation, our kill, the runner's result frame, or an exit
//! without one (137 with no kill of ours is the cgroup's OOM killer).

use std::time::{Duration, Instant};

use moat_wire::{Job, Outcome, ResultFrame, ScriptError};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::frames::{Accepted, Caps, FrameDecoder, Violation};
use crate::pool::Pool;
use crate::sandbox::{Exit, Sandbox, SandboxError};
use moat_egress::session::{relay, CallEvent, HostSide};

/// How much of the runner's stderr is kept for operators.
const MAX_STDERR: usize = 16 * 1024;

/// Settings for runs, beyond the job itself (the sandbox's own limits are
/// the pool's: [`crate::pool::Sizing`]).
#[derive(Debug, Clone, Copy)]
pub struct RunSettings {
    /// Caps on the runner's output.
    pub caps: Caps,
    /// Time past the job's deadline before the sandbox is killed.
    pub grace: Duration,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            caps: Caps::default(),
            grace: Duration::from_secs(2),
        }
    }
}

/// How long the output readers may take to see the end of a sandbox's pipes
/// after its process exited, before the sandbox is destroyed to end them.
const READERS_GRACE: Duration = Duration::from_secs(2);

/// What happened, for the final record and the metrics.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The run's result: the runner's own, or one the launcher wrote.
    pub result: ResultFrame,
    /// Frames accepted before the result (logs and files).
    pub frames: u64,
    /// The process's exit, when it was seen.
    pub exit: Option<Exit>,
    /// The protocol violation, if any.
    pub violation: Option<Violation>,
    /// The start of the runner's stderr, for operators (never shown to users).
    pub stderr: String,
    /// The sandbox's container id.
    pub sandbox: String,
    /// The sandbox came warm from the pool.
    pub warm: bool,
    /// Getting the sandbox: from the pool, or creating its container and task.
    pub acquire: Duration,
    /// Task start (zero for a warm sandbox: started ahead).
    pub start: Duration,
    /// From writing the job to reading the result frame (or to the end of
    /// the run, when there was none).
    pub execution: Duration,
    /// When the run's end was known (the result frame read, or the end).
    pub ended_at: Instant,
    /// Kill, task and container deletion (zero until [`Ended::teardown`]).
    pub teardown: Duration,
    /// The run was stopped by `cancel` (the launcher is shutting down); its
    /// result means nothing and the job should go back to the queue.
    pub cancelled: bool,
}

/// A run whose result is decided and whose sandbox is still to be destroyed:
/// the result goes out first, the ~75 ms of teardown after it.
pub struct Ended {
    /// What happened.
    pub report: RunReport,
    /// The sandbox, unless it had to be destroyed already.
    sandbox: Option<Sandbox>,
}

impl Ended {
    /// Destroys the sandbox (if still there) and returns the report with
    /// its teardown time.
    pub async fn teardown(self) -> (RunReport, Result<(), SandboxError>) {
        let mut report = self.report;
        let Some(sandbox) = self.sandbox else {
            return (report, Ok(()));
        };
        let t = Instant::now();
        let destroyed = sandbox.destroy().await;
        report.teardown = t.elapsed();
        (report, destroyed)
    }
}

/// Runs `job` in a sandbox from `pool` and destroys it: [`run_until_result`]
/// then [`Ended::teardown`].
pub async fn run_job(
    pool: &Pool,
    job: &Job,
    settings: &RunSettings,
    frames: mpsc::UnboundedSender<Accepted>,
    host: HostSide,
    cancel: &CancellationToken,
) -> Result<RunReport, SandboxError> {
    let ended = run_until_result(pool, job, settings, frames, host, cancel).await?;
    let (report, destroyed) = ended.teardown().await;
    destroyed?;
    Ok(report)
}

/// Runs `job` in a sandbox from `pool` (warm when it has one that fits),
/// sending each accepted log and file frame to `frames` as it arrives, and
/// returns once the run's result is decided, its sandbox still to be
/// destroyed. On an error, or when `cancel` fires first, the sandbox is
/// destroyed here.
///
/// `frames` is unbounded so the sandbox is never held back by its consumer
/// (a runner blocked on a full pipe would run into its own deadline); the
/// decoder's caps bound what one run can queue there. The run's host calls
/// are answered through `host` (its stdin stays open for the replies).
pub async fn run_until_result(
    pool: &Pool,
    job: &Job,
    settings: &RunSettings,
    frames: mpsc::UnboundedSender<Accepted>,
    host: HostSide,
    cancel: &CancellationToken,
) -> Result<Ended, SandboxError> {
    let acquired = if job.browser {
        pool.acquire_browser(job.memory_mb).await?
    } else {
        pool.acquire(job.memory_mb).await?
    };
    let mut sandbox = acquired.sandbox;
    let sandbox_id = sandbox.id().to_owned();

    let mut stdout = sandbox.take_stdout().expect("a new sandbox has stdout");
    let mut stderr = sandbox.take_stderr().expect("a new sandbox has stderr");
    let caps = settings.caps;
    let (calls, calls_rx) = mpsc::unbounded_channel();
    // Fired at the first violation, so the run ends now, not at its deadline.
    let poisoned = CancellationToken::new();
    let poison = poisoned.clone();
    // Read stdout until EOF whatever it holds: a sandbox blocked on a full
    // pipe would hang until its deadline.
    let mut reader = tokio::spawn(async move {
        let mut decoder = FrameDecoder::new(caps);
        let mut buf = vec![0u8; 64 * 1024];
        let mut result = None;
        let mut violation = None;
        let mut count = 0u64;
        loop {
            let n = match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if violation.is_some() {
                continue;
            }
            match decoder.feed(&buf[..n]) {
                Ok(accepted) => {
                    for frame in accepted {
                        match frame {
                            Accepted::Result(r) => result = Some((r, Instant::now())),
                            Accepted::Call(call) => {
                                let _ = calls.send(CallEvent::Call(call));
                            }
                            Accepted::Cancel(id) => {
                                let _ = calls.send(CallEvent::Cancel(id));
                            }
                            other => {
                                count += 1;
                                let _ = frames.send(other);
                            }
                        }
                    }
                }
                Err(v) => {
                    violation = Some(v);
                    poison.cancel();
                }
            }
        }
        if violation.is_none() {
            violation = decoder.finish().err();
        }
        (result, violation, count)
    });
    let mut errors = tokio::spawn(async move {
        let mut kept = Vec::new();
        let mut buf = vec![0u8; 8 * 1024];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let room = MAX_STDERR.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        String::from_utf8_lossy(&kept).into_owned()
    });

    let job_bytes = serde_json::to_vec(job).expect("jobs serialise");
    // The runner's clock starts when its job arrives; the launcher's
    // deadline counts from the same moment, plus grace.
    let sent = Instant::now();
    let run_deadline = sent + Duration::from_millis(job.timeout_ms);
    let outcome = async {
        let deadline = Duration::from_millis(job.timeout_ms) + settings.grace;
        let mut refused = None;
        let waited = tokio::select! {
            waited = tokio::time::timeout(deadline, async {
                let stdin = sandbox.send_job(&job_bytes).await?;
                let relay = relay(
                    stdin,
                    calls_rx,
                    host.egress,
                    host.who,
                    host.budget,
                    run_deadline,
                    host.net,
                );
                tokio::pin!(relay);
                tokio::select! {
                    exit = sandbox.wait() => exit.map(Some),
                    // The decoder refused the output: end it now.
                    () = poisoned.cancelled() => Ok(None),
                    verdict = &mut relay => match verdict {
                        // The runner broke the call protocol: end it now.
                        Err(v) => {
                            refused = Some(Violation::Calls(v.0));
                            Ok(None)
                        }
                        Ok(()) => sandbox.wait().await.map(Some),
                    },
                }
            }) => waited.map_err(|_| false),
            () = cancel.cancelled() => Err(true),
        };
        let waited = match waited {
            Ok(Ok(None)) => Err(false),
            Ok(other) => Ok(other.map(|e| e.expect("an exit when not refused"))),
            Err(by_cancel) => Err(by_cancel),
        };
        let mut cancelled = false;
        let (exit, killed) = match waited {
            Ok(exit) => (Some(exit?), false),
            Err(by_cancel) => {
                cancelled = by_cancel;
                // It may have exited just now; destroy kills again regardless.
                if let Err(e) = sandbox.kill().await {
                    tracing::debug!(id = sandbox.id(), error = %e, "kill at deadline");
                }
                let exit = tokio::time::timeout(Duration::from_secs(5), sandbox.wait()).await;
                (exit.ok().and_then(Result::ok), true)
            }
        };
        Ok::<_, SandboxError>((exit, killed && refused.is_none(), cancelled, refused))
    }
    .await;
    let (exit, killed, cancelled, refused) = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = sandbox.destroy().await;
            return Err(e);
        }
    };

    // The process has ended (or been killed): its pipes close once the
    // shim has copied the last of them. Should they not, destroying the
    // sandbox closes them.
    let mut sandbox = Some(sandbox);
    let mut teardown = Duration::ZERO;
    let read = match tokio::time::timeout(READERS_GRACE, &mut reader).await {
        Ok(read) => read,
        Err(_) => {
            tracing::debug!("output still open after the exit: destroying first");
            destroy_now(&mut sandbox, &mut teardown).await?;
            reader.await
        }
    };
    let (result, violation, count) = read.unwrap_or((None, None, 0));
    let stderr = match tokio::time::timeout(READERS_GRACE, &mut errors).await {
        Ok(kept) => kept.unwrap_or_default(),
        Err(_) => {
            destroy_now(&mut sandbox, &mut teardown).await?;
            errors.await.unwrap_or_default()
        }
    };
    let violation = violation.or(refused);
    let (result, ended_at) = match result {
        Some((r, at)) => (Some(r), at),
        None => (None, Instant::now()),
    };
    let wall_ms = sent.elapsed().as_millis() as u64;
    let result = decide(job, result, violation.as_ref(), exit, killed, wall_ms);
    Ok(Ended {
        report: RunReport {
            result,
            frames: count,
            exit,
            violation,
            stderr,
            sandbox: sandbox_id,
            warm: acquired.warm,
            acquire: acquired.acquire,
            start: acquired.start,
            execution: ended_at.saturating_duration_since(sent),
            ended_at,
            teardown,
            cancelled,
        },
        sandbox,
    })
}

/// Destroys the sandbox now, if still there, to close pipes its exit left
/// open; the time goes into `teardown`.
async fn destroy_now(
    sandbox: &mut Option<Sandbox>,
    teardown: &mut Duration,
) -> Result<(), SandboxError> {
    if let Some(s) = sandbox.take() {
        let t = Instant::now();
        s.destroy().await?;
        *teardown = t.elapsed();
    }
    Ok(())
}

/// The run's result from what the launcher saw, most damning first.
fn decide(
    job: &Job,
    result: Option<ResultFrame>,
    violation: Option<&Violation>,
    exit: Option<Exit>,
    killed: bool,
    wall_ms: u64,
) -> ResultFrame {
    let ours = |outcome: Outcome, name: &str, message: String| ResultFrame {
        outcome,
        value: None,
        error: Some(ScriptError::new(name, message)),
        cpu_ms: 0,
        wall_ms,
        heap_peak_bytes: 0,
    };
    if let Some(v) = violation {
        return ours(
            Outcome::ProtocolError,
            "ProtocolError",
            format!("the sandbox broke the frame protocol: {v}"),
        );
    }
    if killed {
        return ours(
            Outcome::Timeout,
            "TimeoutError",
            format!(
                "the run exceeded its deadline of {} ms and its sandbox was killed",
                job.timeout_ms
            ),
        );
    }
    if let Some(result) = result {
        return result;
    }
    match exit {
        Some(Exit { status: 137 }) => ours(
            Outcome::Oom,
            "OutOfMemoryError",
            format!(
                "the sandbox reached its memory limit (the run asked for {} MiB of heap)",
                job.memory_mb
            ),
        ),
        Some(Exit { status }) => ours(
            Outcome::ProtocolError,
            "ProtocolError",
            format!("the runner exited with status {status} without a result"),
        ),
        None => ours(
            Outcome::Failed,
            "Failed",
            "the sandbox's exit was not seen".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner_result(outcome: Outcome) -> ResultFrame {
        ResultFrame {
            outcome,
            value: None,
            error: None,
            cpu_ms: 1,
            wall_ms: 2,
            heap_peak_bytes: 3,
        }
    }

    #[test]
    fn decisions_trust_the_most_damning_evidence() {
        let job = Job::new("");
        let ok = Some(runner_result(Outcome::Ok));
        let exit0 = Some(Exit { status: 0 });
        assert_eq!(
            decide(&job, ok.clone(), None, exit0, false, 5).outcome,
            Outcome::Ok
        );
        let v = Violation::AfterResult;
        assert_eq!(
            decide(&job, ok.clone(), Some(&v), exit0, false, 5).outcome,
            Outcome::ProtocolError
        );
        assert_eq!(
            decide(&job, ok, None, None, true, 5).outcome,
            Outcome::Timeout
        );
        let oom = decide(&job, None, None, Some(Exit { status: 137 }), false, 5);
        assert_eq!(oom.outcome, Outcome::Oom);
        assert_eq!(
            decide(&job, None, None, Some(Exit { status: 0 }), false, 5).outcome,
            Outcome::ProtocolError
        );
    }
}
