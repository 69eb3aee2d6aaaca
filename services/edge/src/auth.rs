//! Who is calling, and whether the rate limits let them: the [`caller`]
//! filter every API route starts with. The rate limit is taken first (by the
//! key's hash, or by the client's address), and only then is the key looked
//! up, so a flood of made-up keys costs no queries beyond its buckets.
//!
//! `Authorization: Bearer <key>` names a tenant; without it the caller is
//! anonymous and runs as tenant [`ANONYMOUS_TENANT`]. This module does not
//! decide what a caller may read (that is [`crate::records`]).

use std::net::SocketAddr;

use warp::{Filter, Rejection};

use moat_db as db;

use crate::client_ip::client_ip;
use crate::errors::ApiError;
use crate::rate_limit::{Client, Headers, Verdict};
use crate::routes::{refuse, Deps};

/// The tenant anonymous runs are queued under.
pub const ANONYMOUS_TENANT: &str = "anon";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// A tenant, by a live API key.
    Tenant(String),
    /// Nobody in particular, from this address.
    Anonymous(std::net::IpAddr),
}

impl Caller {
    /// The tenant its runs belong to.
    pub fn tenant(&self) -> &str {
        match self {
            Caller::Tenant(t) => t,
            Caller::Anonymous(_) => ANONYMOUS_TENANT,
        }
    }
}

/// Who is calling, and whether the rate limits let them: the rate limit is
/// taken first (by key hash or IP), the key looked up after.
pub fn caller(
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
