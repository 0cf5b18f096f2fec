//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636). A code
//! is single-use: a replay revokes every token issued from it (RFC 6749 §4.1.2).

use signet_core::audit::Action as Event;
use signet_core::audit::ActorScheme;
use signet_core::audit::Outcome;
use signet_core::audit::{Actor, ActorKind, AuditEvent};
use signet_core::crypto::sha256;
use signet_core::model::Application;
use signet_core::pkce;
use signet_store::CodeRedemption;

use super::{Grant, active_account};
use crate::error::OAuthError;
use crate::metrics::Failure;
use crate::oauth::Env;
use crate::oauth::form::Params;
use crate::oauth::issue::{Minted, SignedOn, Subject, new_grant, person_response, refresh_token, session_terms};
use crate::state::AppState;

pub async fn grant(state: &AppState, env: &Env, app: &Application, p: &Params, jkt: Option<&str>) -> Grant {
    let code = p.require("code")?;
    let redirect_uri = p.require("redirect_uri")?;
    let verifier = p.get("code_verifier");
    let hash = sha256(code.as_bytes());
    let now = state.now();
    let issued = state
        .store
        .auth_code(&hash)
        .await?
        .filter(|c| &c.environment_id == env.id() && c.client_id == app.id)
        .ok_or_else(|| OAuthError::invalid_grant("the code is invalid or was issued to another client"))?;
    if issued.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if issued.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request"));
    }
    // A verifier without a challenge is a downgrade attempt (RFC 9700 §2.1.1).
    match (&issued.code_challenge, verifier) {
        (Some(challenge), Some(v)) if pkce::verify_s256(v, challenge) => {}
        (Some(_), Some(_)) => return Err(OAuthError::invalid_grant("code_verifier does not match the code challenge")),
        (Some(_), None) => return Err(OAuthError::invalid_request("missing parameter code_verifier")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent, but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    let account = active_account(state, &issued.account_id).await?;
    let mut grant = new_grant(
        state,
        env,
        app,
        SignedOn {
            account_id: account.id.as_str(),
            scope: &issued.scope,
            auth_time: issued.auth_time,
            amr: &issued.amr,
        },
        jkt,
    )?;
    grant.session = session_terms(p, jkt, issued.auth_time)?;
    let refresh = refresh_token(state, app, &grant.id, grant.session.as_ref())?;
    // Recorded, with the family it revoked as its target, if the code was already spent.
    let actor = Actor {
        kind: ActorKind::Application,
        id: app.id.to_string(),
        name: app.name.clone(),
        scheme: ActorScheme::AuthorizationCode,
        client_id: Some(app.id.to_string()),
    };
    let mut replayed = AuditEvent::new(actor, Event::GrantRevokeCodeReplay, Some(env.id().as_str()), "", now)
        .map_err(OAuthError::internal)?;
    replayed.set_outcome(Outcome::Revoked);
    replayed.request_id = Some(crate::request_id());
    match state.store.redeem_auth_code(&hash, &grant, refresh.as_ref().map(|r| &r.1), now, replayed).await? {
        CodeRedemption::Redeemed => {}
        CodeRedemption::Replayed => {
            state.metrics.failure(Failure::CodeReplay);
            state.revocations.stale();
            return Err(OAuthError::invalid_grant("the code was already used; the tokens issued from it are revoked"));
        }
    }
    let custom = state.custom_claims((env.id().as_str(), app.id.as_str()), &account, &grant.scope).await?;
    let subject = Subject {
        sub: account.id.as_str(),
        admin: account.admin,
        username: Some(&account.username),
        auth_time: Some(issued.auth_time),
        amr: &issued.amr,
        custom: &custom,
    };
    let minted = Minted { grant: &grant, refresh: refresh.map(|r| r.0), nonce: issued.nonce.as_deref(), jkt };
    person_response(state, env, app, &subject, minted)
}
