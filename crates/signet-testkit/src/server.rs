//! The test harness: a real signetd on loopback, with a `ManualClock`, and a
//! minimal cookie-keeping browser that speaks plain HTML forms.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use signet_core::clock::{Clock, ManualClock, SystemClock};
use signet_core::crypto::{Kek, random_id, random_token, sha256};
use signet_core::model::{Account, AppKind, Application, GrantType, totp_purpose};
use signet_core::{password, pkce, totp};
use signet_proto::bootstrap::BootstrapFile;
use signet_proto::roles::Role;
use signet_server::net::TrustedProxies;
use signet_server::state::{AppState, StateConfig};
use signet_store::Store;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Server {
    pub base: String,
    pub issuer: String,
    pub env_id: String,
    pub state: AppState,
    pub clock: ManualClock,
    pub boot: BootstrapFile,
    pub dir: PathBuf,
    pub http: reqwest::Client,
    /// The store's URL, for a test that writes beside the server (`outside`).
    pub database_url: String,
    kek_bytes: Vec<u8>,
    /// Dropped after the server's directory: the database goes with the test.
    _pg_db: Option<PgDatabase>,
}

const PG: &str = "postgres://postgres@127.0.0.1:5432";

async fn pg_admin(sql: &str) {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(&format!("{PG}/postgres")).await.expect("postgres on 127.0.0.1:5432");
    conn.execute(sqlx::AssertSqlSafe(sql.to_owned())).await.expect(sql);
    conn.close().await.expect("closing the admin connection");
}

/// A fresh PostgreSQL database on 127.0.0.1:5432, dropped with the guard.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        let name = format!("signet_it_{}", random_id().unwrap().replace('-', ""));
        pg_admin(&format!("CREATE DATABASE {name}")).await;
        PgDatabase { url: format!("{PG}/{name}"), name }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(pg_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
        })
        .join()
        .ok();
    }
}

impl Server {
    pub async fn start() -> Server {
        Server::start_on(Backend::Sqlite).await
    }

    pub async fn start_on(backend: Backend) -> Server {
        Server::start_with(backend, None, None, false, None).await
    }

    /// A server whose token endpoint asks DPoP proofs for its nonce (RFC 9449 §8).
    pub async fn start_requiring_dpop_nonce(backend: Backend) -> Server {
        Server::start_with(backend, None, None, true, None).await
    }

    /// A new server, its own store bootstrapped afresh, holding `other`'s
    /// key-encryption key: a server restored or rebuilt with its key.
    pub async fn start_with_kek_of(other: &Server) -> Server {
        Server::start_with(Backend::Sqlite, None, Some(other.kek_bytes.clone()), false, None).await
    }

    /// Serves HTTPS with `tls` (a `TestCa`), on SQLite.
    pub async fn start_tls(tls: &crate::tls::TestCa) -> Server {
        Server::start_with(Backend::Sqlite, Some(tls), None, false, None).await
    }

    /// A server on the store at `database_url`: a private cluster's
    /// (`pg_cluster`), which the test may stop, crash or fail over.
    pub async fn start_at(database_url: &str) -> Server {
        Server::start_with(Backend::Postgres, None, None, false, Some(database_url)).await
    }

    /// Serves HTTPS with `tls`, on `backend`.
    pub async fn start_tls_on(tls: &crate::tls::TestCa, backend: Backend) -> Server {
        Server::start_with(backend, Some(tls), None, false, None).await
    }

    async fn start_with(
        backend: Backend,
        tls: Option<&crate::tls::TestCa>,
        kek: Option<Vec<u8>>,
        require_dpop_nonce: bool,
        database_url: Option<&str>,
    ) -> Server {
        let dir = std::env::temp_dir().join(format!("signetd-it-{}", random_id().unwrap()));
        std::fs::create_dir_all(&dir).unwrap();
        let (url, pg_db) = match (backend, database_url) {
            (_, Some(url)) => (url.to_owned(), None),
            (Backend::Sqlite, None) => (format!("sqlite://{}", dir.join("signet.db").display()), None),
            (Backend::Postgres, None) => {
                let db = PgDatabase::create().await;
                (db.url.clone(), Some(db))
            }
        };
        let store = Store::open(&url).await.unwrap();
        let database_url = url.clone();
        let kek_bytes = kek.unwrap_or_else(|| signet_core::crypto::random_bytes::<32>().unwrap().to_vec());
        let kek = Kek::from_bytes(&kek_bytes).unwrap();
        let clock = ManualClock::new(SystemClock.now());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{}", listener.local_addr().unwrap());
        let boot = signet_server::bootstrap::ensure(&store, &kek, clock.now(), &base, &dir).await.unwrap().unwrap();
        let state = AppState::new(StateConfig {
            admin_authentication: None,
            store,
            clock: Arc::new(clock.clone()),
            kek,
            public_url: base.clone(),
            trusted_proxies: TrustedProxies::parse(&["127.0.0.2".into()]).unwrap(),
            allow_private_fetch: false,
            require_dpop_nonce,
        })
        .unwrap();
        let app = signet_server::app(state.clone());
        let mut http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        match tls {
            None => {
                tokio::spawn(async move {
                    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
                });
            }
            Some(tls) => {
                let config = signet_server::serve::tls_config(&tls.cert, &tls.key).unwrap();
                tokio::spawn(signet_server::serve::serve_tls(listener, app, config, std::future::pending()));
                let ca = reqwest::Certificate::from_pem(&std::fs::read(&tls.ca).unwrap()).unwrap();
                http = http.tls_certs_only([ca]);
            }
        }
        let http = http.build().unwrap();
        Server {
            issuer: boot.issuer.clone(),
            env_id: boot.environment_id.clone(),
            base,
            state,
            clock,
            boot,
            dir,
            http,
            database_url,
            kek_bytes,
            _pg_db: pg_db,
        }
    }

    /// A second signetd on the same store, key-encryption key and clock, as
    /// another instance behind a load balancer would be; returns its issuer.
    pub async fn another_instance(&self) -> String {
        self.another_instance_with_state().await.0
    }

    /// `another_instance`, with its state, to run what it runs in the background.
    pub async fn another_instance_with_state(&self) -> (String, AppState) {
        let kek = Kek::from_bytes(&self.kek_bytes).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let state = AppState::new(StateConfig {
            admin_authentication: None,
            store: self.state.store.clone(),
            clock: Arc::new(self.clock.clone()),
            kek,
            public_url: self.base.clone(),
            trusted_proxies: TrustedProxies::default(),
            allow_private_fetch: false,
            require_dpop_nonce: self.state.require_dpop_nonce,
        })
        .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = signet_server::app(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
        });
        (format!("{base}/{}/as", self.env_id), state)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// An endpoint of another environment.
    pub fn url_in(&self, env_id: &str, path: &str) -> String {
        format!("{}/{env_id}/as{path}", self.base)
    }

    /// A new environment beside the Administrators one, with its signing key; its id.
    pub async fn environment(&self, name: &str) -> String {
        let now = self.clock.now();
        let env =
            signet_core::model::Environment { id: random_id().unwrap().into(), name: name.into(), created_at: now };
        let key = signet_server::bootstrap::new_signing_key(&self.state.kek, env.id.as_str(), now).unwrap();
        let ev = test_event("environment.create", Some(env.id.as_str()), env.id.as_str());
        self.store().create_environment(&env, &key, &ev).await.unwrap();
        env.id.into_string()
    }

    /// Writes the key-encryption key to a 0600 file at `path`, as an
    /// operator keeps it, for the offline commands of the binary.
    pub fn write_kek_file(&self, path: &std::path::Path) {
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD.encode(&self.kek_bytes);
        signet_server::config::write_secret_file(path, text.as_bytes()).unwrap();
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The database's URL, to open another store on it or reach it raw.
    pub fn database_url(&self) -> String {
        self.database_url.clone()
    }

    /// An account with its own password and TOTP secret (None: not enrolled yet).
    pub async fn account(&self, admin: bool, enrolled: bool) -> TestAccount {
        self.account_in(&self.env_id, admin, enrolled).await
    }

    /// The same, in the environment `env_id`.
    pub async fn account_in(&self, env_id: &str, admin: bool, enrolled: bool) -> TestAccount {
        let roles = if admin { Role::ALL.into_iter().collect() } else { BTreeSet::new() };
        self.make_account(env_id, admin, roles, enrolled).await
    }

    /// An enrolled administrator with only these roles.
    pub async fn administrator(&self, roles: &[Role]) -> TestAccount {
        self.make_account(&self.env_id, true, roles.iter().copied().collect(), true).await
    }

    async fn make_account(&self, env_id: &str, admin: bool, roles: BTreeSet<Role>, enrolled: bool) -> TestAccount {
        let id = random_id().unwrap();
        let username = format!("user-{}", &id[..8]);
        let password = format!("pw-{}", random_token().unwrap().expose());
        let secret = totp::generate_secret().unwrap().expose().clone();
        let a = Account {
            id: id.clone().into(),
            environment_id: env_id.to_owned().into(),
            username: username.clone(),
            password_hash: Some(password::hash(&password).unwrap()),
            active: true,
            admin,
            roles,
            auditor: false,
            totp_sealed: enrolled.then(|| self.state.kek.seal(&totp_purpose(&id), &secret).unwrap()),
            totp_confirmed: enrolled,
            totp_last_step: 0,
            failed_attempts: 0,
            password_change_required: false,
            locked_until: 0,
            created_at: self.clock.now(),
        };
        let ev = test_event("account.create", Some(env_id), &id);
        self.store().insert_account(&a, &ev).await.unwrap();
        TestAccount { id, username, password, secret: enrolled.then_some(secret) }
    }

    /// An application; returns its client id and secret (confidential kinds).
    pub async fn application(
        &self,
        kind: AppKind,
        grants: &[GrantType],
        roles: &[Role],
        env_id: Option<&str>,
    ) -> (String, Option<String>) {
        let id = random_id().unwrap();
        let secret = (kind != AppKind::Native).then(|| random_token().unwrap().expose().clone());
        let app = Application {
            id: id.clone().into(),
            environment_id: env_id.unwrap_or(&self.env_id).into(),
            name: format!("test {}", kind.as_str()),
            kind,
            secret_hash: secret.as_ref().map(|s| sha256(s.as_bytes()).to_vec()),
            redirect_uris: match kind {
                AppKind::Native => vec!["http://127.0.0.1/callback".into()],
                AppKind::Web => vec!["http://127.0.0.1/callback".into(), "https://app.test/cb".into()],
                AppKind::Worker => vec![],
            },
            grant_types: grants.iter().copied().collect(),
            scopes: ["openid", "profile", "offline_access", "api:read"].into_iter().map(String::from).collect(),
            roles: roles.iter().copied().collect(),
            admin_api: false,
            pkce_required: true,
            created_at: self.clock.now(),
        };
        let ev = test_event("application.create", Some(app.environment_id.as_str()), &id);
        self.store().insert_application(&app, &ev).await.unwrap();
        (id, secret)
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        self.post_form(&self.url("/token"), form, None).await
    }

    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.post(url).form(form);
        if let Some((u, p)) = basic {
            req = req.basic_auth(u, Some(p));
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// A TOTP code for now, moving the clock a step on so a code is never reused.
    pub fn code(&self, secret: &[u8]) -> String {
        self.clock.advance(30);
        totp::code_at(secret, self.clock.now()).unwrap()
    }

    pub async fn introspect(&self, token: &str, client: (&str, &str)) -> serde_json::Value {
        self.post_form(&self.url("/introspect"), &[("token", token)], Some(client)).await.1
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct TestAccount {
    pub id: String,
    pub username: String,
    pub password: String,
    pub secret: Option<Vec<u8>>,
}

/// A browser without JavaScript: follows nothing by itself, keeps cookies.
pub struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    /// The value of the hidden `name` input.
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_owned())
    }
}

impl Default for Browser {
    fn default() -> Self {
        Browser {
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            cookies: HashMap::new(),
        }
    }
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// The cookies this browser would send, as request headers.
    pub fn cookie_headers(&self) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        h.insert(axum::http::header::COOKIE, self.cookie_header().parse().unwrap());
        h
    }

    async fn keep(&mut self, res: reqwest::Response) -> Page {
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
        let status = res.status().as_u16();
        let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        let headers = res.headers().clone();
        Page { status, location, body: res.text().await.unwrap(), headers }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let res = self.http.get(url).header("cookie", self.cookie_header()).send().await.unwrap();
        self.keep(res).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let res = self.http.post(url).header("cookie", self.cookie_header()).form(form).send().await.unwrap();
        self.keep(res).await
    }

    /// Posts the form on the page at `url`, with its CSRF token.
    pub async fn submit(&mut self, url: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(url).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.field("csrf").expect("the page has a CSRF token");
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(url, &form).await
    }
}

/// PKCE verifier and S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = random_token().unwrap().expose().clone();
    let challenge = pkce::s256_challenge(&verifier);
    (verifier, challenge)
}

/// The query parameters of a redirect.
pub fn query(location: &str) -> HashMap<String, String> {
    url::Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

/// Signs `who` on through the authorization code flow; returns the redirect with the code.
pub async fn sign_on(
    s: &Server,
    b: &mut Browser,
    client_id: &str,
    who: &TestAccount,
    challenge: &str,
) -> HashMap<String, String> {
    let url = format!(
        "{}?response_type=code&client_id={client_id}&redirect_uri=http://127.0.0.1:4711/callback&scope=openid%20profile%20offline_access&state=st-1&nonce=n-1&code_challenge={challenge}&code_challenge_method=S256",
        s.url("/authorize")
    );
    let start = b.get(&url).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let signon = start.location.unwrap();
    let after_pw = b.submit(&signon, &[("username", &who.username), ("password", &who.password)]).await;
    assert_eq!(after_pw.status, 303, "{}", after_pw.body);
    let code = s.code(who.secret.as_ref().expect("an enrolled account"));
    let done = b.submit(&signon, &[("code", &code)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.location.unwrap();
    assert!(location.starts_with("http://127.0.0.1:4711/callback?"), "{location}");
    query(&location)
}

pub const CLI_REDIRECT: &str = "http://127.0.0.1:4711/callback";

/// An audit event recorded by the test itself, under an action name of the
/// test's own (signetd records only `signet_core::audit::Action`s).
pub fn test_event(action: &str, environment_id: Option<&str>, target: &str) -> signet_core::audit::AuditEvent {
    use signet_core::audit::{Action, Actor, AuditEvent};
    let ev = AuditEvent::new(Actor::console("test"), Action::AuditPrune, environment_id, target, SystemClock.now());
    AuditEvent { action: action.to_owned(), ..ev.unwrap() }
}

/// A code the CLI application got for a person, and its PKCE verifier.
pub struct CodeToRedeem {
    pub code: String,
    pub verifier: String,
}

impl CodeToRedeem {
    /// Signs `who` on through the CLI application.
    pub async fn of(s: &Server, who: &TestAccount) -> CodeToRedeem {
        let (verifier, challenge) = pkce_pair();
        let mut q = sign_on(s, &mut Browser::default(), "signet-cli", who, &challenge).await;
        CodeToRedeem { code: q.remove("code").expect("a code"), verifier }
    }

    /// The token request that redeems it.
    pub fn form(&self) -> [(&str, &str); 5] {
        [
            ("grant_type", "authorization_code"),
            ("code", &self.code),
            ("redirect_uri", CLI_REDIRECT),
            ("client_id", "signet-cli"),
            ("code_verifier", &self.verifier),
        ]
    }
}

/// Signs `who` on through the CLI application and redeems the code: the token response.
pub async fn code_flow_tokens(s: &Server, who: &TestAccount) -> serde_json::Value {
    let (status, tokens) = s.token(&CodeToRedeem::of(s, who).await.form()).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}
