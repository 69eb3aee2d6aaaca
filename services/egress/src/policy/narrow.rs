//! Layering: a plan's or a tenant's rules on top of the operator's.
//!
//! A layer is a [`Narrowing`], which has no field that could widen
//! anything: it cannot exempt an address from the built-in block or
//! unblock a port. Its deny lists and ports add to the policy's, and its
//! allow-only list is appended to the policy's, so a destination must match
//! the operator's list and the layer's (their intersection, exactly).

use ipnet::IpNet;

use super::rules::{AllowOnly, Policy};

/// The rules a plan or tenant may add: only ways to refuse more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    /// Nets to deny on top of the policy's.
    pub deny_nets: Vec<IpNet>,
    /// Domain rules to deny on top of the policy's.
    pub deny_domains: Vec<String>,
    /// An allow-only list that destinations must also match.
    pub allow_only: Option<AllowOnly>,
    /// Ports to close on top of the policy's.
    pub blocked_ports: Vec<u16>,
}

impl Policy {
    /// This policy with a layer's rules added; it never lets through
    /// anything this policy refuses. Layers stack:
    /// `operator.narrow(&plan).narrow(&tenant)`.
    pub fn narrow(&self, by: &Narrowing) -> Policy {
        let mut policy = self.clone();
        add_new(&mut policy.deny_nets, &by.deny_nets);
        add_new(&mut policy.deny_domains, &by.deny_domains);
        add_new(&mut policy.blocked_ports, &by.blocked_ports);
        policy.allow_only.extend(by.allow_only.iter().cloned());
        policy
    }
}

/// Appends the items of `more` that `list` lacks.
fn add_new<T: Clone + PartialEq>(list: &mut Vec<T>, more: &[T]) {
    for item in more {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::policy::refusal::Refusal;
    use crate::policy::target::{target, Host};

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn operator() -> Policy {
        Policy {
            allow_nets: nets(&["127.0.0.0/8"]),
            deny_nets: nets(&["203.0.113.0/24"]),
            deny_domains: strings(&["evil.example"]),
            allow_only: vec![AllowOnly {
                domains: strings(&["example.com", "example.org"]),
                nets: nets(&["127.0.0.0/8"]),
            }],
            ..Policy::default()
        }
    }

    fn tenant() -> Narrowing {
        Narrowing {
            deny_nets: nets(&["198.51.0.0/16"]),
            deny_domains: strings(&["example.org"]),
            allow_only: Some(AllowOnly {
                domains: strings(&["api.example.com", "example.net", "evil.example"]),
                nets: nets(&["10.0.0.0/8", "127.0.0.1/32"]),
            }),
            blocked_ports: vec![6379, 25],
        }
    }

    /// The whole check of `url` resolving to `resolved`.
    fn check(policy: &Policy, url: &str, resolved: &str) -> Result<(), Refusal> {
        let t = target(url)?;
        policy.check_target(&t)?;
        let addr = SocketAddr::new(resolved.parse().unwrap(), t.port);
        policy.check_addr(&t.host, addr)
    }

    #[test]
    fn a_tenant_allow_list_intersects_the_operators() {
        let policy = operator().narrow(&tenant());
        assert_eq!(
            check(&policy, "https://api.example.com/", "8.8.8.8"),
            Ok(())
        );
        // Operator allows, tenant does not.
        assert!(matches!(
            check(&policy, "https://www.example.com/", "8.8.8.8"),
            Err(Refusal::NotAllowed(_))
        ));
        // Tenant allows, operator does not.
        assert!(matches!(
            check(&policy, "https://example.net/", "8.8.8.8"),
            Err(Refusal::NotAllowed(_))
        ));
        // Tenant allows the net, operator only the domain.
        assert!(matches!(
            check(&policy, "http://10.1.2.3/", "10.1.2.3"),
            Err(Refusal::NotAllowed(_))
        ));
        // Both allow 127.0.0.1 by net, and the operator exempts it.
        assert_eq!(
            check(&policy, "http://127.0.0.1:8080/", "127.0.0.1"),
            Ok(())
        );
        assert!(matches!(
            check(&policy, "http://127.0.0.2:8080/", "127.0.0.2"),
            Err(Refusal::NotAllowed(_))
        ));
    }

    #[test]
    fn a_tenant_deny_list_adds_to_the_operators() {
        let policy = operator().narrow(&tenant());
        let refusal = check(&policy, "https://example.org/", "8.8.8.8").unwrap_err();
        assert_eq!(refusal.to_string(), "example.org is on the deny list");
        let refusal = check(&policy, "https://evil.example/", "8.8.8.8").unwrap_err();
        assert_eq!(refusal.to_string(), "evil.example is on the deny list");
        let refusal = check(&policy, "https://api.example.com/", "198.51.7.7").unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "api.example.com resolves to 198.51.7.7, which is on the deny list"
        );
        let refusal = check(&policy, "https://api.example.com/", "203.0.113.1").unwrap_err();
        assert_eq!(refusal.reason(), "deny-list");
    }

    #[test]
    fn a_tenant_adds_ports_without_duplicates() {
        let policy = operator().narrow(&tenant());
        assert_eq!(policy.blocked_ports, vec![25, 465, 587, 6379]);
        assert_eq!(
            check(&policy, "https://api.example.com:6379/", "8.8.8.8"),
            Err(Refusal::Port { port: 6379 })
        );
    }

    #[test]
    fn a_tenant_list_alone_limits_an_open_operator() {
        let open = Policy::default();
        let policy = open.narrow(&Narrowing {
            allow_only: Some(AllowOnly {
                domains: strings(&["example.com"]),
                nets: vec![],
            }),
            ..Narrowing::default()
        });
        assert_eq!(check(&open, "https://example.net/", "8.8.8.8"), Ok(()));
        assert!(matches!(
            check(&policy, "https://example.net/", "8.8.8.8"),
            Err(Refusal::NotAllowed(_))
        ));
        assert_eq!(check(&policy, "https://example.com/", "8.8.8.8"), Ok(()));
    }

    #[test]
    fn an_empty_layer_changes_nothing() {
        assert_eq!(operator().narrow(&Narrowing::default()), operator());
    }

    #[test]
    fn narrowing_never_lets_through_what_the_operator_refused() {
        let base = operator();
        let narrowed = base.narrow(&tenant());
        let urls = [
            "http://127.0.0.1/",
            "http://127.0.0.1:25/",
            "http://10.0.0.1/",
            "https://example.com/",
            "https://api.example.com/",
            "https://example.net/",
            "https://evil.example/",
            "http://[::ffff:127.0.0.1]/",
        ];
        let resolved = ["8.8.8.8", "127.0.0.1", "10.0.0.1", "203.0.113.5", "::1"];
        let mut refused = 0;
        for url in urls {
            let t = target(url).unwrap();
            let addrs: Vec<std::net::IpAddr> = match t.host {
                Host::Ip(literal) => vec![literal],
                Host::Domain(_) => resolved.iter().map(|ip| ip.parse().unwrap()).collect(),
            };
            for ip in addrs {
                let addr = SocketAddr::new(ip, t.port);
                let before = base.check_target(&t).and(base.check_addr(&t.host, addr));
                let after = narrowed
                    .check_target(&t)
                    .and(narrowed.check_addr(&t.host, addr));
                if before.is_err() {
                    refused += 1;
                    assert!(after.is_err(), "{url} at {ip} widened");
                }
            }
        }
        assert!(refused > 10, "the sample must exercise refusals");
    }
}
