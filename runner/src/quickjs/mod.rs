//! The QuickJS engine (through `rquickjs`): one runtime and one context per
//! run, readied with the prelude before the job arrives, a Rust event loop,
//! and the mapping from what QuickJS reports to the user's outcomes.
//!
//! Limits are set before any code runs: the heap meter (memory), the stack
//! limit, and an interrupt handler that stops the script, uncatchably, at the
//! deadline, on heap exhaustion, or when any other part raised the stop
//! signal. The event loop sleeps until the next timer but never past the
//! deadline, so idle waits are bounded too. The run is over when the script's
//! value has settled and nothing is left to do (no jobs, no timers), as in
//! Node; an uncaught exception or unhandled rejection ends it at once.

mod calls;
mod host;
mod loader;
mod timers;

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use moat_wire::{Outcome, ScriptError};
use rquickjs::context::intrinsic;
use rquickjs::promise::PromiseState;
use rquickjs::{Context, Ctx, Function, Module, Object, Persistent, Promise, Runtime, Value};

use self::host::Shared;
use self::loader::{Imports, LoadLog, PreludeExports, NOT_ALLOWED_ERROR};
use self::timers::Timers;
use crate::allocator::{HeapStats, MeteredAllocator};
use crate::browser::{BrowserMessage, FromBrowser};
use crate::engine::{Base, Ending, Engine, Host, Script};
use crate::hostcall::Arrival;
use crate::stop::Stop;

/// Longest error message and stack passed on to the user.
const MAX_MESSAGE: usize = 8 * 1024;
const MAX_STACK: usize = 16 * 1024;

/// The QuickJS engine, readied before its job: runtime, the script's realm
/// with the prelude installed, and the serialiser's realm. After its run it
/// keeps all of it until dropped, so the caller can write the result before
/// paying for teardown.
pub struct QuickJs {
    // Fields drop in order: handles into the heap, then the realms, then
    // the runtime.
    stringify: Persistent<Function<'static>>,
    shared: Rc<Shared>,
    rejections: Rejections,
    log: Rc<RefCell<LoadLog>>,
    context: Context,
    /// Held so `stringify`'s realm lives as long as the engine.
    _serialiser: Context,
    /// Held: everything above lives in it.
    _rt: Runtime,
    stats: Arc<HeapStats>,
    deadline: Arc<Mutex<Option<Instant>>>,
    stop: Arc<Stop>,
}

/// Rejections not (yet) handled: (promise, reason).
type Rejections = Rc<RefCell<Vec<(Persistent<Value<'static>>, Persistent<Value<'static>>)>>>;

impl Engine for QuickJs {
    fn prepare(base: Base) -> Result<Self, String> {
        let stats = Arc::new(HeapStats::default());
        // Until the job says otherwise, the smallest heap any job may have:
        // the prelude must fit in every run's limit.
        let floor = usize::try_from(moat_wire::job::MEMORY_MB_RANGE.0 << 20).unwrap_or(usize::MAX);
        let rt = Runtime::new_with_alloc(MeteredAllocator::new(floor, stats.clone()))
            .map_err(|_| "cannot create the JS runtime")?;
        rt.set_max_stack_size(base.stack_limit);

        // No deadline until the job arrives (the prelude is ours, and short).
        let deadline: Arc<Mutex<Option<Instant>>> = Arc::default();
        let (stop, heap, due) = (base.stop.clone(), stats.clone(), deadline.clone());
        rt.set_interrupt_handler(Some(Box::new(move || {
            let due = *due.lock().unwrap_or_else(|e| e.into_inner());
            if heap.exhausted() {
                stop.set(Outcome::Oom);
            } else if due.is_some_and(|d| Instant::now() >= d) {
                stop.set(Outcome::Timeout);
            }
            let stopping = stop.reason().is_some();
            if stopping {
                // The uncatchable error QuickJS throws next must fit in the
                // heap, or it degrades to a catchable `null`.
                heap.stopping();
            }
            stopping
        })));

        let rejections: Rejections = Rc::default();
        let tracked = rejections.clone();
        rt.set_host_promise_rejection_tracker(Some(Box::new(
            move |ctx: Ctx<'_>, promise: Value<'_>, reason: Value<'_>, handled: bool| {
                let mut list = tracked.borrow_mut();
                if handled {
                    list.retain(|(p, _)| {
                        p.clone()
                            .restore(&ctx)
                            .map(|p| p != promise)
                            .unwrap_or(false)
                    });
                } else {
                    list.push((
                        Persistent::save(&ctx, promise),
                        Persistent::save(&ctx, reason),
                    ));
                }
            },
        )));

        let log = Rc::new(RefCell::new(LoadLog::default()));
        let imports = Imports::new(base.modules, log.clone());
        rt.set_loader(imports.clone(), imports);

        let context = Context::full(&rt).map_err(|_| "cannot create the JS context")?;
        // The result is serialised by the JSON.stringify of a second, bare
        // realm. QuickJS's stringify keeps its cycle-check stack in an array
        // of the realm the function belongs to; in the script's realm, a
        // setter planted on Array.prototype[0] would break every result.
        let serialiser = Context::custom::<intrinsic::Json>(&rt)
            .map_err(|_| "cannot create the JSON context")?;
        let stringify = serialiser
            .with(|ctx| {
                let json: Object = ctx.globals().get("JSON")?;
                let stringify: Function = json.get("stringify")?;
                rquickjs::Result::Ok(Persistent::save(&ctx, stringify))
            })
            .map_err(|_| "cannot find JSON.stringify")?;
        let shared = Rc::new(Shared {
            output: OnceCell::new(),
            timers: RefCell::new(Timers::default()),
            channel: OnceCell::new(),
            pending: RefCell::default(),
            browser_config: OnceCell::new(),
            browser: RefCell::new(None),
            early_browser: RefCell::new(None),
            on_browser: RefCell::new(None),
        });
        context.with(|ctx| install_prelude(&ctx, &shared))?;
        Ok(Self {
            stringify,
            shared,
            rejections,
            log,
            context,
            _serialiser: serialiser,
            _rt: rt,
            stats,
            deadline,
            stop: base.stop,
        })
    }

    fn run(&mut self, script: Script<'_>, mut host: Host) -> Ending {
        self.stats.set_limit(host.heap_limit);
        *self.shared.early_browser.borrow_mut() = host.early_browser.take();
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner()) = Some(host.deadline);
        let bound = self.shared.output.set(host.output).is_ok()
            && self.shared.channel.set(host.calls).is_ok()
            && self.shared.browser_config.set(host.browser).is_ok();
        if !bound {
            return Ending::failed(
                Outcome::InternalError,
                ScriptError::new("InternalError", "an engine runs one script"),
                self.stats.peak() as u64,
            );
        }
        let mut ending = self.context.with(|ctx| {
            let Ok(stringify) = self.stringify.clone().restore(&ctx) else {
                return Ending::failed(
                    Outcome::InternalError,
                    ScriptError::new("InternalError", "cannot restore JSON.stringify"),
                    0,
                );
            };
            let session = Session {
                ctx: ctx.clone(),
                stringify,
                shared: self.shared.clone(),
                stop: self.stop.clone(),
                stats: self.stats.clone(),
                log: self.log.clone(),
                rejections: self.rejections.clone(),
                timeout_ms: host.timeout_ms,
                heap_limit: host.heap_limit,
                deadline: host.deadline,
            };
            let ending = session.run(script);
            // The browser ends with the run, closed or not.
            self.shared.close_browser();
            // Handles into the heap must go before the runtime does.
            self.shared.timers.borrow_mut().clear_all();
            self.shared.pending.borrow_mut().clear();
            self.rejections.borrow_mut().clear();
            ending
        });
        ending.heap_peak_bytes = self.stats.peak() as u64;
        ending
    }
}

/// Installs the prelude's globals in `ctx`, with its host calls bound to
/// `shared`, and keeps its exports for the run (in the realm's userdata).
fn install_prelude(ctx: &Ctx<'_>, shared: &Rc<Shared>) -> Result<(), String> {
    // SAFETY: the bytes are the build script's compilation of our own
    // prelude by this same QuickJS (one rquickjs, one lockfile), embedded
    // in the binary for its whole life; nothing of a run's reaches them.
    #[allow(unsafe_code)]
    let declared = unsafe { Module::load(ctx.clone(), crate::prelude::BYTECODE) }
        .map_err(|_| "the prelude's bytecode does not load")?;
    let (module, evaluated) = declared
        .eval()
        .map_err(|_| "the prelude's module does not evaluate")?;
    while ctx.execute_pending_job() {}
    if !matches!(evaluated.state(), PromiseState::Resolved) {
        return Err("the prelude's module did not finish".into());
    }
    let factory: Function = module
        .namespace()
        .and_then(|ns| ns.get("default"))
        .map_err(|_| "the prelude exports no function")?;
    let host = host::host_object(ctx, shared).map_err(|_| "cannot build host calls")?;
    let exports: Object = factory.call((host,)).map_err(|_| {
        let _ = ctx.catch();
        "the prelude failed"
    })?;
    let inspect = exports.get("inspect").map_err(|_| "prelude exports")?;
    let save = exports.get("save").map_err(|_| "prelude exports")?;
    let describe_error = exports
        .get("describeError")
        .map_err(|_| "prelude exports")?;
    let browser = exports.get("browser").map_err(|_| "prelude exports")?;
    ctx.store_userdata(PreludeExports {
        inspect,
        save,
        describe_error,
        browser,
    })
    .map_err(|_| "cannot store prelude exports")?;
    Ok(())
}

/// Where the script's value is on its way to settling.
enum Phase<'js> {
    /// The module body (with top-level await) is running.
    Module(Module<'js, rquickjs::module::Evaluated>, Promise<'js>),
    /// The default export was called (or is a value) and is being awaited.
    Default(Promise<'js>),
    /// The value is known; the loop runs until nothing is left to do.
    Settled(Value<'js>),
}

/// One run inside a context.
struct Session<'js> {
    ctx: Ctx<'js>,
    /// The serialiser realm's `JSON.stringify`.
    stringify: Function<'js>,
    shared: Rc<Shared>,
    stop: Arc<Stop>,
    stats: Arc<HeapStats>,
    log: Rc<RefCell<LoadLog>>,
    rejections: Rejections,
    timeout_ms: u64,
    heap_limit: usize,
    deadline: Instant,
}

impl<'js> Session<'js> {
    fn run(&self, script: Script<'_>) -> Ending {
        let declared = match Module::declare(self.ctx.clone(), script.filename, script.code) {
            Ok(m) => m,
            Err(_) => return self.thrown(true),
        };
        let mut phase = match declared.eval() {
            Ok((module, promise)) => Phase::Module(module, promise),
            Err(_) => return self.thrown(false),
        };
        loop {
            while self.ctx.execute_pending_job() {
                if let Some(ending) = self.ending_for_stop() {
                    return ending;
                }
            }
            if let Some(ending) = self.ending_for_stop() {
                return ending;
            }
            let before = std::mem::discriminant(&phase);
            phase = match self.advance(phase) {
                Ok(next) => next,
                Err(ending) => return *ending,
            };
            if let Some(ending) = self.unhandled_rejection() {
                return ending;
            }
            // The script's value is settled: its browser closes, as if it had
            // called `browser.close()` (Puppeteer scripts often forget to),
            // so neither its open requests nor its event stream keep the run
            // alive past its own work.
            if let (Phase::Settled(_), Some(generation)) =
                (&phase, self.shared.browser_generation())
            {
                if self
                    .arrive(Arrival::Browser(FromBrowser {
                        generation,
                        message: BrowserMessage::Gone("the script has finished".into()),
                    }))
                    .is_err()
                {
                    return self.thrown(false);
                }
                continue;
            }
            // A phase that moved on may already have settled its next one (a
            // plain default export, a sync function): look again before
            // concluding that nothing is left to do.
            if std::mem::discriminant(&phase) != before {
                continue;
            }
            if self.ctx.execute_pending_job() {
                if let Some(ending) = self.ending_for_stop() {
                    return ending;
                }
                continue;
            }
            // A reply already here is delivered before anything waits.
            let browsing = self.shared.browsing();
            if let Some(arrival) = self.shared.channel().next(None, browsing) {
                if self.arrive(arrival).is_err() {
                    return self.thrown(false);
                }
                continue;
            }
            let next = self.shared.timers.borrow_mut().next_due();
            let alive = self.shared.timers.borrow().keep_alive();
            // A running browser keeps the run alive too (its answers and
            // events may be what the script awaits, with no timer set): it
            // closes when the value is settled, and the deadline bounds it.
            let calling = self.shared.channel().in_flight() > 0 || browsing;
            if !alive && !calling {
                return match phase {
                    Phase::Settled(value) => self.finish(value),
                    _ => Ending::failed(
                        Outcome::Error,
                        ScriptError::new(
                            "Error",
                            "the script is waiting for a promise that can never settle (nothing is left to run)",
                        ),
                        0,
                    ),
                };
            }
            let now = Instant::now();
            if now >= self.deadline {
                self.stop.set(Outcome::Timeout);
                continue;
            }
            let wake = next.map_or(self.deadline, |due| due.min(self.deadline));
            if wake > now {
                // Idle: wait for a reply (a run with calls in flight is not
                // done), a browser's message or the next timer, never past
                // the deadline.
                if calling {
                    if let Some(arrival) = self.shared.channel().next(Some(wake), browsing) {
                        if self.arrive(arrival).is_err() {
                            return self.thrown(false);
                        }
                    }
                } else {
                    std::thread::sleep(wake - now);
                }
                continue;
            }
            let fired = self.shared.timers.borrow_mut().take_due(now);
            if let Some(due) = fired {
                let called = due
                    .callback
                    .restore(&self.ctx)
                    .and_then(|f| f.call::<_, Value>(()));
                if called.is_err() {
                    return self.thrown(false);
                }
            }
        }
    }

    /// Hands what arrived to its JS: a call's promise, or the browser's
    /// message to the module's handler (`null` and why, when it has gone).
    fn arrive(&self, arrival: Arrival) -> rquickjs::Result<()> {
        match arrival {
            Arrival::Call(done) => calls::deliver(&self.ctx, &self.shared.pending, done),
            Arrival::Browser(FromBrowser {
                generation,
                message,
            }) => {
                if self.shared.browser_generation() != Some(generation) {
                    return Ok(());
                }
                let handler = self.shared.on_browser.borrow().clone();
                let Some(handler) = handler else {
                    return Ok(());
                };
                let handler = handler.restore(&self.ctx)?;
                match message {
                    BrowserMessage::Message(text) => handler.call::<_, ()>((text,)),
                    BrowserMessage::Gone(why) => {
                        let told = handler.call::<_, ()>((Value::new_null(self.ctx.clone()), why));
                        // Nothing more will come: the loop stops waiting on it.
                        self.shared.close_browser();
                        told
                    }
                }
            }
        }
    }

    /// Moves the phase on when its promise has settled; the ending (boxed:
    /// it is large) when the script failed on the way.
    fn advance(&self, phase: Phase<'js>) -> Result<Phase<'js>, Box<Ending>> {
        let thrown = || Box::new(self.thrown(false));
        match phase {
            Phase::Module(module, promise) => match promise.state() {
                PromiseState::Pending => Ok(Phase::Module(module, promise)),
                PromiseState::Rejected => Err(Box::new(self.rejected(&promise))),
                PromiseState::Resolved => {
                    let default: Value = module
                        .namespace()
                        .and_then(|ns| ns.get("default"))
                        .map_err(|_| thrown())?;
                    let value = match default.as_function() {
                        Some(f) => f.call::<_, Value>(()).map_err(|_| thrown())?,
                        None => default,
                    };
                    // A native promise is watched as it is: adopting it would
                    // call its `then`, which the script may have replaced.
                    if let Some(promise) = value.as_promise() {
                        return Ok(Phase::Default(promise.clone()));
                    }
                    // Adopt the value (or thenable) into a promise we can watch.
                    let (adopted, resolve, _) = self.ctx.promise().map_err(|_| thrown())?;
                    resolve.call::<_, ()>((value,)).map_err(|_| thrown())?;
                    Ok(Phase::Default(adopted))
                }
            },
            Phase::Default(promise) => match promise.state() {
                PromiseState::Pending => Ok(Phase::Default(promise)),
                PromiseState::Rejected => Err(Box::new(self.rejected(&promise))),
                PromiseState::Resolved => {
                    let value = promise.result::<Value>().and_then(Result::ok);
                    Ok(Phase::Settled(
                        value.unwrap_or_else(|| Value::new_undefined(self.ctx.clone())),
                    ))
                }
            },
            settled => Ok(settled),
        }
    }

    fn rejected(&self, promise: &Promise<'js>) -> Ending {
        // The rejection is ours to report: stop tracking it as unhandled.
        self.rejections.borrow_mut().clear();
        match promise.result::<Value>() {
            Some(Err(_)) => {
                let reason = self.ctx.catch();
                self.classify(reason, false)
            }
            _ => self.thrown(false),
        }
    }

    fn unhandled_rejection(&self) -> Option<Ending> {
        let first = self.rejections.borrow_mut().drain(..).next();
        let (_, reason) = first?;
        let reason = reason.restore(&self.ctx).ok()?;
        Some(self.classify(reason, false))
    }

    /// Serialises the settled value and ends the run `ok`.
    fn finish(&self, value: Value<'js>) -> Ending {
        let json = match self.stringify.call::<_, Value>((value,)) {
            Ok(json) if json.is_undefined() => None,
            Ok(json) => json.into_string(),
            Err(_) => {
                let mut ending = self.thrown(false);
                if ending.outcome == Outcome::Error {
                    if let Some(e) = ending.error.as_mut() {
                        e.message =
                            format!("the script's value is not JSON-serialisable: {}", e.message);
                    }
                }
                return ending;
            }
        };
        let json = match json.map(|s| s.to_string()) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(_)) => return self.thrown(false),
        };
        let max = self.shared.output().limits().max_result_bytes;
        if let Some(s) = &json {
            if s.len() as u64 > max {
                self.stop.set(Outcome::OutputLimit);
                return self.limit_ending(
                    Outcome::OutputLimit,
                    format!(
                        "the script's value is {} bytes of JSON, over the limit of {max}",
                        s.len()
                    ),
                );
            }
        }
        let value = match json.as_deref().map(serde_json::from_str) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                return Ending::failed(
                    Outcome::InternalError,
                    ScriptError::new("InternalError", format!("value JSON did not parse: {e}")),
                    0,
                )
            }
        };
        Ending {
            outcome: Outcome::Ok,
            value,
            error: None,
            heap_peak_bytes: 0,
        }
    }

    /// The ending for a raised stop signal, if any.
    fn ending_for_stop(&self) -> Option<Ending> {
        if self.stats.exhausted() {
            self.stop.set(Outcome::Oom);
        }
        let reason = self.stop.reason()?;
        let message = match reason {
            Outcome::Timeout => format!("the run exceeded its deadline of {} ms", self.timeout_ms),
            Outcome::Oom => format!(
                "the run exceeded its memory limit of {} MiB",
                self.heap_limit / (1024 * 1024)
            ),
            Outcome::OutputLimit => {
                "the run reached an output limit (log bytes, frames, files or file bytes)"
                    .to_owned()
            }
            Outcome::Failed => "the run's output was closed".to_owned(),
            other => other.to_string(),
        };
        Some(self.limit_ending(reason, message))
    }

    fn limit_ending(&self, outcome: Outcome, message: String) -> Ending {
        let name = match outcome {
            Outcome::Timeout => "TimeoutError",
            Outcome::Oom => "OutOfMemoryError",
            Outcome::OutputLimit => "OutputLimitError",
            _ => "Error",
        };
        Ending::failed(outcome, ScriptError::new(name, message), 0)
    }

    /// Classifies the pending exception; `parsing` when the script itself was being parsed.
    fn thrown(&self, parsing: bool) -> Ending {
        let exception = self.ctx.catch();
        self.classify(exception, parsing)
    }

    fn classify(&self, thrown: Value<'js>, parsing: bool) -> Ending {
        if let Some(ending) = self.ending_for_stop() {
            return ending;
        }
        let mut error = self.describe(&thrown);
        let outcome = if error.name == NOT_ALLOWED_ERROR && !self.log.borrow().refused.is_empty() {
            let refused = self.log.borrow().refused.last().cloned();
            error.specifier = refused;
            Outcome::ModuleNotAllowed
        } else if error.name == "SyntaxError"
            && (parsing || !self.log.borrow().syntax_errors.is_empty())
        {
            let (line, column) = position(error.stack.as_deref().unwrap_or(""));
            error.line = line;
            error.column = column;
            Outcome::SyntaxError
        } else if (error.name == "RangeError"
            && error.message == "Maximum call stack size exceeded")
            || (error.name == "InternalError" && error.message == "stack overflow")
        {
            Outcome::StackOverflow
        } else {
            Outcome::Error
        };
        Ending::failed(outcome, error, 0)
    }

    /// Name, message and stack of a thrown value, read without trusting it:
    /// data properties only (a getter could throw, loop or log), through the
    /// prelude; odd types and failures give placeholders, not a second failure.
    fn describe(&self, thrown: &Value<'js>) -> ScriptError {
        if !thrown.is_error() {
            return ScriptError::new("Uncaught", truncate(self.inspect(thrown), MAX_MESSAGE));
        }
        let describe = self
            .ctx
            .userdata::<PreludeExports>()
            .map(|p| p.describe_error.clone());
        let parts = describe
            .and_then(|f| f.call::<_, Vec<Option<String>>>((thrown.clone(),)).ok())
            .unwrap_or_else(|| {
                let _ = self.ctx.catch();
                Vec::new()
            });
        let part = |i: usize| parts.get(i).cloned().flatten();
        let name = part(0).unwrap_or_else(|| "Error".to_owned());
        let message = part(1).unwrap_or_default();
        let stack = part(2).filter(|s| !s.is_empty());
        ScriptError {
            name: truncate(name, 256),
            message: truncate(message, MAX_MESSAGE),
            stack: stack.map(|s| truncate(s, MAX_STACK)),
            ..ScriptError::default()
        }
    }

    fn inspect(&self, value: &Value<'js>) -> String {
        let inspect = self
            .ctx
            .userdata::<PreludeExports>()
            .map(|p| p.inspect.clone());
        let text = inspect.and_then(|f| f.call::<_, String>((value.clone(),)).ok());
        text.unwrap_or_else(|| {
            let _ = self.ctx.catch();
            format!("a thrown {}", value.type_name())
        })
    }
}

/// The `line:column` of the first frame in a QuickJS stack (`at file:L:C`).
fn position(stack: &str) -> (Option<u32>, Option<u32>) {
    let first = stack
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches(')');
    let mut parts = first.rsplitn(3, ':');
    let column = parts.next().and_then(|c| c.parse().ok());
    let line = parts.next().and_then(|l| l.parse().ok());
    match (line, column) {
        (Some(l), Some(c)) => (Some(l), Some(c)),
        _ => (None, None),
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_come_from_the_first_frame() {
        assert_eq!(position("    at main.js:3:14\n"), (Some(3), Some(14)));
        assert_eq!(
            position("    at f (main.js:1:20)\n    at g"),
            (Some(1), Some(20))
        );
        assert_eq!(position(""), (None, None));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo".into(), 2), "h…");
        assert_eq!(truncate("abc".into(), 5), "abc");
    }
}
