//! The recorder's configuration: flags with `MOAT_*` environment variables,
//! defaults for one machine (a SQLite file under `.run/`), and validation at
//! start, so a bad value is a clear start-up error rather than a silent
//! default. Only this module reads the environment.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// Writes run events and final records from NATS into the database.
#[derive(Debug, Clone, Parser)]
#[command(name = "moat-recorder", version)]
pub struct Config {
    /// NATS server URL.
    #[arg(long, env = "MOAT_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// NATS credentials and TLS (this service's own user).
    #[command(flatten)]
    pub nats: moat_queue::NatsAuth,
    /// Database URL: `sqlite://PATH?mode=rwc` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "MOAT_DATABASE_URL", default_value = moat_db::DEFAULT_URL)]
    pub database_url: String,
    /// Address for /metrics and /healthz.
    #[arg(long, env = "MOAT_METRICS_ADDR", default_value = "127.0.0.1:9102")]
    pub metrics_addr: SocketAddr,
    /// Durable consumer on RUN_EVENTS.
    #[arg(
        long,
        env = "MOAT_RECORDER_EVENTS_CONSUMER",
        default_value = "recorder-events"
    )]
    pub events_consumer: String,
    /// Durable consumer on RUN_RESULTS.
    #[arg(
        long,
        env = "MOAT_RECORDER_RESULTS_CONSUMER",
        default_value = "recorder-results"
    )]
    pub results_consumer: String,
    /// Messages written per database transaction, at most.
    #[arg(long, env = "MOAT_RECORDER_BATCH", default_value_t = 256)]
    pub batch: usize,
    /// How long a delivered message may go unacknowledged before NATS
    /// redelivers it, in ms (used when the consumers are first created).
    #[arg(long, env = "MOAT_RECORDER_ACK_WAIT_MS", default_value_t = 30_000)]
    pub ack_wait_ms: u64,
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Checks what clap cannot: ranges, names, the database scheme.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.nats.validate().map_err(ConfigError)?;
        let bad = |m: String| Err(ConfigError(m));
        for (flag, name) in [
            ("--events-consumer", &self.events_consumer),
            ("--results-consumer", &self.results_consumer),
        ] {
            if !moat_wire::valid_token(name) {
                return bad(format!("{flag} {name:?} must be 1 to 64 of [A-Za-z0-9_-]"));
            }
        }
        if self.events_consumer == self.results_consumer {
            return bad("--events-consumer and --results-consumer must differ".into());
        }
        if !(1..=1_000).contains(&self.batch) {
            return bad(format!("--batch {} is out of range (1..=1000)", self.batch));
        }
        if self.ack_wait_ms < 1_000 {
            return bad("--ack-wait-ms must be at least 1000".into());
        }
        let url = self.database_url.as_str();
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            return bad(format!(
                "--database-url {url:?} must start with sqlite: or postgres://"
            ));
        }
        Ok(())
    }

    /// The ack wait as a duration.
    pub fn ack_wait(&self) -> Duration {
        Duration::from_millis(self.ack_wait_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        Config::try_parse_from(std::iter::once("moat-recorder").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn defaults_work_and_bad_values_are_start_up_errors() {
        let ok = parse(&[]);
        ok.validate().unwrap();
        assert_eq!(ok.metrics_addr.port(), 9102);
        assert!(ok.database_url.starts_with("sqlite://.run/"));
        for args in [
            vec!["--batch", "0"],
            vec!["--ack-wait-ms", "10"],
            vec!["--events-consumer", "a.b"],
            vec!["--results-consumer", "recorder-events"],
            vec!["--database-url", "mysql://x"],
        ] {
            assert!(parse(&args).validate().is_err(), "{args:?}");
        }
    }
}
