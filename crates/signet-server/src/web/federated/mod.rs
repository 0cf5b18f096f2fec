//! "Continue with ⟨name⟩" (issue 7, seed 000): signetd signs a person on
//! through an external OpenID provider, as that provider's confidential
//! client, in the authorization code and device flows alike.
//!
//! - **Out:** the flow records a fresh `state` (its hash), a `nonce` and a
//!   PKCE verifier (sealed), and the browser goes to the provider.
//! - **Back:** the answer must carry the flow's id and secret as `state`,
//!   come to the browser that holds the flow's cookie, and find the flow
//!   still waiting. The flow goes back to its first step before anything
//!   else is done, so an answer is taken once. The code is exchanged (with
//!   the verifier and the client secret) and the ID token checked: the
//!   provider's keys (refetched for an unknown `kid`), `iss`, `aud`, `azp`,
//!   `exp`, `iat` and the `nonce`.
//! - **Who:** the person is the account linked to the provider's issuer and
//!   `sub`; never found by email. Unlinked, they may link an account they are
//!   signed on to in this browser, after confirming; or, where the provider
//!   allows it, an end-user account is made for them. Otherwise they are
//!   refused.
//! - **Second factor:** the provider's counts only when it is trusted for
//!   this kind of account and its `amr`/`acr` show one; otherwise signetd
//!   asks for its own TOTP, as after a password.
//!
//! Every refusal gets a page saying what happened, writes no account and no
//! link, and is recorded (`signon.federated`, with the provider, the
//! upstream subject when known, and a reason code). Every failure upstream
//! (its discovery document, its token endpoint, its keys) gets one answer,
//! `provider_failed`, whatever went wrong there, and counts against the
//! address: a page that told a closed port from an open one, or an OAuth
//! error from a stranger's answer, would let a provider's document probe
//! signetd's own network (issue 15). The detail goes to the log.

mod answer;
mod audit;
mod client;
mod link;
mod refusal;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use oauth2::{CsrfToken, PkceCodeChallenge, Scope};
use signet_core::crypto::{random_token, sha256};
use signet_core::federation::Provider;
use signet_core::login::{Step, verifier_purpose};
use signet_store::LoginFlow;

pub(in crate::web) use self::link::{decline_link, link, render_link};
use self::refusal::{Failed, Refusal, refuse, refused};
use super::signon::{Posted, render};
use super::{PageEnv, PageParams, error_page, internal, see_other};
use crate::keyring::EnvKeys;
use crate::metrics::Failure;
use crate::net::ClientIp;
use crate::routes::signon_url;
use crate::state::AppState;

/// The providers a sign-on page offers, "Continue with ⟨name⟩", and where
/// their form posts (`templates/federated/buttons.html`).
pub(in crate::web) struct Providers {
    pub(in crate::web) action: String,
    pub(in crate::web) offered: Vec<Provider>,
}

/// The providers of the environment, for a sign-on page; None when there
/// are none, or they cannot be listed.
pub(in crate::web) async fn providers(state: &AppState, env: &EnvKeys, flow: &LoginFlow) -> Option<Providers> {
    let offered = match state.store.identity_providers_page(&env.environment.id, None, 20).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(request_id = %crate::request_id(), error = %e, "listing identity providers");
            return None;
        }
    };
    if offered.is_empty() {
        return None;
    }
    let action = format!("{}/federate", signon_url(&state.issuer(&env.environment.id), &flow.id));
    Some(Providers { action, offered })
}

/// POST `/signon/{flow}/federate`: off to the chosen provider.
pub async fn start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Posted { env, flow, p, .. }: Posted,
) -> Response {
    if !matches!(flow.step, Step::Password | Step::Federating { .. }) {
        return see_other(&signon_url(&state.issuer(&env.environment.id), &flow.id));
    }
    let provider = match state.store.identity_provider(&env.environment.id, p.get("provider").unwrap_or_default()).await
    {
        Ok(Some((provider, _))) => provider,
        Ok(None) => {
            let msg = "That provider is not offered here any more.";
            return render(&state, &env, &flow, Some(msg), StatusCode::BAD_REQUEST).await;
        }
        Err(e) => return internal(e),
    };
    match away(&state, &env, &flow, &provider).await {
        Ok(res) => res,
        Err(Failed::Internal(e)) => internal(e),
        Err(failed) => refuse(&state, &env, failed, ip).await,
    }
}

/// The flow records what the provider's answer must carry and match (a
/// fresh `state`, a `nonce`, a sealed PKCE verifier), and the browser goes
/// to the provider.
async fn away(state: &AppState, env: &EnvKeys, flow: &LoginFlow, provider: &Provider) -> Result<Response, Failed> {
    let d = state.upstreams.discovery(&state.fetcher, &provider.issuer).await.map_err(|e| {
        tracing::warn!(issuer = %provider.issuer, error = %e, "an identity provider could not be reached");
        refused(Refusal::ProviderFailed, provider, flow, None)
    })?;
    let client = client::client(state, env, provider, &d).map_err(|e| {
        tracing::warn!(issuer = %provider.issuer, error = %e, "an identity provider's endpoints are unusable");
        refused(Refusal::ProviderFailed, provider, flow, None)
    })?;
    let (secret, nonce) = (random_token()?, random_token()?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let sealed_verifier = state.kek.seal(&verifier_purpose(&flow.id), verifier.secret().as_bytes())?;
    let step = Step::Federating {
        provider_id: provider.id.clone(),
        issuer: provider.issuer.clone(),
        state_hash: sha256(secret.expose().as_bytes()).to_vec(),
        nonce: nonce.expose().clone(),
        sealed_verifier,
    };
    if !state.store.advance_flow(&flow.id, flow.version, &step).await.map_err(|e| Failed::Internal(e.into()))? {
        return Ok(see_other(&signon_url(&state.issuer(&env.environment.id), &flow.id)));
    }
    let (url, _) = client
        .authorize_url(|| CsrfToken::new(format!("{}.{}", flow.id, secret.expose())))
        .add_scopes(provider.scopes.iter().map(|s| Scope::new(s.clone())))
        .add_extra_param("nonce", nonce.expose())
        // How the person signed on there, for the MFA trust and the trail
        // (OpenID Connect Core §5.5); a provider without the parameter ignores it.
        .add_extra_param("claims", r#"{"id_token":{"amr":null,"acr":null}}"#)
        .set_pkce_challenge(challenge)
        .url();
    Ok(see_other(url.as_str()))
}

/// GET `/federation/callback`: the provider's answer.
pub async fn callback(
    State(state): State<AppState>,
    PageEnv(env): PageEnv,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageParams(p): PageParams,
) -> Response {
    let now = state.now();
    if let Some(wait) = state.failures.blocked(ip, crate::ratelimit::Kind::SignOn, None, now) {
        state.metrics.failure(Failure::RateLimited);
        let msg = format!("Too many failed attempts from your address. Try again in {} minutes.", wait.div_ceil(60));
        return error_page(StatusCode::TOO_MANY_REQUESTS, "Sign-on refused", &msg);
    }
    match answer::answer(&state, &env, &headers, &p, now, ip).await {
        Ok(res) => res,
        Err(Failed::Internal(e)) => internal(e),
        Err(failed) => refuse(&state, &env, failed, ip).await,
    }
}
