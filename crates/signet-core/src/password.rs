//! Password hashing with argon2id at the OWASP minimum (19 MiB, t=2, p=1).
//! Callers bound how many hashes run at once to the number of cores: hashing is
//! the costliest thing a sign-on does, and an unbounded queue of it is a
//! denial-of-service lever.

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::crypto::{CryptoError, random_bytes};

/// OWASP Password Storage Cheat Sheet, argon2id option 2.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

fn hasher() -> Result<Argon2<'static>, CryptoError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).map_err(|_| CryptoError::Key)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$...`.
pub fn hash(password: &str) -> Result<String, CryptoError> {
    let salt = random_bytes::<16>()?;
    hasher()?.hash_password_with_salt(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|_| CryptoError::Key)
}

/// Verifies with the parameters recorded in the PHC string.
pub fn verify(password: &str, phc: &str) -> bool {
    match hasher() {
        Ok(h) => h.verify_password(password.as_bytes(), phc).is_ok(),
        Err(_) => false,
    }
}

/// A fixed hash to verify against when the account does not exist, so an
/// unknown user costs the same time as a wrong password.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2lnbmV0LWR1bW15LXNhbHQ$2Ql7QdSGSHWmTEuUJq/dKZQZ2SAKXWcZ9YWpxxH3qjA";

/// Passwords must be at least this long; there is no composition rule (NIST SP 800-63B §3.1.1.2).
pub const MIN_LENGTH: usize = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_wrong_passwords_do_not() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterx", &h));
        assert!(!verify("anything", "not a phc string"));
        assert!(!verify("anything", DUMMY_HASH));
    }
}
