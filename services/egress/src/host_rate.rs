//! [`HostRate`]: the fleet-wide limit on requests to one destination host,
//! so that moat, whatever its scripts do together, never becomes a cannon
//! pointed at one site.
//!
//! Each egress instance keeps a token bucket per host and takes its share
//! of the fleet's rate: the rate divided by the number of live instances
//! ([`crate::peers`] counts them). NATS's queue group spreads requests over
//! the instances, so the fleet as a whole admits at most about the
//! configured rate to any one host, with no shared state on the hot path.
//! A host is the URL's host as the policy normalised it (a lowercase
//! domain or an IP literal); every redirect hop is charged to its own host.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most hosts tracked at once; past it, idle buckets are dropped, and a new
/// host is refused while every tracked one is busy.
const MAX_HOSTS: usize = 65_536;

/// The fleet's limit per destination host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostRateLimit {
    /// Requests per second to one host, across the fleet.
    pub per_second: f64,
    /// Requests to one host the fleet may make at once after a quiet spell.
    pub burst: f64,
}

/// A request over the limit: the host and when a request may succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBusy {
    /// The host.
    pub host: String,
    /// How long until this instance admits another request to it.
    pub retry_after: Duration,
}

/// One host's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-host token buckets holding this instance's share of the fleet's rate.
#[derive(Debug)]
pub struct HostRate {
    limit: HostRateLimit,
    instances: Arc<AtomicUsize>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl HostRate {
    /// A limiter for a fleet of one until told otherwise
    /// ([`HostRate::instances`]).
    pub fn new(limit: HostRateLimit) -> Self {
        Self {
            limit,
            instances: Arc::new(AtomicUsize::new(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The number of live egress instances, which sets this one's share.
    pub fn instances(&self) -> Arc<AtomicUsize> {
        self.instances.clone()
    }

    /// This instance's share: (rate per second, burst).
    fn share(&self) -> (f64, f64) {
        let n = self.instances.load(Ordering::Relaxed).max(1) as f64;
        let rate = self.limit.per_second / n;
        // At least one request, or a large fleet would admit none at all.
        let burst = (self.limit.burst / n).max(1.0);
        (rate, burst)
    }

    /// Takes one request to `host` at `now`, or says when one may be made.
    pub fn admit(&self, host: &str, now: Instant) -> Result<(), HostBusy> {
        let (rate, burst) = self.share();
        let busy = |tokens: f64| HostBusy {
            host: host.to_owned(),
            retry_after: Duration::from_secs_f64(((1.0 - tokens) / rate).clamp(0.001, 3600.0)),
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(host) && buckets.len() >= MAX_HOSTS {
            // A bucket that has refilled is the same as none: dropping it
            // forgets nothing.
            buckets.retain(|_, b| refill(*b, now, rate, burst) < burst);
            if buckets.len() >= MAX_HOSTS {
                return Err(busy(0.0));
            }
        }
        let bucket = buckets.entry(host.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = refill(*bucket, now, rate, burst);
        if tokens < 1.0 {
            *bucket = Bucket { tokens, at: now };
            return Err(busy(tokens));
        }
        *bucket = Bucket {
            tokens: tokens - 1.0,
            at: now,
        };
        Ok(())
    }
}

/// A bucket's tokens at `now`.
fn refill(bucket: Bucket, now: Instant, rate: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * rate).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: f64) -> HostRate {
        HostRate::new(HostRateLimit { per_second, burst })
    }

    #[test]
    fn a_burst_then_the_rate() {
        let rate = limiter(2.0, 3.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            rate.admit("api.example.com", t0).unwrap();
        }
        let busy = rate.admit("api.example.com", t0).unwrap_err();
        assert_eq!(busy.host, "api.example.com");
        assert_eq!(busy.retry_after, Duration::from_millis(500));
        // Other hosts have their own buckets.
        rate.admit("example.org", t0).unwrap();
        // Half a second gives one more request, not two.
        let t1 = t0 + Duration::from_millis(500);
        rate.admit("api.example.com", t1).unwrap();
        assert!(rate.admit("api.example.com", t1).is_err());
        // A long quiet spell refills to the burst, no further.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            rate.admit("api.example.com", t2).unwrap();
        }
        assert!(rate.admit("api.example.com", t2).is_err());
    }

    #[test]
    fn each_instance_takes_its_share_of_the_fleets_rate() {
        let rate = limiter(10.0, 8.0);
        rate.instances().store(4, Ordering::Relaxed);
        let t0 = Instant::now();
        rate.admit("a.example", t0).unwrap();
        rate.admit("a.example", t0).unwrap();
        let busy = rate.admit("a.example", t0).unwrap_err();
        // 10/s over four instances is 2.5/s each.
        assert_eq!(busy.retry_after, Duration::from_millis(400));
        // A fleet larger than the burst still lets each instance make one.
        rate.instances().store(100, Ordering::Relaxed);
        rate.admit("b.example", t0).unwrap();
        assert!(rate.admit("b.example", t0).is_err());
    }

    #[test]
    fn tracked_hosts_are_bounded() {
        let rate = limiter(1000.0, 2.0);
        let t0 = Instant::now();
        for i in 0..MAX_HOSTS {
            rate.admit(&format!("h{i}.example"), t0).unwrap();
        }
        // Every bucket is in use: a new host waits.
        assert!(rate.admit("new.example", t0).is_err());
        // Once they have refilled, their buckets are dropped for new ones.
        let later = t0 + Duration::from_secs(1);
        rate.admit("new.example", later).unwrap();
        assert_eq!(rate.buckets.lock().unwrap().len(), 1);
    }
}
