//! `moat-edge`: parses its configuration, binds, and runs until SIGTERM or
//! Ctrl-C, then closes its connections.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    moat_ops::init_tracing();
    let config = moat_edge::config::Config::parse();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let metrics = tokio::net::TcpListener::bind(config.metrics_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.metrics_addr))?;
    let shutdown = moat_ops::shutdown_on_signals("closing connections");
    let drain = config.drain();
    moat_ops::serve_until_stopped(
        moat_edge::run(config, listener, metrics, shutdown.clone()),
        shutdown,
        drain,
    )
    .await
}
