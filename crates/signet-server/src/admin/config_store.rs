//! `/configStore[/{key}]`: a key/value store for configuration that scripts
//! keep beside signetd's own (all four roles, as seed 003 says). Values are
//! any JSON; every change is versioned by an ETag and audited.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, IfMatch, Page, Query, if_match_raw, page_of, with_etag};
use crate::ops;
use crate::ops::settings::content_tag as tag;
use crate::state::AppState;

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

#[utoipa::path(get, path = "/configStore", tag = "configStore", params(Page),
    responses((status = 200, body = EntryPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ConfigStore, Action::Read).await?;
    let limit = page.limit()?;
    let rows = ops::config_store::page(&state, page.cursor.as_deref(), limit + 1).await?;
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
    let value = ops::config_store::value(&state, &key).await?;
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
    let by = ops::authorize(&state, &caller, Resource::ConfigStore, Action::Write).await?;
    let only_create = headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == b"*");
    let if_match = if_match_raw(&headers)?;
    ops::settings::put_config_value(&state, &by, (&key, &entry.value), if_match.as_deref(), only_create).await?;
    Ok(with_etag(tag(&entry.value), Entry { key, value: entry.value }))
}

#[utoipa::path(delete, path = "/configStore/{key}", tag = "configStore", params(("key" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::ConfigStore, Action::Write).await?;
    ops::settings::delete_config_value(&state, &by, &key, if_match.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
