//! [`Policy`]: the operator's rules on top of the built-in block, and the
//! two checks the service makes with them, before and after DNS.
//!
//! The order the checks run in is the precedence, documented on the
//! `policy` module and tested here.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::address::classify;
use super::domain;
use super::embedding::embedded;
use super::port::DEFAULT_BLOCKED_PORTS;
use super::refusal::Refusal;
use super::target::{Host, Target};

/// A list of the only destinations reachable: a destination matches if its
/// domain matches one of `domains` or its address is in one of `nets`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowOnly {
    /// Domain rules (see `domain.rs`): each matches itself and subdomains.
    pub domains: Vec<String>,
    /// Nets whose addresses are reachable, by domain or IP literal.
    pub nets: Vec<IpNet>,
}

impl AllowOnly {
    /// Whether a domain matches one of the domain rules.
    fn has_domain(&self, host: &str) -> bool {
        domain::find(&self.domains, host).is_some()
    }

    /// Whether an address (IPv4-mapped counts as IPv4) is in one of the nets.
    fn has_addr(&self, ip: IpAddr) -> bool {
        in_any(&self.nets, ip.to_canonical())
    }
}

/// The destination rules of one deployment, tenant or plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Nets exempted from the built-in block (loopback test servers, a
    /// private API); they exempt from nothing else.
    pub allow_nets: Vec<IpNet>,
    /// Nets never reachable, matched against an address and every IPv4
    /// address it embeds.
    pub deny_nets: Vec<IpNet>,
    /// Domain rules never reachable.
    pub deny_domains: Vec<String>,
    /// Allow-only lists, one per layer that set one; a destination must
    /// match every one. Empty means no allow-only limit.
    pub allow_only: Vec<AllowOnly>,
    /// Ports never reachable, whatever the address.
    pub blocked_ports: Vec<u16>,
}

/// The built-in block and the mail ports, nothing else.
impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_nets: Vec::new(),
            deny_nets: Vec::new(),
            deny_domains: Vec::new(),
            allow_only: Vec::new(),
            blocked_ports: DEFAULT_BLOCKED_PORTS.to_vec(),
        }
    }
}

impl Policy {
    /// Checks a destination before DNS: its port, its domain against the
    /// deny and allow-only lists, and an IP-literal host in full.
    ///
    /// Passing this is not enough to connect to a domain: every address it
    /// resolves to must also pass [`Policy::check_addr`]. A domain that no
    /// allow-only domain rule matches is refused here only when that list
    /// has no nets its addresses could still fall in.
    pub fn check_target(&self, target: &Target) -> Result<(), Refusal> {
        match &target.host {
            Host::Ip(ip) => self.check_addr(&target.host, SocketAddr::new(*ip, target.port)),
            Host::Domain(name) => {
                self.check_port(target.port)?;
                self.check_domain(name)?;
                let unlisted = self
                    .allow_only
                    .iter()
                    .any(|list| list.nets.is_empty() && !list.has_domain(name));
                if unlisted {
                    return Err(Refusal::NotAllowed(name.clone()));
                }
                Ok(())
            }
        }
    }

    /// Checks one address `host` resolved to (or the IP literal itself),
    /// just before connecting to it.
    pub fn check_addr(&self, host: &Host, addr: SocketAddr) -> Result<(), Refusal> {
        let ip = addr.ip();
        let name = match host {
            Host::Domain(name) => Some(name.as_str()),
            Host::Ip(_) => None,
        };
        self.check_port(addr.port())?;
        if let Some(name) = name {
            self.check_domain(name)?;
        }
        let denied = std::iter::once(ip)
            .chain(embedded(ip).map(|(_, v4)| IpAddr::V4(v4)))
            .any(|candidate| in_any(&self.deny_nets, candidate));
        if denied {
            return Err(Refusal::DenyNet {
                domain: name.map(str::to_string),
                addr: ip,
            });
        }
        let listed =
            |list: &AllowOnly| name.is_some_and(|n| list.has_domain(n)) || list.has_addr(ip);
        if !self.allow_only.iter().all(listed) {
            return Err(Refusal::NotAllowed(host.to_string()));
        }
        if in_any(&self.allow_nets, ip.to_canonical()) {
            return Ok(());
        }
        match (classify(ip), name) {
            (None, _) => Ok(()),
            (Some(blocked), None) => Err(Refusal::Address(blocked)),
            (Some(blocked), Some(name)) => Err(Refusal::Resolved {
                domain: name.to_string(),
                blocked,
            }),
        }
    }

    /// Refuses a blocked port.
    fn check_port(&self, port: u16) -> Result<(), Refusal> {
        if self.blocked_ports.contains(&port) {
            return Err(Refusal::Port { port });
        }
        Ok(())
    }

    /// Refuses a domain on the deny list.
    fn check_domain(&self, name: &str) -> Result<(), Refusal> {
        match domain::find(&self.deny_domains, name) {
            Some(rule) => Err(Refusal::DenyDomain {
                domain: name.to_string(),
                rule: rule.to_string(),
            }),
            None => Ok(()),
        }
    }
}

/// Whether `ip` is in any of `nets`.
fn in_any(nets: &[IpNet], ip: IpAddr) -> bool {
    nets.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::target::target;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// The full check of a URL whose host resolved to `resolved`.
    fn check(policy: &Policy, url: &str, resolved: &str) -> Result<(), String> {
        let t = target(url).map_err(|r| r.to_string())?;
        policy.check_target(&t).map_err(|r| r.to_string())?;
        let addr = SocketAddr::new(resolved.parse().unwrap(), t.port);
        policy.check_addr(&t.host, addr).map_err(|r| r.to_string())
    }

    /// The check of an IP-literal URL, before any DNS.
    fn literal(policy: &Policy, url: &str) -> Result<(), String> {
        let t = target(url).map_err(|r| r.to_string())?;
        policy.check_target(&t).map_err(|r| r.to_string())
    }

    fn loopback_allowed() -> Policy {
        Policy {
            allow_nets: nets(&["127.0.0.0/8"]),
            ..Policy::default()
        }
    }

    #[test]
    fn disguised_loopback_urls_are_refused_as_loopback() {
        let policy = Policy::default();
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://0177.0.0.01/",
        ] {
            assert_eq!(
                literal(&policy, url),
                Err("127.0.0.1 is a loopback address".to_string()),
                "{url}"
            );
        }
        assert_eq!(
            literal(&policy, "http://[::ffff:127.0.0.1]/"),
            Err("::ffff:127.0.0.1 embeds 127.0.0.1, a loopback address".to_string())
        );
        assert_eq!(
            literal(&policy, "http://[::1]:8080/"),
            Err("::1 is a loopback address".to_string())
        );
        assert_eq!(
            literal(&policy, "http://169.254.169.254/latest/meta-data/"),
            Err("169.254.169.254 is a link-local address".to_string())
        );
    }

    #[test]
    fn public_destinations_pass_by_default() {
        let policy = Policy::default();
        assert_eq!(
            check(&policy, "https://example.com/", "93.184.216.34"),
            Ok(())
        );
        assert_eq!(literal(&policy, "http://8.8.8.8/"), Ok(()));
        assert_eq!(literal(&policy, "https://[2606:4700:4700::1111]/"), Ok(()));
    }

    #[test]
    fn a_domain_resolving_to_a_blocked_address_is_refused_after_dns() {
        let policy = Policy::default();
        let t = target("http://rebind.example/").unwrap();
        assert_eq!(policy.check_target(&t), Ok(()));
        assert_eq!(
            check(&policy, "http://rebind.example/", "10.0.0.1"),
            Err("rebind.example resolves to 10.0.0.1, a private address".to_string())
        );
        assert_eq!(
            check(&policy, "http://rebind.example/", "::ffff:169.254.169.254"),
            Err(
                "rebind.example resolves to ::ffff:169.254.169.254, which embeds \
                 169.254.169.254, a link-local address"
                    .to_string()
            )
        );
    }

    #[test]
    fn allow_nets_exempt_loopback_and_nothing_else() {
        let policy = loopback_allowed();
        assert_eq!(literal(&policy, "http://127.0.0.1:8080/"), Ok(()));
        assert_eq!(literal(&policy, "http://127.1:8080/"), Ok(()));
        assert_eq!(literal(&policy, "http://[::ffff:127.0.0.1]:8080/"), Ok(()));
        assert_eq!(
            check(&policy, "http://localhost:8080/", "127.0.0.1"),
            Ok(())
        );
        assert_eq!(
            literal(&policy, "http://10.0.0.1/"),
            Err("10.0.0.1 is a private address".to_string())
        );
        assert_eq!(
            literal(&policy, "http://[::1]/"),
            Err("::1 is a loopback address".to_string())
        );
        // An embedding other than IPv4-mapped is not the allowed address.
        assert_eq!(
            literal(&policy, "http://[64:ff9b::127.0.0.1]/"),
            Err("64:ff9b::7f00:1 embeds 127.0.0.1, a loopback address".to_string())
        );
    }

    #[test]
    fn blocked_ports_are_refused_even_to_allowed_nets() {
        let policy = loopback_allowed();
        for port in [25, 465, 587] {
            let url = format!("http://127.0.0.1:{port}/");
            assert_eq!(
                literal(&policy, &url),
                Err(format!("port {port} is closed to scripts (mail)"))
            );
        }
        assert_eq!(
            check(&policy, "http://mail.example:25/", "8.8.8.8"),
            Err("port 25 is closed to scripts (mail)".to_string())
        );
        let addr = SocketAddr::new("8.8.8.8".parse().unwrap(), 587);
        assert_eq!(
            policy.check_addr(&Host::Domain("mail.example".into()), addr),
            Err(Refusal::Port { port: 587 })
        );
        let allow_only = Policy {
            allow_only: vec![AllowOnly {
                domains: strings(&["mail.example"]),
                nets: vec![],
            }],
            ..Policy::default()
        };
        assert_eq!(
            check(&allow_only, "http://mail.example:465/", "8.8.8.8"),
            Err("port 465 is closed to scripts (mail)".to_string())
        );
    }

    #[test]
    fn operator_ports_replace_the_defaults() {
        let policy = Policy {
            blocked_ports: vec![6379],
            ..Policy::default()
        };
        assert_eq!(check(&policy, "http://a.example:25/", "8.8.8.8"), Ok(()));
        assert_eq!(
            check(&policy, "http://a.example:6379/", "8.8.8.8"),
            Err("port 6379 is closed to scripts".to_string())
        );
    }

    #[test]
    fn deny_domains_match_subdomains_and_beat_allow_only() {
        let policy = Policy {
            deny_domains: strings(&["evil.example"]),
            allow_only: vec![AllowOnly {
                domains: strings(&["evil.example", "good.example"]),
                nets: vec![],
            }],
            ..Policy::default()
        };
        for url in ["http://evil.example/", "http://cdn.EVIL.example./"] {
            let t = target(url).unwrap();
            let refusal = policy.check_target(&t).unwrap_err();
            assert_eq!(refusal.reason(), "deny-list");
            assert!(refusal
                .to_string()
                .ends_with("evil.example is on the deny list"));
        }
        assert_eq!(check(&policy, "http://good.example/", "8.8.8.8"), Ok(()));
        assert_eq!(
            check(&policy, "http://notevil.example/", "8.8.8.8"),
            Err("notevil.example is not on the allow list".to_string())
        );
    }

    #[test]
    fn deny_nets_beat_allow_nets_and_catch_embeddings() {
        let policy = Policy {
            allow_nets: nets(&["127.0.0.0/8", "10.0.0.0/8"]),
            deny_nets: nets(&["127.0.0.53/32", "203.0.113.0/24"]),
            ..Policy::default()
        };
        assert_eq!(literal(&policy, "http://127.0.0.1/"), Ok(()));
        assert_eq!(
            literal(&policy, "http://127.0.0.53/"),
            Err("127.0.0.53 is on the deny list".to_string())
        );
        assert_eq!(
            literal(&policy, "http://[::ffff:127.0.0.53]/"),
            Err("::ffff:127.0.0.53 is on the deny list".to_string())
        );
        assert_eq!(
            literal(&policy, "http://[64:ff9b::203.0.113.7]/"),
            Err("64:ff9b::cb00:7107 is on the deny list".to_string())
        );
        assert_eq!(
            check(&policy, "http://a.example/", "127.0.0.53"),
            Err("a.example resolves to 127.0.0.53, which is on the deny list".to_string())
        );
    }

    #[test]
    fn allow_only_domains_limit_everything() {
        let policy = Policy {
            allow_nets: nets(&["127.0.0.0/8"]),
            allow_only: vec![AllowOnly {
                domains: strings(&["api.example.com"]),
                nets: vec![],
            }],
            ..Policy::default()
        };
        assert_eq!(
            check(&policy, "https://api.example.com/", "8.8.8.8"),
            Ok(())
        );
        assert_eq!(
            check(&policy, "https://v2.api.example.com/", "8.8.8.8"),
            Ok(())
        );
        // Refused before DNS: no net could let it in.
        let t = target("https://example.org/").unwrap();
        assert_eq!(
            policy.check_target(&t).map_err(|r| r.to_string()),
            Err("example.org is not on the allow list".to_string())
        );
        assert_eq!(
            literal(&policy, "http://8.8.8.8/"),
            Err("8.8.8.8 is not on the allow list".to_string())
        );
        // allow_nets does not get around the allow-only list.
        assert_eq!(
            literal(&policy, "http://127.0.0.1:8080/"),
            Err("127.0.0.1 is not on the allow list".to_string())
        );
    }

    #[test]
    fn allow_only_lists_exempt_nothing_from_the_block() {
        let policy = Policy {
            allow_only: vec![AllowOnly {
                domains: strings(&["api.example.com"]),
                nets: nets(&["10.0.0.0/8"]),
            }],
            ..Policy::default()
        };
        assert_eq!(
            check(&policy, "https://api.example.com/", "127.0.0.1"),
            Err("api.example.com resolves to 127.0.0.1, a loopback address".to_string())
        );
        assert_eq!(
            literal(&policy, "http://10.1.2.3/"),
            Err("10.1.2.3 is a private address".to_string())
        );
    }

    #[test]
    fn allow_only_nets_admit_any_domain_resolving_into_them() {
        let policy = Policy {
            allow_nets: nets(&["10.5.0.0/16"]),
            allow_only: vec![AllowOnly {
                domains: vec![],
                nets: nets(&["10.5.0.0/16", "93.184.216.0/24"]),
            }],
            ..Policy::default()
        };
        let t = target("http://internal.corp/").unwrap();
        assert_eq!(policy.check_target(&t), Ok(()));
        assert_eq!(check(&policy, "http://internal.corp/", "10.5.1.1"), Ok(()));
        assert_eq!(
            check(&policy, "http://example.com/", "93.184.216.34"),
            Ok(())
        );
        assert_eq!(literal(&policy, "http://[::ffff:93.184.216.34]/"), Ok(()));
        assert_eq!(
            check(&policy, "http://example.com/", "8.8.8.8"),
            Err("example.com is not on the allow list".to_string())
        );
    }

    #[test]
    fn every_allow_only_list_must_match() {
        let policy = Policy {
            allow_only: vec![
                AllowOnly {
                    domains: strings(&["example.com"]),
                    nets: vec![],
                },
                AllowOnly {
                    domains: strings(&["api.example.com", "example.org"]),
                    nets: vec![],
                },
            ],
            ..Policy::default()
        };
        assert_eq!(
            check(&policy, "https://api.example.com/", "8.8.8.8"),
            Ok(())
        );
        assert_eq!(
            check(&policy, "https://www.example.com/", "8.8.8.8"),
            Err("www.example.com is not on the allow list".to_string())
        );
        assert_eq!(
            check(&policy, "https://example.org/", "8.8.8.8"),
            Err("example.org is not on the allow list".to_string())
        );
    }
}
