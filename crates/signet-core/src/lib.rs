//! The signet domain: accounts, applications, grants and their rules, with no I/O.
//! Storage, HTTP and the CLI depend on this crate, never the reverse.

pub mod archive;
pub mod audit;
pub mod audit_key;
pub mod claims;
pub mod clock;
pub mod configuration;
pub mod crypto;
pub mod device;
pub mod dpop;
pub mod federation;
/// The typed ids, defined beside the wire types that carry them.
pub use signet_proto::id;
pub mod login;
pub mod mfa;
pub mod model;
pub mod password;
pub mod pingid;
pub mod pkce;
pub mod policy;
pub mod redirect;
pub mod scope;
pub mod secret;
pub mod text;
pub mod token;
pub mod totp;
pub mod user_code;
