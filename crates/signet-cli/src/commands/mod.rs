//! One module per command group; each command is a function that returns
//! `anyhow::Result<ExitCode>`, and only `main` turns that into a process exit.

pub mod accounts;
pub mod admin_target;
pub mod applications;
pub mod audit;
pub mod auth;
pub mod config;
pub mod keys;
pub mod mfa;
pub mod request;
pub mod session;

use crate::config::settings::Settings;
use crate::output::Output;

/// What every command gets: the parsed global flags, resolved.
pub struct Ctx {
    pub config_path: Option<std::path::PathBuf>,
    pub profile_flag: Option<String>,
    pub out: Output,
    pub auth: Option<crate::cli::AuthMode>,
}

impl Ctx {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut s = Settings::load(self.config_path.as_deref(), self.profile_flag.as_deref())?;
        s.security_token = self.auth == Some(crate::cli::AuthMode::SecurityToken);
        Ok(s)
    }

    pub fn path(&self) -> anyhow::Result<std::path::PathBuf> {
        crate::config::path(self.config_path.as_deref())
    }
}
