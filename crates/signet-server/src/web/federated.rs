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

use std::time::Duration;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use signet_core::audit::{Actor, ActorKind, AuditEvent, digest_of};
use signet_core::crypto::{constant_time_eq, random_id, random_token, sha256};
use signet_core::federation::{IdTokenFault, Provider, Upstream, check_id_token, secret_purpose};
use signet_core::login::{self, Step, verifier_purpose};
use signet_core::model::{ADMINISTRATORS, Account};
use signet_store::{FederatedLink, LoginFlow, StoreError};

use super::authorize::current_session;
use super::signon::{StepResult, event, holds, new_enrolment_secret, posted, proceed};
use super::{PageEnv, PageParams, internal, page, see_other};
use crate::fetch::{Call, Reach};
use crate::keyring::EnvKeys;
use crate::metrics::Failure;
use crate::net::ClientIp;
use crate::routes::{self, signon_url};
use crate::state::AppState;
use crate::upstream::Discovery;

/// The ID token beside the OAuth fields of the provider's token response.
#[derive(Clone, Serialize, Deserialize)]
struct IdTokenField {
    #[serde(default)]
    id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

/// The token itself stays out.
impl std::fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenField").field("id_token", &self.id_token.as_ref().map(|_| "[redacted]")).finish()
    }
}

#[derive(Template)]
#[template(path = "federated/refused.html")]
struct RefusedPage {
    reason: &'static str,
    message: String,
    /// The flow's sign-on page, when the flow is still live.
    back: Option<String>,
}

#[derive(Template)]
#[template(path = "federated/link.html")]
struct LinkPage<'a> {
    provider: String,
    upstream_name: &'a str,
    username: String,
    error: Option<&'a str>,
    csrf: &'a str,
}

/// How recent a sign-on here must be for its person to link a provider
/// sign-in to it themselves.
const LINK_WITHIN: i64 = 600;

type Tokens = StandardTokenResponse<IdTokenField, BasicTokenType>;

type Client = oauth2::Client<
    BasicErrorResponse,
    Tokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Why a federated sign-on was refused.
#[derive(Debug)]
enum Refusal {
    /// The provider answered `error` (sanitised) in the browser.
    ProviderError(String),
    /// Anything that went wrong between signetd and the provider.
    ProviderFailed,
    /// No live flow has that `state`.
    StateUnknown,
    /// The flow is not this browser's, or the `state` secret is wrong.
    StateMismatch,
    /// The flow already took an answer.
    Replayed,
    /// The provider was removed or re-pointed while the person was away.
    ProviderChanged,
    /// The answer names another issuer (RFC 9207): a mix-up between providers.
    ResponseIssuer,
    Token(IdTokenFault),
    Unlinked,
    /// Just-in-time creation would have taken an existing account's name.
    NameTaken(String),
    Inactive,
    /// Linked to an account of another environment.
    LinkedElsewhere,
}

impl Refusal {
    fn code(&self) -> &'static str {
        match self {
            Refusal::ProviderError(_) => "provider_error",
            Refusal::ProviderFailed => "provider_failed",
            Refusal::StateUnknown => "state_unknown",
            Refusal::StateMismatch => "state_mismatch",
            Refusal::Replayed => "replayed",
            Refusal::ProviderChanged => "provider_changed",
            Refusal::ResponseIssuer => "response_wrong_iss",
            Refusal::Token(f) => f.code(),
            Refusal::Unlinked => "unlinked",
            Refusal::NameTaken(_) => "name_taken",
            Refusal::Inactive => "account_inactive",
            Refusal::LinkedElsewhere => "linked_elsewhere",
        }
    }

    fn message(&self, provider: &str) -> String {
        match self {
            Refusal::ProviderError(e) => format!("{provider} did not sign you on ({e})."),
            Refusal::ProviderFailed => {
                format!("{provider} could not complete this sign-on. Try again later, or sign on another way.")
            }
            Refusal::StateUnknown => "This sign-on has expired, was already used, or was started in another \
                browser. Start again from your application."
                .into(),
            Refusal::StateMismatch => {
                "This answer does not belong to a sign-on started in this browser. Start again from your application."
                    .into()
            }
            Refusal::Replayed => "This answer was already used. Start again from your application.".into(),
            Refusal::ProviderChanged => format!("{provider} was changed while you were away. Start again."),
            Refusal::ResponseIssuer => format!("The answer did not come from {provider}. Start again."),
            Refusal::Token(f) => format!(
                "{provider}'s answer could not be trusted ({}), so you were not signed on. Ask an administrator.",
                f.code()
            ),
            Refusal::Unlinked => format!(
                "Your {provider} sign-in is not linked to an account here. Ask an administrator to link it. If you \
                 have a password here, you can also sign on with it and continue with {provider} within ten minutes \
                 to link it yourself."
            ),
            Refusal::NameTaken(name) => format!(
                "An account named {name} already exists here and is not linked to your {provider} sign-in, so none \
                 was made for you. Ask an administrator to link them."
            ),
            Refusal::Inactive => "Your account here is disabled or locked. Ask an administrator.".into(),
            Refusal::LinkedElsewhere => {
                format!("Your {provider} sign-in is linked to an account of another environment.")
            }
        }
    }

    /// Whether the refusal suggests someone probing (counted against the
    /// address, as wrong passwords are), rather than a person cancelling at
    /// the provider. A failure upstream counts: it is what probing through
    /// a provider's discovery document looks like.
    fn suspicious(&self) -> bool {
        matches!(
            self,
            Refusal::ProviderFailed
                | Refusal::StateUnknown
                | Refusal::StateMismatch
                | Refusal::Replayed
                | Refusal::ResponseIssuer
                | Refusal::Token(_)
                | Refusal::NameTaken(_)
        )
    }

    fn status(&self) -> StatusCode {
        match self {
            Refusal::ProviderFailed => StatusCode::BAD_GATEWAY,
            Refusal::Unlinked | Refusal::NameTaken(_) | Refusal::Inactive | Refusal::LinkedElsewhere => {
                StatusCode::FORBIDDEN
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A refusal with what was known when it happened, for the trail and the page.
struct Refused {
    refusal: Refusal,
    provider: Option<Provider>,
    upstream: Option<Upstream>,
    account: Option<Account>,
    /// The flow to go back to, when it is still live.
    flow_id: Option<String>,
}

enum Failed {
    Refused(Box<Refused>),
    Internal(String),
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Failed {
        match e {
            // Only a provider's answer brings text the store refuses (a NUL
            // in a subject or a name): the provider failed, like any other way.
            StoreError::Unstorable => Refusal::ProviderFailed.into(),
            e => Failed::Internal(e.to_string()),
        }
    }
}

impl From<Refusal> for Failed {
    fn from(refusal: Refusal) -> Failed {
        Failed::Refused(Box::new(Refused { refusal, provider: None, upstream: None, account: None, flow_id: None }))
    }
}

/// A refusal once the provider is known.
fn refused(refusal: Refusal, provider: &Provider, flow: &LoginFlow, upstream: Option<&Upstream>) -> Failed {
    Failed::Refused(Box::new(Refused {
        refusal,
        provider: Some(provider.clone()),
        upstream: upstream.cloned(),
        account: None,
        flow_id: Some(flow.id.clone()),
    }))
}

/// The providers a sign-on page offers, "Continue with ⟨name⟩", and where
/// their form posts (`templates/federated/buttons.html`).
pub(super) struct Providers {
    pub(super) action: String,
    pub(super) offered: Vec<Provider>,
}

/// The providers of the environment, for a sign-on page; None when there
/// are none, or they cannot be listed.
pub(super) async fn providers(state: &AppState, env: &EnvKeys, flow: &LoginFlow) -> Option<Providers> {
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

/// The OAuth client for a provider, with what its discovery says.
fn client(state: &AppState, env: &EnvKeys, provider: &Provider, d: &Discovery) -> Result<Client, String> {
    let (Some(auth), Some(token)) = (&d.authorization_endpoint, &d.token_endpoint) else {
        return Err("the discovery document lacks the code-flow endpoints".into());
    };
    let auth = AuthUrl::new(auth.clone()).map_err(|e| e.to_string())?;
    let token = TokenUrl::new(token.clone()).map_err(|e| e.to_string())?;
    let redirect = RedirectUrl::new(routes::federation_callback_url(&state.issuer(&env.environment.id)))
        .map_err(|e| e.to_string())?;
    // client_secret_basic unless the provider says it takes only the form (OpenID Discovery §3).
    let methods = &d.token_endpoint_auth_methods_supported;
    let post_only = !methods.is_empty()
        && !methods.iter().any(|m| m == "client_secret_basic")
        && methods.iter().any(|m| m == "client_secret_post");
    Ok(oauth2::Client::new(ClientId::new(provider.client_id.clone()))
        .set_auth_uri(auth)
        .set_token_uri(token)
        .set_redirect_uri(redirect)
        .set_auth_type(if post_only { AuthType::RequestBody } else { AuthType::BasicAuth }))
}

/// POST `/signon/{flow}/federate`: off to the chosen provider.
pub async fn start(
    State(state): State<AppState>,
    PageEnv(env): PageEnv,
    Path((_, flow_id)): Path<(String, String)>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageParams(p): PageParams,
) -> Response {
    let flow = match posted(&state, &env, &flow_id, &headers, &p).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    let here = signon_url(&state.issuer(&env.environment.id), &flow.id);
    if !matches!(flow.step, Step::Password | Step::Federating { .. }) {
        return see_other(&here);
    }
    let provider = match state.store.identity_provider(&env.environment.id, p.get("provider").unwrap_or_default()).await
    {
        Ok(Some((provider, _))) => provider,
        Ok(None) => {
            let msg = "That provider is not offered here any more.";
            return super::signon::render(&state, &env, &flow, Some(msg), StatusCode::BAD_REQUEST).await;
        }
        Err(e) => return internal(e),
    };
    let d = match state.upstreams.discovery(&state.fetcher, &provider.issuer).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(issuer = %provider.issuer, error = %e, "an identity provider could not be reached");
            return refuse(&state, &env, refused(Refusal::ProviderFailed, &provider, &flow, None), ip).await;
        }
    };
    let client = match client(&state, &env, &provider, &d) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(issuer = %provider.issuer, error = %e, "an identity provider's endpoints are unusable");
            return refuse(&state, &env, refused(Refusal::ProviderFailed, &provider, &flow, None), ip).await;
        }
    };
    let (Ok(secret), Ok(nonce)) = (random_token(), random_token()) else {
        return internal("random generator failed");
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let Ok(sealed_verifier) = state.kek.seal(&verifier_purpose(&flow.id), verifier.secret().as_bytes()) else {
        return internal("sealing a PKCE verifier failed");
    };
    let step = Step::Federating {
        provider_id: provider.id.clone(),
        issuer: provider.issuer.clone(),
        state_hash: sha256(secret.expose().as_bytes()).to_vec(),
        nonce: nonce.expose().clone(),
        sealed_verifier,
    };
    match state.store.advance_flow(&flow.id, flow.version, &step).await {
        Ok(true) => {}
        Ok(false) => return see_other(&here),
        Err(e) => return internal(e),
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
    see_other(url.as_str())
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
        return super::error_page(StatusCode::TOO_MANY_REQUESTS, "Sign-on refused", &msg);
    }
    match answer(&state, &env, &headers, &p, now, ip).await {
        Ok(res) => res,
        Err(Failed::Internal(e)) => internal(e),
        Err(failed) => refuse(&state, &env, failed, ip).await,
    }
}

async fn answer(
    state: &AppState,
    env: &EnvKeys,
    headers: &HeaderMap,
    p: &super::Params,
    now: i64,
    ip: std::net::IpAddr,
) -> Result<Response, Failed> {
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
    // The answer is taken once: the flow goes back to its first step
    // before anything else is done.
    if !state.store.advance_flow(&flow.id, flow.version, &Step::Password).await? {
        return Err(Refusal::Replayed.into());
    }
    let flow = LoginFlow { step: Step::Password, version: flow.version + 1, ..flow };
    let (provider, sealed_secret) = match state.store.identity_provider(&env.environment.id, &provider_id).await? {
        Some((provider, sealed)) if provider.issuer == issuer => (provider, sealed),
        _ => {
            return Err(Failed::Refused(Box::new(Refused {
                refusal: Refusal::ProviderChanged,
                provider: None,
                upstream: None,
                account: None,
                flow_id: Some(flow.id.clone()),
            })));
        }
    };
    let refuse = |r: Refusal, up: Option<&Upstream>| refused(r, &provider, &flow, up);
    if p.get("iss").is_some_and(|iss| iss != provider.issuer) {
        return Err(refuse(Refusal::ResponseIssuer, None));
    }
    if let Some(error) = p.get("error") {
        return Err(refuse(Refusal::ProviderError(printable(error)), None));
    }
    let code = p
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| refuse(Refusal::ProviderError("the answer carried neither a code nor an error".into()), None))?;
    let d = state.upstreams.discovery(&state.fetcher, &provider.issuer).await.map_err(|e| {
        tracing::warn!(issuer = %provider.issuer, error = %e, "an identity provider could not be reached");
        refuse(Refusal::ProviderFailed, None)
    })?;
    let client = client(state, env, &provider, &d).map_err(|_| refuse(Refusal::ProviderFailed, None))?;
    let open = |purpose: &str, sealed: &[u8]| {
        state
            .kek
            .open(purpose, sealed)
            .ok()
            .and_then(|s| String::from_utf8(s.expose().to_vec()).ok())
            .ok_or_else(|| Failed::Internal("a sealed federation secret could not be opened".into()))
    };
    let client = client.set_client_secret(ClientSecret::new(open(&secret_purpose(&provider.id), &sealed_secret)?));
    let verifier = PkceCodeVerifier::new(open(&verifier_purpose(&flow.id), &sealed_verifier)?);
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
            refuse(Refusal::ProviderFailed, None)
        })?;
    let id_token =
        tokens.extra_fields().id_token.as_deref().ok_or_else(|| refuse(Refusal::Token(IdTokenFault::Missing), None))?;
    // An ID token comes from the provider's own token endpoint: an unknown
    // `kid` is a rotation, so the keys are fetched again at once.
    let keys = (d.jwks_uri.as_str(), d.reach(&d.jwks_uri));
    let claims = match state.upstreams.verify(&state.fetcher, keys, id_token, Duration::ZERO).await {
        Ok(Ok(claims)) => claims,
        Ok(Err(fault)) => return Err(refuse(Refusal::Token(IdTokenFault::Signature(fault)), None)),
        Err(e) => {
            tracing::warn!(issuer = %provider.issuer, error = %e, "an identity provider's keys could not be fetched");
            return Err(refuse(Refusal::ProviderFailed, None));
        }
    };
    let upstream = check_id_token(&claims, &provider.issuer, &provider.client_id, &nonce, now)
        .map_err(|f| refuse(Refusal::Token(f), None))?;
    let up = Some(&upstream);

    // Who is it here?
    let account = match state.store.federated_link(&provider.issuer, &upstream.subject).await? {
        Some(link) => match state.store.account(&link.account_id).await? {
            Some(a) if a.environment_id == env.environment.id => a,
            _ => return Err(refuse(Refusal::LinkedElsewhere, up)),
        },
        None => match signed_on_here(state, env, headers).await? {
            Some(here) if may_link_self(&here, now) => {
                return offer_link(state, env, flow, &provider, upstream, here.0.id).await;
            }
            _ if provider.jit && env.environment.name != ADMINISTRATORS => {
                create(state, env, &provider, &upstream, ip, now).await.map_err(|f| match f {
                    Failed::Refused(r) => refuse(r.refusal, up),
                    internal => internal,
                })?
            }
            _ => return Err(refuse(Refusal::Unlinked, up)),
        },
    };
    // The provider vouched for the person: the password's lock is not for them.
    if !account.active {
        let mut r = match refuse(Refusal::Inactive, up) {
            Failed::Refused(r) => r,
            other => return Err(other),
        };
        r.account = Some(account);
        return Err(Failed::Refused(r));
    }
    let second_factor = provider.mfa.second_factor(account.admin, &upstream.amr, upstream.acr.as_deref());
    state.store.record(&signed_on(&account, &provider, &upstream, ip, now)?).await?;
    let next = login::after_federated(&account, second_factor, now, || new_enrolment_secret(state, &account.id))
        .ok_or_else(|| Failed::Internal("could not create a TOTP secret".into()))?;
    Ok(proceed(state, env, flow, next, &account, true, ip).await)
}

/// Sends `oauth2`'s request through the guarded fetcher, within `reach`.
async fn send(
    state: &AppState,
    req: oauth2::HttpRequest,
    reach: Reach,
) -> Result<oauth2::HttpResponse, crate::fetch::FetchError> {
    let (parts, body) = req.into_parts();
    let mut call = Call::post(parts.uri.to_string(), "application/x-www-form-urlencoded", body);
    for (name, value) in &parts.headers {
        if name != oauth2::http::header::CONTENT_TYPE
            && let Ok(v) = value.to_str()
        {
            call = call.header(name.as_str(), v);
        }
    }
    let answer = state.fetcher.send_within(call, reach).await?;
    let mut res = oauth2::HttpResponse::new(answer.body);
    *res.status_mut() = oauth2::http::StatusCode::from_u16(answer.status)
        .map_err(|e| crate::fetch::FetchError::Refused(e.to_string()))?;
    res.headers_mut()
        .insert(oauth2::http::header::CONTENT_TYPE, oauth2::http::HeaderValue::from_static("application/json"));
    Ok(res)
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
    ip: std::net::IpAddr,
    now: i64,
) -> Result<Account, Failed> {
    let Some(username) = upstream.username() else { return Err(Refusal::Unlinked.into()) };
    let account = Account {
        id: random_id().map_err(|e| Failed::Internal(e.to_string()))?,
        environment_id: env.environment.id.clone(),
        username: username.to_owned(),
        password_hash: None,
        active: true,
        admin: false,
        roles: Default::default(),
        auditor: false,
        totp_sealed: None,
        totp_confirmed: false,
        totp_last_step: 0,
        failed_attempts: 0,
        password_change_required: false,
        locked_until: 0,
        created_at: now,
    };
    let link = new_link(provider, upstream, &account, now);
    let mut made = event(&account, "account.create", account.id.clone(), Some(ip), now)?;
    made.actor.scheme = format!("federated:{}", provider.id);
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

fn new_link(provider: &Provider, upstream: &Upstream, account: &Account, now: i64) -> FederatedLink {
    FederatedLink {
        issuer: provider.issuer.clone(),
        subject: upstream.subject.clone(),
        account_id: account.id.clone(),
        provider_id: provider.id.clone(),
        created_at: now,
    }
}

fn upstream_of(provider: &Provider, upstream: Option<&Upstream>) -> signet_core::audit::Upstream {
    signet_core::audit::Upstream {
        provider_id: provider.id.clone(),
        issuer: provider.issuer.clone(),
        subject: upstream.map(|u| u.subject.clone()),
        amr: upstream.map(|u| u.amr.clone()).unwrap_or_default(),
        acr: upstream.and_then(|u| u.acr.clone()),
    }
}

/// A person linking their own account, as the trail records it.
fn link_event(
    account: &Account,
    link: &FederatedLink,
    provider: &Provider,
    upstream: &Upstream,
    ip: std::net::IpAddr,
    now: i64,
) -> Result<AuditEvent, StoreError> {
    let mut ev = event(account, "federated_link.create", account.id.clone(), Some(ip), now)?;
    ev.actor.scheme = format!("federated:{}", provider.id);
    ev.digest = digest_of(
        &json!({"issuer": link.issuer, "subject": link.subject, "account": link.account_id, "provider": provider.id}),
    );
    ev.upstream = Some(upstream_of(provider, Some(upstream)));
    ev.outcome = Some("success".into());
    Ok(ev)
}

/// The provider's part of a sign-on, accepted for `account`.
fn signed_on(
    account: &Account,
    provider: &Provider,
    upstream: &Upstream,
    ip: std::net::IpAddr,
    now: i64,
) -> Result<AuditEvent, StoreError> {
    let mut ev = event(account, "signon.federated", format!("identity-provider:{}", provider.id), Some(ip), now)?;
    ev.actor.scheme = format!("federated:{}", provider.id);
    ev.outcome = Some("success".into());
    ev.request_id = Some(crate::request_id());
    ev.upstream = Some(upstream_of(provider, Some(upstream)));
    Ok(ev)
}

/// Records a refusal and shows it.
async fn refuse(state: &AppState, env: &EnvKeys, failed: Failed, ip: std::net::IpAddr) -> Response {
    let r = match failed {
        Failed::Refused(r) => r,
        Failed::Internal(e) => return internal(e),
    };
    let now = state.now();
    if r.refusal.suspicious() {
        state.failures.fail(ip, crate::ratelimit::Kind::SignOn, None, now);
    }
    state.metrics.failure(Failure::Federation);
    // A refusal with no account is anyone's to send: the trail takes a
    // bounded number per address and window, so a flood cannot grow it.
    if r.account.is_none() && !state.failures.may_record(ip, now) {
        return refusal_page(state, env, &r);
    }
    let upstream = r.provider.as_ref().map(|p| upstream_of(p, r.upstream.as_ref()));
    let recorded = failure_event(env, r.account.as_ref(), upstream, r.refusal.code(), ip, now);
    if let Err(e) = match recorded {
        Ok(ev) => state.store.record(&ev).await,
        Err(e) => Err(e),
    } {
        return internal(e);
    }
    refusal_page(state, env, &r)
}

/// The page a refused federated sign-on shows.
fn refusal_page(state: &AppState, env: &EnvKeys, r: &Refused) -> Response {
    let name = r.provider.as_ref().map_or("The provider", |p| p.name.as_str());
    let back = r.flow_id.as_deref().map(|id| signon_url(&state.issuer(&env.environment.id), id));
    page(r.refusal.status(), &RefusedPage { reason: r.refusal.code(), message: r.refusal.message(name), back })
}

/// A refused federated sign-on, as the trail records it.
fn failure_event(
    env: &EnvKeys,
    account: Option<&Account>,
    upstream: Option<signet_core::audit::Upstream>,
    reason: &str,
    ip: std::net::IpAddr,
    now: i64,
) -> Result<AuditEvent, StoreError> {
    let actor = Actor {
        kind: ActorKind::Person,
        id: account.map(|a| a.id.clone()).unwrap_or_default(),
        name: account.map(|a| a.username.clone()).unwrap_or_default(),
        scheme: "federated".into(),
        client_id: None,
    };
    let target = match &upstream {
        Some(u) => format!("identity-provider:{}", u.provider_id),
        None => "identity-provider".into(),
    };
    let mut ev = AuditEvent::new(actor, "signon.federated", Some(&env.environment.id), &target, now)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    ev.outcome = Some("failure".into());
    ev.reason = Some(reason.into());
    ev.request_id = Some(crate::request_id());
    ev.source_ip = Some(ip.to_string());
    ev.upstream = upstream;
    Ok(ev)
}

/// An upstream person with no link, back to a browser signed on here as
/// `account_id`: the flow asks them to confirm linking the two.
async fn offer_link(
    state: &AppState,
    env: &EnvKeys,
    flow: LoginFlow,
    provider: &Provider,
    upstream: Upstream,
    account_id: String,
) -> Result<Response, Failed> {
    let step = Step::Link {
        account_id,
        provider_id: provider.id.clone(),
        issuer: provider.issuer.clone(),
        subject: upstream.subject.clone(),
        upstream_name: upstream.display().to_owned(),
        second_factor: provider.mfa.second_factor(false, &upstream.amr, upstream.acr.as_deref()),
        amr: upstream.amr.clone(),
        acr: upstream.acr.clone(),
    };
    let here = signon_url(&state.issuer(&env.environment.id), &flow.id);
    state.store.advance_flow(&flow.id, flow.version, &step).await?;
    Ok(see_other(&here))
}

/// The account this browser is signed on to in this environment, and when
/// it signed on, if it is.
async fn signed_on_here(
    state: &AppState,
    env: &EnvKeys,
    headers: &HeaderMap,
) -> Result<Option<(Account, i64)>, StoreError> {
    match current_session(state, env, headers).await? {
        Some(session) => Ok(state.store.account(&session.account_id).await?.map(|a| (a, session.auth_time))),
        None => Ok(None),
    }
}

/// Whether the person signed on here may link a provider sign-in to their
/// account themselves: an end user who signed on within `LINK_WITHIN`. An
/// administrator's account is UserAdmin's to link, through the admin API,
/// so that a browser left signed on cannot give it a second way in.
fn may_link_self((account, auth_time): &(Account, i64), now: i64) -> bool {
    !account.admin && *auth_time >= now - LINK_WITHIN
}

/// The person confirmed linking their provider sign-in to the account they
/// are signed on to: the link is made (with the sign-on's record, in one
/// transaction) and the sign-on goes on as that account.
pub(super) async fn link(
    state: &AppState,
    env: &EnvKeys,
    step: &Step,
    headers: &HeaderMap,
    now: i64,
    ip: std::net::IpAddr,
) -> StepResult {
    let Step::Link { account_id, provider_id, issuer, subject, upstream_name: _, second_factor, amr, acr } = step
    else {
        return Ok(Err((Failure::Other, "This sign-on is not linking an account.")));
    };
    let upstream = Upstream {
        subject: subject.clone(),
        amr: amr.clone(),
        acr: acr.clone(),
        email: None,
        preferred_username: None,
        name: None,
    };
    let provider = state.store.identity_provider(&env.environment.id, provider_id).await?.map(|(p, _)| p);
    let here = signed_on_here(state, env, headers).await?.filter(|(a, _)| &a.id == account_id);
    let refusal = match (&provider, &here) {
        (Some(p), _) if &p.issuer != issuer => Some(("provider_changed", PROVIDER_CHANGED)),
        (None, _) => Some(("provider_changed", PROVIDER_CHANGED)),
        (_, None) => Some(("link_without_session", NO_SESSION)),
        (_, Some(h)) if !may_link_self(h, now) => Some(("link_not_allowed", NOT_NOW)),
        _ => None,
    };
    let (Some(provider), Some((account, _)), None) = (provider, here, refusal) else {
        let (code, message) = refusal.unwrap_or(("link_not_allowed", NOT_NOW));
        let on_record = Some(signet_core::audit::Upstream {
            provider_id: provider_id.clone(),
            issuer: issuer.clone(),
            subject: Some(subject.clone()),
            amr: amr.clone(),
            acr: acr.clone(),
        });
        state.store.record(&failure_event(env, None, on_record, code, ip, now)?).await?;
        return Ok(Err((Failure::Federation, message)));
    };
    let link = new_link(&provider, &upstream, &account, now);
    let mut linked = link_event(&account, &link, &provider, &upstream, ip, now)?;
    linked.request_id = Some(crate::request_id());
    let signed = signed_on(&account, &provider, &upstream, ip, now)?;
    match state.store.insert_federated_link(&link, &[linked, signed.clone()]).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            // The same form sent twice finds its own link; anyone else's is refused.
            match state.store.federated_link(issuer, subject).await? {
                Some(l) if l.account_id == account.id => state.store.record(&signed).await?,
                _ => {
                    let on_record = Some(upstream_of(&provider, Some(&upstream)));
                    let ev = failure_event(env, Some(&account), on_record, "linked_elsewhere", ip, now)?;
                    state.store.record(&ev).await?;
                    return Ok(Err((Failure::Federation, "That sign-in was linked to another account meanwhile.")));
                }
            }
        }
        Err(e) => return Err(e),
    }
    let trusted = *second_factor && !account.admin;
    match login::after_federated(&account, trusted, now, || new_enrolment_secret(state, &account.id)) {
        Some(next) => Ok(Ok((next, account))),
        None => Err(StoreError::Corrupt("could not create a TOTP secret".into())),
    }
}

const PROVIDER_CHANGED: &str = "The provider was changed or removed meanwhile. Start again.";
const NO_SESSION: &str =
    "You are no longer signed on here. Sign on with your password, then continue with your provider again to link it.";
const NOT_NOW: &str = "Linking needs a recent sign-on with your password, and administrators' accounts are linked \
    by a UserAdmin. Sign on with your password again, then continue with your provider.";

/// The person chose not to link: back to the first step, nothing written.
pub(super) async fn decline_link(state: &AppState, env: &EnvKeys, flow: &LoginFlow) -> Response {
    let here = signon_url(&state.issuer(&env.environment.id), &flow.id);
    match state.store.advance_flow(&flow.id, flow.version, &Step::Password).await {
        Ok(_) => see_other(&here),
        Err(e) => internal(e),
    }
}

/// The page that asks the person to confirm the link.
pub(super) async fn render_link(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let Step::Link { account_id, provider_id, upstream_name, .. } = &flow.step else {
        return internal("not a link step");
    };
    let username = match state.store.account(account_id).await {
        Ok(a) => a.map(|a| a.username).unwrap_or_default(),
        Err(e) => return internal(e),
    };
    let provider = match state.store.identity_provider(&env.environment.id, provider_id).await {
        Ok(p) => p.map(|(p, _)| p.name).unwrap_or_default(),
        Err(e) => return internal(e),
    };
    page(status, &LinkPage { provider, upstream_name, username, error, csrf: &flow.csrf })
}
