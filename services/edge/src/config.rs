//! The edge's configuration: flags with `MOAT_*` environment variables,
//! defaults for one machine, validated at start.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Parser;
use moat_queue::Prefixes;

use crate::allow::AllowList;
use crate::rate_limit::{Policy, Rate};

/// The public HTTP and WebSocket API.
#[derive(Debug, Clone, Parser)]
#[command(name = "moat-edge", version)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "MOAT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address for `/metrics` and `/healthz` (kept off the public port).
    #[arg(long, env = "MOAT_METRICS_ADDR", default_value = "127.0.0.1:9100")]
    pub metrics_addr: SocketAddr,
    /// NATS server URL.
    #[arg(long, env = "MOAT_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// NATS credentials and TLS (this service's own user).
    #[command(flatten)]
    pub nats: moat_queue::NatsAuth,
    /// The database shared with the recorder (SQLite file or PostgreSQL URL).
    #[arg(long, env = "MOAT_DATABASE_URL", default_value = moat_db::DEFAULT_URL)]
    pub database_url: String,
    /// Longest deadline a tenant's run may ask for, in ms.
    #[arg(long, env = "MOAT_TENANT_MAX_TIMEOUT_MS", default_value_t = 60_000)]
    pub tenant_max_timeout_ms: u64,
    /// Largest heap a tenant's run may ask for, in MiB.
    #[arg(long, env = "MOAT_TENANT_MAX_MEMORY_MB", default_value_t = 512)]
    pub tenant_max_memory_mb: u64,
    /// Where the launcher stored the runs' files (read to serve downloads).
    #[command(flatten)]
    pub store: moat_store::StoreArgs,
    /// Secret for per-run tokens (shared by every edge); random per start if unset.
    #[arg(long, env = "MOAT_EDGE_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Largest request body, in bytes.
    #[arg(long, env = "MOAT_MAX_BODY_BYTES", default_value_t = 1_100_000)]
    pub max_body_bytes: u64,
    /// Longest deadline an anonymous run may ask for, in ms.
    #[arg(long, env = "MOAT_ANON_MAX_TIMEOUT_MS", default_value_t = 10_000)]
    pub anon_max_timeout_ms: u64,
    /// Largest heap an anonymous run may ask for, in MiB.
    #[arg(long, env = "MOAT_ANON_MAX_MEMORY_MB", default_value_t = 128)]
    pub anon_max_memory_mb: u64,
    /// Whether anonymous clients may have browser runs (Chromium in the
    /// sandbox); each client has one run at a time, browser or not.
    #[arg(long, env = "MOAT_ANON_BROWSER", default_value_t = true, action = clap::ArgAction::Set)]
    pub anon_browser: bool,
    /// Longest deadline an anonymous browser run may ask for, in ms (a
    /// browser needs longer than a script; its default is 30 s within it).
    #[arg(
        long,
        env = "MOAT_ANON_MAX_BROWSER_TIMEOUT_MS",
        default_value_t = 20_000
    )]
    pub anon_max_browser_timeout_ms: u64,
    /// Rate per tenant: BURST/REFILL/INTERVAL_MS.
    #[arg(long, env = "MOAT_RATE_TENANT", default_value = "60/20/1000")]
    pub rate_tenant: String,
    /// Rate per anonymous client (address prefix): BURST/REFILL/INTERVAL_MS.
    #[arg(long, env = "MOAT_RATE_ANON", default_value = "10/2/1000")]
    pub rate_anon: String,
    /// Rate per route across all clients: BURST/REFILL/INTERVAL_MS.
    #[arg(long, env = "MOAT_RATE_PATH", default_value = "2000/1000/1000")]
    pub rate_path: String,
    /// Rate per client and route: BURST/REFILL/INTERVAL_MS.
    #[arg(long, env = "MOAT_RATE_CLIENT_PATH", default_value = "30/10/1000")]
    pub rate_client_path: String,
    /// Tenants (by name) and addresses or prefixes (`127.0.0.5`,
    /// `10.0.0.0/8`, `2001:db8::/32`) that skip rate limits (comma-separated).
    #[arg(long, env = "MOAT_RATE_ALLOW", value_delimiter = ',')]
    pub rate_allow: Vec<String>,
    /// Proxies whose X-Forwarded-For is believed (comma-separated IPs).
    #[arg(long, env = "MOAT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
    /// The web playground's bundle (`just web` builds it), served at `/`.
    #[arg(long, env = "MOAT_WEB_DIR", default_value = "web/dist")]
    pub web_dir: std::path::PathBuf,
    /// WebSocket event streams one client may hold open at once.
    #[arg(long, env = "MOAT_WS_PER_CLIENT", default_value_t = 8)]
    pub ws_per_client: usize,
    /// Most rate-limit buckets held at once.
    #[arg(long, env = "MOAT_RATE_MAX_BUCKETS", default_value_t = 100_000)]
    pub rate_max_buckets: usize,
    /// Leading bits of an IPv4 address that name one anonymous client.
    #[arg(long, env = "MOAT_ANON_PREFIX_V4", default_value_t = 32)]
    pub anon_prefix_v4: u8,
    /// Leading bits of an IPv6 address that name one anonymous client.
    #[arg(long, env = "MOAT_ANON_PREFIX_V6", default_value_t = 64)]
    pub anon_prefix_v6: u8,
    /// Longest wait for a request's headers (and between keep-alive requests), in ms.
    #[arg(long, env = "MOAT_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Longest a request body may take to arrive, in ms.
    #[arg(long, env = "MOAT_BODY_TIMEOUT_MS", default_value_t = 15_000)]
    pub body_timeout_ms: u64,
    /// Longest a write to a client may make no progress (a client that
    /// stopped reading), in ms.
    #[arg(long, env = "MOAT_WRITE_STALL_MS", default_value_t = 30_000)]
    pub write_stall_ms: u64,
    /// TCP connections one client (address prefix) may hold open at once.
    #[arg(long, env = "MOAT_CONN_PER_CLIENT", default_value_t = 64)]
    pub conn_per_client: usize,
    /// On shutdown, how long in-flight requests get to finish, in ms.
    #[arg(long, env = "MOAT_DRAIN_MS", default_value_t = 10_000)]
    pub drain_ms: u64,
}

/// Timeouts accepted, in ms: long enough for a slow link, short enough that
/// a stalled client cannot hold a connection for long.
const TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=600_000;

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// The rate-limit policy, or why the rates do not parse.
    pub fn policy(&self) -> Result<Policy, ConfigError> {
        let rate = |s: &str| Rate::parse(s).map_err(ConfigError);
        if self.rate_max_buckets < 16 {
            return Err(ConfigError("--rate-max-buckets must be at least 16".into()));
        }
        Ok(Policy {
            tenant: rate(&self.rate_tenant)?,
            anonymous: rate(&self.rate_anon)?,
            path: rate(&self.rate_path)?,
            client_path: rate(&self.rate_client_path)?,
            allow: AllowList::parse(&self.rate_allow)
                .map_err(|e| ConfigError(format!("MOAT_RATE_ALLOW: {e}")))?,
            max_buckets: self.rate_max_buckets,
        })
    }

    /// How anonymous addresses are grouped into clients.
    pub fn prefixes(&self) -> Result<Prefixes, ConfigError> {
        let prefixes = Prefixes {
            v4: self.anon_prefix_v4,
            v6: self.anon_prefix_v6,
        };
        prefixes
            .validate()
            .map_err(|e| ConfigError(format!("MOAT_ANON_PREFIX_V4/_V6: {e}")))?;
        Ok(prefixes)
    }

    /// The header read timeout.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    /// The body read timeout.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }

    /// The write stall timeout.
    pub fn write_stall(&self) -> Duration {
        Duration::from_millis(self.write_stall_ms)
    }

    /// The shutdown drain.
    pub fn drain(&self) -> Duration {
        Duration::from_millis(self.drain_ms)
    }

    /// Checks everything clap cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.nats.validate().map_err(ConfigError)?;
        self.policy()?;
        self.store.config().map_err(ConfigError)?;
        if self.max_body_bytes < 1024 {
            return Err(ConfigError("--max-body-bytes must be at least 1024".into()));
        }
        let (lo, hi) = moat_wire::job::TIMEOUT_MS_RANGE;
        if !(lo..=hi).contains(&self.anon_max_timeout_ms) {
            return Err(ConfigError(format!(
                "--anon-max-timeout-ms must be in {lo}..={hi}"
            )));
        }
        if !(lo..=hi).contains(&self.anon_max_browser_timeout_ms) {
            return Err(ConfigError(format!(
                "--anon-max-browser-timeout-ms must be in {lo}..={hi}"
            )));
        }
        let (lo, hi) = moat_wire::job::MEMORY_MB_RANGE;
        if !(lo..=hi).contains(&self.anon_max_memory_mb) {
            return Err(ConfigError(format!(
                "--anon-max-memory-mb must be in {lo}..={hi}"
            )));
        }
        self.prefixes()?;
        for (name, ms) in [
            ("MOAT_HEADER_TIMEOUT_MS", self.header_timeout_ms),
            ("MOAT_BODY_TIMEOUT_MS", self.body_timeout_ms),
            ("MOAT_WRITE_STALL_MS", self.write_stall_ms),
        ] {
            if !TIMEOUT_MS_RANGE.contains(&ms) {
                return Err(ConfigError(format!(
                    "{name} must be in {}..={}",
                    TIMEOUT_MS_RANGE.start(),
                    TIMEOUT_MS_RANGE.end()
                )));
            }
        }
        if self.drain_ms > 600_000 {
            return Err(ConfigError("MOAT_DRAIN_MS must be at most 600000".into()));
        }
        if self.conn_per_client == 0 {
            return Err(ConfigError(
                "MOAT_CONN_PER_CLIENT must be at least 1".into(),
            ));
        }
        if self.ws_per_client == 0 {
            return Err(ConfigError("MOAT_WS_PER_CLIENT must be at least 1".into()));
        }
        if self.secret.as_deref().is_some_and(|s| s.len() < 16) {
            return Err(ConfigError(
                "MOAT_EDGE_SECRET must be at least 16 characters".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_rates_do_not() {
        let ok = Config::try_parse_from(["moat-edge"]).unwrap();
        ok.validate().unwrap();
        assert_eq!(ok.listen.to_string(), "127.0.0.1:8080");
        let bad = Config::try_parse_from(["moat-edge", "--rate-anon", "10/2"]).unwrap();
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("BURST/REFILL/INTERVAL_MS"));
        let short = Config::try_parse_from(["moat-edge", "--secret", "x"]).unwrap();
        assert!(short.validate().is_err());
    }

    #[test]
    fn new_settings_have_defaults_and_say_what_is_wrong() {
        let ok = Config::try_parse_from(["moat-edge"]).unwrap();
        assert_eq!(ok.prefixes().unwrap(), Prefixes { v4: 32, v6: 64 });
        assert_eq!(ok.header_timeout(), Duration::from_secs(10));
        assert_eq!(ok.body_timeout(), Duration::from_secs(15));
        assert_eq!(ok.write_stall(), Duration::from_secs(30));
        assert_eq!((ok.conn_per_client, ok.drain_ms), (64, 10_000));
        for (args, says) in [
            (&["--anon-prefix-v6", "0"][..], "MOAT_ANON_PREFIX_V4/_V6"),
            (&["--anon-prefix-v4", "33"], "MOAT_ANON_PREFIX_V4/_V6"),
            (&["--header-timeout-ms", "0"], "MOAT_HEADER_TIMEOUT_MS"),
            (&["--body-timeout-ms", "9999999"], "MOAT_BODY_TIMEOUT_MS"),
            (&["--write-stall-ms", "1"], "MOAT_WRITE_STALL_MS"),
            (&["--conn-per-client", "0"], "MOAT_CONN_PER_CLIENT"),
            (&["--rate-allow", "acme,10.0.0.1/8"], "write 10.0.0.0/8"),
            (&["--rate-allow", "not a tenant"], "MOAT_RATE_ALLOW"),
        ] {
            let config =
                Config::try_parse_from(std::iter::once("moat-edge").chain(args.iter().copied()))
                    .unwrap();
            let e = config.validate().unwrap_err().to_string();
            assert!(e.contains(says), "{args:?}: {e}");
        }
        let allow = Config::try_parse_from([
            "moat-edge",
            "--rate-allow",
            "acme, 127.0.0.0/8,2001:db8::/32",
        ])
        .unwrap();
        let policy = allow.policy().unwrap();
        assert_eq!(policy.allow.tenants(), ["acme".to_owned()]);
        assert!(policy.allow.allows_addr("127.1.2.3".parse().unwrap()));
    }
}
