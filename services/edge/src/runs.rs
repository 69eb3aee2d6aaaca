//! The runs resource: `POST /v1/runs` (validate, publish, answer 202 with the
//! run's id and token) and `GET /v1/runs/{id}/events` (a WebSocket that
//! replays the run's events from the first, then streams live, and closes
//! normally after the result).
//!
//! Every route takes its rate-limit token before reading the body. Anonymous
//! callers are keyed by client IP and run as tenant `anon`; reading a run needs
//! its token (query `token` or header `X-Run-Token`): without it the run does
//! not exist (404, not 403).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use moat_wire::{subjects, EventBody, Job, RunRequest};
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::ws::{Message, WebSocket};
use warp::{Filter, Rejection, Reply};

use crate::client_ip::client_ip;
use crate::errors::{rate_limit_headers, ApiError};
use crate::rate_limit::{Client, Headers, RateLimits, Verdict};
use crate::token::Tokens;

/// The tenant anonymous runs are queued under.
pub const ANONYMOUS_TENANT: &str = "anon";

/// Events a WebSocket may fall behind by before it is closed as too slow.
const WS_BUFFER: usize = 256;
/// Longest a WebSocket session lasts, whatever the run does.
const WS_MAX_SESSION: Duration = Duration::from_secs(15 * 60);

/// What the routes need, injected.
#[derive(Clone)]
pub struct Deps {
    /// JetStream, for submitting and replaying.
    pub js: jetstream::Context,
    /// The rate limits.
    pub limits: Arc<RateLimits>,
    /// Run tokens.
    pub tokens: Tokens,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    /// Largest request body.
    pub max_body_bytes: u64,
    /// Plan limits for anonymous runs.
    pub anon_max_timeout_ms: u64,
    /// Plan limits for anonymous runs.
    pub anon_max_memory_mb: u64,
}

impl warp::reject::Reject for ApiError {}

/// Who is calling, and whether the rate limits let them.
fn caller(
    deps: Deps,
    route: &'static str,
) -> impl Filter<Extract = (Option<Headers>,), Error = Rejection> + Clone {
    warp::addr::remote()
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .and_then(move |peer: Option<SocketAddr>, xff: Option<String>| {
            let deps = deps.clone();
            async move {
                let peer = peer
                    .map(|p| p.ip())
                    .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
                let ip = client_ip(peer, xff.as_deref(), &deps.trusted_proxies);
                match deps.limits.check(&Client::Anonymous(ip), route) {
                    Verdict::Allowed(headers) => Ok(headers),
                    Verdict::Refused {
                        headers,
                        retry_after_secs,
                        scope,
                    } => Err(warp::reject::custom(ApiError::RateLimited {
                        scope,
                        headers,
                        retry_after_secs,
                    })),
                }
            }
        })
}

/// The routes of this resource.
pub fn handlers(deps: Deps) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let submit = warp::path!("v1" / "runs")
        .and(warp::post())
        .and(caller(deps.clone(), "submit"))
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::bytes())
        .and(with(deps.clone()))
        .and_then(submit);
    let events = warp::path!("v1" / "runs" / String / "events")
        .and(warp::get())
        .and(caller(deps.clone(), "events"))
        .and(warp::query::<TokenQuery>())
        .and(warp::header::optional::<String>("x-run-token"))
        .and(warp::ws())
        .and(with(deps))
        .and_then(events);
    submit.or(events).unify()
}

fn with(deps: Deps) -> impl Filter<Extract = (Deps,), Error = Infallible> + Clone {
    warp::any().map(move || deps.clone())
}

/// The body of `POST /v1/runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    code: String,
    timeout_ms: Option<u64>,
    memory_mb: Option<u64>,
    filename: Option<String>,
}

async fn submit(
    headers: Option<Headers>,
    length: Option<u64>,
    body: Bytes,
    deps: Deps,
) -> Result<Response, Rejection> {
    let reply = accept(length, body, &deps)
        .await
        .map_err(warp::reject::custom)?;
    let mut resp =
        warp::reply::with_status(warp::reply::json(&reply), StatusCode::ACCEPTED).into_response();
    if let Some(h) = headers {
        rate_limit_headers(&mut resp, &h);
    }
    Ok(resp)
}

async fn accept(
    length: Option<u64>,
    body: Bytes,
    deps: &Deps,
) -> Result<serde_json::Value, ApiError> {
    if length.unwrap_or(0) > deps.max_body_bytes || body.len() as u64 > deps.max_body_bytes {
        return Err(ApiError::PayloadTooLarge(deps.max_body_bytes));
    }
    let body: SubmitBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad(
            "invalid_json",
            format!("the body must be JSON like {{\"code\": \"...\"}}: {e}"),
        )
    })?;
    let mut job = Job::new(body.code);
    if job.code.len() > moat_wire::job::MAX_CODE_BYTES {
        return Err(ApiError::bad(
            "code_too_large",
            format!(
                "code is {} bytes; the limit is {}",
                job.code.len(),
                moat_wire::job::MAX_CODE_BYTES
            ),
        ));
    }
    job.timeout_ms = body
        .timeout_ms
        .unwrap_or(job.timeout_ms.min(deps.anon_max_timeout_ms));
    job.memory_mb = body
        .memory_mb
        .unwrap_or(job.memory_mb.min(deps.anon_max_memory_mb));
    if job.timeout_ms > deps.anon_max_timeout_ms {
        return Err(ApiError::bad(
            "limit_exceeded",
            format!(
                "timeout_ms may be at most {} on your plan",
                deps.anon_max_timeout_ms
            ),
        ));
    }
    if job.memory_mb > deps.anon_max_memory_mb {
        return Err(ApiError::bad(
            "limit_exceeded",
            format!(
                "memory_mb may be at most {} on your plan",
                deps.anon_max_memory_mb
            ),
        ));
    }
    if let Some(name) = body.filename {
        job.filename = name;
    }
    job.validate()
        .map_err(|e| ApiError::bad("invalid_job", e.to_string()))?;

    let id = uuid::Uuid::new_v4().simple().to_string();
    let request = RunRequest::new(&id, ANONYMOUS_TENANT, job);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id.as_str());
    let payload = serde_json::to_vec(&request).expect("requests serialise");
    let ack = deps
        .js
        .publish_with_headers(subjects::submit(ANONYMOUS_TENANT), headers, payload.into())
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot queue the run: {e}")))?;
    ack.await.map_err(|e| {
        let text = e.to_string();
        // JetStream refuses a publish over the per-subject limit (discard
        // new per subject): that tenant's queue is full.
        if text.contains("maximum messages per subject") {
            ApiError::QueueFull
        } else {
            ApiError::Unavailable(format!("cannot queue the run: {text}"))
        }
    })?;
    let token = deps.tokens.issue(&id);
    Ok(serde_json::json!({
        "id": id,
        "token": token,
        "status": "queued",
        "events_url": format!("/v1/runs/{id}/events?token={token}"),
        "status_url": format!("/v1/runs/{id}?token={token}"),
    }))
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn events(
    id: String,
    _headers: Option<Headers>,
    query: TokenQuery,
    header_token: Option<String>,
    ws: warp::ws::Ws,
    deps: Deps,
) -> Result<Response, Rejection> {
    let token = query.token.or(header_token).unwrap_or_default();
    if !subjects::valid_token(&id) || !deps.tokens.verify(&id, &token) {
        return Err(warp::reject::custom(ApiError::NotFound));
    }
    let stream = deps
        .js
        .get_stream(subjects::RUN_EVENTS)
        .await
        .map_err(|e| warp::reject::custom(ApiError::Unavailable(e.to_string())))?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subjects::events(&id),
            ..Default::default()
        })
        .await
        .map_err(|e| warp::reject::custom(ApiError::Unavailable(e.to_string())))?;
    Ok(ws
        .on_upgrade(move |socket| stream_events(socket, consumer))
        .into_response())
}

/// Forwards the run's events to the socket: a bounded buffer between NATS
/// and the client, so a slow client is closed ("too slow") rather than
/// growing the edge's memory.
async fn stream_events(
    socket: WebSocket,
    consumer: consumer::Consumer<consumer::pull::OrderedConfig>,
) {
    let (mut sink, mut incoming) = socket.split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(WS_BUFFER);
    let reader = tokio::spawn(async move {
        let Ok(mut messages) = consumer.messages().await else {
            return Err("cannot read events");
        };
        while let Some(Ok(msg)) = messages.next().await {
            let text = String::from_utf8_lossy(&msg.payload).into_owned();
            let last = serde_json::from_str::<moat_wire::Event>(&text)
                .map(|e| matches!(e.body, EventBody::Result(_)))
                .unwrap_or(false);
            if tx.try_send(Message::text(text)).is_err() {
                return Err("client too slow");
            }
            if last {
                return Ok(());
            }
        }
        Err("event stream ended")
    });
    let session = async {
        loop {
            tokio::select! {
                next = rx.recv() => match next {
                    Some(m) => if sink.send(m).await.is_err() { return; },
                    None => break,
                },
                // The client closing (or sending anything) ends nothing but
                // its own side; a closed socket ends the session.
                inbound = incoming.next() => if inbound.is_none() { return; },
            }
        }
        let close = match reader.await {
            Ok(Ok(())) => Message::close_with(1000u16, "run finished"),
            Ok(Err(why)) => Message::close_with(1008u16, why),
            Err(_) => Message::close_with(1011u16, "internal error"),
        };
        let _ = sink.send(close).await;
    };
    let _ = tokio::time::timeout(WS_MAX_SESSION, session).await;
}

/// Turns rejections into the API's JSON errors.
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    if let Some(e) = rejection.find::<ApiError>() {
        return Ok(e.response());
    }
    let e = if rejection.is_not_found() {
        ApiError::bad("not_found", "no such route")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::bad("method_not_allowed", "that method is not allowed here")
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        ApiError::bad("invalid_query", "the query string is malformed")
    } else {
        ApiError::bad("bad_request", format!("{rejection:?}"))
    };
    let mut resp = e.response();
    if rejection.is_not_found() {
        *resp.status_mut() = StatusCode::NOT_FOUND;
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    }
    Ok(resp)
}
