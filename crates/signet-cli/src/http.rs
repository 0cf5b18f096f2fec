//! What signet reads from a server: every answer (a provider's discovery
//! document, token, device, introspection, revocation and userinfo answers,
//! the admin and Vault-compatible APIs') is read up to 1 MiB, the bound
//! signetd puts on what it reads, so a hostile or broken server cannot make
//! signet hold gigabytes. A declared `Content-Length` past the bound is
//! refused before the body is read; a body without one stops at the bound.

// The bounded reading is `signet_client`'s, which the admin client uses too.
pub use signet_client::read::{ReadError, TooLarge, body, text};

/// The [`TooLarge`] somewhere in an error's chain, if that is what it is.
pub fn too_large<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a TooLarge> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(t) = c.downcast_ref::<TooLarge>() {
            return Some(t);
        }
        if let Some(ReadError::TooLarge(t)) = c.downcast_ref::<ReadError>() {
            return Some(t);
        }
        if let Some(crate::signon::HttpError::Read(ReadError::TooLarge(t))) =
            c.downcast_ref::<crate::signon::HttpError>()
        {
            return Some(t);
        }
        cur = c.source();
    }
    None
}
