//! Signing keys: rotation and retirement. Each change makes this instance
//! reload the environment's keys; others reload when they meet a key they
//! do not know, or within a minute.

use serde_json::json;
use signet_core::audit::Action as Event;
use signet_core::id::EnvironmentId;
use signet_core::policy::{Action, Resource};

use super::{Authorized, OpError};
use crate::state::AppState;

async fn environment_exists(state: &AppState, env: &str) -> Result<(), OpError> {
    state.store.environment(&EnvironmentId::from(env)).await?.map(|_| ()).ok_or(OpError::NotFound("environment"))
}

/// A new key signs the environment's tokens from now on; the one before
/// stays published while tokens it signed may live.
pub async fn rotate(state: &AppState, by: &Authorized<'_>, env: &str) -> Result<(), OpError> {
    by.covers(Resource::SigningKeys, Action::Write)?;
    environment_exists(state, env).await?;
    let now = state.now();
    let key = crate::bootstrap::new_signing_key(&state.kek, env, now).map_err(OpError::internal)?;
    let digest = json!({"kid": key.kid, "public_jwk": key.public_jwk});
    let ev = by.event(Event::AdminKeyRotate, Some(env), &key.kid, Some(&digest), now)?;
    state.store.rotate_signing_key(&key, now, &ev).await?;
    state.keyring.forget(env);
    Ok(())
}

/// Retires a key that no longer signs: it is no longer published, so tokens
/// it signed stop verifying. The active key must be rotated out first.
pub async fn retire(state: &AppState, by: &Authorized<'_>, env: &str, kid: &str) -> Result<(), OpError> {
    by.covers(Resource::SigningKeys, Action::Write)?;
    environment_exists(state, env).await?;
    let ev = by.event(Event::AdminKeyRetire, Some(env), kid, Some(&json!({"kid": kid})), state.now())?;
    match state.store.retire_signing_key(env, kid, &ev).await? {
        None => Err(OpError::NotFound("signing key")),
        Some(false) => {
            Err(OpError::Conflict("this key signs the environment's tokens; rotate first, then retire it".into()))
        }
        Some(true) => {
            state.keyring.forget(env);
            Ok(())
        }
    }
}
