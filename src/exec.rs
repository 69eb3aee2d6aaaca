//! `moat exec`: run a script through `moat-runner` as a child process on this
//! host. For development only: there is no OS sandbox here, just the runner's
//! own limits, and the command says so on stderr every time.
//!
//! The runner's output is handled as the launcher will handle it: frame by
//! frame, with a cap on line length, and file names checked again before
//! anything is written to disk.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use moat_wire::{Frame, Job, Outcome, ResultFrame};

use moat_egress::session::CallEvent;

use crate::cli::ExecArgs;
use crate::exec_host::ExecHost;
use crate::render::{self, Style};

/// Longest frame line accepted from the runner (a file frame is base64).
const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

/// What went wrong around the run (not inside it: those are outcomes).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The script file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The limits or the file name make an invalid job.
    #[error("invalid job: {0}")]
    Job(#[from] moat_wire::JobError),
    /// No runner binary where we looked.
    #[error("moat-runner not found at {0} (build it with `cargo build -p moat-runner`, or pass --runner)")]
    RunnerMissing(PathBuf),
    /// The output directory cannot be made.
    #[error("cannot use output directory {path}: {source}")]
    OutDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Starting or talking to the runner failed.
    #[error("runner i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The runner broke the frame protocol.
    #[error("the runner sent an invalid frame: {0}")]
    Protocol(String),
    /// The runner ended without a result frame.
    #[error("the runner ended without a result ({0})")]
    NoResult(std::process::ExitStatus),
}

/// A validated `moat exec` invocation.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// The job to send.
    pub job: Job,
    /// The whitelist directory, if any.
    pub modules: Option<PathBuf>,
    /// Where saved files go, if anywhere.
    pub out: Option<PathBuf>,
    /// Print frames unchanged.
    pub json: bool,
    /// The runner binary.
    pub runner: PathBuf,
    /// The network policy for the script's fetches.
    pub egress: moat_egress::config::FetchArgs,
    /// The Chromium for a browser run.
    pub chromium: PathBuf,
}

impl ExecConfig {
    /// Checks the arguments and reads the script.
    pub fn from_args(args: ExecArgs) -> Result<Self, ExecError> {
        let code = std::fs::read_to_string(&args.file).map_err(|source| ExecError::Read {
            path: args.file.clone(),
            source,
        })?;
        let mut job = Job::new(code);
        job.timeout_ms = args.timeout_ms;
        job.memory_mb = args.memory_mb;
        job.browser = args.browser || moat_wire::browser::imports_browser(&job.code);
        if let Some(name) = args.file.file_name().and_then(|n| n.to_str()) {
            if moat_wire::job::valid_filename(name) {
                job.filename = name.to_owned();
            }
        }
        job.validate()?;
        let runner = match args.runner {
            Some(path) => path,
            None => default_runner()?,
        };
        if !runner.is_file() {
            return Err(ExecError::RunnerMissing(runner));
        }
        if let Some(out) = &args.out {
            std::fs::create_dir_all(out).map_err(|source| ExecError::OutDir {
                path: out.clone(),
                source,
            })?;
        }
        Ok(Self {
            job,
            modules: args.modules,
            out: args.out,
            json: args.json,
            runner,
            egress: args.egress,
            chromium: args.chromium,
        })
    }
}

/// `moat-runner` beside the running executable.
fn default_runner() -> Result<PathBuf, ExecError> {
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name("moat-runner"))
}

/// Runs the job and prints it; returns the run's outcome.
pub fn exec(config: &ExecConfig) -> Result<Outcome, ExecError> {
    eprintln!("moat exec: running on this host with no OS sandbox (development only)");
    let mut cmd = Command::new(&config.runner);
    if let Some(dir) = &config.modules {
        cmd.arg("--modules").arg(dir);
    }
    if config.job.browser {
        cmd.arg("--browser").arg(&config.chromium);
    }
    // The runner gets no environment of ours: the same rule as in the sandbox.
    cmd.env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn()?;
    let mut job = serde_json::to_vec(&config.job).expect("jobs always serialise");
    job.push(b'\n');
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // A runner that exits early closes its stdin; its result says why.
    let _ = stdin.write_all(&job);
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(config.job.timeout_ms);
    // The rest of stdin carries the answers to the script's fetches.
    let host = match ExecHost::start(stdin, &config.egress, deadline, !config.json) {
        Ok(host) => Some(host),
        Err(e) => {
            eprintln!("moat exec: fetch is unavailable: {e}");
            None
        }
    };

    let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let printed = print_frames(stdout, config, host.as_ref());
    if let Some(host) = host {
        host.finish();
    }
    let status = child.wait()?;
    match printed? {
        Some(result) => Ok(result.outcome),
        None => Err(ExecError::NoResult(status)),
    }
}

/// Reads frames until the result (or the end), printing each as it arrives.
fn print_frames(
    mut reader: impl BufRead,
    config: &ExecConfig,
    host: Option<&ExecHost>,
) -> Result<Option<ResultFrame>, ExecError> {
    let out_style = Style::detect(std::io::stdout().is_terminal());
    let err_style = Style::detect(std::io::stderr().is_terminal());
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') {
            return Err(ExecError::Protocol(if n as u64 >= MAX_LINE_BYTES {
                "line too long".into()
            } else {
                "output ended mid-line".into()
            }));
        }
        if config.json {
            std::io::stdout().write_all(&line)?;
        }
        let frame = Frame::decode(&line[..line.len() - 1])
            .map_err(|e| ExecError::Protocol(e.to_string()))?;
        match frame {
            Frame::Log(log) if !config.json => {
                if render::to_stderr(log.level) {
                    eprintln!("{}", render::log_line(&log, err_style));
                } else {
                    println!("{}", render::log_line(&log, out_style));
                }
            }
            Frame::File(file) => {
                let saved = match &config.out {
                    Some(dir) => Some(save_file(dir, &file.name, &file.data)?),
                    None => None,
                };
                if !config.json {
                    let shown = saved.as_ref().map(|p| p.display().to_string());
                    println!(
                        "{}",
                        render::file_line(
                            &file.name,
                            &file.media_type,
                            file.size,
                            shown.as_deref(),
                            out_style
                        )
                    );
                }
            }
            Frame::Result(result) => {
                if !config.json {
                    print!("{}", render::summary(&result, out_style));
                }
                return Ok(Some(result));
            }
            Frame::Log(_) => {}
            // Host calls go to the session; without one, the runner's
            // stdin closes and it fails each call itself.
            Frame::Call(call) => {
                if let Some(host) = host {
                    host.call(CallEvent::Call(call));
                }
            }
            Frame::Cancel(cancel) => {
                if let Some(host) = host {
                    host.call(CallEvent::Cancel(cancel.id));
                }
            }
        }
    }
}

/// Writes one file into `dir`, re-checking the name: the runner's word is not enough.
fn save_file(dir: &Path, name: &str, data: &str) -> Result<PathBuf, ExecError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| ExecError::Protocol(format!("file {name:?} is not base64: {e}")))?;
    crate::files::save(dir, name, &bytes).map_err(|e| match e {
        crate::files::SaveError::Name(_) => ExecError::Protocol(e.to_string()),
        crate::files::SaveError::Io { source, .. } => ExecError::Io(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_checked_again_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            save_file(dir.path(), "../evil", "AA=="),
            Err(ExecError::Protocol(_))
        ));
        assert!(matches!(
            save_file(dir.path(), "a.bin", "not base64!"),
            Err(ExecError::Protocol(_))
        ));
        let path = save_file(dir.path(), "a.bin", "AAEC").unwrap();
        assert_eq!(std::fs::read(path).unwrap(), vec![0, 1, 2]);
    }
}
