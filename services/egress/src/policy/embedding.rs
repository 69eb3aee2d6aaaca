//! IPv6 forms that carry an IPv4 address, so `[::ffff:127.0.0.1]` or a
//! NAT64 address is judged by the IPv4 host it will really reach.
//!
//! This file only unpacks addresses; judging them is `address.rs`'s job.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How an IPv6 address carries an IPv4 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Embedding {
    /// `::ffff:a.b.c.d`: a dual-stack socket connects to `a.b.c.d` itself.
    Ipv4Mapped,
    /// `::a.b.c.d` (deprecated), other than `::` and `::1`.
    Ipv4Compatible,
    /// `64:ff9b::/96`, the NAT64 well-known prefix (RFC 6052).
    Nat64,
    /// `64:ff9b:1::/48`, the NAT64 local-use prefix (RFC 8215).
    Nat64Local,
    /// `2002::/16` 6to4: the relay's IPv4 address in bits 16..48.
    SixToFour,
    /// `2001::/32` Teredo: the server's IPv4 address in bits 32..64.
    TeredoServer,
    /// `2001::/32` Teredo: the client's IPv4 address, inverted, in the last
    /// 32 bits.
    TeredoClient,
}

impl Embedding {
    /// A short stable code for events and metric labels.
    pub fn code(self) -> &'static str {
        match self {
            Embedding::Ipv4Mapped => "ipv4-mapped",
            Embedding::Ipv4Compatible => "ipv4-compatible",
            Embedding::Nat64 => "nat64",
            Embedding::Nat64Local => "nat64-local",
            Embedding::SixToFour => "6to4",
            Embedding::TeredoServer => "teredo-server",
            Embedding::TeredoClient => "teredo-client",
        }
    }
}

/// Writes the code, so logs read the same as events.
impl fmt::Display for Embedding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The IPv4 addresses an address carries: none for IPv4 and plain IPv6,
/// one for most forms, two for Teredo (server first, then client).
pub fn embedded(ip: IpAddr) -> impl Iterator<Item = (Embedding, Ipv4Addr)> {
    let found = match ip {
        IpAddr::V4(_) => [None, None],
        IpAddr::V6(v6) => unpack(v6),
    };
    found.into_iter().flatten()
}

/// Finds the embedded addresses of one IPv6 address.
fn unpack(ip: Ipv6Addr) -> [Option<(Embedding, Ipv4Addr)>; 2] {
    let bits = ip.to_bits();
    let last32 = Ipv4Addr::from_bits(bits as u32);
    let one = |how| [Some((how, last32)), None];
    let s = ip.segments();
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => one(Embedding::Ipv4Mapped),
        // `::` and `::1` are their own kinds, not embeddings.
        [0, 0, 0, 0, 0, 0, _, _] if bits > 1 => one(Embedding::Ipv4Compatible),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => one(Embedding::Nat64),
        [0x64, 0xff9b, 1, _, _, _, _, _] => one(Embedding::Nat64Local),
        [0x2002, _, _, _, _, _, _, _] => [
            Some((
                Embedding::SixToFour,
                Ipv4Addr::from_bits((bits >> 80) as u32),
            )),
            None,
        ],
        [0x2001, 0, _, _, _, _, _, _] => [
            Some((
                Embedding::TeredoServer,
                Ipv4Addr::from_bits((bits >> 64) as u32),
            )),
            Some((Embedding::TeredoClient, Ipv4Addr::from_bits(!(bits as u32)))),
        ],
        _ => [None, None],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(s: &str) -> Vec<(Embedding, Ipv4Addr)> {
        embedded(s.parse().unwrap()).collect()
    }

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn each_form_yields_the_address_it_carries() {
        let cases = [
            ("::ffff:127.0.0.1", Embedding::Ipv4Mapped, "127.0.0.1"),
            ("::ffff:8.8.8.8", Embedding::Ipv4Mapped, "8.8.8.8"),
            ("::10.0.0.1", Embedding::Ipv4Compatible, "10.0.0.1"),
            ("::2", Embedding::Ipv4Compatible, "0.0.0.2"),
            ("64:ff9b::a9fe:a9fe", Embedding::Nat64, "169.254.169.254"),
            ("64:ff9b:1::7f00:1", Embedding::Nat64Local, "127.0.0.1"),
            (
                "64:ff9b:1:abcd::c0a8:1",
                Embedding::Nat64Local,
                "192.168.0.1",
            ),
            ("2002:7f00:1::", Embedding::SixToFour, "127.0.0.1"),
            ("2002:0a00:0001:1234::5", Embedding::SixToFour, "10.0.0.1"),
        ];
        for (ip, how, inner) in cases {
            assert_eq!(found(ip), vec![(how, v4(inner))], "{ip}");
        }
    }

    #[test]
    fn teredo_yields_server_then_inverted_client() {
        // RFC 4380's example: server 65.54.227.120, client 192.0.2.45.
        assert_eq!(
            found("2001:0:4136:e378:8000:63bf:3fff:fdd2"),
            vec![
                (Embedding::TeredoServer, v4("65.54.227.120")),
                (Embedding::TeredoClient, v4("192.0.2.45")),
            ]
        );
    }

    #[test]
    fn plain_addresses_carry_nothing() {
        for ip in [
            "::",
            "::1",
            "127.0.0.1",
            "2606:4700:4700::1111",
            "64:ff9b::1:0:0:1",
            "2001:1::1",
            "::ffff:0:0:1",
        ] {
            assert_eq!(found(ip), vec![], "{ip}");
        }
    }

    #[test]
    fn codes_are_distinct() {
        let all = [
            Embedding::Ipv4Mapped,
            Embedding::Ipv4Compatible,
            Embedding::Nat64,
            Embedding::Nat64Local,
            Embedding::SixToFour,
            Embedding::TeredoServer,
            Embedding::TeredoClient,
        ];
        let mut codes: Vec<&str> = all.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
