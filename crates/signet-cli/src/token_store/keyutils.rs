//! The kernel's key retention service (keyrings(7)) as a token store, for
//! machines with no Secret Service: SSH sessions, CI, containers, servers.
//!
//! Keys go to the user's **persistent keyring** (persistent-keyring(7)). It
//! outlives every session of the user for
//! `/proc/sys/kernel/keys/persistent_keyring_expiry` seconds after its last
//! use (three days by default), and never a reboot. signet links it into the
//! process's session keyring: in a plain shell, whose only session keyring is
//! the default user-session one (`_uid_ses`), the kernel first gives the
//! process an anonymous session keyring of its own, through which the
//! process then possesses the persistent keyring until it exits.
//!
//! No key is ever added to a session keyring. That is what failed in a plain
//! shell (EACCES): a key added to `_uid_ses` stopped being the process's own
//! once asking for the persistent keyring had given it a session of its own,
//! so it could be neither linked on nor found again.
//!
//! Where the kernel has no persistent keyrings (built without them, or a
//! sandbox refuses the call), the **user keyring** (`@u`) holds the keys:
//! it lasts while the user has a process.
//!
//! Each key grants its possessor and its owner view, read, write, search and
//! setattr, and nothing to its group or to others. Not link: no process can
//! link it into a keyring that would keep it longer or show it elsewhere.

use linux_keyutils::{KeyError, KeyPermissions, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission};
use zeroize::Zeroizing;

/// Which keyring holds the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ring {
    Persistent,
    User,
}

pub struct Keyutils {
    ring: KeyRing,
    pub kind: Ring,
}

/// What the owner (and the process that possesses the key) may do.
fn own() -> Permission {
    Permission::VIEW | Permission::READ | Permission::WRITE | Permission::SEARCH | Permission::SETATTR
}

pub fn permissions() -> KeyPermissions {
    KeyPermissionsBuilder::builder().posessor(own()).user(own()).build()
}

impl Keyutils {
    /// The persistent keyring, or the user keyring where there is none.
    pub fn open() -> Result<Keyutils, String> {
        match KeyRing::get_persistent(KeyRingIdentifier::Session) {
            Ok(ring) => Ok(Keyutils { ring, kind: Ring::Persistent }),
            Err(persistent) => Self::in_ring(Ring::User)
                .map_err(|user| format!("no persistent keyring ({}), and no user keyring ({user})", words(persistent))),
        }
    }

    /// The keyring `kind`, whether or not the other one is there.
    pub fn in_ring(kind: Ring) -> Result<Keyutils, String> {
        let ring = match kind {
            Ring::Persistent => KeyRing::get_persistent(KeyRingIdentifier::Session),
            Ring::User => KeyRing::from_special_id(KeyRingIdentifier::User, true),
        };
        Ok(Keyutils { ring: ring.map_err(words)?, kind })
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            Ring::Persistent => "persistent keyring",
            Ring::User => "user keyring",
        }
    }

    /// The payload of the key named `description`, if there is one.
    pub fn load(&self, description: &str) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
        let key = match self.ring.search(description) {
            Ok(k) => k,
            Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => return Ok(None),
            Err(e) => return Err(format!("searching the {}: {}", self.name(), words(e))),
        };
        match key.read_to_vec() {
            Ok(v) => Ok(Some(Zeroizing::new(v))),
            // Removed or expired between the search and the read.
            Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => Ok(None),
            Err(e) => Err(format!("reading a key in the {}: {}", self.name(), words(e))),
        }
    }

    /// Adds the key, or replaces the payload of the one of that name, and
    /// sets its permissions; a key whose permissions cannot be set is removed.
    pub fn save(&self, description: &str, payload: &[u8]) -> Result<(), String> {
        let key = self
            .ring
            .add_key(description, payload)
            .map_err(|e| format!("adding a key to the {}: {}", self.name(), words(e)))?;
        if let Err(e) = key.set_perms(permissions()) {
            let _ = key.invalidate();
            return Err(format!("setting a key's permissions in the {}: {}", self.name(), words(e)));
        }
        Ok(())
    }

    /// Removes every key of that name the keyring holds (invalidated: gone
    /// from every keyring at once). Whether there was one.
    pub fn delete(&self, description: &str) -> Result<bool, String> {
        let mut found = false;
        // A key of that name in a keyring linked below this one is found too.
        for _ in 0..8 {
            match self.ring.search(description) {
                Ok(key) => {
                    key.invalidate().map_err(|e| format!("removing a key from the {}: {}", self.name(), words(e)))?;
                    found = true;
                }
                Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => break,
                Err(e) => return Err(format!("searching the {}: {}", self.name(), words(e))),
            }
        }
        Ok(found)
    }
}

/// A keyutils error in words, with its errno for a search.
fn words(e: KeyError) -> String {
    match e {
        KeyError::AccessDenied => "permission denied (EACCES)".into(),
        KeyError::PermissionDenied => "operation not permitted (EPERM; a container may block keyctl)".into(),
        KeyError::QuotaExceeded => {
            "the user's key quota is full (EDQUOT; see /proc/sys/kernel/keys/maxkeys and maxbytes)".into()
        }
        KeyError::OperationNotSupported => "not supported by this kernel (EOPNOTSUPP)".into(),
        KeyError::KeyDoesNotExist => "no such key (ENOKEY)".into(),
        KeyError::KeyringDoesNotExist => "no such keyring".into(),
        KeyError::OutOfMemory => "out of memory (ENOMEM)".into(),
        KeyError::Unknown(n) if n == nix::errno::Errno::ENOSYS as i32 => {
            "the kernel refuses keyctl (ENOSYS; a container's seccomp profile may block it)".into()
        }
        KeyError::Unknown(n) => format!("{} (errno {n})", nix::errno::Errno::from_raw(n).desc()),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn name(what: &str) -> String {
        format!("signet-test:{what}:{}", uuid::Uuid::new_v4())
    }

    /// Write, read, replace, delete against the kernel itself, in `kind`.
    fn round_trip(kind: Ring) {
        let k = Keyutils::in_ring(kind).unwrap();
        let d = name("round-trip");
        assert!(k.load(&d).unwrap().is_none());
        k.save(&d, b"first").unwrap();
        assert_eq!(k.load(&d).unwrap().as_deref().map(Vec::as_slice), Some(&b"first"[..]));
        k.save(&d, b"second").unwrap();
        assert_eq!(k.load(&d).unwrap().as_deref().map(Vec::as_slice), Some(&b"second"[..]));

        // The key's permissions: possessor and owner alike, nobody else, no link.
        let key = k.ring.search(&d).unwrap();
        assert_eq!(key.metadata().unwrap().get_perms().bits(), 0x2f2f_0000);

        assert!(k.delete(&d).unwrap());
        assert!(k.load(&d).unwrap().is_none());
        assert!(!k.delete(&d).unwrap(), "nothing left to delete");
    }

    #[test]
    fn keys_round_trip_in_the_persistent_keyring() {
        round_trip(Ring::Persistent);
    }

    #[test]
    fn keys_round_trip_in_the_user_keyring() {
        round_trip(Ring::User);
    }

    #[test]
    fn the_persistent_keyring_is_chosen_where_the_kernel_has_one() {
        assert_eq!(Keyutils::open().unwrap().kind, Ring::Persistent);
    }

    #[test]
    fn a_key_written_by_one_process_is_found_by_another() {
        // Another process of the same user, in a session of its own, finds
        // the key in the persistent keyring.
        let k = Keyutils::open().unwrap();
        let d = name("shared");
        k.save(&d, b"kept").unwrap();
        let script = format!("keyctl print $(keyctl search $(keyctl get_persistent @s) user '{d}')");
        let out = std::process::Command::new("keyctl").args(["session", "-", "sh", "-c", &script]).output().unwrap();
        assert!(k.delete(&d).unwrap());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "kept", "{}", String::from_utf8_lossy(&out.stderr));
    }
}
