//! `moat-egress`: parses its configuration, binds its metrics port, and
//! serves scripts' fetches until SIGTERM or Ctrl-C, then finishes the
//! requests in hand.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    moat_ops::init_tracing();
    let config = moat_egress::config::Config::parse();
    let listener = tokio::net::TcpListener::bind(config.metrics_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.metrics_addr))?;
    let shutdown = moat_ops::shutdown_on_signals("finishing the requests in hand");
    let drain = config.drain();
    moat_ops::serve_until_stopped(
        moat_egress::run(config, listener, shutdown.clone()),
        shutdown,
        drain,
    )
    .await
}
