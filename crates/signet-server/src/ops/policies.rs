//! The policies as they are read: the lockout policy, token lifetimes and
//! the refresh reuse interval.
//! Setting them is `settings`'s, with the other settings documents.

use signet_core::model::{LockoutPolicy, RefreshReuse, TokenLifetimes};

use super::OpError;
use crate::state::AppState;

/// How many failed sign-ons lock an account and for how long.
pub async fn lockout(state: &AppState) -> Result<LockoutPolicy, OpError> {
    Ok(state.store.lockout_policy().await?)
}

/// How long tokens live; the defaults where none were set.
pub async fn token_lifetimes(state: &AppState) -> Result<TokenLifetimes, OpError> {
    let stored = state.store.setting(TokenLifetimes::KEY).await?;
    Ok(stored.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
}

/// The refresh reuse interval; off where none was set.
pub async fn refresh_reuse(state: &AppState) -> Result<RefreshReuse, OpError> {
    let stored = state.store.setting(RefreshReuse::KEY).await?;
    Ok(stored.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
}
