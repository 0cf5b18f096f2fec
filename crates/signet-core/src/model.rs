//! The records signetd keeps: environments, accounts, applications, grant
//! families, codes and device authorizations, and the rules that belong to them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use signet_proto::roles::Role;

use crate::clock::UnixTime;
use crate::id::{AccountId, ClientId, EnvironmentId};

pub const ADMINISTRATORS: &str = "Administrators";
pub const CLI_CLIENT_ID: &str = "signet-cli";
pub const CLI_REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// What the CLI application may do. Its redirect URIs and grants are fixed:
/// its tokens carry the admin API's audience, so where its codes may be
/// sent is not a setting anyone can change through the API.
pub const CLI_GRANT_TYPES: [GrantType; 3] =
    [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::DeviceCode];

/// Lifetimes, in seconds.
pub const ACCESS_TOKEN_TTL: i64 = 3600;
pub const ID_TOKEN_TTL: i64 = 3600;
pub const AUTH_CODE_TTL: i64 = 60;
pub const REFRESH_TOKEN_TTL: i64 = 30 * 24 * 3600;
pub const DEVICE_CODE_TTL: i64 = 600;
pub const DEVICE_POLL_INTERVAL: i64 = 5;
pub const LOGIN_FLOW_TTL: i64 = 600;
pub const BROWSER_SESSION_TTL: i64 = 8 * 3600;

/// The AAD under which an account's TOTP secret is sealed.
/// What a username may be: 1 to 64 of letters, digits, `.`, `_`, `-` and `@`.
pub fn valid_username(u: &str) -> bool {
    (1..=64).contains(&u.len())
        && u.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

pub const USERNAME_RULE: &str = "1 to 64 letters, digits, '.', '_', '-' or '@'";

pub fn totp_purpose(account_id: &str) -> String {
    format!("totp:{account_id}")
}

/// The AAD under which a signing key's private half is sealed.
pub fn signing_key_purpose(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// The AAD of an imported certificate's sealed private key.
pub fn certificate_key_purpose(id: &str) -> String {
    format!("certificate:{id}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub id: EnvironmentId,
    pub name: String,
    pub created_at: UnixTime,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub environment_id: EnvironmentId,
    pub username: String,
    pub password_hash: Option<String>,
    pub active: bool,
    /// Administrator accounts live in the Administrators environment and must use MFA.
    pub admin: bool,
    pub roles: BTreeSet<Role>,
    pub auditor: bool,
    /// The TOTP secret, sealed with the key-encryption key.
    pub totp_sealed: Option<Vec<u8>>,
    pub totp_confirmed: bool,
    pub totp_last_step: i64,
    pub failed_attempts: i64,
    /// Set by break-glass recovery: the one-time password must be replaced at the next sign-on.
    pub password_change_required: bool,
    pub locked_until: UnixTime,
    pub created_at: UnixTime,
}

impl Account {
    /// A new end user's account, active, with no role and no password: one
    /// that signs on through an external provider.
    pub fn new(id: AccountId, environment_id: &EnvironmentId, username: &str, created_at: UnixTime) -> Account {
        Account {
            id,
            environment_id: environment_id.clone(),
            username: username.to_owned(),
            password_hash: None,
            active: true,
            admin: false,
            roles: BTreeSet::new(),
            auditor: false,
            totp_sealed: None,
            totp_confirmed: false,
            totp_last_step: 0,
            failed_attempts: 0,
            password_change_required: false,
            locked_until: 0,
            created_at,
        }
    }

    /// A new account, active, with no role, and a password someone else
    /// chose (`password_hash`): the person replaces it at the first sign-on.
    pub fn with_set_password(
        id: AccountId,
        environment_id: &EnvironmentId,
        username: &str,
        password_hash: String,
        created_at: UnixTime,
    ) -> Account {
        let account = Account::new(id, environment_id, username, created_at);
        Account { password_hash: Some(password_hash), password_change_required: true, ..account }
    }
}

/// Leaves out the password hash and the sealed TOTP secret.
impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("environment_id", &self.environment_id)
            .field("username", &self.username)
            .field("active", &self.active)
            .field("admin", &self.admin)
            .field("roles", &self.roles)
            .field("auditor", &self.auditor)
            .field("totp_confirmed", &self.totp_confirmed)
            .field("failed_attempts", &self.failed_attempts)
            .field("locked_until", &self.locked_until)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// Every administrator account must use MFA, Auditors included; no setting turns it off.
    pub fn mfa_required(&self) -> bool {
        self.admin || self.totp_confirmed
    }

    pub fn is_locked(&self, now: UnixTime) -> bool {
        self.locked_until > now
    }

    pub fn totp_purpose(&self) -> String {
        totp_purpose(self.id.as_str())
    }
}

/// What an application is and the grants it may use: the API's names,
/// which are also the document's and the domain's.
pub use signet_proto::admin::applications::{AppKind, GrantType};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: ClientId,
    pub environment_id: EnvironmentId,
    pub name: String,
    pub kind: AppKind,
    /// SHA-256 of the client secret. Secrets are 256-bit random values, so a
    /// fast hash is enough and keeps the token endpoint fast (DESIGN.md).
    pub secret_hash: Option<Vec<u8>>,
    pub redirect_uris: Vec<String>,
    pub grant_types: BTreeSet<GrantType>,
    pub scopes: BTreeSet<String>,
    /// Admin roles held by a worker application (seed 001).
    pub roles: BTreeSet<Role>,
    /// Whether this application may call signetd's own APIs on a person's behalf (the CLI).
    pub admin_api: bool,
    /// Whether its authorization requests must carry a PKCE challenge. Always
    /// for a public client; for a confidential one too unless it opts out
    /// explicitly (RFC 9700 §2.1.1).
    pub pkce_required: bool,
    pub created_at: UnixTime,
}

impl Application {
    /// Only the CLI and workers holding admin roles get the admin-API audience.
    pub fn gets_admin_audience(&self) -> bool {
        self.admin_api || (self.kind == AppKind::Worker && !self.roles.is_empty())
    }

    /// Whether an authorization request must carry a PKCE challenge.
    pub fn needs_pkce(&self) -> bool {
        self.kind.is_public() || self.pkce_required
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        match grant {
            GrantType::TokenExchange => {
                [GrantType::AuthorizationCode, GrantType::DeviceCode, GrantType::ClientCredentials]
                    .iter()
                    .any(|g| self.grant_types.contains(g))
            }
            g => self.grant_types.contains(&g),
        }
    }

    /// Whether a browser may be sent to `uri` for this application: it
    /// matches a registered redirect URI that today's rules still allow, so
    /// one registered before them (an attacker's host) no longer works.
    pub fn redirect_allowed(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| {
            crate::redirect::matches(r, uri, self.kind == AppKind::Native)
                && crate::redirect::is_registrable(r, self.kind)
        })
    }

    /// The registered redirect URIs today's rules refuse, with why.
    pub fn unregistrable_redirects(&self) -> Vec<(String, String)> {
        self.redirect_uris
            .iter()
            .filter_map(|r| crate::redirect::check(r, self.kind).err().map(|why| (r.clone(), why.to_string())))
            .collect()
    }
}

/// A grant family: one sign-on, and every refresh token rotated from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub environment_id: EnvironmentId,
    pub client_id: ClientId,
    pub account_id: AccountId,
    pub scope: String,
    pub auth_time: UnixTime,
    pub amr: Vec<String>,
    pub created_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
    /// The DPoP key (RFC 7638 thumbprint) the family's refresh tokens are
    /// bound to, for a public client that proved one (RFC 9449 §5).
    pub jkt: Option<String>,
    /// A key-bound session's terms, for a family that proved a DPoP key.
    pub session: Option<SessionTerms>,
    /// The family a token exchange minted this one from: revoking that one
    /// revokes this one too.
    pub parent_id: Option<String>,
}

/// The terms of a key-bound session (issue 6, seed 004): its access tokens
/// live `seconds` (chosen at sign-on, 5 to 60 minutes), and nothing of it,
/// refreshes included, outlives `ends_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTerms {
    pub seconds: i64,
    pub ends_at: UnixTime,
}

/// How long a session may be refreshed after its sign-on.
pub const SESSION_LIMIT: i64 = 24 * 3600;
/// How long a session minted without a browser lasts, refreshes included.
pub const MINTED_SESSION_LIMIT: i64 = 3600;
/// The access token lifetimes a session may choose, in minutes; 60 unless chosen.
pub const SESSION_MINUTES: std::ops::RangeInclusive<i64> = 5..=60;

impl SessionTerms {
    /// The terms of a session signed on at `auth_time`, with `minutes` chosen (or not).
    pub fn signed_on(auth_time: UnixTime, minutes: Option<i64>) -> SessionTerms {
        let minutes = minutes.unwrap_or(*SESSION_MINUTES.end());
        SessionTerms { seconds: minutes * 60, ends_at: auth_time + SESSION_LIMIT }
    }

    /// How long an access token minted at `now` lives: its full lifetime,
    /// cut short where the session ends.
    pub fn lifetime_at(&self, now: UnixTime) -> i64 {
        self.seconds.min(self.ends_at - now).max(0)
    }

    pub fn ended(&self, now: UnixTime) -> bool {
        now >= self.ends_at
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub hash: Vec<u8>,
    pub grant_id: String,
    pub expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
}

/// An issued authorization code, stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub hash: Vec<u8>,
    pub environment_id: EnvironmentId,
    pub client_id: ClientId,
    pub account_id: AccountId,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: UnixTime,
    pub amr: Vec<String>,
    pub expires_at: UnixTime,
    /// The grant family the code was exchanged for, once it has been.
    pub grant_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeviceStatus {
    Pending,
    Approved {
        account_id: AccountId,
        auth_time: UnixTime,
        amr: Vec<String>,
    },
    Denied,
    /// Tokens were issued; the device code is spent.
    Consumed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    pub device_hash: Vec<u8>,
    pub user_code: String,
    pub environment_id: EnvironmentId,
    pub client_id: ClientId,
    pub scope: String,
    pub expires_at: UnixTime,
    pub interval: i64,
    pub last_polled_at: Option<UnixTime>,
    pub status: DeviceStatus,
    /// The address that asked for it, shown to whoever approves it.
    pub requested_from: Option<String>,
    pub requested_at: UnixTime,
}

/// How long tokens live. An Admin may shorten them; the defaults are also
/// the longest, because revocation feeds and key publication are sized for
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenLifetimes {
    pub access_token_seconds: i64,
    pub refresh_token_seconds: i64,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        TokenLifetimes { access_token_seconds: ACCESS_TOKEN_TTL, refresh_token_seconds: REFRESH_TOKEN_TTL }
    }
}

impl TokenLifetimes {
    /// The store's settings key.
    pub const KEY: &'static str = "token_lifetimes";

    /// What is out of bounds, naming the field.
    pub fn check(&self) -> Result<(), LifetimeError> {
        if !(300..=ACCESS_TOKEN_TTL).contains(&self.access_token_seconds) {
            return Err(LifetimeError::Access);
        }
        if !(3600..=REFRESH_TOKEN_TTL).contains(&self.refresh_token_seconds) {
            return Err(LifetimeError::Refresh);
        }
        if self.refresh_token_seconds < self.access_token_seconds {
            return Err(LifetimeError::RefreshShorter);
        }
        Ok(())
    }
}

/// The refresh reuse interval (issue 18; Auth0's "reuse interval"): for a
/// client that proves who it is (a confidential client, or a DPoP-bound
/// family), the refresh token it has just spent, presented again within
/// this many seconds, is reissued once instead of revoking the sign-on, so
/// a response lost to a dropped connection can be retried. Off (0) by
/// default; at most `MAX` seconds. Kept apart from `TokenLifetimes`, whose
/// document a release before it would refuse with a field it does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshReuse {
    pub interval_seconds: i64,
}

impl RefreshReuse {
    /// The store's settings key.
    pub const KEY: &'static str = "refresh_reuse";
    /// The longest interval: a retry comes within seconds, and every second
    /// more is a second a stolen spent token could be swapped for a live one.
    pub const MAX: i64 = 60;

    /// What is out of bounds, naming the field.
    pub fn check(&self) -> Result<(), String> {
        if (0..=Self::MAX).contains(&self.interval_seconds) {
            Ok(())
        } else {
            Err(format!("interval_seconds: between 0 (off) and {}", Self::MAX))
        }
    }
}

/// Scheduled signing-key rotation of one environment (issue 18): a new key
/// every `rotate_every_days` days (0: off, the default), published in the
/// key set `publish_ahead_seconds` before it signs, so relying parties that
/// cache the key set hold it before they meet a token it signed. The key it
/// replaces stays published until the tokens it signed have expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotationPolicy {
    pub rotate_every_days: i64,
    pub publish_ahead_seconds: i64,
}

impl Default for KeyRotationPolicy {
    fn default() -> Self {
        KeyRotationPolicy { rotate_every_days: 0, publish_ahead_seconds: 86_400 }
    }
}

impl KeyRotationPolicy {
    pub const MAX_DAYS: i64 = 365;
    pub const MAX_AHEAD: i64 = 7 * 86_400;

    /// The store's settings key for environment `env`.
    pub fn key(env: &str) -> String {
        format!("key_rotation/{env}")
    }

    pub fn period_seconds(&self) -> i64 {
        self.rotate_every_days * 86_400
    }

    /// What is out of bounds, naming the field.
    pub fn check(&self) -> Result<(), String> {
        if !(0..=Self::MAX_DAYS).contains(&self.rotate_every_days) {
            return Err(format!("rotate_every_days: between 0 (off) and {}", Self::MAX_DAYS));
        }
        if !(0..=Self::MAX_AHEAD).contains(&self.publish_ahead_seconds) {
            return Err(format!("publish_ahead_seconds: between 0 and {}", Self::MAX_AHEAD));
        }
        if self.rotate_every_days > 0 && self.publish_ahead_seconds >= self.period_seconds() {
            return Err("publish_ahead_seconds: shorter than the rotation period".into());
        }
        Ok(())
    }
}

/// Which token lifetime is out of bounds, naming the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LifetimeError {
    #[error("access_token_seconds: between 300 and {}", ACCESS_TOKEN_TTL)]
    Access,
    #[error("refresh_token_seconds: between 3600 and {}", REFRESH_TOKEN_TTL)]
    Refresh,
    #[error("refresh_token_seconds: not shorter than access_token_seconds")]
    RefreshShorter,
}

/// Brute-force policy (issue: 5 failures, 15 minutes by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutPolicy {
    pub max_failures: i64,
    pub lock_seconds: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy { max_failures: 5, lock_seconds: 15 * 60 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_debug_shows_no_credential() {
        let a = Account {
            id: "a".into(),
            environment_id: "e".into(),
            username: "ada".into(),
            password_hash: Some("$argon2id$v=19$secret-hash".into()),
            active: true,
            admin: true,
            roles: Default::default(),
            auditor: false,
            totp_sealed: Some(vec![42; 8]),
            totp_confirmed: true,
            totp_last_step: 0,
            failed_attempts: 0,
            password_change_required: false,
            locked_until: 0,
            created_at: 0,
        };
        let shown = format!("{a:?}");
        assert!(shown.contains("ada") && !shown.contains("argon2id") && !shown.contains("42"));
    }

    #[test]
    fn lifetime_refusals_keep_their_words() {
        let words = |access_token_seconds, refresh_token_seconds| {
            TokenLifetimes { access_token_seconds, refresh_token_seconds }.check().unwrap_err().to_string()
        };
        assert_eq!(words(1, 3600), format!("access_token_seconds: between 300 and {ACCESS_TOKEN_TTL}"));
        assert_eq!(words(300, 1), format!("refresh_token_seconds: between 3600 and {REFRESH_TOKEN_TTL}"));
        assert_eq!(
            LifetimeError::RefreshShorter.to_string(),
            "refresh_token_seconds: not shorter than access_token_seconds"
        );
    }

    #[test]
    fn grant_type_names_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::parse("password"), None);
        assert_eq!(GrantType::DeviceCode.label(), "device_code");
    }
}
