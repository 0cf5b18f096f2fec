//! The keyed audit chain and its checkpoints, on the server's side: the keys
//! are opened with the key-encryption key and given to the store at start
//! (made, sealed and stored by the first instance ever to start), the chain
//! is sealed once, and a signed checkpoint of the head is written each
//! period, by one instance, to the sinks outside the database.
//!
//! What this protects, and what not: an event edited or removed in the
//! database cannot be hidden by recomputing the hashes after it without the
//! key-encryption key. Removing the newest events is caught only against a
//! checkpoint held outside the database. Whoever holds the key-encryption
//! key (on SQLite with the default key, whoever can read the data dir) can
//! rechain.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use signet_core::audit_key::{AuditKeys, SealedAuditKeys};
use signet_core::clock::UnixTime;
use signet_core::crypto::Kek;
use signet_proto::audit::Checkpoint;
use signet_store::Store;

use crate::state::AppState;

/// Gives `store` the audit trail's keys and starts the keyed chain if it
/// has not started: at the first start after an upgrade it seals the old
/// head; on a fresh store it is the first event. Safe when several
/// instances start at once: one set of keys and one sealing event win.
pub async fn open(store: &Store, kek: &Kek, now: UnixTime) -> anyhow::Result<()> {
    let sealed = match store.sealed_audit_keys().await? {
        Some(sealed) => sealed,
        None => store.put_sealed_audit_keys(&SealedAuditKeys::generate(kek)?, now).await?,
    };
    let keys = AuditKeys::open(kek, &sealed).map_err(|e| {
        anyhow::anyhow!(
            "the audit trail's keys cannot be opened: {e}\nhint: start signetd with the key-encryption key the store was sealed with (--key-encryption-key-file)"
        )
    })?;
    let key_id = keys.checkpoint.key_id().to_owned();
    store.use_audit_keys(keys)?;
    if let Some(seq) = store.seal_audit_chain(now).await? {
        tracing::info!(seq, checkpoint_key_id = %key_id, "the audit chain is keyed from this event on");
    }
    Ok(())
}

/// Gives `store` the audit trail's keys if any instance has made them, for
/// an offline command that appends an event; makes none and seals nothing.
pub async fn use_existing(store: &Store, kek: &Kek) -> anyhow::Result<()> {
    if let Some(sealed) = store.sealed_audit_keys().await? {
        let keys = AuditKeys::open(kek, &sealed).map_err(|e| {
            anyhow::anyhow!("the audit trail's keys cannot be opened with this key-encryption key: {e}")
        })?;
        store.use_audit_keys(keys)?;
    }
    Ok(())
}

/// Where checkpoints go besides the database and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// Appended as one JSON line each to a file created 0600.
    File(PathBuf),
    /// Sent as a syslog message (facility authpriv) to a Unix datagram socket.
    Syslog(PathBuf),
}

impl std::str::FromStr for Sink {
    type Err = String;

    /// `file:PATH`, `syslog` (to /dev/log) or `syslog:SOCKET`.
    fn from_str(s: &str) -> Result<Sink, String> {
        match s.split_once(':') {
            Some(("file", path)) if !path.is_empty() => Ok(Sink::File(path.into())),
            Some(("syslog", path)) if !path.is_empty() => Ok(Sink::Syslog(path.into())),
            None if s == "syslog" => Ok(Sink::Syslog("/dev/log".into())),
            _ => Err(format!("{s:?} is not file:PATH, syslog or syslog:SOCKET")),
        }
    }
}

impl Sink {
    /// Checks at start that the sink can be written, so a typo fails now.
    pub fn check(&self) -> anyhow::Result<()> {
        match self {
            Sink::File(path) => open_append(path).map(drop),
            Sink::Syslog(socket) => {
                if !socket.exists() {
                    bail!("no syslog socket at {}\nhint: give syslog:SOCKET, or use file:PATH", socket.display());
                }
                Ok(())
            }
        }
    }

    fn write(&self, cp: &Checkpoint) -> anyhow::Result<()> {
        let line = serde_json::to_string(cp)?;
        match self {
            Sink::File(path) => {
                let mut f = open_append(path)?;
                // One write of the whole line, then to disk: a reader never
                // sees half a checkpoint, and a crash keeps what was written.
                f.write_all(format!("{line}\n").as_bytes())?;
                f.sync_data()?;
            }
            Sink::Syslog(socket) => {
                // RFC 3164 over the local socket: authpriv (10) * 8 + info (6).
                let msg = format!("<86>signetd[{}]: audit checkpoint {line}", std::process::id());
                let sock = std::os::unix::net::UnixDatagram::unbound()?;
                sock.send_to(msg.as_bytes(), socket)
                    .with_context(|| format!("sending to syslog at {}", socket.display()))?;
            }
        }
        Ok(())
    }
}

/// Opens the checkpoint file to append, creating it 0600. A link, or a file
/// that others can read or write, is refused: the file is what truncation
/// is checked against.
fn open_append(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening the checkpoint file {}", path.display()))?;
    // What was opened must be what the path names, not a link's target.
    let (opened, named) = (f.metadata()?, std::fs::symlink_metadata(path)?);
    if !named.file_type().is_file() || (opened.dev(), opened.ino()) != (named.dev(), named.ino()) {
        bail!("the checkpoint file {} is not a regular file (a link?)", path.display());
    }
    if opened.mode() & 0o077 != 0 {
        bail!(
            "the checkpoint file {} may be read or written by others (mode {:o})\nhint: chmod 600 {}",
            path.display(),
            opened.mode() & 0o777,
            path.display()
        );
    }
    Ok(f)
}

/// Writes the checkpoint of the period `now` falls in, if no instance has:
/// to the log, and to every sink. The checkpoint, when this call wrote it.
pub async fn write_due(state: &AppState, sinks: &[Sink], interval: Duration) -> anyhow::Result<Option<Checkpoint>> {
    let now = state.now();
    let period = now / i64::try_from(interval.as_secs().max(1))?;
    let Some(cp) = state.store.write_audit_checkpoint(period, now).await? else { return Ok(None) };
    tracing::info!(seq = cp.seq, head = %cp.head, key_id = %cp.key_id, checkpoint = %serde_json::to_string(&cp)?, "audit checkpoint");
    let mut failed = None;
    for sink in sinks {
        if let Err(e) = sink.write(&cp) {
            tracing::error!(error = %format!("{e:#}"), ?sink, "writing an audit checkpoint failed");
            failed = Some(e);
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(Some(cp)),
    }
}

/// Writes a checkpoint each `interval`, from whichever instance gets there
/// first; checks every minute (or each interval, if shorter).
pub fn spawn(state: AppState, sinks: Vec<Sink>, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval.min(Duration::from_secs(60)));
        loop {
            tick.tick().await;
            if let Err(e) = write_due(&state, &sinks, interval).await {
                tracing::warn!(error = %format!("{e:#}"), "the audit checkpoint was not written everywhere");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks_parse_and_refuse_anything_else() {
        assert_eq!("file:/var/log/cp.jsonl".parse(), Ok(Sink::File("/var/log/cp.jsonl".into())));
        assert_eq!("syslog".parse(), Ok(Sink::Syslog("/dev/log".into())));
        assert_eq!("syslog:/run/log.sock".parse(), Ok(Sink::Syslog("/run/log.sock".into())));
        for bad in ["file:", "syslog:", "s3://bucket", "/var/log/cp", ""] {
            assert!(bad.parse::<Sink>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_checkpoint_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("signet-cp-{}", signet_core::crypto::random_id().unwrap()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cp.jsonl");
        open_append(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = open_append(&path).unwrap_err().to_string();
        assert!(err.contains("hint: chmod 600"), "{err}");
        let link = dir.join("link.jsonl");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(open_append(&link).is_err(), "a link is not followed");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
