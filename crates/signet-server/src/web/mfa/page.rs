//! The MFA step's pages (`templates/mfa/`): choosing one of the methods an
//! enforcement asks for, then what the chosen method asks for.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use signet_core::id::AccountId;
use signet_core::login::Step;
use signet_core::mfa::{Method, Settings};
use signet_core::totp;
use signet_store::LoginFlow;

use crate::enforcement::enrol_purpose;
use crate::state::AppState;
use crate::web::qr::Qr;
use crate::web::{internal, page};

#[derive(Template)]
#[template(path = "mfa/choose.html")]
struct ChoosePage<'a> {
    methods: Vec<Choice>,
    error: Option<&'a str>,
    csrf: &'a str,
}

/// A method to choose.
struct Choice {
    id: String,
    label: String,
}

#[derive(Template)]
#[template(path = "mfa/method.html")]
struct MethodPage<'a> {
    ask: Ask,
    error: Option<&'a str>,
    csrf: &'a str,
    /// Whether there are other methods to choose instead.
    switch: bool,
}

/// What the chosen method asks of the person.
enum Ask {
    /// TOTP, first use: the new secret as a QR code (unless the method shows
    /// none) and as text, then its first code.
    Enrol { label: String, qr: Option<Qr>, key: String },
    /// TOTP: a code.
    Code { label: String },
    /// Duo: a passcode.
    Passcode,
    /// A push the person approves on their phone.
    Push { service: &'static str },
}

/// The MFA step's page.
pub(in crate::web) async fn render(
    state: &AppState,
    flow: &LoginFlow,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let Step::Mfa { account_id, required, chosen, enrolling, .. } = &flow.step else {
        return internal("not an MFA step");
    };
    let set = required.first().cloned().unwrap_or_default();
    let mut methods = Vec::new();
    for id in &set {
        match state.store.mfa_method(id).await {
            Ok(Some(m)) => methods.push(m),
            Ok(None) => {}
            Err(e) => return internal(e),
        }
    }
    let csrf = &flow.csrf;
    let Some(m) = chosen.as_ref().and_then(|c| methods.iter().find(|m| &m.id == c)) else {
        let methods = methods.iter().map(|m| Choice { id: m.id.to_string(), label: label(m) }).collect();
        return page(status, &ChoosePage { methods, error, csrf });
    };
    match ask(state, m, account_id.as_str(), enrolling.as_deref()).await {
        Ok(ask) => page(status, &MethodPage { ask, error, csrf, switch: set.len() > 1 }),
        Err(res) => res,
    }
}

async fn ask(state: &AppState, m: &Method, account_id: &str, enrolling: Option<&[u8]>) -> Result<Ask, Response> {
    Ok(match &m.settings {
        Settings::Totp(t) => match enrolling {
            Some(sealed) => {
                let Ok(secret) = state.kek.open(&enrol_purpose(m.id.as_str(), account_id), sealed) else {
                    return Err(internal("enrolment secret could not be opened"));
                };
                let username = match state.store.account(&AccountId::from(account_id)).await {
                    Ok(Some(a)) => a.username,
                    Ok(None) => String::new(),
                    Err(e) => return Err(internal(e)),
                };
                let params = totp::Params { algorithm: t.algorithm, digits: t.digits, period: t.period, skew: t.skew };
                let uri = params.otpauth_uri(&t.issuer, &username, secret.expose());
                let qr = if t.qr_size == 0 { None } else { Qr::new(&uri, t.qr_size) };
                Ask::Enrol { label: label(m), qr, key: totp::to_base32(secret.expose()) }
            }
            None => Ask::Code { label: label(m) },
        },
        Settings::Duo(d) if d.use_passcode => Ask::Passcode,
        _ => Ask::Push { service: m.method_type().label() },
    })
}

/// How a page names a method: its type, and its name when it has one.
fn label(m: &Method) -> String {
    if m.name.is_empty() {
        m.method_type().label().to_owned()
    } else {
        format!("{} ({})", m.method_type().label(), m.name)
    }
}
