//! Login enforcements for LDAP and RADIUS sign-ons to the admin API. A
//! Basic call cannot show a page, so the second factor comes as Vault's
//! `X-Vault-MFA: <method id or name>[:<passcode>]` header, one per matching
//! enforcement; push methods wait for the person's answer. A pass stands
//! for a few minutes for the same person from the same address. TOTP
//! methods need an enrolment made at the sign-on pages, which directory
//! people do not use, so they are refused with a message saying so.

use signet_core::audit::ActorScheme;
use signet_core::audit::{Action, Outcome};
use signet_core::clock::UnixTime;
use signet_core::mfa::SignOnKind;

use super::{AuthnError, Budget, Caller, Credentials, administrators, refused};
use crate::state::AppState;

/// How long a directory person's passed second factor stands, from one address.
const PASSED_FOR: UnixTime = 300;

/// Passes `caller` when no enforcement matches, or every one that does was
/// passed now or lately.
pub(super) async fn directory(
    state: &AppState,
    caller: &Caller,
    c: &Credentials<'_>,
    now: UnixTime,
    budget: &Budget,
) -> Result<(), AuthnError> {
    let kind = match caller.actor.scheme {
        ActorScheme::Ldap => SignOnKind::Ldap,
        ActorScheme::Radius => SignOnKind::Radius,
        _ => return Ok(()),
    };
    let admins = administrators(state).await?;
    let sets =
        crate::enforcement::required_of(state, &caller.actor.id, admins.as_str(), &caller.principal, kind).await?;
    if sets.is_empty() {
        return Ok(());
    }
    let key = state.authn.key_of(format!("mfa|{}|{}", caller.actor.id, caller.ip).as_bytes());
    if state.authn.mfa_passed.contains(&key, now) {
        return Ok(());
    }
    let offered = c.mfa_offers();
    for set in &sets {
        let mut methods = Vec::new();
        for id in set {
            if let Some(m) = state.store.mfa_method(id).await? {
                methods.push(m);
            }
        }
        let Some((method, passcode)) = offered.iter().find_map(|(named, code)| {
            methods.iter().find(|m| m.id == *named || (!m.name.is_empty() && m.name == *named)).map(|m| (m, *code))
        }) else {
            let names: Vec<&str> =
                methods.iter().map(|m| if m.name.is_empty() { m.id.as_str() } else { m.name.as_str() }).collect();
            return Err(AuthnError::MfaRequired(format!(
                "this sign-on needs a second factor: send X-Vault-MFA: <method>[:<passcode>] with one of: {}",
                names.join(", ")
            )));
        };
        let outcome = if let signet_core::mfa::Settings::Totp(_) = method.settings {
            Err("TOTP methods are enrolled at the sign-on pages; directory sign-ons use PingID, Okta or Duo")
        } else {
            let entity = signet_core::mfa::template::Entity {
                id: &caller.actor.id,
                name: &caller.actor.name,
                environment_id: admins.as_str(),
                kind,
                metadata: &serde_json::Map::new(),
            };
            crate::enforcement::service(state, method, &entity, passcode, now).await?
        };
        let how = if outcome.is_ok() { Outcome::Success } else { Outcome::Failure };
        let mut ev = caller.event(Action::SignonMfa, method.id.as_str(), now)?.with_outcome(how);
        ev.actor.scheme = ActorScheme::Mfa(method.method_type());
        ev.digest = signet_core::audit::digest_of(
            &serde_json::json!({"method": method.id, "sign_on": kind.as_str(), "result": outcome.err().unwrap_or("approved")}),
        );
        state.store.record(&ev).await?;
        if let Err(message) = outcome {
            // A second factor was presented and failed: that counts against the address.
            return Err(refused(state, caller.ip, budget, now, AuthnError::MfaRequired(message.to_owned())));
        }
    }
    state.authn.mfa_passed.insert(key, (), now, now + PASSED_FOR);
    Ok(())
}
