//! [`Target`]: the destination a URL names, parsed once by the WHATWG rules
//! (the `url` crate), so every later check sees the address a browser would
//! connect to, never the text the script wrote.
//!
//! `http://2130706433/`, `http://0x7f.1/` and `http://127.1/` all parse to
//! the host 127.0.0.1 here, and are refused as that address by the rules;
//! nothing in this module matches on strings to spot them. Whether the
//! destination is allowed is `rules.rs`'s question.

use std::fmt;
use std::net::IpAddr;

use url::Url;

use super::refusal::Refusal;

/// The host part of a destination.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name: ASCII (punycode), lowercase, without a trailing dot.
    Domain(String),
    /// An IP literal, in whatever form the URL wrote it.
    Ip(IpAddr),
}

/// Writes the domain, or the address without brackets.
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(domain) => f.write_str(domain),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A destination a script asked for: an `http` or `https` URL without
/// credentials, with its host and port pulled out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The parsed URL, as it will be requested.
    pub url: Url,
    /// The host to resolve (or the address to connect to).
    pub host: Host,
    /// The port, explicit or the scheme's default (80 or 443).
    pub port: u16,
}

impl Target {
    /// Checks an already parsed URL, such as a redirect's `Location`
    /// joined to the request it answers.
    pub fn from_url(url: Url) -> Result<Target, Refusal> {
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(Refusal::Scheme(other.to_string())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => Host::Domain(domain_host(domain)?),
            Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
            // The url crate never gives http or https an empty host.
            None => return Err(Refusal::BadUrl(url::ParseError::EmptyHost)),
        };
        let port = url
            .port_or_known_default()
            .ok_or(Refusal::BadUrl(url::ParseError::InvalidPort))?;
        Ok(Target { url, host, port })
    }
}

/// Parses a URL a script passed to `fetch()` into a [`Target`].
pub fn target(url: &str) -> Result<Target, Refusal> {
    Target::from_url(Url::parse(url).map_err(Refusal::BadUrl)?)
}

/// Normalises a domain host, refusing one whose labels a rule could not
/// match reliably (`a..b`, or a lone dot).
fn domain_host(domain: &str) -> Result<String, Refusal> {
    let bare = domain.strip_suffix('.').unwrap_or(domain);
    if bare.is_empty() || bare.split('.').any(str::is_empty) {
        return Err(Refusal::BadHost(domain.to_string()));
    }
    Ok(bare.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    fn domain(s: &str) -> Host {
        Host::Domain(s.to_string())
    }

    #[test]
    fn http_and_https_get_their_default_ports() {
        let t = target("http://example.com/a?b").unwrap();
        assert_eq!((t.host, t.port), (domain("example.com"), 80));
        let t = target("https://example.com/").unwrap();
        assert_eq!((t.host, t.port), (domain("example.com"), 443));
        let t = target("https://example.com:8443/").unwrap();
        assert_eq!(t.port, 8443);
        let t = target("http://example.com:443/").unwrap();
        assert_eq!(t.port, 443);
    }

    #[test]
    fn domains_are_lowercased_without_a_trailing_dot() {
        assert_eq!(
            target("http://WWW.Example.COM./").unwrap().host,
            domain("www.example.com")
        );
        assert_eq!(
            target("http://bücher.example/").unwrap().host,
            domain("xn--bcher-kva.example")
        );
    }

    #[test]
    fn numeric_ipv4_spellings_parse_to_the_address() {
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://127.0.0.1./",
            "http://%31%32%37.0.0.1/",
            "http://１２７.0.0.1/",
        ] {
            assert_eq!(target(url).unwrap().host, ip("127.0.0.1"), "{url}");
        }
    }

    #[test]
    fn bracketed_ipv6_parses_to_the_address() {
        assert_eq!(
            target("http://[::ffff:127.0.0.1]/").unwrap().host,
            ip("::ffff:127.0.0.1")
        );
        assert_eq!(
            target("https://[::1]:8443/").unwrap(),
            Target {
                url: Url::parse("https://[::1]:8443/").unwrap(),
                host: ip("::1"),
                port: 8443,
            }
        );
    }

    #[test]
    fn other_schemes_are_refused_by_name() {
        for (url, scheme) in [
            ("file:///etc/passwd", "file"),
            ("ftp://example.com/", "ftp"),
            ("data:text/plain,hi", "data"),
            ("chrome://settings", "chrome"),
            ("javascript:alert(1)", "javascript"),
            ("ws://example.com/", "ws"),
            ("wss://example.com/", "wss"),
            ("gopher://127.0.0.1:6379/_", "gopher"),
            ("HTTPX://example.com/", "httpx"),
        ] {
            let refusal = target(url).unwrap_err();
            assert_eq!(refusal, Refusal::Scheme(scheme.to_string()), "{url}");
            assert_eq!(
                refusal.to_string(),
                format!("the scheme {scheme}: is not allowed; use http: or https:")
            );
        }
    }

    #[test]
    fn uppercase_schemes_are_still_http() {
        assert_eq!(target("HTTP://example.com/").unwrap().port, 80);
    }

    #[test]
    fn credentials_are_refused() {
        for url in [
            "http://user:pass@example.com/",
            "http://user@example.com/",
            "https://:pass@example.com/",
        ] {
            assert_eq!(target(url), Err(Refusal::Credentials), "{url}");
        }
    }

    #[test]
    fn unparseable_urls_and_hosts_are_refused() {
        assert!(matches!(target("not a url"), Err(Refusal::BadUrl(_))));
        assert!(matches!(target("http://"), Err(Refusal::BadUrl(_))));
        assert!(matches!(
            target("http://example.com:99999/"),
            Err(Refusal::BadUrl(_))
        ));
        assert!(matches!(target("http://[::1/"), Err(Refusal::BadUrl(_))));
        assert!(matches!(
            target("http://a..example/"),
            Err(Refusal::BadHost(_))
        ));
        assert!(matches!(
            target("http://example.com../"),
            Err(Refusal::BadHost(_))
        ));
    }

    #[test]
    fn from_url_checks_a_redirect_location() {
        let base = Url::parse("https://example.com/a").unwrap();
        let hop = base.join("//127.1:8080/b").unwrap();
        let t = Target::from_url(hop).unwrap();
        assert_eq!(t.url.scheme(), "https");
        assert_eq!((t.host, t.port), (ip("127.0.0.1"), 8080));
        let hop = base.join("file:///etc/passwd").unwrap();
        assert_eq!(
            Target::from_url(hop),
            Err(Refusal::Scheme("file".to_string()))
        );
    }
}
