//! `moat-launcher`: parses its configuration, binds, and runs until SIGTERM or
//! Ctrl-C, then drains.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    moat_ops::init_tracing();
    let config = moat_launcher::config::Config::parse();
    let listener = tokio::net::TcpListener::bind(config.metrics_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.metrics_addr))?;
    let shutdown = moat_ops::shutdown_on_signals("draining running jobs");
    let drain = std::time::Duration::from_millis(config.drain_ms);
    moat_ops::serve_until_stopped(
        moat_launcher::run(config, listener, shutdown.clone()),
        shutdown,
        drain,
    )
    .await
}
