//! What the edge's integration tests share: the dependencies against a real
//! nats-server and a fresh SQLite file, and the edge's own server on a
//! loopback port.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use moat_edge::allow::AllowList;
use moat_edge::rate_limit::{Policy, Rate, RateLimits};
use moat_edge::routes::Deps;
use moat_edge::server::ServerSettings;
use moat_edge::token::Tokens;
use moat_queue::{Prefixes, QueueLimits, Role};
use moat_testkit::Nats;
use tokio_util::sync::CancellationToken;

/// The trusted proxy's address in these tests.
pub const PROXY: &str = "10.9.9.9";

/// Rate limits that let everything through unless a test says otherwise.
pub fn open_policy(anon: &str) -> Policy {
    Policy {
        tenant: Rate::parse("100/100/1000").unwrap(),
        anonymous: Rate::parse(anon).unwrap(),
        path: Rate::parse("1000/1000/1000").unwrap(),
        client_path: Rate::parse("1000/1000/1000").unwrap(),
        allow: AllowList::default(),
        max_buckets: 1000,
    }
}

/// The streams, each anonymous client allowed `anon_queued` queued runs.
pub fn queue_limits(anon_queued: i64) -> QueueLimits {
    QueueLimits {
        anon_per_client: anon_queued,
        ..QueueLimits::default()
    }
}

/// JetStream as a launcher, for tests that play one (publishing events).
pub async fn launcher_js(nats: &Nats) -> async_nats::jetstream::Context {
    async_nats::jetstream::new(nats.connect(Role::Launcher).await)
}

/// JetStream with every right, for the test's own look at the streams.
pub async fn observer_js(nats: &Nats) -> async_nats::jetstream::Context {
    async_nats::jetstream::new(nats.admin().await)
}

/// Dependencies on `nats` (as the edge's user) and a new database, the
/// streams created.
pub async fn setup(nats: &Nats, policy: Policy, queue: QueueLimits) -> (Deps, async_nats::Client) {
    let client = nats.connect(Role::Edge).await;
    let db_dir = tempfile::tempdir().unwrap().keep();
    let db = moat_db::connect(&format!("sqlite://{}/moat.db?mode=rwc", db_dir.display()))
        .await
        .unwrap();
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(Duration::from_secs(2));
    // The launchers create the streams; the edge may not.
    moat_queue::ensure_streams(
        &launcher_js(nats).await,
        moat_queue::streams::all_streams(&queue),
    )
    .await
    .unwrap();
    let deps = Deps {
        js,
        db,
        metrics: moat_edge::metrics::Metrics::new(),
        store: moat_store::open_store(&moat_store::StoreConfig::Local {
            dir: db_dir.join("files"),
        })
        .await
        .unwrap(),
        limits: Arc::new(RateLimits::new(policy)),
        tokens: Tokens::new(b"a test secret of enough length"),
        trusted_proxies: Arc::new(vec![PROXY.parse().unwrap()]),
        max_body_bytes: 64 * 1024,
        anon_max_timeout_ms: 10_000,
        anon_max_memory_mb: 128,
        anon_browser: true,
        anon_max_browser_timeout_ms: 20_000,
        tenant_max_timeout_ms: 60_000,
        tenant_max_memory_mb: 512,
        playground: Default::default(),
        sessions: moat_edge::sessions::SessionLimits::new(8),
        prefixes: Prefixes::default(),
        body_timeout: Duration::from_secs(15),
        shutdown: CancellationToken::new(),
    };
    (deps, client)
}

/// Server settings for tests: `conns` connections per client.
pub fn settings(deps: &Deps, conns: usize, header_timeout: Duration) -> ServerSettings {
    ServerSettings {
        header_timeout,
        write_stall: Duration::from_secs(30),
        conns: moat_edge::connections::ConnLimits::new(conns, deps.prefixes, vec![]),
        drain: Duration::from_secs(5),
        metrics: deps.metrics.clone(),
    }
}

/// Serves the routes through the edge's own server on a loopback port, as
/// the edge does, for real clients; stops when `deps.shutdown` is cancelled.
pub async fn serve_with(
    deps: Deps,
    client: async_nats::Client,
    settings: ServerSettings,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = deps.shutdown.clone();
    let task = tokio::spawn(moat_edge::server::serve(
        listener,
        moat_edge::routes(deps, client),
        settings,
        shutdown,
    ));
    (addr, task)
}

/// [`serve_with`] with generous limits.
pub async fn serve(deps: Deps, client: async_nats::Client) -> SocketAddr {
    let settings = settings(&deps, 1000, Duration::from_secs(10));
    serve_with(deps, client, settings).await.0
}
