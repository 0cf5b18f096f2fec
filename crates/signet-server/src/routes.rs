//! Route paths, shared by the router and discovery so the two cannot drift.

/// Every environment's authority lives under this prefix; its issuer is `{public-url}/{env}/as`.
pub const AS_PREFIX: &str = "/{env}/as";

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const JWKS: &str = "/jwks";
pub const AUTHORIZE: &str = "/authorize";
pub const DEVICE_AUTHORIZATION: &str = "/device_authorization";
pub const TOKEN: &str = "/token";
pub const REVOKE: &str = "/revoke";
pub const INTROSPECT: &str = "/introspect";
pub const USERINFO: &str = "/userinfo";
pub const SIGNOFF: &str = "/signoff";
/// The HTML sign-on steps of one flow.
pub const SIGNON: &str = "/signon/{flow}";
/// "Continue with ⟨name⟩": a sign-on flow leaves for an external provider.
pub const SIGNON_FEDERATE: &str = "/signon/{flow}/federate";
/// Where external providers send people back (their registered redirect URI).
pub const FEDERATION_CALLBACK: &str = "/federation/callback";
/// The device verification page (RFC 8628 §3.3).
pub const DEVICE: &str = "/device";

/// The admin API (seed 003).
pub const ADMIN_API: &str = "/admin-api/v1";
/// The Vault-compatible Login MFA API (seed 002).
pub const VAULT_API: &str = "/v1";

pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";

/// An authority route as the router mounts it.
pub fn authority(path: &str) -> String {
    format!("{AS_PREFIX}{path}")
}

/// An authority endpoint's absolute URL.
pub fn endpoint(issuer: &str, path: &str) -> String {
    format!("{issuer}{path}")
}

/// Where an environment's external providers send people back: the
/// redirect URI registered with them.
pub fn federation_callback_url(issuer: &str) -> String {
    endpoint(issuer, FEDERATION_CALLBACK)
}

pub fn signon_url(issuer: &str, flow: &str) -> String {
    format!("{issuer}{}", SIGNON.replace("{flow}", flow))
}
