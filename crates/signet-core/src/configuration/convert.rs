//! The document's entries made from the model's types, and back.

use super::{AccountEntry, ApplicationEntry, EnvironmentEntry, Protected};
use crate::model::{Account, Application, Environment};

impl From<&Environment> for EnvironmentEntry {
    fn from(e: &Environment) -> EnvironmentEntry {
        EnvironmentEntry { id: e.id.to_string(), name: e.name.clone(), created_at: e.created_at }
    }
}

impl From<&EnvironmentEntry> for Environment {
    fn from(e: &EnvironmentEntry) -> Environment {
        Environment { id: e.id.clone().into(), name: e.name.clone(), created_at: e.created_at }
    }
}

impl From<&Application> for ApplicationEntry {
    fn from(a: &Application) -> ApplicationEntry {
        ApplicationEntry {
            id: a.id.to_string(),
            environment_id: a.environment_id.to_string(),
            name: a.name.clone(),
            kind: a.kind,
            secret_hash: a.secret_hash.clone(),
            redirect_uris: a.redirect_uris.clone(),
            grant_types: a.grant_types.clone(),
            scopes: a.scopes.clone(),
            roles: a.roles.clone(),
            admin_api: a.admin_api,
            created_at: a.created_at,
            pkce_required: a.pkce_required,
        }
    }
}

impl From<&ApplicationEntry> for Application {
    fn from(a: &ApplicationEntry) -> Application {
        Application {
            id: a.id.clone().into(),
            environment_id: a.environment_id.clone().into(),
            name: a.name.clone(),
            kind: a.kind,
            secret_hash: a.secret_hash.clone(),
            redirect_uris: a.redirect_uris.clone(),
            grant_types: a.grant_types.clone(),
            scopes: a.scopes.clone(),
            roles: a.roles.clone(),
            admin_api: a.admin_api,
            pkce_required: a.pkce_required,
            created_at: a.created_at,
        }
    }
}

impl AccountEntry {
    pub fn from_account(a: &Account, attributes: Option<serde_json::Map<String, serde_json::Value>>) -> AccountEntry {
        AccountEntry {
            id: a.id.to_string(),
            environment_id: a.environment_id.to_string(),
            username: a.username.clone(),
            password_hash: a.password_hash.clone(),
            active: a.active,
            admin: a.admin,
            roles: a.roles.clone(),
            auditor: a.auditor,
            totp: a.totp_sealed.clone().map(Protected::Sealed),
            totp_confirmed: a.totp_confirmed,
            totp_last_step: a.totp_last_step,
            failed_attempts: a.failed_attempts,
            locked_until: a.locked_until,
            password_change_required: a.password_change_required,
            created_at: a.created_at,
            attributes,
        }
    }

    /// The account as stored; `None` when its TOTP secret is not sealed.
    pub fn to_account(&self) -> Option<Account> {
        let totp_sealed = match &self.totp {
            None => None,
            Some(p) => Some(p.sealed()?.to_vec()),
        };
        Some(Account {
            id: self.id.clone().into(),
            environment_id: self.environment_id.clone().into(),
            username: self.username.clone(),
            password_hash: self.password_hash.clone(),
            active: self.active,
            admin: self.admin,
            roles: self.roles.clone(),
            auditor: self.auditor,
            totp_sealed,
            totp_confirmed: self.totp_confirmed,
            totp_last_step: self.totp_last_step,
            failed_attempts: self.failed_attempts,
            password_change_required: self.password_change_required,
            locked_until: self.locked_until,
            created_at: self.created_at,
        })
    }
}
