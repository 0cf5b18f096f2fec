//! The embedded schema migrations, one numbered pair of scripts per step
//! (`migrations/sqlite/NNNN_name.sql`, `migrations/postgres/NNNN_name.sql`).
//!
//! Each step runs in its own transaction with its row in `signet_migrations`,
//! so a step is applied whole or not at all.
//!
//! # Upgrade policy
//!
//! Every schema step is compatible with the release before it: it adds
//! (tables, nullable or defaulted columns, indexes, rows) and never drops,
//! renames or retypes what that release reads or writes. Queries name their
//! columns, so an added one goes unnoticed. A removal waits a release: the
//! release that stops using a column ships first, the step that drops it
//! in the release after.
//!
//! So a rolling upgrade never stops the service: the first new node migrates,
//! the old nodes keep serving beside it, and an old node that restarts
//! mid-upgrade accepts the schema **one step** newer than it knows (with a
//! warning). Two or more steps newer means it skipped a release: it is
//! refused, rather than run against a schema the code may not understand.
//!
//! Compatibility covers the rows as well as the shape. A feature that writes
//! rows the release before would misread stays off until every node runs
//! the release that knows them: step 15's scheduled key rotation stores a
//! key waiting to sign, which the release before would take as its signer,
//! so the README tells operators to turn the schedule on only after the
//! rolling upgrade.

use crate::db::{Db, Pool, Tx, query};
use crate::{Result, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! migration {
    ($version:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $file,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_init"),
    migration!(2, "0002_password_change"),
    migration!(3, "0003_revoked_at"),
    migration!(4, "0004_account_version"),
    migration!(5, "0005_certificates"),
    migration!(6, "0006_claim_mappings"),
    migration!(7, "0007_revoked_subjects"),
    migration!(8, "0008_mfa"),
    migration!(9, "0009_identity_providers"),
    migration!(10, "0010_dpop"),
    migration!(11, "0011_sessions"),
    migration!(12, "0012_security"),
    migration!(13, "0013_audit_keyed"),
    migration!(14, "0014_admin_auth_default"),
    migration!(15, "0015_reuse_and_key_schedule"),
];

/// The schema version this build migrates to.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How many steps newer than `SCHEMA_VERSION` a database may be and still be
/// served (see the upgrade policy above).
pub const TOLERATED_NEWER_STEPS: i64 = 1;

/// Serialises concurrent starts of several instances on one PostgreSQL.
const POSTGRES_LOCK: i64 = 0x5167_6e65_7401;

pub(crate) async fn run(db: &Db) -> Result<()> {
    let mut warned = false;
    for m in MIGRATIONS {
        let mut tx = db.begin().await?;
        tx.serialise(POSTGRES_LOCK).await?;
        query(
            "CREATE TABLE IF NOT EXISTS signet_migrations \
             (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut tx)
        .await?;
        adopt_sqlx_history(&mut tx, db).await?;
        let newest: Option<i64> =
            query("SELECT MAX(version) AS v FROM signet_migrations").fetch_one(&mut tx).await?.try_get("v")?;
        let newest = newest.unwrap_or(0);
        if newest > SCHEMA_VERSION + TOLERATED_NEWER_STEPS {
            return Err(StoreError::Schema(format!(
                "the database has schema version {newest}, {} steps newer than this signet ({SCHEMA_VERSION}); \
                 a signet serves a schema at most {TOLERATED_NEWER_STEPS} step newer than its own: run a newer signet",
                newest - SCHEMA_VERSION
            )));
        }
        if newest > SCHEMA_VERSION && !warned {
            warned = true;
            tracing::warn!(
                schema = newest,
                known = SCHEMA_VERSION,
                "the database's schema is one step newer than this signet (a rolling upgrade in progress); \
                 serving it, since every step is compatible with the release before; upgrade this node"
            );
        }
        if m.version <= newest {
            continue;
        }
        apply(&mut tx, db, m).await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied schema migration");
    }
    Ok(())
}

/// Databases made before signet kept its own history were migrated by sqlx,
/// which recorded the same numbered steps in `_sqlx_migrations`. Their
/// successful steps are taken over once, so an upgraded installation starts.
async fn adopt_sqlx_history(tx: &mut Tx, db: &Db) -> Result<()> {
    let ours: i64 = query("SELECT COUNT(*) AS n FROM signet_migrations").fetch_one(&mut *tx).await?.try_get("n")?;
    if ours > 0 {
        return Ok(());
    }
    let exists = match db.pool {
        Pool::Sqlite(_) => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        Pool::Postgres(_) => {
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = '_sqlx_migrations'"
        }
    };
    let n: i64 = query(exists).fetch_one(&mut *tx).await?.try_get("n")?;
    if n == 0 {
        return Ok(());
    }
    let rows = query("SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&mut *tx)
        .await?;
    for r in rows {
        let version: i64 = r.try_get("version")?;
        let Some(m) = MIGRATIONS.iter().find(|m| m.version == version) else {
            return Err(StoreError::Schema(format!(
                "the database's sqlx migration history has step {version}, which this signet does not know"
            )));
        };
        query("INSERT INTO signet_migrations (version, name, applied_at) VALUES ($1, $2, 0)")
            .bind(version)
            .bind(m.name)
            .execute(&mut *tx)
            .await?;
        tracing::info!(version, "took over a schema step recorded by sqlx");
    }
    Ok(())
}

async fn apply(tx: &mut Tx, db: &Db, m: &Migration) -> Result<()> {
    let script = match db.pool {
        Pool::Sqlite(_) => m.sqlite,
        Pool::Postgres(_) => m.postgres,
    };
    Db::script(tx, script).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    query("INSERT INTO signet_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
        .bind(m.version)
        .bind(m.name)
        .bind(now)
        .execute(tx)
        .await?;
    Ok(())
}
