//! The provider's answer (`/federation/callback`): taken once, by the flow
//! that waits for it in this browser; the code exchanged and the ID token
//! checked; then the person found here, linked, offered a link, made just in
//! time, or refused.

use signet_core::audit::Action as Event;
use signet_core::audit::ActorScheme;
use signet_core::id::AccountId;
use std::net::IpAddr;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::Response;
use oauth2::{AuthorizationCode, ClientSecret, PkceCodeVerifier, RequestTokenError};
use serde_json::json;
use signet_core::audit::digest_of;
use signet_core::crypto::{constant_time_eq, random_id, sha256};
use signet_core::federation::{IdTokenFault, Provider, Upstream, check_id_token, secret_purpose};
use signet_core::login::{self, Step, verifier_purpose};
use signet_core::model::{ADMINISTRATORS, Account};
use signet_store::{LoginFlow, StoreError};

use super::audit::{link_event, signed_on};
use super::client::{client, send};
use super::link::{may_link_self, new_link, offer_link, signed_on_here};
use super::refusal::{Failed, Refusal, Refused, refused};
use crate::error::InternalError;
use crate::fetch::Reach;
use crate::keyring::EnvKeys;
use crate::oauth::form::Params;
use crate::state::AppState;
use crate::upstream::Discovery;
use crate::web::signon::{event, holds, next_step, proceed};

/// What the flow kept for the provider's answer to match.
struct Waiting {
    nonce: String,
    sealed_verifier: Vec<u8>,
}

/// An answer being taken: the flow it is for, back at its first step, and
/// the provider that sent it.
struct Taking<'a> {
    state: &'a AppState,
    env: &'a EnvKeys,
    flow: LoginFlow,
    provider: Provider,
    now: i64,
    ip: IpAddr,
}

pub(super) async fn answer(
    state: &AppState,
    env: &EnvKeys,
    headers: &HeaderMap,
    p: &Params,
    now: i64,
    ip: IpAddr,
) -> Result<Response, Failed> {
    let (flow, waiting, (provider, sealed_secret)) = taken(state, env, headers, p, now).await?;
    let t = Taking { state, env, flow, provider, now, ip };
    if p.get("iss").is_some_and(|iss| iss != t.provider.issuer) {
        return Err(t.refuse(Refusal::ResponseIssuer, None));
    }
    if let Some(error) = p.get("error") {
        return Err(t.refuse(Refusal::ProviderError(printable(error)), None));
    }
    let code = p.get("code").filter(|c| !c.is_empty()).ok_or_else(|| {
        t.refuse(Refusal::ProviderError("the answer carried neither a code nor an error".into()), None)
    })?;
    let upstream = t.upstream(code, &sealed_secret, &waiting).await?;
    t.sign_on(headers, upstream).await
}

/// The flow this answer is for (live, this browser's and waiting for it),
/// what it kept, and its provider with the provider's sealed client secret.
/// The flow goes back to its first step before anything else is done, so an
/// answer is taken once.
async fn taken(
    state: &AppState,
    env: &EnvKeys,
    headers: &HeaderMap,
    p: &Params,
    now: i64,
) -> Result<(LoginFlow, Waiting, (Provider, Vec<u8>)), Failed> {
    // Which flow, and is it this browser's, waiting for this answer?
    let (flow_id, secret) = p.get("state").and_then(|s| s.split_once('.')).ok_or(Refusal::StateUnknown)?;
    let flow = state.store.flow(&env.environment.id, flow_id, now).await?.ok_or(Refusal::StateUnknown)?;
    if !holds(headers, &flow) {
        return Err(Refusal::StateMismatch.into());
    }
    let Step::Federating { provider_id, issuer, state_hash, nonce, sealed_verifier } = flow.step.clone() else {
        return Err(Refusal::Replayed.into());
    };
    if !constant_time_eq(&sha256(secret.as_bytes()), &state_hash) {
        return Err(Refusal::StateMismatch.into());
    }
    if !state.store.advance_flow(&flow.id, flow.version, &Step::Password).await? {
        return Err(Refusal::Replayed.into());
    }
    let flow = LoginFlow { step: Step::Password, version: flow.version + 1, ..flow };
    // The provider that was asked, unless it was removed or re-pointed meanwhile.
    match state.store.identity_provider(&env.environment.id, &provider_id).await? {
        Some((provider, sealed)) if provider.issuer == issuer => {
            Ok((flow, Waiting { nonce, sealed_verifier }, (provider, sealed)))
        }
        _ => {
            let flow_id = Some(flow.id.clone());
            let changed =
                Refused { refusal: Refusal::ProviderChanged, provider: None, upstream: None, account: None, flow_id };
            Err(Failed::Refused(Box::new(changed)))
        }
    }
}

impl Taking<'_> {
    fn refuse(&self, refusal: Refusal, upstream: Option<&Upstream>) -> Failed {
        refused(refusal, &self.provider, &self.flow, upstream)
    }

    /// The person the provider signed on: its ID token for `code`, checked.
    async fn upstream(&self, code: &str, sealed_secret: &[u8], waiting: &Waiting) -> Result<Upstream, Failed> {
        let (state, provider) = (self.state, &self.provider);
        let d = state.upstreams.discovery(&state.fetcher, &provider.issuer).await.map_err(|e| {
            tracing::warn!(issuer = %provider.issuer, error = %e, "an identity provider could not be reached");
            self.refuse(Refusal::ProviderFailed, None)
        })?;
        let id_token = self.exchange(&d, code, sealed_secret, waiting).await?;
        // An ID token comes from the provider's own token endpoint: an unknown
        // `kid` is a rotation, so the keys are fetched again at once.
        let keys = (d.jwks_uri.as_str(), d.reach(&d.jwks_uri));
        let claims = match state.upstreams.verify(&state.fetcher, keys, &id_token, Duration::ZERO).await {
            Ok(Ok(claims)) => claims,
            Ok(Err(fault)) => return Err(self.refuse(Refusal::Token(IdTokenFault::Signature(fault)), None)),
            Err(e) => {
                tracing::warn!(issuer = %provider.issuer, error = %e, "an identity provider's keys could not be fetched");
                return Err(self.refuse(Refusal::ProviderFailed, None));
            }
        };
        check_id_token(&claims, &provider.issuer, &provider.client_id, &waiting.nonce, self.now)
            .map_err(|f| self.refuse(Refusal::Token(f), None))
    }

    /// The ID token the provider's token endpoint gives for `code`, with the
    /// flow's PKCE verifier and signetd's client secret.
    async fn exchange(
        &self,
        d: &Discovery,
        code: &str,
        sealed_secret: &[u8],
        waiting: &Waiting,
    ) -> Result<String, Failed> {
        let (state, provider) = (self.state, &self.provider);
        let client = client(state, self.env, provider, d).map_err(|_| self.refuse(Refusal::ProviderFailed, None))?;
        let open = |purpose: &str, sealed: &[u8]| -> Result<String, Failed> {
            let plain = state.kek.open(purpose, sealed)?;
            String::from_utf8(plain.expose().to_vec())
                .map_err(|e| InternalError::stored("a sealed federation secret", e).into())
        };
        let client = client.set_client_secret(ClientSecret::new(open(&secret_purpose(&provider.id), sealed_secret)?));
        let verifier = PkceCodeVerifier::new(open(&verifier_purpose(&self.flow.id), &waiting.sealed_verifier)?);
        let owned = state.clone();
        let reach = d.token_endpoint.as_deref().map_or(Reach::Public, |t| d.reach(t));
        let sender = move |req| {
            let state = owned.clone();
            async move { send(&state, req, reach).await }
        };
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(verifier)
            .request_async(&sender)
            .await
            .map_err(|e| {
                let what = match e {
                    RequestTokenError::ServerResponse(r) => {
                        let v = serde_json::to_value(&r).unwrap_or_default();
                        format!("it answered {}", printable(v["error"].as_str().unwrap_or("error")))
                    }
                    RequestTokenError::Request(e) => e.to_string(),
                    RequestTokenError::Parse(..) | RequestTokenError::Other(_) => "its answer could not be read".into(),
                };
                tracing::warn!(issuer = %provider.issuer, error = %what, "an identity provider's token endpoint failed");
                self.refuse(Refusal::ProviderFailed, None)
            })?;
        tokens.extra_fields().id_token.clone().ok_or_else(|| self.refuse(Refusal::Token(IdTokenFault::Missing), None))
    }

    /// The person the provider vouched for, signed on here: the account
    /// linked to them, a link offered, or an account made just in time.
    async fn sign_on(self, headers: &HeaderMap, upstream: Upstream) -> Result<Response, Failed> {
        let (state, env, now, ip) = (self.state, self.env, self.now, self.ip);
        let up = Some(&upstream);
        // Who is it here?
        let account = match state.store.federated_link(&self.provider.issuer, &upstream.subject).await? {
            Some(link) => match state.store.account(&AccountId::from(link.account_id.as_str())).await? {
                Some(a) if a.environment_id == env.environment.id => a,
                _ => return Err(self.refuse(Refusal::LinkedElsewhere, up)),
            },
            None => match signed_on_here(state, env, headers).await? {
                Some(here) if may_link_self(&here, now) => {
                    return offer_link(state, env, self.flow, &self.provider, upstream, here.0.id).await;
                }
                _ if self.provider.jit && env.environment.name != ADMINISTRATORS => {
                    create(state, env, &self.provider, &upstream, ip, now).await.map_err(|f| match f {
                        Failed::Refused(r) => self.refuse(r.refusal, up),
                        internal => internal,
                    })?
                }
                _ => return Err(self.refuse(Refusal::Unlinked, up)),
            },
        };
        // The provider vouched for the person: the password's lock is not for them.
        if !account.active {
            let mut r = match self.refuse(Refusal::Inactive, up) {
                Failed::Refused(r) => r,
                other => return Err(other),
            };
            r.account = Some(account);
            return Err(Failed::Refused(r));
        }
        let provider = &self.provider;
        let second_factor = provider.mfa.second_factor(account.admin, &upstream.amr, upstream.acr.as_deref());
        state.store.record(&signed_on(&account, provider, &upstream, ip, now)?).await?;
        let next =
            next_step(state, account.id.as_str(), |draw| login::after_federated(&account, second_factor, now, draw))?;
        Ok(proceed(state, env, self.flow, next, &account, true, ip).await)
    }
}

/// A provider's error code as it may be shown: printable ASCII, bounded.
fn printable(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(100).collect()
}

/// An end-user account made just in time, with its link. Never takes an
/// existing account's name: that would let whoever controls an upstream
/// email address take the account over. Nor one in another case (the store
/// compares them so, in its transaction): `ADA@acme.test` beside
/// `ada@acme.test` would be a look-alike of the same person.
async fn create(
    state: &AppState,
    env: &EnvKeys,
    provider: &Provider,
    upstream: &Upstream,
    ip: IpAddr,
    now: i64,
) -> Result<Account, Failed> {
    let Some(username) = upstream.username() else { return Err(Refusal::Unlinked.into()) };
    let id = random_id()?;
    let account = Account::new(id.into(), &env.environment.id, username, now);
    let link = new_link(provider, upstream, &account, now);
    let mut made = event(&account, Event::AccountCreate, account.id.to_string(), Some(ip), now)?;
    made.actor.scheme = ActorScheme::FederatedVia(provider.id.clone());
    made.digest = digest_of(&json!({"username": account.username, "jit": provider.id}));
    let mut linked = link_event(&account, &link, provider, upstream, ip, now)?;
    linked.request_id = Some(crate::request_id());
    match state.store.insert_federated_account(&account, &link, &[made, linked]).await {
        Ok(()) => Ok(account),
        // Someone took the name, or linked the person, meanwhile.
        Err(StoreError::Conflict(_)) => Err(Refusal::NameTaken(username.to_owned()).into()),
        Err(e) => Err(e.into()),
    }
}
