//! Signing requests with a session: `Authorization: DPoP <token>` and a
//! fresh proof for each request (RFC 9449 §7.1), like OCI's
//! `SecurityTokenSigner`.

use std::sync::{Arc, Mutex};

use reqwest::header::{AUTHORIZATION, HeaderValue};
use zeroize::Zeroizing;

use crate::Error;
use crate::key::ProofKey;

/// Signs requests with one access token and the key it is bound to. It
/// remembers the nonce a server last asked for (`DPoP-Nonce`, RFC 9449 §8/§9).
pub struct Signer {
    access_token: Zeroizing<String>,
    key: Arc<ProofKey>,
    nonce: Mutex<Option<String>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("key", &self.key).finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(access_token: &str, key: Arc<ProofKey>) -> Signer {
        Signer { access_token: Zeroizing::new(access_token.to_owned()), key, nonce: Mutex::new(None) }
    }

    /// Adds the `Authorization` and `DPoP` headers for this request's
    /// method and URL. Sign just before sending: a proof is fresh for a minute.
    pub fn sign(&self, request: &mut reqwest::Request) -> Result<(), Error> {
        let nonce = self.nonce.lock().map(|n| n.clone()).unwrap_or_default();
        let proof = self.key.proof(
            request.method().as_str(),
            request.url().as_str(),
            Some(&self.access_token),
            nonce.as_deref(),
        );
        let headers = request.headers_mut();
        let mut authorization =
            HeaderValue::from_str(&format!("DPoP {}", *self.access_token)).map_err(|_| Error::Token)?;
        authorization.set_sensitive(true);
        headers.insert(AUTHORIZATION, authorization);
        headers.insert("dpop", HeaderValue::from_str(&proof).map_err(|_| Error::Token)?);
        Ok(())
    }

    /// Signs and sends `request`. When the server answers that it wants a
    /// nonce (`401` with `error="use_dpop_nonce"` and a `DPoP-Nonce`), the
    /// request is signed again with it and sent once more.
    pub async fn send(&self, client: &reqwest::Client, request: reqwest::Request) -> Result<reqwest::Response, Error> {
        let retry = request.try_clone();
        let mut request = request;
        self.sign(&mut request)?;
        let response = client.execute(request).await?;
        let Some(mut again) = retry.filter(|_| self.asked_for_nonce(&response)) else { return Ok(response) };
        self.sign(&mut again)?;
        let response = client.execute(again).await?;
        // Only to keep a nonce it may carry; it is not tried a third time.
        self.asked_for_nonce(&response);
        Ok(response)
    }

    /// Whether `response` asks for a nonce. Any nonce it carries is kept
    /// for the next proof: servers may rotate it on any answer (§8.2).
    fn asked_for_nonce(&self, response: &reqwest::Response) -> bool {
        let nonce = response.headers().get("dpop-nonce").and_then(|v| v.to_str().ok());
        if let (Some(n), Ok(mut held)) = (nonce, self.nonce.lock()) {
            *held = Some(n.to_owned());
        }
        let challenge = response
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.contains("use_dpop_nonce")));
        response.status() == reqwest::StatusCode::UNAUTHORIZED && challenge && nonce.is_some()
    }
}
