//! The OAuth 2.0 / OpenID Connect endpoints of each environment.

pub mod bearer;
pub mod client_auth;
pub mod device_authorization;
pub mod discovery;
pub mod dpop;
pub mod form;
pub mod introspect;
pub mod issue;
pub mod jwks;
pub mod revoke;
pub mod token;
pub mod userinfo;

use signet_core::id::EnvironmentId;
use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::error::OAuthError;
use crate::keyring::{EnvKeys, KeyringError};
use crate::state::AppState;

/// The environment named in the path, with its keys.
pub struct Env(pub Arc<EnvKeys>);

impl std::ops::Deref for Env {
    type Target = EnvKeys;
    fn deref(&self) -> &EnvKeys {
        &self.0
    }
}

impl Env {
    pub fn id(&self) -> &EnvironmentId {
        &self.0.environment.id
    }
}

pub(crate) async fn env_from_parts(parts: &mut Parts, state: &AppState) -> Result<Arc<EnvKeys>, KeyringError> {
    let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| KeyringError::UnknownEnvironment)?;
    let env_id =
        params.iter().find(|(k, _)| *k == "env").map(|(_, v)| v.to_owned()).ok_or(KeyringError::UnknownEnvironment)?;
    state.env_keys(&env_id).await
}

impl FromRequestParts<AppState> for Env {
    type Rejection = OAuthError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match env_from_parts(parts, state).await {
            Ok(k) => Ok(Env(k)),
            Err(KeyringError::UnknownEnvironment) => {
                Err(OAuthError::invalid_request("no such environment").with_status(StatusCode::NOT_FOUND))
            }
            Err(e) => Err(OAuthError::internal(e)),
        }
    }
}
