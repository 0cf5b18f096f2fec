//! The device code grant (RFC 8628 §3.4–3.5): the device polls until the
//! person approves or denies in a browser, or the code expires.

use signet_core::crypto::sha256;
use signet_core::model::{Application, DeviceStatus};
use signet_proto::oauth::ErrorCode;

use super::{Grant, active_account};
use crate::error::OAuthError;
use crate::oauth::Env;
use crate::oauth::form::Params;
use crate::oauth::issue::{Minted, SignedOn, Subject, new_grant, person_response, refresh_token, session_terms};
use crate::state::AppState;

pub async fn grant(state: &AppState, env: &Env, app: &Application, p: &Params, jkt: Option<&str>) -> Grant {
    let device_code = p.require("device_code")?;
    let hash = sha256(device_code.as_bytes());
    let now = state.now();
    let d = state
        .store
        .poll_device(&hash, now)
        .await?
        .filter(|d| &d.environment_id == env.id() && d.client_id == app.id)
        .ok_or_else(|| OAuthError::invalid_grant("unknown device code"))?;
    if d.expires_at <= now {
        return Err(OAuthError::new(ErrorCode::ExpiredToken, "the device code has expired; start again"));
    }
    match d.status {
        DeviceStatus::Pending => {
            if d.last_polled_at.is_some_and(|t| now - t < d.interval) {
                state.store.slow_device_down(&hash).await?;
                return Err(OAuthError::new(
                    ErrorCode::SlowDown,
                    format!("poll no more than every {} seconds", d.interval + 5),
                ));
            }
            Err(OAuthError::new(ErrorCode::AuthorizationPending, "waiting for the person to approve"))
        }
        DeviceStatus::Denied => Err(OAuthError::new(ErrorCode::AccessDenied, "the request was denied")),
        DeviceStatus::Consumed => Err(OAuthError::invalid_grant("the device code was already used")),
        DeviceStatus::Approved { account_id, auth_time, amr } => {
            let account = active_account(state, &account_id).await?;
            let mut grant = new_grant(
                state,
                env,
                app,
                SignedOn { account_id: account.id.as_str(), scope: &d.scope, auth_time, amr: &amr },
                jkt,
            )?;
            grant.session = session_terms(p, jkt, auth_time)?;
            let refresh = refresh_token(state, app, &grant.id, grant.session.as_ref())?;
            if !state.store.consume_device(&hash, &grant, refresh.as_ref().map(|r| &r.1)).await? {
                return Err(OAuthError::invalid_grant("the device code was already used"));
            }
            let custom = state
                .claim_mappings
                .for_person(&state.store, state.now(), (env.id().as_str(), app.id.as_str()), &account, &grant.scope)
                .await?;
            let subject = Subject {
                sub: account.id.as_str(),
                admin: account.admin,
                username: Some(&account.username),
                auth_time: Some(auth_time),
                amr: &amr,
                custom: &custom,
            };
            let minted = Minted { grant: &grant, refresh: refresh.map(|r| r.0), nonce: None, jkt };
            person_response(state, env, app, &subject, minted)
        }
    }
}
