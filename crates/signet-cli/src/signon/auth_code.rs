//! The authorization code flow with PKCE (RFC 7636) through the browser:
//! open the provider's page, wait on the loopback for the redirect, check
//! `state` (and `iss` when sent, RFC 9207), then exchange the code.
//!
//! Each service has its own redirect path (`redirectURIPath`; see
//! `services`), and the listener takes answers on that path alone: against
//! a mix-up (RFC 9700 §4.4), where a provider sends the person on to
//! another provider to sign on, and then receives that provider's code and
//! this flow's PKCE verifier, a provider's answer can only arrive at the
//! path registered there, never at the flow of another service.

use std::time::Duration;

use anyhow::{anyhow, bail};
use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};

use super::Provider;
use super::loopback::Loopback;
use crate::output::safe;
use crate::services::Grant;
use crate::token_store::Cached;

pub struct Options {
    pub port: u16,
    pub path: String,
    pub scopes: String,
    pub timeout: Duration,
    pub open_browser: bool,
}

pub async fn sign_on(p: &Provider, client_id: &str, o: &Options) -> anyhow::Result<Cached> {
    let loopback = Loopback::bind(o.port, &o.path).await?;
    let redirect = RedirectUrl::new(loopback.redirect_uri.clone()).map_err(|e| anyhow!("bad redirect URI: {e}"))?;
    let client = p.client(client_id, None)?.set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let nonce = CsrfToken::new_random();
    let mut req = client
        .authorize_url(CsrfToken::new_random)
        .map_err(|_| anyhow!("the provider of service {} offers no authorization endpoint", p.service.name))?
        .set_pkce_challenge(challenge)
        .add_extra_param("nonce", nonce.secret());
    for s in o.scopes.split(' ').filter(|s| !s.is_empty()) {
        req = req.add_scope(Scope::new(s.to_owned()));
    }
    // OIDC Core §11: offline access is asked for with prompt=consent;
    // providers that follow it grant no refresh token without.
    if o.scopes.split(' ').any(|s| s == "offline_access") {
        req = req.add_extra_param("prompt", "consent");
    }
    let (url, state) = req.url();
    let url = safe(url.as_str()).into_owned();
    // The webbrowser crate runs $BROWSER when it is set, else the desktop's opener.
    if o.open_browser && webbrowser::open(&url).is_ok() {
        let which = std::env::var(crate::env::BROWSER).unwrap_or_else(|_| "your browser".into());
        // A launcher that starts nothing can still report success: always show the URL.
        eprintln!("Asked {} to open the sign-on to {}. If nothing opened, visit:\n{url}", safe(&which), p.reached());
    } else {
        eprintln!("Open this URL in a browser to sign on to {}:\n{url}", p.reached());
    }
    let params = tokio::select! {
        r = loopback.wait(state.secret(), &p.service.issuer) => r?,
        () = tokio::time::sleep(o.timeout) => bail!(
            "no sign-on arrived within {} seconds (was the browser closed before signing on, or did the provider refuse the redirect?)\nhint: run signet auth login again; raise auth.loginTimeoutSeconds, or use --no-browser and open the URL yourself\nhint: the provider must accept http://127.0.0.1{} (any port) as a redirect URI of client {}",
            o.timeout.as_secs(),
            loopback.path(),
            safe(client_id),
        ),
        _ = tokio::signal::ctrl_c() => bail!("sign-on interrupted"),
    };
    // The listener took only this flow's state, on this flow's path: the
    // path is the service's own (RFC 9700 §4.4.2), so a provider's answer
    // meant for another service's flow never arrives here.
    match params.get("iss") {
        // RFC 9207 §2.4: the issuer, when sent, must be this flow's provider.
        Some(iss) if *iss != p.service.issuer => bail!(
            "the response names issuer {iss:?}, not {:?}; it is refused (RFC 9207 mix-up defence)",
            p.service.issuer
        ),
        // A provider that says it sends `iss` always does (RFC 9207 §3).
        None if p.metadata.authorization_response_iss_parameter_supported => bail!(
            "the response carries no issuer, though {} says it always sends one; it is refused (RFC 9207 mix-up defence)",
            p.service.issuer
        ),
        _ => {}
    }
    if let Some(error) = params.get("error") {
        let description = params.get("error_description").map(|d| format!(": {}", safe(d))).unwrap_or_default();
        bail!("sign-on refused by the provider: {}{description}", safe(error));
    }
    let code = params.get("code").ok_or_else(|| anyhow!("the browser came back without a code"))?;
    let mut exchange = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .map_err(|e| anyhow!("{e}"))?
        .set_pkce_verifier(verifier);
    if let Some(m) = p.session_minutes {
        exchange = exchange.add_extra_param(super::SESSION_MINUTES, m.to_string());
    }
    let tokens = exchange.request_async(&p.sender()).await.map_err(|e| p.explain("code exchange", e))?;
    if let Some(id) = &tokens.extra_fields().id_token
        && super::jwt_claim(id, "nonce").as_deref() != Some(nonce.secret().as_str())
    {
        bail!("the ID token does not carry the nonce this sign-on sent; it is refused");
    }
    Ok(p.cache(client_id, Grant::AuthorizationCode, &tokens, None))
}
