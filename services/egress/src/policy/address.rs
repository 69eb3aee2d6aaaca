//! Judges one IP address: public unicast, or a [`Blocked`] saying which
//! kind it is and, for IPv6 forms that carry an IPv4 address, which
//! embedded address made it so.
//!
//! This is the built-in block only; operator nets and lists are applied on
//! top of it in `rules.rs`.

use std::fmt;
use std::net::IpAddr;

use super::embedding::{embedded, Embedding};
use super::kind::Kind;
use super::ranges::{v4_kind, v6_kind};

/// Why an address may not be reached: the address asked for, the address
/// that was found to be special (itself or one it embeds), and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Blocked {
    asked: IpAddr,
    checked: IpAddr,
    kind: Kind,
    via: Option<Embedding>,
}

impl Blocked {
    /// The address the user asked for (or DNS returned).
    pub fn asked(&self) -> IpAddr {
        self.asked
    }

    /// The address that is special: [`Blocked::asked`] itself, or the IPv4
    /// address it embeds.
    pub fn checked(&self) -> IpAddr {
        self.checked
    }

    /// What kind of address [`Blocked::checked`] is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// How the checked address was embedded, if it was.
    pub fn embedding(&self) -> Option<Embedding> {
        self.via
    }

    /// A short stable reason code for events and metrics: "loopback", ...
    pub fn reason(&self) -> &'static str {
        self.kind.code()
    }

    /// The part of the message after the address, for sentences that name
    /// the address differently: "a loopback address", or "which embeds
    /// 127.0.0.1, a loopback address".
    pub(crate) fn tail(&self) -> impl fmt::Display + '_ {
        Tail(self)
    }
}

/// Writes the user-facing message: "127.0.0.1 is a loopback address" or
/// "::ffff:127.0.0.1 embeds 127.0.0.1, a loopback address".
impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.via {
            None => write!(f, "{} is {}", self.asked, self.kind),
            Some(_) => write!(f, "{} embeds {}, {}", self.asked, self.checked, self.kind),
        }
    }
}

/// See [`Blocked::tail`].
struct Tail<'a>(&'a Blocked);

impl fmt::Display for Tail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.via {
            None => write!(f, "{}", self.0.kind),
            Some(_) => write!(f, "which embeds {}, {}", self.0.checked, self.0.kind),
        }
    }
}

/// Classifies an address under the built-in block: `None` for public
/// unicast, otherwise why not.
///
/// An IPv6 address that embeds IPv4 addresses (mapped, compatible, NAT64,
/// 6to4, Teredo) is judged by what it embeds, since that is the host a
/// connection reaches; Teredo is blocked if either its server or its client
/// is.
pub fn classify(ip: IpAddr) -> Option<Blocked> {
    let mut inner = embedded(ip).peekable();
    if inner.peek().is_none() {
        let kind = match ip {
            IpAddr::V4(v4) => v4_kind(v4),
            IpAddr::V6(v6) => v6_kind(v6),
        }?;
        return Some(Blocked {
            asked: ip,
            checked: ip,
            kind,
            via: None,
        });
    }
    inner.find_map(|(via, v4)| {
        v4_kind(v4).map(|kind| Blocked {
            asked: ip,
            checked: IpAddr::V4(v4),
            kind,
            via: Some(via),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(s: &str) -> Blocked {
        classify(s.parse().unwrap()).unwrap_or_else(|| panic!("{s} passed"))
    }

    #[test]
    fn messages_name_the_address_and_its_kind() {
        let cases = [
            ("127.0.0.1", "127.0.0.1 is a loopback address"),
            ("10.0.0.1", "10.0.0.1 is a private address"),
            ("172.16.5.4", "172.16.5.4 is a private address"),
            ("192.168.1.1", "192.168.1.1 is a private address"),
            ("169.254.169.254", "169.254.169.254 is a link-local address"),
            ("100.64.0.1", "100.64.0.1 is a shared (CGNAT) address"),
            ("fd00::1", "fd00::1 is a unique-local address"),
            ("224.0.0.1", "224.0.0.1 is a multicast address"),
            ("ff02::1", "ff02::1 is a multicast address"),
            ("0.0.0.0", "0.0.0.0 is an unspecified address"),
            ("::", ":: is an unspecified address"),
            ("::1", "::1 is a loopback address"),
            ("0.1.2.3", "0.1.2.3 is a \"this network\" address"),
            (
                "192.0.0.8",
                "192.0.0.8 is an IETF protocol assignment address",
            ),
            ("240.0.0.1", "240.0.0.1 is a reserved address"),
            ("255.255.255.255", "255.255.255.255 is a broadcast address"),
            ("192.0.2.1", "192.0.2.1 is a documentation address"),
            ("2001:db8::1", "2001:db8::1 is a documentation address"),
            ("198.18.0.1", "198.18.0.1 is a benchmarking address"),
            ("fec0::1", "fec0::1 is a site-local address"),
            ("100::1", "100::1 is a discard-only address"),
            ("fe80::1", "fe80::1 is a link-local address"),
        ];
        for (ip, message) in cases {
            let b = blocked(ip);
            assert_eq!(b.to_string(), message);
            assert_eq!(b.asked(), b.checked());
            assert_eq!(b.embedding(), None);
        }
    }

    #[test]
    fn embeddings_are_judged_by_what_they_carry() {
        let cases = [
            (
                "::ffff:127.0.0.1",
                "127.0.0.1",
                Embedding::Ipv4Mapped,
                "::ffff:127.0.0.1 embeds 127.0.0.1, a loopback address",
            ),
            (
                "::ffff:169.254.169.254",
                "169.254.169.254",
                Embedding::Ipv4Mapped,
                "::ffff:169.254.169.254 embeds 169.254.169.254, a link-local address",
            ),
            (
                "::127.0.0.1",
                "127.0.0.1",
                Embedding::Ipv4Compatible,
                "::7f00:1 embeds 127.0.0.1, a loopback address",
            ),
            (
                "64:ff9b::10.0.0.1",
                "10.0.0.1",
                Embedding::Nat64,
                "64:ff9b::a00:1 embeds 10.0.0.1, a private address",
            ),
            (
                "64:ff9b:1::192.168.0.1",
                "192.168.0.1",
                Embedding::Nat64Local,
                "64:ff9b:1::c0a8:1 embeds 192.168.0.1, a private address",
            ),
            (
                "2002:a9fe:a9fe::1",
                "169.254.169.254",
                Embedding::SixToFour,
                "2002:a9fe:a9fe::1 embeds 169.254.169.254, a link-local address",
            ),
            (
                // Server 127.0.0.1, client 8.8.8.8 (inverted: f7f7:f7f7).
                "2001:0:7f00:1::f7f7:f7f7",
                "127.0.0.1",
                Embedding::TeredoServer,
                "2001:0:7f00:1::f7f7:f7f7 embeds 127.0.0.1, a loopback address",
            ),
            (
                // Server 8.8.8.8, client 10.0.0.1 (inverted: f5ff:fffe).
                "2001:0:808:808::f5ff:fffe",
                "10.0.0.1",
                Embedding::TeredoClient,
                "2001:0:808:808::f5ff:fffe embeds 10.0.0.1, a private address",
            ),
        ];
        for (ip, inner, via, message) in cases {
            let b = blocked(ip);
            assert_eq!(b.to_string(), message);
            assert_eq!(b.asked(), ip.parse::<IpAddr>().unwrap());
            assert_eq!(b.checked(), inner.parse::<IpAddr>().unwrap());
            assert_eq!(b.embedding(), Some(via));
        }
    }

    #[test]
    fn reason_codes_follow_the_kind() {
        assert_eq!(blocked("127.0.0.1").reason(), "loopback");
        assert_eq!(blocked("::ffff:10.1.1.1").reason(), "private");
        assert_eq!(blocked("100.100.100.100").reason(), "shared");
        assert_eq!(blocked("fe80::1").kind(), Kind::LinkLocal);
    }

    #[test]
    fn tail_reads_after_another_subject() {
        assert_eq!(
            blocked("127.0.0.1").tail().to_string(),
            "a loopback address"
        );
        assert_eq!(
            blocked("::ffff:127.0.0.1").tail().to_string(),
            "which embeds 127.0.0.1, a loopback address"
        );
    }

    #[test]
    fn public_addresses_and_public_embeddings_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::1.1.1.1",
            "64:ff9b:1::8.8.8.8",
            "2002:808:808::1",
            // Teredo with public server 8.8.8.8 and client 1.1.1.1.
            "2001:0:808:808::fefe:fefe",
        ] {
            assert_eq!(classify(ip.parse().unwrap()), None, "{ip}");
        }
    }
}
