//! `moat-edge`: parses its configuration, binds, and runs until SIGTERM or
//! Ctrl-C, then closes its connections.

use clap::Parser;

/// How long past its own drain (`MOAT_DRAIN_MS`) it may take to stop once told to.
const STOP_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

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
    let limit = config.drain() + STOP_MARGIN;
    let code = match moat_ops::bounded_stop(
        moat_edge::run(config, listener, metrics, shutdown.clone()),
        shutdown,
        limit,
    )
    .await
    {
        Some(Ok(())) => 0,
        Some(Err(e)) => {
            eprintln!("error: {e}");
            1
        }
        // Something it waits on is gone for good; its work is safe in the
        // queue (unacknowledged runs are redelivered).
        None => 1,
    };
    // Exit here rather than return: dropping the runtime waits on whatever
    // its threads still hold (seen: an edge whose `moat up` was killed
    // stayed alive after its stop), and a stopped service must be gone.
    std::process::exit(code)
}
