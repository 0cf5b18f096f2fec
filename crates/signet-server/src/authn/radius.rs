//! HTTP Basic asked of a RADIUS server (PAP) on every call, never cached,
//! so a one-time password appended to the password is good for exactly one
//! call; a reply attribute's values map to roles by the settings.

use std::net::IpAddr;

use signet_core::clock::UnixTime;

use super::{Attempt, AuthnError, Caller, first_in_a_while};
use crate::config::admin_auth::{RadiusScheme, Scheme, principal_from};
use crate::radius::{Answer, RadiusError};
use crate::state::AppState;

pub(super) async fn ask(
    state: &AppState,
    radius: &RadiusScheme,
    username: &str,
    password: &str,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Attempt, AuthnError> {
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "RADIUS could not check an admin API sign-on");
        AuthnError::Unavailable("the RADIUS servers could not be asked; try again, or sign on with another scheme")
    };
    let settings = radius.connection.opened(&state.kek).map_err(|e| unavailable(&e))?;
    let caller = |principal| Caller::directory(Scheme::Radius, format!("radius:{username}"), username, principal, ip);
    let attributes = match crate::radius::authenticate(&settings, username, password).await {
        Ok(Answer::Accept { attributes }) => attributes,
        Ok(Answer::Reject) => return Ok(Attempt::Failed(caller(Default::default()))),
        Err(RadiusError::Credentials(_) | RadiusError::Challenge) => return Ok(Attempt::Unknown),
        Err(e) => return Err(unavailable(&e)),
    };
    let kind = crate::radius::attribute_by_name(&radius.role_attribute).unwrap_or(crate::radius::attribute::CLASS);
    let principal =
        principal_from(&radius.roles, attributes.strings(kind), |a, b| a == b).map_err(AuthnError::Forbidden)?;
    let caller = caller(principal);
    if first_in_a_while(state, &caller.actor.id, now) {
        state.store.record(&caller.signon(now)?).await?;
    }
    Ok(Attempt::Verified(caller))
}
