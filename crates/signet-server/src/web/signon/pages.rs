//! The page of each sign-on step (templates under `templates/signon/`),
//! shown again with what went wrong when a post to it fails.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use signet_core::login::{Purpose, Step, enrol_purpose};
use signet_core::totp;
use signet_store::LoginFlow;

use super::consent::{confirmation, consent, needs_confirmation};
use crate::keyring::EnvKeys;
use crate::state::AppState;
use crate::web::federated::{self, Providers};
use crate::web::qr::Qr;
use crate::web::{error_page, internal, mfa, page};

/// What a sign-on is for, as its first page says (`signon/who_asks.html`).
struct WhoAsks {
    environment: String,
    purpose: Asking,
}

enum Asking {
    /// To continue to this application.
    Application(String),
    /// To approve a device.
    Device,
    /// For an application that is gone meanwhile.
    Unknown,
}

#[derive(Template)]
#[template(path = "signon/password.html")]
struct PasswordPage<'a> {
    asks: WhoAsks,
    error: Option<&'a str>,
    csrf: &'a str,
    providers: Option<Providers>,
}

#[derive(Template)]
#[template(path = "signon/both_factors.html")]
struct BothFactorsPage<'a> {
    asks: WhoAsks,
    message: &'a str,
    csrf: &'a str,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "signon/change_password.html")]
struct ChangePasswordPage<'a> {
    error: Option<&'a str>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "signon/totp.html")]
struct TotpPage<'a> {
    error: Option<&'a str>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "signon/enrol.html")]
struct EnrolPage<'a> {
    qr: Option<Qr>,
    key: String,
    error: Option<&'a str>,
    csrf: &'a str,
}

/// The page of the flow's current step, with `error` if the last post failed.
pub(in crate::web) async fn render(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let csrf = &flow.csrf;
    match &flow.step {
        Step::Password | Step::Federating { .. } => {
            let asks = who_asks(state, env, flow).await;
            let providers = federated::providers(state, env, flow).await;
            page(status, &PasswordPage { asks, error, csrf, providers })
        }
        Step::ChangePassword { .. } => page(status, &ChangePasswordPage { error, csrf }),
        Step::Totp { .. } => page(status, &TotpPage { error, csrf }),
        Step::Enrol { account_id, sealed_secret, .. } => {
            let Ok(secret) = state.kek.open(&enrol_purpose(account_id.as_str()), sealed_secret) else {
                return internal("enrolment secret could not be opened");
            };
            let username = match state.store.account(account_id).await {
                Ok(Some(a)) => a.username,
                Ok(None) => String::new(),
                Err(e) => return internal(e),
            };
            let qr = Qr::new(&totp::otpauth_uri("signet", &username, secret.expose()), 192);
            page(status, &EnrolPage { qr, key: totp::to_base32(secret.expose()), error, csrf })
        }
        Step::Mfa { .. } => mfa::render(state, flow, error, status).await,
        Step::Link { .. } => federated::render_link(state, env, flow, error, status).await,
        Step::Authenticated { .. } => match &flow.purpose {
            Purpose::Device { user_code } => consent(state, env, flow, user_code, error, status).await,
            Purpose::Authorize(req) if needs_confirmation(env, req) => {
                confirmation(state, env, flow, req, error, status).await
            }
            Purpose::Authorize(_) => {
                error_page(StatusCode::BAD_REQUEST, "Sign-on finished", "This sign-on is already complete.")
            }
        },
    }
}

/// The sign-on form of a locked account: the password and the second
/// factor together, one answer for every failure.
pub(super) async fn both_factors(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    username: &str,
    message: &str,
) -> Response {
    let asks = who_asks(state, env, flow).await;
    page(StatusCode::UNAUTHORIZED, &BothFactorsPage { asks, message, csrf: &flow.csrf, username })
}

/// What the sign-on is for, so a person can tell a real request from a lure.
async fn who_asks(state: &AppState, env: &EnvKeys, flow: &LoginFlow) -> WhoAsks {
    let purpose = match &flow.purpose {
        Purpose::Authorize(req) => {
            match state
                .clients
                .get(&state.store, env.environment.id.as_str(), req.client_id.as_str(), state.now())
                .await
            {
                Ok(Some(app)) => Asking::Application(app.name.clone()),
                _ => Asking::Unknown,
            }
        }
        Purpose::Device { .. } => Asking::Device,
    };
    WhoAsks { environment: env.environment.name.clone(), purpose }
}
