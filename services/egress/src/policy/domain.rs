//! Domain rules: how a rule such as `example.com` matches a host.
//!
//! A rule matches the domain itself and every subdomain: `example.com`
//! matches `example.com` and `a.example.com`, never `badexample.com`.
//! Comparison ignores ASCII case and one trailing dot on either side. A
//! leading `*.` is accepted and means the same as the bare rule (so
//! `*.example.com` also matches `example.com`): one reading for deny and
//! allow lists alike, and on a deny list the wider one is the safe one.
//!
//! Rules are written in ASCII (punycode) form, as `parse_domains` in
//! `settings.rs` leaves them and as the `url` crate leaves hosts.

/// The comparable form of a rule: lowercase, no `*.`, no trailing dot.
pub(crate) fn rule_key(rule: &str) -> String {
    let rule = rule.trim();
    let rule = rule.strip_prefix("*.").unwrap_or(rule);
    rule.strip_suffix('.').unwrap_or(rule).to_ascii_lowercase()
}

/// Whether `host` is `rule`'s domain or one of its subdomains.
pub fn matches(rule: &str, host: &str) -> bool {
    let rule = rule_key(rule);
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if rule.is_empty() {
        return false;
    }
    host == rule
        || host
            .strip_suffix(rule.as_str())
            .is_some_and(|prefix| prefix.ends_with('.'))
}

/// Whether any rule in `rules` matches `host`; the first that does.
pub(crate) fn find<'a>(rules: &'a [String], host: &str) -> Option<&'a str> {
    rules
        .iter()
        .map(String::as_str)
        .find(|rule| matches(rule, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_matches_itself_and_its_subdomains() {
        assert!(matches("example.com", "example.com"));
        assert!(matches("example.com", "a.example.com"));
        assert!(matches("example.com", "a.b.example.com"));
    }

    #[test]
    fn a_rule_does_not_match_lookalikes() {
        assert!(!matches("example.com", "badexample.com"));
        assert!(!matches("example.com", "example.com.evil"));
        assert!(!matches("example.com", "example.co"));
        assert!(!matches("a.example.com", "example.com"));
        assert!(!matches("example.com", "xexample.com"));
    }

    #[test]
    fn case_and_trailing_dots_are_ignored() {
        assert!(matches("Example.COM", "example.com"));
        assert!(matches("example.com", "WWW.Example.Com"));
        assert!(matches("example.com.", "example.com"));
        assert!(matches("example.com", "a.example.com."));
    }

    #[test]
    fn a_wildcard_means_the_domain_and_its_subdomains() {
        assert!(matches("*.example.com", "example.com"));
        assert!(matches("*.example.com", "a.example.com"));
        assert!(!matches("*.example.com", "badexample.com"));
    }

    #[test]
    fn an_empty_rule_matches_nothing() {
        assert!(!matches("", "example.com"));
        assert!(!matches(".", "example.com"));
        assert!(!matches("*.", "example.com"));
    }

    #[test]
    fn find_returns_the_matching_rule() {
        let rules = vec!["evil.example".to_string(), "example.org".to_string()];
        assert_eq!(find(&rules, "cdn.example.org"), Some("example.org"));
        assert_eq!(find(&rules, "example.net"), None);
    }
}
