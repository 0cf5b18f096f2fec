//! Certificates: imported, exported and deleted by CryptoAdmins; among them
//! the CA certificates trusted for the mutual-TLS scheme. An imported private
//! key is sealed under the key-encryption key and never shown again; only
//! the whole-configuration archive carries it.

use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use signet_core::audit::{Action as Event, hex};
use signet_core::crypto::{random_id, sha256};
use signet_core::model::certificate_key_purpose;
use signet_core::policy::{Action, Resource};
use signet_core::secret::Secret;
use signet_store::Certificate;

use super::{Authorized, OpError, tag_matches};
use crate::state::AppState;

pub use signet_proto::admin::certificates::{CertificatePage, CertificateView};

/// A certificate as the API shows it; with its PEM when exported.
pub fn view(c: &Certificate, export: bool) -> CertificateView {
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
pub fn tag(c: &Certificate) -> String {
    format!("\"{}\"", &c.sha256[..24])
}

/// Up to `limit` certificates after `cursor`, by id.
pub async fn page(state: &AppState, cursor: Option<&str>, limit: i64) -> Result<Vec<Certificate>, OpError> {
    Ok(state.store.certificates_page(cursor, limit).await?)
}

/// The certificate `id`.
pub async fn find(state: &AppState, id: &str) -> Result<Certificate, OpError> {
    state.store.certificate(id).await?.ok_or(OpError::NotFound("certificate"))
}

/// What a certificate is imported with.
pub struct NewCertificate {
    pub name: String,
    /// One PEM certificate.
    pub pem: String,
    /// Trust it as a CA for the mutual-TLS scheme; it must be a CA certificate.
    pub trusted_for_mtls: bool,
    /// Its PEM private key, when it has one.
    pub private_key_pem: Option<Secret<String>>,
}

/// Imports a certificate, and its private key, which must be its own.
pub async fn import(state: &AppState, by: &Authorized<'_>, new: NewCertificate) -> Result<Certificate, OpError> {
    by.covers(Resource::Certificates, Action::Write)?;
    let name = new.name.trim();
    signet_core::text::check_name(name, 128).map_err(|why| OpError::Invalid(format!("name: {why}")))?;
    let parsed = crate::mtls::parse_pem(&new.pem).map_err(|e| OpError::Invalid(format!("pem: {e}")))?;
    if new.trusted_for_mtls && !parsed.is_ca {
        return Err(OpError::Unprocessable(
            "trusted_for_mtls: only a CA certificate (basicConstraints CA:TRUE) can be a trust anchor".into(),
        ));
    }
    let id = random_id().map_err(OpError::internal)?;
    let private_key_sealed = match &new.private_key_pem {
        None => None,
        Some(pem) => Some(seal_matching_key(state, &id, &parsed.der, pem)?),
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
    // The digest is of the exported view, as the API shows it.
    let digest = serde_json::to_value(view(&c, true)).map_err(OpError::internal)?;
    let ev = by.event(Event::AdminCertificateImport, None, &c.id, Some(&digest), now)?;
    state.store.insert_certificate(&c, &ev).await?;
    Ok(c)
}

/// The key must be the certificate's own; it is sealed for this certificate.
fn seal_matching_key(
    state: &AppState,
    id: &str,
    cert: &rustls::pki_types::CertificateDer<'static>,
    pem: &Secret<String>,
) -> Result<Vec<u8>, OpError> {
    let key = PrivateKeyDer::from_pem_slice(pem.expose().as_bytes())
        .map_err(|_| OpError::Invalid("private_key_pem: not a PEM private key".into()))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| OpError::Invalid("private_key_pem: not a usable private key".into()))?;
    rustls::sign::CertifiedKey::new(vec![cert.clone()], signing)
        .keys_match()
        .map_err(|_| OpError::Unprocessable("private_key_pem: it is not the key of this certificate".into()))?;
    state.kek.seal(&certificate_key_purpose(id), key.secret_der()).map_err(OpError::internal)
}

/// Deletes a certificate; with `if_match`, only the one read.
pub async fn delete(state: &AppState, by: &Authorized<'_>, id: &str, if_match: Option<&str>) -> Result<(), OpError> {
    by.covers(Resource::Certificates, Action::Write)?;
    let c = find(state, id).await?;
    if !tag_matches(if_match, &tag(&c)) {
        return Err(OpError::Stale);
    }
    let digest = serde_json::json!({"id": c.id, "sha256": c.sha256});
    let ev = by.event(Event::AdminCertificateDelete, None, &c.id, Some(&digest), state.now())?;
    if !state.store.delete_certificate(&c.id, &c.sha256, &ev).await? {
        return Err(OpError::NotFound("certificate"));
    }
    Ok(())
}
