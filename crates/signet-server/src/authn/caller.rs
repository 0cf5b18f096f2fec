//! An authenticated caller of signetd's own APIs, made only by the schemes.

use std::net::IpAddr;

use signet_core::audit::{Action, Actor, ActorKind, AuditEvent, Outcome};
use signet_core::clock::UnixTime;
use signet_core::crypto::CryptoError;
use signet_core::model::{Account, Application};
use signet_core::policy::Principal;

use crate::config::admin_auth::Scheme;

#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub actor: Actor,
    /// The admin account, when the caller is one (not a worker).
    pub account_id: Option<String>,
    pub jti: Option<String>,
    pub ip: IpAddr,
    /// Signed on with a password someone else set (a new account, a reset,
    /// a recovery): until it is replaced, changing it is all the caller may do.
    pub must_change_password: bool,
}

impl Caller {
    /// Someone other than an account of signetd's: a directory's person, or
    /// the holder of an external issuer's token.
    pub fn new(principal: Principal, actor: Actor, ip: IpAddr) -> Caller {
        Caller { principal, actor, account_id: None, jti: None, ip, must_change_password: false }
    }

    /// An admin account of signetd's, by `scheme`. A password someone else
    /// set binds the schemes that prove the password, or a token issued on
    /// it; a certificate is not a password, and has none to replace.
    pub fn account(account: &Account, scheme: Scheme, ip: IpAddr) -> Caller {
        Caller {
            principal: Principal { roles: account.roles.clone(), auditor: account.auditor },
            actor: person(account.id.to_string(), &account.username, scheme),
            account_id: Some(account.id.to_string()),
            jti: None,
            ip,
            must_change_password: account.password_change_required && scheme != Scheme::Mtls,
        }
    }

    /// An admin account, by an access token a client obtained for it.
    pub fn account_token(account: &Account, client_id: &str, jti: String, ip: IpAddr) -> Caller {
        let mut caller = Caller::account(account, Scheme::Oauth, ip).with_jti(Some(jti));
        caller.actor.client_id = Some(client_id.to_owned());
        caller
    }

    /// A worker application, by its own access token: its roles as the store
    /// holds them now.
    pub fn worker(app: &Application, jti: String, ip: IpAddr) -> Caller {
        let actor = Actor {
            kind: ActorKind::Application,
            id: app.id.to_string(),
            name: app.name.clone(),
            scheme: Scheme::Oauth.into(),
            client_id: Some(app.id.to_string()),
        };
        Caller::new(Principal { roles: app.roles.clone(), auditor: false }, actor, ip).with_jti(Some(jti))
    }

    /// A person a directory (LDAP or RADIUS) knows as `id` and `name`.
    pub fn directory(scheme: Scheme, id: String, name: &str, principal: Principal, ip: IpAddr) -> Caller {
        Caller::new(principal, person(id, name, scheme), ip)
    }

    pub fn with_jti(mut self, jti: Option<String>) -> Caller {
        self.jti = jti;
        self
    }

    /// An audit event by this caller, with the request's context.
    pub fn event(&self, action: Action, target: &str, now: UnixTime) -> Result<AuditEvent, CryptoError> {
        let mut ev = AuditEvent::new(self.actor.clone(), action, None, target, now)?.with_outcome(Outcome::Success);
        ev.request_id = Some(crate::request_id());
        ev.source_ip = Some(self.ip.to_string());
        ev.jti = self.jti.clone();
        Ok(ev)
    }

    /// The trail's record of this caller signing on.
    pub fn signon(&self, now: UnixTime) -> Result<AuditEvent, CryptoError> {
        let target = self.account_id.as_deref().unwrap_or(&self.actor.id);
        self.event(Action::AdminSignon, target, now)
    }

    /// The trail's record of a directory refusing this caller. What it names
    /// is whatever was typed, so it is kept printable and bounded.
    pub fn failed_signon(&self, now: UnixTime) -> Result<AuditEvent, CryptoError> {
        let mut named = self.clone();
        named.actor.id = signet_core::text::printable(&self.actor.id, 300);
        named.actor.name = signet_core::text::printable(&self.actor.name, 256);
        Ok(named.event(Action::AdminSignonFailure, &named.actor.id, now)?.with_outcome(Outcome::Failure))
    }
}

fn person(id: String, name: &str, scheme: Scheme) -> Actor {
    Actor { kind: ActorKind::Person, id, name: name.to_owned(), scheme: scheme.into(), client_id: None }
}
