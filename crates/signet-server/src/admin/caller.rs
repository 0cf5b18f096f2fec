//! Who is calling the admin API, by the schemes configured for it.
//!
//! - **native**: HTTP Basic against the admin accounts of the Administrators
//!   environment. A verified password is remembered for a short while under a
//!   keyed hash of the credentials, but only while the account's version in
//!   the store is unchanged, and the store is read on every request: a
//!   password change, a role change or a deactivation takes effect on every
//!   instance at once, without paying argon2 on every call.
//! - **ldap**: HTTP Basic checked by binding to the directory as the person,
//!   on every call; their groups map to roles by the settings.
//! - **mtls**: a client certificate on the TLS connection, verified against
//!   the CA certificates CryptoAdmins trust for it and the configured CRLs,
//!   whose subject CN or SAN names an admin account.
//! - **oauth**: Bearer access tokens of any signetd environment carrying the
//!   admin API audience. Roles are read from the account or worker in the
//!   store at request time, never from the token.
//!
//! Basic credentials are tried against each Basic scheme in the order the
//! settings list them; a failed attempt is recorded once, after all fail.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine;
use signet_core::audit::{Actor, ActorKind, AuditEvent};
use signet_core::clock::UnixTime;
use signet_core::crypto::{b64url_decode, hmac_sha256, random_bytes};
use signet_core::mfa::SignOnKind;
use signet_core::policy::{self, Action, Principal, Resource};

use super::AdminError;
use super::schemes::principal_from;
pub use super::schemes::{AuthSettings, SETTINGS_KEY, Scheme, auth_settings};
use crate::lockout::FirstFactor;
use crate::mtls::PeerCertificates;
use crate::net::ClientIp;
use crate::oauth::Env;
use crate::oauth::bearer;
use crate::oauth::dpop::Presented;
use crate::ratelimit::{Kind, Proof};
use crate::state::AppState;
use signet_core::dpop;

/// How long the Administrators environment's id is remembered: an import
/// on another instance may replace the environment.
const ADMINISTRATORS_FOR: UnixTime = 10;
/// How long a verified Basic password is trusted without argon2.
const VERIFIED_FOR: UnixTime = 60;
const VERIFIED_MAX: usize = 1024;
const REALM: &str = "signet admin API";
/// How long this instance trusts the authentication settings it read.
const SETTINGS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// A bearer token whose signature, issuer and audience were checked.
#[derive(Clone)]
struct VerifiedToken {
    env_id: String,
    /// The key that signed it: once retired, the token is no longer good.
    kid: String,
    claims: signet_core::token::AccessClaims,
}

/// Per-instance state of admin authentication.
pub struct AdminAuth {
    /// Keys the verification cache, so it never holds anything a password
    /// could be recovered from.
    key: [u8; 32],
    verified: Mutex<HashMap<[u8; 32], Verified>>,
    /// The Administrators environment's id, and when it was read.
    administrators: Mutex<Option<(String, UnixTime)>>,
    /// Unauthenticated calls logged in the current minute: (minute, count).
    logged: Mutex<(UnixTime, u32)>,
    /// Settings from the config file, which then override the store's.
    pub from_file: Option<Arc<AuthSettings>>,
    /// The store's settings and when they were read.
    settings: Mutex<Option<(std::time::Instant, Arc<AuthSettings>)>>,
    /// Verified bearer tokens (keyed hash -> what was verified), so a
    /// script's calls do not pay a signature check each; revocation and
    /// expiry are still checked on every call.
    tokens: Mutex<HashMap<[u8; 32], VerifiedToken>>,
    /// Directory sign-ons recorded lately (keyed hash -> until), so an
    /// automation calling every second does not write an event per call.
    announced: Mutex<HashMap<[u8; 32], UnixTime>>,
    /// Directory sign-ons that passed a login enforcement lately (keyed
    /// hash of the person and address -> until).
    mfa_passed: Mutex<HashMap<[u8; 32], UnixTime>>,
}

/// Log lines about unauthenticated calls per minute; the rest are counted in
/// metrics only, so a flood cannot flood the log (or the audit trail, which
/// records only authenticated principals).
const LOGGED_PER_MINUTE: u32 = 10;

struct Verified {
    account_id: String,
    version: i64,
    until: UnixTime,
}

impl AdminAuth {
    pub fn new(from_file: Option<AuthSettings>) -> AdminAuth {
        AdminAuth {
            key: random_bytes::<32>().unwrap_or([7; 32]),
            verified: Mutex::new(HashMap::new()),
            administrators: Mutex::new(None),
            logged: Mutex::new((0, 0)),
            from_file: from_file.map(Arc::new),
            settings: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            announced: Mutex::new(HashMap::new()),
            mfa_passed: Mutex::new(HashMap::new()),
        }
    }
}

impl AdminAuth {
    pub async fn administrators(&self, state: &AppState) -> Result<String, AdminError> {
        let now = state.now();
        if let Ok(known) = self.administrators.lock()
            && let Some((id, at)) = known.as_ref()
            && (0..ADMINISTRATORS_FOR).contains(&(now - at))
        {
            return Ok(id.clone());
        }
        let env = state.store.environment_by_name(signet_core::model::ADMINISTRATORS).await?;
        let id = env.map(|e| e.id).ok_or_else(|| AdminError::internal("the Administrators environment is missing"))?;
        if let Ok(mut known) = self.administrators.lock() {
            *known = Some((id.clone(), now));
        }
        Ok(id)
    }

    /// Forgets what this instance remembered about admin accounts, after it
    /// replaced the configuration.
    pub fn forget(&self) {
        if let Ok(mut known) = self.administrators.lock() {
            *known = None;
        }
        if let Ok(mut verified) = self.verified.lock() {
            verified.clear();
        }
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.clear();
        }
        self.forget_settings();
    }

    fn log_unauthenticated(&self, ip: IpAddr, now: UnixTime) {
        let Ok(mut logged) = self.logged.lock() else { return };
        let minute = now / 60;
        if logged.0 != minute {
            if logged.1 > LOGGED_PER_MINUTE {
                tracing::warn!(
                    suppressed = logged.1 - LOGGED_PER_MINUTE,
                    "more unauthenticated admin API calls in the last minute"
                );
            }
            *logged = (minute, 0);
        }
        logged.1 += 1;
        if logged.1 <= LOGGED_PER_MINUTE {
            tracing::warn!(%ip, request_id = %crate::request_id(), "unauthenticated admin API call");
        }
    }

    pub fn settings_cached(&self) -> Option<Arc<AuthSettings>> {
        let cached = self.settings.lock().ok()?;
        cached.as_ref().filter(|(at, _)| at.elapsed() < SETTINGS_FRESH_FOR).map(|(_, s)| s.clone())
    }

    pub fn cache_settings(&self, settings: AuthSettings) -> Arc<AuthSettings> {
        let settings = Arc::new(settings);
        if let Ok(mut cached) = self.settings.lock() {
            *cached = Some((std::time::Instant::now(), settings.clone()));
        }
        settings
    }

    /// After a change on this instance: the next request reads the store.
    pub fn forget_settings(&self) {
        if let Ok(mut cached) = self.settings.lock() {
            *cached = None;
        }
    }

    fn verified_token(&self, k: &[u8; 32]) -> Option<VerifiedToken> {
        self.tokens.lock().ok()?.get(k).cloned()
    }

    fn remember_token(&self, k: [u8; 32], v: VerifiedToken, now: UnixTime) {
        let Ok(mut map) = self.tokens.lock() else { return };
        if map.len() >= VERIFIED_MAX {
            map.retain(|_, t| t.claims.exp > now);
            if map.len() >= VERIFIED_MAX {
                map.clear();
            }
        }
        map.insert(k, v);
    }

    /// True the first time in a while that this person signs on this way.
    fn first_in_a_while(&self, who: &str, now: UnixTime) -> bool {
        let k = hmac_sha256(&self.key, who.as_bytes());
        let Ok(mut map) = self.announced.lock() else { return true };
        if map.get(&k).is_some_and(|until| *until > now) {
            return false;
        }
        if map.len() >= VERIFIED_MAX {
            map.retain(|_, until| *until > now);
            if map.len() >= VERIFIED_MAX {
                map.clear();
            }
        }
        map.insert(k, now + VERIFIED_FOR);
        true
    }

    fn remembered(&self, k: &[u8; 32], account_id: &str, version: i64, now: UnixTime) -> bool {
        let Ok(map) = self.verified.lock() else { return false };
        map.get(k).is_some_and(|v| v.account_id == account_id && v.version == version && v.until > now)
    }

    fn remember(&self, k: [u8; 32], account_id: &str, version: i64, now: UnixTime) {
        let Ok(mut map) = self.verified.lock() else { return };
        if map.len() >= VERIFIED_MAX {
            map.retain(|_, v| v.until > now);
            if map.len() >= VERIFIED_MAX {
                map.clear();
            }
        }
        map.insert(k, Verified { account_id: account_id.to_owned(), version, until: now + VERIFIED_FOR });
    }
}

/// An authenticated caller of the admin API.
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
    /// An audit event by this caller, with the request's context.
    pub fn event(&self, action: &str, target: &str, now: UnixTime) -> Result<AuditEvent, AdminError> {
        let mut ev = AuditEvent::new(self.actor.clone(), action, None, target, now).map_err(AdminError::internal)?;
        ev.request_id = Some(crate::request_id());
        ev.source_ip = Some(self.ip.to_string());
        ev.jti = self.jti.clone();
        ev.outcome = Some("success".into());
        Ok(ev)
    }

    /// Asks the policy; a refusal is recorded and answered 403 naming what is missing.
    pub async fn allow(&self, state: &AppState, resource: Resource, action: Action) -> Result<(), AdminError> {
        let decision = if self.must_change_password && resource != Resource::OwnPassword {
            Err(policy::Denied::PasswordChangeRequired)
        } else {
            policy::decide(&self.principal, resource, action)
        };
        match decision {
            Ok(()) => Ok(()),
            Err(denied) => {
                let target = format!("{resource:?}:{action:?}");
                let mut ev = self.event("admin.denied", &target, state.now())?;
                ev.outcome = Some("denied".into());
                ev.digest = signet_core::audit::digest_of(&serde_json::json!({"denied": denied.to_string()}));
                state.store.record(&ev).await?;
                Err(AdminError::new(StatusCode::FORBIDDEN, "forbidden", denied.to_string()))
            }
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) =
            ClientIp::from_request_parts(parts, state).await.unwrap_or(ClientIp(IpAddr::from([0, 0, 0, 0])));
        let settings = auth_settings(state).await?;
        let unauthorized = || AdminError::unauthorized(challenge(&settings, ""));
        let now = state.now();
        let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let budget = Budget::of(authorization);
        // A second factor beside Basic is what strangers naming the account cannot send.
        let proof = if parts.headers.contains_key(OTP_HEADER) { Proof::SecondFactor } else { Proof::None };
        if let Some(wait) = state.failures.blocked_with(ip, budget.kind, budget.principal.as_deref(), proof, now) {
            return Err(AdminError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_failures",
                format!("too many failed attempts from this address; try again in {wait} s"),
            ));
        }
        let Some(value) = authorization else {
            if settings.schemes.contains(&Scheme::Mtls)
                && let Some(certs) = parts.extensions.get::<PeerCertificates>()
            {
                return match certificate(state, &settings, certs, ip, now).await? {
                    Attempt::Verified(c) => Ok(c),
                    Attempt::Failed(_) | Attempt::Refused | Attempt::Unknown => {
                        Err(refused(state, ip, &budget, now, unauthorized()))
                    }
                };
            }
            // No credentials at all: counted, but not a failed attempt.
            state.metrics.failure(crate::metrics::Failure::AdminAuthentication);
            state.admin_auth.log_unauthenticated(ip, now);
            return Err(unauthorized());
        };
        let (kind, credential) = value.split_once(' ').unwrap_or((value, ""));
        let credential = credential.trim();
        let otp = parts.headers.get(OTP_HEADER).and_then(|v| v.to_str().ok()).map(str::trim);
        let attempt = if kind.eq_ignore_ascii_case("basic") {
            basic(state, &settings, credential, otp, ip, now).await?
        } else if (kind.eq_ignore_ascii_case("bearer") || kind.eq_ignore_ascii_case("dpop"))
            && settings.schemes.contains(&Scheme::Oauth)
        {
            let how = if kind.eq_ignore_ascii_case("dpop") {
                Presented::Dpop {
                    headers: &parts.headers,
                    method: parts.method.as_str(),
                    url: request_url(state, parts),
                }
            } else {
                Presented::Bearer
            };
            match oauth(state, &settings, credential, ip, &how).await? {
                Some(c) => Attempt::Verified(c),
                None => Attempt::Unknown,
            }
        } else {
            Attempt::Unknown
        };
        match attempt {
            Attempt::Verified(c) => {
                let kind = match c.actor.scheme.as_str() {
                    "ldap" => Some(SignOnKind::Ldap),
                    "radius" => Some(SignOnKind::Radius),
                    _ => None,
                };
                if let Some(kind) = kind {
                    directory_mfa(state, &c, kind, &parts.headers, now, &budget).await?;
                }
                if let Some(principal) = &budget.principal {
                    state.failures.succeeded(ip, budget.kind, principal, now);
                }
                Ok(c)
            }
            // A directory's refusal names whatever was typed: the trail takes
            // a bounded number of them, in printable form (an anonymous flood
            // cannot grow it, nor write terminal escapes into it).
            Attempt::Failed(mut c) => {
                if state.failures.may_record(ip, now) {
                    c.actor.id = signet_core::text::printable(&c.actor.id, 300);
                    c.actor.name = signet_core::text::printable(&c.actor.name, 256);
                    let mut ev = c.event("admin.signon.failure", &c.actor.id, now)?;
                    ev.outcome = Some("failure".into());
                    state.store.record(&ev).await?;
                }
                Err(refused(state, ip, &budget, now, basic_refused(&settings)))
            }
            // Counted and recorded by the account's lock already.
            Attempt::Refused => Err(refused(state, ip, &budget, now, basic_refused(&settings))),
            // A token refused: RFC 6750 §3.1 and RFC 9449 §7.1 say so in the challenge.
            Attempt::Unknown if kind.eq_ignore_ascii_case("bearer") || kind.eq_ignore_ascii_case("dpop") => {
                let error = challenge(&settings, ", error=\"invalid_token\"");
                Err(refused(state, ip, &budget, now, AdminError::unauthorized(error)))
            }
            Attempt::Unknown if kind.eq_ignore_ascii_case("basic") => {
                Err(refused(state, ip, &budget, now, basic_refused(&settings)))
            }
            Attempt::Unknown => Err(refused(state, ip, &budget, now, unauthorized())),
        }
    }
}

/// How long a directory person's passed second factor stands, from one address.
const MFA_PASSED_FOR: UnixTime = 300;

/// Login enforcements for LDAP and RADIUS sign-ons to the admin API. A
/// Basic call cannot show a page, so the second factor comes as Vault's
/// `X-Vault-MFA: <method id or name>[:<passcode>]` header, one per matching
/// enforcement; push methods wait for the person's answer. A pass stands
/// for a few minutes for the same person from the same address. TOTP
/// methods need an enrolment made at the sign-on pages, which directory
/// people do not use, so they are refused with a message saying so.
async fn directory_mfa(
    state: &AppState,
    c: &Caller,
    kind: SignOnKind,
    headers: &axum::http::HeaderMap,
    now: UnixTime,
    budget: &Budget,
) -> Result<(), AdminError> {
    let admins = state.admin_auth.administrators(state).await?;
    let sets = crate::web::mfa::required_of(state, &c.actor.id, &admins, &c.principal, kind).await?;
    if sets.is_empty() {
        return Ok(());
    }
    let key = hmac_sha256(&state.admin_auth.key, format!("mfa|{}|{}", c.actor.id, c.ip).as_bytes());
    if let Ok(passed) = state.admin_auth.mfa_passed.lock()
        && passed.get(&key).is_some_and(|until| *until > now)
    {
        return Ok(());
    }
    let offered: Vec<(&str, Option<&str>)> = headers
        .get_all("x-vault-mfa")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| match v.split_once(':') {
            Some((m, code)) => (m.trim(), Some(code.trim())),
            None => (v.trim(), None),
        })
        .collect();
    let needed = |what: String| AdminError::new(StatusCode::UNAUTHORIZED, "mfa_required", what);
    let empty = serde_json::Map::new();
    for set in &sets {
        let mut methods = Vec::new();
        for id in set {
            if let Some(m) = state.store.mfa_method(id).await? {
                methods.push(m);
            }
        }
        let names: Vec<String> =
            methods.iter().map(|m| if m.name.is_empty() { m.id.clone() } else { m.name.clone() }).collect();
        let Some((method, passcode)) = offered.iter().find_map(|(named, code)| {
            methods.iter().find(|m| m.id == *named || (!m.name.is_empty() && m.name == *named)).map(|m| (m, *code))
        }) else {
            return Err(needed(format!(
                "this sign-on needs a second factor: send X-Vault-MFA: <method>[:<passcode>] with one of: {}",
                names.join(", ")
            )));
        };
        let outcome = if let signet_core::mfa::Settings::Totp(_) = method.settings {
            Err("TOTP methods are enrolled at the sign-on pages; directory sign-ons use PingID, Okta or Duo")
        } else {
            let entity = signet_core::mfa::template::Entity {
                id: &c.actor.id,
                name: &c.actor.name,
                environment_id: &admins,
                kind,
                metadata: &empty,
            };
            crate::web::mfa::service(state, method, &entity, passcode, now).await?
        };
        let mut ev = c.event("signon.mfa", &method.id, now)?;
        ev.actor.scheme = format!("mfa:{}", method.method_type().as_str());
        ev.outcome = Some(if outcome.is_ok() { "success" } else { "failure" }.into());
        ev.digest = signet_core::audit::digest_of(
            &serde_json::json!({"method": method.id, "sign_on": kind.as_str(), "result": outcome.err().unwrap_or("approved")}),
        );
        state.store.record(&ev).await?;
        if let Err(message) = outcome {
            // A second factor was presented and failed: that counts against the address.
            return Err(refused(state, c.ip, budget, now, needed(message.to_owned())));
        }
    }
    if let Ok(mut passed) = state.admin_auth.mfa_passed.lock() {
        if passed.len() >= VERIFIED_MAX {
            passed.retain(|_, until| *until > now);
        }
        passed.insert(key, now + MFA_PASSED_FOR);
    }
    Ok(())
}

/// `WWW-Authenticate` for the schemes in force, each kind of credential once.
/// `token_error` is added to the token schemes' parameters when a token was refused.
fn challenge(settings: &AuthSettings, token_error: &str) -> String {
    settings
        .schemes
        .iter()
        .map(|s| match s {
            Scheme::Native | Scheme::Ldap | Scheme::Radius => format!("Basic realm=\"{REALM}\""),
            Scheme::Oauth => {
                let algs = dpop::ALGORITHMS.join(" ");
                format!("Bearer realm=\"{REALM}\"{token_error}, DPoP realm=\"{REALM}\", algs=\"{algs}\"{token_error}")
            }
            // No registered scheme names a client certificate; this one says what is wanted.
            Scheme::Mtls => format!("TLS-Client-Certificate realm=\"{REALM}\""),
        })
        .fold(Vec::<String>::new(), |mut all, c| {
            if !all.contains(&c) {
                all.push(c);
            }
            all
        })
        .join(", ")
}

fn refused(state: &AppState, ip: IpAddr, budget: &Budget, now: UnixTime, error: AdminError) -> AdminError {
    state.failures.fail(ip, budget.kind, budget.principal.as_deref(), now);
    state.metrics.failure(crate::metrics::Failure::AdminAuthentication);
    state.admin_auth.log_unauthenticated(ip, now);
    error
}

/// The header that carries an admin account's current TOTP code beside
/// Basic credentials: needed only while the account is locked, when a
/// password alone is never checked (issue 15, finding 2).
pub const OTP_HEADER: &str = "x-signet-otp";

/// The answer to Basic credentials that did not do: the same for every
/// reason, saying what a locked account needs.
fn basic_refused(settings: &AuthSettings) -> AdminError {
    AdminError::unauthorized_because(
        challenge(settings, ""),
        "authentication failed; an account locked after failed attempts also needs its current authenticator \
         code in the X-Signet-OTP header",
    )
}

/// Which failure budget a request's credentials spend at the per-address
/// limiter (`ratelimit`): Basic by the username given, anything else as a token.
struct Budget {
    kind: Kind,
    principal: Option<String>,
}

impl Budget {
    fn of(authorization: Option<&str>) -> Budget {
        let basic = authorization
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, b64)| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
            .and_then(|raw| String::from_utf8(raw).ok());
        match basic {
            Some(decoded) => Budget {
                kind: Kind::Basic,
                principal: decoded.split_once(':').map(|(user, _)| user.trim().to_ascii_lowercase()),
            },
            None => Budget { kind: Kind::Token, principal: None },
        }
    }
}

/// What a scheme made of the credentials.
enum Attempt {
    Verified(Caller),
    /// A known person with the wrong credentials: recorded in the trail.
    Failed(Caller),
    /// Refused by a native account's lock, which counted and recorded it.
    Refused,
    /// Nothing this scheme knows: counted, not recorded.
    Unknown,
}

/// Basic credentials, tried against each Basic scheme in order.
async fn basic(
    state: &AppState,
    settings: &AuthSettings,
    credential: &str,
    otp: Option<&str>,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Attempt, AdminError> {
    let Some(decoded) = base64::engine::general_purpose::STANDARD.decode(credential).ok() else {
        return Ok(Attempt::Unknown);
    };
    let Ok(decoded) = String::from_utf8(decoded) else { return Ok(Attempt::Unknown) };
    if decoded.contains('\0') {
        return Err(AdminError::invalid(crate::nul::MESSAGE));
    }
    let Some((username, password)) = decoded.split_once(':') else { return Ok(Attempt::Unknown) };
    // An empty password is never checked against anything.
    if username.is_empty() || password.is_empty() {
        return Ok(Attempt::Unknown);
    }
    let mut outcome = Attempt::Unknown;
    for scheme in settings.schemes.iter().filter(|s| s.takes_basic()) {
        let attempt = match scheme {
            Scheme::Native => native(state, &decoded, username, password, otp, ip, now).await?,
            Scheme::Ldap => match &settings.ldap {
                Some(ldap) => directory(state, ldap, username, password, ip, now).await?,
                None => Attempt::Unknown,
            },
            Scheme::Radius => match &settings.radius {
                Some(radius) => radius_server(state, radius, username, password, ip, now).await?,
                None => Attempt::Unknown,
            },
            Scheme::Oauth | Scheme::Mtls => Attempt::Unknown,
        };
        match attempt {
            Attempt::Verified(c) => return Ok(Attempt::Verified(c)),
            Attempt::Failed(c) => outcome = Attempt::Failed(c),
            Attempt::Refused => {
                if !matches!(outcome, Attempt::Failed(_)) {
                    outcome = Attempt::Refused;
                }
            }
            Attempt::Unknown => {}
        }
    }
    Ok(outcome)
}

/// A client certificate from a trusted CA, naming an active admin account.
async fn certificate(
    state: &AppState,
    settings: &AuthSettings,
    certs: &PeerCertificates,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Attempt, AdminError> {
    let mtls = settings.mtls.clone().unwrap_or_default();
    let anchors: Vec<String> = state.store.mtls_trust_anchors().await?.into_iter().map(|c| c.pem).collect();
    let username = match crate::mtls::verify(&mtls, &anchors, &certs.0, now) {
        Ok(name) => name,
        Err(why) => {
            tracing::info!(%ip, %why, "admin API client certificate refused");
            return Ok(Attempt::Unknown);
        }
    };
    let admins = state.admin_auth.administrators(state).await?;
    let Some(v) = state.store.versioned_account(&admins, &username).await? else { return Ok(Attempt::Unknown) };
    let account = v.account;
    // A certificate is not a password: a lock on the password does not stop it.
    if !(account.admin && account.active) {
        return Ok(Attempt::Unknown);
    }
    let caller = Caller {
        principal: Principal { roles: account.roles.clone(), auditor: account.auditor },
        actor: Actor {
            kind: ActorKind::Person,
            id: account.id.clone(),
            name: account.username.clone(),
            scheme: Scheme::Mtls.as_str().into(),
            client_id: None,
        },
        account_id: Some(account.id.clone()),
        jti: None,
        ip,
        // A certificate is not a password: there is none to replace.
        must_change_password: false,
    };
    if state.admin_auth.first_in_a_while(&format!("mtls:{}", account.id), now) {
        state.store.record(&caller.event("admin.signon", &account.id, now)?).await?;
    }
    Ok(Attempt::Verified(caller))
}

/// RADIUS: asked on every call, never cached, so a one-time password
/// appended to the password is good for exactly one call.
async fn radius_server(
    state: &AppState,
    radius: &super::schemes::RadiusScheme,
    username: &str,
    password: &str,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Attempt, AdminError> {
    use crate::radius::{Answer, RadiusError};
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "RADIUS could not check an admin API sign-on");
        AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "authentication_unavailable",
            "the RADIUS servers could not be asked; try again, or sign on with another scheme",
        )
    };
    let settings = radius.connection.opened(&state.kek).map_err(|e| unavailable(&e))?;
    let caller = |principal| Caller {
        principal,
        actor: Actor {
            kind: ActorKind::Person,
            id: format!("radius:{username}"),
            name: username.to_owned(),
            scheme: Scheme::Radius.as_str().into(),
            client_id: None,
        },
        account_id: None,
        jti: None,
        ip,
        must_change_password: false,
    };
    let attributes = match crate::radius::authenticate(&settings, username, password).await {
        Ok(Answer::Accept { attributes }) => attributes,
        Ok(Answer::Reject) => return Ok(Attempt::Failed(caller(Principal::default()))),
        Err(RadiusError::Credentials(_) | RadiusError::Challenge) => return Ok(Attempt::Unknown),
        Err(e) => return Err(unavailable(&e)),
    };
    let kind = crate::radius::attribute_by_name(&radius.role_attribute).unwrap_or(crate::radius::attribute::CLASS);
    let principal = principal_from(&radius.roles, attributes.strings(kind), |a, b| a == b)?;
    let caller = caller(principal);
    if state.admin_auth.first_in_a_while(&caller.actor.id, now) {
        state.store.record(&caller.event("admin.signon", &caller.actor.id, now)?).await?;
    }
    Ok(Attempt::Verified(caller))
}

/// An LDAP sign-on. The person is who their directory entry says (its DN
/// and name as stored), not the spelling typed, which the directory binds
/// alike whatever its case and spaces: one person, one actor and one
/// second-factor pass (issue 15).
async fn directory(
    state: &AppState,
    ldap: &super::schemes::LdapScheme,
    username: &str,
    password: &str,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Attempt, AdminError> {
    let found = crate::ldap::authenticate(&ldap.connection, &state.kek, username, password).await.map_err(|e| {
        tracing::warn!(error = %e, "the LDAP directory could not check an admin API sign-on");
        AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "authentication_unavailable",
            "the LDAP directory could not be asked; try again, or sign on with another scheme",
        )
    })?;
    let actor = |id: String, name: &str| Actor {
        kind: ActorKind::Person,
        id,
        name: name.to_owned(),
        scheme: Scheme::Ldap.as_str().into(),
        client_id: None,
    };
    let Some(person) = found else {
        let caller = Caller {
            principal: Principal::default(),
            actor: actor(format!("ldap:{username}"), username),
            account_id: None,
            jti: None,
            ip,
            must_change_password: false,
        };
        return Ok(Attempt::Failed(caller));
    };
    let principal =
        principal_from(&ldap.roles, person.groups.iter().map(String::as_str), |a, b| a.eq_ignore_ascii_case(b))?;
    let caller = Caller {
        principal,
        actor: actor(format!("ldap:{}", person.dn), &person.name),
        account_id: None,
        jti: None,
        ip,
        must_change_password: false,
    };
    if state.admin_auth.first_in_a_while(&caller.actor.id, now) {
        state.store.record(&caller.event("admin.signon", &caller.actor.id, now)?).await?;
    }
    Ok(Attempt::Verified(caller))
}

#[allow(clippy::too_many_arguments)]
async fn native(
    state: &AppState,
    decoded: &str,
    username: &str,
    password: &str,
    otp: Option<&str>,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Attempt, AdminError> {
    let admins = state.admin_auth.administrators(state).await?;
    let found = state.store.versioned_account(&admins, username).await?.filter(|v| v.account.admin);
    let Some(v) = found else {
        // An unknown name costs the same as a wrong password.
        state.hasher.verify(password, None).await;
        return Ok(Attempt::Unknown);
    };
    let account = v.account;
    let key = hmac_sha256(&state.admin_auth.key, decoded.as_bytes());
    let caller = Caller {
        principal: Principal { roles: account.roles.clone(), auditor: account.auditor },
        actor: Actor {
            kind: ActorKind::Person,
            id: account.id.clone(),
            name: account.username.clone(),
            scheme: Scheme::Native.as_str().into(),
            client_id: None,
        },
        account_id: Some(account.id.clone()),
        jti: None,
        ip,
        must_change_password: account.password_change_required,
    };
    // Remembered while the account is unchanged and unlocked: no argon2.
    let open = account.active && !account.is_locked(now);
    if open && state.admin_auth.remembered(&key, &account.id, v.version, now) {
        return Ok(Attempt::Verified(caller));
    }
    let event = |action: &str, outcome: &str| -> Result<AuditEvent, signet_store::StoreError> {
        let mut ev = caller
            .event(action, &account.id, now)
            .map_err(|e| signet_store::StoreError::Corrupt(e.message().to_owned()))?;
        ev.outcome = Some(outcome.into());
        Ok(ev)
    };
    let events = crate::lockout::Events {
        failure: &|method| {
            let mut ev = event("admin.signon.failure", "failure")?;
            ev.actor.scheme = format!("native:{method}");
            Ok(ev)
        },
        refused: &|| {
            let mut ev = event("admin.signon.refused", "denied")?;
            ev.reason = Some("locked".into());
            Ok(ev)
        },
    };
    match crate::lockout::first_factor(state, &account, password, otp, None, now, &events).await? {
        FirstFactor::Passed => {
            state.store.record(&caller.event("admin.signon", &account.id, now)?).await?;
            state.admin_auth.remember(key, &account.id, v.version, now);
            Ok(Attempt::Verified(caller))
        }
        // Locked, with the second factor: good for this call, never remembered.
        FirstFactor::BothPassed => {
            let mut ev = caller.event("admin.signon", &account.id, now)?;
            ev.actor.scheme = "native+otp".into();
            state.store.record(&ev).await?;
            Ok(Attempt::Verified(caller))
        }
        FirstFactor::NeedsBoth | FirstFactor::Refused { .. } => Ok(Attempt::Refused),
    }
}

async fn oauth(
    state: &AppState,
    settings: &AuthSettings,
    token: &str,
    ip: IpAddr,
    how: &Presented<'_>,
) -> Result<Option<Caller>, AdminError> {
    let now = state.now();
    // Only when external issuers are configured is the token's claimed issuer looked at here.
    if let Some(o) = settings.oauth.as_ref().filter(|o| !o.issuers.is_empty()) {
        let issuer = unverified_issuer(token);
        if let Some(ext) = o.issuers.iter().find(|e| issuer.as_deref() == Some(&e.issuer)) {
            // External issuers' tokens come as Bearer: their binding is not signetd's to check.
            if matches!(how, Presented::Dpop { .. }) {
                return Ok(None);
            }
            return external_token(state, ext, token, ip, now).await;
        }
    }
    signet_token(state, token, ip, how).await
}

/// The URL a request was sent to, as a DPoP proof names it: the public URL
/// and the path before any router nesting took its prefix.
pub fn request_url(state: &AppState, parts: &Parts) -> String {
    let path = parts.extensions.get::<axum::extract::OriginalUri>().map_or(parts.uri.path(), |u| u.0.path());
    format!("{}{path}", state.public_url)
}

/// An access token of a signetd environment with the admin API audience,
/// from an admin account or a worker holding admin roles: what the admin
/// API's OAuth scheme and the Vault-compatible API accept. Roles are read
/// from the store now, never from the token. A DPoP-bound token must come
/// with a fresh proof of its key (`how`).
pub async fn signet_token(
    state: &AppState,
    token: &str,
    ip: IpAddr,
    how: &Presented<'_>,
) -> Result<Option<Caller>, AdminError> {
    let now = state.now();
    let key = hmac_sha256(&state.admin_auth.key, token.as_bytes());
    let (env_id, claims) = match state.admin_auth.verified_token(&key) {
        // Verified before: still unexpired, unrevoked (the shared revocation
        // state, now) and signed by a key still published?
        Some(v) => {
            if v.claims.exp <= now || state.revocations.is_revoked(&state.store, &v.claims, now).await? {
                return Ok(None);
            }
            let Ok(keys) = state.env_keys(&v.env_id).await else { return Ok(None) };
            if !keys.verifiers.contains_key(&v.kid) {
                return Ok(None);
            }
            (v.env_id, v.claims)
        }
        None => {
            // The issuer says which environment's keys to check it with; nothing
            // else in the token is believed before the signature is.
            let Some(env_id) = unverified_issuer(token).and_then(|iss| environment_of(state, &iss)) else {
                return Ok(None);
            };
            // The environment comes from an unverified claim: whatever goes wrong
            // loading its keys, the caller is simply not authenticated.
            let Ok(keys) = state.env_keys(&env_id).await else { return Ok(None) };
            let env = Env(keys);
            let Ok(claims) = bearer::verify(state, &env, token).await? else { return Ok(None) };
            if !claims.aud.iter().any(|a| *a == state.admin_audience()) {
                return Ok(None);
            }
            let kid = signet_core::token::peek_kid(token).unwrap_or_default();
            state.admin_auth.remember_token(
                key,
                VerifiedToken { env_id: env_id.clone(), kid, claims: claims.clone() },
                now,
            );
            (env_id, claims)
        }
    };
    if crate::oauth::dpop::presented_as_bound(state, &claims, token, how).await?.is_err() {
        return Ok(None);
    }
    // A client's own token names the client as its subject: it is never read
    // as a person's, even if an imported application took a person's id
    // (RFC 9700 §4.15; configuration validation refuses that too).
    let own_token = claims.sub == claims.client_id;
    if let Some(account) = state.store.account(&claims.sub).await?.filter(|a| a.environment_id == env_id && !own_token)
    {
        if !account.active || !account.admin {
            return Ok(None);
        }
        return Ok(Some(Caller {
            principal: Principal { roles: account.roles.clone(), auditor: account.auditor },
            actor: Actor {
                kind: ActorKind::Person,
                id: account.id.clone(),
                name: account.username.clone(),
                scheme: Scheme::Oauth.as_str().into(),
                client_id: Some(claims.client_id.clone()),
            },
            must_change_password: account.password_change_required,
            account_id: Some(account.id),
            jti: Some(claims.jti),
            ip,
        }));
    }
    // A worker's own token: its roles, as the store holds them now.
    let Some(app) = state.store.application(&env_id, &claims.sub).await? else { return Ok(None) };
    if app.id != claims.client_id {
        return Ok(None);
    }
    Ok(Some(Caller {
        principal: Principal { roles: app.roles.clone(), auditor: false },
        actor: Actor {
            kind: ActorKind::Application,
            id: app.id.clone(),
            name: app.name.clone(),
            scheme: Scheme::Oauth.as_str().into(),
            client_id: Some(app.id.clone()),
        },
        account_id: None,
        jti: Some(claims.jti),
        ip,
        must_change_password: false,
    }))
}

/// A token of an external issuer: its roles come from the configured claim.
async fn external_token(
    state: &AppState,
    ext: &super::schemes::ExternalIssuer,
    token: &str,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Option<Caller>, AdminError> {
    let claims = super::external::verify(state, ext, token).await.map_err(|e| {
        tracing::warn!(issuer = %ext.issuer, error = %e, "an external issuer's keys could not be fetched");
        AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "authentication_unavailable",
            "the token's issuer could not be asked for its keys; try again",
        )
    })?;
    let Some(claims) = claims else { return Ok(None) };
    let str_claim = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
    let Some(sub) = str_claim("sub") else { return Ok(None) };
    let name = str_claim(&ext.username_claim).unwrap_or(sub).to_owned();
    let values = super::external::claim_values(&claims, &ext.roles_claim);
    let principal = principal_from(&ext.roles, values, |a, b| a == b)?;
    // A client's own token (client credentials) names the client as its subject.
    let client_id = str_claim("client_id").or(str_claim("azp")).map(str::to_owned);
    let kind = if client_id.as_deref() == Some(sub) { ActorKind::Application } else { ActorKind::Person };
    let caller = Caller {
        principal,
        actor: Actor {
            kind,
            id: format!("oauth:{}#{sub}", ext.issuer),
            name,
            scheme: Scheme::Oauth.as_str().into(),
            client_id,
        },
        account_id: None,
        jti: str_claim("jti").map(str::to_owned),
        ip,
        must_change_password: false,
    };
    if state.admin_auth.first_in_a_while(&caller.actor.id, now) {
        state.store.record(&caller.event("admin.signon", &caller.actor.id, now)?).await?;
    }
    Ok(Some(caller))
}

fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&b64url_decode(payload)?).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// `{public_url}/{env}/as` -> `env`.
fn environment_of(state: &AppState, issuer: &str) -> Option<String> {
    let rest = issuer.strip_prefix(&state.public_url)?.strip_prefix('/')?;
    let env = rest.strip_suffix("/as")?;
    (!env.is_empty() && !env.contains('/')).then(|| env.to_owned())
}
