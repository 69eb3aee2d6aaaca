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
    Exec(ExecArgs),
    /// Manage tenants' API keys (in the database the edge reads).
    Keys {
        /// The database (SQLite file or PostgreSQL URL).
        #[arg(long, env = "MOAT_DATABASE_URL", default_value = moat_recorder::db::DEFAULT_URL, global = true)]
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
}

/// Runs the chosen command; the exit code is the command's answer.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Exec(args) => {
            let config = ExecConfig::from_args(args)?;
            let outcome = exec::exec(&config)?;
            Ok(ExitCode::from(outcome.exit_code()))
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
