//! `signetd backup` (online) and `signetd restore` (offline).
//!
//! - **SQLite**: `backup --to FILE` copies the store as one consistent state
//!   while the server runs and writes (`VACUUM INTO`); the file is 0600.
//!   `restore --from FILE` puts a copy in a data dir that has no store (stop
//!   signetd and move the old store away first: a running server's store is
//!   never replaced under it).
//! - **PostgreSQL**: `pg_dump --format=custom` backs up, `pg_restore` restores;
//!   then `signetd restore` without `--from` does what a restore must.
//!
//! A backup never holds the key-encryption key: it is a file (or variable)
//! of its own, kept apart. A restore brings back every token and session as
//! it was at the backup, including those spent or revoked since, so it ends
//! every session (every refresh-token family revoked, every code, device
//! code and browser session deleted) unless `--keep-sessions`, and records
//! `store.restore` in the audit trail.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use signet_core::audit::{Action, Actor, AuditEvent};
use signet_core::clock::{Clock, SystemClock};
use signet_store::Store;

use crate::cli::{BackupArgs, RestoreArgs};
use crate::config::{self, FileConfig};

const PG_DUMP: &str = "a PostgreSQL store is backed up with pg_dump, beside the running servers:\n  \
    pg_dump --format=custom --file=FILE \"$SIGNETD_DATABASE_URL\"\n\
    and restored with pg_restore, with every signetd stopped:\n  \
    pg_restore --clean --if-exists --dbname=\"$SIGNETD_DATABASE_URL\" FILE\n\
    then `signetd restore` (without --from) ends every session and records the restore";

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.store.config.as_deref())?;
    let data_dir = data_dir(&args.store, &file);
    let url = config::database_url(args.store.database_url.clone().or(file.database_url.clone()), &data_dir);
    if !url.starts_with("sqlite:") {
        bail!("{PG_DUMP}");
    }
    if args.store.database_url.is_none() && file.database_url.is_none() && !data_dir.join("signet.db").exists() {
        bail!("no signet database in {}\nhint: pass --data-dir of the server", data_dir.display());
    }
    let store = Store::open(&url).await.context("opening the store")?;
    store.backup_to(&args.to).await.with_context(|| format!("backing up to {}", args.to.display()))?;
    store.close().await;
    println!("backed up the store to {} (mode 0600)", args.to.display());
    println!("the key-encryption key is not in it: keep it apart, a restore needs it");
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.store.config.as_deref())?;
    let data_dir = data_dir(&args.store, &file);
    let url = args.store.database_url.clone().or(file.database_url.clone());
    let kek_file = args.key_encryption_key_file.clone().or(file.key_encryption_key_file.clone());
    let kek_from_env = std::env::var(config::env::KEY_ENCRYPTION_KEY).ok();
    let kek = config::existing_kek(kek_file.as_deref(), kek_from_env.as_deref(), &data_dir)?.context(
        "the restored audit trail is keyed\nhint: pass --key-encryption-key-file with the key the servers use",
    )?;
    match (url, &args.from) {
        (Some(url), None) => {
            let store = Store::open(&url).await.context("opening the store")?;
            after_restore(&store, &kek, args.keep_sessions).await?;
            store.close().await;
        }
        (Some(_), Some(_)) => bail!("{PG_DUMP}"),
        (None, None) => bail!("--from FILE: the backup to restore"),
        (None, Some(from)) => restore_sqlite(from, &data_dir, &kek, args.keep_sessions).await?,
    }
    Ok(())
}

/// Copies `from` beside the data dir's store, ends its sessions there, and
/// only then gives it the store's name, so a failed restore leaves no store.
async fn restore_sqlite(
    from: &Path,
    data_dir: &Path,
    kek: &signet_core::crypto::Kek,
    keep: bool,
) -> anyhow::Result<()> {
    let target = data_dir.join("signet.db");
    // A -wal file left beside would be replayed into the restored store.
    if let Some(there) = ["", "-wal", "-shm"].map(|s| with_suffix(&target, s)).into_iter().find(|p| p.exists()) {
        bail!(
            "{} exists\nhint: stop signetd and move the old store (and its -wal and -shm files) away, or restore into a new data dir",
            there.display()
        );
    }
    crate::data_dir::ensure(data_dir)?;
    let staged = data_dir.join(format!("signet.db.restore-{}", signet_core::crypto::random_id()?));
    let copied = stage(from, &staged, kek, keep).await;
    if copied.is_ok() {
        for suffix in ["-wal", "-shm", ""] {
            let (src, dst) = (with_suffix(&staged, suffix), with_suffix(&target, suffix));
            if src.exists() {
                std::fs::rename(&src, &dst).with_context(|| format!("installing {}", dst.display()))?;
            }
        }
        println!("restored {} into {}", from.display(), target.display());
    } else {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(with_suffix(&staged, suffix));
        }
    }
    copied
}

async fn stage(from: &Path, staged: &Path, kek: &signet_core::crypto::Kek, keep: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut src = std::fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(staged)
        .with_context(|| format!("creating {}", staged.display()))?;
    std::io::copy(&mut src, &mut dst).and_then(|_| dst.sync_all()).context("copying the backup")?;
    let store = Store::open(&format!("sqlite://{}", staged.display())).await;
    let store = store.with_context(|| format!("{} is not a signet store", from.display()))?;
    let known = store.environment_by_name(signet_core::model::ADMINISTRATORS).await?;
    known.with_context(|| format!("{} is not a signet store: it has no Administrators environment", from.display()))?;
    let done = after_restore(&store, kek, keep).await;
    store.close().await;
    drop(store);
    done
}

/// Ends every session (unless `keep`) and records `store.restore`.
async fn after_restore(store: &Store, kek: &signet_core::crypto::Kek, keep: bool) -> anyhow::Result<()> {
    crate::audit_chain::use_existing(store, kek).await?;
    let target = if keep { "sessions kept" } else { "sessions ended" };
    let ev = AuditEvent::new(Actor::console("restore"), Action::StoreRestore, None, target, SystemClock.now())?;
    if keep {
        store.record(&ev).await?;
        println!("sessions kept (--keep-sessions): tokens spent or revoked after the backup work again");
        return Ok(());
    }
    let ended = store.end_sessions(SystemClock.now(), &ev).await?;
    println!(
        "ended every session: {} grant families revoked, {} browser sessions ended, every access token issued so far revoked",
        ended.grants_revoked, ended.sessions_ended
    );
    println!(
        "warning: passwords and client secrets changed after the backup are back as they were then; rotate any that were changed because they leaked"
    );
    Ok(())
}

fn data_dir(args: &crate::cli::StoreArgs, file: &FileConfig) -> PathBuf {
    args.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(|| config::DEFAULT_DATA_DIR.into())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}
