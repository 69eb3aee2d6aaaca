//! The operational plumbing every moat service shares, so each `main.rs` stays
//! a few lines: logging set-up (`MOAT_LOG`, to stderr), a cancellation token
//! cancelled by SIGTERM or Ctrl-C, the small HTTP server for `/metrics`
//! (Prometheus text) and `/healthz`, and the metrics [`Registry`] each service
//! instance owns (`registry.rs`). It knows nothing of what a service does.

use std::io::Write;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use warp::Filter;

mod registry;

pub use registry::{Family, HasRegistry, Metric, Registry};

/// Starts logging to stderr, filtered by `MOAT_LOG` (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MOAT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(|| LossyStderr)
        // Colour only for a person at a terminal: `moat up` and log files
        // get plain text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
}

/// Stderr that never fails. A service's stderr is often a pipe to `moat up`
/// or a log collector; once the reader is gone, writes fail with EPIPE, and
/// tracing-subscriber reports a failed write with `eprintln!`, which panics
/// on the same broken pipe, in whatever task was logging (the signal task
/// included, so a service whose supervisor died could never stop). Lost log
/// lines are the lesser harm.
struct LossyStderr;

impl std::io::Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// A token cancelled on SIGTERM or Ctrl-C; `what` says what the service then
/// does (logged), e.g. "draining running jobs". Must be called inside a runtime.
pub fn shutdown_on_signals(what: &'static str) -> CancellationToken {
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        // Cancel first: nothing on the way to the log may keep a service
        // from stopping.
        signal.cancel();
        tracing::info!("shutting down: {what}");
    });
    shutdown
}

/// Runs `service` to its end, but no longer than `limit` once `shutdown` is
/// cancelled: `None` means it overran (a dependency that is gone can leave a
/// flush or a drain waiting forever), and the caller exits anyway. A service
/// told to stop always stops.
pub async fn bounded_stop<T>(
    service: impl std::future::Future<Output = T>,
    shutdown: CancellationToken,
    limit: std::time::Duration,
) -> Option<T> {
    tokio::pin!(service);
    tokio::select! {
        out = &mut service => return Some(out),
        () = shutdown.cancelled() => {}
    }
    match tokio::time::timeout(limit, service).await {
        Ok(out) => Some(out),
        Err(_) => {
            tracing::error!(
                limit_ms = limit.as_millis() as u64,
                "did not stop in time; exiting anyway"
            );
            None
        }
    }
}

/// How long past its own drain a service may take to stop once told to.
pub const STOP_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// A service's `main` tail: runs it under [`bounded_stop`] (`drain` plus
/// [`STOP_MARGIN`]) and exits the process with 0 on a clean stop, 1 on an
/// error or an overrun. It exits rather than returns: dropping the runtime
/// waits on whatever its threads still hold, and a stopped service must be
/// gone. Work in hand is safe in the queue (unacknowledged runs are
/// redelivered).
pub async fn serve_until_stopped<E: std::fmt::Display>(
    service: impl std::future::Future<Output = Result<(), E>>,
    shutdown: CancellationToken,
    drain: std::time::Duration,
) -> ! {
    let code = match bounded_stop(service, shutdown, drain + STOP_MARGIN).await {
        Some(Ok(())) => 0,
        Some(Err(e)) => {
            // Not `eprintln!`, which panics when stderr is a broken pipe.
            let _ = writeln!(std::io::stderr(), "error: {e}");
            1
        }
        None => 1,
    };
    std::process::exit(code)
}

/// What `/metrics` and `/healthz` report.
pub trait Health: Send + Sync + 'static {
    /// The Prometheus text exposition.
    fn render(&self) -> String;
    /// Whether `/healthz` answers 200 (else 503).
    fn is_ready(&self) -> bool;
    /// Housekeeping [`serve`] does every few seconds (a [`Registry`] moves
    /// histogram samples into their buckets); nothing by default.
    fn upkeep(&self) {}
}

/// The `/metrics` and `/healthz` routes over `health`.
pub fn routes<H: Health>(
    health: Arc<H>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    use warp::Reply as _;
    let h = health.clone();
    let metrics = warp::path!("metrics").map(move || {
        warp::reply::with_header(h.render(), "content-type", "text/plain; version=0.0.4")
            .into_response()
    });
    let ready = warp::path!("healthz").map(move || {
        let (body, status) = if health.is_ready() {
            ("ok".to_owned(), warp::http::StatusCode::OK)
        } else {
            (
                "not ready".to_owned(),
                warp::http::StatusCode::SERVICE_UNAVAILABLE,
            )
        };
        warp::reply::with_status(body, status).into_response()
    });
    warp::get().and(metrics.or(ready).unify())
}

/// How often [`serve`] runs [`Health::upkeep`].
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves [`routes`] on `listener` until `shutdown`, running
/// [`Health::upkeep`] every few seconds meanwhile.
pub async fn serve<H: Health>(
    health: Arc<H>,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) {
    let upkeep = {
        let (health, shutdown) = (health.clone(), shutdown.clone());
        async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => health.upkeep(),
                    () = shutdown.cancelled() => break,
                }
            }
        }
    };
    let server = warp::serve(routes(health))
        .incoming(listener)
        .graceful(async move { shutdown.cancelled().await })
        .run();
    tokio::join!(server, upkeep);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_service_that_hangs_on_the_way_out_is_cut_off() {
        let shutdown = CancellationToken::new();
        let stuck = {
            let shutdown = shutdown.clone();
            async move {
                shutdown.cancelled().await;
                std::future::pending::<()>().await
            }
        };
        shutdown.cancel();
        let limit = std::time::Duration::from_secs(3);
        let started = tokio::time::Instant::now();
        assert_eq!(bounded_stop(stuck, shutdown.clone(), limit).await, None);
        assert_eq!(started.elapsed(), limit);
        // A service that finishes is not cut off.
        assert_eq!(bounded_stop(async { 7 }, shutdown, limit).await, Some(7));
    }

    struct Fake(AtomicBool);
    impl Health for Fake {
        fn render(&self) -> String {
            "# HELP x a metric\nx 1\n".into()
        }
        fn is_ready(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn a_registry_renders_its_metrics_under_its_prefix() {
        let registry = Registry::new("moat_test", &[]);
        registry.counter("hits_total", "Hits").increment(1);
        assert!(registry.render().contains("moat_test_hits_total 1"));
        assert!(!registry.is_ready());
        registry.set_ready(true);
        assert!(registry.is_ready());
    }

    #[tokio::test]
    async fn metrics_and_health_answer() {
        let health = Arc::new(Fake(AtomicBool::new(false)));
        let routes = routes(health.clone());
        let resp = warp::test::request().path("/metrics").reply(&routes).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.body(), "# HELP x a metric\nx 1\n");
        let resp = warp::test::request().path("/healthz").reply(&routes).await;
        assert_eq!(resp.status(), 503);
        health.0.store(true, Ordering::SeqCst);
        let resp = warp::test::request().path("/healthz").reply(&routes).await;
        assert_eq!(
            (resp.status().as_u16(), resp.body().as_ref()),
            (200, &b"ok"[..])
        );
    }
}
