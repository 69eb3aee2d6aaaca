//! The runs resource: `POST /v1/runs` (validate, publish, answer 202 with the
//! run's id and token) and `GET /v1/runs/{id}/events` (a WebSocket that
//! replays the run's events from the first, then streams live, and closes
//! normally after the result).
//!
//! Every route takes its rate-limit token before reading the body or asking
//! the database. `Authorization: Bearer <key>` names a tenant (rate-limited
//! by the key's hash before the key is looked up, so a flood of made-up keys
//! costs no queries beyond its buckets); anonymous callers are keyed by
//! client IP and run as tenant `anon`. A run is readable by its tenant or with
//! its token (query `token` or header `X-Run-Token`); to anyone else it does
//! not exist (404, not 403).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use moat_wire::{subjects, Job, RunRequest};
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::ws::{Message, WebSocket};
use warp::{Filter, Rejection, Reply};

use moat_recorder::db;

use crate::client_ip::client_ip;
use crate::errors::{rate_limit_headers, ApiError};
use crate::rate_limit::{Client, Headers, RateLimits, Verdict};
use crate::token::Tokens;

/// The tenant anonymous runs are queued under.
pub const ANONYMOUS_TENANT: &str = "anon";

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

/// What the routes need, injected.
#[derive(Clone)]
pub struct Deps {
    /// JetStream, for submitting and replaying.
    pub js: jetstream::Context,
    /// The database (run records, usage, API keys).
    pub db: sea_orm::DatabaseConnection,
    /// Metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Where the runs' files are.
    pub store: Arc<dyn moat_store::ObjectStore>,
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
    /// Plan limits for tenants' runs.
    pub tenant_max_timeout_ms: u64,
    /// Plan limits for tenants' runs.
    pub tenant_max_memory_mb: u64,
    /// The web playground's files.
    pub playground: crate::playground::Playground,
    /// Open WebSocket sessions per client.
    pub sessions: Arc<crate::sessions::SessionLimits>,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// A tenant, by a live API key.
    Tenant(String),
    /// Nobody in particular, from this address.
    Anonymous(std::net::IpAddr),
}

impl Caller {
    fn tenant(&self) -> &str {
        match self {
            Caller::Tenant(t) => t,
            Caller::Anonymous(_) => ANONYMOUS_TENANT,
        }
    }
}

impl warp::reject::Reject for ApiError {}

/// A refusal after the rate limits were applied: the error, and the bucket
/// headers every answer carries.
#[derive(Debug)]
struct Refusal {
    error: ApiError,
    headers: Option<Headers>,
}

impl warp::reject::Reject for Refusal {}

fn refuse(headers: Option<Headers>, error: ApiError) -> Rejection {
    warp::reject::custom(Refusal { error, headers })
}

/// Who is calling, and whether the rate limits let them: the rate limit is
/// taken first (by key hash or IP), the key looked up after.
fn caller(
    deps: Deps,
    route: &'static str,
) -> impl Filter<Extract = (Caller, Option<Headers>), Error = Rejection> + Clone {
    warp::addr::remote()
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .and(warp::header::optional::<String>("authorization"))
        .and_then(
            move |peer: Option<SocketAddr>, xff: Option<String>, auth: Option<String>| {
                let deps = deps.clone();
                async move {
                    let peer = peer
                        .map(|p| p.ip())
                        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
                    let ip = client_ip(peer, xff.as_deref(), &deps.trusted_proxies);
                    let key = auth
                        .as_deref()
                        .map(|a| a.strip_prefix("Bearer ").unwrap_or(a).trim().to_owned());
                    let limited = match &key {
                        Some(k) => Client::Tenant(db::sha256_hex(k)[..16].to_owned()),
                        None => Client::Anonymous(ip),
                    };
                    let headers = match deps.limits.check(&limited, route) {
                        Verdict::Allowed(headers) => headers,
                        Verdict::Refused {
                            headers,
                            retry_after_secs,
                            scope,
                        } => {
                            return Err(warp::reject::custom(ApiError::RateLimited {
                                scope,
                                headers,
                                retry_after_secs,
                            }))
                        }
                    };
                    let caller = match key {
                        None => Caller::Anonymous(ip),
                        Some(k) => match db::lookup_api_key(&deps.db, &k).await {
                            Ok(Some(row)) => Caller::Tenant(row.tenant),
                            Ok(None) => return Err(refuse(headers, ApiError::Unauthorized)),
                            Err(e) => {
                                return Err(refuse(headers, ApiError::Unavailable(e.to_string())))
                            }
                        },
                    };
                    Ok((caller, headers))
                }
            },
        )
        .untuple_one()
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
        .and(with(deps.clone()))
        .and_then(events);
    let status = warp::path!("v1" / "runs" / String)
        .and(warp::get())
        .and(caller(deps.clone(), "status"))
        .and(warp::query::<TokenQuery>())
        .and(warp::header::optional::<String>("x-run-token"))
        .and(with(deps.clone()))
        .and_then(status);
    let file = warp::path!("v1" / "runs" / String / "files" / String)
        .and(warp::get())
        .and(caller(deps.clone(), "file"))
        .and(warp::query::<TokenQuery>())
        .and(warp::header::optional::<String>("x-run-token"))
        .and(with(deps.clone()))
        .and_then(file);
    let usage = warp::path!("v1" / "usage")
        .and(warp::get())
        .and(caller(deps.clone(), "usage"))
        .and(warp::query::<UsageQuery>())
        .and(with(deps))
        .and_then(usage);
    submit
        .or(events)
        .unify()
        .or(status)
        .unify()
        .or(file)
        .unify()
        .or(usage)
        .unify()
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
    caller: Caller,
    headers: Option<Headers>,
    length: Option<u64>,
    body: Bytes,
    deps: Deps,
) -> Result<Response, Rejection> {
    let reply = accept(&caller, length, body, &deps)
        .await
        .map_err(|e| refuse(headers, e))?;
    let accepted = warp::reply::with_status(warp::reply::json(&reply), StatusCode::ACCEPTED);
    Ok(with_headers(accepted, headers))
}

/// The reply, with the `RateLimit-*` headers when a bucket applied.
fn with_headers(reply: impl Reply, headers: Option<Headers>) -> Response {
    let mut resp = reply.into_response();
    if let Some(h) = headers {
        rate_limit_headers(&mut resp, &h);
    }
    resp
}

async fn accept(
    caller: &Caller,
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
    let (max_timeout, max_memory) = match caller {
        Caller::Tenant(_) => (deps.tenant_max_timeout_ms, deps.tenant_max_memory_mb),
        Caller::Anonymous(_) => (deps.anon_max_timeout_ms, deps.anon_max_memory_mb),
    };
    job.timeout_ms = body.timeout_ms.unwrap_or(job.timeout_ms.min(max_timeout));
    job.memory_mb = body.memory_mb.unwrap_or(job.memory_mb.min(max_memory));
    if job.timeout_ms > max_timeout {
        return Err(ApiError::bad(
            "limit_exceeded",
            format!("timeout_ms may be at most {max_timeout} on your plan"),
        ));
    }
    if job.memory_mb > max_memory {
        return Err(ApiError::bad(
            "limit_exceeded",
            format!("memory_mb may be at most {max_memory} on your plan"),
        ));
    }
    if let Some(name) = body.filename {
        job.filename = name;
    }
    job.validate()
        .map_err(|e| ApiError::bad("invalid_job", e.to_string()))?;

    let id = uuid::Uuid::new_v4().simple().to_string();
    let tenant = caller.tenant();
    let request = RunRequest::new(&id, tenant, job);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id.as_str());
    let payload = serde_json::to_vec(&request).expect("requests serialise");
    let _timer = deps.metrics.submit_seconds.start_timer();
    let ack = deps
        .js
        .publish_with_headers(subjects::submit(tenant), headers, payload.into())
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
    // Only a run that was queued gets a record. If this insert fails the
    // recorder still creates the row from the run's own events and record.
    let queued = db::NewRun {
        id: id.clone(),
        tenant: tenant.to_owned(),
        token_hash: Some(db::sha256_hex(&token)),
        submitted_ms: request.submitted_ms,
    };
    if let Err(e) = db::insert_queued_run(&deps.db, &queued).await {
        tracing::warn!(run = %id, error = %e, "recording a queued run");
    }
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

/// Whether `caller` may read run `id`: with its token, or as its tenant.
async fn may_read(
    caller: &Caller,
    id: &str,
    token: Option<String>,
    deps: &Deps,
) -> Result<(), ApiError> {
    if !subjects::valid_token(id) {
        return Err(ApiError::NotFound);
    }
    if token.is_some_and(|t| deps.tokens.verify(id, &t)) {
        return Ok(());
    }
    let Caller::Tenant(tenant) = caller else {
        return Err(ApiError::NotFound);
    };
    match db::get_run(&deps.db, id).await {
        Ok(Some(view)) if &view.run.tenant == tenant => Ok(()),
        Ok(_) => Err(ApiError::NotFound),
        Err(e) => Err(ApiError::Unavailable(e.to_string())),
    }
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
        .map_err(|e| refuse(headers, ApiError::Unavailable(e.to_string())))?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subjects::events(&id),
            ..Default::default()
        })
        .await
        .map_err(|e| refuse(headers, ApiError::Unavailable(e.to_string())))?;
    let metrics = deps.metrics.clone();
    // Clients have nothing to say on this socket: small frames only.
    Ok(ws
        .max_message_size(WS_MAX_INBOUND)
        .max_frame_size(WS_MAX_INBOUND)
        .on_upgrade(move |socket| async move {
            metrics.ws_sessions.inc();
            stream_events(socket, consumer, metrics.clone()).await;
            metrics.ws_sessions.dec();
            drop(session);
        })
        .into_response())
}

/// `GET /v1/runs/{id}`: the run's record, files and log excerpt.
async fn status(
    id: String,
    caller: Caller,
    headers: Option<Headers>,
    query: TokenQuery,
    header_token: Option<String>,
    deps: Deps,
) -> Result<Response, Rejection> {
    let token = query.token.or(header_token);
    may_read(&caller, &id, token.clone(), &deps)
        .await
        .map_err(|e| refuse(headers, e))?;
    // Anonymous readers need the token on every file link too.
    let token = token.filter(|_| matches!(caller, Caller::Anonymous(_)));
    let view = match db::get_run(&deps.db, &id).await {
        Ok(Some(view)) => view,
        Ok(None) => return Err(refuse(headers, ApiError::NotFound)),
        Err(e) => return Err(refuse(headers, ApiError::Unavailable(e.to_string()))),
    };
    Ok(with_headers(
        warp::reply::json(&record_view(&view, token.as_deref())),
        headers,
    ))
}

/// `GET /v1/runs/{id}/files/{name}`: a file of the run's current attempt,
/// with the type its content was sniffed as. Images are shown inline; every
/// other type downloads, and `nosniff` keeps browsers from guessing, so a
/// script's file can never act as a page on this origin.
async fn file(
    id: String,
    name: String,
    caller: Caller,
    headers: Option<Headers>,
    query: TokenQuery,
    header_token: Option<String>,
    deps: Deps,
) -> Result<Response, Rejection> {
    may_read(&caller, &id, query.token.or(header_token), &deps)
        .await
        .map_err(|e| refuse(headers, e))?;
    let name = percent_encoding::percent_decode_str(&name)
        .decode_utf8()
        .map_err(|_| refuse(headers, ApiError::NotFound))?
        .into_owned();
    let view = match db::get_run(&deps.db, &id).await {
        Ok(Some(view)) => view,
        Ok(None) => return Err(refuse(headers, ApiError::NotFound)),
        Err(e) => return Err(refuse(headers, ApiError::Unavailable(e.to_string()))),
    };
    let Some(row) = view.files.iter().find(|f| f.name == name) else {
        return Err(refuse(headers, ApiError::NotFound));
    };
    let object = match deps.store.get(&row.key).await {
        Ok(Some(object)) => object,
        Ok(None) => return Err(refuse(headers, ApiError::NotFound)),
        Err(e) => return Err(refuse(headers, ApiError::Unavailable(e.to_string()))),
    };
    let inline = matches!(
        object.content_type.as_str(),
        "image/png" | "image/jpeg" | "image/gif"
    );
    let disposition = if inline { "inline" } else { "attachment" };
    let mut resp = Response::new(object.data.to_vec().into());
    let h = resp.headers_mut();
    let value = |v: &str| {
        warp::http::HeaderValue::from_str(v).unwrap_or(warp::http::HeaderValue::from_static(
            "application/octet-stream",
        ))
    };
    h.insert(
        warp::http::header::CONTENT_TYPE,
        value(&object.content_type),
    );
    h.insert(
        "x-content-type-options",
        warp::http::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        warp::http::header::CONTENT_DISPOSITION,
        warp::http::HeaderValue::from_static(disposition),
    );
    Ok(with_headers(resp, headers))
}

/// A file's download path: the name percent-encoded (names may hold `#`,
/// `?`, `%` or spaces), the token appended for anonymous readers.
pub fn file_url(id: &str, name: &str, token: Option<&str>) -> String {
    let name = moat_wire::job::filename_url_segment(name);
    match token {
        Some(t) => format!("/v1/runs/{id}/files/{name}?token={t}"),
        None => format!("/v1/runs/{id}/files/{name}"),
    }
}

/// The public shape of a run record.
fn record_view(view: &db::RunView, token: Option<&str>) -> moat_wire::RunView {
    let r = &view.run;
    let count = |n: Option<i64>| n.map(|n| n.max(0) as u64);
    moat_wire::RunView {
        id: r.id.clone(),
        status: r.status.clone(),
        attempt: r.attempt.max(0) as u32,
        outcome: r
            .outcome
            .as_deref()
            .and_then(|o| serde_json::from_value(o.into()).ok()),
        value: r
            .value
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok()),
        error: r
            .error
            .as_deref()
            .and_then(|e| serde_json::from_str(e).ok()),
        cpu_ms: count(r.cpu_ms),
        wall_ms: count(r.wall_ms),
        heap_peak_bytes: count(r.heap_peak_bytes),
        queued_ms: count(r.queued_ms),
        events: count(r.events),
        log_bytes: count(r.log_bytes),
        submitted_ms: count(r.submitted_ms),
        finished_ms: count(r.finished_ms),
        logs: view
            .logs
            .iter()
            .map(|l| moat_wire::LogFrame {
                level: serde_json::from_value(l.level.as_str().into())
                    .unwrap_or(moat_wire::LogLevel::Info),
                msg: l.msg.clone(),
                ts_ms: l.ts_ms.max(0) as u64,
            })
            .collect(),
        files: view
            .files
            .iter()
            .map(|f| moat_wire::FileLink {
                file: moat_wire::FileRef {
                    name: f.name.clone(),
                    media_type: f.media_type.clone(),
                    size: f.size.max(0) as u64,
                },
                url: file_url(&r.id, &f.name, token),
            })
            .collect(),
    }
}

#[derive(Debug, Deserialize)]
struct UsageQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD`: a tenant's usage by day
/// (the last 30 days by default). Anonymous callers have no usage to see.
async fn usage(
    caller: Caller,
    headers: Option<Headers>,
    query: UsageQuery,
    deps: Deps,
) -> Result<Response, Rejection> {
    let Caller::Tenant(tenant) = caller else {
        return Err(refuse(headers, ApiError::Unauthorized));
    };
    let now = moat_wire::run::now_ms();
    let to = query.to.unwrap_or_else(|| db::day_of_ms(now));
    let from = query
        .from
        .unwrap_or_else(|| db::day_of_ms(now.saturating_sub(30 * 86_400_000)));
    if !db::valid_day(&from) || !db::valid_day(&to) {
        return Err(refuse(
            headers,
            ApiError::bad("invalid_query", "from and to are days as YYYY-MM-DD"),
        ));
    }
    let rows = db::usage(&deps.db, &tenant, &from, &to)
        .await
        .map_err(|e| refuse(headers, ApiError::Unavailable(e.to_string())))?;
    let days: Vec<_> = rows
        .iter()
        .map(|u| serde_json::json!({"day": u.day, "runs": u.runs, "cpu_ms": u.cpu_ms, "wall_ms": u.wall_ms, "bytes_out": u.bytes_out}))
        .collect();
    Ok(with_headers(
        warp::reply::json(
            &serde_json::json!({"tenant": tenant, "from": from, "to": to, "days": days}),
        ),
        headers,
    ))
}

/// Forwards the run's events to the socket through a bounded buffer, so a
/// slow client is closed ("client too slow") rather than growing the edge's
/// memory. Counts how each session ended in `ws_closed_total`.
async fn stream_events(
    socket: WebSocket,
    consumer: consumer::Consumer<consumer::pull::OrderedConfig>,
    metrics: Arc<crate::metrics::Metrics>,
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
    metrics.ws_closed.with_label_values(&[end.label()]).inc();
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
enum SessionEnd {
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
}

impl SessionEnd {
    /// The metric label.
    fn label(self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::TooSlow => "too_slow",
            Self::ClientGone => "client_gone",
            Self::StreamError => "stream_error",
            Self::SessionLimit => "session_limit",
            Self::Internal => "internal",
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
        }
    }
}

/// Turns a rejection into the API's JSON error; also returns its code.
pub fn rejection_response(rejection: &Rejection) -> (Response, &'static str) {
    if let Some(r) = rejection.find::<Refusal>() {
        let mut resp = r.error.response();
        if let Some(h) = &r.headers {
            rate_limit_headers(&mut resp, h);
        }
        return (resp, r.error.code());
    }
    if let Some(e) = rejection.find::<ApiError>() {
        return (e.response(), e.code());
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
    (resp, e.code())
}
