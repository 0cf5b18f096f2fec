//! The client credentials grant (RFC 6749 §4.4), for worker applications.

use signet_core::model::Application;
use signet_core::scope;
use signet_proto::oauth::{ErrorCode, TokenResponse};

use super::Grant;
use crate::error::OAuthError;
use crate::oauth::Env;
use crate::oauth::form::Params;
use crate::oauth::issue::{Subject, Terms, access_token, token_type};
use crate::state::AppState;

pub async fn grant(state: &AppState, env: &Env, app: &Application, p: &Params, jkt: Option<&str>) -> Grant {
    let scopes = scope::narrow(p.get("scope"), &app.scopes).map_err(|e| match e {
        scope::ScopeError::Malformed => OAuthError::new(ErrorCode::InvalidScope, "malformed scope"),
        scope::ScopeError::NotAllowed(s) => {
            OAuthError::new(ErrorCode::InvalidScope, format!("scope {s:?} is not allowed"))
        }
    })?;
    let scope = scope::join(&scopes);
    let none = serde_json::Map::new();
    let subject =
        Subject { sub: app.id.as_str(), admin: true, username: None, auth_time: None, amr: &[], custom: &none };
    Ok(TokenResponse {
        access_token: access_token(state, env, app, &subject, &scope, None, Terms::of(state, None, jkt))?,
        token_type: token_type(jkt),
        expires_in: state.lifetimes().access_token_seconds,
        refresh_token: None,
        id_token: None,
        scope: (!scope.is_empty()).then_some(scope),
        issued_token_type: None,
    })
}
