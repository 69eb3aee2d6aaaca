//! `moat-runner`: reads one job on stdin (its first line), runs it, writes
//! frames on stdout; the rest of stdin carries the host's replies to its
//! calls (`moat_runner::hostcall`). Exit status: 0 for `ok`, otherwise the
//! outcome's code (`Outcome::exit_code`).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use moat_runner::hostcall::HostChannel;
use moat_runner::modules::ModuleMap;
use moat_runner::output::FrameWriter;
use moat_wire::{Job, Outcome, ScriptError};

/// Most bytes of job JSON read from stdin (code is capped at 1 MiB inside it).
const MAX_JOB_BYTES: u64 = 8 * 1024 * 1024;

/// Runs one untrusted ES module from a JSON job on stdin; frames on stdout.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Whitelist directory holding modules.json (specifier → file).
    #[arg(long, value_name = "DIR")]
    modules: Option<PathBuf>,
    /// Chromium, for jobs that ask for a browser (the browser profile's
    /// rootfs has it at /usr/lib/chromium/chromium).
    #[arg(long, value_name = "PATH")]
    browser: Option<PathBuf>,
}

fn main() -> ExitCode {
    let booted = Instant::now();
    let args = Args::parse();
    let writer = Arc::new(FrameWriter::new(Box::new(std::io::stdout())));
    let exit = |o: Outcome| ExitCode::from(o.exit_code());

    let modules = match &args.modules {
        Some(dir) => match ModuleMap::load(dir) {
            Ok(m) => m,
            Err(e) => {
                let error = ScriptError::new("InternalError", format!("bad module whitelist: {e}"));
                moat_runner::refuse(&writer, Outcome::InternalError, error, booted);
                return exit(Outcome::InternalError);
            }
        },
        None => ModuleMap::builtins_only(),
    };

    // Everything the job does not decide is built while it is awaited:
    // the engine with its prelude, and the threads the run will need.
    let watchdog = moat_runner::watchdog::start(writer.clone(), |o| {
        std::process::exit(i32::from(o.exit_code()))
    });
    let (calls, replies) = HostChannel::waiting(writer.clone());
    let readied = moat_runner::ready(modules, writer.clone())
        .with_browser(args.browser.clone())
        .start_browser(&calls);

    // The job is the first line (JSON has no raw newlines) or, from a host
    // that closes stdin after it, everything up to EOF.
    let mut stdin = BufReader::new(std::io::stdin());
    let mut input = Vec::new();
    let read = (&mut stdin)
        .take(MAX_JOB_BYTES + 1)
        .read_until(b'\n', &mut input);
    // The run's clock starts when its job has arrived, not when the process
    // did: a pooled runner may have waited minutes for it.
    let started = Instant::now();
    let job = match read {
        Ok(n) if n as u64 > MAX_JOB_BYTES => Err(format!("the job is over {MAX_JOB_BYTES} bytes")),
        Ok(_) => Job::from_slice_strict(input.strip_suffix(b"\n").unwrap_or(&input)),
        Err(e) => Err(format!("cannot read the job: {e}")),
    };
    let job = match job {
        Ok(job) => job,
        Err(message) => {
            moat_runner::refuse(
                &writer,
                Outcome::InvalidJob,
                ScriptError::new("InvalidJob", message),
                started,
            );
            return exit(Outcome::InvalidJob);
        }
    };

    let deadline = moat_runner::deadline_for(&job, started);
    watchdog.arm(deadline, job.timeout_ms, started);
    replies.attach(Box::new(stdin));
    let calls = Arc::new(calls);
    let outcome = readied.run(job, calls, started, deadline);
    exit(outcome)
}
