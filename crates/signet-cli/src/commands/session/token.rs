//! The token endpoint as a session uses it: a token exchange (RFC 8693)
//! that mints a session, and a refresh, each with a proof of the session's
//! key (RFC 9449 §5).

use std::sync::Arc;

use anyhow::{anyhow, bail};
use signet_client::{ProofKey, Session, SessionFile};
use signet_proto::oauth::TokenResponse;

use super::{is_worker, session_file};
use crate::config::settings::Settings;
use crate::output::safe;
use crate::services::{Auth, Service};
use crate::signon::{OAuthRefusal, Provider, SESSION_MINUTES, now, send_with_proof, unreachable};
use crate::token_store::Cached;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A session minted by token exchange (RFC 8693) from the profile's live
/// session, or else from the service's worker credentials.
pub(super) async fn mint(
    settings: &Settings,
    service: &Service,
    previous: Option<&Session>,
    key: &Arc<ProofKey>,
    minutes: u32,
) -> anyhow::Result<SessionFile> {
    // A worker mints from its own credentials; a person from a live session.
    let current = previous.filter(|s| !is_worker(service) && !s.expired() && s.file.issuer == service.issuer);
    let p = Provider::discover(service).await?;
    let endpoint = p.metadata.token_endpoint.clone();
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE.to_owned()),
        ("requested_token_type", ACCESS_TOKEN_TYPE.to_owned()),
        (SESSION_MINUTES, minutes.to_string()),
    ];
    let mut basic = None;
    match (current, &service.auth) {
        (Some(s), _) => {
            form.push(("subject_token", s.file.access_token.clone()));
            form.push(("subject_token_type", ACCESS_TOKEN_TYPE.to_owned()));
            form.push(("client_id", s.file.client_id.clone()));
        }
        (None, Some(Auth::Worker { client_id, client_secret, scopes })) => {
            basic = Some((client_id.clone(), client_secret.clone()));
            if let Some(s) = scopes {
                form.push(("scope", s.clone()));
            }
        }
        (None, _) => bail!(
            "profile {} has no live session to mint from, and service {} has no worker credentials\nhint: signet session authenticate (in a browser) first, or set service.{}.authentication.type=worker with its clientID and clientSecret",
            settings.profile,
            service.name,
            service.name
        ),
    }
    // The subject's proof, made for each try: with the server's nonce, if it asks.
    let form_with = |nonce: Option<&str>| {
        let mut form = form.clone();
        if let Some(s) = current {
            let proof = s.key().proof("POST", &endpoint, Some(&s.file.access_token), nonce);
            form.push(("subject_token_dpop", proof));
        }
        form
    };
    let t = token_request(&p, key, form_with, basic.as_ref()).await.map_err(|e| e.explain("token exchange"))?;
    let client_id = match (current, &basic) {
        (Some(s), _) => s.file.client_id.clone(),
        (None, Some((id, _))) => id.clone(),
        (None, None) => String::new(),
    };
    let subject = current.and_then(|s| s.file.subject.clone()).or_else(|| Some(client_id.clone()));
    let cached = cached(t, &service.issuer, &client_id, None, subject);
    session_file(service, key, &cached, true)
}

/// Tokens as they are cached, from a token endpoint's answer (RFC 6749
/// §5.1); `refresh` is kept when the answer brings no new refresh token.
pub(super) fn cached(
    t: TokenResponse,
    issuer: &str,
    client_id: &str,
    refresh: Option<&str>,
    subject: Option<String>,
) -> Cached {
    Cached {
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        grant: String::new(),
        // A lifetime is at most a day here, whatever the provider says; one
        // it does not name (0) is left unknown.
        expires_at: Some(t.expires_in).filter(|s| *s != 0).map(|s| now().saturating_add(s.clamp(0, 24 * 60 * 60))),
        refresh_token: t.refresh_token.or_else(|| refresh.map(str::to_owned)),
        access_token: t.access_token,
        id_token: None,
        scope: None,
        subject,
        // Required by RFC 6749 §5.1, but one a provider leaves out (empty) is none.
        token_type: Some(t.token_type).filter(|t| !t.is_empty()),
    }
}

/// Why a token request failed.
pub(super) enum TokenFailure {
    /// The provider's RFC 6749 §5.2 error.
    Refused {
        code: String,
        description: Option<String>,
    },
    Other(anyhow::Error),
}

impl TokenFailure {
    pub(super) fn explain(self, what: &str) -> anyhow::Error {
        match self {
            TokenFailure::Refused { code, description } => match description {
                Some(d) => anyhow!("{what} refused by the provider: {}: {}", safe(&code), safe(&d)),
                None => anyhow!("{what} refused by the provider: {}", safe(&code)),
            },
            TokenFailure::Other(e) => e,
        }
    }
}

/// A form POSTed to the token endpoint with a proof of `key`, and client
/// authentication when `basic` holds a confidential client's credentials.
pub(super) async fn token_request(
    p: &Provider,
    key: &ProofKey,
    form: impl Fn(Option<&str>) -> Vec<(&'static str, String)>,
    basic: Option<&(String, String)>,
) -> Result<TokenResponse, TokenFailure> {
    let endpoint = &p.metadata.token_endpoint;
    let body = |nonce: Option<&str>| {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in form(nonce) {
            body.append_pair(k, &v);
        }
        body.finish().into_bytes()
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/x-www-form-urlencoded"));
    headers.insert(http::header::ACCEPT, http::HeaderValue::from_static("application/json"));
    if let Some((id, secret)) = basic {
        // RFC 6749 §2.3.1: each part form-encoded, then Basic.
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let pair =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{}:{}", enc(id), enc(secret)));
        let mut v = http::HeaderValue::from_str(&format!("Basic {pair}"))
            .map_err(|_| TokenFailure::Other(anyhow!("the client credentials cannot be sent in a header")))?;
        v.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, v);
    }
    let res = send_with_proof(&p.http, key, endpoint, headers, body)
        .await
        .map_err(|e| TokenFailure::Other(unreachable(&e, endpoint, &p.service.name)))?;
    let status = res.status();
    let bytes =
        crate::http::body(res).await.map_err(|e| TokenFailure::Other(unreachable(&e, endpoint, &p.service.name)))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map_err(|e| TokenFailure::Other(anyhow!("the token endpoint's answer is not valid: {e}")));
    }
    match OAuthRefusal::read(&bytes) {
        OAuthRefusal { error: Some(code), error_description } => {
            Err(TokenFailure::Refused { code, description: error_description })
        }
        _ => Err(TokenFailure::Other(anyhow!("the token endpoint answered {status}"))),
    }
}
