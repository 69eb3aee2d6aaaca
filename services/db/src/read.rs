//! What the edge asks of the database: insert a queued run at submit, read a
//! run with its files and log excerpt, read a tenant's usage, and manage API
//! keys (stored as SHA-256 hashes; the key itself is shown once, at
//! creation). Nothing here checks who is asking: the edge decides that, and
//! answers 404 for a run of another tenant.

use moat_wire::RunStatus;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use crate::entity::{api_keys, files, run_logs, runs, usage};
use crate::{int, now_ms, sha256_hex, DbError};

/// A run as the edge shows it: the row, the current attempt's files and the
/// current attempt's log excerpt in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunView {
    /// The run's row.
    pub run: runs::Model,
    /// Files of the current attempt, by name.
    pub files: Vec<files::Model>,
    /// The excerpt, by sequence number.
    pub logs: Vec<run_logs::Model>,
}

/// A run the edge has just queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    /// The run id.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// SHA-256 hex of the run token ([`crate::sha256_hex`]).
    pub token_hash: Option<String>,
    /// Submission time, Unix milliseconds.
    pub submitted_ms: u64,
}

/// Records a queued run. If the recorder got there first (its events or
/// record arrived before this insert), the row keeps its status and outcome
/// and gains the tenant, token hash and submission time.
pub async fn insert_queued_run<C: ConnectionTrait>(c: &C, run: &NewRun) -> Result<(), DbError> {
    let now = now_ms();
    let row = runs::ActiveModel {
        id: Set(run.id.clone()),
        tenant: Set(run.tenant.clone()),
        status: Set(RunStatus::Queued.as_str().to_owned()),
        attempt: Set(0),
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
        submitted_ms: Set(Some(int(run.submitted_ms))),
        finished_ms: Set(None),
        token_hash: Set(run.token_hash.clone()),
        excerpt_lines: Set(0),
        excerpt_bytes: Set(0),
        excerpt_truncated: Set(false),
        created_ms: Set(now),
        updated_ms: Set(now),
    };
    runs::Entity::insert(row)
        .on_conflict(
            OnConflict::column(runs::Column::Id)
                .update_columns([
                    runs::Column::Tenant,
                    runs::Column::TokenHash,
                    runs::Column::SubmittedMs,
                    runs::Column::UpdatedMs,
                ])
                .to_owned(),
        )
        .exec_without_returning(c)
        .await?;
    Ok(())
}

/// Removes a run that is still `queued` (the edge's undo when the publish
/// failed after the insert); `true` if a row went. A run the recorder has
/// seen is never removed.
pub async fn delete_queued_run<C: ConnectionTrait>(c: &C, id: &str) -> Result<bool, DbError> {
    let result = runs::Entity::delete_many()
        .filter(runs::Column::Id.eq(id))
        .filter(runs::Column::Status.eq(RunStatus::Queued.as_str()))
        .exec(c)
        .await?;
    Ok(result.rows_affected == 1)
}

/// A run with its current attempt's files and excerpt, or `None`.
pub async fn get_run<C: ConnectionTrait>(c: &C, id: &str) -> Result<Option<RunView>, DbError> {
    let Some(run) = runs::Entity::find_by_id(id.to_owned()).one(c).await? else {
        return Ok(None);
    };
    let files = files::Entity::find()
        .filter(files::Column::Run.eq(id))
        .filter(files::Column::Attempt.eq(run.attempt))
        .order_by_asc(files::Column::Name)
        .all(c)
        .await?;
    let logs = run_logs::Entity::find()
        .filter(run_logs::Column::Run.eq(id))
        .filter(run_logs::Column::Attempt.eq(run.attempt))
        .order_by_asc(run_logs::Column::Seq)
        .all(c)
        .await?;
    Ok(Some(RunView { run, files, logs }))
}

/// A tenant's usage from day `from` to day `to` (both `YYYY-MM-DD`,
/// inclusive), one row per day that had any, oldest first.
pub async fn usage<C: ConnectionTrait>(
    c: &C,
    tenant: &str,
    from: &str,
    to: &str,
) -> Result<Vec<usage::Model>, DbError> {
    Ok(usage::Entity::find()
        .filter(usage::Column::Tenant.eq(tenant))
        .filter(usage::Column::Day.gte(from))
        .filter(usage::Column::Day.lte(to))
        .order_by_asc(usage::Column::Day)
        .all(c)
        .await?)
}

/// Creates an API key for `tenant` on `plan`. Returns the stored row and the
/// key itself (`moat_` and 64 hex digits), which is never stored and cannot
/// be shown again.
pub async fn create_api_key<C: ConnectionTrait>(
    c: &C,
    tenant: &str,
    plan: &str,
    label: Option<&str>,
) -> Result<(api_keys::Model, String), DbError> {
    let key = format!(
        "moat_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let row = api_keys::Model {
        id: format!("key_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
        tenant: tenant.to_owned(),
        key_hash: sha256_hex(&key),
        plan: plan.to_owned(),
        label: label.map(str::to_owned),
        created_ms: now_ms(),
        revoked: false,
        revoked_ms: None,
    };
    let active = api_keys::ActiveModel {
        id: Set(row.id.clone()),
        tenant: Set(row.tenant.clone()),
        key_hash: Set(row.key_hash.clone()),
        plan: Set(row.plan.clone()),
        label: Set(row.label.clone()),
        created_ms: Set(row.created_ms),
        revoked: Set(false),
        revoked_ms: Set(None),
    };
    api_keys::Entity::insert(active)
        .exec_without_returning(c)
        .await?;
    Ok((row, key))
}

/// The key row whose hash is `key_hash`, revoked or not.
pub async fn find_api_key<C: ConnectionTrait>(
    c: &C,
    key_hash: &str,
) -> Result<Option<api_keys::Model>, DbError> {
    Ok(api_keys::Entity::find()
        .filter(api_keys::Column::KeyHash.eq(key_hash))
        .one(c)
        .await?)
}

/// The live (not revoked) key row for a presented key, or `None`: what
/// `Authorization: Bearer <key>` resolves to.
pub async fn lookup_api_key<C: ConnectionTrait>(
    c: &C,
    key: &str,
) -> Result<Option<api_keys::Model>, DbError> {
    Ok(find_api_key(c, &sha256_hex(key))
        .await?
        .filter(|row| !row.revoked))
}

/// Revokes the key with public id `id`; `true` if it existed and was live.
pub async fn revoke_api_key<C: ConnectionTrait>(c: &C, id: &str) -> Result<bool, DbError> {
    let result = api_keys::Entity::update_many()
        .col_expr(api_keys::Column::Revoked, Expr::value(true))
        .col_expr(api_keys::Column::RevokedMs, Expr::value(Some(now_ms())))
        .filter(api_keys::Column::Id.eq(id))
        .filter(api_keys::Column::Revoked.eq(false))
        .exec(c)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Every key, or a tenant's, oldest first (hashes included, keys never).
pub async fn list_api_keys<C: ConnectionTrait>(
    c: &C,
    tenant: Option<&str>,
) -> Result<Vec<api_keys::Model>, DbError> {
    let mut query = api_keys::Entity::find();
    if let Some(tenant) = tenant {
        query = query.filter(api_keys::Column::Tenant.eq(tenant));
    }
    Ok(query
        .order_by_asc(api_keys::Column::CreatedMs)
        .order_by_asc(api_keys::Column::Id)
        .all(c)
        .await?)
}
