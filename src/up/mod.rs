//! `moat up`: the whole system on one machine, for `just up`. Starts
//! nats-server and containerd (through the project's scripts, in the
//! foreground), the recorder, one or more launchers and the edge, with the
//! embedded defaults (SQLite, local file store); supervises them; and on
//! Ctrl-C stops them in the reverse order, so launchers drain their runs
//! while NATS and containerd are still there.
//!
//! - `layout`: where everything lives (under `.run/`) and listens;
//! - `preflight`: the checks that refuse to start, each with its fix;
//! - `stages`: the services by stage, started in order, stopped in reverse;
//! - `probes`: how a stage is known to be ready.

mod layout;
mod preflight;
mod probes;
mod stages;

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::supervise::{Log, Supervised};

pub use layout::Layout;

/// Why `moat up` will not start.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// Prerequisites are missing; each line says what and how to fix it.
    #[error("moat up cannot start:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Missing(Vec<String>),
    /// The run directory cannot be used.
    #[error("cannot use {path}: {source}")]
    Dir {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A token cancelled by the first SIGINT, SIGTERM or SIGHUP (a closed
/// terminal); a second one ends `moat up` at once (its services then get
/// SIGTERM through their parent-death signal). Registered before it returns,
/// so no signal is missed.
pub fn stop_on_signals() -> Result<CancellationToken, UpError> {
    use tokio::signal::unix::{signal, SignalKind};
    let register = |kind| {
        signal(kind).map_err(|source| UpError::Dir {
            path: PathBuf::from("(signal handler)"),
            source,
        })
    };
    let mut int = register(SignalKind::interrupt())?;
    let mut term = register(SignalKind::terminate())?;
    let mut hup = register(SignalKind::hangup())?;
    let shutdown = CancellationToken::new();
    let signalled = shutdown.clone();
    tokio::spawn(async move {
        for round in 0..2 {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            if round == 0 {
                signalled.cancel();
            }
        }
        eprintln!("moat up: a second signal: stopping now, without draining");
        std::process::exit(130);
    });
    Ok(shutdown)
}

/// Runs everything until `shutdown`, then stops it all in reverse order.
pub async fn up(layout: Layout, shutdown: CancellationToken) -> Result<(), UpError> {
    let missing = layout.missing();
    if !missing.is_empty() {
        return Err(UpError::Missing(missing));
    }
    let planned = layout.stages(&layout.secret()?, &layout.nats_users()?);
    let width = planned
        .iter()
        .flatten()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(8)
        .max("moat up".len());
    let log = Log::new(width);
    log.say(&format!("starting in {}", layout.dir.display()));
    let mut running: Vec<Vec<Supervised>> = Vec::new();
    for (i, stage) in planned.into_iter().enumerate() {
        if shutdown.is_cancelled() {
            break;
        }
        running.push(stages::start(stage, &log));
        let ready = stages::ready(&layout, i, &log, &shutdown).await;
        if !ready && shutdown.is_cancelled() {
            break;
        }
    }
    if !shutdown.is_cancelled() {
        banner(&layout, &log);
        shutdown.cancelled().await;
    }
    log.say("stopping (the launchers drain their runs first)");
    stages::stop(&layout, running, &log).await;
    log.say("stopped");
    log.flush();
    Ok(())
}

/// What to do now that it is up.
fn banner(layout: &Layout, log: &Log) {
    let url = format!("http://{}", layout.listen);
    let moat = std::env::current_exe()
        .ok()
        .map(|exe| {
            let cwd = std::env::current_dir().unwrap_or_default();
            exe.strip_prefix(&cwd)
                .map(Path::to_path_buf)
                .unwrap_or(exe)
                .display()
                .to_string()
        })
        .unwrap_or_else(|| "moat".into());
    let server = if layout.listen.to_string() == "127.0.0.1:8080" {
        String::new()
    } else {
        format!(" --server {url}")
    };
    log.say("moat is up.");
    log.say(&format!("  playground  {url}/"));
    log.say(&format!(
        "  try         {moat} run{server} examples/hello.js"
    ));
    log.say(&format!(
        "  metrics     http://127.0.0.1:{}/metrics (edge; recorder +1, launchers +2…, egress after them)",
        layout.metrics_port
    ));
    log.say("  Ctrl-C stops everything.");
}
