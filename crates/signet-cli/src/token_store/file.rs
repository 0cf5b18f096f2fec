//! `auth.storage.type=file`: one JSON file per cached credential under
//! `$XDG_STATE_HOME/signet/tokens/` (directory 0700, files 0600).
//!
//! A token file is used only if it is the user's own and closed to others,
//! in directories of signet's own that are neither links nor open to
//! others' writes (`signet_client::check_private_dir`): tokens put there by
//! someone else would sign the person on as someone else, and tokens in a
//! directory others can reach may be read.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{CacheKey, Cached};
use crate::config::{home, lock_file, write_atomic};

/// `$XDG_STATE_HOME/signet`, or `~/.local/state/signet`.
pub fn state_dir() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os(crate::env::STATE_HOME).filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => home()?.join(".local/state"),
    };
    Ok(base.join("signet"))
}

/// `state_dir()/name`, made (0700) if missing, and checked with its parent.
pub fn private_state_dir(name: &str) -> anyhow::Result<PathBuf> {
    let state = state_dir()?;
    signet_client::create_private_dir(&state)?;
    let dir = state.join(name);
    signet_client::create_private_dir(&dir)?;
    Ok(dir)
}

/// Checks `dir` and its parent in the state dir, where they exist.
fn check_existing(dir: &Path) -> anyhow::Result<()> {
    for d in [dir.parent(), Some(dir)].into_iter().flatten() {
        if d.symlink_metadata().is_ok() {
            signet_client::check_private_dir(d)?;
        }
    }
    Ok(())
}

pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn open() -> anyhow::Result<FileStore> {
        Ok(FileStore { dir: state_dir()?.join("tokens") })
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.id()))
    }

    pub fn load(&self, key: &CacheKey) -> anyhow::Result<Option<Cached>> {
        let path = self.path(key);
        check_existing(&self.dir)?;
        match std::fs::metadata(&path) {
            Ok(_) => {
                let text = signet_client::read_private(&path)?;
                Ok(serde_json::from_str(&text).ok())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Whether tokens can be kept here: the state directory and the tokens
    /// directory checked (made if missing), and a probe file written, read
    /// back and removed. No fsync: this runs before every sign-on and in
    /// `auth status`, and proves the directory, not the disk.
    pub fn check(&self) -> anyhow::Result<()> {
        signet_client::create_private_dir(&state_dir()?)?;
        probe_dir(&self.dir)
    }

    pub fn save(&self, key: &CacheKey, tokens: &Cached) -> anyhow::Result<()> {
        private_state_dir("tokens")?;
        write_atomic(&self.path(key), &serde_json::to_vec(tokens)?)
    }

    pub fn delete(&self, key: &CacheKey) -> anyhow::Result<bool> {
        match std::fs::remove_file(self.path(key)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Proves that signet can keep its private files in `dir`: made (0700) if
/// missing and checked as [`signet_client::create_private_dir`] does, then a
/// probe file written (0600, never through a link), read back and removed.
/// A directory it made is removed again, so a probe leaves nothing behind.
pub fn probe_dir(dir: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let made = dir.symlink_metadata().is_err();
    signet_client::create_private_dir(dir)?;
    let path = dir.join(format!(".probe-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(b"probe"))
        .with_context(|| format!("writing in {}", dir.display()));
    let read = written.and_then(|()| Ok(signet_client::read_private(&path)?));
    let _ = std::fs::remove_file(&path);
    if made {
        let _ = std::fs::remove_dir(dir);
    }
    if read? != "probe" {
        anyhow::bail!("{}: a file written there did not read back the same", dir.display());
    }
    Ok(())
}

/// An exclusive lock on `locks/<key>.lock` in the state dir.
pub fn lock(key: &CacheKey) -> anyhow::Result<std::fs::File> {
    let dir = private_state_dir("locks")?;
    lock_file(&dir.join(format!("{}.lock", key.id())))
}
