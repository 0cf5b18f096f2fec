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

/// Memory for one argon2id computation, kept and reused: a verify then does
/// not allocate and zero 19 MiB, and a server's memory stays at one such
/// buffer per concurrent hash instead of growing with every sign-on.
pub struct HashMemory(Vec<argon2::Block>);

impl HashMemory {
    /// Empty: the first hash sizes it to the parameters it meets.
    pub fn new() -> HashMemory {
        HashMemory(Vec::new())
    }
}

impl Default for HashMemory {
    fn default() -> Self {
        HashMemory::new()
    }
}

/// `verify`, computing into `memory` with the parameters recorded in the PHC string.
pub fn verify_with(password: &str, phc: &str, memory: &mut HashMemory) -> bool {
    let Ok(hash) = argon2::PasswordHash::new(phc) else { return false };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else { return false };
    let Ok(params) = Params::try_from(&hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else { return false };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let blocks = params.block_count();
    if memory.0.len() < blocks {
        memory.0.resize(blocks, argon2::Block::default());
    }
    let mut out = vec![0u8; expected.as_bytes().len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut out, &mut memory.0[..blocks])
        .is_ok()
        && crate::crypto::constant_time_eq(&out, expected.as_bytes())
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
        let mut memory = HashMemory::new();
        assert!(verify_with("correct horse battery", &h, &mut memory));
        assert!(!verify_with("correct horse batterx", &h, &mut memory));
        assert!(verify_with("correct horse battery", &h, &mut memory), "the memory is reusable");
        assert!(!verify_with("anything", "not a phc string", &mut memory));
        assert!(argon2::PasswordHash::new(DUMMY_HASH).is_ok(), "the dummy hash parses, so it costs a full hash");
    }
}
