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
        Ok(Settings { file, profile })
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
        key.def().default.map(|d| Resolved { value: d.to_owned(), source: Source::Default })
    }

    /// The value of a key given in canonical form; for code, not for user input.
    pub fn value(&self, canonical: &str) -> Option<String> {
        keys::resolve(canonical).ok().and_then(|k| self.resolve(&k)).map(|r| r.value)
    }
}
