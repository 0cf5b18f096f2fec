//! A client certificate on the TLS connection, verified against the CA
//! certificates CryptoAdmins trust for it and the configured CRLs, whose
//! subject CN or SAN names an active admin account.

use std::net::IpAddr;

use signet_core::clock::UnixTime;

use super::{Attempt, AuthnError, Caller, administrators, first_in_a_while};
use crate::config::admin_auth::{AuthSettings, Scheme};
use crate::mtls::PeerCertificates;
use crate::state::AppState;

pub(super) async fn certificate(
    state: &AppState,
    settings: &AuthSettings,
    certs: &PeerCertificates,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Attempt, AuthnError> {
    let mtls = settings.mtls.clone().unwrap_or_default();
    let anchors: Vec<String> = state.store.mtls_trust_anchors().await?.into_iter().map(|c| c.pem).collect();
    let username = match crate::mtls::verify(&mtls, &anchors, &certs.0, now) {
        Ok(name) => name,
        Err(why) => {
            tracing::info!(%ip, %why, "admin API client certificate refused");
            return Ok(Attempt::Unknown);
        }
    };
    let admins = administrators(state).await?;
    let Some(v) = state.store.versioned_account(&admins, &username).await? else {
        return Ok(Attempt::Unknown);
    };
    let account = v.account;
    // A certificate is not a password: a lock on the password does not stop it.
    if !(account.admin && account.active) {
        return Ok(Attempt::Unknown);
    }
    let caller = Caller::account(&account, Scheme::Mtls, ip);
    if first_in_a_while(state, &format!("mtls:{}", account.id), now) {
        state.store.record(&caller.signon(now)?).await?;
    }
    Ok(Attempt::Verified(caller))
}
