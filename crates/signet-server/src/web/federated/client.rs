//! signetd as a provider's OAuth client: the client its discovery
//! describes, and the requests `oauth2` makes, sent through the guarded
//! fetcher.

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, ClientId, EndpointNotSet, EndpointSet, ExtraTokenFields, RedirectUrl, StandardRevocableToken,
    StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use signet_core::federation::Provider;

use crate::fetch::{Call, Reach};
use crate::keyring::EnvKeys;
use crate::routes;
use crate::state::AppState;
use crate::upstream::Discovery;

/// The ID token beside the OAuth fields of the provider's token response.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct IdTokenField {
    #[serde(default)]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

/// The token itself stays out.
impl std::fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenField").field("id_token", &self.id_token.as_ref().map(|_| "[redacted]")).finish()
    }
}

type Tokens = StandardTokenResponse<IdTokenField, BasicTokenType>;

pub(super) type Client = oauth2::Client<
    BasicErrorResponse,
    Tokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The OAuth client for a provider, with what its discovery says.
pub(super) fn client(state: &AppState, env: &EnvKeys, provider: &Provider, d: &Discovery) -> Result<Client, String> {
    let (Some(auth), Some(token)) = (&d.authorization_endpoint, &d.token_endpoint) else {
        return Err("the discovery document lacks the code-flow endpoints".into());
    };
    let auth = AuthUrl::new(auth.clone()).map_err(|e| e.to_string())?;
    let token = TokenUrl::new(token.clone()).map_err(|e| e.to_string())?;
    let redirect = RedirectUrl::new(routes::federation_callback_url(&state.issuer(&env.environment.id)))
        .map_err(|e| e.to_string())?;
    // client_secret_basic unless the provider says it takes only the form (OpenID Discovery §3).
    let methods = &d.token_endpoint_auth_methods_supported;
    let post_only = !methods.is_empty()
        && !methods.iter().any(|m| m == "client_secret_basic")
        && methods.iter().any(|m| m == "client_secret_post");
    Ok(oauth2::Client::new(ClientId::new(provider.client_id.clone()))
        .set_auth_uri(auth)
        .set_token_uri(token)
        .set_redirect_uri(redirect)
        .set_auth_type(if post_only { AuthType::RequestBody } else { AuthType::BasicAuth }))
}

/// Sends `oauth2`'s request through the guarded fetcher, within `reach`.
pub(super) async fn send(
    state: &AppState,
    req: oauth2::HttpRequest,
    reach: Reach,
) -> Result<oauth2::HttpResponse, crate::fetch::FetchError> {
    let (parts, body) = req.into_parts();
    let mut call = Call::post(parts.uri.to_string(), "application/x-www-form-urlencoded", body);
    for (name, value) in &parts.headers {
        if name != oauth2::http::header::CONTENT_TYPE
            && let Ok(v) = value.to_str()
        {
            call = call.header(name.as_str(), v);
        }
    }
    let answer = state.fetcher.send_within(call, reach).await?;
    let mut res = oauth2::HttpResponse::new(answer.body);
    *res.status_mut() = oauth2::http::StatusCode::from_u16(answer.status)
        .map_err(|e| crate::fetch::FetchError::Refused(e.to_string()))?;
    res.headers_mut()
        .insert(oauth2::http::header::CONTENT_TYPE, oauth2::http::HeaderValue::from_static("application/json"));
    Ok(res)
}
