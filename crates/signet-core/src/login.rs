//! The browser sign-on as a state machine. A flow starts at `Password` (or
//! goes to an external provider through `Federating`), may pass through
//! `Enrol`, `Totp` or `Mfa`, and ends `Authenticated`. Flows are stored
//! server-side, so any signetd instance can carry on a flow another one began.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::id::{AccountId, ClientId};
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
    pub client_id: ClientId,
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
/// Signed on at an external OpenID provider (issue 7). Not in RFC 8176's
/// registry, which has no value for federation; `mfa` is added beside it
/// only when the provider's second factor is trusted.
pub const AMR_FEDERATED: &str = "fed";

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    Password,
    /// The password was a one-time password from recovery; the person chooses a new one.
    ChangePassword {
        account_id: AccountId,
    },
    /// The first factor was right; a TOTP code is due.
    Totp {
        account_id: AccountId,
        /// The first factor's `amr`: empty for a password, as in flows
        /// stored before federation.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        first: Vec<String>,
    },
    /// An administrator without TOTP must enrol before going on. The new secret
    /// is sealed with the key-encryption key until the first code confirms it.
    Enrol {
        account_id: AccountId,
        sealed_secret: Vec<u8>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        first: Vec<String>,
    },
    /// The browser was sent to an external provider; its answer must carry
    /// a `state` whose secret part hashes to `state_hash`, and its ID token
    /// this `nonce`. The PKCE verifier is sealed to the flow.
    Federating {
        provider_id: String,
        /// The provider's issuer when the person left, so a provider
        /// re-pointed meanwhile is not trusted with the answer.
        issuer: String,
        state_hash: Vec<u8>,
        nonce: String,
        sealed_verifier: Vec<u8>,
    },
    /// An upstream person with no link came back to a browser already
    /// signed on here: they may link the two, never silently.
    Link {
        account_id: AccountId,
        provider_id: String,
        issuer: String,
        subject: String,
        /// How the provider names the person, to show them.
        upstream_name: String,
        /// Whether the provider's answer showed a second factor this provider is trusted for.
        second_factor: bool,
        /// The provider's `amr` and `acr`, for the trail.
        #[serde(default)]
        amr: Vec<String>,
        #[serde(default)]
        acr: Option<String>,
    },
    /// Login enforcements matched this sign-on: each set in `required` must
    /// be passed by one of its MFA methods (method ids) before it completes.
    Mfa {
        account_id: AccountId,
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
        account_id: AccountId,
        auth_time: UnixTime,
        amr: Vec<String>,
    },
}

/// Names the step and whose it is. Sealed secrets, nonces and state hashes
/// stay out, so a step can be logged.
impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, account_id) = match self {
            Step::Password => ("Password", None),
            Step::ChangePassword { account_id } => ("ChangePassword", Some(account_id)),
            Step::Totp { account_id, .. } => ("Totp", Some(account_id)),
            Step::Enrol { account_id, .. } => ("Enrol", Some(account_id)),
            Step::Federating { .. } => ("Federating", None),
            Step::Link { account_id, .. } => ("Link", Some(account_id)),
            Step::Mfa { account_id, .. } => ("Mfa", Some(account_id)),
            Step::Authenticated { account_id, .. } => ("Authenticated", Some(account_id)),
        };
        let mut d = f.debug_struct(name);
        if let Some(a) = account_id {
            d.field("account_id", a);
        }
        if let Step::Authenticated { auth_time, amr, .. } = self {
            d.field("auth_time", auth_time).field("amr", amr);
        }
        if let Step::Federating { provider_id, .. } = self {
            d.field("provider_id", provider_id);
        }
        d.finish_non_exhaustive()
    }
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
    second_factor_due(account, vec![], now, new_sealed_secret)
}

/// The step after an external provider vouched for the person. A second
/// factor there counts only when the provider is trusted for it
/// (`second_factor`); otherwise signetd's own TOTP is asked, as after a
/// password, and an administrator without one enrols.
pub fn after_federated(
    account: &Account,
    second_factor: bool,
    now: UnixTime,
    new_sealed_secret: impl FnOnce() -> Option<Vec<u8>>,
) -> Option<Step> {
    if second_factor {
        let amr = vec![AMR_FEDERATED.into(), AMR_MFA.into()];
        return Some(Step::Authenticated { account_id: account.id.clone(), auth_time: now, amr });
    }
    second_factor_due(account, vec![AMR_FEDERATED.into()], now, new_sealed_secret)
}

fn second_factor_due(
    account: &Account,
    first: Vec<String>,
    now: UnixTime,
    new_sealed_secret: impl FnOnce() -> Option<Vec<u8>>,
) -> Option<Step> {
    if account.totp_confirmed {
        Some(Step::Totp { account_id: account.id.clone(), first })
    } else if account.mfa_required() {
        Some(Step::Enrol { account_id: account.id.clone(), sealed_secret: new_sealed_secret()?, first })
    } else {
        Some(Step::Authenticated { account_id: account.id.clone(), auth_time: now, amr: first_amr(&first) })
    }
}

/// The `amr` of a first factor as a step records it (empty: a password).
fn first_amr(first: &[String]) -> Vec<String> {
    if first.is_empty() { vec![AMR_PASSWORD.into()] } else { first.to_vec() }
}

/// The step after a correct TOTP code, at enrolment or sign-on, after the
/// first factor `first`.
pub fn after_second_factor(account_id: &AccountId, first: &[String], now: UnixTime) -> Step {
    let mut amr = first_amr(first);
    amr.extend([AMR_OTP.into(), AMR_MFA.into()]);
    Step::Authenticated { account_id: account_id.clone(), auth_time: now, amr }
}

/// How a sign-on with these `amr` values began, for login enforcements.
pub fn kind_of(amr: &[String]) -> crate::mfa::SignOnKind {
    if amr.iter().any(|a| a == AMR_FEDERATED) {
        crate::mfa::SignOnKind::Federated
    } else {
        crate::mfa::SignOnKind::Password
    }
}

/// The sealing purpose (AAD) of a flow's PKCE verifier for an external provider.
pub fn verifier_purpose(flow_id: &str) -> String {
    format!("federating:{flow_id}")
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
            after_second_factor(&crate::id::AccountId::from("a"), &[], 6),
            Step::Authenticated {
                account_id: "a".into(),
                auth_time: 6,
                amr: vec!["pwd".into(), "otp".into(), "mfa".into()]
            }
        );
        assert_eq!(
            after_password(&account(false, false), 5, sealed),
            Some(Step::Authenticated { account_id: "a".into(), auth_time: 5, amr: vec!["pwd".into()] })
        );
    }

    #[test]
    fn a_provider_second_factor_counts_only_when_trusted() {
        let sealed = || Some(vec![1]);
        let fed = |amr: &[&str]| Step::Authenticated {
            account_id: "a".into(),
            auth_time: 5,
            amr: amr.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(after_federated(&account(true, false), true, 5, sealed), Some(fed(&["fed", "mfa"])));
        assert_eq!(after_federated(&account(false, false), false, 5, sealed), Some(fed(&["fed"])));
        let Some(Step::Enrol { first, .. }) = after_federated(&account(true, false), false, 5, sealed) else {
            panic!("an administrator without a trusted second factor enrols")
        };
        assert_eq!(first, ["fed"]);
        let Some(Step::Totp { first, .. }) = after_federated(&account(true, true), false, 5, sealed) else {
            panic!("an administrator without a trusted second factor gives a code")
        };
        assert_eq!(
            after_second_factor(&crate::id::AccountId::from("a"), &first, 6),
            Step::Authenticated {
                account_id: "a".into(),
                auth_time: 6,
                amr: vec!["fed".into(), "otp".into(), "mfa".into()]
            }
        );
        assert_eq!(kind_of(&["fed".into(), "mfa".into()]), crate::mfa::SignOnKind::Federated);
        assert_eq!(kind_of(&["pwd".into()]), crate::mfa::SignOnKind::Password);
    }

    #[test]
    fn debug_output_leaves_secrets_out() {
        let step = Step::Federating {
            provider_id: "p".into(),
            issuer: "https://idp".into(),
            state_hash: vec![7; 32],
            nonce: "the-nonce".into(),
            sealed_verifier: vec![9; 40],
        };
        let shown = format!("{step:?}");
        assert!(shown.contains("Federating") && !shown.contains("the-nonce") && !shown.contains("9, 9"), "{shown}");
        let enrol = format!("{:?}", Step::Enrol { account_id: "a".into(), sealed_secret: vec![5; 20], first: vec![] });
        assert!(!enrol.contains("5, 5"), "{enrol}");
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
