//! Rate limits, checked before any other work: leaky buckets per client, per
//! path, and per client and path (hapi-rate-limit's user, path and userPath
//! limits), with stricter client limits for anonymous callers and an allow
//! list that skips them all.
//!
//! Memory stays bounded under a flood of distinct clients: buckets idle long
//! enough to be full again are dropped, and past a hard cap new clients share
//! one overflow bucket instead of getting their own, so a flood of new keys
//! throttles itself and cannot evict (and so reset) anyone else's bucket.
//!
//! This module decides and describes (the `RateLimit-*` and `Retry-After`
//! values); it does not touch HTTP.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leaky_bucket::RateLimiter;
use tokio::time::Instant;

/// One bucket's shape: up to `burst` requests at once, refilled by `refill`
/// every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Bucket size: requests allowed at once.
    pub burst: usize,
    /// Tokens added per interval.
    pub refill: usize,
    /// The refill interval.
    pub interval: Duration,
}

impl Rate {
    /// Parses `BURST/REFILL/INTERVAL_MS`, e.g. `20/5/1000` (20 at once, then 5
    /// a second).
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let [burst, refill, ms] = parts[..] else {
            return Err(format!("rate {s:?} is not BURST/REFILL/INTERVAL_MS"));
        };
        let num = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("rate {s:?}: {v:?} is not a number"))
        };
        let rate = Self {
            burst: num(burst)?,
            refill: num(refill)?,
            interval: Duration::from_millis(num(ms)? as u64),
        };
        if rate.burst == 0 || rate.refill == 0 || rate.interval.is_zero() {
            return Err(format!("rate {s:?}: every part must be above zero"));
        }
        Ok(rate)
    }

    fn limiter(&self) -> RateLimiter {
        RateLimiter::builder()
            .max(self.burst)
            .initial(self.burst)
            .refill(self.refill)
            .interval(self.interval)
            .fair(false)
            .build()
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    /// A tenant, named by its API key.
    Tenant(String),
    /// An anonymous caller, by IP address.
    Anonymous(std::net::IpAddr),
}

impl Client {
    fn key(&self) -> String {
        match self {
            Client::Tenant(t) => format!("t:{t}"),
            Client::Anonymous(ip) => format!("ip:{ip}"),
        }
    }
}

/// The configured limits.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Per tenant.
    pub tenant: Rate,
    /// Per anonymous IP (stricter).
    pub anonymous: Rate,
    /// Per route, across all clients.
    pub path: Rate,
    /// Per client and route.
    pub client_path: Rate,
    /// Tenants and IPs (as text) that skip every limit.
    pub allow: HashSet<String>,
    /// Most buckets kept; past it new clients share the overflow bucket.
    pub max_buckets: usize,
}

/// The `RateLimit-*` header values for one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers {
    /// `RateLimit-Limit`: the bucket size.
    pub limit: usize,
    /// `RateLimit-Remaining`: tokens left.
    pub remaining: usize,
    /// `RateLimit-Reset`: seconds until the bucket gains a token.
    pub reset_secs: u64,
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead; `None` when the client is on the allow list.
    Allowed(Option<Headers>),
    /// Refused: answer 429 with `Retry-After: retry_after_secs`.
    Refused {
        /// Headers describing the bucket that refused.
        headers: Headers,
        /// Seconds to wait.
        retry_after_secs: u64,
        /// Which limit refused: `client`, `path` or `client_path`.
        scope: &'static str,
    },
}

struct Bucket {
    limiter: RateLimiter,
    rate: Rate,
    used: Instant,
}

/// The buckets, shared by every request.
pub struct RateLimits {
    policy: Policy,
    buckets: Mutex<HashMap<String, Arc<Mutex<Bucket>>>>,
}

/// Key of the bucket every client shares once the table is full.
const OVERFLOW: &str = "overflow";

impl RateLimits {
    /// Limits under `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// How many buckets are held (for metrics and tests).
    pub fn buckets(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Takes one token from each of the client's, the path's and the
    /// client-and-path's buckets. `path` must be a route name from a fixed
    /// set (never a raw URL, which would make buckets unbounded).
    pub fn check(&self, client: &Client, path: &str) -> Verdict {
        let allowed = match client {
            Client::Tenant(t) => self.policy.allow.contains(t),
            Client::Anonymous(ip) => self.policy.allow.contains(&ip.to_string()),
        };
        if allowed {
            return Verdict::Allowed(None);
        }
        let client_rate = match client {
            Client::Tenant(_) => self.policy.tenant,
            Client::Anonymous(_) => self.policy.anonymous,
        };
        let ck = client.key();
        let checks = [
            ("client", format!("c:{ck}"), client_rate),
            ("path", format!("p:{path}"), self.policy.path),
            (
                "client_path",
                format!("cp:{ck}:{path}"),
                self.policy.client_path,
            ),
        ];
        let mut tightest: Option<Headers> = None;
        for (scope, key, rate) in checks {
            let bucket = self.bucket(&key, rate);
            let mut b = bucket.lock().unwrap_or_else(|e| e.into_inner());
            b.used = Instant::now();
            let ok = b.limiter.try_acquire(1);
            let headers = Headers {
                limit: b.rate.burst,
                remaining: b.limiter.balance(),
                reset_secs: ceil_secs(b.rate.interval),
            };
            if !ok {
                return Verdict::Refused {
                    headers: Headers {
                        remaining: 0,
                        ..headers
                    },
                    retry_after_secs: ceil_secs(b.rate.interval),
                    scope,
                };
            }
            if tightest.is_none_or(|t| headers.remaining < t.remaining) {
                tightest = Some(headers);
            }
        }
        Verdict::Allowed(tightest)
    }

    fn bucket(&self, key: &str, rate: Rate) -> Arc<Mutex<Bucket>> {
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = map.get(key) {
            return b.clone();
        }
        if map.len() >= self.policy.max_buckets {
            evict_idle(&mut map);
        }
        let key = if map.len() >= self.policy.max_buckets {
            OVERFLOW
        } else {
            key
        };
        map.entry(key.to_owned())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Bucket {
                    limiter: rate.limiter(),
                    rate,
                    used: Instant::now(),
                }))
            })
            .clone()
    }
}

/// Drops buckets that would be full again by now: forgetting them changes
/// nothing for their clients.
fn evict_idle(map: &mut HashMap<String, Arc<Mutex<Bucket>>>) {
    let now = Instant::now();
    map.retain(|key, b| {
        if key == OVERFLOW {
            return true;
        }
        let b = b.lock().unwrap_or_else(|e| e.into_inner());
        let refill_all = b.rate.interval * (b.rate.burst.div_ceil(b.rate.refill) as u32);
        now.duration_since(b.used) < refill_all
    });
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn policy() -> Policy {
        Policy {
            tenant: Rate::parse("5/1/1000").unwrap(),
            anonymous: Rate::parse("2/1/1000").unwrap(),
            path: Rate::parse("100/100/1000").unwrap(),
            client_path: Rate::parse("100/100/1000").unwrap(),
            allow: HashSet::from(["vip".to_owned()]),
            max_buckets: 1000,
        }
    }

    fn ip(n: u8) -> Client {
        Client::Anonymous(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)))
    }

    #[test]
    fn rates_parse_or_say_why_not() {
        assert_eq!(
            Rate::parse("20/5/1000").unwrap(),
            Rate {
                burst: 20,
                refill: 5,
                interval: Duration::from_secs(1)
            }
        );
        assert!(Rate::parse("20/5").is_err());
        assert!(Rate::parse("0/5/1000").is_err());
        assert!(Rate::parse("a/5/1000").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_refill_with_exact_headers() {
        let limits = RateLimits::new(policy());
        let anon = ip(1);
        let Verdict::Allowed(Some(h)) = limits.check(&anon, "submit") else {
            panic!()
        };
        assert_eq!(
            h,
            Headers {
                limit: 2,
                remaining: 1,
                reset_secs: 1
            }
        );
        assert!(matches!(
            limits.check(&anon, "submit"),
            Verdict::Allowed(Some(Headers { remaining: 0, .. }))
        ));
        let Verdict::Refused {
            headers,
            retry_after_secs,
            scope,
        } = limits.check(&anon, "submit")
        else {
            panic!("the third request in a burst of two is refused")
        };
        assert_eq!(
            (headers.remaining, retry_after_secs, scope),
            (0, 1, "client")
        );
        // Another client is not affected.
        assert!(matches!(
            limits.check(&ip(2), "submit"),
            Verdict::Allowed(_)
        ));
        // One interval later, one token is back.
        tokio::time::advance(Duration::from_millis(1001)).await;
        assert!(matches!(limits.check(&anon, "submit"), Verdict::Allowed(_)));
        assert!(matches!(
            limits.check(&anon, "submit"),
            Verdict::Refused { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn tenants_get_their_own_limit_and_the_allow_list_skips_all() {
        let limits = RateLimits::new(policy());
        let t = Client::Tenant("acme".into());
        for _ in 0..5 {
            assert!(matches!(
                limits.check(&t, "submit"),
                Verdict::Allowed(Some(_))
            ));
        }
        assert!(matches!(
            limits.check(&t, "submit"),
            Verdict::Refused { .. }
        ));
        let vip = Client::Tenant("vip".into());
        for _ in 0..50 {
            assert_eq!(limits.check(&vip, "submit"), Verdict::Allowed(None));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_path_limit_applies_across_clients() {
        let mut p = policy();
        p.path = Rate::parse("3/1/1000").unwrap();
        let limits = RateLimits::new(p);
        for n in 0..3 {
            assert!(matches!(
                limits.check(&ip(n), "submit"),
                Verdict::Allowed(_)
            ));
        }
        assert!(matches!(
            limits.check(&ip(9), "submit"),
            Verdict::Refused { scope: "path", .. }
        ));
        assert!(matches!(
            limits.check(&ip(9), "status"),
            Verdict::Allowed(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_new_clients_stays_bounded_and_shares_one_bucket() {
        let mut p = policy();
        p.max_buckets = 50;
        let limits = RateLimits::new(p);
        for n in 0..10_000u32 {
            let client = Client::Anonymous(IpAddr::V4(Ipv4Addr::from(n)));
            let _ = limits.check(&client, "submit");
        }
        assert!(limits.buckets() <= 51, "{} buckets", limits.buckets());
        // Idle buckets are forgotten once they would be full again.
        tokio::time::advance(Duration::from_secs(10)).await;
        let _ = limits.check(&ip(1), "submit");
        assert!(limits.buckets() < 50);
    }
}
