//! [`Refusal`]: why a destination may not be reached, worded for the
//! script's author, with one error code for the script-facing error.

use std::net::IpAddr;

use super::address::Blocked;
use super::port::service;

/// The error code a script sees for every refusal.
pub const EGRESS_DENIED: &str = "EGRESS_DENIED";

/// Why the egress service will not connect to a destination.
///
/// The message names what the user asked for; [`Refusal::reason`] gives a
/// short fixed code for events and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The URL did not parse.
    #[error("the URL is not valid: {0}")]
    BadUrl(url::ParseError),
    /// The host parsed but has an empty label (`a..b`), so no rule could
    /// be trusted to match it.
    #[error("the host {0} is not a valid domain name")]
    BadHost(String),
    /// Not `http` or `https`; holds the scheme without its colon.
    #[error("the scheme {0}: is not allowed; use http: or https:")]
    Scheme(String),
    /// The URL carries a user name or password.
    #[error("URLs with credentials (user:password@) are not allowed")]
    Credentials,
    /// The port is on the blocked list.
    #[error("port {port} is closed to scripts{}", service_note(.port))]
    Port {
        /// The refused port.
        port: u16,
    },
    /// An IP-literal host under the built-in block.
    #[error("{0}")]
    Address(Blocked),
    /// A domain whose resolved address is under the built-in block.
    #[error("{domain} resolves to {}, {}", .blocked.asked(), .blocked.tail())]
    Resolved {
        /// The domain the script asked for.
        domain: String,
        /// What is wrong with the address it resolved to.
        blocked: Blocked,
    },
    /// The domain matches a deny rule.
    #[error("{domain} is on the deny list")]
    DenyDomain {
        /// The domain the script asked for.
        domain: String,
        /// The rule it matched.
        rule: String,
    },
    /// The address (or one it embeds) is in a denied net.
    #[error("{}", deny_net_message(.domain, .addr))]
    DenyNet {
        /// The domain the script asked for, if it was not an IP literal.
        domain: Option<String>,
        /// The address asked for or resolved.
        addr: IpAddr,
    },
    /// An allow-only list is set and the destination is not on it.
    #[error("{0} is not on the allow list")]
    NotAllowed(String),
}

impl Refusal {
    /// The script-facing error code: always [`EGRESS_DENIED`].
    pub fn code(&self) -> &'static str {
        EGRESS_DENIED
    }

    /// A short stable reason code for events and metric labels; for the
    /// built-in block, the address kind ("loopback", "private", ...).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::BadUrl(_) | Refusal::BadHost(_) => "bad-url",
            Refusal::Scheme(_) => "scheme",
            Refusal::Credentials => "credentials",
            Refusal::Port { .. } => "port",
            Refusal::Address(blocked) | Refusal::Resolved { blocked, .. } => blocked.reason(),
            Refusal::DenyDomain { .. } | Refusal::DenyNet { .. } => "deny-list",
            Refusal::NotAllowed(_) => "not-allowed",
        }
    }
}

/// " (mail)" for ports with a known purpose, else nothing.
fn service_note(port: &u16) -> String {
    service(*port)
        .map(|name| format!(" ({name})"))
        .unwrap_or_default()
}

/// Names the domain too when the address came from DNS.
fn deny_net_message(domain: &Option<String>, addr: &IpAddr) -> String {
    match domain {
        Some(domain) => format!("{domain} resolves to {addr}, which is on the deny list"),
        None => format!("{addr} is on the deny list"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::classify;

    #[test]
    fn messages_read_as_the_user_sees_them() {
        let loopback = classify("127.0.0.1".parse().unwrap()).unwrap();
        let mapped = classify("::ffff:10.0.0.1".parse().unwrap()).unwrap();
        let cases = [
            (Refusal::Port { port: 25 }, "port 25 is closed to scripts (mail)"),
            (Refusal::Port { port: 6379 }, "port 6379 is closed to scripts"),
            (
                Refusal::Scheme("file".into()),
                "the scheme file: is not allowed; use http: or https:",
            ),
            (Refusal::Address(loopback), "127.0.0.1 is a loopback address"),
            (
                Refusal::Resolved {
                    domain: "rebind.example".into(),
                    blocked: loopback,
                },
                "rebind.example resolves to 127.0.0.1, a loopback address",
            ),
            (
                Refusal::Resolved {
                    domain: "rebind.example".into(),
                    blocked: mapped,
                },
                "rebind.example resolves to ::ffff:10.0.0.1, which embeds 10.0.0.1, a private address",
            ),
            (
                Refusal::DenyDomain {
                    domain: "evil.example".into(),
                    rule: "evil.example".into(),
                },
                "evil.example is on the deny list",
            ),
            (
                Refusal::DenyNet {
                    domain: None,
                    addr: "203.0.113.9".parse().unwrap(),
                },
                "203.0.113.9 is on the deny list",
            ),
            (
                Refusal::DenyNet {
                    domain: Some("a.example".into()),
                    addr: "203.0.113.9".parse().unwrap(),
                },
                "a.example resolves to 203.0.113.9, which is on the deny list",
            ),
            (
                Refusal::NotAllowed("example.org".into()),
                "example.org is not on the allow list",
            ),
        ];
        for (refusal, message) in cases {
            assert_eq!(refusal.to_string(), message);
            assert_eq!(refusal.code(), "EGRESS_DENIED");
        }
    }

    #[test]
    fn reasons_are_fixed_labels() {
        let loopback = classify("127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(Refusal::Address(loopback).reason(), "loopback");
        assert_eq!(Refusal::Port { port: 25 }.reason(), "port");
        assert_eq!(Refusal::Credentials.reason(), "credentials");
        assert_eq!(Refusal::NotAllowed("x".into()).reason(), "not-allowed");
    }
}
