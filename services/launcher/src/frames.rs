//! The launcher's view of the runner's stdout: hostile bytes until proven
//! otherwise. The decoder accepts only whole, valid, versioned frames within
//! caps, re-checks every file (name, base64, declared size, type sniffed from
//! content), and allows nothing after the result. The first violation poisons
//! the stream: the run ends as `protocol_error`, and the caller keeps draining
//! the pipe without looking, so the sandbox never blocks on a full pipe.

use base64::Engine as _;
use moat_wire::hostcall::{CallFrame, HostCall, MAX_CALLS_PER_RUN, MAX_CALL_BODY_BYTES};
use moat_wire::{Frame, LogFrame, ResultFrame};

use crate::sniff;

/// Caps on what one run's output may hold. They sit above the runner's own
/// caps, so only a runner that was subverted reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Longest line, newline excluded.
    pub max_frame_bytes: usize,
    /// All lines together.
    pub max_total_bytes: u64,
    /// Files per run.
    pub max_files: u32,
    /// Decoded bytes in one file.
    pub max_file_bytes: u64,
    /// Sustained events per second published for one run; bursts up to
    /// [`Caps::event_burst`] pass at once.
    pub max_events_per_sec: u32,
    /// Events that may pass at once before the rate applies.
    pub event_burst: u32,
}

impl Default for Caps {
    fn default() -> Self {
        let limits = moat_wire::OutputLimits::default();
        Self {
            // A file frame carries base64 (4/3 of the bytes) plus JSON around it.
            max_frame_bytes: (limits.max_file_bytes as usize / 3 + 1) * 4 + 64 * 1024,
            max_total_bytes: limits.max_total_file_bytes * 4 / 3
                + limits.max_log_bytes * 2
                + 8 * 1024 * 1024,
            max_files: limits.max_files as u32,
            max_file_bytes: limits.max_file_bytes,
            max_events_per_sec: 2_000,
            event_burst: 1_000,
        }
    }
}

/// The event-rate cap, as a token bucket. A run over the rate is paced, not
/// failed: its events wait in the launcher (bounded by the other caps) and
/// are published at the rate, so a flood delays only its own events and
/// never floods NATS.
#[derive(Debug, Clone)]
pub struct EventRate {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    at: std::time::Instant,
}

impl EventRate {
    /// A full bucket.
    pub fn new(caps: &Caps, now: std::time::Instant) -> Self {
        Self {
            per_sec: f64::from(caps.max_events_per_sec.max(1)),
            burst: f64::from(caps.event_burst.max(1)),
            tokens: f64::from(caps.event_burst.max(1)),
            at: now,
        }
    }

    /// Takes one event's token; returns how long to wait before publishing it.
    pub fn take(&mut self, now: std::time::Instant) -> std::time::Duration {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst) - 1.0;
        if self.tokens >= 0.0 {
            std::time::Duration::ZERO
        } else {
            std::time::Duration::from_secs_f64(-self.tokens / self.per_sec)
        }
    }
}

/// A frame that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// A console line.
    Log(LogFrame),
    /// A file, decoded, with the type its bytes support.
    File {
        /// A plain file name.
        name: String,
        /// The type to store it under.
        media_type: String,
        /// The content.
        data: Vec<u8>,
    },
    /// A host call, for the run's relay ([`crate::relay`]).
    Call(CallFrame),
    /// The run gave up on call `id`.
    Cancel(u32),
    /// The run's end.
    Result(ResultFrame),
}

/// Why the stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A line longer than [`Caps::max_frame_bytes`].
    #[error("a frame is longer than {0} bytes")]
    FrameTooLarge(usize),
    /// More output than [`Caps::max_total_bytes`].
    #[error("output is over {0} bytes")]
    TotalTooLarge(u64),
    /// Not a valid frame of this protocol version.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// Anything after the result frame.
    #[error("output after the result frame")]
    AfterResult,
    /// A file name with path parts or control characters.
    #[error("file name {0:?} is not a plain name")]
    FileName(String),
    /// A file over the caps, or whose size does not match its data.
    #[error("file {0:?} breaks the file caps or misstates its size")]
    FileSize(String),
    /// More than [`Caps::max_files`] files, or one name twice.
    #[error("too many files, or a file name repeated")]
    Files,
    /// A host call out of order (ids must increase), over the per-run count,
    /// or with a body over the cap; or too many calls waiting at once.
    #[error("host calls: {0}")]
    Calls(&'static str),
}

/// Splits the runner's stdout into frames and checks each.
#[derive(Debug)]
pub struct FrameDecoder {
    caps: Caps,
    line: Vec<u8>,
    total: u64,
    files: Vec<String>,
    calls: u64,
    last_call: Option<u32>,
    finished: bool,
    poisoned: bool,
}

impl FrameDecoder {
    /// A decoder for one run.
    pub fn new(caps: Caps) -> Self {
        Self {
            caps,
            line: Vec::new(),
            total: 0,
            files: Vec::new(),
            calls: 0,
            last_call: None,
            finished: false,
            poisoned: false,
        }
    }

    /// Whether the result frame has been accepted.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Feeds a chunk of stdout; returns the frames it completed, or the first
    /// violation (after which everything is ignored).
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<Vec<Accepted>, Violation> {
        let mut out = Vec::new();
        if self.poisoned {
            return Ok(out);
        }
        let result = (|| {
            self.total += chunk.len() as u64;
            if self.total > self.caps.max_total_bytes {
                return Err(Violation::TotalTooLarge(self.caps.max_total_bytes));
            }
            while !chunk.is_empty() {
                let (part, rest, complete) = match chunk.iter().position(|b| *b == b'\n') {
                    Some(i) => (&chunk[..i], &chunk[i + 1..], true),
                    None => (chunk, &[][..], false),
                };
                if self.line.len() + part.len() > self.caps.max_frame_bytes {
                    return Err(Violation::FrameTooLarge(self.caps.max_frame_bytes));
                }
                self.line.extend_from_slice(part);
                chunk = rest;
                if complete {
                    let line = std::mem::take(&mut self.line);
                    out.push(self.accept(&line)?);
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(out),
            Err(v) => {
                self.poisoned = true;
                Err(v)
            }
        }
    }

    /// Called at end of stream: a partial last line is a violation.
    pub fn finish(&mut self) -> Result<(), Violation> {
        if !self.poisoned && !self.line.is_empty() {
            self.poisoned = true;
            return Err(Violation::Malformed("output ended mid-frame".into()));
        }
        Ok(())
    }

    fn accept(&mut self, line: &[u8]) -> Result<Accepted, Violation> {
        if self.finished {
            return Err(Violation::AfterResult);
        }
        let frame = Frame::decode(line).map_err(|e| Violation::Malformed(e.to_string()))?;
        Ok(match frame {
            Frame::Log(log) => Accepted::Log(log),
            Frame::Call(call) => {
                // Increasing ids make "unique" a comparison, and a replayed
                // or forged id impossible to confuse with a live one.
                if self.last_call.is_some_and(|last| call.id <= last) {
                    return Err(Violation::Calls("call ids must increase"));
                }
                self.calls += 1;
                if self.calls > MAX_CALLS_PER_RUN {
                    return Err(Violation::Calls("too many calls in one run"));
                }
                let HostCall::Fetch(fetch) = &call.call;
                if fetch
                    .body
                    .as_ref()
                    .is_some_and(|b| b.len() > MAX_CALL_BODY_BYTES.div_ceil(3) * 4)
                {
                    return Err(Violation::Calls("a request body is over the cap"));
                }
                self.last_call = Some(call.id);
                // Request bodies are the session's to budget, not output:
                // they leave the total that caps logs and files.
                self.total = self.total.saturating_sub(line.len() as u64 + 1);
                Accepted::Call(call)
            }
            Frame::Cancel(cancel) => Accepted::Cancel(cancel.id),
            Frame::Result(result) => {
                self.finished = true;
                Accepted::Result(result)
            }
            Frame::File(file) => {
                if !moat_wire::job::valid_filename(&file.name) {
                    return Err(Violation::FileName(file.name));
                }
                if self.files.len() as u32 >= self.caps.max_files || self.files.contains(&file.name)
                {
                    return Err(Violation::Files);
                }
                let data = base64::engine::general_purpose::STANDARD
                    .decode(file.data.as_bytes())
                    .map_err(|e| Violation::Malformed(format!("file {:?}: {e}", file.name)))?;
                if data.len() as u64 != file.size || file.size > self.caps.max_file_bytes {
                    return Err(Violation::FileSize(file.name));
                }
                self.files.push(file.name.clone());
                Accepted::File {
                    media_type: sniff::settle(&file.media_type, &data),
                    name: file.name,
                    data,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_wire::{FileFrame, LogLevel, Outcome};

    fn log(msg: &str) -> Vec<u8> {
        Frame::Log(LogFrame {
            level: LogLevel::Info,
            msg: msg.into(),
            ts_ms: 1,
        })
        .encode()
    }

    fn file(name: &str, media_type: &str, data: &[u8], size: u64) -> Vec<u8> {
        Frame::File(FileFrame {
            name: name.into(),
            media_type: media_type.into(),
            size,
            data: base64::engine::general_purpose::STANDARD.encode(data),
        })
        .encode()
    }

    fn result() -> Vec<u8> {
        Frame::Result(ResultFrame {
            outcome: Outcome::Ok,
            value: None,
            error: None,
            cpu_ms: 0,
            wall_ms: 0,
            heap_peak_bytes: 0,
        })
        .encode()
    }

    #[test]
    fn frames_split_across_chunks_are_reassembled() {
        let mut d = FrameDecoder::new(Caps::default());
        let mut bytes = log("a");
        bytes.extend(log("b"));
        bytes.extend(result());
        let mut got = Vec::new();
        for chunk in bytes.chunks(7) {
            got.extend(d.feed(chunk).unwrap());
        }
        assert_eq!(got.len(), 3);
        assert!(matches!(&got[1], Accepted::Log(l) if l.msg == "b"));
        assert!(d.finished());
        d.finish().unwrap();
    }

    #[test]
    fn request_bodies_do_not_count_as_output() {
        use moat_wire::hostcall::{CallFrame, FetchCall, HostCall, RedirectMode};
        let caps = Caps {
            max_total_bytes: 64 * 1024,
            ..Caps::default()
        };
        let mut d = FrameDecoder::new(caps);
        for id in 1..=10u32 {
            let call = Frame::Call(CallFrame {
                id,
                call: HostCall::Fetch(FetchCall {
                    method: "POST".into(),
                    url: "http://127.0.0.1:1/".into(),
                    headers: vec![],
                    body: Some("A".repeat(16 * 1024)),
                    redirect: RedirectMode::Follow,
                    timeout_ms: None,
                }),
            });
            let got = d.feed(&call.encode()).unwrap();
            assert!(matches!(&got[..], [Accepted::Call(c)] if c.id == id));
        }
        // Ids must increase: a replayed one poisons the stream.
        let again = Frame::Call(CallFrame {
            id: 3,
            call: HostCall::Fetch(FetchCall::get("http://127.0.0.1:1/")),
        });
        assert!(matches!(d.feed(&again.encode()), Err(Violation::Calls(_))));
    }

    #[test]
    fn hostile_streams_are_refused() {
        let caps = Caps {
            max_frame_bytes: 100,
            ..Caps::default()
        };
        let mut d = FrameDecoder::new(caps);
        assert_eq!(d.feed(&[b'x'; 101]), Err(Violation::FrameTooLarge(100)));
        assert_eq!(d.feed(&log("ignored after poison")), Ok(vec![]));

        let mut d = FrameDecoder::new(Caps::default());
        assert!(matches!(
            d.feed(b"{\"v\":1,\"t\":\"exec\"}\n"),
            Err(Violation::Malformed(_))
        ));

        let mut d = FrameDecoder::new(Caps::default());
        d.feed(&result()).unwrap();
        assert_eq!(d.feed(&log("late")), Err(Violation::AfterResult));

        let mut d = FrameDecoder::new(Caps::default());
        assert!(matches!(
            d.feed(&file("../x", "text/plain", b"x", 1)),
            Err(Violation::FileName(_))
        ));
        let mut d = FrameDecoder::new(Caps::default());
        assert!(matches!(
            d.feed(&file("x", "text/plain", b"xyz", 1)),
            Err(Violation::FileSize(_))
        ));
        let mut d = FrameDecoder::new(Caps {
            max_total_bytes: 10,
            ..Caps::default()
        });
        assert_eq!(d.feed(&log("too much")), Err(Violation::TotalTooLarge(10)));

        let mut d = FrameDecoder::new(Caps::default());
        d.feed(b"{\"v\":1").unwrap();
        assert!(d.finish().is_err());
    }

    #[test]
    fn the_event_rate_allows_a_burst_then_paces() {
        let caps = Caps {
            max_events_per_sec: 100,
            event_burst: 3,
            ..Caps::default()
        };
        let t0 = std::time::Instant::now();
        let mut rate = EventRate::new(&caps, t0);
        for _ in 0..3 {
            assert_eq!(rate.take(t0), std::time::Duration::ZERO);
        }
        let wait = rate.take(t0);
        assert!(
            wait > std::time::Duration::from_millis(9)
                && wait <= std::time::Duration::from_millis(10),
            "{wait:?}"
        );
        // After a second the bucket is full again (but no fuller than the burst).
        let later = t0 + std::time::Duration::from_secs(1);
        for _ in 0..3 {
            assert_eq!(rate.take(later), std::time::Duration::ZERO);
        }
        assert!(rate.take(later) > std::time::Duration::ZERO);
    }

    #[test]
    fn files_get_the_type_their_bytes_support() {
        let mut d = FrameDecoder::new(Caps::default());
        let got = d
            .feed(&file(
                "x.png",
                "image/png",
                b"<script>alert(1)</script>",
                25,
            ))
            .unwrap();
        assert!(matches!(&got[0], Accepted::File { media_type, .. } if media_type == "text/plain"));
        assert_eq!(
            d.feed(&file("x.png", "image/png", b"again", 5)),
            Err(Violation::Files)
        );
    }
}
