//! The refresh token grant (RFC 6749 §6). Refresh tokens rotate on every use;
//! presenting a spent one revokes its whole family (RFC 9700 §4.14.2).
//!
//! With a refresh reuse interval set (`RefreshReuse`, off by default), the
//! token a client has just spent, presented again within it, is reissued
//! once instead: a retry after a dropped connection. Only for a client that
//! proves who it is, with its secret or with the proof of the family's DPoP
//! key: for a public client without DPoP, "the same client" would
//! authenticate nothing, and a thief would get the grace too.

use signet_core::audit::Action as Event;
use signet_core::audit::ActorScheme;
use signet_core::audit::{Actor, ActorKind, AuditEvent};
use signet_core::crypto::sha256;
use signet_core::model::Application;
use signet_core::scope;
use signet_store::{Admission, ReuseGrace, Rotation};

use super::{Grant, active_account};
use crate::error::OAuthError;
use crate::metrics::Failure;
use crate::oauth::Env;
use crate::oauth::form::Params;
use crate::oauth::issue::{Minted, Subject, person_response, refresh_token};
use crate::state::AppState;

pub async fn grant(state: &AppState, env: &Env, app: &Application, p: &Params, jkt: Option<&str>) -> Grant {
    let presented = p.require("refresh_token")?;
    let now = state.now();
    let hash = sha256(presented.as_bytes());
    let Some((next_secret, next)) = refresh_token(state, app, "", None)? else {
        return Err(OAuthError::new(
            signet_proto::oauth::ErrorCode::UnauthorizedClient,
            "this application may not refresh",
        ));
    };
    // Every check that can refuse runs inside the rotation, on the family it
    // reads, before the token is spent: a refused refresh leaves it usable.
    let asked = p.get("scope");
    let check = |g: &signet_core::model::Grant| refused(g, jkt, now).or_else(|| narrowed(g, asked).err());
    let interval = state.refresh_reuse().interval_seconds;
    let grace = (interval > 0)
        .then(|| AuditEvent::new(actor(app), Event::GrantRefreshReuseGrace, Some(env.id().as_str()), "", now))
        .transpose()
        .map_err(OAuthError::internal)?;
    let admit = |g: &signet_core::model::Grant| match check(g) {
        Some(_) => Admission::Refused,
        None => Admission::Admitted(grace.filter(|_| app.secret_hash.is_some() || g.jkt.is_some()).map(|mut event| {
            event.target = g.id.clone();
            Box::new(ReuseGrace { interval, event })
        })),
    };
    let rotation = state.store.rotate_refresh_admitted(&hash, app.id.as_str(), &next, now, admit).await?;
    let mut grant = match rotation {
        Rotation::Rotated(g) => *g,
        Rotation::Reissued(g) => *g,
        Rotation::Invalid => return Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")),
        Rotation::Refused(g) => {
            return Err(check(&g).unwrap_or_else(|| OAuthError::invalid_grant("the refresh token was refused")));
        }
        Rotation::Reused { grant_id } => {
            state.metrics.failure(Failure::RefreshReuse);
            state.revocations.revoked_grant(&grant_id, now);
            let ev =
                AuditEvent::new(actor(app), Event::GrantRevokeRefreshReuse, Some(env.id().as_str()), &grant_id, now)
                    .map_err(OAuthError::internal)?;
            state.store.record(&ev).await?;
            return Err(OAuthError::invalid_grant("the refresh token was already used; its sign-on has been revoked"));
        }
    };
    grant.scope = narrowed(&grant, asked)?;
    let account = active_account(state, &grant.account_id).await?;
    let custom = state.custom_claims((env.id().as_str(), app.id.as_str()), &account, &grant.scope).await?;
    let subject = Subject {
        sub: account.id.as_str(),
        admin: account.admin,
        username: Some(&account.username),
        auth_time: Some(grant.auth_time),
        amr: &grant.amr,
        custom: &custom,
    };
    let minted = Minted { grant: &grant, refresh: Some(next_secret), nonce: None, jkt };
    person_response(state, env, app, &subject, minted)
}

/// The application presenting a refresh token, as the trail names it.
fn actor(app: &Application) -> Actor {
    Actor {
        kind: ActorKind::Application,
        id: app.id.to_string(),
        name: app.name.clone(),
        scheme: ActorScheme::RefreshToken,
        client_id: Some(app.id.to_string()),
    }
}

/// The scope this refresh grants: the family's, or a narrower one asked
/// for; never a wider one (RFC 6749 §6).
fn narrowed(g: &signet_core::model::Grant, asked: Option<&str>) -> Result<String, OAuthError> {
    let Some(asked) = asked else { return Ok(g.scope.clone()) };
    let granted = scope::parse(&g.scope).unwrap_or_default();
    scope::narrow(Some(asked), &granted)
        .map(|s| scope::join(&s))
        .map_err(|_| OAuthError::new(signet_proto::oauth::ErrorCode::InvalidScope, "a refresh may not widen the scope"))
}

/// Why a family's terms refuse this refresh, if they do. A family bound to
/// a key refreshes only with a proof of it; a session stays key-bound,
/// whatever key a confidential client uses, and is refreshed until its
/// limit, never past it.
fn refused(g: &signet_core::model::Grant, jkt: Option<&str>, now: i64) -> Option<OAuthError> {
    use signet_proto::oauth::ErrorCode::InvalidDpopProof;
    match (g.jkt.as_deref(), jkt) {
        (Some(_), None) => {
            return Some(OAuthError::new(
                InvalidDpopProof,
                "the refresh token is DPoP-bound: send a DPoP proof of its key",
            ));
        }
        (Some(bound), Some(k)) if bound != k => {
            return Some(OAuthError::invalid_grant("the refresh token is bound to another DPoP key"));
        }
        (None, None) if g.session.is_some() => {
            return Some(OAuthError::new(
                InvalidDpopProof,
                "the refresh token is a key-bound session's: send a DPoP proof",
            ));
        }
        _ => {}
    }
    g.session.filter(|t| t.ended(now)).map(|_| {
        OAuthError::invalid_grant(
            "the session has reached its limit (24 hours after signing on; 60 minutes for one minted without a \
             browser): sign on again",
        )
    })
}
