//! moat's database layer: entities, migrations and every query moat makes,
//! shared by the recorder (which writes what NATS says), the edge (which
//! inserts queued runs, reads records and usage, and checks API keys) and
//! `moat keys`. It is its own crate so that those readers need not depend on
//! the recorder service.
//!
//! SQLite (a file, the default for one machine) and PostgreSQL (by URL) run
//! the same schema and the same queries; both are tested by one suite
//! (`tests/storage.rs`). This crate does not talk to NATS and decides nothing
//! about who may read what: it stores and answers.
//!
//! - [`entity`]: the tables as sea-orm entities;
//! - [`migration`]: the schema's history;
//! - [`write`](mod@write): the recorder's idempotent writes;
//! - [`read`]: the edge's inserts and queries, API keys;
//! - [`tenants`]: tenants' own settings (network rules).
//!
//! | table | key | what |
//! | --- | --- | --- |
//! | `runs` | `id` | one row per run: status, the latest attempt's outcome, timings and sizes, token hash |
//! | `run_logs` | `run, attempt, seq` | the bounded log excerpt ([`EXCERPT_MAX_LINES`], [`EXCERPT_MAX_BYTES`]) |
//! | `files` | `run, attempt, name` | stored files and their object-store keys |
//! | `usage` | `tenant, day` | runs, CPU, wall time and bytes out per tenant per UTC day |
//! | `records_applied` | `run, attempt` | which final records were already counted |
//! | `api_keys` | `id` (unique `key_hash`) | tenants' keys, hashed |
//! | `tenant_egress` | `tenant` | a tenant's own network rules (they only narrow the operator's) |

pub mod entity;
pub mod migration;
pub mod read;
pub mod tenants;
pub mod write;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;
use sha2::{Digest, Sha256};

pub use read::{
    create_api_key, delete_queued_run, find_api_key, get_run, insert_queued_run, list_api_keys,
    lookup_api_key, revoke_api_key, usage, NewRun, RunView,
};
pub use tenants::{set_tenant_egress, tenant_egress};
pub use write::{apply_event, apply_record, Applied};

/// Log lines kept per run (the current attempt's first ones).
pub const EXCERPT_MAX_LINES: i64 = 200;
/// Bytes of log text kept per run; the line that crosses it is cut short.
pub const EXCERPT_MAX_BYTES: i64 = 64 * 1024;

/// The default database: a SQLite file under `.run/`, created if missing.
pub const DEFAULT_URL: &str = "sqlite://.run/moat.db?mode=rwc";

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database refused or could not be reached; worth retrying.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// The URL names no database this build supports.
    #[error("unsupported database url {0:?}: use sqlite://PATH?mode=rwc or postgres://...")]
    Url(String),
    /// The SQLite file's directory could not be created.
    #[error("creating {path}: {message}")]
    Dir {
        /// The directory.
        path: String,
        /// Why.
        message: String,
    },
}

/// Connects to `url` and applies every pending migration.
///
/// For SQLite the file's directory is created and the journal is switched to
/// WAL, so the edge's reads do not wait for the recorder's writes.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbError> {
    let sqlite = if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or("");
        if !path.is_empty() && path != ":memory:" {
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| DbError::Dir {
                        path: dir.display().to_string(),
                        message: e.to_string(),
                    })?;
                }
            }
        }
        true
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        false
    } else {
        return Err(DbError::Url(url.to_owned()));
    };
    let mut options = ConnectOptions::new(url.to_owned());
    // sqlx logs every statement at info level by default.
    options.sqlx_logging(false);
    // A database that is gone must fail a query in seconds, not the pool's
    // default 30 s: the edge answers 503 at once (a client waiting 30 s is a
    // hang), and the recorder naks and retries.
    options
        .connect_timeout(std::time::Duration::from_secs(3))
        .acquire_timeout(std::time::Duration::from_secs(3));
    if sqlite {
        // One writer at a time in SQLite anyway; a small pool keeps readers
        // concurrent under WAL.
        options.max_connections(4);
    }
    let db = Database::connect(options).await?;
    if sqlite {
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    // The edge and the recorder may start together on a fresh database; each
    // migration runs in a transaction, so the loser of a race rolls back and
    // finds nothing left to apply on its next try.
    let mut tries = 0;
    loop {
        match migration::Migrator::up(&db, None).await {
            Ok(()) => return Ok(db),
            Err(e) if tries < 3 => {
                tries += 1;
                tracing::warn!(error = %e, tries, "migrating; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(200 * tries)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// SHA-256 of `secret` as lowercase hex: how API keys and run tokens are stored.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The UTC day of a Unix-milliseconds time, `YYYY-MM-DD`.
pub fn day_of_ms(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Whether `day` is a `YYYY-MM-DD` string (for checking a caller's range).
pub fn valid_day(day: &str) -> bool {
    let b = day.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// A `u64` as a column value (saturating: no real count reaches `i64::MAX`).
pub(crate) fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Now, Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    int(moat_wire::run::now_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(day_of_ms(0), "1970-01-01");
        assert_eq!(day_of_ms(86_399_999), "1970-01-01");
        assert_eq!(day_of_ms(86_400_000), "1970-01-02");
        assert_eq!(day_of_ms(951_782_400_000), "2000-02-29");
        assert_eq!(day_of_ms(1_798_761_599_000), "2026-12-31");
        assert!(valid_day("2026-01-31"));
        for bad in ["2026-1-31", "2026/01/31", "2026-01-3x", ""] {
            assert!(!valid_day(bad), "{bad}");
        }
    }

    #[test]
    fn secrets_are_hashed_as_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
