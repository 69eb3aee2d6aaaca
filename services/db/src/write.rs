//! The recorder's writes: one event or one final record at a time, inside the
//! caller's transaction. Every write is idempotent, so a message delivered
//! twice (a restart between commit and ack, a replayed consumer) changes
//! nothing the second time:
//!
//! - log lines and files are keyed by (run, attempt, seq) and
//!   (run, attempt, name) and inserted with `ON CONFLICT DO NOTHING`; the
//!   excerpt's counters move only when a line was really inserted;
//! - a final record first claims its (run, attempt) in `records_applied`;
//!   when that row already exists the record was applied and nothing else
//!   is written, usage included.
//!
//! Each function's first statement writes the run's row, so the transaction
//! holds the write lock (SQLite) or the row lock (PostgreSQL) before it reads:
//! two writers on one run serialise instead of deciding on stale reads.
//!
//! Attempts: the latest attempt wins the `runs` row. An event or record of
//! an older attempt than the row's changes nothing there (its usage still
//! counts: the resources were spent). The first event of a newer attempt
//! resets the row to `running` and starts a fresh excerpt.
//!
//! Not here: decoding or validating messages (the consumer does), and reads.

use moat_wire::{Event, EventBody, FileRef, RunRecord, RunStatus};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
};

use crate::entity::{files, records_applied, run_logs, runs, usage};
use crate::{int, now_ms, DbError, EXCERPT_MAX_BYTES, EXCERPT_MAX_LINES};

/// What applying an event or a final record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// It was new: the run (and, for a record, usage) were updated.
    New,
    /// It had been applied before, or a later attempt superseded it; only
    /// the row's `updated_ms` changed.
    Duplicate,
}

/// Creates the run's row if it is missing (as `running`, attempt `attempt`),
/// else touches `updated_ms`; either way the row is now locked for this
/// transaction.
async fn claim_run<C: ConnectionTrait>(c: &C, run: &str, attempt: i64) -> Result<(), DbError> {
    let now = now_ms();
    let row = runs::ActiveModel {
        id: Set(run.to_owned()),
        tenant: Set(String::new()),
        status: Set(RunStatus::Running.as_str().to_owned()),
        attempt: Set(attempt),
        outcome: Set(None),
        value: Set(None),
        error: Set(None),
        cpu_ms: Set(None),
        wall_ms: Set(None),
        heap_peak_bytes: Set(None),
        queued_ms: Set(None),
        events: Set(None),
        log_bytes: Set(None),
        net_requests: Set(0),
        net_bytes: Set(0),
        submitted_ms: Set(None),
        finished_ms: Set(None),
        token_hash: Set(None),
        excerpt_lines: Set(0),
        excerpt_bytes: Set(0),
        excerpt_truncated: Set(false),
        created_ms: Set(now),
        updated_ms: Set(now),
    };
    runs::Entity::insert(row)
        .on_conflict(
            OnConflict::column(runs::Column::Id)
                .update_column(runs::Column::UpdatedMs)
                .to_owned(),
        )
        .exec_without_returning(c)
        .await?;
    Ok(())
}

async fn load_run<C: ConnectionTrait>(c: &C, run: &str) -> Result<runs::Model, DbError> {
    runs::Entity::find_by_id(run.to_owned())
        .one(c)
        .await?
        .ok_or_else(|| DbError::Db(sea_orm::DbErr::RecordNotFound(format!("run {run}"))))
}

/// Moves the row to a newer attempt: running again, no outcome, a fresh
/// excerpt (the older attempts' lines are deleted).
async fn start_attempt<C: ConnectionTrait>(c: &C, run: &str, attempt: i64) -> Result<(), DbError> {
    runs::Entity::update_many()
        .col_expr(
            runs::Column::Status,
            Expr::value(RunStatus::Running.as_str()),
        )
        .col_expr(runs::Column::Attempt, Expr::value(attempt))
        .col_expr(runs::Column::Outcome, Expr::value(Option::<String>::None))
        .col_expr(runs::Column::Value, Expr::value(Option::<String>::None))
        .col_expr(runs::Column::Error, Expr::value(Option::<String>::None))
        .col_expr(runs::Column::ExcerptLines, Expr::value(0i64))
        .col_expr(runs::Column::ExcerptBytes, Expr::value(0i64))
        .col_expr(runs::Column::ExcerptTruncated, Expr::value(false))
        .filter(runs::Column::Id.eq(run))
        .exec(c)
        .await?;
    run_logs::Entity::delete_many()
        .filter(run_logs::Column::Run.eq(run))
        .filter(run_logs::Column::Attempt.lt(attempt))
        .exec(c)
        .await?;
    Ok(())
}

async fn insert_file<C: ConnectionTrait>(
    c: &C,
    run: &str,
    attempt: u32,
    file: &FileRef,
) -> Result<Applied, DbError> {
    let row = files::ActiveModel {
        run: Set(run.to_owned()),
        attempt: Set(i64::from(attempt)),
        name: Set(file.name.clone()),
        media_type: Set(file.media_type.clone()),
        size: Set(int(file.size)),
        // Where the launcher put it: the one definition both sides use.
        key: Set(moat_wire::file_key(run, attempt, &file.name)),
    };
    let inserted = files::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                files::Column::Run,
                files::Column::Attempt,
                files::Column::Name,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(c)
        .await?;
    Ok(if inserted == 1 {
        Applied::New
    } else {
        Applied::Duplicate
    })
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Applies one event: the run becomes `running` (unless already done for
/// this attempt), a log line joins the excerpt while it has room, a file is
/// listed. A result event changes nothing: the final record is the
/// authority on how a run ended.
pub async fn apply_event<C: ConnectionTrait>(c: &C, event: &Event) -> Result<Applied, DbError> {
    let attempt = i64::from(event.attempt);
    claim_run(c, &event.run, attempt).await?;
    let row = load_run(c, &event.run).await?;
    if attempt < row.attempt {
        // An older attempt's straggler: the newer attempt owns the row.
        return Ok(Applied::Duplicate);
    }
    if attempt > row.attempt {
        start_attempt(c, &event.run, attempt).await?;
    } else if row.status == RunStatus::Queued.as_str() {
        runs::Entity::update_many()
            .col_expr(
                runs::Column::Status,
                Expr::value(RunStatus::Running.as_str()),
            )
            .filter(runs::Column::Id.eq(&event.run))
            .filter(runs::Column::Status.eq(RunStatus::Queued.as_str()))
            .exec(c)
            .await?;
    }
    let (lines, bytes) = if attempt > row.attempt {
        (0, 0)
    } else {
        (row.excerpt_lines, row.excerpt_bytes)
    };
    match &event.body {
        EventBody::Log(log) => {
            let room = EXCERPT_MAX_BYTES - bytes;
            if lines >= EXCERPT_MAX_LINES || room <= 0 {
                let key = (event.run.clone(), attempt, int(event.seq));
                if run_logs::Entity::find_by_id(key).one(c).await?.is_some() {
                    // A replay of a kept line: nothing was dropped.
                    return Ok(Applied::Duplicate);
                }
                mark_truncated(c, &event.run).await?;
                return Ok(Applied::New);
            }
            let kept = cut(&log.msg, usize::try_from(room).unwrap_or(usize::MAX));
            let line = run_logs::ActiveModel {
                run: Set(event.run.clone()),
                attempt: Set(attempt),
                seq: Set(int(event.seq)),
                level: Set(level_name(log.level).into()),
                msg: Set(kept.to_owned()),
                ts_ms: Set(int(log.ts_ms)),
            };
            let inserted = run_logs::Entity::insert(line)
                .on_conflict(
                    OnConflict::columns([
                        run_logs::Column::Run,
                        run_logs::Column::Attempt,
                        run_logs::Column::Seq,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(c)
                .await?;
            if inserted == 1 {
                let mut update = runs::Entity::update_many()
                    .col_expr(
                        runs::Column::ExcerptLines,
                        Expr::col(runs::Column::ExcerptLines).add(1),
                    )
                    .col_expr(
                        runs::Column::ExcerptBytes,
                        Expr::col(runs::Column::ExcerptBytes).add(int(kept.len() as u64)),
                    );
                if kept.len() < log.msg.len() {
                    update = update.col_expr(runs::Column::ExcerptTruncated, Expr::value(true));
                }
                update
                    .filter(runs::Column::Id.eq(&event.run))
                    .exec(c)
                    .await?;
                Ok(Applied::New)
            } else {
                Ok(Applied::Duplicate)
            }
        }
        EventBody::File(file) => insert_file(c, &event.run, event.attempt, file).await,
        // Requests are counted from the final record; the events are live.
        EventBody::Net(_) | EventBody::Result(_) => Ok(Applied::New),
    }
}

async fn mark_truncated<C: ConnectionTrait>(c: &C, run: &str) -> Result<(), DbError> {
    runs::Entity::update_many()
        .col_expr(runs::Column::ExcerptTruncated, Expr::value(true))
        .filter(runs::Column::Id.eq(run))
        .exec(c)
        .await?;
    Ok(())
}

fn level_name(level: moat_wire::LogLevel) -> &'static str {
    match level {
        moat_wire::LogLevel::Debug => "debug",
        moat_wire::LogLevel::Info => "info",
        moat_wire::LogLevel::Warn => "warn",
        moat_wire::LogLevel::Error => "error",
    }
}

/// Applies one final record, exactly once per (run, attempt): the run is
/// `done` with the record's outcome, timings and sizes (when the record is
/// for the latest attempt), its files are listed, and the tenant's usage for
/// the record's UTC day grows by the record's CPU, wall time and bytes out
/// (log bytes plus file bytes), and by one run for the run's first record.
pub async fn apply_record<C: ConnectionTrait>(
    c: &C,
    record: &RunRecord,
) -> Result<Applied, DbError> {
    let attempt = i64::from(record.attempt);
    let now = now_ms();
    claim_run(c, &record.run, attempt).await?;
    let marker = records_applied::ActiveModel {
        run: Set(record.run.clone()),
        attempt: Set(attempt),
        applied_ms: Set(now),
    };
    let claimed = records_applied::Entity::insert(marker)
        .on_conflict(
            OnConflict::columns([
                records_applied::Column::Run,
                records_applied::Column::Attempt,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(c)
        .await?;
    if claimed == 0 {
        return Ok(Applied::Duplicate);
    }
    let row = load_run(c, &record.run).await?;
    if attempt >= row.attempt {
        if attempt > row.attempt {
            start_attempt(c, &record.run, attempt).await?;
        }
        let to_json = |v: Option<String>| Expr::value(v);
        let value = record
            .value
            .as_ref()
            .map(|v| serde_json::to_string(v).expect("JSON values serialise"));
        let error = record
            .error
            .as_ref()
            .map(|e| serde_json::to_string(e).expect("errors serialise"));
        runs::Entity::update_many()
            .col_expr(runs::Column::Tenant, Expr::value(record.tenant.clone()))
            .col_expr(runs::Column::Status, Expr::value(RunStatus::Done.as_str()))
            .col_expr(
                runs::Column::Outcome,
                Expr::value(Some(record.outcome.as_str().to_owned())),
            )
            .col_expr(runs::Column::Value, to_json(value))
            .col_expr(runs::Column::Error, to_json(error))
            .col_expr(runs::Column::CpuMs, Expr::value(Some(int(record.cpu_ms))))
            .col_expr(runs::Column::WallMs, Expr::value(Some(int(record.wall_ms))))
            .col_expr(
                runs::Column::HeapPeakBytes,
                Expr::value(Some(int(record.heap_peak_bytes))),
            )
            .col_expr(
                runs::Column::QueuedMs,
                Expr::value(Some(int(record.queued_ms))),
            )
            .col_expr(runs::Column::Events, Expr::value(Some(int(record.events))))
            .col_expr(
                runs::Column::LogBytes,
                Expr::value(Some(int(record.log_bytes))),
            )
            .col_expr(
                runs::Column::NetRequests,
                Expr::value(int(record.net.requests)),
            )
            .col_expr(runs::Column::NetBytes, Expr::value(int(record.net.bytes)))
            .col_expr(
                runs::Column::SubmittedMs,
                Expr::value(Some(int(record.submitted_ms))),
            )
            .col_expr(
                runs::Column::FinishedMs,
                Expr::value(Some(int(record.finished_ms))),
            )
            .col_expr(runs::Column::UpdatedMs, Expr::value(now))
            .filter(runs::Column::Id.eq(&record.run))
            .exec(c)
            .await?;
    } else if row.tenant.is_empty() {
        runs::Entity::update_many()
            .col_expr(runs::Column::Tenant, Expr::value(record.tenant.clone()))
            .filter(runs::Column::Id.eq(&record.run))
            .exec(c)
            .await?;
    }
    for file in &record.files {
        insert_file(c, &record.run, record.attempt, file).await?;
    }
    let first = records_applied::Entity::find()
        .filter(records_applied::Column::Run.eq(&record.run))
        .count(c)
        .await?
        == 1;
    let file_bytes: u64 = record.files.iter().map(|f| f.size).sum();
    add_usage(
        c,
        &record.tenant,
        &crate::day_of_ms(record.finished_ms),
        Spent {
            runs: i64::from(first),
            cpu_ms: int(record.cpu_ms),
            wall_ms: int(record.wall_ms),
            bytes_out: int(record.log_bytes.saturating_add(file_bytes)),
            net_requests: int(record.net.requests),
            net_bytes: int(record.net.bytes),
        },
    )
    .await?;
    Ok(Applied::New)
}

/// What one record adds to its tenant's day.
struct Spent {
    runs: i64,
    cpu_ms: i64,
    wall_ms: i64,
    bytes_out: i64,
    net_requests: i64,
    net_bytes: i64,
}

/// Adds to a tenant's day, creating it at zero first. The increments are
/// `col = col + n` in one statement, so concurrent writers add up.
async fn add_usage<C: ConnectionTrait>(
    c: &C,
    tenant: &str,
    day: &str,
    spent: Spent,
) -> Result<(), DbError> {
    let Spent {
        runs: runs_n,
        cpu_ms,
        wall_ms,
        bytes_out,
        net_requests,
        net_bytes,
    } = spent;
    let zero = usage::ActiveModel {
        tenant: Set(tenant.to_owned()),
        day: Set(day.to_owned()),
        runs: Set(0),
        cpu_ms: Set(0),
        wall_ms: Set(0),
        bytes_out: Set(0),
        net_requests: Set(0),
        net_bytes: Set(0),
    };
    usage::Entity::insert(zero)
        .on_conflict(
            OnConflict::columns([usage::Column::Tenant, usage::Column::Day])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(c)
        .await?;
    usage::Entity::update_many()
        .col_expr(
            usage::Column::Runs,
            Expr::col(usage::Column::Runs).add(runs_n),
        )
        .col_expr(
            usage::Column::CpuMs,
            Expr::col(usage::Column::CpuMs).add(cpu_ms),
        )
        .col_expr(
            usage::Column::WallMs,
            Expr::col(usage::Column::WallMs).add(wall_ms),
        )
        .col_expr(
            usage::Column::BytesOut,
            Expr::col(usage::Column::BytesOut).add(bytes_out),
        )
        .col_expr(
            usage::Column::NetRequests,
            Expr::col(usage::Column::NetRequests).add(net_requests),
        )
        .col_expr(
            usage::Column::NetBytes,
            Expr::col(usage::Column::NetBytes).add(net_bytes),
        )
        .filter(usage::Column::Tenant.eq(tenant))
        .filter(usage::Column::Day.eq(day))
        .exec(c)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cuts_on_character_boundaries() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("abc", 0), "");
    }
}
