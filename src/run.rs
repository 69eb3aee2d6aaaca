//! `moat run`: submit a script to a moat server, watch its events live,
//! fetch its files. The client of the public API a person uses; the web
//! playground is the other.
//!
//! A run is: `POST /v1/runs`, then the WebSocket of its events (a spinner
//! while it is queued), then the files over HTTP. If the event stream
//! closes before the result (a slow terminal, an edge restart), the record
//! is read instead, so the outcome is never lost.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use moat_wire::{
    Event, EventBody, FileRef, Outcome, ResultFrame, RunStatus, RunView, PROTOCOL_VERSION,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::http::{Answer, HttpError, Server};
use crate::render::{self, Style};

/// Longest silence on the event stream before following the record instead
/// (a run may wait in a queue, then run for up to its deadline).
const MAX_SILENCE: Duration = Duration::from_secs(300);
/// How long to wait for the record after the event stream closed early
/// (longer than a tenant's longest deadline).
const RECORD_WAIT: Duration = Duration::from_secs(120);
/// How long a file may take to become downloadable after the result (the
/// recorder writes the record, which the file route reads, just after).
const FILE_WAIT: Duration = Duration::from_secs(30);

/// What went wrong around the run (what went wrong inside it is its outcome).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The script cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Talking to the server failed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server refused; the text is a sentence for a person.
    #[error("{0}")]
    Refused(String),
    /// The server sent something that is not an event.
    #[error("the server sent an event we cannot read: {0}")]
    Protocol(String),
    /// No result arrived.
    #[error("{0}")]
    NoResult(String),
    /// Some files could not be downloaded (each was reported).
    #[error("{0} of the run's files could not be downloaded")]
    Downloads(usize),
    /// A file cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What `POST /v1/runs` answered.
#[derive(Debug, serde::Deserialize)]
struct Accepted {
    id: String,
    token: String,
    events_url: String,
    status_url: String,
}

/// Runs the script on the server, printing it as it goes; returns the outcome.
pub async fn run(args: RunArgs) -> Result<Outcome, RunError> {
    let code = std::fs::read_to_string(&args.file).map_err(|source| RunError::Read {
        path: args.file.clone(),
        source,
    })?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).map_err(|source| RunError::Write {
            path: out.clone(),
            source,
        })?;
    }
    let server = Server::new(&args.server, args.key.clone())?;
    let out_style = Style::detect(std::io::stdout().is_terminal());
    let err_style = Style::detect(std::io::stderr().is_terminal());

    let mut body = serde_json::json!({ "code": code });
    if let Some(name) = args.file.file_name().and_then(|n| n.to_str()) {
        if moat_wire::job::valid_filename(name) {
            body["filename"] = name.into();
        }
    }
    if let Some(t) = args.timeout_ms {
        body["timeout_ms"] = t.into();
    }
    if args.browser {
        body["browser"] = true.into();
    }
    if let Some(m) = args.memory_mb {
        body["memory_mb"] = m.into();
    }
    let started = Instant::now();
    let answer = server
        .request("POST", "/v1/runs", Some(body.to_string().into_bytes()))
        .await?;
    if answer.status != 202 {
        return Err(RunError::Refused(answer.sentence()));
    }
    let accepted: Accepted = serde_json::from_slice(&answer.body)
        .map_err(|e| RunError::Protocol(format!("the submit answer: {e}")))?;

    let spinner = Spinner::start(std::io::stderr().is_terminal() && !args.json);
    let streamed = stream(
        &server, &accepted, &args, out_style, err_style, &spinner, started,
    )
    .await;
    spinner.stop();
    let (result, files, seen) = match streamed? {
        Some(done) => done,
        None => {
            eprintln!("moat run: following the run's record instead of its events");
            let (result, files, event) = from_record(&server, &accepted).await?;
            if args.json {
                println!("{event}");
            }
            (result, files, Seen::default())
        }
    };
    let round_trip = seen.result.unwrap_or_else(|| started.elapsed());
    let mut failed = 0;
    if let Some(out) = &args.out {
        for file in &files {
            if let Err(e) = download(&server, &accepted, file, out).await {
                eprintln!("moat run: {}: {e}", file.name);
                failed += 1;
            }
        }
    }
    if !args.json {
        print!("{}", render::summary(&result, out_style));
        println!(
            "{}",
            out_style.dim(&format!(
                "run {} · {} ms from submit to result",
                accepted.id,
                round_trip.as_millis()
            ))
        );
    }
    if args.timings {
        eprintln!(
            "{}",
            err_style.dim(&render::timings(
                seen.first_event,
                round_trip,
                seen.stages.as_ref()
            ))
        );
    }
    if failed > 0 {
        return Err(RunError::Downloads(failed));
    }
    Ok(result.outcome)
}

/// What the client timed on the event stream, from its submit.
#[derive(Debug, Default)]
struct Seen {
    /// The first event arrived.
    first_event: Option<Duration>,
    /// The result event arrived.
    result: Option<Duration>,
    /// The launcher's stages, from the result event.
    stages: Option<moat_wire::Stages>,
}

/// Follows the event stream to the result; `None` if it closed before one
/// (or could not be opened), so the caller follows the record instead.
async fn stream(
    server: &Server,
    accepted: &Accepted,
    args: &RunArgs,
    out_style: Style,
    err_style: Style,
    spinner: &Spinner,
    submitted: Instant,
) -> Result<Option<(ResultFrame, Vec<FileRef>, Seen)>, RunError> {
    let mut ws = match server.websocket(&accepted.events_url).await {
        Ok(ws) => ws,
        Err(HttpError::Refused(why)) => {
            eprintln!("moat run: no live events: {why}");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let mut attempt = 0;
    let mut files = Vec::new();
    let mut seen = Seen::default();
    loop {
        let Ok(next) = tokio::time::timeout(MAX_SILENCE, ws.next()).await else {
            eprintln!("moat run: no events for 5 minutes");
            return Ok(None);
        };
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                eprintln!("moat run: the event stream broke: {e}");
                return Ok(None);
            }
        };
        spinner.stop();
        seen.first_event.get_or_insert_with(|| submitted.elapsed());
        let event: Event =
            serde_json::from_str(&text).map_err(|e| RunError::Protocol(e.to_string()))?;
        if args.json {
            println!("{text}");
        }
        if event.attempt > attempt {
            if attempt > 0 && !args.json {
                eprintln!(
                    "{}",
                    err_style.warn(&format!(
                        "the run is being retried on another launcher (attempt {})",
                        event.attempt
                    ))
                );
            }
            attempt = event.attempt;
            files.clear();
        }
        match event.body {
            EventBody::Log(log) if !args.json => {
                if render::to_stderr(log.level) {
                    eprintln!("{}", render::log_line(&log, err_style));
                } else {
                    println!("{}", render::log_line(&log, out_style));
                }
            }
            EventBody::Log(_) => {}
            EventBody::Net(net) => {
                if !args.json {
                    let error = net
                        .error
                        .as_deref()
                        .map(|code| (code, net.message.as_deref().unwrap_or("")));
                    eprintln!(
                        "{}",
                        render::net_line(
                            &net.method,
                            &net.url,
                            net.status,
                            error,
                            net.bytes,
                            net.ms,
                            err_style
                        )
                    );
                }
            }
            EventBody::File(file) => {
                if !args.json {
                    let to = args.out.as_ref().map(|d| d.join(&file.name));
                    let shown = to.as_ref().map(|p| p.display().to_string());
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
                files.push(file);
            }
            EventBody::Result(result) => {
                seen.result = Some(submitted.elapsed());
                seen.stages = event.stages;
                let _ = ws.close(None).await;
                return Ok(Some((result, files, seen)));
            }
        }
    }
}

/// The result and files from the run's record, once the recorder has it;
/// also the result as an event line, for `--json`.
async fn from_record(
    server: &Server,
    accepted: &Accepted,
) -> Result<(ResultFrame, Vec<FileRef>, String), RunError> {
    let answer = get_patiently(server, &accepted.status_url, RECORD_WAIT, |a| {
        serde_json::from_slice::<RunView>(&a.body).is_ok_and(|v| v.status == RunStatus::Done)
    })
    .await
    .map_err(|e| match e {
        RunError::NoResult(_) => RunError::NoResult(format!(
            "the run {} has no result after {} s; see {}{}",
            accepted.id,
            RECORD_WAIT.as_secs(),
            server.url(),
            accepted.status_url
        )),
        other => other,
    })?;
    let view: RunView = serde_json::from_slice(&answer.body)
        .map_err(|e| RunError::Protocol(format!("the run's record: {e}")))?;
    let (result, files) = record_result(&view)
        .ok_or_else(|| RunError::Protocol(format!("the run's record is incomplete: {view:?}")))?;
    let event = Event {
        v: PROTOCOL_VERSION,
        run: accepted.id.clone(),
        attempt: view.attempt,
        seq: view.events.unwrap_or(0),
        body: EventBody::Result(result.clone()),
        stages: None,
    };
    let line = serde_json::to_string(&event).unwrap_or_default();
    Ok((result, files, line))
}

/// GETs `path` until `ready` holds, waiting out what a moment fixes: 404
/// (not recorded yet) and 429 (for as long as `Retry-After` says), for at
/// most `wait`. Any other answer is a refusal.
async fn get_patiently(
    server: &Server,
    path: &str,
    wait: Duration,
    ready: impl Fn(&Answer) -> bool,
) -> Result<Answer, RunError> {
    let deadline = Instant::now() + wait;
    loop {
        let answer = server.request("GET", path, None).await?;
        let pause = match answer.status {
            200 if ready(&answer) => return Ok(answer),
            200 | 404 => Duration::from_secs(1),
            429 => Duration::from_secs(
                answer
                    .header("retry-after")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(1u64)
                    .clamp(1, 30),
            ),
            _ => return Err(RunError::Refused(answer.sentence())),
        };
        if Instant::now() + pause > deadline {
            return Err(RunError::NoResult(if answer.status == 429 {
                answer.sentence()
            } else {
                format!("{path} was not ready within {} s", wait.as_secs())
            }));
        }
        tokio::time::sleep(pause).await;
    }
}

/// A finished record as a result frame and its files.
fn record_result(view: &RunView) -> Option<(ResultFrame, Vec<FileRef>)> {
    let files = view.files.iter().map(|f| f.file.clone()).collect();
    Some((view.result()?, files))
}

/// Downloads one file into `out` (its name checked again there).
async fn download(
    server: &Server,
    accepted: &Accepted,
    file: &FileRef,
    out: &Path,
) -> Result<PathBuf, RunError> {
    let path = format!(
        "/v1/runs/{}/files/{}?token={}",
        accepted.id,
        moat_wire::job::filename_url_segment(&file.name),
        accepted.token
    );
    let answer = get_patiently(server, &path, FILE_WAIT, |_| true).await?;
    crate::files::save(out, &file.name, &answer.body).map_err(|e| match e {
        crate::files::SaveError::Io { path, source } => RunError::Write { path, source },
        name => RunError::Protocol(name.to_string()),
    })
}

/// A spinner on stderr while the run waits in the queue.
struct Spinner {
    stop: CancellationToken,
}

impl Spinner {
    fn start(enabled: bool) -> Self {
        let stop = CancellationToken::new();
        if enabled {
            let stopped = stop.clone();
            tokio::spawn(async move {
                let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
                let started = Instant::now();
                for i in 0.. {
                    eprint!(
                        "\r\x1b[2K{} queued ({:.1} s)",
                        frames[i % frames.len()],
                        started.elapsed().as_secs_f64()
                    );
                    let _ = std::io::stderr().flush();
                    tokio::select! {
                        _ = stopped.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(80)) => {}
                    }
                }
                eprint!("\r\x1b[2K");
                let _ = std::io::stderr().flush();
            });
        }
        Self { stop }
    }

    fn stop(&self) {
        if !self.stop.is_cancelled() {
            self.stop.cancel();
            // Let the spinner clear its line before anything else prints.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_becomes_a_result() {
        let record = serde_json::json!({
            "id": "r1", "attempt": 1, "status": "done", "outcome": "timeout", "cpu_ms": 3, "wall_ms": 1000,
            "heap_peak_bytes": 10, "value": null,
            "error": {"name": "TimeoutError", "message": "deadline of 1000 ms exceeded"},
            "files": [{"name": "a.png", "type": "image/png", "size": 4, "url": "/x"}],
        });
        let view: RunView = serde_json::from_value(record).unwrap();
        let (result, files) = record_result(&view).unwrap();
        assert_eq!(result.outcome, Outcome::Timeout);
        assert_eq!(result.wall_ms, 1000);
        assert!(result.value.is_none());
        assert_eq!(result.error.unwrap().name, "TimeoutError");
        assert_eq!(files[0].name, "a.png");
    }
}
