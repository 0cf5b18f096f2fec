//! The admin API's caller: authenticated by the schemes in force
//! (`crate::authn`), then allowed or refused by the role policy
//! (`crate::ops::authorize`); and the errors of both layers in the admin
//! API's words.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use signet_core::policy::{Action, Resource};

use super::AdminError;
pub use crate::authn::Caller;
use crate::authn::{AuthnError, Credentials};
use crate::net::ClientIp;
use crate::ops::{self, OpError};
use crate::state::AppState;

impl FromRequestParts<AppState> for Caller {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await.unwrap_or(ClientIp([0, 0, 0, 0].into()));
        Ok(crate::authn::admin(state, &Credentials::read(parts, ip)).await?)
    }
}

impl Caller {
    /// Asks the role policy (`ops::authorize`); a refusal is recorded and
    /// answered 403 naming what is missing.
    pub async fn allow(&self, state: &AppState, resource: Resource, action: Action) -> Result<(), AdminError> {
        ops::authorize(state, self, resource, action).await?;
        Ok(())
    }
}

/// Operations' refusals in the admin API's words.
impl From<OpError> for AdminError {
    fn from(e: OpError) -> AdminError {
        match e {
            OpError::Denied(why) => AdminError::new(StatusCode::FORBIDDEN, "forbidden", why),
            OpError::NotFound(what) => AdminError::not_found(what),
            OpError::Conflict(why) => AdminError::conflict(why),
            OpError::Stale => AdminError::stale(),
            OpError::Invalid(why) => AdminError::invalid(why),
            OpError::Unprocessable(why) => AdminError::unprocessable(why),
            OpError::Store(e) => AdminError::from(e),
            OpError::Authn(e) => AdminError::from(e),
            OpError::Internal(why) => AdminError::internal(why),
        }
    }
}

/// Authentication's refusals in the admin API's words.
impl From<AuthnError> for AdminError {
    fn from(e: AuthnError) -> AdminError {
        match e {
            AuthnError::Unauthenticated { challenge, reason: None } => AdminError::unauthorized(challenge),
            AuthnError::Unauthenticated { challenge, reason: Some(why) } => {
                AdminError::unauthorized_because(challenge, why)
            }
            AuthnError::TooManyFailures(_) => {
                AdminError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_failures", e.to_string())
            }
            AuthnError::MfaRequired(why) => AdminError::new(StatusCode::UNAUTHORIZED, "mfa_required", why),
            AuthnError::Unavailable(why) => {
                AdminError::new(StatusCode::SERVICE_UNAVAILABLE, "authentication_unavailable", why)
            }
            AuthnError::Forbidden(why) => AdminError::new(StatusCode::FORBIDDEN, "forbidden", why),
            AuthnError::Invalid(why) => AdminError::invalid(why),
            AuthnError::Store(e) => AdminError::from(e),
            AuthnError::Internal(why) => AdminError::internal(why),
        }
    }
}
