//! The egress front: takes fetch requests from NATS (one queue group, so
//! several instances share the work), makes each with the [`Fetcher`], and
//! answers on the request's inbox in numbered messages: the body in chunks
//! under NATS's payload limit, then the response head, or the failure.
//!
//! Nothing a launcher sends is trusted further than its shape: a request
//! that does not decode is answered with a failure, never a crash, and the
//! number of requests in hand at once is capped.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use moat_wire::egress::{
    is_upload_subject, EgressReply, EgressRequest, EgressRules, Upload, EGRESS_QUEUE_GROUP,
    EGRESS_SUBJECT, UPLOAD_PART_BYTES,
};
use moat_wire::hostcall::{
    FetchResponse, HostError, RedirectMode, Reply, MAX_CALL_BODY_BYTES, REPLY_CHUNK_BYTES,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::fetch::{Fetcher, Limits, Redirect, Request};
use crate::metrics::Metrics;
use crate::policy::{parse_domains, parse_nets, AllowOnly, Narrowing, PlanPolicies};

/// Longest a request may ask for, whatever the launcher says.
const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest response a request may ask for.
const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Why the front stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The subscription could not be made.
    #[error("subscribing to {EGRESS_SUBJECT}: {0}")]
    Subscribe(String),
}

/// Serves fetches until `shutdown`, then lets the requests in hand finish
/// for up to `drain`.
pub async fn serve(
    nats: async_nats::Client,
    fetcher: Arc<Fetcher>,
    plans: Arc<PlanPolicies>,
    metrics: Arc<Metrics>,
    max_in_hand: usize,
    drain: Duration,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let mut requests = nats
        .queue_subscribe(EGRESS_SUBJECT, EGRESS_QUEUE_GROUP.into())
        .await
        .map_err(|e| ServeError::Subscribe(e.to_string()))?;
    metrics.ops.set_ready(true);
    tracing::info!(subject = EGRESS_SUBJECT, "egress ready");
    let permits = Arc::new(Semaphore::new(max_in_hand.max(1)));
    let mut tasks = JoinSet::new();
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => break,
            m = requests.next() => match m {
                Some(m) => m,
                None => break,
            },
        };
        while tasks.try_join_next().is_some() {}
        // At the cap, wait for a place: the request waits in NATS's buffer
        // (and the launcher's own time limit), not in an unbounded list here.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let nats = nats.clone();
        let fetcher = fetcher.clone();
        let plans = plans.clone();
        let metrics = metrics.clone();
        tasks.spawn(async move {
            answer(&nats, &fetcher, &plans, &metrics, message).await;
            drop(permit);
        });
    }
    let _ = requests.unsubscribe().await;
    let _ = tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    Ok(())
}

/// Makes one request and publishes its answer.
async fn answer(
    nats: &async_nats::Client,
    fetcher: &Fetcher,
    plans: &PlanPolicies,
    metrics: &Metrics,
    message: async_nats::Message,
) {
    let Some(inbox) = message.reply.clone() else {
        return;
    };
    let started = std::time::Instant::now();
    let replies = match serde_json::from_slice::<EgressRequest>(&message.payload) {
        Ok(mut request) => {
            let (method, url) = (request.call.method.clone(), request.call.url.clone());
            let (replies, result) = match take_body(nats, &mut request).await {
                Ok(()) => respond(fetcher, plans, request).await,
                Err(error) => (vec![Reply::Failed(error)], "upload"),
            };
            metrics.requests.with(&[result]).increment(1);
            metrics.request_seconds.record(started.elapsed());
            tracing::debug!(%method, url = %moat_wire::redact_query(&url), result, ms = started.elapsed().as_millis() as u64, "fetch");
            replies
        }
        Err(e) => vec![Reply::Failed(HostError::new(
            "EPROTO",
            format!("the egress service could not read the request: {e}"),
        ))],
    };
    for (seq, reply) in replies.into_iter().enumerate() {
        let payload = serde_json::to_vec(&EgressReply::new(seq as u32, reply))
            .expect("egress replies serialise");
        if nats.publish(inbox.clone(), payload.into()).await.is_err() {
            return;
        }
    }
}

/// Fetches an uploaded body from the launcher into the request, part by
/// part, each ask bounded by the request's own time limit; a body that does
/// not arrive whole, or is over the cap, fails the request.
async fn take_body(
    nats: &async_nats::Client,
    request: &mut EgressRequest,
) -> Result<(), HostError> {
    let Some(upload) = request.upload.take() else {
        return Ok(());
    };
    let lost = |why: String| {
        HostError::new(
            "EGRESS_UNAVAILABLE",
            format!("the request body did not reach the egress service: {why}"),
        )
    };
    if upload.bytes > MAX_CALL_BODY_BYTES as u64
        || upload.parts != Upload::parts_for(upload.bytes)
        || request.call.body.is_some()
        || !is_upload_subject(&upload.subject)
    {
        return Err(HostError::new(
            "EPROTO",
            "the request's upload is not valid",
        ));
    }
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(request.timeout_ms).min(MAX_TIMEOUT);
    let mut body = Vec::with_capacity(upload.bytes as usize);
    for part in 0..upload.parts {
        let asked = nats.request(upload.subject.clone(), part.to_string().into());
        let answer = tokio::time::timeout_at(deadline, asked)
            .await
            .map_err(|_| lost(format!("part {part} timed out")))?
            .map_err(|e| lost(format!("part {part}: {e}")))?;
        let want = (upload.bytes as usize - body.len()).min(UPLOAD_PART_BYTES);
        if answer.payload.len() != want {
            return Err(lost(format!(
                "part {part} has {} bytes, not {want}",
                answer.payload.len()
            )));
        }
        body.extend_from_slice(&answer.payload);
    }
    request.call.body = Some(base64::engine::general_purpose::STANDARD.encode(&body));
    Ok(())
}

/// Makes one request under its plan's policy and its tenant's rules: its
/// answer as replies (the body's chunks, then the head, or one failure) and
/// a fixed label for how it ended.
pub async fn respond(
    fetcher: &Fetcher,
    plans: &PlanPolicies,
    request: EgressRequest,
) -> (Vec<Reply>, &'static str) {
    // The tenant's rules narrow the plan's policy; rules that do not parse
    // refuse the request rather than being skipped.
    let plan = plans.of(request.plan);
    let policy = match request.rules.as_ref().map(narrowing).transpose() {
        Ok(None) => None,
        Ok(Some(by)) => Some(plan.narrow(&by)),
        Err(why) => {
            let error = HostError::new(crate::policy::EGRESS_DENIED, why);
            return (vec![Reply::Failed(error)], "denied");
        }
    };
    let (req, limits) = match to_fetch(request) {
        Ok(parts) => parts,
        Err(error) => return (vec![Reply::Failed(error)], "invalid-request"),
    };
    let fetched = fetcher
        .fetch_under(policy.as_ref().unwrap_or(plan), req, &limits)
        .await;
    match fetched {
        Err(e) => (
            vec![Reply::Failed(HostError::new(e.code(), e.to_string()))],
            e.reason(),
        ),
        Ok(response) => {
            let mut replies: Vec<Reply> = response
                .body
                .chunks(REPLY_CHUNK_BYTES)
                .map(|chunk| Reply::Chunk {
                    data: base64::engine::general_purpose::STANDARD.encode(chunk),
                })
                .collect();
            replies.push(Reply::Fetched(FetchResponse {
                status: response.status,
                status_text: response.status_text,
                headers: response.headers,
                url: response.url,
                redirected: response.redirected,
            }));
            (replies, "ok")
        }
    }
}

/// A tenant's rules as a narrowing of the policy, or why they are unusable.
fn narrowing(rules: &EgressRules) -> Result<Narrowing, String> {
    let bad = |e: &dyn std::fmt::Display| format!("the tenant's network rules are invalid: {e}");
    let nets = |list: &[String]| parse_nets(&list.join(",")).map_err(|e| bad(&e));
    let domains = |list: &[String]| parse_domains(&list.join(",")).map_err(|e| bad(&e));
    let (only_domains, only_nets) = (domains(&rules.only_domains)?, nets(&rules.only_nets)?);
    Ok(Narrowing {
        deny_nets: nets(&rules.deny_nets)?,
        deny_domains: domains(&rules.deny_domains)?,
        allow_only: (!only_domains.is_empty() || !only_nets.is_empty()).then_some(AllowOnly {
            domains: only_domains,
            nets: only_nets,
        }),
        blocked_ports: Vec::new(),
    })
}

/// The fetcher's request and limits for a launcher's request.
fn to_fetch(request: EgressRequest) -> Result<(Request, Limits), HostError> {
    let body = match request.call.body {
        None => Bytes::new(),
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(Bytes::from)
            .map_err(|_| HostError::new("EPROTO", "the request body is not base64"))?,
    };
    let redirect = match request.call.redirect {
        RedirectMode::Follow => Redirect::Follow,
        RedirectMode::Manual => Redirect::Manual,
        RedirectMode::Error => Redirect::Error,
    };
    let req = Request {
        method: request.call.method,
        url: request.call.url,
        headers: request.call.headers,
        body,
        redirect,
        timeout: Duration::from_millis(request.timeout_ms).min(MAX_TIMEOUT),
    };
    let limits = Limits {
        max_response_bytes: request.max_bytes.min(MAX_BYTES),
        ..Limits::default()
    };
    Ok((req, limits))
}
