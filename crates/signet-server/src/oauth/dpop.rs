//! DPoP at signetd's endpoints (RFC 9449). At the token endpoint a valid
//! proof binds the tokens issued to its key; at resources (userinfo, the
//! admin API, the Vault-compatible API) a bound token must come as
//! `Authorization: DPoP <token>` with a fresh proof of the same key, naming
//! the request and the token (`ath`). Each proof's `jti` is spent once in
//! the store, so a replay is refused on any instance.

use axum::http::HeaderMap;
use signet_core::dpop::{self, Expect, Proof, ProofError};
use signet_core::token::AccessClaims;

use crate::state::AppState;

/// Why a proof, or a bound token's presentation, was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Proof(ProofError),
    /// More than one `DPoP` header (RFC 9449 §4.3 check 1).
    Several,
    Replayed,
    /// A bound token without `Authorization: DPoP` and a proof.
    Unproven,
    /// A proof of a key other than the token's.
    OtherKey,
    /// `Authorization: DPoP` with a token that is not bound.
    Unbound,
}

impl Refused {
    pub fn message(self) -> &'static str {
        match self {
            Refused::Proof(e) => e.message(),
            Refused::Several => "send one DPoP header",
            Refused::Replayed => "the DPoP proof was used before; make a new one for each request",
            Refused::Unproven => "the access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof",
            Refused::OtherKey => "the DPoP proof is signed by a key other than the one the token is bound to",
            Refused::Unbound => "the access token is not DPoP-bound: send it as Authorization: Bearer",
        }
    }

    /// Whether the proof itself was at fault (`invalid_dpop_proof`) rather
    /// than the token's presentation (`invalid_token`).
    pub fn is_proof(self) -> bool {
        matches!(self, Refused::Proof(_) | Refused::Several | Refused::Replayed)
    }
}

/// The request's `DPoP` header, if it has one.
pub fn header(headers: &HeaderMap) -> Result<Option<&str>, Refused> {
    let mut all = headers.get_all("dpop").iter();
    let Some(first) = all.next() else { return Ok(None) };
    if all.next().is_some() {
        return Err(Refused::Several);
    }
    first.to_str().map(|s| Some(s.trim())).map_err(|_| Refused::Proof(ProofError::Malformed))
}

/// How long a nonce from [`nonce`] is taken.
pub const NONCE_LIFETIME: i64 = 5 * 60;
/// A nonce names the minute it was made in.
const NONCE_STEP: i64 = 60;
const NONCE_PURPOSE: &str = "dpop-nonce";

fn nonce_for(state: &AppState, step: i64) -> String {
    let tag = state.kek.mac(NONCE_PURPOSE, &step.to_be_bytes());
    let mut raw = step.to_be_bytes().to_vec();
    raw.extend_from_slice(&tag[..16]);
    signet_core::crypto::b64url(&raw)
}

/// A nonce for proofs to the token endpoint (RFC 9449 §8): the current
/// minute and its MAC under a key derived from the key-encryption key, so
/// every instance sharing that key takes every other's, and none keeps state.
pub fn nonce(state: &AppState) -> String {
    nonce_for(state, state.now().div_euclid(NONCE_STEP))
}

/// Whether `n` is a nonce this service gave in the last [`NONCE_LIFETIME`].
fn nonce_ok(state: &AppState, n: &str) -> bool {
    use base64::Engine;
    let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(n) else { return false };
    let Ok(step) = <[u8; 8]>::try_from(raw.get(..8).unwrap_or_default()).map(i64::from_be_bytes) else {
        return false;
    };
    let age = state.now().saturating_sub(step.saturating_mul(NONCE_STEP));
    // Compared in constant time: a MAC is not to be guessed byte by byte.
    (-NONCE_STEP..=NONCE_LIFETIME).contains(&age)
        && aws_lc_rs::constant_time::verify_slices_are_equal(n.as_bytes(), nonce_for(state, step).as_bytes()).is_ok()
}

/// Whether a check asks for the server's nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nonce {
    /// Only where `require_dpop_nonce` is configured: the token endpoint.
    IfConfigured,
    NotAsked,
}

/// Checks a proof for the request `method url` (and `access_token` at a
/// resource), and spends its `jti`.
pub async fn check(
    state: &AppState,
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    nonce: Nonce,
) -> Result<Result<Proof, Refused>, signet_store::StoreError> {
    let given = |n: &str| nonce_ok(state, n);
    let nonce: Option<&(dyn Fn(&str) -> bool + Sync)> =
        (nonce == Nonce::IfConfigured && state.require_dpop_nonce).then_some(&given);
    let checked = dpop::check(proof, &Expect { method, url, now: state.now(), access_token, nonce });
    let proof = match checked {
        Ok(p) => p,
        Err(e) => return Ok(Err(Refused::Proof(e))),
    };
    if !state.store.spend_dpop_jti(&proof.jkt, &proof.jti, proof.iat + dpop::REPLAY_WINDOW).await? {
        return Ok(Err(Refused::Replayed));
    }
    Ok(Ok(proof))
}

/// How a token came to a resource.
pub enum Presented<'a> {
    Bearer,
    Dpop { headers: &'a HeaderMap, method: &'a str, url: String },
}

/// Whether a verified token came as its binding requires: a bound token
/// with a fresh proof of its key for this request, an unbound one as Bearer.
pub async fn presented_as_bound(
    state: &AppState,
    claims: &AccessClaims,
    token: &str,
    how: &Presented<'_>,
) -> Result<Result<(), Refused>, signet_store::StoreError> {
    match (&claims.cnf, how) {
        (None, Presented::Bearer) => Ok(Ok(())),
        (None, Presented::Dpop { .. }) => Ok(Err(Refused::Unbound)),
        (Some(_), Presented::Bearer) => Ok(Err(Refused::Unproven)),
        (Some(cnf), Presented::Dpop { headers, method, url }) => {
            let proof = match header(headers) {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(Err(Refused::Unproven)),
                Err(e) => return Ok(Err(e)),
            };
            Ok(match check(state, proof, method, url, Some(token), Nonce::NotAsked).await? {
                Ok(p) if p.jkt == cnf.jkt => Ok(()),
                Ok(_) => Err(Refused::OtherKey),
                Err(e) => Err(e),
            })
        }
    }
}

/// The token of an `Authorization: Bearer …` or `Authorization: DPoP …`
/// header, and whether it came as DPoP.
pub fn authorization(headers: &HeaderMap) -> Option<(&str, bool)> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Some((token, false))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Some((token, true))
    } else {
        None
    }
}
