//! signet sessions for programs.
//!
//! `signet session authenticate` signs a person on and binds the session's
//! tokens to a key pair it keeps beside them (DPoP, RFC 9449), so a stolen
//! token is useless without the key. This crate loads such a session and
//! gives a [`Signer`] that adds `Authorization: DPoP <token>` and a fresh
//! proof to each `reqwest` request: the equivalent of OCI's
//! `SecurityTokenSigner`.
//!
//! ```no_run
//! # async fn run() -> Result<(), signet_client::Error> {
//! use signet_client::Session;
//!
//! // The session `signet session authenticate -P ops` made.
//! let session = Session::load("ops")?;
//! let signer = session.signer()?; // Err(Error::Expired) once the token has expired
//! let http = reqwest::Client::new();
//! let request = http.get("https://signet.example/admin-api/v1/accounts").build()?;
//! let response = signer.send(&http, request).await?;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! [`admin::AdminClient`] calls signetd's admin API with such a signer (or
//! Basic or Bearer credentials), its answers typed as `signet_proto`'s.
//!
//! [`Signer::send`] answers a server's nonce challenge (`use_dpop_nonce`) by
//! signing once more; [`Signer::sign`] only adds the headers, for callers
//! that send requests themselves. Refreshing is `signet session refresh`'s
//! work: it writes the new token where [`Session::load`] finds it.

pub mod admin;
mod key;
pub mod read;
mod session;
mod signer;

pub use key::{ProofKey, SEALED, ath, open, public_key_der, seal};
pub use session::{
    SESSION_FILE, Session, SessionFile, check_private_dir, check_private_file, create_private_dir, dir_for, key_file,
    read_private, sessions_dir, state_dir, write_private, write_private_new,
};
pub use signer::Signer;

use std::path::PathBuf;

/// Why a session could not be loaded or used. Messages never hold a token
/// or a key; a `hint:` line says what to do, where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("profile {0} has no session\nhint: signet session authenticate -P {0}")]
    NoSession(String),
    #[error("the session expired at {0} (Unix time)\nhint: signet session refresh")]
    Expired(i64),
    #[error("{0:?} is not a profile name (letters, digits, '-', '_' and '.')")]
    ProfileName(String),
    #[error("neither XDG_STATE_HOME nor HOME is set, so there is no session directory")]
    NoHome,
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: the session file is malformed", .0.display())]
    Malformed(PathBuf),
    #[error("{} may be read by others (mode {mode:o})\nhint: chmod 600 {}", path.display(), path.display())]
    Exposed { path: PathBuf, mode: u32 },
    #[error("{} belongs to another user (uid {owner}), so signet does not trust what it holds\nhint: remove it, or sudo chown \"$(id -u)\" {}, if it is yours", path.display(), path.display())]
    NotYours { path: PathBuf, owner: u32 },
    #[error("{} may be written by others (mode {mode:o})\nhint: chmod 700 {}", path.display(), path.display())]
    OpenDirectory { path: PathBuf, mode: u32 },
    #[error("{} is a symbolic link, and signet keeps its files only in a directory of its own\nhint: replace the link with a directory (rm {}; what it points to stays), or choose another place with XDG_STATE_HOME or --config", .0.display(), .0.display())]
    Linked(PathBuf),
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{}: this key is not the one the session is bound to", .0.display())]
    WrongKey(PathBuf),
    #[error("the key: {0}")]
    Key(&'static str),
    #[error("wrong passphrase, or the data is damaged")]
    Passphrase,
    #[error("the encryption asks for a key-derivation cost signet never uses, so it is refused unread")]
    Cost,
    #[error("the sealed secrets are not a PBES2 envelope")]
    Sealed,
    #[error("the access token cannot be sent in a header")]
    Token,
    #[error("the session cannot be encoded")]
    Encode,
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}
