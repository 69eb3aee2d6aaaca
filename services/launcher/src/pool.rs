//! The warm pool: sandboxes created and started ahead of demand, each runner
//! blocked reading its job, so a run's critical path starts at writing the
//! job instead of at building a sandbox.
//!
//! The rules, each a decision about isolation or honesty:
//!
//! - **One use.** [`Pool::acquire`] moves a sandbox out of the pool and
//!   nothing ever puts one back: every run is destroyed with its sandbox, so
//!   nothing of one run (files in `/tmp`, the runner's memory) can reach the
//!   next.
//! - **Size classes.** A sandbox's cgroup memory is fixed when it is created.
//!   The pool keeps sandboxes per class, a class being a JS heap size in MiB
//!   ([`PoolConfig::classes`]); a job gets the smallest class whose heap is at
//!   least its own, so its cgroup limit is never below what it asked for. The
//!   runner enforces the job's own heap limit inside, so a larger class only
//!   widens the outer backstop. A job above every class gets a cold sandbox
//!   made with its exact limits.
//! - **Size follows load.** A class's target is how many sandboxes it handed
//!   out in the last [`DEMAND_WINDOW`], clamped to `[min, max]`; one
//!   background task refills, one creation at a time (creating competes with
//!   running for the same cores), and destroys the surplus.
//! - **Bounded age.** A pooled sandbox older than `max_age` is destroyed and
//!   replaced, so none runs a runner or rootfs far older than the launcher's
//!   view of them; one whose runner exited while idle is never handed out.
//! - **Warm browsers.** Browser sandboxes (the browser profile) are a class
//!   of their own, sized by [`PoolConfig::browser_min`] and `browser_max`;
//!   their runner starts Chromium while it waits, so a browser run skips the
//!   browser's start-up too. They are one use like the rest: a fresh
//!   profile and a fresh Chromium for every run.
//! - **Nothing left behind.** [`Pool::close`] stops the refill and destroys
//!   every pooled sandbox, including one being created.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::sandbox::{Sandbox, SandboxError, Sandboxes};
use crate::spec::{Limits, Profile, MEMORY_MARGIN};

/// How far back a class's demand is counted.
pub const DEMAND_WINDOW: Duration = Duration::from_secs(10);

/// How often the refill task looks at ages and demand without being woken.
const TICK: Duration = Duration::from_millis(500);

/// How long the refill task waits after a sandbox could not be made.
const BACKOFF: Duration = Duration::from_secs(1);

/// What every sandbox gets, pooled or cold, besides its heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// CPU quota per sandbox, microseconds per 100 ms.
    pub cpu_quota_us: i64,
    /// cgroup memory over the heap.
    pub memory_margin: u64,
}

impl Default for Sizing {
    fn default() -> Self {
        Self {
            cpu_quota_us: 100_000,
            memory_margin: MEMORY_MARGIN,
        }
    }
}

impl Sizing {
    /// The limits of a sandbox for a heap of `heap_mb`.
    pub fn limits(&self, heap_mb: u64) -> Limits {
        Limits::with_margin(heap_mb, self.memory_margin, self.cpu_quota_us)
    }
}

/// How the pool is sized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Sandboxes each class keeps warm when idle.
    pub min: usize,
    /// Most sandboxes each class keeps warm (0: no pool, every run cold).
    pub max: usize,
    /// Oldest a pooled sandbox may be before it is replaced.
    pub max_age: Duration,
    /// The classes' heap sizes in MiB, ascending.
    pub classes: Vec<u64>,
    /// Limits besides the heap.
    pub sizing: Sizing,
    /// Warm browser sandboxes kept when idle (when the launcher has the
    /// browser rootfs).
    pub browser_min: usize,
    /// Most warm browser sandboxes kept (0: every browser run cold).
    pub browser_max: usize,
}

impl PoolConfig {
    /// No pool: every sandbox is made when its run arrives.
    pub fn cold(sizing: Sizing) -> Self {
        Self {
            min: 0,
            max: 0,
            max_age: Duration::from_secs(300),
            classes: Vec::new(),
            sizing,
            browser_min: 0,
            browser_max: 0,
        }
    }

    /// The heap of the warm browser class: the largest script class's, or
    /// the default heap when there is none.
    fn browser_heap(&self) -> u64 {
        self.classes
            .iter()
            .copied()
            .max()
            .unwrap_or(moat_wire::job::DEFAULT_MEMORY_MB)
    }
}

/// A sandbox for one run, and how it was got.
pub struct Acquired {
    /// The sandbox, started, its runner waiting for the job.
    pub sandbox: Sandbox,
    /// It came warm from the pool.
    pub warm: bool,
    /// Time to get it (for a cold one: creating the container and task).
    pub acquire: Duration,
    /// Time to start its task (zero for a warm one: done ahead).
    pub start: Duration,
}

/// The launcher's pool of warm sandboxes (cheap to clone).
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    sandboxes: Sandboxes,
    config: PoolConfig,
    classes: Vec<Class>,
    metrics: Arc<Metrics>,
    wake: Notify,
    stop: CancellationToken,
    refill: Mutex<Option<JoinHandle<()>>>,
}

/// One size class of one profile.
struct Class {
    heap_mb: u64,
    profile: Profile,
    min: usize,
    max: usize,
    label: String,
    state: Mutex<ClassState>,
}

impl Class {
    fn new(profile: Profile, heap_mb: u64, min: usize, max: usize) -> Self {
        let label = match profile {
            Profile::Script => heap_mb.to_string(),
            Profile::Browser => "browser".to_owned(),
        };
        Self {
            heap_mb,
            profile,
            min,
            max,
            label,
            state: Mutex::default(),
        }
    }

    fn limits(&self, sizing: &Sizing) -> Limits {
        match self.profile {
            Profile::Script => sizing.limits(self.heap_mb),
            Profile::Browser => Limits::for_browser(self.heap_mb, sizing.cpu_quota_us),
        }
    }
}

#[derive(Default)]
struct ClassState {
    /// Ready sandboxes, oldest first.
    ready: VecDeque<Warm>,
    /// When each recent acquisition happened, oldest first.
    handed: VecDeque<Instant>,
}

/// A started sandbox waiting for its job.
struct Warm {
    sandbox: Sandbox,
    born: Instant,
    /// Ends when the runner exits; a finished one was never to be used.
    watch: JoinHandle<()>,
}

impl Warm {
    fn fit(&self, max_age: Duration, now: Instant) -> Result<(), &'static str> {
        if self.watch.is_finished() {
            Err("exited")
        } else if now.duration_since(self.born) > max_age {
            Err("age")
        } else {
            Ok(())
        }
    }
}

/// What the refill task does next.
enum Step {
    Create(usize),
    Destroy(Box<Warm>, &'static str),
    Idle,
}

impl Pool {
    /// A pool over `sandboxes`, its refill task started when it has any
    /// class to keep warm.
    pub fn start(sandboxes: Sandboxes, config: PoolConfig, metrics: Arc<Metrics>) -> Self {
        let mut classes: Vec<Class> = if config.max == 0 {
            Vec::new()
        } else {
            config
                .classes
                .iter()
                .map(|&heap_mb| Class::new(Profile::Script, heap_mb, config.min, config.max))
                .collect()
        };
        if config.browser_max > 0 && sandboxes.config().browser_rootfs.is_some() {
            classes.push(Class::new(
                Profile::Browser,
                config.browser_heap(),
                config.browser_min.min(config.browser_max),
                config.browser_max,
            ));
        }
        let pool = Self {
            inner: Arc::new(Inner {
                sandboxes,
                config,
                classes,
                metrics,
                wake: Notify::new(),
                stop: CancellationToken::new(),
                refill: Mutex::new(None),
            }),
        };
        // Every class the configuration names is on /metrics from the
        // start, at 0 (none is kept warm when the pool is off).
        for class in &pool.inner.config.classes {
            pool.inner
                .metrics
                .pool_ready
                .with(&[&class.to_string()])
                .set(0.0);
        }
        pool.inner.observe_ready();
        if !pool.inner.classes.is_empty() {
            let inner = pool.inner.clone();
            *pool.inner.refill.lock().expect("not poisoned") = Some(tokio::spawn(refill(inner)));
        }
        pool
    }

    /// A pool that keeps nothing warm: every sandbox is made on demand.
    pub fn cold(sandboxes: Sandboxes, sizing: Sizing) -> Self {
        Self::start(sandboxes, PoolConfig::cold(sizing), Metrics::new())
    }

    /// The sandbox factory underneath.
    pub fn sandboxes(&self) -> &Sandboxes {
        &self.inner.sandboxes
    }

    /// Sandboxes ready now, over all classes.
    pub fn ready(&self) -> usize {
        self.inner
            .classes
            .iter()
            .map(|c| c.state.lock().expect("not poisoned").ready.len())
            .sum()
    }

    /// A started sandbox for a job with a heap of `heap_mb`: a warm one of
    /// the smallest class that fits, else a cold one with exact limits.
    pub async fn acquire(&self, heap_mb: u64) -> Result<Acquired, SandboxError> {
        self.take(Profile::Script, heap_mb).await
    }

    /// A started browser sandbox (the browser profile, its Chromium started)
    /// for a heap of `heap_mb`: a warm one when its heap fits the browser
    /// class, else one made for its run.
    pub async fn acquire_browser(&self, heap_mb: u64) -> Result<Acquired, SandboxError> {
        self.take(Profile::Browser, heap_mb).await
    }

    async fn take(&self, profile: Profile, heap_mb: u64) -> Result<Acquired, SandboxError> {
        let t = Instant::now();
        let inner = &self.inner;
        if let Some(class) = inner
            .classes
            .iter()
            .find(|c| c.profile == profile && c.heap_mb >= heap_mb)
        {
            let (warm, unfit) = {
                let mut state = class.state.lock().expect("not poisoned");
                state.handed.push_back(t);
                let mut unfit = Vec::new();
                let mut warm = None;
                while let Some(w) = state.ready.pop_front() {
                    match w.fit(inner.config.max_age, t) {
                        Ok(()) => {
                            warm = Some(w);
                            break;
                        }
                        Err(reason) => unfit.push((w, reason)),
                    }
                }
                (warm, unfit)
            };
            for (w, reason) in unfit {
                let inner = inner.clone();
                tokio::spawn(async move { inner.discard(w, reason).await });
            }
            inner.wake.notify_one();
            inner.observe_ready();
            if let Some(w) = warm {
                w.watch.abort();
                inner.metrics.pool_acquired.with(&["warm"]).increment(1);
                return Ok(Acquired {
                    sandbox: w.sandbox,
                    warm: true,
                    acquire: t.elapsed(),
                    start: Duration::ZERO,
                });
            }
        }
        let limits = match profile {
            Profile::Script => inner.config.sizing.limits(heap_mb),
            Profile::Browser => Limits::for_browser(heap_mb, inner.config.sizing.cpu_quota_us),
        };
        self.create_cold(&limits, t).await
    }

    async fn create_cold(&self, limits: &Limits, t: Instant) -> Result<Acquired, SandboxError> {
        let inner = &self.inner;
        inner.metrics.pool_acquired.with(&["cold"]).increment(1);
        let sandbox = inner.sandboxes.create(limits).await?;
        let acquire = t.elapsed();
        let s = Instant::now();
        if let Err(e) = sandbox.start().await {
            let _ = sandbox.destroy().await;
            return Err(e);
        }
        Ok(Acquired {
            sandbox,
            warm: false,
            acquire,
            start: s.elapsed(),
        })
    }

    /// Stops refilling and destroys every pooled sandbox; returns how many.
    pub async fn close(&self) -> usize {
        self.inner.stop.cancel();
        let handle = self.inner.refill.lock().expect("not poisoned").take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
        self.inner.drain().await
    }
}

impl Inner {
    fn observe_ready(&self) {
        for class in &self.classes {
            let n = class.state.lock().expect("not poisoned").ready.len();
            self.metrics.pool_ready.with(&[&class.label]).set(n as f64);
        }
    }

    /// The next thing to do: the first unfit sandbox to destroy, else a
    /// surplus one, else a creation for the class furthest below target.
    fn next_step(&self, now: Instant) -> Step {
        let mut neediest: Option<(usize, usize)> = None;
        for (i, class) in self.classes.iter().enumerate() {
            let mut state = class.state.lock().expect("not poisoned");
            while state
                .handed
                .front()
                .is_some_and(|t| now.duration_since(*t) > DEMAND_WINDOW)
            {
                state.handed.pop_front();
            }
            let unfit = state.ready.iter().enumerate().find_map(|(pos, w)| {
                w.fit(self.config.max_age, now)
                    .err()
                    .map(|reason| (pos, reason))
            });
            if let Some((pos, reason)) = unfit {
                let w = state.ready.remove(pos).expect("the position exists");
                return Step::Destroy(Box::new(w), reason);
            }
            let target = state.handed.len().clamp(class.min, class.max);
            let ready = state.ready.len();
            if ready > target {
                let w = state.ready.pop_front().expect("more than the target");
                return Step::Destroy(Box::new(w), "surplus");
            }
            let deficit = target - ready;
            if deficit > 0 && neediest.is_none_or(|(_, d)| deficit > d) {
                neediest = Some((i, deficit));
            }
        }
        match neediest {
            Some((i, _)) => Step::Create(i),
            None => Step::Idle,
        }
    }

    /// Makes one warm sandbox of class `i`: created, started, stdin open.
    async fn make(&self, i: usize) -> Result<Warm, SandboxError> {
        let limits = self.classes[i].limits(&self.config.sizing);
        let t = Instant::now();
        let mut sandbox = self.sandboxes.create(&limits).await?;
        let create = t.elapsed();
        let s = Instant::now();
        let started = async {
            sandbox.start().await?;
            sandbox.open_stdin().await
        }
        .await;
        if let Err(e) = started {
            let _ = sandbox.destroy().await;
            return Err(e);
        }
        self.metrics
            .sandbox_seconds
            .with(&["create"])
            .record(create);
        self.metrics
            .sandbox_seconds
            .with(&["start"])
            .record(s.elapsed());
        let exit = sandbox.exit_watch();
        Ok(Warm {
            sandbox,
            born: Instant::now(),
            watch: tokio::spawn(async move {
                let _ = exit.await;
            }),
        })
    }

    async fn discard(&self, w: Warm, reason: &'static str) {
        w.watch.abort();
        self.metrics.pool_discarded.with(&[reason]).increment(1);
        if reason == "exited" {
            tracing::warn!(id = w.sandbox.id(), "a pooled runner exited before its job");
        }
        if let Err(e) = w.sandbox.destroy().await {
            tracing::warn!(error = %e, "destroying a pooled sandbox");
        }
    }

    /// Destroys every ready sandbox; returns how many.
    async fn drain(&self) -> usize {
        let mut all = Vec::new();
        for class in &self.classes {
            all.extend(class.state.lock().expect("not poisoned").ready.drain(..));
        }
        let n = all.len();
        for w in all {
            w.watch.abort();
            if let Err(e) = w.sandbox.destroy().await {
                tracing::warn!(error = %e, "destroying a pooled sandbox at close");
            }
        }
        self.observe_ready();
        n
    }
}

/// The refill task: woken by every acquisition and every [`TICK`], it does
/// one step at a time until there is nothing to do; at stop, it returns
/// (what it made last is already in the pool, for [`Pool::close`] to destroy).
async fn refill(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            () = inner.stop.cancelled() => return,
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(TICK) => {}
        }
        while !inner.stop.is_cancelled() {
            match inner.next_step(Instant::now()) {
                Step::Idle => break,
                Step::Destroy(w, reason) => inner.discard(*w, reason).await,
                Step::Create(i) => match inner.make(i).await {
                    Ok(w) => {
                        inner.classes[i]
                            .state
                            .lock()
                            .expect("not poisoned")
                            .ready
                            .push_back(w);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "a pooled sandbox could not be made");
                        tokio::select! {
                            () = inner.stop.cancelled() => return,
                            () = tokio::time::sleep(BACKOFF) => {}
                        }
                    }
                },
            }
            inner.observe_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_class_not_below_the_job() {
        let sizing = Sizing::default();
        let l = sizing.limits(64);
        assert_eq!(l.memory_bytes, 64 * 1024 * 1024 + MEMORY_MARGIN);
        assert_eq!(l.cpu_quota_us, 100_000);
    }
}
