//! Linking a provider sign-in to an account here: offered to a person who
//! comes back unlinked to a browser signed on here, made only once they
//! confirm, and only by an end user who signed on recently.

use askama::Template;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use signet_core::federation::{Provider, Upstream};
use signet_core::id::AccountId;
use signet_core::login::{self, Step};
use signet_core::model::Account;
use signet_store::{FederatedLink, LoginFlow, StoreError};

use super::audit::{failure_event, link_event, signed_on, upstream_of};
use super::refusal::Failed;
use crate::keyring::EnvKeys;
use crate::metrics::Failure;
use crate::routes::signon_url;
use crate::state::AppState;
use crate::web::authorize::current_session;
use crate::web::signon::{StepError, StepResult, next_step, refused};
use crate::web::{internal, page, see_other};

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

/// An upstream person with no link, back to a browser signed on here as
/// `account_id`: the flow asks them to confirm linking the two.
pub(super) async fn offer_link(
    state: &AppState,
    env: &EnvKeys,
    flow: LoginFlow,
    provider: &Provider,
    upstream: Upstream,
    account_id: AccountId,
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
pub(super) async fn signed_on_here(
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
pub(super) fn may_link_self((account, auth_time): &(Account, i64), now: i64) -> bool {
    !account.admin && *auth_time >= now - LINK_WITHIN
}

/// The person confirmed linking their provider sign-in to the account they
/// are signed on to: the link is made (with the sign-on's record, in one
/// transaction) and the sign-on goes on as that account.
pub(in crate::web) async fn link(
    state: &AppState,
    env: &EnvKeys,
    step: &Step,
    headers: &HeaderMap,
    now: i64,
    ip: std::net::IpAddr,
) -> StepResult {
    let Step::Link { account_id, provider_id, issuer, subject, upstream_name: _, second_factor, amr, acr } = step
    else {
        return refused(Failure::Other, "This sign-on is not linking an account.");
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
        return refused(Failure::Federation, message);
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
                Some(l) if account.id == l.account_id => state.store.record(&signed).await?,
                _ => {
                    let on_record = Some(upstream_of(&provider, Some(&upstream)));
                    let ev = failure_event(env, Some(&account), on_record, "linked_elsewhere", ip, now)?;
                    state.store.record(&ev).await?;
                    return refused(Failure::Federation, "That sign-in was linked to another account meanwhile.");
                }
            }
        }
        Err(e) => return Err(StepError::from(e)),
    }
    let trusted = *second_factor && !account.admin;
    let next = next_step(state, account.id.as_str(), |draw| login::after_federated(&account, trusted, now, draw))?;
    Ok((next, account))
}

const PROVIDER_CHANGED: &str = "The provider was changed or removed meanwhile. Start again.";
const NO_SESSION: &str =
    "You are no longer signed on here. Sign on with your password, then continue with your provider again to link it.";
const NOT_NOW: &str = "Linking needs a recent sign-on with your password, and administrators' accounts are linked \
    by a UserAdmin. Sign on with your password again, then continue with your provider.";

/// The person chose not to link: back to the first step, nothing written.
pub(in crate::web) async fn decline_link(state: &AppState, env: &EnvKeys, flow: &LoginFlow) -> Response {
    let here = signon_url(&state.issuer(&env.environment.id), &flow.id);
    match state.store.advance_flow(&flow.id, flow.version, &Step::Password).await {
        Ok(_) => see_other(&here),
        Err(e) => internal(e),
    }
}

/// The page that asks the person to confirm the link.
pub(in crate::web) async fn render_link(
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

/// The link of `upstream`, at `provider`, to `account`.
pub(super) fn new_link(provider: &Provider, upstream: &Upstream, account: &Account, now: i64) -> FederatedLink {
    FederatedLink {
        issuer: provider.issuer.clone(),
        subject: upstream.subject.clone(),
        account_id: account.id.to_string(),
        provider_id: provider.id.clone(),
        created_at: now,
    }
}
