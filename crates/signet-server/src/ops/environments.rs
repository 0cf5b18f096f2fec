//! Environments: the authorities signetd serves. A new one gets its own
//! signing key, sealed under the key-encryption key, in the same
//! transaction as its audit event.

use serde_json::json;
use signet_core::audit::Action as Event;
use signet_core::model::Environment;
use signet_core::policy::{Action, Resource};
use signet_store::StoreError;

use super::{Authorized, OpError};
use crate::state::AppState;

/// Creates the environment `name` (trimmed; unique, 1 to 64 characters).
pub async fn create(state: &AppState, by: &Authorized<'_>, name: &str) -> Result<Environment, OpError> {
    by.covers(Resource::Environments, Action::Write)?;
    let name = name.trim();
    signet_core::text::check_name(name, 64).map_err(|why| OpError::Invalid(format!("name: {why}")))?;
    let now = state.now();
    let e = Environment {
        id: signet_core::crypto::random_id().map_err(OpError::internal)?.into(),
        name: name.to_owned(),
        created_at: now,
    };
    let key = crate::bootstrap::new_signing_key(&state.kek, e.id.as_str(), now).map_err(OpError::internal)?;
    let ev = by.event(
        Event::AdminEnvironmentCreate,
        Some(e.id.as_str()),
        e.id.as_str(),
        Some(&json!({"name": e.name, "kid": key.kid})),
        now,
    )?;
    state.store.create_environment(&e, &key, &ev).await.map_err(|err| match err {
        StoreError::Conflict(_) => OpError::Conflict(format!("an environment named {name:?} exists")),
        err => err.into(),
    })?;
    Ok(e)
}
