//! moat's launcher: takes runs from the queue and runs each in its own gVisor
//! sandbox through containerd, treating everything the sandbox says as
//! hostile. It holds the credentials (NATS, the object store); user code
//! never touches it, and it never runs user code itself.
//!
//! - [`config`]: flags and validation;
//! - [`worker`]: take a run fairly (`moat_queue::Dispatcher`), run it,
//!   publish, acknowledge; drain;
//! - [`dead_letters`]: runs whose last attempt died with its launcher;
//! - [`run`]: one run in one sandbox, with the launcher's own deadline;
//! - [`pool`]: sandboxes started ahead of demand, each used once;
//! - [`sandbox`], [`spec`]: containerd + runsc, and the sandbox's boundary;
//! - [`frames`], [`sniff`]: the hostile-output decoder;
//! - host calls (`fetch`): answered under the run's budget by
//!   `moat_egress::session`, through `moat-egress` over NATS;
//! - [`events`], [`store`]: where output goes;
//! - [`metrics`]: `/metrics` and `/healthz`.

pub mod config;
pub mod dead_letters;
pub mod events;
pub mod frames;
pub mod metrics;
pub mod pool;
pub mod run;
pub mod sandbox;
pub mod sniff;
pub mod spec;
pub mod worker;

/// The object store, from `moat-store` (the edge reads what the launcher writes).
pub use moat_store as store;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::pool::Pool;
use crate::run::RunSettings;
use crate::sandbox::Sandboxes;
use crate::worker::Worker;

/// Why the launcher could not start (or stopped early).
#[derive(Debug, thiserror::Error)]
pub enum LauncherError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// NATS cannot be reached.
    #[error("cannot connect to NATS at {url}: {message}")]
    Nats {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// Streams could not be set up.
    #[error(transparent)]
    Setup(#[from] moat_queue::SetupError),
    /// The dispatcher could not start.
    #[error(transparent)]
    Dispatch(#[from] moat_queue::dispatch::DispatchError),
    /// containerd cannot be used.
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
    /// The object store cannot be opened.
    #[error("object store: {0}")]
    Store(String),
}

/// Runs the launcher until `shutdown` is cancelled, then drains and returns.
/// `metrics_listener` serves `/metrics` and `/healthz`.
pub async fn run(
    config: Config,
    metrics_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), LauncherError> {
    config.validate()?;
    let metrics = Metrics::new();
    let server = tokio::spawn(moat_ops::serve(
        metrics.clone(),
        metrics_listener,
        shutdown.clone(),
    ));

    let client = moat_queue::connect(&config.nats_url, &config.nats, moat_queue::Role::Launcher)
        .await
        .map_err(|e| LauncherError::Nats {
            url: config.nats_url.clone(),
            message: e.to_string(),
        })?;
    let js = async_nats::jetstream::new(client.clone());
    moat_queue::streams::ensure_streams_patiently(
        &js,
        match config.stream_replicas {
            Some(n) => moat_queue::streams::replicated(
                moat_queue::streams::all_streams(&config.queue_limits()),
                n,
            ),
            None => moat_queue::streams::all_streams(&config.queue_limits()),
        },
        Duration::from_secs(60),
    )
    .await?;
    remove_legacy_consumer(&js).await;

    let sandboxes = Sandboxes::connect(config.sandbox()).await?;
    let swept = sandboxes.sweep().await?;
    if swept > 0 {
        tracing::info!(swept, "removed sandboxes left by a previous run");
    }

    let store_config = config
        .store
        .config()
        .map_err(|e| LauncherError::Config(config::ConfigError(e)))?;
    let store = store::open_store(&store_config)
        .await
        .map_err(|e| LauncherError::Store(e.to_string()))?;

    let dispatcher = moat_queue::Dispatcher::start(js.clone(), config.dispatch()).await?;
    // Last before work starts, so no early return leaves a pool filling.
    let pool = Pool::start(sandboxes, config.pool(), metrics.clone());
    let worker = Worker {
        js,
        pool: pool.clone(),
        store,
        metrics: metrics.clone(),
        settings: RunSettings {
            grace: Duration::from_millis(config.kill_grace_ms),
            ..RunSettings::default()
        },
        max_deliver: config.max_deliver,
        ack_wait: config.ack_wait(),
        browser_slots: Arc::new(tokio::sync::Semaphore::new(config.browser_slots)),
        egress: match config.egress {
            config::EgressMode::Nats => {
                Arc::new(moat_egress::client::NatsEgress::new(client.clone()))
            }
            config::EgressMode::None => Arc::new(moat_egress::session::NoEgress),
        },
        budgets: (
            config.budget(moat_queue::Plan::Anonymous),
            config.budget(moat_queue::Plan::Tenant),
        ),
    };
    let dead = tokio::spawn(dead_letters::run(
        worker.clone(),
        client.clone(),
        shutdown.clone(),
    ));
    metrics.ops.set_ready(true);
    tracing::info!(slots = config.slots(), nats = %config.nats_url, "launcher ready");
    worker::consume(
        worker,
        dispatcher,
        config.slots(),
        Duration::from_millis(config.drain_ms),
        shutdown.clone(),
    )
    .await;
    metrics.ops.set_ready(false);
    let pooled = pool.close().await;
    tracing::info!(pooled, "destroyed the warm pool");
    let _ = dead.await;
    // Bounded: with NATS gone a flush would wait for a reconnect forever.
    let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
    let _ = server.await;
    Ok(())
}

/// Earlier releases had one FIFO consumer, `launcher`, on all of RUNS; on a
/// work-queue stream it would overlap every per-client consumer, so it goes.
async fn remove_legacy_consumer(js: &async_nats::jetstream::Context) {
    if let Ok(stream) = js.get_stream(moat_queue::subjects::RUNS).await {
        if stream.delete_consumer("launcher").await.is_ok() {
            tracing::info!("removed the legacy FIFO consumer `launcher`");
        }
    }
}
