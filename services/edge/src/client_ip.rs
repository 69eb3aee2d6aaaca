//! Who the client is, by address: the TCP peer, unless the peer is a
//! configured trusted proxy, in which case the right-most address in
//! `X-Forwarded-For` that is not itself a trusted proxy. A client cannot
//! choose its own address by sending the header: from an untrusted peer it is
//! ignored.

use std::net::IpAddr;

/// The client's address for a request from `peer` with the given
/// `X-Forwarded-For` value.
/// IPv4 addresses mapped into IPv6 (a dual-stack listener's peers) count as
/// the IPv4 addresses they are.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.to_canonical() == *ip);
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    // Walk from the right: each hop appended the address it saw. The first
    // one not added by our own proxies is the client.
    let mut client = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let proxy = ip("10.0.0.1");
        let trusted = [proxy];
        // Spoofed by the client itself: ignored.
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // Through our proxy: the address it saw.
        assert_eq!(
            client_ip(proxy, Some("198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        // A client prepending its own fake hop cannot get past the proxy's.
        assert_eq!(
            client_ip(proxy, Some("1.2.3.4, 198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        // Garbage or no header: the proxy itself.
        assert_eq!(client_ip(proxy, Some("nonsense"), &trusted), proxy);
        assert_eq!(client_ip(proxy, None, &trusted), proxy);
        // A dual-stack listener's view of the proxy is still the proxy.
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), Some("198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("::ffff:203.0.113.9"), None, &trusted),
            ip("203.0.113.9")
        );
        // IPv6 too.
        assert_eq!(
            client_ip(proxy, Some("2001:db8::1"), &trusted),
            ip("2001:db8::1")
        );
    }
}
