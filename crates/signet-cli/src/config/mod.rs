//! The configuration file: TOML at `$XDG_CONFIG_HOME/signet/config.toml` (or
//! `--config` / `SIGNET_CONFIG`), holding named profiles of settings.
//!
//! Every change holds an exclusive lock on `config.toml.lock`, reads the file
//! afresh, applies the change, and replaces the file atomically (temporary
//! file, fsync, rename), so concurrent `config set` commands all land. A file
//! that does not parse is reported with its line and never written over.

pub mod keys;
pub mod settings;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use toml::{Table, Value};

use keys::Key;

pub const ACTIVE_PROFILE: &str = "activeProfile";
pub const PROFILES: &str = "profiles";
pub const DEFAULT_PROFILE: &str = "default";

/// Where the file is: `--config`, else `SIGNET_CONFIG`, else the XDG location.
pub fn path(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_owned());
    }
    if let Some(p) = std::env::var_os(crate::env::CONFIG).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => home()?.join(".config"),
    };
    Ok(base.join("signet").join("config.toml"))
}

pub fn home() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).ok_or_else(|| anyhow!("HOME is not set"))
}

pub fn valid_profile_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    doc: Table,
}

/// The document holds secrets (client secrets): only the path and profile names are shown.
impl std::fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigFile")
            .field("path", &self.path)
            .field("profiles", &self.profiles())
            .finish_non_exhaustive()
    }
}

impl ConfigFile {
    /// Reads the file; a missing file is an empty configuration with one profile.
    pub fn load(path: &Path) -> anyhow::Result<ConfigFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let doc: Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
            anyhow!("{} is not valid TOML{at}: {}", path.display(), e.message())
        })?;
        let mut file = ConfigFile { path: path.to_owned(), doc };
        if file.profile_table(DEFAULT_PROFILE).is_none() && file.profiles().is_empty() {
            file.add_profile(DEFAULT_PROFILE, None)?;
            file.doc.insert(ACTIVE_PROFILE.into(), Value::String(DEFAULT_PROFILE.into()));
        }
        Ok(file)
    }

    /// Applies `change` to the current file under the lock and writes it back.
    pub fn update<T>(path: &Path, change: impl FnOnce(&mut ConfigFile) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let dir = path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let lock = lock_file(&path.with_extension("toml.lock"))?;
        let mut file = ConfigFile::load(path)?;
        let out = change(&mut file)?;
        file.save()?;
        drop(lock);
        Ok(out)
    }

    fn save(&self) -> anyhow::Result<()> {
        let text = toml::to_string_pretty(&self.doc).context("serialising the configuration")?;
        write_atomic(&self.path, text.as_bytes())
    }

    pub fn active_profile(&self) -> &str {
        self.doc.get(ACTIVE_PROFILE).and_then(Value::as_str).unwrap_or(DEFAULT_PROFILE)
    }

    fn profiles_table(&self) -> Option<&Table> {
        self.doc.get(PROFILES).and_then(Value::as_table)
    }

    pub fn profiles(&self) -> Vec<String> {
        self.profiles_table().map(|t| t.keys().cloned().collect()).unwrap_or_default()
    }

    pub fn profile_table(&self, name: &str) -> Option<&Table> {
        self.profiles_table()?.get(name)?.as_table()
    }

    pub fn description(&self, profile: &str) -> Option<&str> {
        self.profile_table(profile)?.get("description")?.as_str()
    }

    pub fn require_profile(&self, name: &str) -> anyhow::Result<&Table> {
        self.profile_table(name).ok_or_else(|| {
            anyhow!(
                "there is no profile {name:?} in {}\nhint: `signet config list-profiles` shows them; `signet config add-profile {name}` creates it",
                self.path.display()
            )
        })
    }

    /// The stored value of a key in a profile.
    pub fn get(&self, profile: &str, key: &Key) -> Option<String> {
        let mut t = self.profile_table(profile)?;
        let segs: Vec<&str> = key.canonical.split('.').collect();
        let (last, path) = segs.split_last()?;
        for seg in path {
            t = t.get(*seg)?.as_table()?;
        }
        match t.get(*last)? {
            Value::String(s) => Some(s.clone()),
            Value::Integer(i) => Some(i.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")),
            _ => None,
        }
    }

    pub fn set(&mut self, profile: &str, key: &Key, value: String) -> anyhow::Result<()> {
        let profiles =
            self.doc.get_mut(PROFILES).and_then(Value::as_table_mut).ok_or_else(|| anyhow!("no profiles"))?;
        let mut t =
            profiles.get_mut(profile).and_then(Value::as_table_mut).ok_or_else(|| anyhow!("no profile {profile:?}"))?;
        let segs: Vec<&str> = key.canonical.split('.').collect();
        let Some((last, path)) = segs.split_last() else { bail!("empty key") };
        for seg in path {
            let entry = t.entry(seg.to_string()).or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            t = entry.as_table_mut().ok_or_else(|| anyhow!("{seg} is not a table"))?;
        }
        t.insert(last.to_string(), Value::String(value));
        Ok(())
    }

    /// Removes a key, and any tables it leaves empty. False if it was not set.
    pub fn unset(&mut self, profile: &str, key: &Key) -> bool {
        fn remove(t: &mut Table, segs: &[&str]) -> bool {
            match segs {
                [] => false,
                [last] => t.remove(*last).is_some(),
                [first, rest @ ..] => {
                    let Some(child) = t.get_mut(*first).and_then(Value::as_table_mut) else { return false };
                    let removed = remove(child, rest);
                    if child.is_empty() {
                        t.remove(*first);
                    }
                    removed
                }
            }
        }
        let segs: Vec<&str> = key.canonical.split('.').collect();
        match self
            .doc
            .get_mut(PROFILES)
            .and_then(Value::as_table_mut)
            .and_then(|p| p.get_mut(profile))
            .and_then(Value::as_table_mut)
        {
            Some(t) => remove(t, &segs),
            None => false,
        }
    }

    pub fn add_profile(&mut self, name: &str, description: Option<&str>) -> anyhow::Result<()> {
        if !valid_profile_name(name) {
            bail!("{name:?} is not a valid profile name\nhint: use letters, digits, - and _");
        }
        let profiles = self.doc.entry(PROFILES).or_insert_with(|| Value::Table(Table::new()));
        let profiles =
            profiles.as_table_mut().ok_or_else(|| anyhow!("`profiles` in {} is not a table", self.path.display()))?;
        if profiles.keys().any(|k| k.eq_ignore_ascii_case(name)) {
            bail!("a profile named {name:?} already exists");
        }
        let mut t = Table::new();
        if let Some(d) = description {
            t.insert("description".into(), Value::String(d.to_owned()));
        }
        profiles.insert(name.to_owned(), Value::Table(t));
        Ok(())
    }

    pub fn delete_profile(&mut self, name: &str) -> anyhow::Result<()> {
        self.require_profile(name)?;
        if self.active_profile() == name {
            bail!("{name:?} is the active profile\nhint: `signet config set-active-profile OTHER` first");
        }
        if let Some(p) = self.doc.get_mut(PROFILES).and_then(Value::as_table_mut) {
            p.remove(name);
        }
        Ok(())
    }

    pub fn set_active(&mut self, name: &str) -> anyhow::Result<()> {
        self.require_profile(name)?;
        self.doc.insert(ACTIVE_PROFILE.into(), Value::String(name.to_owned()));
        Ok(())
    }
}

/// A directory only its owner can enter.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.as_os_str().is_empty() && !dir.exists() {
        signet_client::create_private_dir(dir)?;
    }
    Ok(())
}

/// Writes a file readable only by its owner, in a directory only its owner
/// can enter: temporary file, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    create_private_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok(signet_client::write_private(path, bytes)?)
}

/// An exclusive lock held while the file returned is open: `path` (mode
/// 0600) is made if need be, and waited on while another process holds it.
pub fn lock_file(path: &Path) -> anyhow::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.lock().with_context(|| format!("locking {}", path.display()))?;
    Ok(f)
}
