//! The command line: one typed definition of every subcommand and flag.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exec::{self, ExecConfig};

/// moat runs untrusted JavaScript in layers of sandboxes.
#[derive(Debug, Parser)]
#[command(name = "moat", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a script through moat-runner on this host, for development.
    ///
    /// There is no OS sandbox here (no gVisor): only the runner's own limits.
    Exec(Box<ExecArgs>),
    /// Run a script on a moat server: live output, files, outcome.
    ///
    /// Exits 0 only when the run's outcome is `ok`; otherwise with the
    /// outcome's code (1 when the server could not be reached or refused).
    Run(RunArgs),
    /// Start the whole system on this machine (root): NATS, containerd,
    /// launchers, the recorder and the edge; Ctrl-C stops it all.
    Up(UpArgs),
    /// Manage tenants' API keys (in the database the edge reads).
    Keys {
        /// The database (SQLite file or PostgreSQL URL).
        #[arg(long, env = "MOAT_DATABASE_URL", default_value = moat_db::DEFAULT_URL, global = true)]
        database_url: String,
        /// What to do.
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// `moat keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for a tenant; prints the key (once) on stdout.
    Create {
        /// The tenant the key names.
        #[arg(long)]
        tenant: String,
        /// The tenant's plan.
        #[arg(long, default_value = "standard")]
        plan: String,
        /// A note for operators.
        #[arg(long)]
        label: Option<String>,
    },
    /// List keys (never the keys themselves).
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a key by its id (`key_…`).
    Revoke {
        /// The key's id, from `moat keys list`.
        id: String,
    },
    /// Show or set a tenant's own network rules, applied to its runs on top
    /// of the operator's policy (they can only refuse more). With no rule
    /// given, shows them; `--clear` removes them.
    Egress {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The only domains its scripts may reach (comma-separated; each
        /// with its subdomains), together with `--only-nets`.
        #[arg(long)]
        only_domains: Option<String>,
        /// The only nets its scripts may reach (CIDRs), with `--only-domains`.
        #[arg(long)]
        only_nets: Option<String>,
        /// Domains its scripts may never reach.
        #[arg(long)]
        deny_domains: Option<String>,
        /// Nets its scripts may never reach.
        #[arg(long)]
        deny_nets: Option<String>,
        /// Remove the tenant's rules.
        #[arg(long, conflicts_with_all = ["only_domains", "only_nets", "deny_domains", "deny_nets"])]
        clear: bool,
    },
}

/// Arguments of `moat exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The ES module to run.
    pub file: PathBuf,
    /// Wall-clock deadline in milliseconds, idle waits included.
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
    /// JS heap limit in MiB.
    #[arg(long, default_value_t = 64)]
    pub memory_mb: u64,
    /// Module whitelist directory (holding modules.json).
    #[arg(long, env = "MOAT_MODULES", value_name = "DIR")]
    pub modules: Option<PathBuf>,
    /// Write the files the script saves into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the runner's frames unchanged (JSON lines) instead of text.
    #[arg(long)]
    pub json: bool,
    /// The moat-runner binary (default: next to this program).
    #[arg(long, env = "MOAT_RUNNER", value_name = "PATH")]
    pub runner: Option<PathBuf>,
    /// Give the script a browser (implied when it imports moat:browser,
    /// puppeteer or puppeteer-core).
    #[arg(long)]
    pub browser: bool,
    /// The Chromium the runner starts for a browser run.
    #[arg(
        long,
        env = "MOAT_CHROMIUM",
        value_name = "PATH",
        default_value = "/usr/lib/chromium/chromium"
    )]
    pub chromium: PathBuf,
    /// The network policy the script's fetches are made under, as
    /// `moat-egress` applies it.
    #[command(flatten)]
    pub egress: moat_egress::config::FetchArgs,
}

/// Arguments of `moat run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The ES module to run.
    pub file: PathBuf,
    /// The moat server (its edge).
    #[arg(long, env = "MOAT_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An API key (runs as its tenant; anonymous without).
    #[arg(long, env = "MOAT_API_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Download the files the script saves into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Wall-clock deadline in ms (the server's default if unset).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// JS heap limit in MiB (the server's default if unset).
    #[arg(long)]
    pub memory_mb: Option<u64>,
    /// Run with a browser (Chromium in the sandbox, `moat:browser`); a
    /// script that imports moat:browser or puppeteer gets one without it.
    #[arg(long)]
    pub browser: bool,
    /// Print the events unchanged (JSON lines) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print where the run's time went: submit→first event and →result as
    /// this client saw them, and the launcher's stages (queue, acquire,
    /// start, execution, result).
    #[arg(long)]
    pub timings: bool,
}

/// Arguments of `moat up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Where state lives: NATS and containerd data, the database, files.
    #[arg(long, default_value = ".run")]
    pub dir: PathBuf,
    /// The edge's address (the playground and the API).
    #[arg(long, env = "MOAT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// nats-server's port on 127.0.0.1 (a cluster's nodes take the next ones too).
    #[arg(long, default_value_t = 4222)]
    pub nats_port: u16,
    /// NATS servers: 1, or 3 or 5 for a JetStream cluster on loopback whose
    /// streams keep that many copies (client ports from --nats-port, then
    /// the cluster ports).
    #[arg(long, default_value_t = 1)]
    pub nats_nodes: u16,
    /// The edge's metrics port; the recorder's is the next, the launchers' follow.
    #[arg(long, default_value_t = 9100)]
    pub metrics_port: u16,
    /// How many launchers to run.
    #[arg(long, default_value_t = 1)]
    pub launchers: u16,
    /// The sandbox rootfs (`just rootfs` builds it).
    #[arg(long, env = "MOAT_ROOTFS", default_value = ".run/rootfs")]
    pub rootfs: PathBuf,
    /// The browser profile's rootfs (`just rootfs-browser` builds it); without
    /// it, browser runs are told that no browser is installed.
    #[arg(
        long,
        env = "MOAT_BROWSER_ROOTFS",
        default_value = ".run/rootfs-browser"
    )]
    pub browser_rootfs: PathBuf,
    /// The web playground's bundle (`just web` builds it).
    #[arg(long, env = "MOAT_WEB_DIR", default_value = "web/dist")]
    pub web_dir: PathBuf,
    /// The repository's scripts directory (nats.sh, containerd.sh).
    #[arg(long, default_value = "scripts")]
    pub scripts: PathBuf,
    /// Where moat-edge, moat-launcher and moat-recorder are (default: beside moat).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
}

/// Runs the chosen command; the exit code is the command's answer.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Exec(args) => {
            let config = ExecConfig::from_args(*args)?;
            let outcome = exec::exec(&config)?;
            Ok(ExitCode::from(outcome.exit_code()))
        }
        Command::Run(args) => {
            let outcome = runtime()?.block_on(crate::run::run(args))?;
            Ok(ExitCode::from(outcome.exit_code()))
        }
        Command::Up(args) => {
            let layout = crate::up::Layout::from_args(&args)?;
            runtime()?.block_on(async {
                let shutdown = crate::up::stop_on_signals()?;
                crate::up::up(layout, shutdown).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            database_url,
            command,
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(crate::keys::keys(&database_url, command))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The async runtime for the commands that talk to servers.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}
