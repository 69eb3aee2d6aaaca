//! The watchdog: the runner's own last word on time.
//!
//! QuickJS checks its interrupt handler only between bytecode batches, and one
//! long built-in call (a huge `JSON.parse`, a catastrophic regex inside a
//! native method) counts as a single step. So a thread independent of the
//! engine waits until the deadline plus a margin and, if no result frame has
//! been written by then, writes a `timeout` result and ends the process. The
//! launcher still keeps its own kill, outside the sandbox, as the final word.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moat_wire::{Outcome, ResultFrame, ScriptError};

use crate::output::FrameWriter;

/// Grace after the deadline before the watchdog acts: long enough for the
/// engine's own interrupt to win in the normal case.
pub const MARGIN: Duration = Duration::from_millis(250);

/// A watchdog thread started before its job, waiting to be armed (a thread
/// is costly to start inside gVisor; a pooled runner starts it early).
pub struct Watchdog {
    arm: std::sync::mpsc::Sender<(Instant, u64, Instant)>,
}

impl Watchdog {
    /// Arms it for `deadline` (a job of `timeout_ms`, arrived at `started`).
    pub fn arm(self, deadline: Instant, timeout_ms: u64, started: Instant) {
        // A thread that could not start leaves the launcher's kill as the
        // last word, as it always is.
        let _ = self.arm.send((deadline, timeout_ms, started));
    }
}

/// Starts the watchdog thread, unarmed; dropping the [`Watchdog`] unarmed
/// ends it. `expire` runs after the timeout frame is out (or could not be
/// written), or, when the result was already written but the process is
/// still here (a teardown that hangs), with that result's outcome; the
/// binary passes a function that exits.
pub fn start(writer: Arc<FrameWriter>, expire: impl FnOnce(Outcome) + Send + 'static) -> Watchdog {
    let (arm, armed) = std::sync::mpsc::channel::<(Instant, u64, Instant)>();
    let spawned = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            let Ok((deadline, timeout_ms, started)) = armed.recv() else {
                return;
            };
            let fire_at = deadline + MARGIN;
            loop {
                let now = Instant::now();
                if now >= fire_at {
                    break;
                }
                std::thread::sleep(fire_at - now);
            }
            if let Some(outcome) = writer.outcome() {
                expire(outcome);
                return;
            }
            let frame = ResultFrame {
                outcome: Outcome::Timeout,
                value: None,
                error: Some(ScriptError::new(
                    "TimeoutError",
                    format!("the run exceeded its deadline of {timeout_ms} ms"),
                )),
                cpu_ms: crate::cpu_ms(),
                wall_ms: started.elapsed().as_millis() as u64,
                heap_peak_bytes: 0,
            };
            writer.finish_within(frame, Duration::from_millis(100));
            expire(Outcome::Timeout);
        });
    if let Err(e) = spawned {
        eprintln!("moat-runner: cannot start the watchdog: {e}");
    }
    Watchdog { arm }
}
