//! `moat`: the command-line program. Parses arguments and hands off to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = moat::cli::Cli::parse();
    match moat::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("moat: {e:#}");
            ExitCode::FAILURE
        }
    }
}
