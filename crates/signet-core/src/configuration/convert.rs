//! The document's entries made from the model's types, and back.

use super::{AccountEntry, ApplicationEntry, EnvironmentEntry, Protected};
use crate::model::{Account, Application, Environment};

/// `From` both ways between a model type and its entry, which have the same
/// fields: each field is named once, and a field added to either type alone
/// stops the build here.
macro_rules! same_fields {
    ($model:ident <-> $entry:ident { $($field:ident),* $(,)? }) => {
        impl From<&$model> for $entry {
            fn from(m: &$model) -> $entry {
                $entry { $($field: Clone::clone(&m.$field)),* }
            }
        }

        impl From<&$entry> for $model {
            fn from(e: &$entry) -> $model {
                $model { $($field: Clone::clone(&e.$field)),* }
            }
        }
    };
}

same_fields!(Environment <-> EnvironmentEntry { id, name, created_at });
same_fields!(Application <-> ApplicationEntry {
    id,
    environment_id,
    name,
    kind,
    secret_hash,
    redirect_uris,
    grant_types,
    scopes,
    roles,
    admin_api,
    created_at,
    pkce_required,
});

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
