//! Token exchange (RFC 8693): a new key-bound session minted without a
//! browser (issue 6, `signet session authenticate --no-browser`), from a
//! credential the client already holds:
//!
//! - a session's DPoP-bound access token as `subject_token`, with a proof of
//!   its key for this request in `subject_token_dpop`, exchanged by the
//!   client it was issued to; or
//! - a worker's own client credentials, with no `subject_token`.
//!
//! The request's `DPoP` proof names the new key. The new session keeps the
//! original sign-on's `auth_time` and `amr`, and lasts at most 60 minutes in
//! all, refreshes included, and never past the session it came from, so
//! chained exchanges cannot outlive the first sign-on's limits. Each
//! exchange is recorded as a sign-on.

use signet_core::audit::Action as Event;
use signet_core::audit::ActorScheme;
use signet_core::audit::Outcome;
use signet_core::audit::{Actor, ActorKind, AuditEvent};
use signet_core::model::{Application, GrantType, MINTED_SESSION_LIMIT, SessionTerms};
use signet_core::scope;
use signet_proto::oauth::{ErrorCode, TokenResponse};

use super::{Grant, active_account};
use crate::error::OAuthError;
use crate::oauth::form::Params;
use crate::oauth::issue::{
    Minted, SignedOn, Subject, Terms, access_token, new_grant, person_response, refresh_token, session_terms,
};
use crate::oauth::{Env, bearer, dpop};
use crate::state::AppState;

pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

pub async fn grant(state: &AppState, env: &Env, app: &Application, p: &Params, jkt: Option<&str>) -> Grant {
    let Some(jkt) = jkt else {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "a token exchange mints a key-bound session: send a DPoP proof of the new key",
        ));
    };
    if p.get("requested_token_type").is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
        return Err(OAuthError::invalid_request(format!("requested_token_type: only {ACCESS_TOKEN_TYPE}")));
    }
    let mut response = match p.get("subject_token") {
        Some(subject) => person(state, env, app, p, jkt, subject).await?,
        None => worker(state, env, app, p, jkt).await?,
    };
    response.issued_token_type = Some(ACCESS_TOKEN_TYPE.into());
    Ok(response)
}

/// The terms of a session minted now, within `within` (the session it came
/// from): never longer-lived tokens, never a later end, and an hour at most.
fn minted(state: &AppState, p: &Params, jkt: &str, within: Option<SessionTerms>) -> Result<SessionTerms, OAuthError> {
    let now = state.now();
    let chosen = session_terms(p, Some(jkt), now)?.map_or(60 * 60, |t| t.seconds);
    let seconds = within.map_or(chosen, |t| chosen.min(t.seconds));
    let ends_at = within.map_or(i64::MAX, |t| t.ends_at).min(now + MINTED_SESSION_LIMIT);
    Ok(SessionTerms { seconds, ends_at })
}

fn recorded(actor: Actor, env: &Env, app: &Application, now: i64) -> Result<AuditEvent, OAuthError> {
    let mut ev =
        AuditEvent::new(actor, Event::SignonExchange, Some(env.id().as_str()), &format!("client:{}", app.id), now)
            .map_err(OAuthError::internal)?;
    ev.set_outcome(Outcome::Success);
    ev.request_id = Some(crate::request_id());
    Ok(ev)
}

async fn person(
    state: &AppState,
    env: &Env,
    app: &Application,
    p: &Params,
    jkt: &str,
    subject: &str,
) -> Result<TokenResponse, OAuthError> {
    if p.get("subject_token_type") != Some(ACCESS_TOKEN_TYPE) {
        return Err(OAuthError::invalid_request(format!("subject_token_type: {ACCESS_TOKEN_TYPE}")));
    }
    let invalid = || OAuthError::invalid_grant("subject_token is not a live session of this application");
    let claims = bearer::verify(state, env, subject).await?.map_err(|_| invalid())?;
    let Some(cnf) = claims.cnf.as_ref() else {
        return Err(OAuthError::invalid_grant("subject_token is not key-bound; only a session's token is exchanged"));
    };
    if app.id != claims.client_id {
        return Err(invalid());
    }
    subject_key_proved(state, env, p, (subject, &cnf.jkt), jkt).await?;
    let parent = match claims.gid.as_deref() {
        Some(gid) => state.store.grant(gid).await?.filter(|g| g.revoked_at.is_none()).ok_or_else(invalid)?,
        None => return Err(invalid()),
    };
    let granted = scope::parse(&claims.scope).unwrap_or_default();
    let scope = scope::narrow(p.get("scope"), &granted)
        .map_err(|_| OAuthError::new(ErrorCode::InvalidScope, "a token exchange may not widen the scope"))?;
    let scope = scope::join(&scope);
    let account = active_account(state, &parent.account_id).await?;
    // A bound family signed on without choosing a session still ends 24
    // hours after its sign-on, for whatever is minted from it.
    let within = parent.session.unwrap_or(SessionTerms::signed_on(parent.auth_time, None));
    let terms = minted(state, p, jkt, Some(within))?;
    if terms.ended(state.now()) {
        return Err(OAuthError::invalid_grant("the session has reached its limit: sign on again"));
    }
    let mut grant = new_grant(
        state,
        env,
        app,
        SignedOn { account_id: account.id.as_str(), scope: &scope, auth_time: parent.auth_time, amr: &parent.amr },
        Some(jkt),
    )?;
    grant.session = Some(terms);
    grant.parent_id = Some(parent.id.clone());
    let refresh = refresh_token(state, app, &grant.id, grant.session.as_ref())?;
    let actor = Actor {
        kind: ActorKind::Person,
        id: account.id.to_string(),
        name: account.username.clone(),
        scheme: ActorScheme::TokenExchange,
        client_id: Some(app.id.to_string()),
    };
    let ev = recorded(actor, env, app, state.now())?;
    state.store.create_grant_recorded(&grant, refresh.as_ref().map(|r| &r.1), &ev).await?;
    let custom = state.custom_claims((env.id().as_str(), app.id.as_str()), &account, &grant.scope).await?;
    let subject = Subject {
        sub: account.id.as_str(),
        admin: account.admin,
        username: Some(&account.username),
        auth_time: Some(parent.auth_time),
        amr: &parent.amr,
        custom: &custom,
    };
    let tokens = Minted { grant: &grant, refresh: refresh.map(|r| r.0), nonce: None, jkt: Some(jkt) };
    person_response(state, env, app, &subject, tokens)
}

/// Possession of the session's key (`subject_jkt`, of the token `subject`),
/// for this very request, and a new key (`jkt`) for the new session.
async fn subject_key_proved(
    state: &AppState,
    env: &Env,
    p: &Params,
    (subject, subject_jkt): (&str, &str),
    jkt: &str,
) -> Result<(), OAuthError> {
    let Some(proof) = p.get("subject_token_dpop") else {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "subject_token_dpop: a DPoP proof of the subject token's key, with its ath, is required",
        ));
    };
    let url = crate::routes::endpoint(&state.issuer(env.id()), crate::routes::TOKEN);
    if jkt == subject_jkt {
        return Err(OAuthError::new(ErrorCode::InvalidDpopProof, "the new session needs a new key"));
    }
    // The subject's proof too must carry the server's nonce, when it asks
    // for one: a proof made ahead of time must not mint a session.
    match dpop::check(state, proof, "POST", &url, Some(subject), dpop::Nonce::IfConfigured).await? {
        Ok(p) if p.jkt == subject_jkt => Ok(()),
        Ok(_) => Err(OAuthError::invalid_grant("subject_token_dpop is signed by another key")),
        Err(dpop::Refused::Proof(signet_core::dpop::ProofError::Nonce)) => Err(super::use_nonce(state)),
        Err(e) => Err(OAuthError::new(ErrorCode::InvalidDpopProof, format!("subject_token_dpop: {}", e.message()))),
    }
}

/// A worker's session from its own credentials: no refresh, at most an hour.
async fn worker(
    state: &AppState,
    env: &Env,
    app: &Application,
    p: &Params,
    jkt: &str,
) -> Result<TokenResponse, OAuthError> {
    if app.secret_hash.is_none() || !app.allows(GrantType::ClientCredentials) {
        return Err(OAuthError::invalid_request(
            "subject_token is required: only a worker exchanges its own credentials",
        ));
    }
    let scopes = scope::narrow(p.get("scope"), &app.scopes)
        .map_err(|_| OAuthError::new(ErrorCode::InvalidScope, "the scope is malformed or not allowed"))?;
    let scope = scope::join(&scopes);
    let now = state.now();
    let terms = minted(state, p, jkt, None)?;
    let none = serde_json::Map::new();
    let subject =
        Subject { sub: app.id.as_str(), admin: true, username: None, auth_time: Some(now), amr: &[], custom: &none };
    let lifetime = terms.lifetime_at(now);
    let token = access_token(state, env, app, &subject, &scope, None, Terms { lifetime, jkt: Some(jkt) })?;
    let actor = Actor {
        kind: ActorKind::Application,
        id: app.id.to_string(),
        name: app.name.clone(),
        scheme: ActorScheme::TokenExchange,
        client_id: Some(app.id.to_string()),
    };
    state.store.record(&recorded(actor, env, app, now)?).await?;
    Ok(TokenResponse {
        access_token: token,
        token_type: "DPoP".into(),
        expires_in: lifetime,
        refresh_token: None,
        id_token: None,
        scope: (!scope.is_empty()).then_some(scope),
        issued_token_type: None,
    })
}
