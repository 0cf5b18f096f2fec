//! The policies as they are read: the lockout policy and token lifetimes.
//! Setting them is `settings`'s, with the other settings documents.

use signet_core::model::{LockoutPolicy, TokenLifetimes};

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
