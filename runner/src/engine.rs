//! The seam between the runner and a JS engine.
//!
//! The protocol, the limits and their outcomes live outside the engine: an
//! engine is readied from a [`Base`] (what may be imported, the stop signal)
//! before its job arrives, then gets the script and a [`Host`] (where output
//! goes, when to stop) and returns an [`Ending`]. QuickJS is the engine
//! today; a V8 isolate would be a second implementation of [`Engine`], with no
//! change to frames, outcomes or the launcher.

use std::sync::Arc;
use std::time::Instant;

use moat_wire::{Outcome, ScriptError};

use crate::hostcall::HostChannel;
use crate::modules::ModuleMap;
use crate::output::Output;
use crate::stop::Stop;

/// A script to run as an ES module.
#[derive(Debug, Clone, Copy)]
pub struct Script<'a> {
    /// The module's name in stack traces.
    pub filename: &'a str,
    /// The source.
    pub code: &'a str,
}

/// What an engine is readied with before its job arrives: the parts no job
/// decides. A pooled runner builds its engine from this while it waits.
pub struct Base {
    /// What the script may import.
    pub modules: ModuleMap,
    /// Raised by any part that needs the run to end now.
    pub stop: Arc<Stop>,
    /// JS stack limit in bytes.
    pub stack_limit: usize,
}

/// What the job decides: what the engine may use, and must obey, while it
/// runs the script.
pub struct Host {
    /// Where logs and files go, under the job's caps.
    pub output: Arc<Output>,
    /// Calls to the host (`fetch`) and their replies.
    pub calls: Arc<HostChannel>,
    /// When the run times out.
    pub deadline: Instant,
    /// The job's deadline in milliseconds, for messages.
    pub timeout_ms: u64,
    /// JS heap limit in bytes.
    pub heap_limit: usize,
    /// Whether the run may start a browser, and where it is.
    pub browser: crate::browser::BrowserConfig,
    /// A Chromium the runner started before the job arrived (a warm
    /// browser sandbox), handed to the script's first `launch()`.
    pub early_browser: Option<crate::browser::Browser>,
}

/// How a script ended, as the engine saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    /// The outcome.
    pub outcome: Outcome,
    /// The value, for `ok`.
    pub value: Option<serde_json::Value>,
    /// What went wrong, for everything but `ok`.
    pub error: Option<ScriptError>,
    /// Most bytes the heap held at once.
    pub heap_peak_bytes: u64,
}

impl Ending {
    /// An ending with an error and no value.
    pub fn failed(outcome: Outcome, error: ScriptError, heap_peak_bytes: u64) -> Self {
        Self {
            outcome,
            value: None,
            error: Some(error),
            heap_peak_bytes,
        }
    }
}

/// A JS engine that runs one script to its end.
pub trait Engine: Sized {
    /// Builds everything a run needs that its job does not decide (runtime,
    /// realms, the prelude's globals), so that it is done before the job
    /// arrives. An error is the runner's fault, never a script's.
    fn prepare(base: Base) -> Result<Self, String>;

    /// Runs `script` under `host`'s limits, once. Must return (not panic,
    /// not hang past the deadline) whatever the script does.
    fn run(&mut self, script: Script<'_>, host: Host) -> Ending;
}
