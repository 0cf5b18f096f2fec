//! Signing keys: rotation, retirement, and rotation on a schedule. Each
//! change makes this instance reload the environment's keys; others reload
//! when they meet a key they do not know, or within a minute (a key
//! published ahead of its use is in every instance's key set within that
//! minute, and signs on each from its set time).

use serde_json::json;
use signet_core::audit::{Action as Event, Actor, AuditEvent, digest_of};
use signet_core::clock::UnixTime;
use signet_core::id::EnvironmentId;
use signet_core::model::KeyRotationPolicy;
use signet_core::policy::{Action, Resource};
use signet_store::StoredKey;

use super::{Authorized, OpError};
use crate::state::AppState;

pub(super) async fn environment_exists(state: &AppState, env: &str) -> Result<(), OpError> {
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

/// The environment's key rotation schedule; off where none was set.
pub async fn rotation_policy(state: &AppState, env: &str) -> Result<KeyRotationPolicy, OpError> {
    let stored = state.store.setting(&KeyRotationPolicy::key(env)).await?;
    Ok(stored.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
}

/// When a scheduled rotation of `live` (the keys not retired at `now`)
/// should make its new key sign, if one is due now: a period after the
/// signing key started, but never sooner than `publish_ahead_seconds` from
/// now, so the new key is always published that long before it signs.
/// None when the schedule is off, or a key already waits to sign.
pub fn next_activation(policy: &KeyRotationPolicy, live: &[StoredKey], now: UnixTime) -> Option<UnixTime> {
    if policy.rotate_every_days == 0 || live.iter().any(|k| k.activation() > now) {
        return None;
    }
    let signer = live.iter().filter(|k| k.signs_at(now)).max_by_key(|k| k.activation())?;
    let next = signer.activation() + policy.period_seconds();
    (now >= next - policy.publish_ahead_seconds).then(|| next.max(now + policy.publish_ahead_seconds))
}

/// Publishes the environment's next key if its schedule says one is due;
/// whether this instance did. Decided again on the keys read under the
/// store's lock, so however many instances run this for the same period,
/// one publishes. Recorded as signetd's own action.
pub async fn rotate_if_due(state: &AppState, env: &str) -> Result<bool, OpError> {
    let now = state.now();
    let policy = rotation_policy(state, env).await?;
    // Most runs find nothing due: that is decided before a key is made.
    let live = state.store.signing_keys(&EnvironmentId::from(env), now).await?;
    if next_activation(&policy, &live, now).is_none() {
        return Ok(false);
    }
    let key = crate::bootstrap::new_signing_key(&state.kek, env, now).map_err(OpError::internal)?;
    let mut ev =
        AuditEvent::new(Actor::console("key rotation schedule"), Event::SigningKeySchedule, Some(env), &key.kid, now)
            .map_err(OpError::internal)?;
    let due = |live: &[StoredKey]| {
        let at = next_activation(&policy, live, now)?;
        ev.digest = digest_of(&json!({"kid": key.kid, "public_jwk": key.public_jwk, "activates_at": at}));
        Some((at, ev))
    };
    let scheduled = state.store.schedule_signing_key(&key, now, due).await?;
    if scheduled {
        state.keyring.forget(env);
        tracing::info!(environment = env, kid = %key.kid, "a scheduled signing key was published");
    }
    Ok(scheduled)
}

/// Runs every environment's schedule once; how many new keys were published.
pub async fn rotate_all_due(state: &AppState) -> Result<usize, OpError> {
    let mut published = 0;
    for env in state.store.environments().await? {
        published += usize::from(rotate_if_due(state, env.id.as_str()).await?);
    }
    Ok(published)
}

/// Runs the schedules every minute, on every instance (the store decides
/// which one publishes).
pub fn spawn_schedule(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = rotate_all_due(&state).await {
                tracing::warn!(error = %e, "the signing key schedule could not run");
            }
        }
    });
}
