//! The kinds of address scripts may not reach, named once so the message a
//! user reads and the code an event carries cannot drift apart.
//!
//! This file only names the kinds; which ranges belong to each is in
//! `ranges.rs`.

use std::fmt;

/// Why an address is not public unicast, as one of the IANA special-purpose
/// categories (plus the catch-all `Reserved`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `0.0.0.0` or `::`: "any address", which many stacks treat as "this host".
    Unspecified,
    /// `0.0.0.0/8`: "this network" (RFC 791), never a valid destination.
    ThisNetwork,
    /// `127.0.0.0/8` or `::1`: the host itself.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918).
    Private,
    /// `100.64.0.0/10`: carrier-grade NAT space (RFC 6598).
    Shared,
    /// `169.254.0.0/16` or `fe80::/10`: the local link, home of cloud
    /// metadata services.
    LinkLocal,
    /// `192.0.0.0/24` or the rest of `2001::/23`: IETF protocol assignments.
    ProtocolAssignment,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`,
    /// `3fff::/20`: documentation examples.
    Documentation,
    /// `198.18.0.0/15` or `2001:2::/48`: network benchmarking.
    Benchmarking,
    /// `240.0.0.0/4`, `192.88.99.0/24`, or IPv6 space outside `2000::/3`
    /// that no other kind names.
    Reserved,
    /// `255.255.255.255`: limited broadcast.
    Broadcast,
    /// `224.0.0.0/4` or `ff00::/8`.
    Multicast,
    /// `fc00::/7`: IPv6 unique-local addresses, the IPv6 private space.
    UniqueLocal,
    /// `fec0::/10`: deprecated IPv6 site-local addresses.
    SiteLocal,
    /// `100::/64`: the IPv6 discard-only prefix.
    Discard,
}

impl Kind {
    /// A short stable code for events and metric labels.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Unspecified => "unspecified",
            Kind::ThisNetwork => "this-network",
            Kind::Loopback => "loopback",
            Kind::Private => "private",
            Kind::Shared => "shared",
            Kind::LinkLocal => "link-local",
            Kind::ProtocolAssignment => "protocol-assignment",
            Kind::Documentation => "documentation",
            Kind::Benchmarking => "benchmarking",
            Kind::Reserved => "reserved",
            Kind::Broadcast => "broadcast",
            Kind::Multicast => "multicast",
            Kind::UniqueLocal => "unique-local",
            Kind::SiteLocal => "site-local",
            Kind::Discard => "discard",
        }
    }
}

/// Writes the kind as the noun phrase users read: "a loopback address".
impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Unspecified => "an unspecified address",
            Kind::ThisNetwork => "a \"this network\" address",
            Kind::Loopback => "a loopback address",
            Kind::Private => "a private address",
            Kind::Shared => "a shared (CGNAT) address",
            Kind::LinkLocal => "a link-local address",
            Kind::ProtocolAssignment => "an IETF protocol assignment address",
            Kind::Documentation => "a documentation address",
            Kind::Benchmarking => "a benchmarking address",
            Kind::Reserved => "a reserved address",
            Kind::Broadcast => "a broadcast address",
            Kind::Multicast => "a multicast address",
            Kind::UniqueLocal => "a unique-local address",
            Kind::SiteLocal => "a site-local address",
            Kind::Discard => "a discard-only address",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Kind; 15] = [
        Kind::Unspecified,
        Kind::ThisNetwork,
        Kind::Loopback,
        Kind::Private,
        Kind::Shared,
        Kind::LinkLocal,
        Kind::ProtocolAssignment,
        Kind::Documentation,
        Kind::Benchmarking,
        Kind::Reserved,
        Kind::Broadcast,
        Kind::Multicast,
        Kind::UniqueLocal,
        Kind::SiteLocal,
        Kind::Discard,
    ];

    #[test]
    fn codes_are_distinct_lowercase_labels() {
        let mut codes: Vec<&str> = ALL.iter().map(|k| k.code()).collect();
        for code in &codes {
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{code} is not a label value"
            );
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len());
    }

    #[test]
    fn phrases_read_as_a_noun_phrase_for_an_address() {
        for kind in ALL {
            let phrase = kind.to_string();
            assert!(phrase.ends_with(" address"), "{phrase}");
            assert!(
                phrase.starts_with("a ") || phrase.starts_with("an "),
                "{phrase}"
            );
        }
        assert_eq!(Kind::Unspecified.to_string(), "an unspecified address");
        assert_eq!(Kind::UniqueLocal.to_string(), "a unique-local address");
        assert_eq!(Kind::Shared.to_string(), "a shared (CGNAT) address");
        assert_eq!(
            Kind::ProtocolAssignment.to_string(),
            "an IETF protocol assignment address"
        );
    }
}
