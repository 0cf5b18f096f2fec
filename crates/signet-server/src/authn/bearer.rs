//! Access tokens on signetd's own APIs: tokens of any signetd environment
//! carrying the admin API audience (the admin API's OAuth scheme and the
//! Vault-compatible API alike), and, on the admin API, tokens of the
//! external issuers its settings name. Roles are read from the store, or
//! from an external issuer's configured claim, at request time.

use signet_core::id::{AccountId, ClientId, EnvironmentId};
use std::net::IpAddr;

use signet_core::audit::{Actor, ActorKind};
use signet_core::clock::UnixTime;
use signet_core::crypto::b64url_decode;

use super::{AuthnError, Authorization, Caller, Credentials, first_in_a_while};
use crate::cache::VerifiedToken;
use crate::config::admin_auth::{AuthSettings, ExternalIssuer, Scheme, principal_from};
use crate::oauth::dpop::Presented;
use crate::oauth::{Env, bearer};
use crate::ratelimit::Kind;
use crate::state::AppState;

/// The Vault-compatible API's caller: a signetd token with the admin API
/// audience, from `X-Vault-Token` or `Authorization`.
pub async fn vault(state: &AppState, c: &Credentials<'_>) -> Result<Caller, AuthnError> {
    let now = state.now();
    if let Some(wait) = state.failures.blocked(c.ip, Kind::Token, None, now) {
        return Err(AuthnError::TooManyFailures(wait));
    }
    let refused = || {
        state.metrics.failure(crate::metrics::Failure::AdminAuthentication);
        AuthnError::Unauthenticated { challenge: String::new(), reason: None }
    };
    let vault_token = c.parts.headers.get("x-vault-token").and_then(|v| v.to_str().ok()).map(str::trim);
    let (token, how) = match (vault_token, &c.authorization) {
        (Some(token), _) => (token, Presented::Bearer),
        (None, Authorization::Bearer(token) | Authorization::Dpop(token)) => (*token, c.presented(state)),
        (None, _) => return Err(refused()),
    };
    if token.is_empty() {
        return Err(refused());
    }
    match signet_token(state, token, c.ip, &how).await? {
        Some(caller) => Ok(caller),
        None => {
            state.failures.fail(c.ip, Kind::Token, None, now);
            Err(refused())
        }
    }
}

/// The admin API's OAuth scheme: a token of an external issuer the settings
/// name, or else of signetd's own.
pub(super) async fn admin(
    state: &AppState,
    settings: &AuthSettings,
    token: &str,
    ip: IpAddr,
    how: &Presented<'_>,
) -> Result<Option<Caller>, AuthnError> {
    // Only when external issuers are configured is the token's claimed issuer looked at here.
    if let Some(o) = settings.oauth.as_ref().filter(|o| !o.issuers.is_empty()) {
        let issuer = unverified_issuer(token);
        if let Some(ext) = o.issuers.iter().find(|e| issuer.as_deref() == Some(&e.issuer)) {
            // External issuers' tokens come as Bearer: their binding is not signetd's to check.
            if matches!(how, Presented::Dpop { .. }) {
                return Ok(None);
            }
            return external_token(state, ext, token, ip, state.now()).await;
        }
    }
    signet_token(state, token, ip, how).await
}

/// An access token of a signetd environment with the admin API audience,
/// from an admin account or a worker holding admin roles. Roles are read
/// from the store now, never from the token. A DPoP-bound token must come
/// with a fresh proof of its key (`how`).
async fn signet_token(
    state: &AppState,
    token: &str,
    ip: IpAddr,
    how: &Presented<'_>,
) -> Result<Option<Caller>, AuthnError> {
    let Some((env_id, claims)) = verified(state, token).await? else { return Ok(None) };
    if crate::oauth::dpop::presented_as_bound(state, &claims, token, how).await?.is_err() {
        return Ok(None);
    }
    // A client's own token names the client as its subject: it is never read
    // as a person's, even if an imported application took a person's id
    // (RFC 9700 §4.15; configuration validation refuses that too).
    let own_token = claims.sub == claims.client_id;
    if let Some(account) = state
        .store
        .account(&AccountId::from(claims.sub.as_str()))
        .await?
        .filter(|a| a.environment_id == env_id && !own_token)
    {
        if !account.active || !account.admin {
            return Ok(None);
        }
        return Ok(Some(Caller::account_token(&account, &claims.client_id, claims.jti, ip)));
    }
    // A worker's own token: its roles, as the store holds them now.
    let Some(app) =
        state.store.application(&EnvironmentId::from(env_id.as_str()), &ClientId::from(claims.sub.as_str())).await?
    else {
        return Ok(None);
    };
    if app.id != claims.client_id {
        return Ok(None);
    }
    Ok(Some(Caller::worker(&app, claims.jti, ip)))
}

/// The token's environment and claims, if it is signetd's, unexpired,
/// unrevoked, signed by a key still published and for the admin API. A
/// token verified before is remembered, so a script's calls do not pay a
/// signature check each; revocation is checked on every call.
async fn verified(
    state: &AppState,
    token: &str,
) -> Result<Option<(String, signet_core::token::AccessClaims)>, AuthnError> {
    let now = state.now();
    let key = state.authn.key_of(token.as_bytes());
    if let Some(v) = state.authn.tokens.get(&key, now) {
        // Unrevoked (the shared revocation state, now) and signed by a key still published?
        if state.revocations.is_revoked(&state.store, &v.claims, now).await? {
            return Ok(None);
        }
        let Ok(keys) = state.env_keys(&v.env_id).await else { return Ok(None) };
        return Ok(keys.verifiers.contains_key(&v.kid).then_some((v.env_id, v.claims)));
    }
    // The issuer says which environment's keys to check it with; nothing
    // else in the token is believed before the signature is.
    let Some(env_id) = unverified_issuer(token).and_then(|iss| environment_of(state, &iss)) else {
        return Ok(None);
    };
    // The environment comes from an unverified claim: whatever goes wrong
    // loading its keys, the caller is simply not authenticated.
    let Ok(keys) = state.env_keys(&env_id).await else { return Ok(None) };
    let Ok(claims) = bearer::verify(state, &Env(keys), token).await? else { return Ok(None) };
    if !claims.aud.iter().any(|a| *a == state.admin_audience()) {
        return Ok(None);
    }
    let kid = signet_core::token::peek_kid(token).unwrap_or_default();
    let until = claims.exp;
    state.authn.tokens.insert(key, VerifiedToken { env_id: env_id.clone(), kid, claims: claims.clone() }, now, until);
    Ok(Some((env_id, claims)))
}

/// A token of an external issuer: its roles come from the configured claim.
async fn external_token(
    state: &AppState,
    ext: &ExternalIssuer,
    token: &str,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Option<Caller>, AuthnError> {
    let claims = super::external::verify(state, ext, token).await.map_err(|e| {
        tracing::warn!(issuer = %ext.issuer, error = %e, "an external issuer's keys could not be fetched");
        AuthnError::Unavailable("the token's issuer could not be asked for its keys; try again")
    })?;
    let Some(claims) = claims else { return Ok(None) };
    let str_claim = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
    let Some(sub) = str_claim("sub") else { return Ok(None) };
    let name = str_claim(&ext.username_claim).unwrap_or(sub).to_owned();
    let values = super::external::claim_values(&claims, &ext.roles_claim);
    let principal = principal_from(&ext.roles, values, |a, b| a == b).map_err(AuthnError::Forbidden)?;
    // A client's own token (client credentials) names the client as its subject.
    let client_id = str_claim("client_id").or(str_claim("azp")).map(str::to_owned);
    let kind = if client_id.as_deref() == Some(sub) { ActorKind::Application } else { ActorKind::Person };
    let actor =
        Actor { kind, id: format!("oauth:{}#{sub}", ext.issuer), name, scheme: Scheme::Oauth.into(), client_id };
    let caller = Caller::new(principal, actor, ip).with_jti(str_claim("jti").map(str::to_owned));
    if first_in_a_while(state, &caller.actor.id, now) {
        state.store.record(&caller.signon(now)?).await?;
    }
    Ok(Some(caller))
}

fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&b64url_decode(payload)?).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// `{public_url}/{env}/as` -> `env`.
fn environment_of(state: &AppState, issuer: &str) -> Option<String> {
    let rest = issuer.strip_prefix(&state.public_url)?.strip_prefix('/')?;
    let env = rest.strip_suffix("/as")?;
    (!env.is_empty() && !env.contains('/')).then(|| env.to_owned())
}
