//! `GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD`: a tenant's usage by day,
//! as the recorder tallied it. Anonymous callers have none (401).

use serde::Deserialize;
use warp::reply::Response;
use warp::{Filter, Rejection};

use moat_db as db;

use crate::auth::{caller, Caller};
use crate::errors::ApiError;
use crate::rate_limit::Headers;
use crate::routes::{refuse, with, with_headers, Deps};

/// The route.
pub fn handlers(deps: Deps) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("v1" / "usage")
        .and(warp::get())
        .and(caller(deps.clone(), "usage"))
        .and(warp::query::<UsageQuery>())
        .and(with(deps))
        .and_then(usage)
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
        .map_err(|e| refuse(headers, ApiError::unavailable("usage", e)))?;
    let days: Vec<_> = rows
        .iter()
        .map(|u| serde_json::json!({"day": u.day, "runs": u.runs, "cpu_ms": u.cpu_ms, "wall_ms": u.wall_ms, "bytes_out": u.bytes_out, "net_requests": u.net_requests, "net_bytes": u.net_bytes}))
        .collect();
    Ok(with_headers(
        warp::reply::json(
            &serde_json::json!({"tenant": tenant, "from": from, "to": to, "days": days}),
        ),
        headers,
    ))
}
