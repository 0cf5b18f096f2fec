//! Client certificates for the admin API's mutual-TLS scheme.
//!
//! The TLS handshake asks for a client certificate without requiring one,
//! and checks only that the client holds the key of what it presents, so
//! the handshake completes for everyone. Whether the certificate is any
//! good is decided per request, against the trust anchors CryptoAdmins keep
//! in the store and the configured CRLs, at the injected clock's time: an
//! imported or deleted CA applies on every instance without a restart, and
//! a bad certificate gets the admin API's 401 instead of a TLS alert.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde::{Deserialize, Serialize};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The chain a client presented on its TLS connection, end entity first.
#[derive(Clone)]
pub struct PeerCertificates(pub Arc<[CertificateDer<'static>]>);

/// Asks for a client certificate, accepts any, and verifies that the client
/// signed the handshake with its key.
#[derive(Debug)]
pub struct RequestClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl RequestClientCertificate {
    pub fn new(provider: &CryptoProvider) -> RequestClientCertificate {
        RequestClientCertificate { algorithms: provider.signature_verification_algorithms }
    }
}

impl ClientCertVerifier for RequestClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Which name in a client certificate is the admin account's username.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertIdentity {
    /// The subject's common name.
    #[default]
    SubjectCn,
    /// An email address (rfc822Name) in the subject alternative names.
    SanEmail,
    /// A DNS name in the subject alternative names.
    SanDns,
}

/// The mTLS scheme's settings. The trust anchors are the certificates a
/// CryptoAdmin imported with `trusted_for_mtls`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MtlsSettings {
    #[serde(default)]
    pub identity: CertIdentity,
    /// PEM or DER CRL files, read on every check, so a CRL updated in place
    /// applies at once.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub crl_files: Vec<PathBuf>,
}

impl MtlsSettings {
    pub fn check(&self) -> Result<(), String> {
        for (i, path) in self.crl_files.iter().enumerate() {
            crl(path).map_err(|e| format!("mtls.crl_files[{i}]: {e}"))?;
        }
        Ok(())
    }
}

fn crl(path: &std::path::Path) -> Result<CertificateRevocationListDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let der = if bytes.starts_with(b"-----") {
        CertificateRevocationListDer::from_pem_slice(&bytes)
            .map_err(|e| format!("{}: not a PEM CRL: {e}", path.display()))?
    } else {
        CertificateRevocationListDer::from(bytes)
    };
    // Checked here, so a file that is no CRL is refused when it is configured
    // rather than failing every client certificate afterwards.
    x509_parser::revocation_list::CertificateRevocationList::from_der(&der)
        .map_err(|_| format!("{}: not an X.509 CRL", path.display()))?;
    Ok(der)
}

/// Verifies `chain` against `anchors` (PEM) and the CRLs at `now`, and
/// returns the name the settings say to use. The error says why, for the log.
pub fn verify(
    settings: &MtlsSettings,
    anchors: &[String],
    chain: &[CertificateDer<'static>],
    now: signet_core::clock::UnixTime,
) -> Result<String, String> {
    let (end_entity, intermediates) = chain.split_first().ok_or("no client certificate")?;
    let mut roots = rustls::RootCertStore::empty();
    for pem in anchors {
        if let Ok(der) = CertificateDer::from_pem_slice(pem.as_bytes()) {
            let _ = roots.add(der);
        }
    }
    if roots.is_empty() {
        return Err("no CA certificate is trusted for mutual TLS".into());
    }
    let crls = settings.crl_files.iter().map(|p| crl(p)).collect::<Result<Vec<_>, _>>()?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .with_crls(crls)
        .only_check_end_entity_revocation()
        .allow_unknown_revocation_status()
        .build()
        .map_err(|e| e.to_string())?;
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(u64::try_from(now).unwrap_or(0)));
    verifier.verify_client_cert(end_entity, intermediates, at).map_err(|e| e.to_string())?;
    identity(end_entity, settings.identity).ok_or_else(|| format!("the certificate has no {:?}", settings.identity))
}

fn identity(der: &CertificateDer<'_>, which: CertIdentity) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    match which {
        CertIdentity::SubjectCn => cert.subject().iter_common_name().next()?.as_str().ok().map(str::to_owned),
        CertIdentity::SanEmail | CertIdentity::SanDns => {
            let san = cert.subject_alternative_name().ok()??;
            san.value.general_names.iter().find_map(|n| match (n, which) {
                (GeneralName::RFC822Name(v), CertIdentity::SanEmail)
                | (GeneralName::DNSName(v), CertIdentity::SanDns) => Some((*v).to_owned()),
                _ => None,
            })
        }
    }
}

/// What the certificates API shows of a certificate it imports.
pub struct Parsed {
    pub der: CertificateDer<'static>,
    pub subject: String,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    pub is_ca: bool,
}

/// Parses one PEM certificate; the error is for the person who sent it.
pub fn parse_pem(pem: &str) -> Result<Parsed, String> {
    let mut certs = CertificateDer::pem_slice_iter(pem.as_bytes());
    let der = certs.next().ok_or("no PEM certificate")?.map_err(|e| format!("not a PEM certificate: {e}"))?;
    if certs.next().is_some() {
        return Err("one certificate per import".into());
    }
    let (rest, cert) = X509Certificate::from_der(&der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    let is_ca = cert.basic_constraints().ok().flatten().is_some_and(|b| b.value.ca);
    Ok(Parsed {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        is_ca,
        der: der.into_owned(),
    })
}
