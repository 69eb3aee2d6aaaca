//! The API's routes, composed: the dependencies every handler gets
//! ([`Deps`]), the resources' filters in one tree ([`handlers`]), and the one
//! mapping from a rejection to the JSON error ([`rejection_response`]).
//!
//! The handlers live with their resources: [`crate::submit`] (`POST
//! /v1/runs`), [`crate::events`] (the WebSocket), [`crate::records`] (a run's
//! record and files), [`crate::usage`]. Every one starts with
//! [`crate::auth::caller`], so the rate limits come before any other work.

use std::convert::Infallible;
use std::sync::Arc;

use async_nats::jetstream;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::errors::{rate_limit_headers, ApiError};
use crate::rate_limit::{Headers, RateLimits};
use crate::token::Tokens;

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
    /// Whether anonymous runs may have a browser.
    pub anon_browser: bool,
    /// Longest deadline of an anonymous browser run.
    pub anon_max_browser_timeout_ms: u64,
    /// Plan limits for tenants' runs.
    pub tenant_max_timeout_ms: u64,
    /// Plan limits for tenants' runs.
    pub tenant_max_memory_mb: u64,
    /// The web playground's files.
    pub playground: crate::playground::Playground,
    /// Open WebSocket sessions per client.
    pub sessions: Arc<crate::sessions::SessionLimits>,
    /// How anonymous addresses are grouped into clients.
    pub prefixes: moat_queue::Prefixes,
    /// Longest a request body may take to arrive.
    pub body_timeout: std::time::Duration,
    /// Cancelled when the edge stops: open event streams close (1001).
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// The API's routes.
pub fn handlers(deps: Deps) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    crate::submit::handlers(deps.clone())
        .or(crate::events::handlers(deps.clone()))
        .unify()
        .or(crate::records::handlers(deps.clone()))
        .unify()
        .or(crate::usage::handlers(deps))
        .unify()
}

/// The dependencies, for a handler.
pub(crate) fn with(deps: Deps) -> impl Filter<Extract = (Deps,), Error = Infallible> + Clone {
    warp::any().map(move || deps.clone())
}

impl warp::reject::Reject for ApiError {}

/// A refusal after the rate limits were applied: the error, and the bucket
/// headers every answer carries.
#[derive(Debug)]
pub(crate) struct Refusal {
    error: ApiError,
    headers: Option<Headers>,
}

impl warp::reject::Reject for Refusal {}

/// Rejects with `error`, keeping the caller's `RateLimit-*` headers.
pub(crate) fn refuse(headers: Option<Headers>, error: ApiError) -> Rejection {
    warp::reject::custom(Refusal { error, headers })
}

/// The reply, with the `RateLimit-*` headers when a bucket applied.
pub(crate) fn with_headers(reply: impl Reply, headers: Option<Headers>) -> Response {
    let mut resp = reply.into_response();
    if let Some(h) = headers {
        rate_limit_headers(&mut resp, &h);
    }
    resp
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
    } else if rejection.find::<warp::reject::InvalidHeader>().is_some() {
        ApiError::bad("invalid_header", "a header is malformed")
    } else if rejection.find::<warp::reject::MissingHeader>().is_some() {
        ApiError::bad("missing_header", "a required header is missing")
    } else {
        // warp's own rejections (a WebSocket request without the upgrade
        // headers, say): a fixed sentence, the details only in the log.
        tracing::debug!(?rejection, "request rejected");
        ApiError::bad("bad_request", "the request is malformed")
    };
    let mut resp = e.response();
    if rejection.is_not_found() {
        *resp.status_mut() = StatusCode::NOT_FOUND;
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    }
    (resp, e.code())
}
