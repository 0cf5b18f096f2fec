//! `/configStore[/{key}]`: a key/value store for configuration that scripts
//! keep beside signetd's own (all four roles, as seed 003 says). Values are
//! any JSON; every change is versioned by an ETag and audited.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use signet_core::audit::Action as Event;
use signet_core::audit::digest_of;
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, Page, Query, if_match_raw, page_of, tag_matches, with_etag};
use crate::state::AppState;

/// Kept in the store's settings under this prefix, apart from signetd's own.
const PREFIX: &str = "configStore/";
const MAX_VALUE: usize = 64 * 1024;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Read-only; the path names it.
    #[serde(default, skip_deserializing)]
    key: String,
    #[schema(value_type = Object)]
    value: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryPage {
    items: Vec<Entry>,
    next_cursor: Option<String>,
}

fn tag(value: &serde_json::Value) -> String {
    format!("\"{}\"", &digest_of(value)[..24])
}

fn check_key(key: &str) -> Result<(), AdminError> {
    let ok = (1..=128).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(AdminError::invalid("key: 1 to 128 of A-Z a-z 0-9 . _ -")) }
}

#[utoipa::path(get, path = "/configStore", tag = "configStore", params(Page),
    responses((status = 200, body = EntryPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ConfigStore, Action::Read).await?;
    let limit = page.limit()?;
    let rows = state.store.settings_page(PREFIX, page.cursor.as_deref(), limit + 1).await?;
    let (rows, next) = page_of(rows, limit, |(k, _)| k.clone());
    let items = rows.into_iter().map(|(key, value)| Entry { key, value }).collect();
    Ok(axum::Json(EntryPage { items, next_cursor: next }).into_response())
}

#[utoipa::path(get, path = "/configStore/{key}", tag = "configStore", params(("key" = String, Path)),
    responses((status = 200, body = Entry, headers(("ETag" = String))), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ConfigStore, Action::Read).await?;
    check_key(&key)?;
    let value = state
        .store
        .setting(&format!("{PREFIX}{key}"))
        .await?
        .ok_or_else(|| AdminError::not_found("configStore key"))?;
    Ok(with_etag(tag(&value), Entry { key, value }))
}

/// Creates or replaces a value (all four roles). `If-Match: *` only replaces;
/// `If-None-Match: *` only creates.
#[utoipa::path(put, path = "/configStore/{key}", tag = "configStore", params(("key" = String, Path), ("If-Match" = Option<String>, Header), ("If-None-Match" = Option<String>, Header)), request_body = Entry,
    responses((status = 200, body = Entry, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
    Body(entry): Body<Entry>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ConfigStore, Action::Write).await?;
    check_key(&key)?;
    let size = serde_json::to_vec(&entry.value).map_err(AdminError::internal)?.len();
    if size > MAX_VALUE {
        return Err(AdminError::invalid(format!("value: {size} bytes; at most {MAX_VALUE}")));
    }
    let if_match = if_match_raw(&headers)?;
    let create_only = headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == b"*");
    let mut ev = caller.event(Event::AdminConfigStorePut, &key, state.now())?;
    ev.digest = digest_of(&entry.value);
    let still = |current: Option<&serde_json::Value>| match (current, &if_match) {
        (Some(_), _) if create_only => false,
        (None, Some(_)) => false,
        (Some(c), Some(t)) => tag_matches(Some(t), &tag(c)),
        (_, None) => true,
    };
    if !state.store.put_setting_if(&format!("{PREFIX}{key}"), still, &entry.value, &ev).await? {
        return Err(AdminError::stale());
    }
    Ok(with_etag(tag(&entry.value), Entry { key, value: entry.value }))
}

#[utoipa::path(delete, path = "/configStore/{key}", tag = "configStore", params(("key" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ConfigStore, Action::Write).await?;
    check_key(&key)?;
    let if_match = if_match_raw(&headers)?;
    let mut ev = caller.event(Event::AdminConfigStoreDelete, &key, state.now())?;
    ev.digest = digest_of(&serde_json::json!({"key": key}));
    let still = |current: &serde_json::Value| tag_matches(if_match.as_deref(), &tag(current));
    match state.store.delete_setting_if(&format!("{PREFIX}{key}"), still, &ev).await? {
        None => Err(AdminError::not_found("configStore key")),
        Some(false) => Err(AdminError::stale()),
        Some(true) => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
