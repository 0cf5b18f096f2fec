//! Identity providers: the external OpenID providers people of an
//! environment may sign on through (issue 7), and the links between their
//! people and accounts. Admins manage them for end users; trusting a
//! provider's MFA for administrators, and linking an administrator, are also
//! UserAdmin decisions, since admin accounts are theirs. The issuer is read
//! through discovery when written; the client secret is write-only, sealed
//! under the key-encryption key.

use serde_json::json;
use signet_core::audit::Action as Event;
use signet_core::crypto::random_id;
use signet_core::federation::{self, Provider, ProviderMfa};
use signet_core::id::{AccountId, EnvironmentId};
use signet_core::model::Account;
use signet_core::policy::{Action, Resource};
use signet_proto::admin::identity_providers as wire;
use signet_store::FederatedLink;

use super::applications::environment_exists;
use super::{Authorized, OpError, expected, written};
use crate::state::AppState;

pub use wire::{LinkBody, ProviderBody};

pub const KIND: &str = "identity-provider";
/// No client secret comes near this.
const MAX_SECRET: usize = 1024;

pub fn mfa_of(m: wire::ProviderMfa) -> ProviderMfa {
    ProviderMfa { trusted: m.trusted, trusted_for_admins: m.trusted_for_admins, values: m.values }
}

pub fn wire_mfa(m: &ProviderMfa) -> wire::ProviderMfa {
    wire::ProviderMfa { trusted: m.trusted, trusted_for_admins: m.trusted_for_admins, values: m.values.clone() }
}

/// The provider `id` of `env`, with its sealed client secret.
pub async fn find(state: &AppState, env: &EnvironmentId, id: &str) -> Result<(Provider, Vec<u8>), OpError> {
    environment_exists(state, env).await?;
    state.store.identity_provider(env, id).await?.ok_or(OpError::NotFound("identity provider"))
}

/// Up to `limit` providers of `env` after `cursor`, by id.
pub async fn page(
    state: &AppState,
    env: &EnvironmentId,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<Provider>, OpError> {
    environment_exists(state, env).await?;
    Ok(state.store.identity_providers_page(env, cursor, limit).await?)
}

/// Up to `limit` links of the provider `id` of `env` after the subject `cursor`.
pub async fn links(
    state: &AppState,
    (env, id): (&EnvironmentId, &str),
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<FederatedLink>, OpError> {
    let (p, _) = find(state, env, id).await?;
    Ok(state.store.federated_links_page(&p.issuer, cursor, limit).await?)
}

/// Reads the issuer's discovery document: it must name the same issuer
/// (OpenID Discovery §4.3) and the endpoints a code flow needs.
async fn discover(state: &AppState, issuer: &str) -> Result<(), OpError> {
    state.fetcher.check(issuer).map_err(|e| OpError::Invalid(format!("issuer: {e}")))?;
    let d = state
        .upstreams
        .discover(&state.fetcher, issuer)
        .await
        .map_err(|e| OpError::Unprocessable(format!("issuer: {e}")))?;
    for (field, url) in [("authorization_endpoint", &d.authorization_endpoint), ("token_endpoint", &d.token_endpoint)] {
        if url.is_none() {
            return Err(OpError::Unprocessable(format!("issuer: its discovery document has no {field}")));
        }
    }
    Ok(())
}

/// Administrators' accounts are never made just in time: a provider of the
/// Administrators environment cannot have `jit`.
async fn no_administrators_made(state: &AppState, env: &EnvironmentId, jit: bool) -> Result<(), OpError> {
    let administrators =
        state.store.environment(env).await?.is_some_and(|e| e.name == signet_core::model::ADMINISTRATORS);
    if jit && administrators {
        return Err(OpError::Invalid("jit: administrators' accounts are never made just in time".into()));
    }
    Ok(())
}

/// Trusting a provider's MFA for administrators, or undoing that, is also
/// UserAdmin's, since admin accounts are theirs. Asked after the Admin check.
async fn allow_admin_trust(
    state: &AppState,
    by: &Authorized<'_>,
    before: Option<&Provider>,
    after: &ProviderMfa,
) -> Result<(), OpError> {
    if after.trusted_for_admins || before.is_some_and(|p| p.mfa.trusted_for_admins) {
        super::authorize(state, by.caller(), Resource::AdminAccounts, Action::Write).await?;
    }
    Ok(())
}

fn seal(state: &AppState, id: &str, secret: &str) -> Result<Vec<u8>, OpError> {
    if secret.is_empty() || secret.len() > MAX_SECRET {
        return Err(OpError::Invalid(format!("client_secret: 1 to {MAX_SECRET} bytes")));
    }
    state.kek.seal(&federation::secret_purpose(id), secret.as_bytes()).map_err(OpError::internal)
}

fn digest(p: &Provider) -> serde_json::Value {
    json!({"name": p.name, "issuer": p.issuer, "client_id": p.client_id, "scopes": p.scopes, "jit": p.jit, "mfa": p.mfa})
}

/// Adds a provider to `env` (UserAdmin too to trust its MFA for administrators).
pub async fn create(
    state: &AppState,
    by: &Authorized<'_>,
    env: &EnvironmentId,
    body: ProviderBody,
) -> Result<Provider, OpError> {
    by.covers(Resource::IdentityProviders, Action::Write)?;
    let mfa = mfa_of(body.mfa);
    allow_admin_trust(state, by, None, &mfa).await?;
    environment_exists(state, env).await?;
    no_administrators_made(state, env, body.jit).await?;
    let now = state.now();
    let p = Provider {
        id: random_id().map_err(OpError::internal)?,
        environment_id: env.to_string(),
        name: body.name,
        issuer: body.issuer,
        client_id: body.client_id,
        scopes: body.scopes,
        jit: body.jit,
        mfa,
        version: 1,
        created_at: now,
    };
    federation::check(&p).map_err(OpError::invalid)?;
    let Some(secret) = body.client_secret.as_deref() else {
        return Err(OpError::Invalid("client_secret: required".into()));
    };
    let sealed = seal(state, &p.id, secret)?;
    discover(state, &p.issuer).await?;
    let ev = by.event(Event::AdminIdentityProviderCreate, Some(env.as_str()), &p.id, Some(&digest(&p)), now)?;
    state.store.insert_identity_provider(&p, &sealed, &ev).await?;
    Ok(p)
}

/// Replaces a provider (UserAdmin too when its MFA is or was trusted for
/// administrators); a secret left out keeps the stored one.
pub async fn update(
    state: &AppState,
    by: &Authorized<'_>,
    (env, id): (&EnvironmentId, &str),
    if_match: Option<&str>,
    body: ProviderBody,
) -> Result<Provider, OpError> {
    by.covers(Resource::IdentityProviders, Action::Write)?;
    let (current, sealed) = find(state, env, id).await?;
    let mfa = mfa_of(body.mfa);
    allow_admin_trust(state, by, Some(&current), &mfa).await?;
    let expected = expected(if_match, KIND, &current.id, current.version)?;
    no_administrators_made(state, env, body.jit).await?;
    let p = Provider {
        name: body.name,
        issuer: body.issuer,
        client_id: body.client_id,
        scopes: body.scopes,
        jit: body.jit,
        mfa,
        ..current.clone()
    };
    federation::check(&p).map_err(OpError::invalid)?;
    let sealed = match body.client_secret.as_deref() {
        Some(secret) => seal(state, &p.id, secret)?,
        None => sealed,
    };
    if p.issuer != current.issuer {
        discover(state, &p.issuer).await?;
    }
    let ev = by.event(Event::AdminIdentityProviderUpdate, Some(env.as_str()), &p.id, Some(&digest(&p)), state.now())?;
    let answer = state.store.update_identity_provider(&p, &sealed, expected, &ev).await?;
    Ok(Provider { version: written(answer, "identity provider")?, ..p })
}

/// Removes a provider (UserAdmin too when its MFA is trusted for
/// administrators); answers the version its removal took.
pub async fn delete(
    state: &AppState,
    by: &Authorized<'_>,
    (env, id): (&EnvironmentId, &str),
    if_match: Option<&str>,
) -> Result<i64, OpError> {
    by.covers(Resource::IdentityProviders, Action::Write)?;
    let (current, _) = find(state, env, id).await?;
    allow_admin_trust(state, by, Some(&current), &ProviderMfa::default()).await?;
    let expected = expected(if_match, KIND, &current.id, current.version)?;
    let ev = by.event(
        Event::AdminIdentityProviderDelete,
        Some(env.as_str()),
        &current.id,
        Some(&digest(&current)),
        state.now(),
    )?;
    written(state.store.delete_identity_provider(env, id, expected, &ev).await?, "identity provider")
}

/// Linking or unlinking an administrator is also UserAdmin's, since admin
/// accounts are theirs. Asked after the Admin check.
async fn allow_admin_link(state: &AppState, by: &Authorized<'_>, account: &Account) -> Result<(), OpError> {
    if account.admin {
        super::authorize(state, by.caller(), Resource::AdminAccounts, Action::Write).await?;
    }
    Ok(())
}

/// Links an account of `env` to a person at the provider's issuer (UserAdmin
/// too for an administrator). Never by email; one account per upstream person.
pub async fn link(
    state: &AppState,
    by: &Authorized<'_>,
    (env, id): (&EnvironmentId, &str),
    body: LinkBody,
) -> Result<FederatedLink, OpError> {
    by.covers(Resource::IdentityProviders, Action::Write)?;
    let (p, _) = find(state, env, id).await?;
    if !federation::valid_subject(&body.subject) {
        return Err(OpError::Invalid("subject: 1 to 255 ASCII characters (OpenID Connect Core §2)".into()));
    }
    let account = state
        .store
        .account(&AccountId::from(body.account_id.as_str()))
        .await?
        .filter(|a| &a.environment_id == env)
        .ok_or_else(|| OpError::Invalid("account_id: no such account in this environment".into()))?;
    allow_admin_link(state, by, &account).await?;
    let now = state.now();
    let l = FederatedLink {
        issuer: p.issuer.clone(),
        subject: body.subject,
        account_id: account.id.to_string(),
        provider_id: p.id.clone(),
        created_at: now,
    };
    let digest = json!({"issuer": l.issuer, "subject": l.subject, "account": l.account_id, "provider": p.id});
    let ev = by.event(Event::AdminFederatedLinkCreate, Some(env.as_str()), account.id.as_str(), Some(&digest), now)?;
    state.store.insert_federated_link(&l, std::slice::from_ref(&ev)).await?;
    Ok(l)
}

/// Removes the link of `subject` at the provider's issuer (UserAdmin too for an administrator).
pub async fn unlink(
    state: &AppState,
    by: &Authorized<'_>,
    (env, id): (&EnvironmentId, &str),
    subject: &str,
) -> Result<(), OpError> {
    by.covers(Resource::IdentityProviders, Action::Write)?;
    let (p, _) = find(state, env, id).await?;
    let l = state.store.federated_link(&p.issuer, subject).await?.ok_or(OpError::NotFound("link"))?;
    if let Some(account) = state.store.account(&AccountId::from(l.account_id.as_str())).await? {
        allow_admin_link(state, by, &account).await?;
    }
    let digest = json!({"issuer": l.issuer, "subject": l.subject, "account": l.account_id});
    let ev =
        by.event(Event::AdminFederatedLinkDelete, Some(env.as_str()), &l.account_id, Some(&digest), state.now())?;
    if !state.store.delete_federated_link(&l.issuer, &l.subject, &ev).await? {
        return Err(OpError::NotFound("link"));
    }
    Ok(())
}
