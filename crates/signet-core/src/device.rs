//! Device cookies (issue 15, finding 2): a browser that completed a sign-on
//! for an account carries a cookie that proves it, so its failures count
//! against a budget of its own that strangers cannot spend, and the
//! account's lock does not stop it.
//!
//! The cookie is `<device id>.<tag>`: the tag is an HMAC under a key derived
//! from the key-encryption key (the store does not hold it) over the account
//! id, its credential version and the device id. The credential version is
//! a digest of the password hash and the sealed TOTP secret, so any reset of
//! either voids every device cookie at once, with nothing to store or revoke.

use crate::crypto::{Kek, b64url, b64url_decode, constant_time_eq, random_bytes, sha256};
use crate::model::Account;

/// Cookie names start with this; the rest names the account without showing it.
pub const COOKIE_PREFIX: &str = "signet_device_";
/// How long a browser keeps it.
pub const COOKIE_TTL: i64 = 90 * 24 * 3600;
const PURPOSE: &str = "device-cookie";
const NAME_PURPOSE: &str = "device-cookie-name";

/// A digest of what a reset changes: the password hash and the TOTP secret.
pub fn credential_version(account: &Account) -> [u8; 32] {
    let mut input = Vec::new();
    input.extend_from_slice(account.password_hash.as_deref().unwrap_or_default().as_bytes());
    input.push(0);
    input.extend_from_slice(account.totp_sealed.as_deref().unwrap_or_default());
    sha256(&input)
}

fn tag(kek: &Kek, account: &Account, device_id: &str) -> [u8; 32] {
    let mut message = Vec::new();
    for part in [account.id.as_str().as_bytes(), &credential_version(account), device_id.as_bytes()] {
        message.extend_from_slice(&(part.len() as u64).to_be_bytes());
        message.extend_from_slice(part);
    }
    kek.mac(PURPOSE, &message)
}

/// The cookie's name for this account.
pub fn cookie_name(kek: &Kek, account_id: &str) -> String {
    let mac = kek.mac(NAME_PURPOSE, account_id.as_bytes());
    format!("{COOKIE_PREFIX}{}", crate::audit::hex(&mac[..8]))
}

/// A cookie value for this browser: the device id it already had, or a new one.
pub fn cookie_value(
    kek: &Kek,
    account: &Account,
    device_id: Option<&str>,
) -> Result<String, crate::crypto::CryptoError> {
    let id = match device_id {
        Some(id) => id.to_owned(),
        None => b64url(&random_bytes::<16>()?),
    };
    Ok(format!("{id}.{}", b64url(&tag(kek, account, &id))))
}

/// The device id a cookie proves for this account, if it does.
pub fn check(kek: &Kek, account: &Account, value: &str) -> Option<String> {
    let (id, given) = value.split_once('.')?;
    if id.is_empty() || id.len() > 64 {
        return None;
    }
    let given = b64url_decode(given)?;
    constant_time_eq(&given, &tag(kek, account, id)).then(|| id.to_owned())
}

/// What the store keys a device's budget by: never the id itself.
pub fn budget_key(device_id: &str) -> Vec<u8> {
    sha256(format!("device:{device_id}").as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            id: "acct-1".into(),
            environment_id: "e".into(),
            username: "ada".into(),
            password_hash: Some("$argon2id$v=19$first".into()),
            active: true,
            admin: true,
            roles: Default::default(),
            auditor: false,
            totp_sealed: Some(vec![1, 2, 3]),
            totp_confirmed: true,
            totp_last_step: 0,
            failed_attempts: 0,
            password_change_required: false,
            locked_until: 0,
            created_at: 0,
        }
    }

    fn kek() -> Kek {
        Kek::from_bytes(&[7; 32]).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_cookie_proves_its_device_until_a_reset() {
        let (kek, a) = (kek(), account());
        let value = cookie_value(&kek, &a, None).unwrap_or_else(|e| panic!("{e}"));
        let id = check(&kek, &a, &value).expect("the cookie it made");
        assert_eq!(cookie_value(&kek, &a, Some(&id)).ok().as_deref(), Some(value.as_str()), "stable for a device");
        let other = Account { id: "acct-2".into(), ..a.clone() };
        assert_eq!(check(&kek, &other, &value), None, "bound to the account");
        let reset = Account { password_hash: Some("$argon2id$v=19$second".into()), ..a.clone() };
        assert_eq!(check(&kek, &reset, &value), None, "a new password voids it");
        let reenrolled = Account { totp_sealed: Some(vec![9]), ..a.clone() };
        assert_eq!(check(&kek, &reenrolled, &value), None, "a new second factor voids it");
        let other_kek = Kek::from_bytes(&[8; 32]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check(&other_kek, &a, &value), None, "only the key-encryption key makes one");
        let (forged_id, _) = value.split_once('.').unwrap_or_default();
        assert_eq!(check(&kek, &a, &format!("{forged_id}x.{}", value.split_once('.').unwrap_or_default().1)), None);
        assert_eq!(check(&kek, &a, "garbage"), None);
        assert!(cookie_name(&kek, "acct-1").starts_with(COOKIE_PREFIX));
        assert_ne!(cookie_name(&kek, "acct-1"), cookie_name(&kek, "acct-2"));
    }
}
