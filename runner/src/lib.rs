//! moat's runner: runs one untrusted ES module under hard limits and reports
//! everything as frames (see `moat_wire::frames`).
//!
//! This is the innermost layer. It trusts neither the script nor its own
//! built-ins once the script has run: limits are set before any user code,
//! the result frame is built in Rust, and a watchdog thread ends the process
//! if the engine cannot stop itself. It does not sandbox the OS: that is
//! gVisor's job, one layer out. The pieces:
//!
//! - [`engine`]: the seam to a JS engine, and [`quickjs`] behind it;
//! - [`prelude`]: the web-style globals, in JS, for any engine;
//! - [`crypto`]: the digests, MACs and randomness behind Web Crypto;
//! - [`modules`]: what may be imported;
//! - [`output`]: frames on stdout, under the job's caps;
//! - [`hostcall`]: calls to the host (`fetch`) and their replies on stdin;
//! - [`browser`]: the run's Chromium, when the job asks for one;
//! - [`allocator`], [`stop`], [`watchdog`]: the limits.

pub mod allocator;
pub mod browser;
pub mod crypto;
pub mod engine;
pub mod hostcall;
pub mod modules;
pub mod output;
pub mod prelude;
pub mod quickjs;
pub mod stop;
pub mod watchdog;

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use moat_wire::{Job, Outcome, ResultFrame, ScriptError};

use crate::engine::{Base, Engine, Host, Script};
use crate::hostcall::HostChannel;
use crate::modules::ModuleMap;
use crate::output::{FrameWriter, Output};
use crate::stop::Stop;

/// JS stack limit: about 12,000 frames of simple recursion (Node allows
/// about 10,800), far inside the engine thread's stack.
pub const STACK_LIMIT: usize = 8 * 1024 * 1024;

/// The engine thread's native stack. QuickJS measures its limit from where the
/// runtime was created, so the engine runs on a thread of its own whose stack
/// is several times the JS limit (the main thread's 8 MiB would not be).
/// Untouched pages cost nothing.
const ENGINE_THREAD_STACK: usize = 4 * STACK_LIMIT;

/// CPU time this process has used, user and system, in milliseconds.
pub fn cpu_ms() -> u64 {
    cpu_time::ProcessTime::try_now()
        .map(|t| t.as_duration().as_millis() as u64)
        .unwrap_or(0)
}

/// Writes the result frame for a job that was refused before it ran.
pub fn refuse(writer: &FrameWriter, outcome: Outcome, error: ScriptError, started: Instant) {
    writer.finish(ResultFrame {
        outcome,
        value: None,
        error: Some(error),
        cpu_ms: cpu_ms(),
        wall_ms: started.elapsed().as_millis() as u64,
        heap_peak_bytes: 0,
    });
}

/// A runner readied before its job: its engine thread has built the engine
/// (runtime, realms, the prelude's globals) and waits for the job, so the
/// job's time is spent on the script alone. A pooled runner readies itself
/// while it waits for its job on stdin.
pub struct Readied {
    writer: Arc<FrameWriter>,
    stop: Arc<Stop>,
    assign: mpsc::Sender<Assignment>,
    engine: Option<std::thread::JoinHandle<Option<Outcome>>>,
    browser: Option<std::path::PathBuf>,
    early_browser: Option<browser::Browser>,
}

/// What the engine thread is handed when the job arrives.
struct Assignment {
    job: Job,
    host: Host,
    started: Instant,
}

/// Starts the engine thread and readies its engine with `modules`; frames
/// will go to `writer`.
pub fn ready(modules: ModuleMap, writer: Arc<FrameWriter>) -> Readied {
    let stop = Arc::new(Stop::new());
    let (assign, assigned) = mpsc::channel::<Assignment>();
    let base = Base {
        modules,
        stop: stop.clone(),
        stack_limit: STACK_LIMIT,
    };
    let out = writer.clone();
    let engine = std::thread::Builder::new()
        .name("engine".into())
        .stack_size(ENGINE_THREAD_STACK)
        .spawn(move || {
            let prepared = quickjs::QuickJs::prepare(base);
            // No job (it was refused, or never came): nothing to run.
            let Assignment { job, host, started } = assigned.recv().ok()?;
            let mut engine = match prepared {
                Ok(engine) => engine,
                Err(what) => {
                    let error = ScriptError::new("InternalError", what);
                    refuse(&out, Outcome::InternalError, error, started);
                    return Some(Outcome::InternalError);
                }
            };
            let script = Script {
                filename: &job.filename,
                code: &job.code,
            };
            let ending = engine.run(script, host);
            out.finish(ResultFrame {
                outcome: ending.outcome,
                value: ending.value,
                error: ending.error,
                cpu_ms: cpu_ms(),
                wall_ms: started.elapsed().as_millis() as u64,
                heap_peak_bytes: ending.heap_peak_bytes,
            });
            // Teardown (freeing the heap) happens after the result is out.
            drop(engine);
            Some(ending.outcome)
        })
        .ok();
    Readied {
        writer,
        stop,
        assign,
        engine,
        browser: None,
        early_browser: None,
    }
}

impl Readied {
    /// Where this runner's Chromium is, for jobs that ask for a browser.
    pub fn with_browser(mut self, executable: Option<std::path::PathBuf>) -> Self {
        self.browser = executable;
        self
    }

    /// Starts this runner's Chromium now, before the job: a warm browser
    /// sandbox spends the browser's start-up (seconds inside gVisor) while
    /// it waits in the pool. Its messages go into `calls`' queue, which the
    /// run reads; a job that asks for no browser never sees it, and it ends
    /// with the run either way. A start that fails is left to the script's
    /// own `launch()`, which reports why.
    pub fn start_browser(mut self, calls: &HostChannel) -> Self {
        if let (Some(exe), Some(sink)) = (&self.browser, calls.browser_sink()) {
            self.early_browser = browser::Browser::launch(exe, sink).ok();
        }
        self
    }

    /// Runs `job` (validated here) on the readied engine, writes its frames,
    /// and returns its outcome.
    ///
    /// `started` is when the job arrived (for `wall_ms`) and `deadline` is
    /// when the run must end; the caller arms the watchdog for the same
    /// deadline. `calls` is the run's channel to its host (one that is
    /// closed makes every `fetch` fail).
    pub fn run(
        mut self,
        job: Job,
        calls: Arc<HostChannel>,
        started: Instant,
        deadline: Instant,
    ) -> Outcome {
        if let Err(e) = job.validate() {
            refuse(
                &self.writer,
                Outcome::InvalidJob,
                ScriptError::new("InvalidJob", e.to_string()),
                started,
            );
            return Outcome::InvalidJob;
        }
        let output = Arc::new(Output::new(
            self.writer.clone(),
            job.limits,
            self.stop.clone(),
            started,
        ));
        let host = Host {
            output,
            calls,
            deadline,
            timeout_ms: job.timeout_ms,
            heap_limit: usize::try_from(job.memory_mb * 1024 * 1024).unwrap_or(usize::MAX),
            browser: crate::browser::BrowserConfig {
                executable: self.browser.clone(),
                allowed: job.browser,
            },
            // A job without a browser ends the early one now.
            early_browser: self.early_browser.take().filter(|_| job.browser),
        };
        let ran = self.engine.and_then(|engine| {
            self.assign.send(Assignment { job, host, started }).ok()?;
            engine.join().ok().flatten()
        });
        match ran {
            Some(outcome) => outcome,
            // A panic (or no thread at all) is our bug, never the script's.
            None => {
                let error =
                    ScriptError::new("InternalError", "the runner failed; this is a bug in moat");
                refuse(&self.writer, Outcome::InternalError, error, started);
                Outcome::InternalError
            }
        }
    }
}

/// Readies a runner and runs `job` on it at once: [`ready`] then
/// [`Readied::run`], for callers with no time to spare before the job.
pub fn run(
    job: &Job,
    modules: ModuleMap,
    writer: Arc<FrameWriter>,
    calls: Arc<HostChannel>,
    started: Instant,
    deadline: Instant,
) -> Outcome {
    ready(modules, writer).run(job.clone(), calls, started, deadline)
}

/// The deadline for a job that starts now.
pub fn deadline_for(job: &Job, started: Instant) -> Instant {
    started + Duration::from_millis(job.timeout_ms)
}
