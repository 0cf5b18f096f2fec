//! A hostile OpenID provider for signetd's federation tests (issue 7). It
//! is not a real provider: it speaks the part of the protocol signetd uses
//! (discovery, JWKS, authorize, token), checks the client's secret and the
//! PKCE verifier as a provider must, and then signs whatever ID token the
//! test chose, including ones a certified provider never issues: a wrong
//! `iss`, `aud` or `nonce`, an expired one, an unknown `kid`, `alg: none`;
//! and its discovery document can name endpoints elsewhere (`steer`).
//! The good paths are tested against panva's oidc-provider; this serves what
//! that one cannot be made to do. Every answer carries
//! `Server: signet-testkit forging provider`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use signet_core::crypto::{b64url, generate_es256_key, random_token};
use signet_core::token::Signer;

/// What the next ID token gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    Honest,
    WrongIssuer,
    WrongAudience,
    /// Several audiences and no `azp`.
    NoAuthorizedParty,
    WrongNonce,
    Expired,
    /// Signed by a key the JWKS does not hold.
    UnknownKid,
    AlgNone,
    NoIdToken,
    /// The token endpoint answers `invalid_grant`.
    TokenError,
    /// The token endpoint answers a page that is not JSON, as a service
    /// that is not a provider would.
    TokenGarbage,
}

/// The person the provider says signed on.
#[derive(Debug, Clone)]
pub struct Person {
    pub sub: String,
    pub email: Option<String>,
    pub amr: Vec<String>,
}

struct Pending {
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct Inner {
    issuer: String,
    client_id: String,
    client_secret: String,
    signer: Signer,
    public_jwk: Value,
    forgery: Forgery,
    person: Person,
    codes: HashMap<String, Pending>,
    token_requests: usize,
    /// Seconds added to the system clock, to keep step with a test's manual clock.
    offset: i64,
    /// Fields of the discovery document replaced by the test.
    steered: serde_json::Map<String, Value>,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Inner>>);

pub struct ForgingProvider {
    shared: Shared,
    /// `http://127.0.0.1:PORT`
    pub issuer: String,
    server: tokio::task::JoinHandle<()>,
}

impl ForgingProvider {
    pub async fn start(client_id: &str, client_secret: &str) -> ForgingProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let key = generate_es256_key().unwrap();
        let shared = Shared(Arc::new(Mutex::new(Inner {
            issuer: issuer.clone(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            signer: Signer::from_pkcs8(key.kid.clone(), &key.pkcs8),
            public_jwk: key.public_jwk,
            forgery: Forgery::Honest,
            person: Person { sub: "forged-1".into(), email: None, amr: vec!["pwd".into()] },
            codes: HashMap::new(),
            token_requests: 0,
            offset: 0,
            steered: serde_json::Map::new(),
        })));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .layer(axum::middleware::map_response(|mut res: Response| async move {
                res.headers_mut().insert(header::SERVER, HeaderValue::from_static("signet-testkit forging provider"));
                // No connection outlives its answer, so `stop` leaves nothing
                // that a client's pool could still reach.
                res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                res
            }))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        ForgingProvider { shared, issuer, server }
    }

    /// What the next ID tokens get wrong.
    pub fn forge(&self, f: Forgery) {
        self.shared.0.lock().unwrap().forgery = f;
    }

    pub fn person(&self, p: Person) {
        self.shared.0.lock().unwrap().person = p;
    }

    /// A new signing key, which replaces the old one in the JWKS.
    pub fn rotate(&self) {
        let key = generate_es256_key().unwrap();
        let mut inner = self.shared.0.lock().unwrap();
        inner.signer = Signer::from_pkcs8(key.kid.clone(), &key.pkcs8);
        inner.public_jwk = key.public_jwk;
    }

    /// Makes the discovery document name `url` as its `field` (such as
    /// `token_endpoint`); `None` puts the provider's own back.
    pub fn steer(&self, field: &str, url: Option<&str>) {
        let mut inner = self.shared.0.lock().unwrap();
        match url {
            Some(url) => drop(inner.steered.insert(field.into(), json!(url))),
            None => drop(inner.steered.remove(field)),
        }
    }

    /// Moves its clock on, as a test moves signetd's.
    pub fn advance(&self, seconds: i64) {
        self.shared.0.lock().unwrap().offset += seconds;
    }

    /// Stops answering: new connections are refused.
    pub fn stop(&self) {
        self.server.abort();
    }

    /// How many code exchanges signetd made.
    pub fn token_requests(&self) -> usize {
        self.shared.0.lock().unwrap().token_requests
    }
}

async fn discovery(State(s): State<Shared>) -> Json<Value> {
    let inner = s.0.lock().unwrap();
    let issuer = inner.issuer.clone();
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    });
    for (field, value) in &inner.steered {
        doc[field] = value.clone();
    }
    Json(doc)
}

async fn jwks(State(s): State<Shared>) -> Json<Value> {
    Json(json!({"keys": [s.0.lock().unwrap().public_jwk.clone()]}))
}

async fn authorize(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut inner = s.0.lock().unwrap();
    let param = |k: &str| q.get(k).cloned().unwrap_or_default();
    if param("client_id") != inner.client_id
        || param("response_type") != "code"
        || param("code_challenge_method") != "S256"
        || param("code_challenge").is_empty()
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = random_token().unwrap().expose().clone();
    let redirect_uri = param("redirect_uri");
    let back =
        url::Url::parse_with_params(&redirect_uri, [("code", code.as_str()), ("state", &param("state"))]).unwrap();
    inner.codes.insert(code, Pending { nonce: param("nonce"), challenge: param("code_challenge"), redirect_uri });
    (StatusCode::SEE_OTHER, [(header::LOCATION, back.to_string())]).into_response()
}

fn refuse(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}

async fn token(State(s): State<Shared>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    use base64::Engine;
    let mut inner = s.0.lock().unwrap();
    inner.token_requests += 1;
    let expected = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", inner.client_id, inner.client_secret).as_bytes());
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(&format!("Basic {expected}")) {
        return refuse(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let Some(pending) = inner.codes.remove(&field("code")) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let verifier_ok = signet_core::pkce::s256_challenge(&field("code_verifier")) == pending.challenge;
    if !verifier_ok || field("redirect_uri") != pending.redirect_uri || field("grant_type") != "authorization_code" {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + inner.offset;
    let f = inner.forgery;
    if f == Forgery::TokenError {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    if f == Forgery::TokenGarbage {
        return (StatusCode::OK, "<html><body>Not a provider</body></html>").into_response();
    }
    let mut claims = json!({
        "iss": inner.issuer, "sub": inner.person.sub, "aud": inner.client_id, "iat": now, "exp": now + 300,
        "nonce": pending.nonce, "amr": inner.person.amr,
    });
    if let Some(email) = &inner.person.email {
        claims["email"] = json!(email);
        claims["email_verified"] = json!(true);
    }
    match f {
        Forgery::WrongIssuer => claims["iss"] = json!("https://elsewhere.example"),
        Forgery::WrongAudience => claims["aud"] = json!("someone-else"),
        Forgery::NoAuthorizedParty => claims["aud"] = json!([inner.client_id, "someone-else"]),
        Forgery::WrongNonce => claims["nonce"] = json!("not-the-nonce"),
        Forgery::Expired => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
        _ => {}
    }
    let id_token = match f {
        Forgery::UnknownKid => {
            let other = generate_es256_key().unwrap();
            Signer::from_pkcs8(other.kid.clone(), &other.pkcs8).sign("JWT", &claims).unwrap()
        }
        Forgery::AlgNone => {
            let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
            format!("{header}.{}.", b64url(claims.to_string().as_bytes()))
        }
        _ => inner.signer.sign("JWT", &claims).unwrap(),
    };
    let mut body = json!({"access_token": random_token().unwrap().expose(), "token_type": "Bearer", "expires_in": 300});
    if f != Forgery::NoIdToken {
        body["id_token"] = json!(id_token);
    }
    Json(body).into_response()
}
