//! `POST /v1/runs`: read the body under its cap and deadline
//! ([`crate::body`]), validate it against the caller's plan, queue the run
//! on its client's subject ([`moat_queue::submit`]), record it as queued,
//! and answer 202 with its id and token. A full queue is the client's 429;
//! a queue that cannot be reached is our 503, and then nothing was queued.
//! Nothing here runs code or waits for a launcher.

use bytes::{Buf, Bytes};
use futures::Stream;
use moat_queue::SubmitError;
use moat_wire::{Job, RunRequest};
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

use moat_db as db;

use crate::auth::{caller, Caller};
use crate::body::{read_limited, BodyError};
use crate::errors::ApiError;
use crate::rate_limit::Headers;
use crate::routes::{refuse, with, with_headers, Deps};

/// The route.
pub fn handlers(deps: Deps) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("v1" / "runs")
        .and(warp::post())
        .and(caller(deps.clone(), "submit"))
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .and(with(deps))
        .and_then(submit)
}

/// The body of `POST /v1/runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    code: String,
    timeout_ms: Option<u64>,
    memory_mb: Option<u64>,
    filename: Option<String>,
    /// Asks for the browser profile; a static import of a browser module
    /// asks for it too.
    browser: Option<bool>,
}

/// A browser run's deadline when it names none (capped by the plan's):
/// Chromium alone takes seconds to start in a cold sandbox.
const BROWSER_TIMEOUT_MS: u64 = 30_000;

async fn submit<S, B>(
    caller: Caller,
    headers: Option<Headers>,
    length: Option<u64>,
    body: S,
    deps: Deps,
) -> Result<Response, Rejection>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let body = read_limited(body, length, deps.max_body_bytes, deps.body_timeout)
        .await
        .map_err(|e| {
            let error = match e {
                BodyError::TooLarge(max) => ApiError::PayloadTooLarge(max),
                BodyError::TimedOut(_) => ApiError::BodyTimeout,
                BodyError::Read(_) => ApiError::bad("invalid_body", "the body could not be read"),
            };
            refuse(headers, error)
        })?;
    let reply = accept(&caller, body, &deps)
        .await
        .map_err(|e| refuse(headers, e))?;
    let accepted = warp::reply::with_status(warp::reply::json(&reply), StatusCode::ACCEPTED);
    Ok(with_headers(accepted, headers))
}

async fn accept(caller: &Caller, body: Bytes, deps: &Deps) -> Result<serde_json::Value, ApiError> {
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
    job.browser = body.browser == Some(true) || moat_wire::browser::imports_browser(&job.code);
    let (max_timeout, max_memory) = match caller {
        Caller::Tenant(_) => (deps.tenant_max_timeout_ms, deps.tenant_max_memory_mb),
        Caller::Anonymous(_) if job.browser && !deps.anon_browser => {
            return Err(ApiError::bad(
                "browser_not_allowed",
                "browser runs need an API key on this server",
            ))
        }
        Caller::Anonymous(_) if job.browser => {
            (deps.anon_max_browser_timeout_ms, deps.anon_max_memory_mb)
        }
        Caller::Anonymous(_) => (deps.anon_max_timeout_ms, deps.anon_max_memory_mb),
    };
    let default_timeout = if job.browser {
        BROWSER_TIMEOUT_MS
    } else {
        job.timeout_ms
    };
    job.timeout_ms = body.timeout_ms.unwrap_or(default_timeout.min(max_timeout));
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
    let mut request = RunRequest::new(&id, tenant, job);
    if let Caller::Tenant(_) = caller {
        // The tenant's own network rules travel with its run (the egress
        // service applies them); a run is not sent without them.
        request.egress = db::tenant_egress(&deps.db, tenant)
            .await
            .map_err(|e| ApiError::unavailable("network rules", e.to_string()))?;
    }
    // Timed whether or not it was queued: a refusal took time too.
    let started = std::time::Instant::now();
    let submitted = moat_queue::submit(&deps.js, &caller.client_key(), &request).await;
    deps.metrics.submit_seconds.record(started.elapsed());
    submitted.map_err(|e| match e {
        SubmitError::QueueFull => ApiError::QueueFull,
        SubmitError::Unavailable(cause) => ApiError::unavailable("submit", cause),
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
