//! Who is calling, and whether the rate limits let them: the [`caller`]
//! filter every API route starts with. The rate limit is taken first (by the
//! key's hash, or by the client's address), and only then is the key looked
//! up, so a flood of made-up keys costs no queries beyond its buckets.
//!
//! `Authorization: Bearer <key>` names a tenant; without it the caller is
//! anonymous and runs as tenant [`ANONYMOUS_TENANT`], and *who* it is, for
//! every per-client limit (rate-limit buckets, WebSocket sessions, queued
//! runs; connections are counted the same way by [`crate::connections`]), is
//! its address prefix (`MOAT_ANON_PREFIX_V4`/`_V6`): one IPv6 host holds
//! 2^64 addresses, and must not get 2^64 shares. This module does not decide
//! what a caller may read (that is [`crate::records`]).

use std::net::{IpAddr, SocketAddr};

use moat_queue::ClientKey;
use warp::{Filter, Rejection};

use moat_db as db;

use crate::client_ip::client_ip;
use crate::errors::ApiError;
use crate::rate_limit::{Client, Headers, Verdict};
use crate::routes::{refuse, Deps};
use crate::server::Peer;

/// The tenant anonymous runs are queued under.
pub const ANONYMOUS_TENANT: &str = "anon";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// A tenant, by a live API key.
    Tenant(String),
    /// Nobody in particular, from this address prefix (the client's address
    /// with the bits past `MOAT_ANON_PREFIX_V4`/`_V6` cleared).
    Anonymous(IpAddr),
}

impl Caller {
    /// The client it is for the queue: its subject and its queue cap.
    pub fn client_key(&self) -> ClientKey {
        match self {
            Caller::Tenant(t) => ClientKey::Tenant(t.clone()),
            Caller::Anonymous(prefix) => ClientKey::Anonymous(*prefix),
        }
    }

    /// The tenant its runs belong to.
    pub fn tenant(&self) -> &str {
        match self {
            Caller::Tenant(t) => t,
            Caller::Anonymous(_) => ANONYMOUS_TENANT,
        }
    }
}

/// Who is calling, and whether the rate limits let them: the rate limit is
/// taken first (by key hash or address prefix), the key looked up after.
pub fn caller(
    deps: Deps,
    route: &'static str,
) -> impl Filter<Extract = (Caller, Option<Headers>), Error = Rejection> + Clone {
    // The edge's own server puts the peer on each request; warp's test
    // client sets warp's remote address instead.
    warp::ext::optional::<Peer>()
        .and(warp::addr::remote())
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .and(warp::header::optional::<String>("authorization"))
        .and_then(
            move |peer: Option<Peer>,
                  remote: Option<SocketAddr>,
                  xff: Option<String>,
                  auth: Option<String>| {
                let deps = deps.clone();
                async move {
                    let peer = peer
                        .map(|p| p.0)
                        .or(remote)
                        .map(|p| p.ip())
                        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
                    let addr = client_ip(peer, xff.as_deref(), &deps.trusted_proxies);
                    let prefix = deps.prefixes.mask(addr);
                    let key = auth
                        .as_deref()
                        .map(|a| a.strip_prefix("Bearer ").unwrap_or(a).trim().to_owned());
                    let limited = match &key {
                        Some(k) => Client::Key(db::sha256_hex(k)),
                        None => Client::Anonymous { addr, prefix },
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
                        None => Caller::Anonymous(prefix),
                        Some(k) => match db::lookup_api_key(&deps.db, &k).await {
                            Ok(Some(row)) => Caller::Tenant(row.tenant),
                            Ok(None) => return Err(refuse(headers, ApiError::Unauthorized)),
                            Err(e) => {
                                return Err(refuse(
                                    headers,
                                    ApiError::unavailable("lookup_api_key", e),
                                ))
                            }
                        },
                    };
                    Ok((caller, headers))
                }
            },
        )
        .untuple_one()
}
