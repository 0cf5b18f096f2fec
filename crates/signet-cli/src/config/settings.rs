//! Resolved settings for one command: the chosen profile, then each key's
//! value by precedence flag > environment > profile > default.

use std::path::PathBuf;

use super::ConfigFile;
use super::keys::{self, Key};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Environment(String),
    Profile(String),
    Default,
}

impl Source {
    pub fn label(&self) -> String {
        match self {
            Source::Environment(var) => format!("environment ({var})"),
            Source::Profile(p) => format!("profile {p}"),
            Source::Default => "default".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Resolved {
    pub value: String,
    pub source: Source,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub file: ConfigFile,
    pub profile: String,
    /// `--auth security_token`: the admin API is called with the profile's session.
    pub security_token: bool,
}

impl Settings {
    /// Loads the file and picks the profile: `-P`, else `SIGNET_PROFILE`, else the active one.
    pub fn load(config: Option<&std::path::Path>, profile_flag: Option<&str>) -> anyhow::Result<Settings> {
        let path: PathBuf = super::path(config)?;
        let file = ConfigFile::load(&path)?;
        let profile = match profile_flag {
            Some(p) => p.to_owned(),
            None => match std::env::var(crate::env::PROFILE) {
                Ok(p) if !p.is_empty() => p,
                _ => file.active_profile().to_owned(),
            },
        };
        file.require_profile(&profile)?;
        Ok(Settings { file, profile, security_token: false })
    }

    pub fn resolve(&self, key: &Key) -> Option<Resolved> {
        let var = key.env_var();
        if let Ok(v) = std::env::var(&var)
            && !v.is_empty()
        {
            return Some(Resolved { value: v, source: Source::Environment(var) });
        }
        if let Some(v) = self.file.get(&self.profile, key) {
            return Some(Resolved { value: v, source: Source::Profile(self.profile.clone()) });
        }
        key.default_value().map(|value| Resolved { value, source: Source::Default })
    }

    /// The value of a key given in canonical form; for code, not for user input.
    pub fn value(&self, canonical: &str) -> Option<String> {
        keys::resolve(canonical).ok().and_then(|k| self.resolve(&k)).map(|r| r.value)
    }

    /// Like `value`, but checked: an invalid value in the environment or the
    /// file is an error naming where it came from.
    pub fn checked(&self, canonical: &str) -> anyhow::Result<Option<String>> {
        let key = keys::resolve(canonical)?;
        match self.resolve(&key) {
            None => Ok(None),
            Some(r) => keys::validate(&key, &r.value)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("{e} (from the {})", r.source.label())),
        }
    }

    /// Whether any `service.<name>.*` key is set, in the file or the environment.
    pub fn configures(&self, name: &str) -> bool {
        let in_file = self
            .file
            .profile_table(&self.profile)
            .and_then(|t| t.get("service"))
            .and_then(|s| s.get(name))
            .and_then(|t| t.as_table())
            .is_some_and(|t| !t.is_empty());
        let prefix = keys::env_var(&format!("service.{name}"));
        in_file || std::env::vars().any(|(k, _)| k.starts_with(&format!("{prefix}_")))
    }

    /// The connectors this profile configures: `pingone` when any of its keys
    /// is set (in the file or the environment), and every `service.<name>` with an issuer.
    pub fn services(&self) -> Vec<String> {
        let mut names = Vec::new();
        let table = self.file.profile_table(&self.profile).and_then(|t| t.get("service")).and_then(|s| s.as_table());
        for (name, t) in table.into_iter().flatten() {
            let Some(t) = t.as_table() else { continue };
            if name == keys::ADMIN_SERVICE {
                continue;
            }
            if (name == "pingone" && !t.is_empty()) || t.contains_key("issuer") {
                names.push(name.clone());
            }
        }
        if !names.iter().any(|n| n == "pingone")
            && std::env::vars().any(|(k, _)| k.starts_with("SIGNET_SERVICE_PINGONE_"))
        {
            names.insert(0, "pingone".into());
        }
        names
    }
}
