//! Why a federated sign-on was refused, and the refusal's page and record.
//! Every failure upstream is one refusal, `provider_failed`, whatever went
//! wrong there (the module above says why).

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use signet_core::federation::{IdTokenFault, Provider, Upstream};
use signet_core::model::Account;
use signet_store::{LoginFlow, StoreError};

use super::audit::{failure_event, upstream_of};
use crate::error::InternalError;
use crate::keyring::EnvKeys;
use crate::metrics::Failure;
use crate::routes::signon_url;
use crate::state::AppState;
use crate::web::{internal, page};

#[derive(Template)]
#[template(path = "federated/refused.html")]
struct RefusedPage {
    reason: &'static str,
    message: String,
    /// The flow's sign-on page, when the flow is still live.
    back: Option<String>,
}

/// Why a federated sign-on was refused.
#[derive(Debug)]
pub(super) enum Refusal {
    /// The provider answered `error` (sanitised) in the browser.
    ProviderError(String),
    /// Anything that went wrong between signetd and the provider.
    ProviderFailed,
    /// No live flow has that `state`.
    StateUnknown,
    /// The flow is not this browser's, or the `state` secret is wrong.
    StateMismatch,
    /// The flow already took an answer.
    Replayed,
    /// The provider was removed or re-pointed while the person was away.
    ProviderChanged,
    /// The answer names another issuer (RFC 9207): a mix-up between providers.
    ResponseIssuer,
    Token(IdTokenFault),
    Unlinked,
    /// Just-in-time creation would have taken an existing account's name.
    NameTaken(String),
    Inactive,
    /// Linked to an account of another environment.
    LinkedElsewhere,
}

impl Refusal {
    fn code(&self) -> &'static str {
        match self {
            Refusal::ProviderError(_) => "provider_error",
            Refusal::ProviderFailed => "provider_failed",
            Refusal::StateUnknown => "state_unknown",
            Refusal::StateMismatch => "state_mismatch",
            Refusal::Replayed => "replayed",
            Refusal::ProviderChanged => "provider_changed",
            Refusal::ResponseIssuer => "response_wrong_iss",
            Refusal::Token(f) => f.code(),
            Refusal::Unlinked => "unlinked",
            Refusal::NameTaken(_) => "name_taken",
            Refusal::Inactive => "account_inactive",
            Refusal::LinkedElsewhere => "linked_elsewhere",
        }
    }

    fn message(&self, provider: &str) -> String {
        match self {
            Refusal::ProviderError(e) => format!("{provider} did not sign you on ({e})."),
            Refusal::ProviderFailed => {
                format!("{provider} could not complete this sign-on. Try again later, or sign on another way.")
            }
            Refusal::StateUnknown => "This sign-on has expired, was already used, or was started in another \
                browser. Start again from your application."
                .into(),
            Refusal::StateMismatch => {
                "This answer does not belong to a sign-on started in this browser. Start again from your application."
                    .into()
            }
            Refusal::Replayed => "This answer was already used. Start again from your application.".into(),
            Refusal::ProviderChanged => format!("{provider} was changed while you were away. Start again."),
            Refusal::ResponseIssuer => format!("The answer did not come from {provider}. Start again."),
            Refusal::Token(f) => format!(
                "{provider}'s answer could not be trusted ({}), so you were not signed on. Ask an administrator.",
                f.code()
            ),
            Refusal::Unlinked => format!(
                "Your {provider} sign-in is not linked to an account here. Ask an administrator to link it. If you \
                 have a password here, you can also sign on with it and continue with {provider} within ten minutes \
                 to link it yourself."
            ),
            Refusal::NameTaken(name) => format!(
                "An account named {name} already exists here and is not linked to your {provider} sign-in, so none \
                 was made for you. Ask an administrator to link them."
            ),
            Refusal::Inactive => "Your account here is disabled or locked. Ask an administrator.".into(),
            Refusal::LinkedElsewhere => {
                format!("Your {provider} sign-in is linked to an account of another environment.")
            }
        }
    }

    /// Whether the refusal suggests someone probing (counted against the
    /// address, as wrong passwords are), rather than a person cancelling at
    /// the provider. A failure upstream counts: it is what probing through
    /// a provider's discovery document looks like.
    fn suspicious(&self) -> bool {
        matches!(
            self,
            Refusal::ProviderFailed
                | Refusal::StateUnknown
                | Refusal::StateMismatch
                | Refusal::Replayed
                | Refusal::ResponseIssuer
                | Refusal::Token(_)
                | Refusal::NameTaken(_)
        )
    }

    fn status(&self) -> StatusCode {
        match self {
            Refusal::ProviderFailed => StatusCode::BAD_GATEWAY,
            Refusal::Unlinked | Refusal::NameTaken(_) | Refusal::Inactive | Refusal::LinkedElsewhere => {
                StatusCode::FORBIDDEN
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A refusal with what was known when it happened, for the trail and the page.
pub(super) struct Refused {
    pub refusal: Refusal,
    pub provider: Option<Provider>,
    pub upstream: Option<Upstream>,
    pub account: Option<Account>,
    /// The flow to go back to, when it is still live.
    pub flow_id: Option<String>,
}

pub(super) enum Failed {
    Refused(Box<Refused>),
    Internal(InternalError),
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Failed {
        match e {
            // Only a provider's answer brings text the store refuses (a NUL
            // in a subject or a name): the provider failed, like any other way.
            StoreError::Unstorable => Refusal::ProviderFailed.into(),
            e => Failed::Internal(e.into()),
        }
    }
}

impl From<InternalError> for Failed {
    fn from(e: InternalError) -> Failed {
        Failed::Internal(e)
    }
}

impl From<signet_core::crypto::CryptoError> for Failed {
    fn from(e: signet_core::crypto::CryptoError) -> Failed {
        Failed::Internal(e.into())
    }
}

impl From<Refusal> for Failed {
    fn from(refusal: Refusal) -> Failed {
        Failed::Refused(Box::new(Refused { refusal, provider: None, upstream: None, account: None, flow_id: None }))
    }
}

/// A refusal once the provider is known.
pub(super) fn refused(refusal: Refusal, provider: &Provider, flow: &LoginFlow, upstream: Option<&Upstream>) -> Failed {
    Failed::Refused(Box::new(Refused {
        refusal,
        provider: Some(provider.clone()),
        upstream: upstream.cloned(),
        account: None,
        flow_id: Some(flow.id.clone()),
    }))
}

/// Records a refusal and shows it.
pub(super) async fn refuse(state: &AppState, env: &EnvKeys, failed: Failed, ip: std::net::IpAddr) -> Response {
    let r = match failed {
        Failed::Refused(r) => r,
        Failed::Internal(e) => return internal(e),
    };
    let now = state.now();
    if r.refusal.suspicious() {
        state.failures.fail(ip, crate::ratelimit::Kind::SignOn, None, now);
    }
    state.metrics.failure(Failure::Federation);
    // A refusal with no account is anyone's to send: the trail takes a
    // bounded number per address and window, so a flood cannot grow it.
    if r.account.is_none() && !state.failures.may_record(ip, now) {
        return refusal_page(state, env, &r);
    }
    let upstream = r.provider.as_ref().map(|p| upstream_of(p, r.upstream.as_ref()));
    let recorded = failure_event(env, r.account.as_ref(), upstream, r.refusal.code(), ip, now);
    if let Err(e) = match recorded {
        Ok(ev) => state.store.record(&ev).await.map_err(InternalError::from),
        Err(e) => Err(e.into()),
    } {
        return internal(e);
    }
    refusal_page(state, env, &r)
}

/// The page a refused federated sign-on shows.
fn refusal_page(state: &AppState, env: &EnvKeys, r: &Refused) -> Response {
    let name = r.provider.as_ref().map_or("The provider", |p| p.name.as_str());
    let back = r.flow_id.as_deref().map(|id| signon_url(&state.issuer(&env.environment.id), id));
    page(r.refusal.status(), &RefusedPage { reason: r.refusal.code(), message: r.refusal.message(name), back })
}
