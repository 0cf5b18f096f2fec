//! Backups and what a restore must undo. A SQLite store is copied online as
//! one consistent state (`VACUUM INTO`); a PostgreSQL one with `pg_dump`.
//! A restored store holds every token and session as they were at the
//! backup, including those spent or revoked since: `end_sessions` ends them
//! all, so nothing that was taken back comes back.

use std::path::Path;

use signet_core::audit::AuditEvent;
use signet_core::clock::UnixTime;

use crate::bulk::{Replaced, end_runtime_state};
use crate::db::query;
use crate::{Result, Store, StoreError, audit};

impl Store {
    /// Copies the SQLite database into the new file `to`, created 0600
    /// here (an existing file is refused), while the server keeps writing.
    /// Removed again if the copy fails. The key-encryption key is not in the
    /// database, so not in the copy.
    pub async fn backup_to(&self, to: &Path) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let file_error = |error| StoreError::File { path: to.to_owned(), error };
        if !matches!(self.backend(), crate::Backend::Sqlite) {
            return Err(StoreError::Misuse("a PostgreSQL store is backed up with pg_dump".into()));
        }
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(to).map_err(file_error)?;
        let copied = self.db.sqlite_copy_into(to).unwrap_or(Ok(()));
        if copied.is_err() {
            let _ = std::fs::remove_file(to);
        }
        copied
    }

    /// Ends every session after a restore: every grant family revoked (so
    /// no refresh token works), every code, device code, sign-on flow and
    /// browser session deleted, and every access token issued until `now`
    /// revoked by its subject (an account or an application), so one whose
    /// revocation came after the backup, or that belongs to no grant (client
    /// credentials), is dead too; `ev` records it in the same transaction.
    pub async fn end_sessions(&self, now: UnixTime, ev: &AuditEvent) -> Result<Replaced> {
        let mut tx = self.db.begin().await?;
        let mut out = Replaced::default();
        end_runtime_state(&mut tx, now, &mut out).await?;
        for table in ["accounts", "applications"] {
            // `WHERE true` lets SQLite tell the upsert's ON from a join's.
            query(format!(
                "INSERT INTO revoked_subjects (subject, revoked_at) SELECT id, $1 FROM {table} WHERE true \
                 ON CONFLICT (subject) DO UPDATE SET revoked_at = $1"
            ))
            .bind(now)
            .execute(&mut tx)
            .await?;
        }
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(out)
    }
}
