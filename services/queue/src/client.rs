//! Who a run belongs to, for fairness: the unit the dispatcher takes turns
//! between. A tenant is one client however many keys it holds; anonymous
//! callers are grouped by address prefix (an IPv4 address or an IPv6 /64 by
//! default), because one IPv6 host holds 2^64 addresses and per-address
//! fairness would hand it 2^64 turns.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The plans a run can be queued under, each with its own stream, queue cap
/// and concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Plan {
    /// Callers without an API key.
    Anonymous,
    /// Callers with a tenant's API key.
    Tenant,
}

impl Plan {
    /// Both plans.
    pub const ALL: [Plan; 2] = [Plan::Anonymous, Plan::Tenant];

    /// The plan's token in subjects.
    pub fn token(self) -> &'static str {
        match self {
            Plan::Anonymous => "anon",
            Plan::Tenant => "tenant",
        }
    }

    /// The plan a subject token names.
    pub fn from_token(token: &str) -> Option<Self> {
        Plan::ALL.into_iter().find(|p| p.token() == token)
    }

    /// The stream the plan's runs are queued in.
    pub fn stream(self) -> &'static str {
        match self {
            Plan::Anonymous => crate::subjects::RUNS_ANON,
            Plan::Tenant => crate::subjects::RUNS,
        }
    }
}

/// How anonymous addresses are grouped into clients: the leading bits kept
/// of each family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefixes {
    /// Bits of an IPv4 address (32: each address is a client).
    pub v4: u8,
    /// Bits of an IPv6 address (64: each /64 is a client).
    pub v6: u8,
}

impl Default for Prefixes {
    fn default() -> Self {
        Self { v4: 32, v6: 64 }
    }
}

impl Prefixes {
    /// Checks the lengths: 1..=32 and 1..=128.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=32).contains(&self.v4) {
            return Err(format!(
                "the IPv4 prefix length {} is not in 1..=32",
                self.v4
            ));
        }
        if !(1..=128).contains(&self.v6) {
            return Err(format!(
                "the IPv6 prefix length {} is not in 1..=128",
                self.v6
            ));
        }
        Ok(())
    }

    /// `ip` with every bit past its family's prefix cleared. IPv4 addresses
    /// mapped into IPv6 (`::ffff:a.b.c.d`) count as IPv4, so a dual-stack
    /// listener cannot split one IPv4 client in two.
    pub fn mask(&self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4) & mask_u32(self.v4);
                IpAddr::V4(Ipv4Addr::from(bits))
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & mask_u128(self.v6);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        }
    }
}

fn mask_u32(len: u8) -> u32 {
    match len {
        0 => 0,
        n if n >= 32 => u32::MAX,
        n => !(u32::MAX >> n),
    }
}

fn mask_u128(len: u8) -> u128 {
    match len {
        0 => 0,
        n if n >= 128 => u128::MAX,
        n => !(u128::MAX >> n),
    }
}

/// One client: the unit of fairness and of per-client caps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A tenant, by name.
    Tenant(String),
    /// An anonymous address prefix (already masked by [`Prefixes::mask`]).
    Anonymous(IpAddr),
}

impl ClientKey {
    /// The anonymous client `ip` belongs to.
    pub fn anonymous(ip: IpAddr, prefixes: &Prefixes) -> Self {
        ClientKey::Anonymous(prefixes.mask(ip))
    }

    /// The plan its runs are queued under.
    pub fn plan(&self) -> Plan {
        match self {
            ClientKey::Tenant(_) => Plan::Tenant,
            ClientKey::Anonymous(_) => Plan::Anonymous,
        }
    }

    /// Its subject token (also its consumer's name): the tenant's name, or
    /// the prefix written with `-` between parts (`4-127-0-0-2`,
    /// `6-2001-db8-0-0-0-0-0-0`).
    pub fn token(&self) -> String {
        match self {
            ClientKey::Tenant(t) => t.clone(),
            ClientKey::Anonymous(IpAddr::V4(v4)) => {
                let [a, b, c, d] = v4.octets();
                format!("4-{a}-{b}-{c}-{d}")
            }
            ClientKey::Anonymous(IpAddr::V6(v6)) => {
                let parts: Vec<String> = v6.segments().iter().map(|s| format!("{s:x}")).collect();
                format!("6-{}", parts.join("-"))
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
    fn anonymous_clients_are_address_prefixes() {
        let p = Prefixes::default();
        // Every address of one /64 is one client; the next /64 is another.
        let a = ClientKey::anonymous(ip("2001:db8:1:2:aaaa::1"), &p);
        let b = ClientKey::anonymous(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), &p);
        let c = ClientKey::anonymous(ip("2001:db8:1:3::1"), &p);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.token(), "6-2001-db8-1-2-0-0-0-0");
        // IPv4: each address by default; mapped addresses are the same client.
        let v4 = ClientKey::anonymous(ip("127.0.0.2"), &p);
        assert_eq!(v4, ClientKey::anonymous(ip("::ffff:127.0.0.2"), &p));
        assert_ne!(v4, ClientKey::anonymous(ip("127.0.0.3"), &p));
        assert_eq!(v4.token(), "4-127-0-0-2");
        // Configurable lengths.
        let wide = Prefixes { v4: 24, v6: 48 };
        assert_eq!(
            ClientKey::anonymous(ip("127.0.0.2"), &wide),
            ClientKey::anonymous(ip("127.0.0.200"), &wide)
        );
        assert_eq!(
            ClientKey::anonymous(ip("2001:db8:1:2::1"), &wide),
            ClientKey::anonymous(ip("2001:db8:1:ffff::1"), &wide)
        );
        assert!(Prefixes { v4: 0, v6: 64 }.validate().is_err());
        assert!(Prefixes { v4: 32, v6: 129 }.validate().is_err());
        for key in [a, v4, ClientKey::Tenant("acme".into())] {
            assert!(moat_wire::valid_token(&key.token()), "{key:?}");
        }
    }

    #[test]
    fn plans_have_tokens_and_streams() {
        assert_eq!(Plan::from_token("anon"), Some(Plan::Anonymous));
        assert_eq!(Plan::from_token("tenant"), Some(Plan::Tenant));
        assert_eq!(Plan::from_token("x"), None);
        assert_ne!(Plan::Anonymous.stream(), Plan::Tenant.stream());
    }
}
