//! Minting tokens: ES256 access tokens (RFC 9068), ID tokens, and opaque
//! refresh tokens stored by hash.

use signet_core::crypto::{random_id, random_token, sha256};
use signet_core::model::{Application, Grant, GrantType, ID_TOKEN_TTL, RefreshToken, SESSION_MINUTES, SessionTerms};
use signet_core::secret::Secret;
use signet_core::token::{AccessClaims, IdClaims};
use signet_proto::oauth::TokenResponse;

use super::Env;
use super::form::Params;
use crate::error::OAuthError;
use crate::state::AppState;

/// Who a token speaks for.
pub struct Subject<'a> {
    pub sub: &'a str,
    /// Whether the subject may act on signetd's own APIs: an admin account,
    /// or the application itself (its roles decide). An end user is never
    /// given their audience, even in the Administrators environment.
    pub admin: bool,
    pub username: Option<&'a str>,
    pub auth_time: Option<i64>,
    pub amr: &'a [String],
    /// Claims computed by the environment's claim mappings.
    pub custom: &'a serde_json::Map<String, serde_json::Value>,
}

/// Standard claims with the custom ones beside them. The mappings can never
/// name a standard claim (`signet_core::claims::validate_claim_name`).
#[derive(serde::Serialize)]
struct WithCustom<'a, T> {
    #[serde(flatten)]
    claims: &'a T,
    #[serde(flatten)]
    custom: &'a serde_json::Map<String, serde_json::Value>,
}

pub fn audience(state: &AppState, env: &Env, app: &Application, subject: &Subject<'_>) -> Vec<String> {
    let mut aud = vec![state.issuer(env.id())];
    if app.gets_admin_audience() && subject.admin {
        aud.push(state.admin_audience());
    }
    aud
}

/// How long an access token lives, and the DPoP key it is bound to.
#[derive(Clone, Copy)]
pub struct Terms<'a> {
    pub lifetime: i64,
    pub jkt: Option<&'a str>,
}

impl<'a> Terms<'a> {
    /// The environment's lifetime, or a session's.
    pub fn of(state: &AppState, session: Option<&SessionTerms>, jkt: Option<&'a str>) -> Terms<'a> {
        let lifetime = session.map_or(state.lifetimes().access_token_seconds, |t| t.lifetime_at(state.now()));
        Terms { lifetime, jkt }
    }
}

pub fn access_token(
    state: &AppState,
    env: &Env,
    app: &Application,
    subject: &Subject<'_>,
    scope: &str,
    grant_id: Option<&str>,
    terms: Terms<'_>,
) -> Result<String, OAuthError> {
    let now = state.now();
    let jkt = terms.jkt;
    let claims = AccessClaims {
        iss: state.issuer(env.id()),
        sub: subject.sub.to_owned(),
        aud: audience(state, env, app, subject),
        exp: now + terms.lifetime,
        iat: now,
        jti: random_id().map_err(OAuthError::internal)?,
        client_id: app.id.to_string(),
        scope: scope.to_owned(),
        gid: grant_id.map(str::to_owned),
        auth_time: subject.auth_time,
        amr: subject.amr.to_vec(),
        username: subject.username.map(str::to_owned),
        cnf: jkt.map(|jkt| signet_core::dpop::Confirmation { jkt: jkt.to_owned() }),
    };
    if subject.custom.is_empty() {
        return env.signer.sign("at+jwt", &claims).map_err(OAuthError::internal);
    }
    env.signer.sign("at+jwt", &WithCustom { claims: &claims, custom: subject.custom }).map_err(OAuthError::internal)
}

pub fn id_token(
    state: &AppState,
    env: &Env,
    app: &Application,
    subject: &Subject<'_>,
    nonce: Option<&str>,
) -> Result<String, OAuthError> {
    let now = state.now();
    let claims = IdClaims {
        iss: state.issuer(env.id()),
        sub: subject.sub.to_owned(),
        aud: app.id.to_string(),
        exp: now + ID_TOKEN_TTL,
        iat: now,
        auth_time: subject.auth_time.unwrap_or(now),
        nonce: nonce.map(str::to_owned),
        azp: app.id.to_string(),
        amr: subject.amr.to_vec(),
        preferred_username: subject.username.map(str::to_owned),
    };
    env.signer.sign("JWT", &WithCustom { claims: &claims, custom: subject.custom }).map_err(OAuthError::internal)
}

/// A new refresh token for `grant_id`, if the application may refresh; a
/// session's never outlives the session.
pub fn refresh_token(
    state: &AppState,
    app: &Application,
    grant_id: &str,
    session: Option<&SessionTerms>,
) -> Result<Option<(Secret<String>, RefreshToken)>, OAuthError> {
    if !app.allows(GrantType::RefreshToken) {
        return Ok(None);
    }
    let token = random_token().map_err(OAuthError::internal)?;
    let stored = RefreshToken {
        hash: sha256(token.expose().as_bytes()).to_vec(),
        grant_id: grant_id.to_owned(),
        expires_at: (state.now() + state.lifetimes().refresh_token_seconds)
            .min(session.map_or(i64::MAX, |t| t.ends_at)),
        used_at: None,
    };
    Ok(Some((token, stored)))
}

/// `DPoP` for a token bound to a key, else `Bearer` (RFC 9449 §5).
pub fn token_type(jkt: Option<&str>) -> String {
    if jkt.is_some() { "DPoP".into() } else { "Bearer".into() }
}

/// What a person's sign-on granted an application: the account, the
/// scope, when and how they signed on.
pub struct SignedOn<'a> {
    pub account_id: &'a str,
    pub scope: &'a str,
    pub auth_time: i64,
    pub amr: &'a [String],
}

/// A new grant family for a person's sign-on. A public client's family is
/// bound to the DPoP key it proved, if any: its refresh tokens need proofs
/// of that key (RFC 9449 §5). A confidential client authenticates anyway.
pub fn new_grant(
    state: &AppState,
    env: &Env,
    app: &Application,
    signed_on: SignedOn<'_>,
    jkt: Option<&str>,
) -> Result<Grant, OAuthError> {
    Ok(Grant {
        id: random_id().map_err(OAuthError::internal)?,
        environment_id: env.id().to_owned(),
        client_id: app.id.clone(),
        account_id: signed_on.account_id.to_owned().into(),
        scope: signed_on.scope.to_owned(),
        auth_time: signed_on.auth_time,
        amr: signed_on.amr.to_vec(),
        created_at: state.now(),
        revoked_at: None,
        jkt: jkt.filter(|_| app.secret_hash.is_none()).map(str::to_owned),
        session: None,
        parent_id: None,
    })
}

/// The terms of a session signed on at `auth_time`: a family that proved a
/// DPoP key is a session, whose access token lifetime may be chosen with
/// `session_expiration_in_minutes` (5 to 60; 60 unless chosen).
pub fn session_terms(p: &Params, jkt: Option<&str>, auth_time: i64) -> Result<Option<SessionTerms>, OAuthError> {
    let minutes = match p.get("session_expiration_in_minutes") {
        None => None,
        Some(m) => match m.parse::<i64>() {
            Ok(m) if SESSION_MINUTES.contains(&m) => Some(m),
            _ => {
                return Err(OAuthError::invalid_request(
                    "session_expiration_in_minutes: a whole number of minutes from 5 to 60",
                ));
            }
        },
    };
    match (jkt, minutes) {
        (Some(_), m) => Ok(Some(SessionTerms::signed_on(auth_time, m))),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "session_expiration_in_minutes is for key-bound sessions: send a DPoP proof",
        )),
        (None, None) => Ok(None),
    }
}

pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

/// What a person's token response is made from, besides who they are: the
/// grant family, its new refresh token if any, the nonce the ID token
/// carries, and the DPoP key the tokens are bound to.
pub struct Minted<'a> {
    pub grant: &'a Grant,
    pub refresh: Option<Secret<String>>,
    pub nonce: Option<&'a str>,
    pub jkt: Option<&'a str>,
}

/// The token response for a person: access token, ID token when `openid` was
/// granted, and the refresh token if there is one.
pub fn person_response(
    state: &AppState,
    env: &Env,
    app: &Application,
    subject: &Subject<'_>,
    minted: Minted<'_>,
) -> Result<TokenResponse, OAuthError> {
    let Minted { grant, refresh, nonce, jkt } = minted;
    let terms = Terms::of(state, grant.session.as_ref(), jkt);
    let access = access_token(state, env, app, subject, &grant.scope, Some(&grant.id), terms)?;
    let id = if has_scope(&grant.scope, "openid") { Some(id_token(state, env, app, subject, nonce)?) } else { None };
    Ok(TokenResponse {
        access_token: access,
        token_type: token_type(jkt),
        expires_in: terms.lifetime,
        refresh_token: refresh.map(|r| r.expose().clone()),
        id_token: id,
        scope: Some(grant.scope.clone()),
        issued_token_type: None,
    })
}
