//! Writes to a row an administrator edits by version (claim mappings,
//! identity providers): the version check, the statement conditional on it
//! and the audit event commit in one transaction, so of two writers that read
//! the same version only one wins, and no change goes unrecorded.

use std::ops::ControlFlow;

use signet_core::audit::AuditEvent;

use crate::db::{Db, Query, Tx, query};
use crate::{Result, Written, audit, conflict};

/// A row keyed by environment and id, in a table with a `version` column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keyed<'a> {
    /// Always one of the store's own table names, never input.
    pub(crate) table: &'static str,
    pub(crate) environment_id: &'a str,
    pub(crate) id: &'a str,
}

/// Replaces the row, if it is at `expected` (any version when `None`), with
/// `set`: given the version read, a statement conditional on it
/// (`… AND version = $n`) that raises it by one. A unique violation is
/// `StoreError::Conflict(what)`.
pub(crate) async fn update(
    db: &Db,
    row: Keyed<'_>,
    expected: Option<i64>,
    ev: &AuditEvent,
    what: &str,
    set: impl FnOnce(i64) -> Query,
) -> Result<Written> {
    let mut tx = db.begin().await?;
    let version = match checked(&mut tx, row, expected).await? {
        ControlFlow::Continue(version) => version,
        ControlFlow::Break(answer) => return Ok(answer),
    };
    let done = set(version).execute(&mut tx).await.map_err(conflict(what))?;
    record(tx, done.rows_affected(), ev, version + 1).await
}

/// Deletes the row, if it is at `expected` (any version when `None`).
pub(crate) async fn delete(db: &Db, row: Keyed<'_>, expected: Option<i64>, ev: &AuditEvent) -> Result<Written> {
    let mut tx = db.begin().await?;
    let version = match checked(&mut tx, row, expected).await? {
        ControlFlow::Continue(version) => version,
        ControlFlow::Break(answer) => return Ok(answer),
    };
    let done = query(format!("DELETE FROM {} WHERE environment_id = $1 AND id = $2 AND version = $3", row.table))
        .bind(row.environment_id)
        .bind(row.id)
        .bind(version)
        .execute(&mut tx)
        .await?;
    record(tx, done.rows_affected(), ev, version).await
}

/// The row's version, or the answer when there is no row or it is not at `expected`.
async fn checked(tx: &mut Tx, row: Keyed<'_>, expected: Option<i64>) -> Result<ControlFlow<Written, i64>> {
    let found = query(format!("SELECT version FROM {} WHERE environment_id = $1 AND id = $2", row.table))
        .bind(row.environment_id)
        .bind(row.id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(found) = found else { return Ok(ControlFlow::Break(Written::Missing)) };
    let version: i64 = found.try_get("version")?;
    if expected.is_some_and(|e| e != version) {
        return Ok(ControlFlow::Break(Written::Stale));
    }
    Ok(ControlFlow::Continue(version))
}

/// Appends the event and commits when the conditional statement changed the
/// row; `Stale` when another writer changed it first (then nothing is kept).
async fn record(mut tx: Tx, rows: u64, ev: &AuditEvent, version: i64) -> Result<Written> {
    if rows == 0 {
        return Ok(Written::Stale);
    }
    audit::append(&mut tx, ev).await?;
    tx.commit().await?;
    Ok(Written::Done(version))
}
