//! The special-purpose address ranges (IANA's IPv4 and IPv6 registries),
//! each mapped to the [`Kind`] it is refused as.
//!
//! This file looks at an address by itself only; addresses that carry an
//! IPv4 address inside an IPv6 one are unpacked in `embedding.rs`, and
//! `address.rs` puts the two together. Tables are checked in order, so a
//! narrower range comes before the wider one it sits in.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::kind::Kind;

/// Builds a table entry; `new_assert` fails the build on a bad prefix.
const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

/// Builds a table entry from the first segments of an IPv6 prefix.
const fn v6(s0: u16, s1: u16, s2: u16, s3: u16, len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(s0, s1, s2, s3, 0, 0, 0, 0), len)
}

/// IPv4 ranges scripts may not reach; anything else is public unicast.
const V4: &[(Ipv4Net, Kind)] = &[
    (v4(0, 0, 0, 0, 32), Kind::Unspecified),
    (v4(0, 0, 0, 0, 8), Kind::ThisNetwork),
    (v4(10, 0, 0, 0, 8), Kind::Private),
    (v4(100, 64, 0, 0, 10), Kind::Shared),
    (v4(127, 0, 0, 0, 8), Kind::Loopback),
    (v4(169, 254, 0, 0, 16), Kind::LinkLocal),
    (v4(172, 16, 0, 0, 12), Kind::Private),
    (v4(192, 0, 0, 0, 24), Kind::ProtocolAssignment),
    (v4(192, 0, 2, 0, 24), Kind::Documentation),
    // The deprecated 6to4 relay anycast (RFC 7526): a tunnel, not a server.
    (v4(192, 88, 99, 0, 24), Kind::Reserved),
    (v4(192, 168, 0, 0, 16), Kind::Private),
    (v4(198, 18, 0, 0, 15), Kind::Benchmarking),
    (v4(198, 51, 100, 0, 24), Kind::Documentation),
    (v4(203, 0, 113, 0, 24), Kind::Documentation),
    (v4(224, 0, 0, 0, 4), Kind::Multicast),
    (v4(255, 255, 255, 255, 32), Kind::Broadcast),
    (v4(240, 0, 0, 0, 4), Kind::Reserved),
];

/// IPv6 ranges, checked in order; `None` marks the globally reachable
/// assignments inside `2001::/23` that the wider entry would otherwise catch.
/// Space outside `2000::/3` that no entry names is [`Kind::Reserved`].
const V6: &[(Ipv6Net, Option<Kind>)] = &[
    (v6(0, 0, 0, 0, 128), Some(Kind::Unspecified)),
    (
        Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128),
        Some(Kind::Loopback),
    ),
    (v6(0x100, 0, 0, 0, 64), Some(Kind::Discard)),
    (v6(0xfc00, 0, 0, 0, 7), Some(Kind::UniqueLocal)),
    (v6(0xfe80, 0, 0, 0, 10), Some(Kind::LinkLocal)),
    (v6(0xfec0, 0, 0, 0, 10), Some(Kind::SiteLocal)),
    (v6(0xff00, 0, 0, 0, 8), Some(Kind::Multicast)),
    (v6(0x2001, 0xdb8, 0, 0, 32), Some(Kind::Documentation)),
    (v6(0x3fff, 0, 0, 0, 20), Some(Kind::Documentation)),
    (v6(0x2001, 0x2, 0, 0, 48), Some(Kind::Benchmarking)),
    // PCP, TURN and DNS-SD anycast, AMT, AS112, ORCHIDv2, drone remote ID:
    // assigned inside 2001::/23 and reachable on the internet.
    (
        Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 1), 128),
        None,
    ),
    (
        Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 2), 128),
        None,
    ),
    (
        Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 3), 128),
        None,
    ),
    (v6(0x2001, 0x3, 0, 0, 32), None),
    (v6(0x2001, 0x4, 0x112, 0, 48), None),
    (v6(0x2001, 0x20, 0, 0, 28), None),
    (v6(0x2001, 0x30, 0, 0, 28), None),
    (v6(0x2001, 0, 0, 0, 23), Some(Kind::ProtocolAssignment)),
];

/// The global unicast space; the rest of IPv6 is special or unassigned.
const GLOBAL_UNICAST: Ipv6Net = v6(0x2000, 0, 0, 0, 3);

/// The kind of an IPv4 address by its own range, or `None` if public.
pub(crate) fn v4_kind(ip: Ipv4Addr) -> Option<Kind> {
    V4.iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|&(_, kind)| kind)
}

/// The kind of an IPv6 address by its own range, or `None` if public.
///
/// Embedded IPv4 addresses are not looked at here.
pub(crate) fn v6_kind(ip: Ipv6Addr) -> Option<Kind> {
    match V6.iter().find(|(net, _)| net.contains(&ip)) {
        Some(&(_, kind)) => kind,
        None if GLOBAL_UNICAST.contains(&ip) => None,
        None => Some(Kind::Reserved),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k4(s: &str) -> Option<Kind> {
        v4_kind(s.parse().unwrap())
    }

    fn k6(s: &str) -> Option<Kind> {
        v6_kind(s.parse().unwrap())
    }

    #[test]
    fn every_ipv4_range_is_refused_at_both_ends() {
        let cases = [
            ("0.0.0.0", "0.0.0.0", Kind::Unspecified),
            ("0.0.0.1", "0.255.255.255", Kind::ThisNetwork),
            ("10.0.0.0", "10.255.255.255", Kind::Private),
            ("100.64.0.0", "100.127.255.255", Kind::Shared),
            ("127.0.0.0", "127.255.255.255", Kind::Loopback),
            ("169.254.0.0", "169.254.255.255", Kind::LinkLocal),
            ("172.16.0.0", "172.31.255.255", Kind::Private),
            ("192.0.0.0", "192.0.0.255", Kind::ProtocolAssignment),
            ("192.0.2.0", "192.0.2.255", Kind::Documentation),
            ("192.88.99.0", "192.88.99.255", Kind::Reserved),
            ("192.168.0.0", "192.168.255.255", Kind::Private),
            ("198.18.0.0", "198.19.255.255", Kind::Benchmarking),
            ("198.51.100.0", "198.51.100.255", Kind::Documentation),
            ("203.0.113.0", "203.0.113.255", Kind::Documentation),
            ("224.0.0.0", "239.255.255.255", Kind::Multicast),
            ("240.0.0.0", "255.255.255.254", Kind::Reserved),
            ("255.255.255.255", "255.255.255.255", Kind::Broadcast),
        ];
        for (first, last, kind) in cases {
            assert_eq!(k4(first), Some(kind), "{first}");
            assert_eq!(k4(last), Some(kind), "{last}");
        }
    }

    #[test]
    fn ipv4_neighbours_of_the_ranges_are_public() {
        for ip in [
            "1.0.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "8.8.8.8",
            "1.1.1.1",
        ] {
            assert_eq!(k4(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_ipv6_range_is_refused() {
        let cases = [
            ("::", Kind::Unspecified),
            ("::1", Kind::Loopback),
            ("100::", Kind::Discard),
            ("100::ffff:ffff:ffff:ffff", Kind::Discard),
            ("fc00::", Kind::UniqueLocal),
            ("fd00::1", Kind::UniqueLocal),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Kind::UniqueLocal),
            ("fe80::1", Kind::LinkLocal),
            ("febf:ffff::1", Kind::LinkLocal),
            ("fec0::1", Kind::SiteLocal),
            ("feff:ffff::1", Kind::SiteLocal),
            ("ff02::1", Kind::Multicast),
            ("ff0e::1", Kind::Multicast),
            ("2001:db8::", Kind::Documentation),
            ("2001:db8:ffff::1", Kind::Documentation),
            ("3fff::1", Kind::Documentation),
            ("3fff:fff::1", Kind::Documentation),
            ("2001:2::1", Kind::Benchmarking),
            ("2001:1::4", Kind::ProtocolAssignment),
            ("2001:100::1", Kind::ProtocolAssignment),
            ("2001:1ff::1", Kind::ProtocolAssignment),
            // Outside 2000::/3 and named by nothing else.
            ("4000::1", Kind::Reserved),
            ("5f00::1", Kind::Reserved),
            ("::1:0:0:0:1", Kind::Reserved),
            ("64:ff9b:2::1", Kind::Reserved),
        ];
        for (ip, kind) in cases {
            assert_eq!(k6(ip), Some(kind), "{ip}");
        }
    }

    #[test]
    fn public_ipv6_and_reachable_assignments_pass() {
        for ip in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2000::1",
            "3ffe::1",
            "3fff:1000::1",
            "2001:200::1",
            "2001:1::1",
            "2001:1::3",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2001:30::1",
            "2001:db9::1",
        ] {
            assert_eq!(k6(ip), None, "{ip}");
        }
    }
}
