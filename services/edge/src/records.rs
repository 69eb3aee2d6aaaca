//! A run's record and files: `GET /v1/runs/{id}` (status, outcome, value or
//! error, timings, the log excerpt, files with their download URLs) and
//! `GET /v1/runs/{id}/files/{name}`. A run is readable by its tenant or with
//! its token (query `token` or header `X-Run-Token`); to anyone else it does
//! not exist (404, not 403). Files come from the object store the launcher
//! wrote them to; this module never writes.

use serde::Deserialize;
use warp::reply::Response;
use warp::{Filter, Rejection};

use moat_db as db;
use moat_queue::subjects;

use crate::auth::{caller, Caller};
use crate::errors::ApiError;
use crate::rate_limit::Headers;
use crate::routes::{refuse, with, with_headers, Deps};

/// The routes: the record, and one file of it.
pub fn handlers(deps: Deps) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
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
        .and(with(deps))
        .and_then(file);
    status.or(file).unify()
}

/// `?token=`.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenQuery {
    /// The run token, if given in the query.
    pub(crate) token: Option<String>,
}

/// Whether `caller` may read run `id`: with its token, or as its tenant.
pub(crate) async fn may_read(
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
        Err(e) => Err(ApiError::unavailable("get_run", e)),
    }
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
        Err(e) => return Err(refuse(headers, ApiError::unavailable("get_run", e))),
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
        Err(e) => return Err(refuse(headers, ApiError::unavailable("get_run", e))),
    };
    let Some(row) = view.files.iter().find(|f| f.name == name) else {
        return Err(refuse(headers, ApiError::NotFound));
    };
    let object = match deps.store.get(&row.key).await {
        Ok(Some(object)) => object,
        Ok(None) => return Err(refuse(headers, ApiError::NotFound)),
        Err(e) => return Err(refuse(headers, ApiError::unavailable("store_get", e))),
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
        status: moat_wire::RunStatus::parse(&r.status).unwrap_or(moat_wire::RunStatus::Queued),
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
        net: (r.status == moat_wire::RunStatus::Done.as_str()).then(|| moat_wire::NetUsage {
            requests: r.net_requests.max(0) as u64,
            bytes: r.net_bytes.max(0) as u64,
        }),
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
