//! `/.well-known/openid-configuration` (RFC 8414, OIDC Discovery 1.0), built
//! from the same route constants as the router.

use axum::Json;
use axum::extract::State;
use signet_core::model::GrantType;
use signet_proto::oauth::ProviderMetadata;

use super::Env;
use crate::routes::{self, endpoint};
use crate::state::AppState;

pub const SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

pub fn metadata(issuer: &str) -> ProviderMetadata {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let client_auth = s(&["client_secret_basic", "client_secret_post", "none"]);
    ProviderMetadata {
        issuer: issuer.to_owned(),
        authorization_endpoint: endpoint(issuer, routes::AUTHORIZE),
        token_endpoint: endpoint(issuer, routes::TOKEN),
        device_authorization_endpoint: endpoint(issuer, routes::DEVICE_AUTHORIZATION),
        revocation_endpoint: endpoint(issuer, routes::REVOKE),
        introspection_endpoint: endpoint(issuer, routes::INTROSPECT),
        userinfo_endpoint: endpoint(issuer, routes::USERINFO),
        end_session_endpoint: endpoint(issuer, routes::SIGNOFF),
        jwks_uri: endpoint(issuer, routes::JWKS),
        response_types_supported: s(&["code"]),
        response_modes_supported: s(&["query"]),
        grant_types_supported: GrantType::ALL.iter().map(|g| g.as_str().to_owned()).collect(),
        subject_types_supported: s(&["public"]),
        id_token_signing_alg_values_supported: s(&["ES256"]),
        token_endpoint_auth_methods_supported: client_auth.clone(),
        revocation_endpoint_auth_methods_supported: client_auth,
        introspection_endpoint_auth_methods_supported: s(&["client_secret_basic", "client_secret_post"]),
        code_challenge_methods_supported: s(&["S256"]),
        scopes_supported: s(&SCOPES),
        claims_supported: s(&[
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "azp",
            "preferred_username",
        ]),
        prompt_values_supported: s(&["none", "login"]),
        authorization_response_iss_parameter_supported: true,
        // Request objects and the claims parameter are not supported; /authorize
        // refuses the first two (OIDC Core §6) and ignores `claims` (§5.5).
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        claims_parameter_supported: false,
        dpop_signing_alg_values_supported: s(&signet_core::dpop::ALGORITHMS),
        signet_admin_api: None,
    }
}

/// The document, which in the Administrators environment also names the
/// admin API its tokens are for: `signet auth login` points a profile there.
pub async fn discovery(State(state): State<AppState>, env: Env) -> Json<ProviderMetadata> {
    let mut m = metadata(&state.issuer(env.id()));
    if env.environment.name == signet_core::model::ADMINISTRATORS {
        m.signet_admin_api = Some(format!("{}{}", state.public_url, routes::ADMIN_API));
    }
    Json(m)
}
