//! moat's edge: the public HTTP and WebSocket API. It sheds abuse before it
//! costs anything (rate limits first), publishes runs to the queue, and
//! streams their events; it never runs code.
//!
//! - [`server`], [`connections`], [`body`]: the accept loop, connections per
//!   client, header and body timeouts, body size caps;
//! - [`rate_limit`], [`allow`], [`client_ip`], [`auth`]: who is asking, and
//!   whether they may;
//! - [`routes`]: the API's dependencies, routes and error mapping, composed
//!   from [`submit`] (queue a run), [`events`] (stream its events),
//!   [`records`] (its record and files) and [`usage`];
//! - [`errors`]: one JSON error shape and status mapping;
//! - [`token`]: per-run tokens;
//! - [`sessions`]: WebSocket sessions per client;
//! - [`config`]: flags and validation;
//! - [`playground`]: the web page at `/`, a client of the same API;
//! - [`metrics`]: requests, refusals, WebSocket sessions, submit latency.
//!
//! Files are served from the object store the launcher wrote them to.

pub mod allow;
pub mod auth;
pub mod body;
pub mod client_ip;
pub mod config;
pub mod connections;
pub mod errors;
pub mod events;
pub mod metrics;
pub mod playground;
pub mod rate_limit;
pub mod records;
pub mod routes;
pub mod server;
pub mod sessions;
pub mod submit;
pub mod token;
pub mod usage;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use warp::Filter;

use crate::config::Config;

/// Why the edge could not start.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
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
    /// The database cannot be opened or migrated.
    #[error(transparent)]
    Db(#[from] moat_db::DbError),
    /// The playground's directory cannot be read.
    #[error("cannot read the web playground in {dir}: {message}")]
    Web {
        /// The directory.
        dir: String,
        /// Why.
        message: String,
    },
    /// The object store cannot be opened.
    #[error("object store: {0}")]
    Store(#[from] moat_store::StoreError),
}

/// Every route, with errors turned into JSON and every answer counted.
pub fn routes(
    deps: routes::Deps,
    nats: async_nats::Client,
) -> impl Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible> + Clone {
    use warp::Reply as _;
    let health = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"ok": true})).into_response());
    let db = deps.db.clone();
    let ready = warp::path!("readyz").and(warp::get()).then(move || {
        let (nats, db) = (nats.clone(), db.clone());
        async move {
            let nats_up = nats.connection_state() == async_nats::connection::State::Connected;
            let db_up = db.ping().await.is_ok();
            let status = if nats_up && db_up {
                warp::http::StatusCode::OK
            } else {
                warp::http::StatusCode::SERVICE_UNAVAILABLE
            };
            let body = serde_json::json!({"nats": nats_up, "database": db_up});
            warp::reply::with_status(warp::reply::json(&body), status).into_response()
        }
    });
    let (counted, refused) = (deps.metrics.clone(), deps.metrics.clone());
    let page = deps.playground.clone().routes();
    health
        .or(ready)
        .unify()
        .or(routes::handlers(deps))
        .unify()
        .or(page)
        .unify()
        .recover(move |rejection: warp::Rejection| {
            let metrics = refused.clone();
            async move {
                let (resp, code) = routes::rejection_response(&rejection);
                metrics.refusals.with(&[code]).increment(1);
                Ok::<_, std::convert::Infallible>(resp)
            }
        })
        .unify()
        .with(warp::log::custom(move |info| {
            let route = metrics::route_name(info.method(), info.path());
            counted
                .requests
                .with(&[route, info.status().as_str()])
                .increment(1);
        }))
        .map(warp::Reply::into_response)
}

/// Runs the edge on `listener` until `shutdown`; `/metrics` and `/healthz`
/// on `metrics_listener` (kept off the public port).
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    metrics_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), EdgeError> {
    config.validate()?;
    let client = moat_queue::connect(&config.nats_url, &config.nats, moat_queue::Role::Edge)
        .await
        .map_err(|e| EdgeError::Nats {
            url: config.nats_url.clone(),
            message: e.to_string(),
        })?;
    let secret = match &config.secret {
        Some(s) => s.as_bytes().to_vec(),
        None => {
            tracing::warn!("MOAT_EDGE_SECRET is not set: run tokens will not survive a restart");
            uuid::Uuid::new_v4()
                .as_bytes()
                .iter()
                .chain(uuid::Uuid::new_v4().as_bytes())
                .copied()
                .collect()
        }
    };
    let db = moat_db::connect(&config.database_url).await?;
    let store_config = config.store.config().map_err(config::ConfigError)?;
    let store = moat_store::open_store(&store_config).await?;
    let playground = playground::Playground::load(&config.web_dir).map_err(|e| EdgeError::Web {
        dir: config.web_dir.display().to_string(),
        message: e.to_string(),
    })?;
    if !playground.is_built() {
        tracing::warn!(dir = %config.web_dir.display(), "no web playground there: `just web` builds it");
    }
    let metrics = metrics::Metrics::new();
    let ops = tokio::spawn(moat_ops::serve(
        metrics.clone(),
        metrics_listener,
        shutdown.clone(),
    ));
    let prefixes = config.prefixes()?;
    let limits = Arc::new(rate_limit::RateLimits::new(config.policy()?));
    // The allow-listed tenants are known before the first request.
    allow::refresh(&db, &limits).await?;
    let refresher = tokio::spawn(allow::keep_fresh(
        db.clone(),
        limits.clone(),
        shutdown.clone(),
    ));
    let deps = routes::Deps {
        js: async_nats::jetstream::new(client.clone()),
        db: db.clone(),
        metrics: metrics.clone(),
        store,
        limits,
        tokens: token::Tokens::new(&secret),
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        max_body_bytes: config.max_body_bytes,
        anon_max_timeout_ms: config.anon_max_timeout_ms,
        anon_max_memory_mb: config.anon_max_memory_mb,
        anon_browser: config.anon_browser,
        anon_max_browser_timeout_ms: config.anon_max_browser_timeout_ms,
        tenant_max_timeout_ms: config.tenant_max_timeout_ms,
        tenant_max_memory_mb: config.tenant_max_memory_mb,
        playground,
        sessions: sessions::SessionLimits::new(config.ws_per_client),
        prefixes,
        body_timeout: config.body_timeout(),
        shutdown: shutdown.clone(),
    };
    let settings = server::ServerSettings {
        header_timeout: config.header_timeout(),
        write_stall: config.write_stall(),
        conns: connections::ConnLimits::new(
            config.conn_per_client,
            prefixes,
            config.trusted_proxies.clone(),
        ),
        drain: config.drain(),
        metrics: metrics.clone(),
    };
    tracing::info!(listen = %config.listen, "edge ready");
    metrics.ops.set_ready(true);
    server::serve(listener, routes(deps, client), settings, shutdown.clone()).await;
    metrics.ops.set_ready(false);
    let _ = refresher.await;
    let _ = ops.await;
    db.close().await.map_err(moat_db::DbError::from)?;
    Ok(())
}
