//! `/certificates`: certificates CryptoAdmins import, export and delete, and
//! among them the CA certificates trusted for the mutual-TLS scheme. An
//! imported private key is sealed under the key-encryption key and never
//! shown again; only the whole-configuration archive carries it.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use signet_core::audit::Action as Event;
use signet_core::audit::{digest_of, hex};
use signet_core::crypto::{random_id, sha256};
use signet_core::model::certificate_key_purpose;
use signet_core::policy::{Action, Resource};
use signet_core::secret::Secret;
use signet_store::Certificate;

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, Page, Query, created, if_match_raw, page_of, tag_matches, with_etag};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CertificateView {
    id: String,
    name: String,
    subject: String,
    issuer: String,
    /// Unix seconds.
    not_before: i64,
    not_after: i64,
    /// Hex SHA-256 of the DER.
    sha256: String,
    trusted_for_mtls: bool,
    /// Whether a private key was imported with it (it is never shown).
    has_private_key: bool,
    /// The certificate itself, on a single read (export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pem: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CertificatePage {
    items: Vec<CertificateView>,
    next_cursor: Option<String>,
}

fn view(c: &Certificate, export: bool) -> CertificateView {
    CertificateView {
        id: c.id.clone(),
        name: c.name.clone(),
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        not_before: c.not_before,
        not_after: c.not_after,
        sha256: c.sha256.clone(),
        trusted_for_mtls: c.trusted_for_mtls,
        has_private_key: c.private_key_sealed.is_some(),
        pem: export.then(|| c.pem.clone()),
    }
}

/// A certificate never changes once imported: its fingerprint is its tag.
fn tag(c: &Certificate) -> String {
    format!("\"{}\"", &c.sha256[..24])
}

#[utoipa::path(get, path = "/certificates", tag = "certificates", params(Page),
    responses((status = 200, body = CertificatePage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Certificates, Action::Read).await?;
    let limit = page.limit()?;
    let rows = state.store.certificates_page(page.cursor.as_deref(), limit + 1).await?;
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
    let c = state.store.certificate(&id).await?.ok_or_else(|| AdminError::not_found("certificate"))?;
    Ok(with_etag(tag(&c), view(&c, true)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCertificate {
    name: String,
    /// One PEM certificate.
    pem: String,
    /// Trust it as a CA for the mutual-TLS scheme; it must be a CA certificate.
    #[serde(default)]
    trusted_for_mtls: bool,
    /// Its PKCS#8 (or SEC1, PKCS#1) PEM private key, when it has one; write-only.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    private_key_pem: Option<PemKey>,
}

/// A private key as sent: never in `Debug` output.
pub struct PemKey(Secret<String>);

impl<'de> Deserialize<'de> for PemKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PemKey, D::Error> {
        Ok(PemKey(Secret::new(String::deserialize(d)?)))
    }
}

/// Imports a certificate (CryptoAdmin).
#[utoipa::path(post, path = "/certificates", tag = "certificates", request_body = NewCertificate,
    responses((status = 201, body = CertificateView, headers(("ETag" = String), ("Location" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewCertificate>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Certificates, Action::Write).await?;
    let name = new.name.trim();
    signet_core::text::check_name(name, 128).map_err(|why| AdminError::invalid(format!("name: {why}")))?;
    let parsed = crate::mtls::parse_pem(&new.pem).map_err(|e| AdminError::invalid(format!("pem: {e}")))?;
    if new.trusted_for_mtls && !parsed.is_ca {
        return Err(AdminError::unprocessable(
            "trusted_for_mtls: only a CA certificate (basicConstraints CA:TRUE) can be a trust anchor",
        ));
    }
    let id = random_id().map_err(AdminError::internal)?;
    let private_key_sealed = match &new.private_key_pem {
        None => None,
        Some(PemKey(pem)) => Some(seal_matching_key(&state, &id, &parsed.der, pem)?),
    };
    let now = state.now();
    let c = Certificate {
        id,
        name: name.to_owned(),
        pem: new.pem.trim().to_owned() + "\n",
        sha256: hex(&sha256(&parsed.der)),
        subject: parsed.subject,
        issuer: parsed.issuer,
        not_before: parsed.not_before,
        not_after: parsed.not_after,
        trusted_for_mtls: new.trusted_for_mtls,
        private_key_sealed,
        created_at: now,
    };
    let mut ev = caller.event(Event::AdminCertificateImport, &c.id, now)?;
    ev.digest = digest_of(&serde_json::to_value(view(&c, true)).map_err(AdminError::internal)?);
    state.store.insert_certificate(&c, &ev).await?;
    Ok(created(tag(&c), view(&c, false), &format!("/certificates/{}", c.id)))
}

/// The key must be the certificate's own; it is sealed for this certificate.
fn seal_matching_key(
    state: &AppState,
    id: &str,
    cert: &rustls::pki_types::CertificateDer<'static>,
    pem: &Secret<String>,
) -> Result<Vec<u8>, AdminError> {
    let key = PrivateKeyDer::from_pem_slice(pem.expose().as_bytes())
        .map_err(|_| AdminError::invalid("private_key_pem: not a PEM private key"))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| AdminError::invalid("private_key_pem: not a usable private key"))?;
    rustls::sign::CertifiedKey::new(vec![cert.clone()], signing)
        .keys_match()
        .map_err(|_| AdminError::unprocessable("private_key_pem: it is not the key of this certificate"))?;
    state.kek.seal(&certificate_key_purpose(id), key.secret_der()).map_err(AdminError::internal)
}

/// Deletes a certificate (CryptoAdmin); with `If-Match`, only the one read.
#[utoipa::path(delete, path = "/certificates/{id}", tag = "certificates", params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Certificates, Action::Write).await?;
    let c = state.store.certificate(&id).await?.ok_or_else(|| AdminError::not_found("certificate"))?;
    if !tag_matches(if_match_raw(&headers)?.as_deref(), &tag(&c)) {
        return Err(AdminError::stale());
    }
    let mut ev = caller.event(Event::AdminCertificateDelete, &c.id, state.now())?;
    ev.digest = digest_of(&serde_json::json!({"id": c.id, "sha256": c.sha256}));
    if !state.store.delete_certificate(&c.id, &c.sha256, &ev).await? {
        return Err(AdminError::not_found("certificate"));
    }
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
