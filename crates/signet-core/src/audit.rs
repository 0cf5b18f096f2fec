//! Audit events and their hash chain. Each event's hash covers the previous
//! event's hash and this event's canonical JSON, so altering, removing or
//! reordering any event breaks every hash after it.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::sha256;
use crate::mfa::MethodType;

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
    /// How the actor proved who it is.
    pub scheme: ActorScheme,
    pub client_id: Option<String>,
}

impl Actor {
    pub fn console(what: &str) -> Actor {
        Actor {
            kind: ActorKind::System,
            id: "signetd".into(),
            name: what.into(),
            scheme: ActorScheme::Console,
            client_id: None,
        }
    }
}

/// How an actor proved who it is, as the trail names it (`console`,
/// `native`, `mfa:totp`, `pwd+otp`, …). It is stored as that string: one
/// this signetd does not write, from another version, is kept as
/// [`ActorScheme::Other`], so an event re-serializes to the very bytes its
/// chain hash covers.
///
/// The bytes are what the chain relies on, not equality: a value built by
/// hand that this version would read back as another variant (say
/// `Methods(vec![])`, or `Other("native".into())`) writes the same string but
/// compares unequal to what is read back. Compare schemes read from the trail,
/// or built from the server's `Scheme`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ActorScheme {
    /// signetd itself, or an operator at the server's console.
    Console,
    /// The admin API's schemes, as its settings name them.
    Native,
    Ldap,
    Radius,
    Oauth,
    Mtls,
    /// A locked account let in with both factors at once: `native+otp`.
    NativeOtp,
    /// A failed native sign-on to the admin API, with the factor that
    /// failed (RFC 8176 `pwd` or `otp`): `native:pwd`.
    NativeFailure(String),
    /// A second factor of a directory sign-on, by its method's type: `mfa:totp`.
    Mfa(MethodType),
    /// The token endpoint's grants.
    AuthorizationCode,
    RefreshToken,
    TokenExchange,
    /// A person at the sign-on pages, before a method passed.
    Signon,
    /// The methods a person signed on with at the pages (RFC 8176 values
    /// signetd writes: `pwd`, `otp`, `mfa`, `fed`), joined by `+`: `pwd+otp`.
    Methods(Vec<String>),
    /// A sign-on through an external OpenID provider, before it is known.
    Federated,
    /// A sign-on through the external OpenID provider with this id: `federated:<id>`.
    FederatedVia(String),
    /// A scheme this version does not write, kept as it was stored.
    Other(String),
}

/// The RFC 8176 values [`ActorScheme::Methods`] is read from.
const METHODS: [&str; 4] = ["pwd", "otp", "mfa", "fed"];

impl std::fmt::Display for ActorScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let word = match self {
            ActorScheme::Console => "console",
            ActorScheme::Native => "native",
            ActorScheme::Ldap => "ldap",
            ActorScheme::Radius => "radius",
            ActorScheme::Oauth => "oauth",
            ActorScheme::Mtls => "mtls",
            ActorScheme::NativeOtp => "native+otp",
            ActorScheme::NativeFailure(method) => return write!(f, "native:{method}"),
            ActorScheme::Mfa(t) => return write!(f, "mfa:{}", t.as_str()),
            ActorScheme::AuthorizationCode => "authorization_code",
            ActorScheme::RefreshToken => "refresh_token",
            ActorScheme::TokenExchange => "token-exchange",
            ActorScheme::Signon => "signon",
            ActorScheme::Methods(amr) => return f.write_str(&amr.join("+")),
            ActorScheme::Federated => "federated",
            ActorScheme::FederatedVia(provider) => return write!(f, "federated:{provider}"),
            ActorScheme::Other(s) => s,
        };
        f.write_str(word)
    }
}

impl ActorScheme {
    /// The schemes named by one fixed word.
    fn word(s: &str) -> Option<ActorScheme> {
        Some(match s {
            "console" => ActorScheme::Console,
            "native" => ActorScheme::Native,
            "ldap" => ActorScheme::Ldap,
            "radius" => ActorScheme::Radius,
            "oauth" => ActorScheme::Oauth,
            "mtls" => ActorScheme::Mtls,
            "native+otp" => ActorScheme::NativeOtp,
            "authorization_code" => ActorScheme::AuthorizationCode,
            "refresh_token" => ActorScheme::RefreshToken,
            "token-exchange" => ActorScheme::TokenExchange,
            "signon" => ActorScheme::Signon,
            "federated" => ActorScheme::Federated,
            _ => return None,
        })
    }
}

/// Reads a stored scheme; any string is one, so reading never fails.
impl From<String> for ActorScheme {
    fn from(s: String) -> ActorScheme {
        if let Some(word) = ActorScheme::word(&s) {
            return word;
        }
        if let Some(method) = s.strip_prefix("native:") {
            return ActorScheme::NativeFailure(method.to_owned());
        }
        if let Some(t) = s.strip_prefix("mfa:").and_then(MethodType::parse) {
            return ActorScheme::Mfa(t);
        }
        if let Some(provider) = s.strip_prefix("federated:") {
            return ActorScheme::FederatedVia(provider.to_owned());
        }
        if s.split('+').all(|m| METHODS.contains(&m)) {
            return ActorScheme::Methods(s.split('+').map(str::to_owned).collect());
        }
        ActorScheme::Other(s)
    }
}

impl From<ActorScheme> for String {
    fn from(s: ActorScheme) -> String {
        match s {
            ActorScheme::Other(s) => s,
            known => known.to_string(),
        }
    }
}

/// Defines [`Action`] from its variants and their names in the trail.
macro_rules! actions {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)*) => {
        /// What an event records: the trail's vocabulary. The names are stable,
        /// since exports, checkpoints and the admin API's `action` filter quote them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Action {
            pub const ALL: &[Action] = &[$(Action::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    /// An account made by bootstrap, or at a person's first federated sign-on.
    AccountCreate => "account.create",
    /// An account locked after failed attempts.
    AccountLock => "account.lock",
    /// A person enrolled an authenticator.
    AccountMfaEnrol => "account.mfa.enrol",
    /// A person replaced their password at the sign-on pages.
    AccountPasswordChange => "account.password.change",
    /// An operator recovered an administrator's access at the console.
    AccountRecover => "account.recover",
    /// An account's lock ran out or was lifted.
    AccountUnlock => "account.unlock",
    AdminAccountCreate => "admin.account.create",
    /// An administrator changed their own password.
    AdminAccountPasswordChange => "admin.account.password.change",
    /// A UserAdmin reset another administrator's password.
    AdminAccountPasswordReset => "admin.account.password.reset",
    AdminAccountUpdate => "admin.account.update",
    AdminApplicationCreate => "admin.application.create",
    AdminApplicationDelete => "admin.application.delete",
    AdminApplicationSecretRotate => "admin.application.secret.rotate",
    AdminApplicationUpdate => "admin.application.update",
    AdminBulkExport => "admin.bulk.export",
    AdminBulkImport => "admin.bulk.import",
    AdminCertificateDelete => "admin.certificate.delete",
    AdminCertificateImport => "admin.certificate.import",
    AdminClaimMappingCreate => "admin.claim_mapping.create",
    AdminClaimMappingDelete => "admin.claim_mapping.delete",
    AdminClaimMappingUpdate => "admin.claim_mapping.update",
    AdminConfigArchiveExport => "admin.config_archive.export",
    AdminConfigArchiveImport => "admin.config_archive.import",
    AdminConfigStoreDelete => "admin.config_store.delete",
    AdminConfigStorePut => "admin.config_store.put",
    /// The role policy refused an authenticated caller.
    AdminDenied => "admin.denied",
    AdminEnvironmentCreate => "admin.environment.create",
    AdminFederatedLinkCreate => "admin.federated_link.create",
    AdminFederatedLinkDelete => "admin.federated_link.delete",
    AdminIdentityProviderCreate => "admin.identity_provider.create",
    AdminIdentityProviderDelete => "admin.identity_provider.delete",
    AdminIdentityProviderUpdate => "admin.identity_provider.update",
    AdminKeyRetire => "admin.key.retire",
    AdminKeyRotate => "admin.key.rotate",
    AdminPolicyKeyRotation => "admin.policy.key_rotation",
    AdminPolicyLockout => "admin.policy.lockout",
    AdminPolicyRefreshReuse => "admin.policy.refresh_reuse",
    AdminPolicyTokens => "admin.policy.tokens",
    AdminSettingsAuthentication => "admin.settings.authentication",
    /// A caller signed on to the admin API (once in a while per caller).
    AdminSignon => "admin.signon",
    AdminSignonFailure => "admin.signon.failure",
    /// Refused unchecked: the account is locked.
    AdminSignonRefused => "admin.signon.refused",
    AdminUserAttributes => "admin.user.attributes",
    AdminUserCreate => "admin.user.create",
    AdminUserPasswordReset => "admin.user.password.reset",
    AdminUserUpdate => "admin.user.update",
    /// Bootstrap made the CLI's application.
    ApplicationCreate => "application.create",
    /// The trail's hashes became HMACs under the chain key.
    AuditChainKeyed => "audit.chain.keyed",
    /// Events past the retention were removed.
    AuditPrune => "audit.prune",
    /// A person declined a client at the sign-on pages.
    AuthorizeCancel => "authorize.cancel",
    /// A person confirmed a client at the sign-on pages.
    AuthorizeConfirm => "authorize.confirm",
    /// A browser session signed a person on to a client without asking again.
    AuthorizeSession => "authorize.session",
    DeviceApprove => "device.approve",
    DeviceDeny => "device.deny",
    /// Bootstrap made an environment.
    EnvironmentCreate => "environment.create",
    /// A person's account was linked to an external provider's.
    FederatedLinkCreate => "federated_link.create",
    /// A refresh token just spent was presented again within the reuse
    /// interval and reissued; the token it had been replaced by was revoked.
    GrantRefreshReuseGrace => "grant.refresh_reuse_grace",
    /// A replayed authorization code revoked its grant (RFC 6749 §4.1.2).
    GrantRevokeCodeReplay => "grant.revoke.code_replay",
    /// A reused refresh token revoked its family (RFC 9700 §4.14).
    GrantRevokeRefreshReuse => "grant.revoke.refresh_reuse",
    /// Every sealed value was sealed again under a new key-encryption key.
    KekRotate => "kek.rotate",
    MfaEnforcementCreate => "mfa.enforcement.create",
    MfaEnforcementDelete => "mfa.enforcement.delete",
    MfaEnforcementUpdate => "mfa.enforcement.update",
    MfaEnrolmentDestroy => "mfa.enrolment.destroy",
    MfaMethodCreate => "mfa.method.create",
    MfaMethodDelete => "mfa.method.delete",
    MfaMethodUpdate => "mfa.method.update",
    /// A SIGHUP reload changed the parts named in the target (`tls`,
    /// `log_level`, `trusted_proxies`).
    ServerReload => "server.reload",
    /// Bootstrap made an environment's first signing key.
    SigningKeyCreate => "signing_key.create",
    /// The rotation schedule published a new signing key, to sign from a set time.
    SigningKeySchedule => "signing_key.schedule",
    /// A person completed a sign-on at the pages.
    Signon => "signon",
    /// A token exchange signed a person on (RFC 8693).
    SignonExchange => "signon.exchange",
    SignonFailure => "signon.failure",
    SignonFederated => "signon.federated",
    /// A second factor passed or failed.
    SignonMfa => "signon.mfa",
    SignonRefused => "signon.refused",
    /// The store was restored from a backup (`signetd restore`); its target
    /// says whether the sessions were ended.
    StoreRestore => "store.restore",
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How what an event records went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    /// Wrong credentials or a failed check.
    Failure,
    /// Refused by a rule: the role policy, a lock.
    Denied,
    /// Failures locked an account.
    Locked,
    /// A grant was revoked because something of it was replayed.
    Revoked,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
            Outcome::Locked => "locked",
            Outcome::Revoked => "revoked",
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
    /// Says how it went.
    pub fn with_outcome(mut self, outcome: Outcome) -> AuditEvent {
        self.set_outcome(outcome);
        self
    }

    pub fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome.as_str().to_owned());
    }

    /// A new event of `action` with a fresh id, no digest and no request
    /// context; set those fields where the caller has them.
    pub fn new(
        actor: Actor,
        action: Action,
        environment_id: Option<&str>,
        target: &str,
        at: UnixTime,
    ) -> Result<AuditEvent, crate::crypto::CryptoError> {
        Ok(AuditEvent {
            id: crate::crypto::random_id()?,
            at,
            actor,
            action: action.as_str().to_owned(),
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

    #[test]
    fn the_vocabulary_names_each_action_once_in_the_trails_form() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            let name = a.as_str();
            assert!(seen.insert(name), "{name} is named twice");
            assert!(name.split('.').all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        }
        let ev = AuditEvent::new(Actor::console("t"), Action::AdminDenied, None, "x", 1).unwrap();
        assert_eq!(ev.action, "admin.denied");
        assert_eq!(ev.with_outcome(Outcome::Denied).outcome.as_deref(), Some("denied"));
    }

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
        assert_eq!(ev.actor.scheme, ActorScheme::Console);
        assert_eq!(serde_json::to_string(&ev).unwrap(), old, "re-serialised byte for byte");
    }

    /// One of each variant, in the form the trail stores it.
    fn every_scheme() -> Vec<(ActorScheme, &'static str)> {
        let mut all = vec![
            (ActorScheme::Console, "console"),
            (ActorScheme::Native, "native"),
            (ActorScheme::Ldap, "ldap"),
            (ActorScheme::Radius, "radius"),
            (ActorScheme::Oauth, "oauth"),
            (ActorScheme::Mtls, "mtls"),
            (ActorScheme::NativeOtp, "native+otp"),
            (ActorScheme::NativeFailure("pwd".into()), "native:pwd"),
            (ActorScheme::NativeFailure("otp".into()), "native:otp"),
            (ActorScheme::AuthorizationCode, "authorization_code"),
            (ActorScheme::RefreshToken, "refresh_token"),
            (ActorScheme::TokenExchange, "token-exchange"),
            (ActorScheme::Signon, "signon"),
            (ActorScheme::Methods(vec!["pwd".into()]), "pwd"),
            (ActorScheme::Methods(vec!["otp".into()]), "otp"),
            (ActorScheme::Methods(vec!["pwd".into(), "otp".into(), "mfa".into()]), "pwd+otp+mfa"),
            (ActorScheme::Methods(vec!["fed".into(), "mfa".into()]), "fed+mfa"),
            (ActorScheme::Federated, "federated"),
            (ActorScheme::FederatedVia("b1946ac9".into()), "federated:b1946ac9"),
            (ActorScheme::Other("kerberos".into()), "kerberos"),
        ];
        let mfa = [
            (MethodType::Totp, "mfa:totp"),
            (MethodType::Pingid, "mfa:pingid"),
            (MethodType::Okta, "mfa:okta"),
            (MethodType::Duo, "mfa:duo"),
        ];
        assert_eq!(mfa.len(), MethodType::ALL.len());
        all.extend(mfa.map(|(t, s)| (ActorScheme::Mfa(t), s)));
        all
    }

    #[test]
    fn every_scheme_round_trips_as_the_string_it_was() {
        for (scheme, stored) in every_scheme() {
            let json = serde_json::to_string(&scheme).unwrap();
            assert_eq!(json, format!("\"{stored}\""), "{scheme:?}");
            assert_eq!(scheme.to_string(), stored);
            assert_eq!(serde_json::from_str::<ActorScheme>(&json).unwrap(), scheme, "{stored}");
        }
    }

    #[test]
    fn a_scheme_this_version_does_not_write_is_kept_byte_for_byte() {
        for stored in ["kerberos", "", "mfa:webauthn", "pwd+webauthn", "Native", "native +otp", "mfa", "a\"b\\c\u{e9}"]
        {
            let scheme: ActorScheme = serde_json::from_str(&serde_json::to_string(stored).unwrap()).unwrap();
            assert_eq!(String::from(scheme.clone()), stored, "{scheme:?}");
            if stored != "mfa" {
                assert_eq!(scheme, ActorScheme::Other(stored.into()));
            }
        }
        // Inside an event, as an older signetd chained it.
        let old = r#"{"id":"1","at":10,"actor":{"kind":"person","id":"a","name":"ada","scheme":"password+totp","client_id":null},"action":"signon","environment_id":null,"target":"x","digest":"","request_id":null,"source_ip":null}"#;
        let ev: AuditEvent = serde_json::from_str(old).unwrap();
        assert_eq!(ev.actor.scheme, ActorScheme::Other("password+totp".into()));
        assert_eq!(serde_json::to_string(&ev).unwrap(), old, "re-serialised byte for byte");
    }

    /// The admin API shows events in the form they were hashed in, so an
    /// export can be checked against the chain.
    #[test]
    fn the_admin_apis_view_writes_the_chained_form() {
        let mut full = event("x");
        full.actor = Actor {
            kind: ActorKind::Person,
            id: "a".into(),
            name: "alice".into(),
            scheme: ActorScheme::from("password+totp".to_owned()),
            client_id: Some("c".into()),
        };
        (full.request_id, full.source_ip, full.jti) = (Some("r".into()), Some("10.0.0.1".into()), Some("j".into()));
        full.set_outcome(Outcome::Failure);
        full.upstream = Some(Upstream {
            provider_id: "p".into(),
            issuer: "https://idp.example".into(),
            subject: Some("s".into()),
            amr: vec!["pwd".into()],
            acr: Some("1".into()),
        });
        full.reason = Some("wrong_nonce".into());
        let mut bare = event("y");
        bare.upstream =
            Some(Upstream { provider_id: "p".into(), issuer: "i".into(), subject: None, amr: vec![], acr: None });
        for ev in [full, bare, event("z")] {
            let chained = serde_json::to_string(&ev).unwrap();
            let view: signet_proto::admin::audit::AuditEventView = serde_json::from_str(&chained).unwrap();
            assert_eq!(serde_json::to_string(&view).unwrap(), chained);
        }
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
