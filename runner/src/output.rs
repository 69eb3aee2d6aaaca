//! The runner's only way out: frames written to one sink, under the job's caps.
//!
//! [`FrameWriter`] owns stdout and guarantees exactly one result frame, even
//! when the watchdog and the engine race to write it. [`Output`] sits in front
//! of it for the script's logs and files: it counts bytes, frames and files,
//! and when a cap is reached it writes nothing more and raises the stop signal
//! (`output_limit`), so what came before the cap is kept and nothing after it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use moat_wire::{FileFrame, Frame, LogFrame, LogLevel, OutputLimits, ResultFrame};

use crate::stop::Stop;
use moat_wire::Outcome;

/// Writes whole frames to the sink, one at a time, and the result only once.
pub struct FrameWriter {
    sink: Mutex<Box<dyn Write + Send>>,
    finished: AtomicBool,
    /// The written result's outcome, so the watchdog can exit with its code.
    outcome: Mutex<Option<Outcome>>,
}

impl FrameWriter {
    /// A writer over `sink` (stdout in the runner, a buffer in tests).
    pub fn new(sink: Box<dyn Write + Send>) -> Self {
        Self {
            sink: Mutex::new(sink),
            finished: AtomicBool::new(false),
            outcome: Mutex::new(None),
        }
    }

    /// Writes a frame that is not the result (a host call, say); false when
    /// the sink is closed or the run is over.
    pub fn write_frame(&self, frame: &Frame) -> bool {
        self.write(frame)
    }

    /// Writes a log or file frame; false when the sink is closed or the run is over.
    fn write(&self, frame: &Frame) -> bool {
        let line = frame.encode();
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        if self.finished.load(Ordering::SeqCst) {
            return false;
        }
        sink.write_all(&line).and_then(|()| sink.flush()).is_ok()
    }

    /// Writes the result frame unless one was written; true if this call wrote it.
    pub fn finish(&self, result: ResultFrame) -> bool {
        let sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        self.finish_locked(sink, result)
    }

    /// Like [`FrameWriter::finish`], but gives up after `wait` if the sink is
    /// held (by a write blocked on a full pipe): the watchdog must not hang.
    pub fn finish_within(&self, result: ResultFrame, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        loop {
            match self.sink.try_lock() {
                Ok(sink) => return self.finish_locked(sink, result),
                Err(TryLockError::Poisoned(e)) => {
                    return self.finish_locked(e.into_inner(), result)
                }
                Err(TryLockError::WouldBlock) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(TryLockError::WouldBlock) => return false,
            }
        }
    }

    fn finish_locked(
        &self,
        mut sink: std::sync::MutexGuard<'_, Box<dyn Write + Send>>,
        result: ResultFrame,
    ) -> bool {
        if self.finished.swap(true, Ordering::SeqCst) {
            return false;
        }
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(result.outcome);
        let line = Frame::Result(result).encode();
        let _ = sink.write_all(&line).and_then(|()| sink.flush());
        true
    }

    /// Whether the result frame has been written.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }

    /// The outcome of the result frame, once it has been written.
    pub fn outcome(&self) -> Option<Outcome> {
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a file was refused; shown to the script as a thrown error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileRefused {
    /// A name with path parts, `..`, or control characters.
    #[error("file name {0:?} must be a plain name: no '/', '\\', '..' or control characters")]
    Name(String),
    /// The same name twice in one run.
    #[error("file {0:?} was already saved in this run")]
    Duplicate(String),
    /// A media type that is not `type/subtype`.
    #[error("media type {0:?} is not of the form type/subtype")]
    MediaType(String),
    /// One of the output caps; the run is stopping.
    #[error("output limit reached: {0}")]
    Limit(&'static str),
}

#[derive(Default)]
struct Counters {
    log_bytes: u64,
    frames: u64,
    files: Vec<String>,
    file_bytes: u64,
}

/// The script's logs and files, checked against the caps before they leave.
pub struct Output {
    writer: Arc<FrameWriter>,
    limits: OutputLimits,
    stop: Arc<Stop>,
    started: Instant,
    counters: Mutex<Counters>,
}

impl Output {
    /// Output for one run that started at `started`.
    pub fn new(
        writer: Arc<FrameWriter>,
        limits: OutputLimits,
        stop: Arc<Stop>,
        started: Instant,
    ) -> Self {
        Self {
            writer,
            limits,
            stop,
            started,
            counters: Mutex::default(),
        }
    }

    /// The caps this output enforces.
    pub fn limits(&self) -> &OutputLimits {
        &self.limits
    }

    fn refuse(&self, what: &'static str) -> &'static str {
        self.stop.set(Outcome::OutputLimit);
        what
    }

    fn take_frame(&self, c: &mut Counters) -> Result<(), &'static str> {
        if self.stop.reason().is_some() {
            return Err("the run is stopping");
        }
        if c.frames >= self.limits.max_frames {
            return Err(self.refuse("too many output frames"));
        }
        c.frames += 1;
        Ok(())
    }

    fn send(&self, frame: &Frame) -> bool {
        let sent = self.writer.write(frame);
        if !sent {
            // Nobody is reading (or the result is out): end the run rather
            // than compute output that cannot be delivered.
            self.stop.set(Outcome::Failed);
        }
        sent
    }

    /// Sends one console line; false (and the run stops) when over a cap.
    pub fn log(&self, level: LogLevel, msg: String) -> bool {
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if self.take_frame(&mut c).is_err() {
            return false;
        }
        let len = msg.len() as u64;
        if c.log_bytes + len > self.limits.max_log_bytes {
            self.refuse("too many log bytes");
            return false;
        }
        c.log_bytes += len;
        drop(c);
        self.send(&Frame::Log(LogFrame {
            level,
            msg,
            ts_ms: self.started.elapsed().as_millis() as u64,
        }))
    }

    /// Sends one file after checking its name, type and the file caps.
    pub fn file(&self, name: &str, media_type: &str, data: &[u8]) -> Result<(), FileRefused> {
        if !moat_wire::job::valid_filename(name) {
            return Err(FileRefused::Name(name.to_owned()));
        }
        if !valid_media_type(media_type) {
            return Err(FileRefused::MediaType(media_type.to_owned()));
        }
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if c.files.iter().any(|f| f == name) {
            return Err(FileRefused::Duplicate(name.to_owned()));
        }
        let size = data.len() as u64;
        if c.files.len() as u64 >= self.limits.max_files {
            return Err(FileRefused::Limit(self.refuse("too many files")));
        }
        if size > self.limits.max_file_bytes {
            return Err(FileRefused::Limit(self.refuse("file too large")));
        }
        if c.file_bytes + size > self.limits.max_total_file_bytes {
            return Err(FileRefused::Limit(self.refuse("too many file bytes")));
        }
        self.take_frame(&mut c).map_err(FileRefused::Limit)?;
        c.files.push(name.to_owned());
        c.file_bytes += size;
        drop(c);
        self.send(&Frame::File(FileFrame {
            name: name.to_owned(),
            media_type: media_type.to_owned(),
            size,
            data: base64::engine::general_purpose::STANDARD.encode(data),
        }));
        Ok(())
    }
}

/// `type/subtype` with token characters and optional parameters, short enough to log.
fn valid_media_type(t: &str) -> bool {
    let essence = t.split(';').next().unwrap_or("").trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    t.len() <= 127
        && !t.chars().any(char::is_control)
        && matches!(essence.split_once('/'), Some((a, b)) if token(a) && token(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn output(limits: OutputLimits) -> (Output, Buf, Arc<Stop>) {
        let buf = Buf::default();
        let writer = Arc::new(FrameWriter::new(Box::new(buf.clone())));
        let stop = Arc::new(Stop::new());
        (
            Output::new(writer, limits, stop.clone(), Instant::now()),
            buf,
            stop,
        )
    }

    fn lines(buf: &Buf) -> Vec<Frame> {
        let bytes = buf.0.lock().unwrap().clone();
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| Frame::decode(l).unwrap())
            .collect()
    }

    #[test]
    fn log_cap_keeps_what_came_before_and_stops() {
        let limits = OutputLimits {
            max_log_bytes: 10,
            ..OutputLimits::default()
        };
        let (out, buf, stop) = output(limits);
        assert!(out.log(LogLevel::Info, "12345".into()));
        assert!(!out.log(LogLevel::Info, "123456".into()));
        assert!(!out.log(LogLevel::Info, "1".into()));
        assert_eq!(stop.reason(), Some(Outcome::OutputLimit));
        assert_eq!(lines(&buf).len(), 1);
    }

    #[test]
    fn files_are_checked_and_counted() {
        let limits = OutputLimits {
            max_files: 2,
            ..OutputLimits::default()
        };
        let (out, buf, stop) = output(limits);
        assert!(matches!(
            out.file("../x", "text/plain", b""),
            Err(FileRefused::Name(_))
        ));
        assert!(matches!(
            out.file("x", "nope", b""),
            Err(FileRefused::MediaType(_))
        ));
        out.file("a.txt", "text/plain; charset=utf-8", b"hi")
            .unwrap();
        assert_eq!(
            out.file("a.txt", "text/plain", b""),
            Err(FileRefused::Duplicate("a.txt".into()))
        );
        out.file("b.bin", "application/octet-stream", &[0, 1, 2])
            .unwrap();
        assert!(stop.reason().is_none());
        assert!(matches!(
            out.file("c", "text/plain", b""),
            Err(FileRefused::Limit(_))
        ));
        assert_eq!(stop.reason(), Some(Outcome::OutputLimit));
        let frames = lines(&buf);
        assert_eq!(frames.len(), 2);
        assert!(matches!(&frames[1], Frame::File(f) if f.data == "AAEC" && f.size == 3));
    }

    #[test]
    fn result_is_written_once() {
        let (out, buf, _) = output(OutputLimits::default());
        let result = ResultFrame {
            outcome: Outcome::Ok,
            value: None,
            error: None,
            cpu_ms: 0,
            wall_ms: 0,
            heap_peak_bytes: 0,
        };
        assert!(out.writer.finish(result.clone()));
        assert!(!out.writer.finish_within(result, Duration::from_millis(1)));
        assert!(!out.log(LogLevel::Info, "late".into()));
        assert_eq!(lines(&buf).len(), 1);
    }
}
