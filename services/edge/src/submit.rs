//! `POST /v1/runs`: validate the body against the caller's plan, queue the
//! run, record it as queued, and answer 202 with its id and token. Nothing
//! here runs code or waits for a launcher.

use bytes::Bytes;
use moat_queue::subjects;
use moat_wire::{Job, RunRequest};
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

use moat_db as db;

use crate::auth::{caller, Caller};
use crate::errors::ApiError;
use crate::rate_limit::Headers;
use crate::routes::{refuse, with, with_headers, Deps};

/// The route.
pub fn handlers(deps: Deps) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("v1" / "runs")
        .and(warp::post())
        .and(caller(deps.clone(), "submit"))
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::bytes())
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
