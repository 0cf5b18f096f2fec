//! A profile's session on disk, as `signet session authenticate` leaves it:
//! `$XDG_STATE_HOME/signet/sessions/<profile>/` (directory 0700) holding
//! `session.json` and, unless the session is bound to a key of the person's
//! own, `key-<thumbprint>.pem` (files 0600). The key's file is named by its
//! thumbprint so that a new session is written beside the old one and takes
//! over in one rename of `session.json`: a reader never sees a session
//! naming a key that is not there.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::key::{ProofKey, now};
use crate::{Error, Signer};

pub const SESSION_FILE: &str = "session.json";

/// The name of the file holding the private key of thumbprint `jkt`.
pub fn key_file(jkt: &str) -> Result<String, Error> {
    // A thumbprint is base64url: nothing in it can leave the directory.
    if jkt.is_empty() || !jkt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(Error::Key("the session's key thumbprint is malformed"));
    }
    Ok(format!("key-{jkt}.pem"))
}

/// What `session.json` holds. Its `Debug` leaves the tokens out.
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionFile {
    /// The service of the profile the session signs on to.
    pub service: String,
    pub issuer: String,
    pub client_id: String,
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires (Unix seconds).
    pub expires_at: i64,
    /// The key's RFC 7638 thumbprint, which the tokens carry as `cnf.jkt`.
    pub jkt: String,
    /// Where the private key is when it is the person's own (from
    /// `--public-key-file-path`); otherwise `key-<jkt>.pem` beside this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<PathBuf>,
    /// Minted by token exchange (`--no-browser`) rather than a browser sign-on.
    #[serde(default)]
    pub minted: bool,
    /// Who the session speaks for, as the token names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl std::fmt::Debug for SessionFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionFile")
            .field("service", &self.service)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .field("jkt", &self.jkt)
            .field("minted", &self.minted)
            .finish_non_exhaustive()
    }
}

/// `$XDG_STATE_HOME/signet`, or `~/.local/state/signet`: signet's own
/// directory for what it keeps between commands.
pub fn state_dir() -> Result<PathBuf, Error> {
    let state = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(s) => PathBuf::from(s),
        None => {
            let home = std::env::var_os("HOME").filter(|v| !v.is_empty()).ok_or(Error::NoHome)?;
            PathBuf::from(home).join(".local/state")
        }
    };
    Ok(state.join("signet"))
}

/// `$XDG_STATE_HOME/signet/sessions`, or `~/.local/state/signet/sessions`.
pub fn sessions_dir() -> Result<PathBuf, Error> {
    Ok(state_dir()?.join("sessions"))
}

/// The session directory of `profile`. A profile name is one path segment.
pub fn dir_for(profile: &str) -> Result<PathBuf, Error> {
    let plain = !profile.is_empty()
        && profile != "."
        && profile != ".."
        && profile.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        return Err(Error::ProfileName(profile.to_owned()));
    }
    Ok(sessions_dir()?.join(profile))
}

/// A loaded session: its tokens and its key.
#[derive(Debug)]
pub struct Session {
    pub dir: PathBuf,
    pub file: SessionFile,
    key: Arc<ProofKey>,
}

impl Session {
    /// The session of `profile`, from its directory.
    pub fn load(profile: &str) -> Result<Session, Error> {
        let dir = dir_for(profile)?;
        for d in [state_dir()?, sessions_dir()?, dir.clone()] {
            if d.symlink_metadata().is_ok() {
                check_private_dir(&d)?;
            }
        }
        if !dir.join(SESSION_FILE).exists() {
            return Err(Error::NoSession(profile.to_owned()));
        }
        Session::load_from(&dir)
    }

    /// The session kept in `dir`.
    pub fn load_from(dir: &Path) -> Result<Session, Error> {
        let path = dir.join(SESSION_FILE);
        let text = read_private(&path)?;
        let file: SessionFile = serde_json::from_str(&text).map_err(|_| Error::Malformed(path.clone()))?;
        let key_path = match &file.private_key_file {
            Some(p) => p.clone(),
            None => dir.join(key_file(&file.jkt)?),
        };
        let key = ProofKey::from_pem(&read_private(&key_path)?, None)?;
        if key.thumbprint() != file.jkt {
            return Err(Error::WrongKey(key_path));
        }
        Ok(Session { dir: dir.to_owned(), file, key: Arc::new(key) })
    }

    pub fn new(dir: PathBuf, file: SessionFile, key: Arc<ProofKey>) -> Session {
        Session { dir, file, key }
    }

    pub fn key(&self) -> &Arc<ProofKey> {
        &self.key
    }

    /// Whether the access token has expired by this machine's clock.
    pub fn expired(&self) -> bool {
        self.file.expires_at <= now()
    }

    /// A signer for requests with this session's token, unless it has expired.
    pub fn signer(&self) -> Result<Signer, Error> {
        if self.expired() {
            return Err(Error::Expired(self.file.expires_at));
        }
        Ok(Signer::new(&self.file.access_token, Arc::clone(&self.key)))
    }

    /// Writes the key's file (unless it is the person's own), then
    /// `session.json`, each atomically with mode 0600 in a 0700 directory,
    /// then removes the keys of sessions this one replaced.
    pub fn save(&self) -> Result<(), Error> {
        create_private_dir(&self.dir)?;
        let mine = match self.file.private_key_file {
            None => {
                let name = key_file(&self.file.jkt)?;
                write_private(&self.dir.join(&name), self.key.to_pem()?.as_bytes())?;
                Some(name)
            }
            Some(_) => None,
        };
        let json = zeroize::Zeroizing::new(serde_json::to_vec_pretty(&self.file).map_err(|_| Error::Encode)?);
        write_private(&self.dir.join(SESSION_FILE), &json)?;
        self.remove_keys_but(mine.as_deref())
    }

    /// Removes the keys signet made here for other sessions, never `keep`
    /// nor a key of the person's own, wherever it is.
    fn remove_keys_but(&self, keep: Option<&str>) -> Result<(), Error> {
        let io = |source| Error::Io { path: self.dir.clone(), source };
        let own = self.file.private_key_file.as_ref().and_then(|p| std::fs::canonicalize(p).ok());
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let theirs = own.is_some() && std::fs::canonicalize(&path).ok() == own;
            if made_here(&name) && Some(name.as_str()) != keep && !theirs {
                std::fs::remove_file(&path).map_err(io)?;
            }
        }
        Ok(())
    }

    /// Removes what signet keeps here for the session, and the directory if
    /// that leaves it empty; a key of the person's own stays where it is.
    pub fn remove(&self) -> Result<(), Error> {
        let io = |source| Error::Io { path: self.dir.clone(), source };
        self.remove_keys_but(None)?;
        match std::fs::remove_file(self.dir.join(SESSION_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        // Whatever else is here is not signet's to remove.
        let _ = std::fs::remove_dir(&self.dir);
        Ok(())
    }
}

/// Whether `name` is a key file signet writes: `key-<thumbprint>.pem`.
fn made_here(name: &str) -> bool {
    let Some(jkt) = name.strip_prefix("key-").and_then(|n| n.strip_suffix(".pem")) else { return false };
    // A SHA-256 thumbprint is 43 base64url characters.
    jkt.len() == 43 && jkt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The effective user id of this process: whose files signet may trust.
fn me() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Reads a file holding secrets, refusing one that others may read or
/// that is not the user's own (see [`check_private_file`]).
pub fn read_private(path: &Path) -> Result<String, Error> {
    check_private_file(path)?;
    std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })
}

/// Refuses a file holding secrets (tokens, keys, a configuration with
/// client secrets) that belongs to another user or that others may read
/// or write, as OpenSSH refuses such a private key: what it holds may have
/// been read, or put there by someone else. A link is followed, and what
/// it points to is checked.
pub fn check_private_file(path: &Path) -> Result<(), Error> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    if meta.uid() != me() {
        return Err(Error::NotYours { path: path.to_owned(), owner: meta.uid() });
    }
    if meta.mode() & 0o077 != 0 {
        return Err(Error::Exposed { path: path.to_owned(), mode: meta.mode() & 0o777 });
    }
    Ok(())
}

/// Refuses a directory of signet's own that is a symbolic link, belongs to
/// another user, or that others may write to: through it, someone else
/// could read tokens or put files of their choosing where signet reads.
pub fn check_private_dir(dir: &Path) -> Result<(), Error> {
    let meta = std::fs::symlink_metadata(dir).map_err(|source| Error::Io { path: dir.to_owned(), source })?;
    if meta.file_type().is_symlink() {
        return Err(Error::Linked(dir.to_owned()));
    }
    if !meta.is_dir() {
        return Err(Error::NotADirectory(dir.to_owned()));
    }
    if meta.uid() != me() {
        return Err(Error::NotYours { path: dir.to_owned(), owner: meta.uid() });
    }
    if meta.mode() & 0o022 != 0 {
        return Err(Error::OpenDirectory { path: dir.to_owned(), mode: meta.mode() & 0o777 });
    }
    Ok(())
}

/// A directory only its owner can enter: made (with any missing parents)
/// mode 0700, or, if it is there already, checked ([`check_private_dir`]).
pub fn create_private_dir(dir: &Path) -> Result<(), Error> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| Error::Io { path: dir.to_owned(), source })?;
    check_private_dir(dir)
}

/// Writes a file only its owner can read: a temporary file beside it,
/// fsync, rename, so a reader sees the old file or the new one, whole.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_private_as(path, bytes, Replace::Yes)
}

/// [`write_private`] for a file that must not exist yet: one made meanwhile
/// by someone else is never replaced.
pub fn write_private_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_private_as(path, bytes, Replace::No)
}

#[derive(PartialEq)]
enum Replace {
    Yes,
    No,
}

fn write_private_as(path: &Path, bytes: &[u8], replace: Replace) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let io = |source| Error::Io { path: path.to_owned(), source };
    // A stale one from a crashed run with this pid; `create_new` then never follows a link.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    drop(f);
    // A hard link fails where the name exists; rename replaces it.
    let placed = written.and_then(|()| match replace {
        Replace::Yes => std::fs::rename(&tmp, path),
        Replace::No => std::fs::hard_link(&tmp, path),
    });
    let _ = std::fs::remove_file(&tmp);
    match placed {
        Ok(()) => {}
        // Filesystems without links (FAT on a USB stick): create it exclusively.
        Err(e) if replace == Replace::No && e.kind() != std::io::ErrorKind::AlreadyExists => {
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
            if let Err(e) = f.write_all(bytes).and_then(|()| f.sync_all()) {
                let _ = std::fs::remove_file(path);
                return Err(io(e));
            }
        }
        Err(e) => return Err(io(e)),
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn temp_dir() -> PathBuf {
        let mut bytes = [0u8; 8];
        aws_lc_rs::rand::fill(&mut bytes).unwrap();
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        std::env::temp_dir().join(format!("signet-client-{name}"))
    }

    fn session(dir: &Path, key: &Arc<ProofKey>, private_key_file: Option<PathBuf>) -> Session {
        let file = SessionFile {
            service: "s".into(),
            issuer: "https://as.example".into(),
            client_id: "c".into(),
            access_token: "at".into(),
            refresh_token: None,
            expires_at: 0,
            jkt: key.thumbprint().to_owned(),
            private_key_file,
            minted: false,
            subject: None,
        };
        Session::new(dir.to_owned(), file, Arc::clone(key))
    }

    #[test]
    fn a_new_session_takes_over_whole_and_leaves_a_persons_own_key_alone() {
        let dir = temp_dir();
        let first = Arc::new(ProofKey::generate().unwrap());
        session(&dir, &first, None).save().unwrap();
        let first_file = dir.join(key_file(first.thumbprint()).unwrap());
        assert!(first_file.exists());
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);

        // A person's own key, kept (oddly) in the session's directory, with a public key beside it.
        let own = Arc::new(ProofKey::generate().unwrap());
        let own_file = dir.join("key.pem");
        write_private(&own_file, own.to_pem().unwrap().as_bytes()).unwrap();
        std::fs::write(dir.join("key_public.pem"), own.public_pem().unwrap()).unwrap();
        let second = session(&dir, &own, Some(own_file.clone()));
        second.save().unwrap();
        assert!(!first_file.exists(), "the replaced session's key is removed");
        assert!(own_file.exists() && dir.join("key_public.pem").exists(), "the person's files stay");
        assert_eq!(Session::load_from(&dir).unwrap().key().thumbprint(), own.thumbprint());

        second.remove().unwrap();
        assert!(!dir.join(SESSION_FILE).exists());
        assert!(own_file.exists(), "terminate never removes a person's own key");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_thumbprint_names_a_file_in_the_directory_and_nothing_else() {
        assert!(key_file("../../etc/passwd").is_err());
        assert!(key_file("").is_err());
        assert!(made_here(&key_file(&"A".repeat(43)).unwrap()));
        assert!(!made_here("key.pem") && !made_here("key-short.pem"));
    }
}
