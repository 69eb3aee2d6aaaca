//! The whole service: connect to NATS, build the fetcher from the
//! configuration, serve `/metrics` and `/healthz`, and answer fetches until
//! told to stop.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::fetch::Fetcher;
use crate::metrics::Metrics;
use crate::serve::{serve, ServeError};

/// Why the service could not start (or stopped early).
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The fetcher could not be built (TLS roots, user agent).
    #[error("the HTTP client cannot start: {0}")]
    Fetcher(#[from] crate::fetch::ConfigError),
    /// NATS could not be reached.
    #[error("cannot connect to NATS at {url}: {message}")]
    Nats {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The fetch subject could not be served.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// Runs the egress service until `shutdown` is cancelled, then lets the
/// requests in hand finish (`MOAT_DRAIN_MS`).
pub async fn run(
    config: Config,
    metrics_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), EgressError> {
    if config.max_in_hand == 0 {
        return Err(ConfigError("--max-in-hand must be at least 1".into()).into());
    }
    let fetcher = Arc::new(Fetcher::new(config.fetch.fetcher()?)?);
    let plans = Arc::new(config.fetch.plan_policies()?);
    let metrics = Metrics::new();
    let server = tokio::spawn(moat_ops::serve(
        metrics.clone(),
        metrics_listener,
        shutdown.clone(),
    ));
    let result = async {
        let nats = moat_queue::connect(&config.nats_url, &config.nats, moat_queue::Role::Egress)
            .await
            .map_err(|e| EgressError::Nats {
                url: config.nats_url.clone(),
                message: e.to_string(),
            })?;
        // With a per-host limit, this instance counts the fleet to take
        // its share of it.
        let peers = fetcher.host_rate().map(|rate| {
            let track = crate::peers::track(
                nats.clone(),
                instance_id(),
                rate.instances(),
                shutdown.clone(),
            );
            tokio::spawn(async move {
                if let Err(e) = track.await {
                    tracing::warn!(error = %e, "cannot count the egress instances; this one takes the whole per-host rate");
                }
            })
        });
        let served = serve(
            nats,
            fetcher,
            plans,
            metrics.clone(),
            config.max_in_hand,
            config.drain(),
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        if let Some(peers) = peers {
            let _ = peers.await;
        }
        served?;
        Ok(())
    }
    .await;
    metrics.ops.set_ready(false);
    shutdown.cancel();
    let _ = server.await;
    result
}

/// An id for this process among the fleet's egress instances.
fn instance_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}", std::process::id())
}
