//! Frames: the only thing the runner writes to stdout, one JSON object a line.
//!
//! Every frame carries the protocol version `v` and a type `t`. A run's frames
//! are any number of `log`, `file`, `call` and `cancel` frames, then exactly
//! one `result`. (`call` and `cancel` are the run's half of the host-call
//! channel, [`crate::hostcall`].) The
//! launcher decodes these from hostile output, so decoding here is strict:
//! unknown frame types and wrong versions are errors, never guesses.

use serde::{Deserialize, Serialize};

use crate::hostcall::{CallFrame, CancelFrame};
use crate::outcome::Outcome;

/// The frame and job protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// One frame of runner output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Frame {
    /// A console line.
    Log(LogFrame),
    /// A file the script saved through `moat:files`.
    File(FileFrame),
    /// A host call (a `fetch`), answered on the runner's stdin.
    Call(CallFrame),
    /// The run gave up on a host call.
    Cancel(CancelFrame),
    /// The run's end: always the last frame.
    Result(ResultFrame),
}

/// Console severity, as the script chose it (`console.info` → `info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// `console.debug`.
    Debug,
    /// `console.log` and `console.info`.
    Info,
    /// `console.warn`.
    Warn,
    /// `console.error`.
    Error,
}

/// A console line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFrame {
    /// Severity.
    pub level: LogLevel,
    /// The formatted text, as Node's `console` would print it.
    pub msg: String,
    /// Milliseconds since the run started.
    pub ts_ms: u64,
}

/// A saved file; `data` is the content in standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFrame {
    /// A plain file name, no path parts.
    pub name: String,
    /// The media type the script declared (the launcher re-checks it).
    #[serde(rename = "type")]
    pub media_type: String,
    /// Decoded size in bytes.
    pub size: u64,
    /// Content, standard base64 with padding.
    pub data: String,
}

/// The run's end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultFrame {
    /// How the run ended.
    pub outcome: Outcome,
    /// The script's value (its default export's, awaited) when the outcome is `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// What went wrong, for every outcome but `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ScriptError>,
    /// CPU time the runner used, user and system.
    pub cpu_ms: u64,
    /// Wall time from start to this frame.
    pub wall_ms: u64,
    /// Most bytes the JS heap held at once.
    pub heap_peak_bytes: u64,
}

/// An error as the user sees it: the thrown value's name, message and stack,
/// plus where it applies the source position or refused module.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptError {
    /// `TypeError`, `SyntaxError`, ..., or a name for a limit (`TimeoutError`).
    pub name: String,
    /// The human sentence.
    pub message: String,
    /// The JS stack, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// 1-based line of a syntax error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column of a syntax error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The import specifier that was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specifier: Option<String>,
}

impl ScriptError {
    /// An error with just a name and a message.
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            message: message.into(),
            ..Self::default()
        }
    }
}

/// A frame with its protocol version, as it travels on a line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameLine {
    /// Protocol version.
    pub v: u32,
    /// The frame.
    #[serde(flatten)]
    pub frame: Frame,
}

/// Why a line is not a valid frame.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not a known frame shape.
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A protocol version this build does not speak.
    #[error("unsupported frame version {0}")]
    Version(u32),
}

impl Frame {
    /// Encodes the frame as one line of JSON, newline included.
    pub fn encode(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Borrowed<'a> {
            v: u32,
            #[serde(flatten)]
            frame: &'a Frame,
        }
        let mut line = serde_json::to_vec(&Borrowed {
            v: PROTOCOL_VERSION,
            frame: self,
        })
        // Serialising these types cannot fail: all keys are strings and every
        // value is already valid JSON.
        .expect("frames always serialise");
        line.push(b'\n');
        line
    }

    /// Decodes one line (without its newline), checking the version.
    pub fn decode(line: &[u8]) -> Result<Frame, DecodeError> {
        let line: FrameLine = serde_json::from_slice(line)?;
        if line.v != PROTOCOL_VERSION {
            return Err(DecodeError::Version(line.v));
        }
        Ok(line.frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_one_line() {
        let frames = [
            Frame::Log(LogFrame {
                level: LogLevel::Warn,
                msg: "hi\nthere \u{1F600}".into(),
                ts_ms: 3,
            }),
            Frame::File(FileFrame {
                name: "a.png".into(),
                media_type: "image/png".into(),
                size: 3,
                data: "AAEC".into(),
            }),
            Frame::Result(ResultFrame {
                outcome: Outcome::Ok,
                value: Some(serde_json::json!({"a": [1, 2]})),
                error: None,
                cpu_ms: 1,
                wall_ms: 2,
                heap_peak_bytes: 1000,
            }),
        ];
        for frame in frames {
            let line = frame.encode();
            assert_eq!(line.last(), Some(&b'\n'));
            assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
            assert_eq!(Frame::decode(&line[..line.len() - 1]).unwrap(), frame);
        }
    }

    #[test]
    fn wire_shape_is_stable() {
        let frame = Frame::Log(LogFrame {
            level: LogLevel::Info,
            msg: "x".into(),
            ts_ms: 0,
        });
        assert_eq!(
            String::from_utf8(frame.encode()).unwrap(),
            "{\"v\":1,\"t\":\"log\",\"level\":\"info\",\"msg\":\"x\",\"ts_ms\":0}\n"
        );
        let result = Frame::Result(ResultFrame {
            outcome: Outcome::ModuleNotAllowed,
            value: None,
            error: Some(ScriptError {
                specifier: Some("fs".into()),
                ..ScriptError::new("ModuleNotAllowedError", "no")
            }),
            cpu_ms: 0,
            wall_ms: 0,
            heap_peak_bytes: 0,
        });
        let json: serde_json::Value = serde_json::from_slice(&result.encode()).unwrap();
        assert_eq!(json["outcome"], "module_not_allowed");
        assert_eq!(json["error"]["specifier"], "fs");
        assert!(json.get("value").is_none());
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(matches!(
            Frame::decode(b"not json"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(Frame::decode(br#"{"v":1,"t":"shell","cmd":"rm"}"#).is_err());
        assert!(matches!(
            Frame::decode(br#"{"v":9,"t":"log","level":"info","msg":"","ts_ms":0}"#),
            Err(DecodeError::Version(9))
        ));
    }
}
