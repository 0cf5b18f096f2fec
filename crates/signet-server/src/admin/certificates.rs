//! `/certificates`: certificates CryptoAdmins import, export and delete, and
//! among them the CA certificates trusted for the mutual-TLS scheme. An
//! imported private key is sealed under the key-encryption key and never
//! shown again; only the whole-configuration archive carries it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use signet_core::policy::{Action, Resource};
use signet_core::secret::Secret;

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, IfMatch, Page, Query, created, page_of, with_etag};
use crate::ops;
use crate::ops::certificates::{tag, view};
use crate::state::AppState;
pub use signet_proto::admin::certificates::{CertificatePage, CertificateView, NewCertificate};

#[utoipa::path(get, path = "/certificates", tag = "certificates", params(Page),
    responses((status = 200, body = CertificatePage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Certificates, Action::Read).await?;
    let limit = page.limit()?;
    let rows = ops::certificates::page(&state, page.cursor.as_deref(), limit + 1).await?;
    let (rows, next) = page_of(rows, limit, |c| c.id.clone());
    let items = rows.iter().map(|c| view(c, false)).collect();
    Ok(axum::Json(CertificatePage { items, next_cursor: next }).into_response())
}

/// Exports one certificate, PEM included (never its private key).
#[utoipa::path(get, path = "/certificates/{id}", tag = "certificates", params(("id" = String, Path)),
    responses((status = 200, body = CertificateView, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Certificates, Action::Read).await?;
    let c = ops::certificates::find(&state, &id).await?;
    Ok(with_etag(tag(&c), view(&c, true)))
}

/// Imports a certificate (CryptoAdmin).
#[utoipa::path(post, path = "/certificates", tag = "certificates", request_body = NewCertificate,
    responses((status = 201, body = CertificateView, headers(("ETag" = String), ("Location" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewCertificate<'static>>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::Certificates, Action::Write).await?;
    let new = ops::certificates::NewCertificate {
        name: new.name,
        pem: new.pem,
        trusted_for_mtls: new.trusted_for_mtls,
        // Moved, not copied, into a secret that is zeroized when dropped.
        private_key_pem: new.private_key_pem.map(|k| Secret::new(k.into_owned())),
    };
    let c = ops::certificates::import(&state, &by, new).await?;
    Ok(created(tag(&c), view(&c, false), &format!("/certificates/{}", c.id)))
}

/// Deletes a certificate (CryptoAdmin); with `If-Match`, only the one read.
#[utoipa::path(delete, path = "/certificates/{id}", tag = "certificates", params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    IfMatch(if_match): IfMatch,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::Certificates, Action::Write).await?;
    ops::certificates::delete(&state, &by, &id, if_match.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
