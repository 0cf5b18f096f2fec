//! `auth.storage.type=file`: one JSON file per cached credential under
//! `$XDG_STATE_HOME/signet/tokens/` (directory 0700, files 0600).

use std::path::PathBuf;

use anyhow::Context;

use super::{CacheKey, Cached};
use crate::config::{create_private_dir, home, lock_file, write_atomic};

/// `$XDG_STATE_HOME/signet`, or `~/.local/state/signet`.
pub fn state_dir() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os(crate::env::STATE_HOME).filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => home()?.join(".local/state"),
    };
    Ok(base.join("signet"))
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
        match std::fs::read(&path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn save(&self, key: &CacheKey, tokens: &Cached) -> anyhow::Result<()> {
        create_private_dir(&self.dir)?;
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

/// An exclusive lock on `locks/<key>.lock` in the state dir.
pub fn lock(key: &CacheKey) -> anyhow::Result<std::fs::File> {
    let dir = state_dir()?.join("locks");
    create_private_dir(&dir)?;
    lock_file(&dir.join(format!("{}.lock", key.id())))
}
