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
    }
}
