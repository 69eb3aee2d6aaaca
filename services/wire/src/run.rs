//! What travels on the queue: the run request the edge submits, the events a
//! run produces (one envelope for NATS, WebSocket and recorder alike), and
//! the final record.

use serde::{Deserialize, Serialize};

use crate::frames::{LogFrame, ResultFrame, ScriptError, PROTOCOL_VERSION};
use crate::job::Job;
use crate::outcome::Outcome;

/// A run submitted on `runs.submit.<plan>.<client>`; the message id is `id`,
/// so a retried publish is deduplicated. Unknown fields are ignored, so an
/// edge newer than a launcher (a rolling upgrade) still gets its runs run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// Protocol version.
    pub v: u32,
    /// The run id (32 hex digits), also the events subject token.
    pub id: String,
    /// Who submitted it.
    pub tenant: String,
    /// What to run.
    pub job: Job,
    /// When it was submitted, Unix milliseconds.
    pub submitted_ms: u64,
    /// The tenant's own network rules, looked up by the edge at submit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<crate::egress::EgressRules>,
}

impl RunRequest {
    /// A request for `job` by `tenant`, with a fresh id, submitted now.
    pub fn new(id: impl Into<String>, tenant: impl Into<String>, job: Job) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id: id.into(),
            tenant: tenant.into(),
            job,
            submitted_ms: now_ms(),
            egress: None,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One event of a run, as published on `runs.events.<run>` and sent to
/// WebSocket subscribers: the frame's own fields plus `run`, `attempt` and
/// `seq` (gapless from 1 within an attempt). The last event has `t: result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Protocol version (absent in events written before it was added: 1).
    #[serde(default = "version_one")]
    pub v: u32,
    /// The run id.
    pub run: String,
    /// Which delivery of the run (1, or more after a launcher died mid-run).
    pub attempt: u32,
    /// Position within the attempt, from 1, without gaps.
    pub seq: u64,
    /// The event itself.
    #[serde(flatten)]
    pub body: EventBody,
    /// Where the run's time went, on the result event only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Stages>,
}

/// Where one run's time went, in microseconds, as its launcher measured it:
/// on the result event (every stage up to the result) and in the final
/// record (teardown too, which happens after the result is out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stages {
    /// Submission to a launcher taking the run.
    pub queue_us: u64,
    /// Getting a sandbox: from the warm pool, or creating one.
    pub acquire_us: u64,
    /// The sandbox came warm from the pool.
    pub warm: bool,
    /// Starting its task (zero for a warm one: started ahead of the run).
    pub start_us: u64,
    /// The job written to the runner until its result frame was read.
    pub execution_us: u64,
    /// The result frame read until the result event was published (the
    /// process's exit, the last events).
    pub result_us: u64,
    /// Destroying the sandbox, after the result was out (record only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown_us: Option<u64>,
}

impl Stages {
    /// The stages' names and durations in order, for display and metrics
    /// (teardown only when known).
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        let mut v = vec![
            ("queue", self.queue_us),
            ("acquire", self.acquire_us),
            ("start", self.start_us),
            ("execution", self.execution_us),
            ("result", self.result_us),
        ];
        if let Some(t) = self.teardown_us {
            v.push(("teardown", t));
        }
        v
    }
}

fn version_one() -> u32 {
    1
}

/// Where a run stands, as the record and the API say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted and waiting for a launcher.
    Queued,
    /// A launcher has started it (its first event was recorded).
    Running,
    /// Its final record was recorded.
    Done,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 3] = [RunStatus::Queued, RunStatus::Running, RunStatus::Done];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Done => "done",
        }
    }

    /// The status a stored name means.
    pub fn parse(s: &str) -> Option<Self> {
        RunStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum EventBody {
    /// A console line.
    Log(LogFrame),
    /// A file was stored and can be downloaded.
    File(FileRef),
    /// A request of the script's ended (made by the egress service).
    Net(NetEvent),
    /// The run ended.
    Result(ResultFrame),
}

/// One request of the script's, as it ended: what a user sees of its
/// network use, live and in the record's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetEvent {
    /// The method.
    pub method: String,
    /// The URL, its query cut (it may hold secrets): [`redact_query`].
    pub url: String,
    /// The response's status, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed (`EGRESS_DENIED`, `ENOTFOUND`, ...), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failure's sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Body bytes received.
    pub bytes: u64,
    /// How long it took.
    pub ms: u64,
}

/// A URL with its query replaced by `…` (and its fragment dropped), for
/// events and logs: query strings carry API keys.
pub fn redact_query(url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    match url.split_once('?') {
        Some((path, _)) => format!("{path}?…"),
        None => url.to_owned(),
    }
}

/// A run's use of the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetUsage {
    /// Requests made (refused ones included).
    pub requests: u64,
    /// Response bytes received.
    pub bytes: u64,
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// The name the script gave it.
    pub name: String,
    /// The media type its content supports.
    #[serde(rename = "type")]
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// The object-store key of the file `name` saved by attempt `attempt` of
/// run `run`: `<run>/<attempt>/<name>`. The launcher puts the file under it
/// and the recorder stores it in the file's row, from which the edge serves
/// it; defined here, once, so writer and readers cannot drift.
pub fn file_key(run: &str, attempt: u32, name: &str) -> String {
    format!("{run}/{attempt}/{name}")
}

/// The final record of a run, on `runs.done.<tenant>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Protocol version.
    pub v: u32,
    /// The run id.
    pub run: String,
    /// The tenant.
    pub tenant: String,
    /// The attempt that produced this record.
    pub attempt: u32,
    /// How it ended.
    pub outcome: Outcome,
    /// The value, for `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// What went wrong, for every other outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ScriptError>,
    /// CPU time inside the sandbox.
    pub cpu_ms: u64,
    /// Wall time of the run, sandbox included.
    pub wall_ms: u64,
    /// Peak JS heap.
    pub heap_peak_bytes: u64,
    /// Time from submission to the sandbox starting.
    pub queued_ms: u64,
    /// Events published (the result included).
    pub events: u64,
    /// Bytes of log text.
    pub log_bytes: u64,
    /// Files stored.
    pub files: Vec<FileRef>,
    /// Its network use (absent from older launchers: none).
    #[serde(default)]
    pub net: NetUsage,
    /// Where its time went (absent from older launchers: zeros).
    #[serde(default)]
    pub stages: Stages,
    /// Submission time, Unix milliseconds.
    pub submitted_ms: u64,
    /// End time, Unix milliseconds.
    pub finished_ms: u64,
}

/// A run as `GET /v1/runs/{id}` shows it: the one public shape, written by
/// the edge and read by clients (`moat run`). Everything but the id, status
/// and attempt is absent (`null`) until the run has finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    /// The run id.
    pub id: String,
    /// Where the run stands.
    pub status: RunStatus,
    /// The attempt the view describes.
    pub attempt: u32,
    /// How it ended.
    pub outcome: Option<Outcome>,
    /// The script's value.
    pub value: Option<serde_json::Value>,
    /// The script's error.
    pub error: Option<ScriptError>,
    /// CPU time.
    pub cpu_ms: Option<u64>,
    /// Wall time.
    pub wall_ms: Option<u64>,
    /// Peak JS heap.
    pub heap_peak_bytes: Option<u64>,
    /// Time spent queued.
    pub queued_ms: Option<u64>,
    /// Events published.
    pub events: Option<u64>,
    /// Bytes of log text.
    pub log_bytes: Option<u64>,
    /// Its network use.
    #[serde(default)]
    pub net: Option<NetUsage>,
    /// When it was submitted (ms since the epoch).
    pub submitted_ms: Option<u64>,
    /// When it finished (ms since the epoch).
    pub finished_ms: Option<u64>,
    /// The log excerpt.
    #[serde(default)]
    pub logs: Vec<LogFrame>,
    /// The saved files, with where to download them.
    #[serde(default)]
    pub files: Vec<FileLink>,
}

impl RunView {
    /// The result, once the run is done.
    pub fn result(&self) -> Option<ResultFrame> {
        if self.status != RunStatus::Done {
            return None;
        }
        Some(ResultFrame {
            outcome: self.outcome?,
            value: self.value.clone(),
            error: self.error.clone(),
            cpu_ms: self.cpu_ms.unwrap_or(0),
            wall_ms: self.wall_ms.unwrap_or(0),
            heap_peak_bytes: self.heap_peak_bytes.unwrap_or(0),
        })
    }
}

/// A saved file in a [`RunView`], with its download path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLink {
    /// The file, as the run saved it.
    #[serde(flatten)]
    pub file: FileRef,
    /// Its download path (with the run token for anonymous readers).
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::LogLevel;

    #[test]
    fn queries_are_cut_from_urls_shown() {
        assert_eq!(
            redact_query("https://a.test/x?key=s3cret#h"),
            "https://a.test/x?…"
        );
        assert_eq!(redact_query("https://a.test/x#h"), "https://a.test/x");
        assert_eq!(redact_query("https://a.test/"), "https://a.test/");
    }

    #[test]
    fn events_carry_the_frame_fields_flat() {
        let event = Event {
            v: PROTOCOL_VERSION,
            run: "r1".into(),
            attempt: 1,
            seq: 3,
            body: EventBody::Log(LogFrame {
                level: LogLevel::Info,
                msg: "hi".into(),
                ts_ms: 5,
            }),
            stages: None,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"v":1,"run":"r1","attempt":1,"seq":3,"t":"log","level":"info","msg":"hi","ts_ms":5})
        );
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
        let file = serde_json::to_value(EventBody::File(FileRef {
            name: "a.png".into(),
            media_type: "image/png".into(),
            size: 3,
        }))
        .unwrap();
        assert_eq!(
            file,
            serde_json::json!({"t":"file","name":"a.png","type":"image/png","size":3})
        );
    }

    #[test]
    fn run_views_have_the_api_shape() {
        let view = RunView {
            id: "r1".into(),
            status: RunStatus::Done,
            attempt: 1,
            outcome: Some(Outcome::Ok),
            value: None,
            error: None,
            cpu_ms: Some(1),
            wall_ms: Some(2),
            heap_peak_bytes: Some(3),
            queued_ms: None,
            events: Some(2),
            log_bytes: Some(2),
            net: None,
            submitted_ms: None,
            finished_ms: None,
            logs: vec![LogFrame {
                level: LogLevel::Info,
                msg: "hi".into(),
                ts_ms: 5,
            }],
            files: vec![FileLink {
                file: FileRef {
                    name: "a.png".into(),
                    media_type: "image/png".into(),
                    size: 3,
                },
                url: "/v1/runs/r1/files/a.png".into(),
            }],
        };
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["status"], "done");
        assert_eq!(json["outcome"], "ok");
        assert_eq!(json["value"], serde_json::Value::Null);
        assert_eq!(
            json["logs"][0],
            serde_json::json!({"level":"info","msg":"hi","ts_ms":5})
        );
        assert_eq!(
            json["files"][0],
            serde_json::json!({"name":"a.png","type":"image/png","size":3,"url":"/v1/runs/r1/files/a.png"})
        );
        assert_eq!(serde_json::from_value::<RunView>(json).unwrap(), view);
        assert_eq!(view.result().unwrap().wall_ms, 2);
    }

    #[test]
    fn receivers_accept_fields_they_do_not_know() {
        // An edge or launcher from a later release may add fields.
        let req: RunRequest = serde_json::from_str(
            r#"{"v":1,"id":"abc","tenant":"t1","submitted_ms":5,"priority":"high",
                "job":{"v":1,"code":"1","sandbox":"v8","limits":{"max_frames":5,"max_sockets":2}}}"#,
        )
        .unwrap();
        assert_eq!((req.id.as_str(), req.job.limits.max_frames), ("abc", 5));
        let event: Event = serde_json::from_str(
            r#"{"run":"r1","attempt":1,"seq":1,"t":"log","level":"info","msg":"hi","ts_ms":1,"extra":true}"#,
        )
        .unwrap();
        assert_eq!(event.v, 1, "events without a version are version 1");
        for st in RunStatus::ALL {
            assert_eq!(RunStatus::parse(st.as_str()), Some(st));
            assert_eq!(serde_json::to_value(st).unwrap(), st.as_str());
        }
        assert_eq!(RunStatus::parse("lost"), None);
    }

    #[test]
    fn requests_round_trip() {
        let req = RunRequest::new("abc", "t1", Job::new("1"));
        let back: RunRequest = serde_json::from_slice(&serde_json::to_vec(&req).unwrap()).unwrap();
        assert_eq!(back, req);
    }
}
