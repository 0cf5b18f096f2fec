//! Who is calling signetd's own APIs: the admin API, by the schemes its
//! settings name (seed 003), and the Vault-compatible API, by signetd's
//! admin-audience tokens.
//!
//! [`Credentials`] only reads a request's headers; [`admin`] and
//! [`bearer::vault`] decide whom they name, and answer in no protocol's
//! words ([`AuthnError`]): each API says it in its own body. One file a
//! scheme:
//!
//! - `native`: HTTP Basic against the admin accounts of the Administrators
//!   environment. A verified password is remembered for a short while under a
//!   keyed hash of the credentials, but only while the account's version in
//!   the store is unchanged, and the store is read on every request: a
//!   password change, a role change or a deactivation takes effect on every
//!   instance at once, without paying argon2 on every call.
//! - `ldap`: HTTP Basic checked by binding to the directory as the person,
//!   on every call; their groups map to roles by the settings.
//! - `radius`: HTTP Basic asked of a RADIUS server on every call.
//! - `mtls`: a client certificate on the TLS connection, verified against
//!   the CA certificates CryptoAdmins trust for it and the configured CRLs,
//!   whose subject CN or SAN names an admin account.
//! - `bearer`: access tokens of any signetd environment carrying the admin
//!   API audience, or of a configured external issuer. Roles are read from
//!   the account or worker in the store at request time, never from the
//!   token.
//!
//! Basic credentials are tried against each Basic scheme in the order the
//! settings list them; a failed attempt is recorded once, after all fail.
//! LDAP and RADIUS sign-ons then pass the login enforcements that match
//! them (`mfa`).

pub mod bearer;
mod caller;
mod external;
mod ldap;
mod mfa;
mod mtls;
mod native;
mod radius;

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use signet_core::clock::UnixTime;
use signet_core::dpop;
use signet_core::id::EnvironmentId;
use signet_core::secret::Secret;
use signet_store::StoreError;

use crate::cache::LogLine;
use crate::config::admin_auth::{AuthSettings, SETTINGS_KEY, Scheme};
use crate::mtls::PeerCertificates;
use crate::oauth::dpop::Presented;
use crate::ratelimit::{Kind, Proof};
use crate::state::AppState;
pub use caller::Caller;

const REALM: &str = "signet admin API";
/// How long a verified Basic password, or a recorded sign-on, is trusted.
const VERIFIED_FOR: UnixTime = 60;
/// How long the Administrators environment's id is remembered.
const ADMINISTRATORS_FOR: UnixTime = 10;

/// The header that carries an admin account's current TOTP code beside
/// Basic credentials: needed only while the account is locked, when a
/// password alone is never checked (issue 15, finding 2).
pub const OTP_HEADER: &str = "x-signet-otp";

/// Why a caller was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    /// Nothing any scheme in force accepts. `challenge` is the
    /// `WWW-Authenticate` value; `reason` says more than that
    /// authentication is required, when there is more to say.
    #[error("authentication is required")]
    Unauthenticated { challenge: String, reason: Option<&'static str> },
    /// This address failed too often; it may try again in so many seconds.
    #[error("too many failed attempts from this address; try again in {0} s")]
    TooManyFailures(u64),
    /// A login enforcement wants a second factor, or one failed.
    #[error("{0}")]
    MfaRequired(String),
    /// A directory, a RADIUS server or an issuer could not be asked.
    #[error("{0}")]
    Unavailable(&'static str),
    /// Who the caller is cannot be turned into a valid set of roles.
    #[error("{0}")]
    Forbidden(String),
    /// The credentials cannot be what anyone sent in good faith.
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// signetd failed: logged by the API that answers, never sent.
    #[error("{0}")]
    Internal(String),
}

/// The server's own failures (the lockout's, the login enforcements'), as
/// this layer's.
impl From<crate::error::InternalError> for AuthnError {
    fn from(e: crate::error::InternalError) -> AuthnError {
        match e {
            crate::error::InternalError::Store(e) => AuthnError::Store(e),
            e => AuthnError::Internal(e.to_string()),
        }
    }
}

/// Drawing an event's id failed: signetd's own failure.
impl From<signet_core::crypto::CryptoError> for AuthnError {
    fn from(e: signet_core::crypto::CryptoError) -> AuthnError {
        AuthnError::Internal(e.to_string())
    }
}

/// A request's credentials, as its headers carry them. Reading them checks
/// nothing.
pub struct Credentials<'a> {
    pub ip: IpAddr,
    pub authorization: Authorization<'a>,
    /// The `X-Signet-OTP` code, when it is text.
    pub otp: Option<&'a str>,
    /// Whether an `X-Signet-OTP` header came at all.
    pub otp_sent: bool,
    pub certificates: Option<&'a PeerCertificates>,
    parts: &'a Parts,
}

/// What the `Authorization` header holds.
pub enum Authorization<'a> {
    None,
    /// Basic credentials; `None` when they do not decode to text.
    Basic(Option<Basic>),
    Bearer(&'a str),
    Dpop(&'a str),
    /// A scheme no API here takes.
    Other,
}

/// Decoded Basic credentials: `username:password`.
pub struct Basic(Secret<String>);

impl Basic {
    fn decode(encoded: &str) -> Option<Basic> {
        let raw = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
        String::from_utf8(raw).ok().map(|s| Basic(Secret::new(s)))
    }

    /// The whole decoded value, for the key a verified password is kept under.
    fn decoded(&self) -> &str {
        self.0.expose()
    }

    fn split(&self) -> Option<(&str, &str)> {
        self.0.expose().split_once(':')
    }
}

impl<'a> Credentials<'a> {
    /// Reads the request's credentials, from `ip` as the connection and
    /// the trusted proxies say.
    pub fn read(parts: &'a Parts, ip: IpAddr) -> Credentials<'a> {
        let headers = &parts.headers;
        let authorization = match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            None => Authorization::None,
            Some(value) => {
                let (kind, credential) = value.split_once(' ').unwrap_or((value, ""));
                let credential = credential.trim();
                if kind.eq_ignore_ascii_case("basic") {
                    Authorization::Basic(Basic::decode(credential))
                } else if kind.eq_ignore_ascii_case("bearer") {
                    Authorization::Bearer(credential)
                } else if kind.eq_ignore_ascii_case("dpop") {
                    Authorization::Dpop(credential)
                } else {
                    Authorization::Other
                }
            }
        };
        Credentials {
            ip,
            authorization,
            otp: headers.get(OTP_HEADER).and_then(|v| v.to_str().ok()).map(str::trim),
            otp_sent: headers.contains_key(OTP_HEADER),
            certificates: parts.extensions.get::<PeerCertificates>(),
            parts,
        }
    }

    /// How a token came: as Bearer, or as DPoP with this request's proof.
    fn presented(&self, state: &AppState) -> Presented<'a> {
        match self.authorization {
            Authorization::Dpop(_) => Presented::Dpop {
                headers: &self.parts.headers,
                method: self.parts.method.as_str(),
                url: request_url(state, self.parts),
            },
            _ => Presented::Bearer,
        }
    }

    /// The `X-Vault-MFA` headers: `(method id or name, passcode)`.
    fn mfa_offers(&self) -> Vec<(&'a str, Option<&'a str>)> {
        self.parts
            .headers
            .get_all("x-vault-mfa")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| match v.split_once(':') {
                Some((m, code)) => (m.trim(), Some(code.trim())),
                None => (v.trim(), None),
            })
            .collect()
    }
}

/// The URL a request was sent to, as a DPoP proof names it: the public URL
/// and the path before any router nesting took its prefix.
fn request_url(state: &AppState, parts: &Parts) -> String {
    let path = parts.extensions.get::<axum::extract::OriginalUri>().map_or(parts.uri.path(), |u| u.0.path());
    format!("{}{path}", state.public_url)
}

/// The admin API's caller, by the schemes in force.
pub async fn admin(state: &AppState, c: &Credentials<'_>) -> Result<Caller, AuthnError> {
    let settings = settings(state).await?;
    let now = state.now();
    let budget = Budget::of(&c.authorization);
    // A second factor beside Basic is what strangers naming the account cannot send.
    let proof = if c.otp_sent { Proof::SecondFactor } else { Proof::None };
    if let Some(wait) = state.failures.blocked_with(c.ip, budget.kind, budget.principal.as_deref(), proof, now) {
        return Err(AuthnError::TooManyFailures(wait));
    }
    let unauthorized =
        |token_error| AuthnError::Unauthenticated { challenge: challenge(&settings, token_error), reason: None };
    let attempt = match &c.authorization {
        Authorization::None => {
            if settings.schemes.contains(&Scheme::Mtls)
                && let Some(certs) = c.certificates
            {
                return match mtls::certificate(state, &settings, certs, c.ip, now).await? {
                    Attempt::Verified(caller) => Ok(caller),
                    _ => Err(refused(state, c.ip, &budget, now, unauthorized(""))),
                };
            }
            // No credentials at all: counted, but not a failed attempt.
            state.metrics.failure(crate::metrics::Failure::AdminAuthentication);
            log_unauthenticated(state, c.ip, now);
            return Err(unauthorized(""));
        }
        Authorization::Basic(basic) => self::basic(state, &settings, basic.as_ref(), c.otp, c.ip, now).await?,
        Authorization::Bearer(token) | Authorization::Dpop(token) if settings.schemes.contains(&Scheme::Oauth) => {
            match bearer::admin(state, &settings, token, c.ip, &c.presented(state)).await? {
                Some(caller) => Attempt::Verified(caller),
                None => Attempt::Unknown,
            }
        }
        _ => Attempt::Unknown,
    };
    let basic_refused = || AuthnError::Unauthenticated {
        challenge: challenge(&settings, ""),
        reason: Some(
            "authentication failed; an account locked after failed attempts also needs its current authenticator \
             code in the X-Signet-OTP header",
        ),
    };
    match attempt {
        Attempt::Verified(caller) => {
            mfa::directory(state, &caller, c, now, &budget).await?;
            if let Some(principal) = &budget.principal {
                state.failures.succeeded(c.ip, budget.kind, principal, now);
            }
            Ok(caller)
        }
        // A directory's refusal names whatever was typed: the trail takes
        // a bounded number of them, in printable form (an anonymous flood
        // cannot grow it, nor write terminal escapes into it).
        Attempt::Failed(caller) => {
            if state.failures.may_record(c.ip, now) {
                state.store.record(&caller.failed_signon(now)?).await?;
            }
            Err(refused(state, c.ip, &budget, now, basic_refused()))
        }
        // Counted and recorded by the account's lock already.
        Attempt::Refused => Err(refused(state, c.ip, &budget, now, basic_refused())),
        Attempt::Unknown => Err(refused(
            state,
            c.ip,
            &budget,
            now,
            match c.authorization {
                // A token refused: RFC 6750 §3.1 and RFC 9449 §7.1 say so in the challenge.
                Authorization::Bearer(_) | Authorization::Dpop(_) => unauthorized(", error=\"invalid_token\""),
                Authorization::Basic(_) => basic_refused(),
                Authorization::None | Authorization::Other => unauthorized(""),
            },
        )),
    }
}

/// The settings in force: the config file's, or the store's as read at most
/// a second ago (a change made on this instance applies at once, on the
/// others within that time).
pub async fn settings(state: &AppState) -> Result<Arc<AuthSettings>, AuthnError> {
    if let Some(fixed) = &state.authn.from_file {
        return Ok(fixed.clone());
    }
    if let Some(fresh) = state.authn.settings() {
        return Ok(fresh);
    }
    let settings = match state.store.setting(SETTINGS_KEY).await? {
        None => AuthSettings::default(),
        Some(v) => serde_json::from_value(v).map_err(|e| AuthnError::Internal(format!("{SETTINGS_KEY}: {e}")))?,
    };
    Ok(state.authn.keep_settings(settings))
}

/// The Administrators environment's id, as read at most a few seconds ago.
pub async fn administrators(state: &AppState) -> Result<EnvironmentId, AuthnError> {
    let now = state.now();
    if let Some(id) = state.authn.administrators.get(&(), now) {
        return Ok(id);
    }
    let env = state.store.environment_by_name(signet_core::model::ADMINISTRATORS).await?;
    let id =
        env.map(|e| e.id).ok_or_else(|| AuthnError::Internal("the Administrators environment is missing".into()))?;
    state.authn.administrators.insert((), id.clone(), now, now + ADMINISTRATORS_FOR);
    Ok(id)
}

/// True the first time in a while that `who` signs on this way: the trail
/// records a sign-on then, not on every call of an automation.
fn first_in_a_while(state: &AppState, who: &str, now: UnixTime) -> bool {
    let key = state.authn.key_of(who.as_bytes());
    if state.authn.announced.contains(&key, now) {
        return false;
    }
    state.authn.announced.insert(key, (), now, now + VERIFIED_FOR);
    true
}

fn log_unauthenticated(state: &AppState, ip: IpAddr, now: UnixTime) {
    match state.authn.log_unauthenticated(now) {
        LogLine::Suppress => return,
        LogLine::LogAfterSuppressed(suppressed) => {
            tracing::warn!(suppressed, "more unauthenticated admin API calls in the last minute");
        }
        LogLine::Log => {}
    }
    tracing::warn!(%ip, request_id = %crate::request_id(), "unauthenticated admin API call");
}

/// `WWW-Authenticate` for the schemes in force, each kind of credential once.
/// `token_error` is added to the token schemes' parameters when a token was refused.
pub fn challenge(settings: &AuthSettings, token_error: &str) -> String {
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

/// A failed attempt: spent from the address's budget, counted and logged.
fn refused(state: &AppState, ip: IpAddr, budget: &Budget, now: UnixTime, error: AuthnError) -> AuthnError {
    state.failures.fail(ip, budget.kind, budget.principal.as_deref(), now);
    state.metrics.failure(crate::metrics::Failure::AdminAuthentication);
    log_unauthenticated(state, ip, now);
    error
}

/// Which failure budget a request's credentials spend at the per-address
/// limiter (`ratelimit`): Basic by the username given, anything else as a token.
struct Budget {
    kind: Kind,
    principal: Option<String>,
}

impl Budget {
    fn of(authorization: &Authorization<'_>) -> Budget {
        match authorization {
            Authorization::Basic(Some(basic)) => {
                Budget { kind: Kind::Basic, principal: basic.split().map(|(user, _)| user.trim().to_ascii_lowercase()) }
            }
            _ => Budget { kind: Kind::Token, principal: None },
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
    basic: Option<&Basic>,
    otp: Option<&str>,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Attempt, AuthnError> {
    let Some(basic) = basic else { return Ok(Attempt::Unknown) };
    if basic.decoded().contains('\0') {
        return Err(AuthnError::Invalid(crate::nul::MESSAGE));
    }
    let Some((username, password)) = basic.split() else { return Ok(Attempt::Unknown) };
    // An empty password is never checked against anything.
    if username.is_empty() || password.is_empty() {
        return Ok(Attempt::Unknown);
    }
    let mut outcome = Attempt::Unknown;
    for scheme in settings.schemes.iter().filter(|s| s.takes_basic()) {
        let attempt = match (scheme, &settings.ldap, &settings.radius) {
            (Scheme::Native, _, _) => native::password(state, basic, otp, ip, now).await?,
            (Scheme::Ldap, Some(ldap), _) => ldap::bind(state, ldap, username, password, ip, now).await?,
            (Scheme::Radius, _, Some(radius)) => radius::ask(state, radius, username, password, ip, now).await?,
            _ => Attempt::Unknown,
        };
        match attempt {
            Attempt::Verified(c) => return Ok(Attempt::Verified(c)),
            Attempt::Failed(c) => outcome = Attempt::Failed(c),
            Attempt::Refused if !matches!(outcome, Attempt::Failed(_)) => outcome = Attempt::Refused,
            Attempt::Refused | Attempt::Unknown => {}
        }
    }
    Ok(outcome)
}
