//! What a federated sign-on writes in the audit trail: the provider's part
//! of a sign-on, a link a person made, and every refusal.

use serde_json::json;
use signet_core::audit::Action as Event;
use signet_core::audit::ActorScheme;
use signet_core::audit::Outcome;
use signet_core::audit::{Actor, ActorKind, AuditEvent, digest_of};
use signet_core::crypto::CryptoError;
use signet_core::federation::{Provider, Upstream};
use signet_core::model::Account;
use signet_store::FederatedLink;

use crate::keyring::EnvKeys;
use crate::web::signon::event;

/// The provider and, when known, the upstream person, as the trail records them.
pub(super) fn upstream_of(provider: &Provider, upstream: Option<&Upstream>) -> signet_core::audit::Upstream {
    signet_core::audit::Upstream {
        provider_id: provider.id.clone(),
        issuer: provider.issuer.clone(),
        subject: upstream.map(|u| u.subject.clone()),
        amr: upstream.map(|u| u.amr.clone()).unwrap_or_default(),
        acr: upstream.and_then(|u| u.acr.clone()),
    }
}

/// A person linking their own account, as the trail records it.
pub(super) fn link_event(
    account: &Account,
    link: &FederatedLink,
    provider: &Provider,
    upstream: &Upstream,
    ip: std::net::IpAddr,
    now: i64,
) -> Result<AuditEvent, CryptoError> {
    let mut ev = event(account, Event::FederatedLinkCreate, account.id.to_string(), Some(ip), now)?;
    ev.actor.scheme = ActorScheme::FederatedVia(provider.id.clone());
    ev.digest = digest_of(
        &json!({"issuer": link.issuer, "subject": link.subject, "account": link.account_id, "provider": provider.id}),
    );
    ev.upstream = Some(upstream_of(provider, Some(upstream)));
    ev.set_outcome(Outcome::Success);
    Ok(ev)
}

/// The provider's part of a sign-on, accepted for `account`.
pub(super) fn signed_on(
    account: &Account,
    provider: &Provider,
    upstream: &Upstream,
    ip: std::net::IpAddr,
    now: i64,
) -> Result<AuditEvent, CryptoError> {
    let mut ev = event(account, Event::SignonFederated, format!("identity-provider:{}", provider.id), Some(ip), now)?;
    ev.actor.scheme = ActorScheme::FederatedVia(provider.id.clone());
    ev.set_outcome(Outcome::Success);
    ev.request_id = Some(crate::request_id());
    ev.upstream = Some(upstream_of(provider, Some(upstream)));
    Ok(ev)
}

/// A refused federated sign-on, as the trail records it.
pub(super) fn failure_event(
    env: &EnvKeys,
    account: Option<&Account>,
    upstream: Option<signet_core::audit::Upstream>,
    reason: &str,
    ip: std::net::IpAddr,
    now: i64,
) -> Result<AuditEvent, CryptoError> {
    let actor = Actor {
        kind: ActorKind::Person,
        id: account.map(|a| a.id.to_string()).unwrap_or_default(),
        name: account.map(|a| a.username.clone()).unwrap_or_default(),
        scheme: ActorScheme::Federated,
        client_id: None,
    };
    let target = match &upstream {
        Some(u) => format!("identity-provider:{}", u.provider_id),
        None => "identity-provider".into(),
    };
    let mut ev = AuditEvent::new(actor, Event::SignonFederated, Some(env.environment.id.as_str()), &target, now)?;
    ev.set_outcome(Outcome::Failure);
    ev.reason = Some(reason.into());
    ev.request_id = Some(crate::request_id());
    ev.source_ip = Some(ip.to_string());
    ev.upstream = upstream;
    Ok(ev)
}
