//! The configStore as it is read: the values scripts keep beside signetd's
//! own. Writing them is `settings`'s, with the other settings documents.

use serde_json::Value;

use super::OpError;
use super::settings::{CONFIG_STORE_PREFIX, check_config_store_key};
use crate::state::AppState;

/// Up to `limit` keys and their values after the key `cursor`.
pub async fn page(state: &AppState, cursor: Option<&str>, limit: i64) -> Result<Vec<(String, Value)>, OpError> {
    Ok(state.store.settings_page(CONFIG_STORE_PREFIX, cursor, limit).await?)
}

/// The value of `key`.
pub async fn value(state: &AppState, key: &str) -> Result<Value, OpError> {
    check_config_store_key(key)?;
    let found = state.store.setting(&format!("{CONFIG_STORE_PREFIX}{key}")).await?;
    found.ok_or(OpError::NotFound("configStore key"))
}
