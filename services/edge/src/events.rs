//! `GET /v1/runs/{id}/events`: a WebSocket fed by an ordered consumer on
//! the run's events, from the first (a late client gets the whole run), then
//! live, closed normally (1000) after the result.
//!
//! A bounded buffer sits between NATS and the socket, filled only as fast as
//! the client takes it; a client that lets it stay full is closed as too
//! slow rather than growing the edge's memory. Sessions are capped per
//! client ([`crate::sessions`]) and in length. Who may open the stream is
//! [`crate::records::may_read`]'s decision, not this module's.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer;
use futures::{SinkExt, StreamExt};
use moat_queue::subjects;
use serde::Deserialize;
use warp::reply::Response;
use warp::ws::{Message, WebSocket};
use warp::{Filter, Rejection, Reply};

use crate::auth::{caller, Caller};
use crate::errors::ApiError;
use crate::rate_limit::Headers;
use crate::records::{may_read, TokenQuery};
use crate::routes::{refuse, with, Deps};

/// Events buffered between NATS and a WebSocket.
const WS_BUFFER: usize = 256;
/// Longest a WebSocket session lasts, whatever the run does.
const WS_MAX_SESSION: Duration = Duration::from_secs(15 * 60);
/// Largest message a client may send on the events socket (it need send none).
const WS_MAX_INBOUND: usize = 1024;
/// How long the buffer may stay full before the client counts as too slow.
const WS_SLOW_AFTER: Duration = Duration::from_secs(5);
/// How long a closing client gets to take the close frame.
const WS_CLOSE_GRACE: Duration = Duration::from_secs(10);

/// The route.
pub fn handlers(deps: Deps) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("v1" / "runs" / String / "events")
        .and(warp::get())
        .and(caller(deps.clone(), "events"))
        .and(warp::query::<TokenQuery>())
        .and(warp::header::optional::<String>("x-run-token"))
        .and(warp::ws())
        .and(with(deps))
        .and_then(events)
}

async fn events(
    id: String,
    caller: Caller,
    headers: Option<Headers>,
    query: TokenQuery,
    header_token: Option<String>,
    ws: warp::ws::Ws,
    deps: Deps,
) -> Result<Response, Rejection> {
    may_read(&caller, &id, query.token.or(header_token), &deps)
        .await
        .map_err(|e| refuse(headers, e))?;
    let session = deps
        .sessions
        .open(&caller)
        .ok_or_else(|| refuse(headers, ApiError::TooManySessions))?;
    let stream = deps
        .js
        .get_stream(subjects::RUN_EVENTS)
        .await
        .map_err(|e| refuse(headers, ApiError::unavailable("get_stream", e)))?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            // Named, so it is created (and recreated) through the named
            // consumer API, the only one the edge's NATS user may call.
            name: Some(format!("edge-{}", uuid::Uuid::new_v4().simple())),
            filter_subject: subjects::events(&id),
            ..Default::default()
        })
        .await
        .map_err(|e| refuse(headers, ApiError::unavailable("create_consumer", e)))?;
    let (metrics, shutdown) = (deps.metrics.clone(), deps.shutdown.clone());
    // Clients have nothing to say on this socket: small frames only.
    Ok(ws
        .max_message_size(WS_MAX_INBOUND)
        .max_frame_size(WS_MAX_INBOUND)
        .on_upgrade(move |socket| async move {
            metrics.ws_sessions.increment(1.0);
            stream_events(socket, consumer, metrics.clone(), shutdown).await;
            metrics.ws_sessions.decrement(1.0);
            drop(session);
        })
        .into_response())
}

/// Forwards the run's events to the socket through a bounded buffer, so a
/// slow client is closed ("client too slow") rather than growing the edge's
/// memory. Counts how each session ended in `ws_closed_total`; closes with
/// 1001 when the edge stops.
async fn stream_events(
    socket: WebSocket,
    consumer: consumer::Consumer<consumer::pull::OrderedConfig>,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let (mut sink, mut incoming) = socket.split();
    // Each message says whether it is the run's last (the result).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Message, bool)>(WS_BUFFER);
    let mut reader = tokio::spawn(async move {
        let Ok(mut messages) = consumer.messages().await else {
            return Err(SessionEnd::StreamError);
        };
        while let Some(Ok(msg)) = messages.next().await {
            let text = String::from_utf8_lossy(&msg.payload).into_owned();
            // Only the type matters here: read `t`, not the whole event.
            let last = serde_json::from_str::<EventTag>(&text).is_ok_and(|e| e.t == "result");
            // A backlog (a late client) is replayed as fast as the client
            // takes it; only a buffer that stays full means too slow.
            match tokio::time::timeout(WS_SLOW_AFTER, tx.send((Message::text(text), last))).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(SessionEnd::ClientGone),
                Err(_) => return Err(SessionEnd::TooSlow),
            }
            if last {
                return Ok(());
            }
        }
        Err(SessionEnd::StreamError)
    });
    let mut reader_done = false;
    let mut sent_last = false;
    let session = async {
        loop {
            // Both waits also watch the reader, so a client too slow to take
            // what is buffered is told at once, not after the buffer drains.
            tokio::select! {
                () = shutdown.cancelled() => return SessionEnd::Shutdown,
                done = &mut reader, if !reader_done => match done {
                    Ok(Ok(())) => reader_done = true,
                    Ok(Err(end)) => return end,
                    Err(_) => return SessionEnd::Internal,
                },
                next = rx.recv() => {
                    let Some((m, last)) = next else {
                        // The reader is done: its own word says how.
                        if reader_done {
                            return SessionEnd::Finished;
                        }
                        return match (&mut reader).await {
                            Ok(Ok(())) => SessionEnd::Finished,
                            Ok(Err(end)) => end,
                            Err(_) => SessionEnd::Internal,
                        };
                    };
                    // The send is never abandoned once the message left the
                    // buffer: only the reader failing cuts it short.
                    let send = sink.send(m);
                    tokio::pin!(send);
                    loop {
                        tokio::select! {
                            sent = &mut send => {
                                if sent.is_err() { return SessionEnd::ClientGone }
                                sent_last = last;
                                break;
                            }
                            done = &mut reader, if !reader_done => match done {
                                Ok(Ok(())) => reader_done = true,
                                Ok(Err(end)) => return end,
                                Err(_) => return SessionEnd::Internal,
                            },
                        }
                    }
                }
                // The client closing (or sending anything) ends nothing but
                // its own side; a closed socket ends the session (a client
                // that leaves once it has everything has still finished).
                inbound = incoming.next() => if inbound.is_none() {
                    return if sent_last {
                        SessionEnd::Finished
                    } else {
                        SessionEnd::ClientGone
                    };
                },
            }
        }
    };
    let end = tokio::time::timeout(WS_MAX_SESSION, session)
        .await
        .unwrap_or(SessionEnd::SessionLimit);
    reader.abort();
    metrics.ws_closed.with(&[end.label()]).increment(1);
    if let Some((code, reason)) = end.close_frame() {
        // A client that reads nothing cannot hold the session open: the
        // close frame gets a grace period, then the connection is dropped.
        let _ = tokio::time::timeout(WS_CLOSE_GRACE, sink.send(Message::close_with(code, reason)))
            .await;
    }
}

/// The one field of an event the forwarding loop looks at.
#[derive(Deserialize)]
struct EventTag<'a> {
    t: &'a str,
}

/// Why a WebSocket session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionEnd {
    /// Every event up to the result was sent.
    Finished,
    /// The client fell more than [`WS_BUFFER`] events behind.
    TooSlow,
    /// The client closed or the connection broke.
    ClientGone,
    /// The event stream failed before the result.
    StreamError,
    /// The session reached [`WS_MAX_SESSION`].
    SessionLimit,
    /// The forwarding task panicked.
    Internal,
    /// The edge is stopping.
    Shutdown,
}

impl SessionEnd {
    /// Every ending (the metric's series exist from the start): a new one
    /// goes here too.
    pub(crate) const ALL: [SessionEnd; 7] = [
        Self::Finished,
        Self::TooSlow,
        Self::ClientGone,
        Self::StreamError,
        Self::SessionLimit,
        Self::Internal,
        Self::Shutdown,
    ];

    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::TooSlow => "too_slow",
            Self::ClientGone => "client_gone",
            Self::StreamError => "stream_error",
            Self::SessionLimit => "session_limit",
            Self::Internal => "internal",
            Self::Shutdown => "shutdown",
        }
    }

    /// The close frame to send, if the client is still there to read it.
    fn close_frame(self) -> Option<(u16, &'static str)> {
        match self {
            Self::Finished => Some((1000, "run finished")),
            Self::TooSlow => Some((1008, "client too slow")),
            Self::ClientGone => None,
            Self::StreamError => Some((1011, "cannot read events")),
            Self::SessionLimit => Some((1008, "session too long")),
            Self::Internal => Some((1011, "internal error")),
            Self::Shutdown => Some((1001, "server shutting down")),
        }
    }
}
