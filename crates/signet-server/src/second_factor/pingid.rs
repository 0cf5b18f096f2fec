//! PingID: one signed request to `{idp_url}/rest/4/authonline/do`, which
//! pushes a CONFIRM to the user's device and answers when they have, as
//! Vault's `validatePingID` does it.
//!
//! The request and the reply are both HS256 JWS (RFC 7515) under the key in
//! the settings file (`use_base64_key`, base64-decoded). A reply is believed
//! only if its signature verifies under that key with HS256 and no other
//! algorithm (so `none`, or an algorithm the server chose, cannot pass:
//! RFC 8725 §3.1), and its header carries back the org's token and alias.
//! Then `responseBody.errorId` 200 approves; anything else denies, with
//! `errorMsg` as the reason.
//!
//! Vault stores `use_signature` but signs every request and verifies every
//! reply whatever it says; signet does the same, so the field is kept only to
//! be shown back.

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_core::clock::UnixTime;
use signet_core::crypto::constant_time_eq;
use signet_core::pingid::PingIdSettings;
use signet_core::secret::Secret;
use tracing::instrument;

use super::{Civil, ProviderError, Verdict, audit_text};
use crate::fetch::{Answer, Call, Fetcher};

const SERVICE: &str = "PingID";
const AUTH_ONLINE: &str = "/rest/4/authonline/do";
/// The errorId of an approved request.
const APPROVED: i64 = 200;
/// How far a reply's `exp` or `nbf`, if it has them, may be off our clock.
const LEEWAY: i64 = 60;

/// A PingID method, as the settings file gives it (Vault's field names).
#[derive(Clone)]
pub struct PingId {
    pub idp_url: String,
    pub org_alias: String,
    pub token: Secret<String>,
    pub use_base64_key: Secret<String>,
    pub use_signature: bool,
}

impl std::fmt::Debug for PingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PingId")
            .field("idp_url", &self.idp_url)
            .field("org_alias", &self.org_alias)
            .field("use_signature", &self.use_signature)
            .finish_non_exhaustive()
    }
}

impl From<&PingIdSettings> for PingId {
    fn from(s: &PingIdSettings) -> PingId {
        PingId {
            idp_url: s.idp_url.clone(),
            org_alias: s.org_alias.clone(),
            token: s.token.clone(),
            use_base64_key: s.use_base64_key.clone(),
            use_signature: s.use_signature,
        }
    }
}

#[derive(Deserialize)]
struct ReplyClaims {
    #[serde(rename = "responseBody")]
    response_body: ResponseBody,
    exp: Option<i64>,
    nbf: Option<i64>,
}

#[derive(Deserialize)]
struct ResponseBody {
    #[serde(rename = "errorId")]
    error_id: i64,
    #[serde(rename = "errorMsg", default)]
    error_msg: String,
}

fn protocol(detail: impl Into<String>) -> ProviderError {
    ProviderError::Protocol { service: SERVICE, detail: detail.into() }
}

impl PingId {
    /// Asks PingID to confirm `username`'s sign-on; PingID answers when the
    /// user has, or when its own wait ends.
    #[instrument(skip_all, fields(method = "pingid"))]
    pub async fn verify(&self, fetcher: &Fetcher, username: &str, now: UnixTime) -> Result<Verdict, ProviderError> {
        let key = self.key()?;
        let request = self.request(&key, username, now)?;
        let url = format!("{}{AUTH_ONLINE}", self.idp_url.trim_end_matches('/'));
        let answer = fetcher
            .send(Call::post(&url, "application/json", request.expose().as_bytes().to_vec()))
            .await
            .map_err(|source| ProviderError::Unreachable { service: SERVICE, source })?;
        let body = self.reply(&key, &answer, now)?;
        Ok(if body.error_id == APPROVED {
            Verdict::Approved
        } else {
            let message = audit_text(&body.error_msg, &self.secrets());
            Verdict::Denied(format!("PingID did not confirm (errorId {}): {message}", body.error_id))
        })
    }

    fn secrets(&self) -> [&str; 2] {
        [self.token.expose(), self.use_base64_key.expose()]
    }

    /// The signing key: `use_base64_key`, standard base64 as Vault decodes it.
    fn key(&self) -> Result<Secret<Vec<u8>>, ProviderError> {
        let key = base64::engine::general_purpose::STANDARD.decode(self.use_base64_key.expose()).map_err(|_| {
            ProviderError::Misconfigured { service: SERVICE, reason: "use_base64_key is not valid base64".into() }
        })?;
        if key.is_empty() {
            return Err(ProviderError::Misconfigured { service: SERVICE, reason: "use_base64_key is empty".into() });
        }
        Ok(Secret::new(key))
    }

    /// The request JWS, field for field what Vault sends: the org alias and
    /// token in the JOSE header, a `reqHeader` naming them again, and a
    /// `reqBody` asking for a CONFIRM on the "web" service.
    fn request(&self, key: &Secret<Vec<u8>>, username: &str, now: UnixTime) -> Result<Secret<String>, ProviderError> {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = None;
        header.extras.insert("org_alias", &self.org_alias);
        header.extras.insert("token", self.token.expose());
        let claims = json!({
            "reqHeader": {
                "locale": "en",
                "orgAlias": self.org_alias,
                "secretKey": self.token.expose(),
                "timestamp": timestamp(now),
                "version": "4.9",
            },
            "reqBody": {"spAlias": "web", "userName": username, "authType": "CONFIRM"},
        });
        let signed = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key.expose()))
            .map_err(|e| protocol(format!("signing the request: {e}")))?;
        Ok(Secret::new(signed))
    }

    /// Reads and checks the reply JWS; see the module's comment for what is checked.
    fn reply(&self, key: &Secret<Vec<u8>>, answer: &Answer, now: UnixTime) -> Result<ResponseBody, ProviderError> {
        let not_jws = || protocol(format!("the reply (HTTP {}) is not a JWS", answer.status));
        let text = std::str::from_utf8(&answer.body).map_err(|_| not_jws())?.trim();
        let header = text.split('.').next().ok_or_else(not_jws)?;
        let header: Value = signet_core::crypto::b64url_decode(header)
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or_else(not_jws)?;
        match header.get("alg").and_then(Value::as_str) {
            Some("HS256") => {}
            Some(other) => {
                return Err(protocol(format!("the reply is signed with {:?}, not HS256", audit_text(other, &[]))));
            }
            None => return Err(protocol("the reply's header names no algorithm")),
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<ReplyClaims>(text, &DecodingKey::from_secret(key.expose()), &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => protocol("the reply's signature does not verify"),
                _ => protocol(format!("the reply is not the JWS PingID sends: {e}")),
            })?;
        let extras = &data.header.extras;
        let token = extras.get::<String>("token").ok().flatten();
        if !token.is_some_and(|t| constant_time_eq(t.as_bytes(), self.token.expose().as_bytes())) {
            return Err(protocol("the reply does not carry the org's token"));
        }
        // Vault: "orgAlias" now, "org_alias" in older replies.
        let alias = match extras.get::<String>("orgAlias").ok().flatten() {
            Some(a) => Some(a),
            None => extras.get::<String>("org_alias").ok().flatten(),
        };
        if alias.as_deref() != Some(self.org_alias.as_str()) {
            return Err(protocol("the reply does not carry the org alias"));
        }
        let claims = data.claims;
        if claims.exp.is_some_and(|exp| now > exp + LEEWAY) || claims.nbf.is_some_and(|nbf| now + LEEWAY < nbf) {
            return Err(protocol("the reply is outside its validity period"));
        }
        Ok(claims.response_body)
    }
}

/// `reqHeader.timestamp`, in the layout Vault gives Go's `Format`
/// ("2006-01-02  15:04:05.000", two spaces), in UTC.
fn timestamp(now: UnixTime) -> String {
    let c = Civil::at(now);
    format!("{:04}-{:02}-{:02}  {:02}:{:02}:{:02}.000", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PingId {
        PingId {
            idp_url: "https://idp.example/pingid".into(),
            org_alias: "org-1".into(),
            token: Secret::new("tok-123".into()),
            use_base64_key: Secret::new(base64::engine::general_purpose::STANDARD.encode("k3y-bytes")),
            use_signature: true,
        }
    }

    #[test]
    fn the_request_is_what_vault_sends() {
        let c = config();
        let key = c.key().unwrap();
        let jws = c.request(&key, "alice", 1_345_570_158).unwrap();
        let parts: Vec<&str> = jws.expose().split('.').collect();
        let header: Value = serde_json::from_slice(&signet_core::crypto::b64url_decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "HS256", "org_alias": "org-1", "token": "tok-123"}));
        let claims: Value = serde_json::from_slice(&signet_core::crypto::b64url_decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["reqHeader"]["timestamp"], "2012-08-21  17:29:18.000");
        assert_eq!(claims["reqHeader"]["secretKey"], "tok-123");
        assert_eq!(claims["reqBody"], json!({"spAlias": "web", "userName": "alice", "authType": "CONFIRM"}));
        let mac = signet_core::crypto::hmac_sha256(b"k3y-bytes", format!("{}.{}", parts[0], parts[1]).as_bytes());
        assert_eq!(parts[2], signet_core::crypto::b64url(&mac));
    }

    #[test]
    fn a_key_that_is_not_base64_is_a_configuration_error_that_does_not_show_it() {
        let mut c = config();
        c.use_base64_key = Secret::new("not base64 !!".into());
        let e = c.key().unwrap_err();
        assert!(matches!(e, ProviderError::Misconfigured { .. }), "{e}");
        assert!(!e.to_string().contains("not base64 !!"), "{e}");
    }
}
