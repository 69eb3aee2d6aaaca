//! TCP connections per client, counted at accept time, before a byte is
//! read: each one costs a socket, a task and hyper's buffers for as long as
//! it stays open, so a client gets `MOAT_CONN_PER_CLIENT` at once and the
//! next is closed at once. A client is the peer's address prefix (the same
//! identity as the rate limits', [`crate::auth`]), so one IPv6 host cannot
//! open 64 connections from each of its 2^64 addresses.
//!
//! A trusted proxy's address is exempt: every client behind it shares its
//! address, and they are told apart (and limited) by `X-Forwarded-For` once
//! their requests are read. The table holds only clients with connections
//! open right now.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use moat_queue::Prefixes;

/// Open connections per client, with a cap.
#[derive(Debug)]
pub struct ConnLimits {
    max_per_client: usize,
    prefixes: Prefixes,
    exempt: Vec<IpAddr>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ConnLimits {
    /// At most `max_per_client` connections per address prefix; `exempt`
    /// peers (the trusted proxies) are not counted.
    pub fn new(max_per_client: usize, prefixes: Prefixes, exempt: Vec<IpAddr>) -> Arc<Self> {
        Arc::new(Self {
            max_per_client,
            prefixes,
            exempt: exempt.into_iter().map(|ip| ip.to_canonical()).collect(),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a connection from `peer`, or `None` if its client holds
    /// its share already.
    pub fn open(self: &Arc<Self>, peer: IpAddr) -> Option<ConnSlot> {
        if self.exempt.contains(&peer.to_canonical()) {
            return Some(ConnSlot { held: None });
        }
        let client = self.prefixes.mask(peer);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(client).or_insert(0);
        if *count >= self.max_per_client {
            return None;
        }
        *count += 1;
        Some(ConnSlot {
            held: Some((self.clone(), client)),
        })
    }

    /// Connections counted for `peer`'s client now.
    pub fn held(&self, peer: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&self.prefixes.mask(peer)).copied().unwrap_or(0)
    }
}

/// One open connection; dropping it gives the slot back.
#[derive(Debug)]
pub struct ConnSlot {
    held: Option<(Arc<ConnLimits>, IpAddr)>,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let Some((limits, client)) = self.held.take() else {
            return;
        };
        let mut open = limits.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_prefix_gets_its_share_and_proxies_are_exempt() {
        let limits = ConnLimits::new(2, Prefixes::default(), vec![ip("10.0.0.1")]);
        let a = limits.open(ip("2001:db8:1:2::1")).unwrap();
        let _b = limits.open(ip("2001:db8:1:2::ffff")).unwrap();
        // The same /64 from yet another address: over the share.
        assert!(limits.open(ip("2001:db8:1:2:3:4:5:6")).is_none());
        // Another /64, and an IPv4 client, are not affected.
        let _c = limits.open(ip("2001:db8:1:3::1")).unwrap();
        let _d = limits.open(ip("192.0.2.1")).unwrap();
        assert_eq!(limits.held(ip("2001:db8:1:2::7")), 2);
        drop(a);
        assert_eq!(limits.held(ip("2001:db8:1:2::7")), 1);
        assert!(limits.open(ip("2001:db8:1:2::9")).is_some());
        // The proxy is never counted.
        let proxied: Vec<_> = (0..10)
            .map(|_| limits.open(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!(limits.held(ip("10.0.0.1")), 0);
        drop(proxied);
        drop(_b);
        drop(_c);
        drop(_d);
        assert!(limits.open.lock().unwrap().is_empty());
    }
}
