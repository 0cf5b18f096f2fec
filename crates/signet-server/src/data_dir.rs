//! The data dir keeps the SQLite store (argon2 hashes, sealed keys, the audit
//! trail), the bootstrap credentials and, by default, the key-encryption key,
//! so it is signetd's alone. A new one is made 0700. One that signetd's user
//! owns is set to 0700 if others could get in, and the change is logged. One
//! that someone else owns and others can get into (or group members write)
//! is refused: signetd cannot fix it, and must not write secrets there.
//!
//! Files in it are 0600 however they are made: signetd writes its own with
//! that mode, the store creates the database so, and `main` sets a umask of
//! 077 for anything else (SQLite's `-wal` and `-shm` among them).

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};
use nix::unistd::{Uid, User};

/// Makes `dir` if need be, and makes sure only signetd's user can use it.
pub fn ensure(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating data dir {}", dir.display()));
    }
    let meta = std::fs::metadata(dir).with_context(|| format!("reading data dir {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("data dir {} is not a directory", dir.display());
    }
    let mode = meta.mode() & 0o7777;
    let me = Uid::effective();
    if meta.uid() == me.as_raw() {
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making data dir {} private (chmod 700)", dir.display()))?;
            tracing::warn!(
                path = %dir.display(),
                "the data dir was mode {mode:04o}, open to other users; set it to 0700"
            );
        }
        return Ok(());
    }
    let who = if mode & 0o007 != 0 {
        "every user on this host"
    } else if mode & 0o020 != 0 {
        "its group"
    } else {
        return Ok(());
    };
    let owner = user_name(meta.uid());
    let user = User::from_uid(me).ok().flatten().map_or_else(|| me.to_string(), |u| u.name);
    bail!(
        "data dir {path} is owned by {owner} and has mode {mode:04o}, so {who} can reach the store, credentials and \
         keys signetd keeps there, and signetd, running as {me_name}, cannot make it private\n\
         hint: chown {user} {path} && chmod 700 {path}, or give a --data-dir that {me_name} owns",
        path = dir.display(),
        me_name = user_name(me.as_raw()),
    )
}

/// A secret file signetd reads (the key-encryption key, `bootstrap.json`):
/// made 0600 when signetd's user owns it and others could read it (logged);
/// refused when someone else owns it and others than its owner can read it.
/// The key-encryption key opens everything sealed and keys the audit chain.
pub fn ensure_private_file(path: &Path, what: &str) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {what} {}", path.display()))?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let me = Uid::effective();
    if meta.uid() == me.as_raw() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {what} {} private (chmod 600)", path.display()))?;
        tracing::warn!(path = %path.display(), "the {what} was mode {mode:04o}, readable by others; set it to 0600");
        return Ok(());
    }
    bail!(
        "{what} {path} is owned by {owner} and has mode {mode:04o}, so others than its owner can read it\n\
         hint: chown {me_name} {path} && chmod 600 {path}",
        path = path.display(),
        owner = user_name(meta.uid()),
        me_name = User::from_uid(me).ok().flatten().map_or_else(|| me.to_string(), |u| u.name),
    )
}

/// `name (uid N)`, or `uid N` for a user with no name.
fn user_name(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(u)) => format!("{} (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("signet-data-dir-{}", signet_core::crypto::random_id().unwrap()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn new_dirs_are_private_and_own_dirs_are_made_so() {
        let base = temp();
        let new = base.join("a/b");
        ensure(&new).unwrap();
        assert_eq!(mode(&new), 0o700);
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o751)).unwrap();
        ensure(&base).unwrap();
        assert_eq!(mode(&base), 0o700);
        std::fs::write(base.join("file"), "x").unwrap();
        assert!(ensure(&base.join("file")).is_err(), "a file is no data dir");
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// Found by the review of issue 15's fixes: a 0644 key-encryption key file was used as it was.
    #[test]
    fn a_key_file_others_can_read_is_made_private_or_refused() {
        use std::os::unix::fs::chown;
        let base = temp();
        let key = base.join("key");
        std::fs::write(&key, "k").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        ensure_private_file(&key, "key-encryption key").unwrap();
        assert_eq!(mode(&key), 0o600, "its owner's file is made private");
        // Someone else's (tests run as root, which may give a file away).
        if Uid::effective().is_root() {
            chown(&key, Some(65534), None).unwrap();
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
            let e = ensure_private_file(&key, "key-encryption key").unwrap_err().to_string();
            assert!(e.contains("mode 0640") && e.contains("hint: chown"), "{e}");
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            ensure_private_file(&key, "key-encryption key").unwrap();
        }
        std::fs::remove_dir_all(&base).unwrap();
    }
}
