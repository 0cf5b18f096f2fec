//! Login enforcement (seed 002): which MFA methods a sign-on must pass,
//! the MFA step that asks for them, and the verdict of PingID, Okta or Duo.
//! The sign-on pages (`web::mfa`) and directory sign-ons to the admin API
//! (`authn`) both come here, so one person meets one set of rules.

use signet_core::id::AccountId;
use signet_core::login::{AMR_MFA, Step};
use signet_core::mfa::template::Entity;
use signet_core::mfa::{self, Method, Secrets, Settings, SignOn, SignOnKind, UsernameFormat};
use signet_core::model::Account;

use crate::error::InternalError;
use crate::second_factor::{self, ProviderError, Verdict};
use crate::state::AppState;

/// The service refused: the person said no, or did not answer.
pub const DENIED: &str = "The request was not approved.";
const UNAVAILABLE: &str = "The verification service could not be reached. Try again, or choose another method.";
const NOT_FOR_YOU: &str =
    "This method cannot be used with your account. Choose another method or ask an administrator.";

/// The method sets the matching enforcements require of this sign-on.
pub async fn required(
    state: &AppState,
    account: &Account,
    kind: SignOnKind,
) -> Result<Vec<Vec<String>>, InternalError> {
    let principal = signet_core::policy::Principal { roles: account.roles.clone(), auditor: account.auditor };
    required_of(state, account.id.as_str(), account.environment_id.as_str(), &principal, kind).await
}

/// The method sets matching enforcements require of a sign-on of `entity`
/// (an account id, or a directory person's actor id) with these roles.
pub async fn required_of(
    state: &AppState,
    entity: &str,
    environment_id: &str,
    principal: &signet_core::policy::Principal,
    kind: SignOnKind,
) -> Result<Vec<Vec<String>>, InternalError> {
    let enforcements = state.store.mfa_enforcements().await?;
    if enforcements.is_empty() {
        return Ok(vec![]);
    }
    let mut groups: Vec<String> = principal.roles.iter().map(|r| r.as_str().to_owned()).collect();
    if principal.auditor {
        groups.push("Auditor".into());
    }
    let s = SignOn { account_id: entity, environment_id, kind, groups: &groups };
    let mut sets: Vec<Vec<String>> = Vec::new();
    for e in enforcements.iter().filter(|e| e.matches(&s)) {
        if !sets.contains(&e.mfa_method_ids) {
            sets.push(e.mfa_method_ids.clone());
        }
    }
    Ok(sets)
}

/// The step after a completed first sign-on: `next` (authenticated) unless
/// enforcements match, then the MFA step.
pub async fn enforce(state: &AppState, account: &Account, next: Step, kind: SignOnKind) -> Result<Step, InternalError> {
    let Step::Authenticated { account_id, auth_time, amr } = next else { return Ok(next) };
    let required = required(state, account, kind).await?;
    if required.is_empty() {
        return Ok(Step::Authenticated { account_id, auth_time, amr });
    }
    begin(state, account_id, auth_time, amr, kind, required, None).await
}

/// The MFA step for the first required set: the method is chosen at once
/// when the set has one, and a TOTP enrolment is prepared when needed.
pub async fn begin(
    state: &AppState,
    account_id: AccountId,
    auth_time: i64,
    amr: Vec<String>,
    kind: SignOnKind,
    required: Vec<Vec<String>>,
    chosen: Option<String>,
) -> Result<Step, InternalError> {
    let chosen = chosen.or_else(|| required.first().filter(|set| set.len() == 1).map(|set| set[0].clone()));
    let mut enrolling = None;
    if let Some(id) = &chosen
        && let Some(m) = state.store.mfa_method(id).await?
        && let Settings::Totp(t) = &m.settings
        && state.store.totp_enrolment(&m.id, &account_id).await?.is_none()
        && may_enrol(state, &account_id, &amr).await?
    {
        let random = signet_core::crypto::random_bytes::<128>()?;
        let secret = &random[..(t.key_size as usize).min(128)];
        enrolling = Some(state.kek.seal(&enrol_purpose(id, account_id.as_str()), secret)?);
    }
    Ok(Step::Mfa { account_id, auth_time, amr, kind, required, chosen, enrolling })
}

/// A password alone may set up a first TOTP method, and nothing more: once
/// the person has one, setting up another needs a second factor passed in
/// this sign-on (an administrator's own TOTP, or an earlier enforcement),
/// so a stolen password cannot add an authenticator of its own.
async fn may_enrol(state: &AppState, account_id: &AccountId, amr: &[String]) -> Result<bool, InternalError> {
    Ok(amr.iter().any(|a| a == AMR_MFA) || !state.store.has_totp_enrolment(account_id).await?)
}

pub fn enrol_purpose(method_id: &str, account_id: &str) -> String {
    format!("mfa-enrol:{method_id}:{account_id}")
}

/// PingID, Okta or Duo: the service decides, about the name the method's
/// `username_format` makes of `entity`.
pub async fn service(
    state: &AppState,
    method: &Method,
    entity: &Entity<'_>,
    passcode: Option<&str>,
    now: i64,
) -> Result<Result<(), &'static str>, InternalError> {
    let format = UsernameFormat::parse(&method.username_format)
        .map_err(|e| InternalError::stored("an MFA method's username format", e))?;
    let Ok(username) = format.render(entity) else { return Ok(Err(NOT_FOR_YOU)) };
    let plain = state.kek.open(&mfa::secrets_purpose(method.id.as_str()), &method.sealed_secrets)?;
    let secrets: Secrets =
        serde_json::from_slice(plain.expose()).map_err(|e| InternalError::stored("an MFA method's secrets", e))?;
    let secret = |k: &str| signet_core::secret::Secret::new(secrets.get(k).to_owned());
    let verdict: Result<Verdict, ProviderError> = match &method.settings {
        Settings::Pingid(p) => {
            second_factor::PingId {
                idp_url: p.idp_url.clone(),
                org_alias: p.org_alias.clone(),
                token: secret("token"),
                use_base64_key: secret("use_base64_key"),
                use_signature: p.use_signature,
            }
            .verify(&state.fetcher, &username, now)
            .await
        }
        Settings::Okta(o) => {
            second_factor::Okta {
                org_name: o.org_name.clone(),
                api_token: secret("api_token"),
                // The organisation's whole URL, as the method reads it.
                base_url: o.org_url(),
                primary_email: o.primary_email,
            }
            .verify(&state.fetcher, &username)
            .await
        }
        Settings::Duo(d) => {
            second_factor::Duo {
                integration_key: secrets.get("integration_key").to_owned(),
                secret_key: secret("secret_key"),
                api_hostname: d.api_hostname.clone(),
                push_info: d.push_info.clone(),
                use_passcode: d.use_passcode,
            }
            .verify(&state.fetcher, &username, passcode, now)
            .await
        }
        Settings::Totp(_) => return Err(InternalError::Broken("a TOTP method is not a service")),
    };
    Ok(match verdict {
        Ok(Verdict::Approved) => Ok(()),
        Ok(Verdict::Denied(reason)) => {
            tracing::info!(method = %method.id, %reason, "an MFA service denied a sign-on");
            Err(DENIED)
        }
        Err(e) => {
            tracing::warn!(method = %method.id, error = %e, "an MFA service could not verify a sign-on");
            Err(UNAVAILABLE)
        }
    })
}

/// A browser session signing someone on again without a second factor
/// on record: the MFA step, when enforcements now match them. A session whose
/// sign-on passed a second factor satisfies them until it ends.
pub async fn step_up(state: &AppState, s: &signet_store::BrowserSession) -> Result<Option<Step>, InternalError> {
    if s.amr.iter().any(|a| a == AMR_MFA) {
        return Ok(None);
    }
    let Some(account) = state.store.account(&s.account_id).await? else { return Ok(None) };
    let required = required(state, &account, SignOnKind::Password).await?;
    if required.is_empty() {
        return Ok(None);
    }
    Ok(Some(begin(state, account.id, s.auth_time, s.amr.clone(), SignOnKind::Password, required, None).await?))
}
