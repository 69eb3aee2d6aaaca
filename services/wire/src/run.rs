//! What travels on the queue: the run request the edge submits, the events a
//! run produces (one envelope for NATS, WebSocket and recorder alike), and
//! the final record.

use serde::{Deserialize, Serialize};

use crate::frames::{LogFrame, ResultFrame, ScriptError, PROTOCOL_VERSION};
use crate::job::Job;
use crate::outcome::Outcome;

/// A run submitted on `runs.submit.<tenant>`; the message id is `id`, so a
/// retried publish is deduplicated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// The run id.
    pub run: String,
    /// Which delivery of the run (1, or more after a launcher died mid-run).
    pub attempt: u32,
    /// Position within the attempt, from 1, without gaps.
    pub seq: u64,
    /// The event itself.
    #[serde(flatten)]
    pub body: EventBody,
}

/// What an event says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum EventBody {
    /// A console line.
    Log(LogFrame),
    /// A file was stored and can be downloaded.
    File(FileRef),
    /// The run ended.
    Result(ResultFrame),
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
    /// Submission time, Unix milliseconds.
    pub submitted_ms: u64,
    /// End time, Unix milliseconds.
    pub finished_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::LogLevel;

    #[test]
    fn events_carry_the_frame_fields_flat() {
        let event = Event {
            run: "r1".into(),
            attempt: 1,
            seq: 3,
            body: EventBody::Log(LogFrame {
                level: LogLevel::Info,
                msg: "hi".into(),
                ts_ms: 5,
            }),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"run":"r1","attempt":1,"seq":3,"t":"log","level":"info","msg":"hi","ts_ms":5})
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
    fn requests_round_trip() {
        let req = RunRequest::new("abc", "t1", Job::new("1"));
        let back: RunRequest = serde_json::from_slice(&serde_json::to_vec(&req).unwrap()).unwrap();
        assert_eq!(back, req);
    }
}
