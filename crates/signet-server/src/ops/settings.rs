//! Settings documents: the lockout policy, token lifetimes, the admin API's
//! authentication settings, and the values scripts keep in the configStore.
//! Each is tagged by its content; a write may name the tag it replaces
//! (`If-Match`), which is compared in the write's own transaction against
//! what it replaces.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use signet_core::audit::ActorScheme;
use signet_core::audit::{Action as Event, digest_of};
use signet_core::model::{KeyRotationPolicy, LockoutPolicy, RefreshReuse, TokenLifetimes};
use signet_core::policy::{Action, Resource};
use signet_store::LOCKOUT_POLICY_KEY;

use super::{Authorized, OpError, tag_matches};
use crate::config::admin_auth::{AuthSettings, SETTINGS_KEY};
use crate::state::AppState;

/// configStore values are kept in the store's settings under this prefix,
/// apart from signetd's own.
pub const CONFIG_STORE_PREFIX: &str = "configStore/";
const CONFIG_STORE_MAX_VALUE: usize = 64 * 1024;

/// The entity tag of a document: a digest of its JSON.
pub fn content_tag(value: &impl Serialize) -> String {
    let value = serde_json::to_value(value).unwrap_or_default();
    format!("\"{}\"", &digest_of(&value)[..24])
}

/// Replaces the document under `key` with `value`, recording `event`, if
/// `if_match` still names what it replaces (a missing document reads as
/// the default).
async fn replace<T: Serialize + DeserializeOwned + Default>(
    state: &AppState,
    by: &Authorized<'_>,
    (event, key): (Event, &str),
    value: &T,
    if_match: Option<&str>,
) -> Result<(), OpError> {
    let json = serde_json::to_value(value).map_err(OpError::internal)?;
    let ev = by.event(event, None, key, Some(&json), state.now())?;
    let still = |current: Option<&Value>| {
        let current: T = current.and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
        tag_matches(if_match, &content_tag(&current))
    };
    if state.store.put_setting_if(key, still, &json, &ev).await? { Ok(()) } else { Err(OpError::Stale) }
}

/// Sets how many failed sign-ons lock an account and for how long. It
/// governs how administrators sign on, so it is UserAdmin's to set.
pub async fn set_lockout_policy(
    state: &AppState,
    by: &Authorized<'_>,
    policy: LockoutPolicy,
    if_match: Option<&str>,
) -> Result<(), OpError> {
    by.covers(Resource::AdminSignOn, Action::Write)?;
    if !(1..=100).contains(&policy.max_failures) {
        return Err(OpError::Invalid("max_failures: between 1 and 100".into()));
    }
    if !(60..=86_400).contains(&policy.lock_seconds) {
        return Err(OpError::Invalid("lock_seconds: between 60 and 86400".into()));
    }
    replace(state, by, (Event::AdminPolicyLockout, LOCKOUT_POLICY_KEY), &policy, if_match).await
}

/// Sets how long tokens live. Tokens issued afterwards, on every instance
/// within 5 s, live this long; tokens already issued keep theirs.
pub async fn set_token_lifetimes(
    state: &AppState,
    by: &Authorized<'_>,
    lifetimes: TokenLifetimes,
    if_match: Option<&str>,
) -> Result<(), OpError> {
    by.covers(Resource::Policies, Action::Write)?;
    lifetimes.check().map_err(OpError::invalid)?;
    let written = replace(state, by, (Event::AdminPolicyTokens, TokenLifetimes::KEY), &lifetimes, if_match).await;
    state.forget_lifetimes();
    written
}

/// Sets the refresh reuse interval (0: off). It applies on every instance
/// within 5 s, to refresh tokens spent from then on.
pub async fn set_refresh_reuse(
    state: &AppState,
    by: &Authorized<'_>,
    reuse: RefreshReuse,
    if_match: Option<&str>,
) -> Result<(), OpError> {
    by.covers(Resource::Policies, Action::Write)?;
    reuse.check().map_err(OpError::Invalid)?;
    let written = replace(state, by, (Event::AdminPolicyRefreshReuse, RefreshReuse::KEY), &reuse, if_match).await;
    state.forget_lifetimes();
    written
}

/// Sets an environment's signing key rotation schedule. It decides which
/// key signs, so it is CryptoAdmin's, as rotating by hand is.
pub async fn set_key_rotation(
    state: &AppState,
    by: &Authorized<'_>,
    (env, policy): (&str, KeyRotationPolicy),
    if_match: Option<&str>,
) -> Result<(), OpError> {
    by.covers(Resource::SigningKeys, Action::Write)?;
    super::keys::environment_exists(state, env).await?;
    policy.check().map_err(OpError::Invalid)?;
    replace(state, by, (Event::AdminPolicyKeyRotation, &KeyRotationPolicy::key(env)), &policy, if_match).await
}

/// Sets which schemes protect the admin API; their secrets are sealed. A
/// change that would lock its maker out is refused, so a change can never
/// lock every administrator out.
pub async fn set_authentication(
    state: &AppState,
    by: &Authorized<'_>,
    mut wanted: AuthSettings,
    if_match: Option<&str>,
) -> Result<AuthSettings, OpError> {
    by.covers(Resource::AuthenticationSettings, Action::Write)?;
    if state.authn.from_file.is_some() {
        return Err(OpError::Conflict(
            "the authentication settings are set in signetd's config file ([admin_api.authentication]); change them there"
                .into(),
        ));
    }
    wanted.check(&state.kek, state.public_url.starts_with("https://")).map_err(OpError::Invalid)?;
    // Whoever makes the change must still get in afterwards with what they used to make it.
    let using = &by.caller().actor.scheme;
    if !wanted.schemes.iter().any(|s| ActorScheme::from(*s) == *using) {
        return Err(OpError::Unprocessable(format!(
            "schemes: this would lock you out: you are signed on with {using}, which the new settings leave out; keep it, or make the change signed on with a scheme that stays"
        )));
    }
    let written = replace(state, by, (Event::AdminSettingsAuthentication, SETTINGS_KEY), &wanted, if_match).await;
    state.authn.forget_settings();
    written.map(|()| wanted)
}

/// A configStore key: 1 to 128 of A-Z a-z 0-9 . _ -
pub fn check_config_store_key(key: &str) -> Result<(), OpError> {
    let ok = (1..=128).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(OpError::Invalid("key: 1 to 128 of A-Z a-z 0-9 . _ -".into())) }
}

/// Creates or replaces a configStore value: only where `if_match` (if any)
/// names what is there (`*` only replaces), and only where nothing is when
/// `only_create` (`If-None-Match: *`).
pub async fn put_config_value(
    state: &AppState,
    by: &Authorized<'_>,
    (key, value): (&str, &Value),
    if_match: Option<&str>,
    only_create: bool,
) -> Result<(), OpError> {
    by.covers(Resource::ConfigStore, Action::Write)?;
    check_config_store_key(key)?;
    let size = serde_json::to_vec(value).map_err(OpError::internal)?.len();
    if size > CONFIG_STORE_MAX_VALUE {
        return Err(OpError::Invalid(format!("value: {size} bytes; at most {CONFIG_STORE_MAX_VALUE}")));
    }
    let ev = by.event(Event::AdminConfigStorePut, None, key, Some(value), state.now())?;
    let still = |current: Option<&Value>| match (current, if_match) {
        (Some(_), _) if only_create => false,
        (None, Some(_)) => false,
        (Some(c), Some(t)) => tag_matches(Some(t), &content_tag(c)),
        (_, None) => true,
    };
    let written = state.store.put_setting_if(&format!("{CONFIG_STORE_PREFIX}{key}"), still, value, &ev).await?;
    if written { Ok(()) } else { Err(OpError::Stale) }
}

/// Deletes a configStore value, if `if_match` (if any) names it.
pub async fn delete_config_value(
    state: &AppState,
    by: &Authorized<'_>,
    key: &str,
    if_match: Option<&str>,
) -> Result<(), OpError> {
    by.covers(Resource::ConfigStore, Action::Write)?;
    check_config_store_key(key)?;
    let ev = by.event(Event::AdminConfigStoreDelete, None, key, Some(&serde_json::json!({"key": key})), state.now())?;
    let still = |current: &Value| tag_matches(if_match, &content_tag(current));
    match state.store.delete_setting_if(&format!("{CONFIG_STORE_PREFIX}{key}"), still, &ev).await? {
        None => Err(OpError::NotFound("configStore key")),
        Some(false) => Err(OpError::Stale),
        Some(true) => Ok(()),
    }
}
