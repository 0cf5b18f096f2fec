//! The configuration file: TOML at `$XDG_CONFIG_HOME/signet/config.toml` (or
//! `--config` / `SIGNET_CONFIG`), holding named profiles of settings.
//!
//! Every change holds an exclusive lock on `config.toml.lock`, reads the file
//! afresh, applies the change, and replaces the file atomically (temporary
//! file, fsync, rename), so concurrent `config set` commands all land. A file
//! that does not parse is reported with its line and never written over.
//!
//! The file may hold client secrets and says where tokens go, so it is used
//! only if it is the user's own and others can neither read nor write it
//! (0600), as session files are; at the default location, `signet/` must be
//! a real directory of the user's that others cannot write to. Lock files
//! are never opened through a symbolic link.

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
    default_path()
}

/// `$XDG_CONFIG_HOME/signet/config.toml`, or `~/.config/signet/config.toml`.
fn default_path() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => home()?.join(".config"),
    };
    Ok(base.join("signet").join("config.toml"))
}

/// signet's own directory, when `path` is the file at the default location.
fn own_dir(path: &Path) -> Option<&Path> {
    default_path().ok().filter(|d| d == path).and(path.parent())
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
        if let Some(dir) = own_dir(path)
            && dir.symlink_metadata().is_ok()
        {
            signet_client::check_private_dir(dir).map_err(refused)?;
        }
        let text = match std::fs::metadata(path) {
            Ok(_) => signet_client::read_private(path).map_err(refused)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        ConfigFile::parse(path, &text)
    }

    /// The configuration in `text`, as read from `path`.
    fn parse(path: &Path, text: &str) -> anyhow::Result<ConfigFile> {
        let doc: Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map(|s| text.bytes().take(s.start).filter(|b| *b == b'\n').count() + 1);
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
        match own_dir(path) {
            Some(own) => signet_client::create_private_dir(own).map_err(refused)?,
            None => create_private_dir(dir)?,
        }
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

/// The configuration file refused as it is: the message and its hint.
fn refused(e: signet_client::Error) -> anyhow::Error {
    anyhow!("the configuration is not used: {e}")
}

/// An exclusive lock held while the file returned is open: `path` (mode
/// 0600) is made if need be, and waited on while another process holds it.
/// A symbolic link there is never followed (`O_NOFOLLOW`): one planted in
/// its place would have the lock create or open the file it points to.
pub fn lock_file(path: &Path) -> anyhow::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(nix::libc::ELOOP) => anyhow!(
                "{} is a symbolic link, and signet opens its lock files only as files of its own\nhint: remove the link: rm {}",
                path.display(),
                path.display()
            ),
            _ => anyhow::Error::new(e).context(format!("opening {}", path.display())),
        })?;
    f.lock().with_context(|| format!("locking {}", path.display()))?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    //! Fuzzing the parser of the configuration file: any text, and text
    //! shaped like signet's own files, gives a configuration or an error,
    //! never a panic, and everything read from it afterwards (every key of
    //! every profile, the services, their sign-on) does too. `PROPTEST_CASES`
    //! runs it longer than CI's budget.
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::*;
    use crate::config::settings::Settings;

    fn cases(default: u32) -> u32 {
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default)
    }

    const HEADERS: &[&str] = &[
        "[profiles]",
        "[profiles.default]",
        "[profiles.ops]",
        "[profiles.\"bad name\"]",
        "[[profiles]]",
        "[profiles.default.auth.storage]",
        "[profiles.default.service]",
        "[profiles.default.service.pingone]",
        "[profiles.default.service.pingone.endpoint]",
        "[profiles.default.service.pingone.authentication]",
        "[profiles.default.service.pingone.authentication.worker]",
        "[profiles.default.service.okta]",
        "[profiles.default.service.okta.authentication.authorizationCode]",
        "[profiles.ops.service.pingfederate]",
        "[profiles.ops.service.pingfederate.authentication.basicAuth]",
        "[profiles.default.service.\"Bad Name\"]",
    ];
    const KEYS_SEEN: &[&str] = &[
        "activeProfile",
        "profiles",
        "description",
        "service",
        "type",
        "issuer",
        "baseURL",
        "environmentID",
        "regionCode",
        "clientID",
        "clientSecret",
        "scopes",
        "redirectURIPort",
        "redirectURIPath",
        "loginTimeoutSeconds",
        "httpsHost",
        "adminAPIPath",
        "caCertificatePemFiles",
        "authentication.type",
        "authentication.oauth.service",
        "\"quoted key\"",
        "é",
    ];
    const VALUES: &[&str] = &[
        "\"default\"",
        "\"ops\"",
        "\"\"",
        "\"worker\"",
        "\"authorization_code\"",
        "\"device_code\"",
        "\"oauth\"",
        "\"basicAuth\"",
        "\"http://127.0.0.1:9\"",
        "\"https://\"",
        "\"6f1c1f4e-3b8a-4f53-9a43-0d6a5b7f2e11\"",
        "\"EU\"",
        "\"/callback\"",
        "\"../..\"",
        "\"\\u001b]0;x\\u0007\"",
        "\"70000\"",
        "0",
        "-1",
        "9223372036854775807",
        "true",
        "1.5",
        "nan",
        "[]",
        "[1, \"a\", [true]]",
        "{}",
        "{ a = 1, b = { c = \"d\" } }",
        "1979-05-27T07:32:00Z",
        "\"\"\"multi\nline\"\"\"",
    ];

    fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
        prop::sample::select(options).prop_map(str::to_owned)
    }

    /// Text shaped like a configuration file: tables, dotted keys and
    /// values of every TOML kind, and now and then a line of anything.
    fn shaped() -> impl Strategy<Value = String> {
        let assignment = (pick(KEYS_SEEN), pick(VALUES)).prop_map(|(k, v)| format!("{k} = {v}"));
        let line = prop_oneof![4 => assignment, 2 => pick(HEADERS), 1 => any::<String>()];
        prop::collection::vec(line, 0..24).prop_map(|lines| lines.join("\n"))
    }

    const PATHS: &[&str] = &[
        "auth.storage.type",
        "auth.loginTimeoutSeconds",
        "description",
        "service",
        "service.pingone.endpoint.baseURL",
        "service.pingone.endpoint.environmentID",
        "service.pingone.regionCode",
        "service.pingone.authentication.type",
        "service.pingone.authentication.deviceCode.clientID",
        "service.pingone.authentication.authorizationCode.clientID",
        "service.okta",
        "service.okta.issuer",
        "service.okta.authentication.type",
        "service.okta.authentication.authorizationCode.clientID",
        "service.okta.authentication.authorizationCode.redirectURIPath",
        "service.okta.authentication.authorizationCode.redirectURIPort",
        "service.okta.authentication.worker.clientSecret",
        "service.okta.caCertificatePemFiles",
        "service.pingfederate.httpsHost",
        "service.pingfederate.authentication.type",
        "service.pingfederate.authentication.oauth.service",
        "service.pingfederate.authentication.basicAuth.username",
        "service.Bad Name.issuer",
    ];
    const STRINGS: &[&str] = &[
        "authorization_code",
        "device_code",
        "worker",
        "oauth",
        "basicAuth",
        "clientCertificate",
        "file",
        "okta",
        "pingone",
        "cli",
        "https://okta.example.test",
        "http://127.0.0.1:9",
        "6f1c1f4e-3b8a-4f53-9a43-0d6a5b7f2e11",
        "/callback",
        "/callback/okta",
        "EU",
        "300",
        "0",
        "",
        "\u{1b}[2J",
    ];

    /// A valid TOML document shaped as signet writes one, with generated
    /// profiles, settings and values of every kind.
    fn structured() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            6 => prop::sample::select(STRINGS).prop_map(|s| Value::String(s.to_owned())),
            1 => any::<i64>().prop_map(Value::Integer),
            1 => any::<bool>().prop_map(Value::Boolean),
            1 => Just(Value::Array(vec![Value::String("a".into()), Value::Integer(1)])),
            1 => Just(Value::Table(Table::new())),
        ];
        fn insert(t: &mut Table, segs: &[&str], v: Value) {
            match segs {
                [] => {}
                [last] => {
                    t.insert(last.to_string(), v);
                }
                [first, rest @ ..] => {
                    let entry = t.entry(first.to_string()).or_insert_with(|| Value::Table(Table::new()));
                    if !entry.is_table() {
                        *entry = Value::Table(Table::new());
                    }
                    if let Some(child) = entry.as_table_mut() {
                        insert(child, rest, v);
                    }
                }
            }
        }
        let profile = prop::collection::vec((prop::sample::select(PATHS), value), 0..12).prop_map(|settings| {
            let mut t = Table::new();
            for (path, v) in settings {
                insert(&mut t, &path.split('.').collect::<Vec<_>>(), v);
            }
            Value::Table(t)
        });
        let name = prop::sample::select(&["default", "ops", "bad name", "", "Default"][..]);
        let profiles = prop::collection::btree_map(name.clone(), profile, 0..3);
        (profiles, prop::option::of(name)).prop_map(|(profiles, active)| {
            let mut doc = Table::new();
            if let Some(a) = active {
                doc.insert(ACTIVE_PROFILE.into(), Value::String(a.into()));
            }
            doc.insert(PROFILES.into(), Value::Table(profiles.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
            toml::to_string(&doc).unwrap_or_default()
        })
    }

    /// Parses `text` and reads everything signet reads from a configuration.
    fn exercise(text: &str) {
        let Ok(file) = ConfigFile::parse(Path::new("config.toml"), text) else { return };
        let _ = format!("{file:?}");
        let _ = file.active_profile();
        for profile in file.profiles() {
            let _ = file.description(&profile);
            let settings = Settings { file: file.clone(), profile: profile.clone(), security_token: false };
            let names = settings.services();
            for def in keys::KEYS {
                for name in names.iter().map(String::as_str).chain(["pingone", "pingfederate"]) {
                    let typed = def.key.replace("<name>", name);
                    if let Ok(key) = keys::resolve(&typed) {
                        let _ = file.get(&profile, &key);
                        let _ = settings.checked(&typed);
                    }
                }
            }
            for name in &names {
                if let Ok(service) = crate::services::Service::resolve(&settings, name) {
                    let _ = service.check_own_redirect_path(&settings);
                }
            }
            let _ = crate::services::AdminApi::resolve(&settings);
            let _ = settings.configures("pingone");
        }
    }

    fn fuzz(strategy: impl Strategy<Value = String>, n: u32) {
        let mut runner = TestRunner::new(Config { cases: cases(n), failure_persistence: None, ..Config::default() });
        let outcome = runner.run(&strategy, |text| {
            exercise(&text);
            Ok(())
        });
        eprintln!("fuzz-cases cli_config {}", cases(n));
        if let Err(failure) = outcome {
            panic!("{failure}");
        }
    }

    #[test]
    fn fuzz_config_file_any_text_is_a_configuration_or_an_error() {
        fuzz(any::<String>(), 256);
        fuzz(prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| String::from_utf8_lossy(&b).into_owned()), 256);
    }

    #[test]
    fn fuzz_config_file_shaped_text_is_a_configuration_or_an_error() {
        fuzz(shaped(), 512);
        fuzz(structured(), 512);
    }

    #[test]
    fn a_parse_error_names_its_line() {
        let e = ConfigFile::parse(Path::new("c.toml"), "a = 1\nb = \"é\"\nc = = 1\n").unwrap_err().to_string();
        assert!(e.contains("at line 3"), "{e}");
    }
}
