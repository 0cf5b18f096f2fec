//! `/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2): `response_type=code`
//! only, PKCE S256 required of public clients. Until the client and its
//! redirect URI are known good, errors are a page and never a redirect
//! (RFC 6749 §4.1.2.1); after that they go back to the client with `state`
//! and `iss` (RFC 9207).

use signet_core::audit::Action as Event;
use signet_core::audit::ActorScheme;
use signet_core::audit::Outcome;
use signet_core::id::AccountId;
use std::net::IpAddr;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use signet_core::crypto::{CryptoError, random_id, random_token, sha256};
use signet_core::login::{AuthorizeRequest, Purpose, Step};
use signet_core::model::{AUTH_CODE_TTL, Application, AuthCode, GrantType, LOGIN_FLOW_TTL};
use signet_core::{pkce, scope};
use signet_proto::oauth::ErrorCode;
use signet_store::{BrowserSession, LoginFlow};

use crate::error::InternalError;
use crate::keyring::EnvKeys;
use crate::net::ClientIp;
use crate::oauth::form::Params;
use crate::routes::{self, signon_url};
use crate::state::AppState;
use crate::web::{self, PageEnv, PageParams, cookie, error_page, internal, see_other};

/// Sends the browser back to the client with an error.
pub fn redirect_error(
    issuer: &str,
    redirect_uri: &str,
    state_param: Option<&str>,
    code: ErrorCode,
    description: &str,
) -> Response {
    redirect_with(redirect_uri, &[("error", code.as_str()), ("error_description", description)], state_param, issuer)
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)], state_param: Option<&str>, issuer: &str) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, "Sign-on failed", "The application's redirect address is invalid.");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if let Some(s) = state_param {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    see_other(url.as_str())
}

/// A new code for a signed-on person: the secret to send, and the record to store.
pub fn new_code(
    state: &AppState,
    env: &EnvKeys,
    req: &AuthorizeRequest,
    account_id: &str,
    auth_time: i64,
    amr: &[String],
) -> Result<(signet_core::secret::Secret<String>, AuthCode), CryptoError> {
    let code = random_token()?;
    let record = AuthCode {
        hash: sha256(code.expose().as_bytes()).to_vec(),
        environment_id: env.environment.id.clone(),
        client_id: req.client_id.clone(),
        account_id: account_id.to_owned().into(),
        redirect_uri: req.redirect_uri.clone(),
        scope: req.scope.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        auth_time,
        amr: amr.to_vec(),
        expires_at: state.now() + AUTH_CODE_TTL,
        grant_id: None,
    };
    Ok((code, record))
}

/// Sends the browser back to the client with its code.
pub fn redirect_with_code(state: &AppState, env: &EnvKeys, req: &AuthorizeRequest, code: &str) -> Response {
    redirect_with(&req.redirect_uri, &[("code", code)], req.state.as_deref(), &state.issuer(&env.environment.id))
}

/// Issues a code for a person already signed on in this browser, and
/// records it: a silent sign-on gives a client the person's authority too.
pub async fn complete(
    state: &AppState,
    env: &EnvKeys,
    req: &AuthorizeRequest,
    account_id: &str,
    auth_time: i64,
    amr: &[String],
    ip: IpAddr,
) -> Result<Response, InternalError> {
    let Ok((code, record)) = new_code(state, env, req, account_id, auth_time, amr) else {
        return Ok(error_page(StatusCode::INTERNAL_SERVER_ERROR, "Sign-on failed", "Please try again."));
    };
    let Some(account) = state.store.account(&AccountId::from(account_id)).await? else {
        return Ok(error_page(StatusCode::BAD_REQUEST, "Sign-on failed", "This account no longer exists."));
    };
    let mut ev = crate::web::signon::event(
        &account,
        Event::AuthorizeSession,
        format!("client:{}", req.client_id),
        Some(ip),
        state.now(),
    )?;
    ev.actor.scheme = ActorScheme::Methods(amr.to_vec());
    ev.set_outcome(Outcome::Success);
    ev.request_id = Some(crate::request_id());
    ev.digest = signet_core::audit::digest_of(
        &serde_json::json!({"destination": signet_core::redirect::destination(&req.redirect_uri)}),
    );
    state.store.insert_auth_code_recorded(&record, &ev).await?;
    Ok(redirect_with_code(state, env, req, code.expose()))
}

pub async fn authorize(
    State(state): State<AppState>,
    PageEnv(env): PageEnv,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageParams(p): PageParams,
) -> Response {
    let (asked, back) = match asked(&state, &env, &p).await {
        Ok(asked) => asked,
        Err(res) => return res,
    };
    // An existing browser session signs the person on at once, unless the client asks to re-authenticate.
    if !asked.login {
        match current_session(&state, &env, &headers).await {
            Ok(Some(s)) if asked.max_age.is_some_and(|m| state.now() - s.auth_time >= m) => {}
            Ok(Some(s)) => return signed_on(&state, &env, asked, &back, s, ip).await,
            Ok(None) => {}
            Err(e) => return internal(e),
        }
    }
    if asked.none {
        return back.error(ErrorCode::LoginRequired, "the person is not signed on");
    }
    start_flow(&state, &env, Purpose::Authorize(asked.req), Step::Password).await
}

/// Where `/authorize` sends its errors once the client and its redirect URI
/// are known good: back to the client, with `state` and `iss`.
struct Back {
    issuer: String,
    redirect_uri: String,
    state: Option<String>,
}

impl Back {
    fn error(&self, code: ErrorCode, description: &str) -> Response {
        redirect_error(&self.issuer, &self.redirect_uri, self.state.as_deref(), code, description)
    }
}

/// A request `/authorize` takes: what the person signs on for, and how.
struct Asked {
    req: AuthorizeRequest,
    /// `prompt=login`: sign on again whatever the session.
    login: bool,
    /// `prompt=none`: no page may be shown.
    none: bool,
    /// OIDC Core §3.1.2.1: a session older than this signs on again (`max_age=0` as `prompt=login`).
    max_age: Option<i64>,
}

/// The request, checked. Until the client and its redirect URI are known
/// good the answer is a page, never a redirect (RFC 6749 §4.1.2.1).
async fn asked(state: &AppState, env: &EnvKeys, p: &Params) -> Result<(Asked, Back), Response> {
    let bad = |msg: &str| error_page(StatusCode::BAD_REQUEST, "Sign-on failed", msg);
    let Some(client_id) = p.get("client_id") else { return Err(bad("The request names no application (client_id).")) };
    let app = match state.clients.get(&state.store, env.environment.id.as_str(), client_id, state.now()).await {
        Ok(Some(app)) => app,
        Ok(None) => return Err(bad("The request names an unknown application.")),
        Err(e) => return Err(internal(e)),
    };
    let Some(redirect_uri) = p.get("redirect_uri") else { return Err(bad("The request has no redirect_uri.")) };
    if !app.redirect_allowed(redirect_uri) {
        return Err(bad("The redirect_uri is not registered for this application."));
    }
    let back = Back {
        issuer: state.issuer(&env.environment.id),
        redirect_uri: redirect_uri.to_owned(),
        state: p.get("state").map(str::to_owned),
    };
    match checked(&app, p, &back) {
        Ok(asked) => Ok((asked, back)),
        Err((code, description)) => Err(back.error(code, description)),
    }
}

/// The rest of the request, once errors can go back to the client: what
/// was wrong, as the error to send back.
fn checked(app: &Application, p: &Params, back: &Back) -> Result<Asked, (ErrorCode, &'static str)> {
    if p.get("response_type") != Some("code") {
        return Err((ErrorCode::UnsupportedResponseType, "only response_type=code is supported"));
    }
    if !app.allows(GrantType::AuthorizationCode) {
        return Err((ErrorCode::UnauthorizedClient, "this application may not use the authorization code flow"));
    }
    // OIDC Core §6: refused, never ignored, so no one relies on an object that was not read.
    if p.get("request").is_some() {
        return Err((ErrorCode::RequestNotSupported, "request objects are not supported"));
    }
    if p.get("request_uri").is_some() {
        return Err((ErrorCode::RequestUriNotSupported, "request_uri is not supported"));
    }
    let challenge = p.get("code_challenge");
    pkce_checked(app, p.get("code_challenge_method"), challenge).map_err(|desc| (ErrorCode::InvalidRequest, desc))?;
    let Ok(scopes) = scope::narrow(p.get("scope"), &app.scopes) else {
        return Err((ErrorCode::InvalidScope, "the scope is malformed or not allowed"));
    };
    let prompts: Vec<&str> = p.get("prompt").map(|s| s.split(' ').collect()).unwrap_or_default();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return Err((ErrorCode::InvalidRequest, "prompt=none cannot be combined with other values"));
    }
    let max_age = match p.get("max_age").map(str::parse::<u32>) {
        None => None,
        Some(Ok(seconds)) => Some(i64::from(seconds)),
        Some(Err(_)) => return Err((ErrorCode::InvalidRequest, "max_age is a whole number of seconds")),
    };
    let req = AuthorizeRequest {
        client_id: app.id.clone(),
        redirect_uri: back.redirect_uri.clone(),
        scope: scope::join(&scopes),
        state: back.state.clone(),
        nonce: p.get("nonce").map(str::to_owned),
        code_challenge: challenge.map(str::to_owned),
    };
    Ok(Asked { req, login: prompts.contains(&"login"), none: prompts.contains(&"none"), max_age })
}

/// PKCE: S256 only, and required of public clients always, of confidential
/// ones unless they opted out (RFC 9700 §2.1.1).
fn pkce_checked(app: &Application, method: Option<&str>, challenge: Option<&str>) -> Result<(), &'static str> {
    match (method, challenge) {
        (Some(m), _) if m != "S256" => return Err("only code_challenge_method=S256 is supported"),
        (Some(_), None) => return Err("code_challenge_method without code_challenge"),
        (None, Some(_)) => return Err("code_challenge_method=S256 is required (plain is not supported)"),
        _ => {}
    }
    if challenge.is_some_and(|c| !pkce::is_valid_challenge(c)) {
        return Err("code_challenge is not an S256 challenge");
    }
    if app.needs_pkce() && challenge.is_none() {
        return Err("PKCE (code_challenge with S256) is required");
    }
    Ok(())
}

/// A browser already signed on: the code at once, unless an enforcement asks
/// for a second factor or an administrator must first confirm where it goes.
async fn signed_on(
    state: &AppState,
    env: &EnvKeys,
    asked: Asked,
    back: &Back,
    s: BrowserSession,
    ip: IpAddr,
) -> Response {
    let confirm = web::signon::needs_confirmation(env, &asked.req);
    let Asked { req, none, .. } = asked;
    match crate::enforcement::step_up(state, &s).await {
        Ok(Some(_)) if none => {
            back.error(ErrorCode::InteractionRequired, "a login enforcement asks for a second factor")
        }
        Ok(Some(step)) => start_flow(state, env, Purpose::Authorize(req), step).await,
        // An administrator's code bound off this device waits for their confirmation.
        Ok(None) if confirm && none => back.error(
            ErrorCode::InteractionRequired,
            "an administrator confirms where a code goes before it leaves their device",
        ),
        Ok(None) if confirm => {
            let step = Step::Authenticated { account_id: s.account_id, auth_time: s.auth_time, amr: s.amr };
            start_flow(state, env, Purpose::Authorize(req), step).await
        }
        Ok(None) => {
            complete(state, env, &req, s.account_id.as_str(), s.auth_time, &s.amr, ip).await.unwrap_or_else(internal)
        }
        Err(e) => internal(e),
    }
}

/// The browser's live session in this environment, if its account may still sign on.
pub async fn current_session(
    state: &AppState,
    env: &EnvKeys,
    headers: &HeaderMap,
) -> Result<Option<BrowserSession>, signet_store::StoreError> {
    let Some(raw) = web::read_cookie(headers, web::SESSION_COOKIE) else { return Ok(None) };
    let Some(s) = state.store.session(&sha256(raw.as_bytes()), state.now()).await? else { return Ok(None) };
    if s.environment_id != env.environment.id {
        return Ok(None);
    }
    let account = state.store.account(&s.account_id).await?;
    // A lock strangers put on the password does not end a session the
    // person already signed on with (issue 15, finding 2).
    Ok(account.filter(|a| a.active).map(|_| s))
}

/// Creates a sign-on flow bound to this browser by a cookie, and sends the browser to it.
pub async fn start_flow(state: &AppState, env: &EnvKeys, purpose: Purpose, step: Step) -> Response {
    let (Ok(id), Ok(secret), Ok(csrf)) = (random_id(), random_token(), random_token()) else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Sign-on failed", "Please try again.");
    };
    let flow = LoginFlow {
        id: id.clone(),
        environment_id: env.environment.id.clone(),
        cookie_hash: sha256(secret.expose().as_bytes()).to_vec(),
        csrf: csrf.expose().clone(),
        purpose,
        step,
        version: 0,
        expires_at: state.now() + LOGIN_FLOW_TTL,
    };
    if let Err(e) = state.store.insert_flow(&flow).await {
        return internal(e);
    }
    let issuer = state.issuer(&env.environment.id);
    let mut res = see_other(&signon_url(&issuer, &id));
    let path = routes::AS_PREFIX.replace("{env}", env.environment.id.as_str());
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie(&web::flow_cookie(&id), secret.expose(), &path, LOGIN_FLOW_TTL, state.secure_cookies),
    );
    res
}

/// Logs, at start-up, every application holding a redirect URI that today's
/// rules refuse: `/authorize` no longer sends anyone there (an attacker's
/// host registered before the rules stops working), and its operators
/// should remove it. Returns how many applications hold one.
pub async fn log_refused_redirects(store: &signet_store::Store) -> Result<usize, signet_store::StoreError> {
    let mut found = 0;
    for app in store.all_applications().await? {
        let refused = app.unregistrable_redirects();
        for (uri, why) in &refused {
            tracing::warn!(
                environment_id = %app.environment_id,
                application_id = %app.id,
                application = %app.name,
                redirect_uri = %uri,
                %why,
                "a registered redirect URI breaks the redirect rules and is refused at /authorize; remove it"
            );
        }
        found += usize::from(!refused.is_empty());
    }
    Ok(found)
}
