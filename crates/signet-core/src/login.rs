//! The browser sign-on as a state machine. A flow starts at `Password`, may pass
//! through `Enrol` or `Totp`, and ends `Authenticated`. Flows are stored
//! server-side, so any signetd instance can carry on a flow another one began.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::model::Account;

/// What the person is signing on for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Purpose {
    /// An `/authorize` request, validated before the flow was created.
    Authorize(AuthorizeRequest),
    /// Approving a device authorization (RFC 8628 §3.3).
    Device { user_code: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
}

/// Authentication method references (RFC 8176).
pub const AMR_PASSWORD: &str = "pwd";
pub const AMR_OTP: &str = "otp";
pub const AMR_MFA: &str = "mfa";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    Password,
    /// The password was a one-time password from recovery; the person chooses a new one.
    ChangePassword {
        account_id: String,
    },
    /// The password was right; a TOTP code is due.
    Totp {
        account_id: String,
    },
    /// An administrator without TOTP must enrol before going on. The new secret
    /// is sealed with the key-encryption key until the first code confirms it.
    Enrol {
        account_id: String,
        sealed_secret: Vec<u8>,
    },
    /// Login enforcements matched this sign-on: each set in `required` must
    /// be passed by one of its MFA methods (method ids) before it completes.
    Mfa {
        account_id: String,
        auth_time: UnixTime,
        amr: Vec<String>,
        /// How the person signed on (enforcement and `username_format` read it).
        kind: crate::mfa::SignOnKind,
        required: Vec<Vec<String>>,
        /// The method the person is using now, of `required[0]`.
        chosen: Option<String>,
        /// A TOTP secret being enrolled for `chosen`, sealed until its first code confirms it.
        enrolling: Option<Vec<u8>>,
    },
    Authenticated {
        account_id: String,
        auth_time: UnixTime,
        amr: Vec<String>,
    },
}

/// The step after a correct password: replace a one-time password first,
/// then the second factor.
pub fn after_password(
    account: &Account,
    now: UnixTime,
    new_sealed_secret: impl FnOnce() -> Option<Vec<u8>>,
) -> Option<Step> {
    if account.password_change_required {
        return Some(Step::ChangePassword { account_id: account.id.clone() });
    }
    after_first_factor(account, now, new_sealed_secret)
}

/// The step once the password is settled: TOTP, enrolment, or done.
pub fn after_first_factor(
    account: &Account,
    now: UnixTime,
    new_sealed_secret: impl FnOnce() -> Option<Vec<u8>>,
) -> Option<Step> {
    if account.totp_confirmed {
        Some(Step::Totp { account_id: account.id.clone() })
    } else if account.mfa_required() {
        Some(Step::Enrol { account_id: account.id.clone(), sealed_secret: new_sealed_secret()? })
    } else {
        Some(Step::Authenticated { account_id: account.id.clone(), auth_time: now, amr: vec![AMR_PASSWORD.into()] })
    }
}

/// The step after a correct TOTP code, at enrolment or sign-on.
pub fn after_second_factor(account_id: &str, now: UnixTime) -> Step {
    Step::Authenticated {
        account_id: account_id.to_owned(),
        auth_time: now,
        amr: vec![AMR_PASSWORD.into(), AMR_OTP.into(), AMR_MFA.into()],
    }
}

/// The sealing purpose (AAD) of a secret being enrolled in a flow.
pub fn enrol_purpose(account_id: &str) -> String {
    format!("enrol:{account_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn account(admin: bool, totp: bool) -> Account {
        Account {
            id: "a".into(),
            environment_id: "e".into(),
            username: "u".into(),
            password_hash: None,
            active: true,
            admin,
            roles: BTreeSet::new(),
            auditor: false,
            totp_sealed: None,
            totp_confirmed: totp,
            totp_last_step: 0,
            failed_attempts: 0,
            password_change_required: false,
            locked_until: 0,
            created_at: 0,
        }
    }

    #[test]
    fn administrators_always_reach_a_second_factor() {
        let sealed = || Some(vec![1]);
        assert!(matches!(after_password(&account(true, false), 5, sealed), Some(Step::Enrol { .. })));
        assert!(matches!(after_password(&account(true, true), 5, sealed), Some(Step::Totp { .. })));
        assert!(matches!(after_password(&account(false, true), 5, sealed), Some(Step::Totp { .. })));
        assert_eq!(
            after_password(&account(false, false), 5, sealed),
            Some(Step::Authenticated { account_id: "a".into(), auth_time: 5, amr: vec!["pwd".into()] })
        );
    }

    #[test]
    fn a_one_time_password_is_replaced_before_anything_else() {
        let recovered = Account { password_change_required: true, ..account(true, false) };
        assert_eq!(
            after_password(&recovered, 5, || Some(vec![1])),
            Some(Step::ChangePassword { account_id: "a".into() })
        );
    }
}
