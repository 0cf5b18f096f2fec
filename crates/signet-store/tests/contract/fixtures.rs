//! Records to store, with fresh ids, and small helpers every contract uses.
//! It also re-exports the types the contracts name, so each file imports one line.

pub use std::collections::BTreeSet;

pub use base64::Engine;

pub use signet_core::audit::{Actor, AuditEvent};
pub use signet_core::clock::UnixTime;
pub use signet_core::crypto::{Kek, random_bytes, random_id, sha256};
pub use signet_core::login::{AuthorizeRequest, Purpose, Step};
pub use signet_core::model::{
    Account, AppKind, Application, AuthCode, CLI_REDIRECT_URI, DeviceAuthorization, DeviceStatus, Environment, Grant,
    GrantType, LockoutPolicy, RefreshToken, SessionTerms, certificate_key_purpose, signing_key_purpose, totp_purpose,
};
pub use signet_proto::roles::Role;
pub use signet_store::{
    AdminChange, Backend, Bootstrap, BrowserSession, Budget, Certificate, CodeRedemption, Decided, LockState,
    LoginFlow, NewCredentials, Rotation, Store, StoreError, StoredKey, Versioned, Written,
};

use crate::NOW;

pub fn id() -> String {
    random_id().unwrap()
}

pub fn random_hash() -> Vec<u8> {
    random_bytes::<32>().unwrap().to_vec()
}

pub fn event(action: &str, environment_id: Option<&str>) -> AuditEvent {
    AuditEvent {
        id: id(),
        at: NOW,
        actor: Actor::console("contract test"),
        action: action.into(),
        environment_id: environment_id.map(str::to_owned),
        target: id(),
        digest: signet_core::audit::hex(&sha256(action.as_bytes())),
        request_id: Some(id()),
        source_ip: None,
        jti: None,
        outcome: Some("success".into()),
        upstream: None,
        reason: None,
    }
}

pub fn environment(name: &str) -> Environment {
    Environment { id: id().into(), name: name.into(), created_at: NOW }
}

pub fn stored_key(environment_id: &str, private_sealed: Vec<u8>) -> StoredKey {
    StoredKey {
        kid: id(),
        environment_id: environment_id.into(),
        public_jwk: r#"{"kty":"EC","crv":"P-256"}"#.into(),
        private_sealed,
        created_at: NOW,
        retired_at: None,
        activates_at: None,
    }
}

pub fn account(environment_id: &str, username: &str) -> Account {
    Account {
        password_hash: Some("$argon2id$placeholder".into()),
        ..Account::new(id().into(), &signet_core::id::EnvironmentId::from(environment_id), username, NOW)
    }
}

pub fn grant(environment_id: &str, client_id: &str) -> Grant {
    Grant {
        id: id(),
        environment_id: environment_id.into(),
        client_id: client_id.into(),
        account_id: id().into(),
        scope: "openid offline_access".into(),
        auth_time: NOW,
        amr: vec!["pwd".into(), "otp".into()],
        created_at: NOW,
        revoked_at: None,
        jkt: None,
        session: None,
        parent_id: None,
    }
}

pub fn refresh(grant_id: &str, expires_at: UnixTime) -> RefreshToken {
    RefreshToken { hash: random_hash(), grant_id: grant_id.into(), expires_at, used_at: None }
}

pub fn auth_code(environment_id: &str, client_id: &str, expires_at: UnixTime) -> AuthCode {
    AuthCode {
        hash: random_hash(),
        environment_id: environment_id.into(),
        client_id: client_id.into(),
        account_id: id().into(),
        redirect_uri: CLI_REDIRECT_URI.into(),
        scope: "openid".into(),
        nonce: Some("nonce".into()),
        code_challenge: Some("challenge".into()),
        auth_time: NOW,
        amr: vec!["pwd".into()],
        expires_at,
        grant_id: None,
    }
}

pub fn device(environment_id: &str, user_code: &str, expires_at: UnixTime) -> DeviceAuthorization {
    DeviceAuthorization {
        device_hash: random_hash(),
        user_code: user_code.into(),
        environment_id: environment_id.into(),
        client_id: "signet-cli".into(),
        scope: "openid".into(),
        expires_at,
        interval: 5,
        last_polled_at: None,
        status: DeviceStatus::Pending,
        requested_from: Some("192.0.2.7".into()),
        requested_at: expires_at - 600,
    }
}

pub fn login_flow(environment_id: &str, expires_at: UnixTime) -> LoginFlow {
    LoginFlow {
        id: id(),
        environment_id: environment_id.into(),
        cookie_hash: random_hash(),
        csrf: id(),
        purpose: Purpose::Authorize(AuthorizeRequest {
            client_id: "signet-cli".into(),
            redirect_uri: CLI_REDIRECT_URI.into(),
            scope: "openid".into(),
            state: Some("state".into()),
            nonce: None,
            code_challenge: Some("challenge".into()),
        }),
        step: Step::Password,
        version: 0,
        expires_at,
    }
}

pub fn session(a: &Account, expires_at: UnixTime) -> BrowserSession {
    BrowserSession {
        environment_id: a.environment_id.clone(),
        account_id: a.id.clone(),
        auth_time: NOW,
        amr: vec!["pwd".into()],
        expires_at,
    }
}

/// Creates an environment (with its signing key) through the store.
pub async fn new_environment(store: &Store, name: &str) -> Environment {
    let env = environment(name);
    let key = stored_key(env.id.as_str(), vec![1, 2, 3]);
    store.create_environment(&env, &key, &event("environment.create", Some(env.id.as_str()))).await.unwrap();
    env
}

pub async fn new_account(store: &Store, environment_id: &str, username: &str) -> Account {
    let a = account(environment_id, username);
    store.insert_account(&a, &event("account.create", Some(environment_id))).await.unwrap();
    a
}

pub async fn audit_count(store: &Store) -> usize {
    store.audit_events(0, 10_000).await.unwrap().len()
}

pub fn is_conflict<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}
