//! The runner's half of the host-call channel (`moat_wire::hostcall`): calls
//! go out as frames on stdout, replies come back as lines on stdin, read by a
//! thread of their own and handed to the engine's event loop, which waits on
//! them as it waits on timers (a run with calls in flight is not idle).
//!
//! What the host sends is checked here too: lines over the cap, unknown
//! replies, replies to calls never made, and bodies over what was asked are
//! errors that end the channel (every waiting call then fails), never a
//! crash or an unbounded buffer.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use moat_wire::hostcall::{
    CallFrame, CancelFrame, FetchResponse, HostCall, HostError, Reply, ReplyLine,
    MAX_CALLS_IN_FLIGHT, MAX_REPLY_LINE_BYTES,
};
use moat_wire::Frame;

use crate::browser::{BrowserSink, FromBrowser};
use crate::output::FrameWriter;

/// Replies waiting for the event loop; the reader blocks past this, and the
/// host's writes with it (the pipe is the backpressure).
const QUEUED_LINES: usize = 64;
/// Most bytes one call's reply may carry: the largest egress quota (64 MiB)
/// with room; the host's own caps are lower.
const MAX_REPLY_BYTES: usize = 80 * 1024 * 1024;

/// A call the host answered.
#[derive(Debug)]
pub struct Completed {
    /// The call's id.
    pub id: u32,
    /// The response and its body, or why the call failed.
    pub result: Result<(FetchResponse, Vec<u8>), HostError>,
}

/// Why a call could not even be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallRefused {
    /// [`MAX_CALLS_IN_FLIGHT`] calls are already waiting.
    #[error("{MAX_CALLS_IN_FLIGHT} host calls are already waiting; await some first")]
    TooMany,
    /// The host does not answer calls (its channel is closed).
    #[error("{0}")]
    Closed(String),
}

impl CallRefused {
    /// The code the script's error carries.
    pub fn code(&self) -> &'static str {
        match self {
            CallRefused::TooMany => "EGRESS_LIMIT",
            CallRefused::Closed(_) => "EGRESS_UNAVAILABLE",
        }
    }
}

/// What the event loop is woken for.
#[derive(Debug)]
pub enum Arrival {
    /// A call the host answered (or that failed).
    Call(Completed),
    /// A message from the run's browser.
    Browser(FromBrowser),
}

/// What the reader threads hand over.
enum Incoming {
    Line(ReplyLine),
    /// The channel ended: stdin closed, or the host broke the protocol.
    Closed(String),
    /// The browser's reading thread shares the queue, so the loop waits on one.
    Browser(FromBrowser),
}

/// State the loop keeps per call.
#[derive(Default)]
struct Waiting {
    body: Vec<u8>,
}

/// Where a waiting channel's replies will come from, once attached.
pub struct Replies {
    attach: mpsc::Sender<Box<dyn BufRead + Send>>,
}

impl Replies {
    /// Hands the reply input to the channel's reading thread.
    pub fn attach(self, input: Box<dyn BufRead + Send>) {
        // A thread that never started already closed the channel, saying why.
        let _ = self.attach.send(input);
    }
}

/// One run's channel to its host.
pub struct HostChannel {
    writer: Option<Arc<FrameWriter>>,
    incoming: Mutex<Option<Receiver<Incoming>>>,
    /// For a browser's reading thread: the same queue as the host's replies.
    queue: Option<SyncSender<Incoming>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_id: u32,
    waiting: HashMap<u32, Waiting>,
    /// Set once the channel has ended; calls fail with it from then on.
    closed: Option<String>,
}

impl HostChannel {
    /// A channel whose calls go out through `writer` and whose replies are
    /// read from `input` (the rest of stdin, after the job line) by a thread.
    pub fn spawn(writer: Arc<FrameWriter>, input: Box<dyn BufRead + Send>) -> Self {
        let (channel, replies) = Self::waiting(writer);
        replies.attach(input);
        channel
    }

    /// A channel whose reply-reading thread starts now and waits for its
    /// input ([`Replies::attach`]): a pooled runner starts it before its job
    /// (a thread is costly to start inside gVisor) and attaches stdin after
    /// reading the job line from it.
    pub fn waiting(writer: Arc<FrameWriter>) -> (Self, Replies) {
        let (tx, rx) = mpsc::sync_channel(QUEUED_LINES);
        let queue = tx.clone();
        let (attach, attached) = mpsc::channel::<Box<dyn BufRead + Send>>();
        let reader = std::thread::Builder::new()
            .name("host-replies".into())
            .spawn(move || match attached.recv() {
                Ok(input) => read_replies(input, tx),
                Err(_) => {
                    let _ = tx.send(Incoming::Closed("the host gave no reply input".into()));
                }
            });
        let (incoming, queue, closed) = match reader {
            Ok(_) => (Some(rx), Some(queue), None),
            Err(e) => (None, None, Some(format!("cannot read host replies: {e}"))),
        };
        let channel = Self {
            writer: Some(writer),
            incoming: Mutex::new(incoming),
            queue,
            state: Mutex::new(State {
                closed,
                ..State::default()
            }),
        };
        (channel, Replies { attach })
    }

    /// A channel to no host: every call fails with `why`.
    pub fn closed(why: &str) -> Self {
        Self {
            writer: None,
            incoming: Mutex::new(None),
            queue: None,
            state: Mutex::new(State {
                closed: Some(why.to_owned()),
                ..State::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a call; its id, which a later [`Completed`] will carry.
    pub fn call(&self, call: HostCall) -> Result<u32, CallRefused> {
        let mut state = self.state();
        if let Some(why) = &state.closed {
            return Err(CallRefused::Closed(why.clone()));
        }
        if state.waiting.len() >= MAX_CALLS_IN_FLIGHT {
            return Err(CallRefused::TooMany);
        }
        let Some(writer) = &self.writer else {
            return Err(CallRefused::Closed("no host answers calls".into()));
        };
        state.next_id += 1;
        let id = state.next_id;
        if !writer.write_frame(&Frame::Call(CallFrame { id, call })) {
            return Err(CallRefused::Closed("the run's output is closed".into()));
        }
        state.waiting.insert(id, Waiting::default());
        Ok(id)
    }

    /// Gives up on call `id`: its reply, if one comes, is dropped.
    pub fn cancel(&self, id: u32) {
        let mut state = self.state();
        if state.waiting.remove(&id).is_some() {
            if let Some(writer) = &self.writer {
                writer.write_frame(&Frame::Cancel(CancelFrame { id }));
            }
        }
    }

    /// Calls waiting for their reply.
    pub fn in_flight(&self) -> usize {
        self.state().waiting.len()
    }

    /// Where a browser's reading thread sends its messages: into this
    /// channel's queue, to arrive through [`HostChannel::next`].
    pub fn browser_sink(&self) -> Option<BrowserSink> {
        let queue = self.queue.clone()?;
        Some(crate::browser::sink_into(queue, Incoming::Browser))
    }

    /// The next answered call or browser message, waiting for it until
    /// `until` at most (`None`: only what is already here); calls that failed
    /// because the channel ended come back one at a time too. Without calls
    /// in flight it waits only while `browser` (a browser is running).
    pub fn next(&self, until: Option<Instant>, browser: bool) -> Option<Arrival> {
        loop {
            if let Some(done) = self.fail_one_if_closed() {
                return Some(Arrival::Call(done));
            }
            if self.in_flight() == 0 && !browser {
                return None;
            }
            let incoming = self.incoming.lock().unwrap_or_else(|e| e.into_inner());
            let Some(rx) = incoming.as_ref() else {
                drop(incoming);
                self.close("the host's channel is closed".into());
                if self.in_flight() == 0 {
                    return None;
                }
                continue;
            };
            let got = match until {
                None => rx.try_recv().map_err(|e| match e {
                    mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                    mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                }),
                Some(until) => rx.recv_timeout(until.saturating_duration_since(Instant::now())),
            };
            drop(incoming);
            match got {
                Ok(Incoming::Line(line)) => {
                    if let Some(done) = self.take(line) {
                        return Some(Arrival::Call(done));
                    }
                }
                Ok(Incoming::Browser(message)) => return Some(Arrival::Browser(message)),
                Ok(Incoming::Closed(why)) => self.close(why),
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => {
                    self.close("the host's channel is closed".into())
                }
            }
        }
    }

    fn close(&self, why: String) {
        let mut state = self.state();
        state.closed.get_or_insert(why);
    }

    fn fail_one_if_closed(&self) -> Option<Completed> {
        let mut state = self.state();
        let why = state.closed.clone()?;
        let id = *state.waiting.keys().min()?;
        state.waiting.remove(&id);
        Some(Completed {
            id,
            result: Err(HostError::new("EGRESS_UNAVAILABLE", why)),
        })
    }

    /// Applies one reply line; the call it completes, if it does.
    fn take(&self, line: ReplyLine) -> Option<Completed> {
        let mut state = self.state();
        // A reply to a call cancelled (or never made) is dropped: cancels
        // race with replies already on their way.
        let waiting = state.waiting.get_mut(&line.id)?;
        match line.reply {
            Reply::Chunk { data } => {
                let decoded = base64::engine::general_purpose::STANDARD.decode(data);
                match decoded {
                    Ok(bytes) if waiting.body.len() + bytes.len() <= MAX_REPLY_BYTES => {
                        waiting.body.extend_from_slice(&bytes);
                        None
                    }
                    Ok(_) => {
                        state.waiting.remove(&line.id);
                        Some(Completed {
                            id: line.id,
                            result: Err(HostError::new(
                                "EGRESS_LIMIT",
                                "the reply is larger than a run may receive",
                            )),
                        })
                    }
                    Err(_) => {
                        drop(state);
                        self.close("the host sent a chunk that is not base64".into());
                        None
                    }
                }
            }
            Reply::Fetched(response) => {
                let waiting = state.waiting.remove(&line.id)?;
                Some(Completed {
                    id: line.id,
                    result: Ok((response, waiting.body)),
                })
            }
            Reply::Failed(error) => {
                state.waiting.remove(&line.id);
                Some(Completed {
                    id: line.id,
                    result: Err(error),
                })
            }
        }
    }
}

/// The reader thread: one reply line at a time, strictly, until EOF or the
/// first bad line.
fn read_replies(mut input: Box<dyn BufRead + Send>, tx: SyncSender<Incoming>) {
    let mut line = Vec::new();
    let why = loop {
        line.clear();
        let n = match std::io::Read::take(&mut input, MAX_REPLY_LINE_BYTES as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(n) => n,
            Err(e) => break format!("reading host replies: {e}"),
        };
        if n == 0 {
            break "the host closed the channel".to_owned();
        }
        if line.last() != Some(&b'\n') {
            break if n >= MAX_REPLY_LINE_BYTES {
                "a host reply is over the line cap".to_owned()
            } else {
                "the host's channel ended mid-line".to_owned()
            };
        }
        match ReplyLine::decode(&line[..n - 1]) {
            Ok(reply) => {
                if tx.send(Incoming::Line(reply)).is_err() {
                    return;
                }
            }
            Err(e) => break format!("a bad host reply: {e}"),
        }
    };
    let _ = tx.send(Incoming::Closed(why));
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_wire::hostcall::FetchCall;
    use std::io::Cursor;
    use std::time::Duration;

    fn fetch(url: &str) -> HostCall {
        HostCall::Fetch(FetchCall::get(url))
    }

    fn lines(replies: &[ReplyLine]) -> Box<dyn BufRead + Send> {
        let bytes: Vec<u8> = replies.iter().flat_map(ReplyLine::encode).collect();
        Box::new(Cursor::new(bytes))
    }

    fn writer() -> Arc<FrameWriter> {
        Arc::new(FrameWriter::new(Box::new(std::io::sink())))
    }

    fn call(arrival: Option<Arrival>) -> Completed {
        match arrival {
            Some(Arrival::Call(done)) => done,
            other => panic!("expected a call's reply, got {other:?}"),
        }
    }

    fn soon() -> Option<Instant> {
        Some(Instant::now() + Duration::from_secs(5))
    }

    #[test]
    fn chunks_then_a_response_complete_a_call() {
        let head = FetchResponse {
            status: 200,
            status_text: "OK".into(),
            headers: vec![],
            url: "http://127.0.0.1/".into(),
            redirected: false,
        };
        let input = lines(&[
            ReplyLine::new(
                1,
                Reply::Chunk {
                    data: "aGVs".into(),
                },
            ),
            ReplyLine::new(
                1,
                Reply::Chunk {
                    data: "bG8=".into(),
                },
            ),
            ReplyLine::new(1, Reply::Fetched(head.clone())),
        ]);
        let channel = HostChannel::spawn(writer(), input);
        assert_eq!(channel.call(fetch("http://127.0.0.1/")).unwrap(), 1);
        let done = call(channel.next(soon(), false));
        assert_eq!(done.id, 1);
        assert_eq!(done.result.unwrap(), (head, b"hello".to_vec()));
        assert_eq!(channel.in_flight(), 0);
        // Then the host's EOF closes the channel for later calls.
        assert!(channel.next(soon(), false).is_none());
    }

    #[test]
    fn a_closed_or_broken_channel_fails_every_waiting_call() {
        let input: Box<dyn BufRead + Send> = Box::new(Cursor::new(b"{not json}\n".to_vec()));
        let channel = HostChannel::spawn(writer(), input);
        let a = channel.call(fetch("http://a.test/")).unwrap();
        let b = channel.call(fetch("http://b.test/")).unwrap();
        let first = call(channel.next(soon(), false));
        let second = call(channel.next(soon(), false));
        assert_eq!((first.id, second.id), (a, b));
        let error = first.result.unwrap_err();
        assert_eq!(error.code, "EGRESS_UNAVAILABLE");
        assert!(error.message.contains("bad host reply"), "{error:?}");
        assert!(matches!(
            channel.call(fetch("http://c.test/")),
            Err(CallRefused::Closed(_))
        ));
    }

    #[test]
    fn replies_to_unknown_or_cancelled_calls_are_dropped() {
        let failed = |id| {
            ReplyLine::new(
                id,
                Reply::Failed(HostError::new("ECONNREFUSED", "connect ECONNREFUSED")),
            )
        };
        let input = lines(&[failed(9), failed(1), failed(2)]);
        let channel = HostChannel::spawn(writer(), input);
        let one = channel.call(fetch("http://a.test/")).unwrap();
        let two = channel.call(fetch("http://b.test/")).unwrap();
        channel.cancel(one);
        let done = call(channel.next(soon(), false));
        assert_eq!(done.id, two);
        assert_eq!(done.result.unwrap_err().code, "ECONNREFUSED");
    }

    #[test]
    fn calls_in_flight_are_capped() {
        // A host that never answers (its input stays open and empty).
        let (_keep, read) = std::os::unix::net::UnixStream::pair().unwrap();
        let channel = HostChannel::spawn(writer(), Box::new(std::io::BufReader::new(read)));
        for _ in 0..MAX_CALLS_IN_FLIGHT {
            channel.call(fetch("http://a.test/")).unwrap();
        }
        assert_eq!(
            channel.call(fetch("http://a.test/")),
            Err(CallRefused::TooMany)
        );
        // Waiting is bounded by the deadline given.
        let t = Instant::now();
        assert!(channel
            .next(Some(Instant::now() + Duration::from_millis(50)), false)
            .is_none());
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
