//! Rate limits, checked before any other work: leaky buckets per client, per
//! path, and per client and path (hapi-rate-limit's user, path and userPath
//! limits), with stricter client limits for anonymous callers and an allow
//! list ([`crate::allow`]) that skips them all.
//!
//! Memory stays bounded under a flood of distinct clients, and each check
//! does O(1) work however full the table is. The buckets are kept in the
//! order they were last used (a queue of `(key, stamp)` with lazy deletion: a
//! use pushes a new stamp, and older stamps of the key are skipped when they
//! reach the front). Each check drops a few least-recently-used buckets that
//! would be full again by now (forgetting them changes nothing for their
//! clients). Past the hard cap, new clients share one overflow bucket instead
//! of getting their own, so a flood of new keys throttles itself and cannot
//! evict (and so reset) anyone whose bucket is not yet refilled.
//!
//! This module decides and describes (the `RateLimit-*` and `Retry-After`
//! values); it does not touch HTTP.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use leaky_bucket::RateLimiter;
use tokio::time::Instant;

use crate::allow::AllowList;

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

    /// How long an untouched bucket takes to be full again.
    fn refill_all(&self) -> Duration {
        self.interval
            .saturating_mul(self.burst.div_ceil(self.refill).min(u32::MAX as usize) as u32)
    }
}

/// Who is asking, as far as is known before any lookup.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    /// A presented API key, by the SHA-256 of it (hex), not yet looked up:
    /// made-up keys are limited like real ones.
    Key(String),
    /// An anonymous caller: its address (matched against the allow list) and
    /// the address prefix it is counted under (its client identity).
    Anonymous {
        /// The client's address.
        addr: IpAddr,
        /// Its address prefix ([`moat_queue::Prefixes::mask`]).
        prefix: IpAddr,
    },
}

impl Client {
    fn key(&self) -> String {
        match self {
            // 64 bits of the hash tell keys apart; the whole hash is only
            // needed to match the allow list.
            Client::Key(hash) => format!("k:{}", &hash[..hash.len().min(16)]),
            Client::Anonymous { prefix, .. } => format!("ip:{prefix}"),
        }
    }
}

/// The configured limits.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Per tenant.
    pub tenant: Rate,
    /// Per anonymous address prefix (stricter).
    pub anonymous: Rate,
    /// Per route, across all clients.
    pub path: Rate,
    /// Per client and route.
    pub client_path: Rate,
    /// Tenants and addresses that skip every limit.
    pub allow: AllowList,
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
    /// The stamp of this bucket's newest entry in [`Table::order`].
    stamp: u64,
}

impl Bucket {
    fn new(rate: Rate, now: Instant) -> Self {
        Self {
            limiter: rate.limiter(),
            rate,
            used: now,
            stamp: 0,
        }
    }

    fn is_refilled(&self, now: Instant) -> bool {
        now.duration_since(self.used) >= self.rate.refill_all()
    }
}

/// Front entries looked at per check: more than a check pushes (three), so
/// the queue drains faster than it grows, and a check's work is bounded.
const SWEEP_PER_CHECK: usize = 16;

/// The buckets, by key, and the order they were last used in.
struct Table {
    map: HashMap<Arc<str>, Bucket>,
    /// `(key, stamp)`, oldest use first; an entry whose stamp is not its
    /// bucket's current one is stale and skipped.
    order: VecDeque<(Arc<str>, u64)>,
    next_stamp: u64,
    /// Shared by every new client once `map` is full; never evicted.
    overflow: Option<Bucket>,
}

impl Table {
    /// Drops up to [`SWEEP_PER_CHECK`] stale entries and refilled buckets
    /// from the front of the order; stops at the first live bucket that is
    /// not refilled (everything behind it was used more recently).
    fn sweep(&mut self, now: Instant) {
        for _ in 0..SWEEP_PER_CHECK {
            let Some((key, stamp)) = self.order.front() else {
                return;
            };
            match self.map.get(key) {
                Some(b) if b.stamp == *stamp => {
                    if !b.is_refilled(now) {
                        return;
                    }
                    self.map.remove(key);
                }
                // A stale entry: the bucket was used again, or is gone.
                _ => {}
            }
            self.order.pop_front();
        }
    }

    /// Rebuilds the order without its stale entries once they outnumber the
    /// live ones: O(n) after at least n pushes, so O(1) amortised. (Stale
    /// entries pile up behind a front bucket that is not yet refilled.)
    fn compact(&mut self) {
        if self.order.len() <= 2 * self.map.len() + 1024 {
            return;
        }
        let map = &self.map;
        self.order
            .retain(|(key, stamp)| map.get(key).is_some_and(|b| b.stamp == *stamp));
        debug_assert_eq!(self.order.len(), self.map.len());
    }

    /// The bucket for `key`, made at `rate` if new and there is room, else
    /// the shared overflow bucket (made at `overflow_rate`); marked used now.
    fn bucket(
        &mut self,
        key: &str,
        rate: Rate,
        overflow_rate: Rate,
        max: usize,
        now: Instant,
    ) -> &mut Bucket {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        let key: Arc<str> = match self.map.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None if self.map.len() < max => {
                let k: Arc<str> = Arc::from(key);
                self.map.insert(k.clone(), Bucket::new(rate, now));
                k
            }
            None => {
                let b = self
                    .overflow
                    .get_or_insert_with(|| Bucket::new(overflow_rate, now));
                b.used = now;
                return b;
            }
        };
        self.order.push_back((key.clone(), stamp));
        let b = self.map.get_mut(&key).expect("the bucket was just found");
        b.used = now;
        b.stamp = stamp;
        b
    }
}

/// The buckets, shared by every request.
pub struct RateLimits {
    policy: Policy,
    table: Mutex<Table>,
    /// Hashes of the allow-listed tenants' live keys, refreshed from the
    /// database ([`crate::allow::refresh`]). Matched before the key is
    /// looked up, so the rate limit still comes first for everyone else.
    allowed_keys: RwLock<Arc<HashSet<String>>>,
}

impl RateLimits {
    /// Limits under `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            table: Mutex::new(Table {
                map: HashMap::new(),
                order: VecDeque::new(),
                next_stamp: 1,
                overflow: None,
            }),
            allowed_keys: RwLock::new(Arc::default()),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Replaces the hashes of the keys that skip the limits.
    pub fn set_allowed_keys(&self, hashes: HashSet<String>) {
        *self.allowed_keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(hashes);
    }

    /// How many buckets are held, the overflow bucket included (for metrics
    /// and tests).
    pub fn buckets(&self) -> usize {
        let t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.map.len() + usize::from(t.overflow.is_some())
    }

    /// Whether `client` is on the allow list.
    fn allowed(&self, client: &Client) -> bool {
        match client {
            Client::Key(hash) => self
                .allowed_keys
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(hash),
            Client::Anonymous { addr, .. } => self.policy.allow.allows_addr(*addr),
        }
    }

    /// Takes one token from each of the client's, the path's and the
    /// client-and-path's buckets. `path` must be a route name from a fixed
    /// set (never a raw URL, which would make buckets unbounded).
    pub fn check(&self, client: &Client, path: &str) -> Verdict {
        if self.allowed(client) {
            return Verdict::Allowed(None);
        }
        let client_rate = match client {
            Client::Key(_) => self.policy.tenant,
            Client::Anonymous { .. } => self.policy.anonymous,
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
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.sweep(now);
        table.compact();
        let mut tightest: Option<Headers> = None;
        for (scope, key, rate) in checks {
            // The overflow bucket is as strict as the strictest client.
            let b = table.bucket(
                &key,
                rate,
                self.policy.anonymous,
                self.policy.max_buckets,
                now,
            );
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

    #[cfg(test)]
    fn queue_len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .order
            .len()
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn policy() -> Policy {
        Policy {
            tenant: Rate::parse("5/1/1000").unwrap(),
            anonymous: Rate::parse("2/1/1000").unwrap(),
            path: Rate::parse("100/100/1000").unwrap(),
            client_path: Rate::parse("100/100/1000").unwrap(),
            allow: AllowList::parse(["10.9.0.0/16"]).unwrap(),
            max_buckets: 1000,
        }
    }

    fn anon(addr: IpAddr) -> Client {
        Client::Anonymous { addr, prefix: addr }
    }

    fn ip(n: u8) -> Client {
        anon(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)))
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
        assert_eq!(
            Rate::parse("10/3/1000").unwrap().refill_all(),
            Duration::from_secs(4)
        );
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
        let t = Client::Key("aa".repeat(32));
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
        // An allow-listed tenant's key, by its hash.
        let vip = Client::Key("bb".repeat(32));
        limits.set_allowed_keys(HashSet::from(["bb".repeat(32)]));
        for _ in 0..50 {
            assert_eq!(limits.check(&vip, "submit"), Verdict::Allowed(None));
        }
        // An allow-listed prefix, by the client's own address.
        let inside = anon("10.9.200.1".parse().unwrap());
        for _ in 0..50 {
            assert_eq!(limits.check(&inside, "submit"), Verdict::Allowed(None));
        }
        assert!(limits.buckets() <= 6, "{} buckets", limits.buckets());
    }

    #[tokio::test(start_paused = true)]
    async fn one_ipv6_prefix_is_one_client() {
        let limits = RateLimits::new(policy());
        let prefix: IpAddr = "2001:db8:1:2::".parse().unwrap();
        let host = |n: u16| Client::Anonymous {
            addr: IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, n, n, n, n)),
            prefix,
        };
        assert!(matches!(
            limits.check(&host(1), "submit"),
            Verdict::Allowed(_)
        ));
        assert!(matches!(
            limits.check(&host(2), "submit"),
            Verdict::Allowed(_)
        ));
        assert!(matches!(
            limits.check(&host(3), "submit"),
            Verdict::Refused {
                scope: "client",
                ..
            }
        ));
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
        // A client that spent its burst before the flood.
        let early = ip(1);
        while matches!(limits.check(&early, "submit"), Verdict::Allowed(_)) {}
        for n in 0..10_000u32 {
            let client = anon(IpAddr::V4(Ipv4Addr::from(n + 1_000_000)));
            let _ = limits.check(&client, "submit");
        }
        assert!(limits.buckets() <= 51, "{} buckets", limits.buckets());
        // The flood could not evict (and so refill) the early client's bucket.
        assert!(matches!(
            limits.check(&early, "submit"),
            Verdict::Refused {
                scope: "client",
                ..
            }
        ));
        // The flood shares the overflow bucket, so it is refused too.
        let late = anon(IpAddr::V4(Ipv4Addr::from(3_000_000)));
        assert!(matches!(
            limits.check(&late, "submit"),
            Verdict::Refused { .. }
        ));
        // Once refilled, buckets are forgotten a few per check: the table
        // has room for new clients again.
        tokio::time::advance(Duration::from_secs(10)).await;
        for _ in 0..200 {
            let _ = limits.check(&ip(100), "status");
        }
        let held = limits.buckets();
        assert!(held < 10, "{held} buckets");
        assert!(matches!(
            limits.check(&ip(200), "submit"),
            Verdict::Allowed(_)
        ));
        assert!(
            limits.buckets() >= held + 2,
            "the new client has its own buckets"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_use_order_stays_proportional_to_the_table() {
        let limits = RateLimits::new(policy());
        // One bucket used once and not refilled yet sits at the front while
        // a hot client piles stale entries up behind it.
        let _ = limits.check(&ip(1), "status");
        let hot = ip(2);
        for _ in 0..100_000 {
            let _ = limits.check(&hot, "submit");
        }
        assert!(limits.queue_len() < 2_000, "{} entries", limits.queue_len());
        assert_eq!(limits.buckets(), 6);
    }
}
