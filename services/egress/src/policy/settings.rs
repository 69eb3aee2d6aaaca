//! Parsing the operator's settings (comma-separated lists from flags or the
//! environment) into policy values, with errors that name the bad entry.
//!
//! Config validation calls these at start-up; a bad entry is an error,
//! never skipped. Empty entries (`a,,b`, a trailing comma) carry nothing
//! and are ignored.

use std::net::IpAddr;

use ipnet::IpNet;

use super::narrow::Narrowing;
use super::rules::AllowOnly;

/// Why a setting's entry was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// Neither a CIDR nor a bare address.
    #[error("'{0}' is not a CIDR")]
    NotCidr(String),
    /// A CIDR with bits set past its prefix, which usually means a typo.
    #[error("'{entry}' has bits set past its prefix; did you mean {net}?")]
    HostBits {
        /// The entry as written.
        entry: String,
        /// The net it would cover.
        net: IpNet,
    },
    /// Not a domain name.
    #[error("'{0}' is not a domain name")]
    NotDomain(String),
    /// An address given where a domain was expected.
    #[error("'{0}' is an address, not a domain name; list it as a net")]
    DomainIsAddress(String),
    /// Not a port number from 1 to 65535.
    #[error("'{0}' is not a port")]
    NotPort(String),
    /// A plan rule that is not `key=list` with a known key.
    #[error("'{0}' is not a rule; write only-domains=, only-nets=, deny-domains=, deny-nets= or blocked-ports= followed by a comma-separated list, rules separated by ';'")]
    NotRule(String),
}

/// The non-empty, trimmed entries of a comma-separated list.
fn entries(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|e| !e.is_empty())
}

/// Parses comma-separated CIDRs; a bare address means a /32 or /128.
pub fn parse_nets(s: &str) -> Result<Vec<IpNet>, SettingsError> {
    entries(s).map(parse_net).collect()
}

/// Parses one CIDR or bare address.
fn parse_net(entry: &str) -> Result<IpNet, SettingsError> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let net: IpNet = entry
        .parse()
        .map_err(|_| SettingsError::NotCidr(entry.to_string()))?;
    if net.trunc() != net {
        return Err(SettingsError::HostBits {
            entry: entry.to_string(),
            net: net.trunc(),
        });
    }
    Ok(net)
}

/// Parses comma-separated domain rules into the form rules match on:
/// ASCII (punycode), lowercase, no trailing dot; a leading `*.` is
/// accepted and dropped, since it means the same as the bare domain.
pub fn parse_domains(s: &str) -> Result<Vec<String>, SettingsError> {
    entries(s).map(parse_domain).collect()
}

/// Parses one domain rule.
fn parse_domain(entry: &str) -> Result<String, SettingsError> {
    let not_domain = || SettingsError::NotDomain(entry.to_string());
    let bare = entry.strip_prefix("*.").unwrap_or(entry);
    let bare = bare.strip_suffix('.').unwrap_or(bare);
    if bare.contains('*') {
        return Err(not_domain());
    }
    match url::Host::parse(bare).map_err(|_| not_domain())? {
        url::Host::Domain(domain) => {
            if domain.split('.').any(str::is_empty) {
                return Err(not_domain());
            }
            Ok(domain.to_ascii_lowercase())
        }
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => {
            Err(SettingsError::DomainIsAddress(entry.to_string()))
        }
    }
}

/// Parses comma-separated port numbers (1 to 65535).
pub fn parse_ports(s: &str) -> Result<Vec<u16>, SettingsError> {
    entries(s)
        .map(|entry| match entry.parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => Err(SettingsError::NotPort(entry.to_string())),
        })
        .collect()
}

/// Parses a plan's rules: `key=list` pairs separated by `;`, the keys
/// `only-domains`, `only-nets`, `deny-domains`, `deny-nets` and
/// `blocked-ports` (`only-domains=api.example.com; deny-nets=203.0.113.0/24`).
/// Every key is a way to refuse more; none can widen the operator's policy.
pub fn parse_narrowing(s: &str) -> Result<Narrowing, SettingsError> {
    let mut rules = Narrowing::default();
    let (mut only_domains, mut only_nets) = (Vec::new(), Vec::new());
    for rule in s.split(';').map(str::trim).filter(|r| !r.is_empty()) {
        let not_rule = || SettingsError::NotRule(rule.to_string());
        let (key, list) = rule.split_once('=').ok_or_else(not_rule)?;
        match key.trim() {
            "only-domains" => only_domains.extend(parse_domains(list)?),
            "only-nets" => only_nets.extend(parse_nets(list)?),
            "deny-domains" => rules.deny_domains.extend(parse_domains(list)?),
            "deny-nets" => rules.deny_nets.extend(parse_nets(list)?),
            "blocked-ports" => rules.blocked_ports.extend(parse_ports(list)?),
            _ => return Err(not_rule()),
        }
    }
    if !only_domains.is_empty() || !only_nets.is_empty() {
        rules.allow_only = Some(AllowOnly {
            domains: only_domains,
            nets: only_nets,
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_rules_parse_into_a_narrowing() {
        let rules = parse_narrowing(
            " only-domains=api.example.com, Example.org ; deny-nets=203.0.113.0/24;blocked-ports=6379;",
        )
        .unwrap();
        let only = rules.allow_only.unwrap();
        assert_eq!(only.domains, vec!["api.example.com", "example.org"]);
        assert!(only.nets.is_empty());
        assert_eq!(rules.deny_nets, parse_nets("203.0.113.0/24").unwrap());
        assert_eq!(rules.blocked_ports, vec![6379]);
        assert_eq!(parse_narrowing(""), Ok(Narrowing::default()));
        assert_eq!(
            parse_narrowing("allow-nets=10.0.0.0/8"),
            Err(SettingsError::NotRule("allow-nets=10.0.0.0/8".into()))
        );
        assert_eq!(
            parse_narrowing("deny-domains"),
            Err(SettingsError::NotRule("deny-domains".into()))
        );
        assert_eq!(
            parse_narrowing("deny-nets=10.0.0/8"),
            Err(SettingsError::NotCidr("10.0.0/8".into()))
        );
    }

    #[test]
    fn nets_parse_cidrs_and_bare_addresses() {
        let nets = parse_nets(" 10.0.0.0/8, 127.0.0.1 ,fd00::/8,::1,").unwrap();
        let want: Vec<IpNet> = ["10.0.0.0/8", "127.0.0.1/32", "fd00::/8", "::1/128"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(nets, want);
        assert_eq!(parse_nets(""), Ok(vec![]));
        assert_eq!(parse_nets(" , "), Ok(vec![]));
    }

    #[test]
    fn bad_nets_are_named() {
        for entry in ["10.0.0/8", "10.0.0.0/33", "example.com", "10.0.0.0/", "/8"] {
            let err = parse_nets(&format!("127.0.0.0/8,{entry}")).unwrap_err();
            assert_eq!(err.to_string(), format!("'{entry}' is not a CIDR"));
        }
    }

    #[test]
    fn nets_with_host_bits_suggest_the_net() {
        assert_eq!(
            parse_nets("10.0.0.1/8").unwrap_err().to_string(),
            "'10.0.0.1/8' has bits set past its prefix; did you mean 10.0.0.0/8?"
        );
    }

    #[test]
    fn domains_are_normalised() {
        assert_eq!(
            parse_domains("Example.COM, *.evil.example., bücher.example,,").unwrap(),
            vec!["example.com", "evil.example", "xn--bcher-kva.example"]
        );
        assert_eq!(parse_domains(""), Ok(vec![]));
    }

    #[test]
    fn bad_domains_are_named() {
        for entry in [
            "a b.com",
            "http://example.com",
            "example.com:80",
            "ex*ample.com",
            "*.*.example.com",
            "a..example",
            ".",
            "*.",
        ] {
            assert_eq!(
                parse_domains(entry),
                Err(SettingsError::NotDomain(entry.to_string())),
                "{entry}"
            );
        }
        assert_eq!(
            parse_domains("ok.example,10.0.0.1")
                .unwrap_err()
                .to_string(),
            "'10.0.0.1' is an address, not a domain name; list it as a net"
        );
        assert_eq!(
            parse_domains("[::1]"),
            Err(SettingsError::DomainIsAddress("[::1]".to_string()))
        );
    }

    #[test]
    fn ports_parse_and_reject_bad_numbers() {
        assert_eq!(parse_ports("25, 465,587"), Ok(vec![25, 465, 587]));
        assert_eq!(parse_ports(""), Ok(vec![]));
        for entry in ["0", "65536", "smtp", "-1"] {
            assert_eq!(
                parse_ports(entry).unwrap_err().to_string(),
                format!("'{entry}' is not a port")
            );
        }
    }
}
