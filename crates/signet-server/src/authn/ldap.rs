//! HTTP Basic checked by binding to an LDAP directory as the person, on
//! every call; their groups map to roles by the settings.

use std::net::IpAddr;

use signet_core::clock::UnixTime;

use super::{Attempt, AuthnError, Caller, first_in_a_while};
use crate::config::admin_auth::{LdapScheme, Scheme, principal_from};
use crate::state::AppState;

/// An LDAP sign-on. The person is who their directory entry says (its DN
/// and name as stored), not the spelling typed, which the directory binds
/// alike whatever its case and spaces: one person, one actor and one
/// second-factor pass (issue 15).
pub(super) async fn bind(
    state: &AppState,
    ldap: &LdapScheme,
    username: &str,
    password: &str,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Attempt, AuthnError> {
    let found = crate::ldap::authenticate(&ldap.connection, &state.kek, username, password).await.map_err(|e| {
        tracing::warn!(error = %e, "the LDAP directory could not check an admin API sign-on");
        AuthnError::Unavailable("the LDAP directory could not be asked; try again, or sign on with another scheme")
    })?;
    let Some(person) = found else {
        let someone = Caller::directory(Scheme::Ldap, format!("ldap:{username}"), username, Default::default(), ip);
        return Ok(Attempt::Failed(someone));
    };
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let principal =
        principal_from(&ldap.roles, person.groups.iter().map(String::as_str), same).map_err(AuthnError::Forbidden)?;
    let caller = Caller::directory(Scheme::Ldap, format!("ldap:{}", person.dn), &person.name, principal, ip);
    if first_in_a_while(state, &caller.actor.id, now) {
        state.store.record(&caller.signon(now)?).await?;
    }
    Ok(Attempt::Verified(caller))
}
