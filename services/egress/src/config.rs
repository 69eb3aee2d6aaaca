//! The egress service's configuration: flags with `MOAT_*` environment
//! variables, validated at start. Only this module reads the environment.
//! It holds no credentials: a NATS URL (with the egress user's own rights,
//! once NATS has users), the policy, and where extra roots and DNS come from.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::fetch::{FetcherConfig, Resolver};
use crate::host_rate::HostRateLimit;
use crate::policy::{
    parse_domains, parse_narrowing, parse_nets, parse_ports, AllowOnly, PlanPolicies, Policy,
};

/// Makes scripts' outbound requests under the operator's policy.
#[derive(Debug, Clone, Parser)]
#[command(name = "moat-egress", version)]
pub struct Config {
    /// NATS server URL.
    #[arg(long, env = "MOAT_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// NATS credentials and TLS (this service's own user).
    #[command(flatten)]
    pub nats: moat_queue::NatsAuth,
    /// Address for /metrics and /healthz.
    #[arg(long, env = "MOAT_METRICS_ADDR", default_value = "127.0.0.1:9104")]
    pub metrics_addr: SocketAddr,
    /// The policy and how requests are made.
    #[command(flatten)]
    pub fetch: FetchArgs,
    /// Requests one instance handles at once.
    #[arg(long, env = "MOAT_EGRESS_MAX_IN_HAND", default_value_t = 256)]
    pub max_in_hand: usize,
    /// On SIGTERM, how long requests in hand may take to finish, in ms.
    #[arg(long, env = "MOAT_DRAIN_MS", default_value_t = 10_000)]
    pub drain_ms: u64,
}

/// The policy and the HTTP client's settings, shared by `moat-egress` and
/// `moat exec` (which makes a script's requests itself, under the same
/// rules).
#[derive(Debug, Clone, clap::Args)]
pub struct FetchArgs {
    /// CIDRs exempted from the built-in block of loopback, private and other
    /// special ranges (comma-separated; empty by default).
    #[arg(
        long = "egress-allow-nets",
        env = "MOAT_EGRESS_ALLOW_NETS",
        default_value = ""
    )]
    pub allow_nets: String,
    /// CIDRs never reachable.
    #[arg(
        long = "egress-deny-nets",
        env = "MOAT_EGRESS_DENY_NETS",
        default_value = ""
    )]
    pub deny_nets: String,
    /// Domains never reachable (each with its subdomains).
    #[arg(
        long = "egress-deny-domains",
        env = "MOAT_EGRESS_DENY_DOMAINS",
        default_value = ""
    )]
    pub deny_domains: String,
    /// When set, the only domains reachable (with the only-nets).
    #[arg(
        long = "egress-only-domains",
        env = "MOAT_EGRESS_ONLY_DOMAINS",
        default_value = ""
    )]
    pub only_domains: String,
    /// When set, the only nets reachable (with the only-domains).
    #[arg(
        long = "egress-only-nets",
        env = "MOAT_EGRESS_ONLY_NETS",
        default_value = ""
    )]
    pub only_nets: String,
    /// Ports never reachable.
    #[arg(
        long = "egress-blocked-ports",
        env = "MOAT_EGRESS_BLOCKED_PORTS",
        default_value = "25,465,587"
    )]
    pub blocked_ports: String,
    /// Anonymous runs' rules on top of the operator's: `key=list` pairs
    /// separated by `;`, keys only-domains, only-nets, deny-domains,
    /// deny-nets, blocked-ports.
    #[arg(
        long = "egress-anon-rules",
        env = "MOAT_EGRESS_ANON_RULES",
        default_value = ""
    )]
    pub anon_rules: String,
    /// Tenants' runs' rules on top of the operator's (as for anonymous runs);
    /// each tenant's own rules (`moat keys egress`) narrow them further.
    #[arg(
        long = "egress-tenant-rules",
        env = "MOAT_EGRESS_TENANT_RULES",
        default_value = ""
    )]
    pub tenant_rules: String,
    /// A PEM file of CA certificates trusted besides the system's.
    #[arg(long = "egress-ca-file", env = "MOAT_EGRESS_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// A DNS server (IP:port) to resolve with, instead of the system's.
    #[arg(long = "egress-dns", env = "MOAT_EGRESS_DNS")]
    pub dns: Option<SocketAddr>,
    /// The `User-Agent` sent when a script sets none.
    #[arg(long = "egress-user-agent", env = "MOAT_EGRESS_USER_AGENT", default_value = concat!("moat/", env!("CARGO_PKG_VERSION"), " (script egress)"))]
    pub user_agent: String,
    /// Requests per second to one destination host, across the whole fleet
    /// (each instance takes its share); 0 for no limit.
    #[arg(
        long = "egress-host-rate",
        env = "MOAT_EGRESS_HOST_RATE",
        default_value_t = 50.0
    )]
    pub host_rate: f64,
    /// Requests to one host the fleet may make at once after a quiet spell.
    #[arg(
        long = "egress-host-burst",
        env = "MOAT_EGRESS_HOST_BURST",
        default_value_t = 100.0
    )]
    pub host_burst: f64,
    /// How long one connection attempt may take, in ms.
    #[arg(
        long = "egress-connect-timeout-ms",
        env = "MOAT_EGRESS_CONNECT_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub connect_timeout_ms: u64,
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl FetchArgs {
    /// The operator's policy, or why the settings do not make one.
    pub fn policy(&self) -> Result<Policy, ConfigError> {
        let bad =
            |flag: &str, e: &dyn std::fmt::Display| ConfigError(format!("--egress-{flag}: {e}"));
        let only_domains =
            parse_domains(&self.only_domains).map_err(|e| bad("only-domains", &e))?;
        let only_nets = parse_nets(&self.only_nets).map_err(|e| bad("only-nets", &e))?;
        let allow_only = if only_domains.is_empty() && only_nets.is_empty() {
            Vec::new()
        } else {
            vec![AllowOnly {
                domains: only_domains,
                nets: only_nets,
            }]
        };
        Ok(Policy {
            allow_nets: parse_nets(&self.allow_nets).map_err(|e| bad("allow-nets", &e))?,
            deny_nets: parse_nets(&self.deny_nets).map_err(|e| bad("deny-nets", &e))?,
            deny_domains: parse_domains(&self.deny_domains).map_err(|e| bad("deny-domains", &e))?,
            allow_only,
            blocked_ports: parse_ports(&self.blocked_ports)
                .map_err(|e| bad("blocked-ports", &e))?,
        })
    }

    /// Each plan's policy: the operator's narrowed by the plan's rules.
    pub fn plan_policies(&self) -> Result<PlanPolicies, ConfigError> {
        let rules = |flag: &str, s: &str| {
            parse_narrowing(s).map_err(|e| ConfigError(format!("--egress-{flag}-rules: {e}")))
        };
        Ok(PlanPolicies::new(
            &self.policy()?,
            &rules("anon", &self.anon_rules)?,
            &rules("tenant", &self.tenant_rules)?,
        ))
    }

    /// The fetcher's settings (reads the CA file), or why they do not work.
    pub fn fetcher(&self) -> Result<FetcherConfig, ConfigError> {
        if self.connect_timeout_ms == 0 {
            return Err(ConfigError(
                "--egress-connect-timeout-ms must be at least 1".into(),
            ));
        }
        let host_rate = if self.host_rate == 0.0 {
            None
        } else if self.host_rate.is_finite() && self.host_rate > 0.0 && self.host_burst >= 1.0 {
            Some(HostRateLimit {
                per_second: self.host_rate,
                burst: self.host_burst,
            })
        } else {
            return Err(ConfigError(
                "--egress-host-rate must be 0 (no limit) or a positive number, and --egress-host-burst at least 1".into(),
            ));
        };
        let extra_roots = match &self.ca_file {
            None => Vec::new(),
            Some(path) => crate::fetch::load_ca_file(path)
                .map_err(|e| ConfigError(format!("--egress-ca-file {}: {e}", path.display())))?,
        };
        Ok(FetcherConfig {
            policy: self.policy()?,
            resolver: match self.dns {
                Some(server) => Resolver::Server(server),
                None => Resolver::System,
            },
            extra_roots,
            user_agent: self.user_agent.clone(),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            host_rate,
        })
    }
}

impl Config {
    /// How long requests in hand may take to finish on shutdown.
    pub fn drain(&self) -> Duration {
        Duration::from_millis(self.drain_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Config {
        Config::parse_from(std::iter::once("moat-egress").chain(args.iter().copied()))
    }

    #[test]
    fn settings_become_a_policy_or_a_clear_error() {
        let c = config(&[
            "--egress-allow-nets",
            "127.0.0.1/32",
            "--egress-deny-domains",
            "evil.test",
        ]);
        let p = c.fetch.policy().unwrap();
        assert_eq!(p.allow_nets.len(), 1);
        assert_eq!(p.deny_domains, vec!["evil.test".to_owned()]);
        assert_eq!(p.blocked_ports, vec![25, 465, 587]);
        let bad = config(&["--egress-allow-nets", "10.0.0/8"])
            .fetch
            .policy()
            .unwrap_err();
        assert!(bad.to_string().contains("--egress-allow-nets"), "{bad}");
        let bad = config(&["--egress-anon-rules", "only-domains=a.example;allow=x"])
            .fetch
            .plan_policies()
            .unwrap_err();
        assert!(bad.to_string().contains("--egress-anon-rules"), "{bad}");
        let missing = config(&["--egress-ca-file", "/nonexistent/ca.pem"])
            .fetch
            .fetcher()
            .unwrap_err();
        assert!(
            missing.to_string().contains("--egress-ca-file"),
            "{missing}"
        );
    }
}
