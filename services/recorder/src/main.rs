//! `moat-recorder`: parses its configuration, binds, and runs until SIGTERM or
//! Ctrl-C, then finishes the batches in hand.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    moat_ops::init_tracing();
    let config = moat_recorder::config::Config::parse();
    let listener = tokio::net::TcpListener::bind(config.metrics_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.metrics_addr))?;
    let shutdown = moat_ops::shutdown_on_signals("finishing the batches in hand");
    let drain = std::time::Duration::ZERO;
    moat_ops::serve_until_stopped(
        moat_recorder::run(config, listener, shutdown.clone()),
        shutdown,
        drain,
    )
    .await
}
