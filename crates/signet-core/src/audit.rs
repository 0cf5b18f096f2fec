//! Audit events and their hash chain. Each event's hash covers the previous
//! event's hash and this event's canonical JSON, so altering, removing or
//! reordering any event breaks every hash after it.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A named person: the reason signet exists.
    Person,
    /// A service credential (worker application); never mistaken for a person.
    Application,
    /// signetd itself, or an operator at the server's console (bootstrap, recovery).
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
    pub name: String,
    /// How the actor proved who it is: "password+totp", "client_secret", "console", …
    pub scheme: String,
    pub client_id: Option<String>,
}

impl Actor {
    pub fn console(what: &str) -> Actor {
        Actor {
            kind: ActorKind::System,
            id: "signetd".into(),
            name: what.into(),
            scheme: "console".into(),
            client_id: None,
        }
    }
}

/// An event as recorded, before the store assigns its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: String,
    pub at: UnixTime,
    pub actor: Actor,
    pub action: String,
    pub environment_id: Option<String>,
    pub target: String,
    /// SHA-256 (hex) of the change's canonical body; never the secrets themselves.
    pub digest: String,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    /// The access token's `jti`, when a token authenticated the actor.
    /// Absent fields are not serialised, so events written before they
    /// existed keep their chain hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// `success`, `denied` or `failure`, where the writer states it (the
    /// admin API does); absent on older events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// A sign-on through an external OpenID provider: which provider, and
    /// whom it said had signed on there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
    /// Why a sign-on was refused, as a short code (`wrong_nonce`,
    /// `state_mismatch`…), where the writer states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The external provider side of a federated sign-on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    pub provider_id: String,
    pub issuer: String,
    /// The provider's `sub`, once an ID token was verified; absent before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The provider's `amr` and `acr`, as it sent them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

impl AuditEvent {
    /// A new event with a fresh id, no digest and no request context; set
    /// those fields where the caller has them.
    pub fn new(
        actor: Actor,
        action: &str,
        environment_id: Option<&str>,
        target: &str,
        at: UnixTime,
    ) -> Result<AuditEvent, crate::crypto::CryptoError> {
        Ok(AuditEvent {
            id: crate::crypto::random_id()?,
            at,
            actor,
            action: action.to_owned(),
            environment_id: environment_id.map(str::to_owned),
            target: target.to_owned(),
            digest: String::new(),
            request_id: None,
            source_ip: None,
            jti: None,
            outcome: None,
            upstream: None,
            reason: None,
        })
    }

    /// The chain hash of this event placed at `seq` after `prev_hash`.
    pub fn chain_hash(&self, seq: i64, prev_hash: &[u8]) -> Vec<u8> {
        let body = serde_json::to_vec(&(seq, self)).unwrap_or_default();
        let mut input = Vec::with_capacity(prev_hash.len() + body.len());
        input.extend_from_slice(prev_hash);
        input.extend_from_slice(&body);
        sha256(&input).to_vec()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digest of a change body, for `AuditEvent::digest`.
pub fn digest_of(value: &serde_json::Value) -> String {
    hex(&sha256(value.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(target: &str) -> AuditEvent {
        AuditEvent {
            id: "1".into(),
            at: 10,
            actor: Actor::console("bootstrap"),
            action: "account.create".into(),
            environment_id: None,
            target: target.into(),
            digest: digest_of(&serde_json::json!({"a": 1})),
            request_id: None,
            source_ip: None,
            jti: None,
            outcome: None,
            upstream: None,
            reason: None,
        }
    }

    #[test]
    fn events_from_before_newer_fields_keep_their_hashes() {
        let old = r#"{"id":"1","at":10,"actor":{"kind":"system","id":"","name":"bootstrap","scheme":"console","client_id":null},"action":"account.create","environment_id":null,"target":"x","digest":"","request_id":null,"source_ip":null}"#;
        let ev: AuditEvent = serde_json::from_str(old).unwrap();
        assert_eq!((ev.jti.as_deref(), ev.outcome.as_deref()), (None, None));
        assert_eq!(serde_json::to_string(&ev).unwrap(), old, "re-serialised byte for byte");
    }

    #[test]
    fn chain_hash_depends_on_content_position_and_predecessor() {
        let h = event("x").chain_hash(1, &[]);
        assert_eq!(h, event("x").chain_hash(1, &[]));
        assert_ne!(h, event("y").chain_hash(1, &[]));
        assert_ne!(h, event("x").chain_hash(2, &[]));
        assert_ne!(h, event("x").chain_hash(1, &[0]));
    }
}
